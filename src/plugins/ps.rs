//! Dokku's `ps` plugin: an app's processes — scale, start, stop, restart,
//! rebuild, restore — and their report.
//!
//! It decides *what* should run (the scale in `config/ps/<app>/scale`, the
//! properties) and asks the scheduler through triggers (`deploy`,
//! `scheduler-stop`, `receive-app`) to make it so.

use crate::app_name::AppName;
use crate::context::Context;
use crate::dynos as state;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::procfile;
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "ps",
    description: "List processes running in app containers",
    default_command: None,
    commands: &[
        Command {
            name: "ps:inspect",
            usage: "<app>",
            description: "Displays a sanitized version of docker inspect for an app",
            run: inspect,
        },
        Command {
            name: "ps:rebuild",
            usage: "[--all|<app>] [--parallel count]",
            description: "Rebuilds an app from source",
            run: rebuild,
        },
        Command {
            name: "ps:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a process report for one or more apps",
            run: report,
        },
        Command {
            name: "ps:restart",
            usage: "[--all|<app>] [<process-name>] [--parallel count]",
            description: "Restart an app",
            run: restart,
        },
        Command {
            name: "ps:restore",
            usage: "[--all|<app>]",
            description: "Start previously running apps e.g. after reboot",
            run: restore,
        },
        Command {
            name: "ps:retire",
            usage: "[--wait]",
            description: "Stops old containers whose retirement time has come",
            run: retire,
        },
        Command {
            name: "ps:scale",
            usage: "[--skip-deploy] <app> <proc>=<count> [<proc>=<count>...]",
            description: "Get/Set how many instances of a given process to run",
            run: scale,
        },
        Command {
            name: "ps:set",
            usage: "[--global|<app>] <key> <value>",
            description: "Set or clear a ps property for an app",
            run: set,
        },
        Command {
            name: "ps:start",
            usage: "[--all|<app>] [--parallel count]",
            description: "Start an app",
            run: start,
        },
        Command {
            name: "ps:stop",
            usage: "[--all|<app>] [--parallel count]",
            description: "Stop an app",
            run: stop,
        },
    ],
    triggers: &[("post-create", trigger_post_create)],
};

const PROPERTIES: &[Property] = &[
    Property {
        name: "dockerfile-start-cmd",
        reach: Reach::AppOnly,
        validate: None,
    },
    Property {
        name: "procfile-path",
        reach: Reach::AppAndGlobal,
        validate: None,
    },
    Property {
        name: "restart-policy",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_restart_policy),
    },
    Property {
        name: "restore",
        reach: Reach::AppOnly,
        validate: Some(validate_bool),
    },
    Property {
        name: "skip-deploy",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_bool),
    },
    // Buildpack apps' start command: stored and reported for a moved app;
    // berth's Dockerfile builds read `dockerfile-start-cmd`.
    Property {
        name: "start-cmd",
        reach: Reach::AppOnly,
        validate: None,
    },
    Property {
        name: "stop-timeout-seconds",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_seconds),
    },
];

fn validate_restart_policy(value: &str) -> Result<()> {
    let ok = match value.split_once(':') {
        Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
        Some(_) => false,
        None => matches!(value, "no" | "always" | "unless-stopped" | "on-failure"),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::fail("Invalid restart-policy specified"))
    }
}

fn validate_bool(value: &str) -> Result<()> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value specified: {value} (valid: true, false)"
        ))),
    }
}

fn validate_seconds(value: &str) -> Result<()> {
    value.parse::<u32>().map(drop).map_err(|_| {
        Error::fail(format!(
            "Invalid value specified: {value} (a whole number of seconds)"
        ))
    })
}

fn trigger_post_create(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    state::write_scale(&ctx.store, &app, &[("web".into(), 1)])?;
    Ok(String::new())
}

