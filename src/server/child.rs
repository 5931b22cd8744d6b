//! The process behind one SSH command: the berth binary itself, started
//! with an argv list (never a shell), in a session of its own, with pipes
//! or a pseudo-terminal as its stdio.
//!
//! The child leads a new session (`setsid`), so its process group holds it
//! and everything it starts: a hangup reaches all of them, and a signal
//! meant for the server (Ctrl-C in the server's terminal) reaches none.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::server::pty::{self, Master, WindowSize};

/// What to start.
pub struct Launch<'a> {
    pub program: &'a Path,
    pub argv: &'a [String],
    /// Added to the server's own environment.
    pub env: Vec<(&'static str, String)>,
    /// `TERM` and the initial size, when the client asked for a pty.
    pub pty: Option<(String, WindowSize)>,
}

/// The child's end of the conversation.
pub enum Streams {
    Pipes {
        stdin: ChildStdin,
        stdout: ChildStdout,
        stderr: ChildStderr,
    },
    /// stdin, stdout and stderr are all the pty's slave; this is the master.
    Pty(Master),
}

pub struct Running {
    pub child: Child,
    pub streams: Streams,
    pub group: ProcessGroup,
}

/// Starts the child.
pub fn spawn(launch: Launch<'_>) -> io::Result<Running> {
    let mut command = Command::new(launch.program);
    command
        .args(launch.argv)
        .envs(launch.env.iter().map(|(k, v)| (*k, v)))
        .kill_on_drop(true);
    let mut master = None;
    let with_tty = launch.pty.is_some();
    match launch.pty {
        Some((term, size)) => {
            let pty = pty::open(size)?;
            let term = if term.is_empty() { "dumb".into() } else { term };
            command
                .env("TERM", term)
                .stdin(Stdio::from(pty.slave.try_clone()?))
                .stdout(Stdio::from(pty.slave.try_clone()?))
                .stderr(Stdio::from(pty.slave));
            master = Some(pty.master);
        }
        None => {
            command
                .env_remove("TERM")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
    }
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (setsid, ioctl).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid()?;
            // fd 0 is the pty slave by now: make it the controlling terminal.
            if with_tty && nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn()?;
    // The command held the slave copies; they close with it, so the master
    // sees end of file when the child's side is done.
    drop(command);
    let group = ProcessGroup {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };
    let streams = match master {
        Some(master) => Streams::Pty(master),
        None => {
            let missing = || io::Error::other("child stdio was not piped");
            Streams::Pipes {
                stdin: child.stdin.take().ok_or_else(missing)?,
                stdout: child.stdout.take().ok_or_else(missing)?,
                stderr: child.stderr.take().ok_or_else(missing)?,
            }
        }
    };
    Ok(Running {
        child,
        streams,
        group,
    })
}

/// The exit status SSH reports: the code, or 128 + the signal number as a
/// shell reports a killed command.
pub fn exit_code(status: ExitStatus) -> u32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u32::try_from(code).unwrap_or(255),
        (None, Some(signal)) => 128 + u32::try_from(signal).unwrap_or(0),
        (None, None) => 255,
    }
}

/// The child's process group. Dropped while armed, it kills the group, so
/// an abandoned session leaves nothing running.
pub struct ProcessGroup {
    pgid: Option<Pid>,
}

impl ProcessGroup {
    /// Sends `signal` to every process of the group.
    pub fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = killpg(pgid, signal);
        }
    }

    /// The child ended by itself: nothing to kill on drop.
    pub fn release(&mut self) {
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_as_a_shell_reports_them() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(20 << 8)), 20);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }
}
