//! [`RpcClient`]: a runtime-generic async client for the Tellurio JSON-RPC dialect, on the same
//! I/O loop as the TCM client, over the sans-IO [`RpcSession`].
//!
//! Server requests and notifications are handed to a worker thread that runs the registered
//! (synchronous) handlers one at a time, in arrival order, so a slow handler never stalls
//! heartbeats, keepalive or other calls. A handler may call the server through the
//! [`RpcClient`] it is given by blocking on the call (e.g. `smol::block_on(client.call(..))`):
//! it runs on its own thread, not on the executor.

use std::sync::Arc;

use serde_json::Value;
use tcm_adapter::engine::client::{self, RpcShared};
use tcm_adapter::{CallOptions, RpcConnectError, RpcOptions};
use tcm_proto::jsonrpc::{Call, CallError, RpcConfig, RpcSession};

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

impl<R: Runtime> RpcClient<R> {
    /// Connects to `url` (`ws://` or `wss://`) with default options and no handlers, and waits
    /// for the session frame.
    pub async fn connect(url: &str, config: RpcConfig) -> Result<Self, RpcConnectError> {
        Self::connect_with(url, config, RpcOptions::default(), RpcHandlers::default()).await
    }

    /// [`connect`](Self::connect) with explicit options and handlers. The upgrade carries
    /// `Authorization: Api-Key <key>`; a refused key is [`RpcConnectError::Unauthorized`].
    pub async fn connect_with(
        url: &str,
        config: RpcConfig,
        options: RpcOptions,
        handlers: RpcHandlers<R>,
    ) -> Result<Self, RpcConnectError> {
        let client::Parts {
            shared,
            setup,
            ready,
        } = client::rpc(url, config, options, handlers, None, |shared| Self {
            shared,
        })?;
        R::spawn(crate::driver::run::<R, _>(setup));
        ready.recv().await.map_err(|_| RpcConnectError::Stopped)??;
        Ok(Self { shared })
    }

    /// Sends `call` (see [`tcm_proto::jsonrpc::methods`] for typed builders) with per-call
    /// `options` and awaits the result. A deadline overrides the configured default; for
    /// long-running methods it slides with each heartbeat.
    pub async fn send(
        &self,
        call: Call,
        options: impl Into<CallOptions>,
    ) -> Result<Value, CallError> {
        let timeout = options.into().timeout;
        let mut ticket = self
            .shared
            .caller
            .start(call, timeout)
            .map_err(|_| CallError::NotConnected)?;
        crate::client::wait::<RpcSession>(&mut ticket)
            .await
            .unwrap_or(Err(CallError::NotConnected))
    }

    /// Calls `method` with named `params` (an object; `run_uuid` is added) with the default
    /// deadline and awaits the result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        self.send(Call::new(method, params), CallOptions::new())
            .await
    }

    /// Closes the session: pending calls fail at once with [`CallError::Cancelled`], a close
    /// frame (1000) is written, and later calls fail with [`CallError::NotConnected`].
    /// Idempotent.
    pub async fn close(&self) {
        if let Some(done) = self.shared.caller.close() {
            let _ = done.recv().await;
        }
    }
}

tcm_adapter::rpc_accessors!({ impl<R: Runtime> RpcClient<R> }, RpcClient<R>);
