//! The zero-config builder: Heroku-style apps pushed without a Dockerfile,
//! built from the distribution's base image with the language's own
//! package manager, and BuildKit Dockerfiles. Builds download from the
//! real package registries, through the host's CA bundle
//! (`builder:set --global ca-bundle`).

use crate::harness::Berth;
use crate::routing::{route, via_nginx};
use crate::source::{Deployed, container_of, docker_inspect, unique_app, web_answer};
use crate::ssh_server::SshServer;

/// The bundle that trusts the proxy HTTPS from inside a container passes.
const HOST_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

fn berth_with_ca() -> Berth {
    let berth = Berth::new();
    berth
        .cmd(["builder:set", "--global", "ca-bundle", HOST_CA])
        .succeeds();
    berth
}

/// `template` pushed to a new app routed at `domain` through nginx.
#[track_caller]
fn routed(berth: &Berth, server: &SshServer, template: &str, domain: &str) -> Deployed {
    berth
        .deploy_template(template, template)
        .setup(|app| route(berth, server, app, domain))
        .push()
}

#[test]
fn flask_app_serves_through_nginx_scales_its_worker_and_reuses_its_dependencies() {
    let berth = berth_with_ca();
    let server = SshServer::start(&berth);
    let Deployed {
        app,
        source,
        pushed,
    } = routed(&berth, &server, "flask", "flask.test");
    pushed
        .stderr_has(&format!(
            "-----> Building {app} with the zero-config builder"
        ))
        .stderr_has("-----> Python app detected")
        .stderr_has("-----> Installing requirements with pip");
    assert_eq!(
        via_nginx(&server, "flask.test", "/"),
        (200, "hello from flask\n".into())
    );
    // Heroku's layout: the code in /app, run by a user that is not root.
    assert_eq!(
        via_nginx(&server, "flask.test", "/whoami").1,
        "uid=1000 cwd=/app\n"
    );
    let web = container_of(&berth, &app, "web.1");
    assert_eq!(
        docker_inspect(&web, "{{index .Config.Labels \"com.dokku.builder-type\"}}"),
        "auto"
    );

    berth.cmd(["ps:scale", &app, "worker=1"]).succeeds();
    let worker = container_of(&berth, &app, "worker.1");
    assert_eq!(docker_inspect(&worker, "{{.State.Running}}"), "true");

    // The CA bundle stays in the build stages.
    let image = docker_inspect(&web, "{{.Config.Image}}");
    let listing = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "ls",
            &image,
            "-a",
            "/app",
            "/etc",
        ])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("app.py"), "{listing}");
    assert!(!listing.contains("berth"), "{listing}");

    // Only code changed: the dependency layer is reused.
    let code = std::fs::read_to_string(source.path().join("app.py")).unwrap();
    source
        .write("app.py", &code.replace("hello from flask", "flask again"))
        .commit("code only");
    source
        .push_local(&berth, &app, "master")
        .succeeds()
        .stderr_has("Installing requirements with pip: unchanged since the last build");
    assert_eq!(via_nginx(&server, "flask.test", "/").1, "flask again\n");

    // A changed requirements.txt installs again (the comment makes it
    // new to this engine's cache, whatever ran before).
    let requirements = std::fs::read_to_string(source.path().join("requirements.txt")).unwrap();
    source
        .write(
            "requirements.txt",
            &format!("{requirements}itsdangerous  # {app}\n"),
        )
        .commit("one more dependency");
    let pushed = source.push_local(&berth, &app, "master").succeeds();
    assert!(
        !pushed
            .stderr
            .contains("unchanged since the last build, reusing"),
        "{}",
        pushed.stderr
    );
}

