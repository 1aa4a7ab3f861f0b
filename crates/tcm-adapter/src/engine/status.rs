//! [`Status`]: what the I/O loop publishes about its session for the handles to read: its
//! phase, what it negotiated, and its counters (calls by kind and outcome, connects and
//! disconnects), read as a [`ClientStats`] snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tcm_proto::{Capabilities, ConnectionState};

use super::load::ClientStats;
use crate::outcome::{CallCounts, CallOutcome};

/// What the I/O loop counts as calls end and transports come and go. Relaxed atomics: each
/// counter is exact, a snapshot of several is not taken at one instant.
#[derive(Debug, Default)]
struct Meter {
    calls: CallCounts,
    in_flight: AtomicUsize,
    /// Total latency of the ended calls, in microseconds.
    latency_us: AtomicU64,
    connects: AtomicU64,
    reconnects: AtomicU64,
    disconnects: AtomicU64,
    /// Whether a transport is up (so that a disconnect is counted once per transport).
    up: AtomicBool,
}

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
    meter: Arc<Meter>,
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
            meter: Arc::default(),
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

    /// A snapshot of the counters.
    pub fn stats(&self) -> ClientStats {
        let m = &self.meter;
        let calls = m.calls.calls();
        ClientStats {
            calls,
            failed: m.calls.failed(),
            by_kind: m.calls.by_kind(),
            by_outcome: m.calls.by_outcome(),
            in_flight: m.in_flight.load(Ordering::Relaxed),
            mean_latency_us: m
                .latency_us
                .load(Ordering::Relaxed)
                .checked_div(calls)
                .unwrap_or(0),
            connects: m.connects.load(Ordering::Relaxed),
            reconnects: m.reconnects.load(Ordering::Relaxed),
            disconnects: m.disconnects.load(Ordering::Relaxed),
        }
    }

    /// A call was taken by the session.
    pub(crate) fn call_started(&self) {
        self.meter.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A call of `kind` (an index into [`KINDS`](super::KINDS), `None` for a kind not counted
    /// apart) ended with `outcome` after `latency`; `started` says whether
    /// [`call_started`](Self::call_started) counted it in flight.
    pub(crate) fn call_ended(
        &self,
        kind: Option<usize>,
        outcome: CallOutcome,
        latency: Duration,
        started: bool,
    ) {
        let m = &self.meter;
        if started {
            m.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        m.calls.add(kind, outcome);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        m.latency_us.fetch_add(us, Ordering::Relaxed);
    }

    /// A transport became ready for calls: the first one, or a reconnect.
    pub(crate) fn transport_up(&self) {
        let m = &self.meter;
        if m.connects.fetch_add(1, Ordering::Relaxed) > 0 {
            m.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        m.up.store(true, Ordering::Relaxed);
    }

    /// The transport ended; `lost` says it was not closed on request. Counted once per
    /// transport that was up, and only when lost.
    pub(crate) fn transport_down(&self, lost: bool) {
        if self.meter.up.swap(false, Ordering::Relaxed) && lost {
            self.meter.disconnects.fetch_add(1, Ordering::Relaxed);
        }
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
