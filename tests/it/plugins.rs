//! External plugins in Dokku's format: installed with `plugin:install`,
//! answering triggers during real deploys, adding commands (locally and
//! over SSH), and the two bundled plugins end to end through nginx.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::harness::{Berth, Cmd};
use crate::routing::{routed, via_nginx};
use crate::source::{Deployed, Source, http_get_with, unique_app, web_answer};
use crate::ssh_server::SshServer;

/// The shell test plugin in `tests/plugins/hello`.
fn hello_plugin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/hello")
}

fn triggers_log(berth: &Berth) -> String {
    std::fs::read_to_string(berth.lib_root().join("data/hello/triggers.log")).unwrap_or_default()
}

/// Writes a plugin folder with the given executables (name, script body
/// after the shebang) and returns its path.
fn write_plugin(berth: &Berth, name: &str, executables: &[(&str, &str)]) -> PathBuf {
    let dir = berth.root().join("plugin-sources").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        format!("[plugin]\ndescription = \"test plugin {name}\"\nversion = \"1.0.0\"\n"),
    )
    .unwrap();
    for (file, body) in executables {
        let path = dir.join(file);
        std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn install(berth: &Berth, dir: &Path) {
    berth
        .cmd(["plugin:install", &dir.display().to_string()])
        .succeeds();
}

#[test]
fn a_shell_plugin_runs_on_deploy_adds_a_command_and_stops_when_disabled() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth
        .cmd(["plugin:install", &hello_plugin().display().to_string()])
        .succeeds()
        .stdout_has("-----> Plugin hello enabled");
    berth.cmd(["plugin:installed", "hello"]).succeeds();
    berth.cmd(["plugin:installed", "nothere"]).fails(1);
    berth
        .cmd(["plugin:list"])
        .succeeds()
        .stdout_has("  hello                0.0.1 enabled    berth's test plugin")
        .stdout_has("  apps                 0.38.27 enabled    berth core: Manage apps");

    let Deployed { app, pushed, .. } = berth.deployed("plugged");
    pushed.stderr_has(&format!("hello saw {app} deployed"));
    let log = triggers_log(&berth);
    let tag = berth
        .cmd(["plugin:trigger", "deployed-app-image-tag", &app])
        .succeeds()
        .stdout();
    let tag = tag.trim();
    assert!(!tag.is_empty() && tag != "latest", "{tag}");
    assert!(
        log.contains(&format!("docker-args-deploy {app} {tag} web 1\n")),
        "{log}"
    );
    assert!(
        log.contains(&format!("post-deploy {app} 5000  {tag}\n")),
        "{log}"
    );
    // The plugin's --env reached the container.
    assert_eq!(
        web_answer(&berth, &app),
        (200, "from-the-hello-plugin\n".into())
    );

    // Its command, locally and over SSH, and in help.
    berth
        .cmd(["hello:world", &app])
        .succeeds()
        .stdout_is(&format!("-----> hello, world from {app}\n"));
    server
        .ssh(["hello:world"])
        .succeeds()
        .stdout_is("-----> hello, world\n");
    berth
        .cmd(["hello:world", "ghost"])
        .fails(20)
        .stderr_is(" !     App ghost does not exist\n");
    berth
        .cmd(["help"])
        .succeeds()
        .stdout_has("Community plugin commands:")
        .stdout_has("    hello:world [<app>]  Say hello");

    // Disabled: no command, no trigger, no docker options.
    berth.cmd(["plugin:disable", "hello"]).succeeds();
    berth
        .cmd(["hello:world"])
        .fails(1)
        .stderr_has("`hello:world` is not a dokku command.");
    server.ssh(["hello:world"]).fails(1);
    let before = triggers_log(&berth);
    berth.cmd(["ps:rebuild", &app]).succeeds();
    assert_eq!(triggers_log(&berth), before, "no trigger ran");
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".into()));
    assert!(
        !berth
            .cmd(["help"])
            .succeeds()
            .stdout()
            .contains("hello:world")
    );

    berth.cmd(["plugin:enable", "hello"]).succeeds();
    berth.cmd(["hello:world"]).succeeds();
    berth.cmd(["plugin:uninstall", "hello"]).succeeds();
    berth.cmd(["plugin:installed", "hello"]).fails(1);
    berth.cmd(["hello:world"]).fails(1);
}

