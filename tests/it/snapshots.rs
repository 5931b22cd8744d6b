//! What berth prints, as snapshot files in `tests/snapshots/`: help,
//! reports, `--format json`, errors, pushes and deploys, on the command
//! line and over SSH. Redacted (roots, run ids, times, ids, addresses,
//! ports, keys) so they hold on any machine; `SNAPSHOTS=overwrite cargo
//! test --test it -- snapshot` writes them anew. Deploys cost seconds:
//! one app each, locally and over SSH, answers every report.

use crate::harness::Berth;
use crate::source::Deployed;
use crate::ssh_server::SshServer;

#[test]
fn snapshot_help_errors_and_keys_locally_and_over_ssh() {
    let berth = Berth::new();
    berth.cmd(["help"]).succeeds().snapshot("help");
    berth.dokku(["apps:help"]).succeeds().snapshot("apps-help");
    berth.dokku(["ps"]).succeeds().snapshot("ps-help");
    berth
        .cmd(["apps:report", "ghost"])
        .fails(20)
        .snapshot("apps-report-unknown-app");
    berth
        .dokku(["apps:frobnicate"])
        .fails(1)
        .snapshot("unknown-command");
    berth
        .cmd(["ps:scale", "ghost", "web=-1"])
        .fails(20)
        .snapshot("ps-scale-unknown-app");

    let server = SshServer::start(&berth);
    server.ssh(["help"]).succeeds().snapshot("help.ssh");
    server
        .ssh(["apps:help"])
        .succeeds()
        .snapshot("apps-help.ssh");
    server
        .ssh(["apps:report", "ghost"])
        .fails(20)
        .snapshot("apps-report-unknown-app.ssh");
    server
        .ssh(["apps:frobnicate"])
        .fails(1)
        .snapshot("unknown-command.ssh");
    server
        .ssh(["ssh-keys:list", "--format", "json"])
        .succeeds()
        .snapshot_json("ssh-keys-list-json.ssh");
}

