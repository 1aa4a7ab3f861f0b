//! `GET /health` and `GET /ready` on the WebSocket's host and port, using `tcm_proto::http`,
//! for a client and without one ([`probe`]).

use std::io::{Read, Write};
use std::time::Instant;

use tcm_adapter::engine::client::Target;
use tcm_adapter::engine::http::ResponseReader;
use tcm_adapter::error::probe_connect_error;
use tcm_adapter::{ClientOptions, ConnectError, ProbeError};
use tcm_proto::http::{HttpResponse, get_request};

use crate::transport::open_stream;

/// Performs `GET path` on a fresh stream to `target` (TLS for `wss`) within its HTTP timeout;
/// every read and write is bounded by what is left of it, so a trickling server cannot stretch
/// it.
pub(crate) fn get(target: &Target, path: &str) -> Result<HttpResponse, ProbeError> {
    let deadline = Instant::now() + target.options.http_timeout;
    let address = target.options.connect_to;
    let mut stream = open_stream(&target.endpoint, address, target.tls.as_ref(), deadline)?;
    stream.write_all(&get_request(&target.endpoint.authority(), path))?;
    stream.flush()?;
    let mut reader = ResponseReader::new();
    loop {
        // Every read is bounded by what is left of the deadline (see `Tcp`).
        let read = stream.read(reader.chunk());
        if let Some(response) = reader.on_read(read)? {
            return Ok(response);
        }
    }
}

/// Sends `GET path` to the host and port of the WebSocket URL `url` (TLS for `wss://`), for
/// health checks that must not authenticate. A non-200 status is a response, not an error.
pub fn probe(url: &str, path: &str, options: &ClientOptions) -> Result<HttpResponse, ConnectError> {
    let target = Target::new::<ConnectError>(url, options.clone())?;
    get(&target, path).map_err(probe_connect_error)
}
