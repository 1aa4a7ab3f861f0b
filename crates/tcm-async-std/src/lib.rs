//! [async-std](https://docs.rs/async-std) client for the TCM (Triton Client Manager) WebSocket
//! protocol.
//!
//! **async-std is discontinued upstream**; its maintainers point to
//! [smol](https://docs.rs/smol). New code should use the `tcm-smol` crate, which has the same
//! API. This crate exists for applications that already run on async-std.
//!
//! A thin facade over the runtime-generic `tcm-async` driver: this crate only supplies
//! async-std's `TcpStream` and `spawn`. All protocol decisions are made by the sans-IO
//! `tcm-proto` core.
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
pub use tcm_async::{
    ClientOptions, ConnectError, Error, HttpResponse, InferenceOutput, ProbeError, RpcClientEvent,
    RpcConnectError, RpcOptions, TransportError, tcm_proto,
};

/// A TCM client driven by an async-std task.
pub type Client = tcm_async::Client<AsyncStd>;
/// A pool of TCM connections driven by async-std tasks.
pub type Pool = tcm_async::Pool<AsyncStd>;
/// The frames of a streaming inference.
pub type InferStream = tcm_async::InferStream<AsyncStd>;
/// A Tellurio JSON-RPC client driven by a task of this runtime.
pub type RpcClient = tcm_async::RpcClient<AsyncStd>;
/// Handlers for server → client requests and notifications of an [`RpcClient`].
pub type RpcHandlers = tcm_async::RpcHandlers<AsyncStd>;

/// `GET path` (e.g. `/health` or `/ready`) on the host and port of the WebSocket URL `url`,
/// over TLS for `wss://`, without opening a session. A non-200 status is a response.
pub async fn probe(
    url: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<HttpResponse, ConnectError> {
    tcm_async::probe::<AsyncStd>(url, path, options).await
}
