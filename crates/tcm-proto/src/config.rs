//! Connection configuration.

use std::time::Duration;

use crate::keepalive::KeepaliveConfig;
use crate::retry::{ReconnectPolicy, RetryPolicy};

/// Default deadlines per kind of request (TCM §19.7: no response is ever guaranteed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Info requests.
    pub info: Duration,
    /// Management requests (creation can take minutes).
    pub management: Duration,
    /// HTTP inference.
    pub inference: Duration,
    /// A whole gRPC stream.
    pub stream: Duration,
}

impl Timeouts {
    /// The default deadline of `request`'s kind.
    pub fn of(&self, request: &crate::envelope::Request) -> Duration {
        use crate::envelope::{Protocol, Request};
        match request {
            Request::Info(_) => self.info,
            Request::Management(_) => self.management,
            Request::Inference(r) if r.protocol == Protocol::Grpc => self.stream,
            Request::Inference(_) => self.inference,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            info: Duration::from_secs(10),
            management: Duration::from_secs(600),
            inference: Duration::from_secs(60),
            stream: Duration::from_secs(150),
        }
    }
}

/// Configuration of a [`Connection`](crate::Connection). Build it with [`Config::new`] and set
/// the fields that differ from the defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The base client uuid. Each transport connection authenticates with its own uuid derived
    /// from it (`<uuid>-<nonce>-<n>`), because the server routes replies by uuid: a reply to an
    /// earlier connection can then never reach a later one.
    pub uuid: String,
    /// Use [`uuid`](Self::uuid) verbatim for the first connection (reconnects still derive).
    /// For servers that authorise by exact uuid, and for replaying recorded conversations.
    pub exact_first_uuid: bool,
    /// Capabilities requested in the auth frame, e.g. `["json", "shm"]`. Empty sends a legacy
    /// auth without `capability`.
    pub capabilities: Vec<String>,
    /// The server's frame size limit; larger requests fail locally with `TooLarge`.
    pub max_message_bytes: usize,
    /// The largest message accepted from the server; a larger one ends the transport. The
    /// default, 16 MiB, is the server's own per-message limit (TCM §1.1) applied in the other
    /// direction: it admits the outputs of every model whose inputs the server accepts as JSON,
    /// while bounding what a misbehaving peer can make the client buffer. Raise it for models
    /// whose outputs are much larger than their inputs.
    pub max_inbound_bytes: usize,
    /// How long to wait for `auth.ok`.
    pub auth_timeout: Duration,
    /// Default deadlines per request kind.
    pub timeouts: Timeouts,
    /// Keepalive pings; `None` disables them.
    pub keepalive: Option<KeepaliveConfig>,
    /// Automatic retry of failed idempotent requests.
    pub retry: RetryPolicy,
    /// Reconnection after a drop; `None` makes the first close final.
    pub reconnect: Option<ReconnectPolicy>,
    /// Requests waiting locally per kind (inference and management are sent one at a time).
    pub max_queued: usize,
    /// Info requests in flight at once.
    pub max_info_in_flight: usize,
    /// How long an abandoned (timed-out or cancelled) inference may hold the connection's only
    /// inference slot while other inferences wait, before the connection is recycled.
    pub orphan_grace: Duration,
    /// Whether a request made while the connection is down (reconnecting) waits for it to come
    /// back (by its deadline), or fails at once with `RequestError::NotConnected`. A pool over
    /// several replicas sets it off for its members, so that it can send the call to another
    /// replica instead.
    pub wait_for_reconnect: bool,
    /// Seed of the jitter generator and of the uuid nonce. `None` (the default) lets the driver
    /// seed it from the operating system, so reconnecting clients never share a jitter
    /// sequence; fix it only for reproducible tests. (A [`Connection`](crate::Connection)
    /// built directly with `None` uses a fixed seed: the core has no randomness of its own.)
    pub seed: Option<u64>,
}

impl Config {
    /// Defaults for the given base uuid.
    pub fn new(uuid: impl Into<String>) -> Self {
        Self {
            uuid: uuid.into(),
            exact_first_uuid: false,
            capabilities: vec!["json".to_owned()],
            max_message_bytes: 65_536,
            max_inbound_bytes: 16 << 20,
            auth_timeout: Duration::from_secs(10),
            timeouts: Timeouts::default(),
            keepalive: Some(KeepaliveConfig::default()),
            retry: RetryPolicy::default(),
            reconnect: Some(ReconnectPolicy::default()),
            max_queued: 1024,
            max_info_in_flight: 1024,
            orphan_grace: Duration::from_secs(5),
            wait_for_reconnect: true,
            seed: None,
        }
    }

    /// The configuration of member `index` of a pool: a distinct base uuid and seed, so pool
    /// connections never share a uuid or a jitter sequence.
    pub fn pool_member(&self, index: usize) -> Self {
        let mut c = self.clone();
        c.uuid = format!("{}-p{index}", self.uuid);
        c.exact_first_uuid = false;
        c.seed = self
            .seed
            .map(|s| s.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        c
    }
}
