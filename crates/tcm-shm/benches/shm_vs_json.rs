//! A 1×3×224×224 FP32 input (150 528 values) sent as JSON values vs. through shared memory.
//!
//! - `json`: encoding the inference frame with the tensor as nested JSON lists;
//! - `shm`: creating a region, writing the tensor, encoding the frame with the reference, and
//!   unlinking the region again (the whole per-request cost on the client);
//! - `shm_write_only`: copying the tensor into an existing region.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tcm_proto::envelope::encode_request;
use tcm_proto::{InferenceRequest, Request, Tensor, TensorData, TensorInput};
use tcm_shm::{ShmRegion, ShmTensor, generate_key};

const SHAPE: [usize; 4] = [1, 3, 224, 224];

/// Deterministic values in [0, 1), with as many digits as real normalised pixels.
fn pixels() -> Vec<f32> {
    let n: usize = SHAPE.iter().product();
    (0..n as u64)
        .map(|i| ((i * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0)
        .collect()
}

fn request(input: TensorInput) -> Request {
    Request::Inference(
        InferenceRequest::new("127.0.0.1", "ctr-1", "resnet")
            .with_inputs(vec![input])
            .with_allow_transient(true)
            .into(),
    )
}

fn shm_vs_json(c: &mut Criterion) {
    let values = pixels();
    let json = request(
        Tensor::new("INPUT__0", SHAPE.to_vec(), TensorData::Fp32(values.clone()))
            .unwrap()
            .into(),
    );
    {
        let t = ShmTensor::from_f32("INPUT__0", &SHAPE, &values).unwrap();
        let json_len = encode_request("client-1", "", &json).unwrap().len();
        let shm_len = encode_request("client-1", "", &request(t.as_input()))
            .unwrap()
            .len();
        eprintln!(
            "frame sizes: json {json_len} bytes, shm {shm_len} bytes (+ a region of {} bytes)",
            t.byte_size()
        );
    }

    let mut g = c.benchmark_group("fp32_1x3x224x224");
    g.sample_size(20);
    g.bench_function("json", |b| {
        b.iter(|| encode_request("client-1", "", black_box(&json)).unwrap())
    });
    g.bench_function("shm", |b| {
        b.iter(|| {
            let t = ShmTensor::from_f32("INPUT__0", &SHAPE, black_box(&values)).unwrap();
            let frame = encode_request("client-1", "", &request(t.as_input())).unwrap();
            (frame, t)
        })
    });
    let mut region = ShmRegion::create(&generate_key(), values.len() * 4).unwrap();
    g.bench_function("shm_write_only", |b| {
        b.iter(|| {
            let out = region.as_mut_slice();
            for (chunk, v) in out.chunks_exact_mut(4).zip(black_box(&values)) {
                chunk.copy_from_slice(&v.to_le_bytes());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, shm_vs_json);
criterion_main!(benches);
