//! Opening transports: TCP through the runtime, optional TLS (futures-rustls), and the
//! WebSocket upgrade (async-tungstenite's runtime-independent client).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_tungstenite::WebSocketStream;
use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use futures_util::io::{AsyncRead, AsyncWrite};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tcm_adapter::TransportError;
use tcm_adapter::engine::upgrade;
use tcm_adapter::error::tls_error;
use tcm_proto::{Endpoint, Secret};

use crate::runtime::Runtime;
use crate::time::until;

/// A TCP stream of runtime `R`, plain or inside a TLS session.
pub(crate) enum Stream<R: Runtime> {
    /// `ws://`.
    Plain(R::Tcp),
    /// `wss://`.
    Tls(Box<TlsStream<R::Tcp>>),
}

impl<R: Runtime> AsyncRead for Stream<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<R: Runtime> AsyncWrite for Stream<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_close(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// The WebSocket type the driver uses.
pub(crate) type Ws<R> = WebSocketStream<Stream<R>>;

async fn open_inner<R: Runtime>(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Stream<R>, TransportError> {
    let tcp = R::connect(&endpoint.host, endpoint.port)
        .await
        .map_err(|source| TransportError::Connect {
            addr: endpoint.authority(),
            source,
        })?;
    if !endpoint.tls {
        return Ok(Stream::Plain(tcp));
    }
    let config = tls.ok_or_else(|| TransportError::TlsConfig("no TLS configuration".to_owned()))?;
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|e| TransportError::TlsConfig(format!("server name '{}': {e}", endpoint.host)))?;
    let stream = TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(tls_error)?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// Opens TCP (and TLS for `wss`) before `deadline`.
pub(crate) async fn open_stream<R: Runtime>(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    deadline: Instant,
) -> Result<Stream<R>, TransportError> {
    until::<R, _>(deadline, open_inner::<R>(endpoint, tls))
        .await
        .unwrap_or(Err(TransportError::Timeout))
}

/// Dials the endpoint and performs the WebSocket upgrade with `headers` within `timeout`;
/// messages from the peer are limited to `max_inbound` bytes.
pub(crate) async fn connect_ws<R: Runtime>(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    headers: &[(&'static str, Secret)],
    timeout: Duration,
    max_inbound: usize,
) -> Result<Ws<R>, TransportError> {
    let deadline = Instant::now() + timeout;
    let stream = open_stream::<R>(endpoint, tls, deadline).await?;
    let request = upgrade::request(endpoint, headers)?;
    let config = upgrade::config(max_inbound);
    let handshake = async_tungstenite::client_async_with_config(request, stream, Some(config));
    match until::<R, _>(deadline, handshake).await {
        Some(Ok((ws, _response))) => Ok(ws),
        Some(Err(e)) => Err(upgrade::error(e)),
        None => Err(TransportError::Timeout),
    }
}
