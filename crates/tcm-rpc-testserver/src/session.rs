//! One WebSocket session: the session frame, the connection loop (reading client frames,
//! writing queued server frames), request dispatch, and the worker that plays a plan
//! (heartbeats, script, reply) for a request or runs the connect script.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tcm_proto::jsonrpc::message::{Incoming, classify, encode_reply};
use tcm_proto::jsonrpc::{LONG_RUNNING, RpcError};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::{Message, WebSocket};

use crate::config::{SessionFrame, SessionFrameWrite};
use crate::faults::NextResponse;
use crate::log::{CallReply, ClientCall, Direction};
use crate::methods::{self, Then};
use crate::registry::{Registry, uuid4};
use crate::script::{Plan, Reply, Resolved, ScriptStep};
use crate::server::Shared;

/// A frame or action queued for the connection thread.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    Close(u16),
    Drop,
}

/// The part of a connection other threads (workers, the handle) talk to.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    tx: Sender<Outbound>,
    pending: Mutex<HashMap<String, Sender<CallReply>>>,
    alive: AtomicBool,
    last_response: Mutex<Option<String>>,
}

impl Conn {
    fn new(id: u64, tx: Sender<Outbound>) -> Self {
        Self {
            id,
            tx,
            pending: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
            last_response: Mutex::new(None),
        }
    }

    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// Queues a frame; false once the connection is gone.
    pub(crate) fn send(&self, text: String) -> bool {
        self.alive() && self.tx.send(Outbound::Text(text)).is_ok()
    }

    /// Queues a close (`Some(code)`) or an abrupt drop (`None`).
    pub(crate) fn end(&self, code: Option<u16>) -> bool {
        let action = match code {
            Some(c) => Outbound::Close(c),
            None => Outbound::Drop,
        };
        self.alive() && self.tx.send(action).is_ok()
    }

    pub(crate) fn last_response(&self) -> Option<String> {
        self.last_response.lock().ok().and_then(|g| g.clone())
    }

    fn set_last_response(&self, text: &str) {
        if let Ok(mut g) = self.last_response.lock() {
            *g = Some(text.to_string());
        }
    }

    /// Sends `text` (a request carrying `id`), waits for the client's reply and records it.
    pub(crate) fn call(
        &self,
        shared: &Shared,
        id: Value,
        method: &str,
        params: Value,
        text: String,
    ) -> CallReply {
        let key = id.to_string();
        let (tx, rx) = channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(key.clone(), tx);
        }
        let reply = if !self.alive() || !self.send(text) {
            CallReply::Disconnected
        } else {
            match rx.recv_timeout(shared.config.client_reply_timeout) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => CallReply::NoReply,
                Err(RecvTimeoutError::Disconnected) => CallReply::Disconnected,
            }
        };
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&key);
        }
        shared.recorder.call(ClientCall {
            conn: self.id,
            id,
            method: method.to_string(),
            params,
            reply: reply.clone(),
        });
        reply
    }

    /// A request with a server-chosen id (`srv-<n>`) unless `id` is given.
    pub(crate) fn call_method(
        &self,
        shared: &Shared,
        id: Option<Value>,
        method: &str,
        params: Value,
    ) -> CallReply {
        let id = id.unwrap_or_else(|| shared.next_call_id());
        let text = request_text(&id, method, &params);
        self.call(shared, id, method, params, text)
    }

    fn settle(&self, id: &Value, reply: CallReply) -> bool {
        let waiter = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&id.to_string()));
        match waiter {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    fn shut(&self) {
        self.alive.store(false, Ordering::SeqCst);
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
    }
}

