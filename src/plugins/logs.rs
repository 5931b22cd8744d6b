//! Dokku's `logs` plugin: the output of an app's containers (`logs`), the
//! output of the last failed deploy's containers (`logs:failed`), and the
//! log retention of deployed containers (`logs:set max-size`,
//! `logs:report`).
//!
//! Property: `config/logs/<app|--global>/max-size` (`10m` when neither is
//! set; `unlimited` sets no limit), applied at deploy as `--log-opt
//! max-size=…` through `docker-args-process-deploy`, unless the app's
//! docker options choose a log driver other than `json-file` or `local`.
//!
//! Failed deploys: the scheduler fires `scheduler-container-failed APP CID
//! PROC INDEX TAG` before it removes a new container that failed to start
//! or failed its checks; this plugin keeps the container's output in
//! `data/logs/<app>/failed/<proc>.<index>.log` (the engine's lines with
//! their timestamps, the last [`FAILED_LINES`] lines and at most
//! [`FAILED_BYTES`]), with `data/logs/<app>/failed/deploy` naming the
//! deploy they belong to. A later failed deploy replaces them; `apps:destroy`
//! removes them with the app.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Parser;

use crate::app_name::AppName;
use crate::context::Context;
use crate::dynos::{self as state, Dyno};
use crate::engine::{Engine, StdStream};
use crate::error::{Error, IoContext, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Target};
use crate::store::Scope;
use crate::store::atomic::{self, FILE_MODE};

pub static PLUGIN: Plugin = Plugin {
    name: "logs",
    description: "Manage log integration for an app",
    default_command: None,
    commands: &[
        Command {
            name: "logs",
            usage: "<app> [-h|--help] [-t|--tail] [-n|--num num] [-q|--quiet] [-p|--ps process]",
            description: "Display recent log output",
            run: show,
        },
        Command {
            name: "logs:failed",
            usage: "--all|<app>",
            description: "Shows the last failed deploy logs",
            run: failed,
        },
        Command {
            name: "logs:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a logs report for one or more apps",
            run: report,
        },
        Command {
            name: "logs:set",
            usage: "[--global|<app>] <key> <value>",
            description: "Set or clear a logs property for an app",
            run: set,
        },
    ],
    triggers: &[
        ("docker-args-process-deploy", args_process_deploy),
        ("scheduler-container-failed", container_failed),
    ],
};

const PLUGIN_NAME: &str = "logs";
const MAX_SIZE: (&str, &str) = ("max-size", "10m");
/// How much of a failed container's output is kept: its last lines…
const FAILED_LINES: u64 = 1000;
/// …and at most this many bytes of them.
const FAILED_BYTES: usize = 1 << 20;

const PROPERTIES: &[Property] = &[Property {
    name: "max-size",
    reach: Reach::AppAndGlobal,
    validate: Some(valid_max_size),
}];

/// Dokku's rule: `unlimited`, or a whole number with the unit `k`, `m`
/// or `g`.
fn valid_max_size(value: &str) -> Result<()> {
    if value == "unlimited" {
        return Ok(());
    }
    let Some(number) = value.strip_suffix(['k', 'm', 'g']) else {
        return Err(Error::fail(format!(
            "Invalid max-size unit measure: {value} (a whole number followed by k, m or g, or unlimited)"
        )));
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::fail(format!(
            "Invalid max-size integer: {value} (a whole number followed by k, m or g, or unlimited)"
        )));
    }
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, PLUGIN_NAME, PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "logs:report",
        title: "logs",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        Target::App(app) => {
            let (key, default) = MAX_SIZE;
            let values = ctx.store.layered_property(PLUGIN_NAME, app, key)?;
            Ok(report::layered_rows(PLUGIN_NAME, key, &values, default))
        }
        Target::Global => report::global_rows(ctx, PLUGIN_NAME, &[MAX_SIZE]),
    })
}

