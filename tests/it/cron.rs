//! app.json cron tasks: listed, reported, run on demand (attached and
//! detached, their concurrency policy held), suspended and resumed; fired
//! by `berth server` itself on their schedule, missed runs caught up once;
//! a bad schedule fails the deploy.

use std::time::{Duration, Instant};

use crate::harness::Berth;
use crate::source::{Deployed, Source, docker_inspect, unique_app};
use crate::ssh_server::SshServer;

const TASKS: &str = r#"{
  "cron": [
    {"command": "sh -c 'echo cron-ran-$GREETING'", "schedule": "* * * * *"},
    {"command": "sleep 300", "schedule": "@daily", "concurrency_policy": "forbid"},
    {"command": "sleep 302", "schedule": "@hourly", "concurrency_policy": "replace"}
  ]
}"#;

/// The ids of the app's tasks, in app.json order.
fn ids(berth: &Berth, app: &str) -> Vec<String> {
    let json = berth
        .cmd(["cron:list", app, "--format", "json"])
        .succeeds()
        .stdout();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// The running containers of a cron task.
fn cron_containers(id: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!("label=com.dokku.cron-id={id}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn deployed_with(berth: &Berth, prefix: &str, app_json: &str) -> Deployed {
    berth
        .deploy(prefix)
        .setup(|app| {
            berth
                .cmd(["config:set", "--no-restart", app, "GREETING=hi"])
                .succeeds();
        })
        .source(|s| {
            s.write("app.json", app_json).commit("cron");
        })
        .push()
}

#[test]
fn tasks_are_listed_run_suspended_and_resumed() {
    let berth = Berth::new();
    let Deployed { app, .. } = deployed_with(&berth, "cron", TASKS);
    let ids = ids(&berth, &app);
    assert_eq!(ids.len(), 3);
    let (echo, sleeper, replaced) = (&ids[0], &ids[1], &ids[2]);
    assert!(
        ids.iter().all(|id| id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())),
        "{ids:?}"
    );

    let listed = berth.cmd(["cron:list", &app]).succeeds().stdout();
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("ID "), "{listed}");
    assert!(
        lines[0].contains("Schedule") && lines[0].contains("Concurrency"),
        "{listed}"
    );
    assert!(lines[0].ends_with("Maintenance  Command"), "{listed}");
    assert!(lines[1].starts_with(echo.as_str()), "{listed}");
    assert!(
        lines[1].contains("* * * * *") && lines[1].contains("allow"),
        "{listed}"
    );
    assert!(
        lines[1].ends_with("false        sh -c 'echo cron-ran-$GREETING'"),
        "{listed}"
    );
    assert!(
        lines[2].contains("@daily") && lines[2].contains("forbid"),
        "{listed}"
    );

    // On demand, attached: the app's environment, the command exec'd.
    berth
        .cmd(["cron:run", &app, echo])
        .succeeds()
        .stdout_has("cron-ran-hi");

    // Detached: a labelled one-off container; forbid holds while it runs.
    let name = berth
        .cmd([
            "cron:run",
            &app,
            sleeper,
            "--detach",
            "--ttl-seconds",
            "600",
        ])
        .succeeds()
        .stdout()
        .trim()
        .to_string();
    assert!(name.starts_with(&format!("{app}.cron.")), "{name}");
    assert_eq!(
        docker_inspect(
            &name,
            "{{index .Config.Labels \"com.dokku.cron-id\"}} {{index .Config.Labels \"com.dokku.container-type\"}} {{index .Config.Labels \"com.dokku.active-deadline-seconds\"}}"
        ),
        format!("{sleeper} run 600")
    );
    berth
        .cmd(["cron:run", &app, sleeper, "--detach"])
        .succeeds()
        .stdout_has("already running, skipping");
    assert_eq!(cron_containers(sleeper).len(), 1);
    berth.cmd(["run:stop", &app]).succeeds().stdout_has(&name);

    // replace: the running one is stopped, the new one runs.
    let first = berth
        .cmd(["cron:run", &app, replaced, "--detach"])
        .succeeds()
        .stdout()
        .trim()
        .to_string();
    let second = berth
        .cmd(["cron:run", &app, replaced, "--detach"])
        .succeeds()
        .stdout_has(&format!("Stopping {first} (concurrency_policy replace)"))
        .stdout()
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert_ne!(first, second);
    let running = cron_containers(replaced);
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(docker_inspect(&second, "{{.State.Running}}"), "true");
    berth.cmd(["run:stop", &app]).succeeds().stdout_has(&second);

    // Suspend and resume one task.
    berth
        .cmd(["cron:suspend", &app, echo])
        .succeeds()
        .stdout_has(&format!("Suspending cron task {echo}"));
    let listed = berth.cmd(["cron:list", &app]).succeeds().stdout();
    assert!(
        listed.lines().nth(1).unwrap().contains("true (task)"),
        "{listed}"
    );
    berth
        .cmd(["cron:report", &app, &format!("--cron-maintenance-{echo}")])
        .succeeds()
        .stdout_is("true\n");
    berth.cmd(["cron:resume", &app, echo]).succeeds();
    berth
        .cmd(["cron:report", &app, &format!("--cron-maintenance-{echo}")])
        .succeeds()
        .stdout_is("false\n");

    // The whole app, then the report.
    berth
        .cmd(["cron:set", &app, "maintenance", "true"])
        .succeeds();
    let listed = berth.cmd(["cron:list", &app]).succeeds().stdout();
    assert!(
        listed.lines().nth(2).unwrap().contains("true (app)"),
        "{listed}"
    );
    berth
        .cmd(["cron:report", &app, "--cron-task-count"])
        .succeeds()
        .stdout_is("3\n");
    berth
        .cmd(["cron:report", &app, "--cron-computed-maintenance"])
        .succeeds()
        .stdout_is("true\n");
    berth.cmd(["cron:set", &app, "maintenance"]).succeeds();
    berth
        .cmd(["cron:set", "--global", "mailto", "ops@example.com"])
        .succeeds();
    berth
        .cmd(["cron:report", "--global", "--cron-computed-mailto"])
        .succeeds()
        .stdout_is("ops@example.com\n");
}

