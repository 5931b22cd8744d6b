//! Dokku's `scheduler-docker-local`: an app's release as containers on the
//! local Docker engine.
//!
//! A deploy starts each new container beside the old one, checks it, and
//! only then retires the old one, so a failed deploy leaves the running
//! release untouched. Containers are named and labelled as Dokku names
//! them (`<app>.<type>.<n>`, `com.dokku.*`) and sit on berth's network.
//!
//! Triggers answered: `release-and-deploy`, `deploy`, `app-restart`,
//! `scheduler-stop`, `pre-delete`, `post-app-rename-setup`, `post-app-rename`.

mod health;
mod retire;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::app_name::AppName;
use crate::app_network;
use crate::container_spec::{ContainerSpec, Role};
use crate::context::Context;
use crate::dynos::{self as state, Dyno};
use crate::engine::models::{RestartPolicy, RestartPolicyNameEnum};
use crate::engine::{Engine, StdStream};
use crate::error::{Error, Result};
use crate::plugins::Plugin;
use crate::procfile::Procfile;
use crate::release_files;
use crate::store::Scope;
use crate::store::lock::{DeployLock, DeployLockStatus};

const DEFAULT_WEB_PORT: u16 = 5000;
/// How long a new web container may take to listen on its port.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new non-web container must stay up to count as started.
const UPTIME_CHECK: Duration = Duration::from_millis(1500);

pub static PLUGIN: Plugin = Plugin {
    name: "scheduler-docker-local",
    description: "Manage the docker-local scheduler integration for an app",
    default_command: None,
    commands: &[],
    triggers: &[
        ("app-restart", trigger_app_restart),
        ("checks-run", trigger_checks_run),
        ("deploy", trigger_deploy),
        ("deployed-app-image-tag", trigger_deployed_app_image_tag),
        ("post-app-rename", trigger_post_app_rename),
        ("post-app-rename-setup", trigger_post_app_rename_setup),
        ("pre-delete", trigger_pre_delete),
        ("release-and-deploy", trigger_deploy),
        ("scheduler-pre-restore", trigger_scheduler_pre_restore),
        ("scheduler-retire", trigger_scheduler_retire),
        ("scheduler-stop", trigger_scheduler_stop),
    ],
};

fn app_arg(ctx: &Context, args: &[String]) -> Result<AppName> {
    ctx.existing_app(args.first().map(String::as_str))
}

/// `deploy APP [TAG [PROC]]` / `release-and-deploy APP [TAG]`: with PROC,
/// only that process type's containers are replaced (`ps:restart APP
/// PROC`).
fn trigger_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let tag = args.get(1).map_or("latest", String::as_str);
    let only = args.get(2).map(String::as_str).filter(|p| !p.is_empty());
    deploy(ctx, &app, tag, only)?;
    Ok(String::new())
}

/// `deployed-app-image-tag APP`: the tag of the image the app's first
/// dyno runs (what Dokku's `get_running_image_tag` prints); nothing when
/// the app runs nothing.
fn trigger_deployed_app_image_tag(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let Some(id) = state::dynos(&ctx.store, &app)?
        .first()
        .and_then(|dyno| state::container_id(&ctx.store, &app, dyno))
    else {
        return Ok(String::new());
    };
    let image = Engine::connect()?
        .inspect_container(&id)?
        .and_then(|c| c.config)
        .and_then(|c| c.image)
        .unwrap_or_default();
    Ok(image
        .rsplit_once(':')
        .map(|(_, tag)| format!("{tag}\n"))
        .unwrap_or_default())
}