/// `{"jsonrpc":"2.0","id":…,"method":…,"params":…}`.
pub(crate) fn request_text(id: &Value, method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// `{"jsonrpc":"2.0","method":…,"params":…}`.
pub(crate) fn notification_text(method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

fn heartbeat_text(id: &Value) -> String {
    notification_text("heartbeat", &json!({ "id": id }))
}

/// How a connection ends.
pub(crate) enum End {
    /// Close handshake with this code and reason.
    Close(u16, String),
    /// Close after an oversized frame: tungstenite's reader must not be used again.
    CloseUnreadable(u16, String),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// The peer is gone (or closed first).
    Gone,
}

/// Sleeps up to `d`, waking early when the connection ends; false if it ended.
fn nap(conn: &Conn, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if !conn.alive() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(5)));
    }
}

/// The session frame's text for this variant, `None` when it is omitted.
fn session_frame_text(frame: SessionFrame, session_id: &str) -> Option<String> {
    match frame {
        SessionFrame::Standard => {
            Some(json!({"jsonrpc": "2.0", "result": {"session_id": session_id}}).to_string())
        }
        SessionFrame::WithId(id) => Some(
            json!({"jsonrpc": "2.0", "id": id, "result": {"session_id": session_id}}).to_string(),
        ),
        SessionFrame::Omitted => None,
        SessionFrame::Malformed => Some(format!(
            r#"{{"jsonrpc":"2.0","result":{{"session_id":"{session_id}""#
        )),
        SessionFrame::Raw(t) => Some(t),
    }
}

/// Appends `text` as one unmasked, final server text frame.
fn encode_text_frame(text: &str, out: &mut Vec<u8>) -> bool {
    Frame::message(text.as_bytes().to_vec(), OpCode::Data(Data::Text), true)
        .format(out)
        .is_ok()
}

/// Runs a session on an upgraded, authenticated socket until it ends. `upgrade` holds the
/// upgrade's 101 response, not yet written: the session frame joins it in one write unless the
/// configuration asks for two writes or a delay.
pub(crate) fn serve(
    shared: &Arc<Shared>,
    mut ws: WebSocket<TcpStream>,
    conn_id: u64,
    mut upgrade: Vec<u8>,
) {
    let (tx, rx) = channel();
    let conn = Arc::new(Conn::new(conn_id, tx));
    let (frame, delay) = shared.session_frame();
    let session_id = uuid4();
    // The session is reachable from the handle at once: frames queued now are written after
    // the session frame, because the queue is only drained by the connection loop.
    shared.session_started(&conn, session_id.clone());
    let mut text = session_frame_text(frame, &session_id);
    let together =
        delay.is_zero() && shared.session_frame_write() == SessionFrameWrite::WithUpgrade;
    if together {
        if let Some(t) = text.take() {
            shared
                .recorder
                .frame(conn_id, Direction::ToClient, t.clone(), false);
            encode_text_frame(&t, &mut upgrade);
        }
    }
    let written = ws
        .get_mut()
        .write_all(&upgrade)
        .and_then(|()| ws.get_mut().flush());
    if written.is_err() {
        conn.shut();
        shared.session_ended(&conn);
        return;
    }
    if !nap(&conn, delay) || shared.stopping() {
        conn.shut();
        shared.session_ended(&conn);
        finish(&mut ws, End::Close(1000, String::new()));
        return;
    }
    if let Some(t) = text {
        shared
            .recorder
            .frame(conn_id, Direction::ToClient, t.clone(), false);
        if ws.send(Message::text(t)).is_err() {
            conn.shut();
            shared.session_ended(&conn);
            return;
        }
    }
    if let Some(script) = shared.connect_script() {
        let (s, c) = (Arc::clone(shared), Arc::clone(&conn));
        let _ = std::thread::Builder::new()
            .name("rpc-connect-script".into())
            .spawn(move || {
                run_script(&s, &c, &script, None);
            });
    }
    let mut session = Session {
        shared: Arc::clone(shared),
        conn: Arc::clone(&conn),
        registry: Arc::new(Mutex::new(Registry::default())),
    };
    let end = connection_loop(&mut session, &mut ws, &rx);
    conn.shut();
    shared.session_ended(&conn);
    finish(&mut ws, end);
}

struct Session {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    registry: Arc<Mutex<Registry>>,
}

fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted))
}

