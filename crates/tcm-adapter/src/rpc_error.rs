//! [`RpcConnectError`]: why a JSON-RPC client could not connect.

use std::io;

use tcm_proto::EndpointError;
use tcm_proto::jsonrpc::RpcDisconnect;

use crate::error::TransportError;

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
    /// A background thread (the handler worker, or the blocking adapter's I/O thread) could
    /// not be started.
    #[error("cannot spawn a thread: {0}")]
    Spawn(io::Error),
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
