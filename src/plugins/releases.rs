//! Heroku's releases on berth: every deploy that changes what runs is
//! recorded as release `vN` (its image, the app's config, the Procfile,
//! app.json and nginx template it ran with, the formation, who deployed it
//! from which commit), and `releases:rollback` deploys an earlier one again
//! through the scheduler's ordinary zero-downtime path, without a build.
//!
//! Records: `data/releases/<app>/v<N>.json` (mode 0600: they hold config
//! values), written once each, under `data/releases/<app>/.lock`.
//!
//! Images: a release names its image by id and by a tag of `dokku/<app>`.
//! After each deploy (and on `cleanup`, through `releases-prune`) the
//! images of the last `retention` releases (default 10) stay, with any
//! image a container of the app was created from; the app's other images
//! are removed. The records stay: a release whose image is gone is listed,
//! and its rollback says so.
//!
//! An app deployed before berth recorded releases (by Dokku, or an older
//! berth) gets its running containers recorded as `v1` on its first deploy
//! or `releases` command, so it can be rolled back from then on.
//!
//! Triggers answered: `pre-deploy` (that import), `post-deploy` (the
//! record and the retention), `releases-prune APP` (the retention alone).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::app_name::AppName;
use crate::context::Context;
use crate::dotenv::Env;
use crate::dynos;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::release_files::{self, ReleaseFile};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;
use crate::store::atomic::{self, FILE_MODE};
use crate::store::lock::LockGuard;

pub static PLUGIN: Plugin = Plugin {
    name: "releases",
    description: "Manage an app's releases and roll back to one",
    default_command: Some("releases:list"),
    commands: &[
        Command {
            name: "releases:info",
            usage: "<app> [<version>] [--show-values] [--format json]",
            description: "Shows one release (the current one by default)",
            run: info,
        },
        Command {
            name: "releases:list",
            usage: "<app> [--format json]",
            description: "Lists an app's releases, newest first",
            run: list,
        },
        Command {
            name: "releases:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Displays a releases report for one or more apps",
            run: report,
        },
        Command {
            name: "releases:rollback",
            usage: "<app> [<version>]",
            description: "Deploys an earlier release again (default: the previous one)",
            run: rollback,
        },
        Command {
            name: "releases:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear a releases property for an app",
            run: set,
        },
    ],
    triggers: &[
        ("post-deploy", trigger_post_deploy),
        ("pre-deploy", trigger_pre_deploy),
        ("releases-prune", trigger_prune),
    ],
};

const PLUGIN_NAME: &str = "releases";

/// How many releases keep their images when nothing says otherwise.
const DEFAULT_RETENTION: u32 = 10;

const PROPERTIES: &[Property] = &[Property {
    name: "retention",
    reach: Reach::AppAndGlobal,
    validate: Some(positive_count),
}];

const LAYERED: &[(&str, &str)] = &[("retention", "10")];

/// The tag a release's image gets when it has no tag of its own (an
/// imported `latest`, an image deployed by `deploy APP latest`).
const RELEASE_TAG_PREFIX: &str = "release-v";

/// The release a rollback in this process is deploying, so the record its
/// deploy writes says "Rollback to vN".
static ROLLBACK_OF: Mutex<Option<u32>> = Mutex::new(None);

/// One release, as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Release {
    pub version: u32,
    pub description: String,
    pub user: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// A tag of `dokku/<app>` that named the image when it was released.
    pub image: String,
    pub image_id: String,
    #[serde(default)]
    pub commit: Option<String>,
    /// The command that deployed it (`git-hook`, `config:set`, ...).
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub build_id: Option<String>,
    #[serde(default)]
    pub rollback_of: Option<u32>,
    /// The app's own config vars (not the global ones).
    pub config: BTreeMap<String, String>,
    /// `type → count`.
    pub formation: BTreeMap<String, u32>,
    #[serde(default)]
    pub procfile: Option<String>,
    #[serde(default)]
    pub app_json: Option<String>,
    #[serde(default)]
    pub nginx_template: Option<String>,
}

impl Release {
    fn name(&self) -> String {
        format!("v{}", self.version)
    }

