//! A fluent way to run the real `berth` binary against fresh temp roots:
//! `Berth::new().cmd(["apps:create", "demo"]).succeeds().stdout_is("...")`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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
        }
    }

    /// Every process of this `Berth` (commands, pushes, servers) gets
    /// `key=value` too.
    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> Berth {
        self.extra_env.push((key.to_string(), value.into()));
        self
    }

    /// The environment every berth process of this `Berth` gets (added to
    /// the test's own).
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

    pub fn cmd<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd {
            program: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            envs: self.env(),
            root: self.root().display().to_string(),
        }
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
        let mut cmd = self.cmd(args);
        cmd.program = link;
        cmd
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
                let _ = self.cmd(["--force", "apps:destroy", &app]).run();
            }
        }
    }
}

pub struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    envs: Vec<(String, String)>,
    root: String,
}

impl Cmd {
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(input.into());
        self
    }

    /// Sets an environment variable for this run.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Cmd {
        self.envs.push((key.to_string(), value.into()));
        self
    }

    pub fn spawn(&self) -> std::process::Child {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_remove("DOKKU_QUIET_OUTPUT")
            .env_remove("DOKKU_TRACE")
            .env_remove("DOKKU_APPS_FORCE_DELETE")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("berth binary runs");
        let mut stdin = child.stdin.take().expect("piped stdin");
        if let Some(input) = &self.stdin {
            stdin.write_all(input).expect("stdin written");
        }
        drop(stdin);
        child
    }

    pub fn run(self) -> Done {
        let output = self.spawn().wait_with_output().expect("berth finishes");
        Done {
            what: format!("berth {:?}", self.args),
            code: output.status.code().unwrap_or(-1),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            root: self.root,
        }
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

pub struct Done {
    what: String,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    root: String,
}

impl Done {
    /// A finished process's outcome; `root` (a temp root to redact as
    /// `[ROOT]` in stdout) may be empty.
    pub fn new(what: String, code: i32, stdout: Vec<u8>, stderr: String, root: String) -> Done {
        Done {
            what,
            code,
            stdout,
            stderr,
            root,
        }
    }

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
}
