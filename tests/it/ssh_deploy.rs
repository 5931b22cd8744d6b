//! The whole path a user takes: real git and ssh clients against
//! `berth server`, deploying on the real engine.

use crate::harness::Berth;
use crate::source::{Deployed, Source, dyno_addr, http_get, web_answer};
use crate::ssh_server::SshServer;

#[test]
fn push_over_ssh_creates_deploys_and_is_managed_over_ssh() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    // The app does not exist yet: the push creates it, as Dokku does.
    let Deployed {
        app,
        source,
        pushed,
    } = berth.deploy("sshpush").push_ssh(&server);
    pushed
        .stderr_has(&format!("remote: -----> Building {app} from Dockerfile"))
        .stderr_has("remote: =====> Application deployed:");
    let addr = dyno_addr(&berth, &app, "web.1");
    assert_eq!(http_get(&addr, "x", "/").unwrap(), (200, "hello\n".into()));

    server
        .ssh(["config:set", &app, "MESSAGE='over ssh'"])
        .succeeds()
        .stdout_has(&format!("-----> Restarting app {app}"));
    assert_eq!(web_answer(&berth, &app).1, "over ssh\n");
    server
        .ssh(["run", &app, "printenv", "MESSAGE"])
        .succeeds()
        .stdout_is("over ssh\n");
    server
        .ssh(["logs", &app, "-q", "-n", "2"])
        .succeeds()
        .stdout_is("listening on 5000\nGET /\n");
    server
        .ssh(["ps:report", &app, "--running"])
        .succeeds()
        .stdout_is("true\n");
    // Interactive commands get a terminal inside the container when the
    // client asked for one (ssh -t), and plain pipes otherwise.
    let tty = server.ssh(["run", &app, "tty"]).tty().succeeds().stdout();
    assert!(tty.starts_with("/dev/pts/"), "{tty:?}");
    server
        .ssh(["run", &app, "tty"])
        .fails(1)
        .stdout_is("not a tty\n");
    // 200 MB through `run` and SSH: all of it arrives, and the server
    // streams it (backpressure) instead of holding it.
    let mut big = server
        .ssh(["run", &app, "head", "-c", "209715200", "/dev/zero"])
        .command();
    let output = big.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout.len(), 209_715_200);
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    crate::harness::report(format!(
        "server peak memory while streaming 200 MB: {peak_kb} kB"
    ));
    assert!(
        peak_kb < 100 * 1024,
        "server peak memory {peak_kb} kB while streaming 200 MB"
    );
    server
        .ssh(["enter", &app, "web", "printenv", "DYNO"])
        .succeeds()
        .stdout_is("web.1\n");
    let tty = server
        .ssh(["enter", &app, "web.1", "tty"])
        .tty()
        .succeeds()
        .stdout();
    assert!(tty.starts_with("/dev/pts/"), "{tty:?}");

    // A second push deploys new code; fetching works too.
    source
        .write("Procfile", "web: perl /app/server.pl\n")
        .commit("v2");
    source.push_ssh(&server, &app, "master").succeeds();
    let clone = tempfile::tempdir().unwrap();
    let copy = clone.path().join("copy").display().to_string();
    server
        .git(["clone", "-q", &server.remote_url(&app), &copy])
        .succeeds();
    assert!(clone.path().join("copy/server.pl").is_file());

    server.ssh(["--force", "apps:destroy", &app]).succeeds();
    server.ssh(["apps:exists", &app]).fails(20);
}

#[test]
fn push_refused_when_autocreation_is_disabled() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth
        .cmd(["apps:set", "--global", "disable-autocreation", "true"])
        .succeeds();
    let source = Source::new("hello");
    source
        .push_ssh(&server, "nope", "master")
        .fails(128)
        .stderr_has("Re-enable app auto-creation or create an app with 'dokku apps:create nope'");
    berth.cmd(["apps:exists", "nope"]).fails(20);
}

#[test]
fn push_of_more_than_100_mb_of_history_completes() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    // 3 × 36 MiB of incompressible data in history; the last commit removes
    // it, so the build context stays small.
    let Deployed { app, .. } = berth
        .deploy("bighistory")
        .source(|source| {
            for i in 0..3 {
                let mut data = vec![0u8; 36 << 20];
                let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ i;
                for chunk in data.chunks_mut(8) {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
                }
                std::fs::write(source.path().join(format!("blob{i}.bin")), data).unwrap();
                source.commit(&format!("blob {i}"));
            }
            for i in 0..3 {
                std::fs::remove_file(source.path().join(format!("blob{i}.bin"))).unwrap();
            }
            source.commit("drop blobs");
        })
        .push_ssh(&server);
    let packed: u64 = walk_size(&berth.dokku_root().join(&app).join("objects"));
    assert!(packed > 100 << 20, "history arrived: {packed} bytes");
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}
