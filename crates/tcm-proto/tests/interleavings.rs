//! Random interleavings of requests, server frames in any order, timeouts, cancellations,
//! dial failures and disconnects, checked against a small reference model:
//!
//! - nothing panics;
//! - every accepted request finishes exactly once, and once every deadline has passed all of
//!   them have (nothing hangs, even when the server never answers);
//! - no event names an unknown or already-finished request;
//! - a reply is only ever given to the request it answers: the fake server answers an inference
//!   with the request's own input value, an info with its own `job_id`, a management request with
//!   its own `request_id`, and the test checks the value that reaches each request;
//! - memory stays bounded by the configured limits.
//!
//! The number of cases defaults to 10 000 (`PROPTEST_CASES` overrides it).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Value, json};
use tcm_proto::{
    AuthContext, Config, Connection, Dial, Event, InferenceRequest, InfoRequest, ManagementRequest,
    Protocol, Request, RequestId, Response, Tensor, TensorData, Transmit,
};

#[derive(Debug, Clone)]
enum Op {
    Info {
        fast: bool,
        timeout_ms: Option<u64>,
    },
    Management {
        timeout_ms: Option<u64>,
    },
    Inference {
        grpc: bool,
        timeout_ms: Option<u64>,
    },
    Cancel(usize),
    /// The server answers the k-th frame it holds.
    Answer {
        pick: usize,
        how: u8,
    },
    /// A stream frame for the k-th held inference.
    StreamChunk(usize),
    /// A frame that answers nothing (drop notices and Forbidden errors are answers, above).
    Unsolicited(u8),
    Advance(u64),
    Pong,
    Drop(Option<u16>),
    DialResult(bool),
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let timeout = prop::option::of(1u64..20_000);
    prop_oneof![
        3 => (any::<bool>(), timeout.clone()).prop_map(|(fast, timeout_ms)| Op::Info { fast, timeout_ms }),
        2 => timeout.clone().prop_map(|timeout_ms| Op::Management { timeout_ms }),
        4 => (prop::bool::weighted(0.2), timeout).prop_map(|(grpc, timeout_ms)| Op::Inference { grpc, timeout_ms }),
        1 => any::<usize>().prop_map(Op::Cancel),
        8 => (any::<usize>(), any::<u8>()).prop_map(|(pick, how)| Op::Answer { pick, how }),
        1 => any::<usize>().prop_map(Op::StreamChunk),
        2 => any::<u8>().prop_map(Op::Unsolicited),
        3 => prop_oneof![0u64..50, 0u64..3_000, 0u64..30_000].prop_map(Op::Advance),
        1 => Just(Op::Pong),
        1 => prop::option::of(prop_oneof![Just(1000u16), Just(1008), Just(1009), Just(1012)]).prop_map(Op::Drop),
        2 => any::<bool>().prop_map(Op::DialResult),
        1 => Just(Op::Close),
    ]
}

/// A frame the fake server holds, waiting to be answered.
#[derive(Debug, Clone)]
struct Held {
    uuid: String,
    frame: Value,
}

struct Model {
    conn: Connection,
    now: Instant,
    /// Accepted request → what identifies its reply.
    expect: HashMap<RequestId, Expect>,
    finished: HashSet<RequestId>,
    held: Vec<Held>,
    auth_pending: bool,
    next_value: u32,
    config: Config,
}

#[derive(Debug, Clone)]
enum Expect {
    Info,
    Management,
    Inference(f32),
}

impl Model {
    fn new() -> Self {
        let mut config = Config::new("prop");
        config.max_queued = 8;
        config.max_info_in_flight = 4;
        config.seed = Some(11);
        Self {
            conn: Connection::new(config.clone(), AuthContext::anonymous()),
            now: Instant::now(),
            expect: HashMap::new(),
            finished: HashSet::new(),
            held: Vec::new(),
            auth_pending: false,
            next_value: 0,
            config,
        }
    }

