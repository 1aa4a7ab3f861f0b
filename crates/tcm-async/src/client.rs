//! [`Client`]: a cloneable handle on one TCM connection served by an I/O task.

use std::marker::PhantomData;
use std::sync::Arc;

use tcm_adapter::call::ShmPool;
use tcm_adapter::engine::client::TcmShared;

use crate::runtime::Runtime;
use crate::stream::InferStream;

/// A connected TCM client on runtime `R`. Cheap to clone; all clones share one connection and
/// its I/O task, and concurrent calls are multiplexed on it by the protocol core. Dropping a
/// call's future cancels its request.
pub struct Client<R: Runtime> {
    shared: Arc<TcmShared>,
    /// Shared-memory regions reused across this client's calls.
    shm: ShmPool,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            shm: self.shm.clone(),
            _runtime: PhantomData,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

tcm_adapter::tcm_client! {
    impl { impl<R: Runtime> Client<R> }
    io { async } { .await } recv
    start { crate::driver::start::<R, _, _, _> }
    get { crate::http::get::<R> }
    stream InferStream<R>;
    new |shared| Client { shared, shm: ShmPool::default(), _runtime: PhantomData };
}
