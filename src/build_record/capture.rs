//! The output of a deploy, teed: while a record is open, fds 1 and 2 are
//! pipes, and a thread per pipe copies what arrives to the original fd
//! (the terminal, the SSH channel, git's sideband) and appends it to the
//! record's log. berth's own lines, the engine's build stream and every
//! child's output (external plugins, nginx -t) pass the same way.
//!
//! When fds 1 and 2 are the same file (a terminal, git's hook pipe), one
//! pipe serves both, so their lines keep their order. [`Capture::stop`]
//! puts the original fds back and returns once the copiers have passed on
//! all that was written before; a child that still holds the pipe (a
//! daemon started meanwhile) cannot hold the deploy up.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::{dup2_stderr, dup2_stdout, pipe2};

/// How long a copier waits for more before it looks whether it should
/// stop.
const POLL_MS: u16 = 100;

pub(super) struct Capture {
    saved_out: OwnedFd,
    saved_err: OwnedFd,
    stop: Arc<AtomicBool>,
    copiers: Vec<JoinHandle<()>>,
}

impl Capture {
    /// Points fds 1 and 2 at pipes whose copiers write to the original
    /// fds and to `log`.
    pub(super) fn start(log: Arc<Mutex<File>>) -> io::Result<Capture> {
        io::stdout().flush()?;
        let saved_out = io::stdout().as_fd().try_clone_to_owned()?;
        let saved_err = io::stderr().as_fd().try_clone_to_owned()?;
        let mut capture = Capture {
            saved_out,
            saved_err,
            stop: Arc::new(AtomicBool::new(false)),
            copiers: Vec::new(),
        };
        if let Err(e) = capture.redirect(log) {
            capture.stop();
            return Err(e);
        }
        Ok(capture)
    }

    fn redirect(&mut self, log: Arc<Mutex<File>>) -> io::Result<()> {
        if same_file(&self.saved_out, &self.saved_err) {
            let (read, write) = pipe2(OFlag::O_CLOEXEC)?;
            self.spawn(read, self.saved_out.try_clone()?, log)?;
            dup2_stdout(&write)?;
            dup2_stderr(&write)?;
        } else {
            let (out_read, out_write) = pipe2(OFlag::O_CLOEXEC)?;
            let (err_read, err_write) = pipe2(OFlag::O_CLOEXEC)?;
            self.spawn(out_read, self.saved_out.try_clone()?, log.clone())?;
            self.spawn(err_read, self.saved_err.try_clone()?, log)?;
            dup2_stdout(&out_write)?;
            dup2_stderr(&err_write)?;
        }
        Ok(())
    }

    fn spawn(&mut self, from: OwnedFd, to: OwnedFd, log: Arc<Mutex<File>>) -> io::Result<()> {
        let stop = self.stop.clone();
        let copier = std::thread::Builder::new()
            .name("build-output".into())
            .spawn(move || copy(from, to, &log, &stop))?;
        self.copiers.push(copier);
        Ok(())
    }

    /// Puts the original fds back and waits for the copiers to pass on
    /// what was written until now.
    pub(super) fn stop(self) {
        let _ = io::stdout().flush();
        let _ = dup2_stdout(&self.saved_out);
        let _ = dup2_stderr(&self.saved_err);
        self.stop.store(true, Ordering::SeqCst);
        for copier in self.copiers {
            let _ = copier.join();
        }
    }
}

/// Whether two fds are the same file (a terminal both streams go to).
fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
    match (nix::sys::stat::fstat(a), nix::sys::stat::fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

/// Copies `from` to `to` and `log` until every writer closed `from`, or
/// `stop` is set and nothing more comes. A `to` that stops taking output
/// (the client went away) leaves the log still written.
fn copy(from: OwnedFd, to: OwnedFd, log: &Mutex<File>, stop: &AtomicBool) {
    let mut from = File::from(from);
    let mut to = Some(File::from(to));
    let mut buffer = vec![0u8; 64 * 1024];
    // After `stop`, what is written goes on being copied for a second at
    // most: a child that keeps the pipe and keeps writing cannot hold the
    // deploy (and its lock) forever.
    let mut stopped_at: Option<std::time::Instant> = None;
    loop {
        if stop.load(Ordering::SeqCst)
            && stopped_at
                .get_or_insert_with(std::time::Instant::now)
                .elapsed()
                > std::time::Duration::from_secs(1)
        {
            return;
        }
        let ready = {
            let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(POLL_MS))
        };
        match ready {
            Ok(0) if stop.load(Ordering::SeqCst) => return,
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let n = match from.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if let Some(out) = to.as_mut()
            && write_all(out, &buffer[..n]).is_err()
        {
            to = None;
        }
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        let _ = log.write_all(&buffer[..n]);
    }
}

/// `write_all`, waiting for room when `out` is non-blocking (a stream the
/// parent shares with others may be).
fn write_all(out: &mut File, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match out.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLOUT)];
                poll(&mut fds, PollTimeout::from(POLL_MS)).map_err(io::Error::from)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
