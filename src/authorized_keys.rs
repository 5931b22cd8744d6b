//! berth's key store: Dokku's own `$DOKKU_ROOT/.ssh/authorized_keys`, in
//! sshcommand's format, one line per key:
//!
//! ```text
//! command="FINGERPRINT=SHA256:… NAME=\"admin\" `cat /home/dokku/.sshcommand` $SSH_ORIGINAL_COMMAND",no-agent-forwarding,… ssh-ed25519 AAAA… comment
//! ```
//!
//! This module is the one parser of that file: `ssh-keys:*` edit it, the
//! SSH server authenticates against it. The `command="…"` text is data kept
//! for compatibility with Dokku's layout; berth never runs it.
//!
//! Each key has a role, `admin` or `user` ([`Role`]), kept beside it in
//! `$DOKKU_ROOT/.ssh/roles` (`NAME ROLE` lines, written under the same
//! lock): a key missing there is a `user`, so keys from before roles
//! existed keep working with Dokku's SSH user's rights.
//!
//! Lines that are not sshcommand entries (comments, plain keys, other
//! options) are kept verbatim when the file is rewritten and never grant
//! access. An entry whose options berth does not know (`from=`,
//! `expiry-time=`, ...) cannot be honoured, so it never grants access either:
//! unknown restrictions fail closed.

use std::fs::DirBuilder;
use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use russh::keys::{Algorithm, HashAlg, PublicKey};

use crate::error::{Error, IoContext, Result};
use crate::store::LockGuard;
use crate::store::atomic::{ensure_dir, write_atomic};

/// sshcommand's default key options (`SSHCOMMAND_ALLOWED_KEYS`).
pub const DEFAULT_ALLOWED_KEYS: &str =
    "no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding";

/// Mode of `.ssh/`, as sshd wants it.
const SSH_DIR_MODE: u32 = 0o700;
/// Mode of `authorized_keys`.
const KEYS_FILE_MODE: u32 = 0o600;

/// Options that only allow or forbid what berth never offers (forwarding,
/// rc files) or that berth honours (`no-pty`, `restrict`, `pty`).
const UNDERSTOOD_OPTIONS: &[&str] = &[
    "no-agent-forwarding",
    "no-user-rc",
    "no-X11-forwarding",
    "no-port-forwarding",
    "agent-forwarding",
    "user-rc",
    "X11-forwarding",
    "port-forwarding",
    "no-pty",
    "pty",
    "restrict",
];

