//! The scenario matrix over all four clients against the reference test server.

mod common;

macro_rules! matrix {
    ($($adapter:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::common::{self, $adapter};

            #[test]
            fn happy_paths() {
                common::happy_paths::<$adapter>();
            }

            #[test]
            fn connect_errors() {
                common::connect_errors::<$adapter>();
            }

            #[test]
            fn concurrent_queue_stats() {
                common::concurrent_queue_stats::<$adapter>();
            }

            #[test]
            fn pool_500() {
                common::pool_500::<$adapter>();
            }

            #[test]
            fn drop_mid_request() {
                common::drop_mid_request::<$adapter>();
            }

            #[test]
            fn shutdown_draining() {
                common::shutdown_draining::<$adapter>();
            }

            #[test]
            fn retries() {
                common::retries::<$adapter>();
            }

            #[test]
            fn oversize() {
                common::oversize::<$adapter>();
            }

            #[test]
            fn deadlines() {
                common::deadlines::<$adapter>();
            }

            #[test]
            fn dead_peer() {
                common::dead_peer::<$adapter>();
            }

            #[test]
            fn notifications() {
                common::notifications::<$adapter>();
            }

            #[test]
            fn drop_closes() {
                common::drop_closes::<$adapter>();
            }

            #[test]
            fn wss() {
                common::wss::<$adapter>();
            }
        }
    )*};
}

matrix!(
    Blocking => blocking,
    Smol => smol,
    AsyncStd => async_std,
    Tokio => tokio,
);

/// The handles can be shared across threads and tasks.
#[test]
fn handles_are_clone_send_sync() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<tcm_blocking::Client>();
    shared::<tcm_blocking::Pool>();
    shared::<tcm_smol::Client>();
    shared::<tcm_smol::Pool>();
    shared::<tcm_async_std::Client>();
    shared::<tcm_async_std::Pool>();
    shared::<tcm_tokio::Client>();
    shared::<tcm_tokio::Pool>();
    fn sendable<T: Send + 'static>() {}
    sendable::<tcm_blocking::InferStream>();
    sendable::<tcm_smol::InferStream>();
    sendable::<tcm_tokio::InferStream>();
}
