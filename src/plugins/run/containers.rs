//! The one-off containers that are running or left: `run:list`,
//! `run:logs`, `run:stop`, `run:retire`, and `scheduler-run-retire` (what
//! `berth server` fires to retire the expired ones).
//!
//! `--container NAME` only ever reaches a one-off container of an app the
//! caller may use ([`one_off::find`]).

use std::io::Write;

use crate::app_name::AppName;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::one_off::{self, Container};

/// `run:list [--format json|stdout] [<app>]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long)]
    format: Option<String>,
    app: Option<String>,
}

pub(super) fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = crate::args::parse("run:list", &args)?;
    let json = match args.format.as_deref() {
        None | Some("stdout") => false,
        Some("json") => true,
        Some(other) => {
            return Err(Error::fail(format!(
                "Invalid --format value specified: {other} (valid: json, stdout)"
            )));
        }
    };
    let apps = match args.app.as_deref() {
        Some(name) => vec![ctx.existing_app(Some(name))?],
        None => crate::access::usable_apps(ctx, ctx.store.apps()?)?,
    };
    let engine = Engine::connect()?;
    let mut all = Vec::new();
    for app in &apps {
        let containers = one_off::list(&engine, Some(app))?;
        if json {
            all.extend(containers);
            continue;
        }
        ctx.out.info2(format!("{app} run containers"))?;
        let now = one_off::now();
        let mut rows = vec![vec![
            "NAMES".to_string(),
            "COMMAND".to_string(),
            "CREATED".to_string(),
        ]];
        rows.extend(containers.iter().map(|c| {
            vec![
                c.name.clone(),
                format!("\"{}\"", c.command),
                one_off::running_for(now - c.created),
            ]
        }));
        for line in table(&rows) {
            ctx.out.line(line)?;
        }
    }
    if json {
        let list: Vec<serde_json::Value> = all
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "state": c.state,
                    "command": format!("\"{}\"", c.command),
                    "created_at": one_off::created_at(c.created),
                })
            })
            .collect();
        ctx.out.line(serde_json::Value::from(list).to_string())?;
    }
    Ok(())
}

/// Docker's table layout (`docker ps --format table`): columns padded to
/// their widest cell plus three spaces, the last one unpadded.
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}", width = widths[i] + 3));
                }
            }
            line
        })
        .collect()
}

/// `<app>` or `--container NAME`: which one-off containers a command is
/// about.
fn targets(
    ctx: &Context,
    engine: &Engine,
    command: &str,
    app: Option<&str>,
    container: Option<&str>,
) -> Result<Vec<Container>> {
    match (app, container) {
        (Some(_), Some(_)) => Err(Error::fail(format!(
            "{command} takes an app or --container, not both"
        ))),
        (None, Some("")) => Err(Error::fail("No container specified")),
        (None, Some(name)) => Ok(vec![one_off::find(ctx, engine, name)?]),
        (app, None) => {
            let app: AppName = ctx.existing_app(app)?;
            one_off::list(engine, Some(&app))
        }
    }
}

/// `run:logs <app|--container NAME> [-t] [-n N] [-q]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct LogsArgs {
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    container: Option<String>,
    #[arg(short = 't', long = "tail")]
    follow: bool,
    #[arg(short = 'n', long = "num", default_value_t = 100)]
    num: u64,
    #[arg(short = 'q', long)]
    quiet: bool,
    app: Option<String>,
}

pub(super) fn logs(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: LogsArgs = crate::args::parse("run:logs", &args)?;
    let engine = Engine::connect()?;
    let containers = targets(
        ctx,
        &engine,
        "run:logs",
        args.app.as_deref(),
        args.container.as_deref(),
    )?;
    if containers.is_empty() {
        return Err(Error::fail("No run containers found"));
    }
    // Each container's log has its own reader, so `-t` follows them all.
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = containers
            .iter()
            .map(|container| {
                let args = &args;
                scope.spawn(move || stream(container, args))
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| Error::fail("log reader crashed"))??;
        }
        Ok(())
    })
}

/// One container's log: `<stamp> <app>[<dyno>]: <line>` as `logs` prints
/// it, the line alone with `-q`.
fn stream(container: &Container, args: &LogsArgs) -> Result<()> {
    let engine = Engine::connect()?;
    let emit = |line: &[u8]| -> Result<()> {
        let mut rendered = Vec::new();
        let text = if args.quiet {
            line.splitn(2, |b| *b == b' ').nth(1).unwrap_or(line)
        } else {
            let (stamp, text) = match line.iter().position(|b| *b == b' ') {
                Some(at) => (&line[..at], &line[at + 1..]),
                None => (&line[..0], line),
            };
            rendered.extend_from_slice(stamp);
            rendered
                .extend_from_slice(format!(" {}[{}]: ", container.app, container.dyno).as_bytes());
            text
        };
        rendered.extend_from_slice(text);
        if !rendered.ends_with(b"\n") {
            rendered.push(b'\n');
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&rendered)
            .and_then(|()| out.flush())
            .map_err(Error::Output)
    };
    engine.log_lines(
        &container.id,
        Some(args.num),
        args.follow,
        true,
        &mut |line| emit(line),
    )
}

/// `run:stop <app|--container NAME>`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct StopArgs {
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    container: Option<String>,
    app: Option<String>,
}

/// Stops the containers and prints their names, as Dokku does.
pub(super) fn stop(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: StopArgs = crate::args::parse("run:stop", &args)?;
    let engine = Engine::connect()?;
    let containers = targets(
        ctx,
        &engine,
        "run:stop",
        args.app.as_deref(),
        args.container.as_deref(),
    )?;
    for container in containers {
        engine.stop_container(&container.id, 10)?;
        ctx.out.line(&container.name)?;
    }
    Ok(())
}

/// `run:retire`: removes the one-off containers past their TTL.
pub(super) fn retire(ctx: &Context, args: Vec<String>) -> Result<()> {
    let _: crate::args::NoArgs = crate::args::parse("run:retire", &args)?;
    ctx.out.info1("Retiring expired run and cron containers")?;
    for name in one_off::retire_expired(ctx, &Engine::connect()?)? {
        ctx.out.verbose(format!("Removed {name}"))?;
    }
    Ok(())
}

/// `scheduler-run-retire`: what `run:retire` does, quietly (fired by
/// `berth server`).
pub(super) fn trigger_run_retire(ctx: &Context, _args: &[String]) -> Result<String> {
    one_off::retire_expired(ctx, &Engine::connect()?)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_as_docker_does() {
        let rows = vec![
            vec!["NAMES".into(), "COMMAND".into(), "CREATED".into()],
            vec![
                "node-js-app.run.28689".into(),
                "\"/exec sleep 15\"".into(),
                "2 seconds ago".into(),
            ],
        ];
        assert_eq!(
            table(&rows),
            [
                "NAMES                   COMMAND            CREATED",
                "node-js-app.run.28689   \"/exec sleep 15\"   2 seconds ago",
            ]
        );
    }

    #[test]
    fn logs_and_stop_take_an_app_or_a_container() {
        let words = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let args: LogsArgs = crate::args::parse(
            "run:logs",
            &words(&["-t", "--container", "a.run.1", "-n", "5"]),
        )
        .unwrap();
        assert!(args.follow);
        assert_eq!(args.num, 5);
        assert_eq!(args.container.as_deref(), Some("a.run.1"));
        let args: StopArgs = crate::args::parse("run:stop", &words(&["demo"])).unwrap();
        assert_eq!(args.app.as_deref(), Some("demo"));
    }
}
