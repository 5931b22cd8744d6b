//! One-off containers: `run:detached` listed by `run:list` (text and
//! JSON), followed by `run:logs`, stopped by `run:stop`, removed by
//! `run:retire` once past their TTL; `--container` confined to one-off
//! containers of apps the caller may use; bad input refused.

use std::time::{Duration, Instant};

use crate::harness::Berth;
use crate::source::{Deployed, container_of, docker_inspect};
use crate::ssh_server::SshServer;

fn exists(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["container", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn detached_runs_are_listed_logged_and_stopped() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("oneoff");
    let name = berth
        .cmd([
            "run:detached",
            &app,
            "sh",
            "-c",
            "echo hello-from-run; sleep 300",
        ])
        .succeeds()
        .stdout()
        .trim()
        .to_string();
    assert!(name.starts_with(&format!("{app}.run.")), "{name}");
    assert_eq!(
        docker_inspect(
            &name,
            "{{index .Config.Labels \"com.dokku.container-type\"}} {{index .Config.Labels \"com.dokku.active-deadline-seconds\"}} {{.HostConfig.AutoRemove}}"
        ),
        "run 86400 true"
    );

    let listed = berth.cmd(["run:list", &app]).succeeds().stdout();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines[0], format!("=====> {app} run containers"));
    assert!(
        lines[1].starts_with("NAMES") && lines[1].contains("COMMAND"),
        "{listed}"
    );
    assert!(lines[1].ends_with("CREATED"), "{listed}");
    assert!(
        lines[2].starts_with(&name) && lines[2].ends_with("ago"),
        "{listed}"
    );
    assert_eq!(lines.len(), 3, "{listed}");

    let json = berth
        .cmd(["run:list", &app, "--format", "json"])
        .succeeds()
        .stdout();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let entry = &json[0];
    assert_eq!(entry["name"], name.as_str());
    assert_eq!(entry["state"], "running");
    assert!(
        entry["command"].as_str().unwrap().contains("sleep 300"),
        "{json}"
    );
    assert!(
        entry["created_at"].as_str().unwrap().ends_with("+0000 UTC"),
        "{json}"
    );
    assert_eq!(json.as_array().unwrap().len(), 1);

    wait_for("the run's output", || {
        berth
            .cmd(["run:logs", &app])
            .run()
            .stdout()
            .contains(&format!("{app}[run."))
    });
    berth
        .cmd(["run:logs", &app])
        .succeeds()
        .stdout_has("hello-from-run");
    berth
        .cmd(["run:logs", "--container", &name, "-q", "-n", "1"])
        .succeeds()
        .stdout_is("hello-from-run\n");

    // The scheduler's sweep of what a killed deploy left does not take a
    // one-off container for an orphan dyno.
    berth.cmd(["ps:restart", &app]).succeeds();
    assert!(exists(&name), "a restart removed the one-off container");

    berth
        .cmd(["run:stop", "--container", &name])
        .succeeds()
        .stdout_is(&format!("{name}\n"));
    wait_for("the stopped container to go", || !exists(&name));
    berth
        .cmd(["run:list", &app, "--format", "json"])
        .succeeds()
        .stdout_is("[]\n");

    // By app: every one-off container of it.
    let one = berth
        .cmd(["run:detached", &app, "sleep", "300"])
        .succeeds()
        .stdout();
    let two = berth
        .cmd(["run:detached", &app, "sleep", "300"])
        .succeeds()
        .stdout();
    let stopped = berth.cmd(["run:stop", &app]).succeeds().stdout();
    assert!(
        stopped.contains(one.trim()) && stopped.contains(two.trim()),
        "{stopped}"
    );
}

#[test]
fn containers_past_their_ttl_are_retired() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("ttl");
    let short = berth
        .cmd(["run:detached", "--ttl-seconds", "1", &app, "sleep", "300"])
        .succeeds()
        .stdout()
        .trim()
        .to_string();
    let long = berth
        .cmd(["run:detached", &app, "sleep", "300"])
        .succeeds()
        .stdout()
        .trim()
        .to_string();
    assert_eq!(
        docker_inspect(
            &short,
            "{{index .Config.Labels \"com.dokku.active-deadline-seconds\"}}"
        ),
        "1"
    );
    std::thread::sleep(Duration::from_millis(2200));
    berth
        .cmd(["run:retire"])
        .succeeds()
        .stdout_has("-----> Retiring expired run and cron containers")
        .stdout_has(&format!("Removed {short}"));
    assert!(!exists(&short), "the expired container is still there");
    assert!(exists(&long), "a container within its TTL was retired");
    berth.cmd(["run:stop", &app]).succeeds().stdout_has(&long);
}

#[test]
fn a_named_container_must_be_a_one_off_of_an_app_the_caller_may_use() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let mallory = SshServer::add_key(&berth, "mallory", "user");
    let Deployed { app, .. } = berth.deployed("confined");
    let name = berth
        .cmd(["run:detached", &app, "sleep", "300"])
        .succeeds()
        .stdout()
        .trim()
        .to_string();
    berth.cmd(["acl:add", &app, "admin"]).succeeds();
    let refused = format!(" !     Invalid run container specified: {name}\n");
    for command in ["run:stop", "run:logs"] {
        server
            .ssh([command, "--container", &name])
            .identity(&mallory)
            .fails(1)
            .stderr_is(&refused);
    }
    assert!(exists(&name), "a refused run:stop stopped the container");
    // A dyno is not a one-off container, whoever asks.
    let web = container_of(&berth, &app, "web.1");
    let dyno_name = format!("{app}.web.1");
    berth
        .cmd(["run:stop", "--container", &dyno_name])
        .fails(1)
        .stderr_is(&format!(
            " !     Invalid run container specified: {dyno_name}\n"
        ));
    assert_eq!(docker_inspect(&web, "{{.State.Running}}"), "true");
    server
        .ssh(["run:stop", "--container", &name])
        .succeeds()
        .stdout_is(&format!("{name}\n"));
}

#[test]
fn bad_run_input_is_refused() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("badrun");
    for ttl in ["0", "-1", "abc", "$(id)"] {
        for command in ["run", "run:detached"] {
            berth
                .cmd([command, "--ttl-seconds", ttl, &app, "true"])
                .fails(1)
                .stderr_is(" !     --ttl-seconds must be a positive integer\n");
        }
    }
    berth
        .cmd(["run:detached", "--force-tty", "--no-tty", &app, "true"])
        .fails(1)
        .stderr_is(" !     Cannot specify both --force-tty and --no-tty\n");
    berth
        .cmd(["run:list", &app, "--format", "xml"])
        .fails(1)
        .stderr_has("Invalid --format value specified: xml");
    berth
        .cmd(["run:logs", "--container", "no-such.run.1"])
        .fails(1)
        .stderr_is(" !     Invalid run container specified: no-such.run.1\n");
    berth
        .cmd(["run:stop", "--container", "../etc"])
        .fails(1)
        .stderr_is(" !     Invalid run container specified: ../etc\n");
    berth
        .cmd(["run:stop", &app, "--container", "x"])
        .fails(1)
        .stderr_has("an app or --container, not both");
    berth.cmd(["run:list", "no-such-app"]).fails(20);
    berth.cmd(["run:detached", "no-such-app", "true"]).fails(20);
    berth
        .cmd(["run:list", &app, "--format", "json"])
        .succeeds()
        .stdout_is("[]\n");
}