/// The parsed `[--all|<app>] [--parallel N]` of a bulk command.
struct Bulk {
    apps: Vec<AppName>,
    /// `--all` was given.
    all: bool,
    /// More than one: each app in a `berth` child, this many at once.
    parallel: usize,
    /// What follows the app (`ps:restart APP PROC`).
    rest: Vec<String>,
}

fn bulk(ctx: &Context, command: &str, args: &[String]) -> Result<Bulk> {
    let args: crate::args::BulkArgs = crate::args::parse(command, args)?;
    let parallel = match args.parallel {
        None | Some(0) | Some(1) => 1,
        Some(-1) => std::thread::available_parallelism().map_or(1, usize::from),
        Some(n) if n > 1 => usize::try_from(n).unwrap_or(1),
        Some(n) => {
            return Err(Error::fail(format!(
                "Invalid value for --parallel: {n} (a number of apps, or -1 for one per CPU)"
            )));
        }
    };
    // With --all, every word is what follows the apps.
    let (apps, rest) = if args.all {
        let rest = args.app.into_iter().chain(args.rest).collect();
        (ctx.store.apps()?, rest)
    } else {
        (vec![ctx.existing_app(args.app.as_deref())?], args.rest)
    };
    Ok(Bulk {
        apps,
        all: args.all,
        parallel,
        rest,
    })
}

/// The bulk commands that take nothing after the app.
fn bulk_without_rest(ctx: &Context, command: &str, args: &[String]) -> Result<Bulk> {
    let bulk = bulk(ctx, command, args)?;
    match bulk.rest.first() {
        Some(extra) => Err(Error::fail(format!("Unexpected argument: {extra}"))),
        None => Ok(bulk),
    }
}

/// Runs `action` for every app of `bulk`: in turn, or with `--parallel N`
/// as `berth COMMAND APP` children, N at a time (their output interleaves,
/// as with Dokku's). Every app is tried; the failures are named at the end.
fn for_each_app(
    ctx: &Context,
    command: &str,
    bulk: Bulk,
    action: impl Fn(&AppName) -> Result<()>,
) -> Result<()> {
    let mut failed = Vec::new();
    if bulk.parallel <= 1 || bulk.apps.len() <= 1 {
        for app in &bulk.apps {
            if let Err(e) = action(app) {
                if bulk.apps.len() == 1 {
                    return Err(e);
                }
                ctx.out.warn(format!("{app}: {e}"))?;
                failed.push(app.to_string());
            }
        }
    } else {
        let exe = std::env::current_exe()
            .map_err(|e| Error::fail(format!("Unable to find the berth binary: {e}")))?;
        for chunk in bulk.apps.chunks(bulk.parallel) {
            let children: Vec<(AppName, std::io::Result<std::process::Child>)> = chunk
                .iter()
                .map(|app| {
                    let mut child = std::process::Command::new(&exe);
                    if ctx.flags.quiet {
                        child.arg("--quiet");
                    }
                    if ctx.flags.trace {
                        child.arg("--trace");
                    }
                    let spawned = child
                        .arg(command)
                        .arg(app.as_str())
                        .args(&bulk.rest)
                        .stdin(std::process::Stdio::null())
                        .spawn();
                    (app.clone(), spawned)
                })
                .collect();
            for (app, child) in children {
                let ok = child
                    .and_then(|mut c| c.wait())
                    .is_ok_and(|status| status.success());
                if !ok {
                    failed.push(app.to_string());
                }
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "{command} failed for: {}",
            failed.join(", ")
        )))
    }
}

/// Runs `action` on a deployed app; an undeployed one only warns.
fn on_deployed(ctx: &Context, app: &AppName, action: impl FnOnce() -> Result<()>) -> Result<()> {
    if state::is_deployed(&ctx.store, app)? {
        action()
    } else {
        ctx.out.warn(format!("App {app} has not been deployed"))
    }
}

