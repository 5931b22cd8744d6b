//! Dokku's `scheduler-docker-local`: an app's release as containers on the
//! local Docker engine.
//!
//! A deploy starts each new container beside the old one, checks it, and
//! only then retires the old one, so a failed deploy leaves the running
//! release untouched. Containers are named and labelled as Dokku names
//! them (`<app>.<type>.<n>`, `com.dokku.*`) and sit on berth's network.
//!
//! Triggers answered: `release-and-deploy`, `deploy`, `app-restart`,
//! `scheduler-stop`, `pre-delete`, `post-app-rename-setup`, `post-app-rename`,
//! and `docker-args-process-deploy` (`--init=false` when the
//! `init-process` property says so).

mod health;
mod orphans;
mod properties;
mod release;
mod retire;

pub use release::deploy;

use properties::{DEFAULT_WEB_PORT, stop_timeout};

use crate::app_name::AppName;
use crate::app_network;
use crate::context::Context;
use crate::dynos::{self as state, Dyno};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::store::Scope;
use crate::store::lock::{DeployLock, DeployLockStatus};

pub static PLUGIN: Plugin = Plugin {
    name: "scheduler-docker-local",
    description: "Manage the docker-local scheduler integration for an app",
    default_command: Some("scheduler-docker-local:report"),
    commands: &[
        Command {
            name: "scheduler-docker-local:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Displays a scheduler-docker-local report for one or more apps",
            run: properties::report,
        },
        Command {
            name: "scheduler-docker-local:set",
            usage: "[<app>|--global] <key> (<value>)",
            description: "Set or clear a scheduler-docker-local property for an app or globally",
            run: properties::set,
        },
    ],
    triggers: &[
        ("app-restart", trigger_app_restart),
        ("checks-run", trigger_checks_run),
        ("deploy", trigger_deploy),
        (
            "docker-args-process-deploy",
            properties::trigger_docker_args,
        ),
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
    let wanted = checked_dynos(&app, dynos, args.get(1).map(String::as_str))?;
    let engine = Engine::connect()?;
    for dyno in &wanted {
        let id = state::container_id(&ctx.store, &app, dyno)
            .ok_or_else(|| Error::fail(format!("No container recorded for {}", dyno.name())))?;
        let port = state::address(&ctx.store, &app, dyno)
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or(DEFAULT_WEB_PORT);
        health::check(ctx, &engine, &app, &id, dyno, port, None)
            .map_err(|e| Error::fail(format!("Check failed ({}): {e}", dyno.name())))?;
    }
    Ok(String::new())
}

/// The dynos `checks:run APP [FILTER]` checks: all, the types of a
/// comma-separated list, or one `TYPE.N`.
fn checked_dynos(app: &AppName, dynos: Vec<Dyno>, filter: Option<&str>) -> Result<Vec<Dyno>> {
    Ok(match filter {
        None => dynos,
        Some(filter) if filter.contains('.') => {
            let found: Vec<Dyno> = dynos.into_iter().filter(|d| d.name() == filter).collect();
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
    })
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
        orphans::sweep_orphans(ctx, &engine, &app)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_run_selects_by_type_list_or_dyno() {
        let app = AppName::lookup("demo").unwrap();
        let dyno = |kind: &str, index| Dyno {
            kind: kind.into(),
            index,
        };
        let all = vec![dyno("web", 1), dyno("web", 2), dyno("worker", 1)];
        let names = |filter| -> Vec<String> {
            checked_dynos(&app, all.clone(), filter)
                .unwrap()
                .iter()
                .map(Dyno::name)
                .collect()
        };
        assert_eq!(names(None), ["web.1", "web.2", "worker.1"]);
        assert_eq!(names(Some("worker")), ["worker.1"]);
        assert_eq!(names(Some("web,worker")).len(), 3);
        assert_eq!(names(Some("web.2")), ["web.2"]);
        let refused = |filter| {
            checked_dynos(&app, all.clone(), Some(filter))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("clock"),
            "Invalid process type specified (demo.clock)"
        );
        assert_eq!(
            refused("web.3"),
            "Invalid container id specified (demo.web.3)"
        );
    }
}
