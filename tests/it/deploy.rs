//! Pushes deploy real containers on the real engine (scripts/test starts it).

use crate::harness::Berth;
use crate::source::{Deployed, container_of, dyno_addr, http_get, web_answer};

#[test]
fn push_deploys_and_second_push_deploys_new_code() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("hello");
    let addr = dyno_addr(&berth, &app, "web.1");
    assert_eq!(http_get(&addr, "x", "/").unwrap(), (200, "hello\n".into()));
    let first_rev = berth
        .cmd(["config:get", &app, "GIT_REV"])
        .succeeds()
        .stdout();

    let server = std::fs::read_to_string(source.path().join("server.pl")).unwrap();
    source
        .write(
            "server.pl",
            &server.replace("// 'hello'", "// 'hello again'"),
        )
        .commit("v2");
    source.push_local(&berth, &app, "master").succeeds();
    let addr = dyno_addr(&berth, &app, "web.1");
    assert_eq!(http_get(&addr, "x", "/").unwrap().1, "hello again\n");
    assert_ne!(
        berth
            .cmd(["config:get", &app, "GIT_REV"])
            .succeeds()
            .stdout(),
        first_rev
    );
    berth
        .cmd(["ps:report", &app, "--running"])
        .succeeds()
        .stdout_is("true\n");
}

#[test]
fn broken_dockerfile_rejects_push_and_keeps_release() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("hello");
    let addr = dyno_addr(&berth, &app, "web.1");
    let head =
        std::fs::read_to_string(berth.dokku_root().join(&app).join("refs/heads/master")).unwrap();

    source
        .write(
            "Dockerfile",
            "FROM debian:bookworm-slim\nRUN echo build-broke-here && false\n",
        )
        .commit("broken");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("build-broke-here")
        .stdout_has("pre-receive hook declined");
    let after =
        std::fs::read_to_string(berth.dokku_root().join(&app).join("refs/heads/master")).unwrap();
    assert_eq!(head, after, "a rejected push leaves the ref");
    assert_eq!(http_get(&addr, "x", "/").unwrap().1, "hello\n");
}

#[test]
fn container_that_exits_fails_the_deploy_with_its_output() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("hello");
    let addr = dyno_addr(&berth, &app, "web.1");
    source
        .write(
            "Procfile",
            "web: perl -e \"print qq(crashing-on-start\\n); exit 3\"\n",
        )
        .commit("crash");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("crashing-on-start")
        .stderr_has("Could not start due to 1 failed checks (web.1)");
    assert_eq!(
        http_get(&addr, "x", "/").unwrap().1,
        "hello\n",
        "old release still serves"
    );
    // The failed commit's Procfile must not become the running release's.
    berth.cmd(["ps:restart", &app]).succeeds();
    assert_eq!(
        web_answer(&berth, &app).1,
        "hello\n",
        "a restart runs the release that runs, not the failed one"
    );
}

#[test]
fn config_reaches_the_build_as_declared_build_args() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth
        .deploy("buildarg")
        .setup(|app| {
            berth
                .cmd(["config:set", app, "BUILD_GREETING=from-build-arg"])
                .succeeds();
        })
        .source(|source| {
            let dockerfile = std::fs::read_to_string(source.path().join("Dockerfile")).unwrap();
            source
                .write(
                    "Dockerfile",
                    &dockerfile.replace(
                        "EXPOSE 5000",
                        "ARG BUILD_GREETING\nRUN echo \"$BUILD_GREETING\" > /app/greeting\nEXPOSE 5000",
                    ),
                )
                .commit("build arg");
        })
        .push();
    berth
        .cmd(["run", &app, "cat", "/app/greeting"])
        .succeeds()
        .stdout_is("from-build-arg\n");
}

#[test]
fn other_branch_is_accepted_without_deploy() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("hello");
    source.git(&["checkout", "-q", "-b", "feature"]);
    source.commit("feature work");
    source
        .push_local(&berth, &app, "feature")
        .succeeds()
        .stderr_has("WARNING: deploy did not complete, you must push to master.");
}

#[test]
fn first_push_records_its_branch() {
    let berth = Berth::new();
    let Deployed { app, pushed, .. } = berth
        .deploy("main")
        .source(|source| {
            source.git(&["branch", "-m", "main"]);
        })
        .refspec("main")
        .push();
    pushed.stderr_has("-----> Set main as deploy-branch");
    berth
        .cmd(["git:report", &app, "--git-deploy-branch"])
        .succeeds()
        .stdout_is("main\n");
}

