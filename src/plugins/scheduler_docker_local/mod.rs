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

pub mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::models::{
    ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};
use crate::engine::{Engine, StdStream};
use crate::error::{Error, Result};
use crate::plugins::Plugin;
use crate::procfile::Procfile;
use crate::store::Scope;
use state::Dyno;

/// The bridge network every app container joins; the proxy reaches them here.
pub const NETWORK: &str = "berth";
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
        ("deploy", trigger_deploy),
        ("post-app-rename", trigger_post_app_rename),
        ("post-app-rename-setup", trigger_post_app_rename_setup),
        ("pre-delete", trigger_pre_delete),
        ("release-and-deploy", trigger_deploy),
        ("scheduler-stop", trigger_scheduler_stop),
    ],
};

fn app_arg(ctx: &Context, args: &[String]) -> Result<AppName> {
    ctx.existing_app(args.first().map(String::as_str))
}

/// `deploy APP [TAG]` / `release-and-deploy APP [TAG]`.
fn trigger_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
    let tag = args.get(1).map_or("latest", String::as_str);
    deploy(ctx, &app, tag)?;
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
    if let Err(e) = deploy(ctx, &app, "latest") {
        ctx.out.warn(format!("Failure while restarting app: {e}"))?;
    }
    Ok(String::new())
}

/// `scheduler-stop APP`: stops the app's containers, keeps them and the
/// state files (`ps:start` brings them back).
fn trigger_scheduler_stop(ctx: &Context, args: &[String]) -> Result<String> {
    let app = app_arg(ctx, args)?;
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

fn stop_timeout(ctx: &Context, app: &AppName) -> Result<i32> {
    let value = match ctx
        .store
        .property("ps", &Scope::App(app.clone()), "stop-timeout-seconds")?
    {
        Some(v) => Some(v),
        None => ctx
            .store
            .property("ps", &Scope::Global, "stop-timeout-seconds")?,
    };
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(30))
}

fn restart_policy(ctx: &Context, app: &AppName) -> Result<RestartPolicy> {
    let value = match ctx
        .store
        .property("ps", &Scope::App(app.clone()), "restart-policy")?
    {
        Some(v) => v,
        None => ctx
            .store
            .property("ps", &Scope::Global, "restart-policy")?
            .unwrap_or_else(|| "on-failure:10".into()),
    };
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

/// The port the web process listens on: the image's lowest exposed TCP port,
/// else 5000.
fn web_port(engine: &Engine, image: &str) -> Result<u16> {
    let info = engine
        .image(image)?
        .ok_or_else(|| Error::fail(format!("Image {image} not found: deploy the app first")))?;
    let exposed = info
        .config
        .and_then(|c| c.exposed_ports)
        .unwrap_or_default();
    Ok(exposed
        .iter()
        .filter_map(|p| p.strip_suffix("/tcp").and_then(|n| n.parse().ok()))
        .min()
        .unwrap_or(DEFAULT_WEB_PORT))
}

struct Release {
    image: String,
    procfile: Procfile,
    env: BTreeMap<String, String>,
    port: u16,
    policy: RestartPolicy,
    stop_timeout: i32,
}

/// Runs the release `dokku/<app>:<tag>` at the app's scale.
pub fn deploy(ctx: &Context, app: &AppName, tag: &str) -> Result<()> {
    let engine = Engine::connect()?;
    let image = format!("dokku/{app}:{tag}");
    let procfile_path = ctx
        .store
        .data_dir("ps", &Scope::App(app.clone()))
        .join("Procfile");
    let procfile = match std::fs::read_to_string(&procfile_path) {
        Ok(text) => Procfile::parse(&text)?,
        Err(_) => Procfile::default(),
    };
    let release = Release {
        port: web_port(&engine, &image)?,
        image,
        procfile,
        env: ctx.store.merged_env(app)?,
        policy: restart_policy(ctx, app)?,
        stop_timeout: stop_timeout(ctx, app)?,
    };
    engine.ensure_network(NETWORK)?;
    ctx.out
        .info1(format!("Deploying {app} via the docker-local scheduler..."))?;
    let scale = state::scale(&ctx.store, app)?;
    for (kind, count) in &scale {
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
            start_dyno(ctx, &engine, app, &release, &dyno)?;
        }
    }
    retire_surplus(ctx, &engine, app, &scale, release.stop_timeout)?;
    ctx.fire(
        "post-deploy",
        &[app.as_str(), &release.port.to_string(), "", tag],
    )?;
    ctx.out.info2("Application deployed:")?;
    for dyno in state::dynos(&ctx.store, app)?
        .iter()
        .filter(|d| d.kind == "web")
    {
        if let Some((ip, port)) = state::address(&ctx.store, app, dyno) {
            ctx.out.verbose(format!("http://{ip}:{port}"))?;
        }
    }
    Ok(())
}

