//! Dokku's `repo` plugin: housekeeping of an app's repository.
//!
//! `repo:gc` runs the real `git gc --aggressive` (argv) in the app's bare
//! repository, under the deploy lock so no push or build reads it
//! meanwhile. `repo:purge-cache` empties `$DOKKU_ROOT/<app>/cache` (where
//! Dokku's builders keep their cache) and removes the app's dangling build
//! images; the engine's layer cache is shared by every app and left alone.

use crate::args::AppArg;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::plugins::{Command, Plugin};

pub static PLUGIN: Plugin = Plugin {
    name: "repo",
    description: "Manage the app's repository",
    default_command: None,
    commands: &[
        Command {
            name: "repo:gc",
            usage: "<app>",
            description: "Runs 'git gc --aggressive' against the application's repo",
            run: gc,
        },
        Command {
            name: "repo:purge-cache",
            usage: "<app>",
            description: "Deletes the contents of the build cache stored in the repository",
            run: purge_cache,
        },
    ],
    triggers: &[],
};

fn gc(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("repo:gc", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let _lock = ctx.deploy_lock(&app)?;
    ctx.out
        .info1(format!("Collecting garbage in {app}'s repository"))?;
    let dir = ctx.store.app_dir(&app);
    let status = crate::repo::git_in(&dir)?
        .arg("--git-dir")
        .arg(&dir)
        .args(["gc", "--aggressive", "--quiet"])
        .status()
        .map_err(|e| Error::fail(format!("Unable to run git gc: {e}")))?;
    if !status.success() {
        return Err(Error::fail(format!("git gc failed in {app}'s repository")));
    }
    Ok(())
}

fn purge_cache(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("repo:purge-cache", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let _lock = ctx.deploy_lock(&app)?;
    let cache = ctx.store.app_dir(&app).join("cache");
    match std::fs::read_dir(&cache) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.at("Unable to remove", &path)?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).at("Unable to read", &cache),
    }
    let engine = Engine::connect()?;
    let mut images = 0;
    for id in engine.dangling_images(&[("com.dokku.app-name", app.as_str())])? {
        engine.remove_image(&id)?;
        images += 1;
    }
    ctx.out.info1(format!(
        "Purged the build cache of {app} ({images} dangling build image(s) removed)"
    ))
}
