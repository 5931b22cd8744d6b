//! Dokku's `plugin`: installs, lists, enables and removes external plugins
//! (see [`crate::external`]) and fires triggers by hand.
//!
//! Plugins live in `$DOKKU_LIB_ROOT/plugins` — on the platform volume in
//! the container image, so they survive the container's re-creation.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use crate::context::Context;
use crate::docker_args::{self, OptionClass};
use crate::error::{Error, IoContext, Result};
use crate::external::{self, ExternalPlugin, Paths, bundled};
use crate::plugins::{CORE, Command, Plugin};
use crate::property_set::{self, Property, Reach};

pub static PLUGIN: Plugin = Plugin {
    name: "plugin",
    description: "Manage installed plugins",
    default_command: Some("plugin:list"),
    commands: &[
        Command {
            name: "plugin:disable",
            usage: "<name>",
            description: "Disable an installed plugin (third-party only)",
            run: disable,
        },
        Command {
            name: "plugin:enable",
            usage: "<name>",
            description: "Enable a previously disabled plugin",
            run: enable,
        },
        Command {
            name: "plugin:install",
            usage: "[<git-url>|<path>|<tarball>] [--committish <ref>] [--name <name>] [--skip-install-trigger]",
            description: "Install a plugin from a git URL, a folder or a tarball; without one, run every plugin's install triggers",
            run: install,
        },
        Command {
            name: "plugin:install-dependencies",
            usage: "",
            description: "Run the dependencies trigger of every enabled plugin",
            run: install_dependencies,
        },
        Command {
            name: "plugin:installed",
            usage: "<name>",
            description: "Exit 0 when a plugin is installed, 1 otherwise",
            run: installed,
        },
        Command {
            name: "plugin:list",
            usage: "[--format stdout|json]",
            description: "List installed plugins",
            run: list,
        },
        Command {
            name: "plugin:set",
            usage: "--global <key> [<value>]",
            description: "Set trigger-timeout (seconds) or allowed-docker-options (privileged, host-namespaces, host-mounts)",
            run: set,
        },
        Command {
            name: "plugin:trigger",
            usage: "<trigger> [<args>...]",
            description: "Fire a trigger, as plugn trigger does",
            run: trigger,
        },
        Command {
            name: "plugin:uninstall",
            usage: "<name>",
            description: "Uninstall a plugin (third-party only)",
            run: uninstall,
        },
        Command {
            name: "plugin:update",
            usage: "[<name> [<committish>]]",
            description: "Update a plugin from its git remote and run its update trigger; without a name, run every plugin's",
            run: update,
        },
    ],
    triggers: &[],
};

static PROPERTIES: &[Property] = &[
    Property {
        name: docker_args::ALLOWED_PROPERTY,
        reach: Reach::GlobalOnly,
        validate: Some(validate_classes),
    },
    Property {
        name: "trigger-timeout",
        reach: Reach::GlobalOnly,
        validate: Some(validate_timeout),
    },
];

fn validate_classes(value: &str) -> Result<()> {
    OptionClass::parse_list(value).map(drop)
}

fn validate_timeout(value: &str) -> Result<()> {
    match value.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(()),
        _ => Err(Error::fail(
            "Invalid trigger-timeout: expected a number of seconds greater than 0",
        )),
    }
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, PLUGIN.name, PROPERTIES, args)
}

fn paths(ctx: &Context) -> Paths {
    Paths::new(&ctx.store)
}

fn is_core(name: &str) -> bool {
    CORE.iter().any(|p| p.name == name)
}

fn one_name(args: &[String]) -> Result<&str> {
    match args {
        [name] => Ok(name),
        [] => Err(Error::fail("Please specify a plugin")),
        _ => Err(Error::fail(format!("Unexpected argument: {}", args[1]))),
    }
}

