//! Dokku's `run` and `enter` plugins: one-off containers from the current
//! release (attached: `run`; in the background: `run:detached`), the
//! commands that list, follow, stop and retire them (`containers.rs`), and
//! a command inside a running dyno (`enter`).
//!
//! The containers themselves are made by [`crate::one_off`], the path cron
//! tasks take too. `berth server` retires the expired ones itself
//! (`scheduler-run-retire`), no host cron needed.

mod containers;

use std::io::IsTerminal;

use crate::context::Context;
use crate::dynos as state;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::one_off::{self, Kind, OneOff};
use crate::plugins::{Command, Plugin};

pub static RUN: Plugin = Plugin {
    name: "run",
    description: "Run a one-off process inside a container",
    default_command: None,
    commands: &[
        Command {
            name: "run",
            usage: "[-e|--env KEY=VALUE] [--no-tty] [--ttl-seconds SECONDS] <app> <cmd>",
            description: "Run a command in a new container using the current app image",
            run,
        },
        Command {
            name: "run:detached",
            usage: "[-e|-env KEY=VALUE] [--force-tty] [--ttl-seconds SECONDS] <app> <cmd>",
            description: "Run a command in a new detached container using the current app image",
            run: run_detached,
        },
        Command {
            name: "run:list",
            usage: "[--format json|stdout] [<app>]",
            description: "List all run containers for an app",
            run: containers::list,
        },
        Command {
            name: "run:logs",
            usage: "<app|--container CONTAINER> [-h] [-t] [-n num] [-q]",
            description: "Display recent log output for run containers",
            run: containers::logs,
        },
        Command {
            name: "run:retire",
            usage: "",
            description: "Removes run containers past their TTL",
            run: containers::retire,
        },
        Command {
            name: "run:stop",
            usage: "<app|--container CONTAINER>",
            description: "Stops all run containers for an app or a specified run container",
            run: containers::stop,
        },
    ],
    triggers: &[("scheduler-run-retire", containers::trigger_run_retire)],
};

pub static ENTER: Plugin = Plugin {
    name: "enter",
    description: "Connect to a specific app container",
    default_command: None,
    commands: &[Command {
        name: "enter",
        usage: "<app> [<container-type> || --container-id <container-id>]",
        description: "Connect to a specific app container",
        run: enter,
    }],
    triggers: &[],
};

/// `run [-e|--env K=V]… [--no-tty] [--force-tty] [--ttl-seconds N] <app>
/// [--] <cmd…>` (and `run:detached`): options come before the app;
/// everything after it is the command, untouched (its flags, a `--` after
/// the first word).
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct RunArgs {
    /// `KEY=VALUE`, repeatable. A missing value is Dokku's own message.
    #[arg(short = 'e', long = "env", num_args = 0..=1, default_missing_value = "")]
    env: Vec<String>,
    #[arg(long)]
    no_tty: bool,
    #[arg(long)]
    force_tty: bool,
    /// Seconds the container may run before `run:retire` (and `berth
    /// server`) remove it; 24 hours by default.
    #[arg(long, allow_hyphen_values = true)]
    ttl_seconds: Option<String>,
    /// The app, then the command: one list, so that nothing after the app
    /// is taken for an option of `run`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

/// The checked words of a `run` or `run:detached`.
struct Request {
    one_off: OneOff,
    no_tty: bool,
    force_tty: bool,
}

fn parse_run(ctx: &Context, command: &str, args: &[String]) -> Result<Request> {
    let RunArgs {
        env: extra_env,
        no_tty,
        force_tty,
        ttl_seconds,
        words,
    } = crate::args::parse(command, args)?;
    if extra_env.iter().any(String::is_empty) {
        return Err(Error::fail("-e needs KEY=VALUE"));
    }
    let mut words = words.into_iter();
    let app = match words.next() {
        // An option `run` does not know (its list takes it for the app).
        Some(flag) if flag.starts_with('-') => {
            return Err(Error::fail(format!("Invalid flag passed: {flag}")));
        }
        name => ctx.existing_app(name.as_deref())?,
    };
    if no_tty && force_tty {
        return Err(Error::fail("Cannot specify both --force-tty and --no-tty"));
    }
    let ttl = one_off::parse_ttl(ttl_seconds.as_deref())?;
    let mut command: Vec<String> = words.collect();
    if command.first().is_some_and(|w| w == "--") {
        command.remove(0);
    }
    let mut env = Vec::new();
    for pair in &extra_env {
        match pair.split_once('=') {
            Some((k, v)) if crate::dotenv::is_valid_key(k) => {
                env.push((k.to_string(), v.to_string()));
            }
            _ => return Err(Error::fail(format!("Invalid env pair: {pair}"))),
        }
    }
    if !state::is_deployed(&ctx.store, &app)? {
        return Err(Error::fail(format!("App {app} has not been deployed")));
    }
    Ok(Request {
        one_off: OneOff {
            app,
            kind: Kind::Run,
            command,
            env,
            ttl,
            tty: false,
        },
        no_tty,
        force_tty,
    })
}

fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    let Request {
        mut one_off,
        no_tty,
        force_tty,
    } = parse_run(ctx, "run", &args)?;
    one_off.tty = force_tty || (!no_tty && std::io::stdin().is_terminal());
    match one_off.run_attached(ctx)? {
        0 => Ok(()),
        code => Err(Error::Silent(code.clamp(1, 255) as i32)),
    }
}

