//! Connects to a Tellurio JSON-RPC endpoint with an API key, answers server requests from a
//! handler, makes concurrent calls from several tasks, then closes.
//!
//! `TELLURIO_API_KEY=... cargo run -p tcm-smol --example smol_rpc -- ws://127.0.0.1:8765/ws/v0/rpc/ <run-uuid>`
//!
//! (The reference server `tcm-rpc-testserver` serves this endpoint; its default key is
//! `test-key`.)

use serde_json::json;
use tcm_smol::tcm_proto::jsonrpc::methods::ok_result;
use tcm_smol::tcm_proto::jsonrpc::{RpcConfig, ServerMethod};
use tcm_smol::{RpcClient, RpcHandlers, RpcOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:8765/ws/v0/rpc/".to_owned());
    let run = args
        .next()
        .unwrap_or_else(|| "00000000-0000-4000-8000-000000000001".to_owned());
    let key = std::env::var("TELLURIO_API_KEY").unwrap_or_else(|_| "test-key".to_owned());

    let mut config = RpcConfig::new(key);
    config.run_uuid = Some(run);
    // Handlers are synchronous and run on their own thread, in arrival order. A handler that
    // calls the server blocks on the call there, never on the executor.
    let handlers = RpcHandlers::new().on_request(|client: &RpcClient, method: ServerMethod| {
        println!("server asks: {}", method.name());
        if let ServerMethod::CreateNode(node) = &method {
            let params = json!({"data": node.name, "role": "node name", "requires_grad": false});
            let created = smol::block_on(client.call("create_variable", params));
            println!("created from a handler: {created:?}");
        }
        Ok(ok_result())
    });
    smol::block_on(async {
        let client = RpcClient::connect_with(&url, config, RpcOptions::default(), handlers).await?;
        println!("session: {:?}", client.session_id());
        let calls: Vec<_> = (0..5)
            .map(|i| {
                let client = client.clone();
                smol::spawn(async move {
                    let params = json!({"data": i, "role": "counter", "requires_grad": false});
                    client.call("create_variable", params).await
                })
            })
            .collect();
        for call in calls {
            println!("created: {}", call.await?);
        }
        client.close().await;
        Ok(())
    })
}
