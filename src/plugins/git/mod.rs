//! Dokku's `git` plugin: each app's bare repository, `git push` (through
//! `git-receive-pack`), the pre-receive hook that deploys the deploy branch,
//! and `git:*`.
//!
//! Properties: `config/git/<app|--global>/{deploy-branch,rev-env-var,keep-git-dir,source-image}`.

pub mod remote;
mod sources;

use std::io::BufRead;
use std::os::unix::process::CommandExt;

use crate::app_name::{AppName, NO_NAME};
use crate::args::AppArg;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::repo::AppRepo;
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "git",
    description: "Manage app deploys via git",
    default_command: None,
    commands: &[
        Command {
            name: "git:allow-host",
            usage: "<host>",
            description: "Adds a host to known_hosts",
            run: remote::allow_host,
        },
        Command {
            name: "git:auth",
            usage: "<host> [<username> <password>]",
            description: "Configures netrc authentication for a given git server",
            run: remote::auth,
        },
        Command {
            name: "git:auth-status",
            usage: "<host> [<username> <password>]",
            description: "Reports whether the netrc entry matches the requested state",
            run: remote::auth_status,
        },
        Command {
            name: "git:from-archive",
            usage: "[--archive-type tar|tar.gz|zip] <app> <archive-path|-->",
            description: "Updates an app's git repository with a given archive file and builds it",
            run: sources::from_archive,
        },
        Command {
            name: "git:from-image",
            usage: "[--build-dir DIRECTORY] <app> <docker-image> [<git-username> <git-email>]",
            description: "Updates a Dockerfile-based app's git repository with a given image and builds it",
            run: sources::from_image,
        },
        Command {
            name: "git:generate-deploy-key",
            usage: "",
            description: "Generates a deploy ssh key",
            run: remote::generate_deploy_key,
        },
        Command {
            name: "git:initialize",
            usage: "<app>",
            description: "Initialize a git repository for an app",
            run: initialize,
        },
        Command {
            name: "git:load-image",
            usage: "[--build-dir DIRECTORY] <app> <docker-image> [<git-username> <git-email>]",
            description: "Updates an app's git repository with a docker image loaded from stdin",
            run: sources::load_image,
        },
        Command {
            name: "git:public-key",
            usage: "",
            description: "Outputs the dokku public deploy key",
            run: remote::public_key,
        },
        Command {
            name: "git:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a git report for one or more apps",
            run: report,
        },
        Command {
            name: "git:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear a git property for an app",
            run: set,
        },
        Command {
            name: "git:status",
            usage: "<app>",
            description: "Show the working tree status for an app",
            run: status,
        },
        Command {
            name: "git:sync",
            usage: "[--build|--build-if-changes] <app> <repository> [<git-ref>]",
            description: "Clone or fetch an app from remote git repo",
            run: sources::sync,
        },
        Command {
            name: "git:unlock",
            usage: "<app> [--force]",
            description: "Removes the ref locks an interrupted push left, for a new deployment",
            run: unlock,
        },
    ],
    triggers: &[
        ("git-deploy-branch", trigger_deploy_branch),
        ("post-create", trigger_post_create),
    ],
};

/// Commands git and the hook run; not listed in help, as in Dokku.
pub static INTERNAL: &[Command] = &[
    Command {
        name: "git-hook",
        usage: "<app>",
        description: "Deploy pushed refs (run by the pre-receive hook)",
        run: hook,
    },
    Command {
        name: "git-receive-pack",
        usage: "'<app>'",
        description: "Receive a push",
        run: receive_pack,
    },
    Command {
        name: "git-upload-pack",
        usage: "'<app>'",
        description: "Serve a fetch",
        run: upload_pack,
    },
];

const PROPERTIES: &[Property] = &[
    Property {
        name: "deploy-branch",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_branch),
    },
    Property {
        name: "keep-git-dir",
        reach: Reach::AppAndGlobal,
        validate: None,
    },
    Property {
        name: "rev-env-var",
        reach: Reach::AppAndGlobal,
        validate: None,
    },
    Property {
        name: "archive-max-size",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_count),
    },
    Property {
        name: "archive-max-files",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_count),
    },
    Property {
        name: "archive-max-ratio",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_count),
    },
    Property {
        name: "source-image",
        reach: Reach::AppOnly,
        validate: None,
    },
];

const DEFAULT_BRANCH: &str = "master";

/// The archive limits: a positive whole number.
fn validate_count(value: &str) -> Result<()> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value specified: {value} (a positive whole number)"
        ))),
    }
}

fn validate_branch(branch: &str) -> Result<()> {
    let ok = !branch.starts_with('-')
        && !branch.contains("..")
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::fail(format!("Invalid branch name: {branch}")))
    }
}

/// `git-deploy-branch APP`: the branch a deploy of APP builds.
fn trigger_deploy_branch(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(format!("{}\n", deploy_branch(ctx, &app)?))
}

