//! Decoding of server → client frames (TCM §3.3).
//!
//! Every text frame the server can send decodes into a [`ServerFrame`]. Unknown fields are kept
//! in `extra` maps, unknown codes as `Other(..)` variants and unknown frame types as
//! [`ServerFrame::Unknown`], so a newer server never breaks an older client. Only input that is
//! not a JSON object with a string `type` is an error, and it is a typed one: decoding never
//! panics.
//!
//! [`ServerFrame::decode`] reads the text once, straight into these structures, with no
//! `serde_json::Value` for the frames of the hot path: queue counters and inference outputs are
//! typed, strings are copied once from the text. The parts the API keeps as JSON (`extra` maps,
//! a management reply's `data`, an info reply's `data` other than the queue counters) are
//! parsed from their own text only. Anything the typed reading does not handle (unknown frame
//! types, invalid JSON, unusual shapes) is decoded through a `Value` as before, with the same
//! result and the same errors.

use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::{ErrorCode, TritonCode, TritonError};
use crate::event::QueueStats;
use crate::json::{Bail, Scan, Scanner};
use crate::outputs::Outputs;

/// Why a server frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A binary WebSocket frame: the protocol has text frames only.
    #[error("binary frame of {0} bytes; the protocol has text frames only")]
    Binary(usize),
    /// The text is not valid JSON.
    #[error("invalid JSON at line {line} column {column}: {message}")]
    InvalidJson {
        /// Line of the error (1-based).
        line: usize,
        /// Column of the error (1-based).
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The frame is JSON but not an object.
    #[error("frame is a JSON {0}, not an object")]
    NotAnObject(&'static str),
    /// The object has no `type` key.
    #[error("frame has no 'type' field")]
    MissingType,
    /// A field has the wrong JSON type.
    #[error("field '{field}' must be {expected}, found {found}")]
    FieldType {
        /// Dotted path of the field.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required field is missing.
    #[error("frame of type '{kind}' has no '{field}' field")]
    MissingField {
        /// The frame type.
        kind: &'static str,
        /// Dotted path of the missing field.
        field: &'static str,
    },
}

/// The type of a client request, as named by `dropped_type` and in Forbidden texts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `info`
    Info,
    /// `management`
    Management,
    /// `inference`
    Inference,
    /// Anything else.
    Other(String),
}

impl MessageKind {
    /// Parses a wire name.
    pub fn parse(s: &str) -> Self {
        match s {
            "info" => Self::Info,
            "management" => Self::Management,
            "inference" => Self::Inference,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One decoded server frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// `auth.ok`: `capability` is `None` for the legacy shape without a payload.
    AuthOk {
        /// The negotiated capabilities, if the server sent them.
        capability: Option<Vec<String>>,
    },
    /// `error`, with or without a code.
    Error(ErrorFrame),
    /// `info_response`.
    InfoResponse(InfoResponse),
    /// A `management` reply: the request envelope echoed with `{status, data}`.
    Management(ManagementReply),
    /// An `inference` frame: a final reply or a gRPC stream frame.
    Inference(InferenceFrame),
    /// An unsolicited `alert`.
    Alert(Alert),
    /// A frame of a type this crate does not know; kept whole.
    Unknown {
        /// The `type` value.
        kind: String,
        /// The whole frame.
        raw: Value,
    },
}

/// The payload of an `error` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFrame {
    /// The code; `None` for validation, auth and Forbidden errors.
    pub code: Option<ErrorCode>,
    /// The human-readable text.
    pub message: String,
    /// For drop notices: the type of the dropped request.
    pub dropped_type: Option<MessageKind>,
    /// For budget advisories: the delayed job type.
    pub job_type: Option<String>,
    /// For budget advisories: the tenant.
    pub tenant_id: Option<String>,
    /// Payload keys not modelled above.
    pub extra: Map<String, Value>,
}

impl ErrorFrame {
    /// Which request type a `Forbidden: missing '<role>' role` text refers to.
    pub fn forbidden_kind(&self) -> Option<MessageKind> {
        if self.code.is_some() {
            return None;
        }
        let rest = self.message.strip_prefix("Forbidden: missing '")?;
        let role = rest.strip_suffix("' role")?;
        Some(MessageKind::parse(role))
    }
}

/// The payload of an `info_response` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct InfoResponse {
    /// The echoed `job_id` (any JSON; `null` when the request had none).
    pub job_id: Value,
    /// The resolved action.
    pub request_type: Option<String>,
    /// `true` for `status:"success"`.
    pub success: bool,
    /// The `data` object.
    pub data: InfoData,
    /// The `error` text of the error variant.
    pub error: Option<String>,
}

/// The `data` of an info reply. It reads as the `serde_json::Value` the server sent (through
/// `Deref`, [`as_value`](Self::as_value) or [`into_value`](Self::into_value)); when it is
/// exactly the queue counters object (the `queue_stats` fast path, TCM §7) it was decoded
/// straight into [`QueueStats`], which [`queue_stats`](Self::queue_stats) returns without
/// building any JSON, and the `Value` is built only if something reads it.
#[derive(Clone, Default)]
pub struct InfoData {
    /// The counters, when `data` is exactly their object (boxed: frames move by value, and
    /// most are not info replies).
    stats: Option<Box<QueueStats>>,
    /// The JSON, as sent or built from `stats` on first use.
    json: OnceLock<Value>,
}

impl InfoData {
    fn from_stats(stats: QueueStats) -> Self {
        Self {
            stats: Some(Box::new(stats)),
            json: OnceLock::new(),
        }
    }

    /// The queue counters, if `data` is the stats object (as [`QueueStats::from_data`]
    /// reads it).
    pub fn queue_stats(&self) -> Option<QueueStats> {
        match &self.stats {
            Some(stats) => Some(**stats),
            None => QueueStats::from_data(self.as_value()),
        }
    }

    /// The data as JSON (built on first use when it was decoded typed).
    pub fn as_value(&self) -> &Value {
        self.json
            .get_or_init(|| self.stats.as_ref().map_or(Value::Null, |s| s.to_value()))
    }

    /// The data as JSON, by value.
    pub fn into_value(self) -> Value {
        match (self.json.into_inner(), self.stats) {
            (Some(value), _) => value,
            (None, Some(stats)) => stats.to_value(),
            (None, None) => Value::Null,
        }
    }
}

impl From<Value> for InfoData {
    fn from(value: Value) -> Self {
        Self {
            stats: None,
            json: OnceLock::from(value),
        }
    }
}

impl Deref for InfoData {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.as_value()
    }
}

