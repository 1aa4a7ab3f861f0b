//! Shared plumbing of the tcm adapters: TLS configuration, transport options and errors,
//! seeding, the JSON-RPC handler worker and handler types; not a client itself.
//!
//! `tcm-blocking` and `tcm-async` drive the sans-IO `tcm-proto` core over their own sockets;
//! everything they would otherwise both write lives here and is re-exported by them where it
//! is part of their public API. Protocol decisions stay in `tcm-proto`; this crate does no
//! socket I/O (the handler worker runs application handlers on threads of its own).

#![warn(missing_docs)]

pub mod calls;
pub mod dial;
pub mod error;
pub mod http;
pub mod options;
pub mod pool_load;
pub mod requests;
pub mod rpc_dispatch;
pub mod rpc_error;
pub mod rpc_event;
pub mod rpc_handlers;
pub mod rpc_options;
pub mod rpc_status;
pub mod rpc_worker;
pub mod seed;
pub mod socket;
pub mod status;
pub mod tls;

pub use calls::InferenceOutput;
pub use error::{ConnectError, ProbeError, TransportError};
pub use options::ClientOptions;
pub use rpc_error::RpcConnectError;
pub use rpc_event::RpcClientEvent;
pub use rpc_handlers::RpcHandlers;
pub use rpc_options::RpcOptions;
