//! The host folders behind storage: where a bind source may be
//! ([`check_host_path`], architecture invariant 7), and the ownership and
//! permission bits of entry folders (`--chown`, `--mode`), changed without
//! ever following a symlink out of the folder.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::error::{Error, Result};

/// Whether `path` (and where its symlinks lead) is inside the storage
/// folder, not the folder itself.
pub fn in_storage_dir(ctx: &Context, path: &Path) -> bool {
    let storage = super::entry::storage_dir(ctx);
    let resolved = std::fs::canonicalize(path).ok();
    let forms: Vec<&Path> = std::iter::once(path).chain(resolved.as_deref()).collect();
    let storage_forms: Vec<PathBuf> = std::iter::once(storage.clone())
        .chain(std::fs::canonicalize(&storage).ok())
        .collect();
    let inside = |p: &Path| storage_forms.iter().any(|s| p.starts_with(s) && p != s);
    forms.iter().all(|p| inside(p))
}

/// Host paths no storage may use, whoever asks: the host's root, `/proc`,
/// `/sys`, `/dev`, a folder holding the Docker socket, and berth's own
/// roots (each hands the app the host).
pub fn refuse_dangerous(ctx: &Context, path: &Path) -> Result<()> {
    let resolved = std::fs::canonicalize(path).ok();
    let forms: Vec<&Path> = std::iter::once(path).chain(resolved.as_deref()).collect();
    let sockets = [
        Path::new("/var/run/docker.sock"),
        Path::new("/run/docker.sock"),
    ];
    let roots = [
        ctx.store.dokku_root(),
        ctx.store.lib_root(),
        Path::new(crate::host_path::PLATFORM_MOUNT),
    ];
    for form in &forms {
        let kernel = ["/proc", "/sys", "/dev"]
            .iter()
            .any(|k| form.starts_with(k));
        let holds_socket = sockets.iter().any(|s| s.starts_with(form));
        let berths = roots
            .iter()
            .any(|r| r.starts_with(form) || form.starts_with(r));
        if *form == Path::new("/") || kernel || holds_socket || berths {
            return Err(Error::fail(format!(
                "Refusing to mount {}: it would give the app the host's {}",
                path.display(),
                if *form == Path::new("/") {
                    "whole file system"
                } else if kernel {
                    "kernel interfaces"
                } else if holds_socket {
                    "Docker engine (its socket)"
                } else {
                    "berth state"
                }
            )));
        }
    }
    Ok(())
}

/// Where a bind mount's host path may be, whoever asks:
/// - inside the storage folder (`data/storage`, Dokku's documented place,
///   filled by `storage:create`): always;
/// - what [`refuse_dangerous`] names: never;
/// - anywhere else: once an admin allowed the `host-mounts` class, as for
///   `-v` from plugins (`plugin:set --global allowed-docker-options
///   host-mounts`).
///
/// An existing path is judged by where its symlinks lead too.
pub fn check_host_path(ctx: &Context, path: &Path) -> Result<()> {
    if in_storage_dir(ctx, path) {
        return Ok(());
    }
    refuse_dangerous(ctx, path)?;
    let allowed = crate::docker_args::allowed_classes(ctx)?;
    if !allowed.contains(&crate::docker_args::OptionClass::HostMounts) {
        let storage = super::entry::storage_dir(ctx);
        return Err(Error::fail(format!(
            "Mounting {} needs the host-mounts class, as it is outside {}: an admin allows it with plugin:set --global allowed-docker-options host-mounts, or use storage:create and a path under {}",
            path.display(),
            storage.display(),
            storage.display()
        )));
    }
    Ok(())
}

/// `--chown` presets: the uid and gid to give, or none.
pub fn chown_id(option: &str) -> Result<Option<u32>> {
    match option {
        "herokuish" => Ok(Some(32767)),
        "heroku" => Ok(Some(1000)),
        "packeto" | "paketo" => Ok(Some(2000)),
        "root" => Ok(Some(0)),
        "false" => Ok(None),
        n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n
            .parse()
            .map(Some)
            .map_err(|_| Error::fail("Unsupported chown permissions")),
        _ => Err(Error::fail("Unsupported chown permissions")),
    }
}

