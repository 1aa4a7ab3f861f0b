//! Blocking client for the TCM (Triton Client Manager) WebSocket protocol.
//!
//! This crate moves bytes between a [`tungstenite`] WebSocket on a `std::net::TcpStream`
//! (optionally wrapped in rustls for `wss://`) and the sans-IO [`tcm_proto::Connection`], which
//! makes every protocol decision: correlation, deadlines, retries, keepalive and reconnection.
//!
//! # Threading model
//!
//! [`Client::connect`] dials, authenticates and then hands the socket and the `Connection` to a
//! background I/O thread. A [`Client`] is a cheap `Clone + Send + Sync` handle: each call sends a
//! command to that thread over a channel and blocks on its own reply channel, so many threads
//! can share one connection. The I/O thread reads with a socket read timeout derived from
//! [`Connection::poll_timeout`](tcm_proto::Connection::poll_timeout) (capped by
//! [`ClientOptions::command_poll`] so new commands are picked up promptly), which means a dead
//! peer never hangs it. Reconnect dials and `/ready` probes run on short-lived helper threads
//! that report back through the same command channel, so calls, cancellations and deadlines are
//! served while a reconnect is under way. Dropping the last handle closes the connection;
//! [`Client::close`] does it explicitly and waits for the close frame to be written.
//!
//! A [`Pool`] holds several connections (each with its own uuid from
//! [`Config::pool_member`](tcm_proto::Config::pool_member)) and spreads inference across them,
//! since the protocol allows one inference in flight per connection.
//!
//! ```no_run
//! use tcm_blocking::{Client, ClientOptions};
//! use tcm_proto::{AuthContext, Config};
//!
//! let client = Client::connect("ws://127.0.0.1:8000/ws", AuthContext::anonymous(), Config::new("example"))?;
//! let stats = client.queue_stats()?;
//! println!("queued: {}", stats.total_queued);
//! client.close();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod client;
mod driver;
mod error;
mod http;
mod pool;
mod probe;
mod rpc;
mod socket;
mod stream;
mod transport;
mod wake;

pub use client::Client;
pub use error::Error;
pub use pool::Pool;
pub use probe::probe;
pub use rpc::{RpcClient, RpcHandlers};
pub use stream::InferStream;
pub use tcm_adapter::InferenceOutput;
pub use tcm_adapter::{
    ClientOptions, ConnectError, ProbeError, RpcClientEvent, RpcConnectError, RpcOptions,
    TransportError,
};
pub use tcm_proto;
pub use tcm_proto::http::HttpResponse;

/// The workspace README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
