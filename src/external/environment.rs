//! The environment Dokku gives a plugin executable, and the trigger
//! timeout.

use std::path::Path;
use std::time::Duration;

use super::{DEFAULT_TRIGGER_TIMEOUT, ExternalPlugin, NOT_IMPLEMENTED_EXIT, Paths, bundled};
use crate::context::Context;
use crate::error::Result;
use crate::store::{Scope, Store};

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
    if let Some(build) = crate::build_record::current() {
        env.push(("DOKKU_BUILD_ID".into(), build.id));
    }
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
pub(super) fn plugin_environment(
    ctx: &Context,
    plugin: &ExternalPlugin,
) -> Result<Vec<(String, String)>> {
    bundled::ensure_core_files(&ctx.store)?;
    let mut env = environment(ctx);
    env.extend(plugin.config_env(&Paths::new(&ctx.store)));
    Ok(env)
}
