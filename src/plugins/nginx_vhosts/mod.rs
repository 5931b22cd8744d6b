//! Dokku's `nginx-vhosts` plugin (`nginx:*`): each app's nginx config,
//! rendered with handlebars from the bundled template
//! (`plugins/nginx-vhosts/templates/nginx.conf.hbs`) or the app's own
//! `nginx.conf.hbs`, checked with `nginx -t` before it replaces the old one.
//!
//! Answers `proxy-build-config`, `proxy-clear-config`, `post-domains-update`
//! and `post-proxy-ports-update`. Reads domains and ports through the
//! `domains-list` and `ports-get` triggers, listeners from the scheduler's
//! `IP.web.<n>` files.

mod properties;

use std::path::PathBuf;

use serde_json::json;

use crate::app_name::AppName;
use crate::args::{AppArg, AppOrAll, NoArgs};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::nginx::Nginx;
use crate::plugins::{Command, Plugin};
use crate::property_set;
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;
use crate::store::atomic::{ensure_dir, remove_file, rename_atomic, write_atomic};

const DEFAULT_TEMPLATE: &str =
    include_str!("../../../plugins/nginx-vhosts/templates/nginx.conf.hbs");

pub static PLUGIN: Plugin = Plugin {
    name: "nginx",
    description: "Manage the nginx proxy",
    default_command: None,
    commands: &[
        Command {
            name: "nginx:access-logs",
            usage: "<app> [-t]",
            description: "Show the nginx access logs for an application (-t follows)",
            run: access_logs,
        },
        Command {
            name: "nginx:build-config",
            usage: "<app>",
            description: "(Re)builds nginx config for given app",
            run: build_config_command,
        },
        Command {
            name: "nginx:error-logs",
            usage: "<app> [-t]",
            description: "Show the nginx error logs for an application (-t follows)",
            run: error_logs,
        },
        Command {
            name: "nginx:reload",
            usage: "",
            description: "Reloads nginx gracefully",
            run: reload,
        },
        Command {
            name: "nginx:report",
            usage: "[<app>] [<flag>]",
            description: "Displays an nginx report for one or more apps",
            run: report,
        },
        Command {
            name: "nginx:set",
            usage: "[--global|<app>] <property> (<value>)",
            description: "Set or clear an nginx property for an app",
            run: set,
        },
        Command {
            name: "nginx:show-config",
            usage: "<app>",
            description: "Display app nginx config",
            run: show_config,
        },
        Command {
            name: "nginx:start",
            usage: "",
            description: "Starts the nginx server",
            run: start,
        },
        Command {
            name: "nginx:stop",
            usage: "",
            description: "Stops the nginx server",
            run: stop,
        },
        Command {
            name: "nginx:validate-config",
            usage: "[<app>] [--clean]",
            description: "Validates and optionally cleans up invalid nginx configurations",
            run: validate_config,
        },
    ],
    triggers: &[
        ("post-domains-update", trigger_rebuild_if_deployed),
        ("post-proxy-ports-update", trigger_rebuild_if_deployed),
        ("pre-delete", trigger_pre_delete),
        ("proxy-build-config", trigger_build_config),
        ("proxy-clear-config", trigger_clear_config),
        ("proxy-start", trigger_proxy_start),
    ],
};

fn app_config(ctx: &Context, app: &AppName) -> PathBuf {
    ctx.store.app_dir(app).join("nginx.conf")
}

