//! Dokku's `domains` plugin: the global domains (`$DOKKU_ROOT/VHOST`), each
//! app's domains (`$DOKKU_ROOT/<app>/VHOST`), whether an app uses domains
//! at all (app config var `NO_VHOST=1` turns them off), `domains:*`, and the
//! `domains-list` / `domains-urls` triggers the proxy and `url[s]` ask.
//!
//! Every change to an app's domains fires
//! `post-domains-update <app> add|set|remove|clear|reset|enable|disable [<domain>...]`.
//! Global changes fire nothing: an app's domains are its own `VHOST` file,
//! which a global change does not touch (new apps, `domains:reset` and
//! `domains:enable` derive from the global list).

mod global;
mod urls;
mod vhost;

use std::path::{Path, PathBuf};

use crate::app_name::AppName;
use crate::args::{AppArg, AppOrAll, AppWords};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

use vhost::Domain;

pub static PLUGIN: Plugin = Plugin {
    name: "domains",
    description: "Manage vhost domains used by the Dokku proxy",
    default_command: None,
    commands: &[
        Command {
            name: "domains:add",
            usage: "<app> <domain> [<domain> ...]",
            description: "Add domains to app",
            run: add,
        },
        Command {
            name: "domains:add-global",
            usage: "<domain> [<domain> ...]",
            description: "Add global domain names",
            run: global::add_global,
        },
        Command {
            name: "domains:clear",
            usage: "<app>",
            description: "Clear all domains for app",
            run: clear,
        },
        Command {
            name: "domains:clear-global",
            usage: "",
            description: "Clear global domain names",
            run: global::clear_global,
        },
        Command {
            name: "domains:disable",
            usage: "<app>|--all",
            description: "Disable VHOST support",
            run: disable,
        },
        Command {
            name: "domains:enable",
            usage: "<app>|--all",
            description: "Enable VHOST support",
            run: enable,
        },
        Command {
            name: "domains:remove",
            usage: "<app> <domain> [<domain> ...]",
            description: "Remove domains from app",
            run: remove,
        },
        Command {
            name: "domains:remove-global",
            usage: "<domain> [<domain> ...]",
            description: "Remove global domain names",
            run: global::remove_global,
        },
        Command {
            name: "domains:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a domains report for one or more apps",
            run: report,
        },
        Command {
            name: "domains:reset",
            usage: "<app>",
            description: "Reset app domains to global-configured domains",
            run: reset,
        },
        Command {
            name: "domains:set",
            usage: "<app> <domain> [<domain> ...]",
            description: "Set domains for app",
            run: set,
        },
        Command {
            name: "domains:set-global",
            usage: "<domain> [<domain> ...]",
            description: "Set global domain names",
            run: global::set_global,
        },
    ],
    triggers: &[
        ("domains-add", trigger_domains_add),
        ("domains-list", trigger_domains_list),
        ("domains-urls", urls::trigger_domains_urls),
        ("post-app-clone-setup", trigger_post_app_clone_setup),
        ("post-app-rename", trigger_post_app_rename),
        ("post-create", trigger_post_create),
    ],
};

// ----- state -----

fn global_vhost_path(ctx: &Context) -> PathBuf {
    ctx.store.dokku_root().join("VHOST")
}

fn app_vhost_path(ctx: &Context, app: &AppName) -> PathBuf {
    ctx.store.app_dir(app).join("VHOST")
}

/// The lines of the global `VHOST` file (domains, or IPs).
fn global_vhosts(ctx: &Context) -> Result<Vec<String>> {
    vhost::read_lines(&global_vhost_path(ctx))
}

/// Vhost support is on unless the app's config says `NO_VHOST=1`.
fn vhost_enabled(ctx: &Context, app: &AppName) -> Result<bool> {
    let env = ctx.store.env(&Scope::App(app.clone()))?;
    Ok(env.get("NO_VHOST").map(String::as_str) != Some("1"))
}

/// The domains the app answers to: the lines of its `VHOST` that pass the
/// rule (a hand-edited line that does not never reaches the proxy); none
/// when vhosts are disabled.
fn effective_domains(ctx: &Context, app: &AppName) -> Result<Vec<Domain>> {
    if !vhost_enabled(ctx, app)? {
        return Ok(Vec::new());
    }
    Ok(stored_domains(&vhost::read_lines(&app_vhost_path(
        ctx, app,
    ))?))
}

