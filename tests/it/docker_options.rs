//! `docker-options:*`: stored options per phase and process, checked at
//! `add` time, and applied to deployed containers.

use crate::harness::Berth;
use crate::source::{Deployed, docker_inspect as inspect, unique_app};

fn options_dir(berth: &Berth, app: &str) -> std::path::PathBuf {
    berth.lib_root().join("config/docker-options").join(app)
}

#[test]
fn add_list_remove_clear_round_trip() {
    let berth = Berth::new();
    let app = unique_app("dopts");
    berth.app(&app);
    berth
        .cmd([
            "docker-options:add",
            &app,
            "deploy,run",
            "--ulimit nofile=12",
            "--shm-size 256m --label 'com.example.owner=platform team'",
        ])
        .succeeds();
    // Adding an option again (quoted otherwise) stores it once.
    berth
        .cmd([
            "docker-options:add",
            &app,
            "deploy",
            "--label \"com.example.owner=platform team\"",
        ])
        .succeeds();
    assert_eq!(
        std::fs::read_to_string(options_dir(&berth, &app).join("_default_.deploy")).unwrap(),
        "--ulimit nofile=12\n--shm-size 256m\n--label 'com.example.owner=platform team'\n"
    );
    berth
        .cmd(["docker-options:list", &app, "--phase", "run"])
        .succeeds()
        .stdout_is(
            "--ulimit nofile=12\n--shm-size 256m\n--label 'com.example.owner=platform team'\n",
        );
    berth
        .cmd([
            "docker-options:add",
            "--process",
            "web",
            &app,
            "deploy",
            "--init",
        ])
        .succeeds();
    berth
        .cmd([
            "docker-options:list",
            &app,
            "--process",
            "web",
            "--phase",
            "deploy",
        ])
        .succeeds()
        .stdout_is("--init\n");
    berth
        .cmd([
            "docker-options:add",
            "--process",
            "web",
            &app,
            "run",
            "--init",
        ])
        .fails(1)
        .stderr_has("--process is supported only for the deploy phase");
    berth
        .cmd(["docker-options:report", &app, "--docker-options-deploy.web"])
        .succeeds()
        .stdout_is("--init\n");
    berth
        .cmd(["docker-options:report", &app])
        .succeeds()
        .stdout_has("docker-options information")
        .stdout_has(
            "Docker options deploy:         --ulimit nofile=12 --shm-size 256m --label 'com.example.owner=platform team'\n",
        )
        .stdout_has("Docker options deploy web:     --init\n");
    berth
        .cmd(["docker-options:report", &app, "--docker-options-build"])
        .succeeds()
        .stdout_is("\n");

    // Removal matches by words: another quoting removes the stored entry.
    berth
        .cmd([
            "docker-options:remove",
            &app,
            "deploy",
            "--label \"com.example.owner=platform team\"",
        ])
        .succeeds();
    berth
        .cmd(["docker-options:report", &app, "--docker-options-deploy"])
        .succeeds()
        .stdout_is("--ulimit nofile=12 --shm-size 256m\n");
    berth
        .cmd(["docker-options:report", &app, "--docker-options-run"])
        .succeeds()
        .stdout_is(
            "--ulimit nofile=12 --shm-size 256m --label 'com.example.owner=platform team'\n",
        );

    berth
        .cmd(["docker-options:clear", &app, "build,run"])
        .succeeds()
        .stdout_is(&format!(
            "-----> Clearing docker-options for {app} on phase build\n\
             -----> Clearing docker-options for {app} on phase run\n"
        ));
    berth
        .cmd(["docker-options:list", &app, "--phase", "run"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["docker-options:clear", &app, "bogus"])
        .fails(1)
        .stderr_has("Phase 'bogus' not valid");
    berth
        .cmd(["docker-options:clear", &app])
        .succeeds()
        .stdout_is(&format!(
            "-----> Clearing docker-options for {app} on all phases\n"
        ));
    // Without --process, clear leaves the per-process lists alone.
    berth
        .cmd(["docker-options:list", &app, "--phase", "deploy"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd([
            "docker-options:list",
            &app,
            "--process",
            "web",
            "--phase",
            "deploy",
        ])
        .succeeds()
        .stdout_is("--init\n");
    berth
        .cmd(["docker-options:clear", "--process", "web", &app])
        .succeeds();
    assert!(!options_dir(&berth, &app).join("web.deploy").exists());
}

#[test]
fn refused_and_unknown_options_store_nothing() {
    let berth = Berth::new();
    let app = unique_app("dopts");
    berth.app(&app);
    berth
        .cmd(["docker-options:add", &app, "deploy", "--privileged"])
        .fails(1)
        .stderr_has("plugin:set --global allowed-docker-options privileged");
    berth
        .cmd([
            "docker-options:add",
            &app,
            "deploy,build",
            "--init",
            "--bogus-option 1",
        ])
        .fails(1)
        .stderr_has("Unsupported docker option --bogus-option");
    // A run option that docker build does not take is refused for build.
    berth
        .cmd(["docker-options:add", &app, "build", "--init"])
        .fails(1)
        .stderr_has("build phase");
    berth
        .cmd(["docker-options:add", &app, "deploy", "--label 'unmatched"])
        .fails(1)
        .stderr_has("unmatched single quote");
    assert!(!options_dir(&berth, &app).exists());

    berth
        .cmd([
            "plugin:set",
            "--global",
            "allowed-docker-options",
            "privileged",
        ])
        .succeeds();
    berth
        .cmd(["docker-options:add", &app, "deploy", "--privileged"])
        .succeeds();
    berth
        .cmd(["docker-options:list", &app, "--phase", "deploy"])
        .succeeds()
        .stdout_is("--privileged\n");
}

#[test]
fn deployed_containers_get_the_deploy_options() {
    let berth = Berth::new();
    let Deployed { app, .. } = berth
        .deploy("dopts")
        .setup(|app| {
            berth
                .cmd([
                    "docker-options:add",
                    app,
                    "deploy",
                    "--label 'com.example.owner=platform team'",
                ])
                .succeeds();
            berth
                .cmd([
                    "docker-options:add",
                    "--process",
                    "web",
                    app,
                    "deploy",
                    "--label com.example.web=yes",
                ])
                .succeeds();
            berth
                .cmd([
                    "docker-options:add",
                    app,
                    "run",
                    "--label com.example.run=yes",
                ])
                .succeeds();
        })
        .push();
    let web = std::fs::read_to_string(berth.dokku_root().join(&app).join("CONTAINER.web.1"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        inspect(&web, "{{index .Config.Labels \"com.example.owner\"}}"),
        "platform team"
    );
    assert_eq!(
        inspect(&web, "{{index .Config.Labels \"com.example.web\"}}"),
        "yes"
    );
    // Run-phase options stay off deployed containers.
    assert_eq!(
        inspect(&web, "{{index .Config.Labels \"com.example.run\"}}"),
        ""
    );
}

#[test]
fn network_options_join_the_named_network() {
    let network = unique_app("dopts-net");
    let made = std::process::Command::new("docker")
        .args(["network", "create", &network])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let berth = Berth::new();
    let Deployed { app, .. } = berth
        .deploy("dopts-net")
        .setup(|app| {
            berth
                .cmd([
                    "docker-options:add",
                    app,
                    "deploy",
                    &format!("--network {network} --network-alias db-client"),
                ])
                .succeeds();
        })
        .push();
    let web = crate::source::container_of(&berth, &app, "web.1");
    let networks = inspect(&web, "{{json .NetworkSettings.Networks}}");
    assert!(networks.contains(&format!("\"{network}\"")), "{networks}");
    assert!(networks.contains("db-client"), "{networks}");
    drop(berth);
    let _ = std::process::Command::new("docker")
        .args(["network", "rm", &network])
        .output();
}