/// What a key may do over SSH: `user`, exactly what Dokku lets its SSH
/// user do (every app command, none of the root-only ones), or `admin`,
/// everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Result<Role> {
        match text {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            other => Err(Error::fail(format!(
                "Invalid role {other}: use admin or user"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sshcommand entry: a named public key.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// The `NAME` the key was added under.
    pub name: String,
    /// The `FINGERPRINT` recorded in the line (what Dokku lists).
    pub fingerprint: String,
    /// The key options after `command="…"` (`SSHCOMMAND_ALLOWED_KEYS`).
    pub allowed_keys: String,
    /// `<type> <base64> [comment]`, as in the file.
    pub public_key: String,
    key: PublicKey,
    usable: bool,
    pty: bool,
}

impl KeyEntry {
    /// The key's SHA256 fingerprint, computed from the key itself.
    pub fn sha256(&self) -> String {
        fingerprint(&self.key)
    }

    /// Whether this entry lets `key` in.
    pub fn admits(&self, key: &PublicKey) -> bool {
        self.usable && self.key.key_data() == key.key_data()
    }

    /// Whether the entry's options allow a pseudo-terminal.
    pub fn allows_pty(&self) -> bool {
        self.pty
    }

    /// Whether `text` names this entry's key: the recorded fingerprint or
    /// the computed SHA256 one.
    pub fn has_fingerprint(&self, text: &str) -> bool {
        self.fingerprint == text || self.sha256() == text
    }
}

#[derive(Debug, Clone)]
enum Line {
    Entry { entry: Box<KeyEntry>, raw: String },
    Other(String),
}

/// The parsed file, lines in their order, and the keys' roles.
#[derive(Debug, Clone, Default)]
pub struct AuthorizedKeys {
    lines: Vec<Line>,
    /// Key name → role, for the keys that are not plain `user`s.
    roles: std::collections::BTreeMap<String, Role>,
}

impl AuthorizedKeys {
    /// `$DOKKU_ROOT/.ssh/authorized_keys`.
    pub fn path(dokku_root: &Path) -> PathBuf {
        dokku_root.join(".ssh/authorized_keys")
    }

    /// `$DOKKU_ROOT/.ssh/roles`.
    pub fn roles_path(dokku_root: &Path) -> PathBuf {
        dokku_root.join(".ssh/roles")
    }

    /// Reads the file and the roles; a missing file is an empty store.
    /// Writers replace the files atomically, so a reader needs no lock.
    pub fn load(dokku_root: &Path) -> Result<AuthorizedKeys> {
        let text = read_text(&Self::path(dokku_root))?;
        let mut keys = AuthorizedKeys::parse(&text);
        keys.roles = parse_roles(&read_text(&Self::roles_path(dokku_root))?);
        Ok(keys)
    }

    pub fn parse(text: &str) -> AuthorizedKeys {
        let lines = text
            .lines()
            .map(|raw| match parse_entry(raw) {
                Some(entry) => Line::Entry {
                    entry: Box::new(entry),
                    raw: raw.to_string(),
                },
                None => Line::Other(raw.to_string()),
            })
            .collect();
        AuthorizedKeys {
            lines,
            roles: Default::default(),
        }
    }

    /// A key's role: `user` unless recorded otherwise.
    pub fn role(&self, name: &str) -> Role {
        self.roles.get(name).copied().unwrap_or(Role::User)
    }

    /// Records `name`'s role (the key must be in the store).
    pub fn set_role(&mut self, name: &str, role: Role) -> Result<()> {
        if !self.entries().any(|e| e.name == name) {
            return Err(Error::fail(format!("No key named {name}")));
        }
        match role {
            Role::User => self.roles.remove(name),
            Role::Admin => self.roles.insert(name.to_string(), role),
        };
        Ok(())
    }

    /// Whether any key in the store has the `admin` role.
    pub fn has_admin(&self) -> bool {
        self.entries().any(|e| self.role(&e.name) == Role::Admin)
    }

    /// The file's text: every line as read, entries added since appended.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            let (Line::Entry { raw, .. } | Line::Other(raw)) = line;
            text.push_str(raw);
            text.push('\n');
        }
        text
    }

    pub fn entries(&self) -> impl Iterator<Item = &KeyEntry> {
        self.lines.iter().filter_map(|line| match line {
            Line::Entry { entry, .. } => Some(entry.as_ref()),
            Line::Other(_) => None,
        })
    }

    /// The entry that lets `key` in, if any.
    pub fn admitting(&self, key: &PublicKey) -> Option<&KeyEntry> {
        self.entries().find(|entry| entry.admits(key))
    }

    /// Whether any entry, usable or not, holds `key`.
    pub fn holds_key(&self, key: &PublicKey) -> bool {
        self.entries().any(|e| e.key.key_data() == key.key_data())
    }

    /// Appends an entry in sshcommand's format; returns its fingerprint.
    /// The caller has validated `name` and `allowed_keys` (see
    /// [`valid_name`], [`valid_allowed_keys`]).
    pub fn add(
        &mut self,
        dokku_root: &Path,
        name: &str,
        key: &PublicKey,
        allowed_keys: &str,
    ) -> Result<String> {
        let root = dokku_root.display().to_string();
        if root.contains(['"', '\\', '`', '\n', '\r']) {
            return Err(Error::fail(format!(
                "DOKKU_ROOT {root} cannot be written into authorized_keys: it contains a quote, backslash, backtick or newline"
            )));
        }
        let fingerprint = fingerprint(key);
        let public_key = key_text(key)?;
        let raw = format!(
            "command=\"FINGERPRINT={fingerprint} NAME=\\\"{name}\\\" `cat {root}/.sshcommand` $SSH_ORIGINAL_COMMAND\",{allowed_keys} {public_key}"
        );
        let entry = parse_entry(&raw).ok_or_else(|| {
            Error::fail(format!(
                "Unable to write an authorized_keys entry for {name}"
            ))
        })?;
        self.lines.push(Line::Entry {
            entry: Box::new(entry),
            raw,
        });
        Ok(fingerprint)
    }

    /// Removes the entries `remove` picks, and their roles; returns how
    /// many.
    pub fn remove(&mut self, mut remove: impl FnMut(&KeyEntry) -> bool) -> usize {
        let before = self.lines.len();
        self.lines.retain(|line| match line {
            Line::Entry { entry, .. } => !remove(entry),
            Line::Other(_) => true,
        });
        let names: Vec<String> = self.entries().map(|e| e.name.clone()).collect();
        self.roles.retain(|name, _| names.contains(name));
        before - self.lines.len()
    }

    /// Replaces the file and the roles, mode 0600 in a 0700 `.ssh/`.
    pub fn save(&self, dokku_root: &Path) -> Result<()> {
        ensure_ssh_dir(dokku_root)?;
        write_atomic(
            &Self::path(dokku_root),
            self.render().as_bytes(),
            KEYS_FILE_MODE,
        )?;
        let roles: String = self
            .roles
            .iter()
            .map(|(name, role)| format!("{name} {role}\n"))
            .collect();
        write_atomic(
            &Self::roles_path(dokku_root),
            roles.as_bytes(),
            KEYS_FILE_MODE,
        )
    }
}

/// Read-modify-write of the store under its lock: `change` sees the
/// current file; what it leaves is saved when it succeeds.
pub fn update<T>(
    dokku_root: &Path,
    change: impl FnOnce(&mut AuthorizedKeys) -> Result<T>,
) -> Result<T> {
    ensure_ssh_dir(dokku_root)?;
    let _lock = LockGuard::acquire(&dokku_root.join(".ssh/.authorized_keys.lock"))?;
    let mut keys = AuthorizedKeys::load(dokku_root)?;
    let result = change(&mut keys)?;
    keys.save(dokku_root)?;
    Ok(result)
}

/// A store file's text; a missing file is empty.
fn read_text(path: &Path) -> Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| Error::fail(format!("{} is not valid UTF-8", path.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).at("Unable to read", path),
    }
}

