//! [`Connection`]: one logical TCM client session as a poll-driven state machine.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::capability::Capabilities;
use crate::config::Config;
use crate::correlate::{Correlator, Lane, Route, tag};
use crate::envelope::{AuthContext, Request, Secret, encode_auth, encode_request};
use crate::error::{DisconnectError, ErrorCode, RequestError};
use crate::event::{Dial, Event, Notification, RequestId, Response, Transmit};
use crate::frame::{DecodeError, ErrorFrame, ServerFrame};
use crate::keepalive::{self, Keepalive};
use crate::outgoing::Outgoing;
use crate::retry::Reconnects;
use crate::rng::Rng;
use crate::session::{DialFailure, Routed, Session, delegate_session};
use crate::timer::earliest;

/// The phase of a session machine ([`Connection`] or
/// [`RpcSession`](crate::jsonrpc::RpcSession)), for drivers and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// A dial (or `/ready` probe) is pending or under way.
    Connecting,
    /// The transport is open; waiting for `auth.ok` (TCM) or the session frame (JSON-RPC).
    Authenticating,
    /// Authenticated; requests flow.
    Open,
    /// Waiting out the backoff before the next attempt.
    Reconnecting,
    /// Closed for good.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Dial::Connect` issued (or about to be); waiting for the driver.
    Dialing,
    /// `Dial::ProbeReady` issued; waiting for `handle_ready`.
    Probing,
    Authenticating {
        deadline: Instant,
    },
    Open,
    Backoff {
        until: Instant,
        probe: bool,
    },
    Closed,
}

/// One logical TCM client session, across reconnects, as a sans-IO state machine.
///
/// The `Connection` holds all protocol logic: the auth handshake and capability negotiation,
/// correlation of replies to requests, deadlines, retries, keepalive and reconnection. It does
/// no I/O and reads no clock: the driver feeds it what happened on the socket with the current
/// time, and carries out what it asks for.
///
/// # Calling contract
///
/// Inputs (call with the current time):
/// - [`handle_connected`](Self::handle_connected) / [`handle_connect_failed`](Self::handle_connect_failed)
///   after carrying out a [`Dial::Connect`]; [`handle_ready`](Self::handle_ready) after a
///   [`Dial::ProbeReady`];
/// - [`handle_text`](Self::handle_text) for each text frame received (or
///   [`handle_frame`](Self::handle_frame) with a frame decoded elsewhere),
///   [`handle_pong`](Self::handle_pong) for each ping or pong received;
/// - [`handle_closed`](Self::handle_closed) when the socket closed or failed (with the close code
///   when a close frame arrived, `None` otherwise);
/// - [`handle_timeout`](Self::handle_timeout) once the instant from
///   [`poll_timeout`](Self::poll_timeout) has passed.
///
/// Commands: [`request`](Self::request), [`cancel`](Self::cancel), [`close`](Self::close).
///
/// Outputs, to drain after **every** input or command, in this order:
/// 1. [`poll_transmit`](Self::poll_transmit) until `None`: write each frame to the socket. After a
///    [`Transmit::Close`], send the close frame, drop the socket, and report nothing more about it.
/// 2. [`poll_event`](Self::poll_event) until `None`: hand each event to the application.
/// 3. [`poll_dial`](Self::poll_dial): if `Some`, open a new socket (or probe `/ready`) and report
///    the result.
/// 4. [`poll_timeout`](Self::poll_timeout): sleep (or read with a timeout) until that instant.
///
/// A driver loop therefore looks like:
///
/// ```text
/// loop {
///     while let Some(t) = conn.poll_transmit() { socket.send(t) }
///     while let Some(e) = conn.poll_event()    { app.deliver(e) }
///     if let Some(d) = conn.poll_dial()        { dial(d) -> conn.handle_connected(now) / ... }
///     match read_until(conn.poll_timeout()) {
///         Text(s)       => conn.handle_text(now, &s),
///         Ping | Pong   => conn.handle_pong(now),
///         Closed(c, r)  => conn.handle_closed(now, c, &r),
///         TimedOut      => conn.handle_timeout(now),
///     }
/// }
/// ```
///
/// # Guarantees
///
/// Every request accepted by [`request`](Self::request) ends in exactly one
/// [`Event::Finished`]: a response, a typed failure, a timeout, a cancellation or a disconnect
/// error. No frame is ever given to a request it does not answer: frames that match nothing
/// become [`Event::Notification`]s. Memory is bounded by the configured queue limits.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    auth: AuthContext,
    rng: Rng,
    nonce: u32,
    generation: u64,
    uuid: String,
    state: State,
    capabilities: Option<Capabilities>,
    keepalive: Option<Keepalive>,
    correlator: Correlator,
    next_id: u64,
    transmits: Outgoing<RequestId>,
    events: VecDeque<Event>,
    dial: Option<Dial>,
    reconnects: Reconnects,
    shutdown_seen: bool,
    /// The text of the last error frame and when it came: it explains a close that follows it
    /// at once (nothing in between, within [`EXPLAINS_A_CLOSE`]), never a later one.
    last_error: Option<(String, Instant)>,
    /// The frame [`request`](Self::request) just encoded (to check its size), kept for the
    /// `pump` it triggers so a request sent at once is encoded only once.
    fresh: Option<(RequestId, String)>,
}

