//! The part of a client's I/O loop that is the same for every I/O model and every session
//! machine: the [`Engine`] (the session, the table of calls in flight, where events go) and the
//! [`Caller`] (how a handle starts, cancels and awaits calls). The blocking and the async loop
//! only move bytes, wait, and dial.
//!
//! Driver internals: public only so that the client crates can share them; not a stable API.

mod caller;
pub mod client;
mod frames;
pub mod http;
mod load;
pub mod mailbox;
pub mod outbox;
mod protocol;
mod seed;
pub mod service;
pub mod socket;
mod status;
pub mod upgrade;

use std::time::{Duration, Instant};

use tcm_proto::{ConnectionState, DialFailure, IdMap, Routed, Session, StreamFrame, Transmit};

pub use caller::{Caller, NotStarted, Outcome, Queued, Rouse, Stopped, Ticket, Wake};
pub use frames::Frames;
pub use load::{
    ClientStats, Follower, KINDS, LoadGuard, Members, Picked, PoolStats, Replica, ReplicaStats,
    kind_of,
};
pub use protocol::{Protocol, RpcObserver, TcmObserver};
pub use seed::{seeded, seeded_rpc};
pub use service::{Service, changes};
pub use socket::{Closed, SocketEvent};
pub use status::Status;

use crate::error::TransportError;
use crate::outcome::CallOutcome;

/// What a caller gets back for one request: the frames of a stream, then its outcome.
#[derive(Debug)]
pub enum Reply<S: Session> {
    /// A non-final frame of a stream.
    Stream(StreamFrame),
    /// The end of the request.
    Finished(Result<S::Response, S::Error>),
}

/// Where the replies of one request go.
pub type ReplyTx<S> = mailbox::Sender<Reply<S>>;

/// A change to the session made on the I/O loop (answering a server request, say).
pub type Apply<S> = Box<dyn FnOnce(&mut S, Instant) + Send>;

/// What a handle asks of the I/O loop.
pub enum Command<S: Session> {
    /// Start a request; its replies go to `reply`. Its deadline runs from `issued`, when the
    /// caller made the call, not from when the loop takes it.
    Request {
        /// The caller's number for it (to cancel it).
        call: u64,
        /// The request.
        request: S::Request,
        /// Its deadline, from `issued`; `None` for the kind's default.
        timeout: Option<Duration>,
        /// When the call was made.
        issued: Instant,
        /// Where its replies go: its capacity less one is how many stream frames may wait.
        reply: ReplyTx<S>,
        /// Counts it as waiting for the loop until the loop takes it.
        queued: Queued,
    },
    /// Cancel the request started with this call number.
    Cancel {
        /// The call number.
        call: u64,
    },
    /// Change the session.
    Apply(Apply<S>),
    /// Close for good; `done` is signalled once the close frame is written (or abandoned).
    Close {
        /// Signalled when done.
        done: async_channel::Sender<()>,
    },
    /// Every handle is gone: close and stop.
    Hangup,
}

struct Pending<S: Session> {
    call: u64,
    reply: ReplyTx<S>,
    /// What the client's stats count it as, and when it was made.
    kind: Option<usize>,
    issued: Instant,
}

/// A session, the calls in flight on it, and where its events go.
pub struct Engine<P: Protocol> {
    session: P,
    observer: P::Observer,
    status: Status,
    pending: IdMap<P::Id, Pending<P>>,
    by_call: IdMap<u64, P::Id>,
    closers: Vec<async_channel::Sender<()>>,
    ready: Option<async_channel::Sender<Result<(), P::ConnectError>>>,
    last_dial_error: Option<TransportError>,
    hung_up: bool,
}

