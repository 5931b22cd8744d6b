//! `berth server` over SSH with the real OpenSSH client: commands and exit
//! codes, quoting, streams, keys, the host key, terminals, hangups.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::harness::Berth;
use crate::ssh_server::{SshServer, keygen, pub_path};

#[test]
fn admin_commands_keep_their_exit_codes() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    server
        .ssh(["apps:create", "demo"])
        .succeeds()
        .stdout_is("-----> Creating demo...\n")
        .stderr_is("");
    server
        .ssh(["apps:exists", "ghost"])
        .fails(20)
        .stderr_is(" !     App ghost does not exist\n");
    server.ssh(["config:set", "demo", "'A=a b'"]).succeeds();
    server
        .ssh(["config:get", "demo", "A"])
        .succeeds()
        .stdout_is("a b\n");
    server.ssh(["--force", "apps:destroy", "demo"]).succeeds();
    server.ssh(["apps:exists", "demo"]).fails(20);
}

#[test]
fn stdout_and_stderr_stay_apart() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    server
        .ssh(["apps:list"])
        .succeeds()
        .stdout_is("")
        .stderr_is(" !     You haven't deployed any applications yet\n");
    server
        .ssh(["apps:frobnicate"])
        .fails(1)
        .stdout_is("")
        .stderr_is(" !     `apps:frobnicate` is not a dokku command.\n !     See `dokku help` for a list of available commands.\n");
}

#[test]
fn the_command_is_split_not_evaluated() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    server
        .ssh(["config:set", "demo", "K=\"$HOME `id` *\"", "'L=a  b'"])
        .succeeds();
    server
        .ssh(["config:get", "demo", "K"])
        .succeeds()
        .stdout_is("$HOME `id` *\n");
    server
        .ssh(["config:get", "demo", "L"])
        .succeeds()
        .stdout_is("a  b\n");
    server
        .ssh(["config:set", "demo", "'A"])
        .fails(1)
        .stdout_is("")
        .stderr_is(" !     Unable to parse the command: unmatched single quote\n");
}

#[test]
fn no_command_prints_help() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    server
        .ssh(Vec::<String>::new())
        .succeeds()
        .stdout_has("Usage: dokku [--quiet|--trace|--force] COMMAND <app>");
}

#[test]
fn stdin_reaches_the_command() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    server
        .ssh(["config:import", "demo", "-"])
        .stdin("A=1\nB=\"two words\"\n")
        .succeeds();
    berth
        .cmd(["config:get", "demo", "B"])
        .succeeds()
        .stdout_is("two words\n");
}

#[test]
fn large_output_arrives_complete() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    let value = "x".repeat(5_000_000);
    let file = berth.root().join("big.env");
    std::fs::write(&file, format!("BIG={value}\n")).unwrap();
    berth
        .cmd(["config:import", "demo", file.to_str().unwrap()])
        .succeeds();
    let done = server.ssh(["config:get", "demo", "BIG"]).succeeds();
    assert_eq!(done.stdout.len(), value.len() + 1);
    assert!(done.stdout[..value.len()].iter().all(|b| *b == b'x'));
}

#[test]
fn only_stored_keys_of_user_dokku_get_in() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let stranger = keygen(&berth.root().join("stranger"), "ed25519");
    server
        .ssh(["apps:list"])
        .identity(&stranger)
        .fails(255)
        .stderr_has("Permission denied (publickey)");
    server
        .ssh(["apps:list"])
        .user("root")
        .fails(255)
        .stderr_has("Permission denied (publickey)");
    // The store is read on each login: no restart needed either way.
    berth
        .cmd([
            "ssh-keys:add",
            "stranger",
            pub_path(&stranger).to_str().unwrap(),
        ])
        .succeeds();
    server.ssh(["apps:list"]).identity(&stranger).succeeds();
    berth.cmd(["ssh-keys:remove", "stranger"]).succeeds();
    server.ssh(["apps:list"]).identity(&stranger).fails(255);
}

#[test]
fn host_key_survives_a_restart() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    server.ssh(["version"]).succeeds();
    let key_file = berth.lib_root().join("data/ssh/ssh_host_ed25519_key");
    let key = std::fs::read(&key_file).unwrap();
    let server = server.restart();
    // known_hosts holds the first server's key: a different one would fail.
    server
        .ssh(["version"])
        .option("StrictHostKeyChecking=yes")
        .succeeds()
        .stdout_has("dokku version");
    assert_eq!(std::fs::read(&key_file).unwrap(), key);
    let known = std::fs::read_to_string(server.known_hosts()).unwrap();
    assert_eq!(known.lines().count(), 1, "{known}");
}

