//! Dokku's `cron` plugin: the scheduled tasks of the release's `app.json`
//! (`task.rs`), listed, reported, run on demand, suspended and resumed;
//! `berth server` fires them on schedule (`scheduler.rs`) — never through a
//! host shell or crontab: each run is `cron:run APP ID --detach`, a one-off
//! container of the release's image with the app's environment, the same
//! path as `run:detached` ([`crate::one_off`]).
//!
//! Properties: `config/cron/<app|--global>/maintenance` (suspends every task
//! of the app, or of all apps), `config/cron/<app>/maintenance.<id>` (one
//! task, written by `cron:suspend`/`cron:resume`), global-only `mailto` and
//! `mailfrom` (kept and reported for Dokku's sake: berth sends no mail).
//!
//! Triggers answered: `pre-release-builder` (a bad task fails the deploy
//! before anything switched).

mod scheduler;
mod task;

pub use scheduler::Scheduler;

use std::io::IsTerminal;

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::one_off::{self, Kind, OneOff};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::release_files::{self, APP_JSON};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;
use task::{Policy, Task};

pub static PLUGIN: Plugin = Plugin {
    name: "cron",
    description: "Manage scheduled cron tasks",
    default_command: Some("cron:list"),
    commands: &[
        Command {
            name: "cron:list",
            usage: "<app> [--format json|stdout]",
            description: "List scheduled cron tasks for an app",
            run: list,
        },
        Command {
            name: "cron:report",
            usage: "[<app>] [<flag>]",
            description: "Display report about an app",
            run: report,
        },
        Command {
            name: "cron:resume",
            usage: "<app> <cron_id>",
            description: "Resume a cron task",
            run: resume,
        },
        Command {
            name: "cron:run",
            usage: "<app> <cron_id> [--detach] [--ttl-seconds SECONDS]",
            description: "Run a cron task on the fly",
            run,
        },
        Command {
            name: "cron:set",
            usage: "[--global|<app>] <key> <value>",
            description: "Set or clear a cron property for an app",
            run: set,
        },
        Command {
            name: "cron:suspend",
            usage: "<app> <cron_id>",
            description: "Suspend a cron task",
            run: suspend,
        },
    ],
    triggers: &[("pre-release-builder", trigger_pre_release_builder)],
};

const PLUGIN_NAME: &str = "cron";

fn boolean(value: &str) -> Result<()> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value {value}: use true or false"
        ))),
    }
}

const PROPERTIES: &[Property] = &[
    Property {
        name: "mailfrom",
        reach: Reach::GlobalOnly,
        validate: None,
    },
    Property {
        name: "mailto",
        reach: Reach::GlobalOnly,
        validate: None,
    },
    Property {
        name: "maintenance",
        reach: Reach::AppAndGlobal,
        validate: Some(boolean),
    },
];

/// The properties with their defaults, as `--global` reports them.
const LAYERED: &[(&str, &str)] = &[("mailfrom", ""), ("mailto", ""), ("maintenance", "false")];

/// The tasks of the release `tag` (the running one with `None`).
fn tasks(ctx: &Context, app: &AppName, tag: Option<&str>) -> Result<Vec<Task>> {
    let Some(text) = release_files::read(&ctx.store, app, tag, APP_JSON) else {
        return Ok(Vec::new());
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::fail(format!("Invalid app.json: {e}")))?;
    task::from_app_json(app, &json)
}

fn task_of(ctx: &Context, app: &AppName, id: Option<&str>) -> Result<Task> {
    let id = id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::fail("Please specify a cron id"))?;
    tasks(ctx, app, None)?
        .into_iter()
        .find(|task| task.id == id)
        .ok_or_else(|| Error::fail(format!("Invalid cron id specified: {id}")))
}

/// Why a task does not run on schedule, if it does not: `task` (suspended
/// or `maintenance` in app.json), `app`, `global`.
fn maintenance(ctx: &Context, app: &AppName, task: &Task) -> Result<Option<&'static str>> {
    let scope = Scope::App(app.clone());
    let suspended = ctx
        .store
        .property(PLUGIN_NAME, &scope, &format!("maintenance.{}", task.id))?;
    if task.maintenance || suspended.as_deref() == Some("true") {
        return Ok(Some("task"));
    }
    let values = ctx
        .store
        .layered_property(PLUGIN_NAME, app, "maintenance")?;
    Ok(match (values.app.as_str(), values.global.as_str()) {
        ("true", _) => Some("app"),
        ("", "true") => Some("global"),
        _ => None,
    })
}

/// `cron:list <app>|--global [--format json|stdout]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long)]
    format: Option<String>,
    #[arg(long)]
    global: bool,
    app: Option<String>,
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = crate::args::parse("cron:list", &args)?;
    let json = match args.format.as_deref() {
        None | Some("stdout") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Error::fail(format!(
                "Invalid --format value specified: {other} (valid: json, stdout)"
            )));
        }
    };
    // Global tasks are host commands other plugins inject into Dokku's
    // crontab; berth runs no host commands on schedule, so there are none.
    let (app, tasks) = if args.global {
        if args.app.is_some() {
            return Err(Error::fail("cron:list takes an app or --global, not both"));
        }
        (None, Vec::new())
    } else {
        let app = ctx.existing_app(args.app.as_deref())?;
        let tasks = tasks(ctx, &app, None)?;
        (Some(app), tasks)
    };
    let mut rows = Vec::new();
    for task in &tasks {
        let reason = match &app {
            Some(app) => maintenance(ctx, app, task)?,
            None => None,
        };
        rows.push((task, reason));
    }
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(task, reason)| {
                serde_json::json!({
                    "id": task.id,
                    "app": app.as_ref().map(AppName::as_str).unwrap_or_default(),
                    "command": task.command,
                    "schedule": task.schedule,
                    "concurrency_policy": task.policy.as_str(),
                    "maintenance": reason.is_some(),
                })
            })
            .collect();
        return ctx.out.line(serde_json::Value::from(list).to_string());
    }
    let mut table = vec![vec![
        "ID".to_string(),
        "Schedule".to_string(),
        "Concurrency".to_string(),
        "Maintenance".to_string(),
        "Command".to_string(),
    ]];
    for (task, reason) in &rows {
        table.push(vec![
            task.id.clone(),
            task.schedule.clone(),
            task.policy.as_str().to_string(),
            reason.map_or_else(|| "false".to_string(), |r| format!("true ({r})")),
            task.command.clone(),
        ]);
    }
    for line in crate::output::columns(&table) {
        ctx.out.line(line.trim_end())?;
    }
    Ok(())
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "cron:report",
        title: "cron",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => app_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, PLUGIN_NAME, LAYERED),
    })
}

