//! Test apps as git work trees, pushes to berth, deployed apps, and plain
//! HTTP checks.
//!
//! ```ignore
//! let berth = Berth::new();
//! // tests/apps/hello pushed to a new app, which must have deployed:
//! let Deployed { app, source, .. } = berth.deployed("hello");
//! source.write("Procfile", "web: perl /app/server.pl\n").commit("v2");
//! source.push_local(&berth, &app, "master").succeeds().stderr_has("Application deployed");
//! // set up before the first push, pushed over SSH:
//! let app = berth.deploy("acl").setup(|app| { /* config, ports… */ }).push_ssh(&server);
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::{Berth, Cmd, Done};
use crate::ssh_server::SshServer;

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

    /// `git ARGS` in the work tree, which must succeed; no configuration
    /// but the author's (the environment is the harness's).
    pub fn git(&self, args: &[&str]) -> Done {
        self.git_cmd(args).succeeds()
    }

    fn git_cmd(&self, args: &[&str]) -> Cmd {
        Cmd::new("git", args.iter().copied())
            .current_dir(self.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "berth test")
            .env("GIT_AUTHOR_EMAIL", "test@berth")
            .env("GIT_COMMITTER_NAME", "berth test")
            .env("GIT_COMMITTER_EMAIL", "test@berth")
    }

    /// `git push` straight into the app's repository (the same hook runs as
    /// over SSH), with the `Berth`'s environment.
    pub fn push_local(&self, berth: &Berth, app: &str, refspec: &str) -> Cmd {
        let repo = berth.dokku_root().join(app).display().to_string();
        berth
            .process("git", ["push", "--porcelain", &repo, refspec])
            .current_dir(self.dir.path())
    }

    /// `git push` over berth's SSH server, as a user would.
    pub fn push_ssh(&self, server: &SshServer, app: &str, refspec: &str) -> Cmd {
        self.push_ssh_as(server, app, refspec, &server.client_key())
    }

    /// `git push` over SSH, logging in with the private key `key`.
    pub fn push_ssh_as(&self, server: &SshServer, app: &str, refspec: &str, key: &Path) -> Cmd {
        server
            .git_as(
                key,
                ["push", "--porcelain", &server.remote_url(app), refspec],
            )
            .current_dir(self.dir.path())
    }
}

/// An app of this run deployed from `tests/apps/hello`.
pub struct Deployed {
    pub app: String,
    /// The work tree it was pushed from, to change and push again.
    pub source: Source,
    /// The first push's outcome.
    pub pushed: Done,
}

/// A deploy being prepared: the app's name is chosen and the source
/// copied; [`Deploy::push`] or [`Deploy::push_ssh`] deploys it.
pub struct Deploy<'a> {
    berth: &'a Berth,
    app: String,
    source: Source,
    created: bool,
    refspec: String,
}

impl Berth {
    /// `tests/apps/hello` pushed to a new app `<prefix>-<run>-<n>`, which
    /// must deploy.
    #[track_caller]
    pub fn deployed(&self, prefix: &str) -> Deployed {
        self.deploy(prefix).push()
    }

    /// A deploy of `tests/apps/hello` to a new app `<prefix>-<run>-<n>`,
    /// to prepare before it is pushed.
    pub fn deploy(&self, prefix: &str) -> Deploy<'_> {
        self.deploy_template(prefix, "hello")
    }

    /// A deploy of `tests/apps/<template>` to a new app `<prefix>-<run>-<n>`.
    pub fn deploy_template(&self, prefix: &str, template: &str) -> Deploy<'_> {
        Deploy {
            berth: self,
            app: unique_app(prefix),
            source: Source::new(template),
            created: false,
            refspec: "master".into(),
        }
    }
}

impl<'a> Deploy<'a> {
    /// The app's name, chosen already.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Changes the work tree before the push (`edit` commits what should
    /// be deployed).
    pub fn source(self, edit: impl FnOnce(&Source)) -> Deploy<'a> {
        edit(&self.source);
        self
    }

    /// Creates the app (on the command line) and runs `setup` with its
    /// name before the push.
    pub fn setup(mut self, setup: impl FnOnce(&str)) -> Deploy<'a> {
        self.create();
        setup(&self.app);
        self
    }

    /// Pushes `refspec` instead of `master`.
    pub fn refspec(mut self, refspec: &str) -> Deploy<'a> {
        self.refspec = refspec.to_string();
        self
    }

    /// Pushes straight into the app's repository, creating the app first.
    #[track_caller]
    pub fn push(mut self) -> Deployed {
        self.create();
        let pushed = self
            .source
            .push_local(self.berth, &self.app, &self.refspec)
            .run();
        self.deployed(pushed)
    }

    /// Pushes over `server` as `admin`; the push creates the app unless
    /// [`Deploy::setup`] did.
    #[track_caller]
    pub fn push_ssh(self, server: &SshServer) -> Deployed {
        self.push_ssh_as(server, &server.client_key())
    }

    /// Pushes over `server`, logging in with the private key `key`.
    #[track_caller]
    pub fn push_ssh_as(self, server: &SshServer, key: &Path) -> Deployed {
        let pushed = self
            .source
            .push_ssh_as(server, &self.app, &self.refspec, key)
            .run();
        self.deployed(pushed)
    }

    fn create(&mut self) {
        if !self.created {
            self.berth.app(&self.app);
            self.created = true;
        }
    }

    #[track_caller]
    fn deployed(self, pushed: Done) -> Deployed {
        pushed.assert_code(0);
        let pushed = pushed
            .stderr_has(&format!("-----> Building {} ", self.app))
            .stderr_has("=====> Application deployed:");
        Deployed {
            app: self.app,
            source: self.source,
            pushed,
        }
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

/// The container id berth recorded for one of the app's dynos (`web.1`).
pub fn container_of(berth: &Berth, app: &str, dyno: &str) -> String {
    std::fs::read_to_string(
        berth
            .dokku_root()
            .join(app)
            .join(format!("CONTAINER.{dyno}")),
    )
    .expect("recorded container")
    .trim()
    .to_string()
}

/// `docker inspect --format FORMAT CONTAINER`, trimmed; it must succeed.
pub fn docker_inspect(container: &str, format: &str) -> String {
    let out = std::process::Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker inspect {container} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
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
