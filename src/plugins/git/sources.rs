//! Deploys that do not come from a push: `git:from-image`,
//! `git:from-archive` and `git:sync`. Each makes or fetches a commit,
//! deploys it, and only then moves the deploy branch to it.

use std::io::Read;

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::repo::{AppRepo, NewFile};
use crate::store::Scope;

use super::deploy_branch;
use crate::archive::{self, Content, Kind, Limits};

/// Builds and releases `commit`, then moves the deploy branch to it and
/// records where it came from.
fn deploy_commit(
    ctx: &Context,
    app: &AppName,
    repo: &AppRepo,
    commit: git2::Oid,
    source: &str,
    metadata: &str,
) -> Result<()> {
    ctx.fire("receive-app", &[app.as_str(), &commit.to_string()])?;
    repo.set_branch(&deploy_branch(ctx, app)?, commit)?;
    ctx.fire("deploy-source-set", &[app.as_str(), source, metadata])?;
    Ok(())
}

/// An image reference safe to write after `FROM`: no blanks, no newlines.
fn check_image(image: &str) -> Result<()> {
    let ok = !image.is_empty()
        && !image.starts_with('-')
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::fail(format!("Invalid image name: {image}")))
    }
}

/// The words of `[--build-dir D] <app> <image> [<user> <email>]` without
/// the option and its value (the build dir is the image's `WORKDIR`, which
/// berth already reads the release files from).
fn image_words(args: &[String]) -> Vec<&String> {
    let mut words = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--build-dir" {
            iter.next();
        } else if !arg.starts_with("--") {
            words.push(arg);
        }
    }
    words
}

/// The largest `docker image save` archive `git:load-image` reads.
const IMAGE_ARCHIVE_LIMIT: u64 = 16 << 30;

/// `git:load-image [--build-dir D] <app> <image> [<user> <email>]`: the
/// archive on stdin is loaded into the engine (streamed, size-bounded),
/// then deployed as `git:from-image` deploys the image.
pub fn load_image(ctx: &Context, args: Vec<String>) -> Result<()> {
    let words = image_words(&args);
    let app = ctx.existing_app(words.first().map(|s| s.as_str()))?;
    let image = words
        .get(1)
        .ok_or_else(|| Error::fail("Please specify a docker image"))?;
    check_image(image)?;
    let limit = std::env::var("BERTH_IMAGE_ARCHIVE_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(IMAGE_ARCHIVE_LIMIT);
    ctx.out
        .info1(format!("Loading image {image} for {app} from stdin"))?;
    let engine = crate::engine::Engine::connect()?;
    for message in engine.load_image(std::io::stdin(), limit)? {
        ctx.out.verbose(message)?;
    }
    if engine.image(image)?.is_none() {
        return Err(Error::fail(format!(
            "The archive on stdin did not contain {image}"
        )));
    }
    from_image(ctx, args)
}

/// `git:from-image [--build-dir D] <app> <image> [<user> <email>]`.
pub fn from_image(ctx: &Context, args: Vec<String>) -> Result<()> {
    let words = image_words(&args);
    let app = ctx.existing_app(words.first().map(|s| s.as_str()))?;
    let image = words
        .get(1)
        .ok_or_else(|| Error::fail("Please specify a docker image"))?;
    check_image(image)?;
    let repo = AppRepo::open(&ctx.store.app_dir(&app))?;
    let dockerfile = format!("FROM {image}\n");
    let branch = deploy_branch(ctx, &app)?;
    let files = [(
        "Dockerfile",
        NewFile::File {
            data: dockerfile.as_bytes(),
            executable: false,
        },
    )];
    let commit = repo.commit_files(&branch, files, &format!("Deploy image {image}"))?;
    ctx.store
        .set_property("git", &Scope::App(app.clone()), "source-image", image)?;
    deploy_commit(ctx, &app, &repo, commit, "docker-image", image)
}

/// `git:from-archive [--archive-type tar|tar.gz|zip] <app> <path|-->`.
/// The archive comes from stdin (`--`) or a local file.
pub fn from_archive(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut kind = None;
    let mut words = Vec::new();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--archive-type" => kind = Some(Kind::parse(&iter.next().unwrap_or_default())?),
            a if a.starts_with("--archive-type=") => {
                kind = Some(Kind::parse(&a["--archive-type=".len()..])?)
            }
            _ => words.push(arg),
        }
    }
    let app = ctx.existing_app(words.first().map(String::as_str))?;
    let source = words
        .get(1)
        .ok_or_else(|| Error::fail("Please specify an archive url or -- to read from stdin"))?;
    let limits = Limits {
        max_bytes: git_number(ctx, &app, "archive-max-size", 1_073_741_824)?,
        max_files: git_number(ctx, &app, "archive-max-files", 10_000)? as usize,
        max_ratio: git_number(ctx, &app, "archive-max-ratio", 200)?,
    };
    let input: Box<dyn Read> = if source == "--" {
        Box::new(std::io::stdin())
    } else if source.starts_with("http://") || source.starts_with("https://") {
        Box::new(std::io::Cursor::new(crate::fetch::download(
            source,
            &crate::fetch::Limits {
                max_bytes: limits.max_bytes,
                max_time: std::time::Duration::from_secs(600),
            },
        )?))
    } else if source.contains("://") {
        return Err(Error::fail(format!(
            "Unsupported archive url {source}: use http(s)://, a file path, or -- for stdin"
        )));
    } else {
        crate::access::refuse_server_file(
            ctx,
            "git:from-archive",
            "git:from-archive APP -- < app.tar",
        )?;
        Box::new(
            std::fs::File::open(source)
                .map_err(|e| Error::fail(format!("Unable to read the archive: {e}")))?,
        )
    };
    let mut input = input;
    // The kind shows in the first bytes (a tar's magic is at 257).
    let mut head = Vec::new();
    (&mut input)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| Error::fail(format!("Unable to read the archive: {e}")))?;
    let kind = match kind {
        Some(kind) => kind,
        None => Kind::sniff(&head)?,
    };
    let entries = archive::read(std::io::Cursor::new(head).chain(input), kind, &limits)?;
    let repo = AppRepo::open(&ctx.store.app_dir(&app))?;
    let files = entries.iter().map(|e| {
        let file = match &e.content {
            Content::File { data, executable } => NewFile::File {
                data,
                executable: *executable,
            },
            Content::Symlink { target } => NewFile::Symlink { target },
        };
        (e.path.as_str(), file)
    });
    let branch = deploy_branch(ctx, &app)?;
    let commit = repo.commit_files(&branch, files, "Deploy from archive")?;
    let type_name = match kind {
        Kind::Tar => "tar",
        Kind::TarGz => "tar.gz",
        Kind::Zip => "zip",
    };
    deploy_commit(ctx, &app, &repo, commit, type_name, source)
}

