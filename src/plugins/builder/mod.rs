//! Dokku's `builder` and `builder-dockerfile` plugins: from a pushed commit
//! to a tagged image.
//!
//! `receive-app APP [REV]` (fired by a push and by `ps:rebuild`) takes the
//! deploy lock, reads the commit with git2 (no checkout), keeps its
//! `Procfile` and `app.json` for the scheduler, streams the tree to the
//! engine's build API, tags `dokku/<app>:latest` and a per-deploy tag, and
//! fires `release-and-deploy APP TAG`.
//!
//! Properties: `config/builder/<app|--global>/{selected,build-dir,skip-cleanup}`,
//! `config/builder-dockerfile/<app|--global>/dockerfile-path`. With a
//! `build-dir`, that folder of the commit is the build context, and the
//! Dockerfile, Procfile, app.json and nginx template are looked up in it.

mod auto;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::app_name::AppName;
use crate::build_record;
use crate::context::Context;
use crate::docker_args::BuildOptions;
use crate::engine::{BuildRequest, Engine};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::procfile::Procfile;
use crate::property_set::{self, Property, Reach};
use crate::release_files;
use crate::repo::AppRepo;
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "builder",
    description: "Manage builder settings for an app",
    default_command: Some("builder:report"),
    commands: &[
        Command {
            name: "builder:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Displays a builder report for one or more apps",
            run: report,
        },
        Command {
            name: "builder:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear a builder property for an app",
            run: set,
        },
    ],
    triggers: &[("receive-app", trigger_receive_app)],
};

pub use auto::PLUGIN as AUTO;

/// Dokku's `builder-dockerfile` plugin: the Dockerfile's path.
pub static DOCKERFILE: Plugin = Plugin {
    name: "builder-dockerfile",
    description: "Manage the dockerfile builder integration for an app",
    default_command: Some("builder-dockerfile:report"),
    commands: &[
        Command {
            name: "builder-dockerfile:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Displays a builder-dockerfile report for one or more apps",
            run: dockerfile_report,
        },
        Command {
            name: "builder-dockerfile:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear a builder-dockerfile property for an app",
            run: dockerfile_set,
        },
    ],
    triggers: &[],
};

/// Dokku's builders and berth's `auto` (the zero-config builder):
/// `builder:set selected` takes one of these. berth runs `dockerfile` and
/// `auto`; selecting another is stored (a moved app keeps its setting) and
/// its push says what berth cannot do.
const BUILDERS: &[&str] = &[
    "auto",
    "dockerfile",
    "herokuish",
    "lambda",
    "nixpacks",
    "null",
    "pack",
    "railpack",
];

const PROPERTIES: &[Property] = &[
    Property {
        name: "build-dir",
        reach: Reach::AppAndGlobal,
        validate: Some(relative_path),
    },
    Property {
        name: "ca-bundle",
        reach: Reach::GlobalOnly,
        validate: Some(ca_bundle_file),
    },
    Property {
        name: "ca-bundle-runtime",
        reach: Reach::GlobalOnly,
        validate: Some(boolean),
    },
    Property {
        name: "selected",
        reach: Reach::AppAndGlobal,
        validate: Some(known_builder),
    },
    Property {
        name: "skip-cleanup",
        reach: Reach::AppAndGlobal,
        validate: Some(boolean),
    },
];

/// The builder properties with their defaults.
const LAYERED: &[(&str, &str)] = &[
    ("build-dir", ""),
    ("selected", ""),
    ("skip-cleanup", "false"),
];

/// The global-only properties, reported with [`LAYERED`] by `--global`.
const GLOBAL_ONLY: &[(&str, &str)] = &[("ca-bundle", ""), ("ca-bundle-runtime", "false")];

const DOCKERFILE_PROPERTIES: &[Property] = &[Property {
    name: "dockerfile-path",
    reach: Reach::AppAndGlobal,
    validate: Some(relative_path),
}];

const DOCKERFILE_LAYERED: &[(&str, &str)] = &[("dockerfile-path", "Dockerfile")];

