//! `GET /health` and `GET /ready` on the WebSocket's host and port, using `tcm_proto::http`,
//! for a client and without one ([`probe`]).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tcm_adapter::engine::http::ResponseReader;
use tcm_adapter::error::probe_connect_error;
use tcm_adapter::{ClientOptions, ConnectError, ProbeError};
use tcm_proto::Endpoint;
use tcm_proto::http::{HttpResponse, get_request};

use crate::transport::open_stream;

/// Performs one GET on a fresh stream (TLS for `wss`) within `timeout`.
pub(crate) fn get(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    path: &str,
    timeout: Duration,
) -> Result<HttpResponse, ProbeError> {
    let deadline = Instant::now() + timeout;
    let mut stream = open_stream(endpoint, tls, deadline)?;
    stream.write_all(&get_request(&endpoint.authority(), path))?;
    stream.flush()?;
    let mut reader = ResponseReader::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProbeError::Io(std::io::ErrorKind::TimedOut.into()));
        }
        stream.tcp().set_read_timeout(Some(left))?;
        let read = stream.read(reader.chunk());
        if let Some(response) = reader.on_read(read)? {
            return Ok(response);
        }
    }
}

/// Sends `GET path` to the host and port of the WebSocket URL `url` (TLS for `wss://`), for
/// health checks that must not authenticate. A non-200 status is a response, not an error.
pub fn probe(url: &str, path: &str, options: &ClientOptions) -> Result<HttpResponse, ConnectError> {
    let endpoint = Endpoint::parse(url)?;
    let tls = tcm_adapter::tls::for_endpoint(&endpoint, options)?;
    crate::http::get(&endpoint, tls.as_ref(), path, options.http_timeout)
        .map_err(probe_connect_error)
}