fn trigger_post_create(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    AppRepo::init(&ctx.store.app_dir(&app))?;
    Ok(String::new())
}

fn initialize(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("git:initialize", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    AppRepo::init(&ctx.store.app_dir(&app))?;
    ctx.out
        .info1(format!("Initializing git repository for {app}"))
}

/// `git-receive-pack '<app>'`: creates the app when missing, then becomes
/// the real `git receive-pack` on its repository.
fn receive_pack(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: GitPath = crate::args::parse("git-receive-pack", &args)?;
    serve_git(ctx, &args, "receive-pack")
}

/// What git asks for: the repository path, as the client wrote it
/// (`'demo'`, `/demo.git`).
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct GitPath {
    path: Option<String>,
}

impl GitPath {
    fn app(&self) -> Result<AppName> {
        AppName::from_git_path(self.path.as_deref().ok_or_else(|| Error::fail(NO_NAME))?)
    }
}

/// `git-upload-pack '<app>'` (a fetch or clone) of an existing app:
/// `git-pre-pull APP`, the real `git upload-pack`, then `git-post-pull
/// APP`. Their stdout is captured: stdout carries the pack protocol.
fn upload_pack(ctx: &Context, args: Vec<String>) -> Result<()> {
    // A fetch reads: it never creates the app it names.
    let args: GitPath = crate::args::parse("git-upload-pack", &args)?;
    let app = args.app()?;
    let app = ctx.existing_app(Some(app.as_str()))?;
    let dir = ctx.store.app_dir(&app);
    ctx.fire("git-pre-pull", &[app.as_str()])?;
    let status = crate::repo::git_in(&dir)?
        .arg("upload-pack")
        .arg(&dir)
        .status()
        .map_err(|e| Error::fail(format!("Unable to run git upload-pack: {e}")))?;
    ctx.fire("git-post-pull", &[app.as_str()])?;
    match status.code() {
        Some(0) => Ok(()),
        code => Err(Error::Silent(code.unwrap_or(1))),
    }
}

/// The app a git command names, created when missing, with its repository.
fn prepare_repo(ctx: &Context, path: &GitPath) -> Result<(AppName, std::path::PathBuf)> {
    let app = path.app()?;
    ctx.fire("app-maybe-create", &[app.as_str()])?;
    let dir = ctx.store.app_dir(&app);
    AppRepo::init(&dir)?;
    Ok((app, dir))
}

/// `git:status <app>`: berth's repositories are bare (nothing is checked
/// out), so the status is the deploy branch and the commit it points at.
fn status(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: crate::args::AppArg = crate::args::parse("git:status", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let branch = deploy_branch(ctx, &app)?;
    ctx.out.line(format!("On branch {branch}"))?;
    let head = AppRepo::open(&ctx.store.app_dir(&app)).and_then(|repo| {
        let commit = repo.commit_id(&format!("refs/heads/{branch}"))?;
        Ok(format!("{commit} {}", repo.summary(commit)))
    });
    match head {
        Ok(line) => ctx.out.line(line),
        Err(_) => ctx.out.line("No commits yet"),
    }
}

/// `git:unlock <app> [--force]`: removes the ref locks an interrupted push
/// left (with `--force`, every ref lock, however new).
fn unlock(ctx: &Context, args: Vec<String>) -> Result<()> {
    // `--force` is one of Dokku's global flags.
    let force = ctx.flags.force;
    let args: crate::args::AppArg = crate::args::parse("git:unlock", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let cutoff = if force {
        std::time::SystemTime::now() + std::time::Duration::from_secs(1)
    } else {
        stale_ref_lock_cutoff()
    };
    let removed = AppRepo::remove_stale_ref_locks(&ctx.store.app_dir(&app), cutoff)?;
    ctx.out
        .info1(format!("Removed {removed} ref lock file(s) of {app}"))
}

/// Age past which a ref lock file is a crash's leftover.
const STALE_REF_LOCK: std::time::Duration = std::time::Duration::from_secs(60);

/// Ref locks modified before this are leftovers: older than
/// [`STALE_REF_LOCK`], or (under `berth server`) older than the server
/// itself — a lock the previous boot's push held when the platform was
/// killed, which no process of this boot can still own.
fn stale_ref_lock_cutoff() -> std::time::SystemTime {
    let now = std::time::SystemTime::now();
    let by_age = now.checked_sub(STALE_REF_LOCK).unwrap_or(now);
    let started = std::env::var(crate::runtime_dir::SERVER_STARTED_VAR)
        .ok()
        .and_then(|secs| secs.parse().ok())
        .map(|secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
    started.map_or(by_age, |started| by_age.max(started))
}

fn serve_git(ctx: &Context, path: &GitPath, service: &str) -> Result<()> {
    let (app, dir) = prepare_repo(ctx, path)?;
    if service == "receive-pack" {
        let removed = AppRepo::remove_stale_ref_locks(&dir, stale_ref_lock_cutoff())?;
        if removed > 0 {
            ctx.out.warn(format!(
                "Removed {removed} ref lock file(s) an interrupted push left in {app}"
            ))?;
        }
    }
    if service == "receive-pack" && crate::store::atomic::state_owner().is_some() {
        // git writes the pushed objects and refs as this process's user;
        // they become the state user's once it is done, as everything
        // else berth writes (git keeps stdin/stdout: the pack protocol).
        let status = crate::repo::git_in(&dir)?
            .arg(service)
            .arg(&dir)
            .status()
            .map_err(|e| Error::fail(format!("Unable to run git {service}: {e}")))?;
        for part in [
            "objects",
            "refs",
            "logs",
            "info",
            "packed-refs",
            "FETCH_HEAD",
        ] {
            let path = dir.join(part);
            if path.symlink_metadata().is_ok() {
                crate::store::atomic::give_tree_to_state_user(&path)?;
            }
        }
        return match status.code() {
            Some(0) => Ok(()),
            code => Err(Error::Silent(code.unwrap_or(1))),
        };
    }
    // exec: git owns stdin/stdout from here (they carry the pack protocol).
    let err = crate::repo::git_in(&dir)?.arg(service).arg(&dir).exec();
    Err(Error::fail(format!("Unable to run git {service}: {err}")))
}

/// The deploy branch: the app's, else the global one, else `master`.
/// `None` when neither is set (the first push then records its branch).
fn configured_branch(ctx: &Context, app: &AppName) -> Result<Option<String>> {
    ctx.store.app_property("git", app, "deploy-branch")
}

/// The branch a deploy moves: the configured one, else `master`.
pub(crate) fn deploy_branch(ctx: &Context, app: &AppName) -> Result<String> {
    Ok(configured_branch(ctx, app)?.unwrap_or_else(|| DEFAULT_BRANCH.to_string()))
}

/// `git-hook <app>`: reads `old new ref` lines from the pre-receive hook's
/// stdin and deploys the deploy branch. A failed deploy exits non-zero, so
/// git rejects the push and the ref stays where it was.
fn hook(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("git-hook", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let stdin = std::io::stdin();
    let lines: Vec<String> = stdin
        .lock()
        .lines()
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::fail(format!("Unable to read pushed refs: {e}")))?;
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(_old), Some(new), Some(refname)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        if new.bytes().all(|b| b == b'0') {
            continue; // a deleted ref deploys nothing
        }
        // Every pushed ref, deploy branch or not, as Dokku's git-hook does.
        ctx.fire("receive-branch", &[app.as_str(), new, refname])?;
        let Some(branch) = refname
            .strip_prefix("refs/heads/")
            .or_else(|| refname.strip_prefix("refs/tags/"))
        else {
            continue;
        };
        match configured_branch(ctx, &app)? {
            None => {
                if branch != DEFAULT_BRANCH {
                    ctx.out.info1(format!("Set {branch} as deploy-branch"))?;
                }
                ctx.store
                    .set_property("git", &Scope::App(app.clone()), "deploy-branch", branch)?;
            }
            Some(deploy) if deploy == branch => {}
            Some(deploy) => {
                ctx.out.info1(format!(
                    "WARNING: deploy did not complete, you must push to {deploy}."
                ))?;
                continue;
            }
        }
        ctx.fire("receive-app", &[app.as_str(), new])?;
        ctx.fire("deploy-source-set", &[app.as_str(), "git-push", ""])?;
    }
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "git", PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "git:report",
        title: "git",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => report_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, "git", LAYERED),
    })
}

