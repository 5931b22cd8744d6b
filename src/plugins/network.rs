//! Dokku's `network` plugin: the engine's networks (`network:create`,
//! `destroy`, `exists`, `info`, `list`), the networks an app's containers
//! join and when (`network:set`), and the app's recorded addresses
//! (`network:rebuild`, `rebuildall`, `network:report`).
//!
//! Properties: `config/network/<app|--global>/{attach-post-create,
//! attach-post-deploy,bind-all-interfaces,initial-network,tld}` and
//! `config/network/<app>/static-web-listener` (app only). The attach lists
//! are stored comma-separated.
//!
//! Every app container stays on berth's apps network (the proxy routes
//! through it, [`crate::app_network`]); the named networks are joined
//! besides it, each endpoint with the alias `APP.PROC[.TLD]` for deploy
//! containers, as Dokku names them:
//! - `initial-network` and `attach-post-create`: `post-container-create`
//!   (created, not yet started; deploy and run containers), initial first;
//!   `initial-network` is also the network of the build's `RUN` steps
//!   (`docker-args-build`);
//! - `attach-post-deploy`: `core-post-deploy`, which the scheduler fires
//!   once every new container passed its checks, before the proxy switches.
//!
//! A named network that does not exist fails the step that joins it, so a
//! deploy fails before its switch and the running release keeps serving.
//! `static-web-listener` replaces the web listeners the proxy routes to
//! (`network-get-static-listeners`, `network-get-listeners`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::app_name::AppName;
use crate::app_network;
use crate::context::Context;
use crate::dynos;
use crate::engine::{self, Engine, NetworkInfo};
use crate::error::{Error, Result};
use crate::plugins::{Command, Plugin};
use crate::property_set::{self, Reach};
use crate::report::{self, ReportSpec, Rows, Target};
use crate::store::Scope;

pub static PLUGIN: Plugin = Plugin {
    name: "network",
    description: "Manage network settings for an app",
    default_command: None,
    commands: &[
        Command {
            name: "network:create",
            usage: "<network>",
            description: "Creates an attachable docker network",
            run: create,
        },
        Command {
            name: "network:destroy",
            usage: "<network>",
            description: "Destroys a docker network",
            run: destroy,
        },
        Command {
            name: "network:exists",
            usage: "<network>",
            description: "Checks if a docker network exists",
            run: exists,
        },
        Command {
            name: "network:info",
            usage: "<network> [--format text|json]",
            description: "Outputs information about a docker network",
            run: info,
        },
        Command {
            name: "network:list",
            usage: "[--format text|json] [--dokku-managed]",
            description: "Lists all docker networks",
            run: list,
        },
        Command {
            name: "network:rebuild",
            usage: "<app>",
            description: "Rebuilds network settings for an app",
            run: rebuild,
        },
        Command {
            name: "network:rebuildall",
            usage: "",
            description: "Rebuild network settings for all apps",
            run: rebuildall,
        },
        Command {
            name: "network:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a network report for one or more apps",
            run: report,
        },
        Command {
            name: "network:set",
            usage: "<app> <key> (<value>)",
            description: "Set or clear a network property for an app",
            run: set,
        },
    ],
    triggers: &[
        ("core-post-deploy", trigger_core_post_deploy),
        ("docker-args-build", trigger_docker_args_build),
        ("docker-args-deploy", trigger_docker_args_deploy),
        ("network-build-config", trigger_build_config),
        ("network-get-listeners", trigger_get_listeners),
        ("network-get-property", trigger_get_property),
        ("network-get-static-listeners", trigger_get_static_listeners),
        ("post-container-create", trigger_post_container_create),
    ],
};

const PLUGIN_NAME: &str = "network";
const ATTACH_POST_CREATE: &str = "attach-post-create";
const ATTACH_POST_DEPLOY: &str = "attach-post-deploy";
const BIND_ALL_INTERFACES: &str = "bind-all-interfaces";
const INITIAL_NETWORK: &str = "initial-network";
const STATIC_WEB_LISTENER: &str = "static-web-listener";
const TLD: &str = "tld";

