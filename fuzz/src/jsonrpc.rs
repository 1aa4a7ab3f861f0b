//! `jsonrpc`: the JSON-RPC classifier and an [`RpcSession`] on arbitrary input.
//!
//! Three passes over one input:
//!
//! 1. [`classify`] on the input as text (exact UTF-8 and lossy): never panics, and the error
//!    reply it calls for encodes to JSON;
//! 2. the input as one frame to a ready session holding a pending call;
//! 3. the input decoded (with the `arbitrary` crate) as an [`RpcSetup`] and up to [`MAX_OPS`]
//!    [`RpcOp`]s: arbitrary and well-formed frames, calls, replies to server requests,
//!    heartbeats, time steps, closes and connection results.
//!
//! Checked after every step: every `Finished` names a call `call` returned, at most once;
//! `pending()` equals the live calls and never exceeds `max_pending`; every transmitted text is
//! JSON; the session replies only to a frame that [`classify`] calls a request or an invalid
//! frame, at most once and to its id — never to a notification, a response or an `id: null`
//! error — and nothing else sends a reply except an accepted `respond`, which is accepted
//! exactly for a server request that is open (asked in the current session, not yet answered).
//! At the end time runs far past every deadline: every call has finished exactly once.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Value, json};
use tcm_proto::Transmit;
use tcm_proto::jsonrpc::message::{Incoming, classify, encode_reply};
use tcm_proto::jsonrpc::methods::SERVER_METHODS;
use tcm_proto::jsonrpc::{Call, CallId, LONG_RUNNING, RpcConfig, RpcEvent, RpcSession};
use tcm_proto::{KeepaliveConfig, ReconnectPolicy};

use crate::input::{MAX_OPS, Short, Text, bounded_ms, json_or_string};

/// The session's configuration, chosen by the input's first bytes.
#[derive(Debug, Arbitrary)]
pub struct RpcSetup {
    /// Keepalive pings on or off.
    pub keepalive: bool,
    /// Reconnect after a close, or close for good.
    pub reconnect: bool,
    /// Whether a run is active (calls are refused without one).
    pub run: bool,
    /// Request-id and jitter seed.
    pub seed: u8,
}

/// One step of the harness.
#[derive(Debug, Arbitrary)]
pub enum RpcOp {
    /// A call.
    Call {
        /// The method.
        method: MethodChoice,
        /// A deadline override in ms (at most one hour; 0 is refused).
        timeout_ms: Option<u32>,
    },
    /// An arbitrary text frame.
    Text(Text),
    /// A response to a call.
    Response {
        /// Its `id`.
        id: WireRef,
        /// `jsonrpc: "2.0"`, or `"1.0"`.
        version_ok: bool,
        /// `result`, `error`, both or neither.
        body: ResponseBody,
    },
    /// A `heartbeat` for a call, as a notification or (`request_id`) a request.
    Heartbeat {
        /// `params.id`.
        target: WireRef,
        /// Sent as a request with this id.
        request_id: Option<IdChoice>,
    },
    /// A server → client request.
    ServerRequest {
        /// Its `id`.
        id: IdChoice,
        /// The method.
        method: ServerMethodChoice,
        /// The params.
        params: ParamsChoice,
        /// `jsonrpc: "2.0"`, or `"1.0"`.
        version_ok: bool,
    },
    /// A server notification.
    Notification {
        /// The method.
        method: ServerMethodChoice,
        /// The params.
        params: ParamsChoice,
    },
    /// An `id: null` error frame.
    OrphanError(i32),
    /// The session frame (or something else) while the session is awaited.
    SessionFrame(SessionChoice),
    /// The application answers an open server request (or an arbitrary id).
    Respond {
        /// Which open request.
        pick: u8,
        /// Any id instead.
        other: Option<IdChoice>,
        /// A result, or an error.
        ok: bool,
    },
    /// Time passes (at most one hour), then timers fire.
    Advance(u32),
    /// A ping or pong arrived.
    Pong,
    /// The socket closed (`None`: without a close frame).
    Closed(Option<u16>),
    /// The upgrade succeeded.
    Connected,
    /// The upgrade failed.
    ConnectFailed,
    /// The upgrade was answered with an HTTP status.
    Rejected(u16),
    /// Sets or clears the active run.
    SetRun(Option<Short>),
    /// The application closes the session for good.
    Close,
}

