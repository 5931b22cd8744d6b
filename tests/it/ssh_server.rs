//! A real `berth server` for tests, reached with the real OpenSSH client.
//!
//! ```ignore
//! let berth = Berth::new();
//! let server = SshServer::start(&berth);          // admin key already added
//! server.ssh(["apps:create", "demo"]).succeeds().stdout_is("-----> Creating demo...\n");
//! server.ssh(["apps:exists", "ghost"]).fails(20);
//! // git, through the same server (GIT_SSH_COMMAND set):
//! server.git(["ls-remote", &server.remote_url("demo")]).succeeds();
//! ```
//!
//! The server runs on a free loopback port with the `Berth`'s roots and is
//! killed when the `SshServer` drops. The client side lives in
//! `<berth root>/ssh-client/`: the `admin` key, and a `known_hosts` where
//! the server's host key is recorded under one alias whatever the port, so
//! a restarted server must present the same key.
//!
//! `ssh` joins the remote words with spaces and the server splits them
//! again (xargs rules), exactly as with a real client: to pass `A=a b` as
//! one word, quote it for the server: `"'A=a b'"`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{Berth, Cmd, Done};

/// ssh records and checks the server's host key under this name.
const HOST_ALIAS: &str = "berth-test-server";
/// How long the server may take to listen, and to stop.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

pub struct SshServer {
    child: Child,
    port: u16,
    lib_root: PathBuf,
    client_dir: PathBuf,
    /// The server's environment (the `Berth`'s).
    env: Vec<(String, String)>,
}

impl SshServer {
    /// Starts `berth server` for `berth`'s roots, with an `admin` key added
    /// (once per `Berth`: a second start reuses the key).
    pub fn start(berth: &Berth) -> SshServer {
        let client_dir = berth.root().join("ssh-client");
        let key = client_dir.join("id_admin");
        if !key.exists() {
            std::fs::create_dir_all(&client_dir).expect("client dir");
            keygen(&key, "ed25519");
            berth
                .cmd([
                    "ssh-keys:add",
                    "admin",
                    &pub_path(&key).display().to_string(),
                ])
                .succeeds();
        }
        SshServer::launch(berth.lib_root(), client_dir, berth.env()).redacted_in(berth)
    }

    /// Has `berth`'s commands write this server's ports as `[PORT]` in
    /// snapshots.
    fn redacted_in(self, berth: &Berth) -> SshServer {
        for port in self.ports() {
            berth.redact_port(port);
        }
        self
    }

    /// Stops this server (SIGTERM) and starts a new one on the same roots,
    /// on another port.
    pub fn restart(self) -> SshServer {
        let (lib_root, client_dir, env) = (
            self.lib_root.clone(),
            self.client_dir.clone(),
            self.env.clone(),
        );
        let status = self.stop();
        assert!(status.success(), "server stopped with {status}");
        SshServer::launch(lib_root, client_dir, env)
    }

    /// A power loss of the platform: every process the server started
    /// (its SSH children, their git and deploys, nginx, detached retirers)
    /// dies at once by SIGKILL. They are found by the `BERTH_TEST_TAG` the
    /// `Berth` gave the server, which they all inherit. App containers, the
    /// engine's, live on. Returns how many processes were killed.
    pub fn power_loss(mut self) -> usize {
        let tag = self
            .env
            .iter()
            .find(|(k, _)| k == "BERTH_TEST_TAG")
            .map(|(_, v)| format!("BERTH_TEST_TAG={v}"))
            .expect("a Berth made with_env(\"BERTH_TEST_TAG\", …)");
        let killed = kill_tagged(&tag);
        let _ = self.child.wait();
        killed
    }

    /// Starts a server again on the roots of one that is gone
    /// ([`SshServer::power_loss`]).
    pub fn start_again(berth: &Berth) -> SshServer {
        SshServer::launch(
            berth.lib_root(),
            berth.root().join("ssh-client"),
            berth.env(),
        )
        .redacted_in(berth)
    }

