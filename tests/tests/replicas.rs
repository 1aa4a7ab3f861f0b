//! A pool over several replicas, for every client: rolling restarts, abrupt drops and
//! management, against three reference servers on loopback.

mod common;

macro_rules! replicas {
    ($($adapter:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::common::{self, $adapter};

            #[test]
            fn a_pool_rides_through_rolling_restarts() {
                common::a_pool_rides_through_rolling_restarts::<$adapter>();
            }

            #[test]
            fn a_pool_replays_the_calls_of_a_replica_that_drops() {
                common::a_pool_replays_the_calls_of_a_replica_that_drops::<$adapter>();
            }

            #[test]
            fn a_pool_never_replays_management() {
                common::a_pool_never_replays_management::<$adapter>();
            }
        }
    )*};
}

replicas!(
    Blocking => blocking,
    Smol => smol,
    AsyncStd => async_std,
    Tokio => tokio,
);
