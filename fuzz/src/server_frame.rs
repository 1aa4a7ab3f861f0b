//! `server_frame`: [`ServerFrame::decode`] on arbitrary text.
//!
//! Properties: decoding never panics, whatever the input (valid UTF-8 as it is, and any bytes
//! through a lossy conversion); it fails with `InvalidJson` exactly when the text is not JSON;
//! it succeeds only on a JSON object with a string `type`, and agrees with
//! [`ServerFrame::from_value`]; its typed reading gives exactly what decoding through a
//! `serde_json::Value` gives ([`ServerFrame::decode_via_value`]); the typed accessors of a
//! decoded frame never panic.

use serde_json::Value;
use tcm_proto::frame::MessageKind;
use tcm_proto::{DecodeError, QueueStats, ServerFrame};

const KNOWN_TYPES: [&str; 6] = [
    "auth.ok",
    "error",
    "info_response",
    "management",
    "inference",
    "alert",
];

/// The target body.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    let lossy = String::from_utf8_lossy(data);
    check(&lossy);
    // Each line on its own too, as frames arrive one by one.
    if lossy.contains('\n') {
        for line in lossy.split('\n').take(64) {
            check(line);
        }
    }
}

fn check(text: &str) {
    let decoded = ServerFrame::decode(text);
    assert_eq!(
        decoded,
        ServerFrame::decode_via_value(text),
        "the typed reading and the Value path disagree on {text:?}"
    );
    let parsed = serde_json::from_str::<Value>(text);
    match (&decoded, parsed) {
        (Err(DecodeError::InvalidJson { .. }), Err(_)) => {}
        (Err(DecodeError::InvalidJson { .. }), Ok(_)) => {
            panic!("decode reports invalid JSON for valid JSON: {text:?}")
        }
        (_, Err(e)) => panic!("decode accepted text serde_json rejects ({e}): {text:?}"),
        (_, Ok(value)) => {
            let is_typed_object = value.get("type").is_some_and(Value::is_string);
            if decoded.is_ok() {
                assert!(
                    is_typed_object,
                    "decoded a frame without a string type: {text:?}"
                );
            }
            let again = ServerFrame::from_value(value);
            assert_eq!(
                decoded.as_ref().map(comparable),
                again.as_ref().map(comparable),
                "decode and from_value disagree on {text:?}"
            );
        }
    }
    match decoded {
        Ok(frame) => accessors(&frame),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A frame with a completed inference's outputs read through the same accessors, whether
/// they were decoded straight into typed vectors or kept as JSON.
fn comparable(frame: &ServerFrame) -> ServerFrame {
    let ServerFrame::Inference(f) = frame else {
        return frame.clone();
    };
    let outputs = match (&f.outputs, &f.data) {
        (Some(o), _) => o.clone(),
        (None, Value::Object(map)) if f.status.is_terminal() => {
            tcm_proto::Outputs::from_json(map.clone())
        }
        _ => return frame.clone(),
    };
    let mut f = f.clone();
    let read: serde_json::Map<String, Value> = outputs
        .names()
        .map(|name| {
            let seen = serde_json::json!({
                "f64": outputs.f64(name).ok().map(|t| (t.shape, t.values)),
                "i64": outputs.i64(name).ok().map(|t| (t.shape, t.values)),
                "bool": outputs.bool(name).ok().map(|t| (t.shape, t.values)),
                "strings": outputs.strings(name).ok(),
            });
            (name.to_owned(), seen)
        })
        .collect();
    f.data = Value::Object(read);
    f.outputs = None;
    ServerFrame::Inference(f)
}

fn accessors(frame: &ServerFrame) {
    let _ = format!("{frame:?}");
    match frame {
        ServerFrame::AuthOk { capability } => {
            let caps = tcm_proto::Capabilities::from_auth_ok(capability.clone());
            let _ = caps.shm();
            let _ = caps.contains("json");
        }
        ServerFrame::Error(e) => {
            if let Some(kind) = e.forbidden_kind() {
                assert!(e.code.is_none(), "a coded error is never a Forbidden text");
                assert!(e.message.starts_with("Forbidden: missing '"));
                if let MessageKind::Other(role) = kind {
                    assert!(!matches!(
                        role.as_str(),
                        "info" | "management" | "inference"
                    ));
                }
            }
            if let Some(code) = &e.code {
                let _ = code.to_string();
            }
        }
        ServerFrame::InfoResponse(r) => {
            if let Some(stats) = QueueStats::from_data(&r.data) {
                let _ = stats.total_queued;
                assert!(r.data["total_queued"].is_number());
            }
            assert_eq!(r.data.queue_stats(), QueueStats::from_data(&r.data));
        }
        ServerFrame::Management(m) => {
            let _ = (&m.request_id, &m.data);
        }
        ServerFrame::Inference(f) => {
            let _ = f.status.is_terminal();
            let _ = format!("{:?}", f.failure());
            // Outputs of a completed frame, as the connection reads them.
            if let Value::Object(map) = &f.data {
                let outputs = tcm_proto::Outputs::from_json(map.clone());
                for name in outputs
                    .names()
                    .take(16)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
                {
                    let _ = outputs.f32(&name);
                    let _ = outputs.f64(&name);
                    let _ = outputs.i64(&name);
                    let _ = outputs.bool(&name);
                    let _ = outputs.strings(&name);
                }
            }
        }
        ServerFrame::Alert(a) => {
            let _ = (&a.error_type, &a.message, a.timestamp);
        }
        ServerFrame::Unknown { kind, raw } => {
            assert!(
                !KNOWN_TYPES.contains(&kind.as_str()),
                "known type {kind} decoded as Unknown"
            );
            assert_eq!(raw["type"], Value::String(kind.clone()));
        }
    }
}
