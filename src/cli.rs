//! The command line: Dokku's argv conventions, turned into a dispatched
//! command and an exit code.
//!
//! The same path serves `berth`, `dokku` (the binary under that name) and,
//! later, commands arriving over SSH: [`run`] takes argv words, never a
//! command string.

use crate::access::{self, Entry};
use crate::audit::{self, Outcome};
use crate::context::{Context, GlobalFlags};
use crate::error::{Error, Result};
use crate::external;
use crate::output::warning;
use crate::plugins;
use crate::store::Store;

/// Commands whose arguments end in a user's command line: words after
/// them are theirs, global-looking flags included (`run demo ls --force`).
const PASSTHROUGH: &[&str] = &["run", "run:detached", "enter", "plugin:trigger"];

/// A parsed command line: global flags, then the command and its arguments.
#[derive(Debug, Default)]
pub struct Invocation {
    pub flags: GlobalFlags,
    pub command: Option<String>,
    pub args: Vec<String>,
}

impl Invocation {
    /// Applies Dokku's rules: global flags are recognised anywhere before a
    /// `--`; `--app X` becomes the command's first argument; the rest is the
    /// command and its arguments.
    pub fn parse(words: &[String]) -> Invocation {
        let mut inv = Invocation::default();
        let env_set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
        inv.flags.quiet = env_set("DOKKU_QUIET_OUTPUT");
        inv.flags.trace = env_set("DOKKU_TRACE");
        inv.flags.force = env_set("DOKKU_APPS_FORCE_DELETE");

        let mut words = words.iter();
        let mut after_separator = false;
        while let Some(word) = words.next() {
            let passthrough = inv
                .command
                .as_deref()
                .is_some_and(|c| PASSTHROUGH.contains(&c));
            if after_separator || passthrough {
                inv.args.push(word.clone());
                continue;
            }
            match word.as_str() {
                "--quiet" => inv.flags.quiet = true,
                "--trace" => inv.flags.trace = true,
                "--force" => inv.flags.force = true,
                "--app" => inv.flags.app = words.next().cloned(),
                "--" if inv.command.is_some() => {
                    after_separator = true;
                    inv.args.push(word.clone());
                }
                "-h" | "--help" if inv.command.is_none() => inv.command = Some("help".into()),
                "-v" | "--version" if inv.command.is_none() => inv.command = Some("version".into()),
                // Leading unknown `--flags` are dropped, as Dokku drops them.
                w if inv.command.is_none() && w.starts_with("--") => {}
                _ if inv.command.is_none() => inv.command = Some(word.clone()),
                _ => inv.args.push(word.clone()),
            }
        }
        if let (Some(app), Some(_)) = (&inv.flags.app, &inv.command) {
            inv.args.insert(0, app.clone());
        }
        inv
    }
}

/// Runs the binary: reads argv and the environment, returns the exit code.
///
/// Under the name `pre-receive` (an app repository's hook is a symlink to
/// this binary) it deploys what was pushed: `git-hook <app>`, the app being
/// the repository git runs the hook in.
pub fn main() -> i32 {
    // Run by git:sync's git as its GIT_SSH.
    if let Some(dir) = std::env::var_os(crate::plugins::git::remote::SSH_WRAPPER_ENV) {
        let args = std::env::args_os().skip(1).collect();
        return crate::plugins::git::remote::ssh_wrapper(std::path::Path::new(&dir), args);
    }
    let invoked_as = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    if invoked_as.as_deref() == Some("pre-receive") {
        return run_pre_receive();
    }
    let plugn = invoked_as.as_deref() == Some("plugn");
    let mut words = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(word) => words.push(word),
            Err(raw) => {
                eprintln!(
                    "{}",
                    warning(&format!("Argument is not valid UTF-8: {raw:?}"))
                );
                return 1;
            }
        }
    }
    if plugn {
        return run_plugn(words);
    }
    run(&words)
}

/// Under the name `plugn` (plugin executables find it on their `PATH`):
/// `plugn trigger T ARGS...` is `plugin:trigger T ARGS...`.
fn run_plugn(mut words: Vec<String>) -> i32 {
    if words.first().map(String::as_str) != Some("trigger") {
        eprintln!(
            "{}",
            warning("berth's plugn supports only `plugn trigger <trigger> [<args>...]`")
        );
        return 1;
    }
    words[0] = "plugin:trigger".into();
    run_from(&words, Entry::Plugin)
}

fn run_pre_receive() -> i32 {
    let app = std::env::current_dir()
        .ok()
        .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()));
    match app {
        Some(app) => run_from(&["git-hook".to_string(), app], Entry::Hook),
        None => {
            eprintln!(
                "{}",
                warning("Unable to tell which app this repository belongs to")
            );
            1
        }
    }
}

/// Runs one command line; returns the exit code. Errors are printed here,
/// once, in Dokku's form.
pub fn run(words: &[String]) -> i32 {
    run_from(words, Entry::Argv)
}

