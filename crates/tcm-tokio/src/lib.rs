//! [tokio](https://docs.rs/tokio) client for the TCM (Triton Client Manager) WebSocket protocol
//! and the Tellurio JSON-RPC dialect.
//!
//! A thin facade over the runtime-generic `tcm-async` client: this crate only supplies tokio's
//! `TcpStream`, `spawn` and timers. All protocol decisions are made by the sans-IO `tcm-proto`
//! core. Connect from within a tokio runtime (multi-thread or current-thread): the client's I/O
//! task is spawned on it. Calls may be made concurrently from many tasks on one [`Client`]; a
//! [`Pool`] spreads calls over several connections.
//!
//! ```no_run
//! use std::time::Duration;
//! use tcm_tokio::{Client, tcm_proto::{AuthContext, Config, GetQueueStats}};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::connect("ws://127.0.0.1:8000/ws", AuthContext::anonymous(), Config::new("example")).await?;
//! let stats = client.queue_stats().await?;
//! println!("queued: {}", stats.total_queued);
//! let stats = client.call(GetQueueStats, Duration::from_millis(500)).await?; // a per-call deadline
//! client.close().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod runtime;

pub use runtime::{Tokio, TokioTimer};
tcm_async::runtime_facade!(Tokio, "tokio");
