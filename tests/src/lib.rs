//! Cross-client integration tests for the TCM and JSON-RPC clients.
//!
//! The scenarios live in `tests/matrix.rs` and `tests/rpc.rs` and run, unchanged, over the
//! blocking, smol, async-std and tokio clients against the reference servers on loopback.
//! This library holds what the tokio runs need: one shared multi-thread runtime.

use std::future::Future;
use std::sync::OnceLock;

/// The tokio runtime the tokio clients of the tests run on.
pub fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Runs `future` to completion on the shared tokio runtime.
pub fn tokio_block_on<F: Future>(future: F) -> F::Output {
    tokio_runtime().block_on(future)
}

/// Spawns `future` on the shared tokio runtime; the returned future yields its output.
pub fn tokio_spawn<F>(future: F) -> impl Future<Output = F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = tokio_runtime().spawn(future);
    async move { task.await.expect("a test task panicked") }
}
