//! [`Protocol`]: what the I/O loops need to know of a session machine beyond the
//! [`Session`] contract: where its events other than request outcomes go, and how its first
//! disconnect reads as a connect error. Implemented for the TCM [`Connection`] and the
//! JSON-RPC [`RpcSession`].

use std::time::Instant;

use tcm_proto::jsonrpc::{CallError, RpcError, RpcEvent, RpcSession};
use tcm_proto::{Connection, DisconnectError, Event, Notification, RequestError, Routed, Session};

use super::outbox::Outbox;
use super::status::Status;
use crate::error::{ConnectError, TransportError};
use crate::event::ClientEvent;
use crate::outcome::CallOutcome;
use crate::rpc::{RpcClientEvent, RpcConnectError, worker::Job};

/// A session machine as the I/O loops drive it.
pub trait Protocol: Session<Request: Send> + Send + Sized + 'static {
    /// Where the session's events other than request outcomes go.
    type Observer: Send + 'static;
    /// Why connecting failed.
    type ConnectError: Send + 'static;

    /// The connect error for the first disconnect, before the session was ever ready; the
    /// transport failure of the last dial, if any, says more than the session's summary.
    fn connect_error(
        error: Self::Disconnect,
        transport: Option<TransportError>,
    ) -> Self::ConnectError;

    /// The failure of a stream whose reader fell more than `limit` frames behind.
    fn slow_consumer(limit: usize) -> Self::Error;

    /// How a call that failed with `error` is counted in the client's stats.
    fn outcome(error: &Self::Error) -> CallOutcome;

    /// The kind `request` is counted as in the client's stats (an index into
    /// [`KINDS`](super::KINDS)); `None` counts it only in the totals.
    fn kind(request: &Self::Request) -> Option<usize> {
        let _ = request;
        None
    }

    /// Handles an event that is not a request's outcome (`Up`, `Down` or `Other`).
    fn observe(
        observer: &mut Self::Observer,
        session: &mut Self,
        status: &Status,
        event: Routed<Self>,
    );
}

/// Where a TCM connection's notifications and connection changes go.
#[derive(Debug)]
pub struct TcmObserver {
    /// Alerts, advisories and frames that answer nothing, for `Client::notifications`.
    pub notifications: Outbox<Notification>,
    /// Connects and disconnects, for `Client::events`.
    pub events: Outbox<ClientEvent>,
}

impl Protocol for Connection {
    type Observer = TcmObserver;
    type ConnectError = ConnectError;

    fn connect_error(error: DisconnectError, transport: Option<TransportError>) -> ConnectError {
        crate::error::connect_error(error, transport)
    }

    fn slow_consumer(limit: usize) -> RequestError {
        RequestError::SlowConsumer { limit }
    }

    fn outcome(error: &RequestError) -> CallOutcome {
        CallOutcome::of_request(error)
    }

    fn kind(request: &tcm_proto::Request) -> Option<usize> {
        Some(super::load::kind_of(request))
    }

    fn observe(observer: &mut TcmObserver, _: &mut Self, status: &Status, event: Routed<Self>) {
        match event {
            Routed::Up(Event::Authenticated { uuid, capabilities }) => {
                tracing::info!(%uuid, capabilities = ?capabilities.as_slice(), "authenticated");
                status.authenticated(uuid.clone(), capabilities.clone());
                status.transport_up();
                let connected = ClientEvent::Connected { uuid, capabilities };
                observer.events.push(connected);
            }
            Routed::Down {
                error,
                reconnect_at,
            } => {
                let retry_in = reconnect_at.map(|t| t.saturating_duration_since(Instant::now()));
                status.transport_down(!matches!(error, DisconnectError::Local));
                if matches!(error, DisconnectError::Local) {
                    tracing::debug!("connection closed");
                } else if retry_in.is_none() {
                    tracing::warn!(%error, "disconnected; giving up");
                } else {
                    tracing::warn!(%error, ?retry_in, "disconnected");
                }
                observer
                    .events
                    .push(ClientEvent::Disconnected { error, retry_in });
            }
            Routed::Other(Event::Notification(n)) => {
                tracing::debug!(notification = ?n, "notification");
                observer.notifications.push(n);
            }
            _ => {}
        }
    }
}

/// Where a JSON-RPC session's server traffic and connection changes go.
#[derive(Debug)]
pub struct RpcObserver {
    /// Reconnects and disconnects, for `RpcClient::events`.
    pub events: Outbox<RpcClientEvent>,
    /// The handler worker.
    pub jobs: Outbox<Job>,
}

impl Protocol for RpcSession {
    type Observer = RpcObserver;
    type ConnectError = RpcConnectError;

    fn connect_error(
        error: tcm_proto::jsonrpc::RpcDisconnect,
        transport: Option<TransportError>,
    ) -> RpcConnectError {
        crate::rpc::rpc_connect_error(error, transport)
    }

    /// The dialect has no streams; a call is never one.
    fn slow_consumer(_: usize) -> CallError {
        CallError::Cancelled
    }

    fn outcome(error: &CallError) -> CallOutcome {
        CallOutcome::of_rpc(error)
    }

    fn observe(
        observer: &mut RpcObserver,
        session: &mut Self,
        status: &Status,
        event: Routed<Self>,
    ) {
        match event {
            Routed::Up(RpcEvent::Connected { session_id }) => {
                tracing::info!(?session_id, "RPC session ready");
                status.session_ready(session_id);
                status.transport_up();
            }
            Routed::Up(RpcEvent::Reconnected { session_id }) => {
                tracing::info!(?session_id, "RPC session ready after a reconnect");
                status.session_ready(session_id.clone());
                status.transport_up();
                observer
                    .events
                    .push(RpcClientEvent::Reconnected { session_id });
            }
            Routed::Down {
                error,
                reconnect_at,
            } => {
                let retry_in = reconnect_at.map(|t| t.saturating_duration_since(Instant::now()));
                let local = matches!(error, tcm_proto::jsonrpc::RpcDisconnect::Local);
                status.transport_down(!local);
                if local {
                    tracing::debug!("RPC session closed");
                } else {
                    tracing::warn!(%error, ?retry_in, "RPC session disconnected");
                }
                observer
                    .events
                    .push(RpcClientEvent::Disconnected { error, retry_in });
            }
            Routed::Other(RpcEvent::Request { id, method }) => {
                tracing::debug!(%id, method = method.name(), "server request");
                if !observer.jobs.push(Job::request(id.clone(), method)) {
                    let busy = RpcError::internal("the client's handlers are busy");
                    session.respond(&id, Err(busy));
                }
            }
            Routed::Other(RpcEvent::Notification { method, params }) => {
                tracing::debug!(%method, "server notification");
                observer.jobs.push(Job::notification(method, params));
            }
            Routed::Other(other) => tracing::debug!(event = ?other, "frame answering nothing"),
            _ => {}
        }
    }
}
