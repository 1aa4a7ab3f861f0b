//! A faithful reference server for the TCM (Triton Client Manager) WebSocket protocol.
//!
//! It speaks the protocol exactly as the reference server does, quirks included: validation
//! texts and order, auth modes, capability negotiation, per-uuid queues and backpressure,
//! the info fast path, management echoes, built-in models (`identity`, `add`, `stream`, plus
//! INT32 twins) that compute real outputs, typed Triton errors, uuid routing, shutdown
//! draining, and runtime fault injection for client tests.
//!
//! ```no_run
//! use tcm_testserver::{Config, TestServer};
//! let server = TestServer::start(Config::profile("dev-simple").unwrap()).unwrap();
//! println!("{}", server.ws_url());
//! server.stop();
//! ```

#![warn(missing_docs)]

pub mod auth;
pub mod close;
pub mod config;
pub mod faults;
pub mod frames;
pub mod http;
pub mod inference;
pub mod management;
pub mod models;
pub mod registry;
pub mod rng;
pub mod scheduler;
pub mod server;
pub mod session;
pub mod tensor;
pub mod validate;

pub use config::{AuthConfig, AuthMode, Config, ConfigError, ErrorStyle, Flavor, RateLimits};
pub use server::{ServerError, Stats, TestServer, TestServerHandle};
pub use session::{Action, Env, MemoryEnv, Session};