impl PartialEq for InfoData {
    fn eq(&self, other: &Self) -> bool {
        match (&self.stats, &other.stats) {
            (Some(a), Some(b)) => a == b,
            _ => self.as_value() == other.as_value(),
        }
    }
}

impl PartialEq<Value> for InfoData {
    fn eq(&self, other: &Value) -> bool {
        self.as_value() == other
    }
}

impl fmt::Debug for InfoData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_value(), f)
    }
}

impl fmt::Display for InfoData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_value(), f)
    }
}

/// A `management` reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagementReply {
    /// The echoed top-level `request_id`, if the request carried one.
    pub request_id: Option<Value>,
    /// The echoed client uuid.
    pub uuid: Option<String>,
    /// `payload.status`.
    pub status: bool,
    /// `payload.data`.
    pub data: Value,
}

/// The `status` of an inference frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InferenceStatus {
    /// A gRPC stream started.
    Start,
    /// A gRPC stream chunk.
    Ongoing,
    /// Final success.
    Completed,
    /// Final failure.
    Failed,
    /// A status this crate does not know.
    Other(String),
}

impl InferenceStatus {
    fn parse(s: &str) -> Self {
        match s {
            "START" => Self::Start,
            "ONGOING" => Self::Ongoing,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether this status ends the request.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// An `inference` frame.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceFrame {
    /// The client uuid the server routed the frame to.
    pub uuid: Option<String>,
    /// The status.
    pub status: InferenceStatus,
    /// `data`: outputs on COMPLETED (then null when [`outputs`](Self::outputs) holds them), a
    /// text chunk on ONGOING, an error on FAILED.
    pub data: Value,
    /// The model name (null on START/ONGOING and on string failures).
    pub model_name: Option<String>,
    /// The outputs of a COMPLETED frame decoded by [`ServerFrame::decode`], straight from the
    /// text into typed vectors (no JSON tree); `None` when the frame was decoded from a
    /// `Value`, whose `data` then holds them.
    pub outputs: Option<Outputs>,
}

impl InferenceFrame {
    /// The failure carried by a `FAILED` frame: typed when `data` is an object with a code.
    pub fn failure(&self) -> Failure {
        match &self.data {
            Value::Object(map) => match triton_error(map) {
                Some(e) => Failure::Typed(e),
                None => Failure::Text(self.data.to_string()),
            },
            Value::String(s) => Failure::Text(s.clone()),
            other => Failure::Text(other.to_string()),
        }
    }
}

/// The `data` of a `FAILED` frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// A typed Triton error object.
    Typed(TritonError),
    /// A plain text (validation and unexpected errors).
    Text(String),
}

fn triton_error(map: &Map<String, Value>) -> Option<TritonError> {
    let code = map.get("code")?.as_str()?;
    let mut extra = map.clone();
    extra.remove("code");
    let message = match extra.remove("message") {
        Some(Value::String(s)) => s,
        Some(v) => v.to_string(),
        None => String::new(),
    };
    let retriable = matches!(extra.remove("retriable"), Some(Value::Bool(true)));
    let retry_after_seconds = extra
        .remove("retry_after_seconds")
        .and_then(|v| v.as_f64())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| s.ceil() as u64);
    Some(TritonError {
        code: TritonCode::parse(code),
        message,
        retriable,
        retry_after_seconds,
        extra,
    })
}

