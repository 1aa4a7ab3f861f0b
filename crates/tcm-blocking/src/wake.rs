//! Waking whoever drives a connection. The thread that drives it (the I/O thread, or a caller
//! leading while it waits for its reply) sleeps in `poll(2)` on its sockets and the read end of
//! a pipe; every command (and every finished dial) writes one byte to the pipe, so it reaches
//! the loop at once. Where no pipe is available the thread wakes every
//! `ClientOptions::command_poll`.
//!
//! While callers lead, the I/O thread stands by ([`Waker::park`]) on a condition variable
//! instead: a wake-up rings it too, unless a caller is leading (that caller polls the pipe).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// The wake-up pipe and stand-by bell of one connection.
#[derive(Debug)]
pub(crate) struct Waker {
    #[cfg(unix)]
    pipe: Option<(rustix::fd::OwnedFd, rustix::fd::OwnedFd)>,
    /// Wake-ups so far, so that one rung just before the I/O thread stands by is not lost.
    rings: AtomicU64,
    /// The I/O thread stands by.
    parked: AtomicBool,
    /// A caller drives the connection (and polls the pipe).
    leading: AtomicBool,
    /// Calls that tried to lead so far: the I/O thread stands by while they keep coming.
    tries: AtomicU64,
    bell: (Mutex<()>, Condvar),
}

/// A caller's lead: marks the connection as driven by a caller until dropped (also when the
/// caller unwinds), so that wake-ups go to its pipe rather than to the standing-by I/O thread.
pub(crate) struct Leading<'a>(&'a Waker);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0.leading.store(false, SeqCst);
    }
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
            Self::with_pipe(pipe)
        }
        #[cfg(not(unix))]
        Self::with_pipe()
    }

    fn with_pipe(#[cfg(unix)] pipe: Option<(rustix::fd::OwnedFd, rustix::fd::OwnedFd)>) -> Self {
        Self {
            #[cfg(unix)]
            pipe,
            rings: AtomicU64::new(0),
            parked: AtomicBool::new(false),
            leading: AtomicBool::new(false),
            tries: AtomicU64::new(0),
            bell: (Mutex::new(()), Condvar::new()),
        }
    }

    /// Interrupts the current (or next) wait of whoever drives the connection.
    pub(crate) fn wake(&self) {
        #[cfg(unix)]
        if let Some((_, w)) = &self.pipe {
            // A full pipe already holds a wake-up: nothing is lost.
            let _ = rustix::io::write(w, &[1]);
        }
        self.rings.fetch_add(1, SeqCst);
        if self.parked.load(SeqCst) && !self.leading.load(SeqCst) {
            let _guard = self.bell.0.lock();
            self.bell.1.notify_one();
        }
    }

    /// Wake-ups so far: what [`park`](Self::park) compares against.
    pub(crate) fn rings(&self) -> u64 {
        self.rings.load(SeqCst)
    }

    /// Counts a call that tries to lead; returns the count.
    pub(crate) fn try_lead(&self) -> u64 {
        self.tries.fetch_add(1, SeqCst) + 1
    }

    /// Calls that tried to lead so far.
    pub(crate) fn tries(&self) -> u64 {
        self.tries.load(SeqCst)
    }

    /// Marks the connection as driven by a caller, until the guard drops.
    pub(crate) fn lead(&self) -> Leading<'_> {
        self.leading.store(true, SeqCst);
        Leading(self)
    }

    /// The I/O thread stands by for at most `timeout`, or until a wake-up rung after
    /// [`rings`](Self::rings) returned `seen`.
    pub(crate) fn park(&self, seen: u64, timeout: Duration) {
        let (lock, bell) = &self.bell;
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.parked.store(true, SeqCst);
        if self.rings.load(SeqCst) == seen {
            let _ = bell.wait_timeout(guard, timeout);
        }
        self.parked.store(false, SeqCst);
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