/// `checks-run APP [TYPES|TYPE.N]` (for `checks:run`): the deploy checks,
/// run against the app's current containers.
fn trigger_checks_run(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let dynos = state::dynos(&ctx.store, &app)?;
    let wanted: Vec<Dyno> = match args.get(1) {
        None => dynos,
        Some(filter) if filter.contains('.') => {
            let found: Vec<Dyno> = dynos.into_iter().filter(|d| d.name() == *filter).collect();
            if found.is_empty() {
                return Err(Error::fail(format!(
                    "Invalid container id specified ({app}.{filter})"
                )));
            }
            found
        }
        Some(filter) => {
            let types: Vec<&str> = filter.split(',').collect();
            if let Some(bad) = types.iter().find(|t| !dynos.iter().any(|d| d.kind == **t)) {
                return Err(Error::fail(format!(
                    "Invalid process type specified ({app}.{bad})"
                )));
            }
            dynos
                .into_iter()
                .filter(|d| types.contains(&d.kind.as_str()))
                .collect()
        }
    };
    let engine = Engine::connect()?;
    for dyno in &wanted {
        let id = state::container_id(&ctx.store, &app, dyno)
            .ok_or_else(|| Error::fail(format!("No container recorded for {}", dyno.name())))?;
        let port = state::address(&ctx.store, &app, dyno)
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(DEFAULT_WEB_PORT);
        check(ctx, &engine, &app, &id, dyno, port, None)
            .map_err(|e| Error::fail(format!("Check failed ({}): {e}", dyno.name())))?;
    }
    Ok(String::new())
}

/// `app-restart APP`: redeploys the current release of a deployed app
/// (config changes). A failure warns; the change itself stands.
fn trigger_app_restart(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let restore = ctx
        .store
        .property("ps", &Scope::App(app.clone()), "restore")?;
    if !state::is_deployed(&ctx.store, &app)? || restore.as_deref() == Some("false") {
        return Ok(String::new());
    }
    ctx.out.info1(format!("Restarting app {app}"))?;
    if let Err(e) = deploy(ctx, &app, "latest", None) {
        ctx.out.warn(format!("Failure while restarting app: {e}"))?;
    }
    Ok(String::new())
}

/// `scheduler-stop APP`: stops the app's containers, keeps them and the
/// state files (`ps:start` brings them back).
fn trigger_scheduler_stop(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let _lock = ctx.deploy_lock(&app)?;
    let engine = Engine::connect()?;
    let timeout = stop_timeout(ctx, &app)?;
    for summary in engine.containers(&[
        ("com.dokku.app-name", app.as_str()),
        ("com.dokku.container-type", "deploy"),
    ])? {
        if let Some(id) = summary.id {
            engine.stop_container(&id, timeout)?;
        }
    }
    Ok(String::new())
}

/// `scheduler-retire [--wait]`: stops the old containers whose time has
/// come (with `--wait`, keeps going until none is left).
fn trigger_scheduler_retire(ctx: &Context, args: &[String]) -> Result<String> {
    if args.first().is_some_and(|a| a == "--wait") {
        retire::retire_until_empty(ctx)?;
    } else {
        retire::retire_due(ctx)?;
    }
    Ok(String::new())
}

/// `scheduler-pre-restore APP`: re-reads the recorded containers' IPs
/// (they change when the engine restarts) into the `IP.<type>.<n>` files,
/// and, unless a deploy runs, sweeps what a killed deploy left.
fn trigger_scheduler_pre_restore(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let engine = Engine::connect()?;
    // Only a deploy that was killed leaves its lock file behind (one that
    // ends removes it), and only then can there be orphans: so a restore
    // of many apps asks the engine for containers only for those. Never
    // inside a deploy of this process: its new containers are not
    // recorded yet.
    let lock_path = ctx.store.deploy_lock_path(&app);
    if lock_path.exists()
        && DeployLock::status(&lock_path)? == DeployLockStatus::Free
        && let Ok(_lock) = DeployLock::try_acquire(&lock_path)?
    {
        sweep_orphans(ctx, &engine, &app)?;
    }
    let snapshot = state::snapshot(&ctx.store, &app)?;
    for dyno in snapshot.dynos() {
        let Some(id) = snapshot.container(dyno) else {
            continue;
        };
        let ip = engine
            .inspect_container(id)?
            .as_ref()
            .and_then(app_network::container_ip);
        if let (Some(ip), Some((_, port))) = (ip, state::address(&ctx.store, &app, dyno)) {
            let port = port.parse().unwrap_or(DEFAULT_WEB_PORT);
            state::record(&ctx.store, &app, dyno, id, &ip, port)?;
        }
    }
    Ok(String::new())
}

