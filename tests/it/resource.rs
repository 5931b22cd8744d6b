//! `resource:*`: limits and reservations stored as Dokku stores them,
//! refused when malformed, and applied to the containers of the next
//! deploy.

use crate::harness::Berth;
use crate::source::{Deployed, container_of as container, docker_inspect as inspect, unique_app};

fn resource_dir(berth: &Berth, app: &str) -> std::path::PathBuf {
    berth.lib_root().join("config/resource").join(app)
}

#[test]
fn limits_and_reservations_are_stored_shown_and_cleared() {
    let berth = Berth::new();
    let app = unique_app("res");
    berth.app(&app);
    berth
        .cmd(["resource:limit", "--cpu", "0.5", "--memory", "100", &app])
        .succeeds()
        .stdout_is(&format!(
            "=====> Setting resource limits for {app}\n       cpu: 0.5\n       memory: 100\n"
        ));
    berth
        .cmd([
            "resource:reserve",
            "--memory=64m",
            "--process-type",
            "worker",
            &app,
        ])
        .succeeds()
        .stdout_is(&format!(
            "=====> Setting resource reservation for {app} (worker)\n       memory: 64m\n"
        ));
    let dir = resource_dir(&berth, &app);
    assert_eq!(
        std::fs::read_to_string(dir.join("_default_.limit.memory")).unwrap(),
        "100"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("worker.reserve.memory")).unwrap(),
        "64m"
    );
    // What the engine cannot enforce is stored, with a warning.
    berth
        .cmd(["resource:limit", "--network-ingress", "10", &app])
        .succeeds()
        .stderr_has("Stored but not applied to containers")
        .stderr_has("network-ingress");
    berth
        .cmd(["resource:limit", &app])
        .succeeds()
        .stdout_is(&format!(
            "=====> resource limits {app} information [defaults]\n       cpu: 0.5\n       \
             memory: 100\n       memory-swap: \n       network: \n       network-ingress: 10\n       \
             network-egress: \n       nvidia-gpu: \n"
        ));
    berth
        .cmd(["resource:report", &app, "--resource-worker.reserve.memory"])
        .succeeds()
        .stdout_is("64m\n");
    berth
        .cmd(["resource:report", &app, "--resource-api.limit.memory"])
        .fails(1)
        .stderr_has("Invalid flag passed, valid flags: --resource-_default_.limit.cpu");
    berth
        .cmd(["resource:limit", "--cpu", "clear", &app])
        .succeeds()
        .stdout_is(&format!(
            "=====> Setting resource limits for {app}\n       cpu: cleared\n"
        ));
    assert!(!dir.join("_default_.limit.cpu").exists());
    berth
        .cmd(["resource:limit-clear", &app])
        .succeeds()
        .stdout_is(&format!("-----> Clearing resource limit for {app}\n"));
    assert!(!dir.join("_default_.limit.memory").exists());
    assert!(dir.join("worker.reserve.memory").exists());
    berth
        .cmd(["resource:reserve-clear", "--process-type", "worker", &app])
        .succeeds()
        .stdout_is(&format!(
            "-----> Clearing resource reservation for {app} (worker)\n"
        ));
    assert!(!dir.join("worker.reserve.memory").exists());
    // Without an app: the global defaults.
    berth
        .cmd(["resource:limit", "--global", "--memory", "1g"])
        .succeeds();
    assert_eq!(
        berth
            .cmd([
                "resource:report",
                "--global",
                "--resource-global-_default_.limit.memory"
            ])
            .succeeds()
            .stdout(),
        "1g\n"
    );
    berth
        .cmd(["resource:limit-clear"])
        .succeeds()
        .stdout_is("-----> Clearing default resource limits\n");
    assert!(
        !berth
            .lib_root()
            .join("config/resource/--global/_default_.limit.memory")
            .exists()
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let berth = Berth::new();
    let app = unique_app("res");
    berth.app(&app);
    for (args, message) in [
        (vec!["--memory", "100x"], "Invalid memory value: 100x"),
        (vec!["--memory", "1.5.3g"], "Invalid memory value"),
        (vec!["--memory-swap", "lots"], "Invalid memory-swap value"),
        (vec!["--cpu", "two"], "Invalid cpu value: two"),
        (vec!["--nvidia-gpu", "some"], "Invalid nvidia-gpu value"),
        (vec!["--network", "1; reboot"], "Invalid network value"),
        (
            vec!["--bogus", "1"],
            "flag provided but not defined: -bogus",
        ),
        // As Go's flag package does, the next word is the value.
        (vec!["--memory"], "Please specify an app"),
        (
            vec!["--process-type", "../web", "--memory", "1g"],
            "Invalid process type: ../web",
        ),
        // A good value beside a bad one is not stored either.
        (
            vec!["--cpu", "1", "--memory", "12q"],
            "Invalid memory value",
        ),
    ] {
        let mut words: Vec<&str> = vec!["resource:limit"];
        words.extend(args);
        words.push(&app);
        berth.cmd(words).fails(1).stderr_has(message);
    }
    berth
        .cmd(["resource:limit", &app, "--memory"])
        .fails(1)
        .stderr_has("flag needs an argument: -memory");
    berth
        .cmd(["resource:reserve", "--memory", "-5", &app])
        .fails(1)
        .stderr_has("Invalid memory value: -5");
    berth
        .cmd(["resource:limit", "--memory", "1g", "ghost-app"])
        .fails(20)
        .stderr_has("App ghost-app does not exist");
    berth
        .cmd(["resource:limit-clear", "--memory", "1g", &app])
        .fails(1)
        .stderr_has("flag provided but not defined: -memory");
    assert!(!resource_dir(&berth, &app).exists());
}

