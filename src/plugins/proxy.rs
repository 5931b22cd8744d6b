//! Dokku's `proxy` plugin: whether an app is routed through the proxy, which
//! proxy (berth implements `nginx` only), the proxy's ports, and the
//! commands that ask the proxy to write or drop an app's config.
//!
//! Properties: `config/proxy/<app|--global>/{type,proxy-port,proxy-ssl-port}`
//! and `config/proxy/<app>/disabled`. The proxy itself answers
//! `proxy-build-config APP` and `proxy-clear-config APP`; this plugin fires
//! them, once per app.

use crate::app_name::AppName;
use crate::args::AppOrAll;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "proxy",
    description: "Manage the proxy integration for an app",
    default_command: None,
    commands: &[
        Command {
            name: "proxy:build-config",
            usage: "[--parallel count] [--all|<app>]",
            description: "(Re)builds config for given app",
            run: build_config,
        },
        Command {
            name: "proxy:clear-config",
            usage: "[--all|<app>]",
            description: "Clears config for given app",
            run: clear_config,
        },
        Command {
            name: "proxy:disable",
            usage: "[--parallel count] [--all|<app>]",
            description: "Disable proxy for app",
            run: disable,
        },
        Command {
            name: "proxy:enable",
            usage: "[--parallel count] [--all|<app>]",
            description: "Enable proxy for app",
            run: enable,
        },
        Command {
            name: "proxy:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a proxy report for one or more apps",
            run: report,
        },
        Command {
            name: "proxy:set",
            usage: "[--global|<app>] <key> <value>",
            description: "Set or clear a proxy property for an app",
            run: set,
        },
    ],
    triggers: &[
        ("proxy-is-enabled", trigger_proxy_is_enabled),
        ("proxy-type", trigger_proxy_type),
    ],
};

const DEFAULT_TYPE: &str = "nginx";

const PROPERTIES: &[Property] = &[
    Property {
        name: "disabled",
        reach: Reach::AppOnly,
        validate: Some(validate_bool),
    },
    Property {
        name: "proxy-port",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_port),
    },
    Property {
        name: "proxy-ssl-port",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_port),
    },
    Property {
        name: "type",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_type),
    },
];

fn validate_bool(value: &str) -> Result<()> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value specified: {value} (valid: true, false)"
        ))),
    }
}

fn validate_port(value: &str) -> Result<()> {
    match value.parse::<u16>() {
        Ok(port) if port > 0 => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid port specified: {value} (valid: 1 to 65535)"
        ))),
    }
}

fn validate_type(value: &str) -> Result<()> {
    if value.contains(':') {
        return Err(Error::fail(
            "Consider using ports:set command or specifying a valid proxy",
        ));
    }
    if value != DEFAULT_TYPE {
        return Err(Error::fail(format!(
            "Invalid proxy type {value}: berth implements the nginx proxy only"
        )));
    }
    Ok(())
}

// ----- state -----

fn property(ctx: &Context, scope: &Scope, key: &str) -> Result<String> {
    Ok(ctx.store.property("proxy", scope, key)?.unwrap_or_default())
}

/// The app's value, else the global one, else `default`.
fn computed(ctx: &Context, app: &AppName, key: &str, default: &str) -> Result<String> {
    Ok(ctx
        .store
        .layered_property("proxy", app, key)?
        .computed(default))
}

fn is_enabled(ctx: &Context, app: &AppName) -> Result<bool> {
    Ok(property(ctx, &Scope::App(app.clone()), "disabled")? != "true")
}

// ----- commands -----

/// `[--parallel N] <app>|--all`, the arguments of `proxy:build-config`,
/// `enable` and `disable`. berth runs the apps one after the other: each
/// is milliseconds of work, and nginx reloads are serialised anyway, so the
/// count is checked and otherwise unused.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ParallelTargets {
    #[arg(long, allow_hyphen_values = true)]
    parallel: Option<String>,
    #[command(flatten)]
    targets: AppOrAll,
}

/// The apps of a command taking [`ParallelTargets`].
fn parallel_targets(ctx: &Context, command: &str, args: &[String]) -> Result<Vec<AppName>> {
    let args: ParallelTargets = crate::args::parse(command, args)?;
    if let Some(count) = &args.parallel {
        check_parallel(count)?;
    }
    targets(ctx, args.targets)
}

/// `<app>` or `--all` (every app; none is a warning, not a failure).
fn targets(ctx: &Context, args: AppOrAll) -> Result<Vec<AppName>> {
    if args.all {
        args.refuse_app_with_all()?;
        let apps = ctx.store.apps()?;
        if apps.is_empty() {
            ctx.out.warn("You haven't deployed any applications yet")?;
        }
        return Ok(apps);
    }
    Ok(vec![ctx.existing_app(args.app.as_deref())?])
}

