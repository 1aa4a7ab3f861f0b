//! Decoding every server frame of the shared catalogue, and encoding requests exactly as the
//! recorded conversations send them.

mod common;

use common::*;
use serde_json::{Value, json};
use tcm_proto::frame::{InferenceStatus, MessageKind};
use tcm_proto::{
    ErrorCode, InferenceRequest, Request, ServerFrame, Tensor, TensorData, TensorInput, TritonCode,
};

fn catalogue() -> Vec<Value> {
    vector("tcm/server-frames.json")["frames"]
        .as_array()
        .expect("frames")
        .clone()
}

#[test]
fn every_catalogued_server_frame_decodes_to_its_role() {
    let frames = catalogue();
    assert!(frames.len() > 40);
    for entry in frames {
        let name = entry["name"].as_str().unwrap_or("?");
        let role = entry["role"].as_str().unwrap_or("?");
        let frame = ServerFrame::from_value(entry["frame"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ok = match (role, &frame) {
            ("auth_ok", ServerFrame::AuthOk { .. }) => true,
            ("untagged_error", ServerFrame::Error(e)) => e.code.is_none(),
            ("nack", ServerFrame::Error(e)) => e.code.is_some() && e.dropped_type.is_some(),
            ("advisory", ServerFrame::Error(e)) => {
                e.code == Some(ErrorCode::BackpressureInsufficientBudget)
                    && e.dropped_type.is_none()
            }
            ("terminal_error", ServerFrame::Error(e)) => {
                e.code.is_some() && e.dropped_type.is_none()
            }
            ("alert", ServerFrame::Alert(_)) => true,
            ("stream_frame", ServerFrame::Inference(f)) => !f.status.is_terminal(),
            ("response", ServerFrame::InfoResponse(_) | ServerFrame::Management(_)) => true,
            ("response", ServerFrame::Inference(f)) => f.status.is_terminal(),
            _ => false,
        };
        assert!(ok, "{name}: role {role} but decoded {frame:?}");
    }
}

#[test]
fn typed_failures_keep_code_retriable_and_retry_after() {
    let frames = catalogue();
    let find = |name: &str| {
        frames
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["frame"].clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let ServerFrame::Inference(f) =
        ServerFrame::from_value(find("inference-failed-circuit-open")).unwrap()
    else {
        panic!()
    };
    assert_eq!(f.status, InferenceStatus::Failed);
    let tcm_proto::frame::Failure::Typed(e) = f.failure() else {
        panic!()
    };
    assert_eq!(e.code, TritonCode::CircuitOpen);
    assert!(e.retriable);
    assert_eq!(e.retry_after_seconds, Some(30));

    let ServerFrame::Inference(f) =
        ServerFrame::from_value(find("inference-failed-string")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        f.failure(),
        tcm_proto::frame::Failure::Text("Missing required field 'request.inputs'".into())
    );
}

#[test]
fn drop_notices_name_the_dropped_type_and_forbidden_names_the_role() {
    let ServerFrame::Error(e) = ServerFrame::decode(
        r#"{"type":"error","payload":{"code":"SYSTEM_SHUTDOWN","message":"Request dropped: system is shutting down.","dropped_type":"management"}}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(e.code, Some(ErrorCode::SystemShutdown));
    assert_eq!(e.dropped_type, Some(MessageKind::Management));
    let ServerFrame::Error(e) = ServerFrame::decode(
        r#"{"type":"error","payload":{"message":"Forbidden: missing 'inference' role"}}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(e.forbidden_kind(), Some(MessageKind::Inference));
}

#[test]
fn unknown_types_codes_and_fields_are_kept_not_rejected() {
    let f = ServerFrame::decode(r#"{"type":"inference_response","x":1}"#).unwrap();
    assert!(matches!(f, ServerFrame::Unknown { kind, .. } if kind == "inference_response"));
    let ServerFrame::Error(e) = ServerFrame::decode(
        r#"{"type":"error","payload":{"code":"NEW_CODE","message":"m","hint":3}}"#,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(e.code, Some(ErrorCode::Other("NEW_CODE".into())));
    assert_eq!(e.extra.get("hint"), Some(&json!(3)));
}

#[test]
fn malformed_frames_give_typed_errors() {
    use tcm_proto::DecodeError::*;
    assert!(matches!(ServerFrame::decode("{"), Err(InvalidJson { .. })));
    assert!(matches!(
        ServerFrame::decode("[1]"),
        Err(NotAnObject("array"))
    ));
    assert!(matches!(ServerFrame::decode("{}"), Err(MissingType)));
    assert!(matches!(
        ServerFrame::decode(r#"{"type":1}"#),
        Err(FieldType { field: "type", .. })
    ));
    assert!(matches!(
        ServerFrame::decode(r#"{"type":"error","payload":"x"}"#),
        Err(FieldType {
            field: "payload",
            ..
        })
    ));
    assert!(matches!(
        ServerFrame::decode(r#"{"type":"inference","payload":{}}"#),
        Err(MissingField {
            field: "payload.status",
            ..
        })
    ));
}

/// The payload of the first `type:"inference"` frame a conversation sends.
fn sent_inference(conversation: &str) -> Value {
    sent_frames(conversation)
        .into_iter()
        .find(|f| f["type"] == "inference")
        .expect("an inference frame")["payload"]
        .clone()
}

fn encoded_payload(req: &Request) -> Value {
    let text = tcm_proto::envelope::encode_request("u", "", req).expect("encodes");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["payload"].clone()
}

#[test]
fn sdk_shaped_identity_request_encodes_as_recorded() {
    // inference-http-sdk-shape-identity, as the official SDK shapes it.
    let recorded = sent_inference("inference-http-sdk-shape-identity");
    let inputs = &recorded["request"]["inputs"];
    let values: Vec<f32> = inputs[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let req = Request::from({
        let mut r = InferenceRequest::for_container(recorded["container_id"].as_str().unwrap(), "")
            .with_inputs(vec![
                Tensor::vector("INPUT0", TensorData::Fp32(values)).into(),
            ])
            .with_allow_transient(
                recorded["request"]["allow_transient"]
                    .as_bool()
                    .unwrap_or(false),
            );
        r.vm_ip = recorded["vm_ip"].as_str().map(Into::into);
        r.model_name = recorded["model_name"].as_str().map(Into::into);
        r.vm_id = recorded["vm_id"].as_str().map(Into::into);
        r
    });
    let mut ours = encoded_payload(&req);
    // The SDK also sends `inputs:null, pipeline:null`, which the server ignores.
    let mut theirs = recorded.clone();
    for k in ["inputs", "pipeline"] {
        if theirs.get(k) == Some(&Value::Null) {
            theirs.as_object_mut().unwrap().remove(k);
        }
    }
    ours["request"]
        .as_object_mut()
        .unwrap()
        .remove("output_name");
    assert_eq!(ours, theirs);
}

#[test]
fn tensors_are_written_nested_like_their_shape() {
    let t = Tensor::new(
        "INPUT0",
        vec![2, 3],
        TensorData::Int32(vec![1, 2, 3, 4, 5, 6]),
    )
    .unwrap();
    let v = serde_json::to_value(TensorInput::from(t)).unwrap();
    assert_eq!(
        v,
        json!({"name":"INPUT0","shape":[2,3],"datatype":"INT32","data":[[1,2,3],[4,5,6]]})
    );
    let empty = Tensor::new("E", vec![0], TensorData::Fp32(vec![])).unwrap();
    assert_eq!(
        serde_json::to_value(TensorInput::from(empty)).unwrap()["data"],
        json!([])
    );
    assert!(Tensor::new("bad", vec![2, 2], TensorData::Fp32(vec![1.0])).is_err());
}

#[test]
fn the_auth_frame_omits_capability_when_none_is_requested() {
    let text =
        tcm_proto::envelope::encode_auth("u", &tcm_proto::AuthContext::anonymous(), &[]).unwrap();
    assert_eq!(text, r#"{"uuid":"u","type":"auth","payload":{}}"#);
}
