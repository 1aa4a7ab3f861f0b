//! The parts of a JSON-RPC driver that do not touch the socket: routing the session's events
//! to the status, the handler worker and the application, and applying dial outcomes.

use std::sync::mpsc::Sender;
use std::time::Instant;

use serde_json::Value;
use tcm_proto::jsonrpc::{CallError, CallId, RpcDisconnect, RpcError, RpcEvent, RpcSession};

use crate::error::TransportError;
use crate::rpc_event::RpcClientEvent;
use crate::rpc_status::RpcStatus;
use crate::rpc_worker::Job;

/// What is left for the driver once [`route_event`] has handled an event.
pub enum Routed {
    /// A call ended: its outcome goes to the caller waiting on `id`.
    Finished {
        /// The call.
        id: CallId,
        /// `Ok(result)` or the failure.
        outcome: Result<Value, CallError>,
    },
    /// The application should hear of this change of the connection.
    Emit(RpcClientEvent),
    /// Nothing.
    Handled,
}

/// Handles one session event: updates `status`, hands server requests and notifications to
/// the worker (answering a request with -32603 when there is none), and logs. Returns what
/// only the driver can do: deliver a call's outcome or emit an event.
pub fn route_event(
    event: RpcEvent,
    session: &mut RpcSession,
    status: &RpcStatus,
    jobs: Option<&Sender<Job>>,
) -> Routed {
    match event {
        RpcEvent::Connected { session_id } => {
            tracing::info!(?session_id, "RPC session ready");
            status.session_ready(session_id);
            Routed::Handled
        }
        RpcEvent::Reconnected { session_id } => {
            tracing::info!(?session_id, "RPC session ready after a reconnect");
            status.session_ready(session_id.clone());
            Routed::Emit(RpcClientEvent::Reconnected { session_id })
        }
        RpcEvent::Finished { id, outcome } => Routed::Finished { id, outcome },
        RpcEvent::Request { id, method } => {
            tracing::debug!(%id, method = method.name(), "server request");
            let job = Job::request(id.clone(), method);
            if jobs.is_none_or(|j| j.send(job).is_err()) {
                session.respond(&id, Err(RpcError::internal("no handler worker")));
            }
            Routed::Handled
        }
        RpcEvent::Notification { method, params } => {
            tracing::debug!(%method, "server notification");
            if let Some(j) = jobs {
                let _ = j.send(Job::notification(method, params));
            }
            Routed::Handled
        }
        RpcEvent::Stray(_) => {
            tracing::debug!("frame answering nothing dropped");
            Routed::Handled
        }
        RpcEvent::Disconnected {
            error,
            reconnect_at,
        } => {
            let retry_in = reconnect_at.map(|t| t.saturating_duration_since(Instant::now()));
            if matches!(error, RpcDisconnect::Local) {
                tracing::debug!("RPC session closed");
            } else {
                tracing::warn!(%error, ?retry_in, "RPC session disconnected");
            }
            status.disconnected(retry_in.is_none());
            Routed::Emit(RpcClientEvent::Disconnected { error, retry_in })
        }
    }
}

/// Applies the outcome of a dial to the session: a socket is returned for keeping unless the
/// session was closed meanwhile; a failure is remembered in `last_error` for the connect error.
pub fn finish_dial<W>(
    session: &mut RpcSession,
    result: Result<W, TransportError>,
    last_error: &mut Option<TransportError>,
) -> Option<W> {
    let now = Instant::now();
    match result {
        Ok(ws) => {
            *last_error = None;
            session.handle_connected(now);
            // The session may have been closed while the dial was under way.
            (!session.is_closed()).then_some(ws)
        }
        Err(e) => {
            tracing::warn!(error = %e, "dial failed");
            match &e {
                TransportError::HttpStatus { status } => {
                    session.handle_upgrade_rejected(now, *status);
                }
                other => session.handle_connect_failed(now, other.to_string()),
            }
            *last_error = Some(e);
            None
        }
    }
}