fn check_parallel(count: &str) -> Result<()> {
    match count.parse::<i64>() {
        Ok(n) if n == -1 || n >= 1 => Ok(()),
        _ => Err(Error::fail(format!(
            "Invalid value for --parallel: {count} (valid: -1 or a positive count)"
        ))),
    }
}

fn build_config(ctx: &Context, args: Vec<String>) -> Result<()> {
    for app in parallel_targets(ctx, "proxy:build-config", &args)? {
        ctx.fire("proxy-build-config", &[app.as_str()])?;
    }
    Ok(())
}

fn clear_config(ctx: &Context, args: Vec<String>) -> Result<()> {
    for app in targets(ctx, crate::args::parse("proxy:clear-config", &args)?)? {
        ctx.fire("proxy-clear-config", &[app.as_str()])?;
    }
    Ok(())
}

/// Enabling or disabling writes the `disabled` property, then has the proxy
/// rebuild the app's config (which writes it, or removes it when disabled).
fn enable(ctx: &Context, args: Vec<String>) -> Result<()> {
    for app in parallel_targets(ctx, "proxy:enable", &args)? {
        ctx.out.info1("Enabling proxy for app")?;
        ctx.store
            .delete_property("proxy", &Scope::App(app.clone()), "disabled")?;
        ctx.fire("proxy-build-config", &[app.as_str()])?;
    }
    Ok(())
}

fn disable(ctx: &Context, args: Vec<String>) -> Result<()> {
    for app in parallel_targets(ctx, "proxy:disable", &args)? {
        ctx.out.info1("Disabling proxy for app")?;
        ctx.store
            .set_property("proxy", &Scope::App(app.clone()), "disabled", "true")?;
        ctx.fire("proxy-build-config", &[app.as_str()])?;
    }
    Ok(())
}

/// `proxy:set [--global] <app> <key> [<value>]`, plus Dokku's legacy
/// `proxy:set <app> <type>`: a lone word that is not a property is a type.
fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let parsed: crate::args::SetArgs = crate::args::parse("proxy:set", &args)?;
    let words_after_scope = if parsed.global {
        &parsed.words[..]
    } else {
        parsed.words.get(1..).unwrap_or_default()
    };
    if let [word] = words_after_scope
        && !PROPERTIES.iter().any(|p| p.name == word.as_str())
    {
        let mut legacy: Vec<String> = if parsed.global {
            vec!["--global".into()]
        } else {
            vec![parsed.words[0].clone()]
        };
        legacy.push("type".into());
        legacy.push(word.to_string());
        return property_set::run(ctx, "proxy", PROPERTIES, legacy);
    }
    property_set::run(ctx, "proxy", PROPERTIES, args)
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "proxy:report",
        title: "proxy",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => report_rows(ctx, app),
        report::Target::Global => report::global_rows(ctx, "proxy", LAYERED),
    })
}

/// The properties with an app value, a global value and a default.
const LAYERED: &[(&str, &str)] = &[
    ("type", DEFAULT_TYPE),
    ("proxy-port", "80"),
    ("proxy-ssl-port", "443"),
];

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let scope = Scope::App(app.clone());
    let enabled = is_enabled(ctx, app)?;
    let mut rows = vec![
        ("--proxy-enabled".into(), enabled.to_string()),
        (
            "--proxy-disabled".into(),
            property(ctx, &scope, "disabled")?,
        ),
        ("--proxy-computed-disabled".into(), (!enabled).to_string()),
    ];
    for (key, default) in LAYERED {
        let values = ctx.store.layered_property("proxy", app, key)?;
        rows.extend(crate::report::layered_rows("proxy", key, &values, default));
    }
    Ok(rows)
}

// ----- triggers -----

/// `proxy-is-enabled APP`: `true` or `false`.
fn trigger_proxy_is_enabled(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(format!("{}\n", is_enabled(ctx, &app)?))
}

/// `proxy-type APP`: the computed type (app, else global, else `nginx`).
fn trigger_proxy_type(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(format!("{}\n", computed(ctx, &app, "type", DEFAULT_TYPE)?))
}

#[cfg(test)]
mod tests {
    use crate::app_name::AppName;
    use crate::context::{Context, GlobalFlags};
    use crate::store::{Scope, Store};

    #[test]
    fn triggers_answer_enabled_and_type() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"), dir.path().join("lib"));
        let app = AppName::new_app("demo").unwrap();
        store.create_app_dir(&app).unwrap();
        let ctx = Context::new(store, GlobalFlags::default());
        assert_eq!(ctx.fire("proxy-is-enabled", &["demo"]).unwrap(), "true\n");
        assert_eq!(ctx.fire("proxy-type", &["demo"]).unwrap(), "nginx\n");
        ctx.store
            .set_property("proxy", &Scope::App(app), "disabled", "true")
            .unwrap();
        assert_eq!(ctx.fire("proxy-is-enabled", &["demo"]).unwrap(), "false\n");
        assert!(ctx.fire("proxy-is-enabled", &["ghost"]).is_err());
    }
}
