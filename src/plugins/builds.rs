//! Dokku 0.38's `builds` plugin: the record of every build and deploy
//! (`data/builds/<app>/<id>.json`, with the captured output in
//! `<id>.log`, written by [`crate::build_record`]), listed, shown,
//! followed, canceled and pruned.
//!
//! Property: `config/builds/<app|--global>/retention` (default 20): how
//! many finalized records an app keeps, applied at the end of every deploy
//! and by `builds:prune`.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::app_name::AppName;
use crate::args::{self, SetArgs};
use crate::build_record::{self, Kind, Record, Shown};
use crate::context::Context;
use crate::error::{Error, IoContext, Result};
use crate::output::columns;
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};

pub static PLUGIN: Plugin = Plugin {
    name: "builds",
    description: "Manage build records for an app",
    default_command: None,
    commands: &[
        Command {
            name: "builds:cancel",
            usage: "<app>",
            description: "Cancel a running build for an app",
            run: cancel,
        },
        Command {
            name: "builds:info",
            usage: "<app> <build-id> [--format json]",
            description: "Show details for a single build",
            run: info,
        },
        Command {
            name: "builds:list",
            usage: "[<app>] [--format json] [--kind ...] [--status ...]",
            description: "List builds (running across all apps, or running + history for one)",
            run: list,
        },
        Command {
            name: "builds:output",
            usage: "<app> [<build-id>|current]",
            description: "Show build output (tail for live, cat for finished)",
            run: output,
        },
        Command {
            name: "builds:prune",
            usage: "<app> [--all-apps]",
            description: "Reap abandoned records and apply retention",
            run: prune,
        },
        Command {
            name: "builds:report",
            usage: "[<app>] [<flag>]",
            description: "Display a build report",
            run: report,
        },
        Command {
            name: "builds:set",
            usage: "[--global|<app>] <key> [<value>]",
            description: "Set or clear a builds property",
            run: set,
        },
    ],
    triggers: &[],
};

/// How long `builds:cancel` waits for the deploy to finalize its record.
const CANCEL_WAIT: Duration = Duration::from_secs(30);
/// How often a follower looks for more output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

const PROPERTIES: &[Property] = &[Property {
    name: "retention",
    reach: Reach::AppAndGlobal,
    validate: Some(positive_count),
}];

fn positive_count(value: &str) -> Result<()> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value for retention: {value} (a number of build records, 1 or more)"
        ))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Stdout,
    Json,
}

fn format_of(value: Option<&str>) -> Result<Format> {
    match value {
        None | Some("stdout") => Ok(Format::Stdout),
        Some("json") => Ok(Format::Json),
        Some(other) => Err(Error::fail(format!(
            "Invalid --format value specified: {other} (valid: json, stdout)"
        ))),
    }
}

/// The caller must be an admin for `what` (an action on every app).
fn require_admin(ctx: &Context, what: &str) -> Result<()> {
    if ctx.caller()?.is_admin() {
        Ok(())
    } else {
        Err(Error::fail(format!("{what} requires the admin role")))
    }
}

fn no_such_build(app: &AppName, id: &str) -> Error {
    Error::fail(format!("No build {id} found for {app}"))
}

// ----- builds:list -----

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long)]
    format: Option<String>,
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    status: Option<String>,
    app: Option<String>,
}

