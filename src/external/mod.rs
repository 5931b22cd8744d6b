//! External plugins: Dokku's on-disk plugin format.
//!
//! A plugin is a folder `$PLUGIN_PATH/available/<name>` with a
//! `plugin.toml`, and is enabled by a link `$PLUGIN_PATH/enabled/<name>`.
//! It answers a trigger with an executable of the trigger's name, adds
//! commands through `subcommands/<name>` or a `commands` executable, and
//! has lifecycle executables (`install`, `dependencies`, `update`,
//! `uninstall`). This module finds them and runs them — always as argv,
//! with Dokku's environment ([`environment`]), a timeout for triggers and
//! the plugin's own exit status turned into a Dokku-style error.
//!
//! The trigger bus ([`crate::trigger`]) merges the enabled plugins with the
//! core's in-process handlers; the command line ([`crate::cli`]) offers
//! unknown commands to them ([`run_command`]); `plugin:*`
//! ([`crate::plugins::plugin`]) installs and removes them.

pub mod bundled;
mod process;

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::context::Context;
use crate::error::{Error, IoContext, Result};
use crate::store::{Scope, Store};

pub use process::Captured;

/// Dokku's "this command is not mine" exit status of a `commands` script.
pub const NOT_IMPLEMENTED_EXIT: i32 = 10;

/// How long a trigger executable may run before it is killed, unless the
/// admin set `plugin:set --global trigger-timeout <seconds>`.
pub const DEFAULT_TRIGGER_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a plugin's `commands help` may take before `help` goes on
/// without its rows.
const HELP_TIMEOUT: Duration = Duration::from_secs(10);

/// Triggers whose stdout is an answer the caller reads (a value, docker
/// options, a list). The stdout of every other trigger goes straight to
/// the user, as it does in Dokku where the caller does not capture it.
pub const ANSWERING_TRIGGERS: &[&str] = &[
    "app-urls",
    "builder-detect",
    "certs-exists",
    "config-export",
    "config-get",
    "config-get-global",
    "cron-entries",
    "deployed-app-image-tag",
    "docker-args-build",
    "docker-args-deploy",
    "docker-args-process-build",
    "docker-args-process-deploy",
    "docker-args-process-run",
    "docker-args-run",
    "domains-list",
    "domains-urls",
    // Fired around `git upload-pack`, whose stdout is the pack protocol.
    "git-post-pull",
    "git-pre-pull",
    "network-get-ipaddr",
    "network-get-listeners",
    "nginx-hostname",
    "ports-get",
    "ports-web-container-port",
    "procfile-get-command",
    "proxy-is-enabled",
    "proxy-type",
    "ps-current-scale",
    "scheduler-app-status",
    "storage-app-mounts",
    "user-auth-app",
];

/// Dokku's plugin folders, under `$DOKKU_LIB_ROOT`.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `$PLUGIN_PATH`: `plugins/`, holding `available/` and `enabled/`.
    pub plugin_path: PathBuf,
    pub available: PathBuf,
    pub enabled: PathBuf,
    /// `$PLUGIN_CORE_PATH`: `core-plugins/`, where Dokku keeps its own
    /// plugins. berth's core is compiled in; this folder holds only what
    /// external plugins read from it: `available/common/functions` and the
    /// `dokku`/`plugn` commands on their `PATH` (`bin/`).
    pub core_path: PathBuf,
    pub core_available: PathBuf,
    pub core_enabled: PathBuf,
}

impl Paths {
    pub fn new(store: &Store) -> Paths {
        let plugin_path = store.lib_root().join("plugins");
        let core_path = store.lib_root().join("core-plugins");
        Paths {
            available: plugin_path.join("available"),
            enabled: plugin_path.join("enabled"),
            plugin_path,
            core_available: core_path.join("available"),
            core_enabled: core_path.join("enabled"),
            core_path,
        }
    }

    /// Where the `dokku` and `plugn` links for plugin executables live.
    pub fn bin(&self) -> PathBuf {
        self.core_path.join("bin")
    }

    /// Serialises changes to the plugin folders (`plugin:*`, the bundled
    /// plugins' install).
    pub fn lock(&self) -> Result<crate::store::lock::LockGuard> {
        crate::store::lock::LockGuard::acquire(&self.plugin_path.join(".lock"))
    }
}

