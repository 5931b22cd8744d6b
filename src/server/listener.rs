//! The accept loop: one task per connection, and a clean stop on SIGTERM
//! or SIGINT: no new connections, running sessions get [`STOP_GRACE`] to
//! finish, then are disconnected (their children killed). Each connection
//! waits for its login under [`Admission`]'s caps and grace time.

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
use crate::server::admission::Admission;
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
    admission: Arc<Admission>,
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
                        admission.clone(),
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

/// Runs one connection to its end, until the server stops, or — before
/// it authenticated — until its login grace time ran out or a newer
/// connection took its place in the queue.
async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    shared: Arc<Shared>,
    admission: Arc<Admission>,
    mut stopping: watch::Receiver<bool>,
) {
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let ticket = Arc::new(admission.admit(peer.ip()));
    let deadline = tokio::time::Instant::now() + admission.limits().login_grace;
    // Dropped when this function returns: the connection's channels see it
    // and hang up their children.
    let (_gone, gone) = watch::channel(());
    let handler = SshSession::new(
        shared,
        peer,
        local,
        gone,
        ticket.clone(),
        admission.limits().max_sessions,
    );
    let authenticated = handler.authenticated();
    // A failed handshake (a port probe, a client that gives up) is not worth
    // a message; neither is one that never sends its version line.
    let session = tokio::select! {
        started = tokio::time::timeout_at(deadline, run_stream(config, socket, handler)) => {
            match started {
                Ok(Ok(session)) => session,
                _ => return,
            }
        }
        _ = ticket.evicted.notified() => return,
    };
    let handle = session.handle();
    let waiting = |what: &'static str| {
        let authenticated = authenticated.clone();
        async move {
            if authenticated.load(std::sync::atomic::Ordering::Acquire) {
                std::future::pending::<()>().await;
            }
            what
        }
    };
    let grace = async {
        tokio::time::sleep_until(deadline).await;
        waiting("login grace time exceeded").await
    };
    let evicted = async {
        ticket.evicted.notified().await;
        waiting("too many connections are waiting to log in").await
    };
    let reason = tokio::select! {
        _ = session => None,
        _ = stopping.wait_for(|stop| *stop) => Some("berth is stopping"),
        reason = grace => Some(reason),
        reason = evicted => Some(reason),
    };
    if let Some(reason) = reason {
        let _ = handle
            .disconnect(Disconnect::ByApplication, reason.into(), "en".into())
            .await;
    }
}