fn stop(ctx: &Context, args: Vec<String>) -> Result<()> {
    let bulk = bulk_without_rest(ctx, "ps:stop", &args)?;
    for_each_app(ctx, "ps:stop", bulk, |app| {
        on_deployed(ctx, app, || {
            ctx.out.info1(format!("Stopping {app}"))?;
            ctx.fire("scheduler-stop", &[app.as_str()])?;
            ctx.fire("post-stop", &[app.as_str()]).map(drop)
        })
    })
}

fn start(ctx: &Context, args: Vec<String>) -> Result<()> {
    let bulk = bulk_without_rest(ctx, "ps:start", &args)?;
    for_each_app(ctx, "ps:start", bulk, |app| {
        on_deployed(ctx, app, || {
            if running(ctx, app)? == "true" {
                return ctx.out.warn(format!("App {app} already running"));
            }
            ctx.out.info1(format!("Starting {app}"))?;
            ctx.fire("deploy", &[app.as_str()]).map(drop)
        })
    })
}

/// `ps:restart [--all|<app>] [<process-type>] [--parallel N]`: with a
/// process type, only its containers are replaced.
fn restart(ctx: &Context, args: Vec<String>) -> Result<()> {
    let bulk = bulk(ctx, "ps:restart", &args)?;
    let process = match bulk.rest.as_slice() {
        [] => None,
        [process] if !bulk.all => Some(process.clone()),
        [_] => {
            return Err(Error::fail(
                "Unable to restart all apps when specifying a process name",
            ));
        }
        [_, extra, ..] => return Err(Error::fail(format!("Unexpected argument: {extra}"))),
    };
    for_each_app(ctx, "ps:restart", bulk, |app| {
        on_deployed(ctx, app, || {
            ctx.out.info1(format!("Restarting app {app}"))?;
            match &process {
                Some(process) => ctx.fire("deploy", &[app.as_str(), "latest", process]),
                None => ctx.fire("deploy", &[app.as_str()]),
            }
            .map(drop)
        })
    })
}

fn rebuild(ctx: &Context, args: Vec<String>) -> Result<()> {
    let bulk = bulk_without_rest(ctx, "ps:rebuild", &args)?;
    for_each_app(ctx, "ps:rebuild", bulk, |app| {
        ctx.fire("receive-app", &[app.as_str()]).map(drop)
    })
}

/// `ps:restore [<app>]`: starts every app that should run and does not
/// (after a reboot, or a new platform container). Apps with
/// `restore=false` are skipped.
fn restore(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: crate::args::AppOrAll = crate::args::parse("ps:restore", &args)?;
    args.refuse_app_with_all()?;
    let apps = match args.app {
        _ if args.all => ctx.store.apps()?,
        Some(name) => vec![ctx.existing_app(Some(&name))?],
        None => {
            ctx.out
                .warn("Restore specified without app, assuming --all")?;
            ctx.store.apps()?
        }
    };
    let mut failed = Vec::new();
    for app in apps {
        if ctx
            .store
            .property("ps", &Scope::App(app.clone()), "restore")?
            .as_deref()
            == Some("false")
        {
            ctx.out.warn(format!(
                "Skipping ps:restore for {app} as restore property is false"
            ))?;
            continue;
        }
        if !state::is_deployed(&ctx.store, &app)? {
            continue;
        }
        // One app that cannot start must not keep the others down.
        let restored = if running(ctx, &app)? == "true" {
            // Running (restart policy after a reboot), but its addresses
            // may have changed: re-read them and route to them again.
            ctx.fire("scheduler-pre-restore", &[app.as_str()])
                .and_then(|_| ctx.fire("proxy-build-config", &[app.as_str()]))
        } else {
            ctx.out.info1(format!("Restoring {app}"))?;
            ctx.fire("deploy", &[app.as_str()])
        };
        if let Err(e) = restored {
            ctx.out.warn(format!("Unable to restore {app}: {e}"))?;
            failed.push(app.to_string());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Unable to restore: {}",
            failed.join(", ")
        )))
    }
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct RetireArgs {
    #[arg(long)]
    wait: bool,
}

