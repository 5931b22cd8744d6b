//! The record this process writes now: opened by the outermost deploy,
//! finalized when it ends, and the cancel request it answers.
//!
//! One record at most per process at a time: a deploy inside a build (the
//! scheduler's, fired by the builder) gets an inner [`Recording`] that
//! does nothing. `builds:cancel` sends SIGQUIT; the handler only sets a
//! flag, which the deploy reads at its [`checkpoint`]s.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::capture::Capture;
use super::{Kind, Record, Status};
use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::warning;
use crate::store::Store;
use crate::store::atomic::{FILE_MODE, open_append, remove_file};

/// What the lead's code (releases) and plugins may know of the record
/// this process writes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub id: String,
    pub app: AppName,
    pub kind: Kind,
    /// The command that started it, as Dokku names it (`git-hook`,
    /// `ps:restart`, `config-redeploy`…).
    pub source: String,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);
/// The command this process runs, as a record's source.
static SOURCE: Mutex<Option<String>> = Mutex::new(None);
/// Set by SIGQUIT (`builds:cancel`); cleared when a record opens.
static CANCEL_REQUESTED: AtomicBool = AtomicBool::new(false);
/// Whether a record is open, for the signal-free readers.
static RECORDING: AtomicBool = AtomicBool::new(false);

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The record this process writes now; `None` outside a build or deploy.
pub fn current() -> Option<Current> {
    locked(&CURRENT).clone()
}

/// Names the command this process runs, for the records it opens (called
/// where the command is dispatched). Ignored while a record is open.
pub fn set_source(command: &str) {
    if RECORDING.load(Ordering::SeqCst) {
        return;
    }
    *locked(&SOURCE) = Some(source_of(command));
}

/// Dokku's name for a deploy's origin: the command, but a config change
/// redeploys as `config-redeploy`.
pub fn source_of(command: &str) -> String {
    if command.starts_with("config:") {
        "config-redeploy".into()
    } else {
        command.to_string()
    }
}

/// Whether `builds:cancel` asked the open record's deploy to stop.
pub fn canceled() -> bool {
    RECORDING.load(Ordering::SeqCst) && CANCEL_REQUESTED.load(Ordering::SeqCst)
}

/// Where a deploy may stop: fails with the cancel message once
/// `builds:cancel` asked. Deploys call it before each step that starts
/// something (the build's output, a new container, a check's attempt, the
/// switch); after the switch the deploy completes.
pub fn checkpoint() -> Result<()> {
    if !canceled() {
        return Ok(());
    }
    let what = match current() {
        Some(c) => format!(
            "{} {} of {}",
            match c.kind {
                Kind::Build => "Build",
                Kind::Deploy => "Deploy",
            },
            c.id,
            c.app
        ),
        None => "Deploy".into(),
    };
    Err(Error::fail(format!("{what} canceled by builds:cancel")))
}

/// Sleeps for `duration`, stopping early (with the cancel error) when the
/// deploy is canceled.
pub fn pause(duration: Duration) -> Result<()> {
    let until = Instant::now() + duration;
    loop {
        checkpoint()?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

extern "C" fn on_sigquit(_: nix::libc::c_int) {
    CANCEL_REQUESTED.store(true, Ordering::SeqCst);
}

/// SIGQUIT sets the cancel flag, for the rest of the process's life (a
/// late `builds:cancel` must never kill a process that just finished).
fn install_cancel_handler() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        let action = SigAction::new(
            SigHandler::Handler(on_sigquit),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        let _ = unsafe { sigaction(Signal::SIGQUIT, &action) };
    });
}

