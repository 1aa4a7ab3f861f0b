//! The server over real sockets: HTTP routes, closes, routing by uuid, SHM inputs.

mod common;

use common::{Client, Next, http_get, identity_request};
use serde_json::json;
use std::time::Duration;
use tcm_testserver::{Config, TestServer};

fn dev() -> tcm_testserver::TestServerHandle {
    TestServer::start(Config::profile("dev-simple").expect("profile")).expect("start")
}

#[test]
fn binds_an_ephemeral_loopback_port_and_reports_urls() {
    let s = dev();
    assert!(s.addr().ip().is_loopback());
    assert_ne!(s.addr().port(), 0);
    assert_eq!(s.ws_url(), format!("ws://{}/ws", s.addr()));
    assert_eq!(s.http_base(), format!("http://{}", s.addr()));
}

#[test]
fn http_routes_answer_like_the_reference_server() {
    let s = dev();
    assert_eq!(
        http_get(s.addr(), "/health"),
        (200, r#"{"status":"ok"}"#.into())
    );
    assert_eq!(
        http_get(s.addr(), "/ready"),
        (200, r#"{"status":"ready"}"#.into())
    );
    assert_eq!(
        http_get(s.addr(), "/ws"),
        (404, r#"{"detail":"Not Found"}"#.into())
    );
    assert_eq!(
        http_get(s.addr(), "/nope"),
        (404, r#"{"detail":"Not Found"}"#.into())
    );
    s.set_ready(false);
    assert_eq!(
        http_get(s.addr(), "/ready"),
        (503, r#"{"status":"not_ready"}"#.into())
    );
}

#[test]
fn upgrades_on_other_paths_are_refused_with_403_and_the_query_is_ignored() {
    let s = dev();
    match Client::connect_path(s.addr(), "/ws/") {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    assert!(Client::connect_path(s.addr(), "/ws?x=1").is_ok());
}

#[test]
fn stop_closes_every_client_with_1000() {
    let s = dev();
    let mut a = Client::authed(s.addr(), "a", json!({}));
    let mut b = Client::connect(s.addr());
    s.stop();
    assert_eq!(
        a.next(Duration::from_secs(3)),
        Next::Closed(1000, String::new())
    );
    assert_eq!(
        b.next(Duration::from_secs(3)),
        Next::Closed(1000, String::new())
    );
}

#[test]
fn stats_count_connection_attempts_and_auth_successes() {
    let s = dev();
    let _a = Client::authed(s.addr(), "a", json!({}));
    let mut dup = Client::connect(s.addr());
    dup.send(&json!({"uuid": "a", "type": "auth", "payload": {}}));
    dup.frame();
    let st = s.stats();
    assert_eq!(st.connection_attempts, 2);
    assert_eq!(st.auth_successes, 1);
    assert_eq!(st.auth_failures, 1);
}

#[test]
fn responses_follow_the_uuid_to_a_reconnected_socket() {
    let s = dev();
    s.set_reply_delay(Duration::from_millis(300));
    let mut first = Client::authed(s.addr(), "same", json!({}));
    first.send(&identity_request("same", &[5.0]));
    drop(first);
    std::thread::sleep(Duration::from_millis(50));
    let mut second = Client::authed(s.addr(), "same", json!({}));
    let f = second.frame();
    assert_eq!(f["payload"]["data"], json!({"OUTPUT0": [5.0]}));
}

#[test]
fn responses_for_a_uuid_nobody_holds_are_dropped() {
    let s = dev();
    s.set_reply_delay(Duration::from_millis(200));
    let mut c = Client::authed(s.addr(), "gone", json!({}));
    c.send(&identity_request("gone", &[1.0]));
    drop(c);
    std::thread::sleep(Duration::from_millis(400));
    let mut other = Client::authed(s.addr(), "other", json!({}));
    assert_eq!(other.next(Duration::from_millis(300)), Next::Silent);
}

#[test]
fn five_pipelined_inferences_all_complete_with_their_own_outputs() {
    let s = dev();
    let mut c = Client::authed(s.addr(), "p", json!({}));
    for i in 0..5 {
        c.send(&identity_request("p", &[f64::from(i)]));
    }
    let mut got: Vec<f64> = (0..5)
        .map(|_| {
            let f = c.frame();
            f["payload"]["data"]["OUTPUT0"][0].as_f64().expect("output")
        })
        .collect();
    got.sort_by(f64::total_cmp);
    assert_eq!(got, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn shm_inputs_feed_the_same_models_for_fp32_and_int32() {
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("SKIPPED: /dev/shm is not available");
        return;
    }
    let key = format!("tcm_testserver_{}", std::process::id());
    let f32s: Vec<u8> = [1.5f32, -2.25, 0.1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let i32s: Vec<u8> = [7i32, -8].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(shm.join(format!("{key}_f")), &f32s).expect("write shm");
    std::fs::write(shm.join(format!("{key}_i")), &i32s).expect("write shm");
    let s = dev();
    let mut c = Client::authed(s.addr(), "shm", json!({"capability": ["json", "shm"]}));
    let req = |model: &str, suffix: &str, size: usize, n: usize, dtype: &str| {
        json!({"uuid": "shm", "type": "inference", "payload": {
        "vm_ip": "127.0.0.1", "container_id": "c", "model_name": model,
        "request": {"protocol": "http", "allow_transient": true, "inputs": [
            {"name": "INPUT0", "shm_key": format!("/{key}_{suffix}"), "offset": 0, "byte_size": size, "shape": [n], "dtype": dtype},
            {"name": "IGNORED", "dims": [1], "type": "FP32", "value": [1]}
        ]}}})
    };
    c.send(&req("identity", "f", 12, 3, "FP32"));
    let f = c.frame();
    assert_eq!(
        f["payload"]["data"],
        json!({"OUTPUT0": [1.5, -2.25, 0.10000000149011612]})
    );
    c.send(&req("identity_int32", "i", 8, 2, "INT32"));
    let f = c.frame();
    assert_eq!(f["payload"]["data"], json!({"OUTPUT0": [7, -8]}));
    let _ = std::fs::remove_file(shm.join(format!("{key}_f")));
    let _ = std::fs::remove_file(shm.join(format!("{key}_i")));
}
