//! `GET /health` and `GET /ready` on the WebSocket's host and port, using `tcm_proto::http`.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tcm_proto::Endpoint;
use tcm_proto::http::{HttpResponse, get_request, parse_response};

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
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProbeError::Io(std::io::ErrorKind::TimedOut.into()));
        }
        stream.tcp().set_read_timeout(Some(left))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: the body is complete anyway.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e.into()),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(response) = parse_response(&buf, n == 0)? {
            return Ok(response);
        }
    }
}