#[test]
fn a_failing_or_hanging_trigger_aborts_the_deploy_and_the_old_release_serves() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("vetoed");
    let container = berth.dokku_root().join(&app).join("CONTAINER.web.1");
    let before = std::fs::read_to_string(&container).unwrap();
    let server_pl = std::fs::read_to_string(source.path().join("server.pl")).unwrap();
    source
        .write("server.pl", &server_pl.replace("// 'hello'", "// 'v2'"))
        .commit("v2");

    let veto = write_plugin(
        &berth,
        "veto",
        &[(
            "check-deploy",
            "echo \" !     veto says no to $1 ($3 on port $4)\" >&2\nexit 3",
        )],
    );
    install(&berth, &veto);
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has(&format!("veto says no to {app} (web on port 5000)"))
        .stderr_has("The check-deploy trigger of plugin veto failed (exit status 3)");
    assert_eq!(std::fs::read_to_string(&container).unwrap(), before);
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".into()));
    berth.cmd(["plugin:uninstall", "veto"]).succeeds();

    // A trigger that hangs is stopped at the timeout, with what it started.
    let slow = write_plugin(&berth, "slow", &[("pre-deploy", "sleep 300 & sleep 300")]);
    install(&berth, &slow);
    berth
        .cmd(["plugin:set", "--global", "trigger-timeout", "2"])
        .succeeds();
    let started = std::time::Instant::now();
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has(
            "The pre-deploy trigger of plugin slow did not finish within 2s and was stopped",
        );
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    assert_eq!(std::fs::read_to_string(&container).unwrap(), before);
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".into()));
}

#[test]
fn privileged_docker_options_from_plugins_need_the_admins_consent() {
    let berth = Berth::new();
    let source = Source::new("hello");
    let app = unique_app("guarded");
    berth.app(&app);
    let options = berth.root().join("docker-options");
    let dir = write_plugin(
        &berth,
        "options",
        &[(
            "docker-args-deploy",
            &format!("cat\ncat {}", options.display()),
        )],
    );
    install(&berth, &dir);

    std::fs::write(&options, "--privileged").unwrap();
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("Refused docker option --privileged")
        .stderr_has("plugin:set --global allowed-docker-options privileged");
    std::fs::write(&options, "-v /:/host").unwrap();
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("host-mounts");
    assert!(
        !berth
            .dokku_root()
            .join(&app)
            .join("CONTAINER.web.1")
            .exists(),
        "nothing was started"
    );

    berth
        .cmd(["plugin:set", "--global", "allowed-docker-options", "bogus"])
        .fails(1)
        .stderr_has("bogus");
    berth
        .cmd([
            "plugin:set",
            "--global",
            "allowed-docker-options",
            "privileged,host-mounts",
        ])
        .succeeds();
    // (The engine these tests run on may not start privileged containers;
    // that the class admits --privileged is a unit test of docker_args.)
    std::fs::write(&options, "-v /:/host:ro").unwrap();
    source.push_local(&berth, &app, "master").succeeds();
    berth
        .cmd(["enter", &app, "web", "test", "-f", "/host/etc/os-release"])
        .succeeds();
}

#[test]
fn user_auth_plugins_see_every_command_and_can_deny_it() {
    let berth = Berth::new();
    let log = berth.root().join("auth.log");
    let dir = write_plugin(
        &berth,
        "gate",
        &[(
            "user-auth",
            &format!("echo \"$*\" >>{}\n[[ $3 != apps:destroy ]]", log.display()),
        )],
    );
    install(&berth, &dir);
    berth.app("gated");
    berth
        .cmd(["--force", "apps:destroy", "gated"])
        .fails(1)
        .stderr_is(" !     Access denied\n");
    berth.cmd(["apps:exists", "gated"]).succeeds();
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.contains(" default apps:create gated\n"), "{seen}");
    assert!(seen.contains(" default apps:destroy gated\n"), "{seen}");

    // Over SSH the plugin learns who is asking: the dokku user and the
    // key's name.
    let server = SshServer::start(&berth);
    server.ssh(["apps:list"]).succeeds();
    server
        .ssh(["--force", "apps:destroy", "gated"])
        .fails(1)
        .stderr_is(" !     Access denied\n");
    let seen = std::fs::read_to_string(&log).unwrap();
    assert!(seen.contains("dokku admin apps:list\n"), "{seen}");
}

