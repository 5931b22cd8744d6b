//! The platform's health endpoint: `GET /health` (and
//! Dokku's `/_dokku/health`) answers `200 ok` once SSH and nginx accept
//! connections, `503 not ready` before or while one of them is down.
//! `berth healthcheck` is its client, for the image's `HEALTHCHECK`, so the
//! image needs no curl for it.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::context::Context;
use crate::error::{Error, Result};

/// Where the endpoint listens in container mode unless told otherwise.
pub const DEFAULT_HEALTH_LISTEN: &str = "127.0.0.1:18080";
/// The environment variable that sets it (the flag wins).
pub const HEALTH_LISTEN_ENV: &str = "BERTH_HEALTH_LISTEN";

/// Serves the endpoint on `listener` and keeps `ready` up to date by
/// connecting to the SSH address and nginx's ports every half second.
pub fn spawn(
    listener: tokio::net::TcpListener,
    ssh: SocketAddr,
    nginx_ports: impl Fn() -> Vec<u16> + Send + 'static,
) {
    let ready = Arc::new(AtomicBool::new(false));
    let probe = ready.clone();
    tokio::spawn(async move {
        loop {
            let ports = nginx_ports();
            let mut targets = vec![loopback(ssh)];
            targets.extend(
                ports
                    .iter()
                    .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), *p)),
            );
            let mut up = !ports.is_empty();
            for target in targets {
                let connect = tokio::net::TcpStream::connect(target);
                up &= matches!(
                    tokio::time::timeout(Duration::from_secs(1), connect).await,
                    Ok(Ok(_))
                );
            }
            probe.store(up, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let answer = move || {
        let ready = ready.clone();
        async move {
            if ready.load(Ordering::Relaxed) {
                (StatusCode::OK, "ok\n")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
    };
    let router = Router::new()
        .route("/health", get(answer.clone()))
        .route("/_dokku/health", get(answer));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!(
                "{}",
                crate::output::warning(&format!("health endpoint failed: {e}"))
            );
        }
    });
}

/// A wildcard listen address is probed on loopback.
fn loopback(address: SocketAddr) -> SocketAddr {
    if address.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), address.port())
    } else {
        address
    }
}

#[derive(clap::Parser)]
#[command(disable_help_flag = true)]
struct HealthcheckArgs {
    /// `HOST:PORT` of the health endpoint.
    #[arg(long = "health-listen")]
    health_listen: Option<String>,
}

/// `berth healthcheck [--health-listen ADDR]`: exit 0 when the platform
/// answers `200` on `/health`, 1 otherwise.
pub fn healthcheck(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: HealthcheckArgs = crate::args::parse("healthcheck", &args)?;
    let listen = args
        .health_listen
        .or_else(|| {
            std::env::var(HEALTH_LISTEN_ENV)
                .ok()
                .filter(|v| !v.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_HEALTH_LISTEN.to_string());
    let address = super::resolve(&listen)?;
    let status = get_status(address)
        .map_err(|e| Error::fail(format!("Health endpoint {address} does not answer: {e}")))?;
    if status == 200 {
        ctx.out.line("ok")
    } else {
        Err(Error::fail(format!(
            "berth is not ready (health endpoint answered {status})"
        )))
    }
}

fn get_status(address: SocketAddr) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
