//! Dokku's `config` plugin: app and global environment variables, stored
//! in `config/<app|--global>/ENV` (see [`crate::dotenv`]).
//!
//! Every change runs under the scope's lock and fires
//! `post-config-update <app|--global> set|unset|clear KEYS...`.

mod export;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use clap::Parser;

use crate::bounded;
use crate::context::Context;
use crate::dotenv::{self, Env};
use crate::error::{Error, IoContext, Result};
use crate::plugins::{Command, Plugin};
use crate::store::Scope;

pub use export::{render, single_quoted};

pub static PLUGIN: Plugin = Plugin {
    name: "config",
    description: "Manage global and app-specific config vars",
    default_command: Some("config:show"),
    commands: &[
        Command {
            name: "config:bundle",
            usage: "[--merged] (<app>|--global)",
            description: "Bundle environment into tarfile",
            run: bundle,
        },
        Command {
            name: "config:clear",
            usage: "[--no-restart] (<app>|--global)",
            description: "Clears environment variables",
            run: clear,
        },
        Command {
            name: "config:export",
            usage: "[--format=FORMAT] [--merged] (<app>|--global)",
            description: "Export a global or app environment",
            run: export_command,
        },
        Command {
            name: "config:get",
            usage: "[--quoted] (<app>|--global) KEY",
            description: "Display a global or app-specific config value",
            run: get,
        },
        Command {
            name: "config:import",
            usage: "[--replace] [--no-restart] [--format=FORMAT] (<app>|--global) [FILE|-]",
            description: "Import environment variables from a file or stdin",
            run: import,
        },
        Command {
            name: "config:keys",
            usage: "[--merged] (<app>|--global)",
            description: "Show keys set in environment",
            run: keys,
        },
        Command {
            name: "config:set",
            usage: "[--encoded] [--no-restart] (<app>|--global) KEY1=VALUE1 [KEY2=VALUE2 ...]",
            description: "Set one or more config vars",
            run: set,
        },
        Command {
            name: "config:show",
            usage: "[--merged] (<app>|--global)",
            description: "Pretty-print an app or global environment",
            run: show,
        },
        Command {
            name: "config:unset",
            usage: "[--no-restart] (<app>|--global) KEY1 [KEY2 ...]",
            description: "Unset one or more config vars",
            run: unset,
        },
    ],
    triggers: &[
        ("config-export", trigger_config_export),
        ("config-get", trigger_config_get),
        ("config-get-global", trigger_config_get_global),
    ],
};

// The arguments of each command: its flags, then `(<app>|--global)` and
// what follows, as words (with `--global` there is no app word). Keys and
// `KEY=VALUE` words never start with `-`, so a word that does is a flag
// (values may: `K=-1`); `--` ends the flags.

/// `[--merged] (<app>|--global)`: `config:show`, `config:keys`,
/// `config:bundle`.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct MergedArgs {
    #[arg(long)]
    global: bool,
    #[arg(long)]
    merged: bool,
    words: Vec<String>,
}

/// `[--quoted] (<app>|--global) KEY`.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct GetArgs {
    #[arg(long)]
    global: bool,
    #[arg(long)]
    quoted: bool,
    words: Vec<String>,
}

/// `[--format=FORMAT] [--merged] (<app>|--global)`.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct ExportArgs {
    #[arg(long)]
    global: bool,
    #[arg(long)]
    merged: bool,
    #[arg(long)]
    format: Option<String>,
    words: Vec<String>,
}

/// `[--encoded] [--no-restart] (<app>|--global) KEY=VALUE…`.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct SetArgs {
    #[arg(long)]
    global: bool,
    #[arg(long)]
    encoded: bool,
    #[arg(long)]
    no_restart: bool,
    words: Vec<String>,
}

/// `[--no-restart] (<app>|--global) [KEY…]`: `config:unset` (keys) and
/// `config:clear` (none).
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct NoRestartArgs {
    #[arg(long)]
    global: bool,
    #[arg(long)]
    no_restart: bool,
    words: Vec<String>,
}