#[test]
fn fastapi_app_from_pyproject_gets_a_web_process_and_versions_are_checked() {
    let berth = berth_with_ca();
    let server = SshServer::start(&berth);
    let Deployed { app, source, .. } = routed(&berth, &server, "fastapi", "fastapi.test");
    assert_eq!(
        via_nginx(&server, "fastapi.test", "/"),
        (200, "hello from fastapi\n".into())
    );
    berth
        .cmd(["builder:report", &app, "--builder-detected"])
        .succeeds()
        .stdout_is("auto\n");
    berth
        .cmd(["builder-auto:report", &app, "--builder-auto-detected-stack"])
        .succeeds()
        .stdout_is("python\n");
    let printed = berth
        .cmd(["builder-auto:report", &app, "--print"])
        .succeeds()
        .stdout();
    assert!(
        printed.starts_with("# Written by berth's zero-config builder"),
        "{printed}"
    );
    assert!(printed.contains("COPY pyproject.toml /app/"), "{printed}");

    // A version the base cannot give fails before the build, naming what
    // is there, and the running release keeps serving.
    berth
        .cmd(["builder-auto:set", &app, "python-version", "3.12"])
        .succeeds();
    source
        .write("main.py", "broken = True\n")
        .commit("never built");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("Python 3.12 (builder-auto python-version) is not available on debian:bookworm-slim, which has Python 3.11");
    assert_eq!(
        via_nginx(&server, "fastapi.test", "/").1,
        "hello from fastapi\n"
    );
    berth
        .cmd(["builder-auto:set", &app, "python-version", "nope;rm"])
        .fails(1)
        .stderr_has("Invalid version");
}

#[test]
fn express_app_with_a_lockfile_and_no_procfile_runs_its_start_script() {
    let berth = berth_with_ca();
    let server = SshServer::start(&berth);
    let Deployed { pushed, .. } = routed(&berth, &server, "express", "express.test");
    pushed
        .stderr_has("-----> Node.js app detected")
        .stderr_has("Using Node.js 18.20.4 from debian:bookworm-slim (package.json engines.node asks for >=18)")
        .stderr_has("\"npm\",\"ci\",\"--omit=dev\"");
    assert_eq!(
        via_nginx(&server, "express.test", "/"),
        (200, "hello from express\n".into())
    );
    assert_eq!(via_nginx(&server, "express.test", "/env").1, "production\n");
}

#[test]
fn go_server_and_static_site_are_built_and_served() {
    let berth = berth_with_ca();
    let server = SshServer::start(&berth);
    let Deployed { pushed, .. } = routed(&berth, &server, "go", "go.test");
    pushed
        .stderr_has("-----> Go app detected")
        .stderr_has("-----> Building with go build");
    assert_eq!(
        via_nginx(&server, "go.test", "/"),
        (200, "hello from go\n".into())
    );

    let site = berth
        .deploy_template("static", "static")
        .source(|s| {
            // A Heroku app's buildpack list: berth says it is not run.
            s.write(
                ".buildpacks",
                "https://github.com/heroku/heroku-buildpack-static\n",
            )
            .commit("buildpacks");
        })
        .setup(|app| route(&berth, &server, app, "static.test"))
        .push();
    site.pushed
        .stderr_has(".buildpacks found: berth runs no buildpacks")
        .stderr_has("-----> Static site app detected");
    let (status, body) = via_nginx(&server, "static.test", "/");
    assert_eq!(status, 200);
    assert!(body.contains("hello from a static site"), "{body}");

    // An explicit buildpack builder cannot be honoured: said before
    // anything is built.
    berth
        .cmd(["builder:set", &site.app, "selected", "herokuish"])
        .succeeds();
    site.source.write("index.html", "changed\n").commit("v2");
    site.source
        .push_local(&berth, &site.app, "master")
        .fails(1)
        .stderr_has("Builder herokuish is not available: berth runs no buildpacks");
    assert!(
        via_nginx(&server, "static.test", "/")
            .1
            .contains("hello from a static site")
    );
}

