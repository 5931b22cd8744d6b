//! The scheduler `berth server` runs: once a minute (a minute boundary
//! passed), every task of every app whose schedule had a time since the
//! last look, and that is not in maintenance, is started as `berth cron:run
//! APP ID --detach` — a child process per run, so a slow engine or plugin
//! never holds up the next task, and the run takes exactly the path an
//! on-demand one takes (its `concurrency_policy` included).
//!
//! Missed runs: the time of the last look is kept on the volume
//! (`data/cron/--global/last-tick`). When the platform starts again, each
//! task whose schedule had one or more times while it was down (within the
//! last 24 hours, the longest a run may last) runs **once**, now, as the
//! policy allows; older missed times are dropped.

use std::process::{Child, Command, Stdio};

use chrono::{DateTime, Utc};

use crate::context::Context;
use crate::error::Result;
use crate::store::Scope;
use crate::store::atomic::{FILE_MODE, write_atomic};

/// How far back missed runs are caught up.
const CATCH_UP: i64 = 86_400;

pub struct Scheduler {
    /// Unix seconds of the last look: times after it are due.
    last: i64,
    children: Vec<Child>,
    /// The berth binary, found once at the start: a binary replaced while
    /// the server runs (an upgrade) leaves `/proc/self/exe` dangling, and
    /// the new one at this path is the one to run.
    exe: Option<std::path::PathBuf>,
}

fn last_tick_path(ctx: &Context) -> std::path::PathBuf {
    ctx.store.data_dir("cron", &Scope::Global).join("last-tick")
}

impl Scheduler {
    /// Starts from the last look recorded (catching up what was missed),
    /// or from now.
    pub fn start(ctx: &Context, now: i64) -> Scheduler {
        let recorded = std::fs::read_to_string(last_tick_path(ctx))
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok());
        let last = match recorded {
            Some(last) if last <= now => last.max(now - CATCH_UP),
            _ => now,
        };
        Scheduler {
            last,
            children: Vec::new(),
            exe: std::env::current_exe().ok(),
        }
    }

    /// Fires what is due at `now` (unix seconds). Cheap when no minute
    /// boundary passed: schedules have minute granularity.
    pub fn tick(&mut self, ctx: &Context, now: i64) {
        self.children
            .retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        if now <= self.last || (now.div_euclid(60) == self.last.div_euclid(60)) {
            return;
        }
        match self.due(ctx, now) {
            Ok(due) => {
                for (app, id) in due {
                    self.fire(&app, &id);
                }
            }
            Err(e) => eprintln!("{}", crate::output::warning(&format!("cron: {e}"))),
        }
        self.last = now;
        if let Err(e) = write_atomic(&last_tick_path(ctx), now.to_string().as_bytes(), FILE_MODE) {
            eprintln!("{}", crate::output::warning(&format!("cron: {e}")));
        }
    }

    /// `(app, task id)` of every task with a time in `(last, now]`.
    fn due(&self, ctx: &Context, now: i64) -> Result<Vec<(String, String)>> {
        let mut due = Vec::new();
        for app in ctx.store.apps()? {
            // One app's broken app.json does not stop the others' tasks.
            let tasks = match super::tasks(ctx, &app, None) {
                Ok(tasks) => tasks,
                Err(e) => {
                    eprintln!("{}", crate::output::warning(&format!("cron: {app}: {e}")));
                    continue;
                }
            };
            for task in tasks {
                if super::maintenance(ctx, &app, &task)?.is_some() {
                    continue;
                }
                if due_between(&task.cron, self.last, now) {
                    due.push((app.to_string(), task.id));
                }
            }
        }
        Ok(due)
    }

    fn fire(&mut self, app: &str, id: &str) {
        let Some(exe) = &self.exe else {
            return;
        };
        match Command::new(exe)
            .args(["--quiet", "cron:run", app, id, "--detach"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            Ok(child) => self.children.push(child),
            Err(e) => eprintln!(
                "{}",
                crate::output::warning(&format!("cron: cannot start {app} {id}: {e}"))
            ),
        }
    }
}

/// Whether `cron` has a time in `(after, until]` (unix seconds, UTC).
fn due_between(cron: &croner::Cron, after: i64, until: i64) -> bool {
    let (Some(after), Some(until)) = (
        DateTime::<Utc>::from_timestamp(after, 0),
        DateTime::<Utc>::from_timestamp(until, 0),
    ) else {
        return false;
    };
    cron.find_next_occurrence(&after, false)
        .is_ok_and(|next| next <= until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn a_task_is_due_when_its_time_falls_after_the_last_look() {
        let every_minute = super::super::task::parse_schedule("* * * * *").unwrap();
        let daily = super::super::task::parse_schedule("@daily").unwrap();
        let due = |cron, a, b| due_between(cron, at(a), at(b));
        assert!(due(
            &every_minute,
            "2026-01-01T10:00:30Z",
            "2026-01-01T10:01:00Z"
        ));
        assert!(!due(
            &every_minute,
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:00:59Z"
        ));
        // Missed for hours: due (once: the caller fires one run).
        assert!(due(
            &every_minute,
            "2026-01-01T07:00:00Z",
            "2026-01-01T10:00:10Z"
        ));
        assert!(due(&daily, "2026-01-01T23:59:00Z", "2026-01-02T00:00:05Z"));
        assert!(!due(&daily, "2026-01-02T00:00:00Z", "2026-01-02T23:59:59Z"));
    }
}
