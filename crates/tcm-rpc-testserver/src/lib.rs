//! A reference server for the Tellurio JSON-RPC-over-WebSocket dialect
//! (`shared/protocol/tellurio-jsonrpc.md`), for client tests and for users.
//!
//! It serves `/ws/v0/rpc/`, checks `Authorization: Api-Key <key>`, sends the session frame,
//! implements the 15 client → server methods over a per-session in-memory registry, sends
//! heartbeats and scripted server → client calls around the long-running methods, and injects
//! faults on demand. Everything on the wire is recorded for assertions.
//!
//! ```no_run
//! use tcm_rpc_testserver::{RpcServerConfig, RpcTestServer};
//!
//! let server = RpcTestServer::start(RpcServerConfig::with_api_key("test-key"))?;
//! println!("{}", server.url()); // ws://127.0.0.1:PORT/ws/v0/rpc/
//! // ... run a client against it, then inspect server.frames() ...
//! server.stop();
//! # Ok::<(), tcm_rpc_testserver::ServerError>(())
//! ```
//!
//! Choices where the protocol document leaves room:
//!
//! - a request without `params.run_uuid` (or with `null`) gets −32602 `Missing key: 'run_uuid'`
//!   with `{"missing_key": "run_uuid"}`, as does any other missing required param; an unknown
//!   method is reported first (−32601);
//! - client notifications are served but never answered;
//! - client frames that are not valid requests get the dispatcher's error reply (−32700 with
//!   `id: null`, −32600 for arrays and wrong versions); responses and `id: null` error frames are
//!   never answered;
//! - heartbeats are sent only while a request "works", before its script: a script call whose
//!   reply is slow does not keep the client's deadline alive;
//! - the session frame leaves in the same write as the upgrade response
//!   ([`SessionFrameWrite`]), so a client that starts its reader first (afnio) finds it
//!   buffered;
//! - `run_function` follows afnio's function kinds and graph model (`<Name>Backward0` nodes,
//!   `AccumulateGrad` for leaves, evaluators' `(score, explanation)` pairs computed from
//!   `run_callable` replies); the crate README gives the calling conventions.
//!
//! The binary is scripted with a JSON set-up ([`spec`]) and writes a JSON-lines record
//! ([`log`]).

#![warn(missing_docs)]

pub mod config;
pub mod faults;
mod functions;
pub mod log;
pub mod methods;
pub mod registry;
pub mod script;
mod server;
mod session;
pub mod spec;

pub use config::{
    LongRunning, RPC_PATH, RejectMode, RpcServerConfig, SessionFrame, SessionFrameWrite,
};
pub use faults::Fault;
pub use log::{CallReply, ClientCall, Direction, FrameRecord, HandshakeOutcome, HandshakeRecord};
pub use methods::CLIENT_METHODS;
pub use script::{Plan, Reply, ScriptStep};
pub use server::{HandleError, RpcServerHandle, RpcTestServer, ServerError, Stats};
pub use spec::{PlanSpec, ServerSpec, SpecError};
