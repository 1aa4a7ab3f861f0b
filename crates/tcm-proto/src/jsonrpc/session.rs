//! [`RpcSession`]: one Tellurio JSON-RPC client session, across reconnects, as a sans-IO state
//! machine with the same driving contract as [`Connection`](crate::Connection).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::message::{Incoming, RpcError, classify, encode_reply, encode_request};
use super::methods::{Call, ServerMethod};
use crate::connection::ConnectionState;
use crate::envelope::Secret;
use crate::event::{Dial, Transmit};
use crate::keepalive::{self, Keepalive, KeepaliveConfig};
use crate::outgoing::Outgoing;
use crate::retry::{ReconnectPolicy, Reconnects};
use crate::rng::Rng;
use crate::session::IdMap;
use crate::session::{DialFailure, Routed, Session, delegate_session};
use crate::timer::{DeadlineSet, earliest};

/// The methods whose deadline slides with each `heartbeat` for their id.
pub const LONG_RUNNING: [&str; 4] = [
    "run_function",
    "run_backward",
    "run_step",
    "run_optimizer_tgd",
];

/// Configuration of an [`RpcSession`].
#[derive(Clone)]
#[non_exhaustive]
pub struct RpcConfig {
    /// The Tellurio API key, sent as `Authorization: Api-Key <key>` on every (re)connect.
    pub api_key: Secret,
    /// The active run, added to every call as `params.run_uuid`; calls without one are refused.
    pub run_uuid: Option<String>,
    /// Default call deadline (Tellurio's default: 30 s).
    pub default_timeout: Duration,
    /// Methods whose deadline slides from the last heartbeat.
    pub long_running: HashSet<String>,
    /// How long to wait for the session frame after the upgrade.
    pub session_timeout: Duration,
    /// Keepalive pings; `None` disables them.
    pub keepalive: Option<KeepaliveConfig>,
    /// Reconnection after a close; `None` makes the first close final.
    pub reconnect: Option<ReconnectPolicy>,
    /// Calls pending at once.
    pub max_pending: usize,
    /// Largest incoming frame the driver should accept.
    pub max_message_bytes: usize,
    /// Seed of the request-id and jitter generator; `None` (the default) lets the driver seed
    /// it from the operating system. Fix it only for reproducible tests.
    pub seed: Option<u64>,
}

impl fmt::Debug for RpcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcConfig")
            .field("api_key", &self.api_key)
            .field("run_uuid", &self.run_uuid)
            .field("default_timeout", &self.default_timeout)
            .field("session_timeout", &self.session_timeout)
            .finish_non_exhaustive()
    }
}

impl RpcConfig {
    /// Defaults for an API key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: Secret::new(api_key),
            run_uuid: None,
            default_timeout: Duration::from_secs(30),
            long_running: LONG_RUNNING.iter().map(|s| (*s).to_owned()).collect(),
            session_timeout: Duration::from_secs(10),
            keepalive: Some(KeepaliveConfig::default()),
            reconnect: Some(ReconnectPolicy::default()),
            max_pending: 1024,
            max_message_bytes: 16 << 20,
            seed: None,
        }
    }
}

/// Identifies a call on an [`RpcSession`]; its wire id is a UUIDv4 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(u64);

/// How a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The server answered with an error object.
    #[error("{0}")]
    Rpc(RpcError),
    /// The response held neither `result` nor `error`.
    #[error("response holds neither result nor error")]
    MalformedResponse,
    /// The deadline (sliding with heartbeats for long-running methods) passed.
    #[error("call timed out")]
    Timeout,
    /// The connection ended while the call was pending.
    #[error("disconnected: {0}")]
    Disconnected(RpcDisconnect),
    /// The session was closed locally.
    #[error("call cancelled")]
    Cancelled,
    /// There is no ready session (connecting, reconnecting or closed).
    #[error("not connected")]
    NotConnected,
    /// No active run is set, so `run_uuid` cannot be sent.
    #[error("no active run is set")]
    NoActiveRun,
    /// Too many calls are pending.
    #[error("too many pending calls ({0})")]
    TooManyPending(usize),
}