/// A path inside the commit: never absolute, never out of it.
fn relative_path(value: &str) -> Result<()> {
    let inside = std::path::Path::new(value)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(Error::fail(format!(
            "Invalid path {value}: give a path relative to the repository root, without '..'"
        )));
    }
    Ok(())
}

/// Dokku stores any name; berth refuses a typo now rather than at the
/// next push.
fn known_builder(value: &str) -> Result<()> {
    if BUILDERS.contains(&value) {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid builder {value}, valid builders: {}",
        BUILDERS.join(", ")
    )))
}

fn boolean(value: &str) -> Result<()> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value {value}: use true or false"
        ))),
    }
}

/// The most a CA bundle may weigh (Debian's whole bundle is ~220 KB).
const CA_BUNDLE_LIMIT: u64 = 4 << 20;

/// A readable file of PEM certificates on this machine.
fn ca_bundle_file(value: &str) -> Result<()> {
    if !value.starts_with('/') {
        return Err(Error::fail(format!(
            "Invalid ca-bundle {value}: give the absolute path of a PEM file"
        )));
    }
    read_ca_bundle(value).map(drop)
}

fn read_ca_bundle(path: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::fail(format!("Unable to read the CA bundle {path}: {e}")))?;
    let bytes = crate::bounded::read_all(file, CA_BUNDLE_LIMIT, "the CA bundle")?;
    let marker = b"-----BEGIN CERTIFICATE-----";
    if !bytes.windows(marker.len()).any(|w| w == marker) {
        return Err(Error::fail(format!(
            "The CA bundle {path} holds no PEM certificate"
        )));
    }
    Ok(bytes)
}

/// The global CA bundle builds get, read now (bounded).
fn ca_bundle(ctx: &Context) -> Result<Option<Vec<u8>>> {
    let path = ctx
        .store
        .property("builder", &Scope::Global, "ca-bundle")?
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    path.map(|path| {
        read_ca_bundle(&path)
            .map_err(|e| Error::fail(format!("{e} (set by builder:set --global ca-bundle)")))
    })
    .transpose()
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    // The bundle is a file of the server: a client over SSH may not make
    // berth read one.
    let request = property_set::parse(ctx, "builder:set", args.clone())?;
    if request.key == "ca-bundle" && !request.value.is_empty() && ctx.caller()?.is_remote() {
        return Err(Error::fail(
            "builder:set ca-bundle names a file of the server: run it there (dokku builder:set --global ca-bundle PATH)",
        ));
    }
    property_set::run(ctx, "builder", PROPERTIES, args)
}

fn dockerfile_set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "builder-dockerfile", DOCKERFILE_PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "builder:report",
        title: "builder",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => {
            let mut rows = layered_rows(ctx, "builder", app, LAYERED)?;
            rows.push(("--builder-detected".into(), detected(ctx, app)?));
            Ok(rows)
        }
        report::Target::Global => {
            let mut rows = report::global_rows(ctx, "builder", LAYERED)?;
            rows.extend(report::global_rows(ctx, "builder", GLOBAL_ONLY)?);
            Ok(rows)
        }
    })
}

fn dockerfile_report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "builder-dockerfile:report",
        title: "builder-dockerfile",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => {
            layered_rows(ctx, "builder-dockerfile", app, DOCKERFILE_LAYERED)
        }
        report::Target::Global => {
            report::global_rows(ctx, "builder-dockerfile", DOCKERFILE_LAYERED)
        }
    })
}

fn layered_rows(
    ctx: &Context,
    plugin: &str,
    app: &AppName,
    properties: &[(&str, &str)],
) -> Result<Rows> {
    let mut rows = Rows::new();
    for (key, default) in properties {
        let values = ctx.store.layered_property(plugin, app, key)?;
        rows.extend(report::layered_rows(plugin, key, &values, default));
    }
    Ok(rows)
}

