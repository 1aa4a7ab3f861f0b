//! `connection`: a [`Connection`] driven by an arbitrary sequence of [`Op`]s.
//!
//! The input is a [`Setup`] followed by up to [`MAX_OPS`] operations, each decoded with the
//! `arbitrary` crate. After every operation the harness drains `poll_transmit`, `poll_event` and
//! `poll_dial`, and checks:
//!
//! - every `Event::Finished` names a request `request` returned, and none finishes twice;
//!   `Event::Stream` only names live requests;
//! - `pending()` equals the number of accepted, unfinished requests, and never exceeds
//!   `3 * max_queued + max_info_in_flight + 2`;
//! - every `Transmit::Text` is JSON and no larger than `max_message_bytes`.
//!
//! At the end every dial fails and time runs far past every deadline: `pending()` must reach 0
//! and every accepted request must have finished exactly once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Value, json};
use tcm_proto::{
    AuthContext, Config, Connection, Event, InferenceRequest, InfoRequest, KeepaliveConfig,
    ManagementRequest, Protocol, ReconnectPolicy, Request, RequestId, ShmReference, Tensor,
    TensorData, Transmit,
};

use crate::input::{MAX_OPS, Short, Text, bounded_list, bounded_ms, json_or_string};

/// The connection's configuration, chosen by the input's first bytes.
#[derive(Debug, Arbitrary)]
pub struct Setup {
    /// Capabilities requested in the auth frame.
    pub caps: CapsChoice,
    /// Keepalive pings on or off.
    pub keepalive: bool,
    /// Reconnect after a drop, or close for good.
    pub reconnect: bool,
    /// Authenticate the first connection with the base uuid verbatim.
    pub exact_first_uuid: bool,
    /// A 2 KiB frame limit instead of 64 KiB (so `TooLarge` is reachable).
    pub small_frames: bool,
    /// Jitter seed.
    pub seed: u8,
}

/// Capabilities requested in the auth frame.
#[derive(Debug, Arbitrary)]
pub enum CapsChoice {
    /// `["json"]`
    Json,
    /// `["json", "shm"]`
    JsonShm,
    /// Legacy auth without `capability`.
    Legacy,
}

/// One step of the harness.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// An info request.
    Info {
        /// `queue_stats` (fast path), `models`, or any action.
        action: InfoAction,
        /// A deadline override in ms (at most one hour).
        timeout_ms: Option<u32>,
    },
    /// A management request.
    Management {
        /// The action.
        action: Short,
        /// A deadline override in ms.
        timeout_ms: Option<u32>,
    },
    /// An inference request, HTTP or gRPC, typed or shared-memory input.
    Inference {
        /// gRPC (a stream) instead of HTTP.
        grpc: bool,
        /// A shared-memory input instead of a typed tensor.
        shm: bool,
        /// Number of FP32 values (large ones exceed the 2 KiB frame limit).
        values: u16,
        /// Send a model name.
        model: bool,
        /// A deadline override in ms.
        timeout_ms: Option<u32>,
    },
    /// Cancels the k-th accepted request (finished or not).
    Cancel(u8),
    /// An arbitrary server text frame.
    Text(Text),
    /// A well-formed `auth.ok`.
    AuthOk(AuthOkChoice),
    /// An `info_response`.
    InfoResponse {
        /// Its `job_id`.
        job: TagChoice,
        /// `status:"success"` or `"error"`.
        success: bool,
        /// Its `data`.
        data: DataChoice,
    },
    /// A `management` reply.
    ManagementReply {
        /// Its top-level `request_id`.
        request_id: TagChoice,
        /// `payload.status`.
        status: bool,
        /// `payload.data`.
        data: DataChoice,
    },
    /// An `inference` frame.
    InferenceFrame {
        /// Its `uuid`.
        uuid: UuidChoice,
        /// `payload.status`.
        status: StatusChoice,
        /// `payload.data`.
        data: DataChoice,
        /// `payload.model_name`.
        model: Option<Short>,
    },
    /// An `error` frame.
    Error {
        /// `payload.code`.
        code: CodeChoice,
        /// `payload.message`.
        message: MessageChoice,
        /// `payload.dropped_type`.
        dropped_type: Option<KindChoice>,
        /// `payload.job_type`.
        job_type: Option<KindChoice>,
    },
    /// An unsolicited `alert`.
    Alert {
        /// `error_type`.
        error_type: Short,
        /// `message`.
        message: Short,
        /// `timestamp`.
        timestamp: Option<u32>,
    },
    /// A ping or pong arrived.
    Pong,
    /// The socket closed (`None`: without a close frame).
    Closed {
        /// The close code.
        code: Option<u16>,
        /// The close reason.
        reason: Short,
    },
    /// Time passes (at most one hour), then timers fire.
    Advance(u32),
    /// The transport opened (whether or not a dial was asked for).
    Connected,
    /// The transport failed to open.
    ConnectFailed,
    /// The answer to a readiness probe.
    Ready(bool),
    /// The application closes the connection for good.
    Close,
}

