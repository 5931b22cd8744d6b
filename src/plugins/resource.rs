//! Dokku's `resource` plugin: resource limits and reservations per app and
//! process type (`resource:limit`, `resource:reserve`, their `-clear`s and
//! `resource:report`), applied to the containers of the next deploy.
//!
//! Properties: `config/resource/<app|--global>/<proc>.<limit|reserve>.<key>`
//! (`_default_.limit.memory`, `web.reserve.memory`), one raw value each, as
//! Dokku 0.38 stores them. Without an app, `resource:limit-clear` and
//! `resource:reserve-clear` clear the global defaults (`--global`, which
//! `resource:limit` and `resource:reserve` also take).
//!
//! What a container gets (`docker-args-process-deploy`, and
//! `docker-args-process-run` for one-off containers with the `_default_`
//! values) is, per key, the first set of: the app's process type, the
//! app's `_default_`, the global process type, the global `_default_`.
//! The docker-local scheduler's mapping, as Dokku's: limit `cpu` →
//! `--cpus`, `memory` → `--memory` (a bare number is megabytes),
//! `memory-swap` → `--memory-swap`; reservation `memory` →
//! `--memory-reservation`. The rest (network limits, GPUs, CPU
//! reservations, the `build` process type) is stored and reported, with a
//! warning when it is set, since the engine request cannot carry it.

use crate::app_name::AppName;
use crate::context::Context;
use crate::docker_args::RunOptions;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows, Target};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "resource",
    description: "Manage resource settings for an app",
    default_command: None,
    commands: &[
        Command {
            name: "resource:limit",
            usage: "[--process-type <process-type>] [RESOURCE_OPTS...] <app>",
            description: "Limit resources for a given app/process-type combination",
            run: limit,
        },
        Command {
            name: "resource:limit-clear",
            usage: "[--process-type <process-type>] <app>",
            description: "Limit resources for a given app/process-type combination",
            run: limit_clear,
        },
        Command {
            name: "resource:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a resource report for one or more apps",
            run: report,
        },
        Command {
            name: "resource:reserve",
            usage: "[--process-type <process-type>] [RESOURCE_OPTS...] <app>",
            description: "Reserve resources for a given app/process-type combination",
            run: reserve,
        },
        Command {
            name: "resource:reserve-clear",
            usage: "[--process-type <process-type>] <app>",
            description: "Reserve resources for a given app/process-type combination",
            run: reserve_clear,
        },
    ],
    triggers: &[
        ("docker-args-process-deploy", args_process_deploy),
        ("docker-args-process-run", args_process_run),
    ],
};

const PLUGIN_NAME: &str = "resource";
const DEFAULT_PROCESS: &str = "_default_";
/// The process type whose limits Dokku gives the build container.
const BUILD_PROCESS: &str = "build";

/// The resource keys, in the order Dokku shows them.
const KEYS: [&str; 7] = [
    "cpu",
    "memory",
    "memory-swap",
    "network",
    "network-ingress",
    "network-egress",
    "nvidia-gpu",
];

/// A limit (`limit`) or a reservation (`reserve`): the middle of the key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Limit,
    Reserve,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Limit => "limit",
            Kind::Reserve => "reserve",
        }
    }

    /// The noun of Dokku's messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::Limit => "limits",
            Kind::Reserve => "reservation",
        }
    }

    /// Whether the docker-local scheduler applies `key` of this kind.
    fn applied(self, key: &str) -> bool {
        match self {
            Kind::Limit => matches!(key, "cpu" | "memory" | "memory-swap"),
            Kind::Reserve => key == "memory",
        }
    }
}

fn property_key(process: &str, kind: Kind, key: &str) -> String {
    format!("{process}.{}.{key}", kind.key())
}