/// `plugin.toml`, as far as berth reads it.
#[derive(Debug, Default, Deserialize)]
struct Manifest {
    #[serde(default)]
    plugin: ManifestPlugin,
}

#[derive(Debug, Default, Deserialize)]
struct ManifestPlugin {
    #[serde(default)]
    description: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
}

/// An installed external plugin.
#[derive(Debug, Clone)]
pub struct ExternalPlugin {
    pub name: String,
    /// `available/<name>`.
    pub dir: PathBuf,
    pub description: String,
    pub version: String,
    /// `[plugin.config]` defaults, by key.
    config: BTreeMap<String, String>,
}

impl ExternalPlugin {
    /// Reads `dir/plugin.toml`. A missing or broken manifest leaves the
    /// description empty (and is reported by `plugin:list`): the plugin's
    /// executables still run, so a typo cannot silently switch off, say, a
    /// `user-auth` check.
    pub fn load(name: &str, dir: PathBuf) -> ExternalPlugin {
        let manifest = read_manifest(&dir).unwrap_or_default();
        let config = manifest
            .plugin
            .config
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, value)
            })
            .collect();
        ExternalPlugin {
            name: name.to_string(),
            dir,
            description: manifest.plugin.description,
            version: manifest.plugin.version,
            config,
        }
    }

    /// The plugin's executable `name` (a trigger, `commands`,
    /// `subcommands/<x>`), if it has one. A file that is not executable is
    /// skipped with a warning, as plugn does.
    pub fn executable(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.join(name);
        let meta = fs::metadata(&path).ok()?;
        if !meta.is_file() {
            return None;
        }
        if meta.permissions().mode() & 0o111 == 0 {
            eprintln!(
                "{}",
                crate::output::warning(&format!("Skipping {}: not executable", path.display()))
            );
            return None;
        }
        Some(path)
    }

    /// The `CONFIG_<KEY>` variables of `[plugin.config]`: each from
    /// `$<PLUGIN>_<KEY>`, else `[<plugin>]` in `plugins/config.toml`, else
    /// the manifest's default.
    fn config_env(&self, paths: &Paths) -> Vec<(String, String)> {
        if self.config.is_empty() {
            return Vec::new();
        }
        let admin: BTreeMap<String, toml::Value> =
            fs::read_to_string(paths.plugin_path.join("config.toml"))
                .ok()
                .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
                .and_then(|mut table| table.remove(&self.name))
                .and_then(|v| v.as_table().cloned())
                .map(|t| t.into_iter().collect())
                .unwrap_or_default();
        let upper = |s: &str| s.to_uppercase().replace('-', "_");
        self.config
            .iter()
            .map(|(key, default)| {
                let var = format!("{}_{}", upper(&self.name), upper(key));
                let value = std::env::var(&var)
                    .ok()
                    .or_else(|| {
                        admin.get(key).map(|v| match v {
                            toml::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                    })
                    .unwrap_or_else(|| default.clone());
                (format!("CONFIG_{}", upper(key)), value)
            })
            .collect()
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("plugin.toml");
    let text = fs::read_to_string(&path).at("Unable to read", &path)?;
    toml::from_str(&text).map_err(|e| {
        Error::fail(format!(
            "Invalid {}: {}",
            path.display(),
            e.message().trim_end()
        ))
    })
}

/// Checks a manifest the way `plugin:install` requires it: present,
/// valid TOML, with a description and a version.
pub fn check_manifest(dir: &Path) -> Result<()> {
    let manifest = read_manifest(dir)?;
    if manifest.plugin.description.trim().is_empty() || manifest.plugin.version.trim().is_empty() {
        return Err(Error::fail(format!(
            "Invalid {}: [plugin] needs a description and a version",
            dir.join("plugin.toml").display()
        )));
    }
    Ok(())
}

/// Dokku's rule for plugin names: `^[0-9a-zA-Z_-]+$`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn sorted_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", dir),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.at("Unable to list", dir)?;
        if let Some(name) = entry.file_name().to_str()
            && is_valid_name(name)
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The enabled plugins, by name: links in `enabled/` that lead to a
/// folder.
pub fn enabled(paths: &Paths) -> Result<Vec<ExternalPlugin>> {
    Ok(sorted_names(&paths.enabled)?
        .into_iter()
        .filter_map(|name| {
            let dir = paths.enabled.join(&name);
            dir.is_dir().then(|| ExternalPlugin::load(&name, dir))
        })
        .collect())
}

/// Every installed plugin, by name, with whether it is enabled.
pub fn installed(paths: &Paths) -> Result<Vec<(ExternalPlugin, bool)>> {
    Ok(sorted_names(&paths.available)?
        .into_iter()
        .filter(|name| paths.available.join(name).is_dir())
        .map(|name| {
            let enabled = paths.enabled.join(&name).is_dir();
            (
                ExternalPlugin::load(&name, paths.available.join(&name)),
                enabled,
            )
        })
        .collect())
}

/// The trigger timeout the admin set, or the default.
pub fn trigger_timeout(store: &Store) -> Duration {
    store
        .property("plugin", &Scope::Global, "trigger-timeout")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TRIGGER_TIMEOUT)
}

/// Who runs the command, as Dokku's `dokku_auth` names them: `SSH_USER`
/// (else `USER`, else root) and `SSH_NAME` (the key's `NAME`, else
/// `default`).
pub fn asker() -> (String, String) {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    (
        var("SSH_USER")
            .or_else(|| var("USER"))
            .unwrap_or_else(|| "root".into()),
        var("SSH_NAME")
            .or_else(|| var("NAME"))
            .unwrap_or_else(|| "default".into()),
    )
}

/// The environment Dokku gives a plugin executable: the
/// roots, the plugin folders, output and trace flags, who is asking, and a
/// `PATH` that starts with `dokku` and `plugn`.
pub fn environment(ctx: &Context) -> Vec<(String, String)> {
    let paths = Paths::new(&ctx.store);
    let show = |p: &Path| p.display().to_string();
    let (user, name) = asker();
    let mut env = vec![
        ("DOKKU_ROOT".into(), show(ctx.store.dokku_root())),
        ("DOKKU_LIB_ROOT".into(), show(ctx.store.lib_root())),
        ("PLUGIN_PATH".into(), show(&paths.plugin_path)),
        ("PLUGIN_AVAILABLE_PATH".into(), show(&paths.available)),
        ("PLUGIN_ENABLED_PATH".into(), show(&paths.enabled)),
        ("PLUGIN_CORE_PATH".into(), show(&paths.core_path)),
        (
            "PLUGIN_CORE_AVAILABLE_PATH".into(),
            show(&paths.core_available),
        ),
        ("PLUGIN_CORE_ENABLED_PATH".into(), show(&paths.core_enabled)),
        (
            "DOKKU_NOT_IMPLEMENTED_EXIT".into(),
            NOT_IMPLEMENTED_EXIT.to_string(),
        ),
        ("DOKKU_VALID_EXIT".into(), "0".into()),
        ("SSH_USER".into(), user),
        ("SSH_NAME".into(), name),
        // berth's: the group nginx's workers run as, for files only they
        // may read (http-auth's htpasswd).
        (
            "BERTH_NGINX_GROUP".into(),
            crate::nginx::worker_group().to_string(),
        ),
    ];
    if ctx.flags.quiet {
        env.push(("DOKKU_QUIET_OUTPUT".into(), "1".into()));
    }
    if ctx.flags.trace {
        env.push(("DOKKU_TRACE".into(), "1".into()));
    }
    let mut path = std::ffi::OsString::from(paths.bin());
    if let Some(inherited) = std::env::var_os("PATH") {
        path.push(":");
        path.push(inherited);
    }
    env.push(("PATH".into(), path.to_string_lossy().into_owned()));
    env
}

/// What one of `plugin`'s executables runs with: [`environment`] and its
/// `CONFIG_*`, once the shell helpers it may source are in place.
fn plugin_environment(ctx: &Context, plugin: &ExternalPlugin) -> Result<Vec<(String, String)>> {
    bundled::ensure_core_files(&ctx.store)?;
    let mut env = environment(ctx);
    env.extend(plugin.config_env(&Paths::new(&ctx.store)));
    Ok(env)
}

/// Runs `plugin`'s executable for `trigger` with `args`: stdin empty,
/// stderr the user's, stdout captured (answering triggers) or the user's.
/// A non-zero exit or a timeout is an error naming the plugin.
pub fn run_trigger(
    ctx: &Context,
    plugin: &ExternalPlugin,
    executable: &Path,
    trigger: &str,
    args: &[String],
) -> Result<String> {
    let env = plugin_environment(ctx, plugin)?;
    let capture = ANSWERING_TRIGGERS.contains(&trigger);
    let timeout = trigger_timeout(&ctx.store);
    let outcome = process::run_with_timeout(executable, args, &env, capture, timeout)
        .map_err(|e| Error::fail(format!("Unable to run {}: {e}", executable.display())))?;
    let what = format!("The {trigger} trigger of plugin {}", plugin.name);
    match outcome {
        Captured::Exited { code: 0, stdout } => Ok(stdout),
        Captured::Exited { code, .. } => {
            Err(Error::fail(format!("{what} failed (exit status {code})")))
        }
        Captured::Signalled(signal) => {
            Err(Error::fail(format!("{what} was killed by signal {signal}")))
        }
        Captured::TimedOut => Err(Error::fail(format!(
            "{what} did not finish within {}s and was stopped (plugin:set --global trigger-timeout <seconds> changes the limit)",
            timeout.as_secs()
        ))),
    }
}

/// Runs a plugin's command executable with the user's stdin, stdout and
/// stderr, no timeout (a command may be interactive). Returns its exit
/// status.
pub fn run_command(
    ctx: &Context,
    plugin: &ExternalPlugin,
    executable: &Path,
    args: &[String],
) -> Result<i32> {
    let env = plugin_environment(ctx, plugin)?;
    process::run_foreground(executable, args, &env)
        .map_err(|e| Error::fail(format!("Unable to run {}: {e}", executable.display())))
}

/// Offers a command no core plugin owns to the enabled plugins: first the
/// `subcommands/<sub>` of the plugin named before the colon
/// (`subcommands/default` for the bare name), then every `commands`
/// executable in name order, until one does not answer "not mine" (10).
/// Returns `None` when no plugin took the command.
pub fn dispatch(ctx: &Context, command: &str, args: &[String]) -> Result<Option<i32>> {
    let plugins = ctx.external_plugins();
    if plugins.is_empty() {
        return Ok(None);
    }
    let full: Vec<String> = std::iter::once(command.to_string())
        .chain(args.iter().cloned())
        .collect();
    let (plugin_name, sub) = command.split_once(':').unwrap_or((command, "default"));
    if let Some(plugin) = plugins.iter().find(|p| p.name == plugin_name)
        && is_valid_name(sub)
        && let Some(exe) = plugin.executable(&format!("subcommands/{sub}"))
    {
        return run_command(ctx, plugin, &exe, &full).map(Some);
    }
    for plugin in plugins {
        if let Some(exe) = plugin.executable("commands") {
            let code = run_command(ctx, plugin, &exe, &full)?;
            if code != NOT_IMPLEMENTED_EXIT {
                return Ok(Some(code));
            }
        }
    }
    Ok(None)
}

/// The help rows of the enabled plugins: each `commands help` line
/// (`    <name>, <description>`) split at its first comma.
pub fn help_rows(ctx: &Context, all: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let env = environment(ctx);
    for plugin in ctx.external_plugins() {
        let Some(exe) = plugin.executable("commands") else {
            continue;
        };
        let mut args = vec!["help".to_string()];
        if all {
            args.push("--all".to_string());
        }
        let Ok(Captured::Exited { code: 0, stdout }) =
            process::run_with_timeout(&exe, &args, &env, true, HELP_TIMEOUT)
        else {
            continue;
        };
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let (name, description) = line.split_once(',').unwrap_or((line, ""));
            rows.push(vec![
                format!("    {}", name.trim()),
                description.trim().to_string(),
            ]);
        }
    }
    rows
}

/// Enables an installed plugin: the link `enabled/<name>` →
/// `../available/<name>`.
pub fn enable(paths: &Paths, name: &str) -> Result<()> {
    crate::store::atomic::replace_symlink(
        &Path::new("../available").join(name),
        &paths.enabled.join(name),
    )
}

/// Disables a plugin: removes its link. Returns whether it was enabled.
pub fn disable(paths: &Paths, name: &str) -> Result<bool> {
    crate::store::atomic::remove_file(&paths.enabled.join(name))
}
