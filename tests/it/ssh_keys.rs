//! The ssh-keys plugin: adding keys from a file or a pipe, listing them,
//! refusing bad or duplicate ones, removing them, and the file they live in.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::harness::Berth;
use crate::ssh_server::{fingerprint, keygen, pub_path};

const OPTIONS: &str = "no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding";

/// A fresh key pair in the test's root; returns the public key's path.
fn new_key(berth: &Berth, name: &str, kind: &str) -> PathBuf {
    let dir = berth.root().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    pub_path(&keygen(&dir.join(name), kind))
}

fn text(path: &PathBuf) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .to_string()
}

fn authorized_keys(berth: &Berth) -> PathBuf {
    berth.dokku_root().join(".ssh/authorized_keys")
}

#[test]
fn add_from_file_then_list() {
    let berth = Berth::new();
    let key = new_key(&berth, "admin", "ed25519");
    let fp = fingerprint(&key);
    // The first key added on the command line is an admin.
    berth
        .cmd(["ssh-keys:add", "admin", key.to_str().unwrap()])
        .succeeds()
        .stdout_is(&format!("{fp}\n"))
        .stderr_is("-----> admin has the admin role: it is the first key added on the command line while no key was an admin\n");
    berth.cmd(["ssh-keys:list"]).succeeds().stdout_is(&format!(
        "{fp} NAME=\"admin\" SSHCOMMAND_ALLOWED_KEYS=\"{OPTIONS}\" ROLE=\"admin\"\n"
    ));
    berth
        .cmd(["ssh-keys:list", "--format", "json"])
        .succeeds()
        .stdout_is(&format!(
            "[{{\"fingerprint\":\"{fp}\",\"name\":\"admin\",\"SSHCOMMAND_ALLOWED_KEYS\":\"{OPTIONS}\",\"public-key\":\"{}\",\"role\":\"admin\"}}]\n",
            text(&key)
        ));
    // The next one is a user, unless it is asked otherwise.
    let second = new_key(&berth, "second", "ed25519");
    berth
        .cmd(["ssh-keys:add", "second", second.to_str().unwrap()])
        .succeeds()
        .stderr_is("");
    berth
        .cmd(["ssh-keys:list", "second"])
        .succeeds()
        .stdout_has("ROLE=\"user\"");
    berth
        .cmd(["ssh-keys:set", "second", "role", "admin"])
        .succeeds();
    berth
        .cmd(["ssh-keys:list", "second"])
        .succeeds()
        .stdout_has("ROLE=\"admin\"");
    berth
        .cmd(["ssh-keys:set", "second", "role", "root"])
        .fails(1)
        .stderr_is(" !     Invalid role root: use admin or user\n");
}

#[test]
fn add_from_a_pipe_reads_the_first_line() {
    let berth = Berth::new();
    let key = new_key(&berth, "piped", "ed25519");
    berth
        .cmd(["ssh-keys:add", "piped"])
        .stdin(format!("{}\nthis second line is ignored\n", text(&key)))
        .succeeds()
        .stdout_is(&format!("{}\n", fingerprint(&key)));
    berth
        .cmd(["ssh-keys:list", "piped"])
        .succeeds()
        .stdout_has("NAME=\"piped\"");
}

#[test]
fn rsa_and_ecdsa_keys_are_accepted() {
    let berth = Berth::new();
    for kind in ["rsa", "ecdsa"] {
        let key = new_key(&berth, kind, kind);
        berth
            .cmd(["ssh-keys:add", kind, key.to_str().unwrap()])
            .succeeds()
            .stdout_is(&format!("{}\n", fingerprint(&key)));
    }
    let listed = berth.cmd(["ssh-keys:list"]).succeeds().stdout();
    assert_eq!(listed.lines().count(), 2, "{listed}");
}

