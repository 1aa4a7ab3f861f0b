//! Opening transports: TCP with a deadline, optional TLS, and the WebSocket upgrade.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;
use tcm_adapter::TransportError;
use tcm_adapter::engine::client::Target;
use tcm_adapter::engine::upgrade::{self, is_timeout};
use tcm_proto::{Endpoint, Secret};
use tungstenite::WebSocket;
use tungstenite::handshake::HandshakeError;

/// A byte stream the WebSocket runs over, with the TCP socket under it (to poll and time out).
pub(crate) trait Io: Read + Write + Send {
    /// The underlying socket.
    fn tcp(&self) -> &TcpStream;
}

impl Io for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Io for StreamOwned<ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

/// A TCP stream, plain (`ws://`) or inside a rustls session (`wss://`).
pub(crate) type Stream = Box<dyn Io>;

/// The WebSocket type the I/O thread uses.
pub(crate) type Ws = WebSocket<Stream>;

fn remaining(deadline: Instant) -> Result<Duration, TransportError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(TransportError::Timeout)
    } else {
        Ok(left)
    }
}

fn tcp_connect(endpoint: &Endpoint, deadline: Instant) -> Result<TcpStream, TransportError> {
    let addrs = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|source| TransportError::Resolve {
            host: endpoint.host.clone(),
            source,
        })?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if is_timeout(&e) => return Err(TransportError::Timeout),
            Err(source) => last = Some((addr.to_string(), source)),
        }
    }
    Err(match last {
        Some((addr, source)) => TransportError::Connect { addr, source },
        None => TransportError::Resolve {
            host: endpoint.host.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        },
    })
}

/// A TLS stream's I/O error as a transport error; a socket timeout is the dial's timeout.
fn tls_error(e: io::Error) -> TransportError {
    if is_timeout(&e) {
        return TransportError::Timeout;
    }
    tcm_adapter::error::tls_error(e)
}

/// Opens TCP (and TLS for `wss`) with the socket timeouts set to what is left of `deadline`.
pub(crate) fn open_stream(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    deadline: Instant,
) -> Result<Stream, TransportError> {
    let tcp = tcp_connect(endpoint, deadline)?;
    let left = remaining(deadline)?;
    tcp.set_read_timeout(Some(left))?;
    tcp.set_write_timeout(Some(left))?;
    if !endpoint.tls {
        return Ok(Box::new(tcp));
    }
    let config = tls.ok_or_else(|| TransportError::TlsConfig("no TLS configuration".to_owned()))?;
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|e| TransportError::TlsConfig(format!("server name '{}': {e}", endpoint.host)))?;
    let conn = ClientConnection::new(Arc::clone(config), name)?;
    let mut s = StreamOwned::new(conn, tcp);
    // Finish the handshake here so that certificate errors surface as typed TLS errors.
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(tls_error)?;
    }
    Ok(Box::new(s))
}

/// Dials `target` and performs the WebSocket upgrade with `headers` within its connect timeout;
/// messages from the peer are limited to `max_inbound` bytes. The socket is left
/// non-blocking, for the I/O loop.
pub(crate) fn connect_ws(
    target: &Target,
    headers: &[(&'static str, Secret)],
    max_inbound: usize,
) -> Result<Ws, TransportError> {
    let deadline = Instant::now() + target.options.connect_timeout;
    let stream = open_stream(&target.endpoint, target.tls.as_ref(), deadline)?;
    let request = upgrade::request(&target.endpoint, headers)?;
    let config = upgrade::config(max_inbound);
    let ws = match tungstenite::client::client_with_config(request, stream, Some(config)) {
        Ok((ws, _response)) => ws,
        Err(HandshakeError::Failure(e)) => return Err(upgrade::error(e)),
        Err(HandshakeError::Interrupted(_)) => return Err(TransportError::Timeout),
    };
    ws.get_ref().tcp().set_nonblocking(true)?;
    Ok(ws)
}
