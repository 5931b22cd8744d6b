//! Who may run what. Every command passes [`authorize`] before it runs,
//! in this order:
//!
//! 1. berth's internal commands (`server`, `healthcheck`, `git-hook`) are
//!    never run for an SSH client;
//! 2. Dokku's root-only commands ([`needs_admin`]) need the `admin` role
//!    (root's command line, or an `admin` key);
//! 3. a `user` key is held to the apps' access lists ([`acl`]);
//! 4. an enabled plugin that implements `user-auth` is asked, as Dokku's
//!    `dokku_auth` does, for every command and every git operation.
//!
//! A refusal says why (` !     ssh-keys:add requires the admin role`),
//! exits 1 and changes nothing.

pub mod acl;

use crate::app_name::AppName;
use crate::authorized_keys::Role;
use crate::caller::Caller;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::external;

/// Commands berth runs for itself: the platform process, its health
/// check, and the hook git runs inside an already authorised push. None
/// of them is for SSH clients.
pub const INTERNAL: &[&str] = &["server", "healthcheck", "git-hook"];

/// How a command reached the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// argv: typed locally, or sent over SSH.
    Argv,
    /// The pre-receive hook of a push that was authorised as
    /// `git-receive-pack`.
    Hook,
    /// `plugn trigger …` from a plugin executable: the plugin runs inside
    /// a command that was authorised, and fires triggers as its code says.
    Plugin,
}

/// Dokku's root-only commands (its dispatcher refuses them to the
/// `dokku` user every SSH command runs as): `plugin:*` but reading the
/// list, `ssh-keys:add` and `ssh-keys:remove`; berth adds its own:
/// `ssh-keys:set` (roles), changing access lists, the audit log, and what
/// acts on the whole installation rather than on an app — the proxy
/// (`nginx:start/stop`), shared networks (`network:create/destroy`), trace
/// mode, and the credentials and hosts every `git:sync` uses.
pub fn needs_admin(command: &str) -> bool {
    match command {
        "plugin:list" | "plugin:installed" | "plugin:help" => false,
        c if c.starts_with("plugin:") => true,
        "ssh-keys:add" | "ssh-keys:remove" | "ssh-keys:set" => true,
        "acl:add" | "acl:remove" => true,
        "nginx:start" | "nginx:stop" => true,
        "network:create" | "network:destroy" | "network:rebuildall" => true,
        "trace:on" | "trace:off" => true,
        "git:auth" | "git:allow-host" | "git:generate-deploy-key" => true,
        "events" => true,
        c => c.starts_with("events:"),
    }
}

/// May the caller of `ctx` run `command args`? See the module doc.
pub fn authorize(ctx: &Context, command: &str, args: &[String], entry: Entry) -> Result<()> {
    if entry != Entry::Argv {
        return Ok(());
    }
    let caller = ctx.caller()?;
    if INTERNAL.contains(&command) {
        return if caller.is_remote() {
            Err(Error::fail(format!(
                "{command} is berth's own command: it cannot be run over SSH"
            )))
        } else {
            Ok(())
        };
    }
    let Some(role) = caller.role() else {
        return Err(Error::fail(
            "This key was removed from the key store: log in again with an authorised key",
        ));
    };
    if role != Role::Admin && needs_admin(command) {
        return Err(Error::fail(format!("{command} requires the admin role")));
    }
    if let Caller::Key { name, .. } = caller
        && role == Role::User
    {
        check_lists(ctx, name, command, args)?;
    }
    user_auth(ctx, command, args)
}

/// Refuses a file named on the server when the command came over SSH: a
/// client may hand berth a file only on stdin, never make it read one of
/// the server's (`usage` shows how to pipe it).
pub fn refuse_server_file(ctx: &Context, command: &str, usage: &str) -> Result<()> {
    if ctx.caller()?.is_remote() {
        return Err(Error::fail(format!(
            "Over SSH {command} reads stdin only, not a file on the server: pipe it, as in ssh dokku@HOST {usage}"
        )));
    }
    Ok(())
}