/// Why a session's transport ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcDisconnect {
    /// The socket closed (`code` `None`: dropped without a close frame).
    #[error("connection closed{}", code.map(|c| format!(" with code {c}")).unwrap_or_default())]
    Closed {
        /// The close code.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// The upgrade failed (refused, TLS, HTTP status such as 403 for a bad key).
    #[error("connect failed: {0}")]
    ConnectFailed(String),
    /// The upgrade was answered with this HTTP status; 401 and 403 mean the API key was refused.
    #[error("upgrade refused with HTTP {status}")]
    Rejected {
        /// The HTTP status.
        status: u16,
    },
    /// No session frame within the configured timeout.
    #[error("no session frame in time")]
    SessionTimeout,
    /// The first frame was not a session frame.
    #[error("bad session frame: {0}")]
    BadSessionFrame(String),
    /// Keepalive detected a dead peer.
    #[error("peer did not answer a keepalive ping in time")]
    KeepaliveTimeout,
    /// Closed locally.
    #[error("closed locally")]
    Local,
}

/// What happened on an [`RpcSession`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RpcEvent {
    /// The first session is ready.
    Connected {
        /// The server's session id, if it sent one.
        session_id: Option<String>,
    },
    /// A new session is ready after a reconnect: server-side objects of the old one are gone.
    Reconnected {
        /// The new session id.
        session_id: Option<String>,
    },
    /// A call ended. Every call gets exactly one of these.
    Finished {
        /// The call.
        id: CallId,
        /// `Ok(result)` or the failure.
        outcome: Result<Value, CallError>,
    },
    /// The server asks something; answer with [`RpcSession::respond`].
    Request {
        /// The id to answer.
        id: Value,
        /// The typed call.
        method: ServerMethod,
    },
    /// A server notification (never answered). Heartbeats are consumed by the session.
    Notification {
        /// The method.
        method: String,
        /// The params.
        params: Value,
    },
    /// A frame that answers nothing: a late or unknown response, an `id:null` error.
    Stray(Incoming),
    /// The transport ended; every pending call has failed.
    Disconnected {
        /// Why.
        error: RpcDisconnect,
        /// When the next attempt starts; `None` when closed for good.
        reconnect_at: Option<Instant>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Dialing,
    AwaitingSession { deadline: Instant },
    Ready,
    Backoff { until: Instant },
    Closed,
}

#[derive(Debug)]
struct Pending {
    wire_id: String,
    deadline: Instant,
    timeout: Duration,
    sliding: bool,
}

/// One Tellurio JSON-RPC session as a sans-IO state machine.
///
/// It implements the [`Session`] contract, as the TCM [`Connection`](crate::Connection) does:
/// after every input or command drain [`poll_transmit`](Self::poll_transmit), then
/// [`poll_event`](Self::poll_event), then [`poll_dial`](Self::poll_dial) (open the socket with
/// the headers it carries, then `handle_connected` or `handle_connect_failed`), then wait until
/// [`poll_timeout`](Self::poll_timeout).
///
/// The session frame is read before anything else is dispatched, under a deadline. Calls are
/// registered before they are sent, so a fast reply is never lost. Every call ends in exactly
/// one [`RpcEvent::Finished`]; a disconnect fails them all at once. Notifications, responses and
/// `id: null` errors are never answered; unknown methods get -32601 and missing params -32602,
/// from the session itself.
#[derive(Debug)]
pub struct RpcSession {
    config: RpcConfig,
    rng: Rng,
    state: State,
    generation: u64,
    /// A dial is due: [`RpcSession::poll_dial`] hands it out once.
    dial: bool,
    pending: IdMap<CallId, Pending>,
    by_wire: HashMap<String, CallId>,
    deadlines: DeadlineSet<CallId>,
    inbound: HashSet<String>,
    keepalive: Option<Keepalive>,
    next_id: u64,
    reconnects: Reconnects,
    transmits: Outgoing<CallId>,
    events: VecDeque<RpcEvent>,
}

impl RpcSession {
    /// A new session; its first [`poll_dial`](Self::poll_dial) asks the driver to connect.
    pub fn new(config: RpcConfig) -> Self {
        Self {
            rng: Rng::new(config.seed.unwrap_or(0)),
            config,
            state: State::Dialing,
            generation: 0,
            dial: true,
            pending: IdMap::default(),
            by_wire: HashMap::new(),
            deadlines: DeadlineSet::default(),
            inbound: HashSet::new(),
            keepalive: None,
            next_id: 1,
            reconnects: Reconnects::default(),
            transmits: Outgoing::default(),
            events: VecDeque::new(),
        }
    }

    /// The headers sent with the upgrade (carried by [`Dial::Connect`]):
    /// `Authorization: Api-Key <key>`.
    pub fn handshake_headers(&self) -> Vec<(&'static str, Secret)> {
        vec![(
            "Authorization",
            Secret::new(format!("Api-Key {}", self.config.api_key.expose())),
        )]
    }

