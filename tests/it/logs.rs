//! `logs:set max-size` applied to deployed containers, `logs:report`, and
//! `logs:failed`: the output of a deploy's container that failed its
//! check, kept after the container is gone.

use crate::harness::Berth;
use crate::source::{
    Deployed, container_of, docker_inspect as inspect, dyno_addr, http_get, unique_app,
};

fn log_config(berth: &Berth, app: &str) -> String {
    inspect(
        &container_of(berth, app, "web.1"),
        "{{json .HostConfig.LogConfig.Config}}",
    )
}

#[test]
fn max_size_reaches_the_containers_and_failed_deploys_keep_their_output() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("logs");
    assert_eq!(log_config(&berth, &app), r#"{"max-size":"10m"}"#);

    berth
        .cmd(["logs:set", &app, "max-size", "20m"])
        .succeeds()
        .stdout_is("=====> Setting max-size to 20m\n");
    berth
        .cmd(["logs:report", &app, "--logs-computed-max-size"])
        .succeeds()
        .stdout_is("20m\n");
    berth.cmd(["ps:restart", &app]).succeeds();
    assert_eq!(log_config(&berth, &app), r#"{"max-size":"20m"}"#);

    berth
        .cmd(["logs:set", &app, "max-size", "unlimited"])
        .succeeds();
    berth.cmd(["ps:restart", &app]).succeeds();
    assert_eq!(log_config(&berth, &app), "{}");

    // -t follows: a request made after it started shows up.
    let mut follow = berth
        .cmd(["logs", &app, "-t", "-n", "0", "-p", "web"])
        .spawn();
    let stdout = follow.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = dyno_addr(&berth, &app, "web.1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = None;
    while seen.is_none() && std::time::Instant::now() < deadline {
        let _ = http_get(&addr, "x", "/followed");
        if let Ok(line) = lines_rx.recv_timeout(std::time::Duration::from_millis(500)) {
            seen = Some(line);
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let seen = seen.expect("logs -t printed the request");
    assert!(
        seen.ends_with(&format!(" {app}[web.1]: GET /followed")),
        "{seen}"
    );

    // Nothing failed yet.
    berth
        .cmd(["logs:failed", &app])
        .fails(1)
        .stderr_has(&format!("No failed containers found for {app}"));

    source
        .write(
            "Procfile",
            "web: perl -e \"$|=1; print qq(crashing-on-start\\n); print qq(second line); exit 3\"\n",
        )
        .commit("crash");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("Could not start due to 1 failed checks (web.1)");
    let failed = berth.cmd(["logs:failed", &app]).succeeds().stdout();
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines.len(), 2, "{failed}");
    assert!(
        lines[0].ends_with(&format!(" {app}[web.1]: crashing-on-start")),
        "{failed}"
    );
    assert!(
        lines[1].ends_with(&format!(" {app}[web.1]: second line")),
        "{failed}"
    );
    assert!(
        berth
            .lib_root()
            .join("data/logs")
            .join(&app)
            .join("failed/web.1.log")
            .exists()
    );
    // The container itself is gone; its output stays.
    let other = unique_app("logs");
    berth.app(&other);
    let all = berth.cmd(["logs:failed", "--all"]).succeeds().stdout();
    assert_eq!(all, failed);

    // A later failed deploy replaces what an earlier one left.
    source
        .write(
            "Procfile",
            "web: perl -e \"print qq(other-crash\\n); exit 4\"\n",
        )
        .commit("crash again");
    source.push_local(&berth, &app, "master").fails(1);
    let again = berth.cmd(["logs:failed", &app]).succeeds().stdout();
    assert!(again.contains("other-crash"), "{again}");
    assert!(!again.contains("crashing-on-start"), "{again}");

    // The running release still answers `logs`.
    let quiet = berth
        .cmd(["logs", &app, "-q", "-n", "1", "-p", "web"])
        .succeeds()
        .stdout();
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    assert!(!quiet.contains(&app), "-q prints no names: {quiet}");
    berth
        .cmd(["logs", &app, "-p", "nope"])
        .fails(1)
        .stderr_has("No containers found for process type nope");

    berth.cmd(["apps:destroy", &app, "--force"]).succeeds();
    assert!(!berth.lib_root().join("data/logs").join(&app).exists());
}

#[test]
fn logs_properties_and_bad_input() {
    let berth = Berth::new();
    let app = unique_app("logs");
    berth.app(&app);
    berth
        .cmd(["logs:set", "--global", "max-size", "50m"])
        .succeeds();
    berth
        .cmd(["logs:report", &app])
        .succeeds()
        .stdout_is(&format!(
            "=====> {app} logs information\n       \
             Logs computed max size:        50m\n       \
             Logs global max size:          50m\n       \
             Logs max size:                 \n"
        ));
    berth
        .cmd(["logs:report", &app, "--format", "json"])
        .succeeds()
        .stdout_is(
            "{\"computed-max-size\":\"50m\",\"global-max-size\":\"50m\",\"logs-computed-max-size\":\"50m\",\
             \"logs-global-max-size\":\"50m\",\"logs-max-size\":\"\",\"max-size\":\"\"}\n",
        );
    berth
        .cmd(["logs:set", "--global", "max-size"])
        .succeeds()
        .stdout_is("=====> Unsetting max-size\n");
    berth
        .cmd(["logs:report", "--global", "--logs-computed-max-size"])
        .succeeds()
        .stdout_is("10m\n");

    for (value, message) in [
        ("10", "Invalid max-size unit measure"),
        ("10M", "Invalid max-size unit measure"),
        ("1.5m", "Invalid max-size integer"),
        ("m", "Invalid max-size integer"),
    ] {
        berth
            .cmd(["logs:set", &app, "max-size", value])
            .fails(1)
            .stderr_has(message);
    }
    berth
        .cmd(["logs:set", &app, "vector-sink", "console://"])
        .fails(1)
        .stderr_has("Invalid property specified, valid properties include: max-size");
    berth
        .cmd(["logs:set", "ghost-app", "max-size", "1m"])
        .fails(20);
    assert!(!berth.lib_root().join("config/logs").join(&app).exists());

    berth
        .cmd(["logs:failed"])
        .fails(1)
        .stderr_has("Please specify an app");
    berth.cmd(["logs:failed", "ghost-app"]).fails(20);
    berth
        .cmd(["logs:failed", "--all", &app])
        .fails(1)
        .stderr_has("--all names no app");
    berth
        .cmd(["logs:failed", "--all"])
        .fails(1)
        .stderr_has("No failed containers found");
    berth
        .cmd(["logs", &app])
        .fails(1)
        .stderr_has(&format!("App {app} has not been deployed"));
    berth
        .cmd(["logs", &app, "-n", "many"])
        .fails(1)
        .stderr_has("Invalid value for");
}

#[test]
fn an_apps_own_max_size_option_wins() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth
        .deploy("logsize")
        .setup(|app| {
            berth
                .cmd([
                    "docker-options:add",
                    app,
                    "deploy",
                    "--log-opt max-size=50m",
                ])
                .succeeds();
        })
        .push();
    assert_eq!(log_config(&berth, &app), r#"{"max-size":"50m"}"#);
}