#[test]
fn snapshot_push_reports_json_and_rebuild_locally() {
    let berth = Berth::new();
    let Deployed {
        app,
        source,
        pushed,
    } = berth.deployed("snap");
    pushed.snapshot("push.local");
    for plugin in [
        "apps", "checks", "domains", "git", "nginx", "ports", "proxy", "ps", "storage",
    ] {
        berth
            .cmd([format!("{plugin}:report"), app.clone()])
            .succeeds()
            .snapshot(&format!("{plugin}-report.local"));
    }
    berth
        .cmd(["ps:report", &app, "--running"])
        .succeeds()
        .snapshot("ps-report-flag.local");
    berth
        .cmd(["apps:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("apps-report-json.local");
    berth
        .cmd(["ps:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("ps-report-json.local");
    berth
        .cmd(["apps:list", "--format", "json"])
        .succeeds()
        .snapshot_json("apps-list-json.local");
    berth
        .cmd(["ports:list", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("ports-list-json.local");
    berth
        .cmd(["config:export", "--format", "json", &app])
        .succeeds()
        .snapshot_json("config-export-json.local");
    berth
        .cmd(["ps:rebuild", &app])
        .succeeds()
        .snapshot("ps-rebuild.local");
    // A build that fails: the hook declines the push, the release stays.
    source
        .write(
            "Dockerfile",
            "FROM debian:bookworm-slim\nRUN echo build-broke-here && false\n",
        )
        .commit("broken");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .snapshot("push-broken-build.local");
}

#[test]
fn snapshot_push_reports_json_and_rebuild_over_ssh() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    // The push creates the app, as Dokku does.
    let Deployed {
        app,
        source,
        pushed,
    } = berth.deploy("snap").push_ssh(&server);
    pushed.snapshot("push.ssh");
    for plugin in ["apps", "ports", "proxy", "ps"] {
        server
            .ssh([format!("{plugin}:report"), app.clone()])
            .succeeds()
            .snapshot(&format!("{plugin}-report.ssh"));
    }
    server
        .ssh(["apps:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("apps-report-json.ssh");
    server
        .ssh(["ps:rebuild", &app])
        .succeeds()
        .snapshot("ps-rebuild.ssh");
    // A push the server refuses before git runs.
    server
        .ssh(["apps:set", "--global", "disable-autocreation", "true"])
        .succeeds();
    source
        .push_ssh(&server, "nope", "master")
        .fails(128)
        .snapshot("push-refused.ssh");
}

/// Dokku 0.38's `--global` reports: the global rows and their computed
/// rows, for every plugin with global properties, on stdout and as JSON;
/// a set global value shows in both rows, a cleared one falls back to
/// the default.
#[test]
fn snapshot_global_reports() {
    let berth = Berth::new();
    berth
        .dokku(["ps:set", "--global", "stop-timeout-seconds", "12"])
        .succeeds();
    berth
        .dokku(["git:set", "--global", "deploy-branch", "main"])
        .succeeds();
    berth
        .dokku(["git:set", "--global", "deploy-branch", ""])
        .succeeds();
    for plugin in [
        "apps",
        "checks",
        "domains",
        "git",
        "letsencrypt",
        "nginx",
        "proxy",
        "ps",
    ] {
        let command = format!("{plugin}:report");
        berth
            .dokku([command.as_str(), "--global"])
            .succeeds()
            .snapshot(&format!("{plugin}-report-global"));
    }
    berth
        .dokku(["ps:report", "--global", "--format", "json"])
        .succeeds()
        .snapshot_json("ps-report-global-json");
    berth
        .dokku([
            "ps:report",
            "--global",
            "--ps-computed-stop-timeout-seconds",
        ])
        .succeeds()
        .stdout_is("12\n");
    berth
        .dokku(["git:report", "--global", "--git-computed-deploy-branch"])
        .succeeds()
        .stdout_is("master\n");
    berth
        .dokku(["ps:report", "--global", "--ps-restore"])
        .fails(1)
        .stderr_has("Invalid flag passed");
    berth
        .dokku(["ps:set", "--global", "restore", "false"])
        .fails(1)
        .stderr_has("cannot be specified globally");
}

#[test]
fn snapshot_builder_app_json_and_scheduler_reports() {
    let berth = Berth::new();
    let app = crate::source::unique_app("props");
    berth.app(&app);
    for (command, key, value) in [
        ("builder:set", "build-dir", "services/api"),
        ("builder-dockerfile:set", "dockerfile-path", "Containerfile"),
        ("app-json:set", "appjson-path", ".dokku/app.json"),
        ("scheduler-docker-local:set", "init-process", "false"),
    ] {
        berth.cmd([command, &app, key, value]).succeeds();
    }
    berth
        .cmd(["scheduler:set", "--global", "shell", "/bin/sh"])
        .succeeds();
    berth
        .cmd(["builder:set", "--global", "skip-cleanup", "true"])
        .succeeds();
    for plugin in [
        "app-json",
        "builder",
        "builder-dockerfile",
        "scheduler",
        "scheduler-docker-local",
    ] {
        let command = format!("{plugin}:report");
        berth
            .cmd([command.as_str(), &app])
            .succeeds()
            .snapshot(&format!("{plugin}-report"));
        berth
            .cmd([command.as_str(), &app, "--format", "json"])
            .succeeds()
            .snapshot_json(&format!("{plugin}-report-json"));
        berth
            .cmd([command.as_str(), "--global"])
            .succeeds()
            .snapshot(&format!("{plugin}-report-global"));
    }
}

/// `resource:report` (per process type, Dokku's lower-case labels) and
/// `logs:report`, for an app, as JSON and `--global`.
#[test]
fn snapshot_resource_and_logs_reports() {
    let berth = Berth::new();
    let app = crate::source::unique_app("snap");
    berth.app(&app);
    berth
        .cmd(["resource:limit", "--memory", "512", "--cpu", "1", &app])
        .succeeds();
    berth
        .cmd([
            "resource:reserve",
            "--process-type",
            "worker",
            "--memory",
            "256m",
            &app,
        ])
        .succeeds();
    berth
        .cmd(["resource:limit", "--global", "--memory-swap", "1g"])
        .succeeds();
    berth.cmd(["logs:set", &app, "max-size", "20m"]).succeeds();
    for plugin in ["resource", "logs"] {
        let command = format!("{plugin}:report");
        berth
            .cmd([command.as_str(), &app])
            .succeeds()
            .snapshot(&format!("{plugin}-report.local"));
        berth
            .cmd([command.as_str(), &app, "--format", "json"])
            .succeeds()
            .snapshot_json(&format!("{plugin}-report-json.local"));
        berth
            .cmd([command.as_str(), "--global"])
            .succeeds()
            .snapshot(&format!("{plugin}-report-global"));
    }
}

/// `network:report` in Dokku 0.38's raw/global/computed scheme: an app
/// (with a network of this run), as JSON, and `--global`.
#[test]
fn snapshot_network_reports() {
    let network = crate::source::unique_app("snapnet");
    let berth = Berth::new();
    let app = crate::source::unique_app("snap");
    berth.app(&app);
    berth.cmd(["network:create", &network]).succeeds();
    berth
        .cmd([
            "network:set",
            &app,
            "attach-post-create",
            &network,
            "bridge",
        ])
        .succeeds();
    berth
        .cmd(["network:set", &app, "static-web-listener", "10.0.0.5:8080"])
        .succeeds();
    berth
        .cmd(["network:set", "--global", "tld", "svc.cluster.local"])
        .succeeds();
    berth
        .cmd(["network:set", "--global", "bind-all-interfaces", "true"])
        .succeeds();
    berth
        .cmd(["network:report", &app])
        .succeeds()
        .snapshot("network-report.local");
    berth
        .cmd(["network:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("network-report-json.local");
    berth
        .cmd(["network:report", "--global"])
        .succeeds()
        .snapshot("network-report-global");
    berth
        .cmd(["--force", "network:destroy", &network])
        .succeeds();
}

/// Named storage entries: `storage:info --format json`, `storage:list-entries`
/// (text and JSON), an app's `storage:report` with attachments, and
/// `storage:report --global`.
#[test]
fn snapshot_storage_entries() {
    let berth = Berth::new();
    berth.app("snapstore");
    berth
        .cmd([
            "storage:create",
            "node-js-data",
            "--mode",
            "0777",
            "--chown",
            "heroku",
        ])
        .succeeds();
    berth
        .cmd([
            "storage:create",
            "uploads",
            "--reclaim-policy",
            "Delete",
            "--label",
            "tier=web",
        ])
        .succeeds();
    berth
        .cmd([
            "storage:mount",
            "snapstore",
            "node-js-data",
            "--container-dir",
            "/app/storage",
            "--volume-options",
            "Z",
            "--volume-chown",
            "herokuish",
            "--volume-subpath",
            "uploads",
        ])
        .succeeds();
    berth
        .cmd(["storage:info", "node-js-data", "--format", "json"])
        .succeeds()
        .snapshot_json("storage-info-json");
    berth
        .cmd(["storage:info", "node-js-data"])
        .succeeds()
        .snapshot("storage-info");
    berth
        .cmd(["storage:list-entries"])
        .succeeds()
        .snapshot("storage-list-entries");
    berth
        .cmd(["storage:list-entries", "--format", "json"])
        .succeeds()
        .snapshot_json("storage-list-entries-json");
    berth
        .cmd(["storage:report", "snapstore"])
        .succeeds()
        .snapshot("storage-report-attachments");
    berth
        .cmd(["storage:report", "snapstore", "--format", "json"])
        .succeeds()
        .snapshot_json("storage-report-attachments-json");
    berth
        .cmd(["storage:report", "--global"])
        .succeeds()
        .snapshot("storage-report-global");
}

/// `cron:report` for an app (the task count, `maintenance` in three rows,
/// the global-only `mailfrom`/`mailto` in two), as JSON and `--global`.
#[test]
fn snapshot_cron_reports() {
    let berth = Berth::new();
    let app = crate::source::unique_app("cronsnap");
    berth.app(&app);
    berth
        .cmd(["cron:set", &app, "maintenance", "true"])
        .succeeds();
    berth
        .cmd(["cron:set", "--global", "mailto", "ops@example.com"])
        .succeeds();
    berth
        .cmd(["cron:report", &app])
        .succeeds()
        .snapshot("cron-report");
    berth
        .cmd(["cron:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("cron-report-json");
    berth
        .cmd(["cron:report", "--global"])
        .succeeds()
        .snapshot("cron-report-global");
}

/// `builds:report` in Dokku 0.38's scheme: an app without builds (its
/// build rows empty), with an app and a global retention, as JSON
/// (short and legacy keys) and `--global`.
#[test]
fn snapshot_builds_reports() {
    let berth = Berth::new();
    let app = crate::source::unique_app("snap");
    berth.app(&app);
    berth.cmd(["builds:set", &app, "retention", "5"]).succeeds();
    berth
        .cmd(["builds:set", "--global", "retention", "30"])
        .succeeds();
    berth
        .cmd(["builds:report", &app])
        .succeeds()
        .snapshot("builds-report");
    berth
        .cmd(["builds:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("builds-report-json");
    berth
        .cmd(["builds:report", "--global"])
        .succeeds()
        .snapshot("builds-report-global");
    berth
        .cmd(["builds:list", &app])
        .succeeds()
        .snapshot("builds-list-empty");
}

#[test]
fn snapshot_releases_reports() {
    let berth = Berth::new();
    let app = crate::source::unique_app("snap");
    berth.app(&app);
    berth
        .cmd(["releases:set", &app, "retention", "3"])
        .succeeds();
    berth
        .cmd(["releases:report", &app])
        .succeeds()
        .snapshot("releases-report");
    berth
        .cmd(["releases:report", &app, "--format", "json"])
        .succeeds()
        .snapshot_json("releases-report-json");
    berth
        .cmd(["releases:report", "--global"])
        .succeeds()
        .snapshot("releases-report-global");
}
