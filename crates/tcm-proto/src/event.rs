//! What a [`Connection`](crate::Connection) reports: events for the application, transmits for
//! the socket, and dial instructions for the driver.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capability::Capabilities;
use crate::envelope::Secret;
use crate::error::{DisconnectError, RequestError};
use crate::frame::{Alert, DecodeError, ErrorFrame, InfoData, ServerFrame};
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
        /// The `data` object: reads as a `serde_json::Value`, and holds the queue counters
        /// typed when it is exactly that object (see [`InfoData`]).
        data: InfoData,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    /// The wire names of the counters, in declaration order (see [`counter_mut`](Self::counter_mut)).
    pub(crate) const FIELDS: [&'static str; 14] = [
        "info_users",
        "management_users",
        "inference_users",
        "total_users",
        "total_queued",
        "info_total_queued",
        "management_total_queued",
        "inference_total_queued",
        "executor_info_pending",
        "executor_management_pending",
        "executor_inference_pending",
        "executor_info_available",
        "executor_management_available",
        "executor_inference_available",
    ];

    /// The counter named `FIELDS[i]`, for the typed decoding of an info reply.
    pub(crate) fn counter_mut(&mut self, i: usize) -> Option<&mut u64> {
        Some(match i {
            0 => &mut self.info_users,
            1 => &mut self.management_users,
            2 => &mut self.inference_users,
            3 => &mut self.total_users,
            4 => &mut self.total_queued,
            5 => &mut self.info_total_queued,
            6 => &mut self.management_total_queued,
            7 => &mut self.inference_total_queued,
            8 => &mut self.executor_info_pending,
            9 => &mut self.executor_management_pending,
            10 => &mut self.executor_inference_pending,
            11 => &mut self.executor_info_available,
            12 => &mut self.executor_management_available,
            13 => &mut self.executor_inference_available,
            _ => return None,
        })
    }

    /// The counters as the JSON object the server sends.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

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