fn app_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    // A report of an app whose app.json is broken still reports.
    let tasks = tasks(ctx, app, None).unwrap_or_default();
    let mut rows = vec![("--cron-task-count".to_string(), tasks.len().to_string())];
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property(PLUGIN_NAME, app, key)?;
        let mut layered = report::layered_rows(PLUGIN_NAME, key, &values, default);
        if *key != "maintenance" {
            // Global-only: no per-app row.
            layered.remove(0);
        }
        rows.extend(layered);
    }
    let scope = Scope::App(app.clone());
    for task in &tasks {
        let value = ctx
            .store
            .property(PLUGIN_NAME, &scope, &format!("maintenance.{}", task.id))?
            .unwrap_or_else(|| "false".into());
        rows.push((format!("--cron-maintenance-{}", task.id), value));
    }
    Ok(rows)
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, PLUGIN_NAME, PROPERTIES, args)
}

/// `cron:suspend <app> <id>` / `cron:resume <app> <id>`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct TaskArgs {
    app: Option<String>,
    id: Option<String>,
}

fn suspend(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: TaskArgs = crate::args::parse("cron:suspend", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let task = task_of(ctx, &app, args.id.as_deref())?;
    ctx.out.info1(format!("Suspending cron task {}", task.id))?;
    ctx.store.set_property(
        PLUGIN_NAME,
        &Scope::App(app),
        &format!("maintenance.{}", task.id),
        "true",
    )
}

fn resume(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: TaskArgs = crate::args::parse("cron:resume", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let task = task_of(ctx, &app, args.id.as_deref())?;
    ctx.out.info1(format!("Resuming cron task {}", task.id))?;
    ctx.store.delete_property(
        PLUGIN_NAME,
        &Scope::App(app),
        &format!("maintenance.{}", task.id),
    )
}

/// `cron:run <app> <id> [--detach] [--ttl-seconds N]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct RunArgs {
    #[arg(long)]
    detach: bool,
    #[arg(long, allow_hyphen_values = true)]
    ttl_seconds: Option<String>,
    app: Option<String>,
    id: Option<String>,
}

/// Runs the task now, in a one-off container labelled with its id. Its
/// `concurrency_policy` holds here, for scheduled and on-demand runs
/// alike: `forbid` skips the run while one is running, `replace` stops
/// the running ones first.
fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: RunArgs = crate::args::parse("cron:run", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let ttl = one_off::parse_ttl(args.ttl_seconds.as_deref())?;
    let task = task_of(ctx, &app, args.id.as_deref())?;
    if !crate::dynos::is_deployed(&ctx.store, &app)? {
        return Err(Error::fail(format!("App {app} has not been deployed")));
    }
    if task.policy != Policy::Allow {
        let engine = crate::engine::Engine::connect()?;
        let running: Vec<one_off::Container> = one_off::list(&engine, Some(&app))?
            .into_iter()
            .filter(|c| c.cron_id.as_deref() == Some(task.id.as_str()) && c.state == "running")
            .collect();
        if !running.is_empty() {
            if task.policy == Policy::Forbid {
                ctx.out.info1(format!(
                    "Cron task {} is already running, skipping (concurrency_policy forbid)",
                    task.id
                ))?;
                return Ok(());
            }
            for container in running {
                ctx.out.info1(format!(
                    "Stopping {} (concurrency_policy replace)",
                    container.name
                ))?;
                engine.stop_container(&container.id, 10)?;
                engine.remove_container(&container.id)?;
            }
        }
    }
    let command = crate::words::split(&task.command)
        .map_err(|e| Error::fail(format!("Invalid cron command: {e}")))?;
    let mut one_off = OneOff {
        app,
        kind: Kind::Cron(task.id.clone()),
        command,
        env: Vec::new(),
        ttl,
        tty: false,
    };
    if args.detach {
        let name = one_off.start_detached(ctx)?;
        return ctx.out.line(name);
    }
    one_off.tty = std::io::stdin().is_terminal();
    match one_off.run_attached(ctx)? {
        0 => Ok(()),
        code => Err(Error::Silent(code.clamp(1, 255) as i32)),
    }
}

/// `pre-release-builder BUILDER APP IMAGE`: the release's cron tasks are
/// checked before it deploys (a bad schedule fails the deploy).
fn trigger_pre_release_builder(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.get(1).map(String::as_str))?;
    let tag = args
        .get(2)
        .and_then(|image| image.rsplit_once(':'))
        .map(|(_, tag)| tag);
    tasks(ctx, &app, tag)?;
    Ok(String::new())
}
