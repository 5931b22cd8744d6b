//! The checks a new container must pass before traffic moves to it.
//!
//! From app.json's `healthchecks.<type>` (startup and readiness checks;
//! liveness checks are not deploy gates): HTTP checks (`path`, `port`,
//! `content`, `attempts`, `timeout`, `wait`, `initialDelay`) and `uptime`
//! checks. Without any, a web container passes once it listens on its
//! port, any other once it stayed up for a moment — Dokku's fixed 10 s
//! wait is not needed to know a process started.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a new web container may take to listen on its port.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a new non-web container must stay up to count as started.
const UPTIME_CHECK: Duration = Duration::from_millis(1500);

use serde::Deserialize;

use crate::app_name::AppName;
use crate::app_network;
use crate::build_record;
use crate::context::Context;
use crate::dynos::Dyno;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::Scope;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Healthcheck {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub wait: Option<u64>,
    #[serde(default)]
    pub initial_delay: Option<u64>,
    #[serde(default)]
    pub uptime: Option<u64>,
}

#[derive(Deserialize)]
struct AppJson {
    #[serde(default)]
    healthchecks: std::collections::BTreeMap<String, Vec<Healthcheck>>,
}

/// How a process type is checked (`checks:skip`, `checks:disable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Checked,
    Skipped,
    Disabled,
}

pub fn mode(ctx: &Context, app: &AppName, kind: &str) -> Result<Mode> {
    let listed = |key: &str| -> Result<bool> {
        Ok(ctx
            .store
            .property("checks", &Scope::App(app.clone()), key)?
            .is_some_and(|v| v.split(',').any(|t| t == kind || t == "_all_")))
    };
    Ok(if listed("disabled")? {
        Mode::Disabled
    } else if listed("skipped")? {
        Mode::Skipped
    } else {
        Mode::Checked
    })
}

/// The deploy-gating checks app.json defines for `kind`.
/// (`tag`: the release being deployed, whose app.json may not run yet.)
pub fn defined(
    ctx: &Context,
    app: &AppName,
    kind: &str,
    tag: Option<&str>,
) -> Result<Vec<Healthcheck>> {
    let Some(text) =
        crate::release_files::read(&ctx.store, app, tag, crate::release_files::APP_JSON)
    else {
        return Ok(Vec::new());
    };
    deploy_checks(&text, kind)
}

/// The checks of app.json `text` that gate a deploy of `kind`: all but
/// liveness checks.
fn deploy_checks(text: &str, kind: &str) -> Result<Vec<Healthcheck>> {
    let parsed: AppJson = serde_json::from_str(text)
        .map_err(|e| Error::fail(format!("Invalid app.json healthchecks: {e}")))?;
    Ok(parsed
        .healthchecks
        .get(kind)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.kind.as_deref() != Some("liveness"))
        .collect())
}

