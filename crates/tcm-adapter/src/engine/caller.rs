//! [`Caller`]: the handles' side of the I/O loop's command channel, and [`Ticket`]: one call
//! in progress, cancelled if dropped before its outcome arrived.
//!
//! A loop is reached through [`Rouse`]: rung after each command, and able to let a caller that
//! waits for its reply drive the connection itself, on its own thread
//! ([`Caller::call_blocking`]) or in its own task ([`Caller::call_async`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::mailbox::{self, Closed, Mailbox};
use super::{Command, Protocol, Reply};

/// The I/O loop has stopped (every handle's calls fail with this once it is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client's I/O loop has stopped")]
pub struct Stopped;

/// Why a call could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// The I/O loop has stopped.
    Stopped,
    /// `limit` calls already wait for the I/O loop.
    Full {
        /// `ClientOptions::max_queued_calls`.
        limit: usize,
    },
}

impl From<Stopped> for NotStarted {
    fn from(_: Stopped) -> Self {
        Self::Stopped
    }
}

/// Counts a call as waiting for the I/O loop until the loop takes it (drops the command).
#[derive(Debug)]
pub struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How handles reach an I/O loop that sleeps on something other than the command channel.
pub trait Rouse: Send + Sync {
    /// Interrupts the loop's current (or next) wait, so that it takes the commands queued.
    fn wake(&self);

    /// Drives the loop on the calling thread until `done()` holds, if no other thread drives it
    /// now, and returns `true`; otherwise wakes the loop and returns `false` at once. A blocked
    /// caller that drives the loop itself costs no hand-off between threads (leader/follower).
    /// The default never leads.
    fn lead(&self, done: &mut dyn FnMut() -> bool) -> bool {
        let _ = done;
        self.wake();
        false
    }

    /// The async form of [`lead`](Self::lead): if no other task or thread is driving the loop
    /// at this moment, drives it once with `cx` (so that `cx` is woken by what the loop waits
    /// for), stopping early once `done()` holds, and returns `true`; otherwise returns `false`
    /// and leaves the call to whoever drives the loop. The default never leads.
    fn poll_lead(&self, cx: &mut Context<'_>, done: &mut dyn FnMut() -> bool) -> bool {
        let _ = (cx, done);
        self.wake();
        false
    }
}

/// Reaches a loop that sleeps on something other than the command channel.
pub type Wake = Arc<dyn Rouse>;

/// Sends commands to one I/O loop. Shared by all handles of a client.
pub struct Caller<P: Protocol> {
    commands: async_channel::Sender<Command<P>>,
    wake: Option<Wake>,
    next_call: AtomicU64,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
}