/// A property's value: the app's, else the global one, else the default.
fn computed(ctx: &Context, app: &AppName, name: &str) -> Result<String> {
    let property = properties::find(name)
        .ok_or_else(|| Error::fail(format!("unknown nginx property {name}")))?;
    Ok(ctx
        .store
        .app_property("nginx", app, name)?
        .unwrap_or_else(|| properties::default_for(property, app)))
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `scheme:host:container` → (scheme, host port, container port).
fn parse_map(map: &str) -> Option<(String, u16, u16)> {
    let mut parts = map.split(':');
    let (scheme, host, container) = (parts.next()?, parts.next()?, parts.next()?);
    Some((
        scheme.to_string(),
        host.parse().ok()?,
        container.parse().ok()?,
    ))
}

/// Renders, checks and installs the app's config, then reloads nginx.
/// A config nginx refuses is never installed: the app keeps its last good
/// one and the error names nginx's complaint.
pub fn build_config(ctx: &Context, app: &AppName) -> Result<()> {
    let enabled = ctx.fire("proxy-is-enabled", &[app.as_str()])?;
    let ips: Vec<String> = crate::dynos::web_listeners(&ctx.store, app)
        .iter()
        .map(|listener| listener.ip.to_string())
        .collect();
    // network:set static-web-listener: every upstream is that host:port.
    let static_listener = ctx
        .fire("network-get-static-listeners", &[app.as_str(), "web"])?
        .trim()
        .to_string();
    let domains = lines(&ctx.fire("domains-list", &[app.as_str()])?);
    if enabled.trim() == "false" {
        ctx.out
            .info1(format!("Nginx support is disabled for app ({app})"))?;
        return clear_config(ctx, app);
    }
    if (ips.is_empty() && static_listener.is_empty()) || domains.is_empty() {
        return clear_config(ctx, app);
    }
    let ssl = ctx.fire("certs-exists", &[app.as_str()])?.trim() == "true";
    let port_maps: Vec<(String, u16, u16)> = lines(&ctx.fire("ports-get", &[app.as_str()])?)
        .iter()
        .filter_map(|map| parse_map(map))
        .collect();
    // With a certificate, plain HTTP redirects to the first HTTPS port.
    let https_port = port_maps
        .iter()
        .find(|(scheme, ..)| ssl && scheme == "https")
        .map(|(_, host_port, _)| *host_port);
    let mut maps = Vec::new();
    let mut upstreams = Vec::new();
    for (scheme, host_port, container_port) in port_maps {
        let tls = scheme == "https";
        if (tls && !ssl) || !(scheme == "http" || tls) {
            ctx.out.warn(format!(
                "Ignoring detected {scheme} port mapping without an accompanying ssl certificate ({scheme}:{host_port}:{container_port})"
            ))?;
            continue;
        }
        let upstream = format!("{app}-{container_port}");
        if !upstreams
            .iter()
            .any(|u: &serde_json::Value| u["name"] == upstream)
        {
            let servers: Vec<String> = if static_listener.is_empty() {
                ips.iter()
                    .map(|ip| format!("{ip}:{container_port}"))
                    .collect()
            } else {
                vec![static_listener.clone()]
            };
            upstreams.push(json!({ "name": upstream, "servers": servers }));
        }
        let redirect = !tls && https_port.is_some();
        maps.push(json!({
            "scheme": scheme,
            "host_port": host_port,
            "container_port": container_port,
            "upstream": upstream,
            "tls": tls,
            "redirect": redirect,
        }));
    }
    if maps.is_empty() {
        return clear_config(ctx, app);
    }
    let mut data = serde_json::Map::new();
    for property in properties::PROPERTIES {
        let value = computed(ctx, app, property.name)?;
        if !value.is_empty() {
            properties::check(property, &value, Some(app))?;
        }
        data.insert(property.name.replace('-', "_"), json!(value));
    }
    data.insert("keepalive".into(), data["proxy_keepalive"].clone());
    // A buffered log costs one write per 64 KiB instead of one per request;
    // `off` takes no parameters.
    let logging = data["access_log_path"] != json!("off");
    data.insert("access_log_buffered".into(), json!(logging));
    data.insert("APP".into(), json!(app.as_str()));
    data.insert(
        "DOKKU_ROOT".into(),
        json!(ctx.store.dokku_root().display().to_string()),
    );
    data.insert(
        "DOKKU_LIB_ROOT".into(),
        json!(ctx.store.lib_root().display().to_string()),
    );
    data.insert(
        "app_dir".into(),
        json!(ctx.store.app_dir(app).display().to_string()),
    );
    data.insert("NOSSL_SERVER_NAME".into(), json!(domains.join(" ")));
    data.insert("DOKKU_APP_WEB_LISTENERS".into(), json!(ips.join(" ")));
    data.insert(
        "ipv6".into(),
        json!(std::path::Path::new("/proc/net/if_inet6").exists()),
    );
    data.insert("maps".into(), json!(maps));
    data.insert("ssl".into(), json!(ssl));
    let tls_dir = ctx.store.app_dir(app).join("tls");
    data.insert(
        "ssl_certificate".into(),
        json!(tls_dir.join("server.crt").display().to_string()),
    );
    data.insert(
        "ssl_certificate_key".into(),
        json!(tls_dir.join("server.key").display().to_string()),
    );
    // `https://$host` when the HTTPS port is 443, else with `:<port>`.
    let suffix = match https_port {
        Some(443) | None => String::new(),
        Some(port) => format!(":{port}"),
    };
    data.insert("https_port_suffix".into(), json!(suffix));
    for flag in ["hsts", "hsts-include-subdomains", "hsts-preload"] {
        let on = computed(ctx, app, flag)? == "true";
        data.insert(format!("{}_on", flag.replace('-', "_")), json!(on));
    }
    data.insert(
        "acme_challenge_root".into(),
        json!(
            crate::nginx::acme_challenge_root(&ctx.store)
                .display()
                .to_string()
        ),
    );
    data.insert("upstreams".into(), json!(upstreams));

    let (template, source) = template_for(ctx, app)?;
    ctx.out.info1(format!(
        "Configuring {}...(using {source} template)",
        domains.join(" ")
    ))?;
    let mut registry = handlebars::Handlebars::new();
    registry.register_escape_fn(properties::escape);
    let rendered = registry.render_template(&template, &data).map_err(|e| {
        Error::fail(format!(
            "Unable to render the nginx template for {app}: {e}"
        ))
    })?;

    let nginx = Nginx::new(&ctx.store);
    let _lock = nginx.lock()?;
    let port_of = |m: &serde_json::Value| m["host_port"].as_u64().map(|p| p as u16);
    let ports: Vec<u16> = maps.iter().filter_map(port_of).collect();
    let tls_ports: Vec<u16> = maps
        .iter()
        .filter(|m| m["tls"] == json!(true))
        .filter_map(port_of)
        .collect();
    let base_changed = nginx.add_default_ports(ctx, &ports, &tls_ports)?;
    ensure_dir(&ctx.store.app_dir(app).join("nginx.conf.d"))?;
    let target = app_config(ctx, app);
    // Unchanged, and no file it includes changed since it was installed
    // (a restore after a crash, a restart with the same addresses):
    // nothing to test or reload, so restoring many apps costs only the
    // apps that changed.
    if std::fs::read(&target).is_ok_and(|installed| installed == rendered.as_bytes())
        && !includes_changed_since(&ctx.store.app_dir(app).join("nginx.conf.d"), &target)
        && !(ssl && includes_changed_since(&tls_dir, &target))
    {
        return if base_changed { nginx.reload() } else { Ok(()) };
    }
    let candidate = target.with_file_name(format!(".nginx.conf.{}", std::process::id()));
    write_atomic(&candidate, rendered.as_bytes(), 0o644)?;
    if let Err(e) = nginx.test_with(app.as_str(), &candidate) {
        let _ = std::fs::remove_file(&candidate);
        return Err(e);
    }
    rename_atomic(&candidate, &target)?;
    ctx.out.info1(if ssl {
        "Creating https nginx.conf"
    } else {
        "Creating http nginx.conf"
    })?;
    ctx.out.verbose("Reloading nginx")?;
    ctx.fire("nginx-pre-reload", &[app.as_str()])?;
    nginx.reload()
}

/// Whether a file of `dir` (the app's `nginx.conf.d/`, which plugins such
/// as maintenance change before asking for a rebuild, or its `tls/`, which
/// a renewal rewrites) is newer than the installed config `installed`.
fn includes_changed_since(dir: &std::path::Path, installed: &std::path::Path) -> bool {
    let Ok(installed_at) = std::fs::metadata(installed).and_then(|m| m.modified()) else {
        return true;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    // The folder's own time counts too: it changes when a file is removed.
    std::iter::once(std::fs::metadata(dir))
        .chain(entries.flatten().map(|e| e.metadata()))
        .any(|meta| {
            meta.and_then(|m| m.modified())
                .map_or(true, |t| t >= installed_at)
        })
}

/// The app's own `nginx.conf.hbs` (kept from its last build) unless
/// `disable-custom-config`, else the bundled template.
fn template_for(ctx: &Context, app: &AppName) -> Result<(String, &'static str)> {
    if computed(ctx, app, "disable-custom-config")? != "true"
        && let Some(text) =
            crate::release_files::read(&ctx.store, app, None, crate::release_files::NGINX_TEMPLATE)
    {
        return Ok((text, "app-supplied"));
    }
    Ok((DEFAULT_TEMPLATE.to_string(), "built-in"))
}

/// Removes the app's config (if any) and reloads.
pub fn clear_config(ctx: &Context, app: &AppName) -> Result<()> {
    let nginx = Nginx::new(&ctx.store);
    let _lock = nginx.lock()?;
    if remove_file(&app_config(ctx, app))? {
        nginx.reload()?;
    }
    Ok(())
}

impl Nginx {
    /// Makes the catch-all 404 server listen on `ports` too (and on the
    /// global proxy port), keeping the ports it already had.
    fn add_default_ports(&self, ctx: &Context, ports: &[u16], tls_ports: &[u16]) -> Result<bool> {
        let mut all = self.default_ports();
        all.push(global_proxy_port(ctx)?);
        all.extend_from_slice(ports);
        all.sort_unstable();
        all.dedup();
        let mut tls = self.default_tls_ports();
        tls.extend_from_slice(tls_ports);
        tls.sort_unstable();
        tls.dedup();
        self.write_base(&all, &tls)
    }
}

/// The port nginx serves apps on by default (`proxy:set --global proxy-port`).
pub fn global_proxy_port(ctx: &Context) -> Result<u16> {
    Ok(ctx
        .store
        .property("proxy", &Scope::Global, "proxy-port")?
        .and_then(|p| p.parse().ok())
        .unwrap_or(80))
}

/// `[<app>|--all]` → the apps meant.
fn apps_of(ctx: &Context, arg: Option<&String>) -> Result<Vec<AppName>> {
    match arg.map(String::as_str) {
        Some("--all") => ctx.store.apps(),
        other => Ok(vec![ctx.existing_app(other)?]),
    }
}

/// `proxy-start` (berth server, before nginx starts): the main config and
/// the catch-all server, checked.
fn trigger_proxy_start(ctx: &Context, _args: &[String]) -> Result<String> {
    let nginx = Nginx::new(&ctx.store);
    let _lock = nginx.lock()?;
    nginx.add_default_ports(ctx, &[], &[])?;
    nginx.test()?;
    Ok(String::new())
}

fn trigger_build_config(ctx: &Context, args: &[String]) -> Result<String> {
    for app in apps_of(ctx, args.first())? {
        build_config(ctx, &app)?;
    }
    Ok(String::new())
}

/// `pre-delete APP`: the app's config goes, and its log files (the
/// defaults and the paths set for it; never another app's).
fn trigger_pre_delete(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    clear_config(ctx, &app)?;
    for name in ["access-log-path", "error-log-path"] {
        let property = properties::find(name).expect("a log path property");
        let mut paths = vec![properties::default_for(property, &app)];
        paths.push(computed(ctx, &app, name)?);
        for path in paths {
            if path != "off" && properties::check(property, &path, Some(&app)).is_ok() {
                remove_file(std::path::Path::new(&path))?;
            }
        }
    }
    Ok(String::new())
}

fn trigger_clear_config(ctx: &Context, args: &[String]) -> Result<String> {
    for app in apps_of(ctx, args.first())? {
        clear_config(ctx, &app)?;
    }
    Ok(String::new())
}

/// Domains or ports changed: a deployed app gets a new config now.
fn trigger_rebuild_if_deployed(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    if !crate::dynos::web_listeners(&ctx.store, &app).is_empty() {
        build_config(ctx, &app)?;
    }
    Ok(String::new())
}

fn build_config_command(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppOrAll = crate::args::parse("nginx:build-config", &args)?;
    args.refuse_app_with_all()?;
    let apps = if args.all {
        ctx.store.apps()?
    } else {
        vec![ctx.existing_app(args.app.as_deref())?]
    };
    for app in apps {
        build_config(ctx, &app)?;
    }
    Ok(())
}

fn show_config(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("nginx:show-config", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let path = app_config(ctx, &app);
    let text =
        std::fs::read(&path).map_err(|_| Error::fail(format!("No nginx.conf found for {app}")))?;
    ctx.out.raw(&text)
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ValidateArgs {
    #[arg(long)]
    clean: bool,
    app: Option<String>,
}

fn validate_config(ctx: &Context, args: Vec<String>) -> Result<()> {
    let nginx = Nginx::new(&ctx.store);
    let args: ValidateArgs = crate::args::parse("nginx:validate-config", &args)?;
    let clean = args.clean;
    match args.app {
        Some(name) => {
            let app = ctx.existing_app(Some(&name))?;
            let path = app_config(ctx, &app);
            if !path.exists() {
                return Ok(());
            }
            let result = nginx.test_with(app.as_str(), &path);
            if result.is_err() && clean {
                remove_file(&path)?;
            }
            result
        }
        None => nginx.test(),
    }
}

fn reload(ctx: &Context, args: Vec<String>) -> Result<()> {
    let NoArgs {} = crate::args::parse("nginx:reload", &args)?;
    let nginx = Nginx::new(&ctx.store);
    nginx.test()?;
    nginx.reload()
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let request = property_set::parse(ctx, "nginx:set", args)?;
    let Some(property) = properties::find(&request.key) else {
        return Err(property_set::invalid_property(
            properties::PROPERTIES.iter().map(|p| p.name),
        ));
    };
    property_set::store(ctx, "nginx", &request, |value| {
        properties::check(property, value, request.scope.app())
    })
}

fn start(ctx: &Context, args: Vec<String>) -> Result<()> {
    let NoArgs {} = crate::args::parse("nginx:start", &args)?;
    ctx.out.info1("Starting nginx")?;
    Nginx::new(&ctx.store).start()
}

fn stop(ctx: &Context, args: Vec<String>) -> Result<()> {
    let NoArgs {} = crate::args::parse("nginx:stop", &args)?;
    ctx.out.info1("Stopping nginx")?;
    Nginx::new(&ctx.store).stop()
}

/// `nginx:access-logs` / `nginx:error-logs`: the last 100 lines of the
/// app's log (read from at most its last 1 MiB), then, with `-t`, what is
/// appended. Only the app's own log files can be read ([`properties::check`]
/// confines the paths).
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct LogsArgs {
    #[arg(short = 't', long = "tail")]
    follow: bool,
    app: Option<String>,
}

fn tail(ctx: &Context, args: Vec<String>, which: &str) -> Result<()> {
    let args: LogsArgs = crate::args::parse(&format!("nginx:{which}-logs"), &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let follow = args.follow;
    let property = format!("{which}-log-path");
    let path = computed(ctx, &app, &property)?;
    if path == "off" {
        return Err(Error::fail(format!("The {which} log of {app} is off")));
    }
    let spec = properties::find(&property).expect("a log path property");
    properties::check(spec, &path, Some(&app))?;
    let path = PathBuf::from(path);
    let (last, end) = crate::bounded::tail(&path, 100, 1024 * 1024)?;
    ctx.out.raw(&last)?;
    if follow {
        crate::bounded::follow(&path, end, &mut |bytes| ctx.out.raw(bytes))?;
    }
    Ok(())
}

fn access_logs(ctx: &Context, args: Vec<String>) -> Result<()> {
    tail(ctx, args, "access")
}

fn error_logs(ctx: &Context, args: Vec<String>) -> Result<()> {
    tail(ctx, args, "error")
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "nginx:report",
        title: "nginx",
        legacy_keys: false,
    };
    report::run(ctx, &spec, args, |target| {
        let app = match target {
            report::Target::App(app) => app,
            report::Target::Global => {
                let defaults: Vec<(&str, &str)> = properties::PROPERTIES
                    .iter()
                    .map(|p| (p.name, p.default))
                    .collect();
                return report::global_rows(ctx, "nginx", &defaults);
            }
        };
        let mut rows: Rows = Vec::new();
        for property in properties::PROPERTIES {
            let name = property.name;
            let values = ctx.store.layered_property("nginx", app, name)?;
            let default = properties::default_for(property, app);
            rows.extend(report::layered_rows("nginx", name, &values, &default));
        }
        Ok(rows)
    })
}
