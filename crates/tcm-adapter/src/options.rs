//! Options: of a client's transport ([`ClientOptions`]: timeouts and TLS trust), of a pool
//! ([`PoolOptions`]: connections per replica, following a service name) and of one call
//! ([`CallOptions`]: its deadline, how its tensors travel).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::resolve::{Resolve, SystemResolver};

/// Transport settings that the protocol core does not cover: how long to wait for TCP, TLS and
/// the WebSocket upgrade, and which certificate authorities to trust for `wss://`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Bound on TCP connect + TLS handshake + WebSocket upgrade of one dial.
    pub connect_timeout: Duration,
    /// Bound on a whole `GET /health` or `GET /ready` exchange.
    pub http_timeout: Duration,
    /// Longest the blocking client's I/O thread waits in a socket read before looking at new
    /// commands, on platforms without a wake-up pipe (on Unix a call wakes the thread at once);
    /// the async clients are woken by their command channel and do not use it.
    pub command_poll: Duration,
    /// Extra trusted CA certificates in PEM form (e.g. a private CA), added to the roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Trust the Mozilla roots bundled by `webpki-roots` (on by default).
    pub webpki_roots: bool,
    /// Capacity of the notification channel (alerts, advisories, unmatched frames) returned by
    /// `Client::notifications`; 0 (the default) only logs them. When the channel is full, new
    /// notifications are dropped (and counted in one warning per interval) rather than blocking
    /// the connection.
    pub notification_capacity: usize,
    /// Frames of one stream that may wait unread (default 1024). A stream whose reader falls
    /// further behind is cancelled and ends with `RequestError::SlowConsumer`: one slow reader
    /// must neither grow the client's memory without bound nor stall the other calls sharing the
    /// connection (which holding back the socket would).
    pub stream_buffer: usize,
    /// Calls made but not yet taken by the I/O loop (default 4096). When it is full, a new
    /// call fails at once with `RequestError::QueueFull` (`CallError::TooManyPending` for
    /// JSON-RPC) instead of waiting: the loop is already behind, and an immediate typed error
    /// is the backpressure the caller can act on, in blocking and async code alike. The core's
    /// own queues (`Config::max_queued`) bound what the loop then holds.
    pub max_queued_calls: usize,
    /// Dial this address instead of resolving the URL's host (`None`, the default: resolve
    /// it). The URL's host still names the server everywhere else: in TLS (SNI and the
    /// certificate check) and in the `Host` header of the upgrade and the probes. A pool
    /// following a service name sets it per replica; it is also how to reach one replica
    /// behind a name directly.
    pub connect_to: Option<SocketAddr>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            http_timeout: Duration::from_secs(5),
            command_poll: Duration::from_millis(5),
            ca_pem: None,
            webpki_roots: true,
            notification_capacity: 0,
            stream_buffer: 1024,
            max_queued_calls: 4096,
            connect_to: None,
        }
    }
}

impl ClientOptions {
    /// Sets the dial timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the HTTP probe timeout.
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Trusts the CA certificates in `pem` in addition to the roots.
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// Keeps up to `capacity` unread notifications for `Client::notifications`.
    pub fn with_notifications(mut self, capacity: usize) -> Self {
        self.notification_capacity = capacity;
        self
    }

    /// Sets how many frames of one stream may wait unread.
    pub fn with_stream_buffer(mut self, frames: usize) -> Self {
        self.stream_buffer = frames.max(1);
        self
    }

    /// Sets how many calls may wait for the I/O loop.
    pub fn with_max_queued_calls(mut self, calls: usize) -> Self {
        self.max_queued_calls = calls.max(1);
        self
    }

    /// Dials `address` instead of resolving the URL's host, which still names the server for
    /// TLS and the `Host` header (see [`connect_to`](Self::connect_to)).
    pub fn with_connect_to(mut self, address: SocketAddr) -> Self {
        self.connect_to = Some(address);
        self
    }

    /// Trusts only the certificates given with [`with_ca_pem`](Self::with_ca_pem).
    pub fn without_webpki_roots(mut self) -> Self {
        self.webpki_roots = false;
        self
    }
}

