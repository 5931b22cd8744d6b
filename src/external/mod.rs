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
mod dispatch;
mod environment;
mod manifest;
mod process;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{IoContext, Result};
use crate::store::Store;

pub use dispatch::{dispatch, help_rows, run_command, run_trigger};
pub use environment::{asker, environment, trigger_timeout};
pub use manifest::{ExternalPlugin, check_manifest, is_valid_name};
pub use process::Captured;

/// Dokku's "this command is not mine" exit status of a `commands` script.
pub const NOT_IMPLEMENTED_EXIT: i32 = 10;

/// How long a trigger executable may run before it is killed, unless the
/// admin set `plugin:set --global trigger-timeout <seconds>`.
pub const DEFAULT_TRIGGER_TIMEOUT: Duration = Duration::from_secs(600);

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
