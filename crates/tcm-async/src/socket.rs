//! The WebSocket of the I/O loop, polled: writes hand the sink what it accepts now and leave the
//! rest queued in the session, reads yield one message at a time, and a socket being closed
//! finishes its close frame aside, so no peer can hold the loop.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{Bytes, Error as WsError, Message, Utf8Bytes};
use futures_core::Stream as _;
use futures_util::Sink;

use futures_util::io::AsyncWrite;
use tcm_adapter::engine::upgrade;
use tcm_adapter::engine::{Closed, Engine, Protocol};
use tcm_proto::Transmit;

use crate::transport::Ws;

/// What one read produced.
pub(crate) type SocketEvent = tcm_adapter::engine::SocketEvent<Utf8Bytes, Bytes>;

/// A socket whose close frame is going out.
struct Closing {
    ws: Ws,
    frame: Option<Message>,
    until: Instant,
}

/// The open socket (if any), the message the sink has not taken yet, and a socket being
/// closed.
#[derive(Default)]
pub(crate) struct Socket {
    ws: Option<Ws>,
    out: Option<Message>,
    unflushed: bool,
    closing: Option<Closing>,
    /// A frame written around the WebSocket library (it carries a credential), and how much of
    /// it is out.
    raw: Option<(Vec<u8>, usize)>,
}

fn failed(e: &async_tungstenite::tungstenite::Error) -> Closed {
    Closed::new(None, e.to_string())
}

impl Socket {
    /// Keeps `ws` as the open socket.
    pub(crate) fn open(&mut self, ws: Ws) {
        self.ws = Some(ws);
        self.out = None;
        self.unflushed = false;
        self.raw = None;
    }

    /// Whether a socket is open or still closing.
    pub(crate) fn busy(&self) -> bool {
        self.ws.is_some() || self.closing.is_some()
    }

    /// Whether no output waits for the socket and no close frame is going out.
    pub(crate) fn idle(&self) -> bool {
        self.out.is_none() && !self.unflushed && self.raw.is_none() && self.closing.is_none()
    }

    /// When the close frame still going out is given up on.
    pub(crate) fn closing(&self) -> Option<Instant> {
        self.closing.as_ref().map(|c| c.until)
    }

    /// Drops the open socket without a close frame.
    pub(crate) fn abandon(&mut self) {
        self.ws = None;
        self.out = None;
        self.unflushed = false;
        self.raw = None;
    }

    /// Drops a closing socket whose time is up.
    pub(crate) fn expire(&mut self, now: Instant) {
        if self.closing.as_ref().is_some_and(|c| now >= c.until) {
            self.closing = None;
        }
    }

    /// Hands the sink what `engine` has to send, as far as it takes it now; a close frame goes
    /// out within `grace`. Returns whether the socket failed (the engine was told).
    pub(crate) fn poll_write<P: Protocol>(
        &mut self,
        cx: &mut Context<'_>,
        engine: &mut Engine<P>,
        until: Instant,
    ) -> bool {
        self.poll_closing(cx);
        if (self.out.is_some() || self.unflushed) && !engine.wants_transport() {
            // A peer that stopped reading, on a transport the session has given up: drop it.
            self.abandon();
        }
        loop {
            match self.poll_raw(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(e)) => return self.fail(engine, &e),
                Poll::Ready(Ok(())) => {}
            }
            if self.out.is_none() {
                self.out = match engine.poll_transmit() {
                    None => break,
                    Some(Transmit::Secret(text)) => {
                        self.raw = Some((upgrade::secret_frame(text.expose()), 0));
                        continue;
                    }
                    Some(Transmit::Text(text)) => Some(Message::text(text)),
                    Some(Transmit::Ping(payload)) => Some(Message::Ping(payload)),
                    Some(Transmit::Close { code, reason }) => {
                        self.close(cx, code, reason, until);
                        continue;
                    }
                };
            }
            let Some(ws) = self.ws.as_mut() else {
                self.out = None;
                continue;
            };
            let sent = match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(Ok(())) => match self.out.take() {
                    Some(message) => Pin::new(ws).start_send(message),
                    None => Ok(()),
                },
                Poll::Ready(Err(e)) => Err(e),
            };
            match sent {
                Ok(()) => self.unflushed = true,
                Err(e) => return self.fail(engine, &e),
            }
        }
        if self.unflushed {
            if let Some(ws) = self.ws.as_mut() {
                match Pin::new(ws).poll_flush(cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(e)) => return self.fail(engine, &e),
                }
            }
        }
        false
    }

    /// Writes the frame meant to go around the library, after what the library holds.
    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let (Some((bytes, sent)), Some(ws)) = (self.raw.as_mut(), self.ws.as_mut()) else {
            self.raw = None;
            return Poll::Ready(Ok(()));
        };
        if self.unflushed {
            std::task::ready!(Pin::new(&mut *ws).poll_flush(cx))?;
            self.unflushed = false;
        }
        while *sent < bytes.len() {
            let stream = Pin::new(ws.get_mut());
            match std::task::ready!(stream.poll_write(cx, &bytes[*sent..])) {
                Ok(0) => return Poll::Ready(Err(WsError::ConnectionClosed)),
                Ok(n) => *sent += n,
                Err(e) => return Poll::Ready(Err(WsError::Io(e))),
            }
        }
        self.raw = None;
        std::task::ready!(Pin::new(ws.get_mut()).poll_flush(cx)).map_err(WsError::Io)?;
        Poll::Ready(Ok(()))
    }

    fn fail<P: Protocol>(
        &mut self,
        engine: &mut Engine<P>,
        e: &async_tungstenite::tungstenite::Error,
    ) -> bool {
        tracing::debug!(error = %e, "write failed");
        self.ws = None;
        self.out = None;
        self.unflushed = false;
        engine.closed(Instant::now(), &failed(e));
        true
    }

    /// Moves the open socket aside with its close frame, to go out until `until`.
    fn close(&mut self, cx: &mut Context<'_>, code: u16, reason: String, until: Instant) {
        self.out = None;
        self.unflushed = false;
        let Some(ws) = self.ws.take() else {
            return;
        };
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        self.closing = Some(Closing {
            ws,
            frame: Some(Message::Close(Some(frame))),
            until,
        });
        self.poll_closing(cx);
    }

    /// Pushes the close frame on; drops the socket once it is out (or failed).
    fn poll_closing(&mut self, cx: &mut Context<'_>) {
        let Some(c) = self.closing.as_mut() else {
            return;
        };
        let mut ws = Pin::new(&mut c.ws);
        if let Some(frame) = c.frame.take() {
            match ws.as_mut().poll_ready(cx) {
                Poll::Pending => {
                    c.frame = Some(frame);
                    return;
                }
                Poll::Ready(Ok(())) => {
                    if ws.as_mut().start_send(frame).is_err() {
                        self.closing = None;
                        return;
                    }
                }
                Poll::Ready(Err(_)) => {
                    self.closing = None;
                    return;
                }
            }
        }
        if ws.poll_flush(cx).is_ready() {
            self.closing = None;
        }
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
                let frame = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                SocketEvent::Closed(Closed::from_frame(frame))
            }
            // A read never yields a raw frame.
            Some(Ok(Message::Frame(_))) => SocketEvent::Idle,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "read failed");
                self.ws = None;
                SocketEvent::Closed(failed(&e))
            }
            None => {
                self.ws = None;
                SocketEvent::Closed(Closed::new(None, "stream ended"))
            }
        })
    }
}
