//! Dokku's `app-json` plugin: where an app's `app.json` is, and the
//! deployment tasks it (and the Procfile) declares.
//!
//! Property: `config/app-json/<app|--global>/appjson-path` (default
//! `app.json`, relative to the build root; the builder reads it).
//!
//! Deployment tasks run in a one-off container of the release's image, with
//! the app's environment, through the image's entrypoint:
//!
//! - `pre-release-builder`: `scripts.dokku.predeploy`, whose result is
//!   committed into the release's image (its `ENTRYPOINT` and `CMD` kept);
//! - `post-release-builder`: the Procfile's `release` command (not
//!   committed); then `formation` sets the scale;
//! - `post-deploy`: `scripts.dokku.postdeploy`, and `scripts.postdeploy` on
//!   the app's first deploy only (recorded as the `heroku.postdeploy`
//!   property, as Dokku does).
//!
//! A failing task fails the deploy before anything switched (predeploy,
//! release), or after the switch with the new release serving (postdeploy),
//! as in Dokku.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::app_name::AppName;
use crate::app_network;
use crate::container_spec::{ContainerSpec, Role};
use crate::context::Context;
use crate::dynos;
use crate::engine::{Engine, StdStream};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::procfile::Procfile;
use crate::property_set::{self, Property, Reach};
use crate::release_files::{self, APP_JSON, PROCFILE};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "app-json",
    description: "Manage app-json settings for an app",
    default_command: Some("app-json:report"),
    commands: &[
        Command {
            name: "app-json:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Displays an app-json report for one or more apps",
            run: report,
        },
        Command {
            name: "app-json:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear an app-json property for an app",
            run: set,
        },
    ],
    triggers: &[
        ("post-deploy", trigger_post_deploy),
        ("post-release-builder", trigger_post_release_builder),
        ("pre-release-builder", trigger_pre_release_builder),
    ],
};

const PROPERTIES: &[Property] = &[Property {
    name: "appjson-path",
    reach: Reach::AppAndGlobal,
    validate: Some(relative_path),
}];

/// The properties with their defaults.
const LAYERED: &[(&str, &str)] = &[("appjson-path", "app.json")];

/// The property that says the first deploy's `scripts.postdeploy` ran.
const HEROKU_POSTDEPLOY: &str = "heroku.postdeploy";

/// Dokku never treats the path as absolute; berth refuses one, and a path
/// out of the build root, instead of reading somewhere unexpected.
fn relative_path(value: &str) -> Result<()> {
    let path = std::path::Path::new(value);
    let escapes = path
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)));
    if escapes {
        return Err(Error::fail(format!(
            "Invalid appjson-path {value}: give a path relative to the app's build root, without '..'"
        )));
    }
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "app-json", PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "app-json:report",
        title: "app-json",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => app_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, "app-json", LAYERED),
    })
}

fn app_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let mut rows = Rows::new();
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property("app-json", app, key)?;
        rows.extend(report::layered_rows("app-json", key, &values, default));
    }
    Ok(rows)
}

/// `dokku/<app>:<tag>` → `<tag>`.
fn tag_of(image: &str) -> Option<&str> {
    image.rsplit_once(':').map(|(_, tag)| tag)
}

/// The release's `app.json`, parsed (the builder checked it is JSON).
fn app_json(ctx: &Context, app: &AppName, tag: Option<&str>) -> Result<Option<Value>> {
    release_files::read(&ctx.store, app, tag, APP_JSON)
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| Error::fail(format!("Invalid app.json: {e}")))
        })
        .transpose()
}

