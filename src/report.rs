//! Dokku's `<plugin>:report` layout, shared by every plugin's report.
//!
//! A plugin supplies its rows as `(flag, value)` pairs (`--app-dir`,
//! `/home/dokku/demo`); this module parses `[<app>] [--<flag>] [--format
//! stdout|json]` and prints the header, the aligned rows, one raw value, or
//! JSON, exactly as Dokku does.

use std::collections::BTreeMap;

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::store::{Layered, Scope};

pub struct ReportSpec {
    /// The command, for messages: `apps:report`.
    pub command: &'static str,
    /// The word in the header and the JSON key prefix: `app` for apps.
    pub title: &'static str,
    /// Whether JSON also carries the flag minus `--` (Dokku's legacy keys).
    pub legacy_keys: bool,
}

pub type Rows = Vec<(String, String)>;

/// Dokku 0.38's three rows for a property: the app's raw value
/// (`--<prefix>-<key>`), the global one (`--<prefix>-global-<key>`) and
/// what applies (`--<prefix>-computed-<key>`, `default` when neither is
/// set).
pub fn layered_rows(prefix: &str, key: &str, values: &Layered, default: &str) -> Rows {
    vec![
        (format!("--{prefix}-{key}"), values.app.clone()),
        (format!("--{prefix}-global-{key}"), values.global.clone()),
        (
            format!("--{prefix}-computed-{key}"),
            values.computed(default),
        ),
    ]
}

/// What a report is about: one app, or (`--global`) the global values.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    App(&'a AppName),
    Global,
}

/// The global and computed rows of `plugin`'s `(key, default)` properties
/// when no app is in view: what `--global` shows (the computed value is the
/// global one, else the default).
pub fn global_rows(ctx: &Context, plugin: &str, properties: &[(&str, &str)]) -> Result<Rows> {
    let mut rows = Rows::new();
    for (key, default) in properties {
        let values = Layered {
            app: String::new(),
            global: ctx
                .store
                .property(plugin, &Scope::Global, key)?
                .unwrap_or_default(),
        };
        rows.extend(layered_rows(plugin, key, &values, default));
    }
    Ok(rows)
}

/// Dokku 0.38's `--global` report keeps the `--<prefix>-global-<key>`
/// rows and the `--<prefix>-computed-<key>` rows of those keys.
fn only_global(rows: Rows) -> Rows {
    let globals: Vec<String> = rows
        .iter()
        .filter_map(|(flag, _)| {
            flag.split_once("-global-")
                .map(|(p, k)| format!("{p}-computed-{k}"))
        })
        .collect();
    rows.into_iter()
        .filter(|(flag, _)| flag.contains("-global-") || globals.contains(flag))
        .collect()
}

enum Format {
    Stdout,
    Json,
}

pub fn run(
    ctx: &Context,
    spec: &ReportSpec,
    args: Vec<String>,
    rows: impl Fn(Target) -> Result<Rows>,
) -> Result<()> {
    let mut app = None;
    let mut global = false;
    let mut format = None;
    let mut flags = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--format" {
            format = Some(args.next().unwrap_or_default());
        } else if let Some(value) = arg.strip_prefix("--format=") {
            format = Some(value.to_string());
        } else if arg == "--global" {
            global = true;
        } else if arg.starts_with("--") {
            flags.push(arg);
        } else if app.is_none() {
            app = Some(arg);
        } else {
            return Err(Error::fail(format!("Unexpected argument: {arg}")));
        }
    }
    let format = match format.as_deref() {
        None | Some("stdout") => Format::Stdout,
        Some("json") => Format::Json,
        Some(other) => {
            return Err(Error::fail(format!(
                "Invalid --format value specified: {other} (valid: json, stdout)"
            )));
        }
    };
    if flags.len() > 1 {
        return Err(Error::fail(format!(
            "{} command allows only a single flag",
            spec.command
        )));
    }
    let flag = flags.pop();
    if flag.is_some() && matches!(format, Format::Json) {
        return Err(Error::fail(
            "--format flag cannot be specified when specifying an info flag",
        ));
    }

    if global {
        if let Some(app) = app {
            return Err(Error::fail(format!(
                "Unexpected argument: {app} (--global reports no app)"
            )));
        }
        let mut rows = only_global(rows(Target::Global)?);
        rows.sort();
        return print(ctx, spec, "Global", &rows, flag.as_deref(), &format);
    }
    let apps = match app {
        Some(name) => vec![ctx.existing_app(Some(&name))?],
        // A user key sees the apps its access lists give it, as apps:list.
        None => crate::access::usable_apps(ctx, ctx.store.apps()?)?,
    };
    if apps.is_empty() {
        return ctx.out.warn("You haven't deployed any applications yet");
    }
    for app in &apps {
        let mut rows = rows(Target::App(app))?;
        rows.sort();
        print(ctx, spec, app.as_str(), &rows, flag.as_deref(), &format)?;
    }
    Ok(())
}

