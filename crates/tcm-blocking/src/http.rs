//! `GET /health` and `GET /ready` on the WebSocket's host and port, using `tcm_proto::http`.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tcm_adapter::http::ResponseReader;
use tcm_proto::Endpoint;
use tcm_proto::http::{HttpResponse, get_request};

use crate::error::ProbeError;
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
