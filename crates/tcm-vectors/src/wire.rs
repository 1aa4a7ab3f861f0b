//! The socket layer: synchronous tungstenite over `std::net::TcpStream`, with read timeouts so
//! one thread can wait on a connection up to a deadline.
//!
//! Both directions use the same [`WsConn`]; only how it is opened differs ([`WsConn::connect`]
//! for the client side, [`accept`] for the server side).

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::{HeaderName, HeaderValue, StatusCode};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error as WsError, Message, WebSocket};

/// What waiting for the next frame produced.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame (code and reason, if the frame carried a code).
    Close(Option<(u16, String)>),
    /// The connection ended without a close frame (EOF, reset, or already closed).
    Dropped(String),
    /// A protocol or I/O error other than the connection ending.
    Failed(String),
    /// Nothing arrived before the deadline.
    Timeout,
}

/// Why a client-side connect failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The server answered the upgrade with this (non-101) HTTP status.
    Status(u16),
    /// Anything else (TCP, handshake, timeout), described.
    Other(String),
}

/// What the server side saw of the upgrade request.
#[derive(Debug, Default, Clone)]
pub(crate) struct UpgradeRequest {
    /// Request path (with query, if any).
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

/// Configuration for both sides: no frame or message limit, so that every recorded frame,
/// including the one above the 16 MiB transport limit, can be received and checked.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(None)
        .max_message_size(None)
}

/// An open WebSocket connection.
pub(crate) struct WsConn {
    ws: WebSocket<TcpStream>,
}

fn remaining(deadline: Instant) -> Option<Duration> {
    let now = Instant::now();
    (deadline > now).then(|| (deadline - now).max(Duration::from_millis(1)))
}

impl WsConn {
    /// Open a connection as a client: TCP connect, then the upgrade with `path` and `headers`.
    pub(crate) fn connect(
        addr: SocketAddr,
        path: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<WsConn, ConnectError> {
        let other = |e: &dyn std::fmt::Display| ConnectError::Other(e.to_string());
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| other(&e))?;
        stream.set_nodelay(true).map_err(|e| other(&e))?;
        stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| other(&e))?;
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| other(&e))?;
        let mut request = format!("ws://{addr}{path}")
            .into_client_request()
            .map_err(|e| other(&e))?;
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| other(&e))?;
            let value = HeaderValue::from_str(v).map_err(|e| other(&e))?;
            request.headers_mut().append(name, value);
        }
        match tungstenite::client::client_with_config(request, stream, Some(config())) {
            Ok((ws, _response)) => Ok(WsConn { ws }),
            Err(HandshakeError::Failure(WsError::Http(response))) => {
                Err(ConnectError::Status(response.status().as_u16()))
            }
            Err(HandshakeError::Failure(e)) => Err(other(&e)),
            Err(HandshakeError::Interrupted(_)) => Err(ConnectError::Other(format!(
                "no upgrade response within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// Send one text frame.
    pub(crate) fn send_text(&mut self, text: String) -> Result<(), String> {
        self.ws.send(Message::text(text)).map_err(|e| e.to_string())
    }

    /// Send one binary frame.
    pub(crate) fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        self.ws
            .send(Message::binary(bytes))
            .map_err(|e| e.to_string())
    }

    /// Start the closing handshake with `code` and `reason`, then wait (up to `linger`) for
    /// the peer's answer so that the close frame is not lost to a TCP reset.
    pub(crate) fn close(mut self, code: u16, reason: &str, linger: Duration) -> Result<(), String> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        };
        self.ws.close(Some(frame)).map_err(|e| e.to_string())?;
        match self.ws.flush() {
            Ok(()) | Err(WsError::ConnectionClosed) => {}
            Err(e) => return Err(e.to_string()),
        }
        self.drain(Instant::now() + linger);
        Ok(())
    }

    /// Drop the TCP connection without a closing handshake.
    pub(crate) fn drop_tcp(self) {
        let _ = self.ws.get_ref().shutdown(Shutdown::Both);
    }

    /// Read and discard until the connection ends or `deadline` passes.
    pub(crate) fn drain(&mut self, deadline: Instant) {
        loop {
            match self.recv(deadline) {
                Incoming::Text(_) | Incoming::Binary(_) | Incoming::Close(_) => continue,
                _ => return,
            }
        }
    }

    /// Wait for the next data or close frame until `deadline`. Pings are answered and skipped.
    /// A received close frame is answered at once.
    pub(crate) fn recv(&mut self, deadline: Instant) -> Incoming {
        loop {
            let Some(wait) = remaining(deadline) else {
                return Incoming::Timeout;
            };
            if let Err(e) = self.ws.get_ref().set_read_timeout(Some(wait)) {
                return Incoming::Failed(e.to_string());
            }
            match self.ws.read() {
                Ok(Message::Text(t)) => return Incoming::Text(t.as_str().to_string()),
                Ok(Message::Binary(b)) => return Incoming::Binary(b.to_vec()),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
                Ok(Message::Close(frame)) => {
                    let _ = self.ws.flush();
                    return Incoming::Close(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    );
                }
                Err(WsError::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(WsError::ConnectionClosed) => {
                    return Incoming::Dropped(
                        "connection closed after the closing handshake".into(),
                    );
                }
                Err(WsError::AlreadyClosed) => {
                    return Incoming::Dropped("connection already closed".into());
                }
                Err(WsError::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                )) => {
                    return Incoming::Dropped("connection dropped without a close frame".into());
                }
                Err(WsError::Io(e)) => {
                    return Incoming::Dropped(format!("connection dropped: {e}"));
                }
                Err(e) => return Incoming::Failed(e.to_string()),
            }
        }
    }
}

/// Accept the next connection on `listener` (waiting until `deadline`) and answer its upgrade
/// with `status`: 101 opens the connection, any other status rejects it (the connection is
/// `None`). Returns what the client asked for, for the caller to check.
pub(crate) fn accept(
    listener: &TcpListener,
    deadline: Instant,
    status: u16,
) -> Result<(Option<WsConn>, UpgradeRequest), String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err("no client connected in time".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let setup = |s: &TcpStream| -> std::io::Result<()> {
        s.set_nonblocking(false)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(
            remaining(deadline).unwrap_or(Duration::from_millis(1)),
        ))?;
        s.set_write_timeout(Some(Duration::from_secs(30)))
    };
    setup(&stream).map_err(|e| e.to_string())?;
    let mut seen = UpgradeRequest::default();
    // The signature is tungstenite's `Callback`; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        seen.path = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
        seen.headers = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if status == 101 {
            return Ok(resp);
        }
        let mut reject = ErrorResponse::new(Some(format!("rejected with {status}")));
        *reject.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
        Err(reject)
    };
    let result = tungstenite::accept_hdr_with_config(stream, callback, Some(config()));
    match result {
        Ok(ws) => Ok((Some(WsConn { ws }), seen)),
        Err(HandshakeError::Failure(WsError::Http(_))) if status != 101 => Ok((None, seen)),
        Err(HandshakeError::Failure(e)) => Err(format!("upgrade failed: {e}")),
        Err(HandshakeError::Interrupted(_)) => Err("upgrade request did not arrive in time".into()),
    }
}
