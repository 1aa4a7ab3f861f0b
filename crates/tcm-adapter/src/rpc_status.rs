//! [`RpcStatus`]: the state of a JSON-RPC session that its driver publishes to the handles.

use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct State {
    session_id: Option<String>,
    ready: bool,
    closed: bool,
}

/// The session id and readiness of one JSON-RPC client, written by its driver and read by
/// its handles. Cheap to clone; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct RpcStatus {
    inner: Arc<Mutex<State>>,
}

impl RpcStatus {
    /// A session not yet ready, with no id.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of the current session, from its session frame (`None` if the server sent none).
    pub fn session_id(&self) -> Option<String> {
        self.inner.lock().ok().and_then(|s| s.session_id.clone())
    }

    /// Whether a session is ready for calls (not reconnecting, not closed).
    pub fn is_ready(&self) -> bool {
        self.inner.lock().is_ok_and(|s| s.ready)
    }

    /// Whether the client is closed for good.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().is_ok_and(|s| s.closed)
    }

    /// Publishes the session's readiness as the driver sees it now.
    pub fn publish(&self, ready: bool, closed: bool) {
        if let Ok(mut s) = self.inner.lock() {
            s.ready = ready;
            s.closed = closed;
        }
    }

    /// A session with this id is ready.
    pub(crate) fn session_ready(&self, session_id: Option<String>) {
        if let Ok(mut s) = self.inner.lock() {
            s.session_id = session_id;
            s.ready = true;
        }
    }

    /// The session ended; `closed` when no reconnect follows.
    pub(crate) fn disconnected(&self, closed: bool) {
        if let Ok(mut s) = self.inner.lock() {
            s.ready = false;
            s.closed = closed;
        }
    }
}