/// The method of a call.
#[derive(Debug, Arbitrary)]
pub enum MethodChoice {
    /// A long-running method (deadline slides with heartbeats).
    Long(u8),
    /// `create_variable`.
    Short,
    /// Any method.
    Other(Short),
}

/// A reference to a call's wire id.
#[derive(Debug, Arbitrary)]
pub enum WireRef {
    /// The wire id of the k-th call sent (answered or not).
    Sent(u8),
    /// Any string.
    Raw(Short),
    /// A number.
    Number(i32),
    /// `null`.
    Null,
}

/// The body of a response.
#[derive(Debug, Arbitrary)]
pub enum ResponseBody {
    /// `result`.
    Result(Short),
    /// `error` with a code and message.
    Error {
        /// The code.
        code: i32,
        /// The message.
        message: Short,
        /// `data.exception`.
        exception: Option<Short>,
    },
    /// `error` that is not an object.
    BadError(i32),
    /// Both `result` and `error`.
    Both,
    /// Neither.
    Neither,
}

/// An id chosen by the server.
#[derive(Debug, Arbitrary)]
pub enum IdChoice {
    /// A string.
    Str(Short),
    /// An integer.
    Int(i32),
    /// A fraction.
    Float(i16),
    /// `null`.
    Null,
    /// An array.
    List(u8),
}

impl IdChoice {
    fn value(&self) -> Value {
        match self {
            Self::Str(s) => json!(s.0),
            Self::Int(n) => json!(n),
            Self::Float(f) => json!(f64::from(*f) / 4.0),
            Self::Null => Value::Null,
            Self::List(n) => json!([n]),
        }
    }
}

/// A server method name.
#[derive(Debug, Arbitrary)]
pub enum ServerMethodChoice {
    /// One of the ten known methods.
    Known(u8),
    /// Any name.
    Other(Short),
}

impl ServerMethodChoice {
    fn name(&self) -> &str {
        match self {
            Self::Known(k) => SERVER_METHODS[usize::from(*k) % SERVER_METHODS.len()],
            Self::Other(s) => s.as_str(),
        }
    }
}

/// The params of a server request or notification.
#[derive(Debug, Arbitrary)]
pub enum ParamsChoice {
    /// Every key any known method needs, less the one at `drop` (if any).
    Full {
        /// A key to leave out.
        drop: Option<u8>,
    },
    /// `{}`.
    Empty,
    /// Left out.
    Absent,
    /// Any text: JSON when it parses, a string otherwise.
    Json(Text),
}

/// What arrives while the session frame is awaited.
#[derive(Debug, Arbitrary)]
pub enum SessionChoice {
    /// `{"jsonrpc":"2.0","result":{"session_id":"…"}}`.
    Ok(Short),
    /// An object without `result`.
    NoResult,
    /// `result` that is not an object.
    BadResult,
    /// Not an object.
    NotObject,
}

fn full_params(drop: Option<u8>) -> Value {
    let entries: [(&str, Value); 16] = [
        ("id", json!("w")),
        ("variable_id", json!("v")),
        ("data", json!(1)),
        ("field", json!("f")),
        ("value", json!(2)),
        ("gradient_id", json!("g")),
        ("gradient", json!(3)),
        ("node_id", json!("n")),
        ("name", json!("N")),
        ("from_node_id", json!("a")),
        ("to_node_id", Value::Null),
        ("output_nr", json!(0)),
        ("model_id", json!("m")),
        ("callable_id", json!("c")),
        ("variable_ids", json!(["v"])),
        ("args", json!([])),
    ];
    let skip = drop.map(|d| usize::from(d) % entries.len());
    let mut m = Map::new();
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if Some(i) != skip {
            m.insert(k.into(), v);
        }
    }
    Value::Object(m)
}