/// `pre-delete APP`: removes the app's containers and images.
fn trigger_pre_delete(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    remove_everything(ctx, &app, true)?;
    Ok(String::new())
}

/// Before a rename: the old name's containers go (the rename rebuilds).
fn trigger_post_app_rename_setup(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    if state::is_deployed(&ctx.store, &app)? {
        remove_everything(ctx, &app, true)?;
        // Remember to rebuild under the new name.
        crate::store::atomic::write_atomic(&ctx.store.app_dir(&app).join("REBUILD"), b"", 0o600)?;
    }
    Ok(String::new())
}

fn trigger_post_app_rename(ctx: &Context, args: &[String]) -> Result<String> {
    let new = ctx.existing_app(args.get(1).map(String::as_str))?;
    let marker = ctx.store.app_dir(&new).join("REBUILD");
    if crate::store::atomic::remove_file(&marker)? {
        ctx.fire("receive-app", &[new.as_str()])?;
    }
    Ok(String::new())
}

fn remove_everything(ctx: &Context, app: &AppName, images: bool) -> Result<()> {
    let engine = Engine::connect()?;
    for summary in engine.containers(&[("com.dokku.app-name", app.as_str())])? {
        if let Some(id) = summary.id {
            engine.remove_container(&id)?;
        }
    }
    for dyno in state::dynos(&ctx.store, app)? {
        state::forget(&ctx.store, app, &dyno)?;
    }
    if images {
        for tag in engine.image_tags(&format!("dokku/{app}"))? {
            engine.remove_image(&tag)?;
        }
    }
    Ok(())
}

pub(crate) fn stop_timeout(ctx: &Context, app: &AppName) -> Result<i32> {
    Ok(ctx
        .store
        .app_property("ps", app, "stop-timeout-seconds")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(30))
}

fn restart_policy(ctx: &Context, app: &AppName) -> Result<RestartPolicy> {
    let value = ctx
        .store
        .app_property("ps", app, "restart-policy")?
        .unwrap_or_else(|| "on-failure:10".into());
    let (name, count) = match value.split_once(':') {
        Some((name, count)) => (name, count.parse().ok()),
        None => (value.as_str(), None),
    };
    let name = match name {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        _ => RestartPolicyNameEnum::ON_FAILURE,
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    })
}

/// The port the web process listens on: the container port of the app's
/// first effective non-udp map (the builder recorded what the image
/// exposes), else 5000. Fails when the release's image is gone.
fn web_port(ctx: &Context, engine: &Engine, app: &AppName, image: &str) -> Result<u16> {
    if engine.image(image)?.is_none() {
        return Err(Error::fail(format!(
            "Image {image} not found: deploy the app first"
        )));
    }
    let port = ctx.fire("ports-web-container-port", &[app.as_str()])?;
    Ok(port.trim().parse().unwrap_or(DEFAULT_WEB_PORT))
}

struct Release {
    tag: String,
    procfile: Procfile,
    env: BTreeMap<String, String>,
    port: u16,
    policy: RestartPolicy,
    /// The apps' network, by id.
    network: String,
}