    /// The tag part of [`Release::image`].
    fn tag(&self) -> &str {
        self.image.rsplit_once(':').map_or("", |(_, tag)| tag)
    }

    fn file(&self, file: ReleaseFile) -> Option<&str> {
        let text = if file == release_files::PROCFILE {
            &self.procfile
        } else if file == release_files::APP_JSON {
            &self.app_json
        } else {
            &self.nginx_template
        };
        text.as_deref()
    }
}

fn releases_dir(ctx: &Context, app: &AppName) -> PathBuf {
    ctx.store.data_dir(PLUGIN_NAME, &Scope::App(app.clone()))
}

fn lock(ctx: &Context, app: &AppName) -> Result<LockGuard> {
    LockGuard::acquire(&releases_dir(ctx, app).join(".lock"))
}

/// The app's releases, oldest first.
pub fn load(ctx: &Context, app: &AppName) -> Result<Vec<Release>> {
    let dir = releases_dir(ctx, app);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", &dir),
    };
    let mut releases = Vec::new();
    for entry in entries {
        let path = entry.at("Unable to list", &dir)?.path();
        let Some(version) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix('v')?.strip_suffix(".json"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let text = std::fs::read(&path).at("Unable to read", &path)?;
        let release: Release = serde_json::from_slice(&text)
            .map_err(|e| Error::fail(format!("Unable to parse release {}: {e}", path.display())))?;
        if release.version == version {
            releases.push(release);
        }
    }
    releases.sort_by_key(|r| r.version);
    Ok(releases)
}

/// Writes `release` as a new record; an existing version is never
/// overwritten.
fn save(ctx: &Context, app: &AppName, release: &Release) -> Result<()> {
    let path = releases_dir(ctx, app).join(format!("v{}.json", release.version));
    let mut text = serde_json::to_vec_pretty(release)
        .map_err(|e| Error::fail(format!("Unable to encode release: {e}")))?;
    text.push(b'\n');
    if !atomic::create_new(&path, &text, FILE_MODE)? {
        return Err(Error::fail(format!(
            "Release v{} of {app} exists already",
            release.version
        )));
    }
    Ok(())
}

// ----- recording -----

/// `pre-deploy APP TAG`: an app that runs but has no release yet gets its
/// running containers recorded as `v1` before anything replaces them.
fn trigger_pre_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    if let Err(e) = import(ctx, &app) {
        ctx.out
            .warn(format!("Unable to record the running release: {e}"))?;
    }
    Ok(String::new())
}

/// Records the running containers of an app without releases as `v1`
/// ("Imported"): their image, the config they run with, the current
/// release files and scale. Does nothing when the app has releases or
/// runs nothing.
fn import(ctx: &Context, app: &AppName) -> Result<()> {
    let _lock = lock(ctx, app)?;
    if !load(ctx, app)?.is_empty() {
        return Ok(());
    }
    let Some(id) = dynos::dynos(&ctx.store, app)?
        .first()
        .and_then(|dyno| dynos::container_id(&ctx.store, app, dyno))
    else {
        return Ok(());
    };
    let engine = Engine::connect()?;
    let Some(container) = engine.inspect_container(&id)? else {
        return Ok(());
    };
    let Some(image_id) = container.image.clone() else {
        return Ok(());
    };
    let named = container
        .config
        .as_ref()
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    let image = release_image(&engine, app, &image_id, Some(&named), 1)?;
    // The config the containers run with: their environment less what
    // berth adds per dyno, the image's own ENV and the global vars.
    let running: Env = container
        .config
        .as_ref()
        .and_then(|c| c.env.clone())
        .unwrap_or_default()
        .iter()
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let baked: HashSet<String> = engine
        .image(&image_id)?
        .and_then(|i| i.config)
        .and_then(|c| c.env)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let global = ctx.store.env(&Scope::Global)?;
    let own = ctx.store.env(&Scope::App(app.clone()))?;
    let config = running
        .into_iter()
        .filter(|(k, v)| {
            !matches!(k.as_str(), "DYNO" | "PORT")
                && !baked.contains(&format!("{k}={v}"))
                && (own.contains_key(k) || global.get(k) != Some(v))
        })
        .collect();
    let release = Release {
        description: "Imported running release".into(),
        config,
        ..snapshot(ctx, app, 1, image, image_id)?
    };
    save(ctx, app, &release)?;
    ctx.out.info1(format!(
        "Recorded the running release of {app} as v1 ({})",
        release.image
    ))
}