    /// Asks the server to stop (SIGTERM) and waits for it.
    pub fn stop(mut self) -> ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
        wait_timeout(&mut self.child, STOP_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "the server did not stop on SIGTERM; its threads:\n{}\nits log:\n{}",
                threads_of(self.child.id()),
                self.log()
            )
        })
    }

    /// The port the server's nginx answers HTTP on (the global proxy port).
    pub fn http_port(&self) -> u16 {
        std::fs::read_to_string(self.lib_root.join("config/proxy/--global/proxy-port"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .expect("proxy port set at launch")
    }

    /// The server process's id (to read its memory use, for one).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The private key of `admin`, the key `ssh` uses.
    pub fn client_key(&self) -> PathBuf {
        self.client_dir.join("id_admin")
    }

    /// Where the client records the server's host key.
    pub fn known_hosts(&self) -> PathBuf {
        self.client_dir.join("known_hosts")
    }

    /// The server's stderr so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.client_dir.join("server.log")).unwrap_or_default()
    }

    /// `ssh … dokku@127.0.0.1 <args>` as `admin`.
    pub fn ssh<I, S>(&self, args: I) -> Ssh
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ssh {
            port: self.port,
            key: self.client_key(),
            known_hosts: self.known_hosts(),
            options: Vec::new(),
            user: "dokku".into(),
            tty: false,
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            root: self.root(),
            ports: self.ports(),
        }
    }

    /// The temp root of the `Berth` this server serves.
    pub fn root(&self) -> PathBuf {
        self.client_dir
            .parent()
            .expect("the client folder is in the root")
            .to_path_buf()
    }

    /// The ports this server listens on (SSH, and its nginx's HTTP).
    pub fn ports(&self) -> Vec<u16> {
        vec![self.port, self.http_port()]
    }

    /// A `GIT_SSH_COMMAND` value that reaches this server logging in with
    /// the private key `key` (the port comes from
    /// [`SshServer::remote_url`]).
    pub fn git_ssh_command_as(&self, key: &Path) -> String {
        let words: Vec<String> = std::iter::once("ssh".to_string())
            .chain(client_options(key, &self.known_hosts()))
            .map(|w| shell_quote(&w))
            .collect();
        words.join(" ")
    }

    /// Makes a key pair and adds it on the command line under `name` with
    /// `role` (`admin` or `user`); returns the private key, for
    /// [`Ssh::identity`] and [`SshServer::git_as`].
    pub fn add_key(berth: &Berth, name: &str, role: &str) -> PathBuf {
        let dir = berth.root().join("ssh-client");
        std::fs::create_dir_all(&dir).expect("client dir");
        let key = keygen(&dir.join(format!("id_{name}")), "ed25519");
        berth
            .cmd([
                "ssh-keys:add",
                "--role",
                role,
                name,
                &pub_path(&key).display().to_string(),
            ])
            .succeeds();
        key
    }

    /// `git ARGS` reaching this server as `admin` (`GIT_SSH_COMMAND`).
    pub fn git<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.git_as(&self.client_key(), args)
    }

    /// `git ARGS` logging in with the private key `key`.
    pub fn git_as<I, S>(&self, key: &Path, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cmd = Cmd::new("git", args)
            .env("GIT_SSH_COMMAND", self.git_ssh_command_as(key))
            .root(&self.root());
        for port in self.ports() {
            cmd = cmd.redact_port(port);
        }
        cmd
    }

    /// `ssh://dokku@127.0.0.1:<port>/<app>`.
    pub fn remote_url(&self, app: &str) -> String {
        format!("ssh://dokku@127.0.0.1:{}/{app}", self.port)
    }

    fn launch(lib_root: PathBuf, client_dir: PathBuf, env: Vec<(String, String)>) -> SshServer {
        // The server also runs nginx: each test's on a port of its own.
        let proxy_port = lib_root.join("config/proxy/--global/proxy-port");
        if !proxy_port.exists() {
            std::fs::create_dir_all(proxy_port.parent().unwrap()).expect("proxy config dir");
            std::fs::write(&proxy_port, free_port().to_string()).expect("proxy port");
        }
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log_path = client_dir.join("server.log");
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .expect("server log");
            let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
                .args(["server", "--ssh-listen", &format!("127.0.0.1:{port}")])
                .env_clear()
                .envs(crate::harness::base_env())
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log))
                .spawn()
                .expect("berth server starts");
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                // Start-up messages (bundled plugins installed) may come
                // before the listening line.
                let mut lines = BufReader::new(stdout).lines();
                let first = lines
                    .by_ref()
                    .map_while(Result::ok)
                    .find(|line| line.contains("listening"));
                let _ = tx.send(first);
                // Keep draining so the server never blocks on a full pipe.
                for _ in lines {}
            });
            match rx.recv_timeout(START_TIMEOUT) {
                Ok(Some(line)) if line.contains("listening") => {
                    return SshServer {
                        child,
                        port,
                        lib_root,
                        client_dir,
                        env,
                    };
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    // Another test may have taken the port meanwhile: retry.
                    if !last_log.contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("berth server did not start:\n{last_log}");
    }
}