/// `builds:list [APP] [--format json] [--kind K] [--status S]`: without
/// an app, the running builds of every app the caller may use (or those
/// of `--status`); with one, its running builds and its newest finalized
/// records up to the retention. Newest first.
fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = args::parse("builds:list", &args)?;
    let format = format_of(args.format.as_deref())?;
    let kind = match args.kind.as_deref() {
        None => None,
        Some(name) => Some(Kind::parse(name).ok_or_else(|| {
            Error::fail(format!(
                "Invalid --kind value specified: {name} (valid: {})",
                Kind::NAMES.join(", ")
            ))
        })?),
    };
    if let Some(status) = args.status.as_deref()
        && !Shown::NAMES.contains(&status)
    {
        return Err(Error::fail(format!(
            "Invalid --status value specified: {status} (valid: {})",
            Shown::NAMES.join(", ")
        )));
    }
    let (title, apps) = match &args.app {
        Some(name) => (None, vec![ctx.existing_app(Some(name))?]),
        None => (
            Some(match args.status.as_deref() {
                None | Some("running") => "Currently running builds".to_string(),
                Some(status) => format!("Builds with status {status}"),
            }),
            crate::access::usable_apps(ctx, ctx.store.apps()?)?,
        ),
    };
    // Across apps, the running builds unless `--status` says otherwise.
    let status = match (&args.status, &title) {
        (Some(status), _) => Some(status.as_str()),
        (None, Some(_)) => Some("running"),
        (None, None) => None,
    };
    let matches = |record: &Record, shown: Shown| {
        kind.is_none_or(|k| record.kind == k) && status.is_none_or(|s| s == shown.as_str())
    };
    let mut shown: Vec<(Record, Shown)> = Vec::new();
    for app in &apps {
        let records = build_record::list(&ctx.store, app)?;
        let picked = if title.is_some() {
            records
                .into_iter()
                .map(|r| {
                    let s = r.shown();
                    (r, s)
                })
                .collect()
        } else {
            in_history(records, build_record::retention(&ctx.store, app)?)
        };
        shown.extend(picked.into_iter().filter(|(r, s)| matches(r, *s)));
    }
    shown.sort_by(|(a, _), (b, _)| b.id.cmp(&a.id));

    if format == Format::Json {
        let list: Vec<serde_json::Value> = shown
            .iter()
            .map(|(r, s)| serde_json::Value::Object(r.to_json(*s)))
            .collect();
        return ctx.out.line(serde_json::Value::Array(list).to_string());
    }
    let mut table: Vec<Vec<String>> = Vec::new();
    match &title {
        Some(title) => {
            ctx.out.info2(title)?;
            table.push(
                ["App", "Build ID", "Kind", "PID", "Source", "Started"]
                    .map(String::from)
                    .to_vec(),
            );
            for (r, _) in &shown {
                table.push(vec![
                    r.app.clone(),
                    r.id.clone(),
                    r.kind.as_str().into(),
                    r.pid.to_string(),
                    r.source.clone(),
                    r.started_at.clone(),
                ]);
            }
        }
        None => {
            ctx.out.info2(format!("{} builds", apps[0]))?;
            table.push(
                [
                    "Build ID", "Kind", "Status", "PID", "Source", "Started", "Finished",
                ]
                .map(String::from)
                .to_vec(),
            );
            for (r, s) in &shown {
                table.push(vec![
                    r.id.clone(),
                    r.kind.as_str().into(),
                    s.as_str().into(),
                    r.pid.to_string(),
                    r.source.clone(),
                    r.started_at.clone(),
                    r.finished_at.clone().unwrap_or_default(),
                ]);
            }
        }
    }
    for line in columns(&table) {
        ctx.out.line(line.trim_end())?;
    }
    Ok(())
}

/// An app's records as `builds:list APP` shows them: every one still
/// running on disk (live or abandoned), and the newest `keep` finalized.
fn in_history(records: Vec<Record>, keep: usize) -> Vec<(Record, Shown)> {
    let mut finalized = 0;
    let mut picked = Vec::new();
    for record in records.into_iter().rev() {
        if record.is_final() {
            if finalized == keep {
                continue;
            }
            finalized += 1;
        }
        let shown = record.shown();
        picked.push((record, shown));
    }
    picked
}

// ----- builds:info -----

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct InfoArgs {
    #[arg(long)]
    format: Option<String>,
    app: Option<String>,
    id: Option<String>,
}

/// `builds:info APP ID [--format json]`.
fn info(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: InfoArgs = args::parse("builds:info", &args)?;
    let format = format_of(args.format.as_deref())?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let id = args
        .id
        .ok_or_else(|| Error::fail("Please specify a build id"))?;
    let record =
        build_record::read(&ctx.store, &app, &id)?.ok_or_else(|| no_such_build(&app, &id))?;
    let shown = record.shown();
    let log = build_record::log_path(&ctx.store, &app, &record.id);
    if format == Format::Json {
        let mut object = record.to_json(shown);
        object.insert(
            "log_path".into(),
            serde_json::Value::from(log.display().to_string()),
        );
        return ctx.out.line(serde_json::Value::Object(object).to_string());
    }
    let duration = record
        .duration()
        .map(build_record::format_duration)
        .unwrap_or_default();
    ctx.out.info2(format!("Build {}", record.id))?;
    for (label, value) in [
        ("Build ID", record.id.clone()),
        ("App", record.app.clone()),
        ("Kind", record.kind.as_str().to_string()),
        ("Status", shown.as_str().to_string()),
        ("PID", record.pid.to_string()),
        ("Source", record.source.clone()),
        ("Started", record.started_at.clone()),
        ("Finished", record.finished_at.clone().unwrap_or_default()),
        ("Duration", duration),
        (
            "Exit Code",
            record.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        ),
        ("Log", log.display().to_string()),
    ] {
        let label = format!("{label}:");
        ctx.out.verbose(format!("{label:<12}{value}").trim_end())?;
    }
    Ok(())
}

// ----- builds:output -----

