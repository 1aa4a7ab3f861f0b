//! What a [`Connection`](crate::Connection) reports: events for the application, transmits for
//! the socket, and dial instructions for the driver.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use crate::capability::Capabilities;
use crate::envelope::Secret;
use crate::error::{DisconnectError, RequestError};
use crate::frame::{Alert, DecodeError, ErrorFrame, ServerFrame};
use crate::outputs::Outputs;

/// Identifies one request on a [`Connection`](crate::Connection), unique for its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The number behind the id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A frame the driver must write to the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A text frame.
    Text(String),
    /// A text frame that carries a credential (the TCM auth frame): redacted in `Debug`, and
    /// written by the clients around their WebSocket library, so that no frame log of the
    /// library ever holds it.
    Secret(Secret),
    /// A ping with this payload.
    Ping(Bytes),
    /// Close the socket with this code and reason, then drop it: the connection has already
    /// failed its requests and will not read from this socket again.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// An instruction to the driver to open a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    /// Open the WebSocket with these extra upgrade `headers` (mark them sensitive: they carry
    /// credentials), then call `handle_connected` or `handle_connect_failed`.
    Connect {
        /// The uuid the new TCM connection will authenticate with (for logs); empty for the
        /// JSON-RPC dialect, which has none.
        uuid: String,
        /// Headers of the upgrade request, e.g. `Authorization` for the JSON-RPC dialect.
        headers: Vec<(&'static str, Secret)>,
    },
    /// `GET /ready` on the server, then call `handle_ready` with whether it answered 200.
    ProbeReady,
}

/// The successful result of a request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// An `info_response` with `status:"success"`.
    Info {
        /// The resolved action.
        request_type: Option<String>,
        /// The `data` object.
        data: Value,
    },
    /// A management reply with `status:true`.
    Management {
        /// The `data` of the reply.
        data: Value,
    },
    /// A completed inference. For a gRPC stream the outputs are empty and the chunks came as
    /// [`Event::Stream`] events before this.
    Inference {
        /// The model name the server reported.
        model_name: Option<String>,
        /// Output tensors (HTTP) or per-step outputs (pipeline).
        outputs: Outputs,
    },
}

/// The `queue_stats` counters of an info reply (TCM §7). Never assert on their values: they grow
/// across clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct QueueStats {
    pub info_users: u64,
    pub management_users: u64,
    pub inference_users: u64,
    pub total_users: u64,
    pub total_queued: u64,
    pub info_total_queued: u64,
    pub management_total_queued: u64,
    pub inference_total_queued: u64,
    pub executor_info_pending: u64,
    pub executor_management_pending: u64,
    pub executor_inference_pending: u64,
    pub executor_info_available: u64,
    pub executor_management_available: u64,
    pub executor_inference_available: u64,
}

impl QueueStats {
    /// Reads the counters from an info reply's `data`; `None` if it is not the stats object.
    pub fn from_data(data: &Value) -> Option<Self> {
        if !data.get("total_queued").is_some_and(Value::is_number) {
            return None;
        }
        Self::deserialize(data).ok()
    }
}

/// A non-final frame of a gRPC stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFrame {
    /// The stream started.
    Start,
    /// A text chunk.
    Chunk(String),
}

/// A frame that is not the answer to any live request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// An unsolicited alert.
    Alert(Alert),
    /// `BACKPRESSURE_INSUFFICIENT_BUDGET`: advisory, nothing was dropped.
    BudgetAdvisory(ErrorFrame),
    /// A server error that refers to no live request (e.g. a validation error).
    ServerError(ErrorFrame),
    /// A reply that matches no live request: a late reply to a cancelled or timed-out
    /// request, or an unknown frame type. It is never given to another request.
    Unmatched(ServerFrame),
    /// A frame that could not be decoded.
    Undecodable(DecodeError),
}

/// What happened on a connection, for the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `auth.ok` arrived; requests are being sent.
    Authenticated {
        /// The uuid of this transport connection.
        uuid: String,
        /// The negotiated capabilities.
        capabilities: Capabilities,
    },
    /// A non-final stream frame of request `id`.
    Stream {
        /// The request.
        id: RequestId,
        /// The frame.
        frame: StreamFrame,
    },
    /// Request `id` ended. Every request gets exactly one of these.
    Finished {
        /// The request.
        id: RequestId,
        /// Its response or its failure.
        outcome: Result<Response, RequestError>,
    },
    /// A frame that answers no request.
    Notification(Notification),
    /// The transport connection ended; every request in flight or waiting has failed.
    Disconnected {
        /// Why.
        error: DisconnectError,
        /// When the connection will dial again; `None` means it is closed for good.
        reconnect_at: Option<Instant>,
    },
}
