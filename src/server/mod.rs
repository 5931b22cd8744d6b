//! `berth server`: the long-running platform process: the embedded SSH
//! server (russh) that takes `ssh dokku@host <command>` and `git push`,
//! nginx and the retire loop ([`platform`]), the health endpoint
//! ([`health`]) and, inside the platform container, its start-up duties
//! ([`container`]).
//!
//! The SSH server never interprets a command: it splits the command string
//! into argv words ([`crate::words::split`]) and runs the berth binary itself with
//! them, so a command over SSH takes the same path as one typed locally
//! ([`crate::cli`]). No shell is involved anywhere.
//!
//! - [`admission`]: caps and grace time for connections not logged in;
//! - [`host_key`]: the persisted Ed25519 host key;
//! - [`listener`]: accept loop and clean stop;
//! - [`session`]: authentication and channel requests of one connection;
//! - [`channel`]: one command's child process and its byte streams;
//! - [`child`], [`pty`]: starting that child, with pipes or a terminal.
//! - [`container`]: container mode (volume layout, `DOKKU_HOSTNAME`, the
//!   apps' network, PID 1 duties);
//! - [`health`]: `GET /health` and `berth healthcheck`;
//! - [`events`]: the engine watcher that routes restarted containers.

pub mod admission;
pub mod channel;
pub mod child;
pub mod container;
pub mod events;
pub mod health;
pub mod host_key;
pub mod listener;
pub mod platform;
pub mod pty;
pub mod session;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use russh::server::Config;
use russh::{MethodKind, MethodSet, SshId};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::plugins::Command;

/// Where the SSH server listens unless told otherwise.
pub const DEFAULT_SSH_LISTEN: &str = "0.0.0.0:22";
/// The environment variable that sets the listen address (the flag wins).
pub const SSH_LISTEN_ENV: &str = "BERTH_SSH_LISTEN";

/// What every connection shares.
pub struct Shared {
    /// The berth binary that runs each command.
    pub program: PathBuf,
    pub dokku_root: PathBuf,
    /// `--trace`: one line per command on the server's stderr.
    pub trace: bool,
}

#[derive(Parser)]
#[command(disable_help_flag = true)]
struct ServerArgs {
    /// `HOST:PORT` for the SSH server.
    #[arg(long = "ssh-listen")]
    ssh_listen: Option<String>,
    /// `HOST:PORT` for the health endpoint (container mode: 127.0.0.1:18080).
    #[arg(long = "health-listen")]
    health_listen: Option<String>,
}

/// `berth server [--ssh-listen ADDR] [--health-listen ADDR]`.
/// The platform's command: `server` runs it.
pub static COMMANDS: &[Command] = &[Command {
    name: "server",
    usage: "[--ssh-listen ADDR]",
    description: "Run the platform: the SSH server, nginx and the retire loop",
    run,
}];

/// Commands help does not list: `healthcheck`, the image's `HEALTHCHECK`.
pub static INTERNAL: &[Command] = &[Command {
    name: "healthcheck",
    usage: "[--health-listen ADDR]",
    description: "Exit 0 when the platform's health endpoint answers 200",
    run: health::healthcheck,
}];