/// `[--replace] [--no-restart] [--format=FORMAT] (<app>|--global) [FILE|-]`.
#[derive(Parser, Debug)]
#[command(disable_help_flag = true)]
struct ImportArgs {
    #[arg(long)]
    global: bool,
    #[arg(long)]
    replace: bool,
    #[arg(long)]
    no_restart: bool,
    #[arg(long)]
    format: Option<String>,
    words: Vec<String>,
}

/// The scope, and the words after it; `max` of them at most (the
/// commands ignored extra words before, and refuse them now).
fn scope_and_words(
    ctx: &Context,
    global: bool,
    words: Vec<String>,
    max: Option<usize>,
) -> Result<(Scope, Vec<String>)> {
    let (scope, rest) = ctx.scope_and_rest(global, words)?;
    if let Some(extra) = max.and_then(|max| rest.get(max)) {
        return Err(Error::fail(format!("Unexpected argument: {extra}")));
    }
    Ok((scope, rest))
}

fn env_of(ctx: &Context, scope: &Scope, merged: bool) -> Result<Env> {
    match scope {
        Scope::App(app) if merged => ctx.store.merged_env(app),
        _ => ctx.store.env(scope),
    }
}

fn show(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: MergedArgs = crate::args::parse("config:show", &args)?;
    let (scope, _) = scope_and_words(ctx, a.global, a.words, Some(0))?;
    let env = env_of(ctx, &scope, a.merged)?;
    let title = scope
        .app()
        .map_or("global".to_string(), |app| app.to_string());
    ctx.out.info2(format!("{title} env vars"))?;
    export::pretty(&env, "")
        .iter()
        .try_for_each(|line| ctx.out.line(line))
}

fn get(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: GetArgs = crate::args::parse("config:get", &args)?;
    let (scope, rest) = scope_and_words(ctx, a.global, a.words, Some(1))?;
    let key = rest.first().ok_or_else(|| Error::fail("Expected: key"))?;
    match ctx.store.env(&scope)?.get(key) {
        Some(value) if a.quoted => ctx.out.line(single_quoted(value)),
        Some(value) => ctx.out.line(value),
        None => Err(Error::Silent(1)),
    }
}

fn keys(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: MergedArgs = crate::args::parse("config:keys", &args)?;
    let (scope, _) = scope_and_words(ctx, a.global, a.words, Some(0))?;
    env_of(ctx, &scope, a.merged)?
        .keys()
        .try_for_each(|key| ctx.out.line(key))
}

fn export_command(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: ExportArgs = crate::args::parse("config:export", &args)?;
    let (scope, _) = scope_and_words(ctx, a.global, a.words, Some(0))?;
    let format = a.format.as_deref().unwrap_or("exports");
    let text = render(&env_of(ctx, &scope, a.merged)?, format)?;
    ctx.out.line(text)
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: SetArgs = crate::args::parse("config:set", &args)?;
    let (scope, pairs) = scope_and_words(ctx, a.global, a.words, None)?;
    if pairs.is_empty() {
        return Err(Error::fail("At least one env pair must be given"));
    }
    let mut updates = Env::new();
    for pair in &pairs {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| Error::fail(format!("Invalid env pair: {pair}")))?;
        check_key(key)?;
        let value = if a.encoded {
            decode(key, value)?
        } else {
            value.to_string()
        };
        updates.insert(key.to_string(), value);
    }
    {
        let _lock = ctx.store.lock(&scope)?;
        let mut env = ctx.store.env(&scope)?;
        env.extend(updates.clone());
        ctx.store.write_env(&scope, &env)?;
    }
    ctx.out.info1("Setting config vars")?;
    for line in export::pretty(&updates, "       ") {
        ctx.out.line_quiet(line)?;
    }
    config_updated(ctx, &scope, a.no_restart, "set", updates.keys())
}

