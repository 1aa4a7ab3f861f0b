//! A simulated-time harness: plays the server side of a [`Connection`] with literal frames.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tcm_proto::{
    AuthContext, Config, Connection, Dial, Event, InferenceRequest, InfoRequest, Request,
    RequestError, RequestId, Response, Tensor, TensorData, Transmit,
};

/// The shared vectors directory: `$TCM_VECTORS_DIR`, else `<repo>/../shared/vectors`.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("TCM_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

/// Reads a JSON file under the vectors directory.
pub fn vector(rel: &str) -> Value {
    let path = vectors_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The frames a conversation expects from the server, in order (`expect` steps only).
pub fn expected_frames(conversation: &str) -> Vec<Value> {
    let v = vector(&format!("tcm/conversations/{conversation}.json"));
    let mut out = Vec::new();
    for step in v["steps"].as_array().into_iter().flatten() {
        if let Some(f) = step.get("expect") {
            out.push(f.clone());
        }
        if let Some(list) = step.get("expect_unordered").and_then(Value::as_array) {
            for f in list {
                out.push(f.get("$optional").unwrap_or(f).clone());
            }
        }
    }
    out
}

/// The frames a conversation's client sends (`send` steps only).
pub fn sent_frames(conversation: &str) -> Vec<Value> {
    let v = vector(&format!("tcm/conversations/{conversation}.json"));
    v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("send").cloned())
        .collect()
}

/// What the connection wrote to its socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Frame(Value),
    Ping,
    Close(u16),
}

pub struct Harness {
    pub conn: Connection,
    pub now: Instant,
    pub out: Vec<Out>,
    pub events: Vec<Event>,
    pub dials: Vec<Dial>,
}

pub fn config() -> Config {
    let mut c = Config::new("client");
    c.seed = Some(7);
    c
}

impl Harness {
    /// A connection that has dialled and sent its auth frame (not yet answered).
    pub fn dialled(config: Config) -> Self {
        let mut h = Self {
            conn: Connection::new(config, AuthContext::anonymous()),
            now: Instant::now(),
            out: Vec::new(),
            events: Vec::new(),
            dials: Vec::new(),
        };
        h.drain();
        h.connected();
        h
    }

    /// A connection that is authenticated (legacy `auth.ok`).
    pub fn open(config: Config) -> Self {
        let mut h = Self::dialled(config);
        h.server(r#"{"type":"auth.ok"}"#);
        h.out.clear();
        h.events.clear();
        h
    }

    pub fn connected(&mut self) {
        self.conn.handle_connected(self.now);
        self.drain();
    }

    pub fn drain(&mut self) {
        while let Some(t) = self.conn.poll_transmit() {
            self.out.push(match t {
                Transmit::Text(s) => Out::Frame(serde_json::from_str(&s).expect("client JSON")),
                Transmit::Secret(s) => {
                    Out::Frame(serde_json::from_str(s.expose()).expect("client JSON"))
                }
                Transmit::Ping(_) => Out::Ping,
                Transmit::Close { code, .. } => Out::Close(code),
            });
        }
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
        if let Some(d) = self.conn.poll_dial() {
            self.dials.push(d);
        }
    }

    /// The server sends `frame`; `$UUID` in it stands for this connection's uuid.
    pub fn server(&mut self, frame: &str) {
        let frame = frame.replace("$UUID", self.conn.uuid());
        self.conn.handle_text(self.now, &frame);
        self.drain();
    }

    /// The server sends a recorded frame, addressed to this connection's uuid (the recording
    /// was made with another client's uuid).
    pub fn server_value(&mut self, frame: &Value) {
        let mut frame = frame.clone();
        if let Some(u) = frame.get_mut("uuid") {
            *u = Value::String(self.conn.uuid().to_owned());
        }
        self.server(&frame.to_string());
    }

    pub fn closed(&mut self, code: Option<u16>) {
        self.conn.handle_closed(self.now, code, "");
        self.drain();
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.conn.handle_timeout(self.now);
        self.drain();
    }

    /// Advances to the next armed timer and fires it.
    pub fn fire_next_timer(&mut self) {
        let t = self.conn.poll_timeout().expect("a timer is armed");
        self.now = self.now.max(t);
        self.conn.handle_timeout(self.now);
        self.drain();
    }

    pub fn request(&mut self, r: Request) -> RequestId {
        let id = self.conn.request(self.now, r, None).expect("accepted");
        self.drain();
        id
    }

    pub fn take_frames(&mut self) -> Vec<Value> {
        let out = std::mem::take(&mut self.out);
        out.into_iter()
            .filter_map(|o| match o {
                Out::Frame(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The outcome of `id`, asserting it finished exactly once.
    pub fn outcome(&self, id: RequestId) -> Result<Response, RequestError> {
        let found: Vec<_> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Finished { id: i, outcome } if *i == id => Some(outcome.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "request {id} must finish exactly once: {:?}",
            self.events
        );
        found.into_iter().next().expect("one outcome")
    }

    pub fn is_finished(&self, id: RequestId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Finished { id: i, .. } if *i == id))
    }
}

pub fn identity(values: Vec<f32>) -> Request {
    Request::from(
        InferenceRequest::new("127.0.0.1", "ctr-1", "identity")
            .with_inputs(vec![
                Tensor::vector("INPUT0", TensorData::Fp32(values)).into(),
            ])
            .with_allow_transient(true),
    )
}

pub fn queue_stats() -> Request {
    Request::Info(InfoRequest::queue_stats())
}

pub fn completed(outputs: &str) -> String {
    format!(
        r#"{{"type":"inference","uuid":"$UUID","payload":{{"data":{outputs},"status":"COMPLETED","model_name":"identity"}}}}"#
    )
}
