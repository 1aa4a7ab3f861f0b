//! Error types: call failures here; transport, connect and probe failures are shared with the
//! other adapters.

use tcm_proto::RequestError;

pub use tcm_adapter::error::{ConnectError, ProbeError, TransportError};

/// Why a call on a connected client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request failed: a server error, a timeout, a disconnect, a local check.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The reply was not of the kind the call expects.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(&'static str),
    /// Shared-memory inputs could not be prepared (not negotiated without fallback, a region
    /// could not be created, BYTES or gRPC inputs).
    #[cfg(unix)]
    #[error(transparent)]
    Shm(#[from] tcm_shm::ShmError),
    /// The I/O thread is gone; no call can complete.
    #[error("the connection's I/O thread has stopped")]
    Stopped,
}

impl Error {
    /// The underlying request error, if that is what this is.
    pub fn request_error(&self) -> Option<&RequestError> {
        match self {
            Self::Request(e) => Some(e),
            _ => None,
        }
    }
}
