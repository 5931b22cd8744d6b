//! app.json deployment tasks (predeploy committed into the image, the
//! Procfile's release, postdeploy, the first deploy's postdeploy), the
//! formation, and the builder, app-json and scheduler properties that
//! shape a deploy (`build-dir`, `dockerfile-path`, `init-process`).

use crate::harness::Berth;
use crate::source::{Deployed, Source, container_of, docker_inspect as inspect, unique_app};

fn exec(container: &str, command: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(command)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const TASKS: &str = r#"{
  "scripts": {
    "dokku": {
      "predeploy": "echo baked-$GREETING > /app/predeploy.txt",
      "postdeploy": "echo postdeploy-ran"
    },
    "postdeploy": "echo first-deploy-only"
  }
}"#;

#[test]
fn tasks_run_at_their_phases_and_predeploy_is_committed() {
    let berth = Berth::new();
    let Deployed {
        app,
        source,
        pushed,
    } = berth
        .deploy("tasks")
        .setup(|app| {
            berth
                .cmd(["config:set", "--no-restart", app, "GREETING=hi"])
                .succeeds();
        })
        .source(|s| {
            s.write("app.json", TASKS)
                .write(
                    "Procfile",
                    "web: perl /app/server.pl\nrelease: echo release-ran-$GREETING\n",
                )
                .commit("tasks");
        })
        .push();
    let pushed = pushed
        .stderr_has("Executing predeploy task from app.json: echo baked-$GREETING")
        .stderr_has("Executing release task from Procfile")
        .stderr_has("release-ran-hi")
        .stderr_has("first-deploy-only")
        .stderr_has("postdeploy-ran");
    let text = pushed.stderr;
    let order: Vec<usize> = ["predeploy task", "release-ran", "Application deployed"]
        .iter()
        .map(|part| text.find(part).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

    // predeploy's file is in the image the web process runs, which still
    // runs its own command.
    let web = container_of(&berth, &app, "web.1");
    assert_eq!(exec(&web, &["cat", "/app/predeploy.txt"]), "baked-hi");
    assert_eq!(
        inspect(&web, "{{json .Config.Cmd}}"),
        r#"["perl","/app/server.pl"]"#
    );
    // No task container is left behind.
    let left = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("name={app}.predeploy")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty());

    // The first deploy's postdeploy runs once.
    source.write("note.txt", "two").commit("two");
    let again = source
        .push_local(&berth, &app, "master")
        .succeeds()
        .stderr_has("postdeploy-ran");
    assert!(
        !again.stderr.contains("first-deploy-only"),
        "{}",
        again.stderr
    );
}

#[test]
fn a_failing_predeploy_keeps_the_running_release() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("tasks");
    let before = container_of(&berth, &app, "web.1");
    source
        .write(
            "app.json",
            r#"{"scripts": {"dokku": {"predeploy": "echo broken; exit 3"}}}"#,
        )
        .commit("broken task");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("Execution of predeploy task failed (exit code 3)");
    assert_eq!(container_of(&berth, &app, "web.1"), before);
    assert_eq!(inspect(&before, "{{.State.Running}}"), "true");
    // The failed commit's app.json is not the running release's.
    let kept = berth
        .lib_root()
        .join("data/app-json")
        .join(&app)
        .join("app.json");
    assert!(!kept.exists());
}

#[test]
fn formation_sets_the_scale() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth
        .deploy("formation")
        .source(|s| {
            s.write("app.json", r#"{"formation": {"web": {"quantity": 2}}}"#)
                .commit("formation");
        })
        .push();
    assert!(
        berth
            .dokku_root()
            .join(&app)
            .join("CONTAINER.web.2")
            .exists()
    );
    let scale =
        std::fs::read_to_string(berth.lib_root().join("config/ps").join(&app).join("scale"))
            .unwrap();
    assert!(scale.contains("web=2"), "{scale}");
    berth
        .cmd(["ps:scale", &app, "web=3"])
        .fails(1)
        .stderr_has("its app.json formation sets the quantities");
    berth
        .cmd(["ps:report", &app, "--ps-can-scale"])
        .succeeds()
        .stdout_is("false\n");
}

