//! Dokku's `apps` plugin: creating, listing, renaming, cloning and
//! destroying apps, their deploy lock, and `apps:report`.
//!
//! Properties: `config/apps/<app>/{created-at,deploy-source,deploy-source-metadata}`,
//! `config/apps/--global/disable-autocreation`.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;

use crate::app_name::{AppName, NO_NAME};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};
use crate::store::atomic::{FILE_MODE, write_atomic};
use crate::store::lock::{DeployLock, DeployLockStatus, MANUAL_LOCK};
use crate::store::{Scope, atomic};

pub static PLUGIN: Plugin = Plugin {
    name: "apps",
    description: "Manage apps",
    default_command: Some("apps:list"),
    commands: &[
        Command {
            name: "apps:clone",
            usage: "[--skip-deploy] [--ignore-existing] <old-app> <new-app>",
            description: "Clones an app",
            run: clone,
        },
        Command {
            name: "apps:create",
            usage: "<app>",
            description: "Create a new app",
            run: create,
        },
        Command {
            name: "apps:destroy",
            usage: "<app>",
            description: "Permanently destroy an app",
            run: destroy,
        },
        Command {
            name: "apps:exists",
            usage: "<app>",
            description: "Checks if an app exists",
            run: exists,
        },
        Command {
            name: "apps:list",
            usage: "[--format stdout|json]",
            description: "List your apps",
            run: list,
        },
        Command {
            name: "apps:lock",
            usage: "<app>",
            description: "Locks an app for deployment",
            run: lock,
        },
        Command {
            name: "apps:locked",
            usage: "<app>",
            description: "Checks if an app is locked for deployment",
            run: locked,
        },
        Command {
            name: "apps:rename",
            usage: "[--skip-deploy] <old-app> <new-app>",
            description: "Rename an app",
            run: rename,
        },
        Command {
            name: "apps:report",
            usage: "[<app>] [<flag>]",
            description: "Display report about an app",
            run: report,
        },
        Command {
            name: "apps:set",
            usage: "[--global|<app>] <key> <value>",
            description: "Set or clear an apps property for an app",
            run: set,
        },
        Command {
            name: "apps:unlock",
            usage: "<app>",
            description: "Unlocks an app for deployment",
            run: unlock,
        },
    ],
    triggers: &[
        ("app-maybe-create", trigger_app_maybe_create),
        ("deploy-source-set", trigger_deploy_source_set),
    ],
};

const PROPERTIES: &[Property] = &[Property {
    name: "disable-autocreation",
    reach: Reach::GlobalOnly,
    validate: Some(validate_bool),
}];

fn validate_bool(value: &str) -> Result<()> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value specified: {value} (valid: true, false)"
        ))),
    }
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct AppArg {
    #[arg(allow_hyphen_values = true)]
    app: Option<String>,
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long, default_value = "stdout")]
    format: String,
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct CopyArgs {
    #[arg(long)]
    skip_deploy: bool,
    #[arg(long)]
    ignore_existing: bool,
    old: Option<String>,
    new: Option<String>,
}

fn create(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("apps:create", &args)?;
    let app = AppName::new_app(args.app.as_deref().ok_or_else(|| Error::fail(NO_NAME))?)?;
    ctx.out.info1(format!("Creating {app}..."))?;
    create_app(ctx, &app)
}

/// Creates an app: its folder, `created-at`, then `post-create`. Shared by
/// `apps:create` and `apps:clone`.
fn create_app(ctx: &Context, app: &AppName) -> Result<()> {
    if ctx.store.app_exists(app) {
        return Err(Error::fail("Name is already taken"));
    }
    ctx.store.create_app_dir(app)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    ctx.store.set_property(
        "apps",
        &Scope::App(app.clone()),
        "created-at",
        &now.to_string(),
    )?;
    ctx.fire("post-create", &[app.as_str()])?;
    Ok(())
}

