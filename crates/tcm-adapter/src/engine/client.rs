//! What every handle of a client shares ([`Shared`]), and the setting up of a client: the
//! session, its engine and command channel ([`Setup`]), handed to the I/O loop of the crate's
//! I/O model.

use std::sync::{Arc, Mutex, Weak};

use rustls::ClientConfig;
use tcm_proto::jsonrpc::{RpcConfig, RpcSession};
use tcm_proto::{AuthContext, Config, Connection, Endpoint, Notification};

use super::caller::{Caller, Wake};
use super::outbox::Outbox;
use super::{Command, Engine, Protocol, RpcObserver, Status, TcmObserver};
use crate::error::ConnectError;
use crate::event::ClientEvent;
use crate::options::ClientOptions;
use crate::rpc::{
    RpcClientEvent, RpcConnectError, RpcHandlers, RpcOptions, SharedHandlers, worker,
};

/// Unread connection events kept (TCM and JSON-RPC clients); later ones are dropped (and
/// counted in the log).
pub const EVENT_CAPACITY: usize = 64;

/// Server requests and notifications waiting for the JSON-RPC handler worker. When it is full,
/// a request is answered with -32603 at once and a notification is dropped (and counted).
pub const JOB_CAPACITY: usize = 1024;

/// Where and how the I/O loop dials.
#[derive(Debug, Clone)]
pub struct Target {
    /// The WebSocket URL.
    pub endpoint: Endpoint,
    /// The TLS configuration for `wss://`.
    pub tls: Option<Arc<ClientConfig>>,
    /// Timeouts.
    pub options: ClientOptions,
}

impl Target {
    /// The endpoint of `url` (`ws://` or `wss://`) with its TLS configuration.
    pub fn new<E>(url: &str, options: ClientOptions) -> Result<Self, E>
    where
        E: From<tcm_proto::EndpointError> + From<crate::TransportError>,
    {
        let endpoint = Endpoint::parse(url)?;
        let tls = crate::tls::for_endpoint(&endpoint, &options)?;
        Ok(Self {
            endpoint,
            tls,
            options,
        })
    }
}

/// What the I/O loop of a new client gets: the engine, the commands, where to dial.
pub struct Setup<P: Protocol> {
    /// The session and where its events go.
    pub engine: Engine<P>,
    /// The handles' commands.
    pub commands: async_channel::Receiver<Command<P>>,
    /// Where to dial.
    pub target: Target,
}

/// What every handle of one client shares; dropping the last one hangs the loop up.
pub struct Shared<P: Protocol, X> {
    /// Sends the handles' commands.
    pub caller: Arc<Caller<P>>,
    /// What the loop publishes.
    pub status: Status,
    /// Where the client dials (for probes).
    pub target: Target,
    /// What else the protocol's handles hold.
    pub extra: X,
}

impl<P: Protocol, X> Drop for Shared<P, X> {
    fn drop(&mut self) {
        let _ = self.caller.send(Command::Hangup);
    }
}

impl<P: Protocol, X> std::fmt::Debug for Shared<P, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.target.endpoint.to_string())
            .field("state", &self.status.state())
            .finish_non_exhaustive()
    }
}

/// What the connect of a client waits for: whether the first connect succeeded.
pub type Ready<P> = async_channel::Receiver<Result<(), <P as Protocol>::ConnectError>>;

/// A client whose I/O loop runs: what its handles share, and what its connect waits for.
pub type Started<P, X> = (Arc<Shared<P, X>>, Ready<P>);

/// A client set up but not yet running: the handles' shared state, what its I/O loop gets,
/// and what its connect waits for.
pub struct Parts<P: Protocol, X> {
    /// What every handle shares.
    pub shared: Arc<Shared<P, X>>,
    /// What the I/O loop gets.
    pub setup: Setup<P>,
    /// Whether the first connect succeeded, once known.
    pub ready: Ready<P>,
}

/// Assembles a client around `session`; `wake` is rung after every command (for a loop that
/// sleeps on its socket).
fn assemble<P: Protocol, X>(
    session: P,
    observer: P::Observer,
    target: Target,
    extra: X,
    wake: Option<Wake>,
) -> Parts<P, X> {
    let status = Status::default();
    let (ready_tx, ready) = async_channel::bounded(1);
    let engine = Engine::new(session, observer, status.clone(), ready_tx);
    let (tx, commands) = async_channel::unbounded();
    let shared = Arc::new(Shared {
        caller: Arc::new(Caller::new(tx, wake, target.options.max_queued_calls)),
        status,
        target: target.clone(),
        extra,
    });
    let setup = Setup {
        engine,
        commands,
        target,
    };
    Parts {
        shared,
        setup,
        ready,
    }
}