/// Opens `app`'s record of kind `kind` and starts capturing the output,
/// unless this process has one open already (then the returned guard does
/// nothing): the outermost deploy owns the record.
pub fn start(ctx: &Context, app: &AppName, kind: Kind) -> Result<Recording> {
    let mut current = locked(&CURRENT);
    if current.is_some() {
        return Ok(Recording { active: None });
    }
    // Before the record shows: a cancel from then on is heard.
    install_cancel_handler();
    CANCEL_REQUESTED.store(false, Ordering::SeqCst);
    let pid = std::process::id();
    let source = locked(&SOURCE).clone().unwrap_or_else(|| "unknown".into());
    let record = Record {
        id: super::new_id(),
        app: app.to_string(),
        kind,
        pid,
        started_at: super::now_rfc3339(),
        finished_at: None,
        status: Status::Running,
        source: source.clone(),
        exit_code: None,
        pid_start_ticks: super::process_start(pid),
        boot_id: super::boot_id(),
    };
    let log_path = super::log_path(&ctx.store, app, &record.id);
    // A record that cannot be written (a full disk) must not stop the
    // deploy: it runs unrecorded, and says so.
    let unrecorded = |e: crate::error::Error| {
        let _ = ctx
            .out
            .warn(format!("This deploy is not recorded in builds:list: {e}"));
        Ok(Recording { active: None })
    };
    let log = match open_append(&log_path, FILE_MODE) {
        Ok(log) => log,
        Err(e) => return unrecorded(e),
    };
    if let Err(e) = super::write(&ctx.store, app, &record) {
        let _ = remove_file(&log_path);
        return unrecorded(e);
    }
    let log = Arc::new(Mutex::new(log));
    let capture = match Capture::start(log.clone()) {
        Ok(capture) => Some(capture),
        Err(e) => {
            let _ = ctx
                .out
                .warn(format!("The output of this deploy is not recorded: {e}"));
            None
        }
    };
    RECORDING.store(true, Ordering::SeqCst);
    *current = Some(Current {
        id: record.id.clone(),
        app: app.clone(),
        kind,
        source,
    });
    Ok(Recording {
        active: Some(Active {
            store: ctx.store.clone(),
            app: app.clone(),
            record,
            log,
            capture,
        }),
    })
}

/// The guard of an open record: [`Recording::finish`] finalizes it with
/// the deploy's result; dropped unfinished (a panic), it ends `failed`.
#[must_use = "a record is finalized by finish(result)"]
pub struct Recording {
    /// `None` for an inner deploy's guard.
    active: Option<Active>,
}

struct Active {
    store: Store,
    app: AppName,
    record: Record,
    log: Arc<Mutex<File>>,
    capture: Option<Capture>,
}

impl Recording {
    /// The record's id; `None` for an inner deploy's guard.
    pub fn id(&self) -> Option<&str> {
        self.active.as_ref().map(|a| a.record.id.as_str())
    }

    /// Finalizes the record: `succeeded`, `canceled` (the deploy stopped
    /// for `builds:cancel`) or `failed`, with the exit code the command
    /// will have; the error line goes into the log as the user sees it.
    /// Then the app's retention applies.
    pub fn finish<T>(mut self, result: &Result<T>) {
        let Some(active) = self.active.take() else {
            return;
        };
        let ending = match result {
            Ok(_) => Ending {
                status: Status::Succeeded,
                exit_code: Some(0),
                line: None,
            },
            Err(e) => Ending {
                status: if canceled() {
                    Status::Canceled
                } else {
                    Status::Failed
                },
                exit_code: Some(e.exit_code()),
                line: e.is_reported().then(|| warning(&e.to_string())),
            },
        };
        active.finalize(ending);
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        if let Some(active) = self.active.take() {
            active.finalize(Ending {
                status: Status::Failed,
                exit_code: None,
                line: None,
            });
        }
    }
}

struct Ending {
    status: Status,
    exit_code: Option<i32>,
    /// The error line the command prints as it exits.
    line: Option<String>,
}

impl Active {
    fn finalize(mut self, ending: Ending) {
        // Everything printed reaches the terminal and the log before the
        // record says it ended, so a follower of the log misses nothing.
        if let Some(capture) = self.capture.take() {
            capture.stop();
        }
        {
            let mut log = locked(&self.log);
            if let Some(line) = &ending.line {
                let _ = writeln!(log, "{line}");
            }
            let _ = log.sync_data();
        }
        self.record.status = ending.status;
        self.record.exit_code = ending.exit_code;
        self.record.finished_at = Some(super::now_rfc3339());
        let written = super::write(&self.store, &self.app, &self.record);
        *locked(&CURRENT) = None;
        RECORDING.store(false, Ordering::SeqCst);
        if let Err(e) = written {
            eprintln!(
                "{}",
                warning(&format!("Unable to finalize build {}: {e}", self.record.id))
            );
        }
        if let Err(e) = super::prune(&self.store, &self.app) {
            eprintln!(
                "{}",
                warning(&format!(
                    "Unable to apply the build retention of {}: {e}",
                    self.app
                ))
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_dokkus_names() {
        assert_eq!(source_of("git-hook"), "git-hook");
        assert_eq!(source_of("ps:restart"), "ps:restart");
        assert_eq!(source_of("config:set"), "config-redeploy");
        assert_eq!(source_of("config:unset"), "config-redeploy");
    }
}
