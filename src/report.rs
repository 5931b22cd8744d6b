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
use crate::store::Layered;

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

enum Format {
    Stdout,
    Json,
}

pub fn run(
    ctx: &Context,
    spec: &ReportSpec,
    args: Vec<String>,
    rows: impl Fn(&AppName) -> Result<Rows>,
) -> Result<()> {
    let mut app = None;
    let mut format = None;
    let mut flags = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--format" {
            format = Some(args.next().unwrap_or_default());
        } else if let Some(value) = arg.strip_prefix("--format=") {
            format = Some(value.to_string());
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

    let apps = match app {
        Some(name) => vec![ctx.existing_app(Some(&name))?],
        None => ctx.store.apps()?,
    };
    if apps.is_empty() {
        return ctx.out.warn("You haven't deployed any applications yet");
    }
    for app in &apps {
        let mut rows = rows(app)?;
        rows.sort();
        if let Some(flag) = &flag {
            let value = rows.iter().find(|(f, _)| f == flag).map(|(_, v)| v);
            let Some(value) = value else {
                let valid: Vec<&str> = rows.iter().map(|(f, _)| f.as_str()).collect();
                return Err(Error::fail(format!(
                    "Invalid flag passed, valid flags: {}",
                    valid.join(", ")
                )));
            };
            ctx.out.line(value)?;
            continue;
        }
        match format {
            Format::Stdout => print_rows(ctx, spec, app, &rows)?,
            Format::Json => ctx.out.line(json_line(spec, &rows))?,
        }
    }
    Ok(())
}

fn print_rows(ctx: &Context, spec: &ReportSpec, app: &AppName, rows: &Rows) -> Result<()> {
    ctx.out.info2(format!("{app} {} information", spec.title))?;
    let width = rows
        .iter()
        .map(|(flag, _)| flag.len())
        .max()
        .unwrap_or(0)
        .max(31);
    for (flag, value) in rows {
        let key = format!("{}:", label(flag));
        ctx.out.verbose(format!("{key:<width$}{value}"))?;
    }
    Ok(())
}

/// `--app-deploy-source` → `App deploy source`.
fn label(flag: &str) -> String {
    let words = flag.trim_start_matches("--").replace(['-', '.'], " ");
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
        assert_eq!(label("--app-deploy-source"), "App deploy source");
        assert_eq!(label("--status-web.1"), "Status web 1");
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
}
