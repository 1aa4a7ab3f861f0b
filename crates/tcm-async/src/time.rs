//! Deadlines on futures, with `async-io` timers.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use async_io::Timer;

/// Runs `future` until `deadline`; `None` if the deadline came first.
pub(crate) async fn until<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer = Timer::at(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match std::pin::Pin::new(&mut timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
