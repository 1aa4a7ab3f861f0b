//! Random interleavings for the JSON-RPC session: calls (short and long-running), responses in
//! any order (including late, duplicate, malformed and wrong-version ones), heartbeats, server
//! requests and notifications, junk frames, timeouts, closes and reconnects. Checked:
//!
//! - nothing panics; every call finishes exactly once, and all have once their deadlines pass;
//! - a result reaches only the call it answers (the fake server echoes the call's own marker);
//! - the session never answers a notification, a response or an `id: null` error, and answers
//!   every server request at most once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use tcm_proto::Transmit;
use tcm_proto::jsonrpc::{Call, CallError, CallId, RpcConfig, RpcEvent, RpcSession};

#[derive(Debug, Clone)]
enum Op {
    Call { long: bool, timeout_ms: Option<u64> },
    Answer { pick: usize, how: u8 },
    Heartbeat(usize),
    ServerRequest(u8),
    Junk(u8),
    Advance(u64),
    Drop,
    Connect(bool),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), prop::option::of(1u64..5_000)).prop_map(|(long, timeout_ms)| Op::Call { long, timeout_ms }),
        6 => (any::<usize>(), any::<u8>()).prop_map(|(pick, how)| Op::Answer { pick, how }),
        2 => any::<usize>().prop_map(Op::Heartbeat),
        2 => any::<u8>().prop_map(Op::ServerRequest),
        2 => any::<u8>().prop_map(Op::Junk),
        3 => prop_oneof![0u64..100, 0u64..2_000, 0u64..40_000].prop_map(Op::Advance),
        1 => Just(Op::Drop),
        2 => any::<bool>().prop_map(Op::Connect),
        1 => Just(Op::Close),
    ]
}

struct Model {
    s: RpcSession,
    now: Instant,
    /// Call → its marker, echoed by the fake server in the result.
    calls: HashMap<CallId, u64>,
    finished: HashSet<CallId>,
    /// Wire ids the server holds: (wire id, marker).
    held: Vec<(String, u64)>,
    /// Server request ids sent and not yet answered.
    server_requests: HashSet<String>,
    answered: HashSet<String>,
    next_marker: u64,
    next_srv: u64,
    awaiting_session: bool,
}