#[test]
fn plugins_install_from_git_and_tarballs_and_refuse_bad_input() {
    let berth = Berth::new();
    // A git repository, by file:// URL.
    let repo = berth.root().join("hello-repo");
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(hello_plugin())
        .arg(&repo)
        .status()
        .unwrap();
    assert!(copy.success());
    for args in [
        &["init", "--quiet"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--quiet",
            "-m",
            "hello",
        ],
    ] {
        Cmd::new("git", args.iter().copied())
            .current_dir(&repo)
            .succeeds();
    }
    berth
        .cmd([
            "plugin:install",
            &format!("file://{}", repo.display()),
            "--name",
            "from-git",
        ])
        .succeeds();
    berth.cmd(["plugin:update", "from-git"]).succeeds();
    berth
        .cmd(["plugin:list"])
        .succeeds()
        .stdout_has("  from-git             0.0.1 enabled");

    // A gzipped tarball with the plugin in a top-level folder.
    let tarball = berth.root().join("dokku-hello-tar.tgz");
    let tar = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(hello_plugin().parent().unwrap())
        .arg("hello")
        .status()
        .unwrap();
    assert!(tar.success());
    berth
        .cmd(["plugin:install", &tarball.display().to_string()])
        .succeeds();
    berth.cmd(["plugin:installed", "hello-tar"]).succeeds();
    assert!(
        berth
            .lib_root()
            .join("plugins/enabled/hello-tar/commands")
            .is_file()
    );

    // The same tarball from an http URL (one request, served here).
    let bytes = std::fs::read(&tarball).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            bytes.len()
        )
        .unwrap();
        stream.write_all(&bytes).unwrap();
        request
    });
    berth
        .cmd([
            "plugin:install",
            &format!("http://127.0.0.1:{port}/dokku-served.tar.gz"),
        ])
        .succeeds();
    assert!(
        serving
            .join()
            .unwrap()
            .starts_with("GET /dokku-served.tar.gz ")
    );
    berth.cmd(["plugin:installed", "served"]).succeeds();

    // Without a source: the bundled plugins, then every install trigger.
    let runs = berth.root().join("install-runs");
    let counted = write_plugin(
        &berth,
        "counted",
        &[("install", &format!("echo ran >>{}", runs.display()))],
    );
    install(&berth, &counted);
    berth.cmd(["plugin:install"]).succeeds();
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "ran\nran\n");
    berth.cmd(["plugin:installed", "maintenance"]).succeeds();

    // Refusals change nothing.
    berth
        .cmd(["plugin:install", &tarball.display().to_string()])
        .fails(1)
        .stderr_has("Plugin hello-tar is already installed");
    berth
        .cmd([
            "plugin:install",
            &hello_plugin().display().to_string(),
            "--name",
            "bad;name",
        ])
        .fails(1)
        .stderr_has("Invalid plugin name bad;name");
    berth
        .cmd([
            "plugin:install",
            &hello_plugin().display().to_string(),
            "--name",
            "apps",
        ])
        .fails(1)
        .stderr_has("core plugin");
    let not_a_plugin = berth.root().join("empty");
    std::fs::create_dir_all(&not_a_plugin).unwrap();
    berth
        .cmd(["plugin:install", &not_a_plugin.display().to_string()])
        .fails(1)
        .stderr_has("no plugin.toml");
    berth.cmd(["plugin:installed", "empty"]).fails(1);
    berth
        .cmd(["plugin:disable", "apps"])
        .fails(1)
        .stderr_is(" !     Cannot disable a core plugin\n");
    berth
        .cmd(["plugin:uninstall", "ghost"])
        .fails(1)
        .stderr_is(" !     Plugin ghost is not installed\n");
    let failing = write_plugin(&berth, "broken-install", &[("install", "exit 7")]);
    berth
        .cmd(["plugin:install", &failing.display().to_string()])
        .fails(1)
        .stderr_has("The install trigger of plugin broken-install failed (exit status 7)");
    berth.cmd(["plugin:installed", "broken-install"]).fails(1);
}