/// What an input frame allows the session to send back.
struct Expectation {
    /// The id a reply must carry, if a reply is allowed at all.
    reply_to: Option<Value>,
    /// A reply is mandatory (invalid frames), or may be replaced by a `Request` event.
    must_reply: bool,
    /// The frame is a server request: its `Request` event (if any) must carry this id.
    request_id: Option<Value>,
}

struct Harness {
    s: RpcSession,
    now: Instant,
    max_pending: usize,
    calls: HashSet<CallId>,
    finished: HashSet<CallId>,
    /// Wire ids of the calls sent, in order (capped).
    sent: Vec<String>,
    /// Server requests asked in the current session and not yet answered (`id.to_string()`).
    open: BTreeSet<String>,
    open_values: Vec<Value>,
    run_uuid: Option<String>,
}

impl Harness {
    fn new(setup: &RpcSetup) -> Self {
        let mut c = RpcConfig::new("fuzz-key");
        c.run_uuid = setup.run.then(|| "run".to_owned());
        c.default_timeout = Duration::from_secs(30);
        c.keepalive = setup.keepalive.then(KeepaliveConfig::default);
        c.reconnect = setup.reconnect.then(ReconnectPolicy::default);
        c.max_pending = 16;
        c.seed = Some(u64::from(setup.seed));
        let run_uuid = c.run_uuid.clone();
        Self {
            max_pending: c.max_pending,
            s: RpcSession::new(c),
            now: Instant::now(),
            calls: HashSet::new(),
            finished: HashSet::new(),
            sent: Vec::new(),
            open: BTreeSet::new(),
            open_values: Vec::new(),
            run_uuid,
        }
    }