impl Model {
    fn new() -> Self {
        let mut c = RpcConfig::new("k");
        c.run_uuid = Some("run".into());
        c.default_timeout = Duration::from_secs(2);
        c.seed = Some(9);
        c.max_pending = 16;
        Self {
            s: RpcSession::new(c),
            now: Instant::now(),
            calls: HashMap::new(),
            finished: HashSet::new(),
            held: Vec::new(),
            server_requests: HashSet::new(),
            answered: HashSet::new(),
            next_marker: 0,
            next_srv: 0,
            awaiting_session: false,
        }
    }

    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(t) = self.s.poll_transmit() {
            if let Transmit::Text(text) = t {
                let v: Value =
                    serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if let Some(m) = v.get("method") {
                    let marker = v["params"]["marker"].as_u64().unwrap_or(u64::MAX);
                    prop_assert!(m.is_string());
                    prop_assert_eq!(&v["params"]["run_uuid"], &json!("run"));
                    self.held
                        .push((v["id"].as_str().unwrap_or_default().to_owned(), marker));
                } else {
                    // A reply: only to a server request that was not answered before.
                    let id = v["id"].to_string();
                    if !v["id"].is_null() {
                        prop_assert!(
                            self.server_requests.contains(&id),
                            "reply to something that is not a server request: {}",
                            text
                        );
                        prop_assert!(self.answered.insert(id), "answered twice: {}", text);
                    }
                }
            } else if let Transmit::Close { .. } = t {
                self.held.clear();
            }
        }
        while let Some(e) = self.s.poll_event() {
            match e {
                RpcEvent::Finished { id, outcome } => {
                    prop_assert!(self.calls.contains_key(&id), "unknown call finished");
                    prop_assert!(self.finished.insert(id), "finished twice");
                    if let Ok(v) = outcome {
                        prop_assert_eq!(
                            &v["marker"],
                            &json!(self.calls[&id]),
                            "result given to the wrong call"
                        );
                    }
                }
                RpcEvent::Request { id, .. } => {
                    // The application answers at once, sometimes twice (the second must be refused).
                    let accepted = self.s.respond(&id, Ok(json!({"message": "Ok"})));
                    prop_assert!(accepted);
                    prop_assert!(!self.s.respond(&id, Ok(Value::Null)));
                }
                RpcEvent::Disconnected { .. } => {
                    self.held.clear();
                    self.awaiting_session = false;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn send(&mut self, v: Value) {
        self.s.handle_text(self.now, &v.to_string());
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Call { long, timeout_ms } => {
                self.next_marker += 1;
                let method = if long {
                    "run_function"
                } else {
                    "create_variable"
                };
                let call = Call::new(method, json!({"marker": self.next_marker}));
                if let Ok(id) = self
                    .s
                    .call(self.now, call, timeout_ms.map(Duration::from_millis))
                {
                    self.calls.insert(id, self.next_marker);
                }
            }
            Op::Answer { pick, how } => {
                if self.awaiting_session {
                    self.awaiting_session = false;
                    let frame = if how % 5 == 0 {
                        json!([1])
                    } else {
                        json!({"jsonrpc":"2.0","result":{"session_id":"s"}})
                    };
                    self.send(frame);
                } else if !self.held.is_empty() {
                    let i = pick % self.held.len();
                    let (wire, marker) = if how % 4 == 0 {
                        self.held[i].clone()
                    } else {
                        self.held.remove(i)
                    };
                    let frame = match how % 6 {
                        0 => {
                            json!({"jsonrpc":"2.0","id":wire,"error":{"code":-32603,"message":"Internal error","data":{"exception":"x"}}})
                        }
                        1 => json!({"jsonrpc":"2.0","id":wire}),
                        2 => json!({"jsonrpc":"1.0","id":wire,"result":{"marker":marker}}),
                        _ => json!({"jsonrpc":"2.0","id":wire,"result":{"marker":marker}}),
                    };
                    self.send(frame);
                }
            }
            Op::Heartbeat(k) => {
                let id = if self.held.is_empty() {
                    "none".to_owned()
                } else {
                    self.held[k % self.held.len()].0.clone()
                };
                self.send(json!({"jsonrpc":"2.0","method":"heartbeat","params":{"id":id}}));
            }
            Op::ServerRequest(w) => {
                self.next_srv += 1;
                let id = json!(format!("srv-{}", self.next_srv));
                let frame = match w % 5 {
                    0 => {
                        json!({"jsonrpc":"2.0","id":id,"method":"create_node","params":{"node_id":"n","name":"N"}})
                    }
                    1 => {
                        json!({"jsonrpc":"2.0","id":id,"method":"create_node","params":{"node_id":"n"}})
                    }
                    2 => json!({"jsonrpc":"2.0","id":id,"method":"nope","params":{}}),
                    3 => json!({"jsonrpc":"1.0","id":id,"method":"create_node","params":{}}),
                    _ => json!({"jsonrpc":"2.0","id":id,"method":"heartbeat","params":{"id":"x"}}),
                };
                self.server_requests.insert(id.to_string());
                self.send(frame);
            }
            Op::Junk(w) => {
                let frames = [
                    "{bad",
                    "[]",
                    "7",
                    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#,
                    r#"{"jsonrpc":"2.0","method":"no_such","params":{}}"#,
                    r#"{"jsonrpc":"2.0","id":0,"result":1}"#,
                    r#"{"jsonrpc":"2.0","id":"","result":1}"#,
                    r#"{"jsonrpc":"2.0","id":"00000000-0000-4000-8000-000000000000","result":{"marker":0}}"#,
                ];
                self.s
                    .handle_text(self.now, frames[usize::from(w) % frames.len()]);
                // A parse error or an invalid request is answered with `id: null` only.
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                self.s.handle_timeout(self.now);
            }
            Op::Drop => self.s.handle_closed(self.now, None, ""),
            Op::Connect(_) | Op::Close => {}
        }
        if let Op::Close = op {
            self.s.close(self.now);
        }
        self.drain()?;
        if self.s.poll_dial().is_some() {
            if matches!(op, Op::Connect(false)) {
                self.s.handle_connect_failed(self.now, "refused");
            } else {
                self.s.handle_connected(self.now);
                self.awaiting_session = true;
            }
            self.drain()?;
        }
        prop_assert_eq!(self.s.pending(), self.calls.len() - self.finished.len());
        prop_assert!(self.s.pending() <= 16);
        Ok(())
    }

    fn settle(&mut self) -> Result<(), TestCaseError> {
        self.now += Duration::from_secs(3_600);
        self.s.handle_timeout(self.now);
        self.drain()?;
        prop_assert_eq!(self.s.pending(), 0);
        prop_assert_eq!(self.finished.len(), self.calls.len());
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_call_finishes_exactly_once_with_its_own_result(ops in prop::collection::vec(op(), 1..80)) {
        let mut m = Model::new();
        m.step(Op::Connect(true))?;
        m.step(Op::Answer { pick: 0, how: 1 })?;
        for op in ops {
            m.step(op)?;
        }
        m.settle()?;
    }
}

#[test]
fn timeouts_are_reported_as_timeouts() {
    // A sanity anchor for the property above: a silent server times a call out.
    let mut m = Model::new();
    m.step(Op::Connect(true)).unwrap();
    m.step(Op::Answer { pick: 0, how: 1 }).unwrap();
    let id =
        m.s.call(m.now, Call::new("create_variable", json!({})), None)
            .unwrap();
    m.now += Duration::from_secs(2);
    m.s.handle_timeout(m.now);
    let mut timed_out = false;
    while let Some(e) = m.s.poll_event() {
        if let RpcEvent::Finished {
            id: i,
            outcome: Err(CallError::Timeout),
        } = e
        {
            timed_out |= i == id;
        }
    }
    assert!(timed_out);
}