/// The properties with app, global and default values, in report order.
const LAYERED: [(&str, &str); 5] = [
    (ATTACH_POST_CREATE, ""),
    (ATTACH_POST_DEPLOY, ""),
    (BIND_ALL_INTERFACES, "false"),
    (INITIAL_NETWORK, ""),
    (TLD, ""),
];

/// Docker's own networks, which `network:destroy` leaves alone.
const DEFAULT_NETWORKS: [&str; 3] = ["bridge", "host", "none"];

/// `<network>`: the one argument of the network commands.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct NetworkArg {
    network: Option<String>,
}

/// `<network> [--format text|json]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct InfoArgs {
    network: Option<String>,
    #[arg(long, default_value = "text")]
    format: String,
}

/// `[--format text|json] [--dokku-managed]`.
#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct ListArgs {
    #[arg(long, default_value = "text")]
    format: String,
    #[arg(long)]
    dokku_managed: bool,
}

fn network_name(name: Option<String>) -> Result<String> {
    name.filter(|n| !n.is_empty())
        .ok_or_else(|| Error::fail("No network name specified"))
}

fn check_format(format: &str) -> Result<()> {
    if format == "text" || format == "json" {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid --format value specified: {format} (valid: json, text)"
    )))
}

fn create(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: NetworkArg = crate::args::parse("network:create", &args)?;
    let name = network_name(args.network)?;
    if !engine::is_valid_network_name(&name) {
        return Err(Error::fail(format!(
            "Invalid network name specified: {name} (letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )));
    }
    let engine = Engine::connect()?;
    // The engine allows two networks of one name: the check and the
    // create hold the name's lock, as berth's own network does.
    let _lock = engine.network_creation_lock(&name)?;
    if engine.network(&name)?.is_some() {
        return Err(Error::fail("Network name already exists"));
    }
    ctx.out.info1(format!("Creating network {name}"))?;
    engine.create_managed_network(&name)
}

fn destroy(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: NetworkArg = crate::args::parse("network:destroy", &args)?;
    let name = network_name(args.network)?;
    let engine = Engine::connect()?;
    let Some(network) = engine.network(&name)? else {
        return Err(Error::fail("Network does not exist"));
    };
    if DEFAULT_NETWORKS.contains(&name.as_str()) {
        return Err(Error::fail("Unable to destroy default docker networks"));
    }
    if name == engine::app_network() {
        return Err(Error::fail(format!(
            "Unable to destroy {name}: it is berth's apps network, which the proxy routes through"
        )));
    }
    if !ctx.flags.force {
        ctx.out.confirm(&format!("network {name}"), &name)?;
    }
    ctx.out.info1(format!("Destroying network {name}"))?;
    engine.remove_network(&network.id, &name)
}

fn exists(_ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: NetworkArg = crate::args::parse("network:exists", &args)?;
    let name = network_name(args.network)?;
    match Engine::connect()?.network(&name)? {
        Some(_) => Ok(()),
        None => Err(Error::fail("Network does not exist")),
    }
}

/// A network as `--format json` shows it, fields in Dokku's order.
#[derive(Serialize)]
struct NetworkJson<'a> {
    #[serde(rename = "CreatedAt")]
    created_at: &'a str,
    #[serde(rename = "DokkuManaged")]
    dokku_managed: bool,
    #[serde(rename = "Driver")]
    driver: &'a str,
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "Internal")]
    internal: bool,
    #[serde(rename = "IPv6")]
    ipv6: bool,
    #[serde(rename = "Labels")]
    labels: &'a BTreeMap<String, String>,
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Scope")]
    scope: &'a str,
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn json(network: &NetworkInfo) -> String {
    serde_json::to_string(&NetworkJson {
        created_at: &network.created,
        dokku_managed: network.dokku_managed(),
        driver: &network.driver,
        id: short_id(&network.id),
        internal: network.internal,
        ipv6: network.ipv6,
        labels: &network.labels,
        name: &network.name,
        scope: &network.scope,
    })
    .expect("a network serialises")
}

fn info(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: InfoArgs = crate::args::parse("network:info", &args)?;
    let name = network_name(args.network)?;
    check_format(&args.format)?;
    let Some(network) = Engine::connect()?.network(&name)? else {
        return Err(Error::fail("Network does not exist"));
    };
    if args.format == "json" {
        return ctx.out.line(json(&network));
    }
    ctx.out.info2(format!("{name} network information"))?;
    let managed = network.dokku_managed().to_string();
    let rows = [
        ("ID:", short_id(&network.id)),
        ("Name:", &network.name),
        ("Driver:", &network.driver),
        ("Scope:", &network.scope),
        ("Dokku managed:", &managed),
    ];
    for (key, value) in rows {
        ctx.out.verbose(format!("{key:<16}{value}"))?;
    }
    Ok(())
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ListArgs = crate::args::parse("network:list", &args)?;
    check_format(&args.format)?;
    let networks: Vec<NetworkInfo> = Engine::connect()?
        .list_networks()?
        .into_iter()
        .filter(|n| !args.dokku_managed || n.dokku_managed())
        .collect();
    if args.format == "json" {
        if networks.is_empty() {
            return ctx.out.line("[]");
        }
        let lines: Vec<String> = networks
            .iter()
            .map(|n| format!("    {}", json(n)))
            .collect();
        return ctx.out.line(format!("[\n{}\n]", lines.join(",\n")));
    }
    ctx.out.info2("Networks")?;
    for network in &networks {
        ctx.out.line(&network.name)?;
    }
    Ok(())
}

/// Rewrites the app's `IP.<type>.<n>` files from the engine; returns how
/// many containers could not be read.
fn build_config(ctx: &Context, engine: &Engine, app: &AppName) -> Result<i32> {
    let mut failed = 0;
    let mut changed = false;
    for dyno in dynos::dynos(&ctx.store, app)? {
        let Some(id) = dynos::container_id(&ctx.store, app, &dyno) else {
            continue;
        };
        let ip = engine
            .inspect_container(&id)?
            .as_ref()
            .and_then(app_network::container_ip);
        let recorded = dynos::address(&ctx.store, app, &dyno);
        match (ip, recorded) {
            (Some(ip), Some((old_ip, port))) => {
                if ip != old_ip {
                    let port = port.parse().map_err(|_| {
                        Error::fail(format!(
                            "Invalid PORT.{} file of {app}: {port}",
                            dyno.name()
                        ))
                    })?;
                    dynos::record(&ctx.store, app, &dyno, &id, &ip, port)?;
                    changed = true;
                }
            }
            _ => {
                ctx.out.warn(format!(
                    "Unable to rebuild network settings of {app} {}: container {} has no address on {}",
                    dyno.name(),
                    short_id(&id),
                    engine::app_network()
                ))?;
                failed += 1;
            }
        }
    }
    if changed {
        ctx.fire("proxy-build-config", &[app.as_str()])?;
    }
    Ok(failed)
}

/// `network-build-config APP`: the app's addresses rewritten; fails with
/// the number of containers that could not be read as its exit status.
fn trigger_build_config(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    // A deploy switching containers meanwhile would have its new addresses
    // overwritten with the old ones.
    let _lock = ctx.deploy_lock(&app)?;
    let failed = build_config(ctx, &Engine::connect()?, &app)?;
    if failed > 0 {
        return Err(Error::Silent(failed.clamp(1, 255)));
    }
    Ok(String::new())
}

fn rebuild(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: crate::args::AppArg = crate::args::parse("network:rebuild", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    ctx.fire("network-build-config", &[app.as_str()]).map(drop)
}

fn rebuildall(ctx: &Context, args: Vec<String>) -> Result<()> {
    let _: crate::args::NoArgs = crate::args::parse("network:rebuildall", &args)?;
    let mut failed: i32 = 0;
    for app in ctx.store.apps()? {
        match ctx.fire("network-build-config", &[app.as_str()]) {
            Ok(_) => {}
            Err(Error::Silent(n)) => failed = failed.saturating_add(n),
            Err(e) => return Err(e),
        }
    }
    if failed > 0 {
        return Err(Error::Silent(failed.clamp(1, 255)));
    }
    Ok(())
}

/// A property as it applies to `app`: the app's value, else the global
/// one, else the default.
fn computed(ctx: &Context, app: &AppName, key: &str) -> Result<String> {
    let default = LAYERED
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, d)| *d);
    Ok(ctx
        .store
        .app_property(PLUGIN_NAME, app, key)?
        .unwrap_or_else(|| default.to_string()))
}

