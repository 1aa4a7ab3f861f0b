//! Fault injection through the handle, as client tests use it.

mod common;

use common::{Client, Next, http_get, identity_request};
use serde_json::json;
use std::time::{Duration, Instant};
use tcm_testserver::{Config, TestServer, TestServerHandle};
use tungstenite::Message;

fn dev() -> TestServerHandle {
    TestServer::start(Config::profile("dev-simple").expect("profile")).expect("start")
}

#[test]
fn stock_profile_never_answers_inference_but_still_checks_roles() {
    let s =
        TestServer::start(Config::profile("dev-simple-stock").expect("profile")).expect("start");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(c.next(Duration::from_millis(300)), Next::Silent);
    let mut v = Client::authed(s.addr(), "v", json!({"client": {"roles": ["viewer"]}}));
    v.send(&identity_request("v", &[1.0]));
    assert_eq!(
        v.frame()["payload"]["message"],
        "Forbidden: missing 'inference' role"
    );
}

#[test]
fn faults_can_be_armed_from_the_config() {
    let mut cfg = Config::profile("dev-simple").expect("profile");
    cfg.faults
        .fail_inferences
        .push_back("TRITON_TIMEOUT".into());
    let s = TestServer::start(cfg).expect("start");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    let data = c.frame()["payload"]["data"].clone();
    assert_eq!(
        (data["code"].as_str(), data["retriable"].as_bool()),
        (Some("TRITON_TIMEOUT"), Some(true))
    );
}

#[test]
fn never_answer_can_be_switched_at_runtime() {
    let s = dev();
    s.set_never_answer_inference(true);
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(c.next(Duration::from_millis(300)), Next::Silent);
    s.set_never_answer_inference(false);
    c.send(&identity_request("a", &[2.0]));
    assert_eq!(c.frame()["payload"]["status"], "COMPLETED");
}

#[test]
fn retriable_typed_errors_n_times_then_success() {
    let s = dev();
    s.fail_next_inferences(2, "TRITON_NETWORK");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    for _ in 0..2 {
        c.send(&identity_request("a", &[1.0]));
        let f = c.frame();
        assert_eq!(f["payload"]["status"], "FAILED");
        assert_eq!(f["payload"]["model_name"], "identity");
        assert_eq!(f["payload"]["data"]["code"], "TRITON_NETWORK");
        assert_eq!(f["payload"]["data"]["retriable"], true);
    }
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(c.frame()["payload"]["status"], "COMPLETED");
}

#[test]
fn a_fatal_typed_error_is_not_retriable() {
    let s = dev();
    s.fail_next_inferences(1, "TRITON_INFERENCE_FAILED");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    let data = c.frame()["payload"]["data"].clone();
    assert_eq!(data["code"], "TRITON_INFERENCE_FAILED");
    assert_eq!(data["retriable"], false);
    assert!(data.get("retry_after_seconds").is_none());
}

#[test]
fn circuit_open_carries_retry_after_seconds() {
    let s = dev();
    s.fail_next_inferences(1, "TRITON_CIRCUIT_OPEN");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(c.frame()["payload"]["data"]["retry_after_seconds"], 30);
}

#[test]
fn next_inference_drops_the_connection_without_a_close_frame() {
    let s = dev();
    s.drop_on_next_inference(1);
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(c.next(Duration::from_secs(3)), Next::Dropped);
    let mut again = Client::authed(s.addr(), "a", json!({}));
    again.send(&identity_request("a", &[1.0]));
    assert_eq!(again.frame()["payload"]["status"], "COMPLETED");
}

#[test]
fn drop_after_frames_cuts_the_connection_mid_request() {
    let s = dev();
    let mut c = Client::authed(s.addr(), "a", json!({}));
    // Let the auth frame finish its turn before arming the countdown.
    std::thread::sleep(Duration::from_millis(50));
    s.drop_after_frames(2);
    c.send(&json!({"uuid": "a", "type": "info", "payload": {"action": "queue_stats"}}));
    assert_eq!(c.frame()["type"], "info_response");
    c.send(&json!({"uuid": "a", "type": "info", "payload": {"action": "queue_stats"}}));
    let second = c.next(Duration::from_secs(2));
    assert!(matches!(second, Next::Frame(_)), "{second:?}");
    assert_eq!(c.next(Duration::from_secs(2)), Next::Dropped);
}

#[test]
fn replies_can_be_delayed() {
    let s = dev();
    s.set_reply_delay(Duration::from_millis(400));
    let mut c = Client::authed(s.addr(), "a", json!({}));
    let t = Instant::now();
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(c.frame()["payload"]["status"], "COMPLETED");
    assert!(t.elapsed() >= Duration::from_millis(400));
}

#[test]
fn replies_can_be_discarded() {
    let s = dev();
    s.discard_next_replies(1);
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&json!({"uuid": "a", "type": "management", "payload": {"action": "bogus"}}));
    assert_eq!(c.next(Duration::from_millis(300)), Next::Silent);
    c.send(&json!({"uuid": "a", "type": "management", "payload": {"action": "bogus"}}));
    assert_eq!(c.frame()["payload"]["status"], false);
}

#[test]
fn queue_full_on_demand() {
    let s = dev();
    s.queue_full_next(1);
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&identity_request("a", &[1.0]));
    assert_eq!(
        c.frame(),
        json!({"type": "error", "payload": {"code": "BACKPRESSURE_QUEUE_FULL",
            "message": "Request dropped due to backpressure (per-user queue full).", "dropped_type": "inference"}})
    );
}