/// The action of an info request.
#[derive(Debug, Arbitrary)]
pub enum InfoAction {
    /// `queue_stats`
    QueueStats,
    /// `models`
    Models,
    /// Any action.
    Other(Short),
}

/// The shape of an `auth.ok` frame.
#[derive(Debug, Arbitrary)]
pub enum AuthOkChoice {
    /// `{"type":"auth.ok"}`
    Legacy,
    /// The capabilities the connection asked for.
    Echo,
    /// Any list of capability names (up to 8, read one after another).
    List(CapList),
    /// `capability` as a string, not a list.
    NotAList(Short),
}

/// Up to 8 capability names.
#[derive(Debug)]
pub struct CapList(pub Vec<Short>);

impl<'a> Arbitrary<'a> for CapList {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        bounded_list(u, 8).map(Self)
    }
}

/// A correlation tag (`job_id` or `request_id`).
#[derive(Debug, Arbitrary)]
pub enum TagChoice {
    /// The tag of the k-th accepted request (finished or not), with the right prefix for its
    /// kind or (`swap`) the other one.
    Issued {
        /// Which request.
        pick: u8,
        /// Use the other kind's prefix.
        swap: bool,
    },
    /// Any string.
    Raw(Short),
    /// A number.
    Number(u32),
    /// `null`.
    Null,
    /// The key is left out.
    Absent,
}

/// The `uuid` of an inference frame.
#[derive(Debug, Arbitrary)]
pub enum UuidChoice {
    /// The connection's current uuid.
    Current,
    /// Any string.
    Raw(Short),
    /// The key is left out.
    Absent,
}

/// The `status` of an inference frame.
#[derive(Debug, Arbitrary)]
pub enum StatusChoice {
    /// `START`
    Start,
    /// `ONGOING`
    Ongoing,
    /// `COMPLETED`
    Completed,
    /// `FAILED`
    Failed,
    /// Any string.
    Other(Short),
    /// Not a string.
    Number(u8),
}

/// A `data` value.
#[derive(Debug, Arbitrary)]
pub enum DataChoice {
    /// `null`
    Null,
    /// A string.
    Str(Short),
    /// A number.
    Number(i32),
    /// `{"<name>": [values…]}`, as a completed HTTP inference.
    Outputs {
        /// `OUTPUT0` or any name.
        name: Option<Short>,
        /// How many values.
        count: u8,
        /// The first value.
        first: i16,
    },
    /// The `queue_stats` counters.
    QueueStats {
        /// `total_queued`.
        total: u32,
        /// A negative counter instead.
        negative: bool,
    },
    /// A typed Triton error.
    TritonError {
        /// The code.
        code: TritonCodeChoice,
        /// The message.
        message: Short,
        /// `retriable`.
        retriable: bool,
        /// `retry_after_seconds`.
        retry_after: Option<i16>,
    },
    /// Any text: JSON when it parses, a string otherwise.
    Json(Text),
}

/// The code of a typed Triton error.
#[derive(Debug, Arbitrary)]
pub enum TritonCodeChoice {
    /// One of the known codes.
    Known(u8),
    /// Any string.
    Other(Short),
}