fn retire(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: RetireArgs = crate::args::parse("ps:retire", &args)?;
    ctx.out.info1("Retiring old containers and images")?;
    ctx.fire(
        "scheduler-retire",
        if args.wait { &["--wait"] } else { &[] },
    )?;
    Ok(())
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ScaleArgs {
    #[arg(long)]
    skip_deploy: bool,
    #[arg(long)]
    format: Option<String>,
    app: Option<String>,
    tuples: Vec<String>,
}

/// Dokku: any `quantity` in the running release's app.json `formation`
/// takes scaling away from `ps:scale`.
fn formation_sets_quantities(ctx: &Context, app: &AppName) -> bool {
    crate::release_files::read(&ctx.store, app, None, crate::release_files::APP_JSON)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.get("formation")?.as_object().cloned())
        .is_some_and(|formation| {
            formation
                .values()
                .any(|entry| entry.get("quantity").is_some())
        })
}

fn scale(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ScaleArgs = crate::args::parse("ps:scale", &args)?;
    let skip_deploy = args.skip_deploy;
    let json = match args.format.as_deref() {
        None | Some("stdout") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Error::fail(format!(
                "Invalid format specified: {other} (valid: json, stdout)"
            )));
        }
    };
    let app = ctx.existing_app(args.app.as_deref())?;
    let tuples: Vec<&String> = args.tuples.iter().collect();
    let current = state::scale(&ctx.store, &app)?;
    if !tuples.is_empty() && formation_sets_quantities(ctx, &app) {
        return Err(Error::fail(format!(
            "Unable to scale {app}: its app.json formation sets the quantities (change them there, or remove the formation key)"
        )));
    }
    if tuples.is_empty() {
        if json {
            let list: Vec<_> = current
                .iter()
                .map(|(kind, n)| serde_json::json!({"process_type": kind, "quantity": n}))
                .collect();
            return ctx
                .out
                .line(serde_json::to_string(&list).expect("json values serialise"));
        }
        ctx.out.info1(format!("Scaling for {app}"))?;
        ctx.out.line("proctype: qty")?;
        ctx.out.line("--------: ---")?;
        for (kind, count) in &current {
            ctx.out.line(format!("{:<5} {count}", format!("{kind}:")))?;
        }
        return Ok(());
    }
    let mut updated = current.clone();
    let mut shown = Vec::new();
    for tuple in tuples {
        let (kind, count) = tuple
            .split_once('=')
            .ok_or_else(|| Error::fail(format!("Missing count for process type {tuple}")))?;
        if !procfile::is_valid_type(kind) {
            return Err(Error::fail(format!(
                "{kind} is not a valid process name to scale up"
            )));
        }
        let count: u32 = count
            .parse()
            .map_err(|_| Error::fail(format!("Invalid count for process type {kind}")))?;
        match updated.iter_mut().find(|(k, _)| k == kind) {
            Some(entry) => entry.1 = count,
            None => updated.push((kind.to_string(), count)),
        }
        shown.push(format!("{kind}={count}"));
    }
    ctx.out
        .info1(format!("Scaling {app} processes: {}", shown.join(" ")))?;
    state::write_scale(&ctx.store, &app, &updated)?;
    if !skip_deploy && state::is_deployed(&ctx.store, &app)? {
        ctx.fire("deploy", &[app.as_str()])?;
    }
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, "ps", PROPERTIES, args)
}

