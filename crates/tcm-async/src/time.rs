//! Deadlines on futures, with the runtime's timers.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Instant;

use crate::runtime::Runtime;

/// Runs `future` until `deadline`; `None` if the deadline came first.
pub(crate) async fn until<R: Runtime, F: Future>(
    deadline: Instant,
    future: F,
) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut timer = R::timer(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        Pin::new(&mut timer).poll(cx).map(|()| None)
    })
    .await
}