/// An unsolicited `alert` frame: sent to the longest-connected client, never a response.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// e.g. `TritonServerStateChanged`.
    pub error_type: String,
    /// The alert text.
    pub message: String,
    /// Seconds since the epoch, as sent.
    pub timestamp: Option<f64>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn opt_string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn payload_object(
    obj: &mut Map<String, Value>,
    kind: &'static str,
) -> Result<Map<String, Value>, DecodeError> {
    match obj.remove("payload") {
        Some(Value::Object(p)) => Ok(p),
        Some(other) => Err(DecodeError::FieldType {
            field: "payload",
            expected: "an object",
            found: json_type(&other),
        }),
        None => Err(DecodeError::MissingField {
            kind,
            field: "payload",
        }),
    }
}

/// A completed inference frame as it is on the wire, with its `data` left as text.
#[derive(serde::Deserialize)]
struct CompletedWire<'a> {
    #[serde(rename = "type")]
    kind: std::borrow::Cow<'a, str>,
    uuid: Option<String>,
    #[serde(borrow)]
    payload: CompletedPayload<'a>,
}

#[derive(serde::Deserialize)]
struct CompletedPayload<'a> {
    status: std::borrow::Cow<'a, str>,
    model_name: Option<String>,
    #[serde(borrow)]
    data: std::collections::BTreeMap<String, &'a serde_json::value::RawValue>,
}

impl ServerFrame {
    /// A completed inference decoded without a JSON tree for its outputs (the frames that can
    /// be large); `None` for any other frame, or one of another shape.
    fn completed_inference(text: &str) -> Option<Self> {
        let wire: CompletedWire<'_> = serde_json::from_str(text).ok()?;
        if wire.kind != "inference" || wire.payload.status != "COMPLETED" {
            return None;
        }
        let outputs = Outputs::decode(wire.payload.data).ok()?;
        Some(Self::Inference(InferenceFrame {
            uuid: wire.uuid,
            status: InferenceStatus::Completed,
            data: Value::Null,
            model_name: wire.payload.model_name,
            outputs: Some(outputs),
        }))
    }

    /// Decodes one server text frame: typed in one pass over the text where it can be, through
    /// a `serde_json::Value` otherwise (see the [module documentation](self)).
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        match typed::frame(text) {
            Ok(frame) => Ok(frame),
            Err(Bail) => Self::decode_via_value(text),
        }
    }

    /// Decodes one server text frame through a `serde_json::Value` (completed inferences
    /// aside, whose outputs are typed from their texts): what [`decode`](Self::decode) falls
    /// back to, and the reference its typed reading is measured and checked against.
    #[doc(hidden)]
    pub fn decode_via_value(text: &str) -> Result<Self, DecodeError> {
        if text.contains("COMPLETED") {
            if let Some(frame) = Self::completed_inference(text) {
                return Ok(frame);
            }
        }
        let value: Value = serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Self::from_value(value)
    }

    /// Decodes an already-parsed frame.
    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        let Value::Object(mut obj) = value else {
            return Err(DecodeError::NotAnObject(json_type(&value)));
        };
        let kind = match obj.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(DecodeError::FieldType {
                    field: "type",
                    expected: "a string",
                    found: json_type(other),
                });
            }
            None => return Err(DecodeError::MissingType),
        };
        match kind.as_str() {
            "auth.ok" => {
                let capability = match obj.get("payload") {
                    Some(Value::Object(p)) => match p.get("capability") {
                        Some(Value::Array(items)) => Some(
                            items
                                .iter()
                                .filter_map(Value::as_str)
                                .map(str::to_owned)
                                .collect(),
                        ),
                        _ => None,
                    },
                    _ => None,
                };
                Ok(Self::AuthOk { capability })
            }
            "error" => {
                let mut extra = payload_object(&mut obj, "error")?;
                let code = opt_string(extra.remove("code").as_ref()).map(|c| ErrorCode::parse(&c));
                let message = text_of(extra.remove("message").as_ref());
                let dropped_type = opt_string(extra.remove("dropped_type").as_ref())
                    .map(|t| MessageKind::parse(&t));
                let job_type = opt_string(extra.remove("job_type").as_ref());
                let tenant_id = opt_string(extra.remove("tenant_id").as_ref());
                Ok(Self::Error(ErrorFrame {
                    code,
                    message,
                    dropped_type,
                    job_type,
                    tenant_id,
                    extra,
                }))
            }
            "info_response" => {
                let mut p = payload_object(&mut obj, "info_response")?;
                Ok(Self::InfoResponse(InfoResponse {
                    job_id: p.remove("job_id").unwrap_or(Value::Null),
                    request_type: opt_string(p.get("request_type")),
                    success: p.get("status").and_then(Value::as_str) == Some("success"),
                    data: InfoData::from(p.remove("data").unwrap_or(Value::Null)),
                    error: opt_string(p.get("error")),
                }))
            }
            "management" => {
                let mut p = payload_object(&mut obj, "management")?;
                let status = match p.get("status") {
                    Some(Value::Bool(b)) => *b,
                    Some(other) => {
                        return Err(DecodeError::FieldType {
                            field: "payload.status",
                            expected: "a boolean",
                            found: json_type(other),
                        });
                    }
                    None => {
                        return Err(DecodeError::MissingField {
                            kind: "management",
                            field: "payload.status",
                        });
                    }
                };
                Ok(Self::Management(ManagementReply {
                    request_id: obj.remove("request_id"),
                    uuid: opt_string(obj.get("uuid")),
                    status,
                    data: p.remove("data").unwrap_or(Value::Null),
                }))
            }
            "inference" => {
                let mut p = payload_object(&mut obj, "inference")?;
                let status = match p.get("status") {
                    Some(Value::String(s)) => InferenceStatus::parse(s),
                    Some(other) => {
                        return Err(DecodeError::FieldType {
                            field: "payload.status",
                            expected: "a string",
                            found: json_type(other),
                        });
                    }
                    None => {
                        return Err(DecodeError::MissingField {
                            kind: "inference",
                            field: "payload.status",
                        });
                    }
                };
                Ok(Self::Inference(InferenceFrame {
                    uuid: opt_string(obj.get("uuid")),
                    status,
                    data: p.remove("data").unwrap_or(Value::Null),
                    model_name: opt_string(p.get("model_name")),
                    outputs: None,
                }))
            }
            "alert" => Ok(Self::Alert(Alert {
                error_type: text_of(obj.get("error_type")),
                message: text_of(obj.get("message")),
                timestamp: obj.get("timestamp").and_then(Value::as_f64),
            })),
            _ => Ok(Self::Unknown {
                kind,
                raw: Value::Object(obj),
            }),
        }
    }
}