/// `post-deploy APP PORT IP TAG`: records the release that now runs, then
/// applies the image retention. A failure here warns: the deploy is done.
fn trigger_post_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let tag = args
        .get(3)
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    let recorded = Engine::connect().and_then(|engine| {
        record(ctx, &engine, &app, tag)?;
        prune_images(ctx, &engine, &app)
    });
    if let Err(e) = recorded {
        ctx.out.warn(format!("Unable to record the release: {e}"))?;
    }
    Ok(String::new())
}

/// The release the app runs after a deploy of `tag`: a new record unless
/// it runs the current release's image, config and files (a restart, a
/// scale).
fn record(ctx: &Context, engine: &Engine, app: &AppName, tag: &str) -> Result<()> {
    let _lock = lock(ctx, app)?;
    let releases = load(ctx, app)?;
    let reference = format!("dokku/{app}:{tag}");
    let image_id = engine
        .image(&reference)?
        .and_then(|i| i.id)
        .ok_or_else(|| Error::fail(format!("Image {reference} not found")))?;
    let version = releases.last().map_or(1, |r| r.version + 1);
    let current = releases.last();
    let preferred = current
        .filter(|c| c.image_id == image_id)
        .map(|c| c.image.clone())
        .unwrap_or(reference);
    let image = release_image(engine, app, &image_id, Some(&preferred), version)?;
    let mut release = snapshot(ctx, app, version, image, image_id)?;
    release.commit = commit_of(tag).or_else(|| {
        current
            .filter(|c| c.image_id == release.image_id)
            .and_then(|c| c.commit.clone())
    });
    let rollback_of = ROLLBACK_OF.lock().unwrap_or_else(|p| p.into_inner()).take();
    release.description = match (rollback_of, current) {
        (Some(target), _) => format!("Rollback to v{target}"),
        (None, Some(current)) if current.image_id == release.image_id => {
            if current.config != release.config {
                config_change(&current.config, &release.config)
            } else if !same_files(current, &release) {
                "Update Procfile, app.json or nginx template".into()
            } else {
                // Same image, config and files: the current release again.
                return Ok(());
            }
        }
        (None, _) => match &release.commit {
            Some(commit) => format!("Deploy {commit}"),
            None => format!("Deploy {}", release.image),
        },
    };
    release.rollback_of = rollback_of;
    save(ctx, app, &release)?;
    ctx.out.verbose_quiet(format!(
        "Release {}: {}",
        release.name(),
        release.description
    ))
}

/// Everything but the description of release `version` as the app is
/// now: the config, the release files, the formation, who and from where.
fn snapshot(
    ctx: &Context,
    app: &AppName,
    version: u32,
    image: String,
    image_id: String,
) -> Result<Release> {
    let current_file = |file| release_files::read(&ctx.store, app, None, file);
    let build = crate::build_record::current();
    Ok(Release {
        version,
        description: String::new(),
        user: user(ctx)?,
        created_at: now_rfc3339(),
        image,
        image_id,
        commit: None,
        source: build.as_ref().map(|b| b.source.clone()),
        build_id: build.map(|b| b.id),
        rollback_of: None,
        config: ctx.store.env(&Scope::App(app.clone()))?,
        formation: dynos::scale(&ctx.store, app)?.into_iter().collect(),
        procfile: current_file(release_files::PROCFILE),
        app_json: current_file(release_files::APP_JSON),
        nginx_template: current_file(release_files::NGINX_TEMPLATE),
    })
}

fn same_files(a: &Release, b: &Release) -> bool {
    a.procfile == b.procfile && a.app_json == b.app_json && a.nginx_template == b.nginx_template
}

/// Who deploys: the SSH key's name, or the local user.
fn user(ctx: &Context) -> Result<String> {
    let caller = ctx.caller()?;
    if let Some(name) = caller.key_name() {
        return Ok(name.to_string());
    }
    let uid = nix::unistd::getuid();
    Ok(nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name))
}