/// The properties with an app value, a global value and a default.
const LAYERED: &[(&str, &str)] = &[
    ("deploy-branch", DEFAULT_BRANCH),
    ("keep-git-dir", "false"),
    ("rev-env-var", "GIT_REV"),
];

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let scope = Scope::App(app.clone());
    let get = |scope: &Scope, key: &str| -> Result<String> {
        Ok(ctx.store.property("git", scope, key)?.unwrap_or_default())
    };
    let dir = ctx.store.app_dir(app);
    let (sha, updated) = match AppRepo::open(&dir) {
        Ok(repo) => {
            let branch = deploy_branch(ctx, app)?;
            let sha = repo
                .commit_id(&format!("refs/heads/{branch}"))
                .map(|id| id.to_string())
                .unwrap_or_default();
            let updated = std::fs::metadata(dir.join("refs/heads").join(&branch))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs().to_string())
                .unwrap_or_default();
            (sha, updated)
        }
        Err(_) => (String::new(), String::new()),
    };
    let mut rows = Vec::new();
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property("git", app, key)?;
        rows.extend(report::layered_rows("git", key, &values, default));
    }
    rows.push(("--git-source-image".into(), get(&scope, "source-image")?));
    rows.push(("--git-sha".into(), sha));
    rows.push(("--git-last-updated-at".into(), updated));
    Ok(rows)
}
