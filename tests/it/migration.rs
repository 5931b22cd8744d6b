//! An app moved from Dokku: its networks, docker options, resource limits,
//! cron tasks and detached runs set up with Dokku's documented commands,
//! word for word, and each really in effect.

use crate::harness::Berth;
use crate::network::Net;
use crate::source::{Deployed, container_of, docker_inspect};

#[test]
fn an_app_moved_from_dokku_keeps_its_commands() {
    let net = Net::new("moved-net");
    let berth = Berth::new();
    let Deployed { app, .. } = berth
        .deploy("moved")
        .setup(|app| {
            berth.cmd(["network:create", &net.0]).succeeds();
            berth
                .cmd(["network:set", app, "attach-post-deploy", &net.0])
                .succeeds();
            berth
                .cmd([
                    "docker-options:add",
                    app,
                    "deploy",
                    "--label 'com.example.owner=platform team'",
                ])
                .succeeds();
            berth
                .cmd(["resource:limit", "--memory", "256", "--cpu", "0.5", app])
                .succeeds();
            berth
                .cmd(["resource:reserve", "--memory", "128", app])
                .succeeds();
        })
        .source(|s| {
            s.write(
                "app.json",
                r#"{"cron": [{"command": "echo cron-ran", "schedule": "*/5 * * * *"}]}"#,
            )
            .commit("cron");
        })
        .push();

    let web = container_of(&berth, &app, "web.1");
    let networks = docker_inspect(&web, "{{json .NetworkSettings.Networks}}");
    assert!(networks.contains(&format!("\"{}\"", net.0)), "{networks}");
    assert!(
        networks.contains(&format!("{app}.web")),
        "alias: {networks}"
    );
    assert_eq!(
        docker_inspect(&web, "{{index .Config.Labels \"com.example.owner\"}}"),
        "platform team"
    );
    assert_eq!(
        docker_inspect(
            &web,
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.MemoryReservation}}"
        ),
        format!("{} {} {}", 256 << 20, 500_000_000, 128 << 20)
    );

    let tasks = berth
        .cmd(["cron:list", &app, "--format", "json"])
        .succeeds()
        .stdout();
    let tasks: serde_json::Value = serde_json::from_str(&tasks).unwrap();
    let id = tasks[0]["id"].as_str().unwrap().to_string();
    assert_eq!(tasks[0]["schedule"], "*/5 * * * *");
    berth
        .cmd(["cron:run", &app, &id])
        .succeeds()
        .stdout_has("cron-ran");

    let name = berth
        .cmd(["run:detached", &app, "sleep", "300"])
        .succeeds()
        .stdout();
    let name = name.trim().to_string();
    berth.cmd(["run:list", &app]).succeeds().stdout_has(&name);
    berth.cmd(["run:stop", "--container", &name]).succeeds();
    let listed = berth
        .cmd(["run:list", &app, "--format", "json"])
        .succeeds()
        .stdout();
    assert!(
        !listed.contains(&name) || listed.contains("exited"),
        "{listed}"
    );
}