/// A string at `pointer` (`/scripts/dokku/predeploy`), if non-empty.
fn script(json: &Value, pointer: &str) -> Option<String> {
    json.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// `pre-release-builder BUILDER APP IMAGE`: the predeploy task, committed
/// into the image.
fn trigger_pre_release_builder(ctx: &Context, args: &[String]) -> Result<String> {
    let (app, tag) = builder_args(ctx, args)?;
    let Some(json) = app_json(ctx, &app, Some(&tag))? else {
        return Ok(String::new());
    };
    if let Some(command) = script(&json, "/scripts/dokku/predeploy") {
        ctx.out
            .info1(format!("Executing predeploy task from app.json: {command}"))?;
        run_task(ctx, &app, &tag, "predeploy", &command, Commit::Yes)?;
    }
    Ok(String::new())
}

/// `post-release-builder BUILDER APP IMAGE`: the Procfile's `release`
/// command, then the app.json formation.
fn trigger_post_release_builder(ctx: &Context, args: &[String]) -> Result<String> {
    let (app, tag) = builder_args(ctx, args)?;
    if let Some(text) = release_files::read(&ctx.store, &app, Some(&tag), PROCFILE)
        && let Some(command) = Procfile::parse(&text)?.command("release")
    {
        let command = command.to_string();
        ctx.out
            .info1(format!("Executing release task from Procfile: {command}"))?;
        run_task(ctx, &app, &tag, "release", &command, Commit::No)?;
    }
    if let Some(json) = app_json(ctx, &app, Some(&tag))?
        && let Some(formation) = formation(&json)?
    {
        apply_formation(ctx, &app, &formation)?;
    }
    Ok(String::new())
}

/// `post-deploy APP PORT IP TAG`: the postdeploy tasks, after the switch.
fn trigger_post_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let tag = args.get(3).map_or("latest", String::as_str).to_string();
    // The release that now runs: its files are promoted.
    let Some(json) = app_json(ctx, &app, None)? else {
        return Ok(String::new());
    };
    let scope = Scope::App(app.clone());
    if let Some(command) = script(&json, "/scripts/postdeploy")
        && ctx
            .store
            .property("app-json", &scope, HEROKU_POSTDEPLOY)?
            .is_none()
    {
        ctx.out.info1(format!(
            "Executing first deploy postdeploy task from app.json: {command}"
        ))?;
        run_task(ctx, &app, &tag, "postdeploy", &command, Commit::No)?;
        ctx.store
            .set_property("app-json", &scope, HEROKU_POSTDEPLOY, "executed")?;
    }
    if let Some(command) = script(&json, "/scripts/dokku/postdeploy") {
        ctx.out.info1(format!(
            "Executing postdeploy task from app.json: {command}"
        ))?;
        run_task(ctx, &app, &tag, "postdeploy", &command, Commit::No)?;
    }
    Ok(String::new())
}

fn builder_args(ctx: &Context, args: &[String]) -> Result<(AppName, String)> {
    let app = ctx.existing_app(args.get(1).map(String::as_str))?;
    let tag = args
        .get(2)
        .and_then(|image| tag_of(image))
        .unwrap_or("latest")
        .to_string();
    Ok((app, tag))
}

/// `formation.<type>.quantity`, by type; `None` when app.json sets none.
fn formation(json: &Value) -> Result<Option<BTreeMap<String, u32>>> {
    let Some(entries) = json.get("formation").and_then(Value::as_object) else {
        return Ok(None);
    };
    let mut quantities = BTreeMap::new();
    for (kind, entry) in entries {
        let Some(quantity) = entry.get("quantity") else {
            continue;
        };
        let quantity = quantity
            .as_u64()
            .and_then(|q| u32::try_from(q).ok())
            .ok_or_else(|| {
                Error::fail(format!(
                    "Invalid app.json: formation.{kind}.quantity must be a whole number"
                ))
            })?;
        if !crate::procfile::is_valid_type(kind) {
            return Err(Error::fail(format!(
                "Invalid app.json: formation has an invalid process type {kind}"
            )));
        }
        quantities.insert(kind.clone(), quantity);
    }
    Ok((!quantities.is_empty()).then_some(quantities))
}

/// Dokku's formation: the listed quantities, every other type at 0.
fn apply_formation(ctx: &Context, app: &AppName, formation: &BTreeMap<String, u32>) -> Result<()> {
    let mut pairs: Vec<(String, u32)> = dynos::scale(&ctx.store, app)?
        .into_iter()
        .map(|(kind, _)| (kind, 0))
        .filter(|(kind, _)| !formation.contains_key(kind))
        .collect();
    pairs.extend(formation.iter().map(|(k, q)| (k.clone(), *q)));
    pairs.sort();
    ctx.out
        .info1("Setting the process formation from app.json")?;
    dynos::write_scale(&ctx.store, app, &pairs)
}

#[derive(PartialEq, Eq)]
enum Commit {
    Yes,
    No,
}

