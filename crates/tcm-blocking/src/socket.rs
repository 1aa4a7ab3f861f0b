//! The WebSocket of the I/O thread, non-blocking: writes take what the socket accepts now and
//! leave the rest queued in the session, reads hand on every message already complete, so a
//! peer that trickles bytes or stops reading never holds the loop.

use std::time::{Duration, Instant};

use tcm_adapter::engine::{Closed, Engine, Protocol, SocketEvent};
use tcm_proto::Transmit;
use tungstenite::Message;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

use std::io::Write;

use tcm_adapter::engine::upgrade::{self, is_timeout};

use crate::transport::Ws;

/// Messages read in one turn at most, so that timers and commands are served between floods.
const READ_BUDGET: usize = 64;

/// The open socket (if any), whether its output is blocked, and a socket being closed.
#[derive(Default)]
pub(crate) struct Socket {
    ws: Option<Ws>,
    /// Output is waiting in the socket's buffers: nothing more is taken from the session until
    /// the socket drains.
    blocked: bool,
    /// A socket whose close frame is still going out, until the instant given.
    closing: Option<(Ws, Instant)>,
    /// A frame written around the WebSocket library (it carries a credential), and how much of
    /// it is out.
    raw: Option<(Vec<u8>, usize)>,
}

/// How a write or read went wrong, as the close the session is told of.
fn failed(e: &tungstenite::Error) -> Closed {
    Closed::new(None, e.to_string())
}

/// Whether a tungstenite error only says the socket would block.
fn would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if is_timeout(io))
}

impl Socket {
    /// Keeps `ws` as the open socket.
    pub(crate) fn open(&mut self, ws: Ws) {
        self.ws = Some(ws);
        self.blocked = false;
        self.raw = None;
    }

    /// Whether a socket is open or still closing.
    pub(crate) fn busy(&self) -> bool {
        self.ws.is_some() || self.closing.is_some()
    }

    /// Whether no output waits for the socket and no close frame is going out.
    pub(crate) fn idle(&self) -> bool {
        !self.blocked && self.raw.is_none() && self.closing.is_none()
    }

    /// Whether a close frame is still going out.
    pub(crate) fn closing(&self) -> Option<Instant> {
        self.closing.as_ref().map(|(_, until)| *until)
    }

    /// Drops the open socket without a close frame.
    pub(crate) fn abandon(&mut self) {
        self.ws = None;
        self.blocked = false;
        self.raw = None;
    }

    /// Writes what `engine` has to send, as far as the socket takes it without blocking; a close
    /// frame goes out within `grace`.
    pub(crate) fn write<P: Protocol>(
        &mut self,
        engine: &mut Engine<P>,
        now: Instant,
        grace: Duration,
    ) {
        self.finish_closing(now);
        if self.blocked && !engine.wants_transport() {
            // A peer that stopped reading, on a transport the session has given up: drop it.
            self.abandon();
        }
        if self.blocked {
            self.flush(engine, now);
        }
        while !self.blocked {
            let Some(transmit) = engine.poll_transmit() else {
                break;
            };
            let message = match transmit {
                Transmit::Text(text) => Message::text(text),
                Transmit::Ping(payload) => Message::Ping(payload),
                Transmit::Secret(text) => {
                    self.raw = Some((upgrade::secret_frame(text.expose()), 0));
                    self.blocked = true;
                    self.flush(engine, now);
                    continue;
                }
                Transmit::Close { code, reason } => {
                    self.close(code, reason, now + grace);
                    continue;
                }
            };
            let Some(ws) = self.ws.as_mut() else {
                continue;
            };
            match ws.send(message) {
                Ok(()) => {}
                Err(e) if would_block(&e) => self.blocked = true,
                Err(e) => self.fail(engine, now, &e),
            }
        }
    }