/// Stops the server as an admin would (SIGTERM), so it takes its nginx
/// down with it; only a server that does not stop is killed (its nginx
/// would then outlive the test).
impl Drop for SshServer {
    fn drop(&mut self) {
        // Gone already (a test killed it on purpose): what it left is the
        // test's to look at.
        let Ok(None) = self.child.try_wait() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok()
            && wait_timeout(&mut self.child, Duration::from_secs(10)).is_some()
        {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A server killed leaves its nginx running: stop it too, or it
        // would hold its port for the rest of the run.
        let runtime = self
            .env
            .iter()
            .find(|(k, _)| k == "BERTH_RUNTIME_DIR")
            .map(|(_, v)| PathBuf::from(v));
        if let Some(pid) = runtime
            .and_then(|dir| std::fs::read_to_string(dir.join("nginx/nginx.pid")).ok())
            .and_then(|pid| pid.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGQUIT,
            );
        }
    }
}

/// One `ssh` invocation, built fluently.
pub struct Ssh {
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
    options: Vec<String>,
    user: String,
    tty: bool,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    /// The `Berth`'s temp root and the server's ports, for redactions.
    root: PathBuf,
    ports: Vec<u16>,
}

impl Ssh {
    /// Bytes for the remote command's stdin (default: none, then EOF).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Ssh {
        self.stdin = Some(input.into());
        self
    }

    /// `-tt`: ask for a pseudo-terminal even though stdin is a pipe.
    pub fn tty(mut self) -> Ssh {
        self.tty = true;
        self
    }

    /// Authenticate with another private key.
    pub fn identity(mut self, key: &Path) -> Ssh {
        self.key = key.to_path_buf();
        self
    }

    /// Log in as another user than `dokku`.
    pub fn user(mut self, user: &str) -> Ssh {
        self.user = user.to_string();
        self
    }

    /// An extra `-o` option; it wins over the defaults
    /// (e.g. `StrictHostKeyChecking=yes`).
    pub fn option(mut self, option: &str) -> Ssh {
        self.options.push(option.to_string());
        self
    }

    /// This `ssh` run as a [`Cmd`]: an environment of
    /// [`crate::harness::base_env`] only, shown as `ssh USER@127.0.0.1
    /// WORDS…`, the server's ports redacted in snapshots.
    pub fn cmd(&self) -> Cmd {
        let mut args = Vec::new();
        for option in &self.options {
            args.extend(["-o".to_string(), option.clone()]);
        }
        args.extend(["-p".to_string(), self.port.to_string()]);
        args.extend(client_options(&self.key, &self.known_hosts));
        if self.tty {
            args.push("-tt".into());
        }
        let destination = format!("{}@127.0.0.1", self.user);
        args.push(destination.clone());
        // ssh reads options after the destination too: `--force` is a
        // remote word only after `--`.
        args.push("--".into());
        args.extend(self.args.iter().cloned());
        let mut cmd = Cmd::new("ssh", args)
            .shown_as(
                "ssh",
                std::iter::once(destination).chain(self.args.iter().cloned()),
            )
            .root(&self.root)
            .stdin(self.stdin.clone().unwrap_or_default());
        for port in &self.ports {
            cmd = cmd.redact_port(*port);
        }
        cmd
    }

    /// The `ssh` command, not started: for tests that hold its stdin open.
    pub fn command(&self) -> Command {
        self.cmd().command()
    }

    pub fn run(self) -> Done {
        self.cmd().run()
    }

    #[track_caller]
    pub fn succeeds(self) -> Done {
        self.cmd().succeeds()
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Done {
        self.cmd().fails(code)
    }
}

