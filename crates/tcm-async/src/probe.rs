//! [`probe`]: `GET /health` or `GET /ready` without opening a WebSocket session.

use tcm_proto::Endpoint;
use tcm_proto::http::HttpResponse;

use crate::error::{ConnectError, ProbeError, TransportError};
use crate::options::ClientOptions;
use crate::runtime::Runtime;

/// Sends `GET path` to the host and port of the WebSocket URL `url` (TLS for `wss://`), for
/// health checks that must not authenticate. A non-200 status is a response, not an error.
pub async fn probe<R: Runtime>(
    url: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<HttpResponse, ConnectError> {
    let endpoint = Endpoint::parse(url)?;
    let tls = if endpoint.tls {
        Some(crate::tls::client_config(options)?)
    } else {
        None
    };
    crate::http::get::<R>(&endpoint, tls.as_ref(), path, options.http_timeout)
        .await
        .map_err(|e| match e {
            ProbeError::Transport(t) => ConnectError::Transport(t),
            ProbeError::Io(io) => ConnectError::Transport(TransportError::Io(io)),
            ProbeError::Http(h) => {
                ConnectError::Transport(TransportError::Handshake(h.to_string()))
            }
        })
}
