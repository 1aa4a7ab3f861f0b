//! [smol](https://docs.rs/smol) client for the TCM (Triton Client Manager) WebSocket protocol.
//!
//! A thin facade over the runtime-generic `tcm-async` driver: this crate only supplies smol's
//! `TcpStream` and timers, and runs each client's I/O loop on a thread of its own (which never
//! drives the reactor, so a caller in `block_on` keeps it). All protocol decisions are made by
//! the sans-IO `tcm-proto` core.
//! Calls may be made concurrently from many tasks on one [`Client`]; a [`Pool`] spreads
//! inference over several connections.
//!
//! ```no_run
//! use tcm_smol::{Client, tcm_proto::{AuthContext, Config}};
//!
//! smol::block_on(async {
//!     let client = Client::connect("ws://127.0.0.1:8000/ws", AuthContext::anonymous(), Config::new("example")).await?;
//!     let stats = client.queue_stats().await?;
//!     println!("queued: {}", stats.total_queued);
//!     client.close().await;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod runtime;

pub use runtime::Smol;
tcm_async::runtime_facade!(Smol, "smol");
