//! Releases and rollback against the real engine and the real nginx: what
//! each release records, rollbacks that drop no request, retention.

use crate::harness::Berth;
use crate::routing::{Load, route, via_nginx};
use crate::source::{Source, container_of, docker_inspect};
use crate::ssh_server::SshServer;

/// `tests/apps/hello` answering `<code>:<MESSAGE or unset>`; with `fragile`,
/// it exits at once when the global `BREAK` var is set.
fn code(source: &Source, code: &str, fragile: bool) {
    let template =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/hello/server.pl");
    let server = std::fs::read_to_string(template).unwrap();
    let mut server = server.replace(
        "($ENV{MESSAGE} // 'hello')",
        &format!("'{code}:' . ($ENV{{MESSAGE}} // 'unset')"),
    );
    if fragile {
        server = format!("exit 1 if $ENV{{BREAK}};\n{server}");
    }
    source.write("server.pl", &server).commit(code);
}

fn answer(server: &SshServer, host: &str) -> String {
    let (status, body) = via_nginx(server, host, "/");
    assert_eq!(status, 200, "{host} answers: {body}");
    body.trim().to_string()
}

/// The tags of `dokku/<app>` the engine has.
fn image_tags(app: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["images", "--format", "{{.Tag}}", &format!("dokku/{app}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut tags: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    tags.sort();
    tags
}

/// `releases:list --format json` as values.
fn releases(berth: &Berth, app: &str) -> Vec<serde_json::Value> {
    let done = berth
        .cmd(["releases:list", app, "--format", "json"])
        .succeeds();
    serde_json::from_str(&done.stdout()).expect("releases JSON")
}

fn release_tag(release: &serde_json::Value) -> String {
    let image = release["image"].as_str().unwrap();
    image.rsplit_once(':').unwrap().1.to_string()
}

#[test]
fn rollback_serves_the_first_releases_code_and_config_and_drops_no_request() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let host = "rollback.test";
    let deployed = berth
        .deploy("rollback")
        .source(|s| code(s, "one", false))
        .setup(|app| route(&berth, &server, app, host))
        .push();
    let (app, source) = (deployed.app, deployed.source);
    assert_eq!(answer(&server, host), "one:unset");
    code(&source, "two", false);
    source.push_local(&berth, &app, "master").succeeds();
    berth.cmd(["config:set", &app, "MESSAGE=three"]).succeeds();
    assert_eq!(answer(&server, host), "two:three");

    let list = releases(&berth, &app);
    let described: Vec<&str> = list
        .iter()
        .map(|r| r["description"].as_str().unwrap())
        .collect();
    assert_eq!(list[0]["version"], 3);
    assert!(described[0] == "Set MESSAGE config vars", "{described:?}");
    assert!(described[1].starts_with("Deploy "), "{described:?}");
    assert!(described[2].starts_with("Deploy "), "{described:?}");
    assert_eq!(list[0]["current"], true);
    assert_eq!(list[0]["user"], list[2]["user"]);
    // A restart runs the same release: nothing new is recorded.
    berth.cmd(["ps:restart", &app]).succeeds();
    assert_eq!(releases(&berth, &app).len(), 3);

    berth
        .cmd(["releases", &app])
        .succeeds()
        .stdout_has(&format!("=====> {app} releases - current: v3"))
        .stdout_has("Version  Description")
        .stdout_has("v3       Set MESSAGE config vars");

    let load = Load::start(server.http_port(), host);
    berth
        .cmd(["releases:rollback", &app, "v1"])
        .succeeds()
        .stdout_has(&format!("Rolled back {app} to v1 as v4"));
    assert_eq!(answer(&server, host), "one:unset");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (sent, failed) = load.stop("rollback");
    assert!(sent > 20, "the clients ran: {sent}");
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");

    // v1's config came back with its code; no build ran.
    berth.cmd(["config:get", &app, "MESSAGE"]).fails(1);
    let info = berth
        .cmd(["releases:info", &app, "--format", "json"])
        .succeeds();
    let info: serde_json::Value = serde_json::from_str(&info.stdout()).unwrap();
    assert_eq!(info["version"], 4);
    assert_eq!(info["description"], "Rollback to v1");
    assert_eq!(info["rollback_of"], 1);
    assert_eq!(info["image_id"], list[2]["image_id"]);
    // What runs is `latest` now: a restart keeps v1's code.
    berth.cmd(["ps:restart", &app]).succeeds();
    assert_eq!(answer(&server, host), "one:unset");

    // Without a version: back to the release before the current one.
    berth.cmd(["releases:rollback", &app]).succeeds();
    assert_eq!(answer(&server, host), "two:three");
    berth
        .cmd(["releases:info", &app, "v5"])
        .succeeds()
        .stdout_has("Rollback to v3")
        .stdout_has("MESSAGE");
    berth
        .cmd(["releases:info", &app, "v5", "--show-values"])
        .succeeds()
        .stdout_has("MESSAGE=three");
}

#[test]
fn a_rollback_that_fails_its_checks_leaves_the_current_release_serving() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let host = "failed-rollback.test";
    let deployed = berth
        .deploy("badrollback")
        .source(|s| code(s, "one", true))
        .setup(|app| route(&berth, &server, app, host))
        .push();
    let (app, source) = (deployed.app, deployed.source);
    code(&source, "two", false);
    source.push_local(&berth, &app, "master").succeeds();
    berth.cmd(["config:set", &app, "MESSAGE=kept"]).succeeds();
    // The world changed since v1: its code no longer starts.
    berth
        .cmd(["config:set", "--global", "--no-restart", "BREAK=1"])
        .succeeds();
    let before = container_of(&berth, &app, "web.1");

    berth
        .cmd(["releases:rollback", &app, "v1"])
        .fails(1)
        .stderr_has("Rollback to v1 failed: v3 keeps serving");
    assert_eq!(answer(&server, host), "two:kept");
    assert_eq!(container_of(&berth, &app, "web.1"), before);
    berth
        .cmd(["config:get", &app, "MESSAGE"])
        .succeeds()
        .stdout_is("kept\n");
    assert_eq!(releases(&berth, &app).len(), 3);
}

