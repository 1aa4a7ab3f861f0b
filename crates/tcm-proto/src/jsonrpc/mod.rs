//! The Tellurio JSON-RPC 2.0 dialect over WebSocket, on the same sans-IO foundation as TCM.
//!
//! - [`message`]: classification of incoming frames and encoding of replies and calls;
//! - [`methods`]: typed params of the ten server → client methods and builders for calls;
//! - [`RpcSession`]: the session state machine (session frame, calls with heartbeat-aware
//!   deadlines, server requests, reconnect with the stored key).

pub mod message;
pub mod methods;
mod session;

pub use message::{Incoming, RpcError};
pub use methods::{Call, ServerMethod};
pub use session::{
    CallError, CallId, LONG_RUNNING, RpcConfig, RpcDisconnect, RpcEvent, RpcSession,
};