    /// Drains transmits and events, checking them; returns the replies (texts without a
    /// `method`) that were sent, and the ids of `Request` events.
    fn drain(&mut self) -> (Vec<Value>, Vec<Value>) {
        let mut replies = Vec::new();
        while let Some(t) = self.s.poll_transmit() {
            let Transmit::Text(text) = t else { continue };
            let v: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => panic!("transmitted text is not JSON ({e}): {text}"),
            };
            assert_eq!(
                v["jsonrpc"],
                json!("2.0"),
                "frame without jsonrpc 2.0: {text}"
            );
            if v.get("method").is_some() {
                assert_eq!(
                    v["params"]["run_uuid"].as_str(),
                    self.run_uuid.as_deref(),
                    "call without the active run: {text}"
                );
                if self.sent.len() < 256 {
                    self.sent
                        .push(v["id"].as_str().unwrap_or_default().to_owned());
                }
            } else {
                assert!(
                    v.get("result").is_some() != v.get("error").is_some(),
                    "a reply holds exactly one of result and error: {text}"
                );
                replies.push(v["id"].clone());
            }
        }
        let mut requests = Vec::new();
        while let Some(e) = self.s.poll_event() {
            match e {
                RpcEvent::Finished { id, .. } => {
                    assert!(self.calls.contains(&id), "finished unknown call {id:?}");
                    assert!(self.finished.insert(id), "call {id:?} finished twice");
                }
                RpcEvent::Request { id, .. } => {
                    if self.open.insert(id.to_string()) {
                        self.open_values.push(id.clone());
                    }
                    requests.push(id);
                }
                RpcEvent::Disconnected { .. } => {
                    self.open.clear();
                    self.open_values.clear();
                }
                _ => {}
            }
        }
        let live = self.calls.len() - self.finished.len();
        assert_eq!(
            self.s.pending(),
            live,
            "pending() disagrees with live calls"
        );
        assert!(self.s.pending() <= self.max_pending);
        (replies, requests)
    }

    /// Drains after a step that must send no reply and raise no server request.
    fn drain_quiet(&mut self, what: &str) {
        let (replies, requests) = self.drain();
        assert!(replies.is_empty(), "{what} sent replies {replies:?}");
        assert!(
            requests.is_empty(),
            "{what} raised server requests {requests:?}"
        );
    }

    /// Feeds one text frame and checks what the session answered.
    fn frame(&mut self, text: &str) {
        let ready = self.s.is_ready();
        self.s.handle_text(self.now, text);
        let (replies, requests) = self.drain();
        if !ready {
            // The session frame (or nothing, when no session is up) is never answered.
            assert!(
                replies.is_empty(),
                "replied {replies:?} outside a session to {text:?}"
            );
            assert!(
                requests.is_empty(),
                "server request outside a session: {text:?}"
            );
            return;
        }
        let expect = expectation(text);
        assert!(
            replies.len() <= 1,
            "{} replies to one frame {text:?}",
            replies.len()
        );
        match (&expect.reply_to, replies.first()) {
            (None, Some(r)) => panic!("replied {r} to a frame that must not be answered: {text:?}"),
            (Some(want), Some(got)) => assert_eq!(want, got, "reply to the wrong id for {text:?}"),
            (Some(_), None) if expect.must_reply => panic!("no reply to invalid frame {text:?}"),
            (Some(_), None) => assert_eq!(
                requests.len(),
                1,
                "a server request neither answered nor raised: {text:?}"
            ),
            (None, None) => {}
        }
        if !replies.is_empty() {
            assert!(
                requests.is_empty(),
                "a request both answered and raised: {text:?}"
            );
        }
        for id in &requests {
            assert_eq!(
                Some(id),
                expect.request_id.as_ref(),
                "server request event for {text:?}"
            );
        }
    }

    fn wire(&self, r: &WireRef) -> Value {
        match r {
            WireRef::Sent(k) if !self.sent.is_empty() => {
                json!(self.sent[usize::from(*k) % self.sent.len()])
            }
            WireRef::Sent(_) => json!("00000000-0000-4000-8000-000000000000"),
            WireRef::Raw(s) => json!(s.0),
            WireRef::Number(n) => json!(n),
            WireRef::Null => Value::Null,
        }
    }

    fn call(&mut self, method: &str, timeout_ms: Option<u32>) {
        let timeout = timeout_ms.map(|ms| Duration::from_millis(bounded_ms(ms)));
        let call = Call::new(method, json!({"x": 1}));
        if let Ok(id) = self.s.call(self.now, call, timeout) {
            assert!(self.calls.insert(id), "call id {id:?} returned twice");
        }
    }

    fn step(&mut self, op: RpcOp) {
        match op {
            RpcOp::Call { method, timeout_ms } => {
                let method = match &method {
                    MethodChoice::Long(k) => LONG_RUNNING[usize::from(*k) % LONG_RUNNING.len()],
                    MethodChoice::Short => "create_variable",
                    MethodChoice::Other(s) => s.as_str(),
                };
                self.call(method, timeout_ms);
                self.drain_quiet("a call");
            }
            RpcOp::Text(t) => self.frame(&t.0),
            RpcOp::Response {
                id,
                version_ok,
                body,
            } => {
                let mut m = Map::new();
                m.insert(
                    "jsonrpc".into(),
                    json!(if version_ok { "2.0" } else { "1.0" }),
                );
                m.insert("id".into(), self.wire(&id));
                match body {
                    ResponseBody::Result(s) => {
                        m.insert("result".into(), json_or_string(&s.0));
                    }
                    ResponseBody::Error {
                        code,
                        message,
                        exception,
                    } => {
                        let mut e = json!({"code": code, "message": message.0});
                        if let Some(x) = exception {
                            e["data"] = json!({"exception": x.0});
                        }
                        m.insert("error".into(), e);
                    }
                    ResponseBody::BadError(n) => {
                        m.insert("error".into(), json!(n));
                    }
                    ResponseBody::Both => {
                        m.insert("result".into(), json!(1));
                        m.insert("error".into(), json!({"code": -32603, "message": "x"}));
                    }
                    ResponseBody::Neither => {}
                }
                self.frame(&Value::Object(m).to_string());
            }
            RpcOp::Heartbeat { target, request_id } => {
                let mut m = Map::new();
                m.insert("jsonrpc".into(), json!("2.0"));
                m.insert("method".into(), json!("heartbeat"));
                m.insert("params".into(), json!({"id": self.wire(&target)}));
                if let Some(id) = request_id {
                    m.insert("id".into(), id.value());
                }
                self.frame(&Value::Object(m).to_string());
            }
            RpcOp::ServerRequest {
                id,
                method,
                params,
                version_ok,
            } => {
                let mut m = Map::new();
                m.insert(
                    "jsonrpc".into(),
                    json!(if version_ok { "2.0" } else { "1.0" }),
                );
                m.insert("id".into(), id.value());
                m.insert("method".into(), json!(method.name()));
                if let Some(p) = params_value(&params) {
                    m.insert("params".into(), p);
                }
                self.frame(&Value::Object(m).to_string());
            }
            RpcOp::Notification { method, params } => {
                let mut m = Map::new();
                m.insert("jsonrpc".into(), json!("2.0"));
                m.insert("method".into(), json!(method.name()));
                if let Some(p) = params_value(&params) {
                    m.insert("params".into(), p);
                }
                self.frame(&Value::Object(m).to_string());
            }
            RpcOp::OrphanError(code) => {
                let f =
                    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": "m"}});
                self.frame(&f.to_string());
            }
            RpcOp::SessionFrame(choice) => {
                let f = match choice {
                    SessionChoice::Ok(s) => {
                        json!({"jsonrpc": "2.0", "result": {"session_id": s.0}}).to_string()
                    }
                    SessionChoice::NoResult => json!({"jsonrpc": "2.0"}).to_string(),
                    SessionChoice::BadResult => {
                        json!({"jsonrpc": "2.0", "result": "s"}).to_string()
                    }
                    SessionChoice::NotObject => "[1]".to_owned(),
                };
                self.frame(&f);
            }
            RpcOp::Respond { pick, other, ok } => {
                let id = match other {
                    Some(c) => c.value(),
                    None if !self.open_values.is_empty() => {
                        self.open_values[usize::from(pick) % self.open_values.len()].clone()
                    }
                    None => Value::Null,
                };
                let key = id.to_string();
                let was_open = self.open.contains(&key);
                let outcome = if ok {
                    Ok(json!({"message": "Ok"}))
                } else {
                    Err(tcm_proto::jsonrpc::RpcError::internal("x"))
                };
                let accepted = self.s.respond(&id, outcome);
                assert_eq!(
                    accepted, was_open,
                    "respond({id}) accepted={accepted}, open={was_open}"
                );
                if accepted {
                    self.open.remove(&key);
                    self.open_values.retain(|v| *v != id);
                }
                let (replies, requests) = self.drain();
                assert!(requests.is_empty());
                if accepted {
                    assert_eq!(replies, vec![id], "an accepted respond sends one reply");
                } else {
                    assert!(replies.is_empty(), "a refused respond sent {replies:?}");
                }
            }
            RpcOp::Advance(ms) => {
                self.now += Duration::from_millis(bounded_ms(ms));
                self.s.handle_timeout(self.now);
                self.drain_quiet("a timeout");
            }
            RpcOp::Pong => {
                self.s.handle_pong(self.now);
                self.drain_quiet("a pong");
            }
            RpcOp::Closed(code) => {
                self.s.handle_closed(self.now, code, "");
                self.drain_quiet("a close");
            }
            RpcOp::Connected => {
                self.s.handle_connected(self.now);
                self.drain_quiet("a connect");
            }
            RpcOp::ConnectFailed => {
                self.s.handle_connect_failed(self.now, "refused");
                self.drain_quiet("a failed connect");
            }
            RpcOp::Rejected(status) => {
                self.s
                    .handle_connect_failed(self.now, tcm_proto::DialFailure::Refused { status });
                self.drain_quiet("a rejected upgrade");
            }
            RpcOp::SetRun(run) => {
                self.run_uuid = run.map(|s| s.0);
                self.s.set_run_uuid(self.run_uuid.clone());
            }
            RpcOp::Close => {
                self.s.close(self.now);
                self.drain_quiet("close");
            }
        }
        let _ = self.s.poll_dial();
    }

    /// Time runs far past every deadline (calls last at most one hour, and sliding ones only
    /// slide when a heartbeat arrives): every call must have finished.
    fn settle(&mut self) {
        self.now += Duration::from_secs(3 * 3600);
        self.s.handle_timeout(self.now);
        self.s.handle_connect_failed(self.now, "refused");
        self.drain_quiet("the final timeout");
        assert_eq!(self.s.pending(), 0, "calls pending past every deadline");
        assert_eq!(
            self.finished.len(),
            self.calls.len(),
            "not every call finished"
        );
    }
}