    fn request(&mut self, req: Request, expect: Expect, timeout_ms: Option<u64>) {
        let timeout = timeout_ms.map(Duration::from_millis);
        if let Ok(id) = self.conn.request(self.now, req, timeout) {
            assert!(self.expect.insert(id, expect).is_none(), "ids are unique");
        }
    }

    fn inference(&mut self, grpc: bool) -> (Request, Expect) {
        self.next_value += 1;
        let v = self.next_value as f32;
        let req = Request::from({
            let mut r = InferenceRequest::new("127.0.0.1", "c", "identity").with_inputs(vec![
                Tensor::vector("INPUT0", TensorData::Fp32(vec![v])).into(),
            ]);
            r.protocol = if grpc { Protocol::Grpc } else { Protocol::Http };
            r
        });
        (req, Expect::Inference(v))
    }

    /// Drains the connection's outputs, playing the server's side of the socket.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        while let Some(t) = self.conn.poll_transmit() {
            let t = match t {
                Transmit::Secret(s) => Transmit::Text(s.expose().to_owned()),
                other => other,
            };
            match t {
                Transmit::Text(s) => {
                    let frame: Value =
                        serde_json::from_str(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(s.len() <= self.config.max_message_bytes);
                    let uuid = frame["uuid"].as_str().unwrap_or_default().to_owned();
                    prop_assert_eq!(&uuid, self.conn.uuid(), "frames carry the current uuid");
                    if frame["type"] == "auth" {
                        self.auth_pending = true;
                    } else {
                        self.held.push(Held { uuid, frame });
                    }
                }
                Transmit::Ping(_) | Transmit::Secret(_) => {}
                Transmit::Close { .. } => {
                    // The connection dropped the socket: the server forgets its frames
                    // (replies are routed by uuid, and the next connection has a new one).
                    self.auth_pending = false;
                }
            }
        }
        while let Some(e) = self.conn.poll_event() {
            match e {
                Event::Finished { id, outcome } => {
                    let expect = self.expect.get(&id).cloned();
                    prop_assert!(expect.is_some(), "finished an unknown request {}", id);
                    prop_assert!(self.finished.insert(id), "request {} finished twice", id);
                    match (expect, outcome) {
                        (Some(Expect::Inference(v)), Ok(Response::Inference { outputs, .. })) => {
                            if let Ok(t) = outputs.f32("OUTPUT0") {
                                prop_assert_eq!(
                                    t.values,
                                    vec![v],
                                    "reply given to the wrong request"
                                );
                            }
                        }
                        (Some(Expect::Info), Ok(Response::Info { data, .. })) => {
                            prop_assert_eq!(&data["for"], &json!(format!("j{}", id.get())));
                        }
                        (Some(Expect::Management), Ok(Response::Management { data })) => {
                            prop_assert_eq!(&data, &json!(format!("m{}", id.get())));
                        }
                        (Some(_), Ok(other)) => {
                            return Err(TestCaseError::fail(format!(
                                "wrong response kind {other:?}"
                            )));
                        }
                        (_, Err(_)) => {}
                        (None, _) => unreachable!(),
                    }
                }
                Event::Stream { id, .. } => {
                    prop_assert!(
                        self.expect.contains_key(&id),
                        "stream frame for unknown {}",
                        id
                    );
                    prop_assert!(
                        !self.finished.contains(&id),
                        "stream frame after finish {}",
                        id
                    );
                }
                Event::Disconnected { .. } => {
                    self.auth_pending = false;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn answer(&mut self, pick: usize, how: u8) {
        if self.auth_pending && how % 7 == 0 {
            self.auth_pending = false;
            self.conn.handle_text(self.now, r#"{"type":"auth.ok"}"#);
            return;
        }
        if self.held.is_empty() {
            if self.auth_pending {
                self.auth_pending = false;
                self.conn.handle_text(self.now, r#"{"type":"auth.ok"}"#);
            }
            return;
        }
        let held = self.held.remove(pick % self.held.len());
        if held.uuid != self.conn.uuid() {
            return; // routed by uuid to a connection that is gone
        }
        let f = &held.frame;
        let reply = match f["type"].as_str() {
            Some("info") if how % 4 == 0 && f["payload"]["action"] != "queue_stats" => {
                json!({"type":"error","payload":{"code":"BACKPRESSURE_EXECUTOR_FULL","message":"f","dropped_type":"info"}})
            }
            Some("info") => {
                let job = f["payload"]["job_id"].clone();
                json!({"type":"info_response","payload":{"job_id":job,"request_type":"queue_stats","status":"success","data":{"for":job}}})
            }
            Some("management") => {
                let mut r = f.clone();
                let tag = f["request_id"].clone();
                match how % 4 {
                    0 => return self.send(json!({"type":"error","payload":{"message":"Forbidden: missing 'management' role"}})),
                    1 => r["payload"] = json!({"status": false, "data": "Job action not found: 'x'"}),
                    _ => r["payload"] = json!({"status": true, "data": tag}),
                }
                r
            }
            Some("inference") => {
                let data = &f["payload"]["request"]["inputs"][0]["data"];
                match how % 6 {
                    5 => {
                        json!({"type":"error","payload":{"message":"Forbidden: missing 'inference' role"}})
                    }
                    0 => {
                        json!({"type":"inference","uuid":held.uuid,"payload":{"data":{"code":"TRITON_NETWORK","message":"n","retriable":true},"status":"FAILED","model_name":"identity"}})
                    }
                    1 => {
                        json!({"type":"inference","uuid":held.uuid,"payload":{"data":"Missing required field 'vm_ip'","status":"FAILED","model_name":null}})
                    }
                    2 => {
                        json!({"type":"error","payload":{"code":"BACKPRESSURE_QUEUE_FULL","message":"full","dropped_type":"inference"}})
                    }
                    _ => {
                        json!({"type":"inference","uuid":held.uuid,"payload":{"data":{"OUTPUT0":data},"status":"COMPLETED","model_name":"identity"}})
                    }
                }
            }
            _ => return,
        };
        self.send(reply);
    }

    fn send(&mut self, frame: Value) {
        self.conn.handle_text(self.now, &frame.to_string());
    }

    fn unsolicited(&mut self, which: u8) {
        let frames = [
            r#"{"type":"alert","error_type":"TritonServerStateChanged","message":"m","timestamp":1.0}"#,
            r#"{"type":"error","payload":{"code":"BACKPRESSURE_INSUFFICIENT_BUDGET","message":"b","job_type":"inference","tenant_id":"unknown"}}"#,
            r#"{"type":"info_response","payload":{"job_id":"j999999","status":"success","data":{}}}"#,
            r#"{"type":"inference","uuid":"x","payload":{"data":{"OUTPUT0":[-1.0]},"status":"COMPLETED","model_name":"identity"}}"#,
            r#"{"type":"error","payload":{"code":"SYSTEM_SHUTDOWN","message":"Server is shutting down; request rejected."}}"#,
            r#"{"type":"auth.ok","payload":{"capability":["json"]}}"#,
            r#"{"type":"error","payload":{"message":"Invalid token: Token has expired"}}"#,
            "not json",
            r#"{"type":"management","request_id":"m424242","payload":{"status":true,"data":null}}"#,
        ];
        let f = frames[usize::from(which) % frames.len()];
        // The stale inference reply above carries -1.0, a value no request uses.
        self.conn.handle_text(self.now, f);
    }

    fn stream_chunk(&mut self, pick: usize) {
        let infs: Vec<usize> = (0..self.held.len())
            .filter(|i| self.held[*i].frame["type"] == "inference")
            .collect();
        if infs.is_empty() {
            return;
        }
        let held = &self.held[infs[pick % infs.len()]];
        if held.uuid != self.conn.uuid() {
            return;
        }
        let status = if pick % 2 == 0 { "START" } else { "ONGOING" };
        let f = json!({"type":"inference","uuid":held.uuid,"payload":{"data":"tok","status":status,"model_name":null}});
        self.conn.handle_text(self.now, &f.to_string());
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Info { fast, timeout_ms } => {
                let action = if fast { "queue_stats" } else { "models" };
                let req = Request::Info(InfoRequest {
                    action: action.into(),
                });
                self.request(req, Expect::Info, timeout_ms);
            }
            Op::Management { timeout_ms } => {
                let req = Request::Management(ManagementRequest {
                    action: "creation".into(),
                    payload: Default::default(),
                });
                self.request(req, Expect::Management, timeout_ms);
            }
            Op::Inference { grpc, timeout_ms } => {
                let (req, expect) = self.inference(grpc);
                self.request(req, expect, timeout_ms);
            }
            Op::Cancel(k) => {
                let ids: Vec<RequestId> = self.expect.keys().copied().collect();
                if !ids.is_empty() {
                    let mut ids = ids;
                    ids.sort();
                    self.conn.cancel(self.now, ids[k % ids.len()]);
                }
            }
            Op::Answer { pick, how } => self.answer(pick, how),
            Op::StreamChunk(k) => self.stream_chunk(k),
            Op::Unsolicited(w) => self.unsolicited(w),
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                self.conn.handle_timeout(self.now);
            }
            Op::Pong => self.conn.handle_pong(self.now),
            Op::Drop(code) => {
                self.conn.handle_closed(self.now, code, "");
                self.auth_pending = false;
            }
            Op::DialResult(_) | Op::Close => {}
        }
        if let Op::Close = op {
            self.conn.close(self.now);
        }
        self.drain()?;
        if let Some(d) = self.conn.poll_dial() {
            let ok = !matches!(op, Op::DialResult(false));
            match d {
                Dial::Connect { .. } if ok => self.conn.handle_connected(self.now),
                Dial::Connect { .. } => self.conn.handle_connect_failed(self.now, "refused"),
                Dial::ProbeReady => self.conn.handle_ready(self.now, ok),
            }
            self.drain()?;
        }
        let live = self.expect.len() - self.finished.len();
        prop_assert_eq!(self.conn.pending(), live, "live requests match the model");
        let bound = 3 * self.config.max_queued + self.config.max_info_in_flight + 2;
        prop_assert!(self.conn.pending() <= bound, "memory is bounded");
        Ok(())
    }

    /// Lets every deadline pass with a silent server: everything must resolve.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        let horizon = self.now + Duration::from_secs(3_600);
        let mut guard = 0;
        while let Some(t) = self.conn.poll_timeout() {
            if t > horizon || self.conn.pending() == 0 {
                break;
            }
            self.now = self.now.max(t);
            self.conn.handle_timeout(self.now);
            self.drain()?;
            if let Some(d) = self.conn.poll_dial() {
                match d {
                    Dial::Connect { .. } => self.conn.handle_connect_failed(self.now, "refused"),
                    Dial::ProbeReady => self.conn.handle_ready(self.now, false),
                }
                self.drain()?;
            }
            guard += 1;
            prop_assert!(guard < 100_000, "timers keep firing without progress");
        }
        prop_assert_eq!(
            self.conn.pending(),
            0,
            "every request resolved by its deadline"
        );
        prop_assert_eq!(self.finished.len(), self.expect.len());
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_request_resolves_exactly_once_and_only_with_its_own_reply(ops in prop::collection::vec(op(), 1..80)) {
        let mut m = Model::new();
        m.drain()?;
        if let Some(Dial::Connect { .. }) = m.conn.poll_dial() {
            m.conn.handle_connected(m.now);
        }
        m.drain()?;
        for op in ops {
            m.step(op)?;
        }
        m.settle()?;
    }
}