fn connection_loop(
    session: &mut Session,
    ws: &mut WebSocket<TcpStream>,
    rx: &Receiver<Outbound>,
) -> End {
    let _ = ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(5)));
    let shared = Arc::clone(&session.shared);
    let conn_id = session.conn.id;
    loop {
        if shared.stopping() {
            return End::Close(1000, String::new());
        }
        loop {
            match rx.try_recv() {
                Ok(Outbound::Text(t)) => {
                    shared
                        .recorder
                        .frame(conn_id, Direction::ToClient, t.clone(), false);
                    if ws.send(Message::text(t)).is_err() {
                        return End::Gone;
                    }
                }
                Ok(Outbound::Close(code)) => return End::Close(code, String::new()),
                Ok(Outbound::Drop) => return End::Drop,
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        let text = match ws.read() {
            Ok(Message::Text(t)) => {
                let t = t.as_str().to_string();
                shared
                    .recorder
                    .frame(conn_id, Direction::FromClient, t.clone(), false);
                t
            }
            Ok(Message::Binary(b)) => {
                let t = String::from_utf8_lossy(&b).into_owned();
                shared
                    .recorder
                    .frame(conn_id, Direction::FromClient, t.clone(), true);
                t
            }
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                return drain_until_closed(ws);
            }
            Ok(_) => {
                let _ = ws.flush();
                continue;
            }
            Err(e) if is_timeout(&e) => {
                let _ = ws.flush();
                continue;
            }
            Err(tungstenite::Error::Capacity(_)) => {
                return End::CloseUnreadable(1009, "Message too big".into());
            }
            Err(_) => return End::Gone,
        };
        shared.count_client_frame();
        if let Some(end) = session.on_frame(&text) {
            return end;
        }
    }
}

impl Session {
    /// Handles one client frame; `Some` ends the connection.
    fn on_frame(&mut self, text: &str) -> Option<End> {
        match classify(text) {
            Incoming::Request { id, method, params } => self.dispatch(Some(id), &method, &params),
            Incoming::Notification { method, params } => self.dispatch(None, &method, &params),
            Incoming::Response { id, outcome } => {
                let reply = match outcome {
                    Some(Ok(v)) => CallReply::Result(v),
                    Some(Err(e)) => CallReply::Error(e),
                    None => CallReply::Malformed,
                };
                self.conn.settle(&id, reply);
                None
            }
            Incoming::OrphanError(_) | Incoming::Ignored => None,
            Incoming::Invalid { id, error } => {
                self.conn.send(encode_reply(&id, &Err(error)));
                None
            }
        }
    }

    /// Serves a request (`id` present) or a notification (never answered).
    fn dispatch(&mut self, id: Option<Value>, method: &str, params: &Value) -> Option<End> {
        let next = match id {
            Some(_) => self.shared.take_next_response(),
            None => NextResponse::default(),
        };
        if next.drop {
            return Some(End::Drop);
        }
        if let Some(code) = next.close {
            return Some(End::Close(code, String::new()));
        }
        if id.is_some() {
            self.shared.count_request();
        }
        let delay = next.delay;
        let request_id = id.clone().unwrap_or(Value::Null);
        let plan = self.shared.plan_for(method);
        let handled = match self.registry.lock() {
            Ok(mut reg) => methods::handle(&mut reg, method, params),
            Err(_) => Err(RpcError::internal("the session registry is unusable")),
        };
        let (default_script, outcome, then) = match handled {
            Ok(h) => (h.script, Ok(h.result), h.then),
            Err(e) => (Vec::new(), Err(e), None),
        };
        let resolved = self.resolve(method, plan, default_script);
        let reply = resolved.reply.clone();
        let answer = move |outcome: Result<Value, RpcError>| match (&id, next.never) {
            (None, _) | (_, true) => Final::Silent,
            (Some(id), false) => final_reply(id, &reply, outcome, &next),
        };
        if resolved.immediate() && delay.is_zero() && then.is_none() {
            return self.deliver(answer(outcome));
        }
        let (shared, conn) = (Arc::clone(&self.shared), Arc::clone(&self.conn));
        let registry = Arc::clone(&self.registry);
        let stage = Stage { outcome, then };
        let spawned = std::thread::Builder::new()
            .name("rpc-worker".into())
            .spawn(move || {
                let job = Job {
                    shared: &shared,
                    conn: &conn,
                    registry: &registry,
                    request_id: &request_id,
                };
                let outcome = job.work(&resolved, stage);
                if nap(&conn, delay) {
                    job.deliver(answer(outcome));
                }
            });
        if spawned.is_err() {
            self.conn.send(encode_reply(
                &Value::Null,
                &Err(RpcError::internal("cannot start a worker")),
            ));
        }
        None
    }