/// A stored network list (`a,b` or `a b`) as names.
fn names(value: &str) -> Vec<String> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

/// `static-web-listener`, when the app has one.
fn static_listener(ctx: &Context, app: &AppName) -> Result<Option<String>> {
    Ok(ctx
        .store
        .property(PLUGIN_NAME, &Scope::App(app.clone()), STATIC_WEB_LISTENER)?
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty()))
}

/// The `ip:port` listeners of `kind`: the static one for `web` when set,
/// else the recorded addresses, space-separated.
fn listeners(ctx: &Context, app: &AppName, kind: &str) -> Result<String> {
    if kind == "web"
        && let Some(listener) = static_listener(ctx, app)?
    {
        return Ok(listener);
    }
    let found: Vec<String> = dynos::dynos(&ctx.store, app)?
        .iter()
        .filter(|dyno| dyno.kind == kind)
        .filter_map(|dyno| dynos::address(&ctx.store, app, dyno))
        .map(|(ip, port)| format!("{ip}:{port}"))
        .collect();
    Ok(found.join(" "))
}

fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    let spec = ReportSpec {
        command: "network:report",
        title: "network",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| {
        let app = match target {
            Target::App(app) => app,
            Target::Global => return report::global_rows(ctx, PLUGIN_NAME, &LAYERED),
        };
        let mut rows = Rows::new();
        for (key, default) in LAYERED {
            let values = ctx.store.layered_property(PLUGIN_NAME, app, key)?;
            rows.extend(report::layered_rows(PLUGIN_NAME, key, &values, default));
        }
        rows.push((
            format!("--network-{STATIC_WEB_LISTENER}"),
            static_listener(ctx, app)?.unwrap_or_default(),
        ));
        rows.push((
            "--network-web-listeners".into(),
            listeners(ctx, app, "web")?,
        ));
        Ok(rows)
    })
}