    /// The configuration.
    pub fn config(&self) -> &RpcConfig {
        &self.config
    }

    /// Sets (or clears) the active run added to every call.
    pub fn set_run_uuid(&mut self, run_uuid: Option<String>) {
        self.config.run_uuid = run_uuid;
    }

    /// The current phase: `Authenticating` while the session frame is awaited, `Open` once
    /// it arrived.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Dialing => ConnectionState::Connecting,
            State::AwaitingSession { .. } => ConnectionState::Authenticating,
            State::Ready => ConnectionState::Open,
            State::Backoff { .. } => ConnectionState::Reconnecting,
            State::Closed => ConnectionState::Closed,
        }
    }

    /// Whether a session is ready for calls.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Whether the session is closed for good.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Number of pending calls.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    // ----- inputs -------------------------------------------------------------------------

    /// The upgrade succeeded; the session frame is awaited next.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != State::Dialing {
            return;
        }
        self.generation += 1;
        self.state = State::AwaitingSession {
            deadline: now + self.config.session_timeout,
        };
        self.keepalive = self.config.keepalive.map(|k| Keepalive::new(k, now));
    }

    /// The upgrade failed. An HTTP 401 or 403 answer means the key was refused: final, never
    /// retried. Any other failure is retried under the reconnect policy.
    pub fn handle_connect_failed(&mut self, now: Instant, failure: impl Into<DialFailure>) {
        if self.state != State::Dialing {
            return;
        }
        match failure.into() {
            DialFailure::Refused { status } => {
                let refused_key = matches!(status, 401 | 403);
                self.disconnect(now, RpcDisconnect::Rejected { status }, !refused_key);
            }
            DialFailure::Failed(message) => {
                self.disconnect(now, RpcDisconnect::ConnectFailed(message), true);
            }
        }
    }

    /// A ping or pong arrived.
    pub fn handle_pong(&mut self, now: Instant) {
        if let Some(k) = &mut self.keepalive {
            k.on_receive(now);
        }
    }

    /// The socket closed (`None`: without a close frame). Every pending call fails at once.
    pub fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        if matches!(self.state, State::AwaitingSession { .. } | State::Ready) {
            let error = RpcDisconnect::Closed {
                code,
                reason: reason.to_owned(),
            };
            self.disconnect(now, error, true);
        }
    }

    /// A binary frame arrived: the dialect's servers may send JSON in binary frames, so it is
    /// read as (lossy UTF-8) text.
    pub fn handle_binary(&mut self, now: Instant, data: &[u8]) {
        self.handle_text(now, &String::from_utf8_lossy(data));
    }

    /// A text frame arrived.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        if let Some(k) = &mut self.keepalive {
            k.on_receive(now);
        }
        match self.state {
            State::AwaitingSession { .. } => self.on_session_frame(now, text),
            State::Ready => self.on_frame(now, text),
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::AwaitingSession { deadline } if now >= deadline => {
                self.transmits.push(close(1000, "no session frame"));
                self.disconnect(now, RpcDisconnect::SessionTimeout, true);
            }
            State::Backoff { until } if now >= until => {
                self.state = State::Dialing;
                self.dial = true;
            }
            _ => {}
        }
        if matches!(self.state, State::AwaitingSession { .. } | State::Ready)
            && keepalive::fire(&mut self.keepalive, now, &mut self.transmits)
        {
            self.disconnect(now, RpcDisconnect::KeepaliveTimeout, true);
        }
        while let Some(id) = self.deadlines.pop_due(now) {
            self.finish(id, Err(CallError::Timeout));
        }
    }

    // ----- commands -----------------------------------------------------------------------

    /// Sends a call; `timeout` overrides the default deadline (`Some(Duration::ZERO)` is
    /// refused as a zero deadline would be, it never means "the default"). The call is registered
    /// before its frame is queued.
    pub fn call(
        &mut self,
        now: Instant,
        call: Call,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        if self.state != State::Ready {
            return Err(CallError::NotConnected);
        }
        let Some(run_uuid) = self.config.run_uuid.clone() else {
            return Err(CallError::NoActiveRun);
        };
        if self.pending.len() >= self.config.max_pending {
            return Err(CallError::TooManyPending(self.config.max_pending));
        }
        let timeout = timeout.unwrap_or(self.config.default_timeout);
        if timeout.is_zero() {
            return Err(CallError::Timeout);
        }
        let id = CallId(self.next_id);
        self.next_id += 1;
        let wire_id = uuid4(&mut self.rng);
        let mut params = call.params;
        params.insert("run_uuid".into(), Value::String(run_uuid));
        let text = encode_request(&wire_id, &call.method, &Value::Object(params));
        let deadline = now + timeout;
        self.deadlines.insert(deadline, id);
        self.by_wire.insert(wire_id.clone(), id);
        self.pending.insert(
            id,
            Pending {
                wire_id,
                deadline,
                timeout,
                sliding: self.config.long_running.contains(&call.method),
            },
        );
        self.transmits.push_request(id, Transmit::Text(text));
        Ok(id)
    }

    /// Cancels a pending call: it finishes with [`CallError::Cancelled`], and a late response
    /// to it becomes [`RpcEvent::Stray`]. Returns `false` if it had already finished.
    pub fn cancel(&mut self, now: Instant, id: CallId) -> bool {
        // No timer outlives a cancelled call (unlike a TCM inference's slot), so `now` is only
        // part of the common contract here.
        let _ = now;
        let live = self.pending.contains_key(&id);
        self.finish(id, Err(CallError::Cancelled));
        live
    }

    /// Answers a server request from [`RpcEvent::Request`]. Returns `false` (sending nothing)
    /// if the request was already answered or belongs to a session that has ended.
    pub fn respond(&mut self, id: &Value, outcome: Result<Value, RpcError>) -> bool {
        if self.state != State::Ready || !self.inbound.remove(&id.to_string()) {
            return false;
        }
        self.transmits
            .push(Transmit::Text(encode_reply(id, &outcome)));
        true
    }

    /// Closes for good: pending calls finish with [`CallError::Cancelled`]. Idempotent.
    pub fn close(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if matches!(self.state, State::AwaitingSession { .. } | State::Ready) {
            self.transmits.push(close(1000, ""));
        }
        self.dial = false;
        // Pending calls end as cancelled (the application ended them), then the transport
        // ends for good like any other, with no reconnect scheduled from `now`.
        self.fail_all(CallError::Cancelled);
        self.disconnect(now, RpcDisconnect::Local, false);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next frame to write.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RpcEvent> {
        self.events.pop_front()
    }

    /// A socket the driver must open now, with the upgrade headers it carries.
    #[must_use]
    pub fn poll_dial(&mut self) -> Option<Dial> {
        std::mem::take(&mut self.dial).then(|| Dial::Connect {
            uuid: String::new(),
            headers: self.handshake_headers(),
        })
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let state = match self.state {
            State::AwaitingSession { deadline } => Some(deadline),
            State::Backoff { until } => Some(until),
            _ => None,
        };
        let keepalive = match self.state {
            State::AwaitingSession { .. } | State::Ready => {
                self.keepalive.as_ref().map(Keepalive::deadline)
            }
            _ => None,
        };
        earliest([state, keepalive, self.deadlines.earliest()])
    }

    // ----- internals ----------------------------------------------------------------------

    fn on_session_frame(&mut self, now: Instant, text: &str) {
        let session = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => match obj.get("result") {
                None => Ok(None),
                Some(Value::Object(r)) => Ok(r
                    .get("session_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)),
                Some(_) => Err("result is not an object".to_owned()),
            },
            Ok(_) => Err("not a JSON object".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        match session {
            Ok(session_id) => {
                self.state = State::Ready;
                self.reconnects.established(now);
                self.events.push_back(if self.generation == 1 {
                    RpcEvent::Connected { session_id }
                } else {
                    RpcEvent::Reconnected { session_id }
                });
            }
            Err(why) => {
                self.transmits.push(close(1002, "bad session frame"));
                self.disconnect(now, RpcDisconnect::BadSessionFrame(why), true);
            }
        }
    }

    fn on_frame(&mut self, now: Instant, text: &str) {
        match classify(text) {
            Incoming::Response { id, outcome } => {
                let call = id.as_str().and_then(|w| self.by_wire.get(w)).copied();
                match call {
                    Some(call) => {
                        let outcome = match outcome {
                            Some(Ok(v)) => Ok(v),
                            Some(Err(e)) => Err(CallError::Rpc(e)),
                            None => Err(CallError::MalformedResponse),
                        };
                        self.finish(call, outcome);
                    }
                    None => self
                        .events
                        .push_back(RpcEvent::Stray(Incoming::Response { id, outcome })),
                }
            }
            Incoming::Notification { method, params } => {
                if method == "heartbeat" {
                    if let Some(w) = params.get("id").and_then(Value::as_str) {
                        self.heartbeat(now, w.to_owned());
                    }
                } else {
                    self.events
                        .push_back(RpcEvent::Notification { method, params });
                }
            }
            Incoming::Request { id, method, params } => match ServerMethod::parse(&method, &params)
            {
                Ok(Some(ServerMethod::Heartbeat(h))) => {
                    self.heartbeat(now, h.id);
                    self.transmits
                        .push(Transmit::Text(encode_reply(&id, &Ok(Value::Null))));
                }
                Ok(Some(m)) => {
                    self.inbound.insert(id.to_string());
                    self.events.push_back(RpcEvent::Request { id, method: m });
                }
                Ok(None) => self.reply_error(&id, RpcError::method_not_found(&method)),
                Err(e) => self.reply_error(&id, e),
            },
            Incoming::Invalid { id, error } => self.reply_error(&id, error),
            other @ (Incoming::OrphanError(_) | Incoming::Ignored) => {
                self.events.push_back(RpcEvent::Stray(other));
            }
        }
    }

    fn reply_error(&mut self, id: &Value, error: RpcError) {
        self.transmits
            .push(Transmit::Text(encode_reply(id, &Err(error))));
    }

    /// A heartbeat for a pending long-running call slides its deadline; any other is dropped
    /// (nothing is recorded for ids that are not pending).
    fn heartbeat(&mut self, now: Instant, wire_id: String) {
        let Some(id) = self.by_wire.get(&wire_id).copied() else {
            return;
        };
        if let Some(p) = self.pending.get_mut(&id) {
            if p.sliding {
                self.deadlines.remove(p.deadline, id);
                p.deadline = p.deadline.max(now + p.timeout);
                self.deadlines.insert(p.deadline, id);
            }
        }
    }

    fn finish(&mut self, id: CallId, outcome: Result<Value, CallError>) {
        if let Some(p) = self.pending.remove(&id) {
            self.transmits.withdraw(&id);
            self.deadlines.remove(p.deadline, id);
            self.by_wire.remove(&p.wire_id);
            self.events.push_back(RpcEvent::Finished { id, outcome });
        }
    }

    fn fail_all(&mut self, error: CallError) {
        let mut ids: Vec<CallId> = self.pending.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            self.finish(id, Err(error.clone()));
        }
        self.inbound.clear();
    }

    fn disconnect(&mut self, now: Instant, error: RpcDisconnect, may_reconnect: bool) {
        self.keepalive = None;
        self.transmits.withdraw_all();
        self.fail_all(CallError::Disconnected(error.clone()));
        let policy = self.config.reconnect.filter(|_| may_reconnect);
        let reconnect_at = self.reconnects.next(policy, now, &mut self.rng);
        self.state = match reconnect_at {
            Some(until) => State::Backoff { until },
            None => State::Closed,
        };
        self.events.push_back(RpcEvent::Disconnected {
            error,
            reconnect_at,
        });
    }
}

impl Session for RpcSession {
    type Request = Call;
    type Id = CallId;
    type Response = Value;
    type Error = CallError;
    type Disconnect = RpcDisconnect;
    type Event = RpcEvent;

    delegate_session!();

    fn request(
        &mut self,
        now: Instant,
        call: Call,
        timeout: Option<Duration>,
    ) -> Result<CallId, CallError> {
        self.call(now, call, timeout)
    }

    fn max_inbound_bytes(&self) -> usize {
        self.config.max_message_bytes
    }

    fn route(event: RpcEvent) -> Routed<Self> {
        match event {
            RpcEvent::Finished { id, outcome } => Routed::Finished { id, outcome },
            RpcEvent::Disconnected {
                error,
                reconnect_at,
            } => Routed::Down {
                error,
                reconnect_at,
            },
            up @ (RpcEvent::Connected { .. } | RpcEvent::Reconnected { .. }) => Routed::Up(up),
            other => Routed::Other(other),
        }
    }
}

fn close(code: u16, reason: &str) -> Transmit {
    Transmit::Close {
        code,
        reason: reason.to_owned(),
    }
}

/// A UUIDv4 string from the seeded generator.
fn uuid4(rng: &mut Rng) -> String {
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    let hi = (hi & !0xF000) | 0x4000; // version 4
    let lo = (lo & !(0xC000 << 48)) | (0x8000 << 48); // variant 10xx
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_lowercase_uuid4() {
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            let u = uuid4(&mut rng);
            assert_eq!(u.len(), 36);
            let b = u.as_bytes();
            assert_eq!(b[14], b'4');
            assert!(matches!(b[19], b'8' | b'9' | b'a' | b'b'), "{u}");
            assert!(
                u.chars()
                    .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
        }
    }
}
