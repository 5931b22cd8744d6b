//! The audit log: every command that changes state, who ran it (key name
//! and fingerprint, or the command line), from where, and how it ended —
//! refusals too. It is what `events` shows.
//!
//! `$DOKKU_LIB_ROOT/data/events/audit.log`, one line per command:
//!
//! ```text
//! 2026-12-02T07:10:00Z key=ada fingerprint=SHA256:… from=192.0.2.7 outcome=ok command="config:set demo DATABASE_URL=…"
//! ```
//!
//! Each line is one `write` with `O_APPEND`, so concurrent commands never
//! interleave; past [`MAX_BYTES`] the file is rotated (`audit.log.1`, one
//! generation kept) under a lock, so the log stays bounded. Secrets never
//! reach it ([`redact`]): config values, passwords, credentials in URLs,
//! the words of `run` and `enter`, and the arguments of plugin commands
//! berth does not know. `events:off` stops recording, `events:on` resumes
//! (on by default).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::caller::Caller;
use crate::error::Result;
use crate::store::lock::LockGuard;
use crate::store::{Scope, Store};

/// Size past which the log is rotated.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused before it ran (role, access list, `user-auth`).
    Denied,
    Failed(i32),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Denied => f.write_str("denied"),
            Outcome::Failed(code) => write!(f, "failed({code})"),
        }
    }
}

pub fn path(store: &Store) -> PathBuf {
    store.lib_root().join("data/events/audit.log")
}

/// Whether `events:off` stopped the log.
pub fn is_on(store: &Store) -> bool {
    !matches!(
        store
            .property("events", &Scope::Global, "enabled")
            .ok()
            .flatten()
            .as_deref(),
        Some("false")
    )
}

/// Records one command, when it changes state. A log that cannot be
/// written warns and never fails the command.
pub fn record(store: &Store, caller: &Caller, command: &str, args: &[String], outcome: Outcome) {
    // Turning the log off is the last thing it records.
    if !changes_state(command) || (!is_on(store) && command != "events:off") {
        return;
    }
    let line = format!(
        "{} {} outcome={outcome} command={}\n",
        now(),
        who(caller),
        quote(&redact(command, args).join(" "))
    );
    if let Err(e) = append(store, &line) {
        eprintln!(
            "{}",
            crate::output::warning(&format!("Unable to write the audit log: {e}"))
        );
    }
}

fn who(caller: &Caller) -> String {
    match caller {
        Caller::Local { root } => format!("local={}", if *root { "root" } else { "user" }),
        Caller::Key {
            name,
            fingerprint,
            source,
            ..
        } => format!(
            "key={name} fingerprint={fingerprint} from={}",
            source.as_deref().unwrap_or("-")
        ),
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn quote(text: &str) -> String {
    format!("{:?}", text)
}

fn append(store: &Store, line: &str) -> Result<()> {
    let path = path(store);
    if let Some(dir) = path.parent() {
        crate::store::atomic::ensure_dir(dir)?;
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
        let _lock = LockGuard::acquire(&path.with_extension("lock"))?;
        // Another command may have rotated it while this one waited.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
            crate::store::atomic::rename_atomic(&path, &path.with_extension("log.1"))?;
        }
    }
    let io = |e: std::io::Error| crate::error::Error::fail(format!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    crate::store::atomic::give_to_state_user(&path)?;
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}

/// Read-only commands are not recorded: reports, lists, shows, logs.
pub fn changes_state(command: &str) -> bool {
    const READ_ONLY: &[&str] = &[
        "help",
        "version",
        "url",
        "urls",
        "logs",
        "events",
        "git-upload-pack",
        "git-upload-archive",
        "healthcheck",
        "server",
    ];
    const READ_ONLY_SUFFIXES: &[&str] = &[
        ":report",
        ":list",
        ":show",
        ":get",
        ":exists",
        ":help",
        ":info",
        ":installed",
        ":locked",
        ":allowed",
        ":access-logs",
        ":error-logs",
        ":show-config",
        ":validate-config",
        ":output",
        ":inspect",
        ":export",
        ":keys",
    ];
    if READ_ONLY.contains(&command) || READ_ONLY_SUFFIXES.iter().any(|s| command.ends_with(s)) {
        return false;
    }
    // A bare plugin name runs its list or report (`dokku apps`).
    !(crate::commands::find(command).is_none() && crate::plugins::find_plugin(command).is_some())
}

/// The command line as the log may hold it.
pub fn redact(command: &str, args: &[String]) -> Vec<String> {
    const HIDDEN: &str = "…";
    let mut words = vec![command.to_string()];
    let known = crate::commands::find(command).is_some() || !command.contains(':');
    match command {
        // The app, then the user's command line: it may hold anything.
        "run" | "run:detached" | "enter" => {
            words.extend(args.iter().take(1).cloned());
            if args.len() > 1 {
                words.push(format!("{HIDDEN}({} words)", args.len() - 1));
            }
        }
        "config:set" => words.extend(args.iter().map(|a| match a.split_once('=') {
            Some((key, _)) if !a.starts_with('-') => format!("{key}={HIDDEN}"),
            _ => a.clone(),
        })),
        // Passwords follow the app and the user name.
        c if c.starts_with("http-auth:") => words.extend(args.iter().enumerate().map(|(i, a)| {
            if i >= 2 {
                HIDDEN.to_string()
            } else {
                a.clone()
            }
        })),
        _ if known => words.extend(args.iter().map(|a| hide_url_credentials(a))),
        // A plugin berth does not know: its first word (the app) only.
        _ => {
            words.extend(args.iter().take(1).map(|a| hide_url_credentials(a)));
            if args.len() > 1 {
                words.push(format!("{HIDDEN}({} words)", args.len() - 1));
            }
        }
    }
    words
}

/// `https://user:token@host/…` → `https://…@host/…`.
fn hide_url_credentials(word: &str) -> String {
    if let Some((scheme, rest)) = word.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && !userinfo.contains('/')
    {
        return format!("{scheme}://…@{host}");
    }
    word.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn secrets_never_reach_the_log() {
        assert_eq!(
            redact(
                "config:set",
                &words(&["--no-restart", "demo", "DB=postgres://u:p@h", "A=1"])
            ),
            words(&["config:set", "--no-restart", "demo", "DB=…", "A=…"])
        );
        assert_eq!(
            redact("http-auth:enable", &words(&["demo", "ada", "s3cret"])),
            words(&["http-auth:enable", "demo", "ada", "…"])
        );
        assert_eq!(
            redact("run", &words(&["demo", "env", "TOKEN=x"])),
            words(&["run", "demo", "…(2 words)"])
        );
        assert_eq!(
            redact(
                "git:sync",
                &words(&["demo", "https://bot:tok@example.com/r.git"])
            ),
            words(&["git:sync", "demo", "https://…@example.com/r.git"])
        );
        assert_eq!(
            redact("vault:put", &words(&["demo", "secret-value"])),
            words(&["vault:put", "demo", "…(1 words)"])
        );
    }

    #[test]
    fn reads_are_not_recorded() {
        for command in [
            "apps:list",
            "config:get",
            "ps:report",
            "help",
            "nginx:show-config",
            "apps",
        ] {
            assert!(!changes_state(command), "{command}");
        }
        for command in [
            "config:set",
            "apps:destroy",
            "run",
            "git-receive-pack",
            "plugin:install",
        ] {
            assert!(changes_state(command), "{command}");
        }
    }
}