fn destroy(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("apps:destroy", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    if !ctx.flags.force {
        ctx.out.confirm(&format!("app {app}"), app.as_str())?;
    }
    ctx.out
        .info1(format!("Destroying {app} (including all add-ons)"))?;
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    ctx.fire("pre-delete", &[app.as_str()])?;
    ctx.store.remove_app(&app)?;
    ctx.fire("post-delete", &[app.as_str()])?;
    Ok(())
}

fn exists(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("apps:exists", &args)?;
    ctx.existing_app(args.app.as_deref()).map(drop)
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = crate::args::parse("apps:list", &args)?;
    // A `user` key sees the apps its access lists open to it.
    let apps = crate::access::usable_apps(ctx, ctx.store.apps()?)?;
    match args.format.as_str() {
        "json" => {
            let names: Vec<&str> = apps.iter().map(AppName::as_str).collect();
            ctx.out
                .line(serde_json::to_string(&names).expect("strings serialise"))
        }
        "stdout" => {
            if apps.is_empty() {
                return ctx.out.warn("You haven't deployed any applications yet");
            }
            ctx.out.info2("My Apps")?;
            apps.iter().try_for_each(|app| ctx.out.line(app.as_str()))
        }
        other => Err(Error::fail(format!(
            "Invalid format specified: {other} (valid: json, stdout)"
        ))),
    }
}

fn lock(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("apps:lock", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    write_atomic(
        &ctx.store.deploy_lock_path(&app),
        MANUAL_LOCK.as_bytes(),
        FILE_MODE,
    )?;
    ctx.out.info1("Deploy lock created")
}

fn unlock(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("apps:unlock", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let path = ctx.store.deploy_lock_path(&app);
    if path.exists() {
        ctx.out.warn("A deploy may be in progress.")?;
        ctx.out
            .warn("Removing the app lock will not stop in progress deploys.")?;
    }
    match atomic::remove_file(&path) {
        Ok(true) => ctx.out.info1("Deploy lock removed"),
        _ => Err(Error::fail("Unable to remove deploy lock")),
    }
}

fn locked(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("apps:locked", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    if DeployLock::status(&ctx.store.deploy_lock_path(&app))? != DeployLockStatus::Free {
        ctx.out.line_quiet("Deploy lock exists")
    } else {
        Err(Error::fail("Deploy lock does not exist"))
    }
}

/// The two names of `apps:rename` / `apps:clone`: an existing app and a free,
/// valid new name.
fn old_and_new(ctx: &Context, args: &CopyArgs) -> Result<(AppName, AppName)> {
    let old = ctx.existing_app(args.old.as_deref())?;
    let new = args
        .new
        .as_deref()
        .ok_or_else(|| Error::fail("Please specify an new app name"))?;
    Ok((old, AppName::new_app(new)?))
}

fn rename(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: CopyArgs = crate::args::parse("apps:rename", &args)?;
    let (old, new) = old_and_new(ctx, &args)?;
    if ctx.store.app_exists(&new) {
        return Err(Error::fail("Name is already taken"));
    }
    ctx.out.info1(format!("Renaming {old} to {new}"))?;
    {
        let _lock = ctx.store.lock(&Scope::App(old.clone()))?;
        ctx.fire("post-app-rename-setup", &[old.as_str(), new.as_str()])?;
        ctx.store.rename_app(&old, &new)?;
    }
    // Unlocked: the lock file moved with the app, and the rebuild this may
    // start locks the new name's state (the same file) itself.
    ctx.fire("post-app-rename", &[old.as_str(), new.as_str()])?;
    Ok(())
}

/// Properties a clone does not inherit: its own creation time and deploy
/// source belong to the new app.
const NOT_CLONED: &[&str] = &["apps"];

fn clone(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: CopyArgs = crate::args::parse("apps:clone", &args)?;
    let (old, new) = old_and_new(ctx, &args)?;
    if ctx.store.app_exists(&new) {
        if args.ignore_existing {
            return ctx.out.warn("Name is already taken");
        }
        return Err(Error::fail("Name is already taken"));
    }
    ctx.out.info1(format!("Cloning {old} to {new}"))?;
    ctx.out.info1(format!("Creating {new}..."))?;
    create_app(ctx, &new)?;
    ctx.store.copy_app_config(&old, &new, NOT_CLONED)?;
    ctx.fire("post-app-clone-setup", &[old.as_str(), new.as_str()])?;
    ctx.fire("post-app-clone", &[old.as_str(), new.as_str()])?;
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "apps", PROPERTIES, args)
}

/// `app-maybe-create APP`: a push to an unknown app creates it, unless
/// auto-creation is disabled globally. Silent on stdout: during a push,
/// stdout carries git's protocol.
fn trigger_app_maybe_create(ctx: &Context, args: &[String]) -> Result<String> {
    let app = AppName::lookup(
        args.first()
            .map(String::as_str)
            .ok_or_else(|| Error::fail(NO_NAME))?,
    )?;
    if ctx.store.app_exists(&app) {
        return Ok(String::new());
    }
    let app = AppName::new_app(app.as_str())?;
    let disabled = ctx
        .store
        .property("apps", &Scope::Global, "disable-autocreation")?;
    if disabled.as_deref() == Some("true") {
        ctx.out.warn("App auto-creation disabled.")?;
        return Err(Error::fail(format!(
            "Re-enable app auto-creation or create an app with 'dokku apps:create {app}'"
        )));
    }
    create_app(ctx, &app)?;
    Ok(String::new())
}

/// `deploy-source-set APP TYPE METADATA`: where the running code came from.
fn trigger_deploy_source_set(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let scope = Scope::App(app);
    let get = |i: usize| args.get(i).map_or("", String::as_str);
    ctx.store
        .set_property("apps", &scope, "deploy-source", get(1))?;
    ctx.store
        .set_property("apps", &scope, "deploy-source-metadata", get(2))?;
    Ok(String::new())
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "apps:report",
        title: "app",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => report_rows(ctx, app),
        report::Target::Global => Ok(vec![(
            "--app-global-disable-autocreation".into(),
            global_autocreation(ctx)?,
        )]),
    })
}

fn global_autocreation(ctx: &Context) -> Result<String> {
    Ok(ctx
        .store
        .property("apps", &Scope::Global, "disable-autocreation")?
        .unwrap_or_default())
}

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let scope = Scope::App(app.clone());
    let prop = |key: &str| -> Result<String> {
        Ok(ctx.store.property("apps", &scope, key)?.unwrap_or_default())
    };
    let global_autocreation = global_autocreation(ctx)?;
    Ok(vec![
        ("--app-created-at".into(), prop("created-at")?),
        ("--app-deploy-source".into(), prop("deploy-source")?),
        (
            "--app-deploy-source-metadata".into(),
            prop("deploy-source-metadata")?,
        ),
        (
            "--app-dir".into(),
            ctx.store.app_dir(app).display().to_string(),
        ),
        (
            "--app-locked".into(),
            (DeployLock::status(&ctx.store.deploy_lock_path(app))? != DeployLockStatus::Free)
                .to_string(),
        ),
        (
            "--app-global-disable-autocreation".into(),
            global_autocreation,
        ),
    ])
}