/// `[--process-type P] [--global] [--KEY VALUE...] [<app>]`, flags
/// anywhere.
struct Request {
    process: String,
    global: bool,
    app: Option<String>,
    /// `(key, value)` in [`KEYS`] order; `clear` clears.
    values: Vec<(&'static str, String)>,
}

fn parse(args: &[String], with_values: bool) -> Result<Request> {
    let mut request = Request {
        process: DEFAULT_PROCESS.to_string(),
        global: false,
        app: None,
        values: Vec::new(),
    };
    let mut given: Vec<(&'static str, String)> = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if word == "--global" {
            request.global = true;
            continue;
        }
        let Some(flag) = word.strip_prefix("--").or_else(|| {
            word.strip_prefix('-')
                .filter(|rest| !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_digit()))
        }) else {
            if let Some(app) = &request.app {
                return Err(Error::fail(format!(
                    "Unexpected argument: {word} (the app is {app})"
                )));
            }
            request.app = Some(word.clone());
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let known = name == "process-type" || (with_values && KEYS.contains(&name));
        if !known {
            return Err(Error::fail(format!(
                "flag provided but not defined: -{name}"
            )));
        }
        let value = match inline {
            Some(value) => value,
            None => words
                .next()
                .cloned()
                .ok_or_else(|| Error::fail(format!("flag needs an argument: -{name}")))?,
        };
        if name == "process-type" {
            request.process = process_type(&value)?;
        } else if let Some(key) = KEYS.iter().find(|k| **k == name) {
            given.retain(|(k, _)| k != key);
            given.push((key, value));
        }
    }
    for key in KEYS {
        if let Some((_, value)) = given.iter().find(|(k, _)| *k == key) {
            request.values.push((key, value.clone()));
        }
    }
    Ok(request)
}

fn process_type(value: &str) -> Result<String> {
    if value.is_empty() {
        return Ok(DEFAULT_PROCESS.to_string());
    }
    if value == DEFAULT_PROCESS || crate::procfile::is_valid_type(value) {
        Ok(value.to_string())
    } else {
        Err(Error::fail(format!("Invalid process type: {value}")))
    }
}

/// The scope a request names: its app, or the global defaults.
fn scope(ctx: &Context, request: &Request, app_required: bool) -> Result<Scope> {
    match (&request.app, request.global) {
        (Some(app), true) => Err(Error::fail(format!(
            "Unexpected argument: {app} (--global names no app)"
        ))),
        (Some(app), false) => Ok(Scope::App(ctx.existing_app(Some(app))?)),
        (None, true) => Ok(Scope::Global),
        (None, false) if app_required => ctx.existing_app(None).map(Scope::App),
        (None, false) => Ok(Scope::Global),
    }
}

/// A size as Dokku's docker-local scheduler takes it: a number with an
/// optional unit `b`, `k`, `m` or `g` (or `kb`, `mb`, `gb`); a bare number
/// is megabytes.
fn size(key: &str, value: &str) -> Result<String> {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Docker's own spellings (`512mb`) pass too, as they pass in Dokku.
    let unit_ok = matches!(
        unit.to_ascii_lowercase().as_str(),
        "" | "b" | "k" | "m" | "g" | "kb" | "mb" | "gb"
    );
    if !numeric(whole) || !numeric(fraction) || !unit_ok {
        return Err(Error::fail(format!(
            "Invalid {key} value: {value} (a number with an optional unit b, k, m or g; a bare number is megabytes)"
        )));
    }
    Ok(if unit.is_empty() {
        format!("{value}m")
    } else {
        value.to_string()
    })
}

/// The engine option for `key` of `kind` with `value`, or `None` when the
/// docker-local scheduler does not apply it.
fn option(kind: Kind, key: &str, value: &str) -> Result<Option<String>> {
    Ok(match (kind, key) {
        (Kind::Limit, "cpu") => Some(format!("--cpus={value}")),
        (Kind::Limit, "memory") => Some(format!("--memory={}", size(key, value)?)),
        (Kind::Limit, "memory-swap") if value == "-1" => Some("--memory-swap=-1".into()),
        (Kind::Limit, "memory-swap") => Some(format!("--memory-swap={}", size(key, value)?)),
        (Kind::Reserve, "memory") => Some(format!("--memory-reservation={}", size(key, value)?)),
        _ => None,
    })
}

