//! Error types shared by the clients: transport failures, connect failures and probe failures.

use std::io;

use tcm_proto::{DisconnectError, EndpointError, RequestError, UnexpectedResponse};

use crate::engine::{NotStarted, Stopped};

/// Why a call on a connected TCM client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request failed: a server error, a timeout, a disconnect, a local check.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The reply was not of the kind the call expects.
    #[error(transparent)]
    UnexpectedResponse(#[from] UnexpectedResponse),
    /// Shared-memory inputs could not be prepared (not negotiated without fallback, a region
    /// could not be created, BYTES or gRPC inputs).
    #[cfg(unix)]
    #[error(transparent)]
    Shm(#[from] tcm_shm::ShmError),
    /// Shared memory was required on a platform without POSIX shared memory.
    #[cfg(not(unix))]
    #[error("shared memory is not supported on this platform")]
    ShmUnsupported,
    /// The client's I/O loop is gone; no call can complete.
    #[error("the connection's I/O loop has stopped")]
    Stopped,
}

impl From<Stopped> for Error {
    fn from(_: Stopped) -> Self {
        Self::Stopped
    }
}

impl From<NotStarted> for Error {
    fn from(e: NotStarted) -> Self {
        match e {
            NotStarted::Stopped => Self::Stopped,
            NotStarted::Full { limit } => Self::Request(RequestError::QueueFull { limit }),
        }
    }
}

impl Error {
    /// The underlying request error, if that is what this is.
    pub fn request_error(&self) -> Option<&RequestError> {
        match self {
            Self::Request(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a transport (TCP, TLS, WebSocket upgrade, or an HTTP probe's stream) could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The host name did not resolve to any address.
    #[error("cannot resolve '{host}': {source}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// TCP connect failed (e.g. connection refused).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried last.
        addr: String,
        /// The socket error.
        source: io::Error,
    },
    /// The dial did not complete within the connect timeout.
    #[error("connect timed out")]
    Timeout,
    /// The TLS handshake failed (untrusted certificate, wrong host name, protocol error).
    #[error("TLS failure: {0}")]
    Tls(#[from] rustls::Error),
    /// The TLS client could not be configured (bad CA PEM, invalid server name).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The server answered the WebSocket upgrade with an HTTP status instead of 101.
    #[error("WebSocket upgrade refused with HTTP status {status}")]
    HttpStatus {
        /// The HTTP status, e.g. 403 or 404.
        status: u16,
    },
    /// The WebSocket handshake failed otherwise.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// Another I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Why connecting a client failed. The connection is closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a `ws://` or `wss://` endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The transport could not be opened.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server refused the credentials; `message` is its text.
    #[error("authentication failed: {message}")]
    AuthFailed {
        /// The server's error text.
        message: String,
    },
    /// The connection ended before `auth.ok` for another reason (close code, auth timeout).
    #[error(transparent)]
    Disconnected(DisconnectError),
    /// A replica's `GET /ready` answered `status` rather than 200: a pool following a service
    /// name connects to it only once it is ready.
    #[error("the replica is not ready (GET /ready answered {status})")]
    NotReady {
        /// The HTTP status of `/ready`, e.g. 503.
        status: u16,
    },
    /// The I/O thread could not be started (blocking client only).
    #[error("cannot spawn the I/O thread: {0}")]
    Spawn(io::Error),
    /// The I/O loop stopped before the connection was established.
    #[error("the connection's I/O loop stopped while connecting")]
    Stopped,
}

/// The [`TransportError`] for an I/O error of a TLS stream: the rustls error it carries, if
/// any, otherwise the I/O error itself.
pub fn tls_error(e: io::Error) -> TransportError {
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .cloned();
    match inner {
        Some(t) => TransportError::Tls(t),
        None => TransportError::Io(e),
    }
}

/// The [`ConnectError`] for the first disconnect of a connection, preferring the transport
/// failure of the last dial (if any) over the core's summary of it.
pub fn connect_error(error: DisconnectError, transport: Option<TransportError>) -> ConnectError {
    match (error, transport) {
        (DisconnectError::AuthFailed { message }, _) => ConnectError::AuthFailed { message },
        (DisconnectError::ConnectFailed { .. }, Some(t)) => ConnectError::Transport(t),
        (other, _) => ConnectError::Disconnected(other),
    }
}

/// The [`ConnectError`] of a stand-alone probe (one that opens no session): every failure to
/// get a response is a transport failure.
pub fn probe_connect_error(error: ProbeError) -> ConnectError {
    match error {
        ProbeError::Transport(t) => ConnectError::Transport(t),
        ProbeError::Io(io) => ConnectError::Transport(TransportError::Io(io)),
        ProbeError::Http(h) => ConnectError::Transport(TransportError::Handshake(h.to_string())),
    }
}

/// Why a `GET /health` or `GET /ready` probe failed (a non-200 status is not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The stream could not be opened.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Reading or writing failed, or the probe timed out.
    #[error("HTTP probe I/O error: {0}")]
    Io(#[from] io::Error),
    /// The response could not be parsed.
    #[error(transparent)]
    Http(#[from] tcm_proto::http::HttpError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_disconnect_maps_to_a_typed_connect_error() {
        let auth = DisconnectError::AuthFailed {
            message: "Invalid token".to_owned(),
        };
        assert!(matches!(
            connect_error(auth, None),
            ConnectError::AuthFailed { message } if message == "Invalid token"
        ));
        let failed = DisconnectError::ConnectFailed {
            message: "refused".to_owned(),
        };
        assert!(matches!(
            connect_error(failed, Some(TransportError::HttpStatus { status: 403 })),
            ConnectError::Transport(TransportError::HttpStatus { status: 403 })
        ));
        assert!(matches!(
            connect_error(DisconnectError::AuthTimeout, None),
            ConnectError::Disconnected(DisconnectError::AuthTimeout)
        ));
    }
}
