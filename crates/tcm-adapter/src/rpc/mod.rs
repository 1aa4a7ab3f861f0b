//! The JSON-RPC (Tellurio) pieces of the clients: handlers for server → client traffic, the
//! worker that runs them off the I/O loop, the client's options, events and connect errors.

pub mod handlers;
pub mod worker;

use std::io;
use std::time::Duration;

use tcm_proto::EndpointError;
use tcm_proto::jsonrpc::RpcDisconnect;

use crate::error::TransportError;
use crate::options::ClientOptions;

pub use handlers::{RpcHandlers, SharedHandlers};

/// A change of the connection that the application should know about.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RpcClientEvent {
    /// A new session is ready after a reconnect: server-side objects of the old one are gone.
    Reconnected {
        /// The new session id.
        session_id: Option<String>,
    },
    /// The connection ended; pending calls have failed. `retry_in` is `None` when closed for
    /// good.
    Disconnected {
        /// Why.
        error: RpcDisconnect,
        /// When the next attempt starts.
        retry_in: Option<Duration>,
    },
}

/// Options of an `RpcClient` beyond the protocol configuration: transport settings and the
/// deadline of server-request handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RpcOptions {
    /// Timeouts and TLS trust of the transport (shared with the TCM client).
    pub transport: ClientOptions,
    /// Longest a handler may run before its request is answered with -32603; `None` waits
    /// for ever.
    pub handler_timeout: Option<Duration>,
}

impl Default for RpcOptions {
    fn default() -> Self {
        Self {
            transport: ClientOptions::default(),
            handler_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl RpcOptions {
    /// Sets the transport options.
    pub fn with_transport(mut self, transport: ClientOptions) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the handler deadline (`None`: no deadline).
    pub fn with_handler_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handler_timeout = timeout;
        self
    }
}

/// Why connecting an `RpcClient` failed; nothing is left running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcConnectError {
    /// The URL is not a `ws://` or `wss://` endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The transport could not be opened.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The server refused the API key (HTTP 401 or 403 at the upgrade); never retried.
    #[error("API key refused (HTTP {status})")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
    },
    /// The connection ended before the session frame (closed, bad or missing session frame).
    #[error(transparent)]
    Disconnected(RpcDisconnect),
    /// A background thread (the handler worker, or the blocking client's I/O thread) could
    /// not be started.
    #[error("cannot spawn a thread: {0}")]
    Spawn(io::Error),
    /// The I/O loop stopped before the session was ready.
    #[error("the client's I/O loop stopped while connecting")]
    Stopped,
}

/// The [`RpcConnectError`] for the first disconnect of a session: a refused key is
/// `Unauthorized`, a failed dial keeps its transport error.
pub fn rpc_connect_error(
    error: RpcDisconnect,
    transport: Option<TransportError>,
) -> RpcConnectError {
    match (error, transport) {
        (
            RpcDisconnect::Rejected {
                status: status @ (401 | 403),
            },
            _,
        ) => RpcConnectError::Unauthorized { status },
        (RpcDisconnect::ConnectFailed(_) | RpcDisconnect::Rejected { .. }, Some(t)) => {
            RpcConnectError::Transport(t)
        }
        (other, _) => RpcConnectError::Disconnected(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys_map_to_unauthorized_and_other_failures_keep_their_cause() {
        assert!(matches!(
            rpc_connect_error(RpcDisconnect::Rejected { status: 403 }, None),
            RpcConnectError::Unauthorized { status: 403 }
        ));
        assert!(matches!(
            rpc_connect_error(RpcDisconnect::Rejected { status: 401 }, None),
            RpcConnectError::Unauthorized { status: 401 }
        ));
        assert!(matches!(
            rpc_connect_error(
                RpcDisconnect::Rejected { status: 404 },
                Some(TransportError::HttpStatus { status: 404 })
            ),
            RpcConnectError::Transport(TransportError::HttpStatus { status: 404 })
        ));
        assert!(matches!(
            rpc_connect_error(RpcDisconnect::SessionTimeout, None),
            RpcConnectError::Disconnected(RpcDisconnect::SessionTimeout)
        ));
    }
}