/// `run:detached`: starts the container and prints its name; no tty
/// unless `--force-tty`.
fn run_detached(ctx: &Context, args: Vec<String>) -> Result<()> {
    let Request {
        mut one_off,
        force_tty,
        ..
    } = parse_run(ctx, "run:detached", &args)?;
    one_off.tty = force_tty;
    let name = one_off.start_detached(ctx)?;
    ctx.out.line(name)
}

/// `enter <app> [<type>|<type>.<n>|--container-id <id>] [cmd…]`: the
/// words after the app (and the type) are the command, untouched.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct EnterArgs {
    /// A container's id, or the start of one. Given without a value, it is
    /// Dokku's own message.
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    container_id: Option<String>,
    app: Option<String>,
    /// The container type (unless `--container-id`), then the command.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

fn enter(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: EnterArgs = crate::args::parse("enter", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let dynos = state::dynos(&ctx.store, &app)?;
    if dynos.is_empty() {
        return Err(Error::fail("No containers found for app"));
    }
    let rest = args.rest;
    let (id, command) = match (args.container_id, rest.first().map(String::as_str)) {
        (Some(id), _) => {
            if id.is_empty() {
                return Err(Error::fail("No container id specified"));
            }
            let known = dynos
                .iter()
                .filter_map(|d| state::container_id(&ctx.store, &app, d))
                .any(|cid| cid.starts_with(id.as_str()));
            if !known {
                return Err(Error::fail(format!("Invalid container id for app: {id}")));
            }
            (id, rest)
        }
        (None, Some(target)) if dynos.iter().any(|d| d.kind == target || d.name() == target) => {
            let dyno = dynos
                .iter()
                .find(|d| d.name() == target || (d.kind == target && d.index == 1))
                .or_else(|| dynos.iter().find(|d| d.kind == target))
                .ok_or_else(|| Error::fail(format!("Invalid container type: {target}")))?;
            let id = state::container_id(&ctx.store, &app, dyno)
                .ok_or_else(|| Error::fail("No containers found for app"))?;
            (id, rest[1..].to_vec())
        }
        _ if dynos.len() == 1 => {
            let id = state::container_id(&ctx.store, &app, &dynos[0])
                .ok_or_else(|| Error::fail("No containers found for app"))?;
            (id, rest)
        }
        _ => {
            ctx.out.warn("No container type specified.")?;
            let types: Vec<String> = dynos.iter().map(|d| d.name()).collect();
            return Err(Error::fail(format!(
                "Available types for app ({app}): {}",
                types.join(" ")
            )));
        }
    };
    let engine = Engine::connect()?;
    let running = engine
        .inspect_container(&id)?
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false);
    if !running {
        return Err(Error::fail("Container is not running"));
    }
    let command = if command.is_empty() {
        vec![crate::one_off::app_shell(ctx, &app)?]
    } else {
        command
    };
    let tty = std::io::stdin().is_terminal();
    match engine.exec_attached(&id, command, tty)? {
        0 => Ok(()),
        code => Err(Error::Silent(code.clamp(1, 255) as i32)),
    }
}

#[cfg(test)]
mod tests {
    use super::{EnterArgs, RunArgs};

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn run_options_come_before_the_app_and_the_command_is_untouched() {
        let args: RunArgs = crate::args::parse(
            "run",
            &words(&[
                "-e",
                "A=1",
                "--env=B=-2",
                "--no-tty",
                "--ttl-seconds",
                "5",
                "demo",
                "ls",
                "-e",
                "X",
                "--no-tty",
                "--",
                "--foo",
            ]),
        )
        .unwrap();
        assert_eq!(args.env, ["A=1", "B=-2"]);
        assert!(args.no_tty && !args.force_tty);
        assert_eq!(
            args.words,
            ["demo", "ls", "-e", "X", "--no-tty", "--", "--foo"]
        );
        let args: RunArgs = crate::args::parse("run", &words(&["demo", "--", "ls"])).unwrap();
        assert_eq!(args.words, ["demo", "--", "ls"]);
        let args: RunArgs = crate::args::parse("run", &words(&["-e"])).unwrap();
        assert_eq!(args.env, [""]);
    }

    #[test]
    fn enter_takes_a_container_id_and_hands_on_the_rest() {
        let args: EnterArgs = crate::args::parse(
            "enter",
            &words(&[
                "demo",
                "--container-id",
                "abc",
                "ls",
                "--container-id",
                "-la",
            ]),
        )
        .unwrap();
        assert_eq!(args.container_id.as_deref(), Some("abc"));
        assert_eq!(args.app.as_deref(), Some("demo"));
        assert_eq!(args.rest, ["ls", "--container-id", "-la"]);
        let args: EnterArgs =
            crate::args::parse("enter", &words(&["demo", "web.2", "ls", "-la"])).unwrap();
        assert_eq!(args.container_id, None);
        assert_eq!(args.rest, ["web.2", "ls", "-la"]);
        let args: EnterArgs =
            crate::args::parse("enter", &words(&["demo", "--container-id"])).unwrap();
        assert_eq!(args.container_id.as_deref(), Some(""));
    }
}
