//! A fluent way to run the real `berth` binary (and git, and ssh) against
//! fresh temp roots:
//! `Berth::new().cmd(["apps:create", "demo"]).succeeds().stdout_is("...")`.
//!
//! Every process a test starts is a [`Cmd`]: it begins from an empty
//! environment ([`base_env`] plus what the test sets), is killed when it
//! runs past its timeout, and ends as a [`Done`], the one outcome type of
//! local runs, SSH runs and pushes, with the same assertions for all:
//! `succeeds`, `fails(code)`, `stdout_is`, `stdout_has`, `stderr_is`,
//! `stderr_has`, and `snapshot` against a file in `tests/snapshots/`.
//!
//! Snapshots are redacted (see [`redact`]) so they hold across runs and
//! machines. `SNAPSHOTS=overwrite cargo test --test it -- snapshot` writes
//! them anew; read the diff before committing it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// This run of the test binary: every engine object a test makes carries
/// it (app names, the apps' network), so each run starts from first use
/// and no run sees another's leftovers.
pub fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970");
        // Base 36 keeps app names short.
        let mut n = (now.as_secs() % 1_000_000) * 100_000 + u64::from(std::process::id()) % 100_000;
        let mut id = String::new();
        while n > 0 {
            id.insert(0, char::from_digit((n % 36) as u32, 36).expect("digit"));
            n /= 36;
        }
        id
    })
}

/// A figure a test measured (requests served, memory, recovery times):
/// printed, and appended to `$BERTH_TEST_REPORT` when set, which
/// scripts/test shows at the end of the run.
pub fn report(line: impl AsRef<str>) {
    let line = line.as_ref();
    println!("{line}");
    if let Ok(path) = std::env::var("BERTH_TEST_REPORT")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// The apps' network of this run (`BERTH_NETWORK`): made by the run's
/// first deploy, like on a fresh engine.
pub fn test_network() -> String {
    format!("berth-it-{}", run_id())
}

/// All a process a test starts inherits from the test's own environment:
/// `PATH` (to find git, nginx, ssh), and `DOCKER_HOST` when this machine's
/// engine is not at the default socket. Everything else it sees, the test
/// set ([`berth_env`], [`Cmd::env`]), so no variable of the shell that
/// ran `cargo test` (a `DOKKU_TRACE`, a `HOME` with a `.gitconfig`)
/// changes what a test sees.
pub fn base_env() -> Vec<(String, String)> {
    let mut env = vec![(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        }),
    )];
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        env.push(("DOCKER_HOST".to_string(), host));
    }
    env
}

/// What every berth process a test starts gets: its roots, this run's
/// network, and a runtime folder inside the test's temp root.
pub fn berth_env(root: &Path) -> Vec<(String, String)> {
    vec![
        ("DOKKU_ROOT".into(), root.join("home").display().to_string()),
        (
            "DOKKU_LIB_ROOT".into(),
            root.join("lib").display().to_string(),
        ),
        ("BERTH_NETWORK".into(), test_network()),
        (
            "BERTH_RUNTIME_DIR".into(),
            root.join("run").display().to_string(),
        ),
    ]
}

pub struct Berth {
    dir: tempfile::TempDir,
    /// Set for every process of this `Berth` after the defaults.
    extra_env: Vec<(String, String)>,
    /// Ports this `Berth`'s servers listen on: `[PORT]` in snapshots.
    ports: Mutex<Vec<u16>>,
}

impl Berth {
    pub fn new() -> Berth {
        let dir = tempfile::tempdir().expect("temp dir");
        // As /home/dokku is: nginx workers (an unprivileged user) read
        // files plugins put in app folders (maintenance pages, htpasswd).
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        Berth {
            dir,
            extra_env: Vec::new(),
            ports: Mutex::new(Vec::new()),
        }
    }

    /// Every process of this `Berth` (commands, pushes, servers) gets
    /// `key=value` too.
    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> Berth {
        self.extra_env.push((key.to_string(), value.into()));
        self
    }