fn unset(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: NoRestartArgs = crate::args::parse("config:unset", &args)?;
    let (scope, keys) = scope_and_words(ctx, a.global, a.words, None)?;
    if keys.is_empty() {
        return Err(Error::fail("At least one key must be given"));
    }
    keys.iter().try_for_each(|k| check_key(k))?;
    let removed: Vec<&String> = {
        let _lock = ctx.store.lock(&scope)?;
        let mut env = ctx.store.env(&scope)?;
        let removed: Vec<&String> = keys.iter().filter(|k| env.remove(*k).is_some()).collect();
        if !removed.is_empty() {
            ctx.store.write_env(&scope, &env)?;
        }
        removed
    };
    for key in &keys {
        if removed.contains(&key) {
            ctx.out.info1(format!("Unsetting {key}"))?;
        } else {
            ctx.out
                .info1(format!("Skipping {key}, it is not set in the environment"))?;
        }
    }
    if removed.is_empty() {
        return Ok(());
    }
    config_updated(ctx, &scope, a.no_restart, "unset", removed.into_iter())
}

fn clear(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: NoRestartArgs = crate::args::parse("config:clear", &args)?;
    let (scope, _) = scope_and_words(ctx, a.global, a.words, Some(0))?;
    let old = {
        let _lock = ctx.store.lock(&scope)?;
        let old = ctx.store.env(&scope)?;
        ctx.store.write_env(&scope, &Env::new())?;
        old
    };
    for key in old.keys() {
        ctx.out.info1(format!("Unsetting {key}"))?;
    }
    config_updated(
        ctx,
        &scope,
        a.no_restart,
        "clear",
        std::iter::empty::<&String>(),
    )
}

fn import(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: ImportArgs = crate::args::parse("config:import", &args)?;
    let (scope, rest) = scope_and_words(ctx, a.global, a.words, Some(1))?;
    let source = rest.first().map_or("-", String::as_str);
    let text = if source == "-" {
        ctx.out.info1("Reading config vars from stdin")?;
        bounded::read_text(
            std::io::stdin(),
            bounded::CONFIG_IMPORT,
            "The config on stdin",
        )?
    } else {
        crate::access::refuse_server_file(ctx, "config:import", "config:import APP < .env")?;
        let path = std::path::Path::new(source);
        let file = std::fs::File::open(path).at("Unable to read", path)?;
        bounded::read_text(file, bounded::CONFIG_IMPORT, "The config file")?
    };
    let imported = match a.format.as_deref().unwrap_or("envfile") {
        "envfile" => {
            dotenv::parse(&text).map_err(|e| Error::fail(format!("Invalid envfile: {e}")))?
        }
        "json" => parse_json(&text)?,
        other => {
            return Err(Error::fail(format!(
                "Invalid format specified: {other} (valid: envfile, json)"
            )));
        }
    };
    if imported.is_empty() {
        return Err(Error::fail("No config vars to set"));
    }
    imported.keys().try_for_each(|k| check_key(k))?;
    {
        let _lock = ctx.store.lock(&scope)?;
        let mut env = if a.replace {
            Env::new()
        } else {
            ctx.store.env(&scope)?
        };
        env.extend(imported.clone());
        ctx.store.write_env(&scope, &env)?;
    }
    for (key, value) in &imported {
        ctx.out.info1(format!("Setting config var {key}={value}"))?;
    }
    config_updated(ctx, &scope, a.no_restart, "set", imported.keys())
}

