//! Faults a production platform meets in its first month, injected for
//! real: concurrent first deploys on a fresh network, duplicate networks,
//! containers killed behind berth's back, stale runtime files, a full
//! disk, and the platform killed with SIGKILL mid-deploy.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Berth, run_id};
use crate::routing::{routed, via_nginx};
use crate::source::{
    Deployed, Source, container_of, dyno_addr, http_get_within, unique_app, web_answer,
};
use crate::ssh_server::SshServer;

/// `docker ARGS`, which must succeed; its stdout, trimmed.
pub(crate) fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The ids of the networks called exactly `name`.
fn networks_named(name: &str) -> Vec<String> {
    docker(&[
        "network",
        "ls",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Name}}",
    ])
    .lines()
    .filter_map(|line| {
        let (id, network) = line.split_once(' ')?;
        (network == name).then(|| id.to_string())
    })
    .collect()
}

/// Creates another network called `name` through the engine API, as a
/// racing berth did (the docker CLI refuses duplicates; the API, asked
/// without `CheckDuplicate`, does not). Returns its id.
fn create_duplicate_network(name: &str) -> String {
    let output = Command::new("curl")
        .args(["-sS", "--fail", "--unix-socket", "/var/run/docker.sock"])
        .args(["-H", "Content-Type: application/json", "-X", "POST"])
        .args(["-d", &format!(r#"{{"Name":"{name}","Driver":"bridge"}}"#)])
        .arg("http://localhost/networks/create")
        .output()
        .expect("curl runs");
    assert!(
        output.status.success(),
        "creating a duplicate network: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the engine answers JSON");
    answer["Id"].as_str().expect("an id").to_string()
}

/// A network name of this run, for a test that needs one of its own.
fn own_network(what: &str) -> String {
    format!("berth-it-{}-{what}", run_id())
}

/// Removes a test's own networks once its apps are gone.
struct NetworkCleanup(String);

impl Drop for NetworkCleanup {
    fn drop(&mut self) {
        for id in networks_named(&self.0) {
            let _ = Command::new("docker").args(["network", "rm", &id]).output();
        }
    }
}

/// Polls `check` until it holds or `limit` passes.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn eight_first_deploys_at_once_make_one_network() {
    let network = own_network("eight");
    let _cleanup = NetworkCleanup(network.clone());
    assert!(networks_named(&network).is_empty());
    let berth = Berth::new().with_env("BERTH_NETWORK", &network);
    let source = Source::new("hello");
    let apps: Vec<String> = (0..8)
        .map(|_| {
            let app = unique_app("first");
            berth.app(&app);
            app
        })
        .collect();
    std::thread::scope(|scope| {
        let pushes: Vec<_> = apps
            .iter()
            .map(|app| scope.spawn(|| source.push_local(&berth, app, "master").run()))
            .collect();
        for push in pushes {
            push.join().expect("push thread").assert_code(0);
        }
    });
    assert_eq!(networks_named(&network).len(), 1, "exactly one {network}");
    for app in &apps {
        assert_eq!(web_answer(&berth, app), (200, "hello\n".into()), "{app}");
    }
}

#[test]
fn duplicate_networks_are_repaired_and_their_containers_moved() {
    let network = own_network("dup");
    let _cleanup = NetworkCleanup(network.clone());
    let berth = Berth::new().with_env("BERTH_NETWORK", &network);
    let server = SshServer::start(&berth);
    let moved = routed(&berth, &server, "moved.test").app;
    let kept = networks_named(&network);
    assert_eq!(kept.len(), 1);

    // Two more of the same name (the engine allows it), and the first
    // app's container moved onto the newest: nginx can no longer reach it.
    create_duplicate_network(&network);
    let newest = create_duplicate_network(&network);
    assert_eq!(networks_named(&network).len(), 3);
    let container = container_of(&berth, &moved, "web.1");
    docker(&["network", "connect", &newest, &container]);
    docker(&["network", "disconnect", &kept[0], &container]);

    let Deployed { app, pushed, .. } = berth.deployed("repairs");
    pushed
        .stderr_has(&format!("Found 3 networks named {network}: kept network"))
        .stderr_has("moved 1 container(s) onto it, removed 2 duplicate(s)");
    assert_eq!(networks_named(&network), kept, "the oldest is kept");
    assert_eq!(web_answer(&berth, &app).0, 200);
    assert_eq!(
        via_nginx(&server, "moved.test", "/"),
        (200, "hello\n".into()),
        "the moved app is routed at its new address"
    );
}

#[test]
fn a_dead_container_is_brought_back_and_routed_at_its_new_address() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let app = routed(&berth, &server, "revived.test").app;
    let old_addr = dyno_addr(&berth, &app, "web.1");
    let old_ip = old_addr.split(':').next().unwrap().to_string();

    // `docker kill` is a manual stop for the engine: no restart policy
    // applies. A container that starts meanwhile takes the freed address,
    // so the app comes back somewhere else.
    docker(&["kill", &container_of(&berth, &app, "web.1")]);
    let network = crate::harness::test_network();
    // Containers of tests running beside this one take addresses too:
    // start fillers until the freed address is held, by one of them or by
    // any other container.
    let held = |ip: &str| {
        docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.IPv4Address}} {{end}}",
            &network,
        ])
        .split_whitespace()
        .any(|address| address.split('/').next() == Some(ip))
    };
    let mut fillers = Vec::new();
    while !held(&old_ip) && fillers.len() < 30 {
        fillers.push(docker(&[
            "run",
            "-d",
            "--rm",
            "--network",
            &network,
            "debian:bookworm-slim",
            "sleep",
            "60",
        ]));
    }
    let taken = held(&old_ip);
    let routed_again = eventually(Duration::from_secs(5), || {
        answer(&server, "revived.test") == Some((200, "hello\n".into()))
    });
    let new_addr = dyno_addr(&berth, &app, "web.1");
    for filler in &fillers {
        let _ = Command::new("docker").args(["rm", "-f", filler]).output();
    }
    assert!(taken, "the freed address was taken");
    assert!(
        routed_again,
        "not routed again within 5 s\n{}",
        server.log()
    );
    assert_ne!(new_addr, old_addr, "recorded at its new address");
    assert!(server.log().contains("starting it by its restart policy"));

    // A crash the engine restarts by itself (the process killed from the
    // host, as the OOM killer does): routed throughout.
    let pid = docker(&[
        "inspect",
        "-f",
        "{{.State.Pid}}",
        &container_of(&berth, &app, "web.1"),
    ]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid.parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            answer(&server, "revived.test") == Some((200, "hello\n".into()))
        }),
        "not routed after the restart policy brought it back"
    );
}