fn git_number(ctx: &Context, app: &AppName, key: &str, default: u64) -> Result<u64> {
    Ok(ctx
        .store
        .app_property("git", app, key)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(default))
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct SyncArgs {
    #[arg(long, conflicts_with = "build_if_changes")]
    build: bool,
    #[arg(long)]
    build_if_changes: bool,
    /// `<app> <repository> [<ref>]`.
    #[arg(num_args = 0..=3)]
    words: Vec<String>,
}

/// `git:sync [--build|--build-if-changes] <app> <repository> [<ref>]`:
/// fetches with the real git (argv only), then optionally deploys.
pub fn sync(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: SyncArgs = crate::args::parse("git:sync", &args)?;
    let (build, build_if_changes) = (args.build, args.build_if_changes);
    let words: Vec<&String> = args.words.iter().collect();
    let app = ctx.existing_app(words.first().map(|s| s.as_str()))?;
    let remote = words
        .get(1)
        .ok_or_else(|| Error::fail("Please specify a remote repository"))?;
    if remote.starts_with('-') {
        return Err(Error::fail(format!("Invalid repository: {remote}")));
    }
    let reference = words.get(2).map(|s| s.as_str());
    if let Some(r) = reference
        && (r.starts_with('-') || r.contains(':'))
    {
        return Err(Error::fail(format!("Invalid ref: {r}")));
    }
    let dir = ctx.store.app_dir(&app);
    let repo = AppRepo::open(&dir)?;
    let branch = match reference {
        Some(r) if !r.chars().all(|c| c.is_ascii_hexdigit()) || r.len() < 7 => {
            ctx.store
                .set_property("git", &Scope::App(app.clone()), "deploy-branch", r)?;
            r.to_string()
        }
        _ => deploy_branch(ctx, &app)?,
    };
    let before = repo.commit_id(&format!("refs/heads/{branch}")).ok();
    ctx.out.info1(format!("Syncing {remote} into {app}"))?;
    let status = crate::repo::git_in(&dir)?
        .envs(super::remote::fetch_env(&ctx.store))
        .arg("--git-dir")
        .arg(&dir)
        .args(["fetch", "--quiet", "--force", "--"])
        .arg(remote.as_str())
        .arg(format!(
            "{}:refs/heads/berth-sync",
            reference.unwrap_or("HEAD")
        ))
        .status()
        .map_err(|e| Error::fail(format!("Unable to run git fetch: {e}")))?;
    if !status.success() {
        return Err(Error::fail(format!("Unable to fetch {remote}")));
    }
    let fetched = repo.commit_id("refs/heads/berth-sync")?;
    let changed = before != Some(fetched);
    if build || (build_if_changes && changed) {
        deploy_commit(
            ctx,
            &app,
            &repo,
            fetched,
            "git-sync",
            &format!("{remote}#{}", reference.unwrap_or("HEAD")),
        )?;
    } else {
        repo.set_branch(&branch, fetched)?;
        ctx.fire(
            "deploy-source-set",
            &[
                app.as_str(),
                "git-sync",
                &format!("{remote}#{}", reference.unwrap_or("HEAD")),
            ],
        )?;
    }
    Ok(())
}
