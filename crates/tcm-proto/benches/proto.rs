//! Encode and decode of each frame kind, and the request lifecycle without a socket
//! (request → transmit → reply → event).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
mod frames;
use frames::FRAMES;
use tcm_proto::envelope::{
    encode_auth, encode_inference_via_serde, encode_info_via_serde, encode_request,
};
use tcm_proto::{
    AuthContext, Config, Connection, Event, InferenceRequest, InfoRequest, ManagementRequest,
    Request, ServerFrame, Tensor, TensorData, Transmit,
};

fn identity(n: usize) -> Request {
    Request::from(
        InferenceRequest::new("127.0.0.1", "ctr-1", "identity")
            .with_inputs(vec![
                Tensor::vector("INPUT0", TensorData::Fp32(vec![0.5; n])).into(),
            ])
            .with_allow_transient(true),
    )
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let auth = AuthContext::with_token("t");
    let caps = vec!["json".to_owned(), "shm".to_owned()];
    g.bench_function("auth", |b| {
        b.iter(|| encode_auth(black_box("client-1"), &auth, &caps))
    });
    let info = Request::Info(InfoRequest::queue_stats());
    g.bench_function("info", |b| {
        b.iter(|| encode_request("client-1", black_box("j1"), &info))
    });
    let mgmt = Request::Management(ManagementRequest {
        action: "creation".into(),
        payload: serde_json::from_str(r#"{"openstack":{"name":"vm"},"docker":{"image":"i"}}"#)
            .unwrap(),
    });
    g.bench_function("management", |b| {
        b.iter(|| encode_request("client-1", black_box("m1"), &mgmt))
    });
    let small = identity(4);
    g.bench_function("inference_4", |b| {
        b.iter(|| encode_request("client-1", "", black_box(&small)))
    });
    let big = Request::from({
        let mut r = InferenceRequest::for_container(String::new(), "").with_inputs(vec![
            Tensor::new(
                "INPUT0",
                vec![1, 3, 224, 224],
                TensorData::Fp32(vec![0.123_456_7; 3 * 224 * 224]),
            )
            .unwrap()
            .into(),
        ]);
        r.model_name = None;
        r
    });
    g.bench_function("inference_1x3x224x224", |b| {
        b.iter(|| encode_request("client-1", "", black_box(&big)))
    });
    // Varied values (an image-like input) cost more to format than one repeated value.
    let varied = Request::from({
        let values = (0..3 * 224 * 224u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 8) as f32 / 16_777_216.0 * 2.0 - 1.0)
            .collect();
        let mut r = InferenceRequest::for_container(String::new(), "").with_inputs(vec![
            Tensor::new("INPUT0", vec![1, 3, 224, 224], TensorData::Fp32(values))
                .unwrap()
                .into(),
        ]);
        r.model_name = None;
        r
    });
    g.bench_function("inference_1x3x224x224_varied", |b| {
        b.iter(|| encode_request("client-1", "", black_box(&varied)))
    });
    g.finish();
    // The same frames through `serde_json`'s serializer (what `encode_request` did before it
    // wrote tensors directly), measured in the same run.
    let mut g = c.benchmark_group("encode_baseline");
    for (name, request) in [
        ("inference_1x3x224x224", &big),
        ("inference_1x3x224x224_varied", &varied),
    ] {
        let Request::Inference(r) = request else {
            unreachable!()
        };
        g.bench_function(name, |b| {
            b.iter(|| encode_inference_via_serde("client-1", black_box(r)))
        });
    }
    g.bench_function("info", |b| {
        b.iter(|| encode_info_via_serde("client-1", black_box("j1"), "queue_stats"))
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for (name, text) in FRAMES {
        g.bench_function(name, |b| b.iter(|| ServerFrame::decode(black_box(text))));
    }
    g.finish();
    // The same frames through a `serde_json::Value` (what `decode` falls back to, and what it
    // did for every frame before its typed reading), measured in the same run.
    let mut g = c.benchmark_group("decode_baseline");
    for (name, text) in FRAMES {
        g.bench_function(name, |b| {
            b.iter(|| ServerFrame::decode_via_value(black_box(text)))
        });
    }
    g.finish();
    // Every frame through a whole `serde_json::Value` tree, completed inferences included:
    // the path all frames took before either reading of their own.
    let mut g = c.benchmark_group("decode_tree");
    for (name, text) in FRAMES {
        g.bench_function(name, |b| {
            b.iter(|| {
                serde_json::from_str::<serde_json::Value>(black_box(text))
                    .map(ServerFrame::from_value)
            })
        });
    }
    g.finish();
}

/// An authenticated connection with keepalive and retries as configured by default.
fn open() -> (Connection, Instant) {
    common::open(Config::new("bench"))
}

fn lifecycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("lifecycle");
    let (mut conn, now) = open();
    let reply = r#"{"type":"info_response","payload":{"job_id":"JOB","request_type":"queue","status":"success","data":{"total_queued":0}}}"#;
    g.bench_function("info_queue_stats", |b| {
        b.iter(|| {
            let id = conn
                .request(
                    now,
                    Request::Info(InfoRequest::queue_stats()),
                    Some(Duration::from_secs(5)),
                )
                .unwrap();
            let Some(Transmit::Text(_frame)) = conn.poll_transmit() else {
                unreachable!()
            };
            conn.handle_text(now, &reply.replace("JOB", &format!("j{}", id.get())));
            let Some(Event::Finished { outcome, .. }) = conn.poll_event() else {
                unreachable!()
            };
            black_box(outcome)
        })
    });
    let (mut conn, now) = open();
    let uuid = conn.uuid().to_owned();
    let done = format!(
        r#"{{"type":"inference","uuid":"{uuid}","payload":{{"data":{{"OUTPUT0":[1.0]}},"status":"COMPLETED","model_name":"identity"}}}}"#
    );
    g.bench_function("inference_identity", |b| {
        b.iter(|| {
            conn.request(now, identity(1), None).unwrap();
            let Some(Transmit::Text(_frame)) = conn.poll_transmit() else {
                unreachable!()
            };
            conn.handle_text(now, &done);
            let Some(Event::Finished { outcome, .. }) = conn.poll_event() else {
                unreachable!()
            };
            black_box(outcome)
        })
    });
    let (mut conn, now) = open();
    g.bench_function("info_queue_stats_without_decode", |b| {
        b.iter(|| {
            let id = conn
                .request(
                    now,
                    Request::Info(InfoRequest::queue_stats()),
                    Some(Duration::from_secs(5)),
                )
                .unwrap();
            let Some(Transmit::Text(_frame)) = conn.poll_transmit() else {
                unreachable!()
            };
            let reply = ServerFrame::InfoResponse(tcm_proto::frame::InfoResponse {
                job_id: serde_json::Value::String(format!("j{}", id.get())),
                request_type: None,
                success: true,
                data: serde_json::Value::Null.into(),
                error: None,
            });
            conn.handle_frame(now, reply);
            let Some(Event::Finished { outcome, .. }) = conn.poll_event() else {
                unreachable!()
            };
            black_box(outcome)
        })
    });
    g.finish();
}

criterion_group!(benches, encode, decode, lifecycle);
criterion_main!(benches);