/// `builds:output APP [ID|current]`: the log of a finished build; a
/// running one's followed until its record is final. Without an id: the
/// running build, else the newest.
fn output(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: args::AppWords = args::parse("builds:output", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    if let Some(extra) = args.words.get(1) {
        return Err(Error::fail(format!("Unexpected argument: {extra}")));
    }
    let records = build_record::list(&ctx.store, &app)?;
    let running = || {
        records
            .iter()
            .rev()
            .find(|r| r.shown() == Shown::Running)
            .cloned()
    };
    let record = match args.words.first().map(String::as_str) {
        Some("current") => {
            running().ok_or_else(|| Error::fail(format!("No build is running for {app}")))?
        }
        Some(id) => records
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| no_such_build(&app, id))?,
        None => running()
            .or_else(|| records.last().cloned())
            .ok_or_else(|| Error::fail(format!("{app} has no builds yet")))?,
    };
    let path = build_record::log_path(&ctx.store, &app, &record.id);
    let mut log = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::fail(format!(
                "No output was recorded for build {} of {app}",
                record.id
            )));
        }
        Err(e) => return Err(e).at("Unable to read", &path),
    };
    let mut last_pass = record.shown() != Shown::Running;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        loop {
            let n = log.read(&mut buffer).at("Unable to read", &path)?;
            if n == 0 {
                break;
            }
            ctx.out.raw(&buffer[..n])?;
        }
        if last_pass {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
        // Read what came once more after the record is final: it is
        // written after the last of the log.
        last_pass = build_record::read(&ctx.store, &app, &record.id)?
            .is_none_or(|r| r.shown() != Shown::Running);
    }
}

// ----- builds:cancel -----

/// `builds:cancel APP`: SIGQUIT to the process of the app's running build
/// (once `/proc` confirms it is that process), which stops at its next
/// checkpoint; then waits for the record to be final and says how it
/// ended. A record whose process is gone is finalized as `failed`.
fn cancel(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: args::AppArg = args::parse("builds:cancel", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let mut live = None;
    let mut reaped = 0;
    for mut record in build_record::list(&ctx.store, &app)? {
        match record.shown() {
            Shown::Running => live = Some(record),
            Shown::Abandoned => {
                build_record::mark_failed(&ctx.store, &app, &mut record)?;
                ctx.out.info1(format!(
                    "Build {} of {app} ended without finalizing its record: marked failed",
                    record.id
                ))?;
                reaped += 1;
            }
            _ => {}
        }
    }
    let Some(record) = live else {
        if reaped > 0 {
            return Ok(());
        }
        return Err(Error::fail(format!("No build is running for {app}")));
    };
    ctx.out.info1(format!(
        "Canceling build {} of {app} (pid {})",
        record.id, record.pid
    ))?;
    signal(&record)?;
    let deadline = Instant::now() + CANCEL_WAIT;
    loop {
        std::thread::sleep(FOLLOW_POLL);
        let Some(mut now) = build_record::read(&ctx.store, &app, &record.id)? else {
            return Err(Error::fail(format!(
                "The record of build {} of {app} disappeared",
                record.id
            )));
        };
        match now.shown() {
            Shown::Running if Instant::now() < deadline => continue,
            Shown::Running => {
                return Err(Error::fail(format!(
                    "Build {} of {app} did not stop within {} seconds (pid {} still runs)",
                    record.id,
                    CANCEL_WAIT.as_secs(),
                    record.pid
                )));
            }
            Shown::Abandoned => {
                build_record::mark_failed(&ctx.store, &app, &mut now)?;
                return ctx.out.info1(format!(
                    "Build {} of {app} ended without finalizing its record: marked failed",
                    record.id
                ));
            }
            Shown::Canceled => {
                return ctx
                    .out
                    .info1(format!("Build {} of {app} canceled", record.id));
            }
            Shown::Succeeded => {
                return ctx.out.info1(format!(
                    "Build {} of {app} was past the switch and completed: succeeded",
                    record.id
                ));
            }
            Shown::Failed => {
                return ctx.out.info1(format!(
                    "Build {} of {app} ended before the cancel: failed",
                    record.id
                ));
            }
        }
    }
}

/// SIGQUIT to the record's process, once `/proc` says it is still the
/// process that wrote the record.
fn signal(record: &Record) -> Result<()> {
    use nix::sys::signal::{Signal, kill};
    if !record.alive() {
        return Ok(());
    }
    // Without a start time (a record Dokku wrote) the pid alone cannot
    // say whose it is now: such a process is never signalled.
    if record.pid_start_ticks.is_none() {
        return Err(Error::fail(format!(
            "Build {} has no process start time to confirm pid {} by: it is not signalled (builds:prune reaps it once the pid is gone)",
            record.id, record.pid
        )));
    }
    let pid = i32::try_from(record.pid)
        .map_err(|_| Error::fail(format!("Invalid pid {} in build {}", record.pid, record.id)))?;
    match kill(nix::unistd::Pid::from_raw(pid), Signal::SIGQUIT) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(Error::fail(format!(
            "Unable to signal pid {} of build {}: {e}",
            record.pid, record.id
        ))),
    }
}

