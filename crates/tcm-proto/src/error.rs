//! Error types: server error codes, Triton errors, and the terminal failures of a request.

use std::fmt;

use serde_json::Value;

/// The `code` of a server `error` frame (TCM §11). Unknown codes are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The per-uuid queue was full; the request named by `dropped_type` was dropped.
    BackpressureQueueFull,
    /// The executor queue was full; the request named by `dropped_type` was dropped.
    BackpressureExecutorFull,
    /// Advisory: the tenant's fair-share budget delayed a job. Nothing was dropped.
    BackpressureInsufficientBudget,
    /// The tenant's message quota was exceeded; the server closes the connection (1008).
    BackpressureTenantLimitReached,
    /// The server is draining: with `dropped_type` one request was dropped, without it the
    /// connection is about to close with 1012.
    SystemShutdown,
    /// A code this crate does not know.
    Other(String),
}

impl ErrorCode {
    /// Parses a wire code; never fails, unknown codes become [`ErrorCode::Other`].
    pub fn parse(code: &str) -> Self {
        match code {
            "BACKPRESSURE_QUEUE_FULL" => Self::BackpressureQueueFull,
            "BACKPRESSURE_EXECUTOR_FULL" => Self::BackpressureExecutorFull,
            "BACKPRESSURE_INSUFFICIENT_BUDGET" => Self::BackpressureInsufficientBudget,
            "BACKPRESSURE_TENANT_LIMIT_REACHED" => Self::BackpressureTenantLimitReached,
            "SYSTEM_SHUTDOWN" => Self::SystemShutdown,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire spelling of the code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BackpressureQueueFull => "BACKPRESSURE_QUEUE_FULL",
            Self::BackpressureExecutorFull => "BACKPRESSURE_EXECUTOR_FULL",
            Self::BackpressureInsufficientBudget => "BACKPRESSURE_INSUFFICIENT_BUDGET",
            Self::BackpressureTenantLimitReached => "BACKPRESSURE_TENANT_LIMIT_REACHED",
            Self::SystemShutdown => "SYSTEM_SHUTDOWN",
            Self::Other(s) => s,
        }
    }

