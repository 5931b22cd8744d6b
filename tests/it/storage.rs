//! `storage:*`: storage directories, bind mounts and their use by deployed
//! and one-off containers, and container-mode host paths.

use std::os::unix::fs::MetadataExt;

use crate::harness::Berth;
use crate::source::Deployed;

fn mounts_file(berth: &Berth, app: &str) -> std::path::PathBuf {
    berth
        .lib_root()
        .join("config/storage")
        .join(app)
        .join("mounts")
}

#[test]
fn ensure_directory_creates_and_chowns() {
    let berth = Berth::new();
    berth
        .cmd(["storage:ensure-directory", "uploads"])
        .succeeds()
        .stdout_is(
            "-----> Ensuring [ROOT]/lib/data/storage/uploads exists\n       \
             Setting directory ownership to 32767:32767\n       \
             Directory ready for mounting\n",
        );
    let dir = berth.lib_root().join("data/storage/uploads");
    let meta = std::fs::metadata(&dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.gid()), (32767, 32767));

    std::fs::write(dir.join("f"), "x").unwrap();
    berth
        .cmd(["storage:ensure-directory", "--chown", "paketo", "uploads"])
        .succeeds()
        .stdout_has("Setting directory ownership to 2000:2000");
    assert_eq!(std::fs::metadata(dir.join("f")).unwrap().uid(), 2000);

    berth
        .cmd(["storage:ensure-directory", "--chown=false", "plain"])
        .succeeds()
        .stdout_is(
            "-----> Ensuring [ROOT]/lib/data/storage/plain exists\n       \
             Directory ready for mounting\n",
        );
    let owner = std::fs::metadata(berth.lib_root()).unwrap().uid();
    assert_eq!(
        std::fs::metadata(berth.lib_root().join("data/storage/plain"))
            .unwrap()
            .uid(),
        owner
    );
}

#[test]
fn ensure_directory_refuses_bad_input_and_creates_nothing() {
    let berth = Berth::new();
    for (args, message) in [
        (
            vec!["--chown", "nobody", "x"],
            "Unsupported chown permissions",
        ),
        (
            vec!["../x"],
            "Directory can only contain the following set of characters: [A-Za-z0-9._-]",
        ),
        (
            vec![".."],
            "Directory can only contain the following set of characters: [A-Za-z0-9._-]",
        ),
        (vec![], "Please specify a name for the directory"),
    ] {
        let mut argv = vec!["storage:ensure-directory"];
        argv.extend(args);
        berth
            .cmd(argv)
            .fails(1)
            .stdout_is("")
            .stderr_is(&format!(" !     {message}\n"));
    }
    assert!(!berth.lib_root().join("data/storage").exists());
}