// ----- builds:prune -----

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct PruneArgs {
    #[arg(long = "all-apps")]
    all_apps: bool,
    app: Option<String>,
}

/// `builds:prune APP|--all-apps`: what runs at the end of every deploy.
fn prune(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: PruneArgs = args::parse("builds:prune", &args)?;
    let apps = match (args.all_apps, &args.app) {
        (true, Some(app)) => return Err(Error::fail(format!("Unexpected argument: {app}"))),
        (true, None) => {
            require_admin(ctx, "builds:prune --all-apps")?;
            ctx.store.apps()?
        }
        (false, app) => vec![ctx.existing_app(app.as_deref())?],
    };
    for app in &apps {
        let pruned = build_record::prune(&ctx.store, app)?;
        ctx.out.info1(format!(
            "Pruned builds of {app}: {} abandoned marked failed, {} removed",
            pruned.reaped, pruned.removed
        ))?;
    }
    Ok(())
}

// ----- builds:report, builds:set -----

const LAYERED: &[(&str, &str)] = &[("retention", "20")];

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "builds:report",
        title: "builds",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => app_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, build_record::PLUGIN, LAYERED),
    })
}

/// The newest build's fields (times as Unix seconds), then the retention.
fn app_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let latest = build_record::latest(&ctx.store, app)?;
    let field = |value: &dyn Fn(&Record) -> String| latest.as_ref().map(value).unwrap_or_default();
    let unix = |time: Option<&str>| {
        time.and_then(build_record::parse_time)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    let mut rows: Rows = vec![
        ("--build-id".into(), field(&|r| r.id.clone())),
        ("--build-kind".into(), field(&|r| r.kind.as_str().into())),
        (
            "--build-status".into(),
            field(&|r| r.shown().as_str().into()),
        ),
        ("--build-pid".into(), field(&|r| r.pid.to_string())),
        ("--build-source".into(), field(&|r| r.source.clone())),
        (
            "--build-started-at".into(),
            field(&|r| unix(Some(&r.started_at))),
        ),
        (
            "--build-finished-at".into(),
            field(&|r| unix(r.finished_at.as_deref())),
        ),
        (
            "--build-exit-code".into(),
            field(&|r| r.exit_code.map(|c| c.to_string()).unwrap_or_default()),
        ),
    ];
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property(build_record::PLUGIN, app, key)?;
        rows.extend(report::layered_rows(
            build_record::PLUGIN,
            key,
            &values,
            default,
        ));
    }
    Ok(rows)
}

/// `builds:set [--global|APP] retention [N]`; the global value needs an
/// admin (it applies to every app).
fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let parsed: SetArgs = args::parse("builds:set", &args)?;
    if parsed.global {
        require_admin(ctx, "builds:set --global")?;
    }
    property_set::run(ctx, build_record::PLUGIN, PROPERTIES, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build_record::Status;

    fn record(id: &str, status: Status) -> Record {
        Record {
            id: id.into(),
            app: "demo".into(),
            kind: Kind::Deploy,
            pid: 0,
            started_at: "2026-04-30T13:50:00Z".into(),
            finished_at: None,
            status,
            source: "ps:restart".into(),
            exit_code: None,
            pid_start_ticks: None,
            boot_id: None,
        }
    }

    #[test]
    fn history_is_every_unfinished_record_and_the_newest_finalized() {
        let records = vec![
            record("0a", Status::Succeeded),
            record("0b", Status::Running),
            record("0c", Status::Failed),
            record("0d", Status::Canceled),
        ];
        let picked: Vec<(String, &str)> = in_history(records, 2)
            .into_iter()
            .map(|(r, s)| (r.id, s.as_str()))
            .collect();
        // pid 0 is no process: the running record reads abandoned.
        assert_eq!(
            picked,
            [
                ("0d".to_string(), "canceled"),
                ("0c".to_string(), "failed"),
                ("0b".to_string(), "abandoned"),
            ]
        );
    }

    #[test]
    fn retention_must_be_a_positive_count() {
        assert!(positive_count("5").is_ok());
        for bad in ["0", "-1", "many", "1.5"] {
            assert!(positive_count(bad).is_err(), "{bad}");
        }
    }
}