#[test]
fn build_dir_and_dockerfile_path_pick_the_build() {
    let berth = Berth::new();
    let app = unique_app("monorepo");
    berth.app(&app);
    // The app lives in `services/api`, its Dockerfile under another name.
    let source = Source::new("hello");
    std::fs::create_dir_all(source.path().join("services/api")).unwrap();
    let dockerfile = std::fs::read_to_string(source.path().join("Dockerfile")).unwrap();
    std::fs::rename(
        source.path().join("server.pl"),
        source.path().join("services/api/server.pl"),
    )
    .unwrap();
    std::fs::remove_file(source.path().join("Dockerfile")).unwrap();
    source
        .write("services/api/Containerfile", &dockerfile)
        .write("services/api/app.json", TASKS)
        .commit("monorepo");

    berth
        .cmd(["builder:set", &app, "build-dir", "../elsewhere"])
        .fails(1)
        .stderr_has("without '..'");
    berth
        .cmd(["builder:set", &app, "selected", "dokerfile"])
        .fails(1)
        .stderr_has("Invalid builder dokerfile, valid builders: auto, dockerfile,");
    berth
        .cmd(["builder:set", &app, "build-dir", "services/missing"])
        .succeeds();
    berth
        .cmd([
            "builder-dockerfile:set",
            &app,
            "dockerfile-path",
            "Containerfile",
        ])
        .succeeds();
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("No Containerfile found");
    berth
        .cmd(["builder:set", &app, "build-dir", "services/api"])
        .succeeds();
    source
        .push_local(&berth, &app, "master")
        .succeeds()
        .stderr_has("Application deployed")
        // The build dir's app.json is the one read.
        .stderr_has("Executing predeploy task");
    berth
        .cmd(["builder:report", &app, "--builder-computed-build-dir"])
        .succeeds()
        .stdout_is("services/api\n");
    berth
        .cmd(["builder:report", &app, "--builder-detected"])
        .succeeds()
        .stdout_is("dockerfile\n");
    berth
        .cmd([
            "builder-dockerfile:report",
            &app,
            "--builder-dockerfile-computed-dockerfile-path",
        ])
        .succeeds()
        .stdout_is("Containerfile\n");
}

#[test]
fn init_process_false_reaches_the_container() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("init");
    assert_eq!(
        inspect(&container_of(&berth, &app, "web.1"), "{{.HostConfig.Init}}"),
        "true"
    );
    berth
        .cmd(["scheduler-docker-local:set", &app, "init-process", "maybe"])
        .fails(1)
        .stderr_has("use true or false");
    berth
        .cmd(["scheduler-docker-local:set", &app, "init-process", "false"])
        .succeeds();
    berth.cmd(["ps:rebuild", &app]).succeeds();
    assert_eq!(
        inspect(&container_of(&berth, &app, "web.1"), "{{.HostConfig.Init}}"),
        "false"
    );
}

#[test]
fn properties_set_clear_and_refuse() {
    let berth = Berth::new();
    let app = unique_app("props");
    berth.app(&app);
    berth
        .cmd(["app-json:set", &app, "appjson-path", "/etc/app.json"])
        .fails(1)
        .stderr_has("relative to the app's build root");
    berth
        .cmd(["app-json:set", &app, "appjson-path", ".dokku/app.json"])
        .succeeds();
    berth
        .cmd(["app-json:report", &app, "--app-json-computed-appjson-path"])
        .succeeds()
        .stdout_is(".dokku/app.json\n");
    berth.cmd(["app-json:set", &app, "appjson-path"]).succeeds();
    berth
        .cmd(["app-json:report", &app, "--app-json-computed-appjson-path"])
        .succeeds()
        .stdout_is("app.json\n");
    berth
        .cmd(["app-json:set", &app, "bogus", "x"])
        .fails(1)
        .stderr_has("Invalid property specified, valid properties include: appjson-path");
    berth
        .cmd(["scheduler:set", &app, "selected", "k3s"])
        .fails(1)
        .stderr_has("berth schedules apps on the local Docker engine");
    berth
        .cmd(["scheduler:set", "--global", "shell", "/bin/sh"])
        .succeeds();
    berth
        .cmd(["scheduler:report", &app, "--scheduler-computed-shell"])
        .succeeds()
        .stdout_is("/bin/sh\n");
    berth
        .cmd([
            "scheduler-docker-local:set",
            "--global",
            "parallel-schedule-count",
            "0",
        ])
        .fails(1)
        .stderr_has("1 or more");
    assert!(
        !berth
            .lib_root()
            .join("config/scheduler-docker-local")
            .exists()
    );
}

#[test]
fn dockerfile_start_cmd_and_the_schedulers_shell() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth.deployed("startcmd");
    berth
        .cmd([
            "ps:set",
            &app,
            "dockerfile-start-cmd",
            "env MESSAGE=from-start-cmd perl /app/server.pl",
        ])
        .succeeds();
    berth
        .cmd(["ps:report", &app, "--ps-computed-dockerfile-start-cmd"])
        .succeeds()
        .stdout_is("env MESSAGE=from-start-cmd perl /app/server.pl\n");
    berth
        .cmd(["ps:set", "--global", "dockerfile-start-cmd", "x"])
        .fails(1)
        .stderr_has("cannot be specified globally");
    berth.cmd(["ps:rebuild", &app]).succeeds();
    assert_eq!(
        crate::source::web_answer(&berth, &app).1,
        "from-start-cmd\n"
    );
    // run without a command opens the scheduler's shell.
    berth
        .cmd(["scheduler:set", &app, "shell", "/bin/sh"])
        .succeeds();
    berth
        .cmd(["run", "--no-tty", &app])
        .stdin("echo shell=$0\n")
        .succeeds()
        .stdout_has("shell=/bin/sh");
}
