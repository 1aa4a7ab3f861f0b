//! Opening transports: TCP through the runtime, optional TLS (futures-rustls), and the
//! WebSocket upgrade (async-tungstenite's runtime-independent client).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_tungstenite::WebSocketStream;
use futures_rustls::TlsConnector;
use futures_util::io::{AsyncRead, AsyncWrite};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tcm_adapter::TransportError;
use tcm_adapter::engine::client::Target;
use tcm_adapter::engine::upgrade;
use tcm_adapter::error::tls_error;
use tcm_proto::{Endpoint, Secret};

use crate::runtime::Runtime;
use crate::time::until;

/// A byte stream the WebSocket runs over: a runtime's TCP stream, plain or inside TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A TCP stream, plain (`ws://`) or inside a TLS session (`wss://`).
pub(crate) type Stream = Box<dyn Io>;

/// The WebSocket type the I/O loop uses.
pub(crate) type Ws = WebSocketStream<Stream>;

async fn open_inner<R: Runtime>(
    endpoint: &Endpoint,
    address: Option<SocketAddr>,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Stream, TransportError> {
    let tcp = match address {
        Some(a) => R::connect(&a.ip().to_string(), a.port()).await,
        None => R::connect(&endpoint.host, endpoint.port).await,
    };
    let tcp = tcp.map_err(|source| TransportError::Connect {
        addr: address.map_or_else(|| endpoint.authority(), |a| a.to_string()),
        source,
    })?;
    if !endpoint.tls {
        return Ok(Box::new(tcp));
    }
    let config = tls.ok_or_else(|| TransportError::TlsConfig("no TLS configuration".to_owned()))?;
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|e| TransportError::TlsConfig(format!("server name '{}': {e}", endpoint.host)))?;
    let stream = TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(tls_error)?;
    Ok(Box::new(stream))
}

/// Opens TCP (to `address`, or the endpoint's host) and TLS for `wss` (naming the endpoint's
/// host) before `deadline`.
pub(crate) async fn open_stream<R: Runtime>(
    endpoint: &Endpoint,
    address: Option<SocketAddr>,
    tls: Option<&Arc<ClientConfig>>,
    deadline: Instant,
) -> Result<Stream, TransportError> {
    until::<R, _>(deadline, open_inner::<R>(endpoint, address, tls))
        .await
        .unwrap_or(Err(TransportError::Timeout))
}

/// Dials `target` and performs the WebSocket upgrade with `headers` within its connect timeout;
/// messages from the peer are limited to `max_inbound` bytes.
pub(crate) async fn connect_ws<R: Runtime>(
    target: &Target,
    headers: &[(&'static str, Secret)],
    max_inbound: usize,
) -> Result<Ws, TransportError> {
    let deadline = Instant::now() + target.options.connect_timeout;
    let address = target.options.connect_to;
    let stream = open_stream::<R>(&target.endpoint, address, target.tls.as_ref(), deadline).await?;
    let request = upgrade::request(&target.endpoint, headers)?;
    let config = upgrade::config(max_inbound);
    let handshake = async_tungstenite::client_async_with_config(request, stream, Some(config));
    match until::<R, _>(deadline, handshake).await {
        Some(Ok((ws, _response))) => Ok(ws),
        Some(Err(e)) => Err(upgrade::error(e)),
        None => Err(TransportError::Timeout),
    }
}
