//! Dokku's `docker-options` plugin: extra `docker run` / `docker build`
//! options an app's containers get, per phase (`build`, `deploy`, `run`)
//! and, for `deploy`, per process type (`--process web`).
//!
//! Property: `config/docker-options/<app>/<process>.<phase>`, one option per
//! line, as Dokku 0.38 keeps its property lists (`_default_.deploy` is the
//! app-wide list, `web.deploy` the web processes' own). Options are stored
//! as the user wrote them; an argument holding several `--flag [value]`
//! groups is stored one entry per group. Words are split with xargs' rules
//! ([`crate::words::split`]), never by a shell: nothing is expanded.
//!
//! Every option is checked at `add` time by the one docker-options parser
//! (`docker_args`), against the option classes the admin allowed, so a bad
//! or refused option is refused before anything is stored. The triggers
//! `docker-args-deploy`, `docker-args-process-deploy`, `docker-args-run`
//! and `docker-args-build` answer the stored options; the container-spec
//! builder and the Dockerfile builder parse them again.

use crate::app_name::AppName;
use crate::context::Context;
use crate::docker_args::{BuildOptions, OptionClass, RunOptions, allowed_classes};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows, Target};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "docker-options",
    description: "Pass options to Docker the various stages of an app",
    default_command: None,
    commands: &[
        Command {
            name: "docker-options:add",
            usage: "[--process PROC...] <app> <phase(s)> OPTION",
            description: "Add Docker option to app for phase",
            run: add,
        },
        Command {
            name: "docker-options:clear",
            usage: "[--process PROC...] <app> [<phase(s)>...]",
            description: "Clear docker options from app",
            run: clear,
        },
        Command {
            name: "docker-options:list",
            usage: "<app> [--process PROC] --phase PHASE",
            description: "List docker options for one process+phase pair",
            run: list,
        },
        Command {
            name: "docker-options:remove",
            usage: "[--process PROC...] <app> <phase(s)> OPTION",
            description: "Remove Docker option from app for phase",
            run: remove,
        },
        Command {
            name: "docker-options:report",
            usage: "[<app>] [<flag>] [--format json|stdout]",
            description: "Displays a docker options report for one or more apps",
            run: report,
        },
    ],
    triggers: &[
        ("docker-args-build", args_build),
        ("docker-args-deploy", args_deploy),
        ("docker-args-process-deploy", args_process_deploy),
        ("docker-args-run", args_run),
    ],
};

const PLUGIN_NAME: &str = "docker-options";
const PHASES: [&str; 3] = ["build", "deploy", "run"];
const DEFAULT_PROCESS: &str = "_default_";

/// The words of a command, once `--process P` (anywhere, as Dokku honours a
/// misplaced one) is taken out.
struct Parsed {
    processes: Vec<String>,
    positional: Vec<String>,
    phase: Option<String>,
}

/// Takes `--process P` / `--process=P` (and `--phase P` when `phase_flag`)
/// out of `args`; every other word is positional, options included.
fn parse_words(args: &[String], phase_flag: bool) -> Result<Parsed> {
    let mut parsed = Parsed {
        processes: Vec::new(),
        positional: Vec::new(),
        phase: None,
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let mut value_of = |flag: &str| -> Result<Option<String>> {
            if word == flag {
                return words
                    .next()
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| Error::fail(format!("{flag} requires a value")));
            }
            Ok(word
                .strip_prefix(flag)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string))
        };
        if let Some(process) = value_of("--process")? {
            parsed.processes.push(valid_process(&process)?);
        } else if phase_flag && let Some(phase) = value_of("--phase")? {
            parsed.phase = Some(phase);
        } else {
            parsed.positional.push(word.clone());
        }
    }
    Ok(parsed)
}

fn valid_process(process: &str) -> Result<String> {
    if process == DEFAULT_PROCESS {
        return Err(Error::fail(format!(
            "The process type {DEFAULT_PROCESS} is reserved and cannot be passed to --process"
        )));
    }
    let ok = !process.is_empty()
        && process
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if !ok {
        return Err(Error::fail(format!("Invalid process type: {process}")));
    }
    Ok(process.to_string())
}