fn installed_plugin(paths: &Paths, name: &str) -> Result<ExternalPlugin> {
    let dir = paths.available.join(name);
    if !external::is_valid_name(name) || !dir.is_dir() {
        return Err(Error::fail(format!("Plugin {name} is not installed")));
    }
    Ok(ExternalPlugin::load(name, dir))
}

// ----- listing -----

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let crate::args::ListArgs { app: extra, format } = crate::args::parse("plugin:list", &args)?;
    if let Some(word) = extra {
        return Err(Error::fail(format!("Unexpected argument: {word}")));
    }
    // Dokku's own value for the text list is `stdout`.
    let format = match format.as_deref() {
        None | Some("stdout") => "text".to_string(),
        Some(other) => other.to_string(),
    };
    let mut rows: Vec<(String, String, bool, String)> = CORE
        .iter()
        .map(|p| {
            (
                p.name.to_string(),
                crate::DOKKU_VERSION.to_string(),
                true,
                format!("berth core: {}", p.description),
            )
        })
        .collect();
    for (plugin, enabled) in external::installed(&paths(ctx))? {
        if let Err(e) = external::check_manifest(&plugin.dir) {
            ctx.out.warn(e.to_string())?;
        }
        rows.push((plugin.name, plugin.version, enabled, plugin.description));
    }
    rows.sort();
    match format.as_str() {
        "text" => {
            for (name, version, enabled, description) in rows {
                let state = if enabled { "enabled" } else { "disabled" };
                ctx.out.line(format!(
                    "  {name:<20} {version:<5} {state:<10} {description}"
                ))?;
            }
            Ok(())
        }
        "json" => {
            let list: Vec<serde_json::Value> = rows
                .into_iter()
                .map(|(name, version, enabled, description)| {
                    serde_json::json!({
                        "name": name,
                        "version": version,
                        "enabled": enabled,
                        "description": description,
                    })
                })
                .collect();
            ctx.out.line(serde_json::Value::Array(list).to_string())
        }
        other => Err(Error::fail(format!(
            "Invalid --format value specified: {other}"
        ))),
    }
}

fn installed(ctx: &Context, args: Vec<String>) -> Result<()> {
    let name = one_name(&args)?;
    let found = is_core(name)
        || (external::is_valid_name(name) && paths(ctx).available.join(name).is_dir());
    if found { Ok(()) } else { Err(Error::Silent(1)) }
}

// ----- enable, disable, uninstall -----

fn enable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let name = one_name(&args)?;
    if is_core(name) {
        return Ok(());
    }
    let paths = paths(ctx);
    let _lock = paths.lock()?;
    installed_plugin(&paths, name)?;
    external::enable(&paths, name)?;
    ctx.out.info1(format!("Plugin {name} enabled"))
}

fn disable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let name = one_name(&args)?;
    if is_core(name) {
        return Err(Error::fail("Cannot disable a core plugin"));
    }
    let paths = paths(ctx);
    let _lock = paths.lock()?;
    installed_plugin(&paths, name)?;
    external::disable(&paths, name)?;
    ctx.out.info1(format!("Plugin {name} disabled"))
}

fn uninstall(ctx: &Context, args: Vec<String>) -> Result<()> {
    let name = one_name(&args)?;
    if is_core(name) {
        return Err(Error::fail("Cannot uninstall a core plugin"));
    }
    let paths = paths(ctx);
    let _lock = paths.lock()?;
    let plugin = installed_plugin(&paths, name)?;
    // Every enabled plugin hears `uninstall <name>`; a disabled one still
    // gets to clean up after itself.
    if paths.enabled.join(name).is_dir() {
        ctx.fire("uninstall", &[name])?;
    } else if let Some(exe) = plugin.executable("uninstall") {
        external::run_trigger(ctx, &plugin, &exe, "uninstall", &[name.to_string()])?;
    }
    external::disable(&paths, name)?;
    remove_tree(&paths, &paths.available.join(name))?;
    ctx.out.info1(format!("Plugin {name} uninstalled"))
}

