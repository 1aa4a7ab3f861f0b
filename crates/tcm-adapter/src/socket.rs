//! What one WebSocket read or write hands to a session machine, and how the TCM
//! [`Connection`] and the JSON-RPC [`RpcSession`] take it; the socket I/O itself stays in the
//! adapters.

use std::time::Instant;

use tcm_proto::jsonrpc::RpcSession;
use tcm_proto::{Connection, Transmit};

/// How a WebSocket went away: the close frame's code and reason, or the failure as the reason.
#[derive(Debug)]
pub struct Closed {
    /// The peer's close code, if it sent one.
    pub code: Option<u16>,
    /// The peer's close reason, or the read or write failure.
    pub reason: String,
}

impl Closed {
    /// A close with `code` (if any) and `reason`.
    pub fn new(code: Option<u16>, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// The close a peer's close frame says: its code and reason, or neither when it had none.
    pub fn from_frame(frame: Option<(u16, String)>) -> Self {
        frame.map_or_else(
            || Self::new(None, ""),
            |(code, reason)| Self::new(Some(code), reason),
        )
    }
}

/// What one read of a WebSocket produced; `T` and `B` are the WebSocket library's text and
/// binary payloads.
#[derive(Debug)]
pub enum SocketEvent<T, B> {
    /// A text message.
    Text(T),
    /// A binary message.
    Binary(B),
    /// A ping or a pong: the peer is alive.
    Activity,
    /// The socket is gone (closed by the peer, or a read failed); the adapter has dropped it.
    Closed(Closed),
    /// Nothing to hand on.
    Idle,
}

/// A session machine that exchanges frames with a WebSocket.
pub trait SocketSession {
    /// Whether a binary message is read as (lossy UTF-8) text rather than ignored.
    const BINARY_AS_TEXT: bool;

    /// The next frame the machine wants written.
    fn next_transmit(&mut self) -> Option<Transmit>;

    /// A text message arrived.
    fn text(&mut self, now: Instant, text: &str);

    /// A ping or a pong arrived.
    fn pong(&mut self, now: Instant);

    /// The socket went away, as `closed` says.
    fn closed(&mut self, now: Instant, closed: &Closed);

    /// Hands what one read produced to the machine.
    fn receive<T: AsRef<str>, B: AsRef<[u8]>>(&mut self, now: Instant, event: SocketEvent<T, B>) {
        match event {
            SocketEvent::Text(text) => self.text(now, text.as_ref()),
            SocketEvent::Binary(data) if Self::BINARY_AS_TEXT => {
                self.text(now, &String::from_utf8_lossy(data.as_ref()));
            }
            SocketEvent::Binary(_) => tracing::debug!("ignoring a non-text frame"),
            SocketEvent::Activity => self.pong(now),
            SocketEvent::Closed(closed) => self.closed(now, &closed),
            SocketEvent::Idle => {}
        }
    }
}

/// Implements [`SocketSession`] for a machine with the usual `poll_transmit` and `handle_*`
/// methods.
macro_rules! socket_session {
    ($machine:ty, binary_as_text: $binary_as_text:expr) => {
        impl SocketSession for $machine {
            const BINARY_AS_TEXT: bool = $binary_as_text;

            fn next_transmit(&mut self) -> Option<Transmit> {
                self.poll_transmit()
            }

            fn text(&mut self, now: Instant, text: &str) {
                self.handle_text(now, text);
            }

            fn pong(&mut self, now: Instant) {
                self.handle_pong(now);
            }

            fn closed(&mut self, now: Instant, closed: &Closed) {
                self.handle_closed(now, closed.code, &closed.reason);
            }
        }
    };
}

socket_session!(Connection, binary_as_text: false);
socket_session!(RpcSession, binary_as_text: true);
