//! Let's Encrypt in the core, with the commands of the community
//! `dokku-letsencrypt` plugin (0.25): certificates issued through ACME
//! HTTP-01 challenges that berth's own nginx answers, installed through the
//! certs plugin (`certs-set`), and renewed by `berth server` itself — no
//! cron job to lose.
//!
//! Properties (`letsencrypt:set APP|--global KEY VALUE`): `email`,
//! `server` (`default`, `staging` or a directory URL), `graceperiod`
//! (seconds before expiry when renewal starts, default 30 days). State per
//! app: `data/letsencrypt/<app>/state.json` (what was issued, for which
//! names, and every renewal attempt); accounts in
//! `data/letsencrypt/accounts/`.

use serde::{Deserialize, Serialize};

use crate::acme;
use crate::app_name::AppName;
use crate::args::{AppArg, NoArgs};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::columns;
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Property, Reach};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;
use crate::store::atomic::{remove_file, write_atomic};
use crate::tls;

pub static PLUGIN: Plugin = Plugin {
    name: "letsencrypt",
    description: "Retrieve and renew TLS certificates from Let's Encrypt (ACME)",
    default_command: None,
    commands: &[
        Command {
            name: "letsencrypt:active",
            usage: "<app>",
            description: "Verify if letsencrypt is active for an app",
            run: active,
        },
        Command {
            name: "letsencrypt:auto-renew",
            usage: "[<app>]",
            description: "Auto-renew app if renewal is necessary",
            run: auto_renew,
        },
        Command {
            name: "letsencrypt:cleanup",
            usage: "<app>",
            description: "Remove stale challenge files for app",
            run: cleanup,
        },
        Command {
            name: "letsencrypt:cron-job",
            usage: "[--add|--remove]",
            description: "Show the status of the renewal schedule (berth server renews by itself)",
            run: cron_job,
        },
        Command {
            name: "letsencrypt:disable",
            usage: "<app>",
            description: "Disable letsencrypt for an app",
            run: disable,
        },
        Command {
            name: "letsencrypt:enable",
            usage: "<app>|--all [--force]",
            description: "Enable or renew letsencrypt for an app",
            run: enable,
        },
        Command {
            name: "letsencrypt:list",
            usage: "",
            description: "List letsencrypt-secured apps with certificate expiry times",
            run: list,
        },
        Command {
            name: "letsencrypt:report",
            usage: "[<app>] [<flag>] [--format json]",
            description: "Display a letsencrypt report for one or more apps",
            run: report,
        },
        Command {
            name: "letsencrypt:revoke",
            usage: "<app>",
            description: "Revoke letsencrypt certificate for app",
            run: revoke,
        },
        Command {
            name: "letsencrypt:set",
            usage: "<app>|--global <property> (<value>)",
            description: "Set or clear a letsencrypt property for an app",
            run: set,
        },
    ],
    triggers: &[
        ("certs-renewal", trigger_certs_renewal),
        ("post-domains-update", trigger_post_domains_update),
    ],
};

const PLUGIN_NAME: &str = "letsencrypt";
/// dokku-letsencrypt's default grace period: 30 days.
const DEFAULT_GRACE: i64 = 30 * 86_400;
/// The longest wait between two failed renewal attempts.
const MAX_BACKOFF: i64 = 86_400;

const PROPERTIES: &[Property] = &[
    Property {
        name: "email",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_email),
    },
    Property {
        name: "graceperiod",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_seconds),
    },
    Property {
        name: "server",
        reach: Reach::AppAndGlobal,
        validate: Some(validate_server),
    },
];

fn validate_email(value: &str) -> Result<()> {
    let ok = value.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !value.chars().any(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::fail(format!("Invalid email address: {value}")))
    }
}

fn validate_seconds(value: &str) -> Result<()> {
    value.parse::<u64>().map(drop).map_err(|_| {
        Error::fail(format!(
            "Invalid graceperiod: {value} (a number of seconds)"
        ))
    })
}

fn validate_server(value: &str) -> Result<()> {
    if matches!(value, "default" | "staging") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(Error::fail(format!(
            "Invalid server: {value} (default, staging, or an https:// directory URL)"
        )))
    }
}

/// One try at issuing or renewing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Attempt {
    at: i64,
    ok: bool,
    message: String,
}

