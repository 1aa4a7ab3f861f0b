//! What the tcm clients share: options, errors, TLS configuration, the one call path, the
//! JSON-RPC handlers, and (in [`engine`]) the part of the I/O loop that is the same for every
//! I/O model. Not a client itself: the blocking, smol, async-std and tokio clients re-export
//! what of it is part of their public API.
//!
//! Protocol decisions stay in `tcm-proto`; this crate does no socket I/O.

#![warn(missing_docs)]

pub mod call;
#[doc(hidden)]
pub mod engine;
pub mod error;
mod event;
mod macros;
pub mod options;
mod outcome;
pub mod resolve;
pub mod rpc;
pub mod tls;

pub use engine::{ClientStats, PoolStats, ReplicaStats};
pub use error::{ConnectError, Error, ProbeError, TransportError};
pub use event::ClientEvent;
pub use options::{CallOptions, ClientOptions, PoolOptions, Shm};
pub use outcome::CallOutcome;
pub use resolve::{Resolve, SystemResolver};
pub use rpc::{RpcClientEvent, RpcConnectError, RpcHandlers, RpcOptions};
pub use tcm_proto::InferenceOutput;

/// What the shared macros name; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use async_channel::Receiver;
    pub use serde_json::{Map, Value};
    pub use tcm_proto;
    pub use tcm_proto::http::HttpResponse;
    #[cfg(unix)]
    pub use tcm_shm;
    pub use tracing;
}
