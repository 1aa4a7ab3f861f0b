//! Specification of the request-level helpers: when to use SHM, how a request is converted,
//! and which requests are refused.

use std::path::Path;

use serde_json::json;
use tcm_proto::envelope::encode_request;
use tcm_proto::{
    Capabilities, InferenceRequest, PipelineStep, Protocol, Request, ShmReference, Tensor,
    TensorData, TensorInput,
};
use tcm_shm::{
    ConvertOptions, InputTransport, ShmError, ShmInputs, ShmTensor, choose_transport,
    prepare_request, to_shm_request, to_shm_request_with,
};

fn caps(list: &[&str]) -> Capabilities {
    Capabilities::from_auth_ok(Some(list.iter().map(|s| s.to_string()).collect()))
}

fn exists(key: &str) -> bool {
    Path::new("/dev/shm")
        .join(key.trim_start_matches('/'))
        .exists()
}

fn fp32(name: &str, values: &[f32]) -> TensorInput {
    Tensor::vector(name, TensorData::Fp32(values.to_vec())).into()
}

fn request(inputs: Vec<TensorInput>) -> InferenceRequest {
    InferenceRequest::new("127.0.0.1", "c", "add")
        .with_inputs(inputs)
        .with_allow_transient(true)
}

fn shm_refs(inputs: &[TensorInput]) -> Vec<&ShmReference> {
    inputs
        .iter()
        .map(|i| match i {
            TensorInput::Shm(r) => r,
            other => panic!("not an SHM input: {other:?}"),
        })
        .collect()
}

#[test]
fn shm_is_used_when_negotiated_on_http() {
    for negotiated in [caps(&["json", "shm"]), caps(&["shm"])] {
        for fallback in [false, true] {
            assert_eq!(
                choose_transport(&negotiated, Protocol::Http, fallback).unwrap(),
                InputTransport::Shm
            );
        }
    }
}

#[test]
fn without_shm_the_fallback_flag_chooses_json_or_a_typed_error() {
    let legacy = Capabilities::from_auth_ok(None);
    for json_only in [legacy, caps(&["json"])] {
        assert_eq!(
            choose_transport(&json_only, Protocol::Http, true).unwrap(),
            InputTransport::Json
        );
        assert!(matches!(
            choose_transport(&json_only, Protocol::Http, false),
            Err(ShmError::NotNegotiated)
        ));
    }
}

#[test]
fn grpc_streams_never_use_shm() {
    let both = caps(&["json", "shm"]);
    assert_eq!(
        choose_transport(&both, Protocol::Grpc, true).unwrap(),
        InputTransport::Json
    );
    assert!(matches!(
        choose_transport(&both, Protocol::Grpc, false),
        Err(ShmError::GrpcUnsupported)
    ));
    let mut r = request(vec![fp32("INPUT0", &[1.0])]);
    r.protocol = Protocol::Grpc;
    assert!(matches!(to_shm_request(&r), Err(ShmError::GrpcUnsupported)));
}