/// The commit of a build's tag (`<sha7>-<unix time>`).
fn commit_of(tag: &str) -> Option<String> {
    let (sha, time) = tag.split_once('-')?;
    let is_sha = sha.len() == 7 && sha.bytes().all(|b| b.is_ascii_hexdigit());
    let is_time = !time.is_empty() && time.bytes().all(|b| b.is_ascii_digit());
    (is_sha && is_time).then(|| sha.to_string())
}

/// Heroku's description of a config change: `Set A, B config vars`,
/// `Remove C config vars`, or both.
fn config_change(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> String {
    let set: Vec<&str> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.as_str())
        .collect();
    let removed: Vec<&str> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .map(String::as_str)
        .collect();
    match (set.is_empty(), removed.is_empty()) {
        (false, true) => format!("Set {} config vars", set.join(", ")),
        (true, false) => format!("Remove {} config vars", removed.join(", ")),
        _ => format!(
            "Set {} and remove {} config vars",
            set.join(", "),
            removed.join(", ")
        ),
    }
}

fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    use chrono::{Datelike, Timelike};
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// A tag of `dokku/<app>` naming image `id`: `preferred` when it is one
/// and not `latest` (which the next build moves), else one made for
/// release `version`.
fn release_image(
    engine: &Engine,
    app: &AppName,
    id: &str,
    preferred: Option<&str>,
    version: u32,
) -> Result<String> {
    let repo = format!("dokku/{app}");
    if let Some(name) = preferred
        && name.starts_with(&format!("{repo}:"))
        && !name.ends_with(":latest")
        && engine.image(name)?.and_then(|i| i.id).as_deref() == Some(id)
    {
        return Ok(name.to_string());
    }
    let tag = format!("{RELEASE_TAG_PREFIX}{version}");
    engine.tag(id, &repo, &tag)?;
    Ok(format!("{repo}:{tag}"))
}

// ----- retention -----

/// `releases-prune APP` (fired by `cleanup`): the image retention alone.
/// An app with a deploy in progress is left alone: its new image is not
/// released yet.
fn trigger_prune(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let path = ctx.store.deploy_lock_path(&app);
    let Ok(_deploying) = crate::store::lock::DeployLock::try_acquire(&path)? else {
        return Ok(String::new());
    };
    let removed = prune_images(ctx, &Engine::connect()?, &app)?;
    Ok(format!("{removed}\n"))
}

fn retention(ctx: &Context, app: &AppName) -> Result<u32> {
    Ok(ctx
        .store
        .app_property(PLUGIN_NAME, app, "retention")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_RETENTION))
}

/// Removes the images of `dokku/<app>` that neither one of the last
/// `retention` releases nor any container of the app uses. Returns how
/// many images went.
fn prune_images(ctx: &Context, engine: &Engine, app: &AppName) -> Result<usize> {
    let releases = load(ctx, app)?;
    if releases.is_empty() {
        // Nothing recorded yet (an app Dokku deployed): nothing to judge by.
        return Ok(0);
    }
    let keep_count = retention(ctx, app)? as usize;
    let mut keep: HashSet<String> = releases
        .iter()
        .rev()
        .take(keep_count)
        .map(|r| r.image_id.clone())
        .collect();
    for summary in engine.containers(&[("com.dokku.app-name", app.as_str())])? {
        keep.extend(summary.image_id);
    }
    // `latest` is what a restart deploys.
    keep.extend(
        engine
            .image(&format!("dokku/{app}:latest"))?
            .and_then(|i| i.id),
    );
    let images = engine.images_of(&format!("dokku/{app}"))?;
    let doomed = doomed_images(&images, &keep);
    for (id, tags) in &doomed {
        for tag in *tags {
            engine.remove_image(tag)?;
        }
        if tags.is_empty() {
            engine.remove_image(id)?;
        }
    }
    if !doomed.is_empty() {
        ctx.out.verbose_quiet(format!(
            "Removed {} image(s) beyond the last {keep_count} releases",
            doomed.len()
        ))?;
    }
    Ok(doomed.len())
}

