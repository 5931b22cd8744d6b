//! One SSH session channel, from its `exec` (or `shell`) request to its
//! exit status: the command line becomes argv, the berth binary runs it,
//! and bytes flow both ways with backpressure.
//!
//! - channel data → the child's stdin; channel EOF closes it;
//! - the child's stdout → channel data, stderr → extended data (1); with a
//!   pty both arrive merged from the terminal;
//! - output is read 32 KiB at a time and each chunk waits for the client's
//!   window, so a slow client slows the child instead of filling memory;
//! - once stdout and stderr are at end of file and the child has exited:
//!   `exit-status`, EOF, close, in that order, after the last byte;
//! - when the client goes away first, the child's process group gets a
//!   hangup, then is killed if it lingers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf, Sig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::output::warning;
use crate::server::Shared;
use crate::server::child::{self, Launch, Streams};
use crate::server::pty::{Master, WindowSize};
use crate::server::session::Identity;

/// Output is forwarded in chunks of this size.
const CHUNK: usize = 32 * 1024;
/// How long a hung-up child may take to exit before its group is killed.
const HANGUP_GRACE: Duration = Duration::from_secs(3);

type Writer = Arc<ChannelWriteHalf<Msg>>;

/// Everything a channel needs from its connection.
pub struct ChannelContext {
    pub shared: Arc<Shared>,
    pub identity: Identity,
    /// `SSH_CLIENT` / `SSH_CONNECTION` values.
    pub ssh_client: String,
    pub ssh_connection: String,
    /// Changes (closes) when the connection is gone.
    pub gone: watch::Receiver<()>,
}

/// Serves the channel until its command ends or the client leaves.
pub async fn serve(channel: Channel<Msg>, cx: ChannelContext) {
    let (mut rx, tx) = channel.split();
    let tx: Writer = Arc::new(tx);
    let mut pty: Option<(String, WindowSize)> = None;
    let command = loop {
        match rx.wait().await {
            Some(ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                pix_width,
                pix_height,
                ..
            }) if cx.identity.pty_allowed => {
                let size = WindowSize {
                    cols: col_width,
                    rows: row_height,
                    pix_width,
                    pix_height,
                };
                pty = Some((term, size));
            }
            Some(ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            }) => {
                if let Some((_, size)) = pty.as_mut() {
                    *size = WindowSize {
                        cols: col_width,
                        rows: row_height,
                        pix_width,
                        pix_height,
                    };
                }
            }
            Some(ChannelMsg::Exec { command, .. }) => break command,
            Some(ChannelMsg::RequestShell { .. }) => break Vec::new(),
            Some(ChannelMsg::Close) | None => return,
            Some(_) => {}
        }
    };
    let Ok(line) = String::from_utf8(command) else {
        return refuse(&tx, "The command is not valid UTF-8").await;
    };
    let argv = if line.trim().is_empty() {
        vec!["help".to_string()]
    } else {
        match crate::words::split(&line) {
            Ok(argv) => argv,
            Err(e) => return refuse(&tx, &format!("Unable to parse the command: {e}")).await,
        }
    };
    if cx.shared.trace {
        eprintln!(
            "ssh: {} ({}) from {}: {argv:?}",
            cx.identity.name,
            cx.identity.fingerprint,
            cx.ssh_client.split(' ').next().unwrap_or_default()
        );
    }
    run(rx, tx, cx, argv, line, pty).await;
}