impl Connection {
    /// A new connection; its first [`poll_dial`](Self::poll_dial) asks the driver to connect.
    pub fn new(config: Config, auth: AuthContext) -> Self {
        let mut rng = Rng::new(config.seed.unwrap_or(0));
        let nonce = rng.next_u64() as u32;
        let mut conn = Self {
            uuid: String::new(),
            config,
            auth,
            rng,
            nonce,
            generation: 0,
            state: State::Dialing,
            capabilities: None,
            keepalive: None,
            correlator: Correlator::new(),
            next_id: 1,
            transmits: Outgoing::default(),
            events: VecDeque::new(),
            dial: None,
            reconnects: Reconnects::default(),
            shutdown_seen: false,
            last_error: None,
            fresh: None,
        };
        conn.start_dial();
        conn
    }

    /// The uuid of the current (or next) transport connection.
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The negotiated capabilities while authenticated.
    pub fn capabilities(&self) -> Option<&Capabilities> {
        self.capabilities.as_ref()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current phase.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Dialing | State::Probing => ConnectionState::Connecting,
            State::Authenticating { .. } => ConnectionState::Authenticating,
            State::Open => ConnectionState::Open,
            State::Backoff { .. } => ConnectionState::Reconnecting,
            State::Closed => ConnectionState::Closed,
        }
    }

    /// Number of live requests (queued, in flight or waiting for a retry).
    pub fn pending(&self) -> usize {
        self.correlator.len()
    }

    fn derive_uuid(&self) -> String {
        if self.generation == 1 && self.config.exact_first_uuid {
            self.config.uuid.clone()
        } else {
            format!(
                "{}-{:08x}-{}",
                self.config.uuid, self.nonce, self.generation
            )
        }
    }

    fn start_dial(&mut self) {
        self.generation += 1;
        self.uuid = self.derive_uuid();
        self.state = State::Dialing;
        self.dial = Some(Dial::Connect {
            uuid: self.uuid.clone(),
            headers: Vec::new(),
        });
    }

    // ----- inputs -------------------------------------------------------------------------

    /// The transport asked for by [`Dial::Connect`] is open: the auth frame is queued first.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != State::Dialing {
            return;
        }
        self.last_error = None;
        self.shutdown_seen = false;
        match encode_auth(&self.uuid, &self.auth, &self.config.capabilities) {
            Ok(text) => self.transmits.push(Transmit::Secret(Secret::new(text))),
            Err(e) => {
                self.transmits.push(close_frame(1000, "encode failure"));
                self.disconnect(now, DisconnectError::ConnectFailed { message: e }, false);
                return;
            }
        }
        self.state = State::Authenticating {
            deadline: now + self.config.auth_timeout,
        };
        self.keepalive = self.config.keepalive.map(|k| Keepalive::new(k, now));
    }

    /// The transport asked for by [`Dial::Connect`] could not be opened. Every failure,
    /// an HTTP status at the upgrade included, is retried under the reconnect policy: TCM
    /// authenticates in its first frame, not at the upgrade.
    pub fn handle_connect_failed(&mut self, now: Instant, failure: impl Into<DialFailure>) {
        if self.state != State::Dialing {
            return;
        }
        let error = DisconnectError::ConnectFailed {
            message: failure.into().to_string(),
        };
        self.disconnect(now, error, true);
    }

    /// The answer to [`Dial::ProbeReady`]: whether `GET /ready` returned 200.
    pub fn handle_ready(&mut self, now: Instant, ready: bool) {
        if self.state != State::Probing {
            return;
        }
        if ready {
            self.start_dial();
        } else {
            self.schedule_reconnect(now, true);
        }
    }

    /// A ping or pong arrived: the peer is alive.
    pub fn handle_pong(&mut self, now: Instant) {
        if let Some(k) = &mut self.keepalive {
            k.on_receive(now);
        }
    }

    /// A text frame arrived.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        if !matches!(self.state, State::Authenticating { .. } | State::Open) {
            return;
        }
        match ServerFrame::decode(text) {
            Ok(frame) => self.handle_frame(now, frame),
            Err(e) => {
                if let Some(k) = &mut self.keepalive {
                    k.on_receive(now);
                }
                self.notify(Notification::Undecodable(e));
            }
        }
    }

    /// A binary frame arrived: the protocol has text frames only, so it is reported as
    /// [`Notification::Undecodable`] and otherwise ignored.
    pub fn handle_binary(&mut self, now: Instant, data: &[u8]) {
        if !matches!(self.state, State::Authenticating { .. } | State::Open) {
            return;
        }
        if let Some(k) = &mut self.keepalive {
            k.on_receive(now);
        }
        self.notify(Notification::Undecodable(DecodeError::Binary(data.len())));
    }

    /// An already-decoded frame arrived (for drivers that decode off the state machine's
    /// thread); [`handle_text`](Self::handle_text) is `decode` followed by this.
    pub fn handle_frame(&mut self, now: Instant, frame: ServerFrame) {
        if !matches!(self.state, State::Authenticating { .. } | State::Open) {
            return;
        }
        if let Some(k) = &mut self.keepalive {
            k.on_receive(now);
        }
        if !matches!(frame, ServerFrame::Error(_)) {
            // Whatever error came before, this frame came after it: it explains no close.
            self.last_error = None;
        }
        match frame {
            ServerFrame::AuthOk { capability } => self.on_auth_ok(now, capability),
            ServerFrame::Error(e) => self.on_error(now, e),
            other => self.route(now, other),
        }
    }

    fn on_error(&mut self, now: Instant, e: ErrorFrame) {
        match (&e.code, &e.dropped_type) {
            (Some(ErrorCode::SystemShutdown), None) => {
                // Terminal for everything pending (TCM §19.8): leave now, reconnect once ready.
                self.shutdown_seen = true;
                let message = e.message.clone();
                self.transmits
                    .push(close_frame(1000, "server shutting down"));
                self.notify(Notification::ServerError(e));
                self.disconnect(now, DisconnectError::Shutdown { message }, true);
                return;
            }
            (Some(ErrorCode::BackpressureTenantLimitReached), _) => {
                // The server closes with 1008 next; the close carries this text.
                self.last_error = Some((e.message.clone(), now));
                self.notify(Notification::ServerError(e));
                return;
            }
            (Some(ErrorCode::SystemShutdown), Some(_)) => self.shutdown_seen = true,
            (None, _) => {
                self.last_error = Some((e.message.clone(), now));
                if matches!(self.state, State::Authenticating { .. }) {
                    // Before auth.ok every untagged error is an auth failure; the close follows.
                    self.notify(Notification::ServerError(e));
                    return;
                }
            }
            _ => {}
        }
        self.route(now, ServerFrame::Error(e));
    }

    /// The socket closed: a close frame with `code` arrived, or (`None`) the transport failed.
    /// Every pending request fails at once.
    pub fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        self.last_error = self
            .last_error
            .take()
            .filter(|(_, at)| now.saturating_duration_since(*at) <= EXPLAINS_A_CLOSE);
        match self.state {
            State::Authenticating { .. } => {
                if let Some((message, _)) = self.last_error.take() {
                    self.disconnect(now, DisconnectError::AuthFailed { message }, false);
                } else {
                    let error = DisconnectError::Closed {
                        code,
                        reason: reason.to_owned(),
                        last_error: None,
                    };
                    self.disconnect(now, error, true);
                }
            }
            State::Open => {
                let error = if self.shutdown_seen || code == Some(1012) {
                    self.shutdown_seen = true;
                    DisconnectError::Shutdown {
                        message: self
                            .last_error
                            .take()
                            .map_or_else(|| reason.to_owned(), |(text, _)| text),
                    }
                } else {
                    DisconnectError::Closed {
                        code,
                        reason: reason.to_owned(),
                        last_error: self.last_error.take().map(|(text, _)| text),
                    }
                };
                self.disconnect(now, error, true);
            }
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Authenticating { deadline } if now >= deadline => {
                self.transmits.push(close_frame(1000, "auth timeout"));
                self.disconnect(now, DisconnectError::AuthTimeout, true);
            }
            State::Backoff { until, probe } if now >= until => {
                if probe {
                    self.state = State::Probing;
                    self.dial = Some(Dial::ProbeReady);
                } else {
                    self.start_dial();
                }
            }
            _ => {}
        }
        if matches!(self.state, State::Authenticating { .. } | State::Open)
            && keepalive::fire(&mut self.keepalive, now, &mut self.transmits)
        {
            self.disconnect(now, DisconnectError::KeepaliveTimeout, true);
        }
        while let Some(id) = self.correlator.pop_expired(now) {
            self.abandon(id, now, RequestError::Timeout);
        }
        self.correlator.requeue_due(now);
        if self.state == State::Open && self.config.reconnect.is_some() {
            if let Some(since) = self.correlator.orphan_blocking() {
                if now >= since + self.config.orphan_grace {
                    self.recycle(now);
                    return;
                }
            }
        }
        self.pump();
    }

    // ----- commands -----------------------------------------------------------------------

    /// Accepts a request. `timeout` overrides the configured default deadline for its kind.
    ///
    /// Fails at once, sending nothing, when the connection is closed for good, when the request
    /// needs a capability that is not (or cannot be) negotiated, when its frame is larger than
    /// `max_message_bytes`, or when its kind's local queue is full.
    pub fn request(
        &mut self,
        now: Instant,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<RequestId, RequestError> {
        if self.state == State::Closed {
            return Err(RequestError::Closed);
        }
        if !self.config.wait_for_reconnect && self.state != State::Open {
            return Err(RequestError::NotConnected);
        }
        if let Request::Inference(r) = &request {
            if r.uses_shm() {
                let requested = self.config.capabilities.iter().any(|c| c == "shm");
                let negotiated = self.capabilities.as_ref().is_none_or(Capabilities::shm);
                if !requested || !negotiated {
                    return Err(RequestError::CapabilityMissing("shm".to_owned()));
                }
            }
        }
        let lane = Lane::of(&request);
        if self.correlator.queued(lane) >= self.config.max_queued {
            return Err(RequestError::QueueFull {
                limit: self.config.max_queued,
            });
        }
        let id = RequestId(self.next_id);
        let text =
            encode_request(&self.uuid, &tag(lane, id), &request).map_err(RequestError::Encode)?;
        let size = text.len();
        // A request sent later, after a reconnect, carries a new uuid: `pump` checks the size of
        // every frame it sends again.
        if size > self.config.max_message_bytes {
            return Err(RequestError::TooLarge {
                size,
                limit: self.config.max_message_bytes,
            });
        }
        self.next_id += 1;
        let timeout = timeout.unwrap_or_else(|| self.config.timeouts.of(&request));
        self.correlator.insert(id, request, now + timeout);
        self.fresh = Some((id, text));
        self.pump();
        // Not sent at once: it waits in its queue and is encoded again when its turn comes
        // (the uuid may change by then), so no encoded copy is held while it waits.
        self.fresh = None;
        Ok(id)
    }

    /// Cancels a request: it finishes with [`RequestError::Cancelled`]. Returns `false` if it had
    /// already finished. A late reply to it becomes a notification.
    pub fn cancel(&mut self, now: Instant, id: RequestId) -> bool {
        let live = self.correlator.get(id).is_some();
        if live {
            self.abandon(id, now, RequestError::Cancelled);
            self.pump();
        }
        live
    }

    /// Closes the connection for good: every pending request fails with a local disconnect.
    pub fn close(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if matches!(self.state, State::Authenticating { .. } | State::Open) {
            self.transmits.push(close_frame(1000, ""));
        }
        self.dial = None;
        self.disconnect(now, DisconnectError::Local, false);
    }

    // ----- outputs ------------------------------------------------------------------------

    /// The next frame to write to the socket.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A transport the driver must open (or a readiness probe it must make).
    #[must_use]
    pub fn poll_dial(&mut self) -> Option<Dial> {
        self.dial.take()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let (auth, backoff) = match self.state {
            State::Authenticating { deadline } => (Some(deadline), None),
            State::Backoff { until, .. } => (None, Some(until)),
            _ => (None, None),
        };
        let keepalive = match self.state {
            State::Authenticating { .. } | State::Open => {
                self.keepalive.as_ref().map(Keepalive::deadline)
            }
            _ => None,
        };
        let orphan = match self.state {
            State::Open if self.config.reconnect.is_some() => self
                .correlator
                .orphan_blocking()
                .map(|t| t + self.config.orphan_grace),
            _ => None,
        };
        earliest([
            auth,
            backoff,
            keepalive,
            orphan,
            self.correlator.earliest_deadline(),
            self.correlator.earliest_retry(),
        ])
    }

    // ----- internals ----------------------------------------------------------------------

    fn notify(&mut self, n: Notification) {
        self.events.push_back(Event::Notification(n));
    }

    fn finish(
        &mut self,
        id: RequestId,
        outcome: Result<Response, RequestError>,
        orphan: Option<Instant>,
    ) {
        // A request whose frame was never written holds no slot on the server.
        let orphan = orphan.filter(|_| !self.transmits.withdraw(&id));
        if self.correlator.remove(id, orphan).is_some() {
            self.events.push_back(Event::Finished { id, outcome });
        }
    }

    /// Ends a request locally (timeout or cancel). An in-flight inference orphans its slot.
    fn abandon(&mut self, id: RequestId, now: Instant, error: RequestError) {
        self.finish(id, Err(error), Some(now));
    }

    fn on_auth_ok(&mut self, now: Instant, capability: Option<Vec<String>>) {
        if !matches!(self.state, State::Authenticating { .. }) {
            // A second auth.ok answers nothing.
            self.notify(Notification::Unmatched(ServerFrame::AuthOk { capability }));
            return;
        }
        let caps = Capabilities::from_auth_ok(capability);
        self.state = State::Open;
        self.reconnects.established(now);
        self.capabilities = Some(caps.clone());
        self.events.push_back(Event::Authenticated {
            uuid: self.uuid.clone(),
            capabilities: caps,
        });
        self.pump();
    }

    fn route(&mut self, now: Instant, frame: ServerFrame) {
        match self.correlator.route(frame, &self.uuid) {
            Route::Response(id, response) => self.finish(id, Ok(response), None),
            Route::Failure(ids, error) => {
                for id in ids {
                    self.fail_or_retry(now, id, error.clone());
                }
            }
            Route::Stream(id, frame) => self.events.push_back(Event::Stream { id, frame }),
            Route::Notify(n) => self.notify(n),
        }
        self.pump();
    }

    fn fail_or_retry(&mut self, now: Instant, id: RequestId, error: RequestError) {
        let Some(entry) = self.correlator.get(id) else {
            return;
        };
        let idempotent = entry.request.is_idempotent();
        let streamed = self.correlator.is_stream(id);
        let delay = if streamed {
            // A stream that already delivered chunks cannot be replayed transparently.
            None
        } else {
            self.config
                .retry
                .next_delay(entry.attempts, idempotent, &error, &mut self.rng)
        };
        match delay {
            Some(d) if now + d < entry.deadline => self.correlator.schedule_retry(id, now + d),
            _ => self.finish(id, Err(error), None),
        }
    }

    /// Sends every request that may go now.
    fn pump(&mut self) {
        if self.state != State::Open {
            return;
        }
        while let Some(id) = self
            .correlator
            .next_sendable(self.config.max_info_in_flight)
        {
            let Some(entry) = self.correlator.get(id) else {
                continue;
            };
            if let Request::Inference(r) = &entry.request {
                if r.uses_shm() && !self.capabilities.as_ref().is_some_and(Capabilities::shm) {
                    let error = RequestError::CapabilityMissing("shm".to_owned());
                    self.finish(id, Err(error), None);
                    continue;
                }
            }
            let encoded = match self.fresh.take() {
                Some((fresh, text)) if fresh == id => Ok(text),
                other => {
                    self.fresh = other;
                    encode_request(&self.uuid, &tag(entry.lane, id), &entry.request)
                }
            };
            match encoded {
                Ok(text) if text.len() <= self.config.max_message_bytes => {
                    self.transmits.push_request(id, Transmit::Text(text));
                }
                Ok(text) => {
                    let error = RequestError::TooLarge {
                        size: text.len(),
                        limit: self.config.max_message_bytes,
                    };
                    self.finish(id, Err(error), None);
                }
                Err(e) => self.finish(id, Err(RequestError::Encode(e)), None),
            }
        }
    }

    /// The transport is gone: fail everything, then back off or close for good.
    fn disconnect(&mut self, now: Instant, error: DisconnectError, may_reconnect: bool) {
        self.keepalive = None;
        self.transmits.withdraw_all();
        self.capabilities = None;
        for id in self.correlator.drain() {
            self.events.push_back(Event::Finished {
                id,
                outcome: Err(RequestError::Disconnected(error.clone())),
            });
        }
        let reconnect_at = if may_reconnect {
            self.schedule_reconnect(now, self.shutdown_seen)
        } else {
            self.state = State::Closed;
            None
        };
        self.events.push_back(Event::Disconnected {
            error,
            reconnect_at,
        });
    }

    /// Arms the reconnect backoff, or closes for good when the policy is spent.
    fn schedule_reconnect(&mut self, now: Instant, probe: bool) -> Option<Instant> {
        let next = self
            .reconnects
            .next(self.config.reconnect, now, &mut self.rng);
        self.state = match next {
            Some(until) => State::Backoff { until, probe },
            None => State::Closed,
        };
        next
    }

    /// Replaces the transport because an abandoned inference holds the only slot. The new
    /// connection gets a new uuid, so the late reply can never reach it. Requests in flight fail
    /// (their replies would go to the old uuid); requests never sent wait for the new transport.
    fn recycle(&mut self, now: Instant) {
        self.transmits.push(close_frame(1000, "recycle"));
        self.transmits.withdraw_all();
        self.keepalive = None;
        self.capabilities = None;
        for id in self.correlator.drain_in_flight() {
            self.events.push_back(Event::Finished {
                id,
                outcome: Err(RequestError::Disconnected(DisconnectError::Recycled)),
            });
        }
        self.events.push_back(Event::Disconnected {
            error: DisconnectError::Recycled,
            reconnect_at: Some(now),
        });
        self.start_dial();
    }
}

