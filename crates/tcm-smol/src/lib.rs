//! [smol](https://docs.rs/smol) client for the TCM (Triton Client Manager) WebSocket protocol.
//!
//! A thin facade over the runtime-generic `tcm-async` driver: this crate only supplies smol's
//! `TcpStream` and `spawn`. All protocol decisions are made by the sans-IO `tcm-proto` core.
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
pub use tcm_async::{
    ClientOptions, ConnectError, Error, HttpResponse, InferenceOutput, ProbeError, RpcClientEvent,
    RpcConnectError, RpcOptions, TransportError, tcm_proto,
};

/// A TCM client driven by a smol task.
pub type Client = tcm_async::Client<Smol>;
/// A pool of TCM connections driven by smol tasks.
pub type Pool = tcm_async::Pool<Smol>;
/// The frames of a streaming inference.
pub type InferStream = tcm_async::InferStream<Smol>;
/// A Tellurio JSON-RPC client driven by a task of this runtime.
pub type RpcClient = tcm_async::RpcClient<Smol>;
/// Handlers for server → client requests and notifications of an [`RpcClient`].
pub type RpcHandlers = tcm_async::RpcHandlers<Smol>;

/// `GET path` (e.g. `/health` or `/ready`) on the host and port of the WebSocket URL `url`,
/// over TLS for `wss://`, without opening a session. A non-200 status is a response.
pub async fn probe(
    url: &str,
    path: &str,
    options: &ClientOptions,
) -> Result<HttpResponse, ConnectError> {
    tcm_async::probe::<Smol>(url, path, options).await
}
