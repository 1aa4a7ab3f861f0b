//! [`Client`]: a cloneable handle on one TCM connection served by a background I/O thread.

use std::sync::Arc;

use tcm_adapter::call::ShmPool;
use tcm_adapter::engine::client::TcmShared;

use crate::stream::InferStream;

/// A connected TCM client. Cheap to clone; all clones share one connection and its I/O thread,
/// and calls from many threads are multiplexed on it by the protocol core. Every call blocks
/// the calling thread until its outcome, by its deadline at the latest.
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<TcmShared>,
    /// Shared-memory regions reused across this client's calls.
    shm: ShmPool,
}

tcm_adapter::tcm_client! {
    impl { impl Client }
    io {} {} recv_blocking
    start { crate::driver::start }
    get { crate::http::get }
    stream InferStream;
    new |shared| Client { shared, shm: ShmPool::default() };
}