/// `build,run` → `["build", "run"]`, each checked.
fn parse_phases(text: &str) -> Result<Vec<String>> {
    let mut phases: Vec<String> = Vec::new();
    for phase in text.split(',') {
        if !PHASES.contains(&phase) {
            return Err(Error::fail(format!(
                "Phase '{phase}' not valid: valid phases are {}",
                PHASES.join(", ")
            )));
        }
        if !phases.iter().any(|p| p == phase) {
            phases.push(phase.to_string());
        }
    }
    Ok(phases)
}

/// The property keys `(process, phase)` pairs name: `_default_.deploy`
/// without `--process`, `web.deploy` with it (deploy only).
fn keys(processes: &[String], phases: &[String]) -> Result<Vec<String>> {
    if !processes.is_empty() {
        if let Some(phase) = phases.iter().find(|p| *p != "deploy") {
            return Err(Error::fail(format!(
                "--process is supported only for the deploy phase, not {phase}"
            )));
        }
        return Ok(processes.iter().map(|p| format!("{p}.deploy")).collect());
    }
    Ok(phases
        .iter()
        .map(|phase| format!("{DEFAULT_PROCESS}.{phase}"))
        .collect())
}

fn split(text: &str) -> Result<Vec<String>> {
    crate::words::split(text).map_err(|e| Error::fail(format!("Invalid docker option {text}: {e}")))
}

/// A word as it must be written for [`crate::words::split`] to give it back.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_=.,:/@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else if !word.contains(['\'', '\n']) {
        format!("'{word}'")
    } else if !word.contains(['"', '\n']) {
        format!("\"{word}\"")
    } else {
        word.chars()
            .map(|c| {
                if plain(c) {
                    c.to_string()
                } else {
                    format!("\\{c}")
                }
            })
            .collect()
    }
}

/// One user argument as stored entries: the argument itself when it holds
/// one `--flag [value]` group, else one entry per group (a word starting
/// with `-` starts a group).
fn entries(argument: &str) -> Result<Vec<String>> {
    if argument.contains('\n') {
        return Err(Error::fail("A docker option must not contain a newline"));
    }
    let words = split(argument)?;
    let mut groups: Vec<Vec<String>> = Vec::new();
    for word in words {
        match groups.last_mut() {
            Some(group) if !(word.starts_with('-') && word.len() > 1) => group.push(word),
            _ => groups.push(vec![word]),
        }
    }
    Ok(match groups.len() {
        0 => Vec::new(),
        1 => vec![argument.trim().to_string()],
        _ => groups
            .iter()
            .map(|group| group.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
            .collect(),
    })
}

/// Checks `entry` as the options of `phase`, against the allowed classes.
fn validate(entry: &str, phase: &str, allowed: &[OptionClass]) -> Result<()> {
    let checked = if phase == "build" {
        BuildOptions::parse(entry, allowed).map(drop)
    } else {
        RunOptions::parse(entry, allowed).map(drop)
    };
    checked.map_err(|e| {
        Error::fail(format!(
            "Invalid docker option for the {phase} phase: {entry}: {e}"
        ))
    })
}

fn read(ctx: &Context, app: &AppName, key: &str) -> Result<Vec<String>> {
    Ok(ctx
        .store
        .property(PLUGIN_NAME, &Scope::App(app.clone()), key)?
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_string)
        .collect())
}

fn write(ctx: &Context, app: &AppName, key: &str, entries: &[String]) -> Result<()> {
    let text: String = entries.iter().map(|e| format!("{e}\n")).collect();
    ctx.store
        .set_property(PLUGIN_NAME, &Scope::App(app.clone()), key, &text)
}

/// The processes with their own deploy options, sorted.
fn processes(ctx: &Context, app: &AppName) -> Result<Vec<String>> {
    let keys = ctx
        .store
        .property_keys(PLUGIN_NAME, &Scope::App(app.clone()))?;
    Ok(keys
        .iter()
        .filter_map(|key| key.strip_suffix(".deploy"))
        .filter(|process| *process != DEFAULT_PROCESS && valid_process(process).is_ok())
        .map(str::to_string)
        .collect())
}

/// `<app> <phases> OPTION...`, with the keys and the entries to store.
struct Change {
    app: AppName,
    phases: Vec<String>,
    keys: Vec<String>,
    entries: Vec<String>,
}

