//! Running a plugin executable: argv only, an explicit environment, and
//! for triggers a deadline after which the executable and everything it
//! started is killed.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How a trigger executable ended.
#[derive(Debug)]
pub enum Captured {
    /// It exited; `stdout` holds what it printed when captured.
    Exited {
        code: i32,
        stdout: String,
    },
    Signalled(i32),
    /// It ran past the deadline and was killed with its process group.
    TimedOut,
}

/// Runs `executable` with `args` and `env` (added to berth's own), stdin
/// empty, stderr inherited, stdout captured or inherited. The executable
/// runs in a process group of its own so that a timeout kills whatever
/// it started too.
pub fn run_with_timeout(
    executable: &Path,
    args: &[String],
    env: &[(String, String)],
    capture: bool,
    timeout: Duration,
) -> io::Result<Captured> {
    io::stdout().flush()?;
    let mut command = Command::new(executable);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(if capture {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
        .stderr(Stdio::inherit())
        .process_group(0);
    let mut child = command.spawn()?;
    let pid = Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;
    let (sent, output) = mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            let _ = sent.send(bytes);
        });
    } else {
        let _ = sent.send(Vec::new());
    }
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    // The executable must exit, and (when captured) its stdout close — a
    // daemon it left behind holding the pipe counts as still running.
    let status = match finished.recv_timeout(timeout) {
        Ok(status) => status?,
        Err(_) => {
            let _ = killpg(pid, Signal::SIGKILL);
            return Ok(Captured::TimedOut);
        }
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    let stdout = match output.recv_timeout(remaining) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => {
            let _ = killpg(pid, Signal::SIGKILL);
            return Ok(Captured::TimedOut);
        }
    };
    Ok(outcome(status, stdout))
}

/// Runs `executable` in the foreground with the user's stdio; returns its
/// exit status (128 + signal when killed, as a shell reports it).
pub fn run_foreground(
    executable: &Path,
    args: &[String],
    env: &[(String, String)],
) -> io::Result<i32> {
    io::stdout().flush()?;
    let status = Command::new(executable)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .status()?;
    Ok(match outcome(status, String::new()) {
        Captured::Exited { code, .. } => code,
        Captured::Signalled(signal) => 128 + signal,
        Captured::TimedOut => unreachable!("no deadline in the foreground"),
    })
}

fn outcome(status: ExitStatus, stdout: String) -> Captured {
    match (status.code(), status.signal()) {
        (Some(code), _) => Captured::Exited { code, stdout },
        (None, Some(signal)) => Captured::Signalled(signal),
        (None, None) => Captured::Exited { code: 1, stdout },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, capture: bool, timeout: Duration) -> Captured {
        let args = vec!["-c".to_string(), script.to_string(), "sh".to_string()];
        run_with_timeout(Path::new("/bin/sh"), &args, &[], capture, timeout).unwrap()
    }

    #[test]
    fn captures_stdout_and_exit_status() {
        match sh("echo hi; exit 3", true, Duration::from_secs(10)) {
            Captured::Exited { code, stdout } => {
                assert_eq!(code, 3);
                assert_eq!(stdout, "hi\n");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn kills_the_whole_group_at_the_deadline() {
        let started = Instant::now();
        // The grandchild holds stdout open; the group kill ends it too.
        let result = sh("sleep 30 & sleep 30", true, Duration::from_millis(300));
        assert!(matches!(result, Captured::TimedOut), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
