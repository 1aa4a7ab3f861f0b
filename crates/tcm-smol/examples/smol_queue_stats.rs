//! Connects, asks for the server's queue counters from 20 concurrent tasks on one connection,
//! prints one of them, then closes.
//!
//! `cargo run -p tcm-smol --example smol_queue_stats -- ws://127.0.0.1:8000/ws`

use tcm_smol::Client;
use tcm_smol::tcm_proto::{AuthContext, Config};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:8000/ws".to_owned());
    smol::block_on(async {
        let client =
            Client::connect(&url, AuthContext::anonymous(), Config::new("example-stats")).await?;
        println!("capabilities: {:?}", client.capabilities());
        let calls: Vec<_> = (0..20).map(|_| client.queue_stats()).collect();
        let mut last = None;
        for call in calls {
            last = Some(call.await?);
        }
        println!("{last:#?}");
        println!("health: {}", client.health().await?.status);
        client.close().await;
        Ok(())
    })
}
