//! `storage:*`: storage directories, bind mounts and their use by deployed
//! and one-off containers, and container-mode host paths.

use std::os::unix::fs::MetadataExt;

use crate::harness::Berth;
use crate::source::{Deployed, container_of, docker_inspect as inspect};

/// Dokku's entry name for a colon-form mount of `source` (a host path,
/// or `vol:<volume>`): `legacy-` and 10 hex digits of its SHA-1.
fn legacy_name(source: &str) -> String {
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(source.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    format!("legacy-{}", &String::from_utf8(out.stdout).unwrap()[..10])
}

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
    let (a, v) = (legacy_name("/srv/a"), legacy_name("vol:vol1"));
    berth
        .cmd(["storage:list", "demo", "--format", "json"])
        .succeeds()
        .stdout_is(&format!(
            "[\n  {{\n    \"entry_name\": \"{a}\",\n    \"host_path\": \"/srv/a\",\n    \"container_path\": \"/a\"\n  }},\n  \
             {{\n    \"entry_name\": \"{v}\",\n    \"host_path\": \"vol1\",\n    \"container_path\": \"/b\",\n    \
             \"readonly\": true,\n    \"volume_options\": \"z\"\n  }}\n]\n"
        ));
    let flags = "-v /srv/a:/a -v vol1:/b:ro,z";
    berth
        .cmd(["storage:report", "demo", "--storage-run-mounts"])
        .succeeds()
        .stdout_is(&format!("{flags}\n"));
    berth
        .cmd([
            "storage:report",
            "demo",
            "--storage-attachment.2.entry-name",
        ])
        .succeeds()
        .stdout_is(&format!("{v}\n"));
    let report = berth.cmd(["storage:report", "demo"]).succeeds().stdout();
    assert!(
        report.starts_with("=====> demo storage information\n"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "\n       {:<37}{flags}\n",
            "Storage deploy mounts:"
        )),
        "{report}"
    );
    assert!(
        report.contains("       Storage attachment 2 volume options: z\n"),
        "{report}"
    );
    let json: serde_json::Value = serde_json::from_str(
        &berth
            .cmd(["storage:report", "demo", "--format", "json"])
            .succeeds()
            .stdout(),
    )
    .unwrap();
    for key in ["deploy-mounts", "storage-deploy-mounts"] {
        assert_eq!(json[key], flags, "{key}");
    }
    for key in ["attachment.1.host-path", "storage-attachment.1.host-path"] {
        assert_eq!(json[key], "/srv/a", "{key}");
    }
    assert_eq!(json["attachment.2.readonly"], "true");
    // Dokku's records: an attachment per line, each to an entry.
    assert_eq!(
        std::fs::read_to_string(mounts_file(&berth, "demo")).unwrap(),
        format!(
            "{{\"entry_name\":\"{a}\",\"container_path\":\"/a\",\"phases\":[\"deploy\",\"run\"],\"process_type\":\"_default_\",\"subpath\":\"\",\"readonly\":false,\"volume_options\":\"\",\"volume_chown\":\"\"}}\n\
             {{\"entry_name\":\"{v}\",\"container_path\":\"/b\",\"phases\":[\"deploy\",\"run\"],\"process_type\":\"_default_\",\"subpath\":\"\",\"readonly\":true,\"volume_options\":\"z\",\"volume_chown\":\"\"}}\n"
        )
    );
    berth
        .cmd(["storage:list-entries"])
        .succeeds()
        .stdout_has(&format!("{a}  docker-local  /srv/a\n"))
        .stdout_has(&format!("{v}  docker-local  vol1\n"));

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

fn entry_file(berth: &Berth, name: &str) -> std::path::PathBuf {
    berth
        .lib_root()
        .join("config/storage/entries")
        .join(format!("{name}.json"))
}

fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn entries_are_created_shown_listed_set_and_destroyed() {
    let berth = Berth::new();
    let dir = berth.lib_root().join("data/storage/node-js-data");
    berth
        .cmd([
            "storage:create",
            "node-js-data",
            "--mode",
            "0770",
            "--chown",
            "heroku",
        ])
        .succeeds()
        .stdout_is("-----> Storage entry node-js-data created\n");
    assert_eq!(mode_of(&dir), 0o770);
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), 1000);
    // Outputs show the roots redacted.
    let host = "[ROOT]/lib/data/storage/node-js-data";
    berth
        .cmd(["storage:info", "node-js-data"])
        .succeeds()
        .stdout_is(&format!(
            "-----> Storage entry node-js-data\n       \
             Scheduler:        docker-local\n       \
             Host path:        {host}\n       \
             Chown:            heroku\n       \
             Mode:             0770\n"
        ));
    let record = format!(
        "{{\n  \"name\": \"node-js-data\",\n  \"scheduler\": \"docker-local\",\n  \
         \"host_path\": \"{host}\",\n  \"chown\": \"heroku\",\n  \"mode\": \"0770\"\n}}"
    );
    berth
        .cmd(["storage:info", "node-js-data", "--format", "json"])
        .succeeds()
        .stdout_is(&format!("{record}\n"));
    berth
        .cmd(["storage:create", "other"])
        .succeeds()
        .stdout_is("-----> Storage entry other created\n");
    berth
        .cmd(["storage:list-entries"])
        .succeeds()
        .stdout_is(&format!(
            "=====> Storage entries\n       \
             node-js-data  docker-local  {host}\n       \
             other         docker-local  [ROOT]/lib/data/storage/other\n"
        ));
    let listed: serde_json::Value = serde_json::from_str(
        &berth
            .cmd(["storage:list-entries", "--format", "json"])
            .succeeds()
            .stdout(),
    )
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["mode"], "0770");
    assert_eq!(listed[1]["name"], "other");
    berth
        .cmd([
            "storage:list-entries",
            "--scheduler",
            "k3s",
            "--format",
            "json",
        ])
        .succeeds()
        .stdout_is("[]\n");

    // Properties: chown and mode reach the folder at once; an empty value
    // unsets (the folder keeps its bits).
    berth
        .cmd(["storage:set", "node-js-data", "mode", "0750"])
        .succeeds()
        .stdout_is("=====> Setting mode to 0750\n");
    assert_eq!(mode_of(&dir), 0o750);
    berth
        .cmd(["storage:set", "node-js-data", "mode"])
        .succeeds()
        .stdout_is("=====> Unsetting mode\n");
    assert_eq!(mode_of(&dir), 0o750);
    berth
        .cmd(["storage:set", "node-js-data", "--chown", "paketo"])
        .succeeds()
        .stderr_has("deprecated");
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), 2000);
    berth
        .cmd(["storage:set", "node-js-data", "reclaim-policy", "Delete"])
        .succeeds();
    berth
        .cmd(["storage:info", "node-js-data"])
        .succeeds()
        .stdout_has("       Reclaim policy:   Delete\n")
        .stdout_has("       Chown:            paketo\n");
    assert!(
        !std::fs::read_to_string(entry_file(&berth, "node-js-data"))
            .unwrap()
            .contains("\"mode\"")
    );
    berth
        .cmd(["storage:wait", "node-js-data"])
        .succeeds()
        .stdout_is("");

    // Re-running create converges the folder.
    berth
        .cmd(["storage:set", "other", "mode", "0700"])
        .succeeds();
    std::fs::set_permissions(
        berth.lib_root().join("data/storage/other"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    berth
        .cmd(["storage:create", "other"])
        .succeeds()
        .stdout_is("-----> Storage entry other updated\n");
    assert_eq!(mode_of(&berth.lib_root().join("data/storage/other")), 0o700);

    // Destroy asks unless forced; Delete (or --destroy-host-dir) removes
    // the folder, Retain keeps it.
    std::fs::write(dir.join("f"), "x").unwrap();
    berth
        .cmd(["storage:destroy", "node-js-data"])
        .stdin("nope\n")
        .fails(1)
        .stderr_has("To proceed, type \"node-js-data\"")
        .stderr_has("Confirmation did not match test. Aborted.");
    assert!(entry_file(&berth, "node-js-data").exists());
    berth
        .cmd(["storage:destroy", "node-js-data", "--force"])
        .succeeds()
        .stdout_is("-----> Storage entry node-js-data destroyed\n")
        .stderr_is(&format!(
            " !     Storage entry node-js-data is backed by {}, which will be removed along with its contents.\n",
            dir.display()
        ));
    assert!(!dir.exists());
    assert!(!entry_file(&berth, "node-js-data").exists());
    berth
        .cmd(["storage:destroy", "other"])
        .stdin("other\n")
        .succeeds()
        .stdout_is("> -----> Storage entry other destroyed\n");
    assert!(berth.lib_root().join("data/storage/other").is_dir());
    berth.cmd(["storage:create", "third"]).succeeds();
    berth
        .cmd(["--force", "storage:destroy", "third", "--destroy-host-dir"])
        .succeeds();
    assert!(!berth.lib_root().join("data/storage/third").exists());
    berth
        .cmd(["storage:list-entries", "--format", "json"])
        .succeeds()
        .stdout_is("[]\n");
}

#[test]
fn bad_entry_input_is_refused_and_nothing_changes() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["storage:create", "kept"]).succeeds();
    let record = std::fs::read_to_string(entry_file(&berth, "kept")).unwrap();
    let name_rule = "names must be DNS-1123 labels (lowercase letters, digits and dashes, starting and ending with a letter or digit) of 45 characters or less";
    let long = "a".repeat(46);
    for (args, message) in [
        (vec!["storage:create"], "Please specify a storage entry name".to_string()),
        (vec!["storage:create", "Bad_Name"], format!("Invalid storage entry name \"Bad_Name\": {name_rule}")),
        (vec!["storage:create", &long], format!("Invalid storage entry name \"{long}\": {name_rule}")),
        (vec!["storage:create", "x", "--mode", "999"], "Invalid mode \"999\": specify a 3 or 4 digit octal mode such as 0755".to_string()),
        (vec!["storage:create", "x", "--chown", "nobody"], "Unsupported chown permissions".to_string()),
        (vec!["storage:create", "x", "--reclaim-policy", "Sometimes"], "Invalid reclaim policy \"Sometimes\": valid policies are Retain and Delete".to_string()),
        (vec!["storage:create", "x", "--scheduler", "k3s"], "berth schedules apps with docker-local only: k3s storage entries (--scheduler k3s) are not supported".to_string()),
        (vec!["storage:create", "x", "--size", "1Gi"], "--size applies to k3s storage entries only; berth's entries are docker-local".to_string()),
        (vec!["storage:create", "x", "relative/dir"], "Invalid path \"relative/dir\": specify an absolute host path without '..', ':', ',' or spaces".to_string()),
        (vec!["storage:create", "x", "/srv/../etc"], "Invalid path \"/srv/../etc\": specify an absolute host path without '..', ':', ',' or spaces".to_string()),
        (vec!["storage:create", "x", "/"], "Refusing to mount /: it would give the app the host's whole file system".to_string()),
        (vec!["storage:create", "x", "/proc"], "Refusing to mount /proc: it would give the app the host's kernel interfaces".to_string()),
        (vec!["storage:info", "ghost"], "Storage entry ghost does not exist".to_string()),
        (vec!["storage:info", "kept", "--format", "yaml"], "Invalid --format value specified: yaml (valid: json, text)".to_string()),
        (vec!["storage:set", "ghost", "mode", "0700"], "Storage entry ghost does not exist".to_string()),
        (vec!["storage:set", "kept", "bogus", "1"], "Invalid property specified, valid properties include: access-mode, chown, mode, namespace, reclaim-policy, size, storage-class-name".to_string()),
        (vec!["storage:set", "kept", "access-mode", "ReadWriteMany"], "storage:set cannot change access-mode in place; recreate the entry".to_string()),
        (vec!["storage:set", "kept", "storage-class-name"], "storage:set cannot change storage-class-name in place; recreate the entry".to_string()),
        (vec!["storage:set", "kept", "size", "2Gi"], "size applies to k3s storage entries only; berth's entries are docker-local".to_string()),
        (vec!["storage:set", "kept", "mode", "12345"], "Invalid mode \"12345\": specify a 3 or 4 digit octal mode such as 0755".to_string()),
        (vec!["storage:destroy", "ghost", "--force"], "Storage entry ghost does not exist".to_string()),
        (vec!["storage:wait", "ghost"], "Storage entry ghost does not exist".to_string()),
        (vec!["storage:exec", "ghost", "--", "true"], "Storage entry ghost does not exist".to_string()),
        (vec!["storage:exec", "kept", "ls"], "Unexpected argument: ls (put the command after --: storage:exec kept -- <cmd>...)".to_string()),
        (vec!["storage:mount", "demo", "ghost", "--container-dir", "/d"], "Storage entry ghost does not exist".to_string()),
        (vec!["storage:mount", "demo", "kept"], "Please specify a container directory with --container-dir <path>".to_string()),
        (vec!["storage:mount", "demo", "kept", "--container-dir", "d"], "Invalid container directory \"d\": specify an absolute path without '..', ':', ',' or spaces".to_string()),
        (vec!["storage:mount", "demo", "kept", "--container-dir", "/d", "--phase", "build"], "Invalid phase \"build\": valid phases are deploy and run (mounts never apply to builds)".to_string()),
        (vec!["storage:mount", "demo", "kept", "--container-dir", "/d", "--volume-subpath", "../up"], "Invalid volume subpath \"../up\": specify a relative path inside the entry, without '..', ':', ',' or spaces".to_string()),
        (vec!["storage:mount", "demo", "kept", "--container-dir", "/d", "--volume-options", "exec"], "Invalid mount option 'exec', valid options: ro, rw, z, Z, shared, slave, private, rshared, rslave, rprivate, nocopy".to_string()),
        (vec!["storage:mount", "demo", "Kept", "--container-dir", "/d"], format!("Invalid storage entry name \"Kept\": {name_rule}")),
        (vec!["storage:unmount", "demo", "kept"], "Storage entry kept is not mounted on demo".to_string()),
    ] {
        berth
            .cmd(args.clone())
            .fails(1)
            .stdout_is("")
            .stderr_is(&format!(" !     {message}\n"));
    }
    berth
        .cmd([
            "storage:mount",
            "ghost-app",
            "kept",
            "--container-dir",
            "/d",
        ])
        .fails(20)
        .stderr_is(" !     App ghost-app does not exist\n");
    let entries: Vec<_> = std::fs::read_dir(berth.lib_root().join("config/storage/entries"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["kept.json"]);
    assert_eq!(
        std::fs::read_to_string(entry_file(&berth, "kept")).unwrap(),
        record
    );
    let dirs: Vec<_> = std::fs::read_dir(berth.lib_root().join("data/storage"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(dirs, ["kept"]);
    assert!(!mounts_file(&berth, "demo").exists());
}

#[test]
fn custom_paths_are_for_admins_and_entries_follow_access_lists() {
    let berth = Berth::new();
    let custom = tempfile::tempdir().unwrap();
    let path = custom.path().display().to_string();
    berth
        .cmd(["storage:create", "outside", &path, "--chown", "root"])
        .fails(1)
        .stderr_has("--chown only manages entries at the default location");
    berth
        .cmd(["storage:create", "outside", "/srv/not-there-berth"])
        .fails(1)
        .stderr_has("does not exist or is not a folder: create it first");
    berth
        .cmd(["storage:create", "outside", &path])
        .succeeds()
        .stdout_is("-----> Storage entry outside created\n");
    berth
        .cmd(["storage:create", "outside"])
        .fails(1)
        .stderr_is(&format!(
            " !     Storage entry outside already exists with host path {path}\n"
        ));
    berth
        .cmd(["storage:set", "outside", "mode", "0700"])
        .fails(1)
        .stderr_has("mode only manages entries at the default location");
    berth
        .cmd([
            "storage:destroy",
            "outside",
            "--force",
            "--destroy-host-dir",
        ])
        .fails(1)
        .stderr_has(&format!("remove {path} yourself"));
    // A `user` key may not register a folder outside the storage folder;
    // under it, it may.
    let server = crate::ssh_server::SshServer::start(&berth);
    let ada = crate::ssh_server::SshServer::add_key(&berth, "ada", "user");
    server
        .ssh(["storage:create", "elsewhere", &path])
        .identity(&ada)
        .fails(1)
        .stderr_is(&format!(
            " !     Only an admin may register a path outside {}: use storage:create <name> without a path\n",
            berth.lib_root().join("data/storage").display()
        ));
    assert!(!entry_file(&berth, "elsewhere").exists());
    server
        .ssh(["storage:create", "mine"])
        .identity(&ada)
        .succeeds();
    // Entries are shared by the install: a `user` key may not reach,
    // through one, the data of an app its access lists close to it.
    berth.app("theirs").app("ours");
    berth.cmd(["acl:add", "theirs", "bob"]).succeeds();
    berth.cmd(["storage:create", "private"]).succeeds();
    berth
        .cmd([
            "storage:mount",
            "theirs",
            "private",
            "--container-dir",
            "/p",
        ])
        .succeeds();
    for (command, args) in [
        ("storage:exec", vec!["private", "--", "true"]),
        ("storage:set", vec!["private", "mode", "0777"]),
        (
            "storage:mount",
            vec!["ours", "private", "--container-dir", "/p"],
        ),
    ] {
        let mut argv = vec![command];
        argv.extend(args);
        server
            .ssh(argv)
            .identity(&ada)
            .fails(1)
            .stderr_is(&format!(
                " !     You may not run {command} on storage entry private: it is mounted by theirs, an app you may not use\n"
            ));
    }
    assert!(!mounts_file(&berth, "ours").exists());
    server
        .ssh(["storage:mount", "ours", "mine", "--container-dir", "/m"])
        .identity(&ada)
        .succeeds();
    berth
        .cmd(["storage:destroy", "outside", "--force"])
        .succeeds();
    assert!(custom.path().is_dir());
}

#[test]
fn named_entries_reach_the_deployed_container_and_storage_exec() {
    let berth = Berth::new();
    berth
        .cmd(["storage:create", "shared", "--chown", "false"])
        .succeeds();
    berth.cmd(["storage:create", "workers"]).succeeds();
    let shared = berth.lib_root().join("data/storage/shared");
    let Deployed { app, .. } = berth
        .deploy("named")
        .setup(|app| {
            berth
                .cmd(["storage:mount", app, "shared", "--container-dir", "/data"])
                .succeeds()
                .stdout_is(&format!(
                    "-----> Storage entry shared mounted at /data on {app}\n"
                ));
            berth
                .cmd([
                    "storage:mount",
                    app,
                    "shared",
                    "--container-dir",
                    "/pub",
                    "--volume-subpath",
                    "public",
                    "--volume-readonly",
                ])
                .succeeds();
            berth
                .cmd([
                    "storage:mount",
                    app,
                    "workers",
                    "--container-dir",
                    "/w",
                    "--process-type",
                    "worker",
                ])
                .succeeds();
        })
        .push();
    assert!(shared.join("public").is_dir(), "the subpath is made");

    let web = container_of(&berth, &app, "web.1");
    let mounts = inspect(
        &web,
        "{{range .Mounts}}{{.Source}}|{{.Destination}}|{{.RW}} {{end}}",
    );
    let shared_host = shared.display().to_string();
    assert!(
        mounts.contains(&format!("{shared_host}|/data|true")),
        "{mounts}"
    );
    assert!(
        mounts.contains(&format!("{shared_host}/public|/pub|false")),
        "{mounts}"
    );
    assert!(
        !mounts.contains("|/w|"),
        "a worker's mount is not web's: {mounts}"
    );

    // The app writes; storage:exec sees it, and its exit code is the
    // command's.
    berth
        .cmd(["enter", &app, "web", "sh", "-c", "echo from-app > /data/f"])
        .succeeds();
    berth
        .cmd(["storage:exec", "shared", "--", "cat", "/data/f"])
        .succeeds()
        .stdout_is("from-app\n");
    berth
        .cmd([
            "storage:exec",
            "shared",
            "--",
            "sh",
            "-c",
            "echo back > f; exit 3",
        ])
        .fails(3);
    assert_eq!(std::fs::read_to_string(shared.join("f")).unwrap(), "back\n");
    let left = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=com.dokku.storage-entry=shared",
        ])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "the exec container is removed");

    // Mounted entries cannot be destroyed; unmounting by path leaves the
    // other attachment.
    let refused = format!(
        " !     Storage entry shared is still mounted by {app}: unmount it from every app first (storage:unmount <app> shared)\n"
    );
    berth
        .cmd(["storage:destroy", "shared", "--force"])
        .fails(1)
        .stderr_is(&refused);
    assert!(entry_file(&berth, "shared").exists());
    berth
        .cmd([
            "storage:report",
            &app,
            "--storage-attachment.2.container-path",
        ])
        .succeeds()
        .stdout_is("/pub\n");
    berth
        .cmd(["storage:unmount", &app, "shared", "--container-dir", "/pub"])
        .succeeds()
        .stdout_is(&format!(
            "-----> Storage entry shared unmounted from {app}\n"
        ));
    berth
        .cmd(["storage:destroy", "shared", "--force"])
        .fails(1)
        .stderr_is(&refused);
    berth
        .cmd(["storage:info", "shared"])
        .succeeds()
        .stdout_has(&format!("       Mounted by:       {app}:/data\n"));
    berth.cmd(["storage:unmount", &app, "shared"]).succeeds();
    berth
        .cmd(["storage:destroy", "shared", "--force"])
        .succeeds();
    assert!(shared.join("f").exists(), "Retain keeps the folder");
}