    /// The environment every berth process of this `Berth` gets (on top of
    /// [`base_env`]).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = berth_env(self.root());
        env.extend(self.extra_env.iter().cloned());
        env
    }

    pub fn dokku_root(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn lib_root(&self) -> PathBuf {
        self.dir.path().join("lib")
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A port a server of this `Berth` listens on, written `[PORT]` in
    /// the snapshots of its commands from now on.
    pub fn redact_port(&self, port: u16) {
        self.ports.lock().unwrap().push(port);
    }

    /// A command of this `Berth`'s: its environment, its root and ports
    /// redacted. `program` runs as given (`git`, or a path).
    pub fn process<I, S>(&self, program: impl Into<PathBuf>, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cmd = Cmd::new(program, args).root(self.root());
        cmd.envs.extend(self.env());
        cmd.ports.extend(self.ports.lock().unwrap().iter().copied());
        cmd
    }

    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.process(env!("CARGO_BIN_EXE_berth"), args)
    }

    /// The same binary, reached through a symlink named `dokku`.
    pub fn dokku<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let link = self.dir.path().join("bin/dokku");
        if !link.exists() {
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), &link).unwrap();
        }
        self.process(link, args)
    }

    /// Creates an app, asserting success.
    pub fn app(&self, name: &str) -> &Berth {
        self.cmd(["apps:create", name]).succeeds();
        self
    }
}

/// Deployed apps leave containers and images in the shared engine: destroy
/// whatever this test deployed.
impl Drop for Berth {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dokku_root()) else {
            return;
        };
        for entry in entries.flatten() {
            let deployed = std::fs::read_dir(entry.path()).is_ok_and(|files| {
                files
                    .flatten()
                    .any(|f| f.file_name().to_string_lossy().starts_with("CONTAINER."))
            });
            if deployed {
                let app = entry.file_name().to_string_lossy().into_owned();
                // Never a panic here: this may run while a test unwinds.
                let _ = self.cmd(["--force", "apps:destroy", &app]).try_run();
            }
        }
    }
}

/// How long a command may run before it is killed and its test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// One process to run, built fluently; [`Cmd::run`] (or `succeeds`,
/// `fails`) runs it to a [`Done`].
pub struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    /// How failures and snapshots show the command (`berth apps:list`).
    shown: String,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    /// Set after [`base_env`], in order.
    envs: Vec<(String, String)>,
    /// A temp root, `[ROOT]` in stdout and snapshots; may be empty.
    root: String,
    /// Ports written `[PORT]` in snapshots.
    ports: Vec<u16>,
    timeout: Duration,
}

