//! [`Runtime`]: what the async I/O loop needs from an executor: TCP streams, spawning, timers.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::io::{AsyncRead, AsyncWrite};

/// An async runtime for the clients. Implementations live in the runtime crates (`tcm-smol`,
/// `tcm-async-std`, `tcm-tokio`); each is a handful of lines.
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's TCP stream (`futures` I/O traits).
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A timer of the runtime's own, completing at a deadline.
    type Timer: Future<Output = ()> + Unpin + Send + 'static;

    /// Resolves `host` and connects to `port`, with `TCP_NODELAY` set.
    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// Runs `future` to completion in the background (a client's I/O loop): on the runtime's
    /// executor, or on a thread of its own ([`spawn_io_thread`](crate::spawn_io_thread)).
    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// A timer that completes at `deadline`.
    fn timer(deadline: Instant) -> Self::Timer;

    /// Whether the current thread may drive a client's I/O (poll its socket, make its timers
    /// and dials): a call that waits for its reply drives the connection itself only where it
    /// can. Runtimes whose timers and sockets work from any thread keep the default, `true`.
    fn can_drive_here() -> bool {
        true
    }
}

/// The `async-io` timer (the reactor smol and async-std share), as a [`Runtime::Timer`].
#[derive(Debug)]
pub struct IoTimer(async_io::Timer);

impl IoTimer {
    /// A timer that completes at `deadline`.
    pub fn at(deadline: Instant) -> Self {
        Self(async_io::Timer::at(deadline))
    }
}

impl Future for IoTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// Declares a runtime crate's public API over [`Runtime`] `$runtime`: the `Client`, `Pool`,
/// `InferStream`, `RpcClient` and `RpcHandlers` types, `probe`, and the shared re-exports. A
/// runtime crate is its `Runtime` implementation plus this line.
#[macro_export]
macro_rules! runtime_facade {
    ($runtime:ty, $name:literal) => {
        pub use $crate::{
            CallOptions, CallOutcome, ClientOptions, ClientStats, ConnectError, Error,
            HttpResponse, InferenceOutput, PoolOptions, PoolStats, ProbeError, ReplicaStats,
            Resolve, RpcClientEvent, RpcConnectError, RpcOptions, Shm, SystemResolver,
            TransportError, tcm_proto,
        };

        #[doc = concat!("A TCM client driven by a ", $name, " task.")]
        pub type Client = $crate::Client<$runtime>;
        #[doc = concat!("A pool of TCM connections driven by ", $name, " tasks.")]
        pub type Pool = $crate::Pool<$runtime>;
        /// The frames of a streaming inference.
        pub type InferStream = $crate::InferStream<$runtime>;
        #[doc = concat!("A Tellurio JSON-RPC client driven by a ", $name, " task.")]
        pub type RpcClient = $crate::RpcClient<$runtime>;
        /// Handlers for server → client requests and notifications of an [`RpcClient`].
        pub type RpcHandlers = $crate::RpcHandlers<$runtime>;

        /// `GET path` (e.g. `/health` or `/ready`) on the host and port of the WebSocket URL
        /// `url`, over TLS for `wss://`, without opening a session. A non-200 status is a
        /// response.
        pub async fn probe(
            url: &str,
            path: &str,
            options: &ClientOptions,
        ) -> Result<HttpResponse, ConnectError> {
            $crate::probe::<$runtime>(url, path, options).await
        }
    };
}