/// The `code` of an error frame.
#[derive(Debug, Arbitrary)]
pub enum CodeChoice {
    /// No code (validation, auth and Forbidden errors).
    None,
    /// One of the known codes.
    Known(u8),
    /// Any string.
    Other(Short),
    /// Not a string.
    Number(i32),
}

/// The `message` of an error frame.
#[derive(Debug, Arbitrary)]
pub enum MessageChoice {
    /// `Forbidden: missing '<role>' role`.
    Forbidden(KindChoice),
    /// Any string.
    Text(Short),
    /// Not a string.
    Number(i32),
    /// The key is left out.
    Absent,
}

/// A request kind, as named by `dropped_type` and in Forbidden texts.
#[derive(Debug, Arbitrary)]
pub enum KindChoice {
    /// `info`
    Info,
    /// `management`
    Management,
    /// `inference`
    Inference,
    /// Any string.
    Other(Short),
}

impl KindChoice {
    fn name(&self) -> &str {
        match self {
            Self::Info => "info",
            Self::Management => "management",
            Self::Inference => "inference",
            Self::Other(s) => s.as_str(),
        }
    }
}

const ERROR_CODES: [&str; 5] = [
    "BACKPRESSURE_QUEUE_FULL",
    "BACKPRESSURE_EXECUTOR_FULL",
    "BACKPRESSURE_INSUFFICIENT_BUDGET",
    "BACKPRESSURE_TENANT_LIMIT_REACHED",
    "SYSTEM_SHUTDOWN",
];

const TRITON_CODES: [&str; 11] = [
    "TRITON_INFERENCE_FAILED",
    "TRITON_SHAPE_MISMATCH",
    "TRITON_SHM_UNAVAILABLE",
    "TRITON_SHM_REGISTRATION_FAILED",
    "TRITON_MODEL_MISSING",
    "TRITON_AUTH_FAILED",
    "TRITON_TIMEOUT",
    "TRITON_NETWORK",
    "TRITON_OVERLOADED",
    "TRITON_CIRCUIT_OPEN",
    "TRITON_ERROR",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Info,
    Management,
    Inference,
}

struct Harness {
    conn: Connection,
    config: Config,
    now: Instant,
    /// Accepted requests, in order, with their kind.
    accepted: Vec<(RequestId, Kind)>,
    ids: HashSet<RequestId>,
    finished: HashSet<RequestId>,
    bound: usize,
}

impl Harness {
    fn new(setup: &Setup) -> Self {
        let mut config = Config::new("fuzz");
        config.capabilities = match setup.caps {
            CapsChoice::Json => vec!["json".into()],
            CapsChoice::JsonShm => vec!["json".into(), "shm".into()],
            CapsChoice::Legacy => Vec::new(),
        };
        config.keepalive = setup.keepalive.then(KeepaliveConfig::default);
        config.reconnect = setup.reconnect.then(ReconnectPolicy::default);
        config.exact_first_uuid = setup.exact_first_uuid;
        if setup.small_frames {
            config.max_message_bytes = 2048;
        }
        config.max_queued = 8;
        config.max_info_in_flight = 4;
        config.seed = Some(u64::from(setup.seed));
        let bound = 3 * config.max_queued + config.max_info_in_flight + 2;
        Self {
            conn: Connection::new(config.clone(), AuthContext::anonymous()),
            config,
            now: Instant::now(),
            accepted: Vec::new(),
            ids: HashSet::new(),
            finished: HashSet::new(),
            bound,
        }
    }