/// Checks a value before it is stored: what is applied must parse as the
/// engine option it becomes; the rest must at least look like a quantity.
fn check(kind: Kind, key: &str, value: &str) -> Result<()> {
    if let Some(option) = option(kind, key, value)? {
        return RunOptions::parse(&option, &[])
            .map(drop)
            .map_err(|e| Error::fail(format!("Invalid {key} value: {value}: {e}")));
    }
    let ok = match key {
        "cpu" => {
            let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
            [whole, fraction]
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        }
        "memory-swap" => value == "-1" || size(key, value).is_ok(),
        "nvidia-gpu" => value == "all" || value.parse::<u32>().is_ok(),
        _ => {
            value.len() <= 64
                && value.starts_with(|c: char| c.is_ascii_digit())
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Error::fail(format!("Invalid {key} value: {value}")))
    }
}

fn value(ctx: &Context, scope: &Scope, process: &str, kind: Kind, key: &str) -> Result<String> {
    Ok(ctx
        .store
        .property(PLUGIN_NAME, scope, &property_key(process, kind, key))?
        .unwrap_or_default())
}

fn set(ctx: &Context, args: Vec<String>, kind: Kind) -> Result<()> {
    let request = parse(&args, true)?;
    let scope = scope(ctx, &request, true)?;
    let subject = match &scope {
        Scope::App(app) => app.to_string(),
        Scope::Global => "--global".to_string(),
    };
    let suffix = if request.process == DEFAULT_PROCESS {
        String::new()
    } else {
        format!(" ({})", request.process)
    };
    if request.values.is_empty() {
        let which = if request.process == DEFAULT_PROCESS {
            "[defaults]".to_string()
        } else {
            format!("({})", request.process)
        };
        ctx.out.info2(format!(
            "resource {} {subject} information {which}",
            kind.noun()
        ))?;
        for key in KEYS {
            let value = value(ctx, &scope, &request.process, kind, key)?;
            ctx.out.verbose(format!("{key}: {value}"))?;
        }
        return Ok(());
    }
    // Every value is checked before the first is stored.
    for (key, value) in &request.values {
        if value != "clear" {
            check(kind, key, value)?;
        }
    }
    let _lock = ctx.store.lock(&scope)?;
    ctx.out.info2(format!(
        "Setting resource {} for {subject}{suffix}",
        kind.noun()
    ))?;
    let mut ignored = Vec::new();
    for (key, value) in &request.values {
        let property = property_key(&request.process, kind, key);
        if value == "clear" {
            ctx.out.verbose(format!("{key}: cleared"))?;
            ctx.store.delete_property(PLUGIN_NAME, &scope, &property)?;
        } else {
            ctx.out.verbose(format!("{key}: {value}"))?;
            ctx.store
                .set_property(PLUGIN_NAME, &scope, &property, value)?;
            if !kind.applied(key) || request.process == BUILD_PROCESS {
                ignored.push(*key);
            }
        }
    }
    if !ignored.is_empty() {
        let what = if request.process == BUILD_PROCESS {
            "berth's Dockerfile builds take no resource options".to_string()
        } else {
            format!(
                "the docker-local scheduler applies only {}",
                match kind {
                    Kind::Limit => "cpu, memory and memory-swap limits",
                    Kind::Reserve => "memory reservations",
                }
            )
        };
        ctx.out.warn(format!(
            "Stored but not applied to containers ({what}): {}",
            ignored.join(", ")
        ))?;
    }
    Ok(())
}

fn limit(ctx: &Context, args: Vec<String>) -> Result<()> {
    set(ctx, args, Kind::Limit)
}

fn reserve(ctx: &Context, args: Vec<String>) -> Result<()> {
    set(ctx, args, Kind::Reserve)
}

