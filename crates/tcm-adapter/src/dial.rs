//! Applying the outcome of a dial to a sans-IO session, the same for the TCM [`Connection`]
//! and the JSON-RPC [`RpcSession`].

use std::time::Instant;

use tcm_proto::jsonrpc::RpcSession;
use tcm_proto::{Connection, ConnectionState};

use crate::error::TransportError;

/// A session machine that asked for a dial and is told how it went.
pub trait Dialing {
    /// The socket is open; returns whether the session still wants it (it may have been closed
    /// while the dial was under way).
    fn dial_succeeded(&mut self, now: Instant) -> bool;

    /// The dial failed with `error`.
    fn dial_failed(&mut self, now: Instant, error: &TransportError);
}

impl Dialing for Connection {
    fn dial_succeeded(&mut self, now: Instant) -> bool {
        self.handle_connected(now);
        self.state() == ConnectionState::Authenticating
    }

    fn dial_failed(&mut self, now: Instant, error: &TransportError) {
        self.handle_connect_failed(now, error.to_string());
    }
}

impl Dialing for RpcSession {
    fn dial_succeeded(&mut self, now: Instant) -> bool {
        self.handle_connected(now);
        !self.is_closed()
    }

    fn dial_failed(&mut self, now: Instant, error: &TransportError) {
        match error {
            TransportError::HttpStatus { status } => self.handle_upgrade_rejected(now, *status),
            other => self.handle_connect_failed(now, other.to_string()),
        }
    }
}

/// Applies the outcome of a dial to `session`: the socket is returned for keeping unless the
/// session was closed meanwhile; a failure is logged and remembered in `last_error` for the
/// connect error.
pub fn finish_dial<S: Dialing, W>(
    session: &mut S,
    result: Result<W, TransportError>,
    last_error: &mut Option<TransportError>,
) -> Option<W> {
    let now = Instant::now();
    match result {
        Ok(ws) => {
            *last_error = None;
            session.dial_succeeded(now).then_some(ws)
        }
        Err(e) => {
            tracing::warn!(error = %e, "dial failed");
            session.dial_failed(now, &e);
            *last_error = Some(e);
            None
        }
    }
}