/// The images (with their tags) not in `keep`.
fn doomed_images<'a>(
    images: &'a [(String, Vec<String>)],
    keep: &HashSet<String>,
) -> Vec<(&'a str, &'a [String])> {
    images
        .iter()
        .filter(|(id, _)| !keep.contains(id))
        .map(|(id, tags)| (id.as_str(), tags.as_slice()))
        .collect()
}

// ----- commands -----

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long)]
    format: Option<String>,
    app: Option<String>,
}

fn json_format(format: Option<&str>) -> Result<bool> {
    match format {
        None | Some("stdout") => Ok(false),
        Some("json") => Ok(true),
        Some(other) => Err(Error::fail(format!(
            "Invalid --format value specified: {other} (valid: json, stdout)"
        ))),
    }
}

/// The app's releases, importing the running one first if none is
/// recorded.
fn releases_of(ctx: &Context, app: &AppName) -> Result<Vec<Release>> {
    import(ctx, app)?;
    load(ctx, app)
}

/// `releases[:list] <app> [--format json]`: Heroku's columns, newest first.
fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = crate::args::parse("releases:list", &args)?;
    let json = json_format(args.format.as_deref())?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let releases = releases_of(ctx, &app)?;
    let current = releases.last().map(|r| r.version);
    if json {
        let present = present_images(&app, &releases)?;
        let list: Vec<serde_json::Value> = releases
            .iter()
            .rev()
            .map(|r| summary_json(r, Some(r.version) == current, present.contains(&r.image_id)))
            .collect();
        return ctx.out.line(serde_json::Value::from(list).to_string());
    }
    match current {
        Some(v) => ctx.out.info2(format!("{app} releases - current: v{v}"))?,
        None => {
            ctx.out.info2(format!("{app} releases"))?;
            return ctx.out.verbose(format!("{app} has no releases yet"));
        }
    }
    let mut table = vec![vec![
        "Version".to_string(),
        "Description".to_string(),
        "User".to_string(),
        "Created".to_string(),
    ]];
    for r in releases.iter().rev() {
        table.push(vec![
            r.name(),
            r.description.clone(),
            r.user.clone(),
            r.created_at.clone(),
        ]);
    }
    for line in crate::output::columns(&table) {
        ctx.out.line(line)?;
    }
    Ok(())
}

/// The image ids among `releases` the engine still has.
fn present_images(app: &AppName, releases: &[Release]) -> Result<HashSet<String>> {
    if releases.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(Engine::connect()?
        .images_of(&format!("dokku/{app}"))?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

fn summary_json(r: &Release, current: bool, image_present: bool) -> serde_json::Value {
    serde_json::json!({
        "version": r.version,
        "description": r.description,
        "user": r.user,
        "created_at": r.created_at,
        "current": current,
        "image": r.image,
        "image_id": r.image_id,
        "image_present": image_present,
        "commit": r.commit,
        "source": r.source,
        "build_id": r.build_id,
        "rollback_of": r.rollback_of,
        "formation": r.formation,
        "config_keys": r.config.keys().collect::<Vec<_>>(),
    })
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct InfoArgs {
    #[arg(long)]
    format: Option<String>,
    #[arg(long)]
    show_values: bool,
    app: Option<String>,
    version: Option<String>,
}

/// `vN` or `N`, as a release number.
fn parse_version(text: &str) -> Result<u32> {
    text.strip_prefix('v')
        .unwrap_or(text)
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| {
            Error::fail(format!(
                "Invalid release specified: {text} (use a version such as v3)"
            ))
        })
}

fn find<'a>(app: &AppName, releases: &'a [Release], version: u32) -> Result<&'a Release> {
    releases
        .iter()
        .find(|r| r.version == version)
        .ok_or_else(|| {
            let known = match (releases.first(), releases.last()) {
                (Some(first), Some(last)) => format!("v{}..v{}", first.version, last.version),
                _ => "none".into(),
            };
            Error::fail(format!(
                "Release v{version} not found for {app} (releases: {known})"
            ))
        })
}

