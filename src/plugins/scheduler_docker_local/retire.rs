//! Retiring old containers: after a deploy switched traffic, the previous
//! release's containers keep running for `wait-to-retire` seconds so
//! in-flight requests finish, then stop.
//!
//! The list lives on disk (`data/scheduler-docker-local/dead-containers`,
//! lines `<app> <container id> <deadline epoch>`, as Dokku keeps it), so
//! retiring never depends on the deploying process staying up: `berth
//! server` retires every second, `ps:retire` finishes what is due, and a
//! deploy run without a server leaves a detached `ps:retire --wait`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{IoContext, Result};
use crate::store::atomic::{FILE_MODE, write_atomic};
use crate::store::lock::LockGuard;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn list_path(ctx: &Context) -> std::path::PathBuf {
    ctx.store
        .lib_root()
        .join("data/scheduler-docker-local/dead-containers")
}

/// `checks wait-to-retire`: the app's, else the global one, else 60.
pub fn wait_to_retire(ctx: &Context, app: &AppName) -> Result<u64> {
    Ok(ctx
        .store
        .app_property("checks", app, "wait-to-retire")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(60))
}

/// Queues containers to stop once `wait` seconds passed.
pub fn schedule(ctx: &Context, app: &AppName, ids: &[String], wait: u64) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let path = list_path(ctx);
    let _lock = LockGuard::acquire(&path.with_extension("lock"))?;
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    let deadline = now() + wait;
    for id in ids {
        text.push_str(&format!("{app} {id} {deadline}\n"));
    }
    write_atomic(&path, text.as_bytes(), FILE_MODE)
}

/// The containers of `app` waiting to retire.
pub fn queued(ctx: &Context, app: &AppName) -> Result<Vec<String>> {
    let path = list_path(ctx);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let _lock = LockGuard::acquire(&path.with_extension("lock"))?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to read", &path),
    };
    Ok(text
        .lines()
        .filter_map(Entry::parse)
        .filter(|entry| entry.app == app.as_str())
        .map(|entry| entry.id.to_string())
        .collect())
}

/// A line of the retire queue: `APP CONTAINER-ID DEADLINE` (unix seconds).
#[derive(Debug, PartialEq, Eq)]
struct Entry<'a> {
    app: &'a str,
    id: &'a str,
    deadline: u64,
}

impl Entry<'_> {
    /// `None` for a line that is not an entry (a torn or foreign line).
    fn parse(line: &str) -> Option<Entry<'_>> {
        let mut words = line.split_whitespace();
        let entry = Entry {
            app: words.next()?,
            id: words.next()?,
            deadline: words.next()?.parse().ok()?,
        };
        words.next().is_none().then_some(entry)
    }
}

/// Stops and removes every queued container whose time has come; returns
/// how many are still waiting and the next deadline.
pub fn retire_due(ctx: &Context) -> Result<(usize, Option<u64>)> {
    let path = list_path(ctx);
    if !path.exists() {
        return Ok((0, None));
    }
    let _lock = LockGuard::acquire(&path.with_extension("lock"))?;
    let text = std::fs::read_to_string(&path).at("Unable to read", &path)?;
    let mut keep = String::new();
    let mut waiting = 0;
    let mut next: Option<u64> = None;
    let mut engine = None;
    for line in text.lines() {
        let Some(Entry { app, id, deadline }) = Entry::parse(line) else {
            continue;
        };
        if deadline > now() {
            keep.push_str(line);
            keep.push('\n');
            waiting += 1;
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
            continue;
        }
        if engine.is_none() {
            engine = Some(Engine::connect()?);
        }
        if let Some(engine) = &engine {
            let timeout = match AppName::lookup(app) {
                Ok(app) => super::properties::stop_timeout(ctx, &app)?,
                Err(_) => 30,
            };
            engine.stop_container(id, timeout)?;
            engine.remove_container(id)?;
        }
    }
    write_atomic(&path, keep.as_bytes(), FILE_MODE)?;
    Ok((waiting, next))
}

/// Retires until nothing is queued (for the detached `ps:retire --wait`).
pub fn retire_until_empty(ctx: &Context) -> Result<()> {
    loop {
        let (waiting, next) = retire_due(ctx)?;
        if waiting == 0 {
            return Ok(());
        }
        let pause = next.map_or(1, |n| n.saturating_sub(now()).max(1));
        std::thread::sleep(Duration::from_secs(pause.min(60)));
    }
}

/// Leaves a detached `berth ps:retire --wait` behind, so old containers
/// stop on time even though this process ends now. Not a child: it
/// survives us.
pub fn spawn_detached_retirer() {
    use std::os::unix::process::CommandExt;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(["ps:retire", "--wait"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe; it only detaches the child from
    // our session so a closing terminal or SSH channel does not kill it.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let _ = command.spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_lines_parse_or_are_skipped() {
        assert_eq!(
            Entry::parse("demo 0123abc 1700000000"),
            Some(Entry {
                app: "demo",
                id: "0123abc",
                deadline: 1_700_000_000
            })
        );
        for torn in [
            "",
            "demo",
            "demo 0123abc",
            "demo 0123abc soon",
            "a b 1 extra",
        ] {
            assert_eq!(Entry::parse(torn), None, "{torn:?}");
        }
    }
}