#[test]
fn typed_tensors_become_references_to_regions_owned_by_the_guard() {
    let original = request(vec![
        fp32("INPUT0", &[1.0, 2.0]),
        fp32("INPUT1", &[3.0, 4.0]),
    ]);
    let (converted, guard) = to_shm_request(&original).unwrap();

    assert_eq!(guard.len(), 2);
    let refs = shm_refs(&converted.inputs);
    assert_eq!(
        refs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["INPUT0", "INPUT1"]
    );
    for (r, key) in refs.iter().zip(guard.keys()) {
        assert_eq!(r.shm_key, key);
        assert_eq!(
            (r.byte_size, r.shape.as_slice(), r.dtype.as_str()),
            (8, &[2][..], "FP32")
        );
        assert!(exists(key));
    }
    // Everything but the inputs is carried over.
    assert_eq!(
        {
            let mut carried = converted.clone();
            carried.inputs = original.inputs.clone();
            carried
        },
        original
    );
    // The frame carries the reference in the server's SHM shape.
    let frame = encode_request("u", "", &Request::Inference(converted.into())).unwrap();
    assert!(
        frame.contains(r#""name":"INPUT0","shm_key":"/tcm-"#),
        "{frame}"
    );
    assert!(frame.contains(r#""offset":0,"byte_size":8,"shape":[2],"dtype":"FP32"}"#));

    let keys: Vec<String> = guard.keys().map(str::to_owned).collect();
    drop(guard);
    assert!(
        keys.iter().all(|k| !exists(k)),
        "dropping the guard unlinks every region"
    );
}

#[test]
fn existing_references_are_kept_and_pipeline_steps_are_converted() {
    let mut guard = ShmInputs::new();
    let own = guard.push(ShmTensor::from_f32("INPUT1", &[1], &[5.0]).unwrap());
    let raw_shm = TensorInput::Raw(json!({
        "name": "INPUT2", "shm_key": "/elsewhere", "offset": 0, "byte_size": 4,
        "shape": [1], "dtype": "FP32"
    }));
    let mut r = request(vec![fp32("INPUT0", &[1.0]), own.clone(), raw_shm.clone()]);
    r.pipeline = Some(vec![PipelineStep {
        name: Some("first".into()),
        model_name: "identity".into(),
        inputs: vec![fp32("INPUT0", &[7.0, 8.0])],
        protocol: None,
    }]);

    let (converted, regions) = to_shm_request(&r).unwrap();
    assert_eq!(regions.len(), 2, "one region per typed tensor");
    assert!(converted.inputs[0].is_shm());
    assert_eq!(converted.inputs[1], own);
    assert_eq!(converted.inputs[2], raw_shm);
    let step = &converted.pipeline.as_ref().unwrap()[0];
    assert_eq!(step.name.as_deref(), Some("first"));
    assert_eq!(shm_refs(&step.inputs)[0].shape, [2]);
}

/// The server uses only the SHM inputs of a list that holds any and drops the JSON ones
/// silently (TCM §9.7, Q16): a model would run without them, or fail on a missing input far
/// from the cause. So a list that would mix them is refused unless explicitly allowed.
#[test]
fn a_request_mixing_shm_and_json_inputs_is_refused_by_default() {
    let json_input =
        TensorInput::Raw(json!({"name":"INPUT1","dims":[1],"type":"FP32","value":[1.0]}));
    let r = request(vec![fp32("INPUT0", &[1.0]), json_input.clone()]);

    match to_shm_request(&r) {
        Err(ShmError::MixedInputs { json_inputs }) => assert_eq!(json_inputs, ["INPUT1"]),
        other => panic!("{other:?}"),
    }

    let (mixed, regions) =
        to_shm_request_with(&r, ConvertOptions::default().allow_mixed(true)).unwrap();
    assert!(mixed.inputs[0].is_shm());
    assert_eq!(mixed.inputs[1], json_input);
    assert_eq!(regions.len(), 1);
}

#[test]
fn a_request_without_typed_tensors_is_returned_unchanged() {
    let json_only = request(vec![TensorInput::Raw(
        json!({"name":"INPUT0","dims":[1],"type":"FP32","value":[1.0]}),
    )]);
    let (same, regions) = to_shm_request(&json_only).unwrap();
    assert_eq!(same, json_only);
    assert!(regions.is_empty());
}

#[test]
fn prepare_request_converts_when_shm_is_chosen_and_passes_through_otherwise() {
    let r = request(vec![fp32("INPUT0", &[1.0, 2.0])]);

    let (shm, regions) = prepare_request(r.clone(), &caps(&["json", "shm"]), false).unwrap();
    assert!(shm.inputs[0].is_shm());
    assert_eq!(regions.len(), 1);

    let (json, none) = prepare_request(r.clone(), &caps(&["json"]), true).unwrap();
    assert_eq!(json, r);
    assert!(none.is_empty());

    assert!(matches!(
        prepare_request(r, &caps(&["json"]), false),
        Err(ShmError::NotNegotiated)
    ));
}