#[test]
fn retention_removes_exactly_the_images_of_older_releases() {
    let berth = Berth::new();
    let deployed = berth.deploy("retain").push();
    let (app, source) = (deployed.app, deployed.source);
    berth
        .cmd(["releases:set", &app, "retention", "2"])
        .succeeds();
    // Old containers go at once, and their images with them.
    berth
        .cmd(["checks:set", &app, "wait-to-retire", "0"])
        .succeeds();
    berth
        .cmd(["releases:set", &app, "retention", "0"])
        .fails(1)
        .stderr_has("Invalid retention 0");
    // Each release its own image (an unchanged tree builds the same one).
    for i in 2..=3 {
        code(&source, &format!("r{i}"), false);
        source.push_local(&berth, &app, "master").succeeds();
    }
    let list = releases(&berth, &app);
    assert_eq!(list.len(), 3);
    let (v3, v2, v1) = (&list[0], &list[1], &list[2]);
    // v1's image went; v2's, v3's and `latest` (v3's) stayed.
    let mut expected = vec![release_tag(v2), release_tag(v3), "latest".to_string()];
    expected.sort();
    assert_eq!(image_tags(&app), expected);
    assert_eq!(v1["image_present"], false);
    assert_eq!(v2["image_present"], true);

    // A rollback to v1 says why it cannot, and changes nothing.
    let running = container_of(&berth, &app, "web.1");
    berth
        .cmd(["releases:rollback", &app, "v1"])
        .fails(1)
        .stderr_has("is no longer on this host")
        .stderr_has(&format!("releases:set {app} retention N"));
    assert_eq!(container_of(&berth, &app, "web.1"), running);
    assert_eq!(releases(&berth, &app).len(), 3);

    // An image a container still runs is kept past retention until the
    // container goes: an old container retiring later holds v3's image.
    berth
        .cmd(["releases:set", &app, "retention", "1"])
        .succeeds();
    berth
        .cmd(["checks:set", &app, "wait-to-retire", "60"])
        .succeeds();
    code(&source, "r4", false);
    source.push_local(&berth, &app, "master").succeeds();
    assert!(image_tags(&app).contains(&release_tag(v3)));
    assert!(!image_tags(&app).contains(&release_tag(v2)));
    // Once it is gone, `cleanup` applies the retention.
    std::process::Command::new("docker")
        .args(["rm", "-f", &running])
        .output()
        .unwrap();
    berth
        .cmd(["cleanup", &app])
        .succeeds()
        .stdout_has("1 image(s) beyond release retention");
    let list = releases(&berth, &app);
    let mut expected = vec![release_tag(&list[0]), "latest".to_string()];
    expected.sort();
    assert_eq!(image_tags(&app), expected);
}

