//! Sans-IO protocol core for the Triton Client Manager (TCM) WebSocket API.
//!
//! This crate holds every protocol decision of a TCM client and performs no I/O: no sockets, no
//! threads, no clock reads and no system randomness. Time comes in as `now: Instant`, jitter
//! comes from a seed in the [`Config`], and the bytes to send come out of
//! [`Connection::poll_transmit`]. Drivers for blocking and async runtimes wrap it.
//!
//! - [`frame`]: decoding of every server frame, with typed errors;
//! - [`envelope`] and [`tensor`]: typed requests and their compact JSON encoding;
//! - [`Connection`]: the session state machine (auth, capabilities, correlation, deadlines,
//!   retries, keepalive, reconnect). Its documentation states the calling contract;
//! - [`retry`], [`keepalive`], [`capability`], [`timer`]: the policies it applies;
//! - [`endpoint`] and [`http`]: URL parsing and the `/health` / `/ready` exchange, for drivers;
//! - [`jsonrpc`]: the Tellurio JSON-RPC dialect, with [`jsonrpc::RpcSession`].
//!
//! ```
//! use std::time::Instant;
//! use tcm_proto::{AuthContext, Config, Connection, Dial, Transmit};
//!
//! let now = Instant::now();
//! let mut conn = Connection::new(Config::new("client-1"), AuthContext::anonymous());
//! assert!(matches!(conn.poll_dial(), Some(Dial::Connect { .. })));
//! conn.handle_connected(now);
//! // The auth frame goes out first (a `Secret`: it may carry a token).
//! let Some(Transmit::Secret(auth)) = conn.poll_transmit() else { panic!() };
//! assert!(auth.expose().contains(r#""type":"auth""#));
//! ```

#![warn(missing_docs)]

pub mod call;
pub mod capability;
pub mod config;
mod connection;
mod correlate;
pub mod endpoint;
pub mod envelope;
pub mod error;
pub mod event;
pub mod frame;
pub mod http;
mod json;
pub mod jsonrpc;
pub mod keepalive;
pub mod management;
mod outgoing;
mod outputs;
pub mod retry;
pub mod rng;
pub mod session;
pub mod tensor;
pub mod timer;

pub use call::{Call, GetQueueStats, InferenceOutput, UnexpectedResponse};
pub use capability::Capabilities;
pub use config::{Config, Timeouts};
pub use connection::{Connection, ConnectionState};
pub use endpoint::{Endpoint, EndpointError};
pub use envelope::{
    AuthContext, ClientIdentity, InferenceRequest, InfoRequest, ManagementRequest, PipelineStep,
    Protocol, Request, Secret,
};
pub use error::{DisconnectError, ErrorCode, RequestError, TritonCode, TritonError};
pub use event::{
    Dial, Event, Notification, QueueStats, RequestId, Response, StreamFrame, Transmit,
};
pub use frame::{DecodeError, InfoData, ServerFrame};
pub use keepalive::KeepaliveConfig;
pub use outputs::Outputs;
pub use retry::{Backoff, ReconnectPolicy, RetryPolicy};
pub use rng::Rng;
pub use session::{DialFailure, IdHasher, IdMap, Routed, Session};
pub use tensor::{DataType, OutputTensor, ShmReference, Tensor, TensorData, TensorInput};
