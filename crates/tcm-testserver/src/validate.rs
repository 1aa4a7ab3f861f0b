//! Frame size check, JSON parsing and envelope validation, in the order of tcm.md §3.2.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The four envelope types, as the server prints them (sorted: `inference` before `info`).
pub const ALLOWED_TYPES: [&str; 4] = ["auth", "inference", "info", "management"];

/// A parsed frame: the top level keeps the client's key order (needed for the management echo).
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A JSON object, keys in first-seen order (a repeated key keeps its first position, last value).
    Object(Vec<(String, Value)>),
    /// A JSON array.
    Array(Vec<Value>),
    /// A JSON string.
    String(String),
    /// A number, boolean or null.
    Scalar,
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParsedVisitor)
    }
}

struct ParsedVisitor;

impl<'de> Visitor<'de> for ParsedVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Parsed, E> {
        Ok(Parsed::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Parsed, E> {
        Ok(Parsed::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Parsed, E> {
        Ok(Parsed::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Parsed, E> {
        Ok(Parsed::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        Ok(Parsed::Scalar)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Parsed, E> {
        Ok(Parsed::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Parsed, E> {
        Ok(Parsed::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Parsed::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut fields: Vec<(String, Value)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            match fields.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => fields.push((k, v)),
            }
        }
        Ok(Parsed::Object(fields))
    }
}

/// A valid envelope (checks 1–9 of §3.2 passed).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The client identity.
    pub uuid: String,
    /// One of [`ALLOWED_TYPES`].
    pub kind: String,
    /// The payload object.
    pub payload: Map<String, Value>,
    /// Every top-level field in the client's order, including `uuid`, `type` and `payload`.
    pub fields: Vec<(String, Value)>,
}

/// Why a frame was refused before reaching the session logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Larger than `max_message_bytes`: error frame then close 1009.
    TooLarge,
    /// An envelope error; the text is the exact `message` of the error frame.
    Invalid(String),
    /// The reference handler crashes on this frame: drop TCP without a close frame.
    Crash,
}

/// The exact text of the size error.
pub fn too_large_text(max_message_bytes: usize) -> String {
    format!("Message too large (>{max_message_bytes} bytes)")
}

/// Runs checks 1–9 of §3.2 on one text frame.
pub fn validate(text: &str, max_message_bytes: usize) -> Result<Envelope, Rejection> {
    if text.len() > max_message_bytes {
        return Err(Rejection::TooLarge);
    }
    let parsed: Parsed = serde_json::from_str(text)
        .map_err(|_| Rejection::Invalid("Invalid JSON format".to_string()))?;
    let fields = match parsed {
        Parsed::Scalar => return Err(Rejection::Crash),
        // Python's `key in data` on a string or list: substring / element tests, then
        // `data["uuid"]` raises TypeError, which crashes the handler.
        Parsed::String(s) => {
            return Err(missing_in(|k| s.contains(k)).unwrap_or(Rejection::Crash));
        }
        Parsed::Array(items) => {
            return Err(missing_in(|k| items.iter().any(|v| v.as_str() == Some(k)))
                .unwrap_or(Rejection::Crash));
        }
        Parsed::Object(fields) => fields,
    };
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    if let Some(r) = missing_in(|k| get(k).is_some()) {
        return Err(r);
    }
    let uuid = match get("uuid") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid("Field 'uuid' must be a string")),
    };
    let kind = match get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(invalid("Field 'type' must be a string")),
    };
    let payload = match get("payload") {
        Some(Value::Object(m)) => m.clone(),
        _ => return Err(invalid("Field 'payload' must be a dictionary")),
    };
    if !ALLOWED_TYPES.contains(&kind.as_str()) {
        return Err(Rejection::Invalid(format!(
            "Invalid type '{kind}'. Must be one of: ['auth', 'inference', 'info', 'management']"
        )));
    }
    Ok(Envelope {
        uuid,
        kind,
        payload,
        fields,
    })
}

fn invalid(text: &str) -> Rejection {
    Rejection::Invalid(text.to_string())
}

fn missing_in(contains: impl Fn(&str) -> bool) -> Option<Rejection> {
    ["uuid", "type", "payload"]
        .into_iter()
        .find(|k| !contains(k))
        .map(|k| Rejection::Invalid(format!("Missing required field: '{k}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(r: Result<Envelope, Rejection>) -> String {
        match r {
            Err(Rejection::Invalid(t)) => t,
            other => panic!("expected an invalid-envelope text, got {other:?}"),
        }
    }

    #[test]
    fn oversize_frame_is_rejected_and_the_limit_is_exclusive() {
        let exact = format!(
            r#"{{"uuid":"a","type":"auth","payload":{{"p":"{}"}}}}"#,
            "x".repeat(10)
        );
        assert!(validate(&exact, exact.len()).is_ok());
        assert_eq!(validate(&exact, exact.len() - 1), Err(Rejection::TooLarge));
    }

    #[test]
    fn json_scalars_crash_the_handler() {
        for t in ["123", "true", "null", "1.5"] {
            assert_eq!(validate(t, 65536), Err(Rejection::Crash), "{t}");
        }
    }

    #[test]
    fn arrays_and_strings_report_a_missing_uuid() {
        assert_eq!(
            text_of(validate("[1,2]", 65536)),
            "Missing required field: 'uuid'"
        );
        assert_eq!(
            text_of(validate("\"hello\"", 65536)),
            "Missing required field: 'uuid'"
        );
    }

    #[test]
    fn strings_containing_every_key_crash_like_python() {
        assert_eq!(
            validate("\"uuid type payload\"", 65536),
            Err(Rejection::Crash)
        );
        assert_eq!(
            text_of(validate("\"uuid\"", 65536)),
            "Missing required field: 'type'"
        );
    }

    #[test]
    fn checks_run_in_documented_order() {
        assert_eq!(text_of(validate("{not json", 65536)), "Invalid JSON format");
        assert_eq!(
            text_of(validate(r#"{"payload":1,"type":1}"#, 65536)),
            "Missing required field: 'uuid'"
        );
        assert_eq!(
            text_of(validate(r#"{"uuid":1,"payload":1}"#, 65536)),
            "Missing required field: 'type'"
        );
        assert_eq!(
            text_of(validate(r#"{"uuid":1,"type":1}"#, 65536)),
            "Missing required field: 'payload'"
        );
        assert_eq!(
            text_of(validate(r#"{"uuid":1,"type":1,"payload":1}"#, 65536)),
            "Field 'uuid' must be a string"
        );
        assert_eq!(
            text_of(validate(r#"{"uuid":"u","type":1,"payload":1}"#, 65536)),
            "Field 'type' must be a string"
        );
        assert_eq!(
            text_of(validate(r#"{"uuid":"u","type":"x","payload":[]}"#, 65536)),
            "Field 'payload' must be a dictionary"
        );
        assert_eq!(
            text_of(validate(
                r#"{"uuid":"u","type":"hello","payload":{}}"#,
                65536
            )),
            "Invalid type 'hello'. Must be one of: ['auth', 'inference', 'info', 'management']"
        );
    }

    #[test]
    fn top_level_key_order_is_kept() {
        let e = validate(
            r#"{"uuid":"u","b":1,"type":"info","a":2,"payload":{},"b":3}"#,
            65536,
        )
        .unwrap();
        let keys: Vec<&str> = e.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["uuid", "b", "type", "a", "payload"]);
        assert_eq!(e.fields[1].1, Value::from(3));
    }
}