/// Whether the app's docker options decide the log size themselves: a
/// log driver that takes no `max-size` (only `json-file` and `local` do),
/// or their own `--log-opt max-size=…` (which ours, applied after them,
/// would otherwise replace).
fn other_log_driver(ctx: &Context, app: &AppName, process: &str) -> Result<bool> {
    let scope = Scope::App(app.clone());
    for key in ["_default_.deploy".to_string(), format!("{process}.deploy")] {
        let stored = ctx
            .store
            .property("docker-options", &scope, &key)?
            .unwrap_or_default();
        for line in stored.lines() {
            let words = crate::words::split(line).unwrap_or_default();
            let driver = match words.first().map(String::as_str) {
                Some("--log-driver") => words.get(1).cloned(),
                Some(word) => word.strip_prefix("--log-driver=").map(str::to_string),
                None => None,
            };
            if driver.is_some_and(|d| d != "json-file" && d != "local") {
                return Ok(true);
            }
            let own_size = words
                .windows(2)
                .any(|pair| pair[0] == "--log-opt" && pair[1].starts_with("max-size="))
                || words.iter().any(|w| w.starts_with("--log-opt=max-size="));
            if own_size {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `docker-args-process-deploy APP IMAGE_SOURCE_TYPE TAG PROC INDEX`:
/// `--log-opt=max-size=…`.
fn args_process_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let Some(app) = args.first().and_then(|a| AppName::lookup(a).ok()) else {
        return Ok(String::new());
    };
    if !ctx.store.app_exists(&app) {
        return Ok(String::new());
    }
    let process = args.get(3).map_or("web", String::as_str);
    let (key, default) = MAX_SIZE;
    let size = ctx
        .store
        .app_property(PLUGIN_NAME, &app, key)?
        .unwrap_or_else(|| default.to_string());
    // A value stored by hand that Dokku would refuse is left out.
    if size == "unlimited"
        || valid_max_size(&size).is_err()
        || other_log_driver(ctx, &app, process)?
    {
        return Ok(String::new());
    }
    Ok(format!("--log-opt=max-size={size}\n"))
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct Args {
    #[arg(short = 'n', long = "num", default_value_t = 100)]
    num: u64,
    #[arg(short = 'p', long = "ps")]
    process: Option<String>,
    #[arg(short = 't', long = "tail")]
    follow: bool,
    #[arg(short = 'q', long = "quiet")]
    raw: bool,
    app: Option<String>,
}

fn show(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: Args = crate::args::parse("logs", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let all = state::dynos(&ctx.store, &app)?;
    if all.is_empty() {
        return Err(Error::fail(format!("App {app} has not been deployed")));
    }
    let dynos: Vec<Dyno> = all
        .into_iter()
        .filter(|d| {
            args.process
                .as_ref()
                .is_none_or(|p| *p == d.kind || *p == d.name())
        })
        .collect();
    if let (true, Some(process)) = (dynos.is_empty(), &args.process) {
        return Err(Error::fail(format!(
            "No containers found for process type {process} of {app}"
        )));
    }
    let lines = Mutex::new(Vec::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = dynos
            .iter()
            .map(|dyno| {
                let (app, args, lines) = (&app, &args, &lines);
                scope.spawn(move || stream_dyno(ctx, app, dyno, args, lines))
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| Error::fail("log reader crashed"))??;
        }
        Ok(())
    })?;
    // Without -t, the dynos' lines are printed merged in time order.
    print_sorted(lines.into_inner().unwrap_or_default())
}

fn print_sorted(mut lines: Vec<(String, Vec<u8>)>) -> Result<()> {
    lines.sort();
    let mut out = std::io::stdout().lock();
    for (_, line) in lines {
        out.write_all(&line).map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)
}

/// `<stamp> <app>[<dyno>]: <text>` (`-q`: the text alone), from a line
/// the engine gave with its timestamp.
fn render(app: &AppName, dyno: &str, line: &[u8], raw: bool) -> (String, Vec<u8>) {
    let (stamp, text) = split_timestamp(line);
    let mut rendered = if raw {
        Vec::new()
    } else {
        format!("{stamp} {app}[{dyno}]: ").into_bytes()
    };
    rendered.extend_from_slice(text);
    if !rendered.ends_with(b"\n") {
        rendered.push(b'\n');
    }
    (stamp.to_string(), rendered)
}

/// Reads one dyno's log; with `-t` prints lines as they come, otherwise
/// collects `(timestamp, line)` pairs. A last line without a newline is
/// kept too.
fn stream_dyno(
    ctx: &Context,
    app: &AppName,
    dyno: &Dyno,
    args: &Args,
    lines: &Mutex<Vec<(String, Vec<u8>)>>,
) -> Result<()> {
    let Some(id) = state::container_id(&ctx.store, app, dyno) else {
        return Ok(());
    };
    let engine = Engine::connect()?;
    let name = dyno.name();
    let emit = |line: &[u8]| -> Result<()> {
        let (stamp, rendered) = render(app, &name, line, args.raw);
        if args.follow {
            let mut out = std::io::stdout().lock();
            out.write_all(&rendered)
                .and_then(|()| out.flush())
                .map_err(Error::Output)
        } else {
            if let Ok(mut lines) = lines.lock() {
                lines.push((stamp, rendered));
            }
            Ok(())
        }
    };
    engine.log_lines(&id, Some(args.num), args.follow, true, &mut |line| {
        emit(line)
    })
}

/// The engine prefixes each line with an RFC 3339 timestamp and a space.
fn split_timestamp(line: &[u8]) -> (&str, &[u8]) {
    match line.iter().position(|b| *b == b' ') {
        Some(space) => (
            std::str::from_utf8(&line[..space]).unwrap_or(""),
            &line[space + 1..],
        ),
        None => ("", line),
    }
}

// ----- failed deploys -----

/// `data/logs/<app>/failed/`.
fn failed_dir(ctx: &Context, app: &AppName) -> PathBuf {
    ctx.store
        .data_dir(PLUGIN_NAME, &Scope::App(app.clone()))
        .join("failed")
}

/// The kept logs of `dir`, by dyno name (`web.1`), in dyno order.
fn kept_logs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to list", dir),
    };
    let mut logs = Vec::new();
    for entry in listing {
        let entry = entry.at("Unable to list", dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(dyno) = name.strip_suffix(".log")
            && !dyno.starts_with('.')
        {
            logs.push((dyno.to_string(), entry.path()));
        }
    }
    logs.sort();
    Ok(logs)
}

/// `scheduler-container-failed APP CID PROC INDEX TAG`: keeps the output
/// of a new container the scheduler is about to remove. The first failure
/// of a deploy (another tag or another deploying process) drops what an
/// earlier failed deploy left.
fn container_failed(ctx: &Context, args: &[String]) -> Result<String> {
    let [app, id, process, index, tag, ..] = args else {
        return Ok(String::new());
    };
    let Ok(app) = AppName::lookup(app) else {
        return Ok(String::new());
    };
    if !crate::procfile::is_valid_type(process) || index.parse::<u32>().is_err() {
        return Ok(String::new());
    }
    let mut output = Vec::new();
    Engine::connect()?.logs(
        id,
        Some(FAILED_LINES),
        false,
        true,
        &mut |_: StdStream, bytes: &[u8]| {
            output.extend_from_slice(bytes);
            // Bounded while it is read: the app decides how long its
            // lines are.
            if output.len() > 2 * FAILED_BYTES {
                output.drain(..output.len() - FAILED_BYTES);
            }
            Ok(())
        },
    )?;
    if output.len() > FAILED_BYTES {
        let cut = output.len() - FAILED_BYTES;
        let start = output[cut..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(cut, |p| cut + p + 1);
        output.drain(..start);
    }
    let deploy = format!("{tag} {}\n", std::process::id());
    let dir = failed_dir(ctx, &app);
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    let marker = dir.join("deploy");
    let earlier = std::fs::read_to_string(&marker).unwrap_or_default();
    if earlier != deploy {
        for (_, path) in kept_logs(&dir)? {
            atomic::remove_file(&path)?;
        }
        atomic::write_atomic(&marker, deploy.as_bytes(), FILE_MODE)?;
    }
    atomic::write_atomic(
        &dir.join(format!("{process}.{index}.log")),
        &output,
        FILE_MODE,
    )?;
    Ok(String::new())
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct FailedArgs {
    #[arg(long)]
    all: bool,
    app: Option<String>,
}

fn failed(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: FailedArgs = crate::args::parse("logs:failed", &args)?;
    let apps = match (args.all, &args.app) {
        (true, Some(app)) => {
            return Err(Error::fail(format!(
                "Unexpected argument: {app} (--all names no app)"
            )));
        }
        // Only the apps the caller may use: output can hold secrets.
        (true, None) => crate::access::usable_apps(ctx, ctx.store.apps()?)?,
        (false, app) => vec![ctx.existing_app(app.as_deref())?],
    };
    let mut lines = Vec::new();
    for app in &apps {
        for (dyno, path) in kept_logs(&failed_dir(ctx, app))? {
            let text = std::fs::read(&path).at("Unable to read", &path)?;
            for line in text.split_inclusive(|b| *b == b'\n') {
                lines.push(render(app, &dyno, line, false));
            }
        }
    }
    if lines.is_empty() {
        return Err(Error::fail(match (args.all, apps.first()) {
            (false, Some(app)) => format!("No failed containers found for {app}"),
            _ => "No failed containers found".to_string(),
        }));
    }
    print_sorted(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_size_follows_dokku() {
        for ok in ["unlimited", "10m", "512k", "1g"] {
            assert!(valid_max_size(ok).is_ok(), "{ok}");
        }
        for bad in ["10", "10M", "m", "1.5m", "-1m", "10mb", "big"] {
            assert!(valid_max_size(bad).is_err(), "{bad}");
        }
        assert!(
            valid_max_size("10x")
                .unwrap_err()
                .to_string()
                .starts_with("Invalid max-size unit measure")
        );
    }

    #[test]
    fn lines_render_as_dokku() {
        let app = AppName::lookup("demo").unwrap();
        let line = b"2026-01-01T00:00:00.000000001Z hello\n";
        assert_eq!(
            render(&app, "web.1", line, false).1,
            b"2026-01-01T00:00:00.000000001Z demo[web.1]: hello\n"
        );
        assert_eq!(
            render(&app, "web.1", b"2026Z no newline", true).1,
            b"no newline\n"
        );
    }
}