fn run_from(words: &[String], entry: Entry) -> i32 {
    let inv = Invocation::parse(words);
    let store = Store::from_env();
    let mut flags = inv.flags.clone();
    // `trace:on` stays on until `trace:off`, as Dokku's dokkurc file.
    flags.trace |= crate::plugins::standard::trace_is_on(&store);
    let ctx = Context::new(store, flags);
    let result = match &inv.command {
        None => crate::help::print_help(&ctx, false),
        Some(command) => {
            let (result, outcome) = match access::authorize(&ctx, command, &inv.args, entry) {
                Err(e) => (Err(e), Outcome::Denied),
                Ok(()) => {
                    let result = dispatch(&ctx, command.clone(), inv.args.clone());
                    let outcome = match &result {
                        Ok(()) => Outcome::Ok,
                        Err(e) => Outcome::Failed(e.exit_code()),
                    };
                    (result, outcome)
                }
            };
            // What a push's hook or a plugin runs belongs to the command
            // that was recorded already.
            if entry == Entry::Argv
                && let Ok(caller) = ctx.caller()
            {
                audit::record(&ctx.store, caller, command, &inv.args, outcome);
            }
            result
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            if e.is_reported() {
                eprintln!("{}", warning(&e.to_string()));
            }
            e.exit_code()
        }
    }
}

fn dispatch(ctx: &Context, command: String, args: Vec<String>) -> Result<()> {
    crate::build_record::set_source(&command);
    // `--help` anywhere asks for help, but in the words a passthrough
    // command hands on (`run demo ls --help`).
    let wants_help = if PASSTHROUGH.contains(&command.as_str()) {
        matches!(args.first().map(String::as_str), Some("--help" | "-h"))
    } else {
        crate::args::wants_help(&args)
    };
    if let Some(plugin) = command.strip_suffix(":help").and_then(plugins::find_plugin) {
        return crate::help::print_plugin_help(ctx, plugin);
    }
    if let Some(found) = crate::commands::find(&command) {
        if wants_help && found.name != "help" {
            let plugin_name = found.name.split(':').next().unwrap_or(found.name);
            if let Some(plugin) = plugins::find_plugin(plugin_name) {
                return crate::help::print_plugin_help(ctx, plugin);
            }
        }
        return (found.run)(ctx, args);
    }
    if let Some(plugin) = plugins::find_plugin(&command) {
        return match plugin.default_command.and_then(plugins::find_command) {
            Some(default) if !wants_help => (default.run)(ctx, args),
            _ => crate::help::print_plugin_help(ctx, plugin),
        };
    }
    if let Some(code) = external::dispatch(ctx, &command, &args)? {
        return if code == 0 {
            Ok(())
        } else {
            Err(Error::Silent(code))
        };
    }
    if crate::dokku_commands::is_dokku_command(&command) {
        return Err(Error::fail(format!(
            "{command} is a Dokku command berth does not support yet"
        )));
    }
    let typed = std::iter::once(command)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    ctx.out.warn(format!("`{typed}` is not a dokku command."))?;
    Err(Error::fail(
        "See `dokku help` for a list of available commands.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Invocation {
        Invocation::parse(&words.iter().map(|w| w.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn leading_flags_are_global() {
        let inv = parse(&["--force", "--quiet", "apps:destroy", "demo"]);
        assert!(inv.flags.force && inv.flags.quiet);
        assert_eq!(inv.command.as_deref(), Some("apps:destroy"));
        assert_eq!(inv.args, vec!["demo"]);
    }

    #[test]
    fn trailing_global_flags_are_recognised_and_removed() {
        let inv = parse(&["apps:destroy", "demo", "--force"]);
        assert!(inv.flags.force);
        assert_eq!(inv.args, vec!["demo"]);
    }

    #[test]
    fn app_flag_becomes_first_argument() {
        let inv = parse(&["--app", "demo", "config:get", "KEY"]);
        assert_eq!(inv.args, vec!["demo", "KEY"]);
    }

    #[test]
    fn words_after_separator_are_untouched() {
        let inv = parse(&["run", "demo", "--", "ls", "--force"]);
        assert!(!inv.flags.force);
        assert_eq!(inv.args, vec!["demo", "--", "ls", "--force"]);
    }

    #[test]
    fn run_keeps_its_command_flags() {
        let inv = parse(&["--quiet", "run", "demo", "ls", "--force", "--quiet"]);
        assert!(inv.flags.quiet && !inv.flags.force);
        assert_eq!(inv.args, vec!["demo", "ls", "--force", "--quiet"]);
    }

    #[test]
    fn version_and_help_flags() {
        assert_eq!(parse(&["-v"]).command.as_deref(), Some("version"));
        assert_eq!(parse(&["--help"]).command.as_deref(), Some("help"));
        assert_eq!(parse(&[]).command, None);
    }
}
