//! Dispatching a JSON-RPC session's traffic apart from the socket: the table of calls in
//! flight, answers to server requests, and the routing of the session's events to the callers,
//! the status, the handler worker and the application.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use serde_json::Value;
use tcm_proto::jsonrpc::{Call, CallError, CallId, RpcDisconnect, RpcError, RpcEvent, RpcSession};

use crate::rpc_event::RpcClientEvent;
use crate::rpc_status::RpcStatus;
use crate::rpc_worker::Job;

/// The calls in flight on one session, each with `S`, where its outcome goes.
pub struct Calls<S> {
    pending: HashMap<CallId, S>,
}

impl<S> Default for Calls<S> {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
        }
    }
}

impl<S> Calls<S> {
    /// No call in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `call` on `session`; when the session refuses it, `reply` is handed back with the
    /// error.
    pub fn start(
        &mut self,
        session: &mut RpcSession,
        now: Instant,
        call: Call,
        timeout: Option<Duration>,
        reply: S,
    ) -> Result<(), (S, CallError)> {
        let method = call.method.clone();
        match session.call(now, call, timeout) {
            Ok(id) => {
                tracing::debug!(%method, ?id, "call sent");
                self.pending.insert(id, reply);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(%method, error = %e, "call refused");
                Err((reply, e))
            }
        }
    }
}

/// Answers the server request `id` with `outcome` (unless it was answered or the session
/// ended meanwhile).
pub fn respond(session: &mut RpcSession, id: &Value, outcome: Result<Value, RpcError>) {
    if !session.respond(id, outcome) {
        tracing::debug!(%id, "reply dropped: request already answered or session ended");
    }
}

/// What is left for the driver once [`route_event`] has handled an event.
pub enum Routed<S> {
    /// A call ended: its outcome goes to `reply`.
    Finished {
        /// Where the caller waits.
        reply: S,
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
pub fn route_event<S>(
    event: RpcEvent,
    session: &mut RpcSession,
    calls: &mut Calls<S>,
    status: &RpcStatus,
    jobs: Option<&Sender<Job>>,
) -> Routed<S> {
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
        RpcEvent::Finished { id, outcome } => match calls.pending.remove(&id) {
            Some(reply) => Routed::Finished { reply, outcome },
            None => Routed::Handled,
        },
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