/// What berth knows of an app's Let's Encrypt certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    enabled: bool,
    domains: Vec<String>,
    server: String,
    issued_at: i64,
    expires_at: i64,
    /// The certificate issued, to tell whether it is still the one
    /// installed (`letsencrypt:active`).
    certificate: String,
    #[serde(default)]
    last_attempt: Option<Attempt>,
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    next_attempt: i64,
}

fn state_path(ctx: &Context, app: &AppName) -> std::path::PathBuf {
    ctx.store
        .data_dir(PLUGIN_NAME, &Scope::App(app.clone()))
        .join("state.json")
}

fn load(ctx: &Context, app: &AppName) -> State {
    std::fs::read_to_string(state_path(ctx, app))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn save(ctx: &Context, app: &AppName, state: &State) -> Result<()> {
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| Error::fail(format!("Unable to record the certificate state: {e}")))?;
    write_atomic(&state_path(ctx, app), text.as_bytes(), 0o600)
}

/// Whether the certificate installed is the one Let's Encrypt issued.
fn is_active(ctx: &Context, app: &AppName, state: &State) -> Result<bool> {
    if !state.enabled || state.certificate.is_empty() {
        return Ok(false);
    }
    if ctx.fire("certs-exists", &[app.as_str()])?.trim() != "true" {
        return Ok(false);
    }
    Ok(ctx.fire("certs-get", &[app.as_str(), "crt"])? == state.certificate)
}

fn grace(ctx: &Context, app: &AppName) -> Result<i64> {
    Ok(ctx
        .store
        .app_property(PLUGIN_NAME, app, "graceperiod")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_GRACE))
}

fn server(ctx: &Context, app: &AppName) -> Result<String> {
    Ok(acme::directory_url(
        &ctx.store
            .app_property(PLUGIN_NAME, app, "server")?
            .unwrap_or_default(),
    ))
}

/// The names a certificate for the app covers: its domains, but wildcard
/// ones (HTTP-01 cannot prove them).
fn domains(ctx: &Context, app: &AppName) -> Result<Vec<String>> {
    let mut names: Vec<String> = ctx
        .fire("domains-list", &[app.as_str()])?
        .lines()
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.contains('*'))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Why the app needs a new certificate now, if it does.
fn reason_to_issue(
    ctx: &Context,
    app: &AppName,
    state: &State,
    names: &[String],
    now: i64,
) -> Result<Option<String>> {
    if !is_active(ctx, app, state)? {
        return Ok(Some("no Let's Encrypt certificate is installed".into()));
    }
    if state.domains != names {
        return Ok(Some("the app's domains changed".into()));
    }
    if state.server != server(ctx, app)? {
        return Ok(Some("the ACME server changed".into()));
    }
    if state.expires_at - now <= grace(ctx, app)? {
        return Ok(Some(format!(
            "the certificate expires on {}, inside the grace period",
            tls::format_time(state.expires_at)
        )));
    }
    Ok(None)
}