/// Runs the release `dokku/<app>:<tag>` at the app's scale, without
/// downtime: every new container starts and passes its check beside the
/// old ones; then the state files and the proxy switch to the new ones in
/// one step (undone if nginx refuses); then the old containers retire
/// after `wait-to-retire` seconds. Any failure before the switch removes
/// only the new containers: the running release is never touched.
pub fn deploy(ctx: &Context, app: &AppName, tag: &str, only: Option<&str>) -> Result<()> {
    let _lock = ctx.deploy_lock(app)?;
    ctx.fire("pre-deploy", &[app.as_str(), tag])?;
    let engine = Engine::connect()?;
    sweep_orphans(ctx, &engine, app)?;
    let image = format!("dokku/{app}:{tag}");
    let procfile = match release_files::read(&ctx.store, app, Some(tag), release_files::PROCFILE) {
        Some(text) => Procfile::parse(&text)?,
        None => Procfile::default(),
    };
    let release = Release {
        tag: tag.to_string(),
        port: web_port(ctx, &engine, app, &image)?,
        procfile,
        env: ctx.store.merged_env(app)?,
        policy: restart_policy(ctx, app)?,
        network: app_network::ensure(ctx, &engine)?.id,
    };
    ctx.out
        .info1(format!("Deploying {app} via the docker-local scheduler..."))?;
    let scale = state::scale(&ctx.store, app)?;
    if let Some(only) = only
        && !scale.iter().any(|(kind, _)| kind == only)
    {
        return Err(Error::fail(format!(
            "Invalid process type specified ({app}.{only})"
        )));
    }
    // With a process type given, the others keep their containers.
    let replaced = |kind: &str| only.is_none_or(|only| only == kind);
    let mut started: Vec<Started> = Vec::new();
    for (kind, count) in scale.iter().filter(|(kind, _)| replaced(kind)) {
        let count = if kind != "web" && *count > 0 && release.procfile.command(kind).is_none() {
            ctx.out.warn(format!(
                "Skipping {kind} as it is missing from the current Procfile"
            ))?;
            0
        } else {
            *count
        };
        for index in 1..=count {
            let dyno = Dyno {
                kind: kind.clone(),
                index,
            };
            if health::mode(ctx, app, kind)? == health::Mode::Disabled
                && let Some(old) = crate::dynos::container_id(&ctx.store, app, &dyno)
            {
                // checks:disable: the old container stops first (downtime).
                engine.stop_container(&old, stop_timeout(ctx, app)?)?;
            }
            match start_new(ctx, &engine, app, &release, &dyno) {
                Ok(new) => started.push(new),
                Err(e) => {
                    discard(&engine, &started);
                    return Err(e);
                }
            }
        }
    }

    // The switch: state files first (the proxy reads them), then the proxy.
    let before = state::snapshot(&ctx.store, app)?;
    let switched = switch(ctx, app, &started, &release, &replaced);
    if let Err(e) = switched {
        before.restore(&ctx.store, app)?;
        discard(&engine, &started);
        return Err(e);
    }

    // Names follow the release: the old holder of a name steps aside.
    let mut retiring = Vec::new();
    for dyno in before.dynos().filter(|d| replaced(&d.kind)) {
        if let Some(id) = before.container(dyno) {
            retiring.push(id.to_string());
        }
    }
    for id in &retiring {
        if let Some(name) = engine.inspect_container(id)?.and_then(|c| c.name) {
            let name = name.trim_start_matches('/');
            if !name.contains(".retired-") {
                let short = id.get(..12).unwrap_or(id);
                engine.rename_container(id, &format!("{name}.retired-{short}"))?;
            }
        }
    }
    for new in &started {
        engine.rename_container(&new.id, &format!("{app}.{}", new.dyno.name()))?;
    }
    let wait = retire::wait_to_retire(ctx, app)?;
    if !retiring.is_empty() {
        ctx.out
            .info1(format!("Shutting down old containers in {wait} seconds"))?;
        retire::schedule(ctx, app, &retiring, wait)?;
        if wait == 0 {
            retire::retire_due(ctx)?;
        } else if std::env::var_os("BERTH_SERVER").is_none() {
            retire::spawn_detached_retirer();
        }
    }
    ctx.fire(
        "post-deploy",
        &[app.as_str(), &release.port.to_string(), "", tag],
    )?;
    ctx.out.info2("Application deployed:")?;
    for url in ctx.fire("domains-urls", &[app.as_str(), "urls"])?.lines() {
        ctx.out.verbose(url)?;
    }
    Ok(())
}

