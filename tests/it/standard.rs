//! Dokku's standard commands: `deploy`, `cleanup`, `report`, and
//! `trace:on`/`trace:off`.

use crate::harness::Berth;
use crate::source::{Deployed, container_of, docker_inspect, unique_app};

fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn exists(container: &str) -> bool {
    std::process::Command::new("docker")
        .args(["inspect", container])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn trace_on_stays_on_until_trace_off() {
    let berth = Berth::new();
    berth
        .cmd(["trace:on"])
        .succeeds()
        .stdout_has("-----> Enabling trace mode");
    assert_eq!(
        std::fs::read_to_string(berth.dokku_root().join(".dokkurc/DOKKU_TRACE")).unwrap(),
        "export DOKKU_TRACE=1\n"
    );
    let app = unique_app("trace");
    berth
        .cmd(["apps:create", &app])
        .succeeds()
        .stderr_has("+ trigger post-create");
    berth
        .cmd(["trace:off"])
        .succeeds()
        .stdout_has("-----> Disabling trace mode");
    let quiet = berth.cmd(["apps:destroy", &app, "--force"]).succeeds();
    assert!(!quiet.stderr.contains("+ trigger"), "{}", quiet.stderr);
    berth
        .cmd(["trace:on", "extra"])
        .fails(1)
        .stderr_has("extra");
}

#[test]
fn deploy_runs_the_built_image_again() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("redeploy");
    let before = container_of(&berth, &app, "web.1");
    berth
        .cmd(["deploy", &app])
        .succeeds()
        .stdout_has("Application deployed");
    let after = container_of(&berth, &app, "web.1");
    assert_ne!(before, after);
    assert_eq!(
        docker_inspect(&after, "{{.Config.Image}}"),
        format!("dokku/{app}:latest")
    );
    berth
        .cmd(["deploy", &app, "no/such:tag"])
        .fails(1)
        .stderr_has("Invalid image tag");
    berth
        .cmd(["deploy", &app, "missing-tag"])
        .fails(1)
        .stderr_has("not found");
    assert_eq!(container_of(&berth, &app, "web.1"), after);
}

#[test]
fn cleanup_removes_only_that_apps_exited_leftovers() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("cleanup");
    let other = unique_app("cleanup-other");
    let leftover = |owner: &str| {
        docker(&[
            "run",
            "--label",
            &format!("com.dokku.app-name={owner}"),
            "--label",
            "dokku=",
            "debian:bookworm-slim",
            "true",
        ]);
        docker(&[
            "ps",
            "-aq",
            "--latest",
            "--filter",
            &format!("label=com.dokku.app-name={owner}"),
        ])
    };
    let mine = leftover(&app);
    let theirs = leftover(&other);
    // A stopped app keeps its containers for ps:start.
    berth.cmd(["ps:stop", &app]).succeeds();
    let stopped = container_of(&berth, &app, "web.1");

    berth
        .cmd(["cleanup", &app])
        .succeeds()
        .stdout_has("Removed 1 exited container(s)");
    assert!(!exists(&mine));
    assert!(exists(&theirs));
    assert!(exists(&stopped));
    berth.cmd(["ps:start", &app]).succeeds();
    docker(&["rm", "-f", &theirs]);
    berth
        .cmd(["cleanup", "no-such-app"])
        .fails(20)
        .stderr_has("App no-such-app does not exist");
}

#[test]
fn report_gathers_every_plugins_report() {
    let berth = Berth::new();
    let app = unique_app("report");
    berth.app(&app);
    let done = berth.cmd(["report", &app]).succeeds();
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    for section in [
        "app information",
        "builder information",
        "checks information",
        "domains information",
        "git information",
        "ps information",
        "scheduler information",
    ] {
        assert!(
            out.contains(&format!("{app} {section}")),
            "{section}:\n{out}"
        );
    }
    let all = berth.cmd(["report"]).succeeds();
    let all = String::from_utf8_lossy(&all.stdout).into_owned();
    assert!(
        all.contains("-----> dokku version: dokku version 0.38"),
        "{all}"
    );
    assert!(all.contains("-----> docker version: "), "{all}");
    assert!(all.contains(&format!("{app} app information")), "{all}");
}