/// `chmod MODE` of the folder itself (never its contents), by descriptor,
/// never following a symlink.
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::{Mode, fchmod};
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dir = open(path, flags, Mode::empty())
        .map_err(|e| Error::fail(format!("Unable to open {}: {e}", path.display())))?;
    fchmod(&dir, Mode::from_bits_truncate(mode)).map_err(|e| {
        Error::fail(format!(
            "Unable to change the mode of {}: {e}",
            path.display()
        ))
    })
}

/// `chown -R id:id`, never following symlinks.
pub fn chown_tree(path: &Path, id: u32) -> Result<()> {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dir = open(path, flags, Mode::empty())
        .map_err(|e| Error::fail(format!("Unable to open {}: {e}", path.display())))?;
    chown_dir(dir, id, path)
}

/// Chowns the open folder `dir` and everything in it, by descriptor:
/// entries are changed with `fchownat(…, AT_SYMLINK_NOFOLLOW)` and entered
/// with `openat(…, O_NOFOLLOW | O_DIRECTORY)`, so a symlink swapped in
/// while the walk runs (by an app that writes into the folder) is never
/// followed out of it.
fn chown_dir(dir: std::os::fd::OwnedFd, id: u32, shown: &Path) -> Result<()> {
    use nix::dir::{Dir, Type};
    use nix::fcntl::{AtFlags, OFlag, openat};
    use nix::sys::stat::Mode;
    use nix::unistd::{Gid, Uid, fchown, fchownat};
    use std::os::unix::ffi::OsStrExt;
    let fail = |what: &str, e: nix::Error| {
        Error::fail(format!("Unable to {what} {}: {e}", shown.display()))
    };
    let (uid, gid) = (Some(Uid::from_raw(id)), Some(Gid::from_raw(id)));
    fchown(&dir, uid, gid).map_err(|e| fail("change the owner of", e))?;
    let mut listing = Dir::from_fd(
        dir.try_clone()
            .map_err(|e| Error::fail(format!("Unable to read {}: {e}", shown.display())))?,
    )
    .map_err(|e| fail("list", e))?;
    let mut subdirs = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(|e| fail("list", e))?;
        let name = entry.file_name().to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        fchownat(
            &dir,
            name.as_c_str(),
            uid,
            gid,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| fail("change the owner of an entry of", e))?;
        if entry.file_type() == Some(Type::Directory) {
            subdirs.push(name);
        }
    }
    for name in subdirs {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        match openat(&dir, name.as_c_str(), flags, Mode::empty()) {
            Ok(child) => {
                let shown = shown.join(std::ffi::OsStr::from_bytes(name.as_bytes()));
                chown_dir(child, id, &shown)?;
            }
            // Swapped for a symlink or removed since it was listed: it is
            // not ours to follow.
            Err(nix::Error::ELOOP | nix::Error::ENOTDIR | nix::Error::ENOENT) => {}
            Err(e) => return Err(fail("enter a folder in", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chown_presets() {
        assert_eq!(chown_id("herokuish").unwrap(), Some(32767));
        assert_eq!(chown_id("heroku").unwrap(), Some(1000));
        assert_eq!(chown_id("paketo").unwrap(), Some(2000));
        assert_eq!(chown_id("packeto").unwrap(), Some(2000));
        assert_eq!(chown_id("root").unwrap(), Some(0));
        assert_eq!(chown_id("false").unwrap(), None);
        assert_eq!(chown_id("1234").unwrap(), Some(1234));
        for bad in ["nobody", "-1", "", "99999999999"] {
            assert_eq!(
                chown_id(bad).unwrap_err().to_string(),
                "Unsupported chown permissions"
            );
        }
    }
}
