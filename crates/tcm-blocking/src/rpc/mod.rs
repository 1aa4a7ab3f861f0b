//! [`RpcClient`]: a blocking client for the Tellurio JSON-RPC dialect, driven by a background
//! I/O thread over the sans-IO [`RpcSession`](tcm_proto::jsonrpc::RpcSession).
//!
//! The I/O thread owns the socket and the session; server requests and notifications are
//! handed to a worker thread that runs the registered handlers one at a time, in arrival
//! order, so a slow handler never stalls heartbeats, keepalive or other calls, and a handler
//! may itself call the server through the [`RpcClient`] it is given.

mod dial;
mod driver;
mod worker;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use serde_json::Value;
use tcm_proto::Endpoint;
use tcm_proto::EndpointError;
use tcm_proto::jsonrpc::{
    Call, CallError, RpcConfig, RpcDisconnect, RpcError, RpcSession, ServerMethod,
};

use crate::error::TransportError;
use crate::options::ClientOptions;
use driver::{Command, Driver, Mailbox, Status};
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
#[derive(Clone, Default)]
pub struct RpcHandlers {
    inner: Handlers<RpcClient>,
}

impl std::fmt::Debug for RpcHandlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcHandlers")
            .field("request", &self.inner.request.is_some())
            .field("notification", &self.inner.notification.is_some())
            .finish()
    }
}

impl RpcHandlers {
    /// No handlers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles server requests; the result (or error) is sent back as the reply. A panic
    /// becomes -32603 with `data.exception`.
    pub fn on_request<F>(mut self, handler: F) -> Self
    where
        F: Fn(&RpcClient, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        self.inner.request = Some(Arc::new(handler));
        self
    }

    /// Handles server notifications (method and params); they are never answered.
    pub fn on_notification<F>(mut self, handler: F) -> Self
    where
        F: Fn(&RpcClient, &str, &Value) + Send + Sync + 'static,
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
    /// A background thread could not be started.
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

/// A connected Tellurio JSON-RPC client. Cheap to clone; all clones share one session and its
/// I/O thread, and calls from many threads are multiplexed on it. Dropping the last handle
/// closes the session.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    mailbox: Mailbox,
    status: Arc<Mutex<Status>>,
    handlers: Arc<RwLock<Handlers<RpcClient>>>,
    events: Mutex<Option<Receiver<RpcClientEvent>>>,
    endpoint: Endpoint,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.mailbox.send(Command::Hangup);
    }
}

impl std::fmt::Debug for RpcClient {
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
        let endpoint = Endpoint::parse(url)?;
        let tls = if endpoint.tls {
            Some(crate::tls::client_config(&options.transport)?)
        } else {
            None
        };
        let session = RpcSession::new(seeded(config));
        let status = Arc::new(Mutex::new(Status::default()));
        let (tx, rx) = mpsc::channel();
        let mailbox = Mailbox::new(tx, Arc::new(crate::wake::Waker::new()));
        let (events_tx, events_rx) = mpsc::sync_channel(EVENT_CAPACITY);
        let inner = Arc::new(Inner {
            mailbox: mailbox.clone(),
            status: Arc::clone(&status),
            handlers: Arc::new(RwLock::new(handlers.inner)),
            events: Mutex::new(Some(events_rx)),
            endpoint: endpoint.clone(),
        });
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        let replies = mailbox.clone();
        worker::spawn(
            jobs_rx,
            Arc::clone(&inner.handlers),
            move || weak.upgrade().map(|inner| RpcClient { inner }),
            move |id, outcome| {
                replies.send(Command::Respond { id, outcome });
            },
            options.handler_timeout,
        )
        .map_err(RpcConnectError::Spawn)?;
        let mut driver = Driver::new(
            session,
            endpoint,
            tls,
            options.transport,
            status,
            events_tx,
            jobs_tx,
            mailbox,
        );
        driver.establish()?;
        std::thread::Builder::new()
            .name("tcm-rpc-io".to_owned())
            .spawn(move || driver.run(rx))
            .map_err(RpcConnectError::Spawn)?;
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
    pub fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        self.send(Call::new(method, params), timeout)
    }

    /// Sends a prepared [`Call`] and waits for its result.
    pub fn send(&self, call: Call, timeout: Option<Duration>) -> Result<Value, CallError> {
        let (reply, rx) = mpsc::channel();
        if !self.inner.mailbox.send(Command::Call {
            call,
            timeout,
            reply,
        }) {
            return Err(CallError::NotConnected);
        }
        rx.recv().unwrap_or(Err(CallError::NotConnected))
    }

    /// Sets (or clears) the active run whose uuid is added to every call.
    pub fn set_run_uuid(&self, run_uuid: Option<String>) {
        self.inner.mailbox.send(Command::SetRunUuid(run_uuid));
    }

    /// Replaces the server-request handler (see [`RpcHandlers::on_request`]).
    pub fn on_request<F>(&self, handler: F)
    where
        F: Fn(&RpcClient, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        if let Ok(mut h) = self.inner.handlers.write() {
            h.request = Some(Arc::new(handler));
        }
    }

    /// Replaces the notification handler (see [`RpcHandlers::on_notification`]).
    pub fn on_notification<F>(&self, handler: F)
    where
        F: Fn(&RpcClient, &str, &Value) + Send + Sync + 'static,
    {
        if let Ok(mut h) = self.inner.handlers.write() {
            h.notification = Some(Arc::new(handler));
        }
    }

    /// Reconnects and disconnects, as they happen (up to 64 unread; later ones are dropped).
    /// The receiver is handed out once.
    pub fn events(&self) -> Option<Receiver<RpcClientEvent>> {
        self.inner.events.lock().ok()?.take()
    }

    /// Closes the session: pending calls fail at once with [`CallError::Cancelled`], a close
    /// frame (1000) is written, and later calls fail with [`CallError::NotConnected`].
    /// Idempotent; returns once the close frame is written (bounded by the write timeout).
    pub fn close(&self) {
        let (done, rx) = mpsc::channel();
        if self.inner.mailbox.send(Command::Close { done }) {
            let _ = rx.recv_timeout(Duration::from_secs(15));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_keys_map_to_unauthorized_and_other_failures_keep_their_cause() {
        assert!(matches!(
            RpcConnectError::from_disconnect(RpcDisconnect::Rejected { status: 403 }, None),
            RpcConnectError::Unauthorized { status: 403 }
        ));
        assert!(matches!(
            RpcConnectError::from_disconnect(
                RpcDisconnect::Rejected { status: 404 },
                Some(TransportError::HttpStatus { status: 404 })
            ),
            RpcConnectError::Transport(TransportError::HttpStatus { status: 404 })
        ));
        assert!(matches!(
            RpcConnectError::from_disconnect(RpcDisconnect::SessionTimeout, None),
            RpcConnectError::Disconnected(RpcDisconnect::SessionTimeout)
        ));
    }

    #[test]
    fn a_zero_seed_is_replaced() {
        assert_ne!(seeded(RpcConfig::new("k")).seed, 0);
    }
}
