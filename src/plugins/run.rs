//! Dokku's `run` and `enter` plugins: a one-off container from the current
//! release, and a command inside a running container.

use std::io::IsTerminal;

use crate::app_name::AppName;
use crate::app_network;
use crate::container_spec::{ContainerSpec, Role};
use crate::context::Context;
use crate::dynos as state;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::procfile::Procfile;

pub static RUN: Plugin = Plugin {
    name: "run",
    description: "Run a one-off process inside a container",
    default_command: None,
    commands: &[Command {
        name: "run",
        usage: "[-e|--env KEY=VALUE] [--no-tty] <app> <cmd>",
        description: "Run a command in a new container using the current app image",
        run,
    }],
    triggers: &[],
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
/// [--] <cmd…>`: options come before the app; everything after it is the
/// command, untouched (its flags, a `--` after the first word).
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
    /// Accepted for Dokku's sake; berth's one-off containers end with
    /// their command.
    #[arg(long, allow_hyphen_values = true)]
    ttl_seconds: Option<String>,
    /// The app, then the command: one list, so that nothing after the app
    /// is taken for an option of `run`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    words: Vec<String>,
}

fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    let RunArgs {
        env: extra_env,
        no_tty,
        force_tty,
        ttl_seconds: _,
        words,
    } = crate::args::parse("run", &args)?;
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
    let mut command: Vec<String> = words.collect();
    if command.first().is_some_and(|w| w == "--") {
        command.remove(0);
    }
    for pair in &extra_env {
        if !pair
            .split_once('=')
            .is_some_and(|(k, _)| crate::dotenv::is_valid_key(k))
        {
            return Err(Error::fail(format!("Invalid env pair: {pair}")));
        }
    }
    if !state::is_deployed(&ctx.store, &app)? {
        return Err(Error::fail(format!("App {app} has not been deployed")));
    }
    let tty = force_tty || (!no_tty && std::io::stdin().is_terminal());
    let suffix = format!(
        "{:x}",
        std::process::id()
            ^ (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or_default())
    );
    let dyno = format!("run.{suffix}");
    let mut env = ctx.store.merged_env(&app)?;
    env.insert("DYNO".into(), dyno.clone());
    for pair in extra_env {
        if let Some((k, v)) = pair.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let cmd = resolve_command(ctx, &app, command, &env)?;
    let engine = Engine::connect()?;
    let spec = ContainerSpec {
        app: app.clone(),
        tag: "latest".into(),
        role: Role::Run {
            dyno: dyno.clone(),
            tty,
        },
        cmd,
        env,
        restart_policy: None,
        network: app_network::ensure(ctx, &engine)?.id,
    };
    let body = spec.body(ctx)?;
    let id = engine.create_container(&format!("{app}.{dyno}"), body)?;
    let result = ctx
        .fire("post-container-create", &["app", &id, app.as_str(), "run"])
        .and_then(|_| engine.run_attached(&id, tty));
    engine.remove_container(&id)?;
    match result? {
        0 => Ok(()),
        code => Err(Error::Silent(code.clamp(1, 255) as i32)),
    }
}

/// The command to run: a Procfile type's command when the first word names
/// one, else the words as given; nothing given runs a shell.
fn resolve_command(
    ctx: &Context,
    app: &AppName,
    command: Vec<String>,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Option<Vec<String>>> {
    if command.is_empty() {
        return Ok(Some(vec!["/bin/bash".into()]));
    }
    if command.len() == 1
        && let Some(text) =
            crate::release_files::read(&ctx.store, app, None, crate::release_files::PROCFILE)
        && let Some(line) = Procfile::parse(&text)?.command(&command[0])
    {
        ctx.out.info1(format!(
            "Found '{}' in Procfile, running that command",
            command[0]
        ))?;
        let words = crate::words::split(&crate::words::expand(line, env))
            .map_err(|e| Error::fail(format!("Invalid Procfile command: {e}")))?;
        return Ok(Some(words));
    }
    Ok(Some(command))
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
        vec!["/bin/bash".to_string()]
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