/// The apps of `apps` the caller may see and use (what `apps:list`
/// shows): all of them but for a `user` key.
pub fn usable_apps(ctx: &Context, apps: Vec<AppName>) -> Result<Vec<AppName>> {
    match ctx.caller()? {
        Caller::Key {
            name,
            role: Some(Role::User),
            ..
        } => {
            let settings = acl::Settings::load(&ctx.store)?;
            let mut usable = Vec::new();
            for app in apps {
                if acl::permits(&ctx.store, &settings, &app, name)? {
                    usable.push(app);
                }
            }
            Ok(usable)
        }
        Caller::Key { role: None, .. } => Ok(Vec::new()),
        _ => Ok(apps),
    }
}

/// dokku-acl's rules for a `user` key.
fn check_lists(ctx: &Context, user: &str, command: &str, args: &[String]) -> Result<()> {
    let settings = acl::Settings::load(&ctx.store)?;
    let listed = |list: &Option<Vec<String>>| {
        list.as_ref()
            .is_some_and(|l| l.iter().any(|c| c == command))
    };
    if settings.super_user.as_deref() == Some(user) || listed(&settings.user_commands) {
        return Ok(());
    }
    let restricted = settings.user_commands.is_some() || settings.per_app_commands.is_some();
    let apps = named_apps(ctx, command, args);
    if apps.is_empty() {
        if let Some(super_user) = &settings.super_user
            && creates_app(command)
        {
            return Err(Error::fail(format!(
                "User {user} may not create apps: only {super_user} (DOKKU_SUPER_USER) may use apps without an access list"
            )));
        }
        if restricted {
            return Err(not_allowed(user, command));
        }
        return Ok(());
    }
    for app in &apps {
        if !acl::permits(&ctx.store, &settings, app, user)? {
            return Err(Error::fail(format!(
                "User {user} does not have permissions to run {command} on {app}, or {app} does not exist"
            )));
        }
    }
    if restricted && !listed(&settings.per_app_commands) {
        return Err(not_allowed(user, command));
    }
    Ok(())
}

fn not_allowed(user: &str, command: &str) -> Error {
    Error::fail(format!(
        "User {user} may not run {command} (not in DOKKU_ACL_USER_COMMANDS or DOKKU_ACL_PER_APP_COMMANDS)"
    ))
}

/// The existing apps the arguments name: every one must be open to the
/// user, whatever position it has, so no argument order lets a command
/// reach an app its caller may not use.
fn named_apps(ctx: &Context, command: &str, args: &[String]) -> Vec<AppName> {
    let git = command.starts_with("git-");
    let mut apps: Vec<AppName> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| {
            if git {
                AppName::from_git_path(a).ok()
            } else {
                AppName::lookup(a).ok()
            }
        })
        .filter(|app| ctx.store.app_exists(app))
        .collect();
    apps.sort();
    apps.dedup();
    apps
}

/// Commands that create an app when it does not exist.
fn creates_app(command: &str) -> bool {
    matches!(command, "apps:create" | "git-receive-pack" | "apps:clone")
}

/// Dokku's `dokku_auth`: when an enabled plugin implements `user-auth`,
/// the command is first offered to it as `user-auth SSH_USER SSH_NAME
/// COMMAND ARGS...`; a non-zero exit denies it.
fn user_auth(ctx: &Context, command: &str, args: &[String]) -> Result<()> {
    if !ctx.external_answers("user-auth") {
        return Ok(());
    }
    let (user, name) = external::asker();
    // git names the app as a path (`'/demo'`, `demo.git`); Dokku hands
    // user-auth the app itself.
    let mut args = args.to_vec();
    if command.starts_with("git-")
        && let Some(app) = args.first().and_then(|a| AppName::from_git_path(a).ok())
    {
        args[0] = app.to_string();
    }
    let mut words: Vec<&str> = vec![&user, &name, command];
    words.extend(args.iter().map(String::as_str));
    ctx.fire("user-auth", &words)
        .map(drop)
        .map_err(|_| Error::fail("Access denied"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dokkus_root_only_commands_need_an_admin() {
        for command in [
            "plugin:install",
            "plugin:set",
            "plugin:trigger",
            "plugin:uninstall",
            "ssh-keys:add",
            "ssh-keys:remove",
            "ssh-keys:set",
            "acl:add",
            "events:off",
        ] {
            assert!(needs_admin(command), "{command}");
        }
        for command in [
            "plugin:list",
            "plugin:installed",
            "ssh-keys:list",
            "apps:create",
            "config:set",
            "acl:list",
            "git-receive-pack",
        ] {
            assert!(!needs_admin(command), "{command}");
        }
    }
}
