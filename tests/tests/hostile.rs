//! Hostile peers, over real sockets, for every client: every deadline holds and no buffer grows
//! without bound whatever the peer does (trickles bytes, stops reading, reads slowly, flaps,
//! sends huge frames, floods), and a late stream reader cannot grow the client's memory.

mod common;

macro_rules! hostile {
    ($($adapter:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::common::{self, $adapter};

            #[test]
            fn a_trickled_upgrade_fails_by_the_connect_deadline() {
                common::a_trickled_upgrade_fails_by_the_connect_deadline::<$adapter>();
            }

            #[test]
            fn a_trickled_auth_ok_fails_by_the_auth_deadline() {
                common::a_trickled_auth_ok_fails_by_the_auth_deadline::<$adapter>();
            }

            #[test]
            fn a_trickled_reply_times_out_by_its_deadline() {
                common::a_trickled_reply_times_out_by_its_deadline::<$adapter>();
            }

            #[test]
            fn a_peer_that_never_reads_holds_no_call_past_its_deadline() {
                common::a_peer_that_never_reads_holds_no_call_past_its_deadline::<$adapter>();
            }

            #[test]
            fn a_slow_reader_holds_no_call_past_its_deadline() {
                common::a_slow_reader_holds_no_call_past_its_deadline::<$adapter>();
            }

            #[test]
            fn a_flapping_server_is_dialled_with_a_growing_backoff() {
                common::a_flapping_server_is_dialled_with_a_growing_backoff::<$adapter>();
            }

            #[test]
            fn a_frame_over_the_inbound_limit_ends_the_transport() {
                common::a_frame_over_the_inbound_limit_ends_the_transport::<$adapter>();
            }

            #[test]
            fn a_flood_of_unsolicited_frames_leaves_the_client_responsive() {
                common::a_flood_of_unsolicited_frames_leaves_the_client_responsive::<$adapter>();
            }

            #[test]
            fn a_late_stream_consumer_gets_a_slow_consumer_error() {
                common::a_late_stream_consumer_gets_a_slow_consumer_error::<$adapter>();
            }
        }
    )*};
}

hostile!(
    Blocking => blocking,
    Smol => smol,
    AsyncStd => async_std,
    Tokio => tokio,
);
