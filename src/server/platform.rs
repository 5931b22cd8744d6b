//! What `berth server` runs beside SSH: nginx (started, restarted if it
//! dies, stopped gracefully on shutdown), the retire loop that stops old
//! containers when their time has come (and one-off containers past their
//! TTL), the app.json cron scheduler, the engine watcher
//! ([`super::events`]), and the restore of every app that should run
//! (after a reboot, a crash or a new platform container).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::context::{Context, GlobalFlags};
use crate::error::Result;
use crate::nginx::Nginx;
use crate::store::Store;

pub struct Platform {
    stopping: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    nginx: Nginx,
    restore: Restore,
}

/// The `ps:restore --all` child: at most one runs; a new one (the engine
/// came back) replaces a running one, a finished one is reaped, and a stop
/// of the platform stops it too rather than leaving it deploying.
#[derive(Clone, Default)]
pub struct Restore {
    child: Arc<std::sync::Mutex<Option<std::process::Child>>>,
}

impl Restore {
    /// Starts a restore of every app, in a child process: SSH answers at
    /// once, and one app that cannot start does not hold up the others.
    pub fn start(&self) {
        let mut slot = self.lock();
        if let Some(mut old) = slot.take() {
            let _ = old.kill();
            let _ = old.wait();
        }
        if let Ok(exe) = std::env::current_exe() {
            *slot = std::process::Command::new(exe)
                .args(["--quiet", "ps:restore", "--all"])
                .stdin(std::process::Stdio::null())
                .spawn()
                .ok();
        }
    }

    /// Reaps a finished restore (no zombie stays behind).
    fn reap(&self) {
        let mut slot = self.lock();
        if let Some(child) = slot.as_mut()
            && !matches!(child.try_wait(), Ok(None))
        {
            *slot = None;
        }
    }

    /// Stops a running restore: what it left half done, the next start's
    /// restore finishes (a deploy is crash-safe).
    fn stop(&self) {
        if let Some(mut child) = self.lock().take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while std::time::Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<std::process::Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Platform {
    /// Prepares nginx's config, starts nginx and the background duties.
    pub fn start(ctx: &Context) -> Result<Platform> {
        ctx.fire("proxy-start", &[])?;
        let nginx = Nginx::new(&ctx.store);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();

        let store = ctx.store.clone();
        let stop = stopping.clone();
        threads.push(std::thread::spawn(move || supervise_nginx(&store, &stop)));

        let restore = Restore::default();
        let store = ctx.store.clone();
        let stop = stopping.clone();
        let reaped = restore.clone();
        threads.push(std::thread::spawn(move || {
            let ctx = Context::new(store, GlobalFlags::default());
            let mut seconds: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                reaped.reap();
                if let Err(e) = ctx.fire("scheduler-retire", &[]) {
                    eprintln!("{}", crate::output::warning(&format!("retire: {e}")));
                }
                // One-off containers past their TTL (Dokku's 5-minute
                // `ps:retire` cron job, here every RUN_RETIRE_EVERY seconds).
                if seconds.is_multiple_of(RUN_RETIRE_EVERY)
                    && let Err(e) = ctx.fire("scheduler-run-retire", &[])
                {
                    eprintln!("{}", crate::output::warning(&format!("run retire: {e}")));
                }
                seconds += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        }));

        // The app.json cron tasks, fired by the platform itself: no host
        // crontab, no shell.
        let store = ctx.store.clone();
        let stop = stopping.clone();
        threads.push(std::thread::spawn(move || {
            let ctx = Context::new(store, GlobalFlags::default());
            let mut cron = crate::plugins::cron::Scheduler::start(&ctx, unix_now());
            while !stop.load(Ordering::Relaxed) {
                cron.tick(&ctx, unix_now());
                std::thread::sleep(Duration::from_millis(500));
            }
        }));

        let store = ctx.store.clone();
        let stop = stopping.clone();
        threads.push(std::thread::spawn(move || {
            renew_certificates(&store, &stop)
        }));

        threads.extend(super::events::spawn(
            ctx.store.clone(),
            stopping.clone(),
            restore.clone(),
        ));
        restore.start();
        Ok(Platform {
            stopping,
            threads,
            nginx,
            restore,
        })
    }

    /// Stops nginx gracefully and the background duties. App containers keep
    /// running: they are not children of the platform.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.restore.stop();
        self.nginx.quit();
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

/// How often (in seconds) `berth server` removes one-off containers past
/// their TTL.
const RUN_RETIRE_EVERY: u64 = 10;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Asks our own nginx child to finish its requests and exit (its pid
/// needs no pid file: it is our child), and kills it if it lingers.
fn quit_child(child: &mut std::process::Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Keeps nginx running. An nginx master of this config that is already
/// running (a server killed without its children, in host mode) is adopted
/// rather than fought: apps stay served through a restart of berth.
fn supervise_nginx(store: &Store, stopping: &AtomicBool) {
    let nginx = Nginx::new(store);
    while !stopping.load(Ordering::Relaxed) {
        // nginx:stop: left stopped until nginx:start.
        if nginx.is_stopped_by_admin() {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        if let Some(master) = nginx.master() {
            while !stopping.load(Ordering::Relaxed)
                && nix::sys::signal::kill(master, None).is_ok()
                && nginx.master() == Some(master)
            {
                std::thread::sleep(Duration::from_millis(200));
            }
            continue;
        }
        match nginx.spawn() {
            Ok(mut child) => {
                // Poll, so a stop request is seen while nginx runs.
                loop {
                    if stopping.load(Ordering::Relaxed) {
                        quit_child(&mut child);
                        return;
                    }
                    match child.try_wait() {
                        Ok(Some(_)) if nginx.is_stopped_by_admin() => break,
                        Ok(Some(status)) => {
                            eprintln!(
                                "{}",
                                crate::output::warning(&format!(
                                    "nginx exited ({status}); restarting"
                                ))
                            );
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(200)),
                        Err(_) => break,
                    }
                }
            }
            Err(e) => eprintln!("{}", crate::output::warning(&e.to_string())),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// How often `berth server` runs `letsencrypt:auto-renew`
/// (`BERTH_ACME_RENEW_INTERVAL` seconds, default an hour); the first run
/// comes a minute after the start, or one interval when that is shorter.
fn renew_interval() -> Duration {
    std::env::var("BERTH_ACME_RENEW_INTERVAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(3600))
}

/// Renews certificates by itself, so no cron job can get lost: runs
/// `letsencrypt:auto-renew` (a child, so a slow ACME server never holds a
/// thread of the server) and records each run for `letsencrypt:cron-job`.
fn renew_certificates(store: &Store, stopping: &AtomicBool) {
    let interval = renew_interval();
    let mut next = std::time::Instant::now() + interval.min(Duration::from_secs(60));
    while !stopping.load(Ordering::Relaxed) {
        if std::time::Instant::now() < next {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        next = std::time::Instant::now() + interval;
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let ok = std::process::Command::new(exe)
            .args(["--quiet", "letsencrypt:auto-renew"])
            .stdin(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let ctx = Context::new(store.clone(), GlobalFlags::default());
        let schedule = crate::plugins::letsencrypt::Schedule {
            last_run: crate::tls::now(),
            ok,
            interval: interval.as_secs(),
        };
        if let Err(e) = crate::plugins::letsencrypt::record_schedule(&ctx, &schedule) {
            eprintln!("{}", crate::output::warning(&format!("renewal: {e}")));
        }
    }
}