    /// Drains every output and checks the per-step invariants.
    fn drain(&mut self) {
        while let Some(t) = self.conn.poll_transmit() {
            if let Transmit::Text(s) = t {
                if let Err(e) = serde_json::from_str::<Value>(&s) {
                    panic!("transmitted text is not JSON ({e}): {s}");
                }
                assert!(
                    s.len() <= self.config.max_message_bytes,
                    "transmitted {} bytes, limit {}",
                    s.len(),
                    self.config.max_message_bytes
                );
            }
        }
        while let Some(e) = self.conn.poll_event() {
            match e {
                Event::Finished { id, .. } => {
                    assert!(self.ids.contains(&id), "finished unknown request {id}");
                    assert!(self.finished.insert(id), "request {id} finished twice");
                }
                Event::Stream { id, .. } => {
                    assert!(
                        self.ids.contains(&id),
                        "stream frame for unknown request {id}"
                    );
                    assert!(
                        !self.finished.contains(&id),
                        "stream frame after finish of {id}"
                    );
                }
                _ => {}
            }
        }
        // The driver would act on it; the harness answers with later ops (or not at all).
        let _ = self.conn.poll_dial();
        let live = self.ids.len() - self.finished.len();
        assert_eq!(
            self.conn.pending(),
            live,
            "pending() disagrees with live requests"
        );
        assert!(
            self.conn.pending() <= self.bound,
            "pending() = {} exceeds {}",
            self.conn.pending(),
            self.bound
        );
    }

    fn request(&mut self, request: Request, kind: Kind, timeout_ms: Option<u32>) {
        let timeout = timeout_ms.map(|ms| Duration::from_millis(bounded_ms(ms)));
        if let Ok(id) = self.conn.request(self.now, request, timeout) {
            assert!(self.ids.insert(id), "request id {id} returned twice");
            self.accepted.push((id, kind));
        }
    }

    fn send(&mut self, frame: Value) {
        self.conn.handle_text(self.now, &frame.to_string());
    }

