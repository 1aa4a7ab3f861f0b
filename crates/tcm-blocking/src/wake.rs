//! Waking the I/O thread: it sleeps in `poll(2)` on its sockets and the read end of a pipe;
//! every command (and every finished dial) writes one byte to the pipe, so it reaches the loop
//! at once. Where no pipe is available the thread wakes every `ClientOptions::command_poll`.

use std::time::Duration;

/// The wake-up pipe of one I/O thread.
#[derive(Debug)]
pub(crate) struct Waker {
    #[cfg(unix)]
    pipe: Option<(rustix::fd::OwnedFd, rustix::fd::OwnedFd)>,
}

impl Waker {
    pub(crate) fn new() -> Self {
        #[cfg(unix)]
        {
            use rustix::pipe::{PipeFlags, pipe_with};
            let pipe = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC).ok();
            if pipe.is_none() {
                tracing::debug!("no wake-up pipe; falling back to periodic command polling");
            }
            Self { pipe }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Interrupts the current (or next) wait.
    pub(crate) fn wake(&self) {
        #[cfg(unix)]
        if let Some((_, w)) = &self.pipe {
            // A full pipe already holds a wake-up: nothing is lost.
            let _ = rustix::io::write(w, &[1]);
        }
    }

    /// Sleeps until one of `sockets` is ready (readable, or writable where its flag says so),
    /// a wake-up arrives, or `timeout` passes (`None`: no limit). Pending wake-ups are consumed.
    /// Without a pipe it sleeps for at most `fallback`.
    #[cfg(unix)]
    pub(crate) fn wait(
        &self,
        sockets: &[(rustix::fd::BorrowedFd<'_>, bool)],
        timeout: Option<Duration>,
        fallback: Duration,
    ) {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let Some((r, _)) = &self.pipe else {
            std::thread::sleep(timeout.unwrap_or(fallback).min(fallback));
            return;
        };
        let ts = timeout.map(|t| Timespec {
            tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(t.subsec_nanos()),
        });
        let mut fds: Vec<PollFd<'_>> = sockets
            .iter()
            .map(|(fd, write)| {
                let flags = if *write {
                    PollFlags::IN | PollFlags::OUT
                } else {
                    PollFlags::IN
                };
                PollFd::from_borrowed_fd(*fd, flags)
            })
            .collect();
        fds.push(PollFd::new(r, PollFlags::IN));
        if let Err(e) = poll(&mut fds, ts.as_ref()) {
            if e != rustix::io::Errno::INTR {
                // Nothing to wait on safely: yield briefly rather than spin.
                tracing::debug!(error = %e, "poll failed");
                std::thread::sleep(fallback);
            }
            return;
        }
        if fds.last().is_some_and(|p| !p.revents().is_empty()) {
            let mut buf = [0u8; 64];
            while matches!(rustix::io::read(r, &mut buf), Ok(n) if n > 0) {}
        }
    }

    /// Sleeps for at most `fallback` or `timeout` (no pipe on this platform).
    #[cfg(not(unix))]
    pub(crate) fn wait(&self, _: &[((), bool)], timeout: Option<Duration>, fallback: Duration) {
        std::thread::sleep(timeout.unwrap_or(fallback).min(fallback));
    }
}