#[test]
fn mount_list_report_unmount() {
    let berth = Berth::new();
    berth.app("demo");
    // A host path outside the storage folder needs the admin's class.
    berth
        .cmd(["storage:mount", "demo", "/srv/a:/a"])
        .fails(1)
        .stderr_has("needs the host-mounts class");
    berth
        .cmd([
            "plugin:set",
            "--global",
            "allowed-docker-options",
            "host-mounts",
        ])
        .succeeds();
    berth
        .cmd(["storage:mount", "demo", "/srv/a:/a"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["storage:mount", "demo", "vol1:/b:ro,z"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["storage:mount", "demo", "/srv/a:/a"])
        .fails(1)
        .stderr_is(" !     Mount path already exists.\n");
    berth
        .cmd(["storage:mount", "demo", "/srv/other:/a"])
        .fails(1)
        .stderr_is(" !     Container path /a is already mounted (/srv/a:/a); unmount it first.\n");

    berth
        .cmd(["storage:list", "demo"])
        .succeeds()
        .stdout_is("-----> demo volume bind-mounts:\n       /srv/a:/a\n       vol1:/b:ro,z\n");
    berth
        .cmd(["--quiet", "storage:list", "demo"])
        .succeeds()
        .stdout_is("       /srv/a:/a\n       vol1:/b:ro,z\n");
    berth
        .cmd(["storage:list", "demo", "--format", "json"])
        .succeeds()
        .stdout_is(concat!(
            r#"[{"host_path":"/srv/a","container_path":"/a","volume_options":""},"#,
            r#"{"host_path":"vol1","container_path":"/b","volume_options":"ro,z"}]"#,
            "\n"
        ));
    let flags = "-v /srv/a:/a -v vol1:/b:ro,z";
    berth
        .cmd(["storage:report", "demo"])
        .succeeds()
        .stdout_is(&format!(
            "=====> demo storage information\n       \
             {:<31}\n       {:<31}{flags}\n       {:<31}{flags}\n",
            "Storage build mounts:", "Storage deploy mounts:", "Storage run mounts:"
        ));
    berth
        .cmd(["storage:report", "demo", "--storage-run-mounts"])
        .succeeds()
        .stdout_is(&format!("{flags}\n"));
    berth
        .cmd(["storage:report", "demo", "--format", "json"])
        .succeeds()
        .stdout_is(&format!(
            "{{\"build-mounts\":\"\",\"deploy-mounts\":\"{flags}\",\"run-mounts\":\"{flags}\",\
             \"storage-build-mounts\":\"\",\"storage-deploy-mounts\":\"{flags}\",\
             \"storage-run-mounts\":\"{flags}\"}}\n"
        ));
    assert_eq!(
        std::fs::read_to_string(mounts_file(&berth, "demo")).unwrap(),
        concat!(
            r#"{"host_path":"/srv/a","container_path":"/a","volume_options":"","phases":["deploy","run"],"process_type":"_default_"}"#,
            "\n",
            r#"{"host_path":"vol1","container_path":"/b","volume_options":"ro,z","phases":["deploy","run"],"process_type":"_default_"}"#,
            "\n"
        )
    );

    berth
        .cmd(["storage:unmount", "demo", "/srv/a:/a"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["storage:unmount", "demo", "/srv/a:/a"])
        .fails(1)
        .stderr_is(" !     Mount path does not exist.\n");
    berth
        .cmd(["storage:unmount", "demo", "vol1:/b"])
        .fails(1)
        .stderr_is(" !     Mount path does not exist.\n");
    berth
        .cmd(["storage:unmount", "demo", "vol1:/b:ro,z"])
        .succeeds();
    assert!(!mounts_file(&berth, "demo").exists());
    berth
        .cmd(["storage:list", "demo"])
        .succeeds()
        .stdout_is("-----> demo volume bind-mounts:\n");
}

#[test]
fn bad_mounts_are_refused_and_nothing_is_stored() {
    let berth = Berth::new();
    berth.app("demo");
    let two_paths = "Storage path must be two valid paths divided by colon.";
    let volume = "Volume name must be two characters or more. Volume name must not contain invalid characters. Check that the path is absolute.";
    for (spec, message) in [
        ("/srv/a", two_paths),
        ("/srv/a:", two_paths),
        (":/a", two_paths),
        ("/srv/a:relative", two_paths),
        ("/srv/a:/a:ro:extra", two_paths),
        ("x:/a", volume),
        ("../etc:/a", volume),
        (
            "/srv/../etc:/a",
            "Storage path must not contain '..' components.",
        ),
        (
            "/srv/a:/a/../b",
            "Storage path must not contain '..' components.",
        ),
        (
            "/srv/a:/a:exec",
            "Invalid mount option 'exec', valid options: ro, rw, z, Z, shared, slave, private, rshared, rslave, rprivate, nocopy",
        ),
        (
            "/srv/a b:/a",
            "Storage path must not contain spaces or control characters.",
        ),
        (
            "/srv/a:/a\n/etc:/etc",
            "Storage path must not contain spaces or control characters.",
        ),
    ] {
        berth
            .cmd(["storage:mount", "demo", spec])
            .fails(1)
            .stdout_is("")
            .stderr_is(&format!(" !     {message}\n"));
    }
    berth
        .cmd(["storage:mount", "demo"])
        .fails(1)
        .stderr_is(" !     Please specify a mount path\n");
    berth
        .cmd(["storage:mount", "missing", "/srv/a:/a"])
        .fails(20)
        .stderr_is(" !     App missing does not exist\n");
    assert!(!berth.lib_root().join("config/storage").exists());
}

#[test]
fn deployed_and_one_off_containers_see_the_mounts() {
    let berth = Berth::new();
    let host = tempfile::tempdir().unwrap();
    let spec = format!("{}:/data", host.path().display());
    berth
        .cmd([
            "plugin:set",
            "--global",
            "allowed-docker-options",
            "host-mounts",
        ])
        .succeeds();
    let Deployed { app, .. } = berth
        .deploy("storage")
        .setup(|app| {
            berth.cmd(["storage:mount", app, &spec]).succeeds();
        })
        .push();

    berth
        .cmd(["run", &app, "bash", "-c", "echo hi > /data/f"])
        .succeeds();
    assert_eq!(
        std::fs::read_to_string(host.path().join("f")).unwrap(),
        "hi\n"
    );
    berth
        .cmd(["enter", &app, "web", "cat", "/data/f"])
        .succeeds()
        .stdout_is("hi\n");

    // In container mode a path under DOKKU_LIB_ROOT reaches the engine as
    // its host path: without a way to know it, berth refuses and names the
    // variable; with DOKKU_LIB_HOST_ROOT it mounts the translated path.
    berth
        .cmd(["storage:ensure-directory", "--chown", "false", "shared"])
        .succeeds();
    berth
        .cmd([
            "storage:mount",
            &app,
            &format!("{}/data/storage/shared:/shared", berth.lib_root().display()),
        ])
        .succeeds();
    berth
        .cmd(["run", &app, "true"])
        .env("BERTH_CONTAINER", "1")
        .fails(1)
        .stderr_has(&format!(
            "Unable to tell the host path of {}/data/storage/shared: set DOKKU_LIB_HOST_ROOT to the host folder mounted at {} (or mount one volume at /mnt/dokku)",
            berth.lib_root().display(),
            berth.lib_root().display()
        ));
    let elsewhere = tempfile::tempdir().unwrap();
    berth
        .cmd(["run", &app, "bash", "-c", "echo there > /shared/g"])
        .env("BERTH_CONTAINER", "1")
        .env(
            "DOKKU_LIB_HOST_ROOT",
            elsewhere.path().display().to_string(),
        )
        .succeeds();
    assert_eq!(
        std::fs::read_to_string(elsewhere.path().join("data/storage/shared/g")).unwrap(),
        "there\n"
    );
    assert!(!berth.lib_root().join("data/storage/shared/g").exists());
    berth
        .cmd(["run", &app, "bash", "-c", "echo here > /shared/h"])
        .env("BERTH_CONTAINER", "0")
        .succeeds();
    assert!(berth.lib_root().join("data/storage/shared/h").exists());
}
