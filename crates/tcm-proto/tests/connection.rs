//! The `Connection` state machine, scenario by scenario: frames in, frames and events out.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tcm_proto::{
    Backoff, Config, ConnectionState, Dial, DisconnectError, ErrorCode, Event, InferenceRequest,
    InfoRequest, ManagementRequest, Notification, Protocol, ReconnectPolicy, Request, RequestError,
    Response, ShmReference, StreamFrame, TritonCode,
};

fn job_id(frame: &Value) -> String {
    frame["payload"]["job_id"]
        .as_str()
        .expect("job_id")
        .to_owned()
}

fn info_reply(job_id: &str) -> String {
    format!(
        r#"{{"type":"info_response","payload":{{"job_id":"{job_id}","request_type":"queue_stats","status":"success","data":{{"total_queued":0}}}}}}"#
    )
}

// ----- handshake ------------------------------------------------------------------------------

#[test]
fn auth_is_sent_first_with_the_configured_capabilities() {
    let mut c = config();
    c.capabilities = vec!["json".into(), "shm".into()];
    let mut h = Harness::dialled(c);
    let frames = h.take_frames();
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["type"], "auth");
    assert_eq!(frames[0]["payload"], json!({"capability": ["json", "shm"]}));
    assert_eq!(frames[0]["uuid"], h.conn.uuid());
    assert_eq!(h.conn.state(), ConnectionState::Authenticating);
}

#[test]
fn requests_made_before_auth_ok_wait_for_it() {
    let mut h = Harness::dialled(config());
    h.take_frames();
    let id = h.request(queue_stats());
    assert!(h.take_frames().is_empty(), "nothing is sent before auth.ok");
    h.server(r#"{"type":"auth.ok"}"#);
    let frames = h.take_frames();
    assert_eq!(frames.len(), 1);
    h.server(&info_reply(&job_id(&frames[0])));
    assert!(h.outcome(id).is_ok());
}

#[test]
fn legacy_auth_ok_negotiates_json_only() {
    // auth-legacy-empty-payload: {"type":"auth.ok"} without payload.
    let frames = expected_frames("auth-legacy-empty-payload");
    let mut h = Harness::dialled(config());
    h.server_value(&frames[0]);
    match &h.events[0] {
        Event::Authenticated { capabilities, .. } => assert_eq!(capabilities.as_slice(), ["json"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_ok_with_a_capability_list_negotiates_that_list() {
    let frames = expected_frames("auth-capability-json-shm");
    let mut h = Harness::dialled(config());
    h.server_value(&frames[0]);
    let caps = h.conn.capabilities().expect("negotiated");
    assert!(caps.shm());
    assert!(caps.contains("json"));
}

#[test]
fn auth_failure_is_a_typed_final_error_with_the_server_text() {
    // auth-strict-missing-token: error frame, then close 1008.
    let mut h = Harness::dialled(config());
    let id = h.request(queue_stats());
    h.server(
        r#"{"type":"error","payload":{"message":"Invalid token: Missing token in auth payload"}}"#,
    );
    h.closed(Some(1008));
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Disconnected(DisconnectError::AuthFailed {
            message: "Invalid token: Missing token in auth payload".into()
        }))
    );
    assert_eq!(h.conn.state(), ConnectionState::Closed);
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            reconnect_at: None,
            error: DisconnectError::AuthFailed { .. }
        }
    )));
    assert!(matches!(
        h.conn.request(h.now, queue_stats(), None),
        Err(RequestError::Closed)
    ));
}

#[test]
fn no_auth_ok_in_time_fails_the_connection() {
    let mut h = Harness::dialled(config());
    let id = h.request(queue_stats());
    h.advance(Duration::from_secs(10));
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Disconnected(DisconnectError::AuthTimeout))
    );
    assert!(h.out.contains(&Out::Close(1000)));
    assert_eq!(h.conn.state(), ConnectionState::Reconnecting);
}

