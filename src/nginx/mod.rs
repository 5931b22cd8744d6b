//! berth's nginx: one instance berth owns, configured entirely from the
//! data root, so nothing in `/etc/nginx` matters and tests run isolated
//! instances side by side.
//!
//! Config (`$DOKKU_LIB_ROOT/data/nginx-vhosts/`): `nginx.conf` (the main
//! config: includes `default.conf` and every `$DOKKU_ROOT/*/nginx.conf`),
//! `default.conf` (the catch-all 404 server), `generation.conf`,
//! `error.log`. Per-boot files live in the runtime folder
//! ([`crate::runtime_dir`]), never on the volume: `nginx.pid`,
//! `status.sock`, `temp/`. An app's config is installed only after
//! `nginx -t` accepted the whole set with it, so the installed set is
//! always valid and one app's broken config never reaches nginx.
//!
//! Architecture invariant: nginx is started with an argv list and
//! configured only through files rendered here and in the nginx-vhosts
//! plugin; nothing else writes nginx configuration. A pid read from the pid
//! file is signalled only once `/proc` shows it is the master of *this*
//! config ([`Nginx::master`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::runtime_dir;
use crate::store::Store;
use crate::store::atomic::{ensure_dir, remove_file, write_atomic};
use crate::store::lock::LockGuard;

const NGINX: &str = "nginx";
/// The user nginx's workers run as (the master is root).
pub const WORKER_USER: &str = "nobody";

/// The group nginx's workers run as: Debian's `nogroup`, else `nobody`.
/// Files nginx must read and nobody else (htpasswd) belong to it, mode 0640.
pub fn worker_group() -> &'static str {
    static GROUP: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    GROUP.get_or_init(|| {
        if matches!(nix::unistd::Group::from_name("nogroup"), Ok(Some(_))) {
            "nogroup"
        } else {
            "nobody"
        }
    })
}

pub struct Nginx {
    /// Config and logs, on the volume.
    dir: PathBuf,
    /// Pid file, status socket and temp files: this boot's only.
    runtime: PathBuf,
    dokku_root: PathBuf,
    /// Where HTTP-01 challenge answers wait, one folder per domain.
    acme_root: PathBuf,
}

/// Files earlier versions kept on the volume; removed at start so that
/// nothing from a previous boot is read again.
const LEGACY_RUNTIME_FILES: &[&str] = &["nginx.pid", "status.sock"];

impl Nginx {
    pub fn new(store: &Store) -> Nginx {
        Nginx {
            dir: store.lib_root().join("data/nginx-vhosts"),
            runtime: runtime_dir::path(store).join("nginx"),
            dokku_root: store.dokku_root().to_path_buf(),
            acme_root: acme_challenge_root(store),
        }
    }

    pub fn main_config(&self) -> PathBuf {
        self.dir.join("nginx.conf")
    }

    fn pid_file(&self) -> PathBuf {
        self.runtime.join("nginx.pid")
    }

    fn status_socket(&self) -> PathBuf {
        self.runtime.join("status.sock")
    }

    /// Serialises config changes: a candidate is tested against the set it
    /// will join.
    pub fn lock(&self) -> Result<LockGuard> {
        LockGuard::acquire(&self.dir.join(".config.lock"))
    }

    /// Writes the main config and the default server; `ports` are the
    /// ports the catch-all 404 server listens on, `tls_ports` those where
    /// it refuses the TLS handshake. Returns whether anything changed
    /// (only then does nginx need a reload for them).
    pub fn write_base(&self, ports: &[u16], tls_ports: &[u16]) -> Result<bool> {
        runtime_dir::create(&self.runtime.join("temp"))?;
        let default = default_server(ports, tls_ports, &self.acme_root);
        let mut changed = write_if_changed(&self.default_config(), &default)?;
        // Its socket path may differ from the last boot's.
        if !self.generation_config_is_current() {
            self.write_generation()?;
            changed = true;
        }
        let main = self.render_main(&self.dokku_root.join("*/nginx.conf"));
        Ok(write_if_changed(&self.main_config(), &main)? || changed)
    }

    fn default_config(&self) -> PathBuf {
        self.dir.join("default.conf")
    }

