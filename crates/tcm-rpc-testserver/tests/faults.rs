//! Each fault switch does what it says, as a plain client sees it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tcm_rpc_testserver::{CallReply, Fault, HandleError, Plan};

const SHORT: Duration = Duration::from_millis(300);

fn var(c: &mut Client) -> String {
    c.request(
        "create_variable",
        json!({"data": "x", "role": "r", "requires_grad": false}),
    )
}

/// Runs `fault` from a second thread while the client answers the request it causes with
/// `answer`; returns the request seen and what `inject` returned.
fn answered(
    s: &tcm_rpc_testserver::RpcServerHandle,
    c: &mut Client,
    fault: Fault,
    answer: Value,
) -> (Value, Option<CallReply>) {
    std::thread::scope(|scope| {
        let h = scope.spawn(|| s.inject(fault));
        let req = c.frame();
        let mut reply = json!({"jsonrpc": "2.0", "id": req["id"]});
        if answer.get("code").is_some() {
            reply["error"] = answer;
        } else {
            reply["result"] = answer;
        }
        c.send(&reply);
        let got = h.join().expect("inject thread").expect("a session");
        (req, got)
    })
}

#[test]
fn now_faults_need_a_live_session() {
    let s = server();
    assert_eq!(s.inject(Fault::InvalidJson), Err(HandleError::NoSession));
    assert_eq!(s.send_raw("x"), Err(HandleError::NoSession));
    // "Next" faults are accepted at any time.
    assert_eq!(s.inject(Fault::NeverAnswerNext), Ok(None));
}

#[test]
fn drop_ends_the_connection_without_a_close_frame_even_mid_call() {
    let s = server();
    s.plan_next("run_function", Plan::new().work(Duration::from_secs(3)));
    let mut c = session(&s);
    c.request(
        "run_function",
        json!({"function_name": "F", "grad_enabled": false, "args": [], "kwargs": {}}),
    );
    let _first_heartbeat = c.frame();
    s.inject(Fault::Drop).unwrap();
    let mut got = c.recv(WAIT);
    while matches!(got, Got::Frame(ref f) if f["method"] == "heartbeat") {
        got = c.recv(WAIT);
    }
    assert_eq!(got, Got::Dropped);
}

#[test]
fn drop_on_next_request_leaves_that_request_pending() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::DropOnNextRequest).unwrap();
    var(&mut c);
    assert_eq!(c.recv(WAIT), Got::Dropped);
    assert_eq!(s.stats().requests, 0);
}

#[test]
fn close_sends_the_given_code_now_or_on_the_next_request() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::Close(1000)).unwrap();
    assert_eq!(c.recv(WAIT), Got::Close(Some(1000)));
    let mut c = session(&s);
    s.inject(Fault::CloseOnNextRequest(1011)).unwrap();
    var(&mut c);
    assert_eq!(c.recv(WAIT), Got::Close(Some(1011)));
}

#[test]
fn oversize_sends_a_valid_frame_of_the_exact_size() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::Oversize(1024 * 1024 + 1)).unwrap();
    let f = c.frame();
    assert_eq!(f.to_string().len(), 1024 * 1024 + 1);
    assert_eq!(f["method"], "oversize");
}

#[test]
fn malformed_frames_are_sent_verbatim_and_error_replies_are_not_answered() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::InvalidJson).unwrap();
    assert_eq!(c.recv(WAIT), Got::Text("{not json".into()));
    // A correct client answers -32700 with id null; the server must not answer that.
    c.send(&json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error", "data": {"error": "x"}}}));
    assert_eq!(c.recv(SHORT), Got::Timeout);
    s.inject(Fault::JsonArray).unwrap();
    assert!(c.frame().is_array());
    s.inject(Fault::NullIdError).unwrap();
    assert_eq!(
        c.frame(),
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Invalid Request"}})
    );
    s.inject(Fault::UnknownMethodNotification).unwrap();
    let n = c.frame();
    assert_eq!(
        (n["method"].clone(), n.get("id")),
        (json!("no_such_method"), None)
    );
}

#[test]
fn request_faults_return_and_record_the_clients_reply() {
    let s = server();
    let mut c = session(&s);
    let (req, got) = answered(
        &s,
        &mut c,
        Fault::MissingParamRequest,
        json!({"code": -32602, "message": "Missing key: 'name'", "data": {"missing_key": "name"}}),
    );
    assert_eq!(req["method"], "create_node");
    assert!(req["params"].get("name").is_none());
    assert_eq!(got.and_then(|r| r.error().map(|e| e.code)), Some(-32602));

    let (req, got) = answered(
        &s,
        &mut c,
        Fault::UnknownMethodRequest,
        json!({"code": -32601, "message": "Method 'no_such_method' not found.", "data": {"method": "no_such_method"}}),
    );
    assert_eq!(req["method"], "no_such_method");
    assert_eq!(got.and_then(|r| r.error().map(|e| e.code)), Some(-32601));

    let (req, got) = answered(
        &s,
        &mut c,
        Fault::WrongVersionRequest,
        json!({"code": -32600, "message": "Invalid JSON-RPC version. Expected '2.0'."}),
    );
    assert_eq!(req["jsonrpc"], "1.0");
    assert_eq!(got.and_then(|r| r.error().map(|e| e.code)), Some(-32600));
    assert_eq!(s.client_calls().len(), 3);
}

#[test]
fn delay_next_response_makes_it_late() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::DelayNextResponse(SHORT)).unwrap();
    let start = Instant::now();
    var(&mut c);
    let f = c.frame();
    assert!(start.elapsed() >= SHORT);
    assert_eq!(f["result"]["message"], "Variable created successfully.");
}

#[test]
fn never_answer_next_skips_one_request_only() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::NeverAnswerNext).unwrap();
    var(&mut c);
    assert_eq!(c.recv(SHORT), Got::Timeout);
    let id = var(&mut c);
    assert_eq!(c.frame()["id"], json!(id));
}

#[test]
fn duplicate_and_replayed_responses_repeat_the_same_frame() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::DuplicateNextResponse).unwrap();
    var(&mut c);
    let first = c.frame();
    assert_eq!(c.frame(), first);
    s.inject(Fault::ReplayLastResponse).unwrap();
    assert_eq!(c.frame(), first, "a late copy of the last response");
}

#[test]
fn wrong_version_and_empty_responses() {
    let s = server();
    let mut c = session(&s);
    s.inject(Fault::WrongVersionNextResponse).unwrap();
    let id = var(&mut c);
    let f = c.frame();
    assert_eq!(
        (f["jsonrpc"].clone(), f["id"].clone()),
        (json!("1.0"), json!(id))
    );
    assert!(f["result"]["variable_id"].is_string());
    s.inject(Fault::EmptyNextResponse).unwrap();
    let id = var(&mut c);
    assert_eq!(c.frame(), json!({"jsonrpc": "2.0", "id": id}));
}
