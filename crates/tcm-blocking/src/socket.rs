//! The WebSocket of an I/O thread: writing what a session machine transmits and reading one
//! message with a deadline, the same for the TCM and the JSON-RPC driver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tcm_adapter::socket::{Closed, SocketSession};
use tcm_proto::Transmit;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Bytes, Message, Utf8Bytes};

use crate::transport::{Ws, is_timeout};
use crate::wake::Waker;

/// The socket of a driver (while one is open) and the wake-up pipe its reads sleep on.
pub(crate) struct Socket {
    ws: Option<Ws>,
    waker: Arc<Waker>,
}

/// What one read produced.
pub(crate) type SocketEvent = tcm_adapter::socket::SocketEvent<Utf8Bytes, Bytes>;

impl Socket {
    /// A socket with none open yet, sleeping on `waker` while it reads.
    pub(crate) fn new(waker: Arc<Waker>) -> Self {
        Self { ws: None, waker }
    }

    /// Whether a socket is open.
    pub(crate) fn is_open(&self) -> bool {
        self.ws.is_some()
    }

    /// Whether a read can sleep on the socket and the wake-up pipe together.
    pub(crate) fn can_poll(&self) -> bool {
        self.waker.can_poll()
    }

    /// Keeps `ws` as the open socket.
    pub(crate) fn open(&mut self, ws: Ws) {
        self.ws = Some(ws);
    }

    /// Drops the open socket, if any, without a close frame.
    pub(crate) fn drop_ws(&mut self) {
        self.ws = None;
    }

    /// Writes every transmit `session` has pending; a failed write is the socket's close.
    pub(crate) fn flush(&mut self, session: &mut impl SocketSession) {
        while let Some(transmit) = session.next_transmit() {
            if let Err(closed) = self.write(transmit) {
                session.closed(Instant::now(), &closed);
            }
        }
    }

    /// Writes one transmit (nothing without a socket); a close frame drops the socket after it
    /// is written, and a write failure drops it and is returned as the close.
    fn write(&mut self, transmit: Transmit) -> Result<(), Closed> {
        let Some(ws) = self.ws.as_mut() else {
            return Ok(());
        };
        let result = match transmit {
            Transmit::Text(text) => ws.send(Message::text(text)),
            Transmit::Ping(payload) => ws.send(Message::Ping(payload)),
            Transmit::Close { code, reason } => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ = ws.close(Some(frame));
                let _ = ws.flush();
                self.ws = None;
                return Ok(());
            }
        };
        result.map_err(|e| {
            tracing::warn!(error = %e, "write failed");
            self.ws = None;
            Closed::new(None, e.to_string())
        })
    }

    /// Reads at most one message, waiting until `deadline` (capped by `cap`); without a socket
    /// it sleeps until `deadline`.
    pub(crate) fn read(&mut self, deadline: Option<Instant>, cap: Option<Duration>) -> SocketEvent {
        let Some(ws) = self.ws.as_mut() else {
            if let Some(d) = deadline {
                std::thread::sleep(d.saturating_duration_since(Instant::now()));
            }
            return SocketEvent::Idle;
        };
        let mut wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        if let Some(cap) = cap {
            wait = wait.min(cap);
        }
        if wait.is_zero() {
            return SocketEvent::Idle;
        }
        if self.waker.can_poll() {
            // A frame may already sit in tungstenite's or TLS's buffer, where poll cannot see
            // it: read without blocking first.
            let buffered = ws.get_ref().tcp().set_nonblocking(true).map(|()| ws.read());
            let _ = ws.get_ref().tcp().set_nonblocking(false);
            match buffered {
                Ok(Err(tungstenite::Error::Io(e))) if is_timeout(&e) => {}
                Ok(result) => return self.on_read(result),
                Err(e) => return self.on_read(Err(tungstenite::Error::Io(e))),
            }
            #[cfg(unix)]
            match self.waker.wait(ws.get_ref().tcp(), wait) {
                Ok(true) => {}
                Ok(false) => return SocketEvent::Idle,
                Err(e) => return self.on_read(Err(tungstenite::Error::Io(e))),
            }
            // Readable: the rest of a frame follows promptly; bound the read anyway.
            wait = wait.max(Duration::from_millis(1));
        }
        if let Err(e) = ws.get_ref().tcp().set_read_timeout(Some(wait)) {
            self.ws = None;
            return SocketEvent::Closed(Closed::new(None, e.to_string()));
        }
        let result = ws.read();
        self.on_read(result)
    }

    /// Turns the outcome of one read into an event, flushing the automatic pong or close reply.
    fn on_read(&mut self, result: Result<Message, tungstenite::Error>) -> SocketEvent {
        let Some(ws) = self.ws.as_mut() else {
            return SocketEvent::Idle;
        };
        match result {
            Ok(Message::Text(text)) => SocketEvent::Text(text),
            Ok(Message::Binary(data)) => SocketEvent::Binary(data),
            Ok(Message::Ping(_) | Message::Pong(_)) => {
                // Send the automatic pong.
                let _ = ws.flush();
                SocketEvent::Activity
            }
            Ok(Message::Close(frame)) => {
                let _ = ws.flush();
                self.ws = None;
                SocketEvent::Closed(Closed::from_frame(
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                ))
            }
            // A read never yields a raw frame.
            Ok(Message::Frame(_)) => SocketEvent::Idle,
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => SocketEvent::Idle,
            Err(e) => {
                tracing::debug!(error = %e, "read failed");
                self.ws = None;
                SocketEvent::Closed(Closed::new(None, e.to_string()))
            }
        }
    }
}
