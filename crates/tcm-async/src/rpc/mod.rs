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
mod worker;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use serde_json::Value;
use tcm_proto::jsonrpc::{
    Call, CallError, RpcConfig, RpcDisconnect, RpcError, RpcSession, ServerMethod,
};
use tcm_proto::{Endpoint, EndpointError};

use crate::error::TransportError;
use crate::options::ClientOptions;
use crate::runtime::Runtime;
use driver::{Command, Driver, Status};
use worker::{Handlers, Job};

/// Options of an [`RpcClient`] beyond the protocol configuration: transport settings and the
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

/// Handlers for server → client traffic, registered before connecting so that requests sent
/// right after the session frame are served. Without a request handler every server request
/// is answered with -32601.
pub struct RpcHandlers<R: Runtime> {
    inner: Handlers<RpcClient<R>>,
}

impl<R: Runtime> Default for RpcHandlers<R> {
    fn default() -> Self {
        Self {
            inner: Handlers::default(),
        }
    }
}

impl<R: Runtime> Clone for RpcHandlers<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for RpcHandlers<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcHandlers")
            .field("request", &self.inner.request.is_some())
            .field("notification", &self.inner.notification.is_some())
            .finish()
    }
}

impl<R: Runtime> RpcHandlers<R> {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles server requests on the handler thread; the result (or error) is sent back as
    /// the reply. A panic becomes -32603 with `data.exception`.
    pub fn on_request<F>(mut self, handler: F) -> Self
    where
        F: Fn(&RpcClient<R>, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        self.inner.request = Some(Arc::new(handler));
        self
    }

    /// Handles server notifications (method and params); they are never answered.
    pub fn on_notification<F>(mut self, handler: F) -> Self
    where
        F: Fn(&RpcClient<R>, &str, &Value) + Send + Sync + 'static,
    {
        self.inner.notification = Some(Arc::new(handler));
        self
    }
}

/// Why [`RpcClient::connect`] failed; nothing is left running.
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
    /// The handler thread could not be started.
    #[error("cannot spawn a thread: {0}")]
    Spawn(io::Error),
}

impl RpcConnectError {
    pub(crate) fn from_disconnect(error: RpcDisconnect, transport: Option<TransportError>) -> Self {
        match (error, transport) {
            (
                RpcDisconnect::Rejected {
                    status: status @ (401 | 403),
                },
                _,
            ) => Self::Unauthorized { status },
            (RpcDisconnect::ConnectFailed(_) | RpcDisconnect::Rejected { .. }, Some(t)) => {
                Self::Transport(t)
            }
            (other, _) => Self::Disconnected(other),
        }
    }
}

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
    status: Arc<Mutex<Status>>,
    handlers: Arc<RwLock<Handlers<RpcClient<R>>>>,
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

/// Replaces a zero seed with OS randomness so reconnecting clients do not share request ids
/// or jitter.
fn seeded(mut config: RpcConfig) -> RpcConfig {
    if config.seed == 0 {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        config.seed = h.finish() | 1;
    }
    config
}

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
        let tls = if endpoint.tls {
            Some(crate::tls::client_config(&options.transport)?)
        } else {
            None
        };
        let session = RpcSession::new(seeded(config));
        let status = Arc::new(Mutex::new(Status::default()));
        let (tx, rx) = mpsc::unbounded();
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let inner = Arc::new(Inner {
            commands: tx.clone(),
            status: Arc::clone(&status),
            handlers: Arc::new(RwLock::new(handlers.inner)),
            events: Mutex::new(Some(events_rx)),
            endpoint: endpoint.clone(),
        });
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<Job>();
        let weak: Weak<Inner<R>> = Arc::downgrade(&inner);
        worker::spawn(
            jobs_rx,
            Arc::clone(&inner.handlers),
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
        self.inner
            .status
            .lock()
            .ok()
            .and_then(|s| s.session_id.clone())
    }

    /// Whether a session is ready for calls (not reconnecting, not closed).
    pub fn is_ready(&self) -> bool {
        self.inner.status.lock().is_ok_and(|s| s.ready)
    }

    /// Whether the client is closed for good.
    pub fn is_closed(&self) -> bool {
        self.inner.status.lock().is_ok_and(|s| s.closed)
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
        if let Ok(mut h) = self.inner.handlers.write() {
            h.request = Some(Arc::new(handler));
        }
    }

    /// Replaces the notification handler (see [`RpcHandlers::on_notification`]).
    pub fn on_notification<F>(&self, handler: F)
    where
        F: Fn(&RpcClient<R>, &str, &Value) + Send + Sync + 'static,
    {
        if let Ok(mut h) = self.inner.handlers.write() {
            h.notification = Some(Arc::new(handler));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys_map_to_unauthorized() {
        assert!(matches!(
            RpcConnectError::from_disconnect(RpcDisconnect::Rejected { status: 401 }, None),
            RpcConnectError::Unauthorized { status: 401 }
        ));
        assert!(matches!(
            RpcConnectError::from_disconnect(RpcDisconnect::SessionTimeout, None),
            RpcConnectError::Disconnected(RpcDisconnect::SessionTimeout)
        ));
    }
}