fn change(ctx: &Context, command: &str, args: &[String]) -> Result<Change> {
    let parsed = parse_words(args, false)?;
    let mut positional = parsed.positional.into_iter();
    let app = ctx.existing_app(positional.next().as_deref())?;
    let phases = positional
        .next()
        .ok_or_else(|| Error::fail("Please specify a phase (build, deploy, run)"))?;
    let phases = parse_phases(&phases)?;
    let keys = keys(&parsed.processes, &phases)?;
    let mut entries = Vec::new();
    for argument in positional {
        entries.extend(self::entries(&argument)?);
    }
    if entries.is_empty() {
        return Err(Error::fail(format!(
            "Please specify a docker option to {}",
            command.trim_start_matches("docker-options:")
        )));
    }
    Ok(Change {
        app,
        phases,
        keys,
        entries,
    })
}

fn add(ctx: &Context, args: Vec<String>) -> Result<()> {
    let change = change(ctx, "docker-options:add", &args)?;
    let allowed = allowed_classes(ctx)?;
    for phase in &change.phases {
        for entry in &change.entries {
            validate(entry, phase, &allowed)?;
        }
    }
    let _lock = ctx.store.lock(&Scope::App(change.app.clone()))?;
    for key in &change.keys {
        let mut stored = read(ctx, &change.app, key)?;
        for entry in &change.entries {
            let words = split(entry)?;
            let present = stored
                .iter()
                .any(|s| crate::words::split(s).is_ok_and(|w| w == words));
            if !present {
                stored.push(entry.clone());
            }
        }
        write(ctx, &change.app, key, &stored)?;
    }
    Ok(())
}

fn remove(ctx: &Context, args: Vec<String>) -> Result<()> {
    let change = change(ctx, "docker-options:remove", &args)?;
    let removed: Vec<Vec<String>> = change
        .entries
        .iter()
        .map(|e| split(e))
        .collect::<Result<_>>()?;
    let _lock = ctx.store.lock(&Scope::App(change.app.clone()))?;
    for key in &change.keys {
        let mut stored = read(ctx, &change.app, key)?;
        // Matched by words, so any quoting of the same value matches.
        stored.retain(|s| !crate::words::split(s).is_ok_and(|w| removed.contains(&w)));
        write(ctx, &change.app, key, &stored)?;
    }
    Ok(())
}

fn clear(ctx: &Context, args: Vec<String>) -> Result<()> {
    let parsed = parse_words(&args, false)?;
    let mut positional = parsed.positional.into_iter();
    let app = ctx.existing_app(positional.next().as_deref())?;
    let mut phases = Vec::new();
    for text in positional {
        for phase in parse_phases(&text)? {
            if !phases.contains(&phase) {
                phases.push(phase);
            }
        }
    }
    let all = phases.is_empty();
    if all {
        phases = if parsed.processes.is_empty() {
            PHASES.map(str::to_string).to_vec()
        } else {
            vec!["deploy".to_string()]
        };
    }
    let keys = keys(&parsed.processes, &phases)?;
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    if all {
        ctx.out
            .info1(format!("Clearing docker-options for {app} on all phases"))?;
    }
    for (phase, key) in phases.iter().cycle().zip(&keys) {
        if !all {
            ctx.out.info1(format!(
                "Clearing docker-options for {app} on phase {phase}"
            ))?;
        }
        ctx.store
            .delete_property(PLUGIN_NAME, &Scope::App(app.clone()), key)?;
    }
    Ok(())
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let parsed = parse_words(&args, true)?;
    let mut positional = parsed.positional.into_iter();
    let app = ctx.existing_app(positional.next().as_deref())?;
    if let Some(extra) = positional.next() {
        return Err(Error::fail(format!("Unexpected argument: {extra}")));
    }
    if parsed.processes.len() > 1 {
        return Err(Error::fail("docker-options:list takes a single --process"));
    }
    let phase = parsed
        .phase
        .ok_or_else(|| Error::fail("Please specify a phase with --phase (build, deploy, run)"))?;
    let phases = parse_phases(&phase)?;
    if phases.len() != 1 {
        return Err(Error::fail("docker-options:list takes a single phase"));
    }
    for key in keys(&parsed.processes, &phases)? {
        for entry in read(ctx, &app, &key)? {
            ctx.out.line(entry)?;
        }
    }
    Ok(())
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "docker-options:report",
        title: "docker-options",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| {
        let Target::App(app) = target else {
            return Ok(Rows::new());
        };
        let mut rows: Rows = Vec::new();
        for phase in PHASES {
            let entries = read(ctx, app, &format!("{DEFAULT_PROCESS}.{phase}"))?;
            rows.push((format!("--docker-options-{phase}"), entries.join(" ")));
        }
        for process in processes(ctx, app)? {
            let entries = read(ctx, app, &format!("{process}.deploy"))?;
            if !entries.is_empty() {
                rows.push((
                    format!("--docker-options-deploy.{process}"),
                    entries.join(" "),
                ));
            }
        }
        Ok(rows)
    })
}