/// Moves a folder out of sight in one rename, then deletes it.
fn remove_tree(paths: &Paths, dir: &Path) -> Result<()> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let doomed = paths.available.join(format!(
        ".remove-{}-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    crate::store::atomic::rename_atomic(dir, &doomed)?;
    fs::remove_dir_all(&doomed).at("Unable to remove", &doomed)
}

// ----- install, update -----

#[derive(clap::Parser)]
struct InstallArgs {
    source: Option<String>,
    #[arg(long)]
    committish: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    skip_install_trigger: bool,
    /// berth's core is compiled in: `--core` only runs the install triggers.
    #[arg(long)]
    core: bool,
}

/// Where a plugin comes from.
#[derive(Debug, PartialEq)]
enum Source {
    Folder(PathBuf),
    Tarball(PathBuf),
    TarballUrl(String),
    Git(String),
}

fn is_tarball_name(s: &str) -> bool {
    [".tar.gz", ".tgz", ".tar"]
        .iter()
        .any(|ext| s.ends_with(ext))
}

impl Source {
    /// A local folder or file (a tarball) by path; an http(s) URL ending
    /// in a tarball extension; anything else (`https://…`, `git@…`,
    /// `file://…`) is a git URL.
    fn classify(text: &str) -> Source {
        let path = Path::new(text);
        let is_url = text.contains("://");
        if !is_url && path.is_dir() {
            return Source::Folder(path.to_path_buf());
        }
        if !is_url && path.is_file() {
            return Source::Tarball(path.to_path_buf());
        }
        if (text.starts_with("https://") || text.starts_with("http://")) && is_tarball_name(text) {
            return Source::TarballUrl(text.to_string());
        }
        Source::Git(text.to_string())
    }

    /// The name a plugin gets without `--name`: the last path segment
    /// without `.git` or a tarball extension, and without Dokku's
    /// `dokku-` prefix (`dokku-maintenance.git` is `maintenance`).
    fn default_name(text: &str) -> String {
        let last = text
            .trim_end_matches('/')
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(text);
        let mut name = last;
        for ext in [".git", ".tar.gz", ".tgz", ".tar"] {
            name = name.strip_suffix(ext).unwrap_or(name);
        }
        name.strip_prefix("dokku-").unwrap_or(name).to_string()
    }
}

fn install(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: InstallArgs = crate::args::parse("plugin:install", &args)?;
    let Some(source_text) = args.source.filter(|_| !args.core) else {
        bundled::install_bundled(&ctx.store)?;
        // Read the enabled plugins again: the bundled ones may be new.
        let enabled = external::enabled(&paths(ctx))?;
        for trigger in ["dependencies", "install"] {
            for plugin in &enabled {
                if let Some(exe) = plugin.executable(trigger) {
                    external::run_trigger(ctx, plugin, &exe, trigger, &[])?;
                }
            }
        }
        return Ok(());
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| Source::default_name(&source_text));
    if !external::is_valid_name(&name) {
        return Err(Error::fail(format!(
            "Invalid plugin name {name}: use letters, digits, '-' and '_' (or pass --name)"
        )));
    }
    if is_core(&name) {
        return Err(Error::fail(format!(
            "Plugin {name} is a core plugin; choose another --name"
        )));
    }
    let paths = paths(ctx);
    bundled::ensure_core_files(&ctx.store)?;
    crate::store::atomic::ensure_dir(&paths.available)?;
    let _lock = paths.lock()?;
    let target = paths.available.join(&name);
    if target.exists() {
        return Err(Error::fail(format!(
            "Plugin {name} is already installed; use plugin:update {name}, or plugin:uninstall {name} first"
        )));
    }
    ctx.out.info1(format!("Installing plugin {name}"))?;
    let staging = paths
        .available
        .join(format!(".install-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let fetched = fetch(
        &Source::classify(&source_text),
        args.committish.as_deref(),
        &staging,
    )
    .and_then(|()| plugin_root(&staging))
    .and_then(|root| {
        external::check_manifest(&root)?;
        crate::store::atomic::rename_atomic(&root, &target)
    });
    let _ = fs::remove_dir_all(&staging);
    fetched?;
    external::enable(&paths, &name)?;
    if !args.skip_install_trigger {
        let plugin = ExternalPlugin::load(&name, target.clone());
        for trigger in ["dependencies", "install"] {
            let ran = match plugin.executable(trigger) {
                Some(exe) => external::run_trigger(ctx, &plugin, &exe, trigger, &[]).map(drop),
                None => Ok(()),
            };
            if let Err(e) = ran {
                external::disable(&paths, &name)?;
                remove_tree(&paths, &target)?;
                return Err(Error::fail(format!("{e}; plugin {name} was not installed")));
            }
        }
    }
    ctx.out.info1(format!("Plugin {name} enabled"))
}

/// Fetches `source` into `dest` (which must not exist).
fn fetch(source: &Source, committish: Option<&str>, dest: &Path) -> Result<()> {
    match source {
        Source::Folder(dir) => {
            if committish.is_some() {
                return Err(Error::fail("--committish needs a git URL"));
            }
            copy_tree(dir, dest)
        }
        Source::Tarball(file) => unpack(&fs::read(file).at("Unable to read", file)?, dest),
        Source::TarballUrl(url) => unpack(
            &crate::fetch::download(url, &crate::fetch::PLUGIN_TARBALL)?,
            dest,
        ),
        Source::Git(url) => {
            run_tool(
                Process::new("git")
                    .args(["clone", "--quiet", "--"])
                    .arg(url)
                    .arg(dest)
                    .env("GIT_TERMINAL_PROMPT", "0"),
                "clone the plugin",
            )?;
            if let Some(reference) = committish {
                checkout(dest, reference)?;
            }
            Ok(())
        }
    }
}

fn checkout(dir: &Path, reference: &str) -> Result<()> {
    if reference.starts_with('-') {
        return Err(Error::fail(format!("Invalid committish {reference}")));
    }
    run_tool(
        Process::new("git")
            .arg("-C")
            .arg(dir)
            .args(["checkout", "--quiet", reference, "--"]),
        "check out the committish",
    )
}

/// Runs a helper tool (argv only); its stderr is the user's.
fn run_tool(command: &mut Process, what: &str) -> Result<()> {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Error::fail(format!("Unable to {what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::fail(format!("Unable to {what}")))
    }
}

/// Unpacks a tar or gzipped tar: files, folders and symlinks only (a
/// device node or a fifo is refused), with their rwx modes but never a
/// setuid, setgid or sticky bit (the plugins folder is root's); the tar
/// crate refuses entries that would land outside `dest`, through `..` or
/// through a symlink unpacked before.
fn unpack(bytes: &[u8], dest: &Path) -> Result<()> {
    crate::store::atomic::ensure_dir(dest)?;
    let reader: Box<dyn std::io::Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let bad = |e: std::io::Error| Error::fail(format!("Unable to unpack the tarball: {e}"));
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(false);
    archive.set_unpack_xattrs(false);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo
        ) {
            let path = entry.path().map_err(bad)?.display().to_string();
            return Err(Error::fail(format!(
                "Refusing the tarball: {path} is a device node or a fifo"
            )));
        }
        entry.unpack_in(dest).map_err(bad)?;
    }
    Ok(())
}

/// The folder holding `plugin.toml`: the fetched folder itself, or its one
/// sub-folder (tarballs usually wrap their contents in one).
fn plugin_root(dir: &Path) -> Result<PathBuf> {
    if dir.join("plugin.toml").is_file() {
        return Ok(dir.to_path_buf());
    }
    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .at("Unable to list", dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    match entries.as_slice() {
        [only] if only.join("plugin.toml").is_file() => Ok(only.clone()),
        _ => Err(Error::fail("Not a plugin: no plugin.toml at its top level")),
    }
}

/// Copies a folder: files with their modes, sub-folders, symlinks as
/// symlinks.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    crate::store::atomic::ensure_dir(to)?;
    for entry in fs::read_dir(from).at("Unable to list", from)? {
        let entry = entry.at("Unable to list", from)?;
        let source = entry.path();
        let dest = to.join(entry.file_name());
        let kind = entry.file_type().at("Unable to read", &source)?;
        if kind.is_symlink() {
            let target = fs::read_link(&source).at("Unable to read", &source)?;
            std::os::unix::fs::symlink(target, &dest).at("Unable to create", &dest)?;
        } else if kind.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            fs::copy(&source, &dest).at("Unable to copy", &source)?;
            // rwx only: no setuid, setgid or sticky bit in root's folder.
            let mode = fs::metadata(&source)
                .at("Unable to read", &source)?
                .permissions()
                .mode()
                & 0o777;
            fs::set_permissions(&dest, fs::Permissions::from_mode(mode))
                .at("Unable to copy", &dest)?;
        }
    }
    Ok(())
}