#[test]
fn deployed_containers_get_the_limits() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth
        .deploy("res")
        .setup(|app| {
            berth
                .cmd([
                    "resource:limit",
                    "--memory",
                    "256",
                    "--memory-swap",
                    "512m",
                    "--cpu",
                    "0.5",
                    app,
                ])
                .succeeds();
            berth
                .cmd(["resource:reserve", "--memory", "64m", app])
                .succeeds();
            // The web process's own limit overrides the default.
            berth
                .cmd([
                    "resource:limit",
                    "--process-type",
                    "web",
                    "--memory",
                    "200m",
                    app,
                ])
                .succeeds();
        })
        .push();
    let web = container(&berth, &app, "web.1");
    assert_eq!(
        inspect(&web, "{{.HostConfig.Memory}}"),
        (200 << 20).to_string()
    );
    assert_eq!(
        inspect(&web, "{{.HostConfig.MemorySwap}}"),
        (512 << 20).to_string()
    );
    assert_eq!(inspect(&web, "{{.HostConfig.NanoCpus}}"), "500000000");
    assert_eq!(
        inspect(&web, "{{.HostConfig.MemoryReservation}}"),
        (64 << 20).to_string()
    );

    // The worker has only the app's defaults; changes apply at the next
    // deploy.
    berth
        .cmd(["resource:limit", "--cpu", "clear", &app])
        .succeeds();
    berth
        .cmd([
            "resource:limit",
            "--process-type",
            "worker",
            "--cpu",
            "1.5",
            &app,
        ])
        .succeeds();
    berth.cmd(["ps:scale", &app, "worker=1"]).succeeds();
    let worker = container(&berth, &app, "worker.1");
    assert_eq!(
        inspect(&worker, "{{.HostConfig.Memory}}"),
        (256 << 20).to_string()
    );
    assert_eq!(inspect(&worker, "{{.HostConfig.NanoCpus}}"), "1500000000");
    berth
        .cmd(["resource:report", &app, "--resource-worker.limit.cpu"])
        .succeeds()
        .stdout_is("1.5\n");
    drop(source);
}