/// Issues and installs a certificate for the app (when needed, or always
/// with `force`), recording the attempt; a failure keeps the installed
/// certificate and is retried later with a growing wait.
fn issue(ctx: &Context, app: &AppName, force: bool) -> Result<()> {
    // Its own lock: installing takes the app's state lock (ports).
    let _lock =
        crate::store::lock::LockGuard::acquire(&state_path(ctx, app).with_file_name(".lock"))?;
    let now = tls::now();
    let mut state = load(ctx, app);
    let names = domains(ctx, app)?;
    if names.is_empty() {
        return Err(Error::fail(format!(
            "No domains for {app}: add one with domains:add {app} DOMAIN"
        )));
    }
    let reason = reason_to_issue(ctx, app, &state, &names, now)?;
    if reason.is_none() && !force {
        ctx.out.info1(format!(
            "Certificate for {app} is valid until {}; nothing to do (--force renews it)",
            tls::format_time(state.expires_at)
        ))?;
        return Ok(());
    }
    let email = ctx
        .store
        .app_property(PLUGIN_NAME, app, "email")?
        .ok_or_else(|| {
            Error::fail(format!(
                "Please set an email address: letsencrypt:set {app} email you@example.com (or --global)"
            ))
        })?;
    let url = server(ctx, app)?;
    ctx.out.info2(format!("Let's Encrypt {app}..."))?;
    ctx.out.info1(format!(
        "Getting letsencrypt certificate for {app} via HTTP-01"
    ))?;
    for name in &names {
        ctx.out.verbose(format!("- Domain '{name}'"))?;
    }
    let root = crate::nginx::acme_challenge_root(&ctx.store);
    let issued = acme::Client::account(&ctx.store, &url, &email)
        .and_then(|client| client.issue(&names, &root))
        .and_then(|(chain, key)| install(ctx, app, &chain, &key).map(|()| chain));
    state.server = url;
    match issued {
        Ok(chain) => {
            let info = tls::inspect(chain.as_bytes())?;
            state.enabled = true;
            state.domains = names;
            state.issued_at = now;
            state.expires_at = info.not_after;
            state.certificate = chain;
            state.failures = 0;
            state.next_attempt = 0;
            state.last_attempt = Some(Attempt {
                at: now,
                ok: true,
                message: "issued".into(),
            });
            save(ctx, app, &state)?;
            ctx.out.info1("Certificate retrieved successfully.")
        }
        Err(e) => {
            state.enabled = true;
            state.failures += 1;
            let wait = (300_i64 << state.failures.min(10)).min(MAX_BACKOFF);
            state.next_attempt = now + wait;
            state.last_attempt = Some(Attempt {
                at: now,
                ok: false,
                message: e.to_string(),
            });
            save(ctx, app, &state)?;
            Err(e)
        }
    }
}

/// Installs through the certs plugin, which checks the certificate first.
fn install(ctx: &Context, app: &AppName, chain: &str, key: &str) -> Result<()> {
    ctx.out.info1("Installing let's encrypt certificates")?;
    let dir = ctx.store.data_dir(PLUGIN_NAME, &Scope::App(app.clone()));
    let (crt_file, key_file) = (dir.join("issued.crt"), dir.join("issued.key"));
    write_atomic(&crt_file, chain.as_bytes(), 0o600)?;
    write_atomic(&key_file, key.as_bytes(), 0o600)?;
    let installed = ctx.fire(
        "certs-set",
        &[
            app.as_str(),
            &crt_file.display().to_string(),
            &key_file.display().to_string(),
        ],
    );
    remove_file(&crt_file)?;
    remove_file(&key_file)?;
    installed.map(drop)
}

// ----- commands -----

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct EnableArgs {
    #[arg(long)]
    all: bool,
    #[arg(long, short = 'f')]
    force: bool,
    app: Option<String>,
}

fn enable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: EnableArgs = crate::args::parse("letsencrypt:enable", &args)?;
    if args.all {
        let mut failed = 0;
        for app in ctx.store.apps()? {
            if let Err(e) = issue(ctx, &app, args.force) {
                ctx.out.warn(format!("{app}: {e}"))?;
                failed += 1;
            }
        }
        return if failed == 0 {
            Ok(())
        } else {
            Err(Error::fail(format!(
                "{failed} app(s) could not get a certificate"
            )))
        };
    }
    let app = ctx.existing_app(args.app.as_deref())?;
    issue(ctx, &app, args.force)
}

/// `letsencrypt:auto-renew [<app>]`: renews what is due, most urgent
/// first. Without an app, an app that failed lately waits out its backoff.
fn auto_renew(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("letsencrypt:auto-renew", &args)?;
    let apps = match args.app {
        Some(name) => vec![ctx.existing_app(Some(&name))?],
        None => ctx.store.apps()?,
    };
    let explicit = apps.len() == 1;
    let now = tls::now();
    let mut due = Vec::new();
    for app in apps {
        let state = load(ctx, &app);
        if !state.enabled {
            continue;
        }
        let names = domains(ctx, &app)?;
        if let Some(reason) = reason_to_issue(ctx, &app, &state, &names, now)? {
            due.push((state.expires_at, app, reason, state.next_attempt));
        }
    }
    due.sort_by_key(|(expires, ..)| *expires);
    let mut failed = 0;
    for (_, app, reason, next_attempt) in due {
        if !explicit && next_attempt > now {
            ctx.out.verbose(format!(
                "{app}: last renewal failed; next attempt after {}",
                tls::format_time(next_attempt)
            ))?;
            continue;
        }
        ctx.out.info1(format!("Auto-renewing {app}: {reason}"))?;
        if let Err(e) = issue(ctx, &app, true) {
            ctx.out.warn(format!(
                "Renewal of {app} failed, the current certificate stays: {e}"
            ))?;
            failed += 1;
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::fail(format!("{failed} renewal(s) failed")))
    }
}

