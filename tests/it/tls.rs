//! HTTPS through berth's real nginx, checked with the real curl: certs:*,
//! the redirect, SNI between apps, refusals that change nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::Berth;
use crate::routing::{routed, via_nginx};
use crate::ssh_server::{SshServer, free_port};

/// A test CA and the files of a certificate it signed for `names`.
struct Issued {
    dir: tempfile::TempDir,
}

impl Issued {
    fn new(names: &[&str]) -> Issued {
        Issued::valid(names, -60, 30 * 86_400)
    }

    /// Valid from `from` to `until` seconds from now.
    fn valid(names: &[&str], from: i64, until: i64) -> Issued {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let now = time::OffsetDateTime::now_utc();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "berth test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.not_before = now - time::Duration::days(1);
        ca.not_after = now + time::Duration::days(60);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        leaf.not_before = now + time::Duration::seconds(from);
        leaf.not_after = now + time::Duration::seconds(until);
        let cert = leaf.signed_by(&key, &ca).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Issued { dir }
    }

    fn crt(&self) -> String {
        self.path("server.crt")
    }

    fn key(&self) -> String {
        self.path("server.key")
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// `curl https://HOST:PORT/` trusting only `ca` (or nothing, with `None`):
/// the body, or curl's complaint.
pub(crate) fn https_get(host: &str, port: u16, ca: Option<&Path>) -> Result<String, String> {
    https_get_with(host, port, ca, &[])
}

fn https_get_with(
    host: &str,
    port: u16,
    ca: Option<&Path>,
    options: &[&str],
) -> Result<String, String> {
    let mut curl = Command::new("curl");
    curl.args(["--silent", "--show-error", "--max-time", "10"])
        .args(options)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"));
    match ca {
        Some(ca) => curl.arg("--cacert").arg(ca),
        None => curl.arg("--insecure"),
    };
    let output = curl
        .arg(format!("https://{host}:{port}/"))
        .output()
        .expect("curl runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// A server whose nginx serves HTTPS on a port of its own.
pub(crate) fn server_with_tls(berth: &Berth) -> (SshServer, u16) {
    let server = SshServer::start(berth);
    let tls_port = free_port();
    berth
        .cmd([
            "proxy:set",
            "--global",
            "proxy-ssl-port",
            &tls_port.to_string(),
        ])
        .succeeds();
    (server, tls_port)
}

#[test]
fn certs_add_serves_https_redirects_http_and_remove_returns_to_http() {
    let berth = Berth::new();
    let (server, tls_port) = server_with_tls(&berth);
    let app = routed(&berth, &server, "secure.test").app;
    let issued = Issued::new(&["secure.test"]);

    berth
        .cmd(["certs:add", &app, &issued.crt(), &issued.key()])
        .succeeds();
    assert_eq!(
        https_get("secure.test", tls_port, Some(&issued.ca())),
        Ok("hello\n".into())
    );
    let (status, _) = via_nginx(&server, "secure.test", "/");
    assert_eq!(status, 301, "plain HTTP redirects to HTTPS");
    let config = berth.cmd(["nginx:show-config", &app]).succeeds().stdout();
    assert!(
        config.contains(&format!("return 301 https://$host:{tls_port}$request_uri;")),
        "{config}"
    );
    assert!(config.contains("Strict-Transport-Security"), "{config}");
    assert!(
        config.contains("ssl_protocols TLSv1.2 TLSv1.3;"),
        "{config}"
    );
    berth
        .cmd(["ports:report", &app, "--ports-map"])
        .succeeds()
        .stdout_has(&format!("https:{tls_port}:5000"));
    berth
        .cmd(["certs:report", &app, "--ssl-hostnames"])
        .succeeds()
        .stdout_is("secure.test\n");
    berth
        .cmd(["certs:report", &app, "--ssl-enabled"])
        .succeeds()
        .stdout_is("true\n");
    berth
        .cmd(["certs:report", &app, "--ssl-verified"])
        .succeeds()
        .stdout_is("verified by a certificate authority\n");
    let key_mode = std::fs::metadata(berth.dokku_root().join(&app).join("tls/server.key"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(key_mode, 0o600);

    // Refused: a key of another certificate, an expired one, garbage. Each
    // leaves the installed certificate as it was.
    let installed = berth.cmd(["certs:show", &app, "crt"]).succeeds().stdout();
    let other = Issued::new(&["secure.test"]);
    berth
        .cmd(["certs:update", &app, &issued.crt(), &other.key()])
        .fails(1)
        .stderr_has("The key does not match the certificate");
    let expired = Issued::valid(&["secure.test"], -7200, -3600);
    berth
        .cmd(["certs:update", &app, &expired.crt(), &expired.key()])
        .fails(1)
        .stderr_has("The certificate expired on");
    let garbage = issued.dir.path().join("garbage");
    std::fs::write(&garbage, "not a certificate").unwrap();
    berth
        .cmd([
            "certs:update",
            &app,
            garbage.to_str().unwrap(),
            &issued.key(),
        ])
        .fails(1)
        .stderr_has("holds no PEM certificate");
    berth
        .cmd(["certs:show", &app, "crt"])
        .succeeds()
        .stdout_is(&installed);
    assert_eq!(
        https_get("secure.test", tls_port, Some(&issued.ca())),
        Ok("hello\n".into())
    );

    // A renewal (here from another CA) is served at once: nginx reloads
    // although its config did not change.
    berth
        .cmd(["certs:update", &app, &other.crt(), &other.key()])
        .succeeds();
    assert_eq!(
        https_get("secure.test", tls_port, Some(&other.ca())),
        Ok("hello\n".into())
    );
    assert!(https_get("secure.test", tls_port, Some(&issued.ca())).is_err());

    berth.cmd(["certs:remove", &app]).succeeds();
    assert_eq!(
        via_nginx(&server, "secure.test", "/"),
        (200, "hello\n".into())
    );
    assert!(https_get("secure.test", tls_port, Some(&issued.ca())).is_err());
    berth
        .cmd(["certs:report", &app, "--ssl-enabled"])
        .succeeds()
        .stdout_is("false\n");
    let map = berth
        .cmd(["ports:report", &app, "--ports-map"])
        .succeeds()
        .stdout();
    assert!(!map.contains("https"), "{map}");
}

#[test]
fn each_app_gets_its_own_certificate_and_unknown_names_get_none() {
    let berth = Berth::new();
    let (server, tls_port) = server_with_tls(&berth);
    let one = routed(&berth, &server, "one.tls.test").app;
    let two = routed(&berth, &server, "two.tls.test").app;
    let first = Issued::new(&["one.tls.test"]);
    let second = Issued::new(&["two.tls.test"]);
    berth
        .cmd(["certs:add", &one, &first.crt(), &first.key()])
        .succeeds();
    // A tarball on stdin, the files nested and oddly named.
    let tarball = {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_path_with_name(second.crt(), "bundle/two.crt")
            .unwrap();
        builder
            .append_path_with_name(second.key(), "bundle/keys/two.key")
            .unwrap();
        builder.into_inner().unwrap()
    };
    berth.cmd(["certs:add", &two]).stdin(tarball).succeeds();

    // Each name verifies against its own CA only: nginx chose by SNI.
    assert_eq!(
        https_get("one.tls.test", tls_port, Some(&first.ca())),
        Ok("hello\n".into())
    );
    assert_eq!(
        https_get("two.tls.test", tls_port, Some(&second.ca())),
        Ok("hello\n".into())
    );
    assert!(https_get("two.tls.test", tls_port, Some(&first.ca())).is_err());
    // An unknown name gets no certificate at all, not another app's.
    let refused = https_get("unknown.tls.test", tls_port, None).unwrap_err();
    assert!(!refused.is_empty());
    berth
        .cmd(["certs:generate", &one, "other.tls.test"])
        .succeeds();
    berth
        .cmd(["certs:report", &one, "--ssl-verified"])
        .succeeds()
        .stdout_is("self signed\n");
    berth
        .cmd(["domains:report", &one, "--domains-app-vhosts"])
        .succeeds()
        .stdout_has("other.tls.test");
}

#[test]
fn certificate_changes_drop_no_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let berth = Berth::new();
    let (server, tls_port) = server_with_tls(&berth);
    let app = routed(&berth, &server, "load.tls.test").app;
    let http = format!("127.0.0.1:{}", server.http_port());
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    // Plain HTTP all along: answered by the app (200), or redirected to
    // HTTPS (301) while a certificate is installed; never refused.
    let stop_http = Arc::new(AtomicBool::new(false));
    let http_clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, sent, failed, http) = (
                stop_http.clone(),
                sent.clone(),
                failed.clone(),
                http.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let status = crate::source::http_get(&http, "load.tls.test", "/").map(|r| r.0);
                    if !matches!(status, Ok(200 | 301)) {
                        eprintln!("http request failed: {status:?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(40));
                }
            })
        })
        .collect();

    let first = Issued::new(&["load.tls.test"]);
    berth
        .cmd(["certs:add", &app, &first.crt(), &first.key()])
        .succeeds();
    // HTTPS while the certificate is renewed (same CA's new certificates:
    // the one the client trusts).
    let stop_https = Arc::new(AtomicBool::new(false));
    let ca = first.ca();
    let https_client = {
        let (stop, sent, failed) = (stop_https.clone(), sent.clone(), failed.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // HTTP/1.1: a new HTTP/2 connection that lands on a worker
                // in the instant it retires gets a GOAWAY, which browsers
                // retry but curl reports as an error.
                let got = https_get_with("load.tls.test", tls_port, Some(&ca), &["--http1.1"]);
                if got != Ok("hello\n".into()) {
                    eprintln!("https request failed: {got:?}");
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        berth
            .cmd(["certs:update", &app, &first.crt(), &first.key()])
            .succeeds();
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop_https.store(true, Ordering::Relaxed);
    https_client.join().unwrap();
    berth.cmd(["certs:remove", &app]).succeeds();
    std::thread::sleep(std::time::Duration::from_secs(1));
    stop_http.store(true, Ordering::Relaxed);
    for client in http_clients {
        client.join().unwrap();
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    crate::harness::report(format!(
        "certificate add, 3 renewals and removal under load: {sent} requests, {failed} failed"
    ));
    assert!(sent > 50, "the clients ran: {sent}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");
}
