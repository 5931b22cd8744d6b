//! Private repositories for `git:sync`: `.netrc` entries (`git:auth`,
//! `git:auth-status`), known hosts (`git:allow-host`) and the deploy key
//! (`git:generate-deploy-key`, `git:public-key`) — the key really used by
//! a `git:sync` over SSH from another berth's server.

use std::os::unix::fs::PermissionsExt;

use crate::harness::Berth;
use crate::source::{Deployed, unique_app};
use crate::ssh_server::SshServer;

#[test]
fn netrc_entries_set_check_and_remove() {
    let berth = Berth::new();
    let netrc = berth.dokku_root().join(".netrc");
    berth
        .cmd(["git:auth", "github.com", "bot", "s3cret-token"])
        .succeeds();
    // The password may come on stdin instead of argv.
    berth
        .cmd(["git:auth", "gitlab.example.com", "deployer"])
        .stdin("from-stdin\n")
        .succeeds();
    assert_eq!(
        std::fs::read_to_string(&netrc).unwrap(),
        "machine github.com\n  login bot\n  password s3cret-token\n\
         machine gitlab.example.com\n  login deployer\n  password from-stdin\n"
    );
    assert_eq!(
        std::fs::metadata(&netrc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    berth
        .cmd(["git:auth-status", "github.com", "bot", "s3cret-token"])
        .succeeds()
        .stdout_is("");
    berth
        .cmd(["git:auth-status", "github.com", "bot", "wrong"])
        .fails(1)
        .stdout_is("");
    berth.cmd(["git:auth-status", "github.com"]).fails(1);
    berth.cmd(["git:auth", "github.com"]).succeeds();
    berth.cmd(["git:auth-status", "github.com"]).succeeds();
    assert!(
        !std::fs::read_to_string(&netrc)
            .unwrap()
            .contains("s3cret-token")
    );
    // Nothing that could become an option or break the file.
    berth
        .cmd(["git:auth", "-oProxyCommand=x", "u", "p"])
        .fails(1)
        .stderr_has("Invalid host");
    berth
        .cmd(["git:auth", "github.com", "u", "two words"])
        .fails(1)
        .stderr_has("without blanks");
    berth
        .cmd(["git:allow-host", "--help-me"])
        .fails(1)
        .stderr_has("Invalid host");
}

#[test]
fn sync_over_ssh_uses_the_deploy_key_and_known_hosts() {
    // The remote: another berth's SSH server, holding an app's code.
    let remote = Berth::new();
    let server = SshServer::start(&remote);
    let Deployed { app: origin, .. } = remote.deployed("origin");

    let berth = Berth::new();
    berth
        .cmd(["git:public-key"])
        .fails(1)
        .stderr_has("git:generate-deploy-key");
    berth.cmd(["git:generate-deploy-key"]).succeeds();
    berth
        .cmd(["git:generate-deploy-key"])
        .fails(1)
        .stderr_has("already exists");
    let public = berth.cmd(["git:public-key"]).succeeds();
    let public = String::from_utf8(public.stdout).unwrap();
    assert!(public.starts_with("ssh-ed25519 "), "{public}");
    let key_file = remote.root().join("deploy-key.pub");
    std::fs::write(&key_file, &public).unwrap();
    remote
        .cmd(["ssh-keys:add", "mirror", &key_file.display().to_string()])
        .succeeds();

    let app = unique_app("mirror");
    berth.app(&app);
    let url = format!("ssh://dokku@127.0.0.1:{}/{origin}", server.port());
    // An unknown host is refused: strict host key checking.
    berth
        .cmd(["git:sync", &app, &url, "master"])
        .fails(1)
        .stderr_has("Unable to fetch");
    berth
        .cmd(["git:allow-host", &format!("127.0.0.1:{}", server.port())])
        .succeeds();
    berth.cmd(["git:sync", &app, &url, "master"]).succeeds();
    let synced = berth.cmd(["git:report", &app, "--git-sha"]).succeeds();
    let origin_sha = remote.cmd(["git:report", &origin, "--git-sha"]).succeeds();
    assert_eq!(synced.stdout, origin_sha.stdout);
    assert!(!String::from_utf8_lossy(&synced.stdout).trim().is_empty());
}
