//! Connects to a Tellurio JSON-RPC endpoint with an API key, answers server requests from a
//! handler, creates a variable and runs a function, then closes.
//!
//! `TELLURIO_API_KEY=... cargo run -p tcm-blocking --example blocking_rpc -- ws://127.0.0.1:8765/ws/v0/rpc/ <run-uuid>`
//!
//! (The reference server `tcm-rpc-testserver` serves this endpoint; its default key is
//! `test-key`.)

use serde_json::json;
use tcm_blocking::tcm_proto::jsonrpc::methods::{ok_result, variable_ref};
use tcm_blocking::tcm_proto::jsonrpc::{Call, RpcConfig, ServerMethod};
use tcm_blocking::{RpcClient, RpcClientEvent, RpcHandlers, RpcOptions};

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
    // Server requests run on a worker thread, in arrival order; a handler may call back.
    let handlers = RpcHandlers::new()
        .on_request(|_client, method: ServerMethod| {
            println!("server asks: {}", method.name());
            Ok(ok_result())
        })
        .on_notification(|_client, method, _params| println!("server notifies: {method}"));
    let client = RpcClient::connect_with(&url, config, RpcOptions::default(), handlers)?;
    println!("session: {:?}", client.session_id());

    let events = client.events();
    std::thread::spawn(move || {
        while let Some(Ok(event)) = events.as_ref().map(|e| e.recv_blocking()) {
            if let RpcClientEvent::Reconnected { session_id } = event {
                println!("new session {session_id:?}: server-side objects are gone");
            }
        }
    });

    let variable = client.send(
        Call::create_variable(json!("hello"), "greeting", true),
        None,
    )?;
    println!("created: {variable}");
    let id = variable["variable_id"].as_str().unwrap_or_default();
    let output = client.send(
        Call::run_function("upper", true, json!([variable_ref(id)]), json!({})),
        None,
    )?;
    println!("run_function: {output}");
    client.close();
    Ok(())
}
