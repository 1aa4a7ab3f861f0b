//! Connects, prints the server's queue counters and the negotiated capabilities, then closes.
//!
//! `cargo run -p tcm-blocking --example blocking_queue_stats -- ws://127.0.0.1:8000/ws`

use tcm_blocking::Client;
use tcm_blocking::tcm_proto::{AuthContext, Config};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8000/ws".to_owned());
    let client = Client::connect(&url, AuthContext::anonymous(), Config::new("example-stats"))?;
    println!("capabilities: {:?}", client.capabilities());
    let stats = client.queue_stats()?;
    println!("{stats:#?}");
    println!("health: {}", client.health()?.status);
    client.close();
    Ok(())
}
