//! Records for assertions: every frame in both directions, every handshake, and every
//! server → client call with the client's reply, kept in memory and, when
//! [`RpcServerConfig::record_file`](crate::RpcServerConfig::record_file) is set, appended to a
//! file as JSON lines as they happen:
//!
//! ```text
//! {"event":"handshake","at_ms":1.2,"path":"/ws/v0/rpc/","outcome":"accepted","headers":{"authorization":"<redacted>",...}}
//! {"event":"frame","at_ms":1.5,"conn":1,"direction":"to_client","binary":false,"text":"{\"jsonrpc\":\"2.0\",...}"}
//! {"event":"call","at_ms":9.0,"conn":1,"id":"srv-1","method":"create_node","params":{...},"reply":{"result":{"message":"Ok"}}}
//! ```
//!
//! `outcome` is `accepted`, `forbidden`, `closed_before_session` or `not_found`; `direction`
//! `to_client` or `from_client`; `reply` `{"result": V}`, `{"error": {"code", "message",
//! "data"}}`, `"malformed"`, `"no_reply"` or `"disconnected"`. The `Authorization` header and
//! `api_key`-like fields inside frames are redacted in the file.

use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
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

/// `text` unchanged, unless it is JSON with `api_key`-like fields: then re-encoded with them
/// redacted.
fn redacted_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let mut r = v.clone();
            redact(&mut r);
            if r == v {
                text.to_string()
            } else {
                r.to_string()
            }
        }
        Err(_) => text.to_string(),
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
    sink: Mutex<Option<std::fs::File>>,
}

impl Recorder {
    /// A recorder that also writes JSON lines to `sink`, if any.
    pub(crate) fn new(sink: Option<std::fs::File>) -> Self {
        Self {
            start: Instant::now(),
            frames: Mutex::new(Vec::new()),
            handshakes: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            sink: Mutex::new(sink),
        }
    }

    /// Appends one event line to the record file (a failing write is dropped: the in-memory
    /// record stays complete).
    fn write_line(&self, mut event: Value) {
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        let Some(file) = sink.as_mut() else { return };
        event["at_ms"] = json!(self.start.elapsed().as_secs_f64() * 1000.0);
        // One write per line, so a reader never sees half an event.
        let line = format!("{event}\n");
        let _ = file.write_all(line.as_bytes());
        let _ = file.flush();
    }

    pub(crate) fn frame(&self, conn: u64, direction: Direction, text: String, binary: bool) {
        let at = self.start.elapsed();
        self.write_line(json!({
            "event": "frame",
            "conn": conn,
            "direction": match direction {
                Direction::FromClient => "from_client",
                Direction::ToClient => "to_client",
            },
            "binary": binary,
            "text": redacted_text(&text),
        }));
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
        let headers: serde_json::Map<String, Value> = record
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if k == "authorization" {
                    "<redacted>"
                } else {
                    v
                };
                (k.clone(), Value::String(v.to_string()))
            })
            .collect();
        self.write_line(json!({
            "event": "handshake",
            "path": record.path,
            "outcome": match record.outcome {
                HandshakeOutcome::Accepted => "accepted",
                HandshakeOutcome::Forbidden => "forbidden",
                HandshakeOutcome::ClosedBeforeSession => "closed_before_session",
                HandshakeOutcome::NotFound => "not_found",
            },
            "headers": headers,
        }));
        if let Ok(mut v) = self.handshakes.lock() {
            v.push(record);
        }
    }

    pub(crate) fn call(&self, call: ClientCall) {
        let reply = match &call.reply {
            CallReply::Result(v) => json!({ "result": v }),
            CallReply::Error(e) => {
                json!({"error": {"code": e.code, "message": e.message, "data": e.data}})
            }
            CallReply::Malformed => json!("malformed"),
            CallReply::NoReply => json!("no_reply"),
            CallReply::Disconnected => json!("disconnected"),
        };
        let mut params = call.params.clone();
        redact(&mut params);
        self.write_line(json!({
            "event": "call",
            "conn": call.conn,
            "id": call.id,
            "method": call.method,
            "params": params,
            "reply": reply,
        }));
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
