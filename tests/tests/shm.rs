//! Shared-memory inputs end to end: each client sends typed tensors through POSIX shared memory
//! to the reference server, which reads them from `/dev/shm` and computes the real outputs; and
//! each client's region pool: regions reused across calls without stale or shared reads,
//! retired when a call ends without its reply, unlinked on close and on drop.
#![cfg(unix)]

mod common;

use std::time::Duration;

use common::{client_config, inference, server};
use serde_json::{Value, json};
use tcm_proto::{AuthContext, Config, Outputs, Tensor, TensorData, TensorInput};

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

/// What the pool scenarios need of a client, written once for the four of them.
trait ShmClient: Sized {
    const NAME: &'static str;
    fn connect(url: &str, uuid: &str) -> Self;
    /// An inference with its tensors through shared memory (required), with a deadline.
    fn infer(
        &self,
        r: tcm_proto::InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<Outputs, tcm_adapter::Error>;
    /// Every request in flight at once; results in request order.
    fn infer_all(&self, reqs: Vec<tcm_proto::InferenceRequest>) -> Vec<Outputs>;
    fn pool(&self) -> &tcm_shm::RegionPool;
    fn close(&self);
}

fn shm_options(timeout: Option<Duration>) -> tcm_adapter::CallOptions {
    let options = tcm_adapter::CallOptions::new().shm(tcm_adapter::Shm::Required);
    match timeout {
        Some(t) => options.timeout(t),
        None => options,
    }
}

impl ShmClient for tcm_blocking::Client {
    const NAME: &'static str = "blocking";
    fn connect(url: &str, uuid: &str) -> Self {
        tcm_blocking::Client::connect(url, AuthContext::anonymous(), shm_config(uuid))
            .expect("connects")
    }
    fn infer(
        &self,
        r: tcm_proto::InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<Outputs, tcm_adapter::Error> {
        self.call(r, shm_options(timeout)).map(|o| o.outputs)
    }
    fn infer_all(&self, reqs: Vec<tcm_proto::InferenceRequest>) -> Vec<Outputs> {
        std::thread::scope(|s| {
            let calls: Vec<_> = reqs
                .into_iter()
                .map(|r| s.spawn(move || ShmClient::infer(self, r, None).expect("infer")))
                .collect();
            calls
                .into_iter()
                .map(|c| c.join().expect("a call thread panicked"))
                .collect()
        })
    }
    fn pool(&self) -> &tcm_shm::RegionPool {
        self.shm_pool()
    }
    fn close(&self) {
        tcm_blocking::Client::close(self);
    }
}

macro_rules! async_shm_client {
    ($krate:ident, $label:literal, block_on = $block_on:path, spawn = $spawn:path) => {
        impl ShmClient for $krate::Client {
            const NAME: &'static str = $label;
            fn connect(url: &str, uuid: &str) -> Self {
                $block_on($krate::Client::connect(
                    url,
                    AuthContext::anonymous(),
                    shm_config(uuid),
                ))
                .expect("connects")
            }
            fn infer(
                &self,
                r: tcm_proto::InferenceRequest,
                timeout: Option<Duration>,
            ) -> Result<Outputs, tcm_adapter::Error> {
                $block_on(self.call(r, shm_options(timeout))).map(|o| o.outputs)
            }
            fn infer_all(&self, reqs: Vec<tcm_proto::InferenceRequest>) -> Vec<Outputs> {
                let calls: Vec<_> = reqs
                    .into_iter()
                    .map(|r| {
                        let c = self.clone();
                        $spawn(async move { c.call(r, shm_options(None)).await })
                    })
                    .collect();
                $block_on(async move {
                    let mut out = Vec::with_capacity(calls.len());
                    for call in calls {
                        out.push(call.await.expect("infer").outputs);
                    }
                    out
                })
            }
            fn pool(&self) -> &tcm_shm::RegionPool {
                self.shm_pool()
            }
            fn close(&self) {
                $block_on($krate::Client::close(self));
            }
        }
    };
}

async_shm_client!(
    tcm_smol,
    "smol",
    block_on = smol::block_on,
    spawn = smol::spawn
);
async_shm_client!(
    tcm_async_std,
    "async-std",
    block_on = async_std::task::block_on,
    spawn = async_std::task::spawn
);
async_shm_client!(
    tcm_tokio,
    "tokio",
    block_on = tcm_tests::tokio_block_on,
    spawn = tcm_tests::tokio_spawn
);

/// `n` FP32 values that differ from call to call: any stale or shared read shows.
fn values_of_call(call: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| (call * 100_000 + i) as f32).collect()
}

fn identity_of(values: &[f32]) -> tcm_proto::InferenceRequest {
    request("identity", TensorData::Fp32(values.to_vec()))
}

fn exists(key: &str) -> bool {
    std::path::Path::new("/dev/shm")
        .join(key.trim_start_matches('/'))
        .exists()
}

/// 24 calls in a row, each with new values, through one reused region: every output is its own
/// call's input (the reference server caches its mappings per key and size, as TCM does, so a
/// region re-created under a reused key would echo stale values).
fn one_region_serves_every_call_and_each_call_reads_its_own_values<C: ShmClient>() {
    let s = server();
    let c = C::connect(&s.ws_url(), &format!("shm-reuse-{}", C::NAME));
    for call in 0..24 {
        // 3000 values: too many for a JSON frame; a 16 KiB region.
        let values = values_of_call(call, 3000);
        let out = c.infer(identity_of(&values), None).expect("infer");
        assert_eq!(
            out.f32("OUTPUT0").expect("fp32").values,
            values,
            "call {call}"
        );
    }
    let stats = c.pool().stats();
    assert_eq!(
        (stats.created, stats.reused, stats.retired),
        (1, 23, 0),
        "{stats:?}"
    );
    assert_eq!(stats.idle, 1);
    c.close();
}

/// Eight calls in flight at once: each has a region of its own (a region in use is never lent
/// to another call), every output is its own input, and all regions are back once they end.
fn calls_in_flight_never_share_a_region<C: ShmClient>() {
    let s = server();
    let c = C::connect(&s.ws_url(), &format!("shm-concurrent-{}", C::NAME));
    let inputs: Vec<Vec<f32>> = (0..8).map(|call| values_of_call(call, 2000)).collect();
    let outputs = c.infer_all(inputs.iter().map(|v| identity_of(v)).collect());
    for (call, (out, values)) in outputs.iter().zip(&inputs).enumerate() {
        assert_eq!(
            &out.f32("OUTPUT0").expect("fp32").values,
            values,
            "call {call}"
        );
    }
    let stats = c.pool().stats();
    assert!(stats.created <= 8, "{stats:?}");
    assert_eq!(stats.created + stats.reused, 8, "{stats:?}");
    assert_eq!(
        (stats.leased, stats.idle as u64),
        (0, stats.created),
        "{stats:?}"
    );
    c.close();
}

/// A call whose deadline passes before the reply may still be read by the server: its region is
/// retired (unlinked, never lent again), and the next call gets a new one.
fn a_call_that_ends_without_its_reply_retires_its_region<C: ShmClient>() {
    let s = server();
    let c = C::connect(&s.ws_url(), &format!("shm-timeout-{}", C::NAME));
    s.set_never_answer_inference(true);
    let timed_out = c.infer(identity_of(&[1.0; 16]), Some(Duration::from_millis(200)));
    assert!(
        matches!(
            timed_out,
            Err(tcm_adapter::Error::Request(
                tcm_proto::RequestError::Timeout
            ))
        ),
        "{timed_out:?}"
    );
    let stats = c.pool().stats();
    assert_eq!(
        (stats.retired, stats.idle, stats.leased),
        (1, 0, 0),
        "{stats:?}"
    );

    s.set_never_answer_inference(false);
    let out = c.infer(identity_of(&[2.0; 16]), None).expect("infer");
    assert_eq!(out.f32("OUTPUT0").expect("fp32").values, [2.0; 16]);
    assert_eq!(
        c.pool().stats().created,
        2,
        "a fresh region, under a fresh key"
    );
    c.close();
}

/// The client's idle regions are in `/dev/shm` between calls and gone once it is closed.
fn close_unlinks_every_region_of_the_client<C: ShmClient>() {
    let s = server();
    let c = C::connect(&s.ws_url(), &format!("shm-close-{}", C::NAME));
    // Two size classes: 4 KiB and 64 KiB.
    for n in [10, 10_000] {
        c.infer(identity_of(&values_of_call(0, n)), None)
            .expect("infer");
    }
    let keys = c.pool().idle_keys();
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter().all(|k| exists(k)),
        "idle regions stay for reuse"
    );
    c.close();
    assert!(keys.iter().all(|k| !exists(k)), "close unlinks them");
}

