//! Dokku's `ports` plugin: which host ports the proxy listens on for an app
//! and which container port each forwards to.
//!
//! Properties (lists, `item\n` per item, sorted): `config/ports/<app>/map`
//! (set by the user) and `config/ports/<app>/map-detected` (set after a
//! build through `ports-set-detected`). The effective maps are `map`, else
//! `map-detected`, else `http:<proxy-port>:5000`, each `http` map on the
//! proxy port with its `https` counterpart while the app has a certificate
//! (`post-certs-update` also stores them). Every change fires
//! `post-proxy-ports-update <app> add|set|remove|clear`.

mod port_map;

use crate::app_name::AppName;
use crate::args::{AppArg, AppWords};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::output::columns;
use crate::plugins::{Command, Plugin};
use crate::report::{self, ReportSpec, Rows};
use crate::store::Scope;

use port_map::{PortArg, PortMap};

pub static PLUGIN: Plugin = Plugin {
    name: "ports",
    description: "Manage ports for an app",
    default_command: None,
    commands: &[
        Command {
            name: "ports:add",
            usage: "<app> <scheme>:<host-port>:<container-port> [<scheme>:<host-port>:<container-port>...]",
            description: "Add port mappings to an app",
            run: add,
        },
        Command {
            name: "ports:clear",
            usage: "<app>",
            description: "Clear all port mappings for an app",
            run: clear,
        },
        Command {
            name: "ports:list",
            usage: "<app> [--format stdout|json]",
            description: "List port mappings for an app",
            run: list,
        },
        Command {
            name: "ports:remove",
            usage: "<app> [<host-port>|<scheme>:<host-port>:<container-port>...]",
            description: "Remove specific port mappings from an app",
            run: remove,
        },
        Command {
            name: "ports:report",
            usage: "[<app>] [<flag>]",
            description: "Displays a ports report for one or more apps",
            run: report,
        },
        Command {
            name: "ports:set",
            usage: "<app> <scheme>:<host-port>:<container-port> [<scheme>:<host-port>:<container-port>...]",
            description: "Set port mappings for an app",
            run: set,
        },
    ],
    triggers: &[
        ("ports-get", trigger_ports_get),
        ("post-certs-remove", trigger_post_certs_remove),
        ("post-certs-update", trigger_post_certs_update),
        ("ports-set-detected", trigger_ports_set_detected),
        ("ports-web-container-port", trigger_ports_web_container_port),
        ("post-app-clone-setup", trigger_post_app_clone_setup),
    ],
};

const MAP: &str = "map";
const DETECTED: &str = "map-detected";

fn scope(app: &AppName) -> Scope {
    Scope::App(app.clone())
}

fn stored(ctx: &Context, app: &AppName, key: &str) -> Result<Vec<PortMap>> {
    Ok(ctx
        .store
        .property("ports", &scope(app), key)?
        .map(|text| port_map::from_stored(&text))
        .unwrap_or_default())
}

fn store(ctx: &Context, app: &AppName, key: &str, maps: &[PortMap]) -> Result<()> {
    ctx.store
        .set_property("ports", &scope(app), key, &port_map::to_stored(maps))
}

/// The maps the user set, else the detected ones (what `ports:list` shows).
fn configured(ctx: &Context, app: &AppName) -> Result<Vec<PortMap>> {
    let maps = stored(ctx, app, MAP)?;
    if maps.is_empty() {
        stored(ctx, app, DETECTED)
    } else {
        Ok(maps)
    }
}

/// The maps the proxy uses: [`configured`], else `http:<proxy-port>:5000`
/// with the proxy port of the app, else the global one, else 80; with a
/// certificate, their `https` counterparts ([`with_tls`]).
fn effective(ctx: &Context, app: &AppName) -> Result<Vec<PortMap>> {
    let http_port = proxy_port(ctx, app, "proxy-port", 80)?;
    let mut maps = configured(ctx, app)?;
    if maps.is_empty() {
        maps.push(PortMap {
            container_port: 5000,
            host_port: http_port,
            scheme: "http".into(),
        });
    }
    if has_certificate(ctx, app)? {
        maps = with_tls(
            maps,
            http_port,
            proxy_port(ctx, app, "proxy-ssl-port", 443)?,
        );
    }
    Ok(maps)
}

