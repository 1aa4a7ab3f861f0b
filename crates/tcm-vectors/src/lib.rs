//! Conversation vectors for the TCM WebSocket protocol and the Tellurio JSON-RPC dialect.
//!
//! The vectors (`shared/vectors`, format in its `README.md`) are recorded conversations between
//! a client and a server. This crate loads them into typed steps ([`model`]), compares frames
//! with the recorded ones ([`matcher`], [`wildcard`]) and plays either side of a conversation
//! over real WebSocket connections ([`runner`]): [`play_client`] tests a server,
//! [`play_server`] tests a client, with the same interpreter.
//!
//! Testing a server with every TCM conversation that needs no outside help:
//!
//! ```no_run
//! use tcm_vectors::{ClientTarget, Conversation, IgnoreServerActions, play_client};
//!
//! let convs = Conversation::load_dir(&tcm_vectors::tcm_conversations_dir())?;
//! let target = ClientTarget { addr: "127.0.0.1:8000".parse()? };
//! for conv in convs.iter().filter(|c| c.server_actions().is_empty()) {
//!     let report = play_client(conv, &target, &mut IgnoreServerActions)?;
//!     println!("{}: {} steps", report.conversation, report.steps_run);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;

pub mod error;
pub mod matcher;
pub mod model;
pub mod runner;
pub mod wildcard;
mod wire;

pub use error::{LoadError, RunFailure};
pub use matcher::{Bindings, MatchMode, Mismatch};
pub use model::{Conversation, Outcome, OutcomeKind, Step, StepKind, UnorderedFrame};
pub use runner::{
    ClientDriver, ClientTarget, IgnoreServerActions, PassiveClient, Report, Role, ServerActions,
    SkippedFrame, play_client, play_server,
};

/// Directory holding the vectors: `$TCM_VECTORS_DIR` if set, else `shared/vectors` next to the
/// workspace checkout.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("TCM_VECTORS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
    }
}

/// Directory of the TCM conversations (`<vectors>/tcm/conversations`).
pub fn tcm_conversations_dir() -> PathBuf {
    vectors_dir().join("tcm").join("conversations")
}

/// Directory of the Tellurio conversations (`<vectors>/tellurio`).
pub fn tellurio_dir() -> PathBuf {
    vectors_dir().join("tellurio")
}
