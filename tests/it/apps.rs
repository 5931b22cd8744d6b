//! The apps plugin: create, list, report, destroy, rename, clone, locks.

use crate::harness::Berth;

const BAD_NAME: &str = " !     App name must begin with lowercase alphanumeric character, and may only contain lowercase alphanumerics, dots, and hyphens\n";

#[test]
fn create_and_list() {
    let berth = Berth::new();
    berth
        .cmd(["apps:list"])
        .succeeds()
        .stdout_is("")
        .stderr_is(" !     You haven't deployed any applications yet\n");
    berth
        .cmd(["apps:list", "--format", "json"])
        .succeeds()
        .stdout_is("[]\n");
    berth
        .cmd(["apps:create", "demo"])
        .succeeds()
        .stdout_is("-----> Creating demo...\n");
    berth.app("a.example.com");
    berth
        .cmd(["apps:list"])
        .succeeds()
        .stdout_is("=====> My Apps\na.example.com\ndemo\n");
    berth
        .cmd(["apps"])
        .succeeds()
        .stdout_is("=====> My Apps\na.example.com\ndemo\n");
    berth
        .cmd(["apps:list", "--format", "json"])
        .succeeds()
        .stdout_is("[\"a.example.com\",\"demo\"]\n");
    assert!(
        berth
            .lib_root()
            .join("config/apps/demo/created-at")
            .is_file()
    );
}

#[test]
fn bad_names_create_nothing() {
    let berth = Berth::new();
    for name in ["Bad;id", "UPPER", "-x", "a b", "../x", "a_b", ""] {
        berth
            .cmd(["apps:create", name])
            .fails(1)
            .stderr_is(BAD_NAME);
    }
    berth
        .cmd(["apps:create"])
        .fails(1)
        .stderr_is(" !     Please specify an app to run the command on\n");
    assert_eq!(std::fs::read_dir(berth.dokku_root()).unwrap().count(), 0);
    assert!(!berth.lib_root().join("config").exists());
}

#[test]
fn taken_name() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["apps:create", "demo"])
        .fails(1)
        .stderr_is(" !     Name is already taken\n");
}

#[test]
fn missing_app_exits_20() {
    let berth = Berth::new();
    berth
        .cmd(["apps:exists", "ghost"])
        .fails(20)
        .stderr_is(" !     App ghost does not exist\n");
    berth.cmd(["apps:report", "ghost"]).fails(20);
    berth.cmd(["config:set", "ghost", "A=1"]).fails(20);
    berth.app("real");
    berth.cmd(["apps:exists", "real"]).succeeds().stdout_is("");
}

#[test]
fn report_layout() {
    let berth = Berth::new();
    berth.app("demo");
    let created =
        std::fs::read_to_string(berth.lib_root().join("config/apps/demo/created-at")).unwrap();
    berth
        .cmd(["apps:report", "demo"])
        .succeeds()
        .stdout_is(&format!(
            "=====> demo app information
       App created at:                  {created}
       App deploy source:               
       App deploy source metadata:      
       App dir:                         [ROOT]/home/demo
       App global disable autocreation: 
       App locked:                      false
"
        ));
    berth
        .cmd(["apps:report", "demo", "--app-dir"])
        .succeeds()
        .stdout_is("[ROOT]/home/demo\n");
    berth
        .cmd(["apps:report", "demo", "--app-bogus"])
        .fails(1)
        .stderr_is(" !     Invalid flag passed, valid flags: --app-created-at, --app-deploy-source, --app-deploy-source-metadata, --app-dir, --app-global-disable-autocreation, --app-locked\n");
    berth
        .cmd(["apps:report", "demo", "--app-dir", "--app-locked"])
        .fails(1)
        .stderr_is(" !     apps:report command allows only a single flag\n");
    berth
        .cmd(["apps:report", "demo", "--app-dir", "--format", "json"])
        .fails(1)
        .stderr_is(" !     --format flag cannot be specified when specifying an info flag\n");
    let json = berth
        .cmd(["apps:report", "demo", "--format", "json"])
        .succeeds()
        .stdout();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["locked"], "false");
    assert_eq!(value["app-locked"], "false");
    assert_eq!(value["dir"], "[ROOT]/home/demo");
}

