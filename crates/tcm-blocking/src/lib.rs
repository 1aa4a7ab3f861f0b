//! Blocking client for the TCM (Triton Client Manager) WebSocket protocol and the Tellurio
//! JSON-RPC dialect.
//!
//! This crate moves bytes between a [`tungstenite`] WebSocket on a non-blocking
//! `std::net::TcpStream` (optionally wrapped in rustls for `wss://`) and the sans-IO session
//! machines of [`tcm_proto`], which make every protocol decision: correlation, deadlines,
//! retries, keepalive and reconnection.
//!
//! # Threading model
//!
//! [`Client::connect`] starts a background I/O thread, which dials, authenticates, and then
//! serves the connection; `connect` returns once `auth.ok` arrived (or the first attempt
//! failed). A [`Client`] is a cheap `Clone + Send + Sync` handle shared by many threads. The
//! thread that drives the connection sleeps in `poll(2)` on the socket and a wake-up pipe until
//! the socket is ready, a command arrives, or the session's next timer is due; reads and writes
//! never block it, so no peer (one that trickles bytes, or stops reading) can hold it past a
//! deadline.
//!
//! That thread is the I/O thread, or a caller (leader/follower): a call made while no other
//! thread drives the connection is written, awaited and read on the calling thread itself, with
//! no hand-off to the I/O thread and back. Calls made meanwhile from other threads are queued
//! and answered by that leader; when its own outcome is in, it hands the connection back to the
//! I/O thread if anything is left. While callers keep calling, the I/O thread stands by and
//! looks again every millisecond, so a frame that answers no call waits at most that long. Dials and `/ready` probes run on short-lived helper threads under their own
//! deadlines. Dropping the last handle closes the connection; [`Client::close`] does it
//! explicitly and waits for the close frame to be written.
//!
//! Every call has a deadline: per kind in `Config::timeouts`, or per call with
//! [`CallOptions`] through [`Client::call`], which takes any typed call of [`tcm_proto::call`].
//!
//! A [`Pool`] holds several connections (each with its own uuid from
//! [`Config::pool_member`](tcm_proto::Config::pool_member)) and spreads calls across them,
//! since the protocol allows one inference in flight per connection. [`RpcClient`] speaks the
//! JSON-RPC dialect on the same I/O loop.
//!
//! ```no_run
//! use std::time::Duration;
//! use tcm_blocking::{Client, ClientOptions};
//! use tcm_proto::{AuthContext, Config, GetQueueStats};
//!
//! let client = Client::connect("ws://127.0.0.1:8000/ws", AuthContext::anonymous(), Config::new("example"))?;
//! let stats = client.queue_stats()?;
//! println!("queued: {}", stats.total_queued);
//! let stats = client.call(GetQueueStats, Duration::from_millis(500))?; // a per-call deadline
//! client.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod client;
mod driver;
mod http;
mod pool;
mod rpc;
mod socket;
mod stream;
mod transport;
mod wake;

pub use client::Client;
pub use http::probe;
pub use pool::Pool;
pub use rpc::{RpcClient, RpcHandlers};
pub use stream::InferStream;
pub use tcm_adapter::{
    CallOptions, CallOutcome, ClientOptions, ClientStats, ConnectError, Error, InferenceOutput,
    PoolOptions, PoolStats, ProbeError, ReplicaStats, Resolve, RpcClientEvent, RpcConnectError,
    RpcOptions, Shm, SystemResolver, TransportError,
};
pub use tcm_proto;
pub use tcm_proto::http::HttpResponse;

/// The workspace README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