/// Writes `NO_VHOST` into the app's config without a restart, as Dokku's
/// `config_set --no-restart` with quiet output does.
fn set_no_vhost(ctx: &Context, app: &AppName, value: &str) -> Result<()> {
    let scope = Scope::App(app.clone());
    {
        let _lock = ctx.store.lock(&scope)?;
        let mut env = ctx.store.env(&scope)?;
        env.insert("NO_VHOST".into(), value.into());
        ctx.store.write_env(&scope, &env)?;
    }
    ctx.fire("post-config-update", &[app.as_str(), "set", "NO_VHOST"])
        .map(drop)
}

/// The app's default domains: one per non-IP global line —
/// the `nginx-hostname` trigger's answer, else the app name when it holds a
/// dot and is not under that global domain, else `<sub>.<global>`.
fn default_domains(ctx: &Context, app: &AppName) -> Result<Vec<Domain>> {
    let mut domains = Vec::new();
    for global in global_vhosts(ctx)? {
        if vhost::is_ip(&global) {
            continue;
        }
        let name = app.as_str();
        let subdomain = name.strip_suffix(&format!(".{global}")).unwrap_or(name);
        let answer = ctx.fire("nginx-hostname", &[name, subdomain, &global])?;
        let hostname = match answer.lines().map(str::trim).find(|l| !l.is_empty()) {
            Some(hostname) => hostname.to_string(),
            None if name.contains('.') && subdomain == name => name.to_string(),
            None => format!("{subdomain}.{global}"),
        };
        domains.push(Domain::parse(&hostname)?);
    }
    Ok(vhost::unique(domains))
}

/// Reads, changes and writes the app's `VHOST` under the app's lock.
fn update_app_vhost<T>(
    ctx: &Context,
    app: &AppName,
    change: impl FnOnce(&mut Vec<Domain>) -> T,
) -> Result<T> {
    let _lock = ctx.store.lock(&Scope::App(app.clone()))?;
    update_vhost_file(&app_vhost_path(ctx, app), change)
}

/// Read, change, write; the caller holds the lock.
fn update_vhost_file<T>(path: &Path, change: impl FnOnce(&mut Vec<Domain>) -> T) -> Result<T> {
    let mut domains = stored_domains(&vhost::read_lines(path)?);
    let result = change(&mut domains);
    vhost::write(path, &domains)?;
    Ok(result)
}

/// The lines of a `VHOST` file that pass the rule. A hand-edited line that
/// does not is dropped at the next write rather than carried into nginx.
fn stored_domains(lines: &[String]) -> Vec<Domain> {
    lines.iter().filter_map(|l| Domain::parse(l).ok()).collect()
}

fn joined(domains: &[Domain]) -> String {
    domains
        .iter()
        .map(Domain::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

fn fire_update(ctx: &Context, app: &AppName, action: &str, domains: &[Domain]) -> Result<()> {
    let mut args = vec![app.as_str(), action];
    args.extend(domains.iter().map(Domain::as_str));
    ctx.fire("post-domains-update", &args).map(drop)
}

// ----- commands -----

/// `<app> <domain>...` with at least one domain: the app and the words.
/// A word starting with `-` is a flag (none is a domain); `--` ends them.
fn app_and_words(ctx: &Context, command: &str, args: &[String]) -> Result<(AppName, Vec<String>)> {
    let args: AppWords = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    if args.words.is_empty() {
        return Err(Error::fail(format!(
            "Please specify a domain name. Usage: dokku {command} {app} DOMAIN [DOMAIN ...]"
        )));
    }
    Ok((app, args.words))
}

/// `<app> <domain>...`, all valid.
fn app_and_domains(
    ctx: &Context,
    command: &str,
    args: &[String],
) -> Result<(AppName, Vec<Domain>)> {
    let (app, words) = app_and_words(ctx, command, args)?;
    Ok((app, vhost::parse_all(&words)?))
}

fn add(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, domains) = app_and_domains(ctx, "domains:add", &args)?;
    let added = update_app_vhost(ctx, &app, |current| vhost::push_new(current, &domains))?;
    for (domain, is_new) in domains.iter().zip(added) {
        if is_new {
            ctx.out.info1(format!("Added {domain} to {app}"))?;
        } else {
            ctx.out
                .info1(format!("Skipping: {domain} already added to {app}"))?;
        }
    }
    reenable_vhost(ctx, &app)?;
    fire_update(ctx, &app, "add", &domains)
}

/// `domains-add APP DOMAIN...`: `domains:add` for other plugins
/// (`certs:generate`).
fn trigger_domains_add(ctx: &Context, args: &[String]) -> Result<String> {
    add(ctx, args.to_vec())?;
    Ok(String::new())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, domains) = app_and_domains(ctx, "domains:set", &args)?;
    let domains = vhost::unique(domains);
    update_app_vhost(ctx, &app, |current| *current = domains.clone())?;
    ctx.out
        .info1(format!("Set {} for {app}", joined(&domains)))?;
    reenable_vhost(ctx, &app)?;
    fire_update(ctx, &app, "set", &domains)
}

