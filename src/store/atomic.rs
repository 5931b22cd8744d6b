//! Crash-safe file replacement: temp file in the same folder, fsync, rename,
//! fsync the folder. A reader sees the old contents or the new, never a mix.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{AT_FDCWD, AtFlags};
use nix::unistd::{Gid, Group, Uid, User, fchownat};

use crate::error::{IoContext, Result};

/// Mode of state folders, as Dokku makes them.
pub const DIR_MODE: u32 = 0o755;
/// Mode of state files, as Dokku makes them.
pub const FILE_MODE: u32 = 0o600;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The system user that owns state, as on a Dokku host: `dokku`, or the
/// name in `BERTH_STATE_USER`.
pub const STATE_USER_ENV: &str = "BERTH_STATE_USER";

/// The uid and gid state files are given when berth runs as root on a
/// host that has the state user (Dokku runs its commands as `dokku`, and
/// its plugins write with `sudo -u dokku`); `None` leaves files to
/// whoever writes them. Looked up once per process.
pub fn state_owner() -> Option<(Uid, Gid)> {
    static OWNER: OnceLock<Option<(Uid, Gid)>> = OnceLock::new();
    *OWNER.get_or_init(|| {
        if !Uid::effective().is_root() {
            return None;
        }
        let name = std::env::var(STATE_USER_ENV).unwrap_or_else(|_| "dokku".to_string());
        let user = User::from_name(&name).ok().flatten()?;
        let gid = Group::from_name(&name)
            .ok()
            .flatten()
            .map_or(user.gid, |group| group.gid);
        Some((user.uid, gid))
    })
}

/// Gives `path` to the state user (see [`state_owner`]); nothing to do
/// elsewhere. The mode is untouched, so secrets stay unreadable to others.
pub fn give_to_state_user(path: &Path) -> Result<()> {
    if let Some((uid, gid)) = state_owner() {
        fchownat(
            AT_FDCWD,
            path,
            Some(uid),
            Some(gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(std::io::Error::from)
        .at("Unable to change the owner of", path)?;
    }
    Ok(())
}

/// Gives `dir` and everything under it to the state user (a repository
/// git2 just made, say). Links are changed, never followed.
pub fn give_tree_to_state_user(dir: &Path) -> Result<()> {
    if state_owner().is_none() {
        return Ok(());
    }
    give_to_state_user(dir)?;
    if fs::symlink_metadata(dir)
        .at("Unable to read", dir)?
        .is_dir()
    {
        for entry in fs::read_dir(dir).at("Unable to list", dir)? {
            let entry = entry.at("Unable to list", dir)?;
            give_tree_to_state_user(&entry.path())?;
        }
    }
    Ok(())
}

pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // The folders this call makes, outermost first, so each is given to
    // the state user.
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .at("Unable to create", dir)?;
    for made in missing.into_iter().rev() {
        give_to_state_user(made)?;
    }
    Ok(())
}

/// The folder of `path` (made when missing) and a temp name beside
/// `path` that no other writer uses.
fn beside(path: &Path, kind: &str) -> Result<(PathBuf, PathBuf)> {
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    ensure_dir(&dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{kind}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    Ok((dir, tmp))
}

/// Writes `contents` to the new file `tmp`, synced.
fn write_synced(tmp: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    if let Some((uid, gid)) = state_owner() {
        nix::unistd::fchown(&file, Some(uid), Some(gid))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

/// Replaces `path` with `contents`, creating its folder when missing.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let (dir, tmp) = beside(path, "tmp")?;
    if let Err(e) = write_synced(&tmp, contents, mode).and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e).at("Unable to write", path);
    }
    sync_dir(&dir)
}

/// Creates `path` with `contents` unless it exists, atomically: a reader
/// sees no file or the whole file, and of two processes creating it at
/// once exactly one wins (the other gets `false` and should read what the
/// winner wrote).
pub fn create_new(path: &Path, contents: &[u8], mode: u32) -> Result<bool> {
    let (dir, tmp) = beside(path, "new")?;
    // A hard link, unlike a rename, never replaces what is there.
    let linked = write_synced(&tmp, contents, mode).and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => sync_dir(&dir).map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).at("Unable to create", path),
    }
}

/// Opens `path` to append to, creating it (with `mode`, given to the
/// state user) and its folder when missing: for a log written as it comes,
/// which readers follow while it grows (a build's output).
pub fn open_append(path: &Path, mode: u32) -> Result<File> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)
        .at("Unable to open", path)?;
    give_to_state_user(path)?;
    sync_dir(dir)?;
    Ok(file)
}

/// Moves a file written beside `to` into place, durably (the rename, then
/// the folder synced).
pub fn rename_atomic(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).at("Unable to move into place", to)?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Points the symlink `link` at `target`, replacing what `link` was in one
/// rename (a reader sees the old link or the new, never none), durably.
pub fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    let (dir, tmp) = beside(link, "link")?;
    let made = std::os::unix::fs::symlink(target, &tmp).at("Unable to link", link);
    let made = made
        .and_then(|()| give_to_state_user(&tmp))
        .and_then(|()| fs::rename(&tmp, link).at("Unable to link", link));
    if let Err(e) = made {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(&dir)
}

/// Removes `path` if present, durably.
pub fn remove_file(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir)?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).at("Unable to remove", path),
    }
}

pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .at("Unable to sync", dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_contents_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/ENV");
        write_atomic(&path, b"one", FILE_MODE).unwrap();
        write_atomic(&path, b"two", FILE_MODE).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["ENV"]);
    }

    #[test]
    fn create_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        assert!(create_new(&path, b"first", FILE_MODE).unwrap());
        assert!(!create_new(&path, b"second", FILE_MODE).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "first");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn replace_symlink_replaces_a_link_or_makes_one() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("sub/current");
        replace_symlink(Path::new("one"), &link).unwrap();
        replace_symlink(Path::new("two"), &link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("two"));
        assert_eq!(fs::read_dir(link.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn remove_reports_whether_there_was_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        assert!(!remove_file(&path).unwrap());
        write_atomic(&path, b"", FILE_MODE).unwrap();
        assert!(remove_file(&path).unwrap());
    }
}
