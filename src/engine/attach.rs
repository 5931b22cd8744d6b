//! Containers attached to berth's own stdio: `run` (a one-off container)
//! and `enter` (an exec in a running one).
//!
//! stdin is pumped from a blocking reader thread into the engine's stream;
//! output is written as it arrives, stdout and stderr kept apart unless a
//! terminal merges them. When our stdin is a terminal it is put in raw mode
//! for the session and restored after.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::pin::Pin;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{AttachContainerOptions, ResizeContainerTTYOptions};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use nix::sys::termios;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Engine, engine_error};
use crate::error::{Error, Result};

/// Which of a container's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Out,
    Err,
}

pub(super) fn split_output(output: LogOutput) -> (StdStream, Bytes) {
    match output {
        LogOutput::StdErr { message } => (StdStream::Err, message),
        LogOutput::StdOut { message }
        | LogOutput::Console { message }
        | LogOutput::StdIn { message } => (StdStream::Out, message),
    }
}

impl Engine {
    /// Starts a created container attached to our stdio and waits for it;
    /// returns its exit code.
    pub fn run_attached(&self, id: &str, tty: bool) -> Result<i64> {
        let _raw = RawMode::enter(tty);
        self.block_on(async {
            let options = AttachContainerOptions {
                stream: true,
                stdin: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            };
            let attached = self
                .docker
                .attach_container(id, Some(options))
                .await
                .map_err(|e| engine_error("Unable to attach to container", e))?;
            self.docker
                .start_container(id, None)
                .await
                .map_err(|e| engine_error("Unable to start container", e))?;
            if tty && let Some((h, w)) = terminal_size() {
                let _ = self
                    .docker
                    .resize_container_tty(id, ResizeContainerTTYOptions { h, w })
                    .await;
            }
            pump(attached.output, attached.input).await
        })?;
        self.wait_container(id)
    }

    /// Runs `cmd` inside a running container, attached to our stdio;
    /// returns its exit code.
    pub fn exec_attached(&self, container: &str, cmd: Vec<String>, tty: bool) -> Result<i64> {
        let _raw = RawMode::enter(tty);
        self.block_on(async {
            let config = ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(tty),
                cmd: Some(cmd),
                ..Default::default()
            };
            let exec = self
                .docker
                .create_exec(container, config)
                .await
                .map_err(|e| engine_error("Unable to enter container", e))?;
            let started = self
                .docker
                .start_exec(
                    &exec.id,
                    Some(StartExecOptions {
                        tty,
                        ..Default::default()
                    }),
                )
                .await
                .map_err(|e| engine_error("Unable to enter container", e))?;
            let StartExecResults::Attached { output, input } = started else {
                return Err(Error::fail("Unable to enter container: not attached"));
            };
            if tty && let Some((h, w)) = terminal_size() {
                let _ = self
                    .docker
                    .resize_exec(
                        &exec.id,
                        bollard::exec::ResizeExecOptions {
                            height: h as u16,
                            width: w as u16,
                        },
                    )
                    .await;
            }
            pump(output, input).await?;
            let inspect = self
                .docker
                .inspect_exec(&exec.id)
                .await
                .map_err(|e| engine_error("Unable to read exit code", e))?;
            Ok(inspect.exit_code.unwrap_or(0))
        })
    }
}

/// Copies our stdin into `input` and `output` to our stdout/stderr until the
/// output ends.
async fn pump(
    mut output: Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    mut input: Pin<Box<dyn AsyncWrite + Send>>,
) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    // A blocking reader: std's stdin cannot be read asynchronously. It ends
    // with the process if the container finishes first.
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if input.write_all(&chunk).await.is_err() {
                return;
            }
            let _ = input.flush().await;
        }
        let _ = input.shutdown().await;
    });
    let mut stdout = std::io::stdout();
    let mut stderr = std::io::stderr();
    while let Some(item) = output.next().await {
        let item = item.map_err(|e| engine_error("Lost the container's output", e))?;
        let (which, bytes) = split_output(item);
        let result = match which {
            StdStream::Out => stdout.write_all(&bytes).and_then(|()| stdout.flush()),
            StdStream::Err => stderr.write_all(&bytes).and_then(|()| stderr.flush()),
        };
        result.map_err(Error::Output)?;
    }
    writer.abort();
    Ok(())
}

fn terminal_size() -> Option<(i32, i32)> {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own.
    let rc = unsafe { nix::libc::ioctl(0, nix::libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_row > 0).then_some((i32::from(size.ws_row), i32::from(size.ws_col)))
}

/// Our terminal in raw mode while alive, so keystrokes reach the container
/// unprocessed; restored on drop.
struct RawMode {
    saved: Option<termios::Termios>,
}

impl RawMode {
    fn enter(tty: bool) -> RawMode {
        let stdin = std::io::stdin();
        if !tty || !stdin.is_terminal() {
            return RawMode { saved: None };
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), termios::SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), termios::SetArg::TCSANOW, saved);
        }
    }
}