// ----- info -----------------------------------------------------------------------------------

#[test]
fn info_replies_are_matched_by_job_id_in_any_order() {
    let mut h = Harness::open(config());
    let a = h.request(queue_stats());
    let b = h.request(Request::Info(InfoRequest {
        action: "models".into(),
    }));
    let frames = h.take_frames();
    assert_eq!(frames.len(), 2, "info requests are pipelined");
    let (ja, jb) = (job_id(&frames[0]), job_id(&frames[1]));
    assert_ne!(ja, jb);
    h.server(&format!(
        r#"{{"type":"info_response","payload":{{"job_id":"{jb}","request_type":"models","status":"success","data":{{"message":"Info type 'models' not implemented yet"}}}}}}"#
    ));
    h.server(&info_reply(&ja));
    match h.outcome(a) {
        Ok(Response::Info { data, .. }) => {
            assert!(tcm_proto::QueueStats::from_data(&data).is_some())
        }
        other => panic!("{other:?}"),
    }
    match h.outcome(b) {
        Ok(Response::Info { request_type, .. }) => {
            assert_eq!(request_type.as_deref(), Some("models"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn info_error_variant_is_a_typed_failure() {
    let mut h = Harness::open(config());
    let id = h.request(queue_stats());
    let j = job_id(&h.take_frames()[0]);
    h.server(&format!(
        r#"{{"type":"info_response","payload":{{"job_id":"{j}","request_type":"queue_stats","status":"error","error":"boom","data":{{"error":"boom"}}}}}}"#
    ));
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Info {
            message: "boom".into()
        })
    );
}

#[test]
fn an_info_reply_with_a_foreign_job_id_is_a_notification() {
    let mut h = Harness::open(config());
    let id = h.request(queue_stats());
    h.server(&info_reply("J-1"));
    assert!(!h.is_finished(id));
    assert!(matches!(
        h.events[0],
        Event::Notification(Notification::Unmatched(_))
    ));
}

// ----- management -----------------------------------------------------------------------------

fn management(action: &str) -> Request {
    Request::Management(ManagementRequest {
        action: action.into(),
        payload: Default::default(),
    })
}

#[test]
fn management_reply_is_matched_by_the_echoed_request_id() {
    let mut h = Harness::open(config());
    let id = h.request(management("bogus"));
    let frame = h.take_frames().remove(0);
    assert_eq!(frame["payload"]["action"], "bogus");
    let mut reply = frame.clone();
    reply["payload"] = json!({"status": false, "data": "Job action not found: 'bogus'"});
    reply["_correlation_id"] = json!("0c194f77ffc1a829");
    h.server_value(&reply);
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Management {
            message: "Job action not found: 'bogus'".into()
        })
    );
}

#[test]
fn management_requests_go_one_at_a_time() {
    let mut h = Harness::open(config());
    let a = h.request(management("create_vm"));
    let b = h.request(management("delete_vm"));
    let first = h.take_frames();
    assert_eq!(first.len(), 1);
    let mut reply = first[0].clone();
    reply["payload"] = json!({"status": true, "data": ["192.0.2.10", "vm-1"]});
    h.server_value(&reply);
    assert!(matches!(h.outcome(a), Ok(Response::Management { .. })));
    let second = h.take_frames();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["payload"]["action"], "delete_vm");
    assert!(!h.is_finished(b));
}

#[test]
fn forbidden_fails_the_management_request_in_flight_and_is_not_retried() {
    let mut h = Harness::open(config());
    let id = h.request(management("creation"));
    h.take_frames();
    h.server(r#"{"type":"error","payload":{"message":"Forbidden: missing 'management' role"}}"#);
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Rejected(
            "Forbidden: missing 'management' role".into()
        ))
    );
    assert!(h.take_frames().is_empty());
}

// ----- inference ------------------------------------------------------------------------------

