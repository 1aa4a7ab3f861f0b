//! Leader/follower: a call that waits for its reply drives the connection itself (on its
//! thread, or in its task) while nothing else does. Whichever caller leads, every call resolves
//! exactly once with its own outcome, a caller that stops leading hands the connection on, and
//! frames that answer no call still arrive. Every scenario runs over all four clients and
//! asserts outcomes only: which caller leads at a given moment is up to the scheduler.

mod common;

macro_rules! scenarios {
    ($($adapter:ident => $module:ident),* $(,)?) => {$(
        mod $module {
            use super::common::$adapter;

            #[test]
            fn lock_step_calls_from_one_thread_each_get_their_own_reply() {
                super::lock_step_calls_from_one_thread_each_get_their_own_reply::<$adapter>();
            }

            #[test]
            fn threads_sharing_a_client_each_get_their_own_reply() {
                super::threads_sharing_a_client_each_get_their_own_reply::<$adapter>();
            }

            #[test]
            fn a_caller_that_times_out_hands_the_connection_on() {
                super::a_caller_that_times_out_hands_the_connection_on::<$adapter>();
            }

            #[test]
            fn alerts_arrive_while_callers_keep_calling() {
                super::alerts_arrive_while_callers_keep_calling::<$adapter>();
            }

            #[test]
            fn an_idle_client_still_hears_the_server_after_calls_stop() {
                super::an_idle_client_still_hears_the_server_after_calls_stop::<$adapter>();
            }

            #[test]
            fn closing_from_another_thread_ends_a_waiting_call() {
                super::closing_from_another_thread_ends_a_waiting_call::<$adapter>();
            }
        }
    )*};
}