/// Containers of the app that no release owns any more, left by a deploy
/// that was killed (power loss, `docker rm -f` of the platform): new ones
/// that never took traffic (`.upcoming-`) are removed, old ones a switch
/// replaced but never queued go to retirement like any old container.
/// Call with the app's deploy lock held: then no deploy is running.
fn sweep_orphans(ctx: &Context, engine: &Engine, app: &AppName) -> Result<()> {
    let owned: Vec<String> = state::dynos(&ctx.store, app)?
        .iter()
        .filter_map(|dyno| state::container_id(&ctx.store, app, dyno))
        .chain(retire::queued(ctx, app)?)
        .collect();
    let mut orphans = Vec::new();
    for summary in engine.containers(&[
        ("com.dokku.app-name", app.as_str()),
        ("com.dokku.container-type", "deploy"),
    ])? {
        let Some(id) = summary.id else { continue };
        if owned.contains(&id) {
            continue;
        }
        let upcoming = summary
            .names
            .unwrap_or_default()
            .iter()
            .any(|name| name.contains(".upcoming-"));
        if upcoming {
            engine.remove_container(&id)?;
        } else {
            orphans.push(id);
        }
    }
    if !orphans.is_empty() {
        let wait = retire::wait_to_retire(ctx, app)?;
        retire::schedule(ctx, app, &orphans, wait)?;
    }
    Ok(())
}

/// A new container that passed its check, not yet carrying its name.
struct Started {
    dyno: Dyno,
    id: String,
    ip: String,
}

fn discard(engine: &Engine, started: &[Started]) {
    for new in started {
        let _ = engine.remove_container(&new.id);
    }
}

/// Points the state files at the new containers (dropping dynos beyond
/// the scale) and rebuilds the proxy config.
fn switch(
    ctx: &Context,
    app: &AppName,
    started: &[Started],
    release: &Release,
    replaced: &dyn Fn(&str) -> bool,
) -> Result<()> {
    for dyno in state::dynos(&ctx.store, app)? {
        if replaced(&dyno.kind) && !started.iter().any(|s| s.dyno == dyno) {
            state::forget(&ctx.store, app, &dyno)?;
        }
    }
    for new in started {
        state::record(&ctx.store, app, &new.dyno, &new.id, &new.ip, release.port)?;
    }
    let promotion = release_files::promote(&ctx.store, app, &release.tag)?;
    if let Err(e) = ctx.fire("proxy-build-config", &[app.as_str()]) {
        promotion.undo(&ctx.store)?;
        return Err(e);
    }
    Ok(())
}

/// Starts the new container for one dyno under a temporary name and checks
/// it. On failure it is removed and its last output shown.
fn start_new(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    release: &Release,
    dyno: &Dyno,
) -> Result<Started> {
    let upcoming = format!("{app}.{}.upcoming-{}", dyno.name(), std::process::id());
    engine.remove_container(&upcoming)?;
    // Plugins' mounts and container options, checked before anything
    // starts.
    let body = container_spec(app, release, dyno)?.body(ctx)?;
    let index = dyno.index.to_string();
    let id = engine.create_container(&upcoming, body)?;
    let checked = ctx
        .fire(
            "post-container-create",
            &["app", &id, app.as_str(), "deploy", &dyno.kind],
        )
        .and_then(|_| engine.start_container(&id))
        .and_then(|()| {
            check(
                ctx,
                engine,
                app,
                &id,
                dyno,
                release.port,
                Some(&release.tag),
            )
        })
        .and_then(|ip| {
            // Plugins' own checks: `check-deploy APP CID PROC PORT IP IDX`.
            let port = release.port.to_string();
            ctx.fire(
                "check-deploy",
                &[app.as_str(), &id, &dyno.kind, &port, &ip, &index],
            )
            .map(|_| ip)
        });
    match checked {
        Ok(ip) => Ok(Started {
            dyno: dyno.clone(),
            id,
            ip,
        }),
        Err(e) => {
            let logs = last_logs(engine, &id);
            engine.remove_container(&id)?;
            if !logs.is_empty() {
                ctx.out.warn(format!("Last output of {}:", dyno.name()))?;
                ctx.out.warn(logs)?;
            }
            Err(Error::fail(format!(
                "Could not start due to 1 failed checks ({}): {e}",
                dyno.name()
            )))
        }
    }
}