impl Cmd {
    /// `program args…` in an environment of [`base_env`] only.
    pub fn new<I, S>(program: impl Into<PathBuf>, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let program = program.into();
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Cmd {
            shown: shown(&name, &args),
            program,
            args,
            cwd: None,
            stdin: None,
            envs: Vec::new(),
            root: String::new(),
            ports: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Shows the command as `program args…` (another name, fewer words)
    /// in failures and snapshots.
    pub fn shown_as<I, S>(mut self, program: &str, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        self.shown = shown(program, &args);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(input.into());
        self
    }

    /// Sets an environment variable for this run.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.envs.push((key.to_string(), value.into()));
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Cmd {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// The temp root, written `[ROOT]` in stdout and snapshots.
    pub fn root(mut self, root: &Path) -> Cmd {
        self.root = root.display().to_string();
        self
    }

    /// A port written `[PORT]` in snapshots.
    pub fn redact_port(mut self, port: u16) -> Cmd {
        self.ports.push(port);
        self
    }

    /// How long the run may take before it is killed (default
    /// [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }

    /// The process, not started: a cleared environment with [`base_env`]
    /// and this command's variables, all three streams piped.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(base_env())
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        command
    }

    /// Starts the process and writes its stdin (then closes it), for a
    /// test that handles the child itself; no timeout applies.
    pub fn spawn(&self) -> std::process::Child {
        let mut child = self
            .command()
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", self.shown));
        let mut stdin = child.stdin.take().expect("piped stdin");
        if let Some(input) = &self.stdin {
            stdin.write_all(input).expect("stdin written");
        }
        drop(stdin);
        child
    }

    /// Runs the process to its end, and until the streams it holds close
    /// (whatever it started may hold them too); past the timeout it is
    /// killed and the test fails with what it wrote so far.
    #[track_caller]
    pub fn run(self) -> Done {
        match self.try_run() {
            Ok(done) => done,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// [`Cmd::run`], saying why instead of panicking when the process
    /// does not start or runs past its timeout (for clean-ups in `Drop`).
    pub fn try_run(self) -> Result<Done, String> {
        let deadline = Instant::now() + self.timeout;
        let mut child = match self.command().spawn() {
            Ok(child) => child,
            Err(e) => return Err(format!("{} does not start: {e}", self.shown)),
        };
        // Written from a thread: a child that writes before it reads would
        // otherwise block on a full pipe while we block on its stdin.
        let mut stdin = child.stdin.take().expect("piped stdin");
        let input = self.stdin.clone().unwrap_or_default();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let stdout = Collector::start(child.stdout.take().expect("piped stdout"));
        let stderr = Collector::start(child.stderr.take().expect("piped stderr"));
        let mut pause = Duration::from_millis(1);
        let mut status = None;
        while status.is_none() || !stdout.closed() || !stderr.closed() {
            if status.is_none() {
                status = child.try_wait().expect("child waited for");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} {} within {:?} and was killed\nstdout so far:\n{}\nstderr so far:\n{}",
                    self.shown,
                    match status {
                        None => "did not finish".to_string(),
                        Some(s) => format!("exited ({s}) but what it started kept its output open"),
                    },
                    self.timeout,
                    String::from_utf8_lossy(&stdout.bytes()),
                    String::from_utf8_lossy(&stderr.bytes()),
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        // Reaped already: this only reads the status back.
        let status = child.wait().expect("child waited for");
        Ok(Done {
            what: self.shown,
            // A signal's death as the shell shows it.
            code: status.code().unwrap_or_else(|| {
                128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
            }),
            stdout: stdout.bytes(),
            stderr: String::from_utf8_lossy(&stderr.bytes()).into_owned(),
            root: self.root,
            ports: self.ports,
        })
    }

    #[track_caller]
    pub fn succeeds(self) -> Done {
        let done = self.run();
        done.assert_code(0);
        done
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Done {
        let done = self.run();
        done.assert_code(code);
        done
    }
}

/// `program args…`, each argument quoted when a shell would need it.
fn shown(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_string())
        .chain(args.iter().map(|arg| {
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+%[]".contains(c))
            {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A stream read to its end in a thread; what arrived so far is readable
/// at any time.
struct Collector {
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Collector {
    fn start(mut stream: impl Read + Send + 'static) -> Collector {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = bytes.clone();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 64 * 1024];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
        Collector { bytes, reader }
    }

    fn closed(&self) -> bool {
        self.reader.is_finished()
    }

    fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }
}

/// How a process ended: a `berth` run, an `ssh` run or a `git push` alike.
pub struct Done {
    what: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    root: String,
    ports: Vec<u16>,
}

impl Done {
    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code,
            code,
            "{} exited {} (wanted {code})\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.code,
            self.stdout(),
            self.stderr
        );
    }

    /// Stdout, with the temp root written as `[ROOT]`.
    pub fn stdout(&self) -> String {
        let text = String::from_utf8_lossy(&self.stdout);
        if self.root.is_empty() {
            text.into_owned()
        } else {
            text.replace(&self.root, "[ROOT]")
        }
    }

    #[track_caller]
    pub fn stdout_is(self, expected: &str) -> Done {
        assert_eq!(self.stdout(), expected, "stdout of {}", self.what);
        self
    }

    #[track_caller]
    pub fn stdout_has(self, part: &str) -> Done {
        assert!(
            self.stdout().contains(part),
            "stdout of {} lacks {part:?}:\n{}",
            self.what,
            self.stdout()
        );
        self
    }

    #[track_caller]
    pub fn stderr_is(self, expected: &str) -> Done {
        assert_eq!(self.stderr, expected, "stderr of {}", self.what);
        self
    }

    #[track_caller]
    pub fn stderr_has(self, part: &str) -> Done {
        assert!(
            self.stderr.contains(part),
            "stderr of {} lacks {part:?}:\n{}",
            self.what,
            self.stderr
        );
        self
    }

    /// The command, its exit code, stdout and stderr, redacted, must be
    /// `tests/snapshots/<name>.txt`.
    #[track_caller]
    pub fn snapshot(self, name: &str) -> Done {
        let stdout = String::from_utf8_lossy(&self.stdout).into_owned();
        self.compare(name, "stdout", &stdout);
        self
    }

    /// The same, with stdout parsed as JSON (it must be) and shown
    /// pretty-printed.
    #[track_caller]
    pub fn snapshot_json(self, name: &str) -> Done {
        let stdout = String::from_utf8_lossy(&self.stdout);
        let value: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout of {} is not JSON ({e}):\n{stdout}", self.what));
        let pretty = serde_json::to_string_pretty(&value).expect("JSON printed") + "\n";
        self.compare(name, "stdout (JSON, pretty-printed)", &pretty);
        self
    }

    #[track_caller]
    fn compare(&self, name: &str, stdout_title: &str, stdout: &str) {
        let stream = |title: &str, text: &str| {
            let mut shown = format!("--- {title}\n{text}");
            if !text.is_empty() && !text.ends_with('\n') {
                shown.push_str("\n[no newline at the end]\n");
            }
            shown
        };
        let actual = format!(
            "$ {}\nexit: {}\n{}{}",
            self.what,
            self.code,
            stream(stdout_title, stdout),
            stream("stderr", &self.stderr),
        );
        let actual = redact(&actual, &self.root, &self.ports);
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots")
            .join(format!("{name}.txt"));
        snapbox::Assert::new()
            .action_env("SNAPSHOTS")
            .eq(actual, snapbox::Data::read_from(&path, None).raw());
    }
}

/// What varies from run to run and machine to machine, written as a
/// placeholder: the test's temp root (`[ROOT]`) and other temp folders
/// (`[TMP]`), the run id in app and network names (`hello-[RUN]`), times
/// (`[TIME]`: Unix seconds, ISO 8601), image tags (`dokku/app:[TAG]`),
/// hex ids (`[HEX]`: commits, images, containers), container addresses
/// (`[IP]`), the ports servers listen on (`[PORT]`), and the keys tests
/// make (`ssh-ed25519 [KEY]`, `SHA256:[FINGERPRINT]`). The build cache
/// decides whether a Dockerfile step prints `Using cache` or runs in an
/// intermediate container: those lines are dropped. git pads `remote:`
/// lines with blanks (to clear a terminal line): trimmed.
pub fn redact(text: &str, root: &str, ports: &[u16]) -> String {
    use regex::{Captures, Regex};
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let temp = regex::escape(&std::env::temp_dir().display().to_string());
        let run = regex::escape(run_id());
        [
            (format!(r"{temp}/\.tmp[0-9A-Za-z]{{6}}"), "[TMP]"),
            (format!(r"{run}(-\d+)?"), "[RUN]"),
            (
                r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?".into(),
                "[TIME]",
            ),
            (r"\b1\d{9}(\d{3})?\b".into(), "[TIME]"),
            (
                r"(dokku/[\w.\[\]-]+):[0-9a-f]{7,40}-\[TIME\]".into(),
                "$1:[TAG]",
            ),
            (
                r"\b[0-9a-f]{7,40}\.\.\.?[0-9a-f]{7,40}\b".into(),
                "[HEX]..[HEX]",
            ),
            (r"\b(127\.0\.0\.1|localhost):\d{2,5}\b".into(), "$1:[PORT]"),
            (r"\bSHA256:[0-9A-Za-z+/]{43}".into(), "SHA256:[FINGERPRINT]"),
            (
                r"\b(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) AAAA[0-9A-Za-z+/]+=*".into(),
                "$1 [KEY]",
            ),
        ]
        .into_iter()
        .map(|(pattern, with)| (Regex::new(&pattern).expect("a valid rule"), with))
        .collect()
    });
    static HEX: OnceLock<Regex> = OnceLock::new();
    static IP: OnceLock<Regex> = OnceLock::new();
    static CACHE: OnceLock<Regex> = OnceLock::new();
    let hex = HEX.get_or_init(|| Regex::new(r"\b[0-9a-f]{7,64}\b").unwrap());
    let ip = IP.get_or_init(|| Regex::new(r"\b\d{1,3}(\.\d{1,3}){3}\b").unwrap());
    let cache = CACHE.get_or_init(|| {
        Regex::new(r"^(remote: )?( ---> Using cache| ---> Running in \S+|Removing intermediate container \S+)\s*$")
            .unwrap()
    });

    let mut text = text.to_string();
    if !root.is_empty() {
        text = text.replace(root, "[ROOT]");
    }
    for (rule, with) in rules {
        text = rule.replace_all(&text, *with).into_owned();
    }
    for port in ports {
        let rule = Regex::new(&format!(r"\b{port}\b")).unwrap();
        text = rule.replace_all(&text, "[PORT]").into_owned();
    }
    // Hex with a digit in it: words like `added` or `faced` stay, and
    // so does the key type `ed25519`.
    text = hex
        .replace_all(&text, |c: &Captures| {
            let word = &c[0];
            if word.bytes().any(|b| b.is_ascii_digit()) && word != "ed25519" {
                "[HEX]".to_string()
            } else {
                word.to_string()
            }
        })
        .into_owned();
    text = ip
        .replace_all(&text, |c: &Captures| match &c[0] {
            "127.0.0.1" | "0.0.0.0" => c[0].to_string(),
            _ => "[IP]".to_string(),
        })
        .into_owned();
    let mut lines: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        if cache.is_match(body) {
            continue;
        }
        if body.starts_with("remote:") {
            lines.push(format!("{}{end}", body.trim_end()));
        } else {
            lines.push(line.to_string());
        }
    }
    lines.concat()
}

#[test]
fn redactions_keep_what_berth_said_and_hide_what_varies() {
    let run = run_id();
    let root = "/tmp/.tmpAbC123";
    let text = format!(
        "App dir: {root}/home/hello-{run}-7\n\
         remote: Successfully tagged dokku/hello-{run}-7:425f185-1796218164        \n\
         remote:  ---> Using cache\n\
         remote:  ---> Running in 433010fa4282        \n\
         remote: Removing intermediate container 433010fa4282        \n\
         Git sha: 425f18505d22c84865a48fe719f7cdc1f5f3b946 added at 2026-12-02T13:28:04Z\n\
         Status web 1: running (CID: ce4f9e01514)\n\
         http://172.18.0.2:5000 and To ssh://dokku@127.0.0.1:40123/app\n\
         Ports map: http:43567:5000 in 0.0.0.0:80\n\
         ce4f9e0..1f6ef44  master -> master, decade defaced 5000 60s\n\
         ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFsZZWqQ8udirR6hX5th7J8sMguho7uTQdoDnRo/Pkd2 test@berth \
         SHA256:1oNJW1a9bIZES/rWCixStkpzC4doIjGpsDCKRnMhvoM\n"
    );
    assert_eq!(
        redact(&text, root, &[43567]),
        "App dir: [ROOT]/home/hello-[RUN]\n\
         remote: Successfully tagged dokku/hello-[RUN]:[TAG]\n\
         Git sha: [HEX] added at [TIME]\n\
         Status web 1: running (CID: [HEX])\n\
         http://[IP]:5000 and To ssh://dokku@127.0.0.1:[PORT]/app\n\
         Ports map: http:[PORT]:5000 in 0.0.0.0:80\n\
         [HEX]..[HEX]  master -> master, decade defaced 5000 60s\n\
         ssh-ed25519 [KEY] test@berth SHA256:[FINGERPRINT]\n"
    );
}

#[test]
#[should_panic(expected = "did not finish within 300ms and was killed\nstdout so far:\nstarted\n")]
fn a_command_past_its_timeout_is_killed_with_its_output_so_far() {
    Cmd::new("bash", ["-c", "echo started; exec sleep 30"])
        .timeout(Duration::from_millis(300))
        .run();
}

#[test]
fn a_command_sees_only_the_base_environment_and_what_the_test_set() {
    let stdout = Cmd::new("env", Vec::<String>::new())
        .env("BERTH_TEST_SET", "1")
        .succeeds()
        .stdout();
    let mut names: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    names.sort();
    let mut expected: Vec<String> = base_env().into_iter().map(|(name, _)| name).collect();
    expected.push("BERTH_TEST_SET".into());
    expected.sort();
    assert_eq!(names, expected, "{stdout}");
}