#[test]
fn an_app_without_records_has_its_running_release_imported_as_v1() {
    let berth = Berth::new();
    let deployed = berth.deploy("imported").push();
    let (app, source) = (deployed.app, deployed.source);
    berth.cmd(["config:set", &app, "MESSAGE=before"]).succeeds();
    let image = docker_inspect(&container_of(&berth, &app, "web.1"), "{{.Image}}");
    // As Dokku leaves an app: containers, images, no release records.
    std::fs::remove_dir_all(berth.lib_root().join("data/releases").join(&app)).unwrap();

    berth
        .cmd(["releases", &app])
        .succeeds()
        .stdout_has("Recorded the running release")
        .stdout_has("v1       Imported running release");
    let list = releases(&berth, &app);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["image_id"], image.as_str());
    assert_eq!(
        list[0]["config_keys"],
        serde_json::json!(["GIT_REV", "MESSAGE"])
    );

    berth.cmd(["config:unset", &app, "MESSAGE"]).succeeds();
    code(&source, "after", false);
    source.push_local(&berth, &app, "master").succeeds();
    berth.cmd(["releases:rollback", &app, "v1"]).succeeds();
    berth
        .cmd(["config:get", &app, "MESSAGE"])
        .succeeds()
        .stdout_is("before\n");
    assert_eq!(
        docker_inspect(&container_of(&berth, &app, "web.1"), "{{.Image}}"),
        image
    );
}

#[test]
fn bad_release_arguments_are_refused() {
    let berth = Berth::new();
    let app = crate::source::unique_app("relargs");
    berth.cmd(["apps:create", &app]).succeeds();
    berth
        .cmd(["releases:rollback", &app])
        .fails(1)
        .stderr_is(&format!(
            " !     {app} has no releases yet: deploy it first\n"
        ));
    berth
        .cmd(["releases:info", &app, "vx"])
        .fails(1)
        .stderr_is(" !     Invalid release specified: vx (use a version such as v3)\n");
    berth
        .cmd(["releases", &app, "--format", "yaml"])
        .fails(1)
        .stderr_has("Invalid --format value specified: yaml");
    berth
        .cmd(["releases", &app])
        .succeeds()
        .stdout_has("has no releases yet");
}

#[test]
fn a_failed_push_leaves_restarts_on_the_running_release() {
    let berth = Berth::new();
    let deployed = berth
        .deploy("failedpush")
        .source(|s| code(s, "good", false))
        .push();
    let (app, source) = (deployed.app, deployed.source);
    source
        .write(
            "Dockerfile",
            "FROM debian:bookworm-slim\nCMD [\"perl\", \"-e\", \"exit 3\"]\n",
        )
        .commit("broken");
    source.push_local(&berth, &app, "master").fails(1);
    // A config change deploys `latest`: the release that runs, not the
    // build that failed.
    berth.cmd(["config:set", &app, "MESSAGE=still"]).succeeds();
    assert_eq!(
        crate::source::web_answer(&berth, &app).1.trim(),
        "good:still"
    );
    assert_eq!(releases(&berth, &app).len(), 2);
}

#[test]
fn a_rollback_whose_postdeploy_fails_after_the_switch_is_recorded_as_running() {
    let berth = Berth::new();
    let app_json = r#"{"scripts":{"dokku":{"postdeploy":"test -z \"$FAILPOST\""}}}"#;
    let deployed = berth
        .deploy("postfail")
        .source(|s| {
            s.write("app.json", app_json);
            code(s, "one", false)
        })
        .push();
    let (app, source) = (deployed.app, deployed.source);
    code(&source, "two", false);
    source.push_local(&berth, &app, "master").succeeds();
    berth
        .cmd(["config:set", "--global", "--no-restart", "FAILPOST=1"])
        .succeeds();

    berth
        .cmd(["releases:rollback", &app, "v1"])
        .fails(1)
        .stderr_has(&format!(
            "{app} runs v1 again, but a step after the switch failed"
        ));
    assert_eq!(
        crate::source::web_answer(&berth, &app).1.trim(),
        "one:unset"
    );
    let list = releases(&berth, &app);
    assert_eq!(list[0]["description"], "Rollback to v1");
    // `latest` follows what runs, so a restart keeps v1's code.
    let latest = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .arg(format!("dokku/{app}:latest"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&latest.stdout).trim(),
        list[2]["image_id"].as_str().unwrap()
    );
}