scenarios! {
    Blocking => blocking,
    Smol => smol,
    AsyncStd => async_std,
    Tokio => tokio,
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{
    Adapter, CallFailure, Opts, client_config, eventually, identity, output0, server, server_with,
};
use tcm_proto::{AuthContext, Notification, RequestError};

fn connect<A: Adapter>(url: &str, uuid: &str, opts: &Opts) -> A::Client {
    A::connect(
        url,
        AuthContext::anonymous(),
        client_config(&format!("leader-{}-{uuid}", A::NAME)),
        opts,
    )
    .expect("connects")
}

/// One thread, calls in turn: each identity inference returns its own input, and the info
/// calls in between succeed.
fn lock_step_calls_from_one_thread_each_get_their_own_reply<A: Adapter>() {
    let server = server_with(|c| c.inference_latency_ms = (0, 0));
    let client = connect::<A>(&server.ws_url(), "lockstep", &Opts::default());
    for i in 0..50u16 {
        let value = f32::from(i);
        let out = A::infer(&client, identity(vec![value, -value]), None)
            .unwrap_or_else(|e| panic!("call {i}: {e:?}"));
        assert_eq!(output0(&out), vec![value, -value], "call {i}");
        for _ in 0..10 {
            A::queue_stats(&client).unwrap_or_else(|e| panic!("after {i}: {e:?}"));
        }
    }
    A::close(&client);
}

/// Eight threads share one client, so callers lead and follow in every order: each of 200
/// inferences returns its own input, and the info calls in between succeed.
fn threads_sharing_a_client_each_get_their_own_reply<A: Adapter>() {
    let server = server_with(|c| c.inference_latency_ms = (0, 0));
    let client = connect::<A>(&server.ws_url(), "threads", &Opts::default());
    let workers: Vec<_> = (0..8u16)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                for i in 0..25u16 {
                    let value = f32::from(t * 1000 + i);
                    let out = A::infer(&client, identity(vec![value]), None)
                        .unwrap_or_else(|e| panic!("thread {t} call {i}: {e:?}"));
                    assert_eq!(output0(&out), vec![value], "thread {t} call {i}");
                    for _ in 0..4 {
                        A::queue_stats(&client).expect("queue_stats");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("no worker panicked");
    }
    A::close(&client);
}

/// Two calls at once on a server that takes 600 ms per inference: one with a 100 ms deadline,
/// one with 10 s. Whichever leads, the first times out and the second gets its outputs: a
/// caller that stops leading on its timeout leaves the other's call to the I/O thread.
fn a_caller_that_times_out_hands_the_connection_on<A: Adapter>() {
    let server = server_with(|c| c.inference_latency_ms = (600, 600));
    let client = connect::<A>(&server.ws_url(), "handoff", &Opts::default());
    for round in 0..3u16 {
        let value = f32::from(round);
        let short = {
            let client = client.clone();
            std::thread::spawn(move || {
                A::infer(
                    &client,
                    identity(vec![0.5]),
                    Some(Duration::from_millis(100)),
                )
            })
        };
        let long = A::infer(
            &client,
            identity(vec![value]),
            Some(Duration::from_secs(10)),
        );
        let short = short.join().expect("no panic");
        assert!(
            matches!(short, Err(CallFailure::Request(RequestError::Timeout))),
            "round {round}: {short:?}"
        );
        let long = long.unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        assert_eq!(output0(&long), vec![value], "round {round}");
    }
    A::close(&client);
}

/// An alert the server sends while a caller keeps making calls (so callers, not the I/O
/// thread, mostly drive the connection) reaches the client's notifications.
fn alerts_arrive_while_callers_keep_calling<A: Adapter>() {
    let server = server();
    let opts = Opts {
        notifications: 8,
        ..Opts::default()
    };
    let client = connect::<A>(&server.ws_url(), "alerts", &opts);
    let mut next = A::notifications(&client);
    let stop = Arc::new(AtomicBool::new(false));
    let caller = {
        let (client, stop) = (client.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut calls = 0u64;
            while !stop.load(Ordering::Relaxed) {
                A::queue_stats(&client).expect("queue_stats");
                calls += 1;
            }
            calls
        })
    };
    assert!(
        eventually(Duration::from_secs(5), || {
            server
                .inject_alert("TritonServerStateChanged", "lead test")
                .is_some()
        }),
        "the alert was sent"
    );
    let mut seen = None;
    let arrived = eventually(Duration::from_secs(5), || {
        seen = seen.take().or_else(&mut next);
        seen.is_some()
    });
    stop.store(true, Ordering::Relaxed);
    let calls = caller.join().expect("no panic");
    assert!(arrived, "no notification after {calls} calls");
    assert!(
        matches!(&seen, Some(Notification::Alert(a)) if a.message == "lead test"),
        "{seen:?}"
    );
    A::close(&client);
}

/// Calls in turn (so the callers drive the connection and the I/O thread or task stands by),
/// then none: an alert the server sends afterwards still reaches the client, with no call to
/// carry it, and the next call succeeds.
fn an_idle_client_still_hears_the_server_after_calls_stop<A: Adapter>() {
    let server = server();
    let opts = Opts {
        notifications: 8,
        ..Opts::default()
    };
    let client = connect::<A>(&server.ws_url(), "idle", &opts);
    let mut next = A::notifications(&client);
    for i in 0..200 {
        A::queue_stats(&client).unwrap_or_else(|e| panic!("call {i}: {e:?}"));
    }
    assert!(
        server
            .inject_alert("TritonServerStateChanged", "after the calls")
            .is_some(),
        "the alert was sent"
    );
    let mut seen = None;
    assert!(
        eventually(Duration::from_secs(5), || {
            seen = seen.take().or_else(&mut next);
            seen.is_some()
        }),
        "no notification once the calls stopped"
    );
    assert!(
        matches!(&seen, Some(Notification::Alert(a)) if a.message == "after the calls"),
        "{seen:?}"
    );
    A::queue_stats(&client).expect("a call after the idle spell");
    A::close(&client);
}

/// A call that the server never answers, closed from another thread: the call ends with a
/// disconnect at once, wherever it was being driven from.
fn closing_from_another_thread_ends_a_waiting_call<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "close", &Opts::default());
    A::queue_stats(&client).expect("warm up");
    server.set_never_answer_inference(true);
    let before = server.stats().frames_received;
    let waiting = {
        let client = client.clone();
        std::thread::spawn(move || {
            A::infer(&client, identity(vec![1.0]), Some(Duration::from_secs(60)))
        })
    };
    assert!(
        eventually(Duration::from_secs(5), || {
            server.stats().frames_received > before
        }),
        "the inference reached the server"
    );
    A::close(&client);
    let outcome = waiting.join().expect("no panic");
    assert!(
        matches!(
            outcome,
            Err(CallFailure::Request(RequestError::Disconnected(_)))
        ),
        "{outcome:?}"
    );
}