#[test]
fn one_inference_in_flight_later_ones_queue_and_outputs_are_typed() {
    let mut h = Harness::open(config());
    let a = h.request(identity(vec![1.0]));
    let b = h.request(identity(vec![2.0, 3.0]));
    let sent = h.take_frames();
    assert_eq!(sent.len(), 1, "the second inference waits");
    assert_eq!(
        sent[0]["payload"]["request"]["inputs"][0]["data"],
        json!([1.0])
    );
    h.server(&completed(r#"{"OUTPUT0":[1.0]}"#));
    let sent = h.take_frames();
    assert_eq!(
        sent[0]["payload"]["request"]["inputs"][0]["data"],
        json!([2.0, 3.0])
    );
    h.server(&completed(r#"{"OUTPUT0":[2.0,3.0]}"#));
    let Ok(Response::Inference {
        outputs,
        model_name,
    }) = h.outcome(b)
    else {
        panic!()
    };
    assert_eq!(model_name.as_deref(), Some("identity"));
    let out = outputs.f32("OUTPUT0").expect("fp32 output");
    assert_eq!(out.values, vec![2.0, 3.0]);
    assert_eq!(out.shape, vec![2]);
    assert!(h.outcome(a).is_ok());
}

#[test]
fn string_failure_is_a_contract_error_and_never_retried() {
    // inference-fail-missing-vm-ip: FAILED with string data.
    let frames = expected_frames("inference-fail-missing-vm-ip");
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    h.take_frames();
    let failed = frames
        .iter()
        .find(|f| f["type"] == "inference")
        .expect("a FAILED frame");
    h.server_value(failed);
    assert!(matches!(h.outcome(id), Err(RequestError::Failed(t)) if t.contains("vm_ip")));
    assert!(h.take_frames().is_empty());
}

#[test]
fn retriable_typed_error_is_retried_with_backoff_then_succeeds() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    assert_eq!(h.take_frames().len(), 1);
    let retriable = r#"{"type":"inference","uuid":"$UUID","payload":{"data":{"code":"TRITON_NETWORK","message":"[TritonThread] TRITON_NETWORK: model='identity' retriable=True reason=[Errno 111] Connection refused","retriable":true},"status":"FAILED","model_name":"identity"}}"#;
    h.server(retriable);
    assert!(!h.is_finished(id));
    assert!(
        h.take_frames().is_empty(),
        "the retry waits for its backoff"
    );
    h.fire_next_timer();
    assert_eq!(h.take_frames().len(), 1, "sent again");
    h.server(retriable);
    h.fire_next_timer();
    assert_eq!(h.take_frames().len(), 1, "third attempt");
    h.server(&completed(r#"{"OUTPUT0":[1.0]}"#));
    assert!(h.outcome(id).is_ok());
}

#[test]
fn retriable_errors_stop_after_max_attempts_with_the_last_error() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    let retriable = r#"{"type":"inference","uuid":"$UUID","payload":{"data":{"code":"TRITON_TIMEOUT","message":"t","retriable":true},"status":"FAILED","model_name":"identity"}}"#;
    for _ in 0..2 {
        h.server(retriable);
        h.fire_next_timer();
    }
    h.server(retriable);
    match h.outcome(id) {
        Err(RequestError::Triton(e)) => assert_eq!(e.code, TritonCode::Timeout),
        other => panic!("{other:?}"),
    }
}

#[test]
fn fatal_typed_error_is_not_retried() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    h.take_frames();
    h.server(r#"{"type":"inference","uuid":"$UUID","payload":{"data":{"code":"TRITON_MODEL_MISSING","message":"m","retriable":false},"status":"FAILED","model_name":"no_such_model"}}"#);
    assert!(matches!(h.outcome(id), Err(RequestError::Triton(e)) if !e.retriable));
    assert!(h.take_frames().is_empty());
}

#[test]
fn circuit_open_waits_at_least_retry_after_seconds() {
    let mut c = config();
    c.keepalive = None;
    let mut h = Harness::open(c);
    let id = h
        .conn
        .request(h.now, identity(vec![1.0]), Some(Duration::from_secs(120)))
        .unwrap();
    h.drain();
    h.take_frames();
    h.server(r#"{"type":"inference","uuid":"$UUID","payload":{"data":{"code":"TRITON_CIRCUIT_OPEN","message":"c","retriable":true,"retry_after_seconds":30},"status":"FAILED","model_name":"m"}}"#);
    h.advance(Duration::from_millis(29_999));
    assert!(h.take_frames().is_empty(), "no retry before 30 s");
    h.advance(Duration::from_millis(1));
    assert_eq!(h.take_frames().len(), 1, "retried at 30 s");
    assert!(!h.is_finished(id));
}

#[test]
fn a_retry_that_would_outlive_the_deadline_fails_now() {
    let mut h = Harness::open(config());
    let id = h
        .conn
        .request(h.now, identity(vec![1.0]), Some(Duration::from_secs(5)))
        .unwrap();
    h.drain();
    h.server(r#"{"type":"inference","uuid":"$UUID","payload":{"data":{"code":"TRITON_CIRCUIT_OPEN","message":"c","retriable":true,"retry_after_seconds":30},"status":"FAILED","model_name":"m"}}"#);
    assert!(matches!(h.outcome(id), Err(RequestError::Triton(_))));
}

#[test]
fn queue_full_drop_fails_the_inference_in_flight_and_is_retried() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    h.take_frames();
    h.server(r#"{"type":"error","payload":{"code":"BACKPRESSURE_QUEUE_FULL","message":"Request dropped due to backpressure (per-user queue full).","dropped_type":"inference"}}"#);
    assert!(!h.is_finished(id));
    h.fire_next_timer();
    assert_eq!(h.take_frames().len(), 1);
    h.server(&completed(r#"{"OUTPUT0":[1.0]}"#));
    assert!(h.outcome(id).is_ok());
}

#[test]
fn grpc_stream_frames_reach_their_request_then_it_completes() {
    // grpc-stream-three-chunks.
    let frames = expected_frames("grpc-stream-three-chunks");
    let mut h = Harness::open(config());
    let mut req = identity(vec![3.0]);
    if let Request::Inference(r) = &mut req {
        r.protocol = Protocol::Grpc;
        r.model_name = Some("stream".into());
    }
    let id = h.request(req);
    assert_eq!(h.take_frames()[0]["payload"]["request"]["protocol"], "grpc");
    for f in frames.iter().filter(|f| f["type"] == "inference") {
        h.server_value(f);
    }
    let chunks: Vec<StreamFrame> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Stream { id: i, frame } if *i == id => Some(frame.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        chunks,
        vec![
            StreamFrame::Start,
            StreamFrame::Chunk("tok0 ".into()),
            StreamFrame::Chunk("tok1 ".into()),
            StreamFrame::Chunk("tok2 ".into()),
        ]
    );
    assert!(matches!(
        h.outcome(id),
        Ok(Response::Inference { model_name: Some(m), .. }) if m == "stream"
    ));
}

#[test]
fn alerts_and_budget_advisories_between_request_and_reply_are_notifications() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    h.server(r#"{"type":"alert","error_type":"TritonServerStateChanged","message":"m","timestamp":1.7e9}"#);
    h.server(r#"{"type":"error","payload":{"code":"BACKPRESSURE_INSUFFICIENT_BUDGET","message":"Request delayed due to tenant budget (DRR cost-aware fairness).","job_type":"inference","tenant_id":"unknown"}}"#);
    assert!(!h.is_finished(id));
    assert!(matches!(
        h.events[0],
        Event::Notification(Notification::Alert(_))
    ));
    assert!(matches!(
        h.events[1],
        Event::Notification(Notification::BudgetAdvisory(_))
    ));
    h.server(&completed(r#"{"OUTPUT0":[1.0]}"#));
    assert!(h.outcome(id).is_ok());
}

#[test]
fn a_late_reply_to_a_timed_out_inference_never_reaches_the_next_one() {
    let mut h = Harness::open(config());
    let a = h
        .conn
        .request(h.now, identity(vec![1.0]), Some(Duration::from_secs(1)))
        .unwrap();
    let b = h.request(identity(vec![2.0]));
    assert_eq!(h.take_frames().len(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.outcome(a), Err(RequestError::Timeout));
    assert!(
        h.take_frames().is_empty(),
        "b waits while a's reply may still come"
    );
    h.server(&completed(r#"{"OUTPUT0":[1.0]}"#));
    assert!(!h.is_finished(b), "a's late reply is not b's");
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, Event::Notification(Notification::Unmatched(_))))
    );
    assert_eq!(
        h.take_frames().len(),
        1,
        "the slot is free again: b goes out"
    );
    h.server(&completed(r#"{"OUTPUT0":[2.0]}"#));
    let Ok(Response::Inference { outputs, .. }) = h.outcome(b) else {
        panic!()
    };
    assert_eq!(outputs.f32("OUTPUT0").unwrap().values, vec![2.0]);
}

#[test]
fn an_abandoned_inference_slot_is_released_by_recycling_the_connection() {
    let mut h = Harness::open(config());
    let first_uuid = h.conn.uuid().to_owned();
    let a = h
        .conn
        .request(h.now, identity(vec![1.0]), Some(Duration::from_secs(1)))
        .unwrap();
    let b = h.request(identity(vec![2.0]));
    h.take_frames();
    h.advance(Duration::from_secs(1));
    assert_eq!(h.outcome(a), Err(RequestError::Timeout));
    h.advance(h.conn.config().orphan_grace);
    assert!(h.out.contains(&Out::Close(1000)));
    assert!(matches!(h.dials.last(), Some(Dial::Connect { .. })));
    assert!(
        !h.is_finished(b),
        "b was never sent; it waits for the new connection"
    );
    h.connected();
    assert_ne!(
        h.conn.uuid(),
        first_uuid,
        "the new connection has a new uuid"
    );
    h.server(r#"{"type":"auth.ok"}"#);
    let frames = h.take_frames();
    assert_eq!(
        frames.iter().filter(|f| f["type"] == "inference").count(),
        1
    );
    h.server(&completed(r#"{"OUTPUT0":[2.0]}"#));
    assert!(h.outcome(b).is_ok());
}

#[test]
fn cancel_finishes_once_and_the_late_reply_is_a_notification() {
    let mut h = Harness::open(config());
    let id = h.request(queue_stats());
    let j = job_id(&h.take_frames()[0]);
    assert!(h.conn.cancel(h.now, id));
    assert!(!h.conn.cancel(h.now, id));
    h.drain();
    h.server(&info_reply(&j));
    assert_eq!(h.outcome(id), Err(RequestError::Cancelled));
}

// ----- local checks ---------------------------------------------------------------------------

#[test]
fn shm_input_without_requesting_shm_is_refused_before_sending() {
    let mut h = Harness::open(config());
    let req = Request::from({
        let mut r = InferenceRequest::for_container("c", "").with_inputs(vec![
            ShmReference {
                name: "INPUT0".into(),
                shm_key: "/k".into(),
                offset: 0,
                byte_size: 4,
                shape: vec![1],
                dtype: "FP32".into(),
            }
            .into(),
        ]);
        r.model_name = None;
        r
    });
    assert_eq!(
        h.conn.request(h.now, req, None),
        Err(RequestError::CapabilityMissing("shm".into()))
    );
    assert!(h.take_frames().is_empty());
}

#[test]
fn shm_input_fails_when_the_server_did_not_grant_shm() {
    let mut c = config();
    c.capabilities = vec!["json".into(), "shm".into()];
    let mut h = Harness::dialled(c);
    let req = Request::from({
        let mut r = InferenceRequest::for_container("c", "")
            .with_inputs(vec![tcm_proto::TensorInput::Raw(json!({
                "name": "INPUT0", "shm_key": "/k", "offset": 0, "byte_size": 4, "shape": [1], "dtype": "FP32"
            }))]);
        r.model_name = None;
        r
    });
    let id = h.request(req);
    h.take_frames();
    h.server(r#"{"type":"auth.ok"}"#); // legacy: json only
    assert_eq!(
        h.outcome(id),
        Err(RequestError::CapabilityMissing("shm".into()))
    );
    assert!(h.take_frames().is_empty());
}

#[test]
fn an_oversize_request_is_refused_locally() {
    let mut h = Harness::open(config());
    let big = identity(vec![0.5; 20_000]);
    assert!(matches!(
        h.conn.request(h.now, big, None),
        Err(RequestError::TooLarge { limit: 65_536, .. })
    ));
    assert!(h.take_frames().is_empty());
    assert_eq!(
        h.conn.state(),
        ConnectionState::Open,
        "the connection is unaffected"
    );
}

#[test]
fn a_full_local_queue_is_a_typed_error() {
    let mut c = config();
    c.max_queued = 2;
    let mut h = Harness::open(c);
    h.request(identity(vec![1.0])); // in flight
    h.request(identity(vec![2.0]));
    h.request(identity(vec![3.0]));
    assert_eq!(
        h.conn.request(h.now, identity(vec![4.0]), None),
        Err(RequestError::QueueFull { limit: 2 })
    );
}

// ----- disconnects, shutdown, keepalive -------------------------------------------------------

#[test]
fn a_drop_fails_every_pending_and_queued_request_at_once() {
    let mut h = Harness::open(config());
    let ids = [
        h.request(queue_stats()),
        h.request(identity(vec![1.0])),
        h.request(identity(vec![2.0])),
        h.request(management("creation")),
    ];
    h.server(r#"{"type":"error","payload":{"message":"Message too large (>65536 bytes)"}}"#);
    h.closed(Some(1009));
    for id in ids {
        assert_eq!(
            h.outcome(id),
            Err(RequestError::Disconnected(DisconnectError::Closed {
                code: Some(1009),
                reason: String::new(),
                last_error: Some("Message too large (>65536 bytes)".into()),
            }))
        );
    }
    assert_eq!(h.conn.pending(), 0);
    assert_eq!(h.conn.state(), ConnectionState::Reconnecting);
}

#[test]
fn reconnect_dials_with_a_fresh_uuid_after_backoff() {
    let mut h = Harness::open(config());
    let first = h.conn.uuid().to_owned();
    assert!(first.starts_with("client-"));
    h.closed(None);
    assert!(h.dials.len() == 1, "only the initial dial so far");
    h.fire_next_timer();
    let Some(Dial::Connect { uuid, .. }) = h.dials.last().cloned() else {
        panic!()
    };
    assert_ne!(uuid, first);
    assert!(uuid.starts_with("client-"));
    h.connected();
    assert_eq!(h.take_frames()[0]["uuid"], uuid.as_str());
}

#[test]
fn exact_first_uuid_uses_the_configured_uuid_once() {
    let mut c = config();
    c.exact_first_uuid = true;
    let mut h = Harness::dialled(c);
    assert_eq!(h.take_frames()[0]["uuid"], "client");
    h.closed(None);
    h.fire_next_timer();
    h.connected();
    assert_ne!(h.take_frames()[0]["uuid"], "client");
}

#[test]
fn system_shutdown_fails_everything_and_resumes_only_once_ready() {
    // shutdown guard: SYSTEM_SHUTDOWN without dropped_type, then close 1012.
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    h.server(r#"{"type":"error","payload":{"code":"SYSTEM_SHUTDOWN","message":"Server is shutting down; request rejected."}}"#);
    assert!(matches!(
        h.outcome(id),
        Err(RequestError::Disconnected(DisconnectError::Shutdown { .. }))
    ));
    assert!(h.out.contains(&Out::Close(1000)));
    h.closed(Some(1012)); // ignored: already disconnected
    h.fire_next_timer();
    assert_eq!(h.dials.last(), Some(&Dial::ProbeReady));
    h.conn.handle_ready(h.now, false);
    h.drain();
    assert_eq!(
        h.conn.state(),
        ConnectionState::Reconnecting,
        "not ready: back off again"
    );
    h.fire_next_timer();
    assert_eq!(h.dials.last(), Some(&Dial::ProbeReady));
    h.conn.handle_ready(h.now, true);
    h.drain();
    assert!(matches!(h.dials.last(), Some(Dial::Connect { .. })));
}

#[test]
fn a_shutdown_drop_notice_fails_its_request_without_retry() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    h.take_frames();
    h.server(r#"{"type":"error","payload":{"code":"SYSTEM_SHUTDOWN","message":"Request dropped: system is shutting down.","dropped_type":"inference"}}"#);
    assert!(matches!(
        h.outcome(id),
        Err(RequestError::Dropped {
            code: ErrorCode::SystemShutdown,
            ..
        })
    ));
    assert!(h.take_frames().is_empty());
}

#[test]
fn reconnect_attempts_are_bounded_by_the_policy() {
    let mut c = config();
    c.reconnect = Some(ReconnectPolicy::at_most(2, Backoff::default()));
    let mut h = Harness::open(c);
    h.closed(None);
    for _ in 0..2 {
        h.fire_next_timer();
        h.conn.handle_connect_failed(h.now, "connection refused");
        h.drain();
    }
    assert_eq!(h.conn.state(), ConnectionState::Closed);
    let dials = h
        .dials
        .iter()
        .filter(|d| matches!(d, Dial::Connect { .. }))
        .count();
    assert_eq!(dials, 3, "the first dial and two reconnects");
}

#[test]
fn an_idle_link_is_pinged_and_a_silent_peer_is_declared_dead() {
    let mut h = Harness::open(config());
    let id = h.request(identity(vec![1.0]));
    let ka = h.conn.config().keepalive.expect("on by default");
    h.advance(ka.interval);
    assert!(h.out.contains(&Out::Ping));
    h.advance(ka.timeout);
    assert!(h.out.contains(&Out::Close(1001)));
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Disconnected(
            DisconnectError::KeepaliveTimeout
        ))
    );
}

#[test]
fn a_pong_keeps_the_link_alive() {
    let mut h = Harness::open(config());
    let ka = h.conn.config().keepalive.expect("on by default");
    h.advance(ka.interval);
    h.conn.handle_pong(h.now);
    h.advance(ka.timeout);
    assert_eq!(h.conn.state(), ConnectionState::Open);
}

#[test]
fn close_fails_pending_requests_and_is_final() {
    let mut h = Harness::open(config());
    let id = h.request(queue_stats());
    h.conn.close(h.now);
    h.conn.close(h.now);
    h.drain();
    assert_eq!(
        h.outcome(id),
        Err(RequestError::Disconnected(DisconnectError::Local))
    );
    assert_eq!(h.out.iter().filter(|o| **o == Out::Close(1000)).count(), 1);
    assert_eq!(h.conn.poll_timeout(), None);
}

#[test]
fn undecodable_frames_become_notifications() {
    let mut h = Harness::open(config());
    for junk in [
        "",
        "not json",
        "42",
        "[]",
        r#"{"no":"type"}"#,
        r#"{"type":7}"#,
    ] {
        h.server(junk);
    }
    assert_eq!(h.events.len(), 6);
    assert!(
        h.events
            .iter()
            .all(|e| matches!(e, Event::Notification(Notification::Undecodable(_))))
    );
}

#[test]
fn the_auth_token_never_appears_in_debug_output() {
    let auth = tcm_proto::AuthContext::with_token("s3cr3t-token");
    assert!(!format!("{auth:?}").contains("s3cr3t"));
    let conn = tcm_proto::Connection::new(Config::new("c"), auth);
    assert!(!format!("{conn:?}").contains("s3cr3t"));
}

#[test]
fn a_request_that_times_out_before_its_frame_was_taken_is_never_sent_and_holds_no_slot() {
    // The driver cannot write (the peer does not read), so it takes no frame from the queue.
    let mut h = Harness::open(config());
    let a = h
        .conn
        .request(h.now, identity(vec![1.0]), Some(Duration::from_secs(1)))
        .unwrap();
    h.now += Duration::from_secs(1);
    h.conn.handle_timeout(h.now);
    h.drain();
    assert_eq!(h.outcome(a), Err(RequestError::Timeout));
    assert!(
        h.take_frames().is_empty(),
        "the timed-out request's frame was withdrawn, never written"
    );
    let b = h.request(identity(vec![2.0]));
    assert_eq!(
        h.take_frames().len(),
        1,
        "the inference slot is free at once: b goes out without a recycle"
    );
    h.server(&completed(r#"{"OUTPUT0":[2.0]}"#));
    assert!(h.outcome(b).is_ok());
}

#[test]
fn a_disconnect_withdraws_every_request_frame_not_yet_written() {
    let mut h = Harness::open(config());
    let a = h
        .conn
        .request(h.now, queue_stats(), Some(Duration::from_secs(5)))
        .unwrap();
    h.conn.handle_closed(h.now, None, "reset");
    h.drain();
    assert!(matches!(h.outcome(a), Err(RequestError::Disconnected(_))));
    assert!(
        h.take_frames().is_empty(),
        "nothing of the old transport is written to the next one"
    );
}

#[test]
fn the_auth_frame_is_a_secret_hidden_from_debug_output() {
    let mut conn =
        tcm_proto::Connection::new(config(), tcm_proto::AuthContext::with_token("s3cr3t-token"));
    let _ = conn.poll_dial();
    conn.handle_connected(std::time::Instant::now());
    let Some(auth) = conn.poll_transmit() else {
        panic!("the auth frame goes out first")
    };
    let tcm_proto::Transmit::Secret(text) = &auth else {
        panic!("the auth frame is a Secret: {auth:?}")
    };
    assert!(text.expose().contains("s3cr3t-token"));
    assert!(!format!("{auth:?}").contains("s3cr3t-token"));
}

#[test]
fn an_error_frame_explains_only_a_close_that_follows_it_at_once() {
    let unrelated = r#"{"type":"error","payload":{"message":"Invalid message format"}}"#;
    let closed = |last_error: Option<&str>| {
        Err(RequestError::Disconnected(DisconnectError::Closed {
            code: Some(1011),
            reason: String::new(),
            last_error: last_error.map(str::to_owned),
        }))
    };
    // An error long before the close: it explains nothing.
    let mut h = Harness::open(config());
    h.server(unrelated);
    h.now += Duration::from_secs(30);
    let id = h.request(queue_stats());
    h.closed(Some(1011));
    assert_eq!(h.outcome(id), closed(None));
    // An error, then another frame, then the close: it explains nothing either.
    let mut h = Harness::open(config());
    let id = h.request(queue_stats());
    h.server(unrelated);
    h.server(r#"{"type":"alert","error_type":"x","message":"y","timestamp":1.0}"#);
    h.closed(Some(1011));
    assert_eq!(h.outcome(id), closed(None));
    // An error right before the close explains it.
    let mut h = Harness::open(config());
    let id = h.request(queue_stats());
    h.server(unrelated);
    h.closed(Some(1011));
    assert_eq!(h.outcome(id), closed(Some("Invalid message format")));
}
