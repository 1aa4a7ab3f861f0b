//! [`Session`]: the one calling contract of the session machines, the TCM
//! [`Connection`](crate::Connection) and the JSON-RPC [`RpcSession`](crate::jsonrpc::RpcSession),
//! so that a driver is written once for both.
//!
//! # Driving order
//!
//! After **every** input or command, drain the outputs in this order:
//!
//! 1. [`poll_transmit`](Session::poll_transmit) until `None`: write each frame. After a
//!    [`Transmit::Close`], send the close frame and drop that socket without reporting anything
//!    more about it: the session has already failed its requests.
//! 2. [`poll_event`](Session::poll_event) until `None`: hand each event on
//!    ([`Session::route`] says where it goes).
//! 3. [`poll_dial`](Session::poll_dial): open a socket (or probe `/ready`) and report the result
//!    with [`handle_connected`](Session::handle_connected) /
//!    [`handle_connect_failed`](Session::handle_connect_failed) (or `handle_ready`).
//! 4. [`poll_timeout`](Session::poll_timeout): wait for input until that instant, then call
//!    [`handle_timeout`](Session::handle_timeout).
//!
//! # Time
//!
//! Every `now` must be read from a monotonic clock (`Instant::now()`, or a simulated clock in
//! tests) and must never go backwards from one call to the next. A session given an earlier
//! `now` stays consistent (it never panics, and every request still finishes exactly once), but
//! its timers then fire relative to the wrong time.
//!
//! # Inputs in the wrong state
//!
//! An input that does not fit the session's state is ignored without effect: a frame, a pong or
//! a close with no transport open (a stale socket's last words), `handle_connected` or
//! `handle_connect_failed` without a dial asked for, `handle_timeout` before anything is due.
//! Commands on a closed session fail at once ([`request`](Session::request)) or do nothing
//! ([`cancel`](Session::cancel) returns `false`, [`close`](Session::close) is idempotent).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::{Duration, Instant};

use crate::connection::ConnectionState;
use crate::event::{Dial, StreamFrame, Transmit};

/// Why a dial asked for by [`Dial::Connect`] failed, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialFailure {
    /// The server answered the WebSocket upgrade with this HTTP status instead of 101. Whether
    /// that is final (a refused credential) is the session's decision.
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// TCP, TLS or the upgrade failed otherwise; the text says how.
    Failed(String),
}

impl DialFailure {
    /// A failure described by `message`.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }
}

impl fmt::Display for DialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { status } => write!(f, "WebSocket upgrade refused with HTTP {status}"),
            Self::Failed(message) => f.write_str(message),
        }
    }
}

impl From<&str> for DialFailure {
    fn from(message: &str) -> Self {
        Self::failed(message)
    }
}

impl From<String> for DialFailure {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

/// Where a driver hands one event of a session.
#[derive(Debug)]
pub enum Routed<S: Session + ?Sized> {
    /// Request `id` ended: its caller gets `outcome`. Exactly one per accepted request.
    Finished {
        /// The request.
        id: S::Id,
        /// Its response or failure.
        outcome: Result<S::Response, S::Error>,
    },
    /// A non-final frame of the streaming request `id`.
    Stream {
        /// The request.
        id: S::Id,
        /// The frame.
        frame: StreamFrame,
    },
    /// The session is ready for requests (authenticated, or its session frame arrived).
    Up(S::Event),
    /// The transport ended; every pending request has already finished.
    Down {
        /// Why.
        error: S::Disconnect,
        /// When the next attempt starts; `None` when the session is closed for good.
        reconnect_at: Option<Instant>,
    },
    /// Anything else (notifications, server requests), for the application.
    Other(S::Event),
}

/// The calling contract of a sans-IO session machine (see the [module docs](self) for the
/// driving order, time, and inputs in the wrong state).
///
/// Inputs are `handle_*`, commands are [`request`](Self::request), [`cancel`](Self::cancel) and
/// [`close`](Self::close), outputs are the `#[must_use]` `poll_*` methods. A session never blocks,
/// never reads a clock and never does I/O.
pub trait Session {
    /// What a caller asks for.
    type Request;
    /// Identifies an accepted request for the session's lifetime.
    type Id: Copy + Eq + Hash + fmt::Debug + Send + 'static;
    /// The successful result of a request.
    type Response: Send + 'static;
    /// Why a request failed.
    type Error: std::error::Error + Clone + Send + 'static;
    /// Why a transport ended.
    type Disconnect: std::error::Error + Clone + Send + 'static;
    /// What the session reports.
    type Event: fmt::Debug + Send + 'static;

