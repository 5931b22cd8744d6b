//! Dokku's `builder` and `builder-dockerfile` plugins: from a pushed commit
//! to a tagged image.
//!
//! `receive-app APP [REV]` (fired by a push and by `ps:rebuild`) takes the
//! deploy lock, reads the commit with git2 (no checkout), keeps its
//! `Procfile` and `app.json` for the scheduler, streams the tree to the
//! engine's build API, tags `dokku/<app>:latest` and a per-deploy tag, and
//! fires `release-and-deploy APP TAG`.
//!
//! Properties: `config/builder/<app|--global>/selected`,
//! `config/builder-dockerfile/<app|--global>/dockerfile-path`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::{BuildRequest, Engine};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::procfile::Procfile;
use crate::property_set::{self, Property, Reach};
use crate::repo::AppRepo;
use crate::store::Scope;
use crate::store::atomic::{FILE_MODE, remove_file, write_atomic};
use crate::store::lock::{DeployLock, DeployLockError};

pub static PLUGIN: Plugin = Plugin {
    name: "builder",
    description: "Manage builder settings for an app",
    default_command: None,
    commands: &[Command {
        name: "builder:set",
        usage: "[--global|<app>] <key> (<value>)",
        description: "Set or clear a builder property for an app",
        run: set,
    }],
    triggers: &[("receive-app", trigger_receive_app)],
};

const PROPERTIES: &[Property] = &[
    Property {
        name: "selected",
        reach: Reach::AppAndGlobal,
        validate: None,
    },
    Property {
        name: "build-dir",
        reach: Reach::AppAndGlobal,
        validate: None,
    },
];

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "builder", PROPERTIES, args)
}

/// App value, else global value.
fn property(ctx: &Context, plugin: &str, app: &AppName, key: &str) -> Result<Option<String>> {
    match ctx.store.property(plugin, &Scope::App(app.clone()), key)? {
        Some(value) => Ok(Some(value)),
        None => ctx.store.property(plugin, &Scope::Global, key),
    }
}

/// Takes the app's deploy lock, failing as Dokku does when it is held.
pub fn deploy_lock(ctx: &Context, app: &AppName) -> Result<DeployLock> {
    match DeployLock::try_acquire(&ctx.store.deploy_lock_path(app))? {
        Ok(lock) => Ok(lock),
        Err(DeployLockError::Busy) => {
            ctx.out.warn(format!(
                "{app} currently has a deploy lock in place. Exiting..."
            ))?;
            Err(Error::fail(
                "Run 'apps:unlock' to release the existing deploy lock",
            ))
        }
        Err(DeployLockError::Manual) => {
            ctx.out.warn(format!("{app} is locked with apps:lock."))?;
            Err(Error::fail("Run 'apps:unlock' to allow deploys again"))
        }
    }
}

/// `receive-app APP [REV]`: build REV (default: the deploy branch) and
/// release it.
fn trigger_receive_app(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let _lock = deploy_lock(ctx, &app)?;
    let repo = AppRepo::open(&ctx.store.app_dir(&app))?;
    let rev = match args.get(1) {
        Some(rev) => rev.clone(),
        None => {
            let branch =
                property(ctx, "git", &app, "deploy-branch")?.unwrap_or_else(|| "master".into());
            format!("refs/heads/{branch}")
        }
    };
    let commit = repo
        .commit_id(&rev)
        .map_err(|_| Error::fail(format!("App {app} has no code to build: push it first")))?;
    let sha = commit.to_string();

    keep_app_files(ctx, &app, &repo, commit)?;
    record_git_rev(ctx, &app, &sha)?;

    let selected = property(ctx, "builder", &app, "selected")?.unwrap_or_default();
    if !selected.is_empty() && selected != "dockerfile" {
        return Err(Error::fail(format!(
            "Builder {selected} is not available: berth builds apps from a Dockerfile (builder:set {app} selected dockerfile)"
        )));
    }
    let dockerfile = property(ctx, "builder-dockerfile", &app, "dockerfile-path")?
        .unwrap_or_else(|| "Dockerfile".into());
    if repo.file(commit, &dockerfile)?.is_none() {
        return Err(Error::fail(format!(
            "No {dockerfile} found in {}: berth builds apps from a Dockerfile",
            &sha[..7]
        )));
    }

    ctx.out.info1(format!("Building {app} from Dockerfile"))?;
    ctx.fire("pre-build", &["dockerfile", app.as_str(), ""])?;
    let engine = Engine::connect()?;
    let tag = deploy_tag(&sha);
    let image = format!("dokku/{app}");
    let labels = HashMap::from([
        ("com.dokku.app-name".to_string(), app.to_string()),
        (
            "com.dokku.builder-type".to_string(),
            "dockerfile".to_string(),
        ),
        ("com.dokku.image-stage".to_string(), "build".to_string()),
        ("dokku".to_string(), String::new()),
    ]);
    let request = BuildRequest {
        context: repo.tree_tar(commit)?,
        dockerfile,
        tag: format!("{image}:{tag}"),
        labels,
        // Config vars as build args: a Dockerfile sees one only when it
        // declares it (`ARG KEY`), so nothing leaks into other images.
        build_args: ctx.store.merged_env(&app)?.into_iter().collect(),
    };
    engine.build(request, &mut |text| {
        // Config vars a Dockerfile does not declare with ARG are expected.
        if text.contains("[Warning] One or more build-args") {
            return Ok(());
        }
        ctx.out.raw(text.as_bytes())
    })?;
    engine.tag(&format!("{image}:{tag}"), &image, "latest")?;
    ctx.fire("post-build", &["dockerfile", app.as_str(), ""])?;
    ctx.out.info1(format!("Releasing {app}..."))?;
    ctx.fire("release-and-deploy", &[app.as_str(), &tag])?;
    Ok(String::new())
}