    /// Whether a request dropped with this code may be sent again later (TCM §19.9).
    pub fn is_retriable_drop(&self) -> bool {
        matches!(
            self,
            Self::BackpressureQueueFull | Self::BackpressureExecutorFull
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `code` of a typed Triton error in an inference `FAILED` frame (TCM §9.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TritonCode {
    /// `TRITON_INFERENCE_FAILED`: the catch-all for 4xx errors, budgets, SHM metadata.
    InferenceFailed,
    /// `TRITON_SHAPE_MISMATCH`: a value's nesting does not match its dims.
    ShapeMismatch,
    /// `TRITON_SHM_UNAVAILABLE`: shared memory could not be read on the server.
    ShmUnavailable,
    /// `TRITON_SHM_REGISTRATION_FAILED`: Triton refused the SHM region.
    ShmRegistrationFailed,
    /// `TRITON_MODEL_MISSING`: no such model.
    ModelMissing,
    /// `TRITON_AUTH_FAILED`: Triton refused the credentials.
    AuthFailed,
    /// `TRITON_TIMEOUT`: the backend timed out.
    Timeout,
    /// `TRITON_NETWORK`: the backend could not be reached.
    Network,
    /// `TRITON_OVERLOADED`: the backend is overloaded.
    Overloaded,
    /// `TRITON_CIRCUIT_OPEN`: the server fails fast for `retry_after_seconds`.
    CircuitOpen,
    /// `TRITON_ERROR`: fallback for an error without a code.
    Error,
    /// A code this crate does not know.
    Other(String),
}

impl TritonCode {
    /// Parses a wire code; never fails.
    pub fn parse(code: &str) -> Self {
        match code {
            "TRITON_INFERENCE_FAILED" => Self::InferenceFailed,
            "TRITON_SHAPE_MISMATCH" => Self::ShapeMismatch,
            "TRITON_SHM_UNAVAILABLE" => Self::ShmUnavailable,
            "TRITON_SHM_REGISTRATION_FAILED" => Self::ShmRegistrationFailed,
            "TRITON_MODEL_MISSING" => Self::ModelMissing,
            "TRITON_AUTH_FAILED" => Self::AuthFailed,
            "TRITON_TIMEOUT" => Self::Timeout,
            "TRITON_NETWORK" => Self::Network,
            "TRITON_OVERLOADED" => Self::Overloaded,
            "TRITON_CIRCUIT_OPEN" => Self::CircuitOpen,
            "TRITON_ERROR" => Self::Error,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire spelling of the code.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InferenceFailed => "TRITON_INFERENCE_FAILED",
            Self::ShapeMismatch => "TRITON_SHAPE_MISMATCH",
            Self::ShmUnavailable => "TRITON_SHM_UNAVAILABLE",
            Self::ShmRegistrationFailed => "TRITON_SHM_REGISTRATION_FAILED",
            Self::ModelMissing => "TRITON_MODEL_MISSING",
            Self::AuthFailed => "TRITON_AUTH_FAILED",
            Self::Timeout => "TRITON_TIMEOUT",
            Self::Network => "TRITON_NETWORK",
            Self::Overloaded => "TRITON_OVERLOADED",
            Self::CircuitOpen => "TRITON_CIRCUIT_OPEN",
            Self::Error => "TRITON_ERROR",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for TritonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed Triton error: the object form of a `FAILED` frame's `data`.
///
/// Retries are decided on [`retriable`](Self::retriable) and
/// [`retry_after_seconds`](Self::retry_after_seconds) only, never on the code or the text,
/// because the classification depends on how the server is deployed (TCM §9.8).
#[derive(Debug, Clone, PartialEq)]
pub struct TritonError {
    /// The error code.
    pub code: TritonCode,
    /// The server's message, e.g. `[TritonThread] TRITON_NETWORK: model='m' retriable=True reason=...`.
    pub message: String,
    /// Whether the server says a retry may succeed.
    pub retriable: bool,
    /// For `TRITON_CIRCUIT_OPEN`: how long the server will fail fast.
    pub retry_after_seconds: Option<u64>,
    /// Keys the server sent that this crate does not model.
    pub extra: serde_json::Map<String, Value>,
}

impl std::error::Error for TritonError {}

impl fmt::Display for TritonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(s) = self.retry_after_seconds {
            write!(f, " (retry after {s}s)")?;
        }
        Ok(())
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectError {
    /// The peer closed, or the transport failed. `code` is the WebSocket close code when one was
    /// received (`None` for a drop without a close frame, which libraries report as 1006);
    /// `last_error` is the text of the last server `error` frame before the close.
    #[error("connection closed{}{}", fmt_code(*code, reason), fmt_last(last_error))]
    Closed {
        /// The close code, if a close frame arrived.
        code: Option<u16>,
        /// The close reason text.
        reason: String,
        /// The message of the last `error` frame received before the close.
        last_error: Option<String>,
    },
    /// Authentication was refused; `message` is the server's text.
    #[error("authentication failed: {message}")]
    AuthFailed {
        /// The server's error text, e.g. `Invalid token: Token has expired`.
        message: String,
    },
    /// No `auth.ok` arrived in time.
    #[error("no reply to auth within the configured timeout")]
    AuthTimeout,
    /// No pong (or any frame) arrived within the keepalive timeout.
    #[error("peer did not answer a keepalive ping in time")]
    KeepaliveTimeout,
    /// The server is shutting down (`SYSTEM_SHUTDOWN`).
    #[error("server is shutting down: {message}")]
    Shutdown {
        /// The server's text.
        message: String,
    },
    /// The local side closed the connection.
    #[error("connection closed locally")]
    Local,
    /// The transport could not be opened (refused, TLS, handshake status...).
    #[error("connect failed: {message}")]
    ConnectFailed {
        /// What the driver reported.
        message: String,
    },
    /// The connection was recycled because an abandoned inference held its only slot.
    #[error("connection recycled to release an abandoned inference slot")]
    Recycled,
}

fn fmt_code(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (Some(c), true) => format!(" with code {c}"),
        (Some(c), false) => format!(" with code {c} ({reason})"),
        (None, _) => " without a close frame".to_owned(),
    }
}

fn fmt_last(last: &Option<String>) -> String {
    match last {
        Some(m) => format!("; last server error: {m}"),
        None => String::new(),
    }
}

/// How a request failed. Every request ends in exactly one response or one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The server answered with a typed Triton error.
    #[error("{0}")]
    Triton(TritonError),
    /// The server answered with a plain-text failure (a contract or validation error). Never retried.
    #[error("request failed: {0}")]
    Failed(String),
    /// The server refused the request with an untagged error, e.g. `Forbidden: missing 'inference' role`.
    #[error("request rejected: {0}")]
    Rejected(String),
    /// The server dropped the request (`BACKPRESSURE_*` or `SYSTEM_SHUTDOWN` with `dropped_type`).
    #[error("request dropped by the server ({code}): {message}")]
    Dropped {
        /// The drop code.
        code: ErrorCode,
        /// The server's text.
        message: String,
    },
    /// A management request answered `status: false`; `message` is the server's `data` text.
    #[error("management action failed: {message}")]
    Management {
        /// The `data` of the reply, as text.
        message: String,
    },
    /// An info request answered `status: "error"`.
    #[error("info request failed: {message}")]
    Info {
        /// The server's error text.
        message: String,
    },
    /// The request's deadline passed.
    #[error("request timed out")]
    Timeout,
    /// The request was cancelled locally.
    #[error("request cancelled")]
    Cancelled,
    /// The connection ended before the request completed.
    #[error("disconnected: {0}")]
    Disconnected(DisconnectError),
    /// The local queue for this kind of request is full.
    #[error("local request queue is full ({limit} waiting)")]
    QueueFull {
        /// The configured bound.
        limit: usize,
    },
    /// The encoded frame is larger than the server accepts; nothing was sent.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The encoded size in bytes.
        size: usize,
        /// The configured `max_message_bytes`.
        limit: usize,
    },
    /// The request needs a capability that was not negotiated (e.g. `shm`); nothing was sent.
    #[error("capability '{0}' was not negotiated")]
    CapabilityMissing(String),
    /// The connection is closed for good; no request can be made.
    #[error("connection is closed")]
    Closed,
    /// The request could not be encoded.
    #[error("request could not be encoded: {0}")]
    Encode(String),
    /// The connection is down and `Config::wait_for_reconnect` is off: nothing was sent.
    #[error("not connected")]
    NotConnected,
    /// A stream's frames were not read fast enough: more than `limit` waited unread, so the
    /// stream was cancelled rather than buffered without bound. Raised by the client, not the
    /// server.
    #[error("the stream was read too slowly: more than {limit} frames waited unread")]
    SlowConsumer {
        /// The stream buffer's limit (`ClientOptions::stream_buffer`).
        limit: usize,
    },
}

impl RequestError {
    /// Whether the policy may send the request again: typed errors with `retriable: true`
    /// and retriable backpressure drops. Text failures and fatal codes never are.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Triton(e) => e.retriable,
            Self::Dropped { code, .. } => code.is_retriable_drop(),
            _ => false,
        }
    }

    /// The server's hint of how long to wait before a retry, if any.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::Triton(e) => e.retry_after_seconds,
            _ => None,
        }
    }

