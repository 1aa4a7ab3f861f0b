//! Runtime-generic async client for the TCM (Triton Client Manager) WebSocket protocol and the
//! Tellurio JSON-RPC dialect.
//!
//! This crate moves bytes between an async-tungstenite WebSocket (over any `AsyncRead +
//! AsyncWrite` stream, with futures-rustls for `wss://`) and the sans-IO session machines of
//! [`tcm_proto`], which make every protocol decision: correlation, deadlines, retries, keepalive
//! and reconnection.
//!
//! It is written once for any [`Runtime`]; the `tcm-smol`, `tcm-async-std` and `tcm-tokio`
//! crates only supply TCP streams, spawning and timers.
//!
//! # Concurrency model
//!
//! [`Client::connect`] spawns an I/O task that dials, authenticates and then serves the socket
//! and the session; `connect` returns once `auth.ok` arrived (or the first attempt failed). A
//! [`Client`] is a cheap `Clone + Send + Sync` handle: each call queues a command and awaits
//! its reply, so any number of tasks can call concurrently on one connection. Whoever polls
//! the loop polls the socket's writes and reads, the commands, a dial in progress and its timer
//! together, so no peer can hold it past a deadline. Dropping a call's future cancels its
//! request. Dropping the last handle closes the connection.
//!
//! Leader/follower: a call's own task polls the loop while it waits, whenever no other task is
//! polling it at that moment, so a lone caller's request and reply need no hand-off to the I/O
//! task and back. A caller that stops with work left wakes the I/O task to take it over; while
//! calls keep coming, the I/O task stands by and looks again every millisecond, so a frame that
//! answers no call waits at most that long. With tokio, a call awaited outside a tokio runtime
//! leaves the I/O to the client's task.
//!
//! Where the I/O task runs is the runtime's choice ([`Runtime::spawn`]): tokio's on its
//! executor; smol's and async-std's on a thread of its own that parks while it waits
//! ([`spawn_io_thread`]), so that a caller waiting in `block_on` keeps driving the `async-io`
//! reactor and is woken by its own socket rather than by an executor thread.
//!
//! Every call has a deadline: per kind in `Config::timeouts`, or per call with
//! [`CallOptions`] through [`Client::call`], which takes any typed call of [`tcm_proto::call`].
//! A [`Pool`] spreads calls over several connections; [`RpcClient`] speaks the JSON-RPC dialect
//! on the same I/O loop.

#![warn(missing_docs)]

mod client;
mod driver;
mod http;
mod io_thread;
mod pool;
mod rpc;
mod runtime;
mod socket;
mod stream;
mod time;
mod transport;

pub use client::Client;
pub use http::probe;
pub use io_thread::spawn_io_thread;
pub use pool::Pool;
pub use rpc::{RpcClient, RpcHandlers};
pub use runtime::{IoTimer, Runtime};
pub use stream::InferStream;
pub use tcm_adapter::{
    CallOptions, CallOutcome, ClientOptions, ClientStats, ConnectError, Error, InferenceOutput,
    PoolOptions, PoolStats, ProbeError, ReplicaStats, Resolve, RpcClientEvent, RpcConnectError,
    RpcOptions, Shm, SystemResolver, TransportError,
};
pub use tcm_proto;
pub use tcm_proto::http::HttpResponse;
