//! `GET /health` and `GET /ready` on the WebSocket's host and port, using `tcm_proto::http`,
//! for a client and without one ([`probe`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use rustls::ClientConfig;
use tcm_adapter::engine::client::Target;
use tcm_adapter::engine::http::ResponseReader;
use tcm_adapter::error::probe_connect_error;
use tcm_adapter::{ClientOptions, ConnectError, ProbeError};
use tcm_proto::Endpoint;
use tcm_proto::http::{HttpResponse, get_request};

use crate::runtime::Runtime;
use crate::time::until;
use crate::transport::open_stream;

async fn exchange<R: Runtime>(
    endpoint: &Endpoint,
    address: Option<SocketAddr>,
    tls: Option<&Arc<ClientConfig>>,
    path: &str,
    deadline: Instant,
) -> Result<HttpResponse, ProbeError> {
    let mut stream = open_stream::<R>(endpoint, address, tls, deadline).await?;
    stream
        .write_all(&get_request(&endpoint.authority(), path))
        .await?;
    stream.flush().await?;
    let mut reader = ResponseReader::new();
    loop {
        let read = stream.read(reader.chunk()).await;
        if let Some(response) = reader.on_read(read)? {
            return Ok(response);
        }
    }
}

/// Performs `GET path` on a fresh stream to `target` (TLS for `wss`) within its HTTP timeout.
pub(crate) async fn get<R: Runtime>(
    target: &Target,
    path: &str,
) -> Result<HttpResponse, ProbeError> {
    let deadline = Instant::now() + target.options.http_timeout;
    let (endpoint, tls) = (&target.endpoint, target.tls.as_ref());
    let address = target.options.connect_to;
    until::<R, _>(
        deadline,
        exchange::<R>(endpoint, address, tls, path, deadline),
    )
    .await
    .unwrap_or_else(|| Err(ProbeError::Io(io::ErrorKind::TimedOut.into())))
}

/// Sends `GET path` to the host and port of the WebSocket URL `url` (TLS for `wss://`), for
/// health checks that must not authenticate. A non-200 status is a response, not an error.
pub async fn probe<R: Runtime>(
    url: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<HttpResponse, ConnectError> {
    let target = Target::new::<ConnectError>(url, options.clone())?;
    get::<R>(&target, path).await.map_err(probe_connect_error)
}