/// How a pool spreads over the replicas behind one service name (see `Pool::connect_service`):
/// how many connections each replica gets, and whether (and how often) the name is resolved
/// again so that replicas that appear get members and replicas that go are drained.
///
/// ```
/// use std::time::Duration;
/// use tcm_adapter::PoolOptions;
///
/// let options = PoolOptions::new(2).resolve_every(Duration::from_secs(10));
/// assert_eq!(options.per_replica, 2);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct PoolOptions {
    /// Connections to each replica (at least one).
    pub per_replica: usize,
    /// How often the name is resolved again (`None`, the default: only at connect). Each
    /// round, a new address gets its members once its `GET /ready` answers 200 (probed again
    /// next round otherwise); an address that is gone is drained: it takes no new call, the
    /// calls in flight on it finish (or are sent again per the usual rules), and its
    /// connections close once they are done. Addresses that stay keep their connections.
    pub resolve_every: Option<Duration>,
    /// What turns the URL's host into addresses ([`SystemResolver`] by default).
    pub resolver: Arc<dyn Resolve>,
}

impl PoolOptions {
    /// `per_replica` connections to each replica (at least one), resolved once with the
    /// system's resolver.
    pub fn new(per_replica: usize) -> Self {
        Self {
            per_replica: per_replica.max(1),
            resolve_every: None,
            resolver: Arc::new(SystemResolver),
        }
    }

    /// Resolves the name again every `interval` (at least 10 ms).
    pub fn resolve_every(mut self, interval: Duration) -> Self {
        self.resolve_every = Some(interval.max(Duration::from_millis(10)));
        self
    }

    /// Resolves with `resolver` instead of the system's.
    pub fn resolver(mut self, resolver: impl Resolve) -> Self {
        self.resolver = Arc::new(resolver);
        self
    }
}

impl Default for PoolOptions {
    /// One connection per replica, resolved once.
    fn default() -> Self {
        Self::new(1)
    }
}

impl std::fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolOptions")
            .field("per_replica", &self.per_replica)
            .field("resolve_every", &self.resolve_every)
            .field("resolver", &crate::resolve::Opaque)
            .finish()
    }
}

/// Options of one call, given with it: `client.call(request, CallOptions::new().timeout(d))`.
/// Every convenience method (`queue_stats()`, `infer(..)`, …) uses the defaults; a
/// `Duration` or an `Option<Duration>` converts into options with just that deadline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's deadline, from the moment it is made; `None` takes the configured default for
    /// its kind (`Config::timeouts`). The core enforces it, retries included.
    pub timeout: Option<Duration>,
    /// How an inference's typed tensor inputs travel (JSON unless set).
    pub shm: Shm,
}

impl CallOptions {
    /// The defaults: the kind's deadline, tensors as JSON.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets how tensor inputs travel.
    pub fn shm(mut self, shm: Shm) -> Self {
        self.shm = shm;
        self
    }
}

impl From<Duration> for CallOptions {
    fn from(timeout: Duration) -> Self {
        Self::new().timeout(timeout)
    }
}

impl From<Option<Duration>> for CallOptions {
    fn from(timeout: Option<Duration>) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }
}

/// How an inference's typed tensor inputs travel: as JSON in the frame, or through POSIX shared
/// memory (TCM §9.7), for tensors too large for a frame. Shared memory needs `shm` in
/// `Config::capabilities`, granted by the server, a server on this host sharing `/dev/shm`,
/// and Unix.
///
/// The tensors are written into regions leased from the client's pool (`Client::shm_pool`):
/// regions are reused across calls under the same key, so a warm call costs one copy of the
/// tensor. A region is lent to one call at a time and returns to the pool once the server has
/// answered; a call that ends without its reply (deadline, lost connection, dropped future)
/// retires its regions instead, since the server may still read them. The pool's regions are
/// unlinked when the client is closed or dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shm {
    /// JSON.
    #[default]
    Off,
    /// Shared memory, or a typed `Error::Shm` when it cannot be used.
    Required,
    /// Shared memory where negotiated, JSON otherwise.
    Preferred,
}