/// The stored entries of `key`, one per line, for a `docker-args-*`
/// trigger; nothing for an app that does not exist (any more).
fn answer(ctx: &Context, app: Option<&String>, key: &str) -> Result<String> {
    let Some(app) = app.and_then(|a| AppName::lookup(a).ok()) else {
        return Ok(String::new());
    };
    if !ctx.store.app_exists(&app) {
        return Ok(String::new());
    }
    Ok(read(ctx, &app, key)?
        .iter()
        .map(|e| format!("{e}\n"))
        .collect())
}

/// `docker-args-build APP BUILDER`.
fn args_build(ctx: &Context, args: &[String]) -> Result<String> {
    answer(ctx, args.first(), "_default_.build")
}

/// `docker-args-deploy APP TAG [PROC INDEX]`.
fn args_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    answer(ctx, args.first(), "_default_.deploy")
}

/// `docker-args-process-deploy APP IMAGE_SOURCE_TYPE TAG PROC INDEX`.
fn args_process_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    match args.get(3) {
        Some(process) if valid_process(process).is_ok() => {
            answer(ctx, args.first(), &format!("{process}.deploy"))
        }
        _ => Ok(String::new()),
    }
}

/// `docker-args-run APP TAG`.
fn args_run(ctx: &Context, args: &[String]) -> Result<String> {
    answer(ctx, args.first(), "_default_.run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_is_stored_verbatim() {
        assert_eq!(
            entries("--label 'com.example.owner=platform team'").unwrap(),
            ["--label 'com.example.owner=platform team'"]
        );
    }

    #[test]
    fn several_groups_are_split_and_round_trip() {
        let got = entries("--ulimit nofile=12 --label 'a=b c' -v x:/y").unwrap();
        assert_eq!(got, ["--ulimit nofile=12", "--label 'a=b c'", "-v x:/y"]);
        let odd = entries(r#"--label "it's" --label 'say "hi"'"#).unwrap();
        assert_eq!(crate::words::split(&odd[0]).unwrap(), ["--label", "it's"]);
        assert_eq!(
            crate::words::split(&odd[1]).unwrap(),
            ["--label", "say \"hi\""]
        );
        let both = quote("a'b\"c d");
        assert_eq!(crate::words::split(&both).unwrap(), ["a'b\"c d"]);
    }

    #[test]
    fn phases_and_processes() {
        assert_eq!(parse_phases("deploy,run").unwrap(), ["deploy", "run"]);
        assert!(parse_phases("deploy,bogus").is_err());
        assert!(parse_phases("").is_err());
        let procs = vec!["web".to_string()];
        assert_eq!(
            keys(&procs, &["deploy".to_string()]).unwrap(),
            ["web.deploy"]
        );
        assert!(keys(&procs, &["run".to_string()]).is_err());
        assert!(valid_process("_default_").is_err());
        assert!(valid_process("../x").is_err());
    }

    #[test]
    fn misplaced_process_flag_is_honoured() {
        let args: Vec<String> = ["app", "deploy", "-p 1:2", "--process", "web"]
            .map(String::from)
            .to_vec();
        let parsed = parse_words(&args, false).unwrap();
        assert_eq!(parsed.processes, ["web"]);
        assert_eq!(parsed.positional, ["app", "deploy", "-p 1:2"]);
    }
}