/// `releases:info <app> [<version>] [--show-values] [--format json]`.
fn info(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: InfoArgs = crate::args::parse("releases:info", &args)?;
    let json = json_format(args.format.as_deref())?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let wanted = args.version.as_deref().map(parse_version).transpose()?;
    let releases = releases_of(ctx, &app)?;
    let current = releases
        .last()
        .ok_or_else(|| Error::fail(format!("{app} has no releases yet: deploy it first")))?;
    let release = match wanted {
        Some(version) => find(&app, &releases, version)?,
        None => current,
    };
    let is_current = release.version == current.version;
    let present = present_images(&app, std::slice::from_ref(release))?.contains(&release.image_id);
    if json {
        let mut value = summary_json(release, is_current, present);
        if args.show_values {
            value["config"] = serde_json::json!(release.config);
        }
        return ctx.out.line(value.to_string());
    }
    let formation: Vec<String> = release
        .formation
        .iter()
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect();
    let or_none = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = [
        ("Version", release.name()),
        ("Description", release.description.clone()),
        ("User", release.user.clone()),
        ("Created", release.created_at.clone()),
        ("Current", is_current.to_string()),
        (
            "Image",
            format!(
                "{} ({})",
                release.image,
                if present { "present" } else { "removed" }
            ),
        ),
        ("Commit", or_none(&release.commit)),
        ("Source", or_none(&release.source)),
        ("Build", or_none(&release.build_id)),
        ("Formation", formation.join(" ")),
        ("Procfile", present_word(release.procfile.is_some())),
        ("App json", present_word(release.app_json.is_some())),
        (
            "Config",
            if args.show_values {
                String::new()
            } else {
                release.config.keys().cloned().collect::<Vec<_>>().join(" ")
            },
        ),
    ];
    ctx.out.info2(format!("{app} {}", release.name()))?;
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    for (key, value) in rows {
        ctx.out
            .verbose(format!("{:width$}{value}", format!("{key}:")).trim_end())?;
    }
    if args.show_values {
        for (key, value) in &release.config {
            ctx.out.verbose(format!("  {key}={value}"))?;
        }
    }
    Ok(())
}

