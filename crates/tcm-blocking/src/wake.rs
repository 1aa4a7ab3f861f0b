//! Waking the I/O thread: a command mailbox whose every send also interrupts the thread's wait.
//!
//! The I/O thread sleeps in `poll(2)` on the socket and the read end of a pipe; a send writes
//! one byte to the pipe. A call therefore reaches the socket at once instead of after the next
//! read timeout. Where no pipe is available the thread falls back to waking every
//! `ClientOptions::command_poll`.

use std::sync::Arc;
use std::sync::mpsc::{SendError, Sender};
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

    /// Whether [`wait`](Self::wait) can sleep on the socket and the pipe together.
    pub(crate) fn can_poll(&self) -> bool {
        #[cfg(unix)]
        return self.pipe.is_some();
        #[cfg(not(unix))]
        false
    }

    /// Interrupts the current (or next) wait.
    pub(crate) fn wake(&self) {
        #[cfg(unix)]
        if let Some((_, w)) = &self.pipe {
            // A full pipe already holds a wake-up: nothing is lost.
            let _ = rustix::io::write(w, &[1]);
        }
    }

    /// Sleeps until `socket` is readable, a wake-up arrives, or `timeout` passes. Returns
    /// whether the socket is readable. Pending wake-ups are consumed.
    #[cfg(unix)]
    pub(crate) fn wait(
        &self,
        socket: &impl rustix::fd::AsFd,
        timeout: Duration,
    ) -> std::io::Result<bool> {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let Some((r, _)) = &self.pipe else {
            return Ok(true);
        };
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [
            PollFd::new(socket, PollFlags::IN),
            PollFd::new(r, PollFlags::IN),
        ];
        match poll(&mut fds, Some(&ts)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let readable = !fds[0].revents().is_empty();
        if !fds[1].revents().is_empty() {
            let mut buf = [0u8; 64];
            while matches!(rustix::io::read(r, &mut buf), Ok(n) if n > 0) {}
        }
        Ok(readable)
    }
}

/// The sending side of an I/O thread's command channel: every send wakes the thread.
pub(crate) struct Mailbox<C> {
    tx: Sender<C>,
    waker: Arc<Waker>,
}

impl<C> Clone for Mailbox<C> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }
}

impl<C> Mailbox<C> {
    pub(crate) fn new(tx: Sender<C>, waker: Arc<Waker>) -> Self {
        Self { tx, waker }
    }

    /// The waker this mailbox rings.
    pub(crate) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Queues a command and wakes the I/O thread.
    pub(crate) fn send(&self, command: C) -> Result<(), SendError<C>> {
        self.tx.send(command)?;
        self.waker.wake();
        Ok(())
    }
}

/// Why a driver without an open socket stopped waiting on its command channel.
pub(crate) enum Wake<C> {
    /// A command arrived.
    Command(C),
    /// The deadline passed.
    Idle,
    /// Every handle is gone.
    Hangup,
}

/// Waits for the next command until `deadline` (forever without one).
pub(crate) fn wait_commands<C>(
    commands: &std::sync::mpsc::Receiver<C>,
    deadline: Option<std::time::Instant>,
) -> Wake<C> {
    use std::sync::mpsc::RecvTimeoutError;
    let result = match deadline {
        Some(d) => commands.recv_timeout(d.saturating_duration_since(std::time::Instant::now())),
        None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    match result {
        Ok(c) => Wake::Command(c),
        Err(RecvTimeoutError::Timeout) => Wake::Idle,
        Err(RecvTimeoutError::Disconnected) => Wake::Hangup,
    }
}
