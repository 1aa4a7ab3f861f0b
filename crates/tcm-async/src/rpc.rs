//! [`RpcClient`]: a runtime-generic async client for the Tellurio JSON-RPC dialect, on the same
//! I/O loop as the TCM client, over the sans-IO `RpcSession`.
//!
//! Server requests and notifications are handed to a worker thread that runs the registered
//! (synchronous) handlers one at a time, in arrival order, so a slow handler never stalls
//! heartbeats, keepalive or other calls. A handler may call the server through the
//! [`RpcClient`] it is given by blocking on the call (e.g. `smol::block_on(client.call(..))`,
//! or a tokio `Handle::block_on`): it runs on its own thread, not on the executor.

use std::sync::Arc;

use tcm_adapter::engine::client::RpcShared;

use crate::runtime::Runtime;

/// Handlers for server → client traffic of an [`RpcClient`] on runtime `R`.
pub type RpcHandlers<R> = tcm_adapter::RpcHandlers<RpcClient<R>>;

/// A connected Tellurio JSON-RPC client on runtime `R`. Cheap to clone; all clones share one
/// session and its I/O task. Dropping the last handle closes the session; dropping a call's
/// future cancels the call.
pub struct RpcClient<R: Runtime> {
    shared: Arc<RpcShared<RpcClient<R>>>,
}

impl<R: Runtime> Clone for RpcClient<R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for RpcClient<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

tcm_adapter::rpc_client! {
    impl { impl<R: Runtime> RpcClient<R> }
    io { async } { .await } recv
    start { crate::driver::start::<R, _, _, _> }
    client RpcClient<R>;
}