/// The settable properties and where each may be set.
const PROPERTIES: [(&str, Reach); 6] = [
    (ATTACH_POST_CREATE, Reach::AppAndGlobal),
    (ATTACH_POST_DEPLOY, Reach::AppAndGlobal),
    (BIND_ALL_INTERFACES, Reach::AppAndGlobal),
    (INITIAL_NETWORK, Reach::AppAndGlobal),
    (STATIC_WEB_LISTENER, Reach::AppOnly),
    (TLD, Reach::AppAndGlobal),
];

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut request = property_set::parse(ctx, "network:set", args)?;
    let Some((_, reach)) = PROPERTIES.iter().find(|(name, _)| *name == request.key) else {
        return Err(property_set::invalid_property(
            PROPERTIES.iter().map(|(name, _)| *name),
        ));
    };
    if *reach == Reach::AppOnly && request.scope == Scope::Global {
        return Err(Error::fail("Property cannot be specified globally"));
    }
    if matches!(
        request.key.as_str(),
        ATTACH_POST_CREATE | ATTACH_POST_DEPLOY
    ) {
        request.value = names(&request.value).join(",");
    }
    let key = request.key.clone();
    property_set::store(ctx, PLUGIN_NAME, &request, |value| validate(&key, value))?;
    // The proxy routes to the static listener at once, as to a deploy.
    if key == STATIC_WEB_LISTENER
        && let Scope::App(app) = &request.scope
    {
        ctx.fire("proxy-build-config", &[app.as_str()])?;
    }
    Ok(())
}

/// Checks a non-empty value of `key`; the networks it names must exist.
fn validate(key: &str, value: &str) -> Result<()> {
    match key {
        ATTACH_POST_CREATE | ATTACH_POST_DEPLOY | INITIAL_NETWORK => {
            let names = names(value);
            if key == INITIAL_NETWORK && names.len() > 1 {
                return Err(Error::fail(format!(
                    "Invalid value for {key}: {value} (a single network)"
                )));
            }
            let engine = Engine::connect()?;
            for name in &names {
                joinable(&engine, name)?;
            }
            Ok(())
        }
        BIND_ALL_INTERFACES => match value {
            "true" | "false" => Ok(()),
            _ => Err(Error::fail(format!(
                "Invalid value for {key}: {value} (valid: true, false)"
            ))),
        },
        STATIC_WEB_LISTENER => check_listener(value),
        TLD => check_tld(value),
        _ => Ok(()),
    }
}