/// Domains given explicitly turn vhost support back on (`NO_VHOST=0`).
fn reenable_vhost(ctx: &Context, app: &AppName) -> Result<()> {
    if vhost_enabled(ctx, app)? {
        return Ok(());
    }
    set_no_vhost(ctx, app, "0")
}

fn remove(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, words) = app_and_words(ctx, "domains:remove", &args)?;
    let targets = vhost::lowercased(&words);
    update_app_vhost(ctx, &app, |current| vhost::remove_all(current, &targets))?;
    for target in &targets {
        ctx.out.info1(format!("Removed {target} from {app}"))?;
    }
    let removed: Vec<Domain> = targets
        .iter()
        .filter_map(|t| Domain::parse(t).ok())
        .collect();
    fire_update(ctx, &app, "remove", &removed)
}

fn clear(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("domains:clear", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    update_app_vhost(ctx, &app, Vec::clear)?;
    ctx.out.info1(format!("Cleared domains in {app}"))?;
    fire_update(ctx, &app, "clear", &[])
}

fn reset(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("domains:reset", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let defaults = default_domains(ctx, &app)?;
    update_app_vhost(ctx, &app, |current| *current = defaults)?;
    ctx.out.info1(format!("Reset domains for {app}"))?;
    fire_update(ctx, &app, "reset", &[])
}

/// `<app>` or `--all` (every app; none is a warning, not a failure).
fn app_or_all(ctx: &Context, command: &str, args: &[String]) -> Result<Vec<AppName>> {
    let args: AppOrAll = crate::args::parse(command, args)?;
    args.refuse_app_with_all()?;
    if args.all {
        let apps = ctx.store.apps()?;
        if apps.is_empty() {
            ctx.out.warn("You haven't deployed any applications yet")?;
        }
        return Ok(apps);
    }
    Ok(vec![ctx.existing_app(args.app.as_deref())?])
}

fn enable(ctx: &Context, args: Vec<String>) -> Result<()> {
    for app in app_or_all(ctx, "domains:enable", &args)? {
        if vhost_enabled(ctx, &app)? {
            ctx.out.info1(format!(
                "Domains (VHOST) support is already enabled for app ({app})"
            ))?;
            continue;
        }
        let defaults = default_domains(ctx, &app)?;
        update_app_vhost(ctx, &app, |current| {
            if current.is_empty() {
                *current = defaults;
            }
        })?;
        set_no_vhost(ctx, &app, "0")?;
        ctx.out.info1("App virtual host support enabled")?;
        fire_update(ctx, &app, "enable", &[])?;
    }
    Ok(())
}

fn disable(ctx: &Context, args: Vec<String>) -> Result<()> {
    for app in app_or_all(ctx, "domains:disable", &args)? {
        if !vhost_enabled(ctx, &app)? {
            ctx.out.info1(format!(
                "Domains (VHOST) support is already disabled for app ({app})"
            ))?;
            continue;
        }
        update_app_vhost(ctx, &app, Vec::clear)?;
        set_no_vhost(ctx, &app, "1")?;
        ctx.out.info1("App virtual host support disabled")?;
        fire_update(ctx, &app, "disable", &[])?;
    }
    Ok(())
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "domains:report",
        title: "domains",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => report_rows(ctx, app),
        report::Target::Global => {
            let globals = global_vhosts(ctx)?;
            Ok(vec![
                (
                    "--domains-global-enabled".into(),
                    (!globals.is_empty()).to_string(),
                ),
                ("--domains-global-vhosts".into(), globals.join(" ")),
            ])
        }
    })
}

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    let globals = global_vhosts(ctx)?;
    Ok(vec![
        (
            "--domains-app-enabled".into(),
            vhost_enabled(ctx, app)?.to_string(),
        ),
        (
            "--domains-app-vhosts".into(),
            joined(&effective_domains(ctx, app)?),
        ),
        (
            "--domains-global-enabled".into(),
            (!globals.is_empty()).to_string(),
        ),
        ("--domains-global-vhosts".into(), globals.join(" ")),
    ])
}