/// Starts the new container for one dyno, checks it, then retires the old
/// one and takes over its name.
fn start_dyno(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    release: &Release,
    dyno: &Dyno,
) -> Result<()> {
    let name = format!("{app}.{}", dyno.name());
    let upcoming = format!("{name}.upcoming-{}", std::process::id());
    engine.remove_container(&upcoming)?;
    let body = container_body(app, release, dyno)?;
    let id = engine.create_container(&upcoming, body)?;
    let checked = engine
        .start_container(&id)
        .and_then(|()| check(ctx, engine, &id, dyno, release.port));
    let ip = match checked {
        Ok(ip) => ip,
        Err(e) => {
            let logs = last_logs(engine, &id);
            engine.remove_container(&id)?;
            if !logs.is_empty() {
                ctx.out.warn(format!("Last output of {}:", dyno.name()))?;
                ctx.out.warn(logs)?;
            }
            return Err(Error::fail(format!(
                "Could not start due to 1 failed checks ({}): {e}",
                dyno.name()
            )));
        }
    };
    if let Some(old) = engine.inspect_container(&name)?.and_then(|c| c.id) {
        engine.stop_container(&old, release.stop_timeout)?;
        engine.remove_container(&old)?;
    }
    engine.rename_container(&id, &name)?;
    state::record(&ctx.store, app, dyno, &id, &ip, release.port)
}

fn container_body(app: &AppName, release: &Release, dyno: &Dyno) -> Result<ContainerCreateBody> {
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
    let labels = HashMap::from([
        ("com.dokku.app-name".to_string(), app.to_string()),
        ("com.dokku.container-type".to_string(), "deploy".to_string()),
        ("com.dokku.process-type".to_string(), dyno.kind.clone()),
        ("com.dokku.dyno".to_string(), dyno.name()),
        ("dokku".to_string(), String::new()),
    ]);
    Ok(ContainerCreateBody {
        image: Some(release.image.clone()),
        cmd,
        env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            init: Some(true),
            restart_policy: Some(release.policy.clone()),
            network_mode: Some(NETWORK.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Waits until the new container is ready: a web container listens on its
/// port, any other stays up for a moment. Returns its IP on berth's network.
fn check(ctx: &Context, engine: &Engine, id: &str, dyno: &Dyno, port: u16) -> Result<String> {
    ctx.out
        .verbose_quiet(format!("Attempting pre-flight checks ({})", dyno.name()))?;
    let started = Instant::now();
    let limit = if dyno.kind == "web" {
        LISTEN_TIMEOUT
    } else {
        UPTIME_CHECK
    };
    loop {
        let info = engine
            .inspect_container(id)?
            .ok_or_else(|| Error::fail("the container disappeared"))?;
        let state = info.state.unwrap_or_default();
        // With a restart policy a crashing container looks "running" again
        // within moments: a restart during the check is a failure too.
        let restarted = state.restarting == Some(true) || info.restart_count.unwrap_or(0) > 0;
        if state.running != Some(true) || restarted {
            return Err(Error::fail(format!(
                "the container exited with status {}",
                state.exit_code.unwrap_or_default()
            )));
        }
        let ip = info
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(NETWORK))
            .and_then(|e| e.ip_address)
            .unwrap_or_default();
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

/// Removes containers beyond the scale: higher indexes, and types scaled to
/// zero or gone from the scale.
fn retire_surplus(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    scale: &[(String, u32)],
    timeout: i32,
) -> Result<()> {
    let wanted = |dyno: &Dyno| {
        scale
            .iter()
            .any(|(kind, count)| *kind == dyno.kind && dyno.index <= *count)
    };
    for dyno in state::dynos(&ctx.store, app)? {
        if wanted(&dyno) {
            continue;
        }
        if let Some(id) = state::container_id(&ctx.store, app, &dyno) {
            engine.stop_container(&id, timeout)?;
            engine.remove_container(&id)?;
        }
        state::forget(&ctx.store, app, &dyno)?;
    }
    Ok(())
}