    fn render_main(&self, apps_glob: &Path) -> String {
        let dir = self.dir.display();
        let run = self.runtime.display();
        // Named, so that files only the workers may read can be given to
        // their group; meaningful (and allowed) only for a root master.
        let user = if nix::unistd::geteuid().is_root() {
            format!("user {WORKER_USER} {};\n", worker_group())
        } else {
            String::new()
        };
        format!(
            "# Written by berth; changes are overwritten.\n\
             {user}\
             worker_processes auto;\n\
             pid {run}/nginx.pid;\n\
             error_log {dir}/error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n\
             \x20 include /etc/nginx/mime.types;\n\
             \x20 default_type application/octet-stream;\n\
             \x20 sendfile on;\n\
             \x20 server_tokens off;\n\
             \x20 access_log off;\n\
             \x20 server_names_hash_bucket_size 128;\n\
             \x20 # Room for thousands of apps' domains (a limit, not an allocation).\n\
             \x20 server_names_hash_max_size 32768;\n\
             \x20 client_body_temp_path {run}/temp/client_body;\n\
             \x20 proxy_temp_path {run}/temp/proxy;\n\
             \x20 fastcgi_temp_path {run}/temp/fastcgi;\n\
             \x20 uwsgi_temp_path {run}/temp/uwsgi;\n\
             \x20 scgi_temp_path {run}/temp/scgi;\n\
             \x20 # Keep-alive to upstreams for plain requests, upgrade for websockets.\n\
             \x20 map $http_upgrade $berth_connection {{ default upgrade; '' ''; }}\n\
             \x20 include {dir}/default.conf;\n\
             \x20 include {dir}/generation.conf;\n\
             \x20 include {};\n\
             }}\n",
            apps_glob.display()
        )
    }

