//! Container mode: `berth server` as the platform container's main process,
//! with all state on one host volume mounted at `/mnt/dokku`.
//!
//! At start-up, in this order:
//! - [`Layout::prepare`]: `/home/dokku` and `/var/lib/dokku` become symlinks
//!   to `/mnt/dokku/home/dokku` and `/mnt/dokku/var/lib/dokku`, created when
//!   missing. Nothing already on the volume is ever overwritten, so a new
//!   container on an old volume finds the apps, config, keys and SSH host
//!   key (`data/ssh/`) where the last one left them;
//! - [`apply_hostname`]: `DOKKU_HOSTNAME` becomes the global domain, as
//!   Dokku's init does on every boot;
//! - [`join_app_network`]: the platform container joins the `berth` bridge
//!   network, so nginx and the health checks reach app containers by IP.
//!
//! [`run_as_init`] covers the other duty of a container's PID 1: reaping
//! orphans and passing signals on, so no tini is needed.
//!
//! Architecture invariant: this module only lays out paths and starts
//! berth commands by argv; it writes no state file itself.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::app_network;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};

/// Where the host volume is mounted.
pub const VOLUME: &str = crate::host_path::PLATFORM_MOUNT;
/// Set in the server child started by [`run_as_init`].
const INIT_CHILD_ENV: &str = "BERTH_INIT_CHILD";

/// Container mode: the volume is mounted and we run as the platform
/// container (the same test host-path translation uses).
pub fn detect() -> bool {
    Path::new(VOLUME).is_dir() && crate::host_path::in_container()
}

/// The symlinks that put Dokku's two roots on the volume.
pub struct Layout {
    links: Vec<(PathBuf, PathBuf)>,
}

impl Layout {
    /// `/home/dokku` → `<volume>/home/dokku`, `/var/lib/dokku` →
    /// `<volume>/var/lib/dokku` (the layout host-path translation relies on).
    pub fn standard() -> Layout {
        Layout::under(Path::new("/"), Path::new(VOLUME))
    }

    fn under(root: &Path, volume: &Path) -> Layout {
        let links = ["home/dokku", "var/lib/dokku"]
            .iter()
            .map(|rel| (root.join(rel), volume.join(rel)))
            .collect();
        Layout { links }
    }

    /// Creates what is missing; refuses to hide a non-empty directory.
    pub fn prepare(&self) -> Result<()> {
        for (link, target) in &self.links {
            crate::store::atomic::ensure_dir(target)?;
            link_to(link, target)?;
        }
        Ok(())
    }
}

fn link_to(link: &Path, target: &Path) -> Result<()> {
    match std::fs::symlink_metadata(link) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => {
            return Err(Error::fail(format!(
                "Unable to inspect {}: {e}",
                link.display()
            )));
        }
        Ok(meta) if meta.file_type().is_symlink() => {
            if std::fs::read_link(link).ok().as_deref() == Some(target) {
                return Ok(());
            }
            std::fs::remove_file(link).at("Unable to replace the symlink", link)?;
        }
        Ok(meta) if meta.is_dir() => {
            let empty = std::fs::read_dir(link)
                .at("Unable to read", link)?
                .next()
                .is_none();
            if !empty {
                return Err(Error::fail(format!(
                    "{} is a non-empty directory inside the container; berth keeps its state \
                     on the volume at {} and will not hide it. Move its contents there, or \
                     start a fresh container",
                    link.display(),
                    target.display()
                )));
            }
            std::fs::remove_dir(link).at("Unable to replace the empty directory", link)?;
        }
        Ok(_) => {
            return Err(Error::fail(format!(
                "{} is a file; berth needs a symlink to {} there",
                link.display(),
                target.display()
            )));
        }
    }
    if let Some(parent) = link.parent() {
        crate::store::atomic::ensure_dir(parent)?;
    }
    crate::store::atomic::replace_symlink(target, link)
}

