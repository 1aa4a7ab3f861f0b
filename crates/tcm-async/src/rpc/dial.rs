//! The WebSocket upgrade of the JSON-RPC client: TCP and TLS as for TCM, plus the
//! `Authorization` header from the session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use rustls::ClientConfig;
use tcm_proto::Endpoint;
use tcm_proto::envelope::Secret;

use crate::error::TransportError;
use crate::runtime::Runtime;
use crate::time::until;
use crate::transport::{Ws, open_stream};

fn map_ws_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Http(response) => TransportError::HttpStatus {
            status: response.status().as_u16(),
        },
        tungstenite::Error::Io(e) => TransportError::Io(e),
        other => TransportError::Handshake(other.to_string()),
    }
}

/// Dials `endpoint` and upgrades with `headers` (values marked sensitive) within `timeout`;
/// incoming messages are limited to `max_message` bytes.
pub(crate) async fn connect<R: Runtime>(
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    headers: Vec<(&'static str, Secret)>,
    timeout: Duration,
    max_message: usize,
) -> Result<Ws<R>, TransportError> {
    let deadline = Instant::now() + timeout;
    let stream = open_stream::<R>(&endpoint, tls.as_ref(), deadline).await?;
    let mut request = endpoint
        .to_string()
        .into_client_request()
        .map_err(|e| TransportError::Handshake(e.to_string()))?;
    for (name, value) in &headers {
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
    let upgrade = async_tungstenite::client_async_with_config(request, stream, Some(config));
    match until(deadline, upgrade).await {
        Some(Ok((ws, _response))) => Ok(ws),
        Some(Err(e)) => Err(map_ws_error(e)),
        None => Err(TransportError::Timeout),
    }
}