pub fn run(ctx: &Context, args: Vec<String>) -> Result<()> {
    let args: ServerArgs = crate::args::parse("server", &args)?;
    let in_container = container::detect();
    if in_container {
        if let Some(code) = container::run_as_init() {
            return if code == 0 {
                Ok(())
            } else {
                Err(Error::Silent(code))
            };
        }
        container::Layout::standard().prepare()?;
    }
    let listen = args
        .ssh_listen
        .or_else(|| std::env::var(SSH_LISTEN_ENV).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| DEFAULT_SSH_LISTEN.to_string());
    let address = resolve(&listen)?;
    let health_listen = args
        .health_listen
        .or_else(|| {
            std::env::var(health::HEALTH_LISTEN_ENV)
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or_else(|| in_container.then(|| health::DEFAULT_HEALTH_LISTEN.to_string()))
        .map(|listen| resolve(&listen))
        .transpose()?;
    if in_container {
        // First of all: joining a network makes the engine re-create the
        // container's published ports, which drops connections made
        // through them; the sooner it is done, the shorter that window.
        // A failure stops nothing: SSH and nginx still serve what runs.
        if let Err(e) = container::join_app_network(ctx) {
            ctx.out.warn(format!(
                "{e}; nginx cannot reach app containers until this is fixed"
            ))?;
        }
    }
    // Bound now, accepted once ready: a client that connects during the
    // rest of the start-up waits in the backlog for its banner instead of
    // being refused.
    let ssh_listener = std::net::TcpListener::bind(address)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| Error::fail(format!("Unable to listen on {address} for SSH: {e}")))?;
    if in_container && let Err(e) = container::apply_hostname(ctx) {
        ctx.out.warn(e.to_string())?;
    }
    // Bundled plugins and the shell helpers plugins source, refreshed
    // with every start of (a new version of) berth.
    for name in crate::external::bundled::install_bundled(&ctx.store)? {
        ctx.out.info1(format!("Installed bundled plugin {name}"))?;
    }
    let admission = admission::Admission::new(admission::Limits::from_env()?);
    let host_key = host_key::load_or_create(ctx.store.lib_root())?;
    let program = std::env::current_exe()
        .map_err(|e| Error::fail(format!("Unable to find the berth binary: {e}")))?;
    let shared = Arc::new(Shared {
        program,
        dokku_root: ctx.store.dokku_root().to_path_buf(),
        trace: ctx.flags.trace,
    });
    let config = Arc::new(Config {
        server_id: SshId::Standard(concat!("SSH-2.0-berth_", env!("CARGO_PKG_VERSION")).into()),
        methods: MethodSet::from(&[MethodKind::PublicKey][..]),
        keys: vec![host_key],
        // OpenSSH clients open with a `none` probe: answer it at once.
        auth_rejection_time: Duration::from_millis(250),
        auth_rejection_time_initial: Some(Duration::ZERO),
        // A deploy or `logs -t` may be quiet for long; dead peers are found
        // by keepalives instead.
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 4,
        nodelay: true,
        ..Config::default()
    });
    // Deploys run by this server's children leave retiring to it; pushes
    // know which ref locks the previous boot left.
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    // SAFETY: no other thread runs yet; nothing reads the environment
    // concurrently.
    unsafe {
        std::env::set_var("BERTH_SERVER", "1");
        std::env::set_var(crate::runtime_dir::SERVER_STARTED_VAR, started.to_string());
    }
    let platform = platform::Platform::start(ctx)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::fail(format!("Unable to start the server runtime: {e}")))?;
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(ssh_listener)
            .map_err(|e| Error::fail(format!("Unable to listen on {address} for SSH: {e}")))?;
        let bound = listener.local_addr().unwrap_or(address);
        ctx.out.info1(format!("SSH server listening on {bound}"))?;
        if let Some(health_address) = health_listen {
            match tokio::net::TcpListener::bind(health_address).await {
                Ok(health_listener) => {
                    let nginx = crate::nginx::Nginx::new(&ctx.store);
                    // An nginx that holds port 80 while it fails to start
                    // (it retries its binds) is not serving: only a master
                    // that answers on its status socket counts.
                    health::spawn(health_listener, bound, move || {
                        if nginx.is_serving() {
                            nginx.default_ports()
                        } else {
                            Vec::new()
                        }
                    });
                    ctx.out
                        .info1(format!("Health endpoint on http://{health_address}/health"))?;
                }
                Err(e) => ctx.out.warn(format!(
                    "Unable to listen on {health_address} for the health endpoint: {e}"
                ))?,
            }
        }
        let grace = if in_container {
            listener::CONTAINER_STOP_GRACE
        } else {
            listener::STOP_GRACE
        };
        listener::serve(listener, config, shared, admission, grace)
            .await
            .map_err(|e| Error::fail(format!("SSH server failed: {e}")))
    });
    // Sessions still running after the grace period are dropped here; their
    // process groups are killed as they go.
    runtime.shutdown_timeout(Duration::from_secs(1));
    platform.stop();
    served
}

/// `HOST:PORT` → a socket address (`0.0.0.0:22`, `[::]:2222`,
/// `localhost:2222`).
fn resolve(listen: &str) -> Result<SocketAddr> {
    if let Ok(address) = listen.parse() {
        return Ok(address);
    }
    listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            Error::fail(format!(
                "Invalid SSH listen address {listen}: expected HOST:PORT, e.g. 0.0.0.0:22"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(resolve("0.0.0.0:22").unwrap().port(), 22);
        assert_eq!(resolve("[::]:2222").unwrap().port(), 2222);
        assert!(resolve("localhost:2222").unwrap().ip().is_loopback());
        assert!(resolve("nope").is_err());
        assert!(resolve("1.2.3.4").is_err());
    }
}
