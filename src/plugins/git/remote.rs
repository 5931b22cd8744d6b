//! What `git:sync` needs to reach a private repository: `.netrc` entries
//! (`git:auth`, `git:auth-status`), known hosts (`git:allow-host`) and the
//! deploy key (`git:generate-deploy-key`, `git:public-key`), all under
//! `$DOKKU_ROOT` as Dokku keeps them.
//!
//! Credentials never travel in argv or logs: git's HTTPS transport reads
//! `$DOKKU_ROOT/.netrc` itself (`HOME` is `$DOKKU_ROOT` for the fetch), and
//! over SSH git runs this binary as its `GIT_SSH` ([`ssh_wrapper`]), which
//! execs the real `ssh` with the deploy key and known-hosts file as options
//! — no shell, unlike `GIT_SSH_COMMAND`.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use crate::context::Context;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;
use crate::store::atomic::{ensure_dir, write_atomic};

/// Set in the environment of `git:sync`'s git: this binary, run as
/// `GIT_SSH`, is then the wrapper, and the value is the `.ssh` folder.
pub const SSH_WRAPPER_ENV: &str = "BERTH_GIT_SSH_DIR";

/// The most a password read from stdin may be.
const PASSWORD_LIMIT: u64 = 4096;

fn ssh_dir(store: &Store) -> PathBuf {
    store.dokku_root().join(".ssh")
}

fn netrc_path(store: &Store) -> PathBuf {
    store.dokku_root().join(".netrc")
}

/// A host name as `.netrc` and `known_hosts` can hold it, and never an
/// option for `ssh-keyscan`.
fn check_host(host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::fail(format!("Invalid host: {host}")))
    }
}

/// A `.netrc` token: no blanks (the format separates by them), not empty.
fn check_token(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::fail(format!(
            "Invalid {what}: it must be one word without blanks"
        )));
    }
    Ok(())
}

