//! A pool over several replicas, for every client: rolling restarts, abrupt drops and
//! management, against three reference servers on loopback; a pool following a service name
//! as its replicas come and go, TLS to a resolved address, and the counters of clients and
//! pools.

mod common;

macro_rules! replicas {
    ($($adapter:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::common::{self, $adapter, service};

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

            #[test]
            fn a_pool_follows_a_service_name_as_replicas_come_and_go() {
                service::a_pool_follows_a_service_name_as_replicas_come_and_go::<$adapter>();
            }

            #[test]
            fn a_pool_counts_the_reconnects_of_each_replica() {
                service::a_pool_counts_the_reconnects_of_each_replica::<$adapter>();
            }

            #[test]
            fn a_service_name_is_kept_for_tls_when_its_addresses_are_dialled() {
                service::a_service_name_is_kept_for_tls_when_its_addresses_are_dialled::<$adapter>();
            }

            #[test]
            fn a_service_without_a_ready_replica_is_a_connect_error() {
                service::a_service_without_a_ready_replica_is_a_connect_error::<$adapter>();
            }

            #[test]
            fn a_client_counts_its_calls_and_reconnects() {
                service::a_client_counts_its_calls_and_reconnects::<$adapter>();
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