    /// Whether the server is done with the request: it answered it (with an error), or the
    /// request never left the client. A deadline, a cancellation or a lost connection leave it
    /// possibly queued at the server, as does any failure this list does not know; what the
    /// request points to (shared-memory regions, say) must then stay untouched.
    pub fn server_is_done(&self) -> bool {
        matches!(
            self,
            Self::Triton(_)
                | Self::Failed(_)
                | Self::Rejected(_)
                | Self::Dropped { .. }
                | Self::Management { .. }
                | Self::Info { .. }
                | Self::QueueFull { .. }
                | Self::TooLarge { .. }
                | Self::CapabilityMissing(_)
                | Self::Closed
                | Self::Encode(_)
                | Self::NotConnected
        )
    }

    /// Whether the request failed because its server went away: it shut down (NACKing the
    /// request with `SYSTEM_SHUTDOWN`), or the connection dropped or is down. An idempotent
    /// request may then be sent to another replica.
    pub fn server_gone(&self) -> bool {
        matches!(
            self,
            Self::Disconnected(_)
                | Self::NotConnected
                | Self::Dropped {
                    code: ErrorCode::SystemShutdown,
                    ..
                }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(code: ErrorCode) -> RequestError {
        RequestError::Dropped {
            code,
            message: String::new(),
        }
    }

    #[test]
    fn a_request_the_server_answered_or_never_got_is_done_with() {
        for done in [
            RequestError::Rejected("no".into()),
            dropped(ErrorCode::BackpressureQueueFull),
            RequestError::QueueFull { limit: 1 },
            RequestError::NotConnected,
        ] {
            assert!(done.server_is_done(), "{done:?}");
        }
        for open in [
            RequestError::Timeout,
            RequestError::Cancelled,
            RequestError::Disconnected(DisconnectError::KeepaliveTimeout),
            RequestError::SlowConsumer { limit: 1 },
        ] {
            assert!(!open.server_is_done(), "{open:?}");
        }
    }

    #[test]
    fn a_shutdown_nack_or_a_lost_connection_means_the_server_is_gone() {
        for gone in [
            dropped(ErrorCode::SystemShutdown),
            RequestError::Disconnected(DisconnectError::KeepaliveTimeout),
            RequestError::NotConnected,
        ] {
            assert!(gone.server_gone(), "{gone:?}");
        }
        for here in [
            dropped(ErrorCode::BackpressureQueueFull),
            RequestError::Timeout,
            RequestError::Rejected("no".into()),
        ] {
            assert!(!here.server_gone(), "{here:?}");
        }
    }
}
