//! A release on the app's containers, without downtime: start the new
//! containers beside the old ones, check them, switch the state files and
//! the proxy in one step, then retire the old ones.

use std::collections::BTreeMap;

use super::properties::{restart_policy, stop_timeout, web_port};
use super::{health, orphans, retire};
use crate::app_name::AppName;
use crate::app_network;
use crate::build_record;
use crate::container_spec::{ContainerSpec, Role};
use crate::context::Context;
use crate::dynos::{self as state, Dyno};
use crate::engine::models::RestartPolicy;
use crate::engine::{Engine, StdStream};
use crate::error::{Error, Result};
use crate::procfile::Procfile;
use crate::release_files;

struct Release {
    tag: String,
    procfile: Procfile,
    env: BTreeMap<String, String>,
    port: u16,
    policy: RestartPolicy,
    /// The apps' network, by id.
    network: String,
    /// `ps:set dockerfile-start-cmd`: every process's command, before the
    /// Procfile's and the image's `CMD` (Dokku's
    /// `${DOCKERFILE_START_CMD:-$PROCFILE_START_CMD}`).
    start_cmd: Option<String>,
}

/// Runs the release `dokku/<app>:<tag>` at the app's scale, without
/// downtime: every new container starts and passes its check beside the
/// old ones; then the state files and the proxy switch to the new ones in
/// one step (undone if nginx refuses); then the old containers retire
/// after `wait-to-retire` seconds. Any failure before the switch removes
/// only the new containers: the running release is never touched.
pub fn deploy(ctx: &Context, app: &AppName, tag: &str, only: Option<&str>) -> Result<()> {
    let _lock = ctx.deploy_lock(app)?;
    // Inside a build, the build's record goes on.
    let recording = build_record::start(ctx, app, build_record::Kind::Deploy)?;
    let deployed = deploy_locked(ctx, app, tag, only);
    recording.finish(&deployed);
    deployed
}

/// [`deploy`], under the deploy lock. `builds:cancel` stops it before
/// each new container, in the checks, and before the switch; after the
/// switch it completes.
fn deploy_locked(ctx: &Context, app: &AppName, tag: &str, only: Option<&str>) -> Result<()> {
    ctx.fire("pre-deploy", &[app.as_str(), tag])?;
    let engine = Engine::connect()?;
    orphans::sweep_orphans(ctx, &engine, app)?;
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
        start_cmd: ctx
            .store
            .property(
                "ps",
                &crate::store::Scope::App(app.clone()),
                "dockerfile-start-cmd",
            )?
            .filter(|cmd| !cmd.trim().is_empty()),
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
            if let Err(e) = build_record::checkpoint() {
                discard(&engine, &started);
                return Err(e);
            }
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

    if let Err(e) = build_record::checkpoint() {
        discard(&engine, &started);
        return Err(e);
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
    // Every new container passed its checks; plugins act before the proxy
    // switches (network: attach-post-deploy). A failure undoes the switch.
    let port = release.port.to_string();
    ctx.fire("core-post-deploy", &[app.as_str(), &port, "", &release.tag])?;
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
            health::check(
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
        Err(e) if build_record::canceled() => {
            engine.remove_container(&id)?;
            Err(e)
        }
        Err(e) => {
            // Plugins keep what they need of it first (logs: logs:failed).
            let failed = [app.as_str(), &id, &dyno.kind, &index, &release.tag];
            if let Err(kept) = ctx.fire("scheduler-container-failed", &failed) {
                ctx.out
                    .warn(format!("Unable to keep the failed output: {kept}"))?;
            }
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
    let cmd = match release
        .start_cmd
        .as_deref()
        .or(release.procfile.command(&dyno.kind))
    {
        Some(command) => {
            let words = crate::words::split(&crate::words::expand(command, &env)).map_err(|e| {
                Error::fail(format!("Invalid start command for {}: {e}", dyno.kind))
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
