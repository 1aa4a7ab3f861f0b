//! [`spawn_io_thread`]: a thread of its own for a client's I/O loop, for the runtimes on the
//! `async-io` reactor (smol, async-std).
//!
//! Their executors' idle threads drive the reactor themselves (`async_io::block_on`). A loop
//! spawned on such an executor starts those threads, and then a caller waiting in `block_on`
//! for its reply usually finds the reactor taken: the executor thread receives the socket's
//! readiness and has to wake the caller, about two context switches per call more than a lone
//! `block_on` needs. A loop on a thread of its own sleeps without touching the reactor, so the
//! waiting caller keeps driving it and is woken by its socket directly. When no thread drives
//! the reactor (none waits in `async_io::block_on`, or the one that does is busy running its
//! future), `async-io`'s own thread takes it over: at once when no `block_on` is running, and
//! within its back-off (at most 10 ms) otherwise.

use std::future::Future;
use std::sync::Arc;
use std::sync::mpsc::{SendError, sync_channel};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

/// Runs `future` to completion on a thread of its own that parks while the future waits (it
/// never drives the reactor). Where no thread can be started, `fallback` gets the future (to
/// spawn it on the runtime's executor instead).
pub fn spawn_io_thread<F>(future: F, fallback: impl FnOnce(F))
where
    F: Future<Output = ()> + Send + 'static,
{
    // The future goes to the thread once it runs, so that a thread that cannot start hands it
    // back rather than dropping it.
    let (tx, rx) = sync_channel::<F>(1);
    let started = std::thread::Builder::new()
        .name("tcm-io".to_owned())
        .spawn(move || {
            if let Ok(future) = rx.recv() {
                park_on(future);
            }
        });
    match started {
        Ok(_) => {
            if let Err(SendError(future)) = tx.send(future) {
                fallback(future);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start an I/O thread; the loop runs on the executor");
            fallback(future);
        }
    }
}

/// Wakes a thread parked in [`park_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it completes, parking in between. A wake-up that comes
/// before the park is kept by the thread's park token, so none is lost.
fn park_on<F: Future<Output = ()>>(future: F) {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    while future.as_mut().poll(&mut cx) == Poll::Pending {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_future_woken_from_another_thread_completes_on_the_io_thread() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (wake_tx, wake_rx) = async_channel::bounded::<()>(1);
        spawn_io_thread(
            async move {
                let _ = wake_rx.recv().await;
                let name = std::thread::current().name().map(str::to_owned);
                let _ = done_tx.send(name);
            },
            |_| panic!("the thread starts"),
        );
        wake_tx.send_blocking(()).expect("the loop waits");
        let ran_on = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the future completes");
        assert_eq!(ran_on.as_deref(), Some("tcm-io"));
    }
}
