//! Dokku's `logs` plugin: the output of an app's containers.

use std::io::Write;
use std::sync::Mutex;

use clap::Parser;

use crate::app_name::AppName;
use crate::context::Context;
use crate::dynos::{self as state, Dyno};
use crate::engine::{Engine, StdStream};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};

pub static PLUGIN: Plugin = Plugin {
    name: "logs",
    description: "Manage log integration for an app",
    default_command: None,
    commands: &[Command {
        name: "logs",
        usage: "<app> [-h] [-t] [-n num] [-q] [-p process]",
        description: "Display recent log output",
        run: show,
    }],
    triggers: &[],
};

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
    let dynos: Vec<Dyno> = state::dynos(&ctx.store, &app)?
        .into_iter()
        .filter(|d| {
            args.process
                .as_ref()
                .is_none_or(|p| *p == d.kind || *p == d.name())
        })
        .collect();
    if dynos.is_empty() {
        return Err(Error::fail(format!("App {app} has not been deployed")));
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
    let mut lines = lines.into_inner().unwrap_or_default();
    lines.sort();
    let mut out = std::io::stdout().lock();
    for (_, line) in lines {
        out.write_all(&line).map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)
}

/// Reads one dyno's log; with `-t` prints lines as they come, otherwise
/// collects `(timestamp, line)` pairs.
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
    let mut pending = Vec::new();
    engine.logs(
        &id,
        Some(args.num),
        args.follow,
        true,
        &mut |_: StdStream, bytes: &[u8]| {
            pending.extend_from_slice(bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let (stamp, text) = split_timestamp(&line);
                let rendered = if args.raw {
                    text.to_vec()
                } else {
                    let mut r = format!("{stamp} {app}[{}]: ", dyno.name()).into_bytes();
                    r.extend_from_slice(text);
                    r
                };
                if args.follow {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&rendered)
                        .and_then(|()| out.flush())
                        .map_err(Error::Output)?;
                } else if let Ok(mut lines) = lines.lock() {
                    lines.push((stamp.to_string(), rendered));
                }
            }
            Ok(())
        },
    )
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