#[test]
fn apps_destroy_and_rename_leave_storage_named_after_the_app() {
    let berth = Berth::new();
    berth.app("node-js-app");
    // `entries` is the entry registry's folder: no new app takes the name.
    let reserved = " !     App name entries is reserved: config/storage/entries holds the storage entries, choose another name\n";
    berth
        .cmd(["apps:create", "entries"])
        .fails(1)
        .stderr_is(reserved);
    berth
        .cmd(["apps:rename", "node-js-app", "entries"])
        .fails(1)
        .stderr_is(reserved);
    berth
        .cmd(["apps:clone", "node-js-app", "entries"])
        .fails(1)
        .stderr_is(reserved);
    assert!(!berth.dokku_root().join("entries").exists());
    // One made before the rule keeps working: its mounts share the folder
    // with the entries, and leave with the app.
    std::fs::create_dir_all(berth.dokku_root().join("entries")).unwrap();
    berth.cmd(["storage:create", "kept"]).succeeds();
    berth
        .cmd(["storage:mount", "entries", "kept", "--container-dir", "/k"])
        .succeeds();
    assert!(mounts_file(&berth, "entries").is_file());
    berth
        .cmd(["apps:rename", "entries", "was-entries"])
        .succeeds();
    assert!(!mounts_file(&berth, "entries").exists());
    assert!(
        mounts_file(&berth, "was-entries").is_file(),
        "the mounts move"
    );
    assert!(entry_file(&berth, "kept").exists(), "the registry stays");
    std::fs::create_dir_all(berth.dokku_root().join("entries")).unwrap();
    berth
        .cmd(["storage:mount", "entries", "kept", "--container-dir", "/k"])
        .succeeds();
    berth.cmd(["storage:create", "node-js-app"]).succeeds();
    berth.cmd(["storage:create", "renamed"]).succeeds();
    let dir = berth.lib_root().join("data/storage/node-js-app");
    std::fs::write(dir.join("upload"), "keep").unwrap();
    berth
        .cmd([
            "storage:mount",
            "node-js-app",
            "node-js-app",
            "--container-dir",
            "/s",
        ])
        .succeeds();
    berth
        .cmd(["apps:rename", "node-js-app", "renamed"])
        .succeeds();
    assert_eq!(std::fs::read_to_string(dir.join("upload")).unwrap(), "keep");
    assert!(berth.lib_root().join("data/storage/renamed").is_dir());
    assert!(mounts_file(&berth, "renamed").exists(), "the mounts move");
    berth.cmd(["--force", "apps:destroy", "renamed"]).succeeds();
    berth.cmd(["--force", "apps:destroy", "entries"]).succeeds();
    assert!(
        !mounts_file(&berth, "entries").exists(),
        "no later app called entries inherits the attachments"
    );
    assert!(entry_file(&berth, "kept").exists());
    assert_eq!(std::fs::read_to_string(dir.join("upload")).unwrap(), "keep");
    assert!(!mounts_file(&berth, "renamed").exists());
    assert!(entry_file(&berth, "node-js-app").exists());
    assert!(entry_file(&berth, "renamed").exists());
}