/// The builder detection picks for the deploy branch's head:
/// `dockerfile`, `auto`, or nothing.
fn detected(ctx: &Context, app: &AppName) -> Result<String> {
    let Some((repo, commit)) = deploy_head(ctx, app)? else {
        return Ok(String::new());
    };
    let environment = || environment(ctx, app, None);
    Ok(match choose(ctx, app, &repo, commit, environment) {
        Ok(chosen) => chosen.builder_type().to_string(),
        Err(_) => String::new(),
    })
}

/// The repository and the deploy branch's head, if it has one.
fn deploy_head(ctx: &Context, app: &AppName) -> Result<Option<(AppRepo, git2::Oid)>> {
    let Ok(repo) = AppRepo::open(&ctx.store.app_dir(app)) else {
        return Ok(None);
    };
    let branch = ctx.fire("git-deploy-branch", &[app.as_str()])?;
    let Ok(commit) = repo.commit_id(&format!("refs/heads/{}", branch.trim())) else {
        return Ok(None);
    };
    Ok(Some((repo, commit)))
}

/// What the zero-config builder would build for the deploy branch's head
/// (`builder-auto:report`).
fn current_plan(ctx: &Context, app: &AppName) -> Result<auto::Plan> {
    let (repo, commit) = deploy_head(ctx, app)?
        .ok_or_else(|| Error::fail(format!("App {app} has no code to build: push it first")))?;
    let dir = build_dir(ctx, app)?;
    let files = CommitFiles {
        repo: &repo,
        commit,
        dir: &dir,
    };
    let engine = Engine::connect().ok();
    auto::plan(ctx, app, &files, environment(ctx, app, engine.as_ref())?)?.ok_or_else(|| {
        Error::fail(format!(
            "berth's zero-config builder recognises nothing in {app}: it looked for {}",
            auto::detect::LOOKED_FOR
        ))
    })
}

/// The files of a commit's build root, for detection.
struct CommitFiles<'a> {
    repo: &'a AppRepo,
    commit: git2::Oid,
    dir: &'a str,
}

impl auto::detect::Files for CommitFiles<'_> {
    fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.repo
            .file(self.commit, &in_build_dir(self.dir, path))
            .ok()
            .flatten()
    }
}

/// How the zero-config builder's build will run; `engine` says whether
/// BuildKit is there (none: assume not).
fn environment(ctx: &Context, app: &AppName, engine: Option<&Engine>) -> Result<auto::Environment> {
    let ca_runtime = ctx
        .store
        .property("builder", &Scope::Global, "ca-bundle-runtime")?
        .is_some_and(|v| v.trim() == "true");
    Ok(auto::Environment {
        ca_bundle: ca_bundle(ctx)?,
        ca_runtime,
        buildkit: engine.is_some_and(Engine::supports_buildkit),
        config_keys: ctx.store.merged_env(app)?.into_keys().collect(),
    })
}

/// The builder of a commit, decided before anything is built.
enum Chosen {
    Dockerfile { path: String, text: Vec<u8> },
    Auto(auto::Plan),
}

impl Chosen {
    /// The `com.dokku.builder-type` label and trigger argument.
    fn builder_type(&self) -> &'static str {
        match self {
            Chosen::Dockerfile { .. } => "dockerfile",
            Chosen::Auto(_) => "auto",
        }
    }
}

