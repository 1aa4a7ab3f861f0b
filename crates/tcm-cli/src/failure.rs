//! What can go wrong in a command, and the exit code each failure maps to.

use std::process::ExitCode;

/// A failed command: one line of text and an exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad arguments or input files (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The request failed; the typed error is printed (exit 1).
    #[error("{0}")]
    Request(String),
    /// The connection or TLS failed (exit 3).
    #[error("{0}")]
    Connection(String),
}

impl Failure {
    /// The process exit code: 1 request failed, 2 usage, 3 connection or TLS.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Request(_) => 1,
            Self::Usage(_) => 2,
            Self::Connection(_) => 3,
        })
    }
}

impl From<tcm_blocking::ConnectError> for Failure {
    fn from(e: tcm_blocking::ConnectError) -> Self {
        match e {
            tcm_blocking::ConnectError::Endpoint(e) => Self::Usage(e.to_string()),
            tcm_blocking::ConnectError::AuthFailed { .. } => Self::Request(e.to_string()),
            other => Self::Connection(other.to_string()),
        }
    }
}

impl From<tcm_blocking::Error> for Failure {
    fn from(e: tcm_blocking::Error) -> Self {
        use tcm_proto::RequestError;
        match &e {
            tcm_blocking::Error::Request(RequestError::Disconnected(_))
            | tcm_blocking::Error::Stopped => Self::Connection(e.to_string()),
            tcm_blocking::Error::Request(RequestError::TooLarge { .. }) => Self::Usage(format!(
                "{e}: the server refuses larger frames; send the inputs through shared memory with --shm"
            )),
            _ => Self::Request(e.to_string()),
        }
    }
}

impl From<tcm_blocking::ProbeError> for Failure {
    fn from(e: tcm_blocking::ProbeError) -> Self {
        Self::Connection(e.to_string())
    }
}