#[test]
fn mounts_berth_wrote_before_named_entries_still_apply() {
    let berth = Berth::new();
    berth.app("demo");
    std::fs::create_dir_all(mounts_file(&berth, "demo").parent().unwrap()).unwrap();
    std::fs::write(
        mounts_file(&berth, "demo"),
        concat!(
            r#"{"host_path":"/srv/old","container_path":"/old","volume_options":"ro","phases":["deploy","run"],"process_type":"_default_"}"#,
            "\n"
        ),
    )
    .unwrap();
    berth
        .cmd(["storage:list", "demo"])
        .succeeds()
        .stdout_is("-----> demo volume bind-mounts:\n       /srv/old:/old:ro\n");
    berth
        .cmd(["storage:report", "demo", "--storage-deploy-mounts"])
        .succeeds()
        .stdout_is("-v /srv/old:/old:ro\n");
    // The next write registers its entry and rewrites the line.
    berth.cmd(["storage:create", "fresh"]).succeeds();
    berth
        .cmd([
            "storage:mount",
            "demo",
            "fresh",
            "--container-dir",
            "/fresh",
        ])
        .succeeds();
    let name = legacy_name("/srv/old");
    assert!(entry_file(&berth, &name).exists());
    let lines = std::fs::read_to_string(mounts_file(&berth, "demo")).unwrap();
    assert!(
        lines.starts_with(&format!(
            "{{\"entry_name\":\"{name}\",\"container_path\":\"/old\",\"phases\":[\"deploy\",\"run\"],\"process_type\":\"_default_\",\"subpath\":\"\",\"readonly\":true,\"volume_options\":\"\",\"volume_chown\":\"\"}}\n"
        )),
        "{lines}"
    );
    berth
        .cmd(["storage:unmount", "demo", "/srv/old:/old:ro"])
        .succeeds();
}

