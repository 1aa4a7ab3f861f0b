//! Server configuration: bind address, API key, how bad keys are refused, the session frame,
//! and the default timing of long-running methods.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

/// The path the server serves; every other path gets HTTP 404.
pub const RPC_PATH: &str = "/ws/v0/rpc/";

/// How a handshake with a missing or wrong API key is refused (the backend's choice is not
/// public, so both plausible forms are available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RejectMode {
    /// Refuse the upgrade with HTTP 403.
    #[default]
    Http403,
    /// Accept the upgrade, then close before the session frame: with this close code, or
    /// without a close frame (`None`, the TCP connection is dropped).
    AcceptThenClose(Option<u16>),
}

/// The shape of the first frame after the upgrade (the session frame), so that clients can be
/// tested against every variant the document allows or warns about.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SessionFrame {
    /// `{"jsonrpc":"2.0","result":{"session_id":"<uuid>"}}`.
    #[default]
    Standard,
    /// The standard frame with an `id` member holding this value (e.g. `null` or a string).
    WithId(Value),
    /// No session frame at all.
    Omitted,
    /// A frame that is not valid JSON (a truncated session frame).
    Malformed,
    /// This text, verbatim.
    Raw(String),
}

/// How the session frame is written relative to the upgrade's `101 Switching Protocols`
/// response.
///
/// A client that starts its reader before it reads the session frame (afnio's
/// `TellurioWebSocketClient` does) only works when the frame is already buffered as its
/// handshake completes; [`Separate`](Self::Separate) makes that race visible,
/// [`WithUpgrade`](Self::WithUpgrade) avoids it the way a production stack usually does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionFrameWrite {
    /// The 101 response and the session frame leave in one write, so they arrive together, as
    /// from a server that sends the frame from its connect handler behind a buffering ASGI
    /// server or reverse proxy. With a session delay the frame still goes separately.
    #[default]
    WithUpgrade,
    /// The 101 response, then the session frame in a second write (`TCP_NODELAY`): the frame
    /// may arrive after the client has finished its handshake.
    Separate,
}

/// Timing of the long-running methods (`run_function`, `run_backward`, `run_step`,
/// `run_optimizer_tgd`) when no plan overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongRunning {
    /// How long the server "works" before running the method's script and replying.
    pub work: Duration,
    /// Interval between `heartbeat` notifications while working; `None` sends none.
    pub heartbeat_interval: Option<Duration>,
    /// Stop heartbeats after this many (per request); `None` keeps sending them.
    pub max_heartbeats: Option<u32>,
}

impl Default for LongRunning {
    fn default() -> Self {
        Self {
            work: Duration::from_millis(100),
            heartbeat_interval: Some(Duration::from_millis(40)),
            max_heartbeats: None,
        }
    }
}

/// Configuration of an [`RpcTestServer`](crate::RpcTestServer). The API key never appears in
/// the `Debug` output.
#[derive(Clone)]
pub struct RpcServerConfig {
    /// Address to bind; port 0 picks a free port (default `127.0.0.1:0`).
    pub bind: SocketAddr,
    /// The accepted key: handshakes must carry `Authorization: Api-Key <api_key>`.
    pub api_key: String,
    /// How bad or missing keys are refused.
    pub reject: RejectMode,
    /// The session frame variant.
    pub session_frame: SessionFrame,
    /// Pause between the upgrade and the session frame.
    pub session_delay: Duration,
    /// Whether the session frame shares the upgrade response's write.
    pub session_frame_write: SessionFrameWrite,
    /// Default timing of the long-running methods.
    pub long_running: LongRunning,
    /// How long a server → client call waits for the client's reply.
    pub client_reply_timeout: Duration,
    /// Largest client message accepted; larger ones close the connection with 1009.
    pub max_message_bytes: usize,
    /// A file that receives every handshake, frame and server → client call as one JSON line
    /// each, as they happen (created or truncated at start; see [`crate::log`]).
    pub record_file: Option<PathBuf>,
}

impl Default for RpcServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: "test-key".into(),
            reject: RejectMode::default(),
            session_frame: SessionFrame::default(),
            session_delay: Duration::ZERO,
            session_frame_write: SessionFrameWrite::default(),
            long_running: LongRunning::default(),
            client_reply_timeout: Duration::from_secs(5),
            max_message_bytes: 64 << 20,
            record_file: None,
        }
    }
}

impl RpcServerConfig {
    /// The default configuration with this API key.
    pub fn with_api_key(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            ..Self::default()
        }
    }
}

impl fmt::Debug for RpcServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcServerConfig")
            .field("bind", &self.bind)
            .field("api_key", &"<redacted>")
            .field("reject", &self.reject)
            .field("session_frame", &self.session_frame)
            .field("session_delay", &self.session_delay)
            .field("session_frame_write", &self.session_frame_write)
            .field("long_running", &self.long_running)
            .field("client_reply_timeout", &self.client_reply_timeout)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("record_file", &self.record_file)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_key() {
        let cfg = RpcServerConfig::with_api_key("sk-very-secret");
        let text = format!("{cfg:?}");
        assert!(!text.contains("sk-very-secret"));
        assert!(text.contains("<redacted>"));
    }
}
