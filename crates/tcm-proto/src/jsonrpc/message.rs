//! JSON-RPC 2.0 messages: classification of incoming frames and encoding of outgoing ones
//! (Tellurio §3, §4, §9 items 12–15).

use serde_json::{Map, Value, json};

/// Parse error: the frame is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Invalid request: not a JSON-RPC 2.0 message.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The params are missing a key or have the wrong type.
pub const INVALID_PARAMS: i64 = -32602;
/// A handler failed.
pub const INTERNAL_ERROR: i64 = -32603;

/// A JSON-RPC error object `{code, message, data?}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("JSON-RPC error {code}: {message}")]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// The message.
    pub message: String,
    /// Optional details; the Tellurio backend puts a readable text in `data.exception`.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// An error with data.
    pub fn with_data(code: i64, message: impl Into<String>, data: Value) -> Self {
        Self {
            code,
            message: message.into(),
            data: Some(data),
        }
    }

    /// `-32601 Method '<m>' not found.` with `{"method": m}`.
    pub fn method_not_found(method: &str) -> Self {
        Self::with_data(
            METHOD_NOT_FOUND,
            format!("Method '{method}' not found."),
            json!({ "method": method }),
        )
    }

    /// `-32602 Missing key: '<k>'` with `{"missing_key": k}`, said once.
    pub fn missing_key(key: &str) -> Self {
        Self::with_data(
            INVALID_PARAMS,
            format!("Missing key: '{key}'"),
            json!({ "missing_key": key }),
        )
    }

    /// `-32603 Internal error` with `{"exception": text}`.
    pub fn internal(exception: impl Into<String>) -> Self {
        Self::with_data(
            INTERNAL_ERROR,
            "Internal error",
            json!({ "exception": exception.into() }),
        )
    }

    /// The readable text the backend puts in `data.exception`, if any.
    pub fn exception(&self) -> Option<&str> {
        self.data.as_ref()?.get("exception")?.as_str()
    }

    fn from_value(v: &Value) -> Self {
        let code = v
            .get("code")
            .and_then(Value::as_i64)
            .unwrap_or(INTERNAL_ERROR);
        let message = match v.get("message") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        Self {
            code,
            message,
            data: v.get("data").cloned(),
        }
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), self.code.into());
        m.insert("message".into(), self.message.clone().into());
        if let Some(d) = &self.data {
            m.insert("data".into(), d.clone());
        }
        Value::Object(m)
    }
}

/// What an incoming frame is, after classification.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request from the server: must be answered with this id.
    Request {
        /// The id to echo.
        id: Value,
        /// The method.
        method: String,
        /// The params (`{}` when absent).
        params: Value,
    },
    /// A notification: never answered.
    Notification {
        /// The method.
        method: String,
        /// The params.
        params: Value,
    },
    /// A response to one of our calls (a non-null id, no method). `outcome` is `None` when the
    /// frame holds neither `result` nor `error`.
    Response {
        /// The echoed id.
        id: Value,
        /// `Ok(result)` or `Err(error)`, or `None` for a malformed response.
        outcome: Option<Result<Value, RpcError>>,
    },
    /// An error frame without an id: never answered.
    OrphanError(Option<RpcError>),
    /// A frame that must be answered with an error (parse errors and invalid requests). The
    /// reply goes to `id` (null when unknown).
    Invalid {
        /// The id to reply to.
        id: Value,
        /// The error to send.
        error: RpcError,
    },
    /// A frame to drop silently (an invalid notification).
    Ignored,
}