/// `DOKKU_HOSTNAME` set and not already the global domain:
/// `domains:set-global $DOKKU_HOSTNAME`, run as a berth command.
pub fn apply_hostname(ctx: &Context) -> Result<()> {
    let Some(hostname) = std::env::var("DOKKU_HOSTNAME")
        .ok()
        .map(|h| h.trim().to_lowercase())
        .filter(|h| !h.is_empty())
    else {
        return Ok(());
    };
    let current = std::fs::read_to_string(ctx.store.dokku_root().join("VHOST")).unwrap_or_default();
    if current.lines().map(str::trim).eq([hostname.as_str()]) {
        return Ok(());
    }
    let program = std::env::current_exe()
        .map_err(|e| Error::fail(format!("Unable to find the berth binary: {e}")))?;
    let status = std::process::Command::new(program)
        .args(["domains:set-global", &hostname])
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| Error::fail(format!("Unable to run domains:set-global: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "DOKKU_HOSTNAME={hostname} could not be set as the global domain"
        )))
    }
}

/// Connects this container (its id is its hostname, unless `--hostname`
/// changed it) to the apps' bridge network.
pub fn join_app_network(ctx: &Context) -> Result<()> {
    let id = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if id.is_empty() {
        return Err(Error::fail(
            "Unable to tell this container's id from /etc/hostname",
        ));
    }
    let engine = Engine::connect()?;
    let network = app_network::ensure(ctx, &engine)?;
    let Some(me) = engine.inspect_container(&id)? else {
        return Err(Error::fail(format!(
            "No container {id} on the engine: start the platform container without --hostname \
             so that it can join the {} network",
            network.name
        )));
    };
    if app_network::container_ip(&me).is_some() {
        return Ok(());
    }
    engine.connect_network(&network.id, &id)
}

/// When berth is the container's PID 1: runs the server as a child, passes
/// SIGTERM/SIGINT/SIGHUP/SIGQUIT on to it, reaps every orphan the container
/// inherits, and returns the child's exit code. `None` when not PID 1 (or
/// already the child).
pub fn run_as_init() -> Option<i32> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    use nix::unistd::Pid;

    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        signals.add(signal);
    }
    if std::env::var_os(INIT_CHILD_ENV).is_some() {
        // The child inherits the mask below: take the signals back, or
        // SIGTERM would never reach the server (nor nginx, its child).
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&signals), None);
        return None;
    }
    if std::process::id() != 1 {
        return None;
    }
    // Blocked so that `wait` takes them (a namespace's PID 1 would drop
    // them otherwise: it has no handler).
    if sigprocmask(SigmaskHow::SIG_BLOCK, Some(&signals), None).is_err() {
        return None;
    }
    let program = std::env::current_exe().ok()?;
    let child = match std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .env(INIT_CHILD_ENV, "1")
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "{}",
                crate::output::warning(&format!("Unable to start berth: {e}"))
            );
            return Some(1);
        }
    };
    let server = Pid::from_raw(child.id() as i32);
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == server => return Some(code),
                Ok(WaitStatus::Signaled(pid, signal, _)) if pid == server => {
                    return Some(128 + signal as i32);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        match signals.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(signal) => {
                let _ = kill(server, signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_creates_links_and_keeps_state() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, volume) = (tmp.path().join("root"), tmp.path().join("volume"));
        let layout = Layout::under(&root, &volume);
        layout.prepare().unwrap();
        let link = root.join("home/dokku");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            volume.join("home/dokku")
        );
        std::fs::write(link.join("VHOST"), "kept").unwrap();
        // A second start changes nothing.
        layout.prepare().unwrap();
        assert_eq!(std::fs::read_to_string(link.join("VHOST")).unwrap(), "kept");
    }

    #[test]
    fn layout_replaces_an_empty_dir_and_refuses_a_full_one() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, volume) = (tmp.path().join("root"), tmp.path().join("volume"));
        std::fs::create_dir_all(root.join("home/dokku")).unwrap();
        std::fs::create_dir_all(root.join("var/lib/dokku/config")).unwrap();
        let error = Layout::under(&root, &volume).prepare().unwrap_err();
        assert!(error.to_string().contains("non-empty directory"), "{error}");
        assert!(
            std::fs::symlink_metadata(root.join("home/dokku"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(root.join("var/lib/dokku/config").is_dir());
    }
}