impl<P: Protocol> std::fmt::Debug for Caller<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("queued", &self.commands.len())
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> Caller<P> {
    /// A caller on `commands` that lets at most `max_queued` calls wait for the loop; `wake`
    /// (if any) is rung after every command.
    pub fn new(
        commands: async_channel::Sender<Command<P>>,
        wake: Option<Wake>,
        max_queued: usize,
    ) -> Self {
        Self {
            commands,
            wake,
            next_call: AtomicU64::new(1),
            queued: Arc::new(AtomicUsize::new(0)),
            max_queued,
        }
    }

    /// Queues a command for the loop.
    pub fn send(&self, command: Command<P>) -> Result<(), Stopped> {
        self.commands.try_send(command).map_err(|_| Stopped)?;
        if let Some(wake) = &self.wake {
            wake.wake();
        }
        Ok(())
    }

    /// Starts a request with a deadline of `timeout` from now; its replies arrive on the
    /// ticket, which cancels the request if dropped before the outcome. A stream's ticket holds
    /// up to `frames` unread frames (0 for a call with one outcome).
    pub fn start(
        self: &Arc<Self>,
        request: P::Request,
        timeout: Option<Duration>,
        frames: usize,
    ) -> Result<Ticket<P>, NotStarted> {
        let ticket = self.queue(request, timeout, frames)?;
        if let Some(wake) = &self.wake {
            wake.wake();
        }
        Ok(ticket)
    }

    /// Makes a call with one outcome and blocks the calling thread until it arrives (by its
    /// deadline at the latest). While no other thread drives the loop, this thread does
    /// ([`Rouse::lead`]); otherwise it waits for the loop like any ticket.
    pub fn call_blocking(
        self: &Arc<Self>,
        request: P::Request,
        timeout: Option<Duration>,
    ) -> Result<Outcome<P>, NotStarted> {
        let mut ticket = self.queue(request, timeout, 0)?;
        if let Some(wake) = &self.wake {
            let rx = ticket.replies();
            wake.lead(&mut || rx.is_ready());
        }
        loop {
            let reply = ticket.replies().recv_blocking();
            if let Some(outcome) = ticket.outcome(reply) {
                return Ok(outcome);
            }
        }
    }

    /// Makes a call with one outcome and waits for it (by its deadline at the latest). While no
    /// other task drives the loop, the calling task does ([`Rouse::poll_lead`]), so a lone
    /// caller's request and reply need no hand-off to the loop's own task and back.
    pub async fn call_async(
        self: &Arc<Self>,
        request: P::Request,
        timeout: Option<Duration>,
    ) -> Result<Outcome<P>, NotStarted> {
        let mut ticket = self.queue(request, timeout, 0)?;
        let outcome = std::future::poll_fn(|cx| {
            loop {
                if let Some(wake) = &self.wake {
                    let rx = ticket.replies();
                    if !rx.is_ready() {
                        wake.poll_lead(cx, &mut || rx.is_ready());
                    }
                }
                let reply = match ticket.replies().poll_recv(cx) {
                    Poll::Ready(Some(reply)) => Ok(reply),
                    Poll::Ready(None) => Err(Closed),
                    Poll::Pending => return Poll::Pending,
                };
                if let Some(outcome) = ticket.outcome(reply) {
                    return Poll::Ready(outcome);
                }
            }
        })
        .await;
        Ok(outcome)
    }

    /// Queues a request (without waking the loop) and returns its ticket.
    fn queue(
        self: &Arc<Self>,
        request: P::Request,
        timeout: Option<Duration>,
        frames: usize,
    ) -> Result<Ticket<P>, NotStarted> {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(NotStarted::Full {
                limit: self.max_queued,
            });
        }
        let queued = Queued(Arc::clone(&self.queued));
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        // One place more than the frames, so the outcome always has room.
        let (reply, rx) = mailbox::mailbox(frames.saturating_add(1));
        let command = Command::Request {
            call,
            request,
            timeout,
            issued: Instant::now(),
            reply,
            queued,
        };
        self.commands.try_send(command).map_err(|_| Stopped)?;
        Ok(Ticket {
            caller: Arc::clone(self),
            call,
            rx,
            armed: true,
        })
    }

    /// Asks the loop to close and returns what signals that the close frame is out.
    pub fn close(&self) -> Option<async_channel::Receiver<()>> {
        let (done, rx) = async_channel::bounded(1);
        self.send(Command::Close { done }).ok().map(|()| rx)
    }
}

/// One request in progress: its replies, and its cancellation if dropped early.
pub struct Ticket<P: Protocol> {
    caller: Arc<Caller<P>>,
    call: u64,
    rx: Mailbox<Reply<P>>,
    armed: bool,
}

impl<P: Protocol> std::fmt::Debug for Ticket<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("call", &self.call)
            .field("armed", &self.armed)
            .finish()
    }
}

impl<P: Protocol> Ticket<P> {
    /// Where the replies arrive; the loop closes it after the outcome.
    pub fn replies(&self) -> &Mailbox<Reply<P>> {
        &self.rx
    }

    /// Takes one reply: the outcome ends the call (no cancel on drop any more); a channel
    /// closed without an outcome means the loop stopped.
    pub fn take(&mut self, reply: Result<Reply<P>, Closed>) -> Result<Reply<P>, Stopped> {
        match reply {
            Ok(r @ Reply::Stream(_)) => Ok(r),
            Ok(r @ Reply::Finished(_)) => {
                self.armed = false;
                Ok(r)
            }
            Err(_) => {
                self.armed = false;
                Err(Stopped)
            }
        }
    }
}

/// The outcome of a request as its caller sees it: the session's outcome, or [`Stopped`].
pub type Outcome<P> =
    Result<Result<<P as tcm_proto::Session>::Response, <P as tcm_proto::Session>::Error>, Stopped>;

impl<P: Protocol> Ticket<P> {
    /// Takes one reply while waiting for the outcome: `None` for a stream frame (skipped).
    pub fn outcome(&mut self, reply: Result<Reply<P>, Closed>) -> Option<Outcome<P>> {
        match self.take(reply) {
            Ok(Reply::Stream(_)) => None,
            Ok(Reply::Finished(outcome)) => Some(Ok(outcome)),
            Err(stopped) => Some(Err(stopped)),
        }
    }
}

impl<P: Protocol> Drop for Ticket<P> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.caller.send(Command::Cancel { call: self.call });
        }
    }
}