#[test]
fn malformed_frames_can_be_sent_to_a_client() {
    let s = dev();
    let mut c = Client::authed(s.addr(), "a", json!({}));
    assert!(s.send_raw("a", "{not json"));
    match c.ws.read() {
        Ok(Message::Text(t)) => assert_eq!(t.as_str(), "{not json"),
        other => panic!("{other:?}"),
    }
    assert!(!s.send_raw("nobody", "x"));
}

#[test]
fn alerts_go_to_the_longest_connected_client_only() {
    let s = dev();
    let mut old = Client::authed(s.addr(), "old", json!({}));
    let mut young = Client::authed(s.addr(), "young", json!({}));
    assert_eq!(
        s.inject_alert("TritonServerStateChanged", "m").as_deref(),
        Some("old")
    );
    let a = old.frame();
    assert_eq!(a["type"], "alert");
    assert_eq!(a["error_type"], "TritonServerStateChanged");
    assert!(a["timestamp"].is_f64());
    assert!(a.get("payload").is_none() && a.get("uuid").is_none());
    assert_eq!(young.next(Duration::from_millis(200)), Next::Silent);
}

#[test]
fn insufficient_budget_advisories_can_be_injected() {
    let s = dev();
    let mut c = Client::authed(s.addr(), "a", json!({}));
    assert!(
        s.inject_insufficient_budget("inference", "unknown")
            .is_some()
    );
    assert_eq!(
        c.frame()["payload"]["code"],
        "BACKPRESSURE_INSUFFICIENT_BUDGET"
    );
}

#[test]
fn a_stalled_server_answers_no_ping() {
    let s = dev();
    let mut c = Client::authed(s.addr(), "a", json!({}));
    s.set_stall_reading(true);
    // Let a read already in progress finish.
    std::thread::sleep(Duration::from_millis(50));
    c.ws.send(Message::Ping(b"p".to_vec().into()))
        .expect("ping");
    let deadline = Instant::now() + Duration::from_millis(300);
    while Instant::now() < deadline {
        if let Ok(m) = c.ws.read() {
            panic!("unexpected {m:?} while stalled");
        }
    }
    s.set_stall_reading(false);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut ponged = false;
    while Instant::now() < deadline && !ponged {
        ponged = matches!(c.ws.read(), Ok(Message::Pong(_)));
    }
    assert!(ponged, "pong after the stall ends");
}

#[test]
fn the_server_pings_and_closes_1011_without_pong() {
    let cfg = Config {
        ping_interval: Some(Duration::from_millis(100)),
        ping_timeout: Duration::from_millis(200),
        ..Config::profile("dev-simple").expect("profile")
    };
    let s = TestServer::start(cfg).expect("start");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    // Not reading means not answering: the pong is never sent.
    std::thread::sleep(Duration::from_millis(500));
    let mut closed = None;
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && closed.is_none() {
        match c.ws.read() {
            Ok(Message::Close(f)) => closed = f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(tungstenite::Error::Io(_)) => {}
            Err(_) => break,
        }
    }
    // The automatic pong went out late (on our first read), after the deadline.
    assert_eq!(closed, Some(1011));
}

#[test]
fn shutdown_drain_nacks_queued_work_and_readiness_returns_on_restart() {
    let mut cfg = Config::profile("full-server").expect("profile");
    cfg.scheduler_tick = Duration::from_millis(300);
    let s = TestServer::start(cfg).expect("start");
    let mut c = Client::authed(s.addr(), "a", json!({}));
    c.send(&json!({"uuid": "a", "type": "inference", "payload": {}}));
    c.send(&json!({"uuid": "a", "type": "management", "payload": {"action": "bogus"}}));
    c.send(&json!({"uuid": "a", "type": "info", "payload": {"action": "models"}}));
    std::thread::sleep(Duration::from_millis(50));
    s.begin_shutdown();
    let nack = |t: &str| {
        json!({"type": "error", "payload": {"code": "SYSTEM_SHUTDOWN",
            "message": "Request dropped: system is shutting down.", "dropped_type": t}})
    };
    assert_eq!(c.frame(), nack("info"));
    assert_eq!(c.frame(), nack("management"));
    assert_eq!(c.frame(), nack("inference"));
    assert_eq!(http_get(s.addr(), "/ready").0, 503);
    let mut late = Client::connect(s.addr());
    late.send(&json!({"uuid": "b", "type": "auth", "payload": {}}));
    assert_eq!(late.frame()["type"], "auth.ok");
    assert_eq!(late.frame()["payload"]["code"], "SYSTEM_SHUTDOWN");
    assert_eq!(
        late.next(Duration::from_secs(2)),
        Next::Closed(1012, String::new())
    );
    s.restart_ready();
    assert_eq!(http_get(s.addr(), "/ready").0, 200);
}

#[test]
fn graceful_shutdown_closes_idle_clients_with_1000() {
    let mut s = dev();
    let mut c = Client::authed(s.addr(), "a", json!({}));
    s.shutdown_gracefully(Duration::from_secs(1));
    assert_eq!(
        c.next(Duration::from_secs(3)),
        Next::Closed(1000, String::new())
    );
}

#[test]
fn a_failed_send_unregisters_the_uuid_but_keeps_the_socket_open() {
    let s = dev();
    let mut c = Client::authed(s.addr(), "q12", json!({}));
    assert!(s.simulate_failed_send("q12"));
    std::thread::sleep(Duration::from_millis(50));
    c.send(&identity_request("q12", &[1.0]));
    assert_eq!(
        c.frame()["payload"]["message"],
        "Forbidden: missing 'inference' role"
    );
    c.send(&json!({"uuid": "q12", "type": "info", "payload": {"action": "queue_stats"}}));
    assert_eq!(c.frame()["type"], "info_response");
    let _second = Client::authed(s.addr(), "q12", json!({}));
}