/// `<host> [<username> [<password>]]`; a missing password is read from
/// stdin (bounded), so it need not be on the command line.
fn credentials(args: Vec<String>, command: &str) -> Result<(String, Option<(String, String)>)> {
    let mut words = args.into_iter();
    let host = words
        .next()
        .ok_or_else(|| Error::fail(format!("Please specify a host for {command}")))?;
    check_host(&host)?;
    let Some(user) = words.next() else {
        return Ok((host, None));
    };
    let password = match words.next() {
        Some(password) => password,
        None => {
            let text = crate::bounded::read_text(std::io::stdin(), PASSWORD_LIMIT, "the password")?;
            text.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if let Some(extra) = words.next() {
        return Err(Error::fail(format!("Unexpected argument: {extra}")));
    }
    check_token("username", &user)?;
    check_token("password", &password)?;
    Ok((host, Some((user, password))))
}

/// The `.netrc` entries as `(machine, login, password)`, in file order.
fn read_netrc(store: &Store) -> Result<Vec<(String, String, String)>> {
    let path = netrc_path(store);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).at("Unable to read", &path),
    };
    let mut entries: Vec<(String, String, String)> = Vec::new();
    let mut tokens = text.split_whitespace();
    while let Some(token) = tokens.next() {
        match token {
            "machine" => entries.push((
                tokens.next().unwrap_or_default().to_string(),
                String::new(),
                String::new(),
            )),
            "login" | "password" => {
                let value = tokens.next().unwrap_or_default().to_string();
                if let Some(entry) = entries.last_mut() {
                    if token == "login" {
                        entry.1 = value;
                    } else {
                        entry.2 = value;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(entries)
}

/// `git:auth <host> [<username> [<password>]]`: sets (or, without a
/// username, removes) the host's `.netrc` entry.
pub fn auth(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (host, wanted) = credentials(args, "git:auth")?;
    let _lock = ctx.store.lock(&crate::store::Scope::Global)?;
    let mut entries = read_netrc(&ctx.store)?;
    entries.retain(|(machine, ..)| *machine != host);
    match &wanted {
        Some((user, password)) => {
            ctx.out
                .info1(format!("Setting netrc credentials for {host}"))?;
            entries.push((host.clone(), user.clone(), password.clone()));
        }
        None => ctx
            .out
            .info1(format!("Removing netrc credentials for {host}"))?,
    }
    let text: String = entries
        .iter()
        .map(|(machine, login, password)| {
            format!("machine {machine}\n  login {login}\n  password {password}\n")
        })
        .collect();
    write_atomic(&netrc_path(&ctx.store), text.as_bytes(), 0o600)
}

/// `git:auth-status <host> [<username> [<password>]]`: exit 0 when the
/// entry is as given (absent, without a username), else 1; prints nothing
/// of the file.
pub fn auth_status(ctx: &Context, args: Vec<String>) -> Result<()> {
    let (host, wanted) = credentials(args, "git:auth-status")?;
    let current = read_netrc(&ctx.store)?
        .into_iter()
        .find(|(machine, ..)| *machine == host)
        .map(|(_, login, password)| (login, password));
    if current == wanted {
        Ok(())
    } else {
        Err(Error::Silent(1))
    }
}

/// `git:allow-host <host>`: the host's keys, as `ssh-keyscan` reads them,
/// appended to `$DOKKU_ROOT/.ssh/known_hosts`.
pub fn allow_host(ctx: &Context, args: Vec<String>) -> Result<()> {
    let mut words = args.into_iter();
    let host = words
        .next()
        .ok_or_else(|| Error::fail("Please specify a host"))?;
    check_host(&host)?;
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) && !name.contains(':') => {
            (name.to_string(), Some(port.to_string()))
        }
        _ => (host.clone(), None),
    };
    let mut scan = Process::new("ssh-keyscan");
    scan.arg("-T").arg("10");
    if let Some(port) = &port {
        scan.arg("-p").arg(port);
    }
    let output = scan
        .arg("--")
        .arg(&name)
        .output()
        .map_err(|e| Error::fail(format!("Unable to run ssh-keyscan: {e}")))?;
    let keys = String::from_utf8_lossy(&output.stdout);
    let keys: String = keys
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    if keys.is_empty() {
        return Err(Error::fail(format!(
            "Unable to read the SSH host keys of {host}"
        )));
    }
    let dir = ssh_dir(&ctx.store);
    ensure_dir(&dir)?;
    let path = dir.join("known_hosts");
    let _lock = ctx.store.lock(&crate::store::Scope::Global)?;
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(&keys);
    write_atomic(&path, text.as_bytes(), 0o644)?;
    ctx.out.info1(format!("{host} added to known hosts"))
}

fn deploy_key(store: &Store) -> PathBuf {
    ssh_dir(store).join("id_ed25519")
}

/// `git:generate-deploy-key`: a passwordless ed25519 key pair, made by
/// `ssh-keygen` (argv); an existing key is kept.
pub fn generate_deploy_key(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<crate::args::NoArgs>("git:generate-deploy-key", &args)?;
    let key = deploy_key(&ctx.store);
    if key.exists() {
        return Err(Error::fail(format!(
            "A deploy key already exists at {}",
            key.display()
        )));
    }
    ensure_dir(&ssh_dir(&ctx.store))?;
    let status = Process::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "dokku", "-f"])
        .arg(&key)
        .status()
        .map_err(|e| Error::fail(format!("Unable to run ssh-keygen: {e}")))?;
    if !status.success() {
        return Err(Error::fail("ssh-keygen could not make the deploy key"));
    }
    for path in [key.clone(), key.with_extension("pub")] {
        crate::store::atomic::give_to_state_user(&path)?;
    }
    ctx.out.info1(format!(
        "Your identification has been saved in {}",
        key.display()
    ))?;
    ctx.out.info1(format!(
        "Your public key has been saved in {}.pub",
        key.display()
    ))
}

/// `git:public-key`: the deploy key's public half.
pub fn public_key(ctx: &Context, args: Vec<String>) -> Result<()> {
    crate::args::parse::<crate::args::NoArgs>("git:public-key", &args)?;
    let dir = ssh_dir(&ctx.store);
    for name in ["id_ed25519.pub", "id_rsa.pub"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            return ctx.out.raw(text.as_bytes());
        }
    }
    Err(Error::fail(
        "There is no deploy key associated with the dokku user. Generate an ed25519 key with: dokku git:generate-deploy-key",
    ))
}

/// The environment `git:sync`'s git runs with: `HOME` so the HTTPS
/// transport reads `$DOKKU_ROOT/.netrc`, and this binary as `GIT_SSH`.
pub fn fetch_env(store: &Store) -> Vec<(String, OsString)> {
    let mut env = vec![(
        "HOME".to_string(),
        store.dokku_root().as_os_str().to_owned(),
    )];
    if let Ok(me) = std::env::current_exe() {
        env.push(("GIT_SSH".into(), me.into_os_string()));
        env.push(("GIT_SSH_VARIANT".into(), "ssh".into()));
        env.push((SSH_WRAPPER_ENV.into(), ssh_dir(store).into_os_string()));
    }
    env
}

/// Run as git's `GIT_SSH`: `ssh` with the deploy key (when there is one)
/// and `$DOKKU_ROOT/.ssh/known_hosts`, strict host checking, and git's
/// arguments as they came. Returns only if `ssh` could not be run.
pub fn ssh_wrapper(dir: &Path, args: Vec<OsString>) -> i32 {
    let mut ssh = Process::new("ssh");
    ssh.arg("-o")
        .arg(option("UserKnownHostsFile", &dir.join("known_hosts")))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]);
    let key = dir.join("id_ed25519");
    if key.exists() {
        ssh.arg("-o")
            .arg(option("IdentityFile", &key))
            .args(["-o", "IdentitiesOnly=yes"]);
    }
    let err = ssh.env_remove(SSH_WRAPPER_ENV).args(args).exec();
    eprintln!(
        "{}",
        crate::output::warning(&format!("Unable to run ssh: {err}"))
    );
    127
}

fn option(name: &str, path: &Path) -> OsString {
    let mut option = OsString::from(format!("{name}="));
    option.push(path);
    option
}
