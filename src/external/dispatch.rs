//! Running plugins' executables: a trigger, a command (`subcommands/*`
//! or `commands`), the rows `commands help` gives `dokku help`.

use std::path::Path;
use std::time::Duration;

use super::environment::{environment, plugin_environment, trigger_timeout};
use super::process::{self, Captured};
use super::{ANSWERING_TRIGGERS, ExternalPlugin, NOT_IMPLEMENTED_EXIT, is_valid_name};
use crate::context::Context;
use crate::error::{Error, Result};

/// How long a plugin's `commands help` may take before `help` goes on
/// without its rows.
const HELP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `plugin`'s executable for `trigger` with `args`: stdin empty,
/// stderr the user's, stdout captured (answering triggers) or the user's.
/// A non-zero exit or a timeout is an error naming the plugin.
pub fn run_trigger(
    ctx: &Context,
    plugin: &ExternalPlugin,
    executable: &Path,
    trigger: &str,
    args: &[String],
) -> Result<String> {
    let env = plugin_environment(ctx, plugin)?;
    let capture = ANSWERING_TRIGGERS.contains(&trigger);
    let timeout = trigger_timeout(&ctx.store);
    let outcome = process::run_with_timeout(executable, args, &env, capture, timeout)
        .map_err(|e| Error::fail(format!("Unable to run {}: {e}", executable.display())))?;
    let what = format!("The {trigger} trigger of plugin {}", plugin.name);
    match outcome {
        Captured::Exited { code: 0, stdout } => Ok(stdout),
        Captured::Exited { code, .. } => {
            Err(Error::fail(format!("{what} failed (exit status {code})")))
        }
        Captured::Signalled(signal) => {
            Err(Error::fail(format!("{what} was killed by signal {signal}")))
        }
        Captured::TimedOut => Err(Error::fail(format!(
            "{what} did not finish within {}s and was stopped (plugin:set --global trigger-timeout <seconds> changes the limit)",
            timeout.as_secs()
        ))),
    }
}

/// Runs a plugin's command executable with the user's stdin, stdout and
/// stderr, no timeout (a command may be interactive). Returns its exit
/// status.
pub fn run_command(
    ctx: &Context,
    plugin: &ExternalPlugin,
    executable: &Path,
    args: &[String],
) -> Result<i32> {
    let env = plugin_environment(ctx, plugin)?;
    process::run_foreground(executable, args, &env)
        .map_err(|e| Error::fail(format!("Unable to run {}: {e}", executable.display())))
}

/// Offers a command no core plugin owns to the enabled plugins: first the
/// `subcommands/<sub>` of the plugin named before the colon
/// (`subcommands/default` for the bare name), then every `commands`
/// executable in name order, until one does not answer "not mine" (10).
/// Returns `None` when no plugin took the command.
pub fn dispatch(ctx: &Context, command: &str, args: &[String]) -> Result<Option<i32>> {
    let plugins = ctx.external_plugins();
    if plugins.is_empty() {
        return Ok(None);
    }
    let full: Vec<String> = std::iter::once(command.to_string())
        .chain(args.iter().cloned())
        .collect();
    let (plugin_name, sub) = command.split_once(':').unwrap_or((command, "default"));
    if let Some(plugin) = plugins.iter().find(|p| p.name == plugin_name)
        && is_valid_name(sub)
        && let Some(exe) = plugin.executable(&format!("subcommands/{sub}"))
    {
        return run_command(ctx, plugin, &exe, &full).map(Some);
    }
    for plugin in plugins {
        if let Some(exe) = plugin.executable("commands") {
            let code = run_command(ctx, plugin, &exe, &full)?;
            if code != NOT_IMPLEMENTED_EXIT {
                return Ok(Some(code));
            }
        }
    }
    Ok(None)
}

/// The help rows of the enabled plugins: each `commands help` line
/// (`    <name>, <description>`) split at its first comma.
pub fn help_rows(ctx: &Context, all: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let env = environment(ctx);
    for plugin in ctx.external_plugins() {
        let Some(exe) = plugin.executable("commands") else {
            continue;
        };
        let mut args = vec!["help".to_string()];
        if all {
            args.push("--all".to_string());
        }
        let Ok(Captured::Exited { code: 0, stdout }) =
            process::run_with_timeout(&exe, &args, &env, true, HELP_TIMEOUT)
        else {
            continue;
        };
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let (name, description) = line.split_once(',').unwrap_or((line, ""));
            rows.push(vec![
                format!("    {}", name.trim()),
                description.trim().to_string(),
            ]);
        }
    }
    rows
}