#[test]
fn annotations_and_labels_one_key_at_a_time() {
    let berth = Berth::new();
    berth
        .cmd(["storage:create", "node-js-data", "--label", "tier=web"])
        .succeeds();
    let key = "backup.velero.io/backup-volumes";
    berth
        .cmd([
            "storage:annotations:set",
            "node-js-data",
            key,
            "node-js-data",
        ])
        .succeeds()
        .stdout_is(&format!("=====> Setting {key} to node-js-data\n"));
    berth
        .cmd([
            "storage:labels:set",
            "node-js-data",
            "app.kubernetes.io/part-of",
            "billing",
        ])
        .succeeds();
    berth
        .cmd(["storage:annotations:report"])
        .succeeds()
        .stdout_is(&format!(
            "=====> node-js-data annotations information\n       Annotation {key}: node-js-data\n"
        ));
    berth
        .cmd(["storage:labels:report", "node-js-data"])
        .succeeds()
        .stdout_is(
            "=====> node-js-data labels information\n       \
             Label app.kubernetes.io/part-of: billing\n       \
             Label tier:                      web\n",
        );
    berth
        .cmd(["storage:labels:report", "node-js-data", "--format", "json"])
        .succeeds()
        .stdout_is("{\"app.kubernetes.io/part-of\":\"billing\",\"tier\":\"web\"}\n");
    berth
        .cmd([
            "storage:annotations:report",
            "node-js-data",
            &format!("--storage-annotations.{key}"),
        ])
        .succeeds()
        .stdout_is("node-js-data\n");
    let record = std::fs::read_to_string(entry_file(&berth, "node-js-data")).unwrap();
    for (args, message) in [
        (
            vec!["storage:labels:set", "node-js-data", "bad key", "v"],
            "Invalid key \"bad key\": use letters, digits, '.', '_', '-' and '/'",
        ),
        (
            vec!["storage:labels:set", "ghost", "k", "v"],
            "Storage entry ghost does not exist",
        ),
        (
            vec!["storage:labels:set", "node-js-data"],
            "No key specified",
        ),
        (
            vec!["storage:annotations:report", "--storage-annotations.x"],
            "storage:annotations:report --storage-annotations.x needs an entry name",
        ),
        (
            vec![
                "storage:annotations:report",
                "node-js-data",
                "--storage-annotations.x",
            ],
            "Invalid flag passed, valid flags: --storage-annotations.backup.velero.io/backup-volumes",
        ),
    ] {
        berth
            .cmd(args)
            .fails(1)
            .stdout_is("")
            .stderr_is(&format!(" !     {message}\n"));
    }
    assert_eq!(
        std::fs::read_to_string(entry_file(&berth, "node-js-data")).unwrap(),
        record
    );
    berth
        .cmd(["storage:annotations:set", "node-js-data", key])
        .succeeds()
        .stdout_is(&format!("=====> Unsetting {key}\n"));
    berth
        .cmd(["storage:annotations:report", "node-js-data"])
        .succeeds()
        .stdout_is("=====> node-js-data annotations information\n");
}

