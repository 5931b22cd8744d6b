//! Watching the engine while `berth server` runs, so that what the engine
//! does to app containers behind berth's back never leaves an app
//! unrouted (Dokku users meet 502s here until they restart by hand):
//!
//! - a deployed container that starts again (its restart policy after a
//!   crash, an OOM kill, a daemon restart) may have a new address: its app
//!   is routed again at once (`scheduler-pre-restore` re-reads the
//!   addresses, `proxy-build-config` rebuilds only when they changed);
//! - a deployed container that died and that the engine will not start
//!   again although its policy says so (the engine counts `docker kill` as
//!   a manual stop) is started by berth; one stopped on purpose (a `stop`
//!   event follows its `die`: `docker stop`, `ps:stop`, a retire) is left
//!   alone;
//! - when the engine goes away (dockerd restarted), berth reconnects and
//!   restores every app (`ps:restore --all`), since containers the daemon
//!   stopped cleanly are not brought back by an `on-failure` policy.
//!
//! Two threads: one follows the engine's event stream, one acts on what it
//! saw (acting needs engine calls and triggers of its own, which cannot
//! run inside the stream's runtime).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::app_name::AppName;
use crate::context::{Context, GlobalFlags};
use crate::dynos;
use crate::engine::{ContainerEvent, Engine};
use crate::output::warning;
use crate::server::platform::Restore;
use crate::store::Store;

/// How long after a `die` berth waits for the `stop` that marks a stop on
/// purpose, and for the engine to restart the container itself.
const DIE_GRACE: Duration = Duration::from_secs(1);
/// Pause before reconnecting to an engine that went away.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// What the stream thread tells the acting thread.
enum Seen {
    Event(ContainerEvent),
    /// The stream is back after the engine went away.
    Reconnected,
}

/// Starts both threads; they end once `stopping` is set.
pub fn spawn(store: Store, stopping: Arc<AtomicBool>, restore: Restore) -> Vec<JoinHandle<()>> {
    let (tx, rx) = mpsc::channel();
    let stop = stopping.clone();
    let follow = std::thread::spawn(move || follow_events(&tx, &stop));
    let act = std::thread::spawn(move || act_on_events(store, &rx, &stopping, &restore));
    vec![follow, act]
}

fn follow_events(tx: &Sender<Seen>, stopping: &AtomicBool) {
    let mut lost = false;
    while !stopping.load(Ordering::Relaxed) {
        let engine = match Engine::connect() {
            Ok(engine) => engine,
            Err(_) => {
                lost = true;
                std::thread::sleep(RECONNECT_PAUSE);
                continue;
            }
        };
        if lost {
            lost = false;
            eprintln!("-----> Reconnected to the Docker engine; restoring apps");
            if tx.send(Seen::Reconnected).is_err() {
                return;
            }
        }
        let watched =
            engine.watch_events(&[("com.dokku.container-type", "deploy")], &mut |event| {
                if stopping.load(Ordering::Relaxed) {
                    return false;
                }
                match event {
                    Some(event) => tx.send(Seen::Event(event)).is_ok(),
                    None => true,
                }
            });
        if let Err(e) = watched {
            if !stopping.load(Ordering::Relaxed) {
                eprintln!("{}", warning(&format!("{e}; reconnecting")));
            }
            lost = true;
            std::thread::sleep(RECONNECT_PAUSE);
        }
    }
}

/// A container that died: when, and whether a `stop` followed.
struct Died {
    app: String,
    at: Instant,
}