    /// The transport asked for by [`Dial::Connect`] is open.
    fn handle_connected(&mut self, now: Instant);
    /// The transport asked for by [`Dial::Connect`] could not be opened.
    fn handle_connect_failed(&mut self, now: Instant, failure: DialFailure);
    /// A text frame arrived.
    fn handle_text(&mut self, now: Instant, text: &str);
    /// A binary frame arrived; the session decides what it means.
    fn handle_binary(&mut self, now: Instant, data: &[u8]);
    /// A ping or a pong arrived: the peer is alive.
    fn handle_pong(&mut self, now: Instant);
    /// The socket closed: with the peer's close `code`, or (`None`) without a close frame.
    fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str);
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// The answer to [`Dial::ProbeReady`]: whether `GET /ready` returned 200. A session that
    /// never asks for a probe ignores it.
    fn handle_ready(&mut self, now: Instant, ready: bool) {
        let _ = (now, ready);
    }

    /// Accepts a request with a deadline of `timeout` from `now` (the kind's default when
    /// `None`), or refuses it at once, sending nothing.
    fn request(
        &mut self,
        now: Instant,
        request: Self::Request,
        timeout: Option<Duration>,
    ) -> Result<Self::Id, Self::Error>;
    /// Ends request `id` with a cancellation; `false` if it had already finished.
    fn cancel(&mut self, now: Instant, id: Self::Id) -> bool;
    /// Closes for good: every pending request fails at once. Idempotent.
    fn close(&mut self, now: Instant);

    /// The next frame to write.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// A transport to open (or a readiness probe to make).
    fn poll_dial(&mut self) -> Option<Dial>;
    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The current phase.
    fn state(&self) -> ConnectionState;
    /// The largest message the driver should accept from the peer; larger ones end the
    /// transport.
    fn max_inbound_bytes(&self) -> usize;
    /// Where the driver hands `event`.
    fn route(event: Self::Event) -> Routed<Self>;
}

/// Implements the [`Session`] methods that a machine has as inherent methods of the same name
/// and signature.
macro_rules! delegate_session {
    () => {
        fn handle_connected(&mut self, now: Instant) {
            Self::handle_connected(self, now);
        }
        fn handle_connect_failed(&mut self, now: Instant, failure: DialFailure) {
            Self::handle_connect_failed(self, now, failure);
        }
        fn handle_text(&mut self, now: Instant, text: &str) {
            Self::handle_text(self, now, text);
        }
        fn handle_binary(&mut self, now: Instant, data: &[u8]) {
            Self::handle_binary(self, now, data);
        }
        fn handle_pong(&mut self, now: Instant) {
            Self::handle_pong(self, now);
        }
        fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str) {
            Self::handle_closed(self, now, code, reason);
        }
        fn handle_timeout(&mut self, now: Instant) {
            Self::handle_timeout(self, now);
        }
        fn cancel(&mut self, now: Instant, id: Self::Id) -> bool {
            Self::cancel(self, now, id)
        }
        fn close(&mut self, now: Instant) {
            Self::close(self, now);
        }
        fn poll_transmit(&mut self) -> Option<Transmit> {
            Self::poll_transmit(self)
        }
        fn poll_event(&mut self) -> Option<Self::Event> {
            Self::poll_event(self)
        }
        fn poll_dial(&mut self) -> Option<Dial> {
            Self::poll_dial(self)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            Self::poll_timeout(self)
        }
        fn state(&self) -> ConnectionState {
            Self::state(self)
        }
    };
}
pub(crate) use delegate_session;

/// A hasher for the [`Session::Id`]s a session hands out and for the call numbers a driver
/// counts: integers the process allocates itself, never keys a peer chooses. One multiply per
/// word (the Fibonacci constant spreads sequential numbers over the whole table); SipHash's
/// resistance to chosen keys buys nothing for keys nobody else picks, and costs most of a
/// lookup in the tables every call goes through.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// A map keyed by identifiers the process allocates itself (see [`IdHasher`]).
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
