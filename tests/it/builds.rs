//! Dokku 0.38's build records on the real engine: every push and deploy
//! leaves `data/builds/APP/ID.json` and its output; `builds:cancel` stops
//! a long build while the running release keeps serving; a killed deploy
//! reads `abandoned` until `builds:prune`; retention keeps the newest.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Berth;
use crate::source::{Deployed, web_answer};

/// The app's records, newest first, as `builds:list APP --format json`
/// shows them.
fn records(berth: &Berth, app: &str) -> Vec<Value> {
    let done = berth
        .cmd(["builds:list", app, "--format", "json"])
        .succeeds();
    match serde_json::from_str(&done.stdout()).expect("builds:list JSON") {
        Value::Array(list) => list,
        other => panic!("builds:list gave {other}"),
    }
}

fn info(berth: &Berth, app: &str, id: &str) -> Value {
    let done = berth
        .cmd(["builds:info", app, id, "--format", "json"])
        .succeeds();
    serde_json::from_str(&done.stdout()).expect("builds:info JSON")
}

/// A Dockerfile whose build prints `marker` (in capitals) and then sleeps
/// far longer than any test waits.
fn slow_dockerfile(marker: &str) -> String {
    format!(
        "FROM debian:bookworm-slim\nRUN echo {marker} | tr a-z A-Z && sleep 90\nCOPY server.pl /app/server.pl\nCMD [\"perl\", \"/app/server.pl\"]\n"
    )
}

/// Waits until the app has a running record whose log shows `text`;
/// returns the record's id and pid.
fn running_build_showing(berth: &Berth, app: &str, text: &str) -> (String, u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = berth.lib_root().join("data/builds").join(app);
    loop {
        let running = records(berth, app)
            .into_iter()
            .find(|r| r["status"] == "running");
        if let Some(record) = running {
            let id = record["id"].as_str().unwrap().to_string();
            let log = std::fs::read_to_string(dir.join(format!("{id}.log"))).unwrap_or_default();
            if log.contains(text) {
                return (id, record["pid"].as_u64().unwrap());
            }
        }
        assert!(
            Instant::now() < deadline,
            "no running build of {app} showed {text:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn pushes_and_config_changes_are_recorded_with_their_output() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("builds");

    let list = records(&berth, &app);
    assert_eq!(list.len(), 1, "{list:?}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 14);
    berth
        .cmd(["builds:list", &app])
        .succeeds()
        .stdout_has(&format!("=====> {app} builds"))
        .stdout_has("Build ID")
        .stdout_has(&id)
        .stdout_has("succeeded");

    let record = info(&berth, &app, &id);
    for field in [
        "id",
        "app",
        "kind",
        "pid",
        "started_at",
        "finished_at",
        "status",
        "source",
        "exit_code",
        "log_path",
    ] {
        assert!(record.get(field).is_some(), "{field} missing: {record}");
    }
    assert_eq!(record["app"], app.as_str());
    assert_eq!(record["kind"], "build");
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["source"], "git-hook");
    assert_eq!(record["exit_code"], 0);
    assert!(record["pid"].as_u64().unwrap() > 0);
    assert!(record["finished_at"].as_str().unwrap().ends_with('Z'));
    let log_path = record["log_path"].as_str().unwrap();
    assert!(
        log_path.ends_with(&format!("data/builds/{app}/{id}.log")),
        "{log_path}"
    );
    berth
        .cmd(["builds:info", &app, &id])
        .succeeds()
        .stdout_has(&format!("=====> Build {id}"))
        .stdout_has("       Status:     succeeded")
        .stdout_has("       Duration:   ");

    // The log holds berth's lines and the engine's build stream.
    berth
        .cmd(["builds:output", &app, &id])
        .succeeds()
        .stdout_has(&format!("-----> Building {app} from Dockerfile"))
        .stdout_has("Step 1/")
        .stdout_has("FROM debian:bookworm-slim")
        .stdout_has("=====> Application deployed:");
    berth
        .cmd(["builds:report", &app, "--build-status"])
        .succeeds()
        .stdout_is("succeeded\n");

    // A config change redeploys the image: a `deploy`, from config-redeploy.
    berth
        .cmd(["config:set", &app, "MESSAGE=recorded"])
        .succeeds();
    let list = records(&berth, &app);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0]["kind"], "deploy");
    assert_eq!(list[0]["source"], "config-redeploy");
    assert_eq!(list[0]["status"], "succeeded");
    assert!(list[0]["id"].as_str().unwrap() > id.as_str(), "ids sort");
    let deploy_id = list[0]["id"].as_str().unwrap().to_string();
    berth
        .cmd(["builds:output", &app, &deploy_id])
        .succeeds()
        .stdout_has(&format!("Deploying {app} via the docker-local scheduler"));
    berth
        .cmd(["builds:list", &app, "--kind", "build", "--format", "json"])
        .succeeds()
        .stdout_has(&id);
    assert!(
        !berth
            .cmd(["builds:list", &app, "--kind", "build"])
            .succeeds()
            .stdout()
            .contains(&deploy_id)
    );
    // Nothing runs now.
    assert!(
        !berth
            .cmd(["builds:list"])
            .succeeds()
            .stdout_has("=====> Currently running builds")
            .stdout()
            .contains(&app)
    );
    berth
        .cmd(["builds:cancel", &app])
        .fails(1)
        .stderr_has(&format!("No build is running for {app}"));
    berth
        .cmd(["builds:info", &app, "bogus"])
        .fails(1)
        .stderr_has(&format!("No build bogus found for {app}"));
    berth
        .cmd(["builds:list", &app, "--status", "sleeping"])
        .fails(1)
        .stderr_has("Invalid --status value specified: sleeping");
    berth.cmd(["builds:list", "ghost"]).fails(20);
}