    /// Tests the installed set with `candidate` standing in for `app`'s
    /// config. Returns nginx's complaint when it refuses.
    pub fn test_with(&self, app: &str, candidate: &Path) -> Result<()> {
        let mut includes = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.dokku_root) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy() == app {
                    continue;
                }
                let conf = entry.path().join("nginx.conf");
                if conf.is_file() {
                    includes.push(conf);
                }
            }
        }
        includes.push(candidate.to_path_buf());
        let main = self.dir.join(format!(".test-{}.conf", std::process::id()));
        let mut text = String::new();
        for include in &includes {
            text.push_str(&format!("include {};\n", include.display()));
        }
        let list = self.dir.join(format!(".test-{}.list", std::process::id()));
        write_atomic(&list, text.as_bytes(), 0o644)?;
        write_atomic(&main, self.render_main(&list).as_bytes(), 0o644)?;
        let result = self.run_test(&main);
        let _ = std::fs::remove_file(&main);
        let _ = std::fs::remove_file(&list);
        result
    }

    /// `nginx -t` on the installed set.
    pub fn test(&self) -> Result<()> {
        self.run_test(&self.main_config())
    }

    fn run_test(&self, main: &Path) -> Result<()> {
        // `nginx -t` creates the temp folders, inside this boot's folder.
        runtime_dir::create(&self.runtime.join("temp"))?;
        let output = Command::new(NGINX)
            .arg("-t")
            .arg("-q")
            .arg("-c")
            .arg(main)
            .arg("-p")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::fail(format!("Unable to run nginx: {e} (is nginx installed?)")))?;
        if output.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&output.stderr);
        let message: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains("configuration file") || l.contains("failed"))
            .collect();
        Err(Error::fail(format!(
            "nginx refused the config: {}",
            message.join(" ").trim()
        )))
    }

    /// The running master's pid, if nginx runs with this config. The pid
    /// file alone is never trusted: after a crash it may name a process
    /// that is not nginx at all (in a new container, pid 17 may be berth
    /// itself), so `/proc` must show nginx's master title with our config.
    pub fn master(&self) -> Option<nix::unistd::Pid> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (pid > 1 && is_master_of(pid, &self.main_config())).then(|| nix::unistd::Pid::from_raw(pid))
    }

    /// Our master runs and its workers answer on the status socket.
    pub fn is_serving(&self) -> bool {
        self.master().is_some() && self.serving_generation().is_some()
    }

    /// Graceful reload: new workers take the new config, old workers finish
    /// their requests. Returns once the new workers answer (they serve the
    /// new generation number on the status socket) and every old worker has
    /// stopped accepting connections, so a deploy never retires a container
    /// nginx might still route new requests to, and a request sent after
    /// the reload meets the new config. Nothing to do when nginx is not
    /// running.
    pub fn reload(&self) -> Result<()> {
        let generation = self.write_generation()?;
        let Some(pid) = self.master() else {
            return Ok(());
        };
        let old_workers = accepting_workers(pid);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP)
            .map_err(|e| Error::fail(format!("Unable to reload nginx: {e}")))?;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(10) {
            if self.serving_generation().as_deref() == Some(generation.as_str())
                && accepting_workers(pid)
                    .iter()
                    .all(|worker| !old_workers.contains(worker))
            {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(Error::fail(format!(
            "nginx did not take the new config within 10s (see {})",
            self.dir.join("error.log").display()
        )))
    }

    /// A new number in `generation.conf`: the status server answers it once
    /// workers run with this config.
    fn write_generation(&self) -> Result<String> {
        let generation = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos().to_string())
            .unwrap_or_default();
        let text = format!(
            "# Written by berth: lets a reload be awaited.\nserver {{\n  listen unix:{};\n  access_log off;\n  location / {{ return 200 \"{generation}\"; }}\n}}\n",
            self.status_socket().display()
        );
        write_atomic(&self.dir.join("generation.conf"), text.as_bytes(), 0o644)?;
        Ok(generation)
    }

    fn serving_generation(&self) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = std::os::unix::net::UnixStream::connect(self.status_socket()).ok()?;
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .ok()?;
        stream
            .write_all(b"GET / HTTP/1.0\r\nHost: status\r\n\r\n")
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
    }

    /// Asks the running nginx to finish its requests and exit.
    pub fn quit(&self) {
        if let Some(pid) = self.master() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
        }
    }

    /// The ports the catch-all server listens on now.
    pub fn default_ports(&self) -> Vec<u16> {
        self.listened().into_iter().map(|(port, _)| port).collect()
    }

    /// The ports of the default server where it speaks TLS.
    pub fn default_tls_ports(&self) -> Vec<u16> {
        self.listened()
            .into_iter()
            .filter_map(|(port, tls)| tls.then_some(port))
            .collect()
    }

    /// The default server's ports, each with whether it speaks TLS.
    fn listened(&self) -> Vec<(u16, bool)> {
        std::fs::read_to_string(self.default_config())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut words = l.trim().strip_prefix("listen ")?.split_whitespace();
                let port = words.next()?.parse().ok()?;
                Some((port, words.any(|w| w == "ssl")))
            })
            .collect()
    }

    /// Whether `generation.conf` points at this boot's status socket.
    fn generation_config_is_current(&self) -> bool {
        let socket = format!("listen unix:{};", self.status_socket().display());
        std::fs::read_to_string(self.dir.join("generation.conf"))
            .is_ok_and(|text| text.contains(&socket))
    }

    /// Set by `nginx:stop` for this boot: the supervisor leaves nginx
    /// stopped until `nginx:start` (a reboot starts it again, as a stopped
    /// service does).
    fn stopped_marker(&self) -> PathBuf {
        self.runtime.join("stopped")
    }

    pub fn is_stopped_by_admin(&self) -> bool {
        self.stopped_marker().exists()
    }

    /// `nginx:stop`: marks nginx stopped, asks it to finish its requests
    /// and exit, and waits until it has.
    pub fn stop(&self) -> Result<()> {
        runtime_dir::create(&self.runtime)?;
        write_atomic(&self.stopped_marker(), b"", 0o644)?;
        self.quit();
        let started = std::time::Instant::now();
        while self.master().is_some() {
            if started.elapsed() > std::time::Duration::from_secs(15) {
                return Err(Error::fail("nginx did not stop within 15s"));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(())
    }

    /// `nginx:start`: clears the mark; `berth server`'s supervisor starts
    /// nginx within a second, else (no server runs) it is started here.
    /// Returns once it serves.
    pub fn start(&self) -> Result<()> {
        remove_file(&self.stopped_marker())?;
        let wait = |limit: u64| {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(limit) {
                if self.is_serving() {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            false
        };
        if wait(3) {
            return Ok(());
        }
        if self.master().is_none() {
            // Not ours to wait for: it runs on after this command ends.
            let _detached = self.spawn()?;
        }
        if wait(10) {
            Ok(())
        } else {
            Err(Error::fail(format!(
                "nginx did not start (see {})",
                self.dir.join("error.log").display()
            )))
        }
    }

    /// Starts nginx in the foreground as a child (for `berth server`).
    /// Call only when [`Nginx::master`] finds none: what a crashed boot
    /// left (pid file, socket) is removed first, or nginx would fail to
    /// bind its status socket ("Address already in use") for ever.
    pub fn spawn(&self) -> Result<std::process::Child> {
        ensure_dir(&self.dir)?;
        runtime_dir::create(&self.runtime.join("temp"))?;
        for stale in [self.pid_file(), self.status_socket()] {
            remove_file(&stale)?;
        }
        for legacy in LEGACY_RUNTIME_FILES {
            remove_file(&self.dir.join(legacy))?;
        }
        Command::new(NGINX)
            .arg("-c")
            .arg(self.main_config())
            .arg("-p")
            .arg(&self.dir)
            .arg("-g")
            .arg("daemon off;")
            .stdin(Stdio::null())
            .spawn()
            .at("Unable to start nginx with", &self.main_config())
    }
}

/// Replaces `path` with `text` unless it holds exactly that already.
pub fn write_if_changed(path: &Path, text: &str) -> Result<bool> {
    if std::fs::read(path).is_ok_and(|current| current == text.as_bytes()) {
        return Ok(false);
    }
    write_atomic(path, text.as_bytes(), 0o644)?;
    Ok(true)
}

/// The catch-all: unknown hosts get 404, never some app.
/// Where HTTP-01 challenge answers wait: `<root>/<domain>/.well-known/
/// acme-challenge/<token>`, served for that domain only.
pub fn acme_challenge_root(store: &Store) -> PathBuf {
    store.lib_root().join("data/letsencrypt/challenges")
}

/// The catch-all server: unknown hosts get 404 over HTTP (but the ACME
/// challenges of domains whose app is not routed yet), and a refused
/// handshake over TLS, so no app's certificate is ever shown for a name
/// it does not cover.
fn default_server(ports: &[u16], tls_ports: &[u16], acme_root: &Path) -> String {
    let mut text = String::from("# Written by berth: unknown hosts get 404.\nserver {\n");
    for port in ports.iter().filter(|p| !tls_ports.contains(p)) {
        text.push_str(&format!("  listen {port} default_server;\n"));
    }
    text.push_str(&format!(
        "  server_name _;\n  access_log off;\n  location ^~ /.well-known/acme-challenge/ {{\n    root {}/$host;\n    default_type text/plain;\n  }}\n  location / {{\n    return 404;\n  }}\n}}\n",
        acme_root.display()
    ));
    if !tls_ports.is_empty() {
        text.push_str("server {\n");
        for port in tls_ports {
            text.push_str(&format!("  listen {port} ssl http2 default_server;\n"));
        }
        text.push_str("  server_name _;\n  access_log off;\n  ssl_reject_handshake on;\n}\n");
    }
    text
}

/// Whether process `pid` is an nginx master running `config`: its title
/// (nginx rewrites argv) is `nginx: master process nginx -c CONFIG ...`.
fn is_master_of(pid: i32, config: &Path) -> bool {
    let Ok(title) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let title = String::from_utf8_lossy(&title);
    let title = title.trim_end_matches('\0');
    title.starts_with("nginx: master process")
        && title
            .split([' ', '\0'])
            .any(|word| Path::new(word) == config)
}

/// The master's workers that still accept connections: children titled
/// `nginx: worker process` (one that is `... is shutting down` has closed
/// its listening sockets).
fn accepting_workers(master: nix::unistd::Pid) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: comm may hold spaces, so split
            // after its closing parenthesis.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            ppid == Some(master.as_raw())
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|title| {
                    String::from_utf8_lossy(&title).trim_end_matches('\0')
                        == "nginx: worker process"
                })
                .unwrap_or(false)
        })
        .collect()
}