fn bundle(ctx: &Context, args: Vec<String>) -> Result<()> {
    let a: MergedArgs = crate::args::parse("config:bundle", &args)?;
    let (scope, _) = scope_and_words(ctx, a.global, a.words, Some(0))?;
    let env = env_of(ctx, &scope, a.merged)?;
    let mtime = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut tar = tar::Builder::new(Vec::new());
    for (key, value) in &env {
        let mut header = tar::Header::new_gnu();
        header.set_size(value.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        tar.append_data(&mut header, key, value.as_bytes())
            .map_err(|e| Error::fail(format!("Unable to bundle {key}: {e}")))?;
    }
    let bytes = tar
        .into_inner()
        .map_err(|e| Error::fail(format!("Unable to bundle: {e}")))?;
    ctx.out.raw(&bytes)
}

fn check_key(key: &str) -> Result<()> {
    if dotenv::is_valid_key(key) {
        Ok(())
    } else {
        Err(Error::fail(format!("Invalid key name: '{key}'")))
    }
}

/// `--encoded` values: standard base64, decoded to text that a container's
/// environment can carry (UTF-8, no NUL).
fn decode(key: &str, value: &str) -> Result<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| Error::fail(format!("{e} for key '{key}'")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::fail(format!("decoded value is not UTF-8 for key '{key}'")))?;
    if text.contains('\0') {
        return Err(Error::fail(format!(
            "decoded value contains a NUL byte for key '{key}'"
        )));
    }
    Ok(text)
}

fn parse_json(text: &str) -> Result<Env> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| Error::fail(format!("Invalid json: {e}")))?;
    object
        .into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => Ok((key, s)),
            serde_json::Value::Number(n) => Ok((key, n.to_string())),
            serde_json::Value::Bool(b) => Ok((key, b.to_string())),
            _ => Err(Error::fail(format!(
                "Invalid json: value of {key} must be a string"
            ))),
        })
        .collect()
}

/// Fires `post-config-update`, then restarts a deployed app with its new
/// environment unless `--no-restart` (the global scope never restarts).
fn config_updated<'a>(
    ctx: &Context,
    scope: &Scope,
    no_restart: bool,
    action: &str,
    keys: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let mut args: Vec<&str> = vec![scope.dir_name(), action];
    for key in keys {
        args.push(key);
    }
    ctx.fire("post-config-update", &args)?;
    if let (Some(app), false) = (scope.app(), no_restart) {
        ctx.fire("app-restart", &[app.as_str()])?;
    }
    Ok(())
}

// ----- triggers -----

fn app_scope(ctx: &Context, app: Option<&String>) -> Result<Scope> {
    Ok(Scope::App(ctx.existing_app(app.map(String::as_str))?))
}

/// `config-get APP KEY`: the app's value, no newline.
fn trigger_config_get(ctx: &Context, args: &[String]) -> Result<String> {
    let scope = app_scope(ctx, args.first())?;
    let key = args.get(1).ok_or_else(|| Error::fail("Expected: key"))?;
    Ok(ctx.store.env(&scope)?.remove(key).unwrap_or_default())
}

/// `config-get-global KEY`.
fn trigger_config_get_global(ctx: &Context, args: &[String]) -> Result<String> {
    let key = args.first().ok_or_else(|| Error::fail("Expected: key"))?;
    Ok(ctx
        .store
        .env(&Scope::Global)?
        .remove(key)
        .unwrap_or_default())
}

/// `config-export APP GLOBAL MERGED FORMAT`.
fn trigger_config_export(ctx: &Context, args: &[String]) -> Result<String> {
    let flag = |i: usize| args.get(i).is_some_and(|v| v == "true");
    let scope = if flag(1) {
        Scope::Global
    } else {
        app_scope(ctx, args.first())?
    };
    let format = args.get(3).map_or("exports", String::as_str);
    render(&env_of(ctx, &scope, flag(2))?, format)
}

#[cfg(test)]
mod tests {
    use super::{GetArgs, SetArgs};

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn values_may_start_with_a_hyphen_and_flags_come_anywhere() {
        let args: SetArgs = crate::args::parse(
            "config:set",
            &words(&["demo", "K=-1", "--no-restart", "L=--x", "--encoded"]),
        )
        .unwrap();
        assert!(args.no_restart && args.encoded && !args.global);
        assert_eq!(args.words, ["demo", "K=-1", "L=--x"]);
        let refused = |args: &[&str]| {
            crate::args::parse::<GetArgs>("config:get", &words(args))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused(&["demo", "K", "--encoded"]),
            "Invalid flag passed: --encoded"
        );
        assert_eq!(
            refused(&["--no-restart", "demo", "K"]),
            "Invalid flag passed: --no-restart"
        );
    }
}
