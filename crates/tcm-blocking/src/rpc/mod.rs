//! [`RpcClient`]: a blocking client for the Tellurio JSON-RPC dialect, driven by a background
//! I/O thread over the sans-IO [`RpcSession`](tcm_proto::jsonrpc::RpcSession).
//!
//! The I/O thread owns the socket and the session; server requests and notifications are
//! handed to a worker thread that runs the registered handlers one at a time, in arrival
//! order, so a slow handler never stalls heartbeats, keepalive or other calls, and a handler
//! may itself call the server through the [`RpcClient`] it is given.

mod dial;
mod driver;

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::Value;
use tcm_adapter::rpc_handlers::SharedHandlers;
use tcm_adapter::rpc_status::RpcStatus;
use tcm_adapter::rpc_worker::{self, Job};
use tcm_adapter::{RpcClientEvent, RpcConnectError, RpcOptions};
use tcm_proto::Endpoint;
use tcm_proto::jsonrpc::{Call, CallError, RpcConfig, RpcError, RpcSession, ServerMethod};

use crate::wake::{Mailbox, Waker};
use driver::{Command, Driver};

/// Handlers for server → client traffic, registered before connecting so that requests sent
/// right after the session frame are served. Without a request handler every server request
/// is answered with -32601.
pub type RpcHandlers = tcm_adapter::RpcHandlers<RpcClient>;

/// A connected Tellurio JSON-RPC client. Cheap to clone; all clones share one session and its
/// I/O thread, and calls from many threads are multiplexed on it. Dropping the last handle
/// closes the session.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    mailbox: Mailbox<Command>,
    status: RpcStatus,
    handlers: SharedHandlers<RpcClient>,
    events: Mutex<Option<Receiver<RpcClientEvent>>>,
    endpoint: Endpoint,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.mailbox.send(Command::Hangup);
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
        let tls = tcm_adapter::tls::for_endpoint(&endpoint, &options.transport)?;
        let session = RpcSession::new(tcm_adapter::seed::seeded_rpc(config));
        let status = RpcStatus::new();
        let (tx, rx) = mpsc::channel();
        let mailbox = Mailbox::new(tx, Arc::new(Waker::new()));
        let (events_tx, events_rx) = mpsc::sync_channel(EVENT_CAPACITY);
        let inner = Arc::new(Inner {
            mailbox: mailbox.clone(),
            status: status.clone(),
            handlers: SharedHandlers::new(handlers),
            events: Mutex::new(Some(events_rx)),
            endpoint: endpoint.clone(),
        });
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        let replies = mailbox.clone();
        rpc_worker::spawn(
            jobs_rx,
            inner.handlers.clone(),
            move || weak.upgrade().map(|inner| RpcClient { inner }),
            move |id, outcome| {
                let _ = replies.send(Command::Respond { id, outcome });
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
        let command = Command::Call {
            call,
            timeout,
            reply,
        };
        if self.inner.mailbox.send(command).is_err() {
            return Err(CallError::NotConnected);
        }
        rx.recv().unwrap_or(Err(CallError::NotConnected))
    }

    /// Sets (or clears) the active run whose uuid is added to every call.
    pub fn set_run_uuid(&self, run_uuid: Option<String>) {
        let _ = self.inner.mailbox.send(Command::SetRunUuid(run_uuid));
    }

    /// Replaces the server-request handler (see [`RpcHandlers::on_request`]).
    pub fn on_request<F>(&self, handler: F)
    where
        F: Fn(&RpcClient, ServerMethod) -> Result<Value, RpcError> + Send + Sync + 'static,
    {
        self.inner.handlers.set_request(handler);
    }

    /// Replaces the notification handler (see [`RpcHandlers::on_notification`]).
    pub fn on_notification<F>(&self, handler: F)
    where
        F: Fn(&RpcClient, &str, &Value) + Send + Sync + 'static,
    {
        self.inner.handlers.set_notification(handler);
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
        if self.inner.mailbox.send(Command::Close { done }).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(15));
        }
    }
}