/// `NAME ROLE` lines; what does not parse grants nothing (it reads as
/// `user`).
fn parse_roles(text: &str) -> std::collections::BTreeMap<String, Role> {
    text.lines()
        .filter_map(|line| {
            let (name, role) = line.trim().split_once(' ')?;
            Some((name.to_string(), Role::parse(role.trim()).ok()?))
        })
        .filter(|(_, role)| *role == Role::Admin)
        .collect()
}

fn ensure_ssh_dir(dokku_root: &Path) -> Result<()> {
    ensure_dir(dokku_root)?;
    let dir = dokku_root.join(".ssh");
    match DirBuilder::new().mode(SSH_DIR_MODE).create(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).at("Unable to create", &dir),
    }
}

/// A key name berth accepts: it is embedded in the entry's quoted command,
/// so no quotes, blanks or backslashes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
}

/// `SSHCOMMAND_ALLOWED_KEYS` as berth accepts it: flag options only
/// (`no-pty,no-port-forwarding`), all of them ones berth understands.
pub fn valid_allowed_keys(options: &str) -> bool {
    options.split(',').all(|o| UNDERSTOOD_OPTIONS.contains(&o))
}

/// OpenSSH's SHA256 fingerprint: `SHA256:` and unpadded base64.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Parses one OpenSSH public key line (`<type> <base64> [comment]`, no
/// options) of a type berth accepts: ed25519, ecdsa, rsa, and their
/// security-key variants.
pub fn parse_public_key(text: &str) -> Option<PublicKey> {
    let key = PublicKey::from_openssh(text.trim()).ok()?;
    match key.algorithm() {
        Algorithm::Ed25519
        | Algorithm::Ecdsa { .. }
        | Algorithm::Rsa { .. }
        | Algorithm::SkEd25519
        | Algorithm::SkEcdsaSha2NistP256 => Some(key),
        _ => None,
    }
}

