//! The accept loop: one task per connection, and a clean stop on SIGTERM
//! or SIGINT: no new connections, running sessions get [`STOP_GRACE`] to
//! finish, then are disconnected (their children killed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::Disconnect;
use russh::server::{Config, run_stream};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::output::warning;
use crate::server::Shared;
use crate::server::session::SshSession;

/// How long running sessions may take to finish once a stop is asked.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// The same in the platform container: `docker stop` kills after 10 s, and
/// nginx still has to quit after the sessions.
pub const CONTAINER_STOP_GRACE: Duration = Duration::from_secs(6);

/// Serves connections until SIGTERM or SIGINT.
pub async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    shared: Arc<Shared>,
    grace: Duration,
) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    // This loop replaces russh's, which is what would apply
                    // `Config::nodelay`: without it Nagle and delayed ACKs
                    // add ~40 ms to each handshake round trip.
                    if config.nodelay {
                        let _ = socket.set_nodelay(true);
                    }
                    connections.spawn(connection(
                        socket,
                        peer,
                        config.clone(),
                        shared.clone(),
                        stopping.clone(),
                    ));
                }
                // Out of descriptors, or a connection reset before accept:
                // the listener itself is fine; breathe and go on.
                Err(e) => {
                    eprintln!("{}", warning(&format!("ssh: accept failed: {e}")));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            Some(_) = connections.join_next() => {}
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drain).await.is_err() {
        let _ = stop.send(true);
        let drain = async { while connections.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
    Ok(())
}

/// Runs one connection to its end, or until the server stops.
async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    shared: Arc<Shared>,
    mut stopping: watch::Receiver<bool>,
) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    // Dropped when this function returns: the connection's channels see it
    // and hang up their children.
    let (_gone, gone) = watch::channel(());
    let handler = SshSession::new(shared, peer, local, gone);
    // A failed handshake (a port probe, a client that gives up) is not worth
    // a message.
    let Ok(session) = run_stream(config, socket, handler).await else {
        return;
    };
    let handle = session.handle();
    let stopped = tokio::select! {
        _ = session => false,
        _ = stopping.wait_for(|stop| *stop) => true,
    };
    if stopped {
        let _ = handle
            .disconnect(
                Disconnect::ByApplication,
                "berth is stopping".into(),
                "en".into(),
            )
            .await;
    }
}
