//! [`RpcClient`]: a blocking client for the Tellurio JSON-RPC dialect, on the same I/O thread
//! loop as the TCM client, over the sans-IO `RpcSession`.
//!
//! Server requests and notifications are handed to a worker thread that runs the registered
//! handlers one at a time, in arrival order, so a slow handler never stalls heartbeats,
//! keepalive or other calls, and a handler may itself call the server through the
//! [`RpcClient`] it is given.

use std::sync::Arc;

use tcm_adapter::engine::client::RpcShared;

/// Handlers for server → client traffic, registered before connecting so that requests sent
/// right after the session frame are served. Without a request handler every server request
/// is answered with -32601.
pub type RpcHandlers = tcm_adapter::RpcHandlers<RpcClient>;

/// A connected Tellurio JSON-RPC client. Cheap to clone; all clones share one session and its
/// I/O thread, and calls from many threads are multiplexed on it. Dropping the last handle
/// closes the session.
#[derive(Clone, Debug)]
pub struct RpcClient {
    shared: Arc<RpcShared<RpcClient>>,
}

tcm_adapter::rpc_client! {
    impl { impl RpcClient }
    io {} {} recv_blocking
    start { crate::driver::start }
    client RpcClient;
}
