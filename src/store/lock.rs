//! Advisory locks between berth processes (`flock(2)` on a lock file).
//!
//! The kernel drops the lock when the process dies, so a crash never leaves
//! a scope locked.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::store::atomic::{FILE_MODE, create_dir_all};

/// Held while alive; released on drop.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    path: PathBuf,
}

impl LockGuard {
    /// Blocks until the exclusive lock on `path` is ours.
    pub fn acquire(path: &Path) -> Result<LockGuard> {
        let file = open(path)?;
        file.lock().at("Unable to lock", path)?;
        Ok(LockGuard {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock if nobody holds it; `None` when it is held.
    pub fn try_acquire(path: &Path) -> Result<Option<LockGuard>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LockGuard {
                file,
                path: path.to_path_buf(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e).at("Unable to lock", path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(path)
        .at("Unable to open lock", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locks/app.lock");
        let held = LockGuard::acquire(&path).unwrap();
        assert!(LockGuard::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(LockGuard::try_acquire(&path).unwrap().is_some());
    }
}

/// Dokku's deploy lock, `data/apps/<app>/.deploy.lock`: the file exists
/// while a deploy runs (flock held) or while `apps:lock` holds the app
/// (file marked [`MANUAL_LOCK`]). A deploy removes the file when it ends.
#[derive(Debug)]
pub struct DeployLock {
    guard: LockGuard,
}

/// What `apps:lock` writes into the deploy lock file.
pub const MANUAL_LOCK: &str = "locked by apps:lock\n";

pub enum DeployLockError {
    /// Another deploy holds it.
    Busy,
    /// `apps:lock` holds it.
    Manual,
}

impl DeployLock {
    pub fn try_acquire(path: &Path) -> Result<std::result::Result<DeployLock, DeployLockError>> {
        use std::os::unix::fs::MetadataExt;
        loop {
            let Some(guard) = LockGuard::try_acquire(path)? else {
                return Ok(Err(DeployLockError::Busy));
            };
            // A deploy that just ended may have unlinked the file we opened:
            // only the file at the path counts.
            let ours = guard.file.metadata().map(|m| (m.dev(), m.ino())).ok();
            let current = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
            if ours != current {
                continue;
            }
            if std::fs::read_to_string(path).is_ok_and(|c| c == MANUAL_LOCK) {
                return Ok(Err(DeployLockError::Manual));
            }
            return Ok(Ok(DeployLock { guard }));
        }
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.guard.path());
    }
}