/// What a TCM client's handles hold beyond the common part.
#[derive(Debug)]
pub struct TcmExtra {
    /// The notification receiver, handed out once.
    pub notifications: Mutex<Option<async_channel::Receiver<Notification>>>,
    /// The connection-event receiver, handed out once.
    pub events: Mutex<Option<async_channel::Receiver<ClientEvent>>>,
}

/// The shared state of a TCM client.
pub type TcmShared = Shared<Connection, TcmExtra>;

/// Sets up a TCM client on `url`.
pub fn tcm(
    url: &str,
    auth: AuthContext,
    config: Config,
    options: ClientOptions,
    wake: Option<Wake>,
) -> Result<Parts<Connection, TcmExtra>, ConnectError> {
    let target = Target::new::<ConnectError>(url, options)?;
    let session = Connection::new(super::seeded(config), auth);
    let capacity = target.options.notification_capacity;
    let (notifications, rx) = Outbox::bounded(capacity, "notification");
    let (events, events_rx) = Outbox::bounded(EVENT_CAPACITY, "client event");
    let extra = TcmExtra {
        notifications: Mutex::new(rx),
        events: Mutex::new(events_rx),
    };
    let observer = TcmObserver {
        notifications,
        events,
    };
    Ok(assemble(session, observer, target, extra, wake))
}

/// What a JSON-RPC client's handles hold beyond the common part.
pub struct RpcExtra<C> {
    /// The handlers of server → client traffic, replaceable at any time.
    pub handlers: SharedHandlers<C>,
    /// Reconnect and disconnect events, handed out once.
    pub events: Mutex<Option<async_channel::Receiver<RpcClientEvent>>>,
}

/// The shared state of a JSON-RPC client whose handle type is `C`.
pub type RpcShared<C> = Shared<RpcSession, RpcExtra<C>>;

/// Sets up a JSON-RPC client on `url` and starts its handler worker, which calls handlers with
/// the handle `handle` makes from the shared state (while any handle lives).
pub fn rpc<C: Send + 'static>(
    url: &str,
    config: RpcConfig,
    options: RpcOptions,
    handlers: RpcHandlers<C>,
    wake: Option<Wake>,
    handle: fn(Arc<RpcShared<C>>) -> C,
) -> Result<Parts<RpcSession, RpcExtra<C>>, RpcConnectError> {
    let target = Target::new::<RpcConnectError>(url, options.transport)?;
    let session = RpcSession::new(super::seeded_rpc(config));
    let (events, events_rx) = Outbox::bounded(EVENT_CAPACITY, "client event");
    let (jobs, jobs_rx) = Outbox::bounded(JOB_CAPACITY, "server request or notification");
    let extra = RpcExtra {
        handlers: SharedHandlers::new(handlers),
        events: Mutex::new(events_rx),
    };
    let parts = assemble(session, RpcObserver { events, jobs }, target, extra, wake);
    let weak: Weak<RpcShared<C>> = Arc::downgrade(&parts.shared);
    let replies = Arc::clone(&parts.shared.caller);
    let no_worker = || RpcConnectError::Spawn(std::io::ErrorKind::InvalidInput.into());
    worker::spawn(
        jobs_rx.ok_or_else(no_worker)?,
        parts.shared.extra.handlers.clone(),
        move || weak.upgrade().map(handle),
        move |id, outcome| {
            let respond = move |s: &mut RpcSession, _| {
                if !s.respond(&id, outcome) {
                    tracing::debug!(%id, "reply dropped: request already answered or session ended");
                }
            };
            let _ = replies.send(Command::Apply(Box::new(respond)));
        },
        options.handler_timeout,
    )
    .map_err(RpcConnectError::Spawn)?;
    Ok(parts)
}

/// A thread a client needs could not be started.
#[derive(Debug)]
pub struct SpawnError(pub std::io::Error);

impl From<SpawnError> for ConnectError {
    fn from(e: SpawnError) -> Self {
        Self::Spawn(e.0)
    }
}

impl From<SpawnError> for RpcConnectError {
    fn from(e: SpawnError) -> Self {
        Self::Spawn(e.0)
    }
}