/// Dokku's detection order: `builder:set selected` wins; else the
/// Dockerfile; else berth's zero-config builder when it recognises the app.
fn choose(
    ctx: &Context,
    app: &AppName,
    repo: &AppRepo,
    commit: git2::Oid,
    environment: impl FnOnce() -> Result<auto::Environment>,
) -> Result<Chosen> {
    let selected = property(ctx, "builder", app, "selected")?.unwrap_or_default();
    if !matches!(selected.as_str(), "" | "dockerfile" | "auto") {
        return Err(Error::fail(format!(
            "Builder {selected} is not available: berth runs no buildpacks or builder images. It builds from a Dockerfile (builder:set {app} selected dockerfile) or detects Python, Node.js, Go and static apps itself (builder:set {app} selected auto)"
        )));
    }
    let dir = build_dir(ctx, app)?;
    let files = CommitFiles {
        repo,
        commit,
        dir: &dir,
    };
    let dockerfile = dockerfile_path(ctx, app)?;
    if selected != "auto"
        && let Some(text) = auto::detect::Files::get(&files, &dockerfile)
    {
        return Ok(Chosen::Dockerfile {
            path: dockerfile,
            text,
        });
    }
    let short = &commit.to_string()[..7];
    if selected == "dockerfile" {
        return Err(Error::fail(format!(
            "No {dockerfile} found in {short}, and builder:set {app} selected dockerfile asks for one"
        )));
    }
    let named =
        property(ctx, "builder-dockerfile", app, "dockerfile-path")?.is_some_and(|p| !p.is_empty());
    if named && selected != "auto" {
        return Err(Error::fail(format!(
            "No {dockerfile} found in {short}, and builder-dockerfile:set {app} dockerfile-path names it"
        )));
    }
    let environment = environment()?;
    let buildpacks = if auto::detect::Files::has(&files, ".buildpacks") {
        Some(".buildpacks")
    } else if environment.config_keys.iter().any(|k| k == "BUILDPACK_URL") {
        Some("BUILDPACK_URL")
    } else {
        None
    };
    let Some(mut plan) = auto::plan(ctx, app, &files, environment)? else {
        return Err(Error::fail(format!(
            "Unable to select a builder for {short}: no {dockerfile}, and berth's zero-config builder found none of {}",
            auto::detect::LOOKED_FOR
        )));
    };
    if let Some(source) = buildpacks {
        plan.notes.insert(
            0,
            format!(
                "{source} found: berth runs no buildpacks, the {} app is built by its zero-config builder",
                plan.stack.title()
            ),
        );
    }
    Ok(Chosen::Auto(plan))
}

/// The `build-dir` property, without surrounding slashes (`""`: the root).
fn build_dir(ctx: &Context, app: &AppName) -> Result<String> {
    Ok(property(ctx, "builder", app, "build-dir")?
        .unwrap_or_default()
        .trim_matches('/')
        .to_string())
}

fn dockerfile_path(ctx: &Context, app: &AppName) -> Result<String> {
    Ok(property(ctx, "builder-dockerfile", app, "dockerfile-path")?
        .unwrap_or_else(|| "Dockerfile".into()))
}

/// `path` of the build root, as a path of the commit.
fn in_build_dir(build_dir: &str, path: &str) -> String {
    if build_dir.is_empty() {
        path.to_string()
    } else {
        format!("{build_dir}/{path}")
    }
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
    let recording = build_record::start(ctx, &app, build_record::Kind::Build)?;
    let received = receive(ctx, &app, args.get(1));
    recording.finish(&received);
    received.map(|()| String::new())
}