#[test]
fn report_of_all_apps_and_quiet() {
    let berth = Berth::new();
    berth.app("a").app("b");
    let out = berth.cmd(["apps:report"]).succeeds().stdout();
    assert_eq!(out.matches("app information").count(), 2);
    let quiet = berth
        .cmd(["--quiet", "apps:report", "a"])
        .succeeds()
        .stdout();
    assert!(quiet.starts_with("       App created at:"), "{quiet}");
}

#[test]
fn destroy_asks_for_the_name() {
    let berth = Berth::new();
    berth.app("demo");
    berth.cmd(["config:set", "demo", "A=1"]).succeeds();
    berth
        .cmd(["apps:destroy", "demo"])
        .stdin("wrong\n")
        .fails(1)
        .stderr_is(" !     WARNING: Potentially Destructive Action\n !     This command will destroy app demo.\n !     To proceed, type \"demo\"\nConfirmation did not match test. Aborted.\n");
    berth.cmd(["apps:exists", "demo"]).succeeds();
    berth.cmd(["apps:destroy", "demo"]).fails(1);
    berth
        .cmd(["apps:destroy", "demo"])
        .stdin("demo\n")
        .succeeds()
        .stdout_is("> -----> Destroying demo (including all add-ons)\n");
    berth.cmd(["apps:exists", "demo"]).fails(20);
    assert!(!berth.lib_root().join("config/demo").exists());
    assert!(!berth.lib_root().join("config/apps/demo").exists());
}

#[test]
fn rename_moves_config_and_properties() {
    let berth = Berth::new();
    berth.app("old").app("other");
    berth.cmd(["config:set", "old", "K=v"]).succeeds();
    berth
        .cmd(["apps:rename", "old", "new"])
        .succeeds()
        .stdout_is("-----> Renaming old to new\n");
    berth.cmd(["apps:exists", "old"]).fails(20);
    berth
        .cmd(["config:get", "new", "K"])
        .succeeds()
        .stdout_is("v\n");
    assert!(
        berth
            .lib_root()
            .join("config/apps/new/created-at")
            .is_file()
    );
    berth
        .cmd(["apps:rename", "new", "other"])
        .fails(1)
        .stderr_is(" !     Name is already taken\n");
    berth
        .cmd(["apps:rename", "new"])
        .fails(1)
        .stderr_is(" !     Please specify an new app name\n");
    berth
        .cmd(["apps:rename", "new", "Bad;id"])
        .fails(1)
        .stderr_is(BAD_NAME);
    berth.cmd(["apps:exists", "new"]).succeeds();
}

#[test]
fn clone_copies_config_not_identity() {
    let berth = Berth::new();
    berth.app("src");
    berth.cmd(["config:set", "src", "K=v"]).succeeds();
    berth
        .cmd(["apps:clone", "src", "dst"])
        .succeeds()
        .stdout_is("-----> Cloning src to dst\n-----> Creating dst...\n");
    berth
        .cmd(["config:get", "dst", "K"])
        .succeeds()
        .stdout_is("v\n");
    berth
        .cmd(["config:get", "src", "K"])
        .succeeds()
        .stdout_is("v\n");
    berth
        .cmd(["apps:clone", "src", "dst"])
        .fails(1)
        .stderr_is(" !     Name is already taken\n");
    berth
        .cmd(["apps:clone", "--ignore-existing", "src", "dst"])
        .succeeds()
        .stderr_is(" !     Name is already taken\n");
}

#[test]
fn deploy_lock_commands() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["apps:locked", "demo"])
        .fails(1)
        .stderr_is(" !     Deploy lock does not exist\n");
    berth
        .cmd(["apps:lock", "demo"])
        .succeeds()
        .stdout_is("-----> Deploy lock created\n");
    berth
        .cmd(["apps:locked", "demo"])
        .succeeds()
        .stdout_is("Deploy lock exists\n");
    berth
        .cmd(["apps:report", "demo", "--app-locked"])
        .succeeds()
        .stdout_is("true\n");
    berth
        .cmd(["apps:unlock", "demo"])
        .succeeds()
        .stdout_is("-----> Deploy lock removed\n")
        .stderr_is(" !     A deploy may be in progress.\n !     Removing the app lock will not stop in progress deploys.\n");
    berth
        .cmd(["apps:unlock", "demo"])
        .fails(1)
        .stderr_is(" !     Unable to remove deploy lock\n");
}