/// The typed reading of the frames: one pass over the text with a [`Scanner`], giving up with
/// [`Bail`] (so that the caller decodes through a `Value`) on anything it does not handle
/// exactly as [`ServerFrame::from_value`] and the completed-inference reading do: unknown frame
/// types, duplicate modelled keys, values of an unexpected JSON type, invalid JSON.
mod typed {
    use std::borrow::Cow;

    use super::*;
    use crate::json::{Key, Number};

    /// The frame types read typed.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        AuthOk,
        Error,
        Info,
        Management,
        Inference,
        Alert,
    }

    impl Kind {
        fn parse(s: &str) -> Scan<Self> {
            Ok(match s {
                "auth.ok" => Self::AuthOk,
                "error" => Self::Error,
                "info_response" => Self::Info,
                "management" => Self::Management,
                "inference" => Self::Inference,
                "alert" => Self::Alert,
                _ => return Err(Bail),
            })
        }
    }

    /// Records that the key with bit `bit` was seen: a modelled key seen twice is left to the
    /// `Value` path (whose last-one-wins reading the typed one does not repeat).
    fn once(seen: &mut u32, bit: u32) -> Scan<()> {
        if *seen & bit != 0 {
            return Err(Bail);
        }
        *seen |= bit;
        Ok(())
    }

    /// A string, or `None` for any other value (`Value::as_str`).
    fn loose_str<'a>(s: &mut Scanner<'a>) -> Scan<Option<Cow<'a, str>>> {
        if s.peek() == Some(b'"') {
            s.string().map(Some)
        } else {
            s.skip().map(|()| None)
        }
    }

    /// A string as itself, `null` as empty, any other value as its JSON text (`text_of`).
    fn text_of<'a>(s: &mut Scanner<'a>) -> Scan<Cow<'a, str>> {
        match s.peek() {
            Some(b'"') => s.string(),
            Some(b'n') => s.null().map(|()| Cow::Borrowed("")),
            _ => Ok(Cow::Owned(s.value()?.to_string())),
        }
    }

    fn owned(s: Option<Cow<'_, str>>) -> Option<String> {
        s.map(Cow::into_owned)
    }

    /// The payload of a frame whose type came before it.
    enum Payload<'a> {
        AuthOk(Option<Vec<String>>),
        Error(ErrorFrame),
        Info(InfoResponse),
        Management {
            status: bool,
            data: Value,
        },
        Inference(InferencePayload<'a>),
        /// A payload the frame type does not read (an alert's).
        Skipped,
    }

    struct InferencePayload<'a> {
        status: InferenceStatus,
        data: InferenceData<'a>,
        model_name: Option<String>,
    }

    /// An inference's `data`: an object is read as outputs on the way (it is the large part of
    /// a completed frame, which names its status after it), anything else as JSON.
    enum InferenceData<'a> {
        Outputs { outputs: Outputs, text: &'a str },
        Json(Value),
    }

    pub(super) fn frame(text: &str) -> Scan<ServerFrame> {
        let mut s = Scanner::new(text);
        s.begin_object()?;
        let (mut kind, mut payload, mut deferred) = (None, None, None);
        let (mut uuid, mut request_id, mut uuid_is_string) = (None, None, true);
        let (mut error_type, mut message, mut timestamp) = (None, None, None);
        let mut seen = 0;
        let mut first = true;
        while let Some(key) = s.next_key(&mut first)? {
            match &*key {
                "type" => {
                    once(&mut seen, 1)?;
                    kind = Some(Kind::parse(&s.string()?)?);
                }
                "payload" => {
                    once(&mut seen, 2)?;
                    match kind {
                        Some(kind) => payload = Some(read_payload(&mut s, kind)?),
                        // Rare: the type comes after the payload.
                        None => deferred = Some(s.raw()?),
                    }
                }
                "uuid" => {
                    once(&mut seen, 4)?;
                    uuid_is_string = matches!(s.peek(), Some(b'"' | b'n'));
                    uuid = loose_str(&mut s)?;
                }
                "request_id" => {
                    once(&mut seen, 8)?;
                    request_id = Some(s.value()?);
                }
                "error_type" => {
                    once(&mut seen, 16)?;
                    error_type = Some(text_of(&mut s)?);
                }
                "message" => {
                    once(&mut seen, 32)?;
                    message = Some(text_of(&mut s)?);
                }
                "timestamp" => {
                    once(&mut seen, 64)?;
                    timestamp = match s.peek() {
                        Some(b'-' | b'0'..=b'9') => Some(s.number()?.as_f64()),
                        _ => s.skip().map(|()| None)?,
                    };
                }
                _ => s.skip()?,
            }
        }
        s.end()?;
        let kind = kind.ok_or(Bail)?;
        let payload = match (payload, deferred) {
            (Some(p), _) => Some(p),
            (None, Some(raw)) => {
                let mut p = Scanner::new(raw);
                let payload = read_payload(&mut p, kind)?;
                p.end()?;
                Some(payload)
            }
            (None, None) => None,
        };
        Ok(match (kind, payload) {
            (Kind::AuthOk, None) => ServerFrame::AuthOk { capability: None },
            (Kind::AuthOk, Some(Payload::AuthOk(capability))) => ServerFrame::AuthOk { capability },
            (Kind::Error, Some(Payload::Error(e))) => ServerFrame::Error(e),
            (Kind::Info, Some(Payload::Info(r))) => ServerFrame::InfoResponse(r),
            (Kind::Management, Some(Payload::Management { status, data })) => {
                ServerFrame::Management(ManagementReply {
                    request_id,
                    uuid: owned(uuid),
                    status,
                    data,
                })
            }
            (Kind::Inference, Some(Payload::Inference(p))) => {
                let (data, outputs) = match (p.data, &p.status) {
                    // As the completed-inference reading: a string or null uuid.
                    (InferenceData::Outputs { outputs, .. }, InferenceStatus::Completed)
                        if uuid_is_string =>
                    {
                        (Value::Null, Some(outputs))
                    }
                    (InferenceData::Outputs { .. }, InferenceStatus::Completed) => {
                        return Err(Bail);
                    }
                    (InferenceData::Outputs { text, .. }, _) => {
                        (serde_json::from_str(text).map_err(|_| Bail)?, None)
                    }
                    // Outputs that are not an object: the `Value` path keeps them.
                    (InferenceData::Json(_), InferenceStatus::Completed) => return Err(Bail),
                    (InferenceData::Json(value), _) => (value, None),
                };
                ServerFrame::Inference(InferenceFrame {
                    uuid: owned(uuid),
                    status: p.status,
                    data,
                    model_name: p.model_name,
                    outputs,
                })
            }
            (Kind::Alert, _) => ServerFrame::Alert(Alert {
                error_type: error_type.map(Cow::into_owned).unwrap_or_default(),
                message: message.map(Cow::into_owned).unwrap_or_default(),
                timestamp,
            }),
            // A missing payload where one is required: the `Value` path names the error.
            _ => return Err(Bail),
        })
    }

    fn read_payload<'a>(s: &mut Scanner<'a>, kind: Kind) -> Scan<Payload<'a>> {
        match kind {
            Kind::AuthOk => auth_ok(s).map(Payload::AuthOk),
            Kind::Error => error(s).map(Payload::Error),
            Kind::Info => info(s).map(Payload::Info),
            Kind::Management => management(s),
            Kind::Inference => inference(s).map(Payload::Inference),
            // An alert's payload is not read.
            Kind::Alert => s.skip().map(|()| Payload::Skipped),
        }
    }

    fn auth_ok(s: &mut Scanner<'_>) -> Scan<Option<Vec<String>>> {
        if s.peek() != Some(b'{') {
            return s.skip().map(|()| None);
        }
        s.begin_object()?;
        let (mut capability, mut seen, mut first) = (None, 0, true);
        while let Some(key) = s.next_key(&mut first)? {
            if key != "capability" {
                s.skip()?;
                continue;
            }
            once(&mut seen, 1)?;
            if s.peek() != Some(b'[') {
                s.skip()?;
                continue;
            }
            s.begin_array()?;
            let (mut items, mut first) = (Vec::new(), true);
            while s.next_element(&mut first)? {
                if let Some(item) = loose_str(s)? {
                    items.push(item.into_owned());
                }
            }
            capability = Some(items);
        }
        Ok(capability)
    }

    fn error(s: &mut Scanner<'_>) -> Scan<ErrorFrame> {
        s.begin_object()?;
        let mut e = ErrorFrame {
            code: None,
            message: String::new(),
            dropped_type: None,
            job_type: None,
            tenant_id: None,
            extra: Map::new(),
        };
        let (mut seen, mut first) = (0, true);
        while let Some(key) = s.next_key(&mut first)? {
            match &*key {
                "code" => {
                    once(&mut seen, 1)?;
                    e.code = loose_str(s)?.map(|c| ErrorCode::parse(&c));
                }
                "message" => {
                    once(&mut seen, 2)?;
                    e.message = text_of(s)?.into_owned();
                }
                "dropped_type" => {
                    once(&mut seen, 4)?;
                    e.dropped_type = loose_str(s)?.map(|t| MessageKind::parse(&t));
                }
                "job_type" => {
                    once(&mut seen, 8)?;
                    e.job_type = owned(loose_str(s)?);
                }
                "tenant_id" => {
                    once(&mut seen, 16)?;
                    e.tenant_id = owned(loose_str(s)?);
                }
                _ => {
                    let value = s.value()?;
                    e.extra.insert(key.into_owned(), value);
                }
            }
        }
        Ok(e)
    }

    fn info(s: &mut Scanner<'_>) -> Scan<InfoResponse> {
        s.begin_object()?;
        let mut r = InfoResponse {
            job_id: Value::Null,
            request_type: None,
            success: false,
            data: InfoData::default(),
            error: None,
        };
        let (mut seen, mut first) = (0, true);
        while let Some(key) = s.next_key(&mut first)? {
            match &*key {
                "job_id" => {
                    once(&mut seen, 1)?;
                    r.job_id = s.value()?;
                }
                "request_type" => {
                    once(&mut seen, 2)?;
                    r.request_type = owned(loose_str(s)?);
                }
                "status" => {
                    once(&mut seen, 4)?;
                    r.success = loose_str(s)?.is_some_and(|v| v == "success");
                }
                "data" => {
                    once(&mut seen, 8)?;
                    r.data = info_data(s)?;
                }
                "error" => {
                    once(&mut seen, 16)?;
                    r.error = owned(loose_str(s)?);
                }
                _ => s.skip()?,
            }
        }
        Ok(r)
    }

    /// An info reply's `data`: typed when it is exactly the queue counters object (every
    /// counter once, as an unsigned integer, and nothing else), JSON otherwise.
    fn info_data(s: &mut Scanner<'_>) -> Scan<InfoData> {
        if s.peek() == Some(b'{') {
            let start = s.pos();
            if let Some(stats) = queue_stats(s)? {
                return Ok(InfoData::from_stats(stats));
            }
            s.rewind(start);
        }
        s.value().map(InfoData::from)
    }

    fn queue_stats(s: &mut Scanner<'_>) -> Scan<Option<QueueStats>> {
        let mut stats = QueueStats::default();
        let (mut seen, mut first) = (0u32, true);
        s.begin_object()?;
        let mut next = 0;
        // The server sends the counters in their declaration order.
        while let Some(key) =
            s.next_key_expecting(&mut first, QueueStats::FIELDS.get(next).copied())?
        {
            let i = match key {
                Key::Expected => next,
                Key::Other(key) => match QueueStats::FIELDS.iter().position(|f| *f == key) {
                    Some(i) => i,
                    None => return Ok(None),
                },
            };
            next = i + 1;
            let bit = 1 << i;
            if seen & bit != 0 {
                return Ok(None);
            }
            seen |= bit;
            let (Some(b'0'..=b'9'), Some(counter)) = (s.peek(), stats.counter_mut(i)) else {
                return Ok(None);
            };
            match s.number()? {
                Number::U64(v) => *counter = v,
                _ => return Ok(None),
            }
        }
        Ok((seen == (1 << QueueStats::FIELDS.len()) - 1).then_some(stats))
    }

    fn management<'a>(s: &mut Scanner<'a>) -> Scan<Payload<'a>> {
        s.begin_object()?;
        let (mut status, mut data) = (None, Value::Null);
        let (mut seen, mut first) = (0, true);
        while let Some(key) = s.next_key(&mut first)? {
            match &*key {
                "status" => {
                    once(&mut seen, 1)?;
                    status = Some(s.bool()?);
                }
                "data" => {
                    once(&mut seen, 2)?;
                    data = s.value()?;
                }
                _ => s.skip()?,
            }
        }
        Ok(Payload::Management {
            status: status.ok_or(Bail)?,
            data,
        })
    }

    fn inference<'a>(s: &mut Scanner<'a>) -> Scan<InferencePayload<'a>> {
        s.begin_object()?;
        let (mut status, mut data, mut model_name) = (None, InferenceData::Json(Value::Null), None);
        let (mut seen, mut first) = (0, true);
        while let Some(key) = s.next_key(&mut first)? {
            match &*key {
                "status" => {
                    once(&mut seen, 1)?;
                    status = Some(InferenceStatus::parse(&s.string()?));
                }
                "data" => {
                    once(&mut seen, 2)?;
                    // The status comes after the data, so an object is read as outputs on the
                    // way, except a failure's error object, which starts with its code: read
                    // as JSON at once, not twice (a completed frame whose first output is
                    // named `code` then goes the `Value` way).
                    data = if s.peek() == Some(b'{') && !s.at(b"{\"code\"") {
                        let start = s.pos();
                        let outputs = Outputs::scan(s)?;
                        let text = s.slice(start, s.pos())?;
                        InferenceData::Outputs { outputs, text }
                    } else {
                        InferenceData::Json(s.value()?)
                    };
                }
                "model_name" => {
                    once(&mut seen, 4)?;
                    // The completed-inference reading takes a string or null only.
                    model_name = match s.peek() {
                        Some(b'"' | b'n') => owned(s.opt_string()?),
                        _ => return Err(Bail),
                    };
                }
                _ => s.skip()?,
            }
        }
        Ok(InferencePayload {
            status: status.ok_or(Bail)?,
            data,
            model_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Decodes `text` both ways and checks that they agree exactly; returns whether the typed
    /// reading handled it.
    fn agree(text: &str) -> bool {
        let typed = typed::frame(text);
        assert_eq!(
            ServerFrame::decode(text),
            ServerFrame::decode_via_value(text),
            "{text}"
        );
        typed.is_ok()
    }

    #[test]
    fn hot_path_frames_are_read_typed_with_the_value_path_result() {
        for text in [
            r#"{"type":"auth.ok","payload":{"capability":["json","shm",1]}}"#,
            r#"{"type":"auth.ok"}"#,
            r#"{"type":"info_response","payload":{"job_id":"j1","request_type":"queue","status":"success","data":{"info_users":0,"management_users":0,"inference_users":0,"total_users":0,"total_queued":0,"info_total_queued":0,"management_total_queued":0,"inference_total_queued":0,"executor_info_pending":0,"executor_management_pending":0,"executor_inference_pending":0,"executor_info_available":100,"executor_management_available":50,"executor_inference_available":200}}}"#,
            r#"{"type":"info_response","payload":{"job_id":"j2","request_type":"models","status":"success","data":{"message":"Info type 'models' not implemented yet"}}}"#,
            r#"{"type":"info_response","payload":{"job_id":7,"status":"error","error":"boom","data":null}}"#,
            r#"{"uuid":"l1","type":"management","request_id":"m7","_auth":{"sub":null,"roles":["inference"]},"payload":{"status":false,"data":"Job action not found: 'bogus'"}}"#,
            r#"{"type":"inference","uuid":"c","payload":{"data":{"OUTPUT0":[1.0,2.0,3.0,4.0]},"status":"COMPLETED","model_name":"identity"}}"#,
            r#"{"type":"inference","uuid":"c","payload":{"data":{"A":[[1,2],[3,4]],"B":["x"],"C":[true],"D":[],"E":[1,[2]],"F":{"OUTPUT0":[1]}},"status":"COMPLETED","model_name":null}}"#,
            r#"{"type":"inference","uuid":"c","payload":{"data":{"code":"TRITON_NETWORK","message":"m","retriable":true},"status":"FAILED","model_name":"identity"}}"#,
            r#"{"type":"inference","uuid":"g","payload":{"data":"tok0 ","status":"ONGOING","model_name":null}}"#,
            r#"{"type":"inference","uuid":"g","payload":{"data":null,"status":"START","model_name":null}}"#,
            r#"{"type":"error","payload":{"code":"BACKPRESSURE_QUEUE_FULL","message":"Request dropped due to backpressure (per-user queue full).","dropped_type":"inference","extra_key":[1,{"a":2}]}}"#,
            r#"{"type":"error","payload":{"message":"Forbidden: missing 'management' role"}}"#,
            r#"{"type":"alert","error_type":"TritonServerStateChanged","message":"m","timestamp":1767225600.123}"#,
            r#" { "payload" : { "status" : "COMPLETED" , "data" : { "O\u0030" : [ 1e2 , -0 , 2.5E-3 ] } } , "type" : "inference" } "#,
            r#"{"type":"error","payload":{"code":"X","message":"say \"hi\"\n"}}"#,
            r#"{"type":"inference","payload":{"data":{"O":[1e300,0.00000005960464477539063,-2e-300]},"status":"COMPLETED"}}"#,
        ] {
            assert!(agree(text), "not read typed: {text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_value_path() {
        for text in [
            r#"{"type":"inference_response","x":1}"#,
            r#"{"type":"error","payload":"x"}"#,
            r#"{"type":"inference","payload":{}}"#,
            r#"{"type":"info_response","type":"error","payload":{}}"#,
            r#"{"type":"inference","uuid":1,"payload":{"data":{"O":[1]},"status":"COMPLETED"}}"#,
            r#"{"type":"inference","payload":{"data":{"O":[1e-400]},"status":"COMPLETED"}}"#,
            r#"{"type":"inference","payload":{"data":[1],"status":"COMPLETED"}}"#,
            r#"{"type":"inference","payload":{"data":{"code":[1]},"status":"COMPLETED"}}"#,
            r#"{"type":"alert","message":"m","timestamp":1e400}"#,
            r#"{"type":"auth.ok"} x"#,
            "{",
            "[1]",
            "{}",
            r#"{"type":1}"#,
        ] {
            assert!(!agree(text), "read typed: {text}");
        }
    }

    #[test]
    fn queue_counters_are_typed_only_when_the_data_is_exactly_their_object() {
        let stats = |data: &str| {
            let text = format!(
                r#"{{"type":"info_response","payload":{{"job_id":"j1","status":"success","data":{data}}}}}"#
            );
            let Ok(ServerFrame::InfoResponse(r)) = ServerFrame::decode(&text) else {
                panic!("{text}");
            };
            (
                r.data.stats.is_some(),
                r.data.queue_stats().map(|s| s.total_queued),
            )
        };
        let all: Vec<String> = QueueStats::FIELDS
            .iter()
            .map(|f| format!(r#""{f}":3"#))
            .collect();
        assert_eq!(stats(&format!("{{{}}}", all.join(","))), (true, Some(3)));
        let extra = format!(r#"{{{},"new_counter":1}}"#, all.join(","));
        assert_eq!(stats(&extra), (false, Some(3)), "unknown keys are kept");
        assert_eq!(stats(r#"{"total_queued":4}"#), (false, Some(4)));
        assert_eq!(stats(r#"{"total_queued":-1}"#), (false, None));
        assert_eq!(stats("null"), (false, None));
    }

    /// A JSON value of the kinds frames carry, as text.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|u| u.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:e}")),
            any::<f32>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            "[a-z\"\\\\é]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                proptest::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|v| {
                    let fields: Vec<String> = v
                        .into_iter()
                        .map(|(k, v)| format!(r#""{k}":{v}"#))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    fn frame() -> impl Strategy<Value = String> {
        let kind = prop_oneof![
            Just("auth.ok"),
            Just("error"),
            Just("info_response"),
            Just("management"),
            Just("inference"),
            Just("alert"),
            Just("other"),
        ];
        let key = prop_oneof![
            Just("status"),
            Just("data"),
            Just("code"),
            Just("message"),
            Just("job_id"),
            Just("model_name"),
            Just("capability"),
            Just("dropped_type"),
            Just("x"),
        ];
        let string_or_value = prop_oneof![
            Just(r#""COMPLETED""#.to_owned()),
            Just(r#""FAILED""#.to_owned()),
            Just(r#""success""#.to_owned()),
            Just("true".to_owned()),
            value(),
        ];
        let payload = proptest::collection::vec((key, string_or_value), 0..5);
        let top = prop_oneof![
            Just("uuid"),
            Just("request_id"),
            Just("message"),
            Just("timestamp")
        ];
        (
            kind,
            payload,
            proptest::collection::vec((top, value()), 0..3),
            any::<bool>(),
        )
            .prop_map(|(kind, payload, top, type_last)| {
                let payload: Vec<String> = payload
                    .into_iter()
                    .map(|(k, v)| format!(r#""{k}":{v}"#))
                    .collect();
                let mut fields: Vec<String> = top
                    .into_iter()
                    .map(|(k, v)| format!(r#""{k}":{v}"#))
                    .collect();
                fields.push(format!(r#""payload":{{{}}}"#, payload.join(",")));
                let kind = format!(r#""type":"{kind}""#);
                if type_last {
                    fields.push(kind);
                } else {
                    fields.insert(0, kind);
                }
                format!("{{{}}}", fields.join(","))
            })
    }

    proptest! {
        /// Whatever frame the server sends, the typed reading gives exactly what the `Value`
        /// path gives (or leaves the frame to it).
        #[test]
        fn typed_decoding_is_the_value_decoding(text in frame()) {
            let typed = ServerFrame::decode(&text);
            let reference = ServerFrame::decode_via_value(&text);
            prop_assert_eq!(typed, reference, "{}", text);
        }
    }
}
