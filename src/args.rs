//! The argument layer: a command's arguments become its typed struct
//! (clap derive) once, here, and a mistake reads in Dokku's words, never
//! clap's. Dokku's global flags (`--quiet`, `--trace`, `--force`, `--app`)
//! are taken out before, by [`crate::cli::Invocation`]; `--help` anywhere
//! prints the command's help before parsing.

use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::error::{Error, Result};

/// Parses `args` (the words after `command`) into `T`.
pub fn parse<T: clap::Parser>(command: &str, args: &[String]) -> Result<T> {
    T::try_parse_from(std::iter::once(command).chain(args.iter().map(String::as_str)))
        .map_err(|e| Error::fail(dokku_words(&e)))
}

/// A clap error as Dokku would say it.
fn dokku_words(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    match e.kind() {
        ErrorKind::UnknownArgument => match context(ContextKind::InvalidArg) {
            Some(arg) if arg.starts_with('-') => format!("Invalid flag passed: {arg}"),
            Some(arg) => format!("Unexpected argument: {arg}"),
            None => "Unexpected argument".into(),
        },
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            match (
                context(ContextKind::InvalidArg),
                context(ContextKind::InvalidValue),
            ) {
                (Some(arg), Some(value)) if value.is_empty() => {
                    format!("{} requires a value", flag_name(&arg))
                }
                (Some(arg), Some(value)) => {
                    format!("Invalid value for {}: {value}", flag_name(&arg))
                }
                _ => first_line(e),
            }
        }
        ErrorKind::ArgumentConflict => match (
            context(ContextKind::InvalidArg),
            context(ContextKind::PriorArg),
        ) {
            (Some(a), Some(b)) => format!(
                "Cannot specify both {} and {}",
                flag_name(&b),
                flag_name(&a)
            ),
            _ => first_line(e),
        },
        _ => first_line(e),
    }
}

/// `--format <FORMAT>` → `--format`.
fn flag_name(arg: &str) -> &str {
    arg.split([' ', '=']).next().unwrap_or(arg)
}

fn first_line(e: &clap::Error) -> String {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or_default();
    let line = line.trim_start_matches("error: ");
    let mut chars = line.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "Invalid arguments".into(),
    }
}

/// `PLUGIN:set [--global] <app> <key> [<value>…]`, Dokku's property
/// setter: the words after the scope flag (app, key, value words).
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct SetArgs {
    #[arg(long)]
    pub global: bool,
    #[arg(allow_hyphen_values = true, trailing_var_arg = true)]
    pub words: Vec<String>,
}

/// `[--all|<app>]` and `--parallel N`, the arguments of `ps:*` bulk
/// commands; `rest` holds what follows the app (a process type).
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct BulkArgs {
    #[arg(long)]
    pub all: bool,
    /// How many apps at once (Dokku: `--parallel`; -1 is one per CPU).
    #[arg(long, allow_hyphen_values = true)]
    pub parallel: Option<i64>,
    pub app: Option<String>,
    pub rest: Vec<String>,
}

/// `[<app>] [--format F]`, the arguments of Dokku's list commands.
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct ListArgs {
    #[arg(long)]
    pub format: Option<String>,
    pub app: Option<String>,
}

/// No arguments at all (`version`, `events:on`): any word is unexpected.
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct NoArgs {}

/// `<app>`, the one argument of many commands.
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct AppArg {
    pub app: Option<String>,
}

/// `<app> <word>…`: an app, then a list (domains, port maps).
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct AppWords {
    pub app: Option<String>,
    pub words: Vec<String>,
}

/// `<word>…`, a list without an app (the global domains).
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct Words {
    pub words: Vec<String>,
}

/// `<app>|--all`: one app, or every app.
#[derive(clap::Parser, Debug)]
#[command(disable_help_flag = true)]
pub struct AppOrAll {
    #[arg(long)]
    pub all: bool,
    pub app: Option<String>,
}

impl AppOrAll {
    /// With `--all`, an app as well is one word too many.
    pub fn refuse_app_with_all(&self) -> Result<()> {
        match (&self.app, self.all) {
            (Some(app), true) => Err(Error::fail(format!("Unexpected argument: {app}"))),
            _ => Ok(()),
        }
    }
}

/// Whether `--help` or `-h` is among the words (before a `--`).
pub fn wants_help(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    #[command(disable_help_flag = true)]
    struct Sample {
        #[arg(long)]
        format: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        parallel: Option<u32>,
        app: Option<String>,
    }

    fn words(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn mistakes_read_in_dokkus_words() {
        let fail = |args: &[&str]| {
            parse::<Sample>("x:y", &words(args))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(fail(&["--bogus"]), "Invalid flag passed: --bogus");
        assert_eq!(fail(&["demo", "extra"]), "Unexpected argument: extra");
        assert_eq!(
            fail(&["--parallel", "zero"]),
            "Invalid value for --parallel: zero"
        );
        assert_eq!(fail(&["--format"]), "--format requires a value");
        let ok: Sample = parse("x:y", &words(&["--all", "demo", "--parallel", "4"])).unwrap();
        assert!(ok.all && ok.app.as_deref() == Some("demo") && ok.parallel == Some(4));
    }

    #[test]
    fn shared_shapes_take_flags_anywhere_and_refuse_strays() {
        let ok: AppOrAll = parse("x:y", &words(&["demo", "--all"])).unwrap();
        assert!(ok.all && ok.app.as_deref() == Some("demo"));
        assert_eq!(
            ok.refuse_app_with_all().unwrap_err().to_string(),
            "Unexpected argument: demo"
        );
        let fail = |args: &[&str]| {
            parse::<AppWords>("x:y", &words(args))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            fail(&["demo", "a.com", "--bogus"]),
            "Invalid flag passed: --bogus"
        );
        assert_eq!(fail(&["demo", "-x"]), "Invalid flag passed: -x");
        let listed: AppWords = parse("x:y", &words(&["demo", "a.com", "--", "-x"])).unwrap();
        assert_eq!(listed.words, ["a.com", "-x"]);
        assert_eq!(
            parse::<NoArgs>("x:y", &words(&["extra"]))
                .unwrap_err()
                .to_string(),
            "Unexpected argument: extra"
        );
    }

    #[test]
    fn help_is_found_anywhere_before_a_separator() {
        assert!(wants_help(&words(&["demo", "--help"])));
        assert!(wants_help(&words(&["-h"])));
        assert!(!wants_help(&words(&["demo", "--", "--help"])));
    }
}
