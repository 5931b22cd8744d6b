//! The platform killed for real: SIGKILL of every berth process in the
//! middle of deploys (as a power loss or `docker rm -f` of the platform
//! would), then a new `berth server` on the same roots. The engine and the
//! app containers live on, as they do in production.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::faults::docker;
use crate::harness::{Berth, run_id};
use crate::routing::{routed, routed_from, via_nginx};
use crate::source::{Deployed, http_get};
use crate::ssh_server::SshServer;

/// A deploy that takes a few seconds: an uncached build step (the
/// round file changes every push) and a health check that waits.
const SLOW_DOCKERFILE: &str = "FROM debian:bookworm-slim\n\
    COPY server.pl /app/server.pl\n\
    COPY round.txt /app/round.txt\n\
    RUN sleep 1\n\
    EXPOSE 5000\n\
    CMD [\"perl\", \"/app/server.pl\"]\n";
const SLOW_CHECK: &str = r#"{"healthchecks":{"web":[{"type":"startup","path":"/","initialDelay":1,"attempts":3,"wait":1}]}}"#;

/// `count` kill times spread over `0..max_ms`: one at a random point of
/// each of `count` equal slices, so every phase of a deploy (build,
/// checks, switch, retire) is hit. Random from the run id; printed, so a
/// failure can be replayed from the log.
fn delays(count: usize, max_ms: u64) -> Vec<Duration> {
    let slice = max_ms / count as u64;
    let mut state: u64 = run_id().bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (0..count as u64)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Duration::from_millis(i * slice + (state >> 33) % slice)
        })
        .collect()
}

fn served(server: &SshServer, host: &str, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < limit {
        match http_get(&format!("127.0.0.1:{}", server.http_port()), host, "/") {
            Ok((200, body)) if body == "hello\n" => return Ok(started.elapsed()),
            other => last = format!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{host} not served within {limit:?}: {last}"))
}

/// The app's deploy containers: `(id, name)`.
fn deploy_containers(app: &str) -> Vec<(String, String)> {
    docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &format!("label=com.dokku.app-name={app}"),
        "--filter",
        "label=com.dokku.container-type=deploy",
        "--format",
        "{{.ID}} {{.Names}}",
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(id, name)| (id.to_string(), name.to_string()))
    .collect()
}

#[test]
fn sigkill_of_the_platform_mid_deploy_ten_times() {
    let tag = format!("crash-{}", run_id());
    let berth = Berth::new().with_env("BERTH_TEST_TAG", &tag);
    let mut server = SshServer::start(&berth);
    routed(&berth, &server, "bystander.test");
    let Deployed { app, source, .. } = routed_from(&berth, &server, "crashing.test", |source| {
        source
            .write("Dockerfile", SLOW_DOCKERFILE)
            .write("app.json", SLOW_CHECK)
            .write("round.txt", "0\n")
            .commit("slow deploys");
    });

    let mut report = Vec::new();
    for (round, delay) in delays(10, 4000).into_iter().enumerate() {
        source
            .write("round.txt", &format!("{round}\n"))
            .commit(&format!("round {round}"));
        let mut push = source
            .push_ssh(&server, &app, "master")
            .command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git push runs");
        std::thread::sleep(delay);
        let killed = server.power_loss();
        let pushed = push.wait().expect("git push ends");

        server = SshServer::start_again(&berth);
        let back = served(&server, "crashing.test", Duration::from_secs(10)).unwrap_or_else(|e| {
            panic!("round {round} (killed at {delay:?}): {e}\n{}", server.log())
        });
        served(&server, "bystander.test", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Nothing holds the deploy lock once the restore is done.
        let unlocked = (0..300).any(|_| {
            let locked = berth.cmd(["apps:locked", &app]).run();
            locked.code == 1 || {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        });
        assert!(
            unlocked,
            "round {round}: deploy lock still held after 30 s\n{}",
            server.log()
        );

        // The next push deploys, and once the retire window passed exactly
        // the scaled containers are left: none new, none old.
        source
            .write("round.txt", &format!("{round} again\n"))
            .commit(&format!("round {round} again"));
        let clean = Instant::now();
        source
            .push_ssh(&server, &app, "master")
            .succeeds()
            .stderr_has("Application deployed");
        let clean = clean.elapsed();
        assert_eq!(via_nginx(&server, "crashing.test", "/").0, 200);
        let mut left = Vec::new();
        let settled = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            left = deploy_containers(&app);
            left.len() == 1
        });
        assert!(
            settled,
            "round {round} (killed at {delay:?}): containers left {left:?}"
        );
        report.push(format!(
            "round {round}: killed {killed} processes at {delay:?} (push {}), served again after {back:?}, next push took {clean:?}",
            if pushed.success() { "had finished" } else { "interrupted" }
        ));
    }
    crate::harness::report(report.join("\n"));
}

#[test]
fn a_server_killed_alone_leaves_nginx_serving_and_the_next_one_adopts_it() {
    let berth = Berth::new().with_env("BERTH_TEST_TAG", format!("adopt-{}", run_id()));
    let server = SshServer::start(&berth);
    let app = routed(&berth, &server, "adopted.test").app;
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    // Host mode: nginx outlives the server and keeps serving.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        via_nginx(&server, "adopted.test", "/"),
        (200, "hello\n".into())
    );
    let nginx_pid = std::fs::read_to_string(berth.root().join("run/nginx/nginx.pid"))
        .unwrap()
        .trim()
        .to_string();
    drop(server);

    let server = SshServer::start_again(&berth);
    served(&server, "adopted.test", Duration::from_secs(5)).unwrap();
    // The adopted master takes reloads: a restart moves the app to a new
    // container, and nginx follows.
    berth.cmd(["ps:restart", &app]).succeeds();
    served(&server, "adopted.test", Duration::from_secs(5)).unwrap();
    let still = std::fs::read_to_string(berth.root().join("run/nginx/nginx.pid")).unwrap();
    assert_eq!(still.trim(), nginx_pid, "the running nginx was adopted");
    let log = std::fs::read_to_string(berth.lib_root().join("data/nginx-vhosts/error.log"))
        .unwrap_or_default();
    assert!(!log.contains("Address already in use"), "{log}");
    // Stopped with the server that adopted it: no nginx left behind.
    assert!(server.stop().success());
    let master = nix::unistd::Pid::from_raw(nginx_pid.parse().unwrap());
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        nix::sys::signal::kill(master, None).is_err()
    });
    assert!(
        gone,
        "nginx {nginx_pid} outlived the server that adopted it"
    );
}

