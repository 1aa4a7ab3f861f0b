//! Opening transports: TCP with a deadline, optional TLS, and the WebSocket upgrade.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
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

/// A TCP socket whose every read and write, while a deadline is set, is bounded by what is left
/// of it: a peer that trickles bytes during TLS, the upgrade or a probe cannot stretch them past
/// their deadline. The I/O loop lifts the deadline once the socket is non-blocking.
///
/// Once non-blocking, a read that got less than it asked for marks the socket drained: the
/// kernel had nothing more at that moment, so the next read says "would block" without asking
/// it, until the I/O loop has waited on the socket again ([`Io::rearm`]). That spares every
/// message a read that can only fail (and the WebSocket library's zeroing of its buffer for
/// it); data that arrives meanwhile makes the loop's `poll` return at once.
#[derive(Debug)]
pub(crate) struct Tcp {
    socket: TcpStream,
    deadline: Option<Instant>,
    drained: bool,
}

impl Tcp {
    fn arm(&self) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.socket.set_read_timeout(Some(left))?;
        self.socket.set_write_timeout(Some(left))
    }
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.drained {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.arm()?;
        let n = self.socket.read(buf)?;
        // A blocking read (during the dial) waits for more; only a non-blocking one drains.
        self.drained = self.deadline.is_none() && n > 0 && n < buf.len();
        Ok(n)
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.socket.flush()
    }
}

/// A byte stream the WebSocket runs over, with the TCP socket under it (to poll).
pub(crate) trait Io: Read + Write + Send {
    /// The underlying socket.
    fn tcp(&self) -> &Tcp;

    /// Makes the socket non-blocking and lifts the dial's deadline: from now on the I/O loop
    /// bounds every wait itself.
    fn go_non_blocking(&mut self) -> io::Result<()>;

    /// Lets the next read ask the kernel again (see [`Tcp`]): the loop is about to read after
    /// a wait, or without one.
    fn rearm(&mut self);
}

impl Io for Tcp {
    fn tcp(&self) -> &Tcp {
        self
    }

    fn go_non_blocking(&mut self) -> io::Result<()> {
        self.deadline = None;
        self.socket.set_nonblocking(true)
    }

    fn rearm(&mut self) {
        self.drained = false;
    }
}

impl Io for StreamOwned<ClientConnection, Tcp> {
    fn tcp(&self) -> &Tcp {
        &self.sock
    }

    fn go_non_blocking(&mut self) -> io::Result<()> {
        self.sock.go_non_blocking()
    }

    fn rearm(&mut self) {
        self.sock.rearm();
    }
}

impl Tcp {
    /// The socket itself, to poll on.
    pub(crate) fn socket(&self) -> &TcpStream {
        &self.socket
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

/// Connects to `address` if given, otherwise to the first address of the endpoint's host that
/// accepts.
fn tcp_connect(
    endpoint: &Endpoint,
    address: Option<SocketAddr>,
    deadline: Instant,
) -> Result<TcpStream, TransportError> {
    let addrs: Vec<SocketAddr> = match address {
        Some(address) => vec![address],
        None => (endpoint.host.as_str(), endpoint.port)
            .to_socket_addrs()
            .map_err(|source| TransportError::Resolve {
                host: endpoint.host.clone(),
                source,
            })?
            .collect(),
    };
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

/// Opens TCP (to `address`, or the endpoint's host) and TLS for `wss` (naming the endpoint's
/// host), every read and write bounded by `deadline`.
pub(crate) fn open_stream(
    endpoint: &Endpoint,
    address: Option<SocketAddr>,
    tls: Option<&Arc<ClientConfig>>,
    deadline: Instant,
) -> Result<Stream, TransportError> {
    let tcp = Tcp {
        socket: tcp_connect(endpoint, address, deadline)?,
        deadline: Some(deadline),
        drained: false,
    };
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
    let address = target.options.connect_to;
    let stream = open_stream(&target.endpoint, address, target.tls.as_ref(), deadline)?;
    let request = upgrade::request(&target.endpoint, headers)?;
    let config = upgrade::config(max_inbound);
    let mut ws = match tungstenite::client::client_with_config(request, stream, Some(config)) {
        Ok((ws, _response)) => ws,
        Err(HandshakeError::Failure(e)) => return Err(upgrade::error(e)),
        Err(HandshakeError::Interrupted(_)) => return Err(TransportError::Timeout),
    };
    ws.get_mut().go_non_blocking()?;
    Ok(ws)
}