/// Runs one check against the container at `ip`; `alive` says whether the
/// container still runs (a dead one fails at once).
pub fn run(
    ctx: &Context,
    check: &Healthcheck,
    ip: &str,
    default_port: u16,
    host: &str,
    alive: &dyn Fn() -> Result<bool>,
) -> Result<()> {
    let name = check.name.clone().unwrap_or_else(|| "healthcheck".into());
    build_record::pause(Duration::from_secs(check.initial_delay.unwrap_or(0)))?;
    if let Some(seconds) = check.uptime {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(seconds) {
            build_record::checkpoint()?;
            if !alive()? {
                return Err(Error::fail(format!(
                    "{name}: the container exited before {seconds}s of uptime"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        return Ok(());
    }
    let path = check.path.clone().unwrap_or_else(|| "/".into());
    let port = check.port.unwrap_or(default_port);
    let attempts = check.attempts.unwrap_or(3).max(1);
    let timeout = Duration::from_secs(check.timeout.unwrap_or(5).max(1));
    let wait = Duration::from_secs(check.wait.unwrap_or(5));
    let mut last = String::new();
    for attempt in 1..=attempts {
        build_record::checkpoint()?;
        if !alive()? {
            return Err(Error::fail(format!("{name}: the container exited")));
        }
        match http_get(ip, port, &path, host, timeout) {
            Ok((status, body)) if (200..400).contains(&status) => match &check.content {
                Some(expected) if !body.contains(expected.as_str()) => {
                    last = format!("{path} did not contain {expected:?}");
                }
                _ => return Ok(()),
            },
            Ok((status, _)) => last = format!("{path} answered {status}"),
            Err(e) => last = format!("{path}: {e}"),
        }
        ctx.out.verbose_quiet(format!(
            "{name} attempt {attempt}/{attempts} failed: {last}"
        ))?;
        if attempt < attempts {
            build_record::pause(wait)?;
        }
    }
    Err(Error::fail(format!("{name} failed: {last}")))
}

/// `GET path` with `Host: host`; returns (status, body).
fn http_get(
    ip: &str,
    port: u16,
    path: &str,
    host: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let addr: SocketAddr = format!("{ip}:{port}")
        .parse()
        .map_err(|_| std::io::Error::other(format!("bad address {ip}:{port}")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: berth-checks\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.take(1 << 20).read_to_end(&mut response)?;
    parse_response(&String::from_utf8_lossy(&response))
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}

/// An HTTP/1 response's status and body.
fn parse_response(text: &str) -> Option<(u16, String)> {
    if !text.starts_with("HTTP/") {
        return None;
    }
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Waits until the new container is ready (see [`health`]). Returns its
/// IP on berth's network.
pub(super) fn check(
    ctx: &Context,
    engine: &Engine,
    app: &AppName,
    id: &str,
    dyno: &Dyno,
    port: u16,
    tag: Option<&str>,
) -> Result<String> {
    let started = Instant::now();
    // A container counts as alive while running and not restarted: with a
    // restart policy a crashing one looks running again within moments.
    let inspect = || -> Result<(bool, String, i64)> {
        let info = engine
            .inspect_container(id)?
            .ok_or_else(|| Error::fail("the container disappeared"))?;
        let ip = app_network::container_ip(&info).unwrap_or_default();
        let state = info.state.unwrap_or_default();
        let restarted = state.restarting == Some(true) || info.restart_count.unwrap_or(0) > 0;
        Ok((
            state.running == Some(true) && !restarted,
            ip,
            state.exit_code.unwrap_or_default(),
        ))
    };
    let alive = || inspect().map(|(alive, ..)| alive);
    let (running, ip, code) = inspect()?;
    if !running {
        return Err(Error::fail(format!(
            "the container exited with status {code}"
        )));
    }
    let mode = mode(ctx, app, &dyno.kind)?;
    if mode != Mode::Checked {
        ctx.out.info2(format!(
            "Zero downtime checks have been skipped ({})",
            dyno.name()
        ))?;
        return Ok(ip);
    }
    ctx.out
        .verbose_quiet(format!("Attempting pre-flight checks ({})", dyno.name()))?;
    let defined = defined(ctx, app, &dyno.kind, tag)?;
    if !defined.is_empty() {
        let domains = ctx.fire("domains-list", &[app.as_str()])?;
        let host = domains
            .lines()
            .find(|d| !d.is_empty() && *d != "localhost" && !d.contains('*'))
            .unwrap_or("localhost")
            .to_string();
        for healthcheck in &defined {
            run(ctx, healthcheck, &ip, port, &host, &alive)?;
        }
        return Ok(ip);
    }
    let limit = if dyno.kind == "web" {
        LISTEN_TIMEOUT
    } else {
        UPTIME_CHECK
    };
    loop {
        build_record::checkpoint()?;
        let (running, ip, code) = inspect()?;
        if !running {
            return Err(Error::fail(format!(
                "the container exited with status {code}"
            )));
        }
        if dyno.kind == "web" {
            if let Ok(addr) = format!("{ip}:{port}").parse::<SocketAddr>()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(ip);
            }
            if started.elapsed() > limit {
                return Err(Error::fail(format!(
                    "nothing listens on port {port} after {}s",
                    limit.as_secs()
                )));
            }
        } else if started.elapsed() > limit {
            return Ok(ip);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_checks_do_not_gate_a_deploy() {
        let text = r#"{"healthchecks": {"web": [
            {"type": "startup", "name": "up", "path": "/up", "attempts": 2},
            {"type": "liveness", "path": "/live"},
            {"uptime": 3}
        ]}}"#;
        let checks = deploy_checks(text, "web").unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].path.as_deref(), Some("/up"));
        assert_eq!(checks[0].attempts, Some(2));
        assert_eq!(checks[1].uptime, Some(3));
        assert!(deploy_checks(text, "worker").unwrap().is_empty());
        assert!(deploy_checks("{}", "web").unwrap().is_empty());
        let bad = deploy_checks(r#"{"healthchecks": []}"#, "web").unwrap_err();
        assert!(bad.to_string().starts_with("Invalid app.json healthchecks"));
    }

    #[test]
    fn responses_give_status_and_body() {
        assert_eq!(
            parse_response("HTTP/1.1 200 OK\r\nA: b\r\n\r\nhello"),
            Some((200, "hello".to_string()))
        );
        assert_eq!(
            parse_response("HTTP/1.0 503 Busy\r\n\r\n"),
            Some((503, String::new()))
        );
        assert_eq!(parse_response("SSH-2.0-x"), None);
        assert_eq!(parse_response(""), None);
    }
}