/// The proxy's port `key` (`proxy-port`, `proxy-ssl-port`) for the app,
/// else the global one, else `default`.
fn proxy_port(ctx: &Context, app: &AppName, key: &str, default: u16) -> Result<u16> {
    Ok(ctx
        .store
        .app_property("proxy", app, key)?
        .and_then(|p| p.trim().parse::<u16>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(default))
}

fn has_certificate(ctx: &Context, app: &AppName) -> Result<bool> {
    Ok(ctx.fire("certs-exists", &[app.as_str()])?.trim() == "true")
}

/// Dokku's rule for an app with a certificate: each `http` map on the
/// proxy port gains an `https` map on the SSL port to the same container
/// port, unless an `https` map on the SSL port is there already (an app
/// that terminates TLS itself keeps its own).
fn with_tls(mut maps: Vec<PortMap>, http_port: u16, ssl_port: u16) -> Vec<PortMap> {
    if maps
        .iter()
        .any(|m| m.scheme == "https" && m.host_port == ssl_port)
    {
        return maps;
    }
    let added: Vec<PortMap> = maps
        .iter()
        .filter(|m| m.scheme == "http" && m.host_port == http_port)
        .map(|m| PortMap {
            scheme: "https".into(),
            host_port: ssl_port,
            container_port: m.container_port,
        })
        .collect();
    maps.extend(added);
    maps
}

/// The `https` maps [`with_tls`] would add, taken out again.
fn without_tls(maps: Vec<PortMap>, http_port: u16, ssl_port: u16) -> Vec<PortMap> {
    let mirrored: Vec<u16> = maps
        .iter()
        .filter(|m| m.scheme == "http" && m.host_port == http_port)
        .map(|m| m.container_port)
        .collect();
    maps.into_iter()
        .filter(|m| {
            !(m.scheme == "https"
                && m.host_port == ssl_port
                && mirrored.contains(&m.container_port))
        })
        .collect()
}

/// `<app> <map>...`: the app and its maps, all parsed before any write.
fn app_and_maps(ctx: &Context, command: &str, args: &[String]) -> Result<(AppName, Vec<PortMap>)> {
    let args: AppWords = crate::args::parse(command, args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let maps = port_map::parse_maps(&args.words)?;
    if maps.is_empty() {
        return Err(Error::fail("No port mapping specified"));
    }
    Ok((app, maps))
}

fn changed(ctx: &Context, app: &AppName, action: &str) -> Result<()> {
    ctx.fire("post-proxy-ports-update", &[app.as_str(), action])
        .map(drop)
}

fn add(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, maps) = app_and_maps(ctx, "ports:add", &args)?;
    {
        let _lock = ctx.store.lock(&scope(&app))?;
        let mut all = stored(ctx, &app, MAP)?;
        all.extend(maps);
        store(ctx, &app, MAP, &port_map::normalize(all)?)?;
    }
    changed(ctx, &app, "add")
}

fn set(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (app, maps) = app_and_maps(ctx, "ports:set", &args)?;
    let maps = port_map::normalize(maps)?;
    {
        let _lock = ctx.store.lock(&scope(&app))?;
        store(ctx, &app, MAP, &maps)?;
    }
    changed(ctx, &app, "set")
}

fn remove(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppWords = crate::args::parse("ports:remove", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    let targets = port_map::parse_args(&args.words)?;
    if targets.is_empty() {
        return Err(Error::fail("No port mapping specified"));
    }
    {
        let _lock = ctx.store.lock(&scope(&app))?;
        let mut maps = stored(ctx, &app, MAP)?;
        maps.retain(|map| {
            !targets.iter().any(|target| match target {
                PortArg::Map(m) => m == map,
                PortArg::HostPort(port) => *port == map.host_port,
            })
        });
        store(ctx, &app, MAP, &maps)?;
    }
    changed(ctx, &app, "remove")
}

fn clear(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: AppArg = crate::args::parse("ports:clear", &args)?;
    let app = ctx.existing_app(args.app.as_deref())?;
    {
        let _lock = ctx.store.lock(&scope(&app))?;
        store(ctx, &app, MAP, &[])?;
        store(ctx, &app, DETECTED, &[])?;
    }
    changed(ctx, &app, "clear")
}

fn list(ctx: &Context, args: Vec<String>) -> Result<()> {
    let crate::args::ListArgs { app, format } = crate::args::parse("ports:list", &args)?;
    let format = format.unwrap_or_else(|| "stdout".to_string());
    let app = ctx.existing_app(app.as_deref())?;
    let maps = configured(ctx, &app)?;
    match format.as_str() {
        "json" => ctx.out.line(port_map::to_json(&maps)),
        "stdout" => {
            if maps.is_empty() {
                return Err(Error::fail("No port mappings configured for app"));
            }
            ctx.out.info1(format!("Port mappings for {app}"))?;
            let mut rows = Vec::new();
            if !ctx.out.quiet {
                rows.push(vec![
                    "-----> scheme".to_string(),
                    "host port".to_string(),
                    "container port".to_string(),
                ]);
            }
            for map in &maps {
                rows.push(vec![
                    map.scheme.clone(),
                    map.host_port.to_string(),
                    map.container_port.to_string(),
                ]);
            }
            for line in columns(&rows) {
                ctx.out.line(format!("    {line}"))?;
            }
            Ok(())
        }
        other => Err(Error::fail(format!(
            "Invalid format specified: {other} (valid: json, stdout)"
        ))),
    }
}

const JSON_FLAGS: &[(&str, &str)] = &[
    ("--ports-map-json", MAP),
    ("--ports-map-detected-json", DETECTED),
];

/// `ports:report`. The `-json` flags answer as info flags only, as in Dokku
/// (they are not rows of the report).
fn report(ctx: &Context, args: Vec<String>) -> Result<()> {
    if let Some((flag, key)) = JSON_FLAGS
        .iter()
        .find(|(flag, _)| args.contains(&flag.to_string()))
    {
        return report_json_flag(ctx, flag, key, &args);
    }
    let spec = ReportSpec {
        command: "ports:report",
        title: "ports",
        legacy_keys: true,
    };
    report::run(ctx, &spec, args, |target| match target {
        report::Target::App(app) => report_rows(ctx, app),
        report::Target::Global => Ok(Vec::new()),
    })
}

fn report_json_flag(ctx: &Context, flag: &str, key: &str, args: &[String]) -> Result<()> {
    let mut positional = Vec::new();
    for arg in args {
        if arg == "--format" || arg.starts_with("--format=") {
            return Err(Error::fail(
                "--format flag cannot be specified when specifying an info flag",
            ));
        } else if arg.starts_with("--") && arg != flag {
            return Err(Error::fail(
                "ports:report command allows only a single flag",
            ));
        } else if !arg.starts_with("--") {
            positional.push(arg.as_str());
        }
    }
    let apps = match positional.as_slice() {
        [] => ctx.store.apps()?,
        [app] => vec![ctx.existing_app(Some(app))?],
        [_, extra, ..] => return Err(Error::fail(format!("Unexpected argument: {extra}"))),
    };
    if apps.is_empty() {
        return ctx.out.warn("You haven't deployed any applications yet");
    }
    for app in apps {
        ctx.out.line(port_map::to_json(&stored(ctx, &app, key)?))?;
    }
    Ok(())
}

fn report_rows(ctx: &Context, app: &AppName) -> Result<Rows> {
    Ok(vec![
        (
            "--ports-map".into(),
            port_map::joined(&stored(ctx, app, MAP)?),
        ),
        (
            "--ports-map-detected".into(),
            port_map::joined(&stored(ctx, app, DETECTED)?),
        ),
    ])
}

// ----- triggers -----

/// `ports-get APP [json]`: the effective maps, one per line (or a JSON list).
fn trigger_ports_get(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let maps = effective(ctx, &app)?;
    Ok(match args.get(1).map(String::as_str) {
        Some("json") => format!("{}\n", port_map::to_json(&maps)),
        _ => port_map::to_stored(&maps),
    })
}

/// `ports-set-detected APP MAP...`: the maps a build detected; none clears
/// them. Invalid maps fail and change nothing.
fn trigger_ports_set_detected(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let maps = port_map::normalize(port_map::parse_maps(args.get(1..).unwrap_or_default())?)?;
    let _lock = ctx.store.lock(&scope(&app))?;
    store(ctx, &app, DETECTED, &maps)?;
    Ok(String::new())
}

/// `ports-web-container-port APP` (berth's): the container port of the first
/// effective map that is not `udp` — the `PORT` the web process listens on;
/// nothing when every map is `udp`.
fn trigger_ports_web_container_port(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    Ok(effective(ctx, &app)?
        .iter()
        .find(|m| m.scheme != "udp")
        .map(|m| format!("{}\n", m.container_port))
        .unwrap_or_default())
}

/// `post-certs-update APP`: the stored maps gain their `https`
/// counterparts, so `ports:report` shows what nginx serves (as Dokku
/// writes them).
fn trigger_post_certs_update(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    rewrite_stored(ctx, &app, with_tls)?;
    changed(ctx, &app, "add")?;
    Ok(String::new())
}

/// `post-certs-remove APP`: the `https` maps a certificate brought go.
fn trigger_post_certs_remove(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    rewrite_stored(ctx, &app, without_tls)?;
    changed(ctx, &app, "remove")?;
    Ok(String::new())
}

fn rewrite_stored(
    ctx: &Context,
    app: &AppName,
    rewrite: fn(Vec<PortMap>, u16, u16) -> Vec<PortMap>,
) -> Result<()> {
    let http_port = proxy_port(ctx, app, "proxy-port", 80)?;
    let ssl_port = proxy_port(ctx, app, "proxy-ssl-port", 443)?;
    let _lock = ctx.store.lock(&scope(app))?;
    for key in [MAP, DETECTED] {
        let maps = stored(ctx, app, key)?;
        if !maps.is_empty() {
            store(ctx, app, key, &rewrite(maps, http_port, ssl_port))?;
        }
    }
    Ok(())
}

/// `post-app-clone-setup OLD NEW`: the clone got OLD's maps with its config,
/// except `https:443` ones (they belong with a certificate, which a clone
/// does not get).
fn trigger_post_app_clone_setup(ctx: &Context, args: &[String]) -> Result<String> {
    let new = ctx.existing_app(args.get(1).map(String::as_str))?;
    let _lock = ctx.store.lock(&scope(&new))?;
    let mut maps = stored(ctx, &new, MAP)?;
    maps.retain(|m| !(m.scheme == "https" && m.host_port == 443));
    store(ctx, &new, MAP, &maps)?;
    Ok(String::new())
}

#[cfg(test)]
mod tests {
    use crate::app_name::AppName;
    use crate::context::{Context, GlobalFlags};
    use crate::store::{Scope, Store};

    fn context() -> (tempfile::TempDir, Context) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"), dir.path().join("lib"));
        store
            .create_app_dir(&AppName::new_app("demo").unwrap())
            .unwrap();
        (dir, Context::new(store, GlobalFlags::default()))
    }

    #[test]
    fn ports_get_falls_back_to_detected_then_the_default() {
        let (_dir, ctx) = context();
        assert_eq!(ctx.fire("ports-get", &["demo"]).unwrap(), "http:80:5000\n");
        ctx.store
            .set_property("proxy", &Scope::Global, "proxy-port", "8080")
            .unwrap();
        assert_eq!(
            ctx.fire("ports-get", &["demo"]).unwrap(),
            "http:8080:5000\n"
        );
        ctx.fire(
            "ports-set-detected",
            &["demo", "udp:53:53", "http:3000:3000"],
        )
        .unwrap();
        assert_eq!(
            ctx.fire("ports-get", &["demo"]).unwrap(),
            "http:3000:3000\nudp:53:53\n"
        );
        assert_eq!(
            ctx.fire("ports-get", &["demo", "json"]).unwrap(),
            "[{\"container_port\":3000,\"host_port\":3000,\"scheme\":\"http\"},{\"container_port\":53,\"host_port\":53,\"scheme\":\"udp\"}]\n"
        );
    }

    #[test]
    fn ports_set_detected_validates_and_empty_clears() {
        let (_dir, ctx) = context();
        let key = |ctx: &Context| {
            ctx.store
                .property(
                    "ports",
                    &Scope::App(AppName::new_app("demo").unwrap()),
                    "map-detected",
                )
                .unwrap()
        };
        ctx.fire(
            "ports-set-detected",
            &["demo", "https:443:443", "http:80:80"],
        )
        .unwrap();
        assert_eq!(key(&ctx).as_deref(), Some("http:80:80\nhttps:443:443\n"));
        for bad in [
            &["demo", "http:80:x"][..],
            &["demo", "80"],
            &["demo", "http:80:1", "http:80:2"],
        ] {
            assert!(ctx.fire("ports-set-detected", bad).is_err(), "{bad:?}");
        }
        assert_eq!(key(&ctx).as_deref(), Some("http:80:80\nhttps:443:443\n"));
        assert!(
            ctx.fire("ports-set-detected", &["ghost", "http:80:80"])
                .is_err()
        );
        ctx.fire("ports-set-detected", &["demo"]).unwrap();
        assert_eq!(key(&ctx), None);
    }

    #[test]
    fn web_container_port_skips_udp() {
        let (_dir, ctx) = context();
        let port = |ctx: &Context| ctx.fire("ports-web-container-port", &["demo"]).unwrap();
        assert_eq!(port(&ctx), "5000\n");
        ctx.fire(
            "ports-set-detected",
            &["demo", "udp:53:53", "tcp:9000:9001"],
        )
        .unwrap();
        assert_eq!(port(&ctx), "9001\n");
        ctx.fire("ports-set-detected", &["demo", "udp:53:53"])
            .unwrap();
        assert_eq!(port(&ctx), "");
    }

    #[test]
    fn a_certificate_adds_https_beside_http_on_the_proxy_port() {
        use super::{PortMap, with_tls, without_tls};
        let map = |scheme: &str, host_port, container_port| PortMap {
            scheme: scheme.into(),
            host_port,
            container_port,
        };
        let maps = vec![map("http", 80, 5000), map("http", 8080, 3000)];
        let tls = with_tls(maps.clone(), 80, 443);
        assert_eq!(tls.len(), 3);
        assert!(tls.contains(&map("https", 443, 5000)));
        assert_eq!(without_tls(tls, 80, 443), maps);
        // An app terminating TLS itself keeps its own https map.
        let own = vec![map("http", 80, 80), map("https", 443, 443)];
        assert_eq!(with_tls(own.clone(), 80, 443), own);
        assert_eq!(without_tls(own.clone(), 80, 443), own);
    }
}