/// Builds `rev` of `app` and releases it, under the deploy lock.
fn receive(ctx: &Context, app: &AppName, rev: Option<&String>) -> Result<()> {
    let app = app.clone();
    let repo = AppRepo::open(&ctx.store.app_dir(&app))?;
    let rev = match rev {
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

    let engine = Engine::connect()?;
    let environment = || environment(ctx, &app, Some(&engine));
    let chosen = choose(ctx, &app, &repo, commit, environment)?;
    let tag = deploy_tag(&sha);
    let plan = match &chosen {
        Chosen::Auto(plan) => Some(plan),
        Chosen::Dockerfile { .. } => None,
    };
    stage_release_files(ctx, &app, &repo, commit, &tag, plan)?;
    // Only a push that is built records its commit: a refused one
    // changes nothing.
    let released = record_git_rev(ctx, &app, &sha)
        .and_then(|()| build_and_release(ctx, &engine, &app, &repo, commit, &sha, &tag, chosen));
    if released.is_err() {
        // Promoted files belong to the release that runs; staged ones to
        // this failed attempt.
        release_files::discard(&ctx.store, &app, &tag)?;
    }
    released
}

/// Builds `commit` as `dokku/<app>:<tag>` with the builder `chosen` and
/// releases it.
#[allow(clippy::too_many_arguments)]
fn build_and_release(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    repo: &AppRepo,
    commit: git2::Oid,
    sha: &str,
    tag: &str,
    chosen: Chosen,
) -> Result<()> {
    let app = app.clone();
    let builder = chosen.builder_type();
    ctx.fire("pre-receive-app", &[app.as_str(), builder, "", sha])?;
    match &chosen {
        Chosen::Dockerfile { .. } => ctx.out.info1(format!("Building {app} from Dockerfile"))?,
        Chosen::Auto(plan) => {
            ctx.out
                .info1(format!("Building {app} with the zero-config builder"))?;
            ctx.out
                .info1(format!("{} app detected", plan.stack.title()))?;
            for note in &plan.notes {
                ctx.out.verbose(note)?;
            }
        }
    }
    ctx.fire("pre-build", &[builder, app.as_str(), ""])?;
    let image = format!("dokku/{app}");
    let labels = HashMap::from([
        ("com.dokku.app-name".to_string(), app.to_string()),
        ("com.dokku.builder-type".to_string(), builder.to_string()),
        ("com.dokku.image-stage".to_string(), "build".to_string()),
        ("dokku".to_string(), String::new()),
    ]);
    // Plugins' build options; config vars come first so a plugin's
    // --build-arg wins.
    let options = BuildOptions::from_plugins(ctx, &[app.as_str(), builder])?;
    // Config vars as build args: a Dockerfile sees one only when it
    // declares it (`ARG KEY`), so nothing leaks into other images.
    let mut build_args: HashMap<String, String> = ctx.store.merged_env(&app)?.into_iter().collect();
    let build_dir = build_dir(ctx, &app)?;
    let (context, dockerfile, buildkit, plan) = match chosen {
        Chosen::Dockerfile { path, text } => {
            // The CA bundle reaches a Dockerfile as a context file it may
            // COPY (`ARG BERTH_CA_BUNDLE`).
            let mut extra = Vec::new();
            if let Some(ca) = ca_bundle(ctx)? {
                extra.push((auto::render::CA_FILE.to_string(), ca));
                build_args.insert("BERTH_CA_BUNDLE".into(), auto::render::CA_FILE.into());
            }
            let context = repo.tree_tar_with(commit, &build_dir, &extra)?;
            let buildkit = needs_buildkit(&text);
            (context, path, buildkit, None)
        }
        Chosen::Auto(plan) => {
            let context = repo.tree_tar_with(commit, &build_dir, &plan.context)?;
            let buildkit = needs_buildkit(plan.file.text().as_bytes());
            let dockerfile = format!("{}/Dockerfile", auto::render::CONTEXT_DIR);
            (context, dockerfile, buildkit, Some(plan))
        }
    };
    build_args.extend(options.build_args);
    let mut labels = labels;
    labels.extend(options.labels);
    let request = BuildRequest {
        context: context.into(),
        dockerfile,
        tag: format!("{image}:{tag}"),
        labels,
        build_args,
        no_cache: options.no_cache,
        pull: options.pull,
        network: options.network,
        target: options.target,
        checkpoint: Some(build_record::checkpoint),
        buildkit,
    };
    let mut announcer = plan.as_ref().map(|p| Announcer::new(&p.file));
    engine.build(request, &mut |text| {
        // Config vars a Dockerfile does not declare with ARG are expected.
        if text.contains("[Warning] One or more build-args") {
            return Ok(());
        }
        match &mut announcer {
            Some(announcer) => announcer.print(ctx, text),
            None => ctx.out.raw(text.as_bytes()),
        }
    })?;
    let built = format!("{image}:{tag}");
    ctx.fire("pre-release-builder", &[builder, app.as_str(), &built])?;
    ctx.fire("post-release-builder", &[builder, app.as_str(), &built])?;
    // `latest` is what a restart deploys: a release that fails gives it
    // back to the image that runs.
    let previous = engine.image(&format!("{image}:latest"))?.and_then(|i| i.id);
    engine.tag(&built, &image, "latest")?;
    record_detected_ports(ctx, engine, &app, &built)?;
    ctx.fire("post-build", &[builder, app.as_str(), ""])?;
    ctx.out.info1(format!("Releasing {app}..."))?;
    let released = ctx.fire("release-and-deploy", &[app.as_str(), tag]);
    // Only a release that never switched gives `latest` back: one that
    // failed after its containers took over (a postdeploy task) runs.
    if released.is_err()
        && let Some(previous) = previous
        && ctx.fire("deployed-app-image-tag", &[app.as_str()])?.trim() != tag
    {
        engine.tag(&previous, &image, "latest")?;
    }
    released.map(drop)
}

/// A Dockerfile that only BuildKit builds: `RUN --mount`, a `# syntax=`
/// line, a heredoc.
fn needs_buildkit(dockerfile: &[u8]) -> bool {
    let text = String::from_utf8_lossy(dockerfile);
    text.lines().any(|line| {
        let line = line.trim();
        let lower = line.to_ascii_lowercase();
        lower.starts_with("# syntax=")
            || lower.starts_with("#syntax=")
            || (!line.starts_with('#') && (line.contains("--mount=") || line.contains("<<")))
    })
}

/// Prints a zero-config build's output with Heroku-style `----->` lines
/// before the steps that matter, and says when a step's cached layer was
/// reused (legacy: ` ---> Using cache`; BuildKit: `#N CACHED`).
struct Announcer<'a> {
    file: &'a auto::render::BuildFile,
    /// The announced step being run: its message and BuildKit number.
    current: Option<(&'a str, Option<String>)>,
}

impl<'a> Announcer<'a> {
    fn new(file: &'a auto::render::BuildFile) -> Self {
        Announcer {
            file,
            current: None,
        }
    }

    fn print(&mut self, ctx: &Context, text: &str) -> Result<()> {
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_end();
            let buildkit_step = trimmed
                .strip_prefix('#')
                .and_then(|rest| rest.split_once(' '))
                .map(|(n, rest)| (n.to_string(), rest));
            if let Some(message) = self.file.announcement(trimmed) {
                ctx.out.info1(message)?;
                self.current = Some((message, buildkit_step.as_ref().map(|(n, _)| n.clone())));
            } else if let Some((message, step)) = self.current.clone() {
                let cached = match (&step, &buildkit_step) {
                    (None, _) => trimmed == " ---> Using cache",
                    (Some(n), Some((m, rest))) => n == m && *rest == "CACHED",
                    (Some(_), None) => false,
                };
                if step.is_none() && trimmed.starts_with("Step ") {
                    self.current = None;
                }
                if cached {
                    ctx.out.raw(line.as_bytes())?;
                    ctx.out.verbose(format!(
                        "{message}: unchanged since the last build, reusing its layer"
                    ))?;
                    continue;
                }
            }
            ctx.out.raw(line.as_bytes())?;
        }
        Ok(())
    }
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
    plan: Option<&auto::Plan>,
) -> Result<()> {
    let build_dir = build_dir(ctx, app)?;
    let path_of = |plugin: &str, key: &str, default: &str| -> Result<String> {
        let path = property(ctx, plugin, app, key)?.unwrap_or_else(|| default.into());
        Ok(in_build_dir(&build_dir, &path))
    };
    let mut procfile = repo.file(commit, &path_of("ps", "procfile-path", "Procfile")?)?;
    // A zero-config app without a Procfile gets its stack's web process,
    // as Heroku's buildpacks give one.
    if procfile.is_none()
        && let Some(plan) = plan
    {
        let web = plan.web.as_deref().ok_or_else(|| {
            Error::fail(format!(
                "No Procfile, and berth found no web process for this {} app: add a Procfile (web: COMMAND) or run builder-auto:set {app} web-command COMMAND",
                plan.stack.title()
            ))
        })?;
        procfile = Some(format!("web: {web}\n").into_bytes());
    }
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