#[test]
fn bad_cron_input_is_refused() {
    let berth = Berth::new();
    let app = unique_app("badcron");
    berth.app(&app);
    let source = Source::new("hello");
    source
        .write(
            "app.json",
            r#"{"cron": [{"command": "true", "schedule": "* * *"}]}"#,
        )
        .commit("bad schedule");
    source
        .push_local(&berth, &app, "master")
        .run()
        .stderr_has("Invalid cron schedule for task 1 (* * *)");
    berth
        .cmd(["ps:report", &app, "--deployed"])
        .succeeds()
        .stdout_is("false\n");
    source
        .write(
            "app.json",
            r#"{"cron": [{"command": "echo a > /tmp/x", "schedule": "@daily"}]}"#,
        )
        .commit("shell operator");
    source
        .push_local(&berth, &app, "master")
        .run()
        .stderr_has("the shell operator > is not interpreted");
    source
        .write(
            "app.json",
            r#"{"cron": [{"command": "true", "schedule": "@daily", "concurrency_policy": "sometimes"}]}"#,
        )
        .commit("bad policy");
    source
        .push_local(&berth, &app, "master")
        .run()
        .stderr_has("Invalid concurrency_policy for cron task 1: sometimes");

    berth
        .cmd(["cron:run", &app, "nope"])
        .fails(1)
        .stderr_is(" !     Invalid cron id specified: nope\n");
    berth
        .cmd(["cron:suspend", &app])
        .fails(1)
        .stderr_is(" !     Please specify a cron id\n");
    berth
        .cmd(["cron:set", &app, "mailto", "a@b"])
        .fails(1)
        .stderr_is(" !     Property can only be specified globally\n");
    berth
        .cmd(["cron:set", &app, "maintenance", "maybe"])
        .fails(1)
        .stderr_is(" !     Invalid value maybe: use true or false\n");
    berth
        .cmd(["cron:set", &app, "schedule", "x"])
        .fails(1)
        .stderr_has("Invalid property specified");
    berth
        .cmd(["cron:list", &app, "--format", "yaml"])
        .fails(1)
        .stderr_has("Invalid --format value specified: yaml");
    berth.cmd(["cron:list", "no-such-app"]).fails(20);
}

/// The one test that waits for a minute boundary (up to ~70 s).
#[test]
fn the_server_fires_due_tasks_and_catches_up_missed_ones_once() {
    let berth = Berth::new();
    let tasks = r#"{"cron": [
        {"command": "sleep 290", "schedule": "* * * * *", "concurrency_policy": "forbid"},
        {"command": "sleep 291", "schedule": "* * * * *"}
    ]}"#;
    let Deployed { app, .. } = deployed_with(&berth, "cronsrv", tasks);
    let ids = ids(&berth, &app);
    let (fired, suspended) = (&ids[0], &ids[1]);
    berth.cmd(["cron:suspend", &app, suspended]).succeeds();

    // The platform was down for two minutes: its first look catches up.
    let tick = berth.lib_root().join("data/cron/--global/last-tick");
    std::fs::create_dir_all(tick.parent().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(&tick, (now - 120).to_string()).unwrap();
    let server = SshServer::start(&berth);
    let wait = |what: &str, limit: Duration, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the server said:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    wait("the missed run", Duration::from_secs(20), &|| {
        !cron_containers(fired).is_empty()
    });
    assert_eq!(cron_containers(fired).len(), 1, "caught up more than once");
    let first = cron_containers(fired);

    // Then on schedule, at the next minute.
    berth.cmd(["run:stop", &app]).succeeds();
    wait("the stopped run to go", Duration::from_secs(20), &|| {
        cron_containers(fired).is_empty()
    });
    wait("the scheduled run", Duration::from_secs(75), &|| {
        !cron_containers(fired).is_empty()
    });
    assert_ne!(cron_containers(fired), first);
    assert!(
        cron_containers(suspended).is_empty(),
        "a suspended task ran"
    );
    let recorded: u64 = std::fs::read_to_string(&tick)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(recorded > now, "the last look was not recorded");
    berth.cmd(["run:stop", &app]).succeeds();
    drop(server);
}
