//! The one error type of the library, and how it reaches the user.
//!
//! Every failure a user can see is an [`Error`]; the binary prints it the way
//! Dokku does (` !     message` on stderr) and exits with [`Error::exit_code`].

use std::io;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Dokku's `dokku_log_fail`: the message, exit 1.
    #[error("{0}")]
    Fail(String),
    /// The named app does not exist: exit 20, as Dokku.
    #[error("App {0} does not exist")]
    AppMissing(String),
    /// Exit with this code and print nothing (e.g. `config:get` of an unset key).
    #[error("exit status {0}")]
    Silent(i32),
    /// The disk refused: names the path so the cause is visible (disk full,
    /// permissions).
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing to our own stdout/stderr failed (a closed pipe is not an error
    /// worth a message).
    #[error("output: {0}")]
    Output(#[source] io::Error),
}

impl Error {
    pub fn fail(message: impl Into<String>) -> Self {
        Error::Fail(message.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::AppMissing(_) => 20,
            Error::Silent(code) => *code,
            Error::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
            _ => 1,
        }
    }

    /// Whether the user should see a message at all.
    pub fn is_reported(&self) -> bool {
        match self {
            Error::Silent(_) => false,
            Error::Output(e) => e.kind() != io::ErrorKind::BrokenPipe,
            _ => true,
        }
    }
}

/// Attaches the path and the action to an `io::Error`.
pub trait IoContext<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
