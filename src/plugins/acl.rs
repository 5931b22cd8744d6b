//! The community `dokku-acl` plugin's commands, built in: per-app access
//! lists of SSH key names (see [`crate::access::acl`] for the rules and
//! the settings). Changing a list needs the `admin` role; reading one
//! does not.

use clap::Parser;

use crate::access::acl;
use crate::authorized_keys::valid_name;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};

pub static PLUGIN: Plugin = Plugin {
    name: "acl",
    description: "Restrict which SSH keys may push to and manage each app",
    default_command: None,
    commands: &[
        Command {
            name: "acl:add",
            usage: "<app> <user>",
            description: "Allow <user> to access <app>",
            run: add,
        },
        Command {
            name: "acl:allowed",
            usage: "<user>",
            description: "List apps the user has access to",
            run: allowed,
        },
        Command {
            name: "acl:list",
            usage: "<app>",
            description: "Show list of users with access to <app>",
            run: list,
        },
        Command {
            name: "acl:remove",
            usage: "<app> <user>",
            description: "Revoke <user>'s access to <app>",
            run: remove,
        },
    ],
    triggers: &[],
};

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct AppUser {
    app: Option<String>,
    user: Option<String>,
}

/// The app (which must exist) and a valid key name.
fn app_and_user(
    ctx: &Context,
    command: &str,
    args: &[String],
) -> Result<(crate::app_name::AppName, String)> {
    let args: AppUser = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let user = args.user.filter(|u| !u.is_empty()).ok_or_else(|| {
        Error::fail(format!(
            "Please specify a user, ie: dokku {command} {app} <user>"
        ))
    })?;
    if !valid_name(&user) {
        return Err(Error::fail(format!(
            "Invalid user {user:?}: an SSH key name (letters, digits, '.', '_', '@' and '-')"
        )));
    }
    Ok((app, user))
}

fn add(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, user) = app_and_user(ctx, "acl:add", &args)?;
    if acl::add(&ctx.store, &app, &user)? {
        ctx.out.info1(format!("Allowed {user} to access {app}"))
    } else {
        ctx.out.info1(format!("{user} already has access to {app}"))
    }
}

fn remove(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, user) = app_and_user(ctx, "acl:remove", &args)?;
    if !acl::remove(&ctx.store, &app, &user)? {
        return Err(Error::fail(format!(
            "{user} is not in the access list of {app}"
        )));
    }
    ctx.out.info1(format!("Revoked {user}'s access to {app}"))
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppUser = crate::args::parse("acl:list", &args)?;
    if args.user.is_some() {
        return Err(Error::fail("acl:list takes one app"));
    }
    let app = ctx.existing_app(args.app.as_deref())?;
    for user in acl::users(&ctx.store, &app)? {
        ctx.out.line(user)?;
    }
    Ok(())
}

/// `acl:allowed <user>`.
#[derive(Parser)]
#[command(disable_help_flag = true)]
struct UserArg {
    user: Option<String>,
}

fn allowed(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: UserArg = crate::args::parse("acl:allowed", &args)?;
    let user = args
        .user
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::fail("Please specify a user, ie: dokku acl:allowed <user>"))?;
    let settings = acl::Settings::load(&ctx.store)?;
    for app in ctx.store.apps()? {
        if acl::permits(&ctx.store, &settings, &app, &user)? {
            ctx.out.line(app.as_str())?;
        }
    }
    Ok(())
}