fn key_text(key: &PublicKey) -> Result<String> {
    key.to_openssh()
        .map_err(|e| Error::fail(format!("Unable to encode the public key: {e}")))
}

/// Parses a line written by sshcommand (or berth): `command="FINGERPRINT=…
/// NAME=…"` first, then key options, then the key.
fn parse_entry(raw: &str) -> Option<KeyEntry> {
    let rest = raw.trim_start().strip_prefix("command=\"")?;
    let (command, after) = quoted_value(rest)?;
    let command_fields = command.strip_prefix("FINGERPRINT=")?;
    let (fingerprint, after_fp) = command_fields.split_once(' ')?;
    let name = entry_name(after_fp.trim_start().strip_prefix("NAME=")?)?;
    let (allowed_keys, key_text) = match after.strip_prefix(',') {
        Some(options) => {
            let end = options_end(options)?;
            (&options[..end], &options[end..])
        }
        None => ("", after),
    };
    if !key_text.starts_with([' ', '\t']) {
        return None;
    }
    let key_text = key_text.trim();
    let key = parse_public_key(key_text)?;
    let (usable, pty) = judge_options(allowed_keys);
    Some(KeyEntry {
        name: name.to_string(),
        fingerprint: fingerprint.to_string(),
        allowed_keys: allowed_keys.to_string(),
        public_key: key_text.to_string(),
        key,
        usable,
        pty,
    })
}

/// The value of a double-quoted option, with OpenSSH's one escape (`\"`);
/// returns it and the text after the closing quote.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' if text[i + 1..].starts_with('"') => {
                chars.next();
                value.push('"');
            }
            c => value.push(c),
        }
    }
    None
}

/// `NAME="admin" …` or the older unquoted `NAME=admin …`.
fn entry_name(text: &str) -> Option<&str> {
    let name = match text.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"')?],
        None => text.split(char::is_whitespace).next()?,
    };
    (!name.is_empty()).then_some(name)
}