    fn tag(&self, choice: &TagChoice) -> Option<Value> {
        Some(match choice {
            TagChoice::Issued { pick, swap } => {
                if self.accepted.is_empty() {
                    return Some(json!("j1"));
                }
                let (id, kind) = self.accepted[usize::from(*pick) % self.accepted.len()];
                let prefix = match (kind, *swap) {
                    (Kind::Info, false) | (Kind::Management, true) => 'j',
                    (Kind::Management, false) | (Kind::Info, true) => 'm',
                    (Kind::Inference, false) => 'i',
                    (Kind::Inference, true) => 'j',
                };
                json!(format!("{prefix}{}", id.get()))
            }
            TagChoice::Raw(s) => json!(s.as_str()),
            TagChoice::Number(n) => json!(n),
            TagChoice::Null => Value::Null,
            TagChoice::Absent => return None,
        })
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Info { action, timeout_ms } => {
                let action = match action {
                    InfoAction::QueueStats => "queue_stats".into(),
                    InfoAction::Models => "models".into(),
                    InfoAction::Other(s) => s.0.into(),
                };
                self.request(
                    Request::Info(InfoRequest { action }),
                    Kind::Info,
                    timeout_ms,
                );
            }
            Op::Management { action, timeout_ms } => {
                let mut payload = Map::new();
                payload.insert("container_id".into(), json!("c"));
                let req = Request::Management(ManagementRequest {
                    action: action.0,
                    payload,
                });
                self.request(req, Kind::Management, timeout_ms);
            }
            Op::Inference {
                grpc,
                shm,
                values,
                model,
                timeout_ms,
            } => {
                let n = usize::from(values % 1024);
                let input = if shm {
                    ShmReference {
                        name: "INPUT0".into(),
                        shm_key: "/tcm_fuzz_input0".into(),
                        offset: 0,
                        byte_size: 4 * n as u64,
                        shape: vec![n as u64],
                        dtype: "FP32".into(),
                    }
                    .into()
                } else {
                    Tensor::vector("INPUT0", TensorData::Fp32(vec![1.5; n])).into()
                };
                let req = Request::from({
                    let mut r = InferenceRequest::target("127.0.0.1", "c").with_inputs(vec![input]);
                    r.model_name = model.then(|| "identity".into());
                    r.protocol = if grpc { Protocol::Grpc } else { Protocol::Http };
                    r
                });
                self.request(req, Kind::Inference, timeout_ms);
            }
            Op::Cancel(k) => {
                if !self.accepted.is_empty() {
                    let (id, _) = self.accepted[usize::from(k) % self.accepted.len()];
                    let was_live = !self.finished.contains(&id);
                    let live = self.conn.cancel(self.now, id);
                    assert_eq!(live, was_live, "cancel({id}) disagrees on liveness");
                }
            }
            Op::Text(t) => self.conn.handle_text(self.now, &t.0),
            Op::AuthOk(choice) => {
                let frame = match choice {
                    AuthOkChoice::Legacy => json!({"type": "auth.ok"}),
                    AuthOkChoice::Echo => {
                        json!({"type": "auth.ok", "payload": {"capability": self.config.capabilities}})
                    }
                    AuthOkChoice::List(list) => {
                        let caps: Vec<&str> = list.0.iter().map(Short::as_str).collect();
                        json!({"type": "auth.ok", "payload": {"capability": caps}})
                    }
                    AuthOkChoice::NotAList(s) => {
                        json!({"type": "auth.ok", "payload": {"capability": s.as_str()}})
                    }
                };
                self.send(frame);
            }
            Op::InfoResponse { job, success, data } => {
                let mut payload = Map::new();
                if let Some(tag) = self.tag(&job) {
                    payload.insert("job_id".into(), tag);
                }
                payload.insert("request_type".into(), json!("queue_stats"));
                payload.insert(
                    "status".into(),
                    json!(if success { "success" } else { "error" }),
                );
                payload.insert("data".into(), data_value(&data));
                if !success {
                    payload.insert("error".into(), json!("failed"));
                }
                self.send(json!({"type": "info_response", "payload": payload}));
            }
            Op::ManagementReply {
                request_id,
                status,
                data,
            } => {
                let mut frame = Map::new();
                frame.insert("uuid".into(), json!(self.conn.uuid()));
                frame.insert("type".into(), json!("management"));
                if let Some(tag) = self.tag(&request_id) {
                    frame.insert("request_id".into(), tag);
                }
                frame.insert(
                    "payload".into(),
                    json!({"status": status, "data": data_value(&data)}),
                );
                self.send(Value::Object(frame));
            }
            Op::InferenceFrame {
                uuid,
                status,
                data,
                model,
            } => {
                let mut frame = Map::new();
                frame.insert("type".into(), json!("inference"));
                match uuid {
                    UuidChoice::Current => {
                        frame.insert("uuid".into(), json!(self.conn.uuid()));
                    }
                    UuidChoice::Raw(s) => {
                        frame.insert("uuid".into(), json!(s.0));
                    }
                    UuidChoice::Absent => {}
                }
                let status = match status {
                    StatusChoice::Start => json!("START"),
                    StatusChoice::Ongoing => json!("ONGOING"),
                    StatusChoice::Completed => json!("COMPLETED"),
                    StatusChoice::Failed => json!("FAILED"),
                    StatusChoice::Other(s) => json!(s.0),
                    StatusChoice::Number(n) => json!(n),
                };
                frame.insert(
                    "payload".into(),
                    json!({
                        "data": data_value(&data),
                        "status": status,
                        "model_name": model.map(|m| m.0),
                    }),
                );
                self.send(Value::Object(frame));
            }
            Op::Error {
                code,
                message,
                dropped_type,
                job_type,
            } => {
                let mut payload = Map::new();
                match code {
                    CodeChoice::None => {}
                    CodeChoice::Known(k) => {
                        payload.insert(
                            "code".into(),
                            json!(ERROR_CODES[usize::from(k) % ERROR_CODES.len()]),
                        );
                    }
                    CodeChoice::Other(s) => {
                        payload.insert("code".into(), json!(s.0));
                    }
                    CodeChoice::Number(n) => {
                        payload.insert("code".into(), json!(n));
                    }
                }
                match message {
                    MessageChoice::Forbidden(kind) => {
                        let text = format!("Forbidden: missing '{}' role", kind.name());
                        payload.insert("message".into(), json!(text));
                    }
                    MessageChoice::Text(s) => {
                        payload.insert("message".into(), json!(s.0));
                    }
                    MessageChoice::Number(n) => {
                        payload.insert("message".into(), json!(n));
                    }
                    MessageChoice::Absent => {}
                }
                if let Some(k) = dropped_type {
                    payload.insert("dropped_type".into(), json!(k.name()));
                }
                if let Some(k) = job_type {
                    payload.insert("job_type".into(), json!(k.name()));
                    payload.insert("tenant_id".into(), json!("unknown"));
                }
                self.send(json!({"type": "error", "payload": payload}));
            }
            Op::Alert {
                error_type,
                message,
                timestamp,
            } => {
                self.send(json!({
                    "type": "alert",
                    "error_type": error_type.0,
                    "message": message.0,
                    "timestamp": timestamp.map(|t| f64::from(t) / 8.0),
                }));
            }
            Op::Pong => self.conn.handle_pong(self.now),
            Op::Closed { code, reason } => self.conn.handle_closed(self.now, code, &reason.0),
            Op::Advance(ms) => {
                self.now += Duration::from_millis(bounded_ms(ms));
                self.conn.handle_timeout(self.now);
            }
            Op::Connected => self.conn.handle_connected(self.now),
            Op::ConnectFailed => self.conn.handle_connect_failed(self.now, "refused"),
            Op::Ready(ready) => self.conn.handle_ready(self.now, ready),
            Op::Close => self.conn.close(self.now),
        }
        self.drain();
    }

    /// Every dial fails and time runs past every deadline: everything must resolve.
    fn settle(&mut self) {
        let horizon = self.now + Duration::from_secs(4 * 3600);
        let mut steps = 0u32;
        loop {
            self.conn.handle_connect_failed(self.now, "refused");
            self.conn.handle_ready(self.now, false);
            self.drain();
            if self.conn.pending() == 0 {
                break;
            }
            let Some(t) = self.conn.poll_timeout() else {
                panic!(
                    "{} requests pending and no timer set (state {:?})",
                    self.conn.pending(),
                    self.conn.state()
                );
            };
            assert!(
                t <= horizon,
                "{} requests still pending past every deadline",
                self.conn.pending()
            );
            self.now = self.now.max(t);
            self.conn.handle_timeout(self.now);
            self.drain();
            steps += 1;
            assert!(steps < 100_000, "timers keep firing without progress");
        }
        assert_eq!(self.conn.pending(), 0);
        assert_eq!(
            self.finished.len(),
            self.ids.len(),
            "not every accepted request finished"
        );
    }
}

