//! [`Status`]: what the I/O loop publishes about its session for the handles to read.

use std::sync::{Arc, Mutex, MutexGuard};

use tcm_proto::{Capabilities, ConnectionState};

#[derive(Debug)]
struct State {
    state: ConnectionState,
    uuid: String,
    capabilities: Option<Capabilities>,
    session_id: Option<String>,
}

/// The phase of a session and what its last transport negotiated: the uuid and capabilities of
/// a TCM connection, the session id of a JSON-RPC session. Written by the I/O loop after every
/// turn, read by the handles. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct Status {
    inner: Arc<Mutex<State>>,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                state: ConnectionState::Connecting,
                uuid: String::new(),
                capabilities: None,
                session_id: None,
            })),
        }
    }
}

impl Status {
    fn lock(&self) -> Option<MutexGuard<'_, State>> {
        self.inner.lock().ok()
    }

    /// The session's phase as last published.
    pub fn state(&self) -> ConnectionState {
        self.lock().map_or(ConnectionState::Closed, |s| s.state)
    }

    /// The uuid of the current TCM transport connection.
    pub fn uuid(&self) -> String {
        self.lock().map(|s| s.uuid.clone()).unwrap_or_default()
    }

    /// The capabilities negotiated on the current TCM transport; `None` while reconnecting.
    pub fn capabilities(&self) -> Option<Capabilities> {
        self.lock().and_then(|s| s.capabilities.clone())
    }

    /// The id of the current JSON-RPC session (`None` if the server sent none).
    pub fn session_id(&self) -> Option<String> {
        self.lock().and_then(|s| s.session_id.clone())
    }

    /// Publishes the phase; the negotiated values are forgotten once the transport is gone.
    pub(crate) fn set_state(&self, state: ConnectionState) {
        if let Some(mut s) = self.lock() {
            s.state = state;
            if state != ConnectionState::Open {
                s.capabilities = None;
            }
        }
    }

    /// A TCM transport authenticated as `uuid` with `capabilities`.
    pub(crate) fn authenticated(&self, uuid: String, capabilities: Capabilities) {
        if let Some(mut s) = self.lock() {
            s.uuid = uuid;
            s.capabilities = Some(capabilities);
            s.state = ConnectionState::Open;
        }
    }

    /// A JSON-RPC session with this id is ready.
    pub(crate) fn session_ready(&self, session_id: Option<String>) {
        if let Some(mut s) = self.lock() {
            s.session_id = session_id;
            s.state = ConnectionState::Open;
        }
    }
}