fn act_on_events(store: Store, rx: &Receiver<Seen>, stopping: &AtomicBool, restore: &Restore) {
    let ctx = Context::new(store, GlobalFlags::default());
    let mut died: HashMap<String, Died> = HashMap::new();
    while !stopping.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Seen::Reconnected) => restore.start(),
            Ok(Seen::Event(event)) => {
                let app = event
                    .attributes
                    .get("com.dokku.app-name")
                    .cloned()
                    .unwrap_or_default();
                match event.action.as_str() {
                    "start" => {
                        died.remove(&event.id);
                        if let Some(app) = deployed_dyno_of(&ctx, &app, &event.id) {
                            reroute(&ctx, &app);
                        }
                    }
                    "die" => {
                        died.insert(
                            event.id,
                            Died {
                                app,
                                at: Instant::now(),
                            },
                        );
                    }
                    "stop" | "destroy" => {
                        died.remove(&event.id);
                    }
                    _ => {}
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let due: Vec<String> = died
            .iter()
            .filter(|(_, d)| d.at.elapsed() >= DIE_GRACE)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            if let Some(dead) = died.remove(&id) {
                revive(&ctx, &dead.app, &id);
            }
        }
    }
}

/// `app` when `id` is one of its recorded dynos (not a new container of a
/// deploy in progress, not one retiring).
fn deployed_dyno_of(ctx: &Context, app: &str, id: &str) -> Option<AppName> {
    let app = AppName::lookup(app).ok()?;
    let dynos = dynos::dynos(&ctx.store, &app).ok()?;
    dynos
        .iter()
        .any(|dyno| dynos::container_id(&ctx.store, &app, dyno).as_deref() == Some(id))
        .then_some(app)
}

fn reroute(ctx: &Context, app: &AppName) {
    let routed = ctx
        .fire("scheduler-pre-restore", &[app.as_str()])
        .and_then(|_| ctx.fire("proxy-build-config", &[app.as_str()]));
    if let Err(e) = routed {
        eprintln!(
            "{}",
            warning(&format!(
                "Unable to route {app} after its container restarted: {e}"
            ))
        );
    }
}

/// Starts a dyno the engine left dead although its restart policy says it
/// should run.
fn revive(ctx: &Context, app: &str, id: &str) {
    let Some(app) = deployed_dyno_of(ctx, app, id) else {
        return;
    };
    let Ok(engine) = Engine::connect() else {
        return;
    };
    let Ok(Some(info)) = engine.inspect_container(id) else {
        return;
    };
    let state = info.state.clone().unwrap_or_default();
    if state.running == Some(true) || state.restarting == Some(true) {
        return;
    }
    let policy = info
        .host_config
        .as_ref()
        .and_then(|h| h.restart_policy.clone())
        .unwrap_or_default();
    let name = policy.name.map(|n| n.to_string()).unwrap_or_default();
    let restarts = info.restart_count.unwrap_or(0);
    if !policy_restarts(
        &name,
        policy.maximum_retry_count.unwrap_or(0),
        state.exit_code.unwrap_or(0),
        restarts,
    ) {
        return;
    }
    eprintln!(
        "-----> A container of {app} died (exit status {}) and was not restarted by the engine; starting it by its restart policy ({name})",
        state.exit_code.unwrap_or(0)
    );
    if let Err(e) = engine.start_container(id) {
        eprintln!("{}", warning(&format!("Unable to restart it: {e}")));
    }
}

/// Docker's restart policies: `no` never, `always` and `unless-stopped`
/// always, `on-failure[:max]` after a non-zero exit while fewer than `max`
/// restarts happened (0: no maximum).
fn policy_restarts(name: &str, max: i64, exit_code: i64, restarts: i64) -> bool {
    match name {
        "always" | "unless-stopped" => true,
        "on-failure" => exit_code != 0 && (max <= 0 || restarts < max),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_as_docker_applies_them() {
        assert!(policy_restarts("always", 0, 0, 5));
        assert!(policy_restarts("unless-stopped", 0, 137, 0));
        assert!(policy_restarts("on-failure", 10, 137, 0));
        assert!(!policy_restarts("on-failure", 10, 0, 0));
        assert!(!policy_restarts("on-failure", 10, 1, 10));
        assert!(policy_restarts("on-failure", 0, 1, 99));
        assert!(!policy_restarts("no", 0, 1, 0));
        assert!(!policy_restarts("", 0, 1, 0));
    }
}