fn disable(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("letsencrypt:disable", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let state = load(ctx, &app);
    if !state.enabled {
        return Err(Error::fail(format!(
            "Let's Encrypt is not enabled for {app}"
        )));
    }
    ctx.out.info1(format!("Disabling letsencrypt for {app}"))?;
    if is_active(ctx, &app, &state)? {
        ctx.fire("certs-remove", &[app.as_str()])?;
    }
    remove_file(&state_path(ctx, &app))?;
    ctx.out.verbose("Done")
}

fn active(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("letsencrypt:active", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    ctx.out
        .line(is_active(ctx, &app, &load(ctx, &app))?.to_string())
}

fn revoke(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("letsencrypt:revoke", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let state = load(ctx, &app);
    if state.certificate.is_empty() {
        return Err(Error::fail(format!(
            "No Let's Encrypt certificate for {app}"
        )));
    }
    let email = ctx
        .store
        .app_property(PLUGIN_NAME, &app, "email")?
        .ok_or_else(|| {
            Error::fail(format!(
                "Please set an email: letsencrypt:set {app} email ..."
            ))
        })?;
    ctx.out
        .info1(format!("Revoking letsencrypt certificate for {app}"))?;
    acme::Client::account(&ctx.store, &state.server, &email)?
        .revoke(state.certificate.as_bytes())?;
    ctx.out.verbose("Certificate revoked")
}

/// Challenge files a killed issuance left for the app's domains.
fn cleanup(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("letsencrypt:cleanup", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let root = crate::nginx::acme_challenge_root(&ctx.store);
    let mut removed = 0;
    for domain in domains(ctx, &app)? {
        let dir = root.join(&domain).join(".well-known/acme-challenge");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if remove_file(&entry.path())? {
                removed += 1;
            }
        }
    }
    ctx.out.info1(format!(
        "Removed {removed} stale challenge file(s) for {app}"
    ))
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct CronArgs {
    #[arg(long)]
    add: bool,
    #[arg(long, conflicts_with = "add")]
    remove: bool,
}

/// Where `berth server` records its renewal runs.
fn schedule_path(ctx: &Context) -> std::path::PathBuf {
    ctx.store.lib_root().join("data/letsencrypt/schedule.json")
}

/// The last run of the server's renewal schedule.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Schedule {
    pub last_run: i64,
    pub ok: bool,
    pub interval: u64,
}

/// Records a run of the server's schedule.
pub fn record_schedule(ctx: &Context, schedule: &Schedule) -> Result<()> {
    let text = serde_json::to_string(schedule)
        .map_err(|e| Error::fail(format!("Unable to record the schedule: {e}")))?;
    write_atomic(&schedule_path(ctx), text.as_bytes(), 0o600)
}

fn cron_job(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: CronArgs = crate::args::parse("letsencrypt:cron-job", &args)?;
    if args.add || args.remove {
        ctx.out.info1(
            "berth needs no cron job: berth server renews certificates by itself (letsencrypt:auto-renew every hour)",
        )?;
    }
    let schedule: Option<Schedule> = std::fs::read_to_string(schedule_path(ctx))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    match schedule {
        Some(s) => ctx.out.line(format!(
            "Auto-renewal runs in berth server every {}s; last run {} ({})",
            s.interval,
            tls::format_time(s.last_run),
            if s.ok { "ok" } else { "failed" }
        )),
        None => ctx.out.line(
            "Auto-renewal runs in berth server; it has not run yet (is berth server running?)",
        ),
    }
}

/// `d, h, m` of a duration in seconds; `-` when it has passed.
fn remaining(seconds: i64) -> String {
    if seconds <= 0 {
        return "-".into();
    }
    format!(
        "{}d, {}h, {}m",
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60
    )
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let NoArgs {} = crate::args::parse("letsencrypt:list", &args)?;
    let now = tls::now();
    let mut rows = Vec::new();
    for app in ctx.store.apps()? {
        let state = load(ctx, &app);
        if !state.enabled {
            continue;
        }
        let last = match &state.last_attempt {
            Some(a) if a.ok => format!("ok {}", tls::format_time(a.at)),
            Some(a) => format!("failed {}: {}", tls::format_time(a.at), a.message),
            None => "-".into(),
        };
        let expiry = if state.expires_at > 0 {
            tls::format_time(state.expires_at)
        } else {
            "-".into()
        };
        rows.push((
            state.expires_at,
            vec![
                app.to_string(),
                expiry,
                remaining(state.expires_at - now),
                remaining(state.expires_at - grace(ctx, &app)? - now),
                last,
            ],
        ));
    }
    rows.sort_by_key(|(expires, _)| *expires);
    let mut table = vec![vec![
        "-----> App name".to_string(),
        "Certificate Expiry".into(),
        "Time before expiry".into(),
        "Time before renewal".into(),
        "Last attempt".into(),
    ]];
    table.extend(rows.into_iter().map(|(_, row)| row));
    for line in columns(&table) {
        ctx.out.line(line)?;
    }
    Ok(())
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    property_set::run(ctx, PLUGIN_NAME, PROPERTIES, args)
}

/// The properties with an app value, a global value and a default.
const LAYERED: &[(&str, &str)] = &[
    ("email", ""),
    ("graceperiod", "2592000"),
    ("server", "default"),
];

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "letsencrypt:report",
        title: "letsencrypt",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| {
        let app = match target {
            report::Target::App(app) => app,
            report::Target::Global => return report::global_rows(ctx, PLUGIN_NAME, LAYERED),
        };
        let state = load(ctx, app);
        let mut rows: Rows = vec![(
            "--letsencrypt-active".into(),
            is_active(ctx, app, &state)?.to_string(),
        )];
        for (key, default) in LAYERED {
            let values = ctx.store.layered_property(PLUGIN_NAME, app, key)?;
            rows.extend(report::layered_rows(PLUGIN_NAME, key, &values, default));
        }
        let expires = if state.expires_at > 0 {
            tls::format_time(state.expires_at)
        } else {
            String::new()
        };
        rows.push(("--letsencrypt-expires-at".into(), expires));
        let last = state
            .last_attempt
            .map(|a| {
                let outcome = if a.ok { "ok" } else { "failed" };
                format!("{} {outcome}: {}", tls::format_time(a.at), a.message)
            })
            .unwrap_or_default();
        rows.push(("--letsencrypt-last-attempt".into(), last));
        Ok(rows)
    })
}

/// `certs-renewal APP` (for `certs:report`): how the last attempt to
/// issue or renew went, when Let's Encrypt manages the app.
fn trigger_certs_renewal(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let state = load(ctx, &app);
    Ok(match (&state.enabled, &state.last_attempt) {
        (true, Some(a)) if a.ok => format!("letsencrypt: ok {}\n", tls::format_time(a.at)),
        (true, Some(a)) => format!(
            "letsencrypt: failed {} (the current certificate stays): {}\n",
            tls::format_time(a.at),
            a.message
        ),
        _ => String::new(),
    })
}

/// `post-domains-update APP ...`: an app with Let's Encrypt gets a
/// certificate for its new names; a failure leaves the domains changed and
/// the renewal schedule retries.
fn trigger_post_domains_update(ctx: &Context, args: &[String]) -> Result<String> {
    let Ok(app) = ctx.existing_app(args.first().map(String::as_str)) else {
        return Ok(String::new());
    };
    if load(ctx, &app).enabled
        && let Err(e) = issue(ctx, &app, false)
    {
        ctx.out.warn(format!(
            "The certificate of {app} does not cover its new domains yet: {e}"
        ))?;
    }
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_are_checked() {
        assert!(validate_email("ops@example.com").is_ok());
        assert!(validate_email("ops").is_err());
        assert!(validate_email("a b@example.com").is_err());
        assert!(validate_server("staging").is_ok());
        assert!(validate_server("https://localhost:14000/dir").is_ok());
        assert!(validate_server("http://insecure/dir").is_err());
        assert!(validate_seconds("86400").is_ok());
        assert!(validate_seconds("soon").is_err());
    }

    #[test]
    fn durations_read_as_days_hours_minutes() {
        assert_eq!(remaining(90_061), "1d, 1h, 1m");
        assert_eq!(remaining(0), "-");
    }
}
