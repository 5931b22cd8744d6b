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
use crate::docker_args::BuildOptions;
use crate::engine::{BuildRequest, Engine};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::procfile::Procfile;
use crate::property_set::{self, Property, Reach};
use crate::release_files;
use crate::repo::AppRepo;
use crate::store::Scope;

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
    ctx.store.app_property(plugin, app, key)
}

/// `receive-app APP [REV]`: build REV (default: the deploy branch) and
/// release it.
fn trigger_receive_app(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let _lock = ctx.deploy_lock(&app)?;
    let repo = AppRepo::open(&ctx.store.app_dir(&app))?;
    let rev = match args.get(1) {
        Some(rev) => rev.clone(),
        None => {
            // The git plugin owns the deploy branch and its default.
            let branch = ctx.fire("git-deploy-branch", &[app.as_str()])?;
            format!("refs/heads/{}", branch.trim())
        }
    };
    let commit = repo
        .commit_id(&rev)
        .map_err(|_| Error::fail(format!("App {app} has no code to build: push it first")))?;
    let sha = commit.to_string();

    let tag = deploy_tag(&sha);
    stage_release_files(ctx, &app, &repo, commit, &tag)?;
    let released = build_and_release(ctx, &app, &repo, commit, &sha, &tag);
    if released.is_err() {
        // Promoted files belong to the release that runs; staged ones to
        // this failed attempt.
        release_files::discard(&ctx.store, &app, &tag)?;
    }
    released.map(|()| String::new())
}

/// Builds `commit` as `dokku/<app>:<tag>` and releases it.
fn build_and_release(
    ctx: &Context,
    app: &AppName,
    repo: &AppRepo,
    commit: git2::Oid,
    sha: &str,
    tag: &str,
) -> Result<()> {
    let app = app.clone();
    record_git_rev(ctx, &app, sha)?;

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
            &sha[..7.min(sha.len())]
        )));
    }

    ctx.fire("pre-receive-app", &[app.as_str(), "dockerfile", "", sha])?;
    ctx.out.info1(format!("Building {app} from Dockerfile"))?;
    ctx.fire("pre-build", &["dockerfile", app.as_str(), ""])?;
    let engine = Engine::connect()?;
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
    // Plugins' build options; config vars come first so a plugin's
    // --build-arg wins.
    let options = BuildOptions::from_plugins(ctx, &[app.as_str(), "dockerfile"])?;
    // Config vars as build args: a Dockerfile sees one only when it
    // declares it (`ARG KEY`), so nothing leaks into other images.
    let mut build_args: HashMap<String, String> = ctx.store.merged_env(&app)?.into_iter().collect();
    build_args.extend(options.build_args);
    let mut labels = labels;
    labels.extend(options.labels);
    let request = BuildRequest {
        context: repo.tree_tar(commit)?,
        dockerfile,
        tag: format!("{image}:{tag}"),
        labels,
        build_args,
        no_cache: options.no_cache,
        pull: options.pull,
        network: options.network,
        target: options.target,
    };
    engine.build(request, &mut |text| {
        // Config vars a Dockerfile does not declare with ARG are expected.
        if text.contains("[Warning] One or more build-args") {
            return Ok(());
        }
        ctx.out.raw(text.as_bytes())
    })?;
    let built = format!("{image}:{tag}");
    ctx.fire("pre-release-builder", &["dockerfile", app.as_str(), &built])?;
    ctx.fire(
        "post-release-builder",
        &["dockerfile", app.as_str(), &built],
    )?;
    engine.tag(&built, &image, "latest")?;
    record_detected_ports(ctx, &engine, &app, &built)?;
    ctx.fire("post-build", &["dockerfile", app.as_str(), ""])?;
    ctx.out.info1(format!("Releasing {app}..."))?;
    ctx.fire("release-and-deploy", &[app.as_str(), tag])?;
    Ok(())
}

/// Records the port maps the image's `EXPOSE` implies, once per build as
/// Dokku does (the ports plugin keeps them for every later deploy,
/// restart and scale).
fn record_detected_ports(ctx: &Context, engine: &Engine, app: &AppName, image: &str) -> Result<()> {
    let info = engine
        .image(image)?
        .ok_or_else(|| Error::fail(format!("Image {image} not found after the build")))?;
    let exposed = info
        .config
        .and_then(|c| c.exposed_ports)
        .unwrap_or_default();
    let mut maps: Vec<String> = exposed.iter().filter_map(|p| detected_map(p)).collect();
    maps.sort();
    let mut args = vec![app.as_str()];
    args.extend(maps.iter().map(String::as_str));
    ctx.fire("ports-set-detected", &args)?;
    Ok(())
}

/// Dokku's detection of one `EXPOSE`d port: `p` → `http:p:p`, 443 →
/// `https:443:443`, `p/udp` → `udp:p:p`.
fn detected_map(exposed: &str) -> Option<String> {
    let (port, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
    let port: u16 = port.parse().ok()?;
    Some(match (protocol, port) {
        ("udp", _) => format!("udp:{port}:{port}"),
        (_, 443) => "https:443:443".to_string(),
        _ => format!("http:{port}:{port}"),
    })
}

/// `<first 7 of sha>-<unix time>`: unique per deploy, sortable by time.
fn deploy_tag(sha: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("{}-{now}", &sha[..7])
}

/// Stages the commit's Procfile, app.json and nginx.conf.hbs for the
/// release `tag` (see [`crate::release_files`]). A broken Procfile or
/// app.json fails the deploy before the build.
fn stage_release_files(
    ctx: &Context,
    app: &AppName,
    repo: &AppRepo,
    commit: git2::Oid,
    tag: &str,
) -> Result<()> {
    let path_of = |plugin: &str, key: &str, default: &str| -> Result<String> {
        Ok(property(ctx, plugin, app, key)?.unwrap_or_else(|| default.into()))
    };
    let procfile = repo.file(commit, &path_of("ps", "procfile-path", "Procfile")?)?;
    if let Some(bytes) = &procfile {
        Procfile::parse(&String::from_utf8_lossy(bytes))?;
    }
    let app_json = repo.file(commit, &path_of("app-json", "appjson-path", "app.json")?)?;
    if let Some(bytes) = &app_json {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .map_err(|e| Error::fail(format!("Invalid app.json: {e}")))?;
    }
    let template = repo.file(
        commit,
        &path_of("nginx", "nginx-conf-sigil-path", "nginx.conf.hbs")?,
    )?;
    release_files::stage(
        &ctx.store,
        app,
        tag,
        release_files::PROCFILE,
        procfile.as_deref(),
    )?;
    release_files::stage(
        &ctx.store,
        app,
        tag,
        release_files::APP_JSON,
        app_json.as_deref(),
    )?;
    release_files::stage(
        &ctx.store,
        app,
        tag,
        release_files::NGINX_TEMPLATE,
        template.as_deref(),
    )
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
