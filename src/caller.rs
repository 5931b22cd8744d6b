//! Who runs a command: the server's own command line, or an SSH key.
//!
//! A command that arrives over SSH carries the key's `FINGERPRINT` and
//! `NAME` in its environment: berth's SSH server sets them
//! (`SSH_FINGERPRINT`, `SSH_NAME` too), and so does the forced command of
//! Dokku's `authorized_keys` when OpenSSH runs berth under the name
//! `dokku`. SSH clients cannot set environment variables (the server
//! refuses `env` requests), so they cannot pose as another key or as the
//! command line. Anything else is the command line: root there is an
//! admin; another local user has a `user`'s rights.
//!
//! The key's role is read from the key store when the command runs, so a
//! role change or a removed key applies to the very next command.

use crate::authorized_keys::{AuthorizedKeys, Role};
use crate::error::Result;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The command line of the machine (or container) berth runs on.
    Local { root: bool },
    /// An SSH key.
    Key {
        name: String,
        fingerprint: String,
        /// `None`: the key left the store since it logged in.
        role: Option<Role>,
        /// The client's address (`SSH_CLIENT`'s first word).
        source: Option<String>,
    },
}

impl Caller {
    /// The caller of this process, from its environment.
    pub fn from_env(store: &Store) -> Result<Caller> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let Some(fingerprint) = var("SSH_FINGERPRINT").or_else(|| var("FINGERPRINT")) else {
            return Ok(Caller::Local {
                root: nix::unistd::geteuid().is_root(),
            });
        };
        let keys = AuthorizedKeys::load(store.dokku_root())?;
        let entry = keys.entries().find(|e| e.has_fingerprint(&fingerprint));
        let name = entry
            .map(|e| e.name.clone())
            .or_else(|| var("SSH_NAME"))
            .or_else(|| var("NAME"))
            .unwrap_or_else(|| "default".into());
        Ok(Caller::Key {
            role: entry.map(|e| keys.role(&e.name)),
            name,
            fingerprint,
            source: var("SSH_CLIENT").and_then(|c| c.split_whitespace().next().map(str::to_string)),
        })
    }

    /// Whether the command arrived over SSH.
    pub fn is_remote(&self) -> bool {
        matches!(self, Caller::Key { .. })
    }

    /// The rights this caller has: root's command line and `admin` keys
    /// may do everything.
    pub fn role(&self) -> Option<Role> {
        match self {
            Caller::Local { root: true } => Some(Role::Admin),
            Caller::Local { root: false } => Some(Role::User),
            Caller::Key { role, .. } => *role,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// The key's name (Dokku's `SSH_NAME`), when the caller is a key.
    pub fn key_name(&self) -> Option<&str> {
        match self {
            Caller::Key { name, .. } => Some(name),
            Caller::Local { .. } => None,
        }
    }
}