/// A network the containers can join besides berth's apps network.
fn joinable(engine: &Engine, name: &str) -> Result<()> {
    if name == "host" || name == "none" {
        return Err(Error::fail(format!(
            "Network {name} cannot be joined: berth's containers stay on its apps network, which the proxy routes through"
        )));
    }
    if !engine::is_valid_network_name(name) || engine.network(name)?.is_none() {
        return Err(Error::fail(format!(
            "Network {name} does not exist; create it with network:create {name}"
        )));
    }
    Ok(())
}

/// `host:port`: an IPv4 address, a `[IPv6]` address or a DNS name, and a
/// port (it ends up in the proxy's config, so nothing else passes).
fn check_listener(value: &str) -> Result<()> {
    let invalid = || {
        Error::fail(format!(
            "Invalid value for {STATIC_WEB_LISTENER}: {value} (host:port, e.g. 10.0.0.5:8080)"
        ))
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(invalid)?;
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(invalid)?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host.parse::<std::net::Ipv4Addr>().is_ok() || is_dns_name(host),
    };
    if !host_ok {
        return Err(invalid());
    }
    Ok(())
}

fn check_tld(value: &str) -> Result<()> {
    if is_dns_name(value) {
        return Ok(());
    }
    Err(Error::fail(format!(
        "Invalid value for {TLD}: {value} (DNS labels separated by dots, e.g. svc.cluster.local)"
    )))
}

/// Dot-separated labels of letters, digits and inner hyphens.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `network-get-property APP KEY`: the value that applies.
fn trigger_get_property(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let key = args.get(1).map_or("", String::as_str);
    if key == STATIC_WEB_LISTENER {
        return Ok(static_listener(ctx, &app)?.unwrap_or_default());
    }
    if !LAYERED.iter().any(|(k, _)| *k == key) {
        return Err(property_set::invalid_property(
            PROPERTIES.iter().map(|(name, _)| *name),
        ));
    }
    computed(ctx, &app, key)
}

/// `network-get-listeners APP [PROC]` (`web` by default).
fn trigger_get_listeners(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    listeners(ctx, &app, args.get(1).map_or("web", String::as_str))
}

/// `network-get-static-listeners APP PROC`: the static listener of `web`.
fn trigger_get_static_listeners(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    if args.get(1).map_or("web", String::as_str) != "web" {
        return Ok(String::new());
    }
    Ok(static_listener(ctx, &app)?.unwrap_or_default())
}

/// `APP.PROC`, with the app's `tld` when it has one.
fn alias(ctx: &Context, app: &AppName, kind: &str) -> Result<String> {
    let tld = computed(ctx, app, TLD)?;
    Ok(if tld.is_empty() {
        format!("{app}.{kind}")
    } else {
        format!("{app}.{kind}.{tld}")
    })
}

/// Joins container `id` to the networks `key` names for `app`, with the
/// alias of `kind` when given. A network that does not exist fails.
fn attach(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    key: &str,
    id: &str,
    kind: Option<&str>,
) -> Result<()> {
    let networks = names(&computed(ctx, app, key)?);
    if networks.is_empty() {
        return Ok(());
    }
    let aliases = match kind {
        Some(kind) => vec![alias(ctx, app, kind)?],
        None => Vec::new(),
    };
    for network in networks {
        joinable(engine, &network)
            .map_err(|e| Error::fail(format!("{e} (network property {key} of {app})")))?;
        engine.connect_network_with_aliases(&network, id, &aliases)?;
    }
    Ok(())
}