fn container_spec(app: &AppName, release: &Release, dyno: &Dyno) -> Result<ContainerSpec> {
    let mut env = release.env.clone();
    env.insert("DYNO".into(), dyno.name());
    if dyno.kind == "web" {
        env.insert("PORT".into(), release.port.to_string());
    }
    let cmd = match release.procfile.command(&dyno.kind) {
        Some(command) => {
            let words = crate::words::split(&crate::words::expand(command, &env)).map_err(|e| {
                Error::fail(format!("Invalid Procfile command for {}: {e}", dyno.kind))
            })?;
            Some(words)
        }
        None => None,
    };
    Ok(ContainerSpec {
        app: app.clone(),
        tag: release.tag.clone(),
        role: Role::Deploy(dyno.clone()),
        cmd,
        env,
        restart_policy: Some(release.policy.clone()),
        network: release.network.clone(),
    })
}

/// Waits until the new container is ready (see [`health`]). Returns its
/// IP on berth's network.
fn check(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    id: &str,
    dyno: &Dyno,
    port: u16,
    tag: Option<&str>,
) -> Result<String> {
    let started = Instant::now();
    // A container counts as alive while running and not restarted: with a
    // restart policy a crashing one looks running again within moments.
    let inspect = || -> Result<(bool, String, i64)> {
        let info = engine
            .inspect_container(id)?
            .ok_or_else(|| Error::fail("the container disappeared"))?;
        let ip = app_network::container_ip(&info).unwrap_or_default();
        let state = info.state.unwrap_or_default();
        let restarted = state.restarting == Some(true) || info.restart_count.unwrap_or(0) > 0;
        Ok((
            state.running == Some(true) && !restarted,
            ip,
            state.exit_code.unwrap_or_default(),
        ))
    };
    let alive = || inspect().map(|(alive, ..)| alive);
    let (running, ip, code) = inspect()?;
    if !running {
        return Err(Error::fail(format!(
            "the container exited with status {code}"
        )));
    }
    let mode = health::mode(ctx, app, &dyno.kind)?;
    if mode != health::Mode::Checked {
        ctx.out.info2(format!(
            "Zero downtime checks have been skipped ({})",
            dyno.name()
        ))?;
        return Ok(ip);
    }
    ctx.out
        .verbose_quiet(format!("Attempting pre-flight checks ({})", dyno.name()))?;
    let defined = health::defined(ctx, app, &dyno.kind, tag)?;
    if !defined.is_empty() {
        let domains = ctx.fire("domains-list", &[app.as_str()])?;
        let host = domains
            .lines()
            .find(|d| !d.is_empty() && *d != "localhost" && !d.contains('*'))
            .unwrap_or("localhost")
            .to_string();
        for healthcheck in &defined {
            health::run(ctx, healthcheck, &ip, port, &host, &alive)?;
        }
        return Ok(ip);
    }
    let limit = if dyno.kind == "web" {
        LISTEN_TIMEOUT
    } else {
        UPTIME_CHECK
    };
    loop {
        let (running, ip, code) = inspect()?;
        if !running {
            return Err(Error::fail(format!(
                "the container exited with status {code}"
            )));
        }
        if dyno.kind == "web" {
            if let Ok(addr) = format!("{ip}:{port}").parse::<SocketAddr>()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(ip);
            }
            if started.elapsed() > limit {
                return Err(Error::fail(format!(
                    "nothing listens on port {port} after {}s",
                    limit.as_secs()
                )));
            }
        } else if started.elapsed() > limit {
            return Ok(ip);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_logs(engine: &Engine, id: &str) -> String {
    let mut text = Vec::new();
    let _ = engine.logs(
        id,
        Some(20),
        false,
        false,
        &mut |_: StdStream, bytes: &[u8]| {
            text.extend_from_slice(bytes);
            Ok(())
        },
    );
    String::from_utf8_lossy(&text).trim_end().to_string()
}
