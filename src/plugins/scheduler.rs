//! Dokku's `scheduler` plugin: which scheduler deploys an app, and the
//! shell `enter` and `run` open.
//!
//! Properties: `config/scheduler/<app|--global>/{selected,shell}`. berth
//! has one scheduler, `docker-local`; `selected` takes it (or nothing),
//! and refuses the others with the reason rather than accepting a value no
//! deploy could honour.

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};

pub static PLUGIN: Plugin = Plugin {
    name: "scheduler",
    description: "Manage scheduler settings for an app",
    default_command: Some("scheduler:report"),
    commands: &[
        Command {
            name: "scheduler:report",
            usage: "[<app>|--global] [<flag>]",
            description: "Displays a scheduler report for one or more apps",
            run: report,
        },
        Command {
            name: "scheduler:set",
            usage: "[--global|<app>] <key> (<value>)",
            description: "Set or clear a scheduler property for an app",
            run: set,
        },
    ],
    triggers: &[("scheduler-shell", trigger_scheduler_shell)],
};

const PROPERTIES: &[Property] = &[
    Property {
        name: "selected",
        reach: Reach::AppAndGlobal,
        validate: Some(known_scheduler),
    },
    Property {
        name: "shell",
        reach: Reach::AppAndGlobal,
        validate: Some(absolute_path),
    },
];

const LAYERED: &[(&str, &str)] = &[("selected", "docker-local"), ("shell", "")];

/// The shell when neither the app nor the global `shell` names one.
const DEFAULT_SHELL: &str = "/bin/bash";

fn known_scheduler(value: &str) -> Result<()> {
    if value == "docker-local" {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid scheduler {value}: berth schedules apps on the local Docker engine (docker-local)"
    )))
}

/// The shell runs inside the app's container: a path there.
fn absolute_path(value: &str) -> Result<()> {
    if value.starts_with('/') && !value.contains(char::is_whitespace) {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid shell {value}: give the absolute path of a shell in the app's image"
    )))
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "scheduler", PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "scheduler:report",
        title: "scheduler",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => app_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, "scheduler", LAYERED),
    })
}

fn app_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let mut rows = Rows::new();
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property("scheduler", app, key)?;
        rows.extend(report::layered_rows("scheduler", key, &values, default));
    }
    Ok(rows)
}

/// `scheduler-shell APP`: the shell `enter` and `run` open.
fn trigger_scheduler_shell(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(ctx
        .store
        .app_property("scheduler", &app, "shell")?
        .unwrap_or_else(|| DEFAULT_SHELL.into()))
}