impl Session for Connection {
    type Request = Request;
    type Id = RequestId;
    type Response = Response;
    type Error = RequestError;
    type Disconnect = DisconnectError;
    type Event = Event;

    delegate_session!();

    fn handle_ready(&mut self, now: Instant, ready: bool) {
        Self::handle_ready(self, now, ready);
    }

    fn request(
        &mut self,
        now: Instant,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<RequestId, RequestError> {
        Self::request(self, now, request, timeout)
    }

    fn max_inbound_bytes(&self) -> usize {
        self.config.max_inbound_bytes
    }

    fn route(event: Event) -> Routed<Self> {
        match event {
            Event::Finished { id, outcome } => Routed::Finished { id, outcome },
            Event::Stream { id, frame } => Routed::Stream { id, frame },
            Event::Disconnected {
                error,
                reconnect_at,
            } => Routed::Down {
                error,
                reconnect_at,
            },
            up @ Event::Authenticated { .. } => Routed::Up(up),
            other => Routed::Other(other),
        }
    }
}

/// How soon after an error frame a close must come for the error to explain it.
const EXPLAINS_A_CLOSE: Duration = Duration::from_secs(1);

fn close_frame(code: u16, reason: &str) -> Transmit {
    Transmit::Close {
        code,
        reason: reason.to_owned(),
    }
}
