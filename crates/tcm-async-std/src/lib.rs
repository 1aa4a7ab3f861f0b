//! [async-std](https://docs.rs/async-std) client for the TCM (Triton Client Manager) WebSocket
//! protocol.
//!
//! **async-std is discontinued upstream**; its maintainers point to
//! [smol](https://docs.rs/smol). New code should use the `tcm-smol` crate, which has the same
//! API. This crate exists for applications that already run on async-std.
//!
//! A thin facade over the runtime-generic `tcm-async` driver: this crate only supplies
//! async-std's `TcpStream` and timers, and runs each client's I/O loop on a thread of its own
//! (which never drives the reactor, so a caller in `block_on` keeps it). All protocol decisions
//! are made by the sans-IO `tcm-proto` core.
//!
//! ```no_run
//! use tcm_async_std::{Client, tcm_proto::{AuthContext, Config}};
//!
//! async_std::task::block_on(async {
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

pub use runtime::AsyncStd;
tcm_async::runtime_facade!(AsyncStd, "async-std");
