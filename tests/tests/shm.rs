//! Shared-memory inputs end to end: each client sends typed tensors through POSIX shared memory
//! to the reference server, which reads them from `/dev/shm` and computes the real outputs.
#![cfg(unix)]

mod common;

use common::{client_config, inference, server};
use serde_json::{Value, json};
use tcm_proto::{AuthContext, Config, Tensor, TensorData, TensorInput};

fn shm_config(uuid: &str) -> Config {
    let mut c = client_config(uuid);
    c.capabilities = vec!["json".into(), "shm".into()];
    c
}

/// One tensor per fixed-size datatype, with the model that echoes it and the expected JSON.
fn every_datatype() -> Vec<(&'static str, TensorData, Value)> {
    vec![
        (
            "identity_bool",
            TensorData::Bool(vec![true, false, true]),
            json!([true, false, true]),
        ),
        (
            "identity_int8",
            TensorData::Int8(vec![-128, 0, 127]),
            json!([-128, 0, 127]),
        ),
        (
            "identity_int16",
            TensorData::Int16(vec![-32768, 1, 32767]),
            json!([-32768, 1, 32767]),
        ),
        (
            "identity_int32",
            TensorData::Int32(vec![i32::MIN, 2, i32::MAX]),
            json!([i32::MIN, 2, i32::MAX]),
        ),
        (
            "identity_int64",
            TensorData::Int64(vec![-(1 << 40), 3, 1 << 40]),
            json!([-(1i64 << 40), 3, 1i64 << 40]),
        ),
        (
            "identity_uint8",
            TensorData::Uint8(vec![0, 1, 255]),
            json!([0, 1, 255]),
        ),
        (
            "identity_uint16",
            TensorData::Uint16(vec![0, 2, 65535]),
            json!([0, 2, 65535]),
        ),
        (
            "identity_uint32",
            TensorData::Uint32(vec![0, 3, u32::MAX]),
            json!([0, 3, u32::MAX]),
        ),
        (
            "identity_uint64",
            TensorData::Uint64(vec![0, 4, 1 << 50]),
            json!([0, 4, 1u64 << 50]),
        ),
        (
            "identity_fp16",
            TensorData::Fp16(vec![0.5, -2.0, 1024.0]),
            json!([0.5, -2.0, 1024.0]),
        ),
        (
            "identity",
            TensorData::Fp32(vec![0.25, -1.5, 3.0]),
            json!([0.25, -1.5, 3.0]),
        ),
        (
            "identity_fp64",
            TensorData::Fp64(vec![1e-300, -2.5, 1e300]),
            json!([1e-300, -2.5, 1e300]),
        ),
    ]
}

fn request(model: &str, data: TensorData) -> tcm_proto::InferenceRequest {
    inference(
        model,
        vec![TensorInput::from(Tensor::vector("INPUT0", data))],
    )
}

fn shm_regions() -> usize {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("tcm-"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn blocking_round_trip_of_every_datatype_through_shared_memory() {
    let s = server();
    let client = tcm_blocking::Client::connect(
        &s.ws_url(),
        AuthContext::anonymous(),
        shm_config("shm-blocking"),
    )
    .expect("connects");
    assert!(
        client.capabilities().expect("open").shm(),
        "the server grants shm"
    );
    for (model, data, expected) in every_datatype() {
        let out = client
            .infer_shm(request(model, data), false)
            .unwrap_or_else(|e| panic!("{model}: {e}"));
        assert_eq!(
            out.outputs.get("OUTPUT0").expect("OUTPUT0"),
            expected,
            "{model}"
        );
    }
    client.close();
}

#[test]
fn smol_and_async_std_round_trip_through_shared_memory() {
    let s = server();
    smol::block_on(async {
        let client = tcm_smol::Client::connect(
            &s.ws_url(),
            AuthContext::anonymous(),
            shm_config("shm-smol"),
        )
        .await
        .expect("connects");
        for (model, data, expected) in every_datatype() {
            let out = client
                .infer_shm(request(model, data), false)
                .await
                .unwrap_or_else(|e| panic!("{model}: {e}"));
            assert_eq!(
                out.outputs.get("OUTPUT0").expect("OUTPUT0"),
                expected,
                "{model}"
            );
        }
        client.close().await;
    });
    async_std::task::block_on(async {
        let client = tcm_async_std::Client::connect(
            &s.ws_url(),
            AuthContext::anonymous(),
            shm_config("shm-as"),
        )
        .await
        .expect("connects");
        let out = client
            .infer_shm(
                request("identity_int32", TensorData::Int32(vec![5, 6])),
                false,
            )
            .await
            .expect("infer");
        assert_eq!(out.outputs.get("OUTPUT0").expect("OUTPUT0"), json!([5, 6]));
        client.close().await;
    });
}

#[test]
fn a_tensor_too_large_for_json_goes_through_shared_memory() {
    let s = server();
    let client =
        tcm_blocking::Client::connect(&s.ws_url(), AuthContext::anonymous(), shm_config("shm-big"))
            .expect("connects");
    let values: Vec<f32> = (0..20_000).map(|i| i as f32).collect();
    let too_big = client.infer(request("identity", TensorData::Fp32(values.clone())));
    assert!(matches!(
        too_big,
        Err(tcm_blocking::Error::Request(
            tcm_proto::RequestError::TooLarge { .. }
        ))
    ));
    let out = client.infer_shm(request("add", TensorData::Fp32(values.clone())), false);
    // `add` needs two inputs: the server's own typed error proves the request reached it.
    assert!(out.is_err());
    let out = client
        .infer_shm(request("identity", TensorData::Fp32(values.clone())), false)
        .expect("infer");
    assert_eq!(out.outputs.f32("OUTPUT0").expect("fp32").values, values);
    client.close();
}

#[test]
fn regions_are_unlinked_once_the_reply_has_arrived() {
    let s = server();
    let client = tcm_blocking::Client::connect(
        &s.ws_url(),
        AuthContext::anonymous(),
        shm_config("shm-gone"),
    )
    .expect("connects");
    let before = shm_regions();
    for _ in 0..5 {
        client
            .infer_shm(request("identity", TensorData::Fp32(vec![1.0; 64])), false)
            .expect("infer");
    }
    // Other tests in this process may hold regions of their own for a moment.
    let settled = common::eventually(std::time::Duration::from_secs(5), || {
        shm_regions() <= before
    });
    assert!(settled, "no region outlives its call");
    client.close();
}

#[test]
fn without_negotiated_shm_the_call_fails_typed_or_falls_back_to_json() {
    let s = server();
    // The client does not ask for shm: the server grants json only.
    let client = tcm_blocking::Client::connect(
        &s.ws_url(),
        AuthContext::anonymous(),
        client_config("shm-none"),
    )
    .expect("connects");
    let refused = client.infer_shm(request("identity", TensorData::Fp32(vec![1.0])), false);
    assert!(
        matches!(
            refused,
            Err(tcm_blocking::Error::Shm(tcm_shm::ShmError::NotNegotiated))
        ),
        "{refused:?}"
    );
    let out = client
        .infer_shm(request("identity", TensorData::Fp32(vec![1.0])), true)
        .expect("falls back to JSON");
    assert_eq!(out.outputs.f32("OUTPUT0").expect("fp32").values, vec![1.0]);
    client.close();
}
