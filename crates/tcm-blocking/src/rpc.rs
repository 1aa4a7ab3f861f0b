//! [`RpcClient`]: a blocking client for the Tellurio JSON-RPC dialect, on the same I/O thread
//! loop as the TCM client, over the sans-IO [`RpcSession`].
//!
//! Server requests and notifications are handed to a worker thread that runs the registered
//! handlers one at a time, in arrival order, so a slow handler never stalls heartbeats,
//! keepalive or other calls, and a handler may itself call the server through the
//! [`RpcClient`] it is given.

use std::sync::Arc;

use serde_json::Value;
use tcm_adapter::engine::client::{self, RpcShared};
use tcm_adapter::{CallOptions, RpcConnectError, RpcOptions};
use tcm_proto::jsonrpc::{Call, CallError, RpcConfig, RpcSession};

use crate::wake::Waker;

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

impl RpcClient {
    /// Connects to `url` (`ws://` or `wss://`, e.g. `wss://platform.tellurio.ai/ws/v0/rpc/`)
    /// with default options and no handlers, and waits for the session frame.
    pub fn connect(url: &str, config: RpcConfig) -> Result<Self, RpcConnectError> {
        Self::connect_with(url, config, RpcOptions::default(), RpcHandlers::default())
    }

    /// [`connect`](Self::connect) with explicit options and handlers. The upgrade carries
    /// `Authorization: Api-Key <key>`; a refused key is [`RpcConnectError::Unauthorized`].
    pub fn connect_with(
        url: &str,
        config: RpcConfig,
        options: RpcOptions,
        handlers: RpcHandlers,
    ) -> Result<Self, RpcConnectError> {
        let waker = Arc::new(Waker::new());
        let wake = Arc::clone(&waker);
        let wake = Some(Arc::new(move || wake.wake()) as tcm_adapter::engine::Wake);
        let client::Parts {
            shared,
            setup,
            ready,
        } = client::rpc(url, config, options, handlers, wake, |shared| Self {
            shared,
        })?;
        crate::driver::spawn(setup, waker, "tcm-rpc-io").map_err(RpcConnectError::Spawn)?;
        ready
            .recv_blocking()
            .map_err(|_| RpcConnectError::Stopped)??;
        Ok(Self { shared })
    }

    /// Sends `call` (see [`tcm_proto::jsonrpc::methods`] for typed builders) with per-call
    /// `options` and waits for the result. A deadline overrides the configured default; for
    /// long-running methods it slides with each heartbeat.
    pub fn send(&self, call: Call, options: impl Into<CallOptions>) -> Result<Value, CallError> {
        let timeout = options.into().timeout;
        let mut ticket = self
            .shared
            .caller
            .start(call, timeout)
            .map_err(|_| CallError::NotConnected)?;
        crate::client::wait::<RpcSession>(&mut ticket).unwrap_or(Err(CallError::NotConnected))
    }

    /// Calls `method` with named `params` (an object; `run_uuid` is added) with the default
    /// deadline and waits for the result.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, CallError> {
        self.send(Call::new(method, params), CallOptions::new())
    }

    /// Closes the session: pending calls fail at once with [`CallError::Cancelled`], a close
    /// frame (1000) is written, and later calls fail with [`CallError::NotConnected`].
    /// Idempotent; returns once the close frame is written (or given up on).
    pub fn close(&self) {
        if let Some(done) = self.shared.caller.close() {
            let _ = done.recv_blocking();
        }
    }
}

tcm_adapter::rpc_accessors!({ impl RpcClient }, RpcClient);
