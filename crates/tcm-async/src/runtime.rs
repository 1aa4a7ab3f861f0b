//! The runtime abstraction: how to open a TCP stream and how to spawn the driver task.

use std::future::Future;
use std::io;

use futures_util::io::{AsyncRead, AsyncWrite};

/// What the driver needs from an async runtime. Timers come from `async-io`, which works under
/// any runtime, so a runtime only supplies TCP streams and task spawning. Implementations live
/// in the runtime facade crates (`tcm-smol`, `tcm-async-std`).
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's TCP stream.
    type Tcp: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Resolves `host` and connects to `port`, with `TCP_NODELAY` set.
    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self::Tcp>> + Send;

    /// Runs `future` to completion in the background (the connection's driver task).
    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}
