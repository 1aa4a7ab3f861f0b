//! What one WebSocket read hands to the [`Engine`](super::Engine); the socket I/O itself stays
//! in the I/O loops.

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
    /// The socket is gone (closed by the peer, or a read failed); the loop has dropped it.
    Closed(Closed),
    /// Nothing to hand on.
    Idle,
}