/// Runs the child and shuttles bytes until it ends or the client leaves.
async fn run(
    mut rx: russh::ChannelReadHalf,
    tx: Writer,
    mut cx: ChannelContext,
    argv: Vec<String>,
    line: String,
    pty: Option<(String, WindowSize)>,
) {
    let id = &cx.identity;
    let env = vec![
        ("SSH_USER", "dokku".to_string()),
        ("SSH_NAME", id.name.clone()),
        ("NAME", id.name.clone()),
        ("SSH_FINGERPRINT", id.fingerprint.clone()),
        ("FINGERPRINT", id.fingerprint.clone()),
        ("SSH_ORIGINAL_COMMAND", line),
        ("SSH_CLIENT", cx.ssh_client.clone()),
        ("SSH_CONNECTION", cx.ssh_connection.clone()),
    ];
    let launch = Launch {
        program: &cx.shared.program,
        argv: &argv,
        env,
        pty,
    };
    let running = match child::spawn(launch) {
        Ok(running) => running,
        Err(e) => return refuse(&tx, &format!("Unable to start berth: {e}")).await,
    };
    let child::Running {
        mut child,
        streams,
        mut group,
    } = running;

    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    let mut input: Option<Box<dyn AsyncWrite + Send + Unpin>>;
    let mut terminal: Option<Master> = None;
    match streams {
        Streams::Pipes {
            stdin,
            stdout,
            stderr,
        } => {
            pumps.push(tokio::spawn(pump(stdout, tx.clone(), None)));
            pumps.push(tokio::spawn(pump(stderr, tx.clone(), Some(1))));
            input = Some(Box::new(stdin));
        }
        Streams::Pty(master) => {
            pumps.push(tokio::spawn(pump(master.clone(), tx.clone(), None)));
            input = Some(Box::new(master.clone()));
            terminal = Some(master);
        }
    }
    let aborts: Vec<_> = pumps.iter().map(JoinHandle::abort_handle).collect();
    let finished = async {
        for pump in pumps {
            let _ = pump.await;
        }
        child.wait().await
    };
    tokio::pin!(finished);

    let status = loop {
        tokio::select! {
            status = &mut finished => break Some(status),
            _ = cx.gone.changed() => break None,
            msg = rx.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    let Some(writer) = input.as_mut() else { continue };
                    tokio::select! {
                        written = writer.write_all(&data) => {
                            if written.is_err() {
                                // The child closed its stdin: drop what follows.
                                input = None;
                            }
                        }
                        _ = cx.gone.changed() => break None,
                    }
                }
                // A terminal has no half-close: EOF changes nothing there.
                Some(ChannelMsg::Eof) if terminal.is_none() => input = None,
                Some(ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }) => {
                    if let Some(master) = &terminal {
                        let _ = master.resize(WindowSize {
                            cols: col_width,
                            rows: row_height,
                            pix_width,
                            pix_height,
                        });
                    }
                }
                Some(ChannelMsg::Signal { signal }) => {
                    if let Some(signal) = unix_signal(&signal) {
                        group.signal(signal);
                    }
                }
                Some(ChannelMsg::Close) | None => break None,
                Some(_) => {}
            },
        }
    };

    match status {
        Some(status) => {
            group.release();
            let code = match status {
                Ok(status) => child::exit_code(status),
                Err(_) => 255,
            };
            let _ = tx.exit_status(code).await;
            let _ = tx.eof().await;
            let _ = tx.close().await;
        }
        None => {
            // Nobody reads the output any more; a pump waiting for the
            // client's window would wait forever.
            aborts.iter().for_each(|a| a.abort());
            group.signal(Signal::SIGHUP);
            let _ = tokio::time::timeout(HANGUP_GRACE, &mut finished).await;
            // `group` drops here: whatever is left of it is killed.
        }
    }
}

/// Copies `reader` to the channel, as data or as extended data `ext`,
/// one chunk at a time, each waiting for the client's window.
async fn pump(mut reader: impl AsyncRead + Unpin, tx: Writer, ext: Option<u32>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        let sent = match ext {
            None => tx.data_bytes(chunk).await,
            Some(ext) => tx.extended_data_bytes(ext, chunk).await,
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Ends the channel before any child ran: a Dokku-style message on stderr,
/// exit status 1.
async fn refuse(tx: &Writer, message: &str) {
    let text = format!("{}\n", warning(message));
    let _ = tx.extended_data_bytes(1, Bytes::from(text)).await;
    let _ = tx.exit_status(1).await;
    let _ = tx.eof().await;
    let _ = tx.close().await;
}

fn unix_signal(signal: &Sig) -> Option<Signal> {
    Some(match signal {
        Sig::ABRT => Signal::SIGABRT,
        Sig::ALRM => Signal::SIGALRM,
        Sig::HUP => Signal::SIGHUP,
        Sig::INT => Signal::SIGINT,
        Sig::KILL => Signal::SIGKILL,
        Sig::QUIT => Signal::SIGQUIT,
        Sig::TERM => Signal::SIGTERM,
        Sig::USR1 => Signal::SIGUSR1,
        _ => return None,
    })
}
