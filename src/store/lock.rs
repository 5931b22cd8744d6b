//! Advisory locks between berth processes (`flock(2)` on a lock file).
//!
//! The kernel drops the lock when the process dies, so a crash never leaves
//! a scope locked.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::store::atomic::{FILE_MODE, ensure_dir, give_to_state_user};

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
        ensure_dir(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(path)
        .at("Unable to open lock", path)?;
    give_to_state_user(path)?;
    Ok(file)
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
/// (file marked [`MANUAL_LOCK`]). A deploy removes the file when it ends; a
/// file left by a deploy that was killed holds no flock and counts as free.
///
/// Re-entrant within a process: a push takes it in the builder and the
/// scheduler's deploy, run by the same process, takes it again for free.
#[derive(Debug)]
pub struct DeployLock {
    /// `None` for a re-entrant acquisition: the outer one owns the file.
    guard: Option<LockGuard>,
}

/// What `apps:lock` writes into the deploy lock file.
pub const MANUAL_LOCK: &str = "locked by apps:lock\n";

/// The deploy lock files this process holds.
static HELD: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

#[derive(Debug, PartialEq, Eq)]
pub enum DeployLockError {
    /// Another deploy holds it.
    Busy,
    /// `apps:lock` holds it.
    Manual,
}

/// Whether an app can deploy now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployLockStatus {
    Free,
    /// A deploy runs (some process holds the flock).
    Deploying,
    /// `apps:lock`.
    Manual,
}

impl DeployLock {
    /// Takes the lock unless a deploy or `apps:lock` holds it.
    pub fn try_acquire(path: &Path) -> Result<std::result::Result<DeployLock, DeployLockError>> {
        DeployLock::acquire_with(path, false)
    }

    /// Takes the lock, waiting for a running deploy to end; `apps:lock`
    /// still refuses.
    pub fn acquire(path: &Path) -> Result<std::result::Result<DeployLock, DeployLockError>> {
        DeployLock::acquire_with(path, true)
    }

    fn acquire_with(
        path: &Path,
        wait: bool,
    ) -> Result<std::result::Result<DeployLock, DeployLockError>> {
        use std::os::unix::fs::MetadataExt;
        if held().contains(&path.to_path_buf()) {
            return Ok(Ok(DeployLock { guard: None }));
        }
        loop {
            if is_manual(path) {
                return Ok(Err(DeployLockError::Manual));
            }
            let guard = if wait {
                LockGuard::acquire(path)?
            } else {
                match LockGuard::try_acquire(path)? {
                    Some(guard) => guard,
                    None => return Ok(Err(DeployLockError::Busy)),
                }
            };
            // A deploy that just ended may have unlinked the file we opened:
            // only the file at the path counts.
            let ours = guard.file.metadata().map(|m| (m.dev(), m.ino())).ok();
            let current = std::fs::metadata(path).map(|m| (m.dev(), m.ino())).ok();
            if ours != current {
                continue;
            }
            if is_manual(path) {
                return Ok(Err(DeployLockError::Manual));
            }
            held().push(path.to_path_buf());
            return Ok(Ok(DeployLock { guard: Some(guard) }));
        }
    }

    /// The lock's state, without taking it.
    pub fn status(path: &Path) -> Result<DeployLockStatus> {
        if !path.exists() {
            return Ok(DeployLockStatus::Free);
        }
        if is_manual(path) {
            return Ok(DeployLockStatus::Manual);
        }
        if held().contains(&path.to_path_buf()) {
            return Ok(DeployLockStatus::Deploying);
        }
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DeployLockStatus::Free);
            }
            Err(e) => return Err(e).at("Unable to open lock", path),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(DeployLockStatus::Free),
            Err(std::fs::TryLockError::WouldBlock) => Ok(DeployLockStatus::Deploying),
            Err(std::fs::TryLockError::Error(e)) => Err(e).at("Unable to lock", path),
        }
    }
}

fn held() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn is_manual(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|c| c == MANUAL_LOCK)
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        if let Some(guard) = &self.guard {
            held().retain(|p| p != guard.path());
            let _ = std::fs::remove_file(guard.path());
        }
    }
}

#[cfg(test)]
mod deploy_lock_tests {
    use super::*;

    #[test]
    fn reentrant_in_one_process_and_free_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".deploy.lock");
        // A file without a flock (its deploy was killed) is free.
        std::fs::write(&path, "").unwrap();
        assert_eq!(DeployLock::status(&path).unwrap(), DeployLockStatus::Free);
        let outer = DeployLock::try_acquire(&path).unwrap().unwrap();
        assert_eq!(
            DeployLock::status(&path).unwrap(),
            DeployLockStatus::Deploying
        );
        let inner = DeployLock::acquire(&path).unwrap().unwrap();
        drop(inner);
        assert!(path.exists(), "the inner guard leaves the outer's file");
        drop(outer);
        assert!(!path.exists());
        assert_eq!(DeployLock::status(&path).unwrap(), DeployLockStatus::Free);
    }

    #[test]
    fn apps_lock_refuses_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".deploy.lock");
        std::fs::write(&path, MANUAL_LOCK).unwrap();
        assert_eq!(DeployLock::status(&path).unwrap(), DeployLockStatus::Manual);
        assert_eq!(
            DeployLock::acquire(&path).unwrap().unwrap_err(),
            DeployLockError::Manual
        );
        assert_eq!(
            DeployLock::try_acquire(&path).unwrap().unwrap_err(),
            DeployLockError::Manual
        );
    }
}