/// `post-container-create app CID APP PHASE [PROC]`: `initial-network`,
/// then `attach-post-create`, before the container starts. Deploy
/// containers get their `APP.PROC` alias.
fn trigger_post_container_create(ctx: &Context, args: &[String]) -> Result<String> {
    let [kind, id, app, phase, rest @ ..] = args else {
        return Ok(String::new());
    };
    if kind != "app" {
        return Ok(String::new());
    }
    let Ok(app) = AppName::lookup(app) else {
        return Ok(String::new());
    };
    let process = match (phase.as_str(), rest.first()) {
        ("deploy", Some(process)) => Some(process.as_str()),
        _ => None,
    };
    let wanted = [INITIAL_NETWORK, ATTACH_POST_CREATE]
        .iter()
        .map(|key| computed(ctx, &app, key))
        .collect::<Result<Vec<_>>>()?;
    if wanted.iter().all(String::is_empty) {
        return Ok(String::new());
    }
    let engine = Engine::connect()?;
    for key in [INITIAL_NETWORK, ATTACH_POST_CREATE] {
        attach(ctx, &engine, &app, key, id, process)?;
    }
    Ok(String::new())
}

/// `core-post-deploy APP PORT IP TAG`: the new containers passed their
/// checks; each recorded container joins `attach-post-deploy` before the
/// proxy switches to them.
fn trigger_core_post_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    if computed(ctx, &app, ATTACH_POST_DEPLOY)?.is_empty() {
        return Ok(String::new());
    }
    let engine = Engine::connect()?;
    for dyno in dynos::dynos(&ctx.store, &app)? {
        if let Some(id) = dynos::container_id(&ctx.store, &app, &dyno) {
            attach(
                ctx,
                &engine,
                &app,
                ATTACH_POST_DEPLOY,
                &id,
                Some(&dyno.kind),
            )?;
        }
    }
    Ok(String::new())
}

/// `docker-args-build APP BUILDER`: the build's `RUN` steps run on the
/// app's `initial-network`.
fn trigger_docker_args_build(ctx: &Context, args: &[String]) -> Result<String> {
    let Some(app) = args.first().and_then(|a| AppName::lookup(a).ok()) else {
        return Ok(String::new());
    };
    if !ctx.store.app_exists(&app) {
        return Ok(String::new());
    }
    let network = computed(ctx, &app, INITIAL_NETWORK)?;
    if network.is_empty() {
        return Ok(String::new());
    }
    joinable(&Engine::connect()?, &network)
        .map_err(|e| Error::fail(format!("{e} (network property {INITIAL_NETWORK} of {app})")))?;
    Ok(format!("--network {network}\n"))
}

/// `docker-args-deploy APP TAG PROC INDEX`: with `bind-all-interfaces`,
/// the web container's port is published on every interface (a random
/// host port per deploy, as Dokku's `-p`).
fn trigger_docker_args_deploy(ctx: &Context, args: &[String]) -> Result<String> {
    let Some(app) = args.first().and_then(|a| AppName::lookup(a).ok()) else {
        return Ok(String::new());
    };
    if args.get(2).map(String::as_str) != Some("web")
        || !ctx.store.app_exists(&app)
        || computed(ctx, &app, BIND_ALL_INTERFACES)? != "true"
    {
        return Ok(String::new());
    }
    let answer = ctx.fire("ports-web-container-port", &[app.as_str()])?;
    let port: u16 = answer.trim().parse().map_err(|_| {
        Error::fail(format!(
            "Invalid web container port of {app}: {}",
            answer.trim()
        ))
    })?;
    Ok(format!("-p {port}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_lists_take_commas_and_blanks() {
        assert_eq!(names("a,b  c,"), ["a", "b", "c"]);
        assert!(names("").is_empty());
    }

    #[test]
    fn listeners_must_be_host_and_port() {
        assert!(check_listener("10.0.0.5:8080").is_ok());
        assert!(check_listener("db.internal:5432").is_ok());
        assert!(check_listener("[::1]:80").is_ok());
        assert!(check_listener("10.0.0.5").is_err());
        assert!(check_listener("10.0.0.5:0").is_err());
        assert!(check_listener("a;b:80").is_err());
        assert!(check_listener("a b:80").is_err());
        assert!(check_listener("::1:80").is_err());
    }

    #[test]
    fn tlds_are_dns_names() {
        assert!(check_tld("svc.cluster.local").is_ok());
        assert!(check_tld("-x").is_err());
        assert!(check_tld("a..b").is_err());
        assert!(check_tld("a_b").is_err());
    }
}
