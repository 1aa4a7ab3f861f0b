//! Runs the `add` model on FP32 vectors from 8 concurrent tasks over a pool of 4 connections,
//! each call with its own deadline, and prints `OUTPUT0`.
//!
//! `cargo run -p tcm-tokio --example tokio_infer -- ws://127.0.0.1:8000/ws 127.0.0.1 my-container`

use std::time::Duration;

use tcm_tokio::tcm_proto::{AuthContext, Config, InferenceRequest, Tensor, TensorData};
use tcm_tokio::{CallOptions, Pool};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8000/ws".to_owned());
    let vm_ip = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let container_id = args.next().unwrap_or_else(|| "c1".to_owned());
    // The protocol allows one inference in flight per connection: a pool spreads them.
    let config = Config::new("example-tokio");
    let pool = Pool::connect(&url, AuthContext::anonymous(), config, 4).await?;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let pool = pool.clone();
            let a = TensorData::Fp32(vec![1.0, 2.0, i as f32]);
            let b = TensorData::Fp32(vec![10.0, 20.0, 30.0]);
            let request = InferenceRequest::new(vm_ip.as_str(), container_id.as_str(), "add")
                .with_input(Tensor::vector("INPUT0", a))
                .with_input(Tensor::vector("INPUT1", b))
                .with_allow_transient(true);
            tokio::spawn(async move {
                let options = CallOptions::new().timeout(Duration::from_secs(5));
                pool.call(request, options).await
            })
        })
        .collect();
    for task in tasks {
        let output = task.await??;
        let sum = output.outputs.f32("OUTPUT0")?;
        println!("OUTPUT0 {:?} = {:?}", sum.shape, sum.values);
    }
    pool.close().await;
    Ok(())
}