fn clear(ctx: &Context, args: Vec<String>, kind: Kind) -> Result<()> {
    let request = parse(&args, false)?;
    let scope = scope(ctx, &request, false)?;
    let suffix = if request.process == DEFAULT_PROCESS {
        String::new()
    } else {
        format!(" ({})", request.process)
    };
    let _lock = ctx.store.lock(&scope)?;
    match (&scope, kind) {
        (Scope::App(app), Kind::Limit) => ctx
            .out
            .info1(format!("Clearing resource limit for {app}{suffix}"))?,
        (Scope::App(app), Kind::Reserve) => ctx
            .out
            .info1(format!("Clearing resource reservation for {app}{suffix}"))?,
        (Scope::Global, Kind::Limit) => ctx
            .out
            .info1(format!("Clearing default resource limits{suffix}"))?,
        (Scope::Global, Kind::Reserve) => ctx
            .out
            .info1(format!("Clearing default resource reservation{suffix}"))?,
    }
    for key in KEYS {
        let property = property_key(&request.process, kind, key);
        ctx.store.delete_property(PLUGIN_NAME, &scope, &property)?;
    }
    Ok(())
}

fn limit_clear(ctx: &Context, args: Vec<String>) -> Result<()> {
    clear(ctx, args, Kind::Limit)
}

fn reserve_clear(ctx: &Context, args: Vec<String>) -> Result<()> {
    clear(ctx, args, Kind::Reserve)
}

/// The process types a scope has values for, `_default_` first.
fn stored_processes(ctx: &Context, scope: &Scope) -> Result<Vec<String>> {
    let mut processes = vec![DEFAULT_PROCESS.to_string()];
    for key in ctx.store.property_keys(PLUGIN_NAME, scope)? {
        let Some((process, rest)) = key.split_once('.') else {
            continue;
        };
        let known = [Kind::Limit, Kind::Reserve]
            .iter()
            .any(|kind| KEYS.iter().any(|k| rest == format!("{}.{k}", kind.key())));
        if known && !processes.iter().any(|p| p == process) {
            processes.push(process.to_string());
        }
    }
    Ok(processes)
}

/// One process type's rows: `--resource[-global]-<proc>.<kind>.<key>`.
fn process_rows(ctx: &Context, scope: &Scope, process: &str, rows: &mut Rows) -> Result<()> {
    let prefix = match scope {
        Scope::App(_) => "--resource-",
        Scope::Global => "--resource-global-",
    };
    for kind in [Kind::Limit, Kind::Reserve] {
        for key in KEYS {
            let flag = format!("{prefix}{}", property_key(process, kind, key));
            rows.push((flag, value(ctx, scope, process, kind, key)?));
        }
    }
    Ok(())
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "resource:report",
        title: "resource",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| {
        let mut rows = Rows::new();
        match target {
            Target::App(app) => {
                let scope = Scope::App(app.clone());
                let mut processes = stored_processes(ctx, &scope)?;
                for (process, _) in crate::dynos::scale(&ctx.store, app)? {
                    if !processes.contains(&process) {
                        processes.push(process);
                    }
                }
                for process in processes {
                    process_rows(ctx, &scope, &process, &mut rows)?;
                }
            }
            Target::Global => {
                for process in stored_processes(ctx, &Scope::Global)? {
                    process_rows(ctx, &Scope::Global, &process, &mut rows)?;
                }
            }
        }
        Ok(rows)
    })
}