/// Restarts the Docker engine as an operator would: `systemctl restart
/// docker` where systemd runs it, else SIGTERM to dockerd and
/// `scripts/ensure-docker` to start it again.
fn restart_dockerd() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ensure-docker");
    if std::path::Path::new("/run/systemd/system").is_dir() {
        let status = Command::new("systemctl")
            .args(["restart", "docker"])
            .status()
            .expect("systemctl runs");
        assert!(status.success(), "systemctl restart docker");
        return;
    }
    let pid: i32 = std::fs::read_to_string("/var/run/docker.pid")
        .expect("dockerd's pid file (scripts/ensure-docker started it)")
        .trim()
        .parse()
        .expect("a pid");
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("dockerd signalled");
    let stopped = (0..600).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        nix::sys::signal::kill(pid, None).is_err()
    });
    assert!(stopped, "dockerd did not stop within 60 s");
    let status = Command::new(script).status().expect("ensure-docker runs");
    assert!(
        status.success(),
        "scripts/ensure-docker started dockerd again"
    );
}

#[test]
#[ignore = "restarts dockerd: scripts/test runs it on its own, after the suite"]
fn apps_come_back_after_dockerd_restarts_and_berth_reconnects_by_itself() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let Deployed { app, source, .. } = routed(&berth, &server, "engine-restart.test");
    routed(&berth, &server, "engine-restart-two.test");

    restart_dockerd();
    for host in ["engine-restart.test", "engine-restart-two.test"] {
        let back = served(&server, host, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
        crate::harness::report(format!(
            "{host} served again {back:?} after dockerd answered"
        ));
    }
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    assert!(
        nix::sys::signal::kill(pid, None).is_ok(),
        "the same berth server runs"
    );
    assert!(
        server.log().contains("Reconnected to the Docker engine"),
        "{}",
        server.log()
    );
    // Deploys work on the restarted engine, through the same server.
    source.commit("after the engine restart");
    source.push_ssh(&server, &app, "master").succeeds();
}
