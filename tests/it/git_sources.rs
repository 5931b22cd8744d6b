//! Deploys from an image, an archive on stdin, and a synced repository.

use crate::harness::Berth;
use crate::source::{Deployed, Source, unique_app, web_answer};

#[test]
fn from_archive_on_stdin_deploys_and_moves_the_branch() {
    let berth = Berth::new();
    let source = Source::new("hello");
    let archive = source
        .git(&["archive", "--format=tar.gz", "--prefix=hello-main/", "HEAD"])
        .stdout;
    let app = unique_app("archive");
    berth.app(&app);
    berth
        .cmd(["git:from-archive", &app, "--"])
        .stdin(archive)
        .succeeds()
        .stdout_has("=====> Application deployed:");
    assert_eq!(web_answer(&berth, &app).1, "hello\n");
    berth
        .cmd(["apps:report", &app, "--app-deploy-source"])
        .succeeds()
        .stdout_is("tar.gz\n");
    assert!(
        berth
            .dokku_root()
            .join(&app)
            .join("refs/heads/master")
            .exists()
    );

    let zip = source.git(&["archive", "--format=zip", "HEAD"]).stdout;
    berth
        .cmd(["git:from-archive", &app, "--"])
        .stdin(zip)
        .succeeds();
    berth
        .cmd(["apps:report", &app, "--app-deploy-source"])
        .succeeds()
        .stdout_is("zip\n");
}

#[test]
fn from_archive_refuses_garbage_and_keeps_the_branch() {
    let berth = Berth::new();
    let app = unique_app("badarchive");
    berth.app(&app);
    berth
        .cmd(["git:from-archive", &app, "--"])
        .stdin("not an archive")
        .fails(1)
        .stderr_has("Unable to recognise the archive");
    assert!(
        !berth
            .dokku_root()
            .join(&app)
            .join("refs/heads/master")
            .exists()
    );
}

#[test]
fn from_image_runs_the_image() {
    let berth = Berth::new();
    let built = berth.deployed("imgsrc").app;
    let app = unique_app("fromimage");
    berth.app(&app);
    berth
        .cmd(["git:from-image", &app, &format!("dokku/{built}:latest")])
        .succeeds()
        .stdout_has("=====> Application deployed:");
    assert_eq!(web_answer(&berth, &app).1, "hello\n");
    berth
        .cmd(["git:report", &app, "--git-source-image"])
        .succeeds()
        .stdout_is(&format!("dokku/{built}:latest\n"));
    berth
        .cmd(["git:from-image", &app, "evil\nRUN rm -rf /"])
        .fails(1)
        .stderr_has("Invalid image name");
}

#[test]
fn sync_fetches_and_builds() {
    let berth = Berth::new();
    let source = Source::new("hello");
    let app = unique_app("sync");
    berth.app(&app);
    let remote = source.path().display().to_string();
    berth.cmd(["git:sync", &app, &remote]).succeeds();
    assert!(
        !berth
            .dokku_root()
            .join(&app)
            .join("CONTAINER.web.1")
            .exists(),
        "no build without --build"
    );
    berth
        .cmd(["git:sync", "--build", &app, &remote, "master"])
        .succeeds()
        .stdout_has("=====> Application deployed:");
    berth
        .cmd(["apps:report", &app, "--app-deploy-source-metadata"])
        .succeeds()
        .stdout_is(&format!("{remote}#master\n"));
}

/// Serves `body` once over HTTP on a loopback port; returns the URL.
fn serve_once(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let header = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(header.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://127.0.0.1:{port}/app.tar.gz")
}

#[test]
fn from_archive_downloads_a_url() {
    let berth = Berth::new();
    let source = Source::new("hello");
    let archive = source.git(&["archive", "--format=tar.gz", "HEAD"]).stdout;
    let app = unique_app("archiveurl");
    berth.app(&app);
    let url = serve_once(archive);
    berth
        .cmd(["git:from-archive", &app, &url])
        .succeeds()
        .stdout_has("=====> Application deployed:");
    berth
        .cmd(["apps:report", &app, "--app-deploy-source-metadata"])
        .succeeds()
        .stdout_is(&format!("{url}\n"));
    berth
        .cmd(["git:from-archive", &app, "ftp://example.invalid/x.tar"])
        .fails(1)
        .stderr_has("Unsupported archive url");
}

#[test]
fn status_unlock_gc_and_purge_cache() {
    let berth = Berth::new();
    let Deployed { app, source, .. } = berth.deployed("repo");
    let head = source.git(&["rev-parse", "HEAD"]);
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    berth
        .cmd(["git:status", &app])
        .succeeds()
        .stdout_is(&format!("On branch master\n{head} initial\n"));
    // A lock a killed push left refuses pushes until it is removed.
    let lock = berth.dokku_root().join(&app).join("refs/heads/master.lock");
    std::fs::write(&lock, "").unwrap();
    berth
        .cmd(["git:unlock", &app])
        .succeeds()
        .stdout_has("Removed 0 ref lock file(s)");
    assert!(lock.exists());
    berth
        .cmd(["git:unlock", &app, "--force"])
        .succeeds()
        .stdout_has("Removed 1 ref lock file(s)");
    assert!(!lock.exists());
    berth.cmd(["repo:gc", &app]).succeeds();
    let cache = berth.dokku_root().join(&app).join("cache");
    std::fs::create_dir_all(cache.join("pip")).unwrap();
    std::fs::write(cache.join("pip/wheel"), "x").unwrap();
    berth
        .cmd(["repo:purge-cache", &app])
        .succeeds()
        .stdout_has("Purged the build cache");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
    // The repository still serves a push after gc.
    source.write("after-gc.txt", "x").commit("after gc");
    source.push_local(&berth, &app, "master").succeeds();
    berth
        .cmd(["repo:gc", "no-such-app"])
        .fails(20)
        .stderr_has("does not exist");
}

#[test]
fn load_image_reads_a_saved_image_from_stdin() {
    let berth = Berth::new();
    let app = unique_app("loadimage");
    berth.app(&app);
    let image = format!("berth-test/{app}:v1");
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        out.stdout
    };
    let context = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/hello");
    // A label of its own: an image id no other test's container uses.
    let label = format!("berth.test={app}");
    docker(&[
        "build",
        "-q",
        "--label",
        &label,
        "-t",
        &image,
        &context.display().to_string(),
    ]);
    let archive = docker(&["image", "save", &image]);
    // Gone from the engine: only the archive can bring it back.
    docker(&["image", "rm", &image]);
    berth
        .cmd(["git:load-image", &app, &image])
        .env("BERTH_IMAGE_ARCHIVE_LIMIT", "4096")
        .stdin(archive.clone())
        .fails(1)
        .stderr_has("The image archive is larger than");
    berth
        .cmd(["git:load-image", &app, &image])
        .stdin(archive)
        .succeeds()
        .stdout_has("Application deployed");
    assert_eq!(web_answer(&berth, &app).1, "hello\n");
    berth
        .cmd(["git:load-image", &app, "berth-test/not-in-the-archive:v1"])
        .stdin(Vec::new())
        .fails(1);
    // The engine keeps no image of this run's making (untagged even while
    // the app's container uses it).
    docker(&["image", "rm", "-f", &image]);
}