/// Dropping the last handle of a client unlinks its idle regions.
fn dropping_the_client_unlinks_its_regions<C: ShmClient>() {
    let s = server();
    let c = C::connect(&s.ws_url(), &format!("shm-drop-{}", C::NAME));
    c.infer(identity_of(&[3.0; 8]), None).expect("infer");
    let keys = c.pool().idle_keys();
    assert_eq!(keys.len(), 1);
    drop(c);
    assert!(
        keys.iter().all(|k| !exists(k)),
        "dropping the client unlinks them"
    );
}

macro_rules! pool_scenarios {
    ($($client:ty => $module:ident),* $(,)?) => {$(
        mod $module {
            #[test]
            fn one_region_serves_every_call_and_each_call_reads_its_own_values() {
                super::one_region_serves_every_call_and_each_call_reads_its_own_values::<$client>();
            }

            #[test]
            fn calls_in_flight_never_share_a_region() {
                super::calls_in_flight_never_share_a_region::<$client>();
            }

            #[test]
            fn a_call_that_ends_without_its_reply_retires_its_region() {
                super::a_call_that_ends_without_its_reply_retires_its_region::<$client>();
            }

            #[test]
            fn close_unlinks_every_region_of_the_client() {
                super::close_unlinks_every_region_of_the_client::<$client>();
            }

            #[test]
            fn dropping_the_client_unlinks_its_regions() {
                super::dropping_the_client_unlinks_its_regions::<$client>();
            }
        }
    )*};
}

pool_scenarios!(
    tcm_blocking::Client => pooled_blocking,
    tcm_smol::Client => pooled_smol,
    tcm_async_std::Client => pooled_async_std,
    tcm_tokio::Client => pooled_tokio,
);