fn install_dependencies(ctx: &Context, _args: Vec<String>) -> Result<()> {
    ctx.fire("dependencies", &[]).map(drop)
}

fn update(ctx: &Context, args: Vec<String>) -> Result<()> {
    let Some(name) = args.first() else {
        bundled::install_bundled(&ctx.store)?;
        return ctx.fire("update", &[]).map(drop);
    };
    if args.len() > 2 {
        return Err(Error::fail(format!("Unexpected argument: {}", args[2])));
    }
    if is_core(name) {
        return Err(Error::fail(format!(
            "Plugin {name} is a core plugin: it is updated with berth"
        )));
    }
    let paths = paths(ctx);
    let _lock = paths.lock()?;
    let plugin = installed_plugin(&paths, name)?;
    if plugin.dir.join(".git").exists() {
        ctx.out.info1(format!("Updating plugin {name}"))?;
        run_tool(
            Process::new("git")
                .arg("-C")
                .arg(&plugin.dir)
                .args(["fetch", "--quiet", "--tags"])
                .env("GIT_TERMINAL_PROMPT", "0"),
            "fetch the plugin's remote",
        )?;
        match args.get(1) {
            Some(reference) => checkout(&plugin.dir, reference)?,
            None => run_tool(
                Process::new("git").arg("-C").arg(&plugin.dir).args([
                    "merge",
                    "--quiet",
                    "--ff-only",
                ]),
                "fast-forward the plugin to its remote",
            )?,
        }
    } else if args.len() > 1 {
        return Err(Error::fail(format!(
            "Plugin {name} was not installed from git: it has no committish to check out"
        )));
    }
    if let Some(exe) = plugin.executable("update") {
        external::run_trigger(ctx, &plugin, &exe, "update", &[])?;
    }
    ctx.out.info1(format!("Plugin {name} updated"))
}

// ----- trigger -----

fn trigger(ctx: &Context, args: Vec<String>) -> Result<()> {
    let Some((name, rest)) = args.split_first() else {
        return Err(Error::fail("Please specify a trigger"));
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let output = ctx.fire(name, &rest)?;
    ctx.out.raw(output.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_follow_plugn() {
        for (source, name) in [
            (
                "https://github.com/dokku/dokku-maintenance.git",
                "maintenance",
            ),
            ("git@github.com:dokku/dokku-http-auth.git", "http-auth"),
            ("/tmp/plugins/hello/", "hello"),
            ("https://example.com/x/hello-1.tar.gz", "hello-1"),
            ("hello.tgz", "hello"),
        ] {
            assert_eq!(Source::default_name(source), name, "{source}");
        }
    }

    #[test]
    fn urls_that_are_not_local_are_git_unless_tarballs() {
        assert_eq!(
            Source::classify("https://example.com/p.tar.gz"),
            Source::TarballUrl("https://example.com/p.tar.gz".into())
        );
        assert_eq!(
            Source::classify("https://example.com/p.git"),
            Source::Git("https://example.com/p.git".into())
        );
    }
}