#[test]
fn stale_runtime_files_from_a_crash_are_not_trusted() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    routed(&berth, &server, "stale.test");
    drop(server);
    // What a crash leaves: a pid file naming a live process that is not
    // nginx, and the status socket still on disk; the layout of earlier
    // versions (both on the volume) too.
    let mut bystander = Command::new("sleep").arg("60").spawn().unwrap();
    let runtime = berth.root().join("run/nginx");
    let volume = berth.lib_root().join("data/nginx-vhosts");
    for dir in [&runtime, &volume] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("nginx.pid"), bystander.id().to_string()).unwrap();
        let socket = std::os::unix::net::UnixListener::bind(dir.join("status.sock")).unwrap();
        drop(socket); // the file stays, as after a crash
    }
    let server = SshServer::start(&berth);
    assert!(
        eventually(Duration::from_secs(10), || {
            answer(&server, "stale.test") == Some((200, "hello\n".into()))
        }),
        "not served after start\n{}",
        server.log()
    );
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "the process the stale pid file named was signalled"
    );
    let _ = bystander.kill();
    assert!(
        !volume.join("status.sock").exists(),
        "legacy socket removed"
    );
    let nginx_log = std::fs::read_to_string(volume.join("error.log")).unwrap_or_default();
    assert!(!nginx_log.contains("Address already in use"), "{nginx_log}");
}

/// What nginx answers `host` within a second, if anything: a request to
/// an upstream that is not there yet may hang, and is simply tried again.
fn answer(server: &SshServer, host: &str) -> Option<(u16, String)> {
    http_get_within(
        &format!("127.0.0.1:{}", server.http_port()),
        host,
        "/",
        Duration::from_secs(1),
    )
    .ok()
}

#[test]
fn config_set_on_a_full_disk_fails_and_keeps_the_old_env() {
    let berth = Berth::new();
    let lib = berth.lib_root();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&lib)
        .status()
        .expect("mount runs");
    assert!(
        mounted.success(),
        "scripts/test runs as root: mount a tmpfs"
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&lib);
    berth.app("full");
    berth
        .cmd(["config:set", "--no-restart", "full", "KEEP=me"])
        .succeeds();
    let env_file = lib.join("config/full/ENV");
    let before = std::fs::read_to_string(&env_file).unwrap();
    // Fill the disk to the last block.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", lib.join("filler").display()))
        .output();
    berth
        .cmd(["config:set", "--no-restart", "full", "NEW=value"])
        .fails(1)
        .stderr_has("No space left on device");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), before);
    berth
        .cmd(["config:get", "full", "KEEP"])
        .succeeds()
        .stdout_is("me\n");
    let leftovers: Vec<_> = std::fs::read_dir(env_file.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers, vec!["ENV"], "no temp file left behind");
}