/// What a `user` key may not do to the storage of an app its access lists
/// close to it, whatever name or spelling of the folder it uses.
#[test]
fn a_user_key_never_reaches_another_apps_storage_by_its_path() {
    let berth = Berth::new();
    let server = crate::ssh_server::SshServer::start(&berth);
    let ada = crate::ssh_server::SshServer::add_key(&berth, "ada", "user");
    let lib = berth.lib_root();
    let foo = lib.join("data/storage/foo");
    berth.app("theirs").app("ours");
    berth.cmd(["acl:add", "theirs", "bob"]).succeeds();
    berth
        .cmd(["storage:ensure-directory", "--chown", "false", "foo"])
        .succeeds();
    std::fs::create_dir_all(foo.join("sub")).unwrap();
    std::fs::write(foo.join("secret"), "theirs").unwrap();
    berth
        .cmd([
            "storage:mount",
            "theirs",
            &format!("{}:/data", foo.display()),
        ])
        .succeeds();
    berth
        .cmd(["storage:mount", "theirs", "theirvol:/v"])
        .succeeds();
    berth.cmd(["storage:create", "priv"]).succeeds();
    berth
        .cmd(["storage:mount", "theirs", "priv", "--container-dir", "/p"])
        .succeeds();
    let refused = |command: &str, path: &str| {
        format!(
            " !     You may not run {command} on {path}: it overlaps the storage of an app you may not use\n"
        )
    };
    let ours_before = std::fs::read_to_string(mounts_file(&berth, "ours")).ok();

    // The colon form: the same folder, a folder inside it, another
    // spelling of it, the folder holding it, and the app's named volume.
    let storage = lib.join("data/storage").display().to_string();
    for source in [
        format!("{storage}/foo"),
        format!("{storage}/foo/sub"),
        format!("{storage}/./foo"),
        format!("{storage}//foo/"),
        "theirvol".to_string(),
    ] {
        server
            .ssh(["storage:mount", "ours", &format!("{source}:/x")])
            .identity(&ada)
            .fails(1)
            .stderr_is(&refused("storage:mount", &source));
    }
    assert_eq!(
        std::fs::read_to_string(mounts_file(&berth, "ours")).ok(),
        ours_before
    );
    // An entry whose default folder is theirs, new or existing.
    server
        .ssh(["storage:create", "foo"])
        .identity(&ada)
        .fails(1)
        .stderr_is(&refused("storage:create", "storage entry foo"));
    assert!(!entry_file(&berth, "foo").exists());
    server
        .ssh(["storage:create", "priv", "--chown", "heroku"])
        .identity(&ada)
        .fails(1)
        .stderr_is(&refused("storage:create", "storage entry priv"));
    assert_eq!(
        std::fs::metadata(lib.join("data/storage/priv"))
            .unwrap()
            .uid(),
        std::fs::metadata(&lib).unwrap().uid()
    );
    // An admin may make the aliasing entry; the user key still may not
    // set, destroy, chown or exec through it.
    server.ssh(["storage:create", "foo"]).succeeds();
    for argv in [
        vec!["storage:set", "foo", "mode", "0777"],
        vec!["storage:destroy", "foo", "--force", "--destroy-host-dir"],
        vec!["storage:exec", "foo", "--", "cat", "/data/secret"],
        vec!["storage:mount", "ours", "foo", "--container-dir", "/f"],
    ] {
        server
            .ssh(argv.clone())
            .identity(&ada)
            .fails(1)
            .stderr_is(&refused(argv[0], "storage entry foo"));
    }
    server
        .ssh(["storage:ensure-directory", "--chown", "heroku", "foo"])
        .identity(&ada)
        .fails(1)
        .stderr_is(&refused(
            "storage:ensure-directory",
            &foo.display().to_string(),
        ));
    assert_eq!(
        std::fs::read_to_string(foo.join("secret")).unwrap(),
        "theirs"
    );
    assert_eq!(std::fs::metadata(foo.join("secret")).unwrap().uid(), 0);
    assert!(entry_file(&berth, "foo").exists());

    // An admin's entry outside the storage folder, mounted by no app: no
    // shell over it for a user key without the host-mounts class.
    let custom = tempfile::tempdir().unwrap();
    let custom_path = custom.path().display().to_string();
    berth
        .cmd(["storage:create", "outside", &custom_path])
        .succeeds();
    server
        .ssh(["storage:exec", "outside", "--", "true"])
        .identity(&ada)
        .fails(1)
        .stderr_has("needs the host-mounts class");

    // Its own storage still works for the user key, and an admin is not
    // bound.
    server
        .ssh(["storage:create", "mine"])
        .identity(&ada)
        .succeeds();
    server
        .ssh(["storage:mount", "ours", "mine", "--container-dir", "/m"])
        .identity(&ada)
        .succeeds();
    server
        .ssh(["storage:mount", "ours", &format!("{storage}/ours-own:/o")])
        .identity(&ada)
        .succeeds();
    server
        .ssh(["storage:set", "foo", "mode", "0750"])
        .succeeds();
    berth
        .cmd(["storage:mount", "ours", &format!("{storage}/foo/sub:/s")])
        .succeeds();
}