    fn resolve(
        &self,
        method: &str,
        plan: Option<Plan>,
        default_script: Vec<ScriptStep>,
    ) -> Resolved {
        let long = LONG_RUNNING.contains(&method);
        let lr = self.shared.long_running();
        let plan = plan.unwrap_or_default();
        Resolved {
            work: plan
                .work
                .unwrap_or(if long { lr.work } else { Duration::ZERO }),
            heartbeat_interval: plan.heartbeat_interval.unwrap_or(if long {
                lr.heartbeat_interval
            } else {
                None
            }),
            max_heartbeats: plan.max_heartbeats.unwrap_or(lr.max_heartbeats),
            script: plan.script.unwrap_or(default_script),
            reply: plan.reply,
        }
    }

    fn deliver(&self, fin: Final) -> Option<End> {
        match fin {
            Final::Silent => None,
            Final::Texts(texts) => {
                for t in texts {
                    self.conn.set_last_response(&t);
                    self.conn.send(t);
                }
                None
            }
            Final::End(code) => Some(match code {
                Some(c) => End::Close(c, String::new()),
                None => End::Drop,
            }),
        }
    }
}

/// What ends a request: frames to send, nothing, or the end of the connection.
#[derive(Debug)]
enum Final {
    Texts(Vec<String>),
    Silent,
    End(Option<u16>),
}

fn final_reply(
    id: &Value,
    reply: &Reply,
    outcome: Result<Value, RpcError>,
    next: &NextResponse,
) -> Final {
    let outcome = match reply {
        Reply::Default => outcome,
        Reply::Result(v) => Ok(v.clone()),
        Reply::Error(e) => Err(e.clone()),
        Reply::Raw(t) => return Final::Texts(vec![t.clone()]),
        Reply::Never => return Final::Silent,
        Reply::Close(c) => return Final::End(Some(*c)),
        Reply::Drop => return Final::End(None),
    };
    let mut text = if next.empty {
        json!({"jsonrpc": "2.0", "id": id}).to_string()
    } else {
        encode_reply(id, &outcome)
    };
    if next.wrong_version {
        if let Ok(Value::Object(mut o)) = serde_json::from_str::<Value>(&text) {
            o.insert("jsonrpc".into(), "1.0".into());
            text = Value::Object(o).to_string();
        }
    }
    let n = if next.duplicate { 2 } else { 1 };
    Final::Texts(vec![text; n])
}

/// A request's outcome so far: its result (or error), or the stage that computes it from the
/// replies to the script just played.
struct Stage {
    outcome: Result<Value, RpcError>,
    then: Option<Then>,
}

/// What a worker needs to serve one request.
struct Job<'a> {
    shared: &'a Shared,
    conn: &'a Conn,
    registry: &'a Mutex<Registry>,
    request_id: &'a Value,
}

