//! Dokku's `events` plugin, as berth's audit log ([`crate::audit`]):
//! `events [-t]` shows the last entries (and follows), `events:list` what
//! is recorded, `events:on` / `events:off` start and stop recording. Dokku
//! logs the triggers it fires to syslog; berth records who ran which
//! command that changed state, from where, and how it ended. Reading and
//! switching it need the `admin` role: the log shows every key's actions.

use crate::args::NoArgs;
use crate::audit;
use crate::bounded;
use crate::context::Context;
use crate::error::Result;
use crate::plugins::{Command, Plugin};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "events",
    description: "Show the audit log of commands that changed state",
    default_command: Some("events"),
    commands: &[
        Command {
            name: "events",
            usage: "[-t]",
            description: "Show the last events (-t follows)",
            run: show,
        },
        Command {
            name: "events:list",
            usage: "",
            description: "List logged events",
            run: list,
        },
        Command {
            name: "events:off",
            usage: "",
            description: "Disable events logger",
            run: off,
        },
        Command {
            name: "events:on",
            usage: "",
            description: "Enable events logger",
            run: on,
        },
    ],
    triggers: &[],
};

/// How much of the log's end `events` shows: the last 100 lines, read
/// from at most this many bytes.
const TAIL_LINES: usize = 100;
const TAIL_BYTES: u64 = 256 * 1024;

/// `events [-t|--tail]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true, args_override_self = true)]
struct ShowArgs {
    /// Follow the log after its last lines.
    #[arg(short = 't', long = "tail")]
    tail: bool,
}

fn show(ctx: &Context, args: Vec<String>) -> Result<()> {
    let follow = crate::args::parse::<ShowArgs>("events", &args)?.tail;
    let path = audit::path(&ctx.store);
    let (last, end) = bounded::tail(&path, TAIL_LINES, TAIL_BYTES)?;
    ctx.out.raw(&last)?;
    if follow {
        bounded::follow(&path, end, &mut |bytes| ctx.out.raw(bytes))?;
    }
    Ok(())
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("events:list", &args)?;
    ctx.out.info2("Events currently logged")?;
    if !audit::is_on(&ctx.store) {
        return ctx.out.line("none (events:on starts recording)");
    }
    ctx.out
        .line("every command that changes state: time, key name and fingerprint, source address, command (secrets hidden), outcome")
}

fn on(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("events:on", &args)?;
    ctx.out.info1("Enabling dokku events logger")?;
    ctx.store
        .set_property("events", &Scope::Global, "enabled", "")
}

fn off(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<NoArgs>("events:off", &args)?;
    ctx.out.info1("Disabling dokku events logger")?;
    ctx.store
        .set_property("events", &Scope::Global, "enabled", "false")
}
