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

/// `run [-e K=V]… [--no-tty] [--force-tty] <app> [--] <cmd…>`: options come
/// before the app; everything after it is the command, untouched.
fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut extra_env = Vec::new();
    let mut no_tty = false;
    let mut force_tty = false;
    let mut words = args.into_iter();
    let app = loop {
        match words.next() {
            Some(flag) if flag == "-e" || flag == "--env" => {
                let pair = words
                    .next()
                    .ok_or_else(|| Error::fail("-e needs KEY=VALUE"))?;
                extra_env.push(pair);
            }
            Some(flag) if flag.starts_with("--env=") => {
                extra_env.push(flag["--env=".len()..].to_string())
            }
            Some(flag) if flag == "--no-tty" => no_tty = true,
            Some(flag) if flag == "--force-tty" => force_tty = true,
            Some(flag) if flag.starts_with("--ttl-seconds") => {}
            Some(name) => break ctx.existing_app(Some(&name))?,
            None => break ctx.existing_app(None)?,
        }
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

/// `enter <app> [<type>|<type>.<n>|--container-id <id>] [cmd…]`.
fn enter(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut words = args.into_iter();
    let app = ctx.existing_app(words.next().as_deref())?;
    let dynos = state::dynos(&ctx.store, &app)?;
    if dynos.is_empty() {
        return Err(Error::fail("No containers found for app"));
    }
    let rest: Vec<String> = words.collect();
    let (id, command) = match rest.first().map(String::as_str) {
        Some("--container-id") => {
            let id = rest
                .get(1)
                .ok_or_else(|| Error::fail("No container id specified"))?;
            let known = dynos
                .iter()
                .filter_map(|d| state::container_id(&ctx.store, &app, d))
                .any(|cid| cid.starts_with(id.as_str()));
            if !known {
                return Err(Error::fail(format!("Invalid container id for app: {id}")));
            }
            (id.clone(), rest[2..].to_vec())
        }
        Some(target) if dynos.iter().any(|d| d.kind == target || d.name() == target) => {
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