#[test]
fn cancel_stops_a_long_build_and_the_previous_release_keeps_serving() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("builds");
    let marker = format!("slow-{app}");
    source
        .write("Dockerfile", &slow_dockerfile(&marker))
        .commit("slow");
    let push = source.push_local(&berth, &app, "master");
    let started = Instant::now();
    let pushing = std::thread::spawn(move || push.run());

    let (id, _) = running_build_showing(&berth, &app, &marker.to_uppercase());
    // A follower of the live output ends with the build.
    let follow = berth.cmd(["builds:output", &app, "current"]);
    let following = std::thread::spawn(move || follow.run());
    berth
        .cmd(["builds:cancel", &app])
        .succeeds()
        .stdout_has(&format!("Canceling build {id} of {app}"))
        .stdout_has(&format!("Build {id} of {app} canceled"));

    let pushed = pushing.join().unwrap();
    pushed.assert_code(1);
    pushed.stderr_has(&format!(
        " !     Build {id} of {app} canceled by builds:cancel"
    ));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the build was stopped, not waited for"
    );
    let followed = following.join().unwrap();
    followed.assert_code(0);
    followed
        .stdout_has(&marker.to_uppercase())
        .stdout_has("canceled by builds:cancel");

    let record = info(&berth, &app, &id);
    assert_eq!(record["status"], "canceled");
    assert_eq!(record["exit_code"], 1);
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".to_string()));
    berth
        .cmd(["builds:output", &app, &id])
        .succeeds()
        .stdout_has(" !     ")
        .stdout_has("canceled by builds:cancel");
    // Final already: nothing to cancel.
    berth
        .cmd(["builds:cancel", &app])
        .fails(1)
        .stderr_has("No build is running");
}

