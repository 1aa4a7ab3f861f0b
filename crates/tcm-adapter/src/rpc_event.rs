//! [`RpcClientEvent`]: connection changes a JSON-RPC client reports to the application.

use std::time::Duration;

use tcm_proto::jsonrpc::RpcDisconnect;

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
