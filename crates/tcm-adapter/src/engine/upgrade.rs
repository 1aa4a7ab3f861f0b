//! The WebSocket upgrade request both I/O models send, and how its failures read.

use std::io;

use tcm_proto::{Endpoint, Secret};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;

use crate::error::{TransportError, tls_error};

/// The upgrade request for `endpoint` with `headers`, their values marked sensitive so that no
/// log (ours or a library's) shows them.
pub fn request(
    endpoint: &Endpoint,
    headers: &[(&'static str, Secret)],
) -> Result<Request, TransportError> {
    let mut request = endpoint
        .to_string()
        .into_client_request()
        .map_err(|e| TransportError::Handshake(e.to_string()))?;
    for (name, value) in headers {
        let name = HeaderName::try_from(*name)
            .map_err(|e| TransportError::Handshake(format!("header name: {e}")))?;
        let mut value = HeaderValue::from_str(value.expose())
            .map_err(|_| TransportError::Handshake(format!("invalid value for header {name}")))?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

/// How much one read of the socket takes at most. The WebSocket library zeroes this much of
/// its buffer before every read, including the read that finds the socket empty, so its
/// default (128 KiB) costs every small reply two large `memset`s; a large message still
/// arrives into one buffer reserved for its whole length.
pub const READ_CHUNK: usize = 16 * 1024;

/// The WebSocket configuration: messages and frames from the peer up to `max_inbound` bytes,
/// read [`READ_CHUNK`] at a time.
pub fn config(max_inbound: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_CHUNK)
        .max_message_size(Some(max_inbound))
        .max_frame_size(Some(max_inbound))
}

/// A client text frame carrying `text`, masked with a fresh key, encoded here rather than by
/// the WebSocket library so that the library's frame logs never hold it (it carries a
/// credential).
pub fn secret_frame(text: &str) -> Vec<u8> {
    use tungstenite::protocol::frame::Frame;
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let mut frame = Frame::message(text.as_bytes().to_vec(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some(
        super::seed::random_seed().to_le_bytes()[..4]
            .try_into()
            .unwrap_or([0x5a; 4]),
    );
    let mut out = Vec::with_capacity(text.len() + 14);
    // Writing to a Vec cannot fail.
    let _ = frame.format(&mut out);
    out
}

/// Whether an I/O error is a read or write timeout (Unix reports `WouldBlock`).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A failed upgrade as a transport error: an HTTP status instead of 101, a timeout, a TLS
/// failure, or another handshake failure.
pub fn error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Http(response) => TransportError::HttpStatus {
            status: response.status().as_u16(),
        },
        tungstenite::Error::Io(e) if is_timeout(&e) => TransportError::Timeout,
        tungstenite::Error::Io(e) => tls_error(e),
        other => TransportError::Handshake(other.to_string()),
    }
}
