//! The Tellurio JSON-RPC session, scenario by scenario. Each test states the requirement of the
//! protocol document (§9) it checks, and what the original client did instead.

mod common;

use std::time::Duration;

use common::vector;
use serde_json::{Value, json};
use tcm_proto::jsonrpc::{
    Call, CallError, CallId, RpcConfig, RpcDisconnect, RpcEvent, RpcSession, ServerMethod,
};
use tcm_proto::{DialFailure, Secret, Transmit};

struct Peer {
    s: RpcSession,
    now: std::time::Instant,
    sent: Vec<Value>,
    closes: Vec<u16>,
    events: Vec<RpcEvent>,
    connects: usize,
}

fn config(timeout_ms: u64) -> RpcConfig {
    let mut c = RpcConfig::new("test-key");
    c.run_uuid = Some("00000000-0000-4000-8000-000000000001".into());
    c.default_timeout = Duration::from_millis(timeout_ms);
    c.keepalive = None;
    c.seed = Some(5);
    c
}

impl Peer {
    /// Connected and past the session frame.
    fn ready(config: RpcConfig) -> Self {
        let mut p = Self::upgraded(config);
        p.server(r#"{"jsonrpc":"2.0","result":{"session_id":"s-1"}}"#);
        p.events.clear();
        p
    }

    /// Upgraded, session frame not yet read.
    fn upgraded(config: RpcConfig) -> Self {
        let mut p = Self {
            s: RpcSession::new(config),
            now: std::time::Instant::now(),
            sent: Vec::new(),
            closes: Vec::new(),
            events: Vec::new(),
            connects: 0,
        };
        p.drain();
        p.s.handle_connected(p.now);
        p.drain();
        p
    }

    fn drain(&mut self) {
        while let Some(t) = self.s.poll_transmit() {
            match t {
                Transmit::Text(s) => self.sent.push(serde_json::from_str(&s).expect("JSON")),
                Transmit::Close { code, .. } => self.closes.push(code),
                Transmit::Ping(_) | Transmit::Secret(_) => {}
            }
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
        if self.s.poll_dial().is_some() {
            self.connects += 1;
        }
    }

    fn server(&mut self, text: &str) {
        self.s.handle_text(self.now, text);
        self.drain();
    }

    fn server_value(&mut self, v: &Value) {
        self.server(&v.to_string());
    }

    fn at(&mut self, ms: u64, start: std::time::Instant) {
        self.now = start + Duration::from_millis(ms);
        self.s.handle_timeout(self.now);
        self.drain();
    }

    fn call(&mut self, call: Call) -> (CallId, String) {
        let id = self.s.call(self.now, call, None).expect("sent");
        self.drain();
        let wire = self.sent.last().expect("a frame")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        (id, wire)
    }

    fn outcome(&self, id: CallId) -> Result<Value, CallError> {
        let all: Vec<_> = self
            .events
            .iter()
            .filter_map(|e| match e {
                RpcEvent::Finished { id: i, outcome } if *i == id => Some(outcome.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(all.len(), 1, "finishes exactly once: {:?}", self.events);
        all.into_iter().next().expect("one")
    }

    fn finished(&self, id: CallId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, RpcEvent::Finished { id: i, .. } if *i == id))
    }
}

/// The server frames (`expect`) of a Tellurio vector after the session frame, in order.
fn server_frames(name: &str) -> Vec<Value> {
    vector(&format!("tellurio/{name}.json"))["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s.get("expect").cloned())
        .skip(1)
        .collect()
}

fn with_id(mut frame: Value, wire: &str) -> Value {
    fn walk(v: &mut Value, wire: &str) {
        match v {
            Value::String(s) if s.starts_with("<ref:") => *s = wire.to_owned(),
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, wire)),
            Value::Object(m) => m.values_mut().for_each(|x| walk(x, wire)),
            _ => {}
        }
    }
    walk(&mut frame, wire);
    frame
}

fn create_variable() -> Call {
    Call::create_variable(json!("x"), "r", false)
}

// ----- connection (§9 items 1-6) --------------------------------------------------------------

#[test]
fn the_session_frame_is_read_first_even_when_it_comes_late() {
    // Requirement 1. The original started its dispatcher first and lost it when the session
    // frame came 200 ms after the upgrade.
    let mut p = Peer::upgraded(config(30_000));
    assert_eq!(
        p.s.call(p.now, create_variable(), None),
        Err(CallError::NotConnected)
    );
    p.now += Duration::from_millis(200);
    p.server(r#"{"jsonrpc":"2.0","result":{"session_id":"b7c1"}}"#);
    assert_eq!(
        p.events,
        vec![RpcEvent::Connected {
            session_id: Some("b7c1".into())
        }]
    );
    let (id, wire) = p.call(create_variable());
    p.server(&format!(
        r#"{{"jsonrpc":"2.0","id":"{wire}","result":{{"variable_id":"v"}}}}"#
    ));
    assert_eq!(p.outcome(id), Ok(json!({"variable_id": "v"})));
}

#[test]
fn a_missing_session_frame_times_out_instead_of_hanging() {
    // Requirement 1: the original read the session frame with no timeout.
    let mut p = Peer::upgraded(config(30_000));
    let start = p.now;
    p.at(10_000, start);
    assert!(p.events.iter().any(|e| matches!(
        e,
        RpcEvent::Disconnected {
            error: RpcDisconnect::SessionTimeout,
            reconnect_at: Some(_)
        }
    )));
}

#[test]
fn a_session_frame_without_result_connects_with_no_session_id() {
    let mut p = Peer::upgraded(config(30_000));
    p.server(r#"{"jsonrpc":"2.0"}"#);
    assert_eq!(p.events, vec![RpcEvent::Connected { session_id: None }]);
}

#[test]
fn reconnect_keeps_the_key_and_reports_the_new_session() {
    // Requirement 2: the original reconnected with `Api-Key None`.
    let mut p = Peer::ready(config(30_000));
    p.s.handle_closed(p.now, None, "");
    p.drain();
    let Some(RpcEvent::Disconnected {
        reconnect_at: Some(at),
        ..
    }) = p.events.last().cloned()
    else {
        panic!("{:?}", p.events)
    };
    p.now = at;
    p.s.handle_timeout(at);
    p.drain();
    assert_eq!(p.connects, 2, "asked to dial again");
    let headers = p.s.handshake_headers();
    assert_eq!(headers[0].0, "Authorization");
    assert_eq!(headers[0].1.expose(), "Api-Key test-key");
    assert!(
        !format!("{headers:?}").contains("test-key"),
        "the key never shows in Debug"
    );
    p.s.handle_connected(p.now);
    p.server(r#"{"jsonrpc":"2.0","result":{"session_id":"s-2"}}"#);
    assert!(p.events.contains(&RpcEvent::Reconnected {
        session_id: Some("s-2".into())
    }));
}

#[test]
fn a_normal_close_fails_pending_calls_at_once() {
    // Requirements 3 and 4 (vector disconnect-fails-pending): the original left them to time out.
    let mut p = Peer::ready(config(30_000));
    let (id, _) = p.call(create_variable());
    p.s.handle_closed(p.now, Some(1000), "");
    p.drain();
    assert_eq!(
        p.outcome(id),
        Err(CallError::Disconnected(RpcDisconnect::Closed {
            code: Some(1000),
            reason: String::new()
        }))
    );
    assert_eq!(
        p.s.call(p.now, create_variable(), None),
        Err(CallError::NotConnected)
    );
}

#[test]
fn a_refused_key_is_a_typed_final_error_without_retry() {
    // Vector connect-bad-key-rejected: the original retried three times, then raised a RuntimeError.
    let mut p = Peer {
        s: RpcSession::new(config(30_000)),
        now: std::time::Instant::now(),
        sent: vec![],
        closes: vec![],
        events: vec![],
        connects: 0,
    };
    p.drain();
    p.s.handle_connect_failed(p.now, DialFailure::Refused { status: 403 });
    p.drain();
    assert_eq!(
        p.events,
        vec![RpcEvent::Disconnected {
            error: RpcDisconnect::Rejected { status: 403 },
            reconnect_at: None
        }]
    );
    assert!(p.s.is_closed());
}

#[test]
fn close_is_idempotent_and_cancels_pending_calls() {
    // Requirement 6.
    let mut p = Peer::ready(config(30_000));
    let (id, _) = p.call(create_variable());
    p.s.close(p.now);
    p.s.close(p.now);
    p.drain();
    assert_eq!(p.outcome(id), Err(CallError::Cancelled));
    assert_eq!(p.closes, vec![1000]);
}

// ----- requests (§9 items 7-11) ---------------------------------------------------------------

#[test]
fn a_reply_arriving_before_the_frame_is_flushed_is_not_lost() {
    // Requirement 7: the call is registered before it is sent.
    let mut p = Peer::ready(config(30_000));
    let id = p.s.call(p.now, create_variable(), None).unwrap();
    let Some(Transmit::Text(t)) = p.s.poll_transmit() else {
        panic!()
    };
    let wire = serde_json::from_str::<Value>(&t).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    p.s.handle_text(
        p.now,
        &format!(r#"{{"jsonrpc":"2.0","id":"{wire}","result":1}}"#),
    );
    p.drain();
    assert_eq!(p.outcome(id), Ok(json!(1)));
}

#[test]
fn heartbeats_slide_the_deadline_of_a_long_running_call() {
    // Requirement 8, vector long-running-heartbeat-extends: T = 1 s, heartbeats every 300 ms,
    // the answer at 2.5 s succeeds.
    let mut p = Peer::ready(config(1_000));
    let start = p.now;
    let (id, wire) = p.call(Call::run_function("Add", true, json!([]), json!({})));
    let frames = server_frames("long-running-heartbeat-extends");
    let mut t = 0;
    for f in frames {
        if f["method"] == "heartbeat" {
            t += 300;
            p.at(t, start);
        }
        p.server_value(&with_id(f, &wire));
    }
    assert!(matches!(p.outcome(id), Ok(v) if v["data"]["variable_id"] == "v-out"));
    assert!(p.events.iter().any(|e| matches!(
        e,
        RpcEvent::Request {
            method: ServerMethod::CreateNode(_),
            ..
        }
    )));
}

#[test]
fn a_long_running_call_times_out_one_period_after_the_last_heartbeat() {
    // Vector long-running-heartbeat-stops-timeout: heartbeats stop at 1.5 s, T = 1 s. The
    // sliding deadline fires at 2.5 s; the original waited until 3.0 s.
    let mut p = Peer::ready(config(1_000));
    let start = p.now;
    let (id, wire) = p.call(Call::run_backward(
        json!(null),
        json!(null),
        false,
        false,
        json!(null),
    ));
    for k in 1..=5 {
        p.at(300 * k, start);
        p.server(&format!(
            r#"{{"jsonrpc":"2.0","method":"heartbeat","params":{{"id":"{wire}"}}}}"#
        ));
    }
    p.at(2_499, start);
    assert!(!p.finished(id));
    p.at(2_500, start);
    assert_eq!(p.outcome(id), Err(CallError::Timeout));
}

#[test]
fn heartbeats_do_not_extend_a_short_call_and_get_no_reply() {
    // Vector short-call-ignores-heartbeat.
    let mut p = Peer::ready(config(1_000));
    let start = p.now;
    let (id, wire) = p.call(create_variable());
    let sent = p.sent.len();
    for ms in [500, 900] {
        p.at(ms, start);
        p.server(&format!(
            r#"{{"jsonrpc":"2.0","method":"heartbeat","params":{{"id":"{wire}"}}}}"#
        ));
    }
    p.at(1_000, start);
    assert_eq!(p.outcome(id), Err(CallError::Timeout));
    assert_eq!(p.sent.len(), sent, "nothing answers a heartbeat");
}

#[test]
fn a_late_response_after_timeout_is_dropped_silently() {
    // Vector late-response-after-timeout.
    let mut p = Peer::ready(config(1_000));
    let start = p.now;
    let (id, wire) = p.call(create_variable());
    p.at(1_000, start);
    assert_eq!(p.outcome(id), Err(CallError::Timeout));
    let sent = p.sent.len();
    p.at(1_500, start);
    p.server(&format!(
        r#"{{"jsonrpc":"2.0","id":"{wire}","result":{{"variable_id":"var-late"}}}}"#
    ));
    assert_eq!(p.sent.len(), sent);
    assert!(matches!(p.events.last(), Some(RpcEvent::Stray(_))));
}

#[test]
fn errors_are_typed_and_expose_data_exception_without_requiring_data() {
    // Requirement 9.
    let mut p = Peer::ready(config(30_000));
    let (a, wa) = p.call(create_variable());
    let (b, wb) = p.call(create_variable());
    p.server(&format!(
        r#"{{"jsonrpc":"2.0","id":"{wa}","error":{{"code":-32603,"message":"Internal error","data":{{"exception":"boom"}}}}}}"#
    ));
    p.server(&format!(
        r#"{{"jsonrpc":"2.0","id":"{wb}","error":{{"code":-32000,"message":"no data"}}}}"#
    ));
    let Err(CallError::Rpc(e)) = p.outcome(a) else {
        panic!()
    };
    assert_eq!((e.code, e.exception()), (-32603, Some("boom")));
    let Err(CallError::Rpc(e)) = p.outcome(b) else {
        panic!()
    };
    assert_eq!(e.exception(), None);
}

#[test]
fn a_cancelled_call_finishes_once_and_its_late_response_is_stray() {
    let mut p = Peer::ready(config(30_000));
    let (id, wire) = p.call(create_variable());
    assert!(p.s.cancel(p.now, id));
    assert!(!p.s.cancel(p.now, id));
    p.drain();
    p.server(&format!(r#"{{"jsonrpc":"2.0","id":"{wire}","result":1}}"#));
    assert_eq!(p.outcome(id), Err(CallError::Cancelled));
    assert!(matches!(p.events.last(), Some(RpcEvent::Stray(_))));
    assert_eq!(p.s.pending(), 0);
}

#[test]
fn a_zero_timeout_is_not_the_default() {
    let mut p = Peer::ready(config(30_000));
    assert_eq!(
        p.s.call(p.now, create_variable(), Some(Duration::ZERO)),
        Err(CallError::Timeout)
    );
}

#[test]
fn calls_carry_run_uuid_and_are_refused_without_an_active_run() {
    // Requirement 10.
    let mut p = Peer::ready(config(30_000));
    p.call(create_variable());
    let f = p.sent.last().unwrap();
    assert_eq!(
        f["params"]["run_uuid"],
        "00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(f["jsonrpc"], "2.0");
    p.s.set_run_uuid(None);
    assert_eq!(
        p.s.call(p.now, create_variable(), None),
        Err(CallError::NoActiveRun)
    );
}

#[test]
fn a_response_without_result_or_error_fails_the_call_and_is_not_answered() {
    // Vector response-without-result-or-error.
    let mut p = Peer::ready(config(30_000));
    let (id, wire) = p.call(create_variable());
    let sent = p.sent.len();
    p.server(&format!(r#"{{"jsonrpc":"2.0","id":"{wire}"}}"#));
    assert_eq!(p.outcome(id), Err(CallError::MalformedResponse));
    assert_eq!(p.sent.len(), sent);
}

// ----- incoming frames (§9 items 12-17) -------------------------------------------------------

#[test]
fn notifications_responses_and_null_id_errors_are_never_answered() {
    // Requirement 12, vectors server-notifications-no-reply and server-error-frame-no-reply.
    let mut p = Peer::ready(config(30_000));
    p.server(r#"{"jsonrpc":"2.0","method":"heartbeat","params":{"id":"not-a-pending-id"}}"#);
    p.server(r#"{"jsonrpc":"2.0","method":"no_such_method","params":{"x":1}}"#);
    p.server(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#);
    p.server(r#"{"jsonrpc":"2.0","id":0,"result":1}"#);
    p.server(r#"{"jsonrpc":"2.0","id":"","result":1}"#);
    assert!(p.sent.is_empty(), "{:?}", p.sent);
    p.server(r#"{"jsonrpc":"2.0","id":"srv-2","method":"create_node","params":{"node_id":"node-3","name":"Y"}}"#);
    assert!(p.s.respond(&json!("srv-2"), Ok(json!({"message": "Ok"}))));
    assert!(
        !p.s.respond(&json!("srv-2"), Ok(json!({"message": "Ok"}))),
        "answered once"
    );
    p.drain();
    assert_eq!(
        p.sent,
        vec![json!({"jsonrpc":"2.0","id":"srv-2","result":{"message":"Ok"}})]
    );
}

#[test]
fn a_parse_error_answers_null_and_the_session_keeps_working() {
    // Requirement 13, vector server-parse-error-reply: the original reused the previous id.
    let mut p = Peer::ready(config(30_000));
    p.server("{not json");
    assert_eq!(p.sent[0]["id"], Value::Null);
    assert_eq!(p.sent[0]["error"]["code"], -32700);
    assert_eq!(p.sent[0]["error"]["message"], "Parse error");
    assert!(p.sent[0]["error"]["data"]["error"].is_string());
    p.server(r#"{"jsonrpc":"2.0","id":"srv-7","method":"create_node","params":{"node_id":"node-4","name":"Z"}}"#);
    assert!(p.s.respond(&json!("srv-7"), Ok(json!({"message": "Ok"}))));
}

#[test]
fn a_response_with_a_wrong_version_still_settles_its_call() {
    // Requirement 14: the original answered -32600 and left the call hanging.
    let mut p = Peer::ready(config(30_000));
    let (id, wire) = p.call(create_variable());
    p.server(&format!(r#"{{"jsonrpc":"1.0","id":"{wire}","result":7}}"#));
    assert_eq!(p.outcome(id), Ok(json!(7)));
}

#[test]
fn unknown_methods_wrong_versions_and_missing_params_get_the_exact_codes() {
    // Vectors server-request-unknown-method, server-request-invalid-version,
    // server-request-missing-param (requirement 17: said once).
    let mut p = Peer::ready(config(30_000));
    p.server(r#"{"jsonrpc":"2.0","id":"srv-5","method":"no_such_method","params":{"a":1}}"#);
    p.server(r#"{"jsonrpc":"1.0","id":"srv-v","method":"create_node","params":{"node_id":"node-2","name":"X"}}"#);
    p.server(
        r#"{"jsonrpc":"2.0","id":"srv-3","method":"create_node","params":{"node_id":"node-9"}}"#,
    );
    assert_eq!(
        p.sent,
        vec![
            json!({"jsonrpc":"2.0","id":"srv-5","error":{"code":-32601,"message":"Method 'no_such_method' not found.","data":{"method":"no_such_method"}}}),
            json!({"jsonrpc":"2.0","id":"srv-v","error":{"code":-32600,"message":"Invalid JSON-RPC version. Expected '2.0'."}}),
            json!({"jsonrpc":"2.0","id":"srv-3","error":{"code":-32602,"message":"Missing key: 'name'","data":{"missing_key":"name"}}}),
        ]
    );
}

#[test]
fn server_requests_arrive_typed_and_are_answered_in_order() {
    // Vector server-request-create-and-update-variable.
    let mut p = Peer::ready(config(30_000));
    for f in server_frames("server-request-create-and-update-variable") {
        p.server_value(&f);
    }
    let ids: Vec<Value> = p
        .events
        .iter()
        .filter_map(|e| match e {
            RpcEvent::Request { id, method } => {
                assert!(matches!(
                    method,
                    ServerMethod::CreateVariable(_) | ServerMethod::UpdateVariable(_)
                ));
                Some(id.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    for id in &ids {
        assert!(p.s.respond(id, Ok(json!({"message": "Ok"}))));
    }
    p.drain();
    let answered: Vec<Value> = p.sent.iter().map(|f| f["id"].clone()).collect();
    assert_eq!(answered, ids);
}

#[test]
fn a_respond_after_disconnect_sends_nothing() {
    let mut p = Peer::ready(config(30_000));
    p.server(r#"{"jsonrpc":"2.0","id":"srv-1","method":"create_node","params":{"node_id":"n","name":"N"}}"#);
    p.s.handle_closed(p.now, None, "");
    assert!(!p.s.respond(&json!("srv-1"), Ok(Value::Null)));
}

#[test]
fn the_api_key_never_appears_in_debug_output() {
    // Requirement 19.
    let c = RpcConfig::new("sk-very-secret");
    assert!(!format!("{c:?}").contains("very-secret"));
    let s = RpcSession::new(c);
    assert!(!format!("{s:?}").contains("very-secret"));
    assert!(!format!("{:?}", Secret::new("sk-very-secret")).contains("very-secret"));
}
