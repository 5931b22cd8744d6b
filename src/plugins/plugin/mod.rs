//! Dokku's `plugin`: installs, lists, enables and removes external plugins
//! (see [`crate::external`]) and fires triggers by hand.
//!
//! Plugins live in `$DOKKU_LIB_ROOT/plugins` — on the platform volume in
//! the container image, so they survive the container's re-creation.

use std::fs;
use std::path::Path;
use std::process::Command as Process;

use crate::context::Context;
use crate::docker_args::{self, OptionClass};
use crate::error::{Error, IoContext, Result};
use crate::external::{self, ExternalPlugin, Paths, bundled};
use crate::plugins::{CORE, Command, Plugin};
use crate::property_set::{self, Property, Reach};

mod source;

use source::{Source, checkout, fetch, plugin_root, run_tool};

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

/// `<plugin>`, the one argument of `plugin:enable` and its kin.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct NameArg {
    name: Option<String>,
}

fn one_name(command: &str, args: &[String]) -> Result<String> {
    let NameArg { name } = crate::args::parse(command, args)?;
    name.ok_or_else(|| Error::fail("Please specify a plugin"))
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
    let name = one_name("plugin:installed", &args)?;
    let name = name.as_str();
    let found = is_core(name)
        || (external::is_valid_name(name) && paths(ctx).available.join(name).is_dir());
    if found { Ok(()) } else { Err(Error::Silent(1)) }
}

// ----- enable, disable, uninstall -----

fn enable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let name = one_name("plugin:enable", &args)?;
    let name = name.as_str();
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
    let name = one_name("plugin:disable", &args)?;
    let name = name.as_str();
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
    let name = one_name("plugin:uninstall", &args)?;
    let name = name.as_str();
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

/// `plugin:install-dependencies [--core]`: berth's core is compiled in.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct DependenciesArgs {
    #[arg(long)]
    core: bool,
}

fn install_dependencies(ctx: &Context, args: Vec<String>) -> Result<()> {
    let DependenciesArgs { core: _ } = crate::args::parse("plugin:install-dependencies", &args)?;
    ctx.fire("dependencies", &[]).map(drop)
}

/// `plugin:update [<name> [<committish>]]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct UpdateArgs {
    name: Option<String>,
    committish: Option<String>,
}

fn update(ctx: &Context, args: Vec<String>) -> Result<()> {
    let UpdateArgs { name, committish } = crate::args::parse("plugin:update", &args)?;
    let Some(name) = name.as_deref() else {
        bundled::install_bundled(&ctx.store)?;
        return ctx.fire("update", &[]).map(drop);
    };
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
        match committish.as_deref() {
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

/// `plugin:trigger <trigger> [<arg>…]`: the arguments pass untouched.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct TriggerArgs {
    name: Option<String>,
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    args: Vec<String>,
}

fn trigger(ctx: &Context, args: Vec<String>) -> Result<()> {
    let TriggerArgs { name, args } = crate::args::parse("plugin:trigger", &args)?;
    let name = name.ok_or_else(|| Error::fail("Please specify a trigger"))?;
    let rest: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = ctx.fire(&name, &rest)?;
    ctx.out.raw(output.as_bytes())
}