#[test]
fn dokku_shell_helpers_behave_as_documented() {
    let common = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/common");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/functions_test.sh");
    Cmd::new(
        "bash",
        [script.display().to_string(), common.display().to_string()],
    )
    .succeeds();
}

/// `GET /` through nginx with optional basic-auth credentials.
fn get_with_auth(server: &SshServer, host: &str, credentials: Option<&str>) -> (u16, String) {
    use base64::Engine;
    let auth = credentials
        .map(|c| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        })
        .unwrap_or_default();
    let addr = format!("127.0.0.1:{}", server.http_port());
    http_get_with(&addr, host, "/", &auth).expect("nginx answers")
}

#[test]
fn bundled_maintenance_and_http_auth_work_through_nginx() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    berth
        .cmd(["plugin:list"])
        .succeeds()
        .stdout_has("maintenance")
        .stdout_has("http-auth");
    let app = routed(&berth, &server, "paused.test").app;
    let other = routed(&berth, &server, "other.test").app;

    berth.cmd(["maintenance:on", &app]).succeeds();
    let (status, body) = via_nginx(&server, "paused.test", "/");
    assert_eq!(status, 503, "{body}");
    assert!(body.to_lowercase().contains("maintenance"), "{body}");
    assert_eq!(
        via_nginx(&server, "other.test", "/"),
        (200, "hello\n".into())
    );
    berth
        .cmd(["maintenance:report", &app, "--maintenance-enabled"])
        .succeeds()
        .stdout_is("true\n");
    server
        .ssh(["maintenance:custom-page", &app])
        .stdin("<html><body>Back at five</body></html>\n")
        .succeeds();
    let (status, body) = via_nginx(&server, "paused.test", "/");
    assert_eq!(
        (status, body.contains("Back at five")),
        (503, true),
        "{body}"
    );
    berth.cmd(["maintenance:off", &app]).succeeds();
    assert_eq!(
        via_nginx(&server, "paused.test", "/"),
        (200, "hello\n".into())
    );

    // http-auth: 401 without credentials, 200 with them.
    server
        .ssh(["http-auth:enable", &other, "ada", "'s3cret pass'"])
        .succeeds();
    assert_eq!(get_with_auth(&server, "other.test", None).0, 401);
    assert_eq!(
        get_with_auth(&server, "other.test", Some("ada:wrong")).0,
        401
    );
    assert_eq!(
        get_with_auth(&server, "other.test", Some("ada:s3cret pass")),
        (200, "hello\n".into())
    );
    let htpasswd =
        std::fs::read_to_string(berth.dokku_root().join(&other).join("htpasswd")).unwrap();
    assert!(htpasswd.starts_with("ada:$6$"), "{htpasswd}");
    assert!(!htpasswd.contains("s3cret"));
    berth
        .cmd(["http-auth:add-user", &other, "bob", "hunter2"])
        .succeeds();
    assert_eq!(
        get_with_auth(&server, "other.test", Some("bob:hunter2")).0,
        200
    );
    berth
        .cmd(["http-auth:remove-user", &other, "bob"])
        .succeeds();
    assert_eq!(
        get_with_auth(&server, "other.test", Some("bob:hunter2")).0,
        401
    );
    assert_eq!(
        via_nginx(&server, "paused.test", "/"),
        (200, "hello\n".into())
    );
    berth.cmd(["http-auth:disable", &other]).succeeds();
    assert_eq!(
        get_with_auth(&server, "other.test", None),
        (200, "hello\n".into())
    );
}

