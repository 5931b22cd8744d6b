//! Let's Encrypt against pebble, the ACME test server Let's Encrypt
//! publishes (Debian's `pebble` package): real HTTP-01 challenges answered
//! by berth's nginx, renewals by `berth server` itself, an ACME server that
//! goes away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Berth, report};
use crate::routing::routed;
use crate::ssh_server::free_port;

/// The CA pebble's own HTTPS listener is signed by (what berth is told to
/// trust through `BERTH_ACME_CA`), and that listener's certificate.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "pebble listener CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        Pki { dir }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// pebble and its DNS (pebble-challtestsrv answers every name with
/// 127.0.0.1), validating HTTP-01 on `http_port`: berth's nginx.
struct Pebble {
    pebble: Option<Child>,
    dns: Child,
    port: u16,
    management: u16,
    ca: PathBuf,
}

impl Pebble {
    fn start(pki: &Pki, http_port: u16) -> Pebble {
        let (port, management, dns_port) = (free_port(), free_port(), free_port());
        let dns_management = free_port();
        let dns = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{dns_management}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv runs (apt install pebble)");
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": pki.dir.path().join("cert.pem"),
                "privateKey": pki.dir.path().join("key.pem"),
                "httpPort": http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_path = pki.dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let mut pebble = Pebble {
            pebble: None,
            dns,
            port,
            management,
            ca: pki.ca(),
        };
        let log = std::fs::File::create(pki.dir.path().join("pebble.log")).unwrap();
        pebble.pebble = Some(
            Command::new("pebble")
                .arg("-config")
                .arg(&config_path)
                .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("pebble runs (apt install pebble)"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        for listener in [dns_management, dns_port, port] {
            while std::net::TcpStream::connect(("127.0.0.1", listener)).is_err() {
                assert!(Instant::now() < deadline, "pebble listens on {listener}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        pebble
    }

    fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// The root pebble signs certificates with (made at its start).
    fn issuing_root(&self, into: &Path) -> PathBuf {
        let path = into.join("pebble-root.pem");
        let output = Command::new("curl")
            .args(["--silent", "--fail", "--cacert"])
            .arg(&self.ca)
            .arg(format!("https://127.0.0.1:{}/roots/0", self.management))
            .output()
            .unwrap();
        assert!(output.status.success(), "pebble's root: {output:?}");
        std::fs::write(&path, output.stdout).unwrap();
        path
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.pebble.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        let _ = self.dns.kill();
        let _ = self.dns.wait();
    }
}

fn https_get(host: &str, port: u16, ca: &Path) -> Result<String, String> {
    crate::tls::https_get(host, port, Some(ca))
}

#[test]
fn letsencrypt_issues_renews_by_itself_and_survives_its_server_going_away() {
    let pki = Pki::new();
    let berth = Berth::new()
        .with_env("BERTH_ACME_CA", pki.ca().display().to_string())
        .with_env("BERTH_ACME_RENEW_INTERVAL", "2");
    let (server, tls_port) = crate::tls::server_with_tls(&berth);
    let mut pebble = Pebble::start(&pki, server.http_port());
    berth
        .cmd(["letsencrypt:set", "--global", "email", "ops@example.com"])
        .succeeds();
    berth
        .cmd(["letsencrypt:set", "--global", "server", &pebble.directory()])
        .succeeds();
    let app = routed(&berth, &server, "le.test").app;

    let started = Instant::now();
    berth
        .cmd(["letsencrypt:enable", &app])
        .succeeds()
        .stdout_has("Certificate retrieved successfully.");
    let root = pebble.issuing_root(pki.dir.path());
    assert_eq!(https_get("le.test", tls_port, &root), Ok("hello\n".into()));
    report(format!(
        "letsencrypt:enable to the first HTTPS 200 against pebble: {:?}",
        started.elapsed()
    ));
    berth
        .cmd(["letsencrypt:active", &app])
        .succeeds()
        .stdout_is("true\n");
    berth
        .cmd(["certs:report", &app, "--ssl-issuer"])
        .succeeds()
        .stdout_has("Pebble");
    // Enabling again changes nothing while the certificate is valid.
    let first = berth.cmd(["certs:show", &app, "crt"]).succeeds().stdout();
    berth
        .cmd(["letsencrypt:enable", &app])
        .succeeds()
        .stdout_has("nothing to do");
    berth
        .cmd(["certs:show", &app, "crt"])
        .succeeds()
        .stdout_is(&first);

    // An app not deployed yet gets its certificate too: nginx's default
    // server answers the challenge for its domain.
    berth.app("le-early");
    berth
        .cmd(["domains:set", "le-early", "early.test"])
        .succeeds();
    berth.cmd(["letsencrypt:enable", "le-early"]).succeeds();
    berth
        .cmd(["certs:report", "le-early", "--ssl-hostnames"])
        .succeeds()
        .stdout_is("early.test\n");
    // Revocation reaches the ACME server: a second one is refused by it.
    berth
        .cmd(["letsencrypt:revoke", "le-early"])
        .succeeds()
        .stdout_has("Certificate revoked");
    berth
        .cmd(["letsencrypt:revoke", "le-early"])
        .fails(1)
        .stderr_has("The ACME server refused the revocation");
    berth
        .cmd(["letsencrypt:cleanup", "le-early"])
        .succeeds()
        .stdout_has("Removed 0 stale challenge file(s)");

    // A new domain gets a certificate that covers it.
    berth.cmd(["domains:add", &app, "le2.test"]).succeeds();
    berth
        .cmd(["certs:report", &app, "--ssl-hostnames"])
        .succeeds()
        .stdout_has("le2.test");
    assert_eq!(https_get("le2.test", tls_port, &root), Ok("hello\n".into()));

    // Inside the grace period, berth server renews on its own schedule:
    // no cron job, no command.
    let before = berth.cmd(["certs:show", &app, "crt"]).succeeds().stdout();
    berth
        .cmd(["letsencrypt:set", &app, "graceperiod", "315360000"])
        .succeeds();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = berth.cmd(["certs:show", &app, "crt"]).succeeds().stdout();
        if now != before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "berth server renewed the certificate"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(https_get("le.test", tls_port, &root), Ok("hello\n".into()));
    berth
        .cmd(["letsencrypt:cron-job"])
        .succeeds()
        .stdout_has("Auto-renewal runs in berth server every 2s");

    // The ACME server goes away: the renewal fails, visibly, and the
    // certificate in place keeps serving.
    pebble.stop();
    let kept = berth.cmd(["certs:show", &app, "crt"]).succeeds().stdout();
    berth
        .cmd(["letsencrypt:auto-renew", &app])
        .fails(1)
        .stderr_has("the current certificate stays");
    assert_eq!(https_get("le.test", tls_port, &root), Ok("hello\n".into()));
    berth
        .cmd(["certs:show", &app, "crt"])
        .succeeds()
        .stdout_is(&kept);
    berth
        .cmd(["letsencrypt:list"])
        .succeeds()
        .stdout_has(&app)
        .stdout_has("failed");
    berth
        .cmd(["letsencrypt:report", &app, "--letsencrypt-last-attempt"])
        .succeeds()
        .stdout_has("failed");
    berth
        .cmd(["certs:report", &app, "--ssl-renewal"])
        .succeeds()
        .stdout_has("letsencrypt: failed");

    berth.cmd(["letsencrypt:disable", &app]).succeeds();
    berth
        .cmd(["certs:report", &app, "--ssl-enabled"])
        .succeeds()
        .stdout_is("false\n");
}
