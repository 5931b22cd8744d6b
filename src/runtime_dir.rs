//! The per-boot directory: sockets, pid files and nginx's temp files.
//!
//! Runtime is not state (Invariant 6). What lives here describes processes
//! of this boot only, so it is kept off the volume: `$BERTH_RUNTIME_DIR`
//! when set, else `/run/berth/<id>` (`<id>` is `default` for the standard
//! `/var/lib/dokku`, else a hash of `DOKKU_LIB_ROOT`, so installations side
//! by side never share a pid file), else — when `/run` is not writable —
//! the same under `$XDG_RUNTIME_DIR` or the temp folder.
//!
//! Nothing read from here is trusted across a crash: a pid is signalled
//! only after `/proc` shows it is the process we expect
//! ([`crate::nginx::Nginx`]), and a stale socket is removed before a new
//! listener binds it.
//!
//! Architecture invariant: no file under the data roots names a process or
//! a socket; starting after a crash is the same as starting after a clean
//! stop.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::store::Store;

/// Overrides where per-boot files go.
pub const RUNTIME_DIR_ENV: &str = "BERTH_RUNTIME_DIR";
/// Set by `berth server` in its children's environment: the unix second
/// it started, so a child can tell what the previous boot left behind.
pub const SERVER_STARTED_VAR: &str = "BERTH_SERVER_STARTED";
/// The lib root whose runtime folder is called `default`.
const STANDARD_LIB_ROOT: &str = "/var/lib/dokku";

/// The runtime folder of the installation `store` belongs to.
pub fn path(store: &Store) -> PathBuf {
    locate(store.lib_root(), std::env::var_os(RUNTIME_DIR_ENV))
}

/// Creates `dir` (a runtime folder or one inside it) when missing, mode
/// 0755: nginx's unprivileged workers traverse it.
pub fn create(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .at("Unable to create the runtime folder", dir)
}

/// Where the runtime folder is, without creating it.
fn locate(lib_root: &Path, explicit: Option<std::ffi::OsString>) -> PathBuf {
    if let Some(dir) = explicit.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let id = installation_id(lib_root);
    let run = Path::new("/run/berth");
    if writable_or_creatable(run) {
        return run.join(id);
    }
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("berth-{}", nix::unistd::getuid())));
    base.join("berth").join(id)
}

/// `default` for the standard lib root, else 16 hex digits of a stable
/// hash of the path (FNV-1a: the same on every build, unlike std's hasher).
fn installation_id(lib_root: &Path) -> String {
    if lib_root == Path::new(STANDARD_LIB_ROOT) {
        return "default".into();
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lib_root.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn writable_or_creatable(dir: &Path) -> bool {
    let probe = if dir.exists() {
        dir
    } else {
        dir.parent().unwrap_or(dir)
    };
    nix::unistd::access(probe, nix::unistd::AccessFlags::W_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_folder_wins() {
        assert_eq!(
            locate(Path::new("/x"), Some("/tmp/rt".into())),
            PathBuf::from("/tmp/rt")
        );
    }

    #[test]
    fn installations_get_their_own_folder() {
        assert_eq!(installation_id(Path::new("/var/lib/dokku")), "default");
        let a = installation_id(Path::new("/tmp/a/lib"));
        let b = installation_id(Path::new("/tmp/b/lib"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        // Stable across builds and runs: FNV-1a 64 of the path.
        assert_eq!(installation_id(Path::new("/srv/lib")), "a4447eb9156352eb");
    }
}