#[test]
fn plugins_use_config_functions_as_in_dokku() {
    let berth = Berth::new();
    berth.app("configured");
    let dir = write_plugin(
        &berth,
        "conf",
        &[(
            "commands",
            r#"set -eo pipefail
source "$PLUGIN_CORE_AVAILABLE_PATH/common/functions"
source "$PLUGIN_CORE_AVAILABLE_PATH/config/functions"
case "$1" in
  conf:roundtrip)
    config_set --no-restart "$2" "GREETING=a 'quoted' \$value" >/dev/null
    config_get "$2" GREETING
    config_export app "$2" | grep '^export GREETING='
    ;;
  *) exit "$DOKKU_NOT_IMPLEMENTED_EXIT" ;;
esac"#,
        )],
    );
    install(&berth, &dir);
    berth
        .cmd(["conf:roundtrip", "configured"])
        .succeeds()
        .stdout_has("a 'quoted' $value\nexport GREETING=");
    berth
        .cmd(["config:get", "configured", "GREETING"])
        .succeeds()
        .stdout_is("a 'quoted' $value\n");
}

#[test]
fn core_triggers_reach_plugins_with_dokku_arguments() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    let log = berth.root().join("recorded");
    let triggers = [
        "post-create",
        "receive-branch",
        "pre-receive-app",
        "pre-build",
        "docker-args-build",
        "docker-args-process-build",
        "post-build",
        "pre-release-builder",
        "post-release-builder",
        "pre-deploy",
        "docker-args-deploy",
        "docker-args-process-deploy",
        "post-container-create",
        "check-deploy",
        "post-deploy",
        "git-pre-pull",
        "git-post-pull",
        "post-config-update",
        "docker-args-run",
        "post-stop",
        "post-app-rename",
        "pre-delete",
        "post-delete",
    ];
    let script = format!("echo \"$(basename \"$0\") $*\" >>{}", log.display());
    let executables: Vec<(&str, &str)> = triggers.iter().map(|t| (*t, script.as_str())).collect();
    install(&berth, &write_plugin(&berth, "recorder", &executables));

    let app = berth.deploy("recorded").push_ssh(&server).app;
    let clone = berth.root().join("clone").display().to_string();
    server
        .git(["clone", "-q", &server.remote_url(&app), &clone])
        .succeeds();
    server
        .ssh(["config:set", "--no-restart", &app, "A=1"])
        .succeeds();
    server.ssh(["run", &app, "true"]).succeeds();
    server.ssh(["ps:stop", &app]).succeeds();
    let renamed = format!("{app}-2");
    server.ssh(["apps:rename", &app, &renamed]).succeeds();
    server.ssh(["--force", "apps:destroy", &renamed]).succeeds();

    let recorded = std::fs::read_to_string(&log).unwrap();
    let line = |prefix: String| {
        assert!(
            recorded.lines().any(|l| l.starts_with(&prefix)),
            "no line starting with {prefix:?} in:\n{recorded}"
        );
    };
    line(format!("post-create {app}"));
    line(format!("receive-branch {app} "));
    line(format!("pre-receive-app {app} dockerfile  "));
    line(format!("pre-build dockerfile {app}"));
    line(format!("docker-args-build {app} dockerfile"));
    line(format!("docker-args-process-build {app} dockerfile"));
    line(format!("post-build dockerfile {app}"));
    line(format!("pre-release-builder dockerfile {app} dokku/{app}:"));
    line(format!(
        "post-release-builder dockerfile {app} dokku/{app}:"
    ));
    line(format!("pre-deploy {app} "));
    line(format!("docker-args-deploy {app} "));
    line(format!("docker-args-process-deploy {app} dockerfile "));
    line("post-container-create app ".to_string());
    line(format!("check-deploy {app} "));
    line(format!("post-deploy {app} 5000  "));
    line(format!("git-pre-pull {app}"));
    line(format!("git-post-pull {app}"));
    line(format!("post-config-update {app} set A"));
    line(format!("docker-args-run {app} latest"));
    line(format!("post-stop {app}"));
    line(format!("post-app-rename {app} {renamed}"));
    line(format!("pre-delete {renamed}"));
    line(format!("post-delete {renamed}"));
    // The push's refs: `receive-branch APP NEWREV refs/heads/master`.
    assert!(
        recorded
            .lines()
            .any(|l| l.starts_with(&format!("receive-branch {app} "))
                && l.ends_with(" refs/heads/master")),
        "{recorded}"
    );
}