#[test]
fn config_change_restarts_with_new_env_unless_no_restart() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("hello");
    berth
        .cmd(["config:set", &app, "MESSAGE=from config"])
        .succeeds()
        .stdout_has(&format!("-----> Restarting app {app}"));
    let addr = dyno_addr(&berth, &app, "web.1");
    assert_eq!(http_get(&addr, "x", "/").unwrap().1, "from config\n");
    let done = berth
        .cmd(["config:set", "--no-restart", &app, "MESSAGE=later"])
        .succeeds();
    assert!(!done.stdout().contains("Restarting"));
    assert_eq!(http_get(&addr, "x", "/").unwrap().1, "from config\n");
}

#[test]
fn scale_run_logs_and_destroy() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("hello");
    berth
        .cmd(["ps:scale", &app, "web=2", "worker=1"])
        .succeeds()
        .stdout_has(&format!("-----> Scaling {app} processes: web=2 worker=1"));
    assert_eq!(
        http_get(&dyno_addr(&berth, &app, "web.2"), "x", "/dyno")
            .unwrap()
            .1,
        "web.2\n"
    );
    berth.cmd(["ps:scale", &app]).succeeds().stdout_is(&format!(
        "-----> Scaling for {app}\nproctype: qty\n--------: ---\nweb:  2\nworker: 1\n"
    ));

    berth
        .cmd([
            "run",
            &app,
            "bash",
            "-c",
            "echo \"${MESSAGE:-hello}-$DYNO\" | cut -c1-9; read line; echo got:$line; exit 7",
        ])
        .stdin("typed\n")
        .fails(7)
        .stdout_is("hello-run\ngot:typed\n");
    let logs = berth.cmd(["logs", &app, "-n", "5"]).succeeds().stdout();
    assert!(
        logs.contains(&format!(" {app}[worker.1]: worker up")),
        "{logs}"
    );
    assert!(
        logs.contains(&format!(" {app}[web.1]: listening on 5000")),
        "{logs}"
    );
    let quiet = berth
        .cmd(["logs", &app, "-p", "worker", "-q"])
        .succeeds()
        .stdout();
    assert_eq!(quiet, "worker up\n");

    berth
        .cmd(["ps:scale", &app, "web=1", "worker=0"])
        .succeeds();
    assert!(
        !berth
            .dokku_root()
            .join(&app)
            .join("CONTAINER.web.2")
            .exists()
    );
    berth
        .cmd(["ps:stop", &app])
        .succeeds()
        .stdout_is(&format!("-----> Stopping {app}\n"));
    berth
        .cmd(["ps:report", &app, "--running"])
        .succeeds()
        .stdout_is("false\n");
    berth.cmd(["ps:start", &app]).succeeds();
    berth
        .cmd(["ps:report", &app, "--running"])
        .succeeds()
        .stdout_is("true\n");

    berth.cmd(["--force", "apps:destroy", &app]).succeeds();
    let engine_has = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.dokku.app-name={app}"),
        ])
        .output()
        .unwrap();
    assert!(engine_has.stdout.is_empty(), "containers left behind");
    let images = std::process::Command::new("docker")
        .args(["images", "-q", &format!("dokku/{app}")])
        .output()
        .unwrap();
    assert!(images.stdout.is_empty(), "images left behind");
}

#[test]
fn ps_restart_of_one_process_type_keeps_the_others() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("hello");
    berth.cmd(["ps:scale", &app, "worker=1"]).succeeds();
    let (web, worker) = (
        container_of(&berth, &app, "web.1"),
        container_of(&berth, &app, "worker.1"),
    );
    berth.cmd(["ps:restart", &app, "worker"]).succeeds();
    assert_eq!(container_of(&berth, &app, "web.1"), web, "web kept");
    assert_ne!(
        container_of(&berth, &app, "worker.1"),
        worker,
        "worker replaced"
    );
    assert_eq!(web_answer(&berth, &app).0, 200);
    berth
        .cmd(["ps:restart", &app, "clock"])
        .fails(1)
        .stderr_is(&format!(
            " !     Invalid process type specified ({app}.clock)\n"
        ));
    berth
        .cmd(["ps:restart", "--all", "worker"])
        .fails(1)
        .stderr_is(" !     Unable to restart all apps when specifying a process name\n");
}

#[test]
fn ps_restart_all_in_parallel_restarts_every_app() {
    let berth = Berth::new();
    let apps = [berth.deployed("hello").app, berth.deployed("hello").app];
    let before: Vec<String> = apps
        .iter()
        .map(|a| container_of(&berth, a, "web.1"))
        .collect();
    berth
        .cmd(["ps:restart", "--all", "--parallel", "2"])
        .succeeds();
    for (app, old) in apps.iter().zip(before) {
        assert_ne!(container_of(&berth, app, "web.1"), old, "{app} restarted");
    }
    berth
        .cmd(["ps:restart", "--all", "--parallel", "-5"])
        .fails(1)
        .stderr_has("Invalid value for --parallel: -5");
}