/// Classifies one incoming text frame (the new client's rules: never answer a notification,
/// a response or an error frame; parse errors answer `id: null`; responses are recognised by a
/// non-null id, so `0` and `""` work; a wrong `jsonrpc` on a response still settles the call).
pub fn classify(text: &str) -> Incoming {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Invalid {
                id: Value::Null,
                error: RpcError::with_data(
                    PARSE_ERROR,
                    "Parse error",
                    json!({ "error": e.to_string() }),
                ),
            };
        }
    };
    let Value::Object(obj) = value else {
        return Incoming::Invalid {
            id: Value::Null,
            error: RpcError::new(INVALID_REQUEST, "Invalid Request"),
        };
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let version_ok = obj.get("jsonrpc").and_then(Value::as_str) == Some("2.0");
    match obj.get("method") {
        Some(Value::String(method)) => {
            let params = obj.get("params").cloned().unwrap_or_else(|| json!({}));
            if id.is_null() {
                if version_ok {
                    Incoming::Notification {
                        method: method.clone(),
                        params,
                    }
                } else {
                    Incoming::Ignored
                }
            } else if !version_ok {
                Incoming::Invalid {
                    id,
                    error: RpcError::new(
                        INVALID_REQUEST,
                        "Invalid JSON-RPC version. Expected '2.0'.",
                    ),
                }
            } else {
                Incoming::Request {
                    id,
                    method: method.clone(),
                    params,
                }
            }
        }
        Some(_) if !id.is_null() => Incoming::Invalid {
            id,
            error: RpcError::new(INVALID_REQUEST, "Invalid Request"),
        },
        Some(_) => Incoming::Ignored,
        None if id.is_null() => Incoming::OrphanError(obj.get("error").map(RpcError::from_value)),
        None => {
            let outcome = match (obj.get("result"), obj.get("error")) {
                (_, Some(e)) => Some(Err(RpcError::from_value(e))),
                (Some(r), None) => Some(Ok(r.clone())),
                (None, None) => None,
            };
            Incoming::Response { id, outcome }
        }
    }
}

/// Encodes a request `{"jsonrpc","method","params","id"}`.
pub fn encode_request(id: &str, method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string()
}

/// Encodes a notification `{"jsonrpc","method","params"}`: no id, so no reply is expected.
pub fn encode_notification(method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string()
}

/// Encodes a reply to a server request: `result` or `error`.
pub fn encode_reply(id: &Value, outcome: &Result<Value, RpcError>) -> String {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": e.to_value()}).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_answer_null_with_the_decoder_text() {
        let Incoming::Invalid { id, error } = classify("{not json") else {
            panic!()
        };
        assert_eq!(id, Value::Null);
        assert_eq!(error.code, PARSE_ERROR);
        assert!(error.data.unwrap()["error"].is_string());
    }

    #[test]
    fn a_wrong_version_request_answers_with_its_id_and_no_data() {
        let Incoming::Invalid { id, error } =
            classify(r#"{"jsonrpc":"1.0","id":"srv-v","method":"create_node","params":{}}"#)
        else {
            panic!()
        };
        assert_eq!(id, json!("srv-v"));
        assert_eq!(
            error,
            RpcError::new(-32600, "Invalid JSON-RPC version. Expected '2.0'.")
        );
    }

    #[test]
    fn responses_are_recognised_by_a_non_null_id_even_zero_and_empty() {
        for id in [json!(0), json!(""), json!("abc")] {
            let text = json!({"jsonrpc":"2.0","id":id,"result":1}).to_string();
            assert!(matches!(
                classify(&text),
                Incoming::Response {
                    outcome: Some(Ok(_)),
                    ..
                }
            ));
        }
        let bad_version = r#"{"jsonrpc":"1.0","id":"x","result":1}"#;
        assert!(matches!(classify(bad_version), Incoming::Response { .. }));
        let empty = r#"{"jsonrpc":"2.0","id":"x"}"#;
        assert!(matches!(
            classify(empty),
            Incoming::Response { outcome: None, .. }
        ));
    }

    #[test]
    fn null_id_errors_and_notifications_are_never_answered() {
        assert!(matches!(
            classify(
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#
            ),
            Incoming::OrphanError(Some(_))
        ));
        assert!(matches!(
            classify(r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"id":"r"}}"#),
            Incoming::Notification { .. }
        ));
        assert!(matches!(
            classify(r#"{"jsonrpc":"1.0","method":"x"}"#),
            Incoming::Ignored
        ));
    }

    #[test]
    fn arrays_and_scalars_are_invalid_requests() {
        for t in ["[]", "[1,2]", "3", "null"] {
            assert!(
                matches!(classify(t), Incoming::Invalid { error, .. } if error.code == INVALID_REQUEST)
            );
        }
    }

    #[test]
    fn a_notification_carries_no_id_and_classifies_as_one() {
        let text = encode_notification("heartbeat", &json!({"id": "r"}));
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert!(v.get("id").is_none(), "{text}");
        assert!(
            matches!(classify(&text), Incoming::Notification { method, .. } if method == "heartbeat")
        );
    }

    #[test]
    fn error_replies_omit_empty_data() {
        let s = encode_reply(&json!("i"), &Err(RpcError::new(-32600, "m")));
        assert_eq!(
            s,
            r#"{"error":{"code":-32600,"message":"m"},"id":"i","jsonrpc":"2.0"}"#
        );
    }
}
