//! Dokku's `checks` plugin: which process types are checked before a
//! deploy switches traffic (`checks:disable` / `enable` / `skip`), and how
//! long old containers keep serving after a switch (`wait-to-retire`).
//!
//! Properties: `config/checks/<app>/{disabled,skipped}` (comma lists,
//! `_all_` for every type), `config/checks/<app|--global>/wait-to-retire`.
//! The checks themselves run in the scheduler, from app.json.

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "checks",
    description: "Manage zero-downtime settings",
    default_command: None,
    commands: &[
        Command {
            name: "checks:disable",
            usage: "<app> [process-type(s)]",
            description: "Disable zero-downtime deployment for all processes (or comma-separated process-type list) ***WARNING: this will cause downtime during deployments***",
            run: disable,
        },
        Command {
            name: "checks:enable",
            usage: "<app> [process-type(s)]",
            description: "Enable zero-downtime deployment for all processes (or comma-separated process-type list)",
            run: enable,
        },
        Command {
            name: "checks:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a checks report for one or more apps",
            run: report,
        },
        Command {
            name: "checks:run",
            usage: "<app> [process-type(s)|<type>.<n>]",
            description: "Runs zero-downtime checks for all processes (or comma-separated process-type list)",
            run,
        },
        Command {
            name: "checks:set",
            usage: "[--global|<app>] <key> <value>",
            description: "Set or clear a checks property for an app",
            run: set,
        },
        Command {
            name: "checks:skip",
            usage: "<app> [process-type(s)]",
            description: "Skip zero-downtime checks for all processes (or comma-separated process-type list)",
            run: skip,
        },
    ],
    triggers: &[],
};

const ALL: &str = "_all_";

fn list(ctx: &Context, app: &AppName, key: &str) -> Result<Vec<String>> {
    Ok(ctx
        .store
        .property("checks", &Scope::App(app.clone()), key)?
        .map(|v| {
            v.split(',')
                .map(str::to_string)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default())
}

fn write_list(ctx: &Context, app: &AppName, key: &str, items: &[String]) -> Result<()> {
    ctx.store
        .set_property("checks", &Scope::App(app.clone()), key, &items.join(","))
}

/// `<app> [<process-type>[,<process-type>…]]`, the arguments of
/// `checks:disable`, `enable`, `skip` and `run` (whose list may also name
/// one container, `web.2`).
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct AppTypes {
    app: Option<String>,
    types: Option<String>,
}

/// Moves `types` (or all) into `target` (`disabled`, `skipped` or neither).
fn update(
    ctx: &Context,
    command: &str,
    args: &[String],
    target: Option<&str>,
) -> Result<(AppName, String)> {
    let args: AppTypes = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let types: Vec<String> = match &args.types {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => vec![ALL.to_string()],
    };
    if let Some(bad) = types
        .iter()
        .find(|t| *t != ALL && !crate::procfile::is_valid_type(t))
    {
        return Err(Error::fail(format!(
            "Invalid process type specified ({app}.{bad})"
        )));
    }
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    for key in ["disabled", "skipped"] {
        let mut items = if types.iter().any(|t| t == ALL) {
            Vec::new()
        } else {
            list(ctx, &app, key)?
                .into_iter()
                .filter(|t| !types.contains(t) && t != ALL)
                .collect()
        };
        if target == Some(key) {
            items.extend(types.iter().cloned());
        }
        write_list(ctx, &app, key, &items)?;
    }
    Ok((app, types.join(",")))
}

fn disable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, types) = update(ctx, "checks:disable", &args, Some("disabled"))?;
    if types == ALL {
        ctx.out
            .info1(format!("Disabling zero downtime for app ({app})"))
    } else {
        ctx.out.info1(format!(
            "Disabling zero downtime for app's ({app}) proctypes ({types})"
        ))
    }
}

fn enable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, types) = update(ctx, "checks:enable", &args, None)?;
    if types == ALL {
        ctx.out
            .info1(format!("Enabling zero downtime for app's ({app})"))
    } else {
        ctx.out.info1(format!(
            "Enabling zero downtime for app's ({app}) proctypes ({types})"
        ))
    }
}

fn skip(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, types) = update(ctx, "checks:skip", &args, Some("skipped"))?;
    ctx.out.info1(format!(
        "Skipping zero downtime for app's ({app}) proctypes ({types})"
    ))
}

fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppTypes = crate::args::parse("checks:run", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    ctx.out.info1("Running pre-flight checks")?;
    let mut trigger_args = vec![app.as_str()];
    if let Some(filter) = &args.types {
        trigger_args.push(filter);
    }
    ctx.fire("checks-run", &trigger_args)?;
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: crate::args::SetArgs = crate::args::parse("checks:set", &args)?;
    let (scope, rest) = ctx.scope_and_rest(args.global, args.words)?;
    let key = rest
        .first()
        .ok_or_else(|| Error::fail("No property specified"))?;
    if key != "wait-to-retire" {
        return Err(Error::fail(
            "Invalid key specified, valid keys include: wait-to-retire",
        ));
    }
    let value = rest.get(1).map_or("", String::as_str);
    if value.is_empty() {
        ctx.out.info2(format!("Unsetting {key}"))?;
    } else {
        value.parse::<u64>().map_err(|_| {
            Error::fail(format!(
                "Invalid value specified: {value} (a whole number of seconds)"
            ))
        })?;
        ctx.out.info2(format!("Setting {key} to {value}"))?;
    }
    ctx.store.set_property("checks", &scope, key, value)
}

/// The one checks property with app, global and default values.
const WAIT_TO_RETIRE: (&str, &str) = ("wait-to-retire", "60");

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "checks:report",
        title: "checks",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| {
        let app = match target {
            report::Target::App(app) => app,
            report::Target::Global => {
                return report::global_rows(ctx, "checks", &[WAIT_TO_RETIRE]);
            }
        };
        let shown = |key: &str| -> Result<String> {
            let items = list(ctx, app, key)?;
            Ok(if items.is_empty() {
                "none".into()
            } else {
                items.join(",")
            })
        };
        let (key, default) = WAIT_TO_RETIRE;
        let wait = ctx.store.layered_property("checks", app, key)?;
        let mut rows: Rows = vec![
            ("--checks-disabled-list".into(), shown("disabled")?),
            ("--checks-skipped-list".into(), shown("skipped")?),
        ];
        rows.extend(report::layered_rows("checks", key, &wait, default));
        Ok(rows)
    })
}
