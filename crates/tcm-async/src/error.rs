//! Error types: transport failures, connect failures and call failures.

use std::io;

use tcm_proto::{DisconnectError, EndpointError, RequestError};

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

/// Why [`Client::connect`](crate::Client::connect) failed. The connection is closed.
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
}

impl ConnectError {
    pub(crate) fn from_disconnect(
        error: DisconnectError,
        transport: Option<TransportError>,
    ) -> Self {
        match (error, transport) {
            (DisconnectError::AuthFailed { message }, _) => Self::AuthFailed { message },
            (DisconnectError::ConnectFailed { .. }, Some(t)) => Self::Transport(t),
            (other, _) => Self::Disconnected(other),
        }
    }
}

/// Why a call on a connected client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request failed: a server error, a timeout, a disconnect, a local check.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The reply was not of the kind the call expects.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(&'static str),
    /// Shared-memory inputs could not be prepared (not negotiated without fallback, a region
    /// could not be created, BYTES or gRPC inputs).
    #[cfg(unix)]
    #[error(transparent)]
    Shm(#[from] tcm_shm::ShmError),
    /// The driver task is gone; no call can complete.
    #[error("the connection's driver task has stopped")]
    Stopped,
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
            ConnectError::from_disconnect(auth, None),
            ConnectError::AuthFailed { message } if message == "Invalid token"
        ));
        let failed = DisconnectError::ConnectFailed {
            message: "refused".to_owned(),
        };
        assert!(matches!(
            ConnectError::from_disconnect(failed, Some(TransportError::HttpStatus { status: 403 })),
            ConnectError::Transport(TransportError::HttpStatus { status: 403 })
        ));
        assert!(matches!(
            ConnectError::from_disconnect(DisconnectError::AuthTimeout, None),
            ConnectError::Disconnected(DisconnectError::AuthTimeout)
        ));
    }
}