    /// Pushes buffered output on: a frame written around the library first, then the
    /// library's own.
    fn flush<P: Protocol>(&mut self, engine: &mut Engine<P>, now: Instant) {
        let Some(ws) = self.ws.as_mut() else {
            self.blocked = false;
            self.raw = None;
            return;
        };
        if let Some((bytes, sent)) = self.raw.as_mut() {
            while *sent < bytes.len() {
                match ws.get_mut().write(&bytes[*sent..]) {
                    Ok(0) => return self.fail(engine, now, &tungstenite::Error::ConnectionClosed),
                    Ok(n) => *sent += n,
                    Err(e) if is_timeout(&e) => return,
                    Err(e) => return self.fail(engine, now, &tungstenite::Error::Io(e)),
                }
            }
            self.raw = None;
        }
        match ws.flush() {
            Ok(()) => self.blocked = false,
            Err(e) if would_block(&e) => {}
            Err(e) => self.fail(engine, now, &e),
        }
    }

    fn fail<P: Protocol>(&mut self, engine: &mut Engine<P>, now: Instant, e: &tungstenite::Error) {
        tracing::debug!(error = %e, "socket failed");
        self.ws = None;
        self.blocked = false;
        self.raw = None;
        engine.closed(now, &failed(e));
    }

    /// Starts the close handshake on the open socket and moves it aside until its close frame
    /// is out (or `until`).
    fn close(&mut self, code: u16, reason: String, until: Instant) {
        self.blocked = false;
        let Some(mut ws) = self.ws.take() else {
            return;
        };
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        let _ = ws.close(Some(frame));
        self.closing = Some((ws, until));
        self.finish_closing(Instant::now());
    }

    /// Drops the closing socket once its close frame is out or its time is up.
    fn finish_closing(&mut self, now: Instant) {
        if let Some((ws, until)) = self.closing.as_mut() {
            let done = match ws.flush() {
                Err(e) if would_block(&e) => now >= *until,
                _ => true,
            };
            if done {
                self.closing = None;
            }
        }
    }

    /// Hands on every complete message the socket holds (at most [`READ_BUDGET`]) and pushes
    /// blocked output on. Returns whether messages may be left (the budget ran out): they may
    /// already sit in the WebSocket's buffer, where `poll` cannot see them.
    pub(crate) fn read<P: Protocol>(&mut self, engine: &mut Engine<P>, now: Instant) -> bool {
        self.finish_closing(now);
        if let Some(ws) = self.ws.as_mut() {
            ws.get_mut().rearm();
        }
        if self.blocked {
            self.flush(engine, now);
        }
        for _ in 0..READ_BUDGET {
            let Some(ws) = self.ws.as_mut() else {
                return false;
            };
            let event = match ws.read() {
                Ok(Message::Text(text)) => SocketEvent::Text(text),
                Ok(Message::Binary(data)) => SocketEvent::Binary(data),
                Ok(Message::Ping(_) | Message::Pong(_)) => {
                    // The automatic pong is queued; push it out if the socket takes it.
                    if let Err(e) = ws.flush() {
                        self.blocked |= would_block(&e);
                    }
                    SocketEvent::Activity
                }
                Ok(Message::Close(frame)) => {
                    let _ = ws.flush();
                    self.ws = None;
                    self.blocked = false;
                    let frame = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    SocketEvent::Closed(Closed::from_frame(frame))
                }
                // A read never yields a raw frame.
                Ok(Message::Frame(_)) => continue,
                Err(e) if would_block(&e) => return false,
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    self.ws = None;
                    self.blocked = false;
                    SocketEvent::Closed(failed(&e))
                }
            };
            engine.receive(now, event);
        }
        true
    }

    /// The sockets to wait on, with whether to wait for writability too.
    #[cfg(unix)]
    pub(crate) fn fds(&self) -> Vec<(rustix::fd::BorrowedFd<'_>, bool)> {
        use std::os::fd::AsFd;
        let open = self.ws.iter().map(|ws| (tcp(ws).as_fd(), self.blocked));
        let closing = self.closing.iter().map(|(ws, _)| (tcp(ws).as_fd(), true));
        open.chain(closing).collect()
    }

    /// The sockets to wait on (none without `poll`).
    #[cfg(not(unix))]
    pub(crate) fn fds(&self) -> Vec<((), bool)> {
        Vec::new()
    }
}

#[cfg(unix)]
fn tcp(ws: &Ws) -> &std::net::TcpStream {
    ws.get_ref().tcp().socket()
}