#[test]
fn set_is_global_only() {
    let berth = Berth::new();
    berth.app("demo");
    berth
        .cmd(["apps:set", "--global", "disable-autocreation", "true"])
        .succeeds()
        .stdout_is("=====> Setting disable-autocreation to true\n");
    berth
        .cmd(["apps:report", "demo", "--app-global-disable-autocreation"])
        .succeeds()
        .stdout_is("true\n");
    berth
        .cmd(["apps:set", "demo", "disable-autocreation", "true"])
        .fails(1)
        .stderr_is(" !     Property can only be specified globally\n");
    berth
        .cmd(["apps:set", "--global", "bogus", "1"])
        .fails(1)
        .stderr_is(
            " !     Invalid property specified, valid properties include: disable-autocreation\n",
        );
    berth
        .cmd(["apps:set", "--global", "disable-autocreation"])
        .succeeds()
        .stdout_is("=====> Unsetting disable-autocreation\n");
    assert!(
        !berth
            .lib_root()
            .join("config/apps/--global/disable-autocreation")
            .exists()
    );
}

/// On a host with the state user (`dokku` on Dokku hosts; `nobody` here,
/// through `BERTH_STATE_USER`), what berth writes belongs to that user,
/// so a plugin writing with `sudo -u dokku` can, and secrets keep 0600.
#[test]
fn state_belongs_to_the_state_user() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let berth = Berth::new();
    let as_state_user = |args: &[&str]| {
        berth
            .dokku(args.iter().copied())
            .env("BERTH_STATE_USER", "nobody")
    };
    as_state_user(&["apps:create", "owned"]).succeeds();
    as_state_user(&["config:set", "--no-restart", "owned", "SECRET=s3"]).succeeds();
    as_state_user(&["ps:set", "owned", "stop-timeout-seconds", "5"]).succeeds();
    let nobody = 65534;
    let mut seen = 0;
    for root in [berth.dokku_root(), berth.lib_root()] {
        for entry in walk(&root) {
            let meta = std::fs::symlink_metadata(&entry).unwrap();
            assert_eq!(
                meta.uid(),
                nobody,
                "{} is not the state user's",
                entry.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 20, "only {seen} files written");
    let env = berth.lib_root().join("config/owned/ENV");
    let mode = std::fs::metadata(&env).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "secrets stay unreadable to others");
    // The state user can change a property, as `sudo -u dokku` would.
    let property = berth
        .lib_root()
        .join("config/ps/owned/stop-timeout-seconds");
    let mut tee = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "tee"])
        .arg(&property)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut tee.stdin.take().unwrap(), b"9").unwrap();
    let status = tee.wait().unwrap();
    assert!(
        status.success(),
        "the state user cannot write {}",
        property.display()
    );
    berth
        .dokku(["ps:report", "owned", "--ps-stop-timeout-seconds"])
        .succeeds()
        .stdout_is("9\n");
}

#[test]
fn pushed_objects_belong_to_the_state_user() {
    use std::os::unix::fs::MetadataExt;
    let berth = Berth::new().with_env("BERTH_STATE_USER", "nobody");
    let server = crate::ssh_server::SshServer::start(&berth);
    let deployed = berth.deploy("owned-push").push_ssh(&server);
    let repo = berth.dokku_root().join(&deployed.app);
    let mut seen = 0;
    for part in ["objects", "refs"] {
        for entry in walk(&repo.join(part)) {
            let meta = std::fs::symlink_metadata(&entry).unwrap();
            assert_eq!(
                meta.uid(),
                65534,
                "{} is not the state user's",
                entry.display()
            );
            seen += 1;
        }
    }
    assert!(seen > 3, "only {seen} objects and refs");
}

/// Everything under `dir` (not `dir` itself, which the test made).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if std::fs::symlink_metadata(&path).unwrap().is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}