#[test]
fn duplicates_are_refused() {
    let berth = Berth::new();
    let key = new_key(&berth, "one", "ed25519");
    let other = new_key(&berth, "two", "ed25519");
    berth
        .cmd(["ssh-keys:add", "admin", key.to_str().unwrap()])
        .succeeds();
    let before = std::fs::read_to_string(authorized_keys(&berth)).unwrap();
    berth
        .cmd(["ssh-keys:add", "admin", other.to_str().unwrap()])
        .fails(1)
        .stdout_is("")
        .stderr_is(" !     Duplicate ssh key name\n !     sshcommand returned an error: 1\n");
    berth
        .cmd(["ssh-keys:add", "again", key.to_str().unwrap()])
        .fails(1)
        .stderr_is(" !     Duplicate ssh public key specified\n");
    assert_eq!(
        std::fs::read_to_string(authorized_keys(&berth)).unwrap(),
        before
    );
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let berth = Berth::new();
    let dir = berth.root().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let malformed = dir.join("malformed.pub");
    std::fs::write(&malformed, "ssh-ed25519 AAAAnot-base64 me@host\n").unwrap();
    berth
        .cmd(["ssh-keys:add", "bad", malformed.to_str().unwrap()])
        .fails(1)
        .stderr_is(" !     Key specified in is not a valid ssh public key\n");
    let empty = dir.join("empty.pub");
    std::fs::write(&empty, "\n").unwrap();
    berth
        .cmd(["ssh-keys:add", "bad", empty.to_str().unwrap()])
        .fails(1)
        .stderr_is(" !     Empty key was specified\n");
    berth
        .cmd(["ssh-keys:add", "bad"])
        .fails(1)
        .stderr_is(" !     Empty key was specified\n");
    let a = new_key(&berth, "a", "ed25519");
    let b = new_key(&berth, "b", "ed25519");
    let two = dir.join("two.pub");
    std::fs::write(&two, format!("{}\n{}\n", text(&a), text(&b))).unwrap();
    berth
        .cmd(["ssh-keys:add", "bad", two.to_str().unwrap()])
        .fails(1)
        .stderr_is(" !     Too many keys provided, set one per invocation of dokku ssh-keys:add <NAME> <KEY_FILE>\n");
    for name in ["with space", "quo\"te", "new\nline", "back`tick"] {
        berth
            .cmd(["ssh-keys:add", name, a.to_str().unwrap()])
            .fails(1)
            .stderr_has("Invalid key name");
    }
    berth.cmd(["ssh-keys:add"]).fails(1).stderr_is(
        " !     A name is required to add a key, ie: dokku ssh-keys:add <name> [/path/to/key]\n",
    );
    assert!(!authorized_keys(&berth).exists());
}

#[test]
fn remove_by_name_and_by_fingerprint() {
    let berth = Berth::new();
    let one = new_key(&berth, "one", "ed25519");
    let two = new_key(&berth, "two", "ecdsa");
    berth
        .cmd(["ssh-keys:add", "one", one.to_str().unwrap()])
        .succeeds();
    berth
        .cmd(["ssh-keys:add", "two", two.to_str().unwrap()])
        .succeeds();
    berth
        .cmd(["ssh-keys:remove"])
        .fails(1)
        .stderr_is(" !     A name is required to remove a key, ie: dokku ssh-keys:remove <name>\n");
    berth
        .cmd(["ssh-keys:remove", "ghost"])
        .fails(1)
        .stderr_is(" !     No public key found with name ghost\n");
    berth
        .cmd(["ssh-keys:remove", "one"])
        .succeeds()
        .stdout_is("");
    let listed = berth.cmd(["ssh-keys:list"]).succeeds().stdout();
    assert!(!listed.contains("NAME=\"one\"") && listed.contains("NAME=\"two\""));
    berth
        .cmd(["ssh-keys:remove", "--fingerprint", &fingerprint(&two)])
        .succeeds();
    berth
        .cmd(["ssh-keys:list"])
        .succeeds()
        .stdout_is("")
        .stderr_is(" !     No public keys found.\n");
    berth
        .cmd(["ssh-keys:list", "--format", "json"])
        .succeeds()
        .stdout_is("[]\n");
    berth
        .cmd(["ssh-keys:list", "one"])
        .fails(1)
        .stderr_is(" !     No public key found with name one\n");
}

#[test]
fn authorized_keys_has_dokkus_format_and_modes() {
    let berth = Berth::new();
    let key = new_key(&berth, "admin", "ed25519");
    berth
        .cmd(["ssh-keys:add", "admin", key.to_str().unwrap()])
        .succeeds();
    let path = authorized_keys(&berth);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "command=\"FINGERPRINT={} NAME=\\\"admin\\\" `cat {}/.sshcommand` $SSH_ORIGINAL_COMMAND\",{OPTIONS} {}\n",
            fingerprint(&key),
            berth.dokku_root().display(),
            text(&key)
        )
    );
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn lines_berth_did_not_write_survive_edits() {
    let berth = Berth::new();
    let ssh_dir = berth.dokku_root().join(".ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let foreign = new_key(&berth, "foreign", "ed25519");
    let kept = format!("# managed elsewhere\n{}\n", text(&foreign));
    std::fs::write(ssh_dir.join("authorized_keys"), &kept).unwrap();
    let key = new_key(&berth, "admin", "ed25519");
    berth
        .cmd(["ssh-keys:add", "admin", key.to_str().unwrap()])
        .succeeds();
    berth.cmd(["ssh-keys:remove", "admin"]).succeeds();
    assert_eq!(
        std::fs::read_to_string(ssh_dir.join("authorized_keys")).unwrap(),
        kept
    );
}

#[test]
fn help_lists_the_commands() {
    Berth::new().cmd(["ssh-keys:help"]).succeeds().stdout_is(
        "\
Usage: dokku ssh-keys[:COMMAND]

Manage public keys used for deployment

Additional commands:
    ssh-keys:add [--role admin|user] <name> [/path/to/key]  Add a new public key by pipe or path
    ssh-keys:list [--format text|json] [<name>]             List the public keys allowed to connect
    ssh-keys:remove <name>|--fingerprint <fingerprint>      Remove a public key by name or fingerprint
    ssh-keys:set <name> role admin|user                     Set what a key may do: admin (everything) or user (app commands)
",
    );
}
