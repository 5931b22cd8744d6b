//! Test apps as git work trees, pushes to berth, and plain HTTP checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::Berth;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// An app name no other test (or test run) uses: containers are global to
/// the engine.
pub fn unique_app(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        crate::harness::run_id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A git work tree holding a copy of one of `tests/apps/*`.
pub struct Source {
    dir: tempfile::TempDir,
}

impl Source {
    pub fn new(template: &str) -> Source {
        let dir = tempfile::tempdir().unwrap();
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/apps")
            .join(template);
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        let source = Source { dir };
        source.git(&["init", "-q", "-b", "master"]);
        source.commit("initial");
        source
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, file: &str, contents: &str) -> &Source {
        std::fs::write(self.dir.path().join(file), contents).unwrap();
        self
    }

    pub fn commit(&self, message: &str) -> &Source {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self
    }

    pub fn git(&self, args: &[&str]) -> Output {
        let output = Command::new("git")
            .args(args)
            .current_dir(self.dir.path())
            .env("GIT_AUTHOR_NAME", "berth test")
            .env("GIT_AUTHOR_EMAIL", "test@berth")
            .env("GIT_COMMITTER_NAME", "berth test")
            .env("GIT_COMMITTER_EMAIL", "test@berth")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `git push` straight into the app's repository (the same hook runs as
    /// over SSH). Returns the push's combined output and whether it succeeded.
    pub fn push_local(&self, berth: &Berth, app: &str, refspec: &str) -> Pushed {
        let output = Command::new("git")
            .args(["push", "--porcelain"])
            .arg(berth.dokku_root().join(app))
            .arg(refspec)
            .current_dir(self.dir.path())
            .envs(berth.env())
            .output()
            .unwrap();
        Pushed::from(output)
    }
}

impl Source {
    /// `git push` over berth's SSH server, as a user would.
    pub fn push_ssh(
        &self,
        server: &crate::ssh_server::SshServer,
        app: &str,
        refspec: &str,
    ) -> Pushed {
        self.push_ssh_as(server, app, refspec, &server.client_key())
    }

    /// `git push` over SSH, logging in with the private key `key`.
    pub fn push_ssh_as(
        &self,
        server: &crate::ssh_server::SshServer,
        app: &str,
        refspec: &str,
        key: &Path,
    ) -> Pushed {
        let output = Command::new("git")
            .args(["push", "--porcelain"])
            .arg(server.remote_url(app))
            .arg(refspec)
            .current_dir(self.dir.path())
            .env("GIT_SSH_COMMAND", server.git_ssh_command_as(key))
            .output()
            .unwrap();
        Pushed::from(output)
    }
}

pub struct Pushed {
    pub ok: bool,
    pub text: String,
}

impl From<Output> for Pushed {
    fn from(output: Output) -> Pushed {
        Pushed {
            ok: output.status.success(),
            text: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
}

impl Pushed {
    #[track_caller]
    pub fn succeeds(self) -> Pushed {
        assert!(self.ok, "push failed:\n{}", self.text);
        self
    }

    #[track_caller]
    pub fn fails(self) -> Pushed {
        assert!(!self.ok, "push succeeded but should not:\n{}", self.text);
        self
    }

    #[track_caller]
    pub fn has(self, part: &str) -> Pushed {
        assert!(
            self.text.contains(part),
            "push output lacks {part:?}:\n{}",
            self.text
        );
        self
    }
}

/// `GET path` over plain HTTP/1.0; returns (status, body).
pub fn http_get(addr: &str, host: &str, path: &str) -> std::io::Result<(u16, String)> {
    http_get_with(addr, host, path, "")
}

/// `GET path` with extra header lines (each ending in `\r\n`).
pub fn http_get_with(
    addr: &str,
    host: &str,
    path: &str,
    headers: &str,
) -> std::io::Result<(u16, String)> {
    request(
        addr,
        host,
        path,
        headers,
        std::time::Duration::from_secs(10),
    )
}

/// `GET path`, giving up after `timeout` without an answer.
pub fn http_get_within(
    addr: &str,
    host: &str,
    path: &str,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    request(addr, host, path, "", timeout)
}

fn request(
    addr: &str,
    host: &str,
    path: &str,
    headers: &str,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\n{headers}\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// What the app's `web.1` container answers to `GET /`, asked directly.
pub fn web_answer(berth: &Berth, app: &str) -> (u16, String) {
    http_get(&dyno_addr(berth, app, "web.1"), "x", "/").expect("web.1 answers")
}

/// The address (`ip:port`) berth recorded for one of the app's dynos.
pub fn dyno_addr(berth: &Berth, app: &str, dyno: &str) -> String {
    let dir: PathBuf = berth.dokku_root().join(app);
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(format!("{f}.{dyno}")))
            .unwrap()
            .trim()
            .to_string()
    };
    format!("{}:{}", read("IP"), read("PORT"))
}