/// `<first 7 of sha>-<unix time>`: unique per deploy, sortable by time.
fn deploy_tag(sha: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("{}-{now}", &sha[..7])
}

/// Keeps the commit's Procfile and app.json where Dokku keeps them
/// (`data/ps/<app>/Procfile`, `data/app-json/<app>/app.json`). A broken
/// Procfile fails the deploy before the build.
fn keep_app_files(ctx: &Context, app: &AppName, repo: &AppRepo, commit: git2::Oid) -> Result<()> {
    let scope = Scope::App(app.clone());
    let procfile_path =
        property(ctx, "ps", app, "procfile-path")?.unwrap_or_else(|| "Procfile".into());
    let kept = ctx.store.data_dir("ps", &scope).join("Procfile");
    match repo.file(commit, &procfile_path)? {
        Some(bytes) => {
            Procfile::parse(&String::from_utf8_lossy(&bytes))?;
            write_atomic(&kept, &bytes, FILE_MODE)?;
        }
        None => {
            remove_file(&kept)?;
        }
    }
    // The app's own nginx template, used by the proxy on its next rebuild.
    let template_path = property(ctx, "nginx", app, "nginx-conf-sigil-path")?
        .unwrap_or_else(|| "nginx.conf.hbs".into());
    let kept = ctx
        .store
        .data_dir("nginx-vhosts", &scope)
        .join("nginx.conf.hbs");
    match repo.file(commit, &template_path)? {
        Some(bytes) => write_atomic(&kept, &bytes, FILE_MODE)?,
        None => {
            remove_file(&kept)?;
        }
    }
    let appjson_path =
        property(ctx, "app-json", app, "appjson-path")?.unwrap_or_else(|| "app.json".into());
    let kept = ctx.store.data_dir("app-json", &scope).join("app.json");
    match repo.file(commit, &appjson_path)? {
        Some(bytes) => {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| Error::fail(format!("Invalid app.json: {e}")))?;
            write_atomic(&kept, &bytes, FILE_MODE)?;
        }
        None => {
            remove_file(&kept)?;
        }
    }
    Ok(())
}

/// Sets `GIT_REV` (or the `rev-env-var` property's name; empty disables it)
/// without a restart: the deploy that follows carries it.
fn record_git_rev(ctx: &Context, app: &AppName, sha: &str) -> Result<()> {
    let name = property(ctx, "git", app, "rev-env-var")?.unwrap_or_else(|| "GIT_REV".into());
    if name.is_empty() || !crate::dotenv::is_valid_key(&name) {
        return Ok(());
    }
    let scope = Scope::App(app.clone());
    let _lock = ctx.store.lock(&scope)?;
    let mut env = ctx.store.env(&scope)?;
    env.insert(name, sha.to_string());
    ctx.store.write_env(&scope, &env)
}
