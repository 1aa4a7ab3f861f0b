//! [`ClientStatus`]: the state of a TCM connection that its driver publishes to the handles,
//! and the driver's handling of the events that change it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tcm_proto::{Capabilities, ConnectionState, Event};

#[derive(Debug)]
struct State {
    capabilities: Option<Capabilities>,
    uuid: String,
    state: ConnectionState,
}

/// The capabilities, uuid and phase of one TCM connection, written by its driver and read by
/// its handles. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct ClientStatus {
    inner: Arc<Mutex<State>>,
}

impl ClientStatus {
    /// A connection with this uuid that is connecting.
    pub fn connecting(uuid: String) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                capabilities: None,
                uuid,
                state: ConnectionState::Connecting,
            })),
        }
    }

    /// The capabilities negotiated on the current transport; `None` while reconnecting.
    pub fn capabilities(&self) -> Option<Capabilities> {
        self.inner.lock().ok().and_then(|s| s.capabilities.clone())
    }

    /// The uuid of the current transport connection.
    pub fn uuid(&self) -> String {
        self.inner
            .lock()
            .map(|s| s.uuid.clone())
            .unwrap_or_default()
    }

    /// The connection's phase as last published by the driver.
    pub fn state(&self) -> ConnectionState {
        self.inner
            .lock()
            .map_or(ConnectionState::Closed, |s| s.state)
    }

    /// Publishes the connection's phase.
    pub fn set_state(&self, state: ConnectionState) {
        if let Ok(mut s) = self.inner.lock() {
            s.state = state;
        }
    }

    /// Applies the events that change the status (`Authenticated`, `Disconnected`), logging
    /// them; `state` is the connection's phase after the event. Every other event is returned
    /// for the driver to route to its caller.
    pub fn on_event(&self, event: Event, state: ConnectionState) -> Option<Event> {
        match event {
            Event::Authenticated { uuid, capabilities } => {
                tracing::info!(%uuid, capabilities = ?capabilities.as_slice(), "authenticated");
                if let Ok(mut s) = self.inner.lock() {
                    s.capabilities = Some(capabilities);
                    s.uuid = uuid;
                    s.state = ConnectionState::Open;
                }
                None
            }
            Event::Disconnected {
                error,
                reconnect_at,
            } => {
                let retry_in = reconnect_at.map(|t| t.saturating_duration_since(Instant::now()));
                tracing::warn!(%error, ?retry_in, "disconnected");
                if let Ok(mut s) = self.inner.lock() {
                    s.capabilities = None;
                    s.state = state;
                }
                None
            }
            other => Some(other),
        }
    }
}
