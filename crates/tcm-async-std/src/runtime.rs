//! The async-std [`Runtime`](tcm_async::Runtime).

use std::future::Future;
use std::io;
use std::time::Instant;

/// async-std's TCP stream and timers; each client's I/O loop on a thread of its own
/// (async-std's executor where no thread can be started).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

impl tcm_async::Runtime for AsyncStd {
    type Tcp = async_std::net::TcpStream;

    type Timer = tcm_async::IoTimer;

    fn connect(host: &str, port: u16) -> impl Future<Output = io::Result<Self::Tcp>> + Send {
        let host = host.to_owned();
        async move {
            let stream = async_std::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        }
    }

    fn spawn<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // On a thread of its own, so that a caller waiting in `block_on` keeps the reactor;
        // a task detaches when its handle is dropped.
        tcm_async::spawn_io_thread(future, |future| drop(async_std::task::spawn(future)));
    }

    fn timer(deadline: Instant) -> Self::Timer {
        tcm_async::IoTimer::at(deadline)
    }
}
