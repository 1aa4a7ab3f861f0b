//! Runs the `add` model on two FP32 vectors and prints `OUTPUT0`.
//!
//! `cargo run -p tcm-smol --example smol_infer -- ws://127.0.0.1:8000/ws 127.0.0.1 my-container`

use tcm_smol::Client;
use tcm_smol::tcm_proto::{AuthContext, Config, InferenceRequest, Tensor, TensorData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8000/ws".to_owned());
    let vm_ip = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let container_id = args.next().unwrap_or_else(|| "c1".to_owned());
    smol::block_on(async {
        let client =
            Client::connect(&url, AuthContext::anonymous(), Config::new("example-infer")).await?;
        let request = InferenceRequest::new(vm_ip, container_id, "add".to_owned())
            .with_inputs(vec![
                Tensor::vector("INPUT0", TensorData::Fp32(vec![1.0, 2.0, 3.0])).into(),
                Tensor::vector("INPUT1", TensorData::Fp32(vec![10.0, 20.0, 30.0])).into(),
            ])
            .with_allow_transient(true);
        let output = client.infer(request).await?;
        let sum = output.outputs.f32("OUTPUT0")?;
        println!("OUTPUT0 {:?} = {:?}", sum.shape, sum.values);
        client.close().await;
        Ok(())
    })
}
