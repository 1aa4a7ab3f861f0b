//! [`ClientEvent`]: the changes of a TCM client's connection it reports to the application.

use std::time::Duration;

use tcm_proto::{Capabilities, DisconnectError};

/// A change of a TCM client's connection: every (re)connect, every disconnect with when the
/// next attempt starts, and the end (`retry_in: None`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A transport authenticated (the first one, or after a reconnect).
    Connected {
        /// The uuid it authenticated with.
        uuid: String,
        /// The negotiated capabilities.
        capabilities: Capabilities,
    },
    /// The transport ended; the calls on it have failed. `retry_in` is when the next attempt
    /// starts, `None` when the client has given up (or was closed) for good.
    Disconnected {
        /// Why.
        error: DisconnectError,
        /// When the next attempt starts.
        retry_in: Option<Duration>,
    },
}
