//! [`RpcClient`]: a runtime-generic async client for the Tellurio JSON-RPC dialect, driven by
//! a background task over the sans-IO [`RpcSession`](tcm_proto::jsonrpc::RpcSession).
//!
//! The driver task owns the socket and the session; server requests and notifications are
//! handed to a worker thread that runs the registered (synchronous) handlers one at a time, in
//! arrival order, so a slow handler never stalls heartbeats, keepalive or other calls. A
//! handler may call the server through the [`RpcClient`] it is given, by blocking on the call
//! (e.g. `smol::block_on(client.call(..))`): it runs on its own thread, not on the executor.

mod dial;
mod driver;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use serde_json::Value;
use tcm_adapter::rpc_handlers::SharedHandlers;
use tcm_adapter::rpc_status::RpcStatus;
use tcm_adapter::rpc_worker::{self, Job};
use tcm_adapter::{RpcClientEvent, RpcConnectError, RpcOptions};
use tcm_proto::Endpoint;
use tcm_proto::jsonrpc::{Call, CallError, RpcConfig, RpcError, RpcSession, ServerMethod};

use crate::runtime::Runtime;
use driver::{Command, Driver};

/// Handlers for server → client traffic, registered before connecting so that requests sent
/// right after the session frame are served. Without a request handler every server request
/// is answered with -32601.
pub type RpcHandlers<R> = tcm_adapter::RpcHandlers<RpcClient<R>>;

/// A connected Tellurio JSON-RPC client driven by a task of runtime `R`. Cheap to clone; all
/// clones share one session, and calls from many tasks are multiplexed on it. Dropping the
/// last handle closes the session.
pub struct RpcClient<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for RpcClient<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<R: Runtime> {
    commands: mpsc::UnboundedSender<Command>,
    status: RpcStatus,
    handlers: SharedHandlers<RpcClient<R>>,
    events: Mutex<Option<mpsc::Receiver<RpcClientEvent>>>,
    endpoint: Endpoint,
}

impl<R: Runtime> Drop for Inner<R> {
    fn drop(&mut self) {
        let _ = self.commands.unbounded_send(Command::Hangup);
    }
}

impl<R: Runtime> std::fmt::Debug for RpcClient<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcClient")
            .field("endpoint", &self.inner.endpoint.to_string())
            .field("session_id", &self.session_id())
            .finish_non_exhaustive()
    }
}

/// Unread events kept for [`RpcClient::events`]; later ones are dropped with a warning.
const EVENT_CAPACITY: usize = 64;

impl<R: Runtime> RpcClient<R> {
    /// Connects to `url` (`ws://` or `wss://`, e.g. `wss://platform.tellurio.ai/ws/v0/rpc/`)
    /// with default options and no handlers, and waits for the session frame.
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
        let endpoint = Endpoint::parse(url)?;
        let tls = tcm_adapter::tls::for_endpoint(&endpoint, &options.transport)?;
        let session = RpcSession::new(tcm_adapter::seed::seeded_rpc(config));
        let status = RpcStatus::new();
        let (tx, rx) = mpsc::unbounded();
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let inner = Arc::new(Inner {
            commands: tx.clone(),
            status: status.clone(),
            handlers: SharedHandlers::new(handlers),
            events: Mutex::new(Some(events_rx)),
            endpoint: endpoint.clone(),
        });
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<Job>();
        let weak: Weak<Inner<R>> = Arc::downgrade(&inner);
        rpc_worker::spawn(
            jobs_rx,
            inner.handlers.clone(),
            move || weak.upgrade().map(|inner| RpcClient { inner }),
            move |id, outcome| {
                let _ = tx.unbounded_send(Command::Respond { id, outcome });
            },
            options.handler_timeout,
        )
        .map_err(RpcConnectError::Spawn)?;
        let mut driver = Driver::<R>::new(
            session,
            endpoint,
            tls,
            options.transport,
            status,
            events_tx,
            jobs_tx,
        );
        driver.establish().await?;
        R::spawn(driver.run(rx));
        Ok(Self { inner })
    }

    /// The id of the current session, from its session frame (`None` if the server sent none).
    pub fn session_id(&self) -> Option<String> {
        self.inner.status.session_id()
    }

    /// Whether a session is ready for calls (not reconnecting, not closed).
    pub fn is_ready(&self) -> bool {
        self.inner.status.is_ready()
    }

    /// Whether the client is closed for good.
    pub fn is_closed(&self) -> bool {
        self.inner.status.is_closed()
    }

    /// Calls `method` with named `params` (an object; `run_uuid` is added) and waits for the
    /// result. `timeout` overrides the configured default; for long-running methods it slides
    /// with each heartbeat.
    pub async fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        self.send(Call::new(method, params), timeout).await
    }

    /// Sends a prepared [`Call`] and waits for its result.
    pub async fn send(&self, call: Call, timeout: Option<Duration>) -> Result<Value, CallError> {
        let (reply, rx) = oneshot::channel();
        if self
            .inner
            .commands
            .unbounded_send(Command::Call {
                call,
                timeout,
                reply,
            })
            .is_err()
        {
            return Err(CallError::NotConnected);
        }
        rx.await.unwrap_or(Err(CallError::NotConnected))
    }

    /// Sets (or clears) the active run whose uuid is added to every call.
    pub fn set_run_uuid(&self, run_uuid: Option<String>) {
        let _ = self
            .inner
            .commands
            .unbounded_send(Command::SetRunUuid(run_uuid));
    }

    /// Replaces the server-request handler (see [`RpcHandlers::on_request`]).
    pub fn on_request<F>(&self, handler: F)
    where
        F: Fn(&RpcClient<R>, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        self.inner.handlers.set_request(handler);
    }

    /// Replaces the notification handler (see [`RpcHandlers::on_notification`]).
    pub fn on_notification<F>(&self, handler: F)
    where
        F: Fn(&RpcClient<R>, &str, &Value) + Send + Sync + 'static,
    {
        self.inner.handlers.set_notification(handler);
    }

    /// Reconnects and disconnects, as they happen (up to 64 unread; later ones are dropped).
    /// The receiver is handed out once.
    pub fn events(&self) -> Option<mpsc::Receiver<RpcClientEvent>> {
        self.inner.events.lock().ok()?.take()
    }

    /// Closes the session: pending calls fail at once with [`CallError::Cancelled`], a close
    /// frame (1000) is written, and later calls fail with [`CallError::NotConnected`].
    /// Idempotent; returns once the close frame is written.
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self
            .inner
            .commands
            .unbounded_send(Command::Close { done })
            .is_ok()
        {
            let _ = rx.await;
        }
    }
}
