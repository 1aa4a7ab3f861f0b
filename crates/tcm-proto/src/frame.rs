//! Decoding of server → client frames (TCM §3.3).
//!
//! Every text frame the server can send decodes into a [`ServerFrame`]. Unknown fields are kept
//! in `extra` maps, unknown codes as `Other(..)` variants and unknown frame types as
//! [`ServerFrame::Unknown`], so a newer server never breaks an older client. Only input that is
//! not a JSON object with a string `type` is an error, and it is a typed one: decoding never
//! panics.

use serde_json::{Map, Value};

use crate::error::{ErrorCode, TritonCode, TritonError};
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
    pub data: Value,
    /// The `error` text of the error variant.
    pub error: Option<String>,
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

    /// Decodes one server text frame.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
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
                    data: p.remove("data").unwrap_or(Value::Null),
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