/// The value that applies to `process` of `app`: the app's process type,
/// its `_default_`, the global process type, the global `_default_`.
fn applied_value(
    ctx: &Context,
    app: &AppName,
    process: &str,
    kind: Kind,
    key: &str,
) -> Result<Option<String>> {
    let app_scope = Scope::App(app.clone());
    let mut chain = vec![(&app_scope, process)];
    if process != DEFAULT_PROCESS {
        chain.push((&app_scope, DEFAULT_PROCESS));
    }
    chain.push((&Scope::Global, process));
    if process != DEFAULT_PROCESS {
        chain.push((&Scope::Global, DEFAULT_PROCESS));
    }
    for (scope, process) in chain {
        let value = value(ctx, scope, process, kind, key)?;
        if !value.is_empty() {
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// The engine options of `process` of `app`, one per line.
fn answer(ctx: &Context, app: Option<&String>, process: &str) -> Result<String> {
    let Some(app) = app.and_then(|a| AppName::lookup(a).ok()) else {
        return Ok(String::new());
    };
    if !ctx.store.app_exists(&app) || process == BUILD_PROCESS {
        return Ok(String::new());
    }
    let mut text = String::new();
    for kind in [Kind::Limit, Kind::Reserve] {
        for key in KEYS {
            let Some(value) = applied_value(ctx, &app, process, kind, key)? else {
                continue;
            };
            // A value stored by hand that does not parse is left out
            // rather than failing every deploy; resource:report shows it.
            if let Ok(Some(option)) = option(kind, key, &value) {
                text.push_str(&option);
                text.push('\n');
            }
        }
    }
    Ok(text)
}

/// `docker-args-process-deploy APP IMAGE_SOURCE_TYPE TAG PROC INDEX`.
fn args_process_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    match args.get(3) {
        Some(process) if crate::procfile::is_valid_type(process) => {
            answer(ctx, args.first(), process)
        }
        _ => Ok(String::new()),
    }
}

/// `docker-args-process-run APP IMAGE_SOURCE_TYPE TAG`: one-off containers
/// get the `_default_` values.
fn args_process_run(ctx: &Context, args: &[String]) -> Result<String> {
    answer(ctx, args.first(), DEFAULT_PROCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_anywhere_in_dokku_order() {
        let request = parse(
            &words("--memory=100 app --process-type web --cpu 0.5 --memory 200"),
            true,
        )
        .unwrap();
        assert_eq!(request.app.as_deref(), Some("app"));
        assert_eq!(request.process, "web");
        assert_eq!(
            request.values,
            [("cpu", "0.5".to_string()), ("memory", "200".to_string())]
        );
        let error = |text: &str| parse(&words(text), true).err().unwrap().to_string();
        assert_eq!(
            error("--bogus 1 app"),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(error("app --memory"), "flag needs an argument: -memory");
        assert!(error("--process-type ../x app").contains("Invalid process type"));
        assert!(parse(&words("--memory 1 app"), false).is_err());
    }

    #[test]
    fn units_follow_the_docker_local_scheduler() {
        assert_eq!(size("memory", "100").unwrap(), "100m");
        assert_eq!(size("memory", "1.5g").unwrap(), "1.5g");
        assert_eq!(size("memory", "512K").unwrap(), "512K");
        assert_eq!(size("memory", "512mb").unwrap(), "512mb");
        for bad in ["100x", "m", "1.", "-5", "100mbit", "1e3", "1t"] {
            assert!(size("memory", bad).is_err(), "{bad}");
        }
        let option = |kind, key, value| option(kind, key, value).unwrap();
        assert_eq!(
            option(Kind::Limit, "memory", "100"),
            Some("--memory=100m".into())
        );
        assert_eq!(
            option(Kind::Limit, "memory-swap", "-1"),
            Some("--memory-swap=-1".into())
        );
        assert_eq!(option(Kind::Limit, "cpu", "2"), Some("--cpus=2".into()));
        assert_eq!(
            option(Kind::Reserve, "memory", "64m"),
            Some("--memory-reservation=64m".into())
        );
        assert_eq!(option(Kind::Reserve, "cpu", "1"), None);
        assert_eq!(option(Kind::Limit, "nvidia-gpu", "1"), None);
        assert!(check(Kind::Limit, "cpu", "lots").is_err());
        assert!(check(Kind::Reserve, "cpu", "1.5").is_ok());
        assert!(check(Kind::Limit, "nvidia-gpu", "all").is_ok());
        assert!(check(Kind::Limit, "network", "10mbit").is_ok());
        assert!(check(Kind::Limit, "network", "fast; rm").is_err());
    }
}