#[test]
fn a_pty_session_is_a_terminal() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    server
        .ssh(["apps:list"])
        .tty()
        .succeeds()
        .stdout_is("=====> My Apps\r\ndemo\r\n");
    // ssh-keys:add only refuses to read a key from a terminal.
    server
        .ssh(["ssh-keys:add", "typed"])
        .tty()
        .fails(1)
        .stdout_has("No key specified via file or pipe");
}

#[test]
fn sessions_run_side_by_side() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    // apps:destroy waits for its confirmation on stdin...
    let mut waiting = server
        .ssh(["apps:destroy", "demo"])
        .command()
        .spawn()
        .unwrap();
    // ...while another session comes and goes.
    server.ssh(["apps:exists", "demo"]).succeeds();
    let mut stdin = waiting.stdin.take().unwrap();
    stdin.write_all(b"demo\n").unwrap();
    drop(stdin);
    let output = waiting.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    berth.cmd(["apps:exists", "demo"]).fails(20);
}

#[test]
fn a_client_that_leaves_takes_its_command_along() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    let mut client = server
        .ssh(["apps:destroy", "demo"])
        .command()
        .spawn()
        .unwrap();
    let root = berth.dokku_root().display().to_string();
    let find = || server_side(&root, "apps:destroy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while find().is_empty() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    client.kill().unwrap();
    client.wait().unwrap();
    while !find().is_empty() {
        assert!(Instant::now() < deadline, "the command outlived its client");
        std::thread::sleep(Duration::from_millis(20));
    }
    berth.cmd(["apps:exists", "demo"]).succeeds();
}

#[test]
fn sigterm_stops_the_server() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    server.ssh(["version"]).succeeds();
    let started = Instant::now();
    assert!(server.stop().success());
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Live processes whose command line has `word` and whose environment has
/// `DOKKU_ROOT=<root>`: the server's children for this test.
fn server_side(root: &str, word: &str) -> Vec<u32> {
    let wanted_env = format!("DOKKU_ROOT={root}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let has = |bytes: Vec<u8>, s: &str| bytes.split(|b| *b == 0).any(|w| w == s.as_bytes());
            let stat = String::from_utf8_lossy(&read("stat")).into_owned();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|s| s.trim_start().starts_with('Z'));
            !zombie && has(read("cmdline"), word) && has(read("environ"), &wanted_env)
        })
        .collect()
}

#[test]
fn git_reaches_the_server_with_the_helpers() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth.app("demo");
    let url = server.remote_url("demo");
    assert!(url.ends_with(&format!(":{}/demo", server.port())), "{url}");
    let listed = server.git(["ls-remote", &url]).run();
    assert_eq!(
        listed.code,
        0,
        "git ls-remote failed:\n{}\nserver log:\n{}",
        listed.stderr,
        server.log()
    );
}

#[test]
fn shell_runs_each_line_as_its_own_command() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let app = crate::source::unique_app("shell");
    let done = server
        .ssh(["shell"])
        .stdin(format!(
            "apps:create {app}\n\ndokku apps:list\nconfig:set --no-restart {app} 'GREETING=hello world'\nbogus:cmd\nconfig:get {app} GREETING\nexit\napps:destroy --force {app}\n"
        ))
        .succeeds();
    let out = done.stdout();
    assert!(out.contains(&format!("Creating {app}")), "{out}");
    assert!(out.contains("hello world\n"), "{out}");
    // A failing line says so and the shell goes on; `exit` ends it.
    assert!(
        done.stderr.contains("is not a dokku command"),
        "{}",
        done.stderr
    );
    berth.cmd(["apps:exists", &app]).succeeds();

    // Every line is authorised as the key that opened the shell.
    let user = SshServer::add_key(&berth, "shelluser", "user");
    let done = server
        .ssh(["shell"])
        .identity(&user)
        .stdin("ssh-keys:add x /dev/null\napps:list\n")
        .succeeds();
    assert!(
        done.stderr.contains("ssh-keys:add requires the admin role"),
        "{}",
        done.stderr
    );
}
