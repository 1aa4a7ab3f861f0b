//! The WebSocket of a driver task: writing what a session machine transmits and reading one
//! message, the same for the TCM and the JSON-RPC driver.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use futures_core::Stream as _;
use tcm_adapter::socket::{Closed, SocketSession};
use tcm_proto::Transmit;

use crate::runtime::Runtime;
use crate::time::until;
use crate::transport::Ws;

/// The socket of a driver (while one is open) and the deadline its writes get.
pub(crate) struct Socket<R: Runtime> {
    ws: Option<Ws<R>>,
    write_timeout: Duration,
}

/// What one read produced.
pub(crate) type SocketEvent = tcm_adapter::socket::SocketEvent<Utf8Bytes, Bytes>;

impl<R: Runtime> Socket<R> {
    /// A socket with none open yet, whose writes each get `write_timeout`.
    pub(crate) fn new(write_timeout: Duration) -> Self {
        Self {
            ws: None,
            write_timeout,
        }
    }

    /// Keeps `ws` as the open socket.
    pub(crate) fn open(&mut self, ws: Ws<R>) {
        self.ws = Some(ws);
    }

    /// Drops the open socket, if any, without a close frame.
    pub(crate) fn drop_ws(&mut self) {
        self.ws = None;
    }

    /// Writes every transmit `session` has pending; a failed write is the socket's close.
    pub(crate) async fn flush(&mut self, session: &mut impl SocketSession) {
        while let Some(transmit) = session.next_transmit() {
            if let Err(closed) = self.write(transmit).await {
                session.closed(Instant::now(), &closed);
            }
        }
    }

    /// Writes one transmit (nothing without a socket); a close frame drops the socket after it
    /// is written, and a write failure or timeout drops it and is returned as the close.
    async fn write(&mut self, transmit: Transmit) -> Result<(), Closed> {
        let Some(ws) = self.ws.as_mut() else {
            return Ok(());
        };
        let deadline = Instant::now() + self.write_timeout;
        let message = match transmit {
            Transmit::Text(text) => Message::text(text),
            Transmit::Ping(payload) => Message::Ping(payload),
            Transmit::Close { code, reason } => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ = until(deadline, ws.close(Some(frame))).await;
                self.ws = None;
                return Ok(());
            }
        };
        let error = match until(deadline, ws.send(message)).await {
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) => e.to_string(),
            None => "write timed out".to_owned(),
        };
        tracing::warn!(%error, "write failed");
        self.ws = None;
        Err(Closed::new(None, error))
    }

    /// Polls for the next message; pending while no socket is open.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<SocketEvent> {
        let Some(ws) = self.ws.as_mut() else {
            return Poll::Pending;
        };
        let Poll::Ready(message) = Pin::new(ws).poll_next(cx) else {
            return Poll::Pending;
        };
        Poll::Ready(match message {
            Some(Ok(Message::Text(text))) => SocketEvent::Text(text),
            Some(Ok(Message::Binary(data))) => SocketEvent::Binary(data),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => SocketEvent::Activity,
            Some(Ok(Message::Close(frame))) => {
                self.ws = None;
                SocketEvent::Closed(Closed::from_frame(
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                ))
            }
            // A read never yields a raw frame.
            Some(Ok(Message::Frame(_))) => SocketEvent::Idle,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "read failed");
                self.ws = None;
                SocketEvent::Closed(Closed::new(None, e.to_string()))
            }
            None => {
                self.ws = None;
                SocketEvent::Closed(Closed::new(None, "stream ended"))
            }
        })
    }
}
