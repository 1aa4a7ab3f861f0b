//! In-memory records for assertions: every frame in both directions, every handshake, and every
//! server → client call with the client's reply.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use tcm_proto::jsonrpc::RpcError;

/// Which way a frame travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client → server.
    FromClient,
    /// Server → client.
    ToClient,
}

/// One logged WebSocket data frame. `Debug` redacts `api_key`-like fields (the LM provider key
/// of `create_model`) and shortens long frames; `text` holds the frame unchanged.
#[derive(Clone, PartialEq)]
pub struct FrameRecord {
    /// The connection it belongs to (numbered from 1 in accept order).
    pub conn: u64,
    /// Which way it went.
    pub direction: Direction,
    /// The frame's text (binary frames are decoded lossily).
    pub text: String,
    /// Whether it was a binary frame.
    pub binary: bool,
    /// Time since the server started.
    pub at: Duration,
}

impl FrameRecord {
    /// The frame parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.text).ok()
    }
}

impl fmt::Debug for FrameRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = match self.json() {
            Some(mut v) => {
                redact(&mut v);
                v.to_string()
            }
            None => self.text.clone(),
        };
        if shown.len() > 1024 {
            let mut cut = 1024;
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            shown = format!("{}... ({} bytes)", &shown[..cut], self.text.len());
        }
        f.debug_struct("FrameRecord")
            .field("conn", &self.conn)
            .field("direction", &self.direction)
            .field("text", &shown)
            .field("binary", &self.binary)
            .field("at", &self.at)
            .finish()
    }
}

/// Replaces the value of every key containing `api_key` or `apikey` (any case) by a marker.
fn redact(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                let k = k.to_ascii_lowercase().replace(['-', '_'], "");
                if k.contains("apikey") {
                    *x = Value::String("<redacted>".into());
                } else {
                    redact(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

/// What became of a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    /// Upgraded; a session started.
    Accepted,
    /// Refused with HTTP 403 (bad or missing key).
    Forbidden,
    /// Upgraded, then closed before the session frame (bad or missing key).
    ClosedBeforeSession,
    /// Refused with HTTP 404 (wrong path).
    NotFound,
}

/// One upgrade request as received. `Debug` redacts the `Authorization` value; use
/// [`header`](Self::header) to assert on it.
#[derive(Clone, PartialEq)]
pub struct HandshakeRecord {
    /// The request path.
    pub path: String,
    /// All headers, names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// What the server did with it.
    pub outcome: HandshakeOutcome,
}

impl HandshakeRecord {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the handshake carried `Authorization: Api-Key <key>`.
    pub fn carried_key(&self, key: &str) -> bool {
        self.header("authorization")
            .is_some_and(|v| v.strip_prefix("Api-Key ") == Some(key))
    }
}

impl fmt::Debug for HandshakeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if k == "authorization" {
                    (k.as_str(), "<redacted>")
                } else {
                    (k.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("HandshakeRecord")
            .field("path", &self.path)
            .field("headers", &headers)
            .field("outcome", &self.outcome)
            .finish()
    }
}

/// How the client answered a server → client call.
#[derive(Debug, Clone, PartialEq)]
pub enum CallReply {
    /// A `result` reply.
    Result(Value),
    /// An `error` reply.
    Error(RpcError),
    /// A reply with the right id but neither `result` nor `error`.
    Malformed,
    /// No reply within the configured timeout.
    NoReply,
    /// The connection ended before the reply.
    Disconnected,
}

impl CallReply {
    /// The result, if the client answered with one.
    pub fn result(&self) -> Option<&Value> {
        match self {
            Self::Result(v) => Some(v),
            _ => None,
        }
    }

    /// The error, if the client answered with one.
    pub fn error(&self) -> Option<&RpcError> {
        match self {
            Self::Error(e) => Some(e),
            _ => None,
        }
    }
}

/// A server → client call and the client's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientCall {
    /// The connection it was made on.
    pub conn: u64,
    /// The request id the server used.
    pub id: Value,
    /// The method (empty for a raw call whose text had none).
    pub method: String,
    /// The params sent.
    pub params: Value,
    /// The reply.
    pub reply: CallReply,
}

/// The server's recorder, shared by all threads.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    frames: Mutex<Vec<FrameRecord>>,
    handshakes: Mutex<Vec<HandshakeRecord>>,
    calls: Mutex<Vec<ClientCall>>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            frames: Mutex::new(Vec::new()),
            handshakes: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn frame(&self, conn: u64, direction: Direction, text: String, binary: bool) {
        let at = self.start.elapsed();
        if let Ok(mut v) = self.frames.lock() {
            v.push(FrameRecord {
                conn,
                direction,
                text,
                binary,
                at,
            });
        }
    }

    pub(crate) fn handshake(&self, record: HandshakeRecord) {
        if let Ok(mut v) = self.handshakes.lock() {
            v.push(record);
        }
    }

    pub(crate) fn call(&self, call: ClientCall) {
        if let Ok(mut v) = self.calls.lock() {
            v.push(call);
        }
    }

    pub(crate) fn frames(&self) -> Vec<FrameRecord> {
        self.frames.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub(crate) fn handshakes(&self) -> Vec<HandshakeRecord> {
        self.handshakes
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    pub(crate) fn calls(&self) -> Vec<ClientCall> {
        self.calls.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut v) = self.frames.lock() {
            v.clear();
        }
        if let Ok(mut v) = self.handshakes.lock() {
            v.clear();
        }
        if let Ok(mut v) = self.calls.lock() {
            v.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_debug_redacts_provider_keys() {
        let r = FrameRecord {
            conn: 1,
            direction: Direction::FromClient,
            text: r#"{"method":"create_model","params":{"config":{"api_key":"sk-provider"}}}"#
                .into(),
            binary: false,
            at: Duration::ZERO,
        };
        assert!(!format!("{r:?}").contains("sk-provider"));
        assert!(r.text.contains("sk-provider"));
    }

    #[test]
    fn handshake_debug_redacts_the_key() {
        let r = HandshakeRecord {
            path: "/ws/v0/rpc/".into(),
            headers: vec![("authorization".into(), "Api-Key secret-1".into())],
            outcome: HandshakeOutcome::Accepted,
        };
        assert!(!format!("{r:?}").contains("secret-1"));
        assert!(r.carried_key("secret-1"));
        assert!(!r.carried_key("secret"));
    }
}
