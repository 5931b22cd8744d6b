//! `domains-urls APP url|urls`: where an app can be reached, for `url`,
//! `urls` and the end of a deploy.
//!
//! Through the proxy: one URL per app domain and `http`/`grpc` port map
//! (`ports-get`), `:80` dropped. TLS maps are skipped (no certificates
//! yet), as are `tcp`/`udp` maps (nginx does not route them), wildcard
//! domains and `_` (no browser can open them). When the proxy is disabled
//! or that leaves nothing, the web listeners the scheduler recorded
//! (`IP.web.<n>` + `PORT.web.<n>`) as `http://<ip>:<port>`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::app_name::AppName;
use crate::context::Context;
use crate::error::{Error, Result};

use super::effective_domains;
use super::vhost::Domain;

pub fn trigger_domains_urls(ctx: &Context, args: &[String]) -> Result<String> {
    let app = ctx.existing_app(args.first().map(String::as_str))?;
    let urls = app_urls(ctx, &app)?;
    let chosen: Vec<&String> = match args.get(1).map(String::as_str).unwrap_or("urls") {
        "urls" => urls.iter().collect(),
        "url" => urls
            .iter()
            .find(|u| u.starts_with("http://"))
            .or_else(|| urls.first())
            .into_iter()
            .collect(),
        other => {
            return Err(Error::fail(format!(
                "Invalid url type {other} (valid: url, urls)"
            )));
        }
    };
    Ok(chosen.iter().map(|u| format!("{u}\n")).collect())
}

/// Every URL of the app, sorted and unique.
fn app_urls(ctx: &Context, app: &AppName) -> Result<Vec<String>> {
    let proxied = ctx.fire("proxy-is-enabled", &[app.as_str()])?.trim() != "false";
    let mut urls = BTreeSet::new();
    if proxied {
        let hosts: Vec<Domain> = effective_domains(ctx, app)?
            .into_iter()
            .filter(Domain::is_concrete)
            .collect();
        let maps = ctx.fire("ports-get", &[app.as_str()])?;
        for host in &hosts {
            for map in maps.lines() {
                if let Some(url) = proxied_url(map.trim(), host) {
                    urls.insert(url);
                }
            }
        }
    }
    if urls.is_empty() {
        urls = listener_urls(ctx, app)?;
    }
    Ok(urls.into_iter().collect())
}

/// The URL a `scheme:host-port:container-port` map gives `host`, when the
/// proxy serves it without a certificate.
fn proxied_url(map: &str, host: &Domain) -> Option<String> {
    let mut parts = map.split(':');
    let (scheme, port) = (parts.next()?, parts.next()?);
    match (scheme, port) {
        ("http", "80") => Some(format!("http://{host}")),
        ("http" | "grpc", _) => Some(format!("{scheme}://{host}:{port}")),
        _ => None,
    }
}

/// `http://<ip>:<port>` per web listener the scheduler recorded.
fn listener_urls(ctx: &Context, app: &AppName) -> Result<BTreeSet<String>> {
    Ok(crate::dynos::web_listeners(&ctx.store, app)
        .into_iter()
        .map(|listener| match listener.ip {
            IpAddr::V4(ip) => format!("http://{ip}:{}", listener.port),
            IpAddr::V6(ip) => format!("http://[{ip}]:{}", listener.port),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_per_map() {
        let host = Domain::parse("a.example.com").unwrap();
        let url = |map| proxied_url(map, &host);
        assert_eq!(url("http:80:5000").as_deref(), Some("http://a.example.com"));
        assert_eq!(
            url("http:8080:5000").as_deref(),
            Some("http://a.example.com:8080")
        );
        assert_eq!(
            url("grpc:50051:50051").as_deref(),
            Some("grpc://a.example.com:50051")
        );
        for skipped in [
            "https:443:5000",
            "grpcs:443:5000",
            "udp:53:53",
            "tcp:22:22",
            "x",
        ] {
            assert_eq!(url(skipped), None, "{skipped}");
        }
    }
}