/// `ssh-keygen -t <kind>` without a passphrase; returns the private key's
/// path (the public key is beside it, `.pub`).
pub fn keygen(path: &Path, kind: &str) -> PathBuf {
    let path_arg = path.display().to_string();
    Cmd::new(
        "ssh-keygen",
        [
            "-q",
            "-t",
            kind,
            "-N",
            "",
            "-C",
            "test@berth",
            "-f",
            &path_arg,
        ],
    )
    .succeeds();
    path.to_path_buf()
}

/// `<key>.pub`.
pub fn pub_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The fingerprint `ssh-keygen -lf` prints for a key file.
pub fn fingerprint(key_file: &Path) -> String {
    Cmd::new(
        "ssh-keygen",
        ["-lf".to_string(), key_file.display().to_string()],
    )
    .succeeds()
    .stdout()
    .split_whitespace()
    .nth(1)
    .expect("a fingerprint")
    .to_string()
}

/// The client options every test connection uses: no user config, only
/// the given key, no prompts, the host key under [`HOST_ALIAS`], quiet.
fn client_options(key: &Path, known_hosts: &Path) -> Vec<String> {
    vec![
        "-F".into(),
        "/dev/null".into(),
        "-i".into(),
        key.display().to_string(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        "IdentityAgent=none".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o".into(),
        "StrictHostKeyChecking=accept-new".into(),
        "-o".into(),
        format!("HostKeyAlias={HOST_ALIAS}"),
        "-o".into(),
        "ConnectTimeout=10".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
    ]
}

/// SIGKILLs every process whose environment holds `marker`, and their
/// descendants (nginx rewrites its environment for its process title, so
/// it is found as the server's child), stopping them first so none starts
/// another meanwhile, until none is left.
fn kill_tagged(marker: &str) -> usize {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    let mut killed = std::collections::HashSet::new();
    for _ in 0..50 {
        // pid → (parent, tagged), for every live process but zombies.
        let processes: std::collections::HashMap<i32, (i32, bool)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid != me)
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
                let state = rest.next()?;
                let parent = rest.next()?.parse().ok()?;
                if state == "Z" {
                    return None;
                }
                let tagged = std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker.as_bytes()));
                Some((pid, (parent, tagged)))
            })
            .collect();
        let doomed: Vec<i32> = processes
            .keys()
            .copied()
            .filter(|pid| {
                let mut current = *pid;
                for _ in 0..64 {
                    match processes.get(&current) {
                        Some((_, true)) => return true,
                        Some((parent, false)) if *parent > 1 => current = *parent,
                        _ => return false,
                    }
                }
                false
            })
            .collect();
        if doomed.is_empty() {
            break;
        }
        for pid in &doomed {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGSTOP);
        }
        for pid in &doomed {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
            killed.insert(*pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.len()
}

/// `name: kernel wait channel` of each thread of `pid`, and its children.
fn threads_of(pid: u32) -> String {
    let mut lines = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let read = |f: &str| std::fs::read_to_string(task.path().join(f)).unwrap_or_default();
        lines.push(format!(
            "{} {}: {}",
            task.file_name().to_string_lossy(),
            read("comm").trim(),
            read("wchan")
        ));
    }
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace() {
        let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        lines.push(format!(
            "child {child}: {}",
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        ));
    }
    lines.join("\n")
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn shell_quote(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
