//! The tokio [`Runtime`](tcm_async::Runtime): tokio's own TCP streams, tasks and timers (no
//! second reactor thread).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// tokio's TCP stream, task spawner and timers. Clients must be connected from within a tokio
/// runtime (their I/O task is spawned on it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// A tokio timer, as a [`Runtime::Timer`](tcm_async::Runtime::Timer).
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl Future for TokioTimer {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl tcm_async::Runtime for Tokio {
    type Tcp = Compat<tokio::net::TcpStream>;
    type Timer = TokioTimer;

    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self::Tcp>> + Send {
        let host = host.to_owned();
        async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(stream.compat())
        }
    }

    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(future));
    }

    fn timer(deadline: Instant) -> Self::Timer {
        TokioTimer(Box::pin(tokio::time::sleep_until(deadline.into())))
    }

    /// tokio's timers and sockets are made within a runtime: a call awaited outside one (under
    /// another executor) leaves the I/O to the client's task.
    fn can_drive_here() -> bool {
        tokio::runtime::Handle::try_current().is_ok()
    }
}