fn params_value(p: &ParamsChoice) -> Option<Value> {
    match p {
        ParamsChoice::Full { drop } => Some(full_params(*drop)),
        ParamsChoice::Empty => Some(json!({})),
        ParamsChoice::Absent => None,
        ParamsChoice::Json(t) => Some(json_or_string(&t.0)),
    }
}

/// What the session may send back for `text`, from the classifier's verdict.
fn expectation(text: &str) -> Expectation {
    match classify(text) {
        Incoming::Request { id, .. } => Expectation {
            reply_to: Some(id.clone()),
            must_reply: false,
            request_id: Some(id),
        },
        Incoming::Invalid { id, .. } => Expectation {
            reply_to: Some(id),
            must_reply: true,
            request_id: None,
        },
        Incoming::Notification { .. }
        | Incoming::Response { .. }
        | Incoming::OrphanError(_)
        | Incoming::Ignored => Expectation {
            reply_to: None,
            must_reply: false,
            request_id: None,
        },
    }
}

/// Pass 1: the classifier alone.
fn classify_checks(text: &str) {
    match classify(text) {
        Incoming::Invalid { id, error } => {
            let reply = encode_reply(&id, &Err(error));
            assert!(serde_json::from_str::<Value>(&reply).is_ok(), "{reply}");
        }
        Incoming::Request { id, method, params } => {
            assert!(!id.is_null());
            let _ = tcm_proto::jsonrpc::ServerMethod::parse(&method, &params);
            let reply = encode_reply(&id, &Ok(Value::Null));
            assert!(serde_json::from_str::<Value>(&reply).is_ok(), "{reply}");
        }
        Incoming::Notification { method, params } => {
            let _ = tcm_proto::jsonrpc::ServerMethod::parse(&method, &params);
        }
        Incoming::Response { id, .. } => assert!(!id.is_null()),
        Incoming::OrphanError(e) => {
            if let Some(e) = e {
                let _ = (e.to_string(), e.exception());
            }
        }
        Incoming::Ignored => {}
    }
}

/// Pass 2: the input as one frame to a ready session with one pending call.
fn as_one_frame(text: &str) {
    let setup = RpcSetup {
        keepalive: true,
        reconnect: true,
        run: true,
        seed: 1,
    };
    let mut h = Harness::new(&setup);
    let _ = h.s.poll_dial();
    h.s.handle_connected(h.now);
    h.frame(r#"{"jsonrpc":"2.0","result":{"session_id":"s"}}"#);
    assert!(h.s.is_ready());
    h.call("run_function", None);
    h.drain_quiet("a call");
    h.frame(text);
    h.settle();
}

/// The target body.
pub fn run(data: &[u8]) {
    let lossy = String::from_utf8_lossy(data);
    if let Ok(text) = std::str::from_utf8(data) {
        classify_checks(text);
    }
    classify_checks(&lossy);
    as_one_frame(&lossy);

    let mut u = Unstructured::new(data);
    let Ok(setup) = RpcSetup::arbitrary(&mut u) else {
        return;
    };
    let mut h = Harness::new(&setup);
    let _ = h.s.poll_dial();
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = RpcOp::arbitrary(&mut u) else {
            break;
        };
        h.step(op);
    }
    h.settle();
}