#[test]
fn an_app_nothing_recognises_is_rejected_and_the_running_release_serves() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("unknown");
    let rev = berth
        .cmd(["config:get", &app, "GIT_REV"])
        .succeeds()
        .stdout();
    source.git(&["rm", "-q", "Dockerfile"]);
    source.commit("no dockerfile");
    source
        .push_local(&berth, &app, "master")
        .fails(1)
        .stderr_has("Unable to select a builder for")
        .stderr_has("no Dockerfile, and berth's zero-config builder found none of go.mod (Go), package.json (Node.js), requirements.txt");
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".into()));
    // The refused commit is not recorded as the app's revision.
    berth
        .cmd(["config:get", &app, "GIT_REV"])
        .succeeds()
        .stdout_is(&rev);
}

#[test]
fn a_dockerfile_with_a_cache_mount_builds_with_buildkit() {
    let berth = Berth::new();
    let Deployed { app, pushed, .. } = berth
        .deploy("buildkit")
        .source(|s| {
            s.write(
                "Dockerfile",
                "FROM debian:bookworm-slim\n\
                 RUN --mount=type=cache,target=/root/.cache echo cached > /root/.cache/seen && cat /root/.cache/seen\n\
                 COPY server.pl /app/server.pl\n\
                 EXPOSE 5000\n\
                 CMD [\"perl\", \"/app/server.pl\"]\n",
            )
            .commit("cache mount");
        })
        .push();
    pushed.stderr_has("RUN --mount=type=cache,target=/root/.cache");
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".into()));
}

#[test]
fn the_ca_bundle_is_a_local_setting_and_must_hold_certificates() {
    let berth = Berth::new();
    let server = SshServer::start(&berth);
    server
        .ssh(["builder:set", "--global", "ca-bundle", HOST_CA])
        .fails(1)
        .stderr_has("builder:set ca-bundle names a file of the server");
    // Only the property is refused over SSH, not an app that bears its name.
    berth.app("ca-bundle");
    server
        .ssh(["builder:set", "ca-bundle", "selected", "auto"])
        .succeeds();
    berth
        .cmd(["builder:set", "--global", "ca-bundle", "/etc/hostname"])
        .fails(1)
        .stderr_has("holds no PEM certificate");
    berth
        .cmd(["builder:set", "--global", "ca-bundle", "relative.pem"])
        .fails(1)
        .stderr_has("give the absolute path");
    berth
        .cmd(["builder:set", "--global", "ca-bundle", HOST_CA])
        .succeeds();
    berth
        .cmd(["builder:report", "--global", "--builder-global-ca-bundle"])
        .succeeds()
        .stdout_is(&format!("{HOST_CA}\n"));
    let app = unique_app("nocode");
    berth.app(&app);
    berth
        .cmd(["builder-auto:report", &app, "--print"])
        .fails(1)
        .stderr_has("has no code to build");
}

#[test]
fn a_dockerfile_gets_the_ca_bundle_as_a_context_file_it_may_copy() {
    let berth = berth_with_ca();
    let Deployed { app, .. } = berth
        .deploy("dockerca")
        .source(|s| {
            s.write(
                "Dockerfile",
                "FROM debian:bookworm-slim\n\
                 ARG BERTH_CA_BUNDLE\n\
                 COPY ${BERTH_CA_BUNDLE} /etc/proxy-ca.crt\n\
                 COPY server.pl /app/server.pl\n\
                 EXPOSE 5000\n\
                 CMD [\"perl\", \"/app/server.pl\"]\n",
            )
            .commit("copies the CA");
        })
        .push();
    let web = container_of(&berth, &app, "web.1");
    let image = docker_inspect(&web, "{{.Config.Image}}");
    let copied = std::process::Command::new("docker")
        .args(["run", "--rm", &image, "cat", "/etc/proxy-ca.crt"])
        .output()
        .unwrap();
    assert_eq!(copied.stdout, std::fs::read(HOST_CA).unwrap());
    assert_eq!(web_answer(&berth, &app), (200, "hello\n".into()));
}
