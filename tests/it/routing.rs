//! Routing through the real nginx that `berth server` runs, and deploys
//! that drop no request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::harness::Berth;
use crate::source::{Deployed, Source, http_get};
use crate::ssh_server::SshServer;

/// Puts `app` behind the test server's nginx, on its port, by `domain`
/// (old containers retire after a second).
pub(crate) fn route(berth: &Berth, server: &SshServer, app: &str, domain: &str) {
    berth
        .cmd([
            "ports:set",
            app,
            &format!("http:{}:5000", server.http_port()),
        ])
        .succeeds();
    berth.cmd(["domains:set", app, domain]).succeeds();
    berth
        .cmd(["checks:set", app, "wait-to-retire", "1"])
        .succeeds();
}

/// `tests/apps/hello` deployed behind nginx (see [`route`]).
pub(crate) fn routed(berth: &Berth, server: &SshServer, domain: &str) -> Deployed {
    routed_from(berth, server, domain, |_| {})
}

/// The same, with the source changed by `edit` first.
pub(crate) fn routed_from(
    berth: &Berth,
    server: &SshServer,
    domain: &str,
    edit: impl FnOnce(&Source),
) -> Deployed {
    berth
        .deploy("routed")
        .source(edit)
        .setup(|app| route(berth, server, app, domain))
        .push()
}

pub(crate) fn via_nginx(server: &SshServer, host: &str, path: &str) -> (u16, String) {
    http_get(&format!("127.0.0.1:{}", server.http_port()), host, path).expect("nginx answers")
}

#[test]
fn apps_answer_on_their_own_domain_and_unknown_hosts_get_404() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let a = routed(&berth, &server, "one.test").app;
    routed_from(&berth, &server, "two.test", |two| {
        let server_pl = std::fs::read_to_string(two.path().join("server.pl")).unwrap();
        two.write("server.pl", &server_pl.replace("// 'hello'", "// 'second'"))
            .commit("second");
    });
    assert_eq!(via_nginx(&server, "one.test", "/"), (200, "hello\n".into()));
    assert_eq!(
        via_nginx(&server, "two.test", "/"),
        (200, "second\n".into())
    );
    assert_eq!(via_nginx(&server, "unknown.test", "/").0, 404);
    let config = berth.cmd(["nginx:show-config", &a]).succeeds().stdout();
    assert!(config.contains("server_name one.test;"), "{config}");
    assert!(config.contains("keepalive 32;"), "{config}");
    assert!(
        config.contains("proxy_set_header X-Request-Start $msec;"),
        "{config}"
    );
}

#[test]
fn a_template_nginx_refuses_fails_only_that_apps_deploy() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    routed(&berth, &server, "good.test");
    let Deployed {
        app,
        source: broken,
        ..
    } = routed(&berth, &server, "broken.test");
    let before = berth.cmd(["nginx:show-config", &app]).succeeds().stdout();

    broken
        .write(
            "nginx.conf.hbs",
            "server {\n  listen 8;\n  not_a_directive on;\n}\n",
        )
        .commit("broken template");
    broken
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("nginx refused the config")
        .stderr_has("not_a_directive");
    assert_eq!(
        via_nginx(&server, "good.test", "/"),
        (200, "hello\n".into())
    );
    assert_eq!(
        via_nginx(&server, "broken.test", "/"),
        (200, "hello\n".into()),
        "keeps its release"
    );
    assert_eq!(
        berth.cmd(["nginx:show-config", &app]).succeeds().stdout(),
        before,
        "keeps its last good config"
    );
}

#[test]
fn a_failing_health_check_leaves_the_old_release_serving() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let Deployed { app, source, .. } = routed(&berth, &server, "checked.test");
    let before =
        std::fs::read_to_string(berth.dokku_root().join(&app).join("CONTAINER.web.1")).unwrap();
    source
        .write(
            "app.json",
            r#"{"healthchecks":{"web":[{"type":"startup","name":"greets","path":"/","content":"never-there","attempts":2,"wait":1,"timeout":2}]}}"#,
        )
        .commit("strict check");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("greets attempt 1/2 failed")
        .stderr_has("Could not start due to 1 failed checks (web.1)");
    let after =
        std::fs::read_to_string(berth.dokku_root().join(&app).join("CONTAINER.web.1")).unwrap();
    assert_eq!(before, after);
    assert_eq!(
        via_nginx(&server, "checked.test", "/"),
        (200, "hello\n".into())
    );
    berth
        .cmd(["checks:run", &app])
        .succeeds()
        .stdout_has("-----> Running pre-flight checks");
    berth
        .cmd(["checks:run", &app, "worker"])
        .fails(1)
        .stderr_is(&format!(
            " !     Invalid process type specified ({app}.worker)\n"
        ));
}