/// One report: a single flag's raw value, the aligned rows, or JSON.
fn print(
    ctx: &Context,
    spec: &ReportSpec,
    subject: &str,
    rows: &Rows,
    flag: Option<&str>,
    format: &Format,
) -> Result<()> {
    if let Some(flag) = flag {
        let value = rows.iter().find(|(f, _)| f == flag).map(|(_, v)| v);
        let Some(value) = value else {
            let valid: Vec<&str> = rows.iter().map(|(f, _)| f.as_str()).collect();
            return Err(Error::fail(format!(
                "Invalid flag passed, valid flags: {}",
                valid.join(", ")
            )));
        };
        return ctx.out.line(value);
    }
    match format {
        Format::Stdout => print_rows(ctx, spec, subject, rows),
        Format::Json => ctx.out.line(json_line(spec, rows)),
    }
}

fn print_rows(ctx: &Context, spec: &ReportSpec, subject: &str, rows: &Rows) -> Result<()> {
    ctx.out
        .info2(format!("{subject} {} information", spec.title))?;
    let width = rows
        .iter()
        .map(|(flag, _)| flag.len())
        .max()
        .unwrap_or(0)
        .max(31);
    for (flag, value) in rows {
        let key = format!("{}:", label(spec, flag));
        ctx.out.verbose(format!("{key:<width$}{value}"))?;
    }
    Ok(())
}

/// `--app-deploy-source` → `App deploy source`. Dokku's resource report
/// drops its prefix and keeps the case: `--resource-web.limit.memory` →
/// `web limit memory`.
fn label(spec: &ReportSpec, flag: &str) -> String {
    let bare = flag.trim_start_matches("--");
    if spec.title == "resource" {
        let bare = bare.strip_prefix("resource-").unwrap_or(bare);
        return bare.replace(['-', '.'], " ");
    }
    let words = bare.replace(['-', '.'], " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn json_line(spec: &ReportSpec, rows: &Rows) -> String {
    let prefix = format!("--{}-", spec.title);
    let mut object = BTreeMap::new();
    for (flag, value) in rows {
        let bare = flag.trim_start_matches("--");
        let key = flag.strip_prefix(&prefix).unwrap_or(bare);
        object.insert(key.to_string(), value.clone());
        if spec.legacy_keys {
            object.insert(bare.to_string(), value.clone());
        }
    }
    serde_json::to_string(&object).expect("a map of strings serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_dokku() {
        let spec = |title| ReportSpec {
            command: "x:report",
            title,
            legacy_keys: false,
        };
        assert_eq!(
            label(&spec("app"), "--app-deploy-source"),
            "App deploy source"
        );
        assert_eq!(label(&spec("ps"), "--status-web.1"), "Status web 1");
        assert_eq!(
            label(&spec("resource"), "--resource-web.limit.memory-swap"),
            "web limit memory swap"
        );
    }

    #[test]
    fn json_has_short_and_legacy_keys() {
        let spec = ReportSpec {
            command: "apps:report",
            title: "app",
            legacy_keys: true,
        };
        let rows = vec![("--app-dir".to_string(), "/d".to_string())];
        assert_eq!(json_line(&spec, &rows), r#"{"app-dir":"/d","dir":"/d"}"#);
    }

    #[test]
    fn global_reports_keep_global_and_their_computed_rows() {
        let row = |f: &str| (f.to_string(), String::new());
        let rows = vec![
            row("--ps-restore"),
            row("--ps-stop-timeout-seconds"),
            row("--ps-global-stop-timeout-seconds"),
            row("--ps-computed-stop-timeout-seconds"),
            row("--ps-computed-other"),
        ];
        let kept: Vec<String> = only_global(rows).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            kept,
            [
                "--ps-global-stop-timeout-seconds",
                "--ps-computed-stop-timeout-seconds"
            ]
        );
    }
}
