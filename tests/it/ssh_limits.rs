//! The SSH server under abuse: idle connections, floods of failed logins,
//! too many sessions, endless input and decompression bombs. A real login
//! must get through meanwhile, and the server's memory stay bounded.

use std::io::Read;
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use russh::client;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};

use crate::harness::Berth;
use crate::source::unique_app;
use crate::ssh_server::SshServer;

/// A client that trusts any host key (the server's is not the point here).
struct Trusting;

impl client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A key no server knows.
fn stranger(seed: u8) -> PrivateKeyWithHashAlg {
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]));
    PrivateKeyWithHashAlg::new(Arc::new(key), None)
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `ssh … version` as `admin`, timed.
fn timed_login(server: &SshServer) -> (bool, Duration) {
    let started = Instant::now();
    let done = server.ssh(["version"]).option("ConnectTimeout=5").run();
    (done.code == 0, started.elapsed())
}

#[test]
fn idle_connections_and_failed_logins_do_not_lock_out_a_real_login() {
    let berth = Berth::new().with_env("BERTH_SSH_LOGIN_GRACE", "4");
    let server = SshServer::start(&berth);
    let port = server.port();
    let before = rss_kib(server.pid());

    // 300 connections that never say a word.
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let (ok, took) = timed_login(&server);
    assert!(
        ok,
        "login beside 300 idle connections failed\n{}",
        server.log()
    );
    crate::harness::report(format!("login beside 300 idle connections: {took:?}"));
    assert!(took < Duration::from_secs(2), "took {took:?}");

    // 1,000 failed logins from 20 clients at once, a real login meanwhile.
    let failed = Arc::new(AtomicUsize::new(0));
    let rt = runtime();
    let storm = {
        let failed = failed.clone();
        rt.spawn(async move {
            let config = Arc::new(client::Config::default());
            let mut tasks = Vec::new();
            for worker in 0..20u8 {
                let (config, failed) = (config.clone(), failed.clone());
                tasks.push(tokio::spawn(async move {
                    while failed.load(Ordering::Relaxed) < 1000 {
                        let Ok(mut handle) =
                            client::connect(config.clone(), ("127.0.0.1", port), Trusting).await
                        else {
                            continue;
                        };
                        for attempt in 0..10u8 {
                            let key = stranger(worker.wrapping_mul(31).wrapping_add(attempt));
                            match handle.authenticate_publickey("dokku", key).await {
                                Ok(result) if !result.success() => {
                                    failed.fetch_add(1, Ordering::Relaxed);
                                }
                                _ => break,
                            }
                        }
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        })
    };
    // In the thick of it: each failure costs its client a 250 ms pause,
    // so the storm lasts about 12 s.
    std::thread::sleep(Duration::from_secs(3));
    let (ok, took) = timed_login(&server);
    let during = failed.load(Ordering::Relaxed);
    rt.block_on(storm).expect("the storm ran");
    let total = failed.load(Ordering::Relaxed);
    crate::harness::report(format!(
        "login during a storm of failed logins ({during} so far, {total} in all): {took:?}"
    ));
    assert!(ok, "login during the storm failed\n{}", server.log());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(total >= 1000, "only {total} failed logins were made");

    // The login grace time closes what never logged in.
    std::thread::sleep(Duration::from_secs(5));
    let still_open = idle
        .into_iter()
        .filter(|stream| {
            let mut stream = stream;
            stream
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 256];
            // The server's version line, then end of file once closed.
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return false,
                    Err(_) => return true,
                }
            }
        })
        .count();
    assert_eq!(still_open, 0, "idle connections outlived the grace time");
    let after = rss_kib(server.pid());
    crate::harness::report(format!(
        "server memory: {before} KiB before, {after} KiB after"
    ));
    assert!(after < before + 32 * 1024, "{before} KiB → {after} KiB");
}

#[test]
fn sessions_per_connection_are_capped() {
    let berth = Berth::new().with_env("BERTH_SSH_MAX_SESSIONS", "3");
    let server = SshServer::start(&berth);
    let key = russh::keys::load_secret_key(server.client_key(), None).expect("the admin key");
    let port = server.port();
    let opened = runtime().block_on(async move {
        let config = Arc::new(client::Config::default());
        let mut handle = client::connect(config, ("127.0.0.1", port), Trusting)
            .await
            .expect("connects");
        let auth = handle
            .authenticate_publickey("dokku", PrivateKeyWithHashAlg::new(Arc::new(key), None))
            .await
            .expect("authenticates");
        assert!(auth.success());
        let mut channels = Vec::new();
        let mut refused = 0;
        for _ in 0..5 {
            match handle.channel_open_session().await {
                Ok(channel) => channels.push(channel),
                Err(_) => refused += 1,
            }
        }
        (channels.len(), refused)
    });
    assert_eq!(opened, (3, 2), "3 sessions open, 2 refused");
}

#[test]
fn an_endless_key_on_stdin_is_refused_with_bounded_memory() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let before = rss_kib(server.pid());
    let mut ssh = server.ssh(["ssh-keys:add", "endless"]).command();
    let output = ssh
        .stdin(Stdio::from(std::fs::File::open("/dev/zero").unwrap()))
        .output()
        .expect("ssh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(" !     The key on stdin is larger than 64 KiB"),
        "{stderr}"
    );
    let after = rss_kib(server.pid());
    crate::harness::report(format!(
        "server memory: {before} KiB before, {after} KiB after /dev/zero"
    ));
    assert!(after < before + 16 * 1024, "{before} KiB → {after} KiB");
    server
        .ssh(["ssh-keys:list"])
        .succeeds()
        .stdout_has("NAME=\"admin\"");
    assert!(
        !server
            .ssh(["ssh-keys:list"])
            .run()
            .stdout()
            .contains("endless"),
        "nothing was added"
    );
}

#[test]
fn a_gzip_bomb_through_git_from_archive_is_refused() {
    // 200 MB of zeros in one file: a 200 KB tar.gz.
    let size = 200 * 1000 * 1000;
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(size);
    header.set_path("zeros").unwrap();
    header.set_cksum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    {
        let mut builder = tar::Builder::new(&mut gz);
        builder
            .append(&header, std::io::repeat(0).take(size))
            .unwrap();
        builder.finish().unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());

    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let app = unique_app("bomb");
    berth.app(&app);
    let before = rss_kib(server.pid());
    let path = berth.root().join("bomb.tar.gz");
    std::fs::write(&path, &bomb).unwrap();
    let mut ssh = server.ssh(["git:from-archive", &app, "--"]).command();
    let output = ssh
        .stdin(Stdio::from(std::fs::File::open(&path).unwrap()))
        .output()
        .expect("ssh runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("archive-max-ratio (200)"), "{stderr}");
    let after = rss_kib(server.pid());
    crate::harness::report(format!(
        "server memory: {before} KiB before, {after} KiB after the bomb"
    ));
    assert!(after < before + 16 * 1024, "{before} KiB → {after} KiB");
    let heads = berth.dokku_root().join(&app).join("refs/heads");
    assert!(
        std::fs::read_dir(&heads).map_or(true, |d| d.count() == 0),
        "no commit was made"
    );
}