/// Runs `command` in a one-off container of `dokku/<app>:<tag>` (through
/// the image's entrypoint, with the app's environment and the run-phase
/// options of plugins), streaming its output; a non-zero exit fails. With
/// [`Commit::Yes`] the container's file system becomes the image's, its
/// `ENTRYPOINT` and `CMD` kept.
fn run_task(
    ctx: &Context,
    app: &AppName,
    tag: &str,
    task: &str,
    command: &str,
    commit: Commit,
) -> Result<()> {
    let engine = Engine::connect()?;
    let image = format!("dokku/{app}:{tag}");
    let config = engine
        .image(&image)?
        .ok_or_else(|| Error::fail(format!("Image {image} not found")))?
        .config
        .unwrap_or_default();
    let dyno = format!("{task}.{}", std::process::id());
    let mut env = ctx.store.merged_env(app)?;
    env.insert("DYNO".into(), dyno.clone());
    let spec = ContainerSpec {
        app: app.clone(),
        tag: tag.to_string(),
        role: Role::Run {
            dyno: dyno.clone(),
            tty: false,
        },
        // The app's own command from its own manifest, in its own
        // container: a shell there is what the task means (`a && b`); no
        // host shell is involved.
        cmd: Some(vec!["/bin/sh".into(), "-c".into(), command.to_string()]),
        env,
        restart_policy: None,
        network: app_network::ensure(ctx, &engine)?.id,
    };
    let mut body = spec.body(ctx)?;
    body.open_stdin = Some(false);
    body.stdin_once = Some(false);
    body.attach_stdin = Some(false);
    let name = format!("{app}.{dyno}");
    engine.remove_container(&name)?;
    let id = engine.create_container(&name, body)?;
    let outcome = run_to_end(ctx, &engine, &id).and_then(|code| {
        if code != 0 {
            return Err(Error::fail(format!(
                "Execution of {task} task failed (exit code {code}): {command}"
            )));
        }
        if commit == Commit::Yes {
            let changes = [
                format!("ENTRYPOINT {}", json_words(config.entrypoint.as_deref())),
                format!("CMD {}", json_words(config.cmd.as_deref())),
            ]
            .join("\n");
            let repo = format!("dokku/{app}");
            engine.commit_container(&id, &repo, tag, &changes)?;
        }
        Ok(())
    });
    engine.remove_container(&id)?;
    outcome
}

/// An image config's word list in Dockerfile's JSON form (`[]` for none).
fn json_words(words: Option<&[String]>) -> String {
    serde_json::Value::from(words.unwrap_or_default()).to_string()
}

/// Starts the container, streams its output, and returns its exit code.
fn run_to_end(ctx: &Context, engine: &Engine, id: &str) -> Result<i64> {
    engine.start_container(id)?;
    // The task's output, both streams, as the deploy's own.
    engine.logs(id, None, true, false, &mut |_: StdStream, bytes| {
        ctx.out.raw(bytes)
    })?;
    engine.wait_container(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formation_reads_quantities_only() {
        let json: Value = serde_json::from_str(
            r#"{"formation": {"web": {"quantity": 2}, "worker": {"max_parallel": 3}}}"#,
        )
        .unwrap();
        assert_eq!(
            formation(&json).unwrap(),
            Some(BTreeMap::from([("web".to_string(), 2)]))
        );
        let bad: Value =
            serde_json::from_str(r#"{"formation": {"web": {"quantity": -1}}}"#).unwrap();
        assert!(formation(&bad).is_err());
        assert_eq!(formation(&serde_json::json!({})).unwrap(), None);
    }

    #[test]
    fn appjson_path_stays_inside_the_build_root() {
        assert!(relative_path(".dokku/app.json").is_ok());
        assert!(relative_path("/etc/passwd").is_err());
        assert!(relative_path("../other/app.json").is_err());
    }

    #[test]
    fn scripts_are_read_by_pointer() {
        let json =
            serde_json::json!({"scripts": {"dokku": {"predeploy": "touch /x"}, "postdeploy": " "}});
        assert_eq!(
            script(&json, "/scripts/dokku/predeploy").as_deref(),
            Some("touch /x")
        );
        assert_eq!(script(&json, "/scripts/postdeploy"), None);
    }
}