fn data_value(data: &DataChoice) -> Value {
    match data {
        DataChoice::Null => Value::Null,
        DataChoice::Str(s) => json!(s.0),
        DataChoice::Number(n) => json!(n),
        DataChoice::Outputs { name, count, first } => {
            let name = name.as_ref().map_or("OUTPUT0", Short::as_str);
            let values: Vec<f64> = (0..*count % 64)
                .map(|i| f64::from(*first) + f64::from(i))
                .collect();
            json!({ name: values })
        }
        DataChoice::QueueStats { total, negative } => {
            let total = if *negative { json!(-1) } else { json!(total) };
            json!({"total_queued": total, "info_users": 1, "executor_info_available": 2})
        }
        DataChoice::TritonError {
            code,
            message,
            retriable,
            retry_after,
        } => {
            let code = match code {
                TritonCodeChoice::Known(k) => TRITON_CODES[usize::from(*k) % TRITON_CODES.len()],
                TritonCodeChoice::Other(s) => s.as_str(),
            };
            let mut m = Map::new();
            m.insert("code".into(), json!(code));
            m.insert("message".into(), json!(message.0));
            m.insert("retriable".into(), json!(retriable));
            if let Some(r) = retry_after {
                m.insert("retry_after_seconds".into(), json!(f64::from(*r) / 4.0));
            }
            Value::Object(m)
        }
        DataChoice::Json(t) => json_or_string(&t.0),
    }
}

/// The target body.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let mut h = Harness::new(&setup);
    h.drain();
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        h.step(op);
    }
    h.settle();
}

/// Decodes an input into its setup and operations, one per line, for reading a crash:
/// `TCM_FUZZ_DESCRIBE=<file> cargo test --manifest-path fuzz/Cargo.toml --test replay
/// describe -- --nocapture`.
pub fn describe(data: &[u8]) -> String {
    let mut u = Unstructured::new(data);
    let mut out = String::new();
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return out;
    };
    out.push_str(&format!("{setup:?}\n"));
    for _ in 0..MAX_OPS {
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        out.push_str(&format!("{op:?}\n"));
    }
    out
}