impl Job<'_> {
    /// Heartbeats while working, the script, then the method's later stages with their own
    /// scripts; returns the outcome to reply with.
    fn work(&self, plan: &Resolved, stage: Stage) -> Result<Value, RpcError> {
        self.heartbeats(plan);
        let mut replies = run_script(self.shared, self.conn, &plan.script, Some(self.request_id));
        let Stage {
            mut outcome,
            mut then,
        } = stage;
        while let Some(next) = then.take() {
            if !self.conn.alive() {
                break;
            }
            let handled = match self.registry.lock() {
                Ok(mut reg) => next.run(&mut reg, &replies),
                Err(_) => Err(RpcError::internal("the session registry is unusable")),
            };
            match handled {
                Ok(h) => {
                    replies = run_script(self.shared, self.conn, &h.script, Some(self.request_id));
                    outcome = Ok(h.result);
                    then = h.then;
                }
                Err(e) => outcome = Err(e),
            }
        }
        outcome
    }

    /// Waits out the work time, sending heartbeats as planned.
    fn heartbeats(&self, plan: &Resolved) {
        let (shared, conn, request_id) = (self.shared, self.conn, self.request_id);
        let start = Instant::now();
        let end = start + plan.work;
        // Heartbeat k is due at start + k * interval while that is before the end of the work;
        // `slot` walks the schedule, `sent` counts the ones sent (paused slots are skipped).
        let interval = plan
            .heartbeat_interval
            .filter(|iv| !iv.is_zero() && !request_id.is_null());
        let mut slot: u32 = 0;
        let mut sent: u32 = 0;
        loop {
            if !conn.alive() {
                return;
            }
            let Some(iv) = interval else {
                nap(conn, end.saturating_duration_since(Instant::now()));
                return;
            };
            let more = plan.max_heartbeats.is_none_or(|m| sent < m);
            let due = start + iv * (slot + 1);
            if more && due < end && Instant::now() >= due {
                if !shared.heartbeats_paused() {
                    conn.send(heartbeat_text(request_id));
                    sent += 1;
                }
                slot += 1;
                continue;
            }
            let now = Instant::now();
            if now >= end {
                return;
            }
            let wake = if more && due < end { due } else { end };
            std::thread::sleep(
                wake.saturating_duration_since(now)
                    .min(Duration::from_millis(5)),
            );
        }
    }

    fn deliver(&self, fin: Final) {
        match fin {
            Final::Silent => {}
            Final::Texts(texts) => {
                for t in texts {
                    self.conn.set_last_response(&t);
                    self.conn.send(t);
                }
            }
            Final::End(code) => {
                self.conn.end(code);
            }
        }
    }
}

/// Plays a script on `conn`; `request_id` is the request it precedes (for `Heartbeat`).
pub(crate) fn run_script(
    shared: &Shared,
    conn: &Conn,
    steps: &[ScriptStep],
    request_id: Option<&Value>,
) -> Vec<CallReply> {
    let mut replies = Vec::new();
    for step in steps {
        if !conn.alive() {
            break;
        }
        match step {
            ScriptStep::Call { id, method, params } => {
                replies.push(conn.call_method(shared, id.clone(), method, params.clone()));
            }
            ScriptStep::Notify { method, params } => {
                conn.send(notification_text(method, params));
            }
            ScriptStep::Heartbeat => {
                if let Some(id) = request_id {
                    conn.send(heartbeat_text(id));
                }
            }
            ScriptStep::Raw(t) => {
                conn.send(t.clone());
            }
            ScriptStep::RawCall { id, text } => {
                let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let method = parsed
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let params = parsed.get("params").cloned().unwrap_or(Value::Null);
                replies.push(conn.call(shared, id.clone(), &method, params, text.clone()));
            }
            ScriptStep::Pause(d) => {
                if !nap(conn, *d) {
                    break;
                }
            }
        }
    }
    replies
}

fn drain_until_closed(ws: &mut WebSocket<TcpStream>) -> End {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                let _ = ws.flush();
            }
            Err(_) => break,
        }
    }
    End::Gone
}

use tcm_testserver::close::close_gracefully;

/// Ends the socket as `end` says.
pub(crate) fn finish(ws: &mut WebSocket<TcpStream>, end: End) {
    match end {
        End::Close(code, reason) => close_gracefully(ws, code, &reason, false),
        End::CloseUnreadable(code, reason) => close_gracefully(ws, code, &reason, true),
        End::Drop => {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        }
        End::Gone => {}
    }
}