// ----- triggers -----

/// `domains-list APP`: the app's domains, one per line; nothing when vhosts
/// are disabled.
fn trigger_domains_list(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(effective_domains(ctx, &app)?
        .iter()
        .map(|d| format!("{d}\n"))
        .collect())
}

/// `post-create APP`: with a global domain, the app starts with its default
/// domains. Silent, and without a global domain nothing happens (Dokku would
/// disable vhosts and pick a random proxy port).
fn trigger_post_create(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let defaults = default_domains(ctx, &app)?;
    if !defaults.is_empty() {
        update_app_vhost(ctx, &app, |current| *current = defaults)?;
    }
    Ok(String::new())
}

/// `post-app-clone-setup OLD NEW`: a clone does not inherit custom domains;
/// it gets its own defaults (none when its copied config disables vhosts).
fn trigger_post_app_clone_setup(ctx: &Context, args: &[String]) -> Result<String> {
    let new = ctx.existing_app(args.get(1).map(String::as_str))?;
    let defaults = if vhost_enabled(ctx, &new)? {
        default_domains(ctx, &new)?
    } else {
        Vec::new()
    };
    update_app_vhost(ctx, &new, |current| *current = defaults)?;
    Ok(String::new())
}

/// `post-app-rename OLD NEW`: the `VHOST` file moved with the app's folder;
/// the old name's default domains become the new name's, custom domains
/// stay. Takes no lock: `apps:rename` still holds OLD's, whose lock file
/// moved with the app's state and is now NEW's.
fn trigger_post_app_rename(ctx: &Context, args: &[String]) -> Result<String> {
    let old = AppName::lookup(args.first().map(String::as_str).unwrap_or_default())?;
    let new = ctx.existing_app(args.get(1).map(String::as_str))?;
    let old_defaults = default_domains(ctx, &old)?;
    let new_defaults = default_domains(ctx, &new)?;
    update_vhost_file(&app_vhost_path(ctx, &new), |current| {
        let renamed =
            current.iter().map(
                |domain| match old_defaults.iter().position(|d| d == domain) {
                    Some(i) => new_defaults
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| domain.clone()),
                    None => domain.clone(),
                },
            );
        *current = vhost::unique(renamed.collect());
    })?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use crate::app_name::AppName;
    use crate::context::{Context, GlobalFlags};
    use crate::store::{Scope, Store};

    #[test]
    fn domains_list_holds_valid_domains_only_and_none_while_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"), dir.path().join("lib"));
        let app = AppName::new_app("demo").unwrap();
        store.create_app_dir(&app).unwrap();
        std::fs::write(
            store.app_dir(&app).join("VHOST"),
            "a.com\n\nB.com\nx.com;return 200\n",
        )
        .unwrap();
        let ctx = Context::new(store, GlobalFlags::default());
        assert_eq!(
            ctx.fire("domains-list", &["demo"]).unwrap(),
            "a.com\nb.com\n"
        );
        let scope = Scope::App(app);
        ctx.store
            .write_env(&scope, &[("NO_VHOST".into(), "1".into())].into())
            .unwrap();
        assert_eq!(ctx.fire("domains-list", &["demo"]).unwrap(), "");
        assert!(ctx.fire("domains-list", &["ghost"]).is_err());
    }
}
