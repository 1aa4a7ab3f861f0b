//! Runtime-generic async client for the TCM (Triton Client Manager) WebSocket protocol.
//!
//! This crate moves bytes between an async-tungstenite WebSocket (over any `AsyncRead +
//! AsyncWrite` stream, with futures-rustls for `wss://`) and the sans-IO
//! [`tcm_proto::Connection`], which makes every protocol decision: correlation, deadlines,
//! retries, keepalive and reconnection. Timers come from `async-io`.
//!
//! It is written once for any [`Runtime`]; the `tcm-smol` and `tcm-async-std` crates only pick
//! the TCP stream and the spawn function.
//!
//! # Concurrency model
//!
//! [`Client::connect`] dials and authenticates in the calling task, then spawns a driver task
//! that owns the socket and the `Connection`. A [`Client`] is a cheap `Clone + Send + Sync`
//! handle: each call sends a command to the driver over a channel and awaits a oneshot reply,
//! so any number of tasks can call concurrently on one connection. Reconnect dials and `/ready`
//! probes are polled alongside the commands, so deadlines hold while a reconnect is under way.
//! Dropping a call's future cancels its request. Dropping the last handle closes the connection.
//!
//! A [`Pool`] holds several connections (each with its own uuid from
//! [`Config::pool_member`](tcm_proto::Config::pool_member)) and spreads inference across them,
//! since the protocol allows one inference in flight per connection.

#![warn(missing_docs)]

mod client;
mod driver;
mod error;
mod http;
mod pool;
mod probe;
mod rpc;
mod runtime;
mod socket;
mod stream;
mod time;
mod transport;

pub use client::Client;
pub use error::Error;
pub use pool::Pool;
pub use probe::probe;
pub use rpc::{RpcClient, RpcHandlers};
pub use runtime::Runtime;
pub use stream::InferStream;
pub use tcm_adapter::InferenceOutput;
pub use tcm_adapter::{
    ClientOptions, ConnectError, ProbeError, RpcClientEvent, RpcConnectError, RpcOptions,
    TransportError,
};
pub use tcm_proto;
pub use tcm_proto::http::HttpResponse;
