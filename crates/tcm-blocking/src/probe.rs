//! [`probe`]: `GET /health` or `GET /ready` without opening a WebSocket session.

use tcm_adapter::ClientOptions;
use tcm_adapter::error::probe_connect_error;
use tcm_proto::Endpoint;
use tcm_proto::http::HttpResponse;

use crate::error::ConnectError;

/// Sends `GET path` to the host and port of the WebSocket URL `url` (TLS for `wss://`), for
/// health checks that must not authenticate. A non-200 status is a response, not an error.
pub fn probe(url: &str, path: &str, options: &ClientOptions) -> Result<HttpResponse, ConnectError> {
    let endpoint = Endpoint::parse(url)?;
    let tls = tcm_adapter::tls::for_endpoint(&endpoint, options)?;
    crate::http::get(&endpoint, tls.as_ref(), path, options.http_timeout)
        .map_err(probe_connect_error)
}