/// One request, on `stream` when given (keep-alive) or a new connection.
/// A reused connection that the server closed before answering is retried
/// once on a new one, as every HTTP client does for idempotent requests.
fn request(port: u16, host: &str, keep: &mut Option<BufReader<TcpStream>>) -> bool {
    let reused = keep.is_some();
    if let Some(ok) = exchange(port, host, keep) {
        return ok;
    }
    *keep = None;
    reused && exchange(port, host, keep).unwrap_or(false)
}

/// `None`: the connection closed before any response byte.
fn exchange(port: u16, host: &str, keep: &mut Option<BufReader<TcpStream>>) -> Option<bool> {
    if keep.is_none() {
        let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        *keep = Some(BufReader::new(stream));
    }
    let reader = keep.as_mut()?;
    write!(reader.get_mut(), "GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").ok()?;
    let mut status = String::new();
    if reader.read_line(&mut status).ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(status.starts_with("HTTP/1.1 200"))
}

#[test]
fn redeploys_restarts_config_changes_and_scaling_drop_no_request() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let Deployed { app, source, .. } = routed(&berth, &server, "zero.test");
    let load = Load::start(server.http_port(), "zero.test");

    for i in 0..5 {
        source.commit(&format!("redeploy {i}"));
        source.push_local(&berth, &app, "master").succeeds();
    }
    berth.cmd(["config:set", &app, "A=1"]).succeeds();
    berth.cmd(["config:set", &app, "B=2"]).succeeds();
    berth.cmd(["ps:restart", &app]).succeeds();
    berth.cmd(["ps:scale", &app, "web=2"]).succeeds();
    berth.cmd(["ps:scale", &app, "web=1"]).succeeds();
    source
        .write("Dockerfile", "FROM debian:bookworm-slim\nRUN false\n")
        .commit("broken");
    source.push_local(&berth, &app, "master").fails(1);
    std::thread::sleep(Duration::from_secs(2));

    let (sent, failed) = load.stop("zero-downtime");
    assert!(sent > 100, "the clients ran: {sent}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");
}

/// Real load on an app behind nginx: four clients at 25 requests a second
/// each, two keeping their connection alive, two connecting every time
/// (100 requests/s in all when nothing stalls).
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    clients: Vec<std::thread::JoinHandle<()>>,
    started: std::time::Instant,
}

impl Load {
    pub(crate) fn start(port: u16, host: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let clients = [true, true, false, false]
            .into_iter()
            .map(|keep_alive| {
                let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
                let host = host.to_string();
                std::thread::spawn(move || {
                    let mut connection = None;
                    let mut next = std::time::Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        if !request(port, &host, &mut connection) {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        if !keep_alive {
                            connection = None;
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                        next += Duration::from_millis(40);
                        std::thread::sleep(
                            next.saturating_duration_since(std::time::Instant::now()),
                        );
                    }
                })
            })
            .collect();
        Load {
            stop,
            sent,
            failed,
            clients,
            started: std::time::Instant::now(),
        }
    }

    /// Stops the clients and reports `(sent, failed)` under `name`.
    pub(crate) fn stop(self, name: &str) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.join().unwrap();
        }
        let sent = self.sent.load(Ordering::Relaxed);
        let failed = self.failed.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        crate::harness::report(format!(
            "{name}: {sent} requests in {seconds:.1} s ({:.0}/s, half over keep-alive), {failed} failed",
            sent as f64 / seconds
        ));
        (sent, failed)
    }
}

#[test]
fn a_new_server_restores_and_routes_every_app() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let app = routed(&berth, &server, "restored.test").app;
    server.stop();
    // As after a host reboot: the app's container is down.
    let id =
        std::fs::read_to_string(berth.dokku_root().join(&app).join("CONTAINER.web.1")).unwrap();
    let stopped = std::process::Command::new("docker")
        .args(["stop", "-t", "1", id.trim()])
        .output()
        .unwrap();
    assert!(stopped.status.success());

    let server = SshServer::start(&berth);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = http_get(
            &format!("127.0.0.1:{}", server.http_port()),
            "restored.test",
            "/",
        );
        if matches!(&answer, Ok((200, body)) if body == "hello\n") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not restored: {answer:?}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    berth
        .cmd(["ps:report", &app, "--running"])
        .succeeds()
        .stdout_is("true\n");
}
