//! What berth prints, as snapshot files in `tests/snapshots/`: help,
//! `--format json` and errors, on the command line and over SSH. Redacted
//! (roots, run ids, times, ids, addresses, ports, keys) so they hold on
//! any machine; `SNAPSHOTS=overwrite cargo test --test it -- snapshot`
//! writes them anew.

use crate::harness::Berth;
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