/// `storage:info`, `storage:list-entries` and `storage:report --global`
/// show a user key only the entries it may use.
#[test]
fn a_user_key_sees_only_the_entries_it_may_use() {
    let berth = Berth::new();
    let server = crate::ssh_server::SshServer::start(&berth);
    let ada = crate::ssh_server::SshServer::add_key(&berth, "ada", "user");
    berth.app("theirs").app("ours");
    berth.cmd(["acl:add", "theirs", "bob"]).succeeds();
    for name in ["hidden", "open", "shared"] {
        berth.cmd(["storage:create", name]).succeeds();
    }
    berth
        .cmd(["storage:mount", "theirs", "hidden", "--container-dir", "/h"])
        .succeeds();
    berth
        .cmd(["storage:mount", "ours", "shared", "--container-dir", "/s"])
        .succeeds();
    let listed = server
        .ssh(["storage:list-entries"])
        .identity(&ada)
        .succeeds()
        .stdout();
    assert!(
        !listed.contains("hidden") && listed.contains("open") && listed.contains("shared"),
        "{listed}"
    );
    let json = server
        .ssh(["storage:list-entries", "--format", "json"])
        .identity(&ada)
        .succeeds()
        .stdout();
    assert!(!json.contains("hidden") && json.contains("open"), "{json}");
    server
        .ssh(["storage:info", "hidden"])
        .identity(&ada)
        .fails(1)
        .stderr_is(" !     Storage entry hidden does not exist\n");
    server
        .ssh(["storage:info", "shared"])
        .identity(&ada)
        .succeeds()
        .stdout_has("ours:/s");
    let global = server
        .ssh(["storage:report", "--global"])
        .identity(&ada)
        .succeeds()
        .stdout();
    assert!(
        !global.contains("hidden") && !global.contains("theirs") && global.contains("shared"),
        "{global}"
    );
    // An admin sees everything.
    let global = server
        .ssh(["storage:report", "--global"])
        .succeeds()
        .stdout();
    assert!(
        global.contains("hidden") && global.contains("theirs"),
        "{global}"
    );
    server
        .ssh(["storage:info", "hidden"])
        .succeeds()
        .stdout_has("theirs:/h");
}