#[test]
fn a_killed_deploy_reads_abandoned_until_pruned() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("builds");
    let marker = format!("killed-{app}");
    source
        .write("Dockerfile", &slow_dockerfile(&marker))
        .commit("slow");
    let push = source.push_local(&berth, &app, "master");
    let pushing = std::thread::spawn(move || push.run());
    let (id, pid) = running_build_showing(&berth, &app, &marker.to_uppercase());
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    pushing.join().unwrap().assert_code(1);

    assert_eq!(info(&berth, &app, &id)["status"], "abandoned");
    berth
        .cmd(["builds:list", &app, "--status", "abandoned"])
        .succeeds()
        .stdout_has(&id)
        .stdout_has("abandoned");
    berth
        .cmd(["builds:report", &app, "--build-status"])
        .succeeds()
        .stdout_is("abandoned\n");
    // On disk it still says running: only the display derives abandoned.
    let on_disk = std::fs::read_to_string(
        berth
            .lib_root()
            .join(format!("data/builds/{app}/{id}.json")),
    )
    .unwrap();
    assert!(on_disk.contains(r#""status":"running""#), "{on_disk}");

    berth
        .cmd(["builds:prune", &app])
        .succeeds()
        .stdout_has("1 abandoned marked failed");
    let record = info(&berth, &app, &id);
    assert_eq!(record["status"], "failed");
    assert!(record["finished_at"].is_string());
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".to_string()));
}

#[test]
fn retention_keeps_the_newest_records() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("builds");
    berth
        .cmd(["builds:set", &app, "retention", "0"])
        .fails(1)
        .stderr_has("Invalid value for retention: 0");
    berth
        .cmd(["builds:set", &app, "retention", "2"])
        .succeeds()
        .stdout_has("=====> Setting retention to 2");
    for _ in 0..3 {
        berth.cmd(["ps:restart", &app]).succeeds();
    }
    let list = records(&berth, &app);
    assert_eq!(list.len(), 2, "{list:?}");
    for record in &list {
        assert_eq!(record["source"], "ps:restart");
        assert_eq!(record["kind"], "deploy");
    }
    let mut files: Vec<String> = std::fs::read_dir(berth.lib_root().join("data/builds").join(&app))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    files.sort();
    let mut expected: Vec<String> = list
        .iter()
        .flat_map(|r| {
            let id = r["id"].as_str().unwrap();
            [format!("{id}.json"), format!("{id}.log")]
        })
        .collect();
    expected.sort();
    assert_eq!(files, expected, "pruned records leave no log behind");

    berth
        .cmd(["builds:set", "--global", "retention", "7"])
        .succeeds();
    berth.cmd(["builds:set", &app, "retention"]).succeeds();
    berth
        .cmd(["builds:report", &app, "--builds-computed-retention"])
        .succeeds()
        .stdout_is("7\n");
    berth
        .cmd(["builds:prune", "--all-apps"])
        .succeeds()
        .stdout_has(&format!(
            "Pruned builds of {app}: 0 abandoned marked failed, 0 removed"
        ));
}

#[test]
fn global_retention_and_pruning_every_app_need_an_admin() {
    let berth = Berth::new();
    let app = crate::source::unique_app("builds");
    berth.app(&app);
    let server = crate::ssh_server::SshServer::start(&berth);
    let mallory = crate::ssh_server::SshServer::add_key(&berth, "mallory", "user");
    for command in [
        vec!["builds:set", "--global", "retention", "1"],
        vec!["builds:prune", "--all-apps"],
    ] {
        let refused = format!(
            " !     {} {} requires the admin role\n",
            command[0], command[1]
        );
        server
            .ssh(command)
            .identity(&mallory)
            .fails(1)
            .stderr_is(&refused);
    }
    berth
        .cmd(["builds:report", "--global", "--builds-global-retention"])
        .succeeds()
        .stdout_is("\n");
    // An app's own retention is the app's business.
    server
        .ssh(["builds:set", &app, "retention", "3"])
        .identity(&mallory)
        .succeeds();
    server
        .ssh(["builds:set", "--global", "retention", "9"])
        .succeeds();
    berth
        .cmd(["builds:report", &app, "--builds-computed-retention"])
        .succeeds()
        .stdout_is("3\n");
}