/// Where a comma-separated option list ends: the first blank outside
/// quotes.
fn options_end(options: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in options.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ' ' | '\t' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

/// Whether berth can honour the options (usable) and whether they allow a
/// pty. Options are flags here; a valued one (`from="…"`) is unknown.
fn judge_options(options: &str) -> (bool, bool) {
    let mut usable = true;
    let mut pty = true;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "no-pty" | "restrict" => pty = false,
            "pty" => pty = true,
            o if UNDERSTOOD_OPTIONS.contains(&o) => {}
            _ => usable = false,
        }
    }
    (usable, pty)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti foo@bar.com";

    fn sshcommand_line(name: &str, options: &str) -> String {
        let key = parse_public_key(ED25519).unwrap();
        format!(
            "command=\"FINGERPRINT={} NAME=\\\"{name}\\\" `cat /home/dokku/.sshcommand` $SSH_ORIGINAL_COMMAND\",{options} {ED25519}",
            fingerprint(&key)
        )
    }

    #[test]
    fn reads_sshcommand_entries() {
        let keys = AuthorizedKeys::parse(&sshcommand_line("admin", DEFAULT_ALLOWED_KEYS));
        let entry = keys.entries().next().expect("one entry");
        assert_eq!(entry.name, "admin");
        assert!(entry.fingerprint.starts_with("SHA256:"));
        assert_eq!(entry.fingerprint, entry.sha256());
        assert_eq!(entry.allowed_keys, DEFAULT_ALLOWED_KEYS);
        assert_eq!(entry.public_key, ED25519);
        assert!(entry.admits(&parse_public_key(ED25519).unwrap()));
        assert!(entry.allows_pty());
    }

    #[test]
    fn fingerprint_is_openssh_sha256() {
        // `ssh-keygen -lf` prints this for the key above.
        let key = parse_public_key(ED25519).unwrap();
        assert_eq!(
            fingerprint(&key),
            "SHA256:UCUiLr7Pjs9wFFJMDByLgc3NrtdU344OgUM45wZPcIQ"
        );
    }

    #[test]
    fn keeps_other_lines_and_never_admits_them() {
        let text = format!(
            "# a comment\n{ED25519}\n{}\n{}\n",
            sshcommand_line("admin", DEFAULT_ALLOWED_KEYS),
            sshcommand_line("restricted", "from=\"10.0.0.0/8\",no-pty")
        );
        let keys = AuthorizedKeys::parse(&text);
        assert_eq!(keys.render(), text);
        let names: Vec<_> = keys.entries().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["admin", "restricted"]);
        let key = parse_public_key(ED25519).unwrap();
        assert_eq!(keys.admitting(&key).map(|e| e.name.as_str()), Some("admin"));
        let restricted = keys.entries().nth(1).unwrap();
        assert!(!restricted.admits(&key));
    }

    #[test]
    fn no_pty_is_honoured() {
        let keys = AuthorizedKeys::parse(&sshcommand_line("a", "no-pty,no-port-forwarding"));
        let entry = keys.entries().next().unwrap();
        assert!(entry.admits(&parse_public_key(ED25519).unwrap()));
        assert!(!entry.allows_pty());
    }

    #[test]
    fn add_writes_what_parse_reads() {
        let mut keys = AuthorizedKeys::default();
        let key = parse_public_key(ED25519).unwrap();
        let fp = keys
            .add(
                Path::new("/home/dokku"),
                "admin",
                &key,
                DEFAULT_ALLOWED_KEYS,
            )
            .unwrap();
        assert_eq!(
            keys.render(),
            format!("{}\n", sshcommand_line("admin", DEFAULT_ALLOWED_KEYS))
        );
        assert_eq!(keys.entries().next().unwrap().fingerprint, fp);
        assert_eq!(keys.remove(|e| e.name == "admin"), 1);
        assert_eq!(keys.render(), "");
    }

    #[test]
    fn roles_default_to_user_and_follow_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = parse_public_key(ED25519).unwrap();
        update(dir.path(), |keys| {
            keys.add(dir.path(), "ada", &key, DEFAULT_ALLOWED_KEYS)?;
            assert_eq!(keys.role("ada"), Role::User);
            assert!(!keys.has_admin());
            keys.set_role("ada", Role::Admin)
        })
        .unwrap();
        let keys = AuthorizedKeys::load(dir.path()).unwrap();
        assert_eq!(keys.role("ada"), Role::Admin);
        assert!(keys.has_admin());
        assert_eq!(
            std::fs::read_to_string(AuthorizedKeys::roles_path(dir.path())).unwrap(),
            "ada admin\n"
        );
        update(dir.path(), |keys| Ok(keys.remove(|e| e.name == "ada"))).unwrap();
        let mut keys = AuthorizedKeys::load(dir.path()).unwrap();
        assert_eq!(
            keys.role("ada"),
            Role::User,
            "a removed key's role goes too"
        );
        assert!(keys.set_role("ghost", Role::Admin).is_err());
        assert!(
            parse_roles("x superuser\ny\n").is_empty(),
            "garbage grants nothing"
        );
    }

    #[test]
    fn old_unquoted_names_are_read() {
        let line = sshcommand_line("x", DEFAULT_ALLOWED_KEYS).replace("NAME=\\\"x\\\"", "NAME=old");
        let keys = AuthorizedKeys::parse(&line);
        assert_eq!(keys.entries().next().unwrap().name, "old");
    }

    #[test]
    fn names_and_keys_are_validated() {
        assert!(valid_name("admin@laptop.local_1-2"));
        for bad in ["", "a b", "a\"b", "a\\b", "a\nb", "a`b", "é"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(parse_public_key("ssh-ed25519 AAAA").is_none());
        assert!(parse_public_key("not a key").is_none());
        assert!(parse_public_key(&ED25519.replace("ssh-ed25519", "ssh-rsa")).is_none());
        assert!(valid_allowed_keys("no-pty,no-port-forwarding"));
        assert!(!valid_allowed_keys("from=\"x\""));
        assert!(!valid_allowed_keys(""));
    }
}