fn inspect(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: crate::args::AppArg = crate::args::parse("ps:inspect", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let engine = Engine::connect()?;
    let mut all = Vec::new();
    for dyno in state::dynos(&ctx.store, &app)? {
        let Some(id) = state::container_id(&ctx.store, &app, &dyno) else {
            continue;
        };
        if let Some(mut info) = engine.inspect_container(&id)? {
            // Sanitised as Dokku does: config values are secrets.
            if let Some(config) = info.config.as_mut() {
                config.env = config.env.take().map(|env| {
                    env.into_iter()
                        .map(|kv| {
                            kv.split_once('=')
                                .map_or(kv.clone(), |(k, _)| format!("{k}="))
                        })
                        .collect()
                });
            }
            all.push(info);
        }
    }
    let text = serde_json::to_string_pretty(&all)
        .map_err(|e| Error::fail(format!("Unable to render inspect output: {e}")))?;
    ctx.out.line(text)
}

/// `true`, `false` or `mixed`: whether the app's recorded containers run
/// (containers waiting to retire do not count).
fn running(ctx: &Context, app: &AppName) -> Result<String> {
    let engine = Engine::connect()?;
    let mut states = Vec::new();
    for dyno in state::dynos(&ctx.store, app)? {
        let running = match state::container_id(&ctx.store, app, &dyno) {
            Some(id) => engine
                .inspect_container(&id)?
                .and_then(|c| c.state)
                .and_then(|s| s.running)
                .unwrap_or(false),
            None => false,
        };
        states.push(running);
    }
    Ok(summary(&states).to_string())
}

/// Dokku's `--running`: all (`true`), some (`mixed`) or none (`false`).
fn summary(running: &[bool]) -> &'static str {
    if !running.is_empty() && running.iter().all(|r| *r) {
        "true"
    } else if running.iter().any(|r| *r) {
        "mixed"
    } else {
        "false"
    }
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "ps:report",
        title: "ps",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => report_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, "ps", LAYERED),
    })
}

/// The properties with an app value, a global value and a default.
const LAYERED: &[(&str, &str)] = &[
    ("restart-policy", "on-failure:10"),
    ("procfile-path", "Procfile"),
    ("skip-deploy", "false"),
    ("stop-timeout-seconds", "30"),
];

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let scope = Scope::App(app.clone());
    let prop = |scope: &Scope, key: &str| -> Result<String> {
        Ok(ctx.store.property("ps", scope, key)?.unwrap_or_default())
    };
    let deployed = state::is_deployed(&ctx.store, app)?;
    let mut rows: Rows = vec![
        ("--deployed".into(), deployed.to_string()),
        (
            "--processes".into(),
            state::dynos(&ctx.store, app)?.len().to_string(),
        ),
        (
            "--ps-can-scale".into(),
            (!formation_sets_quantities(ctx, app)).to_string(),
        ),
        ("--restore".into(), {
            let v = prop(&scope, "restore")?;
            if v.is_empty() { "true".into() } else { v }
        }),
    ];
    // App-only properties: the raw value and what applies.
    for key in ["dockerfile-start-cmd", "start-cmd"] {
        let value = prop(&scope, key)?;
        rows.push((format!("--ps-{key}"), value.clone()));
        rows.push((format!("--ps-computed-{key}"), value));
    }
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property("ps", app, key)?;
        rows.extend(crate::report::layered_rows("ps", key, &values, default));
    }
    if deployed {
        let engine = Engine::connect()?;
        let mut states = Vec::new();
        for dyno in state::dynos(&ctx.store, app)? {
            let status = match state::container_id(&ctx.store, app, &dyno) {
                Some(id) => match engine.inspect_container(&id)? {
                    Some(info) => {
                        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                        states.push(running);
                        let word = info
                            .state
                            .and_then(|s| s.status)
                            .map_or("unknown".to_string(), |s| s.to_string());
                        format!("{word} (CID: {})", id.get(..11).unwrap_or(&id))
                    }
                    None => "missing".into(),
                },
                None => "missing".into(),
            };
            rows.push((format!("--status-{}", dyno.name()), status));
        }
        rows.push(("--running".into(), summary(&states).into()));
    } else {
        rows.push(("--running".into(), "false".into()));
    }
    Ok(rows)
}