fn present_word(present: bool) -> String {
    if present { "yes" } else { "no" }.to_string()
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct RollbackArgs {
    app: Option<String>,
    version: Option<String>,
}

/// `releases:rollback <app> [<version>]`: deploys that release's image with
/// its config, release files and formation, through the scheduler's
/// zero-downtime deploy; the result is a new release "Rollback to vN". If
/// the deploy fails, the app's config and scale are put back and the
/// current release keeps serving.
fn rollback(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: RollbackArgs = crate::args::parse("releases:rollback", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let wanted = args.version.as_deref().map(parse_version).transpose()?;
    let _deploy = ctx.deploy_lock(&app)?;
    let releases = releases_of(ctx, &app)?;
    let current = releases
        .last()
        .ok_or_else(|| Error::fail(format!("{app} has no releases yet: deploy it first")))?;
    let target = match wanted {
        Some(version) => find(&app, &releases, version)?,
        None => releases.iter().rev().nth(1).ok_or_else(|| {
            Error::fail(format!(
                "{app} has only one release, {}: nothing to roll back to",
                current.name()
            ))
        })?,
    };
    if target.version == current.version {
        return Err(Error::fail(format!(
            "{} is the current release of {app}",
            target.name()
        )));
    }
    let engine = Engine::connect()?;
    let tag = rollback_tag(ctx, &engine, &app, target)?;

    ctx.out.info1(format!(
        "Rolling back {app} to {} ({})",
        target.name(),
        target.description
    ))?;
    let undo = apply_settings(ctx, &app, target, &tag)?;
    *ROLLBACK_OF.lock().unwrap_or_else(|p| p.into_inner()) = Some(target.version);
    let deployed = ctx.fire("deploy", &[app.as_str(), &tag]);
    ROLLBACK_OF.lock().unwrap_or_else(|p| p.into_inner()).take();
    let switched = ctx.fire("deployed-app-image-tag", &[app.as_str()])?.trim() == tag;
    if let Err(e) = deployed {
        if !switched {
            undo.restore(ctx, &app, target)?;
            release_files::discard(&ctx.store, &app, &tag)?;
            ctx.out.warn(e.to_string())?;
            return Err(Error::fail(format!(
                "Rollback to {} failed: {} keeps serving",
                target.name(),
                current.name()
            )));
        }
        // The rolled-back containers serve; a step after the switch (a
        // postdeploy task, a plugin) failed, maybe before the release was
        // recorded.
        finish_rollback(ctx, &engine, &app, &tag, target, current)?;
        return Err(Error::fail(format!(
            "{app} runs {} again, but a step after the switch failed: {e}",
            target.name()
        )));
    }
    let now = finish_rollback(ctx, &engine, &app, &tag, target, current)?;
    ctx.out
        .info1(format!("Rolled back {app} to {} as {now}", target.name()))
}

/// After the switch of a rollback: `latest` names what runs now (the next
/// restart or config change deploys it), and the rollback is recorded.
/// Returns the new release's name.
fn finish_rollback(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    tag: &str,
    target: &Release,
    current: &Release,
) -> Result<String> {
    engine.tag(
        &format!("dokku/{app}:{tag}"),
        &format!("dokku/{app}"),
        "latest",
    )?;
    let recorded = load(ctx, app)?
        .last()
        .is_some_and(|r| r.version > current.version);
    if !recorded {
        *ROLLBACK_OF.lock().unwrap_or_else(|p| p.into_inner()) = Some(target.version);
        record(ctx, engine, app, tag)?;
    }
    Ok(load(ctx, app)?
        .last()
        .map_or_else(String::new, Release::name))
}

/// The tag to deploy `target` by: its own, made again from its image id
/// if the tag moved or went; an error that changes nothing when the image
/// itself is gone.
fn rollback_tag(ctx: &Context, engine: &Engine, app: &AppName, target: &Release) -> Result<String> {
    let repo = format!("dokku/{app}");
    let ours = target.image.starts_with(&format!("{repo}:"));
    let tagged = engine.image(&target.image)?.and_then(|i| i.id);
    if ours && tagged.as_deref() == Some(target.image_id.as_str()) {
        return Ok(target.tag().to_string());
    }
    if ours && engine.image(&target.image_id)?.is_some() {
        engine.tag(&target.image_id, &repo, target.tag())?;
        return Ok(target.tag().to_string());
    }
    Err(Error::fail(format!(
        "The image of {} ({}) is no longer on this host: {app} keeps the images of its last {} releases (releases:set {app} retention N). Deploy that commit again instead",
        target.name(),
        target.image,
        retention(ctx, app)?
    )))
}

/// What a rollback changed before its deploy, to put back if it fails.
struct Settings {
    env: Env,
    scale: Option<String>,
}

/// Gives the app `target`'s config and formation and stages its release
/// files for `tag`; if one of those fails, what was changed is put back.
fn apply_settings(ctx: &Context, app: &AppName, target: &Release, tag: &str) -> Result<Settings> {
    let scope = Scope::App(app.clone());
    let saved = {
        let _env = ctx.store.lock(&scope)?;
        let saved = Settings {
            env: ctx.store.env(&scope)?,
            scale: ctx.store.property("ps", &scope, "scale")?,
        };
        ctx.store.write_env(&scope, &target.config)?;
        saved
    };
    let applied = (|| {
        if !target.formation.is_empty() {
            let pairs: Vec<(String, u32)> = target
                .formation
                .iter()
                .map(|(kind, n)| (kind.clone(), *n))
                .collect();
            dynos::write_scale(&ctx.store, app, &pairs)?;
        }
        for file in [
            release_files::PROCFILE,
            release_files::APP_JSON,
            release_files::NGINX_TEMPLATE,
        ] {
            release_files::stage(
                &ctx.store,
                app,
                tag,
                file,
                target.file(file).map(str::as_bytes),
            )?;
        }
        Ok(())
    })();
    match applied {
        Ok(()) => Ok(saved),
        Err(e) => {
            saved.restore(ctx, app, target)?;
            release_files::discard(&ctx.store, app, tag)?;
            Err(e)
        }
    }
}

impl Settings {
    /// Puts the config and scale back, unless a command changed them
    /// since the rollback wrote them (a `config:set` waiting for the
    /// deploy lock): that change stands.
    fn restore(self, ctx: &Context, app: &AppName, target: &Release) -> Result<()> {
        let scope = Scope::App(app.clone());
        let _env = ctx.store.lock(&scope)?;
        if ctx.store.env(&scope)? == target.config {
            ctx.store.write_env(&scope, &self.env)?;
        } else {
            ctx.out
                .warn("The config changed during the rollback: it is left as it is now")?;
        }
        let formation: Vec<(String, u32)> = target
            .formation
            .iter()
            .map(|(kind, n)| (kind.clone(), *n))
            .collect();
        if !target.formation.is_empty() && dynos::scale(&ctx.store, app)? == sorted(formation) {
            ctx.store
                .set_property("ps", &scope, "scale", self.scale.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

/// `type=N` pairs in [`dynos::scale`]'s order: web first, then by name.
fn sorted(mut pairs: Vec<(String, u32)>) -> Vec<(String, u32)> {
    pairs.sort_by(|a, b| (a.0 != "web", &a.0).cmp(&(b.0 != "web", &b.0)));
    pairs
}

/// `releases:set [--global|APP] retention [N]`; the global value needs an
/// admin: it decides how many rollbacks every app keeps.
fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let parsed: crate::args::SetArgs = crate::args::parse("releases:set", &args)?;
    if parsed.global && !ctx.caller()?.is_admin() {
        return Err(Error::fail("releases:set --global requires the admin role"));
    }
    property_set::run(ctx, PLUGIN_NAME, PROPERTIES, args)
}

fn positive_count(value: &str) -> Result<()> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid retention {value}: give a number of releases, 1 or more"
        ))),
    }
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "releases:report",
        title: "releases",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => {
            let mut rows = Rows::new();
            for (key, default) in LAYERED {
                let values = ctx.store.layered_property(PLUGIN_NAME, app, key)?;
                rows.extend(report::layered_rows(PLUGIN_NAME, key, &values, default));
            }
            let releases = load(ctx, app)?;
            rows.push((
                "--releases-current".into(),
                releases.last().map(Release::name).unwrap_or_default(),
            ));
            rows.push(("--releases-count".into(), releases.len().to_string()));
            Ok(rows)
        }
        report::Target::Global => report::global_rows(ctx, PLUGIN_NAME, LAYERED),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_changes_read_as_heroku_describes_them() {
        let before = env(&[("A", "1"), ("B", "2")]);
        assert_eq!(
            config_change(&before, &env(&[("A", "1"), ("B", "3"), ("C", "4")])),
            "Set B, C config vars"
        );
        assert_eq!(
            config_change(&before, &env(&[("A", "1")])),
            "Remove B config vars"
        );
        assert_eq!(
            config_change(&before, &env(&[("A", "9")])),
            "Set A and remove B config vars"
        );
    }

    #[test]
    fn a_build_tag_names_its_commit() {
        assert_eq!(commit_of("1a2b3c4-1764770000").as_deref(), Some("1a2b3c4"));
        assert_eq!(commit_of("latest"), None);
        assert_eq!(commit_of("release-v3"), None);
        assert_eq!(commit_of("zzzzzzz-1"), None);
    }

    #[test]
    fn versions_are_read_with_or_without_the_v() {
        assert_eq!(parse_version("v3").unwrap(), 3);
        assert_eq!(parse_version("12").unwrap(), 12);
        assert!(parse_version("v0").is_err());
        assert!(parse_version("latest").is_err());
    }

    #[test]
    fn retention_keeps_what_is_listed_and_nothing_else() {
        let images = vec![
            ("sha256:a".to_string(), vec!["dokku/x:a".to_string()]),
            ("sha256:b".to_string(), vec!["dokku/x:b".to_string()]),
            ("sha256:c".to_string(), vec![]),
        ];
        let keep: HashSet<String> = ["sha256:b".to_string()].into();
        let doomed: Vec<&str> = doomed_images(&images, &keep)
            .iter()
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(doomed, ["sha256:a", "sha256:c"]);
    }
}
