//! The WebSocket upgrade of the JSON-RPC client: TCP and TLS as for TCM, plus the
//! `Authorization` header from the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tcm_proto::Endpoint;
use tcm_proto::envelope::Secret;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;

use crate::error::TransportError;
use crate::transport::{Ws, is_timeout, open_stream};

fn map_ws_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Http(response) => TransportError::HttpStatus {
            status: response.status().as_u16(),
        },
        tungstenite::Error::Io(e) if is_timeout(&e) => TransportError::Timeout,
        tungstenite::Error::Io(e) => TransportError::Io(e),
        other => TransportError::Handshake(other.to_string()),
    }
}

/// Dials `endpoint` and upgrades with `headers` (values marked sensitive) within `timeout`;
/// incoming messages are limited to `max_message` bytes.
pub(crate) fn connect(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    headers: &[(&'static str, Secret)],
    timeout: Duration,
    write_timeout: Duration,
    max_message: usize,
) -> Result<Ws, TransportError> {
    let deadline = Instant::now() + timeout;
    let stream = open_stream(endpoint, tls, deadline)?;
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
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let ws = match tungstenite::client::client_with_config(request, stream, Some(config)) {
        Ok((ws, _response)) => ws,
        Err(HandshakeError::Failure(e)) => return Err(map_ws_error(e)),
        Err(HandshakeError::Interrupted(_)) => return Err(TransportError::Timeout),
    };
    ws.get_ref().tcp().set_write_timeout(Some(write_timeout))?;
    Ok(ws)
}