impl<P: Protocol> Engine<P> {
    /// An engine for `session`; `ready` hears once whether the first connect succeeded.
    pub fn new(
        session: P,
        observer: P::Observer,
        status: Status,
        ready: async_channel::Sender<Result<(), P::ConnectError>>,
    ) -> Self {
        Self {
            session,
            observer,
            status,
            pending: IdMap::default(),
            by_call: IdMap::default(),
            closers: Vec::new(),
            ready: Some(ready),
            last_dial_error: None,
            hung_up: false,
        }
    }

    /// Whether no call is in flight: nothing waits for the socket but the session itself.
    pub fn idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// The session (for its limits and timers).
    pub fn session(&self) -> &P {
        &self.session
    }

    /// Whether the session still wants its transport (it is authenticating or open). A socket
    /// whose output is stuck is dropped once it does not: nothing more is meant for it.
    pub fn wants_transport(&self) -> bool {
        matches!(
            self.session.state(),
            ConnectionState::Authenticating | ConnectionState::Open
        )
    }

    /// The next frame to write.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.session.poll_transmit()
    }

    /// Hands every pending event on: outcomes to their callers, the rest to the observer; then
    /// publishes the session's phase.
    pub fn deliver(&mut self) {
        while let Some(event) = self.session.poll_event() {
            match P::route(event) {
                Routed::Finished { id, outcome } => {
                    if let Some(p) = self.pending.remove(&id) {
                        self.by_call.remove(&p.call);
                        self.ended(&p, CallOutcome::of(&outcome, P::outcome));
                        let _ = p.reply.try_send(Reply::Finished(outcome));
                    }
                }
                Routed::Stream { id, frame } => self.stream_frame(id, frame),
                Routed::Down {
                    error,
                    reconnect_at,
                } => {
                    if let Some(ready) = self.ready.take() {
                        // The first connect failed: report it and close for good.
                        let transport = self.last_dial_error.take();
                        let _ = ready.try_send(Err(P::connect_error(error.clone(), transport)));
                        self.session.close(Instant::now());
                    }
                    let down = Routed::Down {
                        error,
                        reconnect_at,
                    };
                    P::observe(&mut self.observer, &mut self.session, &self.status, down);
                }
                up @ Routed::Up(_) => {
                    P::observe(&mut self.observer, &mut self.session, &self.status, up);
                    if let Some(ready) = self.ready.take() {
                        let _ = ready.try_send(Ok(()));
                    }
                }
                other => P::observe(&mut self.observer, &mut self.session, &self.status, other),
            }
        }
        self.status.set_state(self.session.state());
    }

    /// Hands a stream frame to its reader. A reader more than its buffer behind gets
    /// [`Protocol::slow_consumer`] as its outcome at once, and the stream is cancelled: the
    /// client never buffers a stream without bound, nor stalls the connection for it.
    fn stream_frame(&mut self, id: P::Id, frame: StreamFrame) {
        let Some(p) = self.pending.get(&id) else {
            return;
        };
        // A call with a single outcome has no room for frames: they are not its business.
        let frames = p.reply.capacity().saturating_sub(1);
        if frames == 0 {
            return;
        }
        if p.reply.len() < frames {
            let _ = p.reply.try_send(Reply::Stream(frame));
            return;
        }
        tracing::warn!(limit = frames, "stream read too slowly; cancelled");
        if let Some(p) = self.pending.remove(&id) {
            self.by_call.remove(&p.call);
            self.ended(&p, CallOutcome::Cancelled);
            let _ = p
                .reply
                .try_send(Reply::Finished(Err(P::slow_consumer(frames))));
        }
        self.session.cancel(Instant::now(), id);
    }

    /// Counts the end of a call in the client's stats.
    fn ended(&self, p: &Pending<P>, outcome: CallOutcome) {
        let latency = p.issued.elapsed();
        self.status.call_ended(p.kind, outcome, latency, true);
    }

    /// Signals the callers of `close` (once the close frame is out, or given up).
    pub fn closed_flushed(&mut self) {
        for done in self.closers.drain(..) {
            let _ = done.try_send(());
        }
    }

    /// Whether the loop may stop: every handle is gone and the session is closed. Closes the
    /// session once every handle is gone.
    pub fn finished(&mut self, now: Instant) -> bool {
        if !self.hung_up {
            return false;
        }
        self.session.close(now);
        self.session.state() == ConnectionState::Closed
    }

    /// Carries out one command.
    pub fn command(&mut self, now: Instant, command: Command<P>) {
        match command {
            Command::Request {
                call,
                request,
                timeout,
                issued,
                reply,
                queued,
            } => {
                drop(queued);
                // The deadline runs from the call, not from now.
                let timeout =
                    timeout.map(|t| t.saturating_sub(now.saturating_duration_since(issued)));
                let kind = P::kind(&request);
                match self.session.request(now, request, timeout) {
                    Ok(id) => {
                        self.status.call_started();
                        let pending = Pending {
                            call,
                            reply,
                            kind,
                            issued,
                        };
                        self.pending.insert(id, pending);
                        self.by_call.insert(call, id);
                    }
                    Err(e) => {
                        let latency = now.saturating_duration_since(issued);
                        self.status.call_ended(kind, P::outcome(&e), latency, false);
                        let _ = reply.try_send(Reply::Finished(Err(e)));
                    }
                }
            }
            Command::Cancel { call } => {
                if let Some(id) = self.by_call.remove(&call) {
                    self.session.cancel(now, id);
                }
            }
            Command::Apply(apply) => apply(&mut self.session, now),
            Command::Close { done } => {
                self.session.close(now);
                self.closers.push(done);
            }
            Command::Hangup => self.hang_up(now),
        }
    }

    /// Every handle is gone: close for good; the loop stops once the close is out.
    pub fn hang_up(&mut self, now: Instant) {
        self.hung_up = true;
        self.session.close(now);
    }

    /// The next dial to carry out.
    pub fn poll_dial(&mut self) -> Option<tcm_proto::Dial> {
        self.session.poll_dial()
    }

    /// Applies the outcome of a dial: the socket is returned for keeping unless the session no
    /// longer wants it (it was closed meanwhile).
    pub fn dialed<W>(&mut self, now: Instant, result: Result<W, TransportError>) -> Option<W> {
        match result {
            Ok(ws) => {
                self.last_dial_error = None;
                self.session.handle_connected(now);
                (self.session.state() == ConnectionState::Authenticating).then_some(ws)
            }
            Err(e) => {
                tracing::warn!(error = %e, "dial failed");
                let failure = match &e {
                    TransportError::HttpStatus { status } => {
                        DialFailure::Refused { status: *status }
                    }
                    other => DialFailure::failed(other.to_string()),
                };
                self.session.handle_connect_failed(now, failure);
                self.last_dial_error = Some(e);
                None
            }
        }
    }

    /// The outcome of a readiness probe.
    pub fn probed(&mut self, now: Instant, ready: bool) {
        self.session.handle_ready(now, ready);
    }

    /// Hands what one read produced to the session.
    pub fn receive<T: AsRef<str>, B: AsRef<[u8]>>(
        &mut self,
        now: Instant,
        event: SocketEvent<T, B>,
    ) {
        match event {
            SocketEvent::Text(text) => self.session.handle_text(now, text.as_ref()),
            SocketEvent::Binary(data) => self.session.handle_binary(now, data.as_ref()),
            SocketEvent::Activity => self.session.handle_pong(now),
            SocketEvent::Closed(closed) => self.closed(now, &closed),
            SocketEvent::Idle => {}
        }
    }

    /// The socket went away (read or write failure, or the peer's close).
    pub fn closed(&mut self, now: Instant, closed: &Closed) {
        self.session.handle_closed(now, closed.code, &closed.reason);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Fires the session's timers if one is due at `now`; returns whether one was.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let due = self.session.poll_timeout().is_some_and(|t| t <= now);
        if due {
            self.session.handle_timeout(now);
        }
        due
    }
}
