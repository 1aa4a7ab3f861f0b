//! The scenario matrix: every scenario is written once against [`Adapter`] and instantiated
//! for each client by `tests/matrix.rs`.

#![allow(dead_code)]

pub mod adapter;
pub mod hostile;
pub mod service;
pub mod tls;

use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tcm_proto::{
    AuthContext, Backoff, Config, ConnectionState, DisconnectError, InferenceRequest,
    KeepaliveConfig, Notification, Outputs, PipelineStep, ReconnectPolicy, RequestError,
    RetryPolicy, Tensor, TensorData, TritonCode,
};
use tcm_testserver::{TestServer, TestServerHandle};

#[allow(unused_imports)]
pub use adapter::{Adapter, AsyncStd, Blocking, CallFailure, ConnectFailure, Opts, Smol, Tokio};

/// A client configuration with short timeouts and backoffs, so failures resolve quickly.
pub fn client_config(uuid: &str) -> Config {
    let mut c = Config::new(uuid);
    c.auth_timeout = Duration::from_secs(5);
    c.timeouts.info = Duration::from_secs(5);
    c.timeouts.inference = Duration::from_secs(10);
    c.timeouts.stream = Duration::from_secs(10);
    c.timeouts.management = Duration::from_secs(10);
    c.retry = RetryPolicy {
        max_attempts: 3,
        backoff: Backoff {
            initial: Duration::from_millis(10),
            cap: Duration::from_millis(50),
        },
    };
    c.reconnect = Some(ReconnectPolicy::at_most(
        100,
        Backoff {
            initial: Duration::from_millis(20),
            cap: Duration::from_millis(200),
        },
    ));
    c
}

/// A test server with a registered Triton at 127.0.0.1 / `c1` (for pipelines).
pub fn server_with(f: impl FnOnce(&mut tcm_testserver::Config)) -> TestServerHandle {
    let mut config = tcm_testserver::Config {
        registered_servers: vec![("127.0.0.1".to_owned(), "c1".to_owned())],
        ..tcm_testserver::Config::default()
    };
    f(&mut config);
    TestServer::start(config).expect("test server starts")
}

pub fn server() -> TestServerHandle {
    server_with(|_| {})
}

fn fp32(name: &str, v: Vec<f32>) -> tcm_proto::TensorInput {
    Tensor::vector(name, TensorData::Fp32(v)).into()
}

/// An HTTP inference of `model` on the loopback Triton.
pub fn inference(model: &str, inputs: Vec<tcm_proto::TensorInput>) -> InferenceRequest {
    InferenceRequest::new("127.0.0.1".to_owned(), "c1".to_owned(), model.to_owned())
        .with_inputs(inputs)
        .with_allow_transient(true)
}

pub fn identity(v: Vec<f32>) -> InferenceRequest {
    inference("identity", vec![fp32("INPUT0", v)])
}

pub fn add(a: Vec<f32>, b: Vec<f32>) -> InferenceRequest {
    inference("add", vec![fp32("INPUT0", a), fp32("INPUT1", b)])
}

pub fn output0(outputs: &Outputs) -> Vec<f32> {
    outputs.f32("OUTPUT0").expect("OUTPUT0 is FP32").values
}

fn connect<A: Adapter>(url: &str, uuid: &str) -> A::Client {
    A::connect(
        url,
        AuthContext::anonymous(),
        client_config(&format!("{}-{uuid}", A::NAME)),
        &Opts::default(),
    )
    .expect("connects")
}

fn is_disconnect(r: &Result<Outputs, CallFailure>) -> bool {
    matches!(r, Err(CallFailure::Request(RequestError::Disconnected(_))))
}

/// Polls `f` until it returns true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

// ----- scenarios -----------------------------------------------------------------------------

/// Every call kind works and returns correct, typed results.
pub fn happy_paths<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "happy");
    let caps = A::capabilities(&client).expect("capabilities after auth");
    assert!(caps.contains("json"), "negotiated {:?}", caps.as_slice());
    assert_eq!(A::state(&client), ConnectionState::Open);

    A::queue_stats(&client).expect("queue_stats");

    let out = A::infer(&client, identity(vec![1.0, 2.5, -3.0]), None).expect("identity");
    assert_eq!(output0(&out), vec![1.0, 2.5, -3.0]);
    let out = A::infer(&client, add(vec![1.0, 2.0], vec![10.0, 20.0]), None).expect("add");
    assert_eq!(output0(&out), vec![11.0, 22.0]);
    let out = A::infer(&client, identity(vec![4.0]), Some(Duration::from_secs(5)))
        .expect("identity with a per-call deadline");
    assert_eq!(output0(&out), vec![4.0]);

    let text = A::stream_text(
        &client,
        inference("stream", vec![fp32("INPUT0", vec![3.0])]),
    )
    .expect("stream");
    assert_eq!(text, "tok0 tok1 tok2 ");

    let steps = vec![
        PipelineStep {
            name: Some("first".to_owned()),
            model_name: "identity".to_owned(),
            inputs: vec![fp32("INPUT0", vec![7.0])],
            protocol: None,
        },
        PipelineStep {
            name: Some("second".to_owned()),
            model_name: "add".to_owned(),
            inputs: vec![fp32("INPUT0", vec![1.0]), fp32("INPUT1", vec![2.0])],
            protocol: None,
        },
    ];
    let target = InferenceRequest::target("127.0.0.1".to_owned(), "c1".to_owned());
    let out = A::pipeline(&client, target, steps).expect("pipeline");
    let first = out.get("first").expect("first step");
    assert_eq!(first["OUTPUT0"], serde_json::json!([7.0]));
    let second = out.get("second").expect("second step");
    assert_eq!(second["OUTPUT0"], serde_json::json!([3.0]));

    // The dev backend refuses every management action: a typed, unretried failure.
    let err = A::management(&client, "deletion", Map::new()).expect_err("management fails");
    assert!(
        matches!(err.request(), Some(RequestError::Management { message }) if message.contains("vm_id")),
        "{err:?}"
    );

    assert_eq!(A::health(&client), Ok(200));
    assert_eq!(A::ready(&client), Ok(200));
    assert_eq!(A::probe(&server.ws_url(), "/health"), Ok(200));
    server.set_ready(false);
    assert_eq!(A::probe(&server.ws_url(), "/ready"), Ok(503));
    server.set_ready(true);
    assert!(A::probe("http://h/ws", "/health").is_err());

    A::close(&client);
    A::close(&client);
    let after = A::queue_stats(&client).expect_err("calls fail after close");
    assert!(
        matches!(after.request(), Some(RequestError::Closed)),
        "{after:?}"
    );
}

/// Refused, HTTP status at the upgrade, and auth failure are typed errors from connect.
pub fn connect_errors<A: Adapter>() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let refused = A::connect(
        &format!("ws://127.0.0.1:{port}/ws"),
        AuthContext::anonymous(),
        client_config("refused"),
        &Opts::default(),
    );
    assert!(
        matches!(refused, Err(ConnectFailure::Refused)),
        "{refused:?}"
    );

    // A listener that never answers the upgrade: the dial times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let opts = Opts {
        connect_timeout: Some(Duration::from_millis(300)),
        ..Opts::default()
    };
    let timeout = A::connect(
        &format!("ws://{}/ws", silent.local_addr().expect("addr")),
        AuthContext::anonymous(),
        client_config("silent"),
        &opts,
    );
    assert!(
        matches!(timeout, Err(ConnectFailure::Timeout)),
        "{timeout:?}"
    );

    let server = server();
    // A server that never answers auth: the auth timeout ends the attempt.
    server.set_stall_reading(true);
    let mut config = client_config("stalled");
    config.auth_timeout = Duration::from_millis(300);
    let stalled = A::connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        config,
        &Opts::default(),
    );
    server.set_stall_reading(false);
    assert!(
        matches!(
            stalled,
            Err(ConnectFailure::Disconnected(DisconnectError::AuthTimeout))
        ),
        "{stalled:?}"
    );

    let url = format!("ws://{}/ws2", server.addr());
    let status = A::connect(
        &url,
        AuthContext::anonymous(),
        client_config("status"),
        &Opts::default(),
    );
    assert!(
        matches!(status, Err(ConnectFailure::HttpStatus(403))),
        "{status:?}"
    );

    let bad_url = A::connect(
        "http://x/ws",
        AuthContext::anonymous(),
        client_config("u"),
        &Opts::default(),
    );
    assert!(
        matches!(bad_url, Err(ConnectFailure::Other(_))),
        "{bad_url:?}"
    );

    let strict =
        TestServer::start(tcm_testserver::Config::profile("strict-claims-only").expect("profile"))
            .expect("server");
    let auth = A::connect(
        &strict.ws_url(),
        AuthContext::with_token("not-a-jwt"),
        client_config("badtoken"),
        &Opts::default(),
    );
    assert!(
        matches!(auth, Err(ConnectFailure::Auth(ref m)) if !m.is_empty()),
        "{auth:?}"
    );
}

/// 200 queue_stats in flight at once on one connection, all answered.
pub fn concurrent_queue_stats<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "qs200");
    let results = A::concurrent_queue_stats(&client, 200);
    assert_eq!(results.len(), 200);
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    A::close(&client);
}

/// An 8-connection pool runs 500 inferences; every reply carries its own request's result.
pub fn pool_500<A: Adapter>() {
    let server = server();
    let pool = A::pool_connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        client_config(&format!("{}-pool", A::NAME)),
        8,
        &Opts::default(),
    )
    .expect("pool connects");
    let uuids = A::pool_uuids(&pool);
    assert_eq!(uuids.len(), 8);
    let mut distinct = uuids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "pool members share a uuid: {uuids:?}");

    let requests: Vec<_> = (0..500)
        .map(|i| add(vec![i as f32, 2.0 * i as f32], vec![0.5, 1000.0]))
        .collect();
    let results = A::pool_infer_many(&pool, requests);
    assert_eq!(results.len(), 500);
    for (i, r) in results.iter().enumerate() {
        let out = r
            .as_ref()
            .unwrap_or_else(|e| panic!("inference {i}: {e:?}"));
        assert_eq!(
            output0(out),
            vec![i as f32 + 0.5, 2.0 * i as f32 + 1000.0],
            "reply {i} belongs to another request"
        );
    }
    let text = A::pool_stream_text(&pool, inference("stream", vec![fp32("INPUT0", vec![2.0])]))
        .expect("stream through the pool");
    assert_eq!(text, "tok0 tok1 ");
    A::pool_close(&pool);
}

/// The server drops the connection mid-request: every pending call fails with a typed
/// disconnect, the client reconnects, and later calls succeed.
pub fn drop_mid_request<A: Adapter>() {
    let server = server_with(|c| c.inference_latency_ms = (50, 50));
    let client = connect::<A>(&server.ws_url(), "drop");
    let before = server.stats();
    server.drop_on_next_inference(1);
    let results = A::concurrent_infer(&client, (0..4).map(|i| identity(vec![i as f32])).collect());
    assert!(
        results.iter().any(is_disconnect),
        "no call saw the drop: {results:?}"
    );
    for r in &results {
        match r {
            Err(CallFailure::Request(RequestError::Disconnected(DisconnectError::Closed {
                code: None,
                ..
            }))) => {}
            // A call submitted after the drop waits for the reconnect and succeeds.
            Ok(_) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let out = A::infer(&client, identity(vec![9.0]), None).expect("call after reconnect");
    assert_eq!(output0(&out), vec![9.0]);
    assert!(server.stats().auth_successes > before.auth_successes);
    A::close(&client);
}

/// SYSTEM_SHUTDOWN: pending calls fail, the client probes `/ready` instead of redialling (no
/// retry storm), and resumes once the server is ready again.
pub fn shutdown_draining<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "drain");
    let at_drain = server.stats();
    server.begin_shutdown();
    // The next frame is processed, then SYSTEM_SHUTDOWN and 1012 follow.
    let first = A::queue_stats(&client);
    if let Err(e) = &first {
        assert!(
            matches!(e.request(), Some(RequestError::Disconnected(_))),
            "{e:?}"
        );
    }
    assert!(
        eventually(Duration::from_secs(5), || A::state(&client)
            != ConnectionState::Open),
        "the client left the draining server"
    );
    // While draining, the client only probes /ready.
    assert!(
        eventually(Duration::from_secs(5), || server.stats().http_requests
            >= at_drain.http_requests + 3),
        "no readiness probes"
    );
    let during = server.stats();
    assert!(
        during.connection_attempts <= at_drain.connection_attempts + 1,
        "retry storm: {} connection attempts while draining",
        during.connection_attempts - at_drain.connection_attempts
    );
    server.restart_ready();
    let resumed = A::queue_stats(&client);
    assert!(resumed.is_ok(), "{resumed:?}");
    let out = A::infer(&client, identity(vec![5.0]), None).expect("inference after restart");
    assert_eq!(output0(&out), vec![5.0]);
    A::close(&client);
}

/// A retriable typed error twice, then success: retried under the policy. A fatal error is
/// not retried.
pub fn retries<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "retry");
    server.fail_next_inferences(2, "TRITON_NETWORK");
    let out = A::infer(&client, identity(vec![1.0, 2.0]), None).expect("retried to success");
    assert_eq!(output0(&out), vec![1.0, 2.0]);

    // Two fatal failures armed: if the first call were retried, it would eat the second.
    server.fail_next_inferences(2, "TRITON_MODEL_MISSING");
    for _ in 0..2 {
        let err = A::infer(&client, identity(vec![1.0]), None).expect_err("fatal");
        match err.request() {
            Some(RequestError::Triton(t)) => {
                assert_eq!(t.code, TritonCode::ModelMissing);
                assert!(!t.retriable);
            }
            other => panic!("expected a typed Triton error, got {other:?}"),
        }
    }
    let out = A::infer(&client, identity(vec![3.0]), None).expect("fault consumed");
    assert_eq!(output0(&out), vec![3.0]);
    A::close(&client);
}

/// An oversize request fails locally with a typed error, and the connection stays usable.
pub fn oversize<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "big");
    let before = server.stats().frames_received;
    let big = identity(vec![1.2345678; 20_000]);
    let err = A::infer(&client, big, None).expect_err("too large");
    assert!(
        matches!(
            err.request(),
            Some(RequestError::TooLarge { limit: 65_536, .. })
        ),
        "{err:?}"
    );
    assert_eq!(server.stats().frames_received, before, "nothing was sent");
    assert_eq!(A::state(&client), ConnectionState::Open);
    A::queue_stats(&client).expect("still usable");
    let out = A::infer(&client, identity(vec![2.0]), None).expect("inference after oversize");
    assert_eq!(output0(&out), vec![2.0]);
    A::close(&client);
}

/// `wss://` through a TLS proxy with a CA made at test time; an untrusted CA is a TLS error.
pub fn wss<A: Adapter>() {
    let server = server();
    let proxy = tls::TlsProxy::start(server.addr());
    let opts = Opts {
        ca_pem: Some(proxy.ca_pem.clone().into_bytes()),
        ..Opts::default()
    };
    let client = A::connect(
        &proxy.wss_url(),
        AuthContext::anonymous(),
        client_config(&format!("{}-tls", A::NAME)),
        &opts,
    )
    .expect("wss connects");
    A::queue_stats(&client).expect("queue_stats over TLS");
    let out = A::infer(&client, add(vec![1.0], vec![2.0]), None).expect("add over TLS");
    assert_eq!(output0(&out), vec![3.0]);
    assert_eq!(A::health(&client), Ok(200));
    A::close(&client);

    let untrusted = A::connect(
        &proxy.wss_url(),
        AuthContext::anonymous(),
        client_config("untrusted"),
        &Opts::default(),
    );
    assert!(
        matches!(untrusted, Err(ConnectFailure::Tls(_))),
        "{untrusted:?}"
    );
    let wrong_host = A::connect(
        &format!("wss://127.0.0.1:{}/ws", proxy.addr.port()),
        AuthContext::anonymous(),
        client_config("wronghost"),
        &opts,
    );
    assert!(
        matches!(wrong_host, Err(ConnectFailure::Tls(_))),
        "{wrong_host:?}"
    );
}

/// A per-call deadline fails the call with a typed timeout; the abandoned inference slot is
/// released by recycling the connection, and later inferences succeed.
pub fn deadlines<A: Adapter>() {
    let server = server();
    let mut config = client_config(&format!("{}-deadline", A::NAME));
    config.orphan_grace = Duration::from_millis(300);
    let client = A::connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        config,
        &Opts::default(),
    )
    .expect("connects");
    server.set_never_answer_inference(true);
    let err = A::infer(
        &client,
        identity(vec![1.0]),
        Some(Duration::from_millis(200)),
    )
    .expect_err("never answered");
    assert!(
        matches!(err.request(), Some(RequestError::Timeout)),
        "{err:?}"
    );
    A::queue_stats(&client).expect("info is not blocked by the abandoned inference");
    server.set_never_answer_inference(false);
    let out = A::infer(&client, identity(vec![2.0]), None).expect("inference after recycle");
    assert_eq!(output0(&out), vec![2.0]);
    A::close(&client);
}

/// A peer that stops answering is detected by keepalive: the pending call fails with a typed
/// disconnect instead of hanging, and the client recovers once the peer is back.
pub fn dead_peer<A: Adapter>() {
    let server = server();
    let mut config = client_config(&format!("{}-dead", A::NAME));
    config.keepalive = Some(KeepaliveConfig {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(200),
    });
    let client = A::connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        config,
        &Opts::default(),
    )
    .expect("connects");
    server.set_stall_reading(true);
    // A frame already being read when the stall starts is still answered: ask until one hangs.
    let err = (0..20)
        .find_map(|_| A::queue_stats(&client).err())
        .expect("a call to the stalled peer fails");
    server.set_stall_reading(false);
    assert!(
        matches!(
            err.request(),
            Some(RequestError::Disconnected(
                DisconnectError::KeepaliveTimeout
            ))
        ),
        "{err:?}"
    );
    A::queue_stats(&client).expect("recovered after reconnect");
    A::close(&client);
}

/// Alerts are delivered as notifications, never as responses, and calls go on unaffected.
pub fn notifications<A: Adapter>() {
    let server = server();
    let opts = Opts {
        notifications: 8,
        ..Opts::default()
    };
    let client = A::connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        client_config(&format!("{}-notify", A::NAME)),
        &opts,
    )
    .expect("connects");
    let mut next = A::notifications(&client);
    let target = server.inject_alert(
        "TritonServerStateChanged",
        "state changed: ready -> unhealthy",
    );
    assert!(target.is_some(), "the alert went to our connection");
    let out = A::infer(&client, identity(vec![8.0]), None).expect("inference around an alert");
    assert_eq!(output0(&out), vec![8.0]);
    let mut seen = None;
    assert!(
        eventually(Duration::from_secs(5), || {
            seen = seen.take().or_else(&mut next);
            seen.is_some()
        }),
        "no notification"
    );
    match seen {
        Some(Notification::Alert(a)) => {
            assert_eq!(a.error_type, "TritonServerStateChanged");
            assert!(a.message.contains("unhealthy"));
        }
        other => panic!("expected an alert, got {other:?}"),
    }
    A::close(&client);
}

/// Dropping the last handle closes the connection.
pub fn drop_closes<A: Adapter>() {
    let server = server();
    let client = connect::<A>(&server.ws_url(), "dropped");
    A::queue_stats(&client).expect("queue_stats");
    assert_eq!(server.connected_uuids().len(), 1);
    drop(client);
    assert!(
        eventually(Duration::from_secs(5), || server
            .connected_uuids()
            .is_empty()),
        "the server still holds {:?}",
        server.connected_uuids()
    );
}

/// Management payload helper for examples of use.
pub fn payload(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

// ----- hostile peers --------------------------------------------------------------------------

/// Generous slack on a deadline: a deadline holds if its call resolves within it plus this, on
/// any machine, while a peer that could stretch it would stretch it by seconds to minutes.
pub const SLACK: Duration = Duration::from_secs(2);

fn hostile_config(uuid: &str) -> Config {
    let mut c = client_config(uuid);
    c.auth_timeout = Duration::from_secs(1);
    c.reconnect = None;
    c.max_message_bytes = 16 << 20;
    c
}

fn connect_hostile<A: Adapter>(
    server: &hostile::Hostile,
    config: Config,
    opts: &Opts,
) -> A::Client {
    A::connect(&server.url(), AuthContext::anonymous(), config, opts).expect("connects")
}

/// Asserts that `call` resolved (with `outcome`) by `deadline` plus the slack.
fn resolved_by<T: std::fmt::Debug>(started: Instant, deadline: Duration, outcome: &T) {
    let took = started.elapsed();
    assert!(
        took <= deadline + SLACK,
        "resolved with {outcome:?} after {took:?}, past its deadline {deadline:?}"
    );
}

/// A server that sends the upgrade response one byte at a time cannot stretch the dial.
pub fn a_trickled_upgrade_fails_by_the_connect_deadline<A: Adapter>() {
    let server = hostile::Hostile::start(hostile::Behaviour::TrickleUpgrade);
    let deadline = Duration::from_secs(1);
    let opts = Opts {
        connect_timeout: Some(deadline),
        ..Opts::default()
    };
    let started = Instant::now();
    let r = A::connect(
        &server.url(),
        AuthContext::anonymous(),
        hostile_config("t-up"),
        &opts,
    );
    resolved_by(started, deadline, &r.as_ref().err());
    assert!(matches!(r, Err(ConnectFailure::Timeout)), "{r:?}");
}

/// A server that sends `auth.ok` one byte at a time cannot stretch the auth deadline.
pub fn a_trickled_auth_ok_fails_by_the_auth_deadline<A: Adapter>() {
    let server = hostile::Hostile::start(hostile::Behaviour::TrickleAuthOk);
    let config = hostile_config("t-auth");
    let deadline = config.auth_timeout;
    let started = Instant::now();
    let r = A::connect(
        &server.url(),
        AuthContext::anonymous(),
        config,
        &Opts::default(),
    );
    resolved_by(started, deadline, &r.as_ref().err());
    assert!(
        matches!(
            r,
            Err(ConnectFailure::Disconnected(DisconnectError::AuthTimeout))
        ),
        "{r:?}"
    );
}

/// A reply that arrives one byte at a time cannot stretch its request's deadline.
pub fn a_trickled_reply_times_out_by_its_deadline<A: Adapter>() {
    let server = hostile::Hostile::start(hostile::Behaviour::TrickleReplies);
    let client = connect_hostile::<A>(&server, hostile_config("t-reply"), &Opts::default());
    let deadline = Duration::from_secs(1);
    let started = Instant::now();
    let r = A::queue_stats_within(&client, deadline);
    resolved_by(started, deadline, &r);
    assert!(
        matches!(r, Err(CallFailure::Request(RequestError::Timeout))),
        "{r:?}"
    );
    A::close(&client);
}

/// An inference far larger than the socket buffers, to a peer that reads slowly or not at all:
/// neither it nor a small call behind it is held past its deadline, and close still returns.
fn stuck_writes<A: Adapter>(behaviour: hostile::Behaviour, uuid: &str) {
    let server = hostile::Hostile::start(behaviour);
    let client = connect_hostile::<A>(&server, hostile_config(uuid), &Opts::default());
    let big = inference(
        "identity",
        vec![Tensor::vector("INPUT0", TensorData::Bytes(vec!["x".repeat(8 << 20)])).into()],
    );
    let (big_deadline, small_deadline) = (Duration::from_secs(3), Duration::from_secs(1));
    let started = Instant::now();
    let big = A::infer_in_background(&client, big, big_deadline);
    let small = A::queue_stats_within(&client, small_deadline);
    resolved_by(started, small_deadline, &small);
    assert!(
        matches!(small, Err(CallFailure::Request(RequestError::Timeout))),
        "{small:?}"
    );
    let big = big();
    resolved_by(started, big_deadline, &big);
    assert!(
        matches!(big, Err(CallFailure::Request(RequestError::Timeout))),
        "{big:?}"
    );
    let closing = Instant::now();
    A::close(&client);
    resolved_by(closing, Duration::ZERO, &"close");
}

pub fn a_peer_that_never_reads_holds_no_call_past_its_deadline<A: Adapter>() {
    stuck_writes::<A>(hostile::Behaviour::NoRead, "no-read");
}

pub fn a_slow_reader_holds_no_call_past_its_deadline<A: Adapter>() {
    stuck_writes::<A>(hostile::Behaviour::SlowRead(8 * 1024), "slow-read");
}

/// A server that drops every connection right after `auth.ok` is dialled with a growing
/// backoff, and the client never gives up on its own.
pub fn a_flapping_server_is_dialled_with_a_growing_backoff<A: Adapter>() {
    let server = hostile::Hostile::start(hostile::Behaviour::Flapping);
    let mut config = hostile_config("flap");
    let initial = Duration::from_millis(20);
    config.seed = Some(3);
    config.reconnect = Some(ReconnectPolicy::forever(Backoff {
        initial,
        cap: Duration::from_millis(800),
    }));
    let client = connect_hostile::<A>(&server, config, &Opts::default());
    let mut next = A::events(&client);
    let mut retries = Vec::new();
    assert!(
        eventually(Duration::from_secs(30), || {
            while let Some(e) = next() {
                if let tcm_adapter::ClientEvent::Disconnected { retry_in, .. } = e {
                    retries.push(retry_in);
                }
            }
            retries.len() >= 8
        }),
        "eight disconnects reported: {retries:?}"
    );
    assert!(
        retries.iter().all(Option::is_some),
        "the default never gives up: {retries:?}"
    );
    let late = retries[4..]
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or_default();
    assert!(
        late > initial * 2,
        "short-lived connections do not reset the backoff: {retries:?}"
    );
    A::close(&client);
}

/// A frame larger than the inbound limit ends the transport (a typed failure), and is never
/// buffered whole.
pub fn a_frame_over_the_inbound_limit_ends_the_transport<A: Adapter>() {
    let server = hostile::Hostile::start(hostile::Behaviour::Huge(8 << 20));
    let mut config = hostile_config("huge");
    config.max_inbound_bytes = 1 << 20;
    let client = connect_hostile::<A>(&server, config, &Opts::default());
    let r = A::queue_stats_within(&client, Duration::from_secs(10));
    assert!(
        matches!(r, Err(CallFailure::Request(RequestError::Disconnected(_)))),
        "{r:?}"
    );
    A::close(&client);
}

/// A flood of unsolicited frames fills at most the notification channel, and the connection
/// stays responsive.
pub fn a_flood_of_unsolicited_frames_leaves_the_client_responsive<A: Adapter>() {
    let server = hostile::Hostile::start(hostile::Behaviour::Flood(20_000));
    let opts = Opts {
        notifications: 8,
        ..Opts::default()
    };
    let client = connect_hostile::<A>(&server, hostile_config("flood"), &opts);
    let mut notifications = A::notifications(&client);
    let stats = A::queue_stats_within(&client, Duration::from_secs(30));
    assert!(stats.is_ok(), "{stats:?}");
    let mut kept = 0;
    while notifications().is_some() {
        kept += 1;
    }
    assert!((1..=8).contains(&kept), "{kept} notifications kept");
    A::close(&client);
}

/// A stream read late is cancelled once its buffer is full: the reader gets what was
/// buffered, then `SlowConsumer`, and the client's memory never held more.
pub fn a_late_stream_consumer_gets_a_slow_consumer_error<A: Adapter>() {
    let server = server();
    let opts = Opts {
        stream_buffer: Some(16),
        ..Opts::default()
    };
    let client = A::connect(
        &server.ws_url(),
        AuthContext::anonymous(),
        client_config(&format!("{}-late", A::NAME)),
        &opts,
    )
    .expect("connects");
    let long = inference("stream", vec![fp32("INPUT0", vec![5_000.0])]);
    let (chunks, end) = A::late_stream(&client, long, 17, Duration::from_secs(30));
    assert_eq!(chunks, 16, "the buffered frames are delivered");
    assert!(
        matches!(
            end,
            Err(CallFailure::Request(RequestError::SlowConsumer {
                limit: 16
            }))
        ),
        "{end:?}"
    );
    // The connection is fine: the stream was cancelled, not the transport.
    assert!(A::queue_stats(&client).is_ok());
    A::close(&client);
}

// ----- several replicas -----------------------------------------------------------------------

/// Stops a background load when dropped, also when an assertion fails first.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `n` reference servers and a pool of `per_replica` connections to each.
fn replicas<A: Adapter>(
    n: usize,
    per_replica: usize,
    tag: &str,
) -> (Vec<TestServerHandle>, A::Pool) {
    let servers: Vec<_> = (0..n).map(|_| server()).collect();
    let urls: Vec<String> = servers.iter().map(TestServerHandle::ws_url).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let mut config = client_config(&format!("{}-{tag}", A::NAME));
    // As in production: members keep trying until their replica is back.
    config.reconnect = Some(ReconnectPolicy::forever(Backoff {
        initial: Duration::from_millis(20),
        cap: Duration::from_millis(200),
    }));
    let pool =
        A::pool_connect_replicas(&urls, config, per_replica).expect("connects to every replica");
    (servers, pool)
}

/// Runs `batch`-sized rounds of identity inferences (every output checked) and queue_stats on
/// `pool` until `stop`, recording every failure; returns the number of calls made.
fn pool_load<A: Adapter>(
    pool: &A::Pool,
    stop: &std::sync::atomic::AtomicBool,
    calls: &std::sync::atomic::AtomicUsize,
    failures: &std::sync::Mutex<Vec<String>>,
) {
    use std::sync::atomic::Ordering;
    let mut round = 0u32;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let values: Vec<f32> = (0..12).map(|i| (round * 100 + i) as f32).collect();
        let reqs = values.iter().map(|v| identity(vec![*v])).collect();
        for (v, r) in values.iter().zip(A::pool_infer_many(pool, reqs)) {
            let seen = r.map(|o| output0(&o));
            if seen.as_ref().ok() != Some(&vec![*v]) {
                if let Ok(mut f) = failures.lock() {
                    f.push(format!("inference of {v}: {seen:?}"));
                }
            }
        }
        calls.fetch_add(12, Ordering::Relaxed);
    }
}

/// Three replicas, each shut down in turn (SYSTEM_SHUTDOWN, close, `/ready` 503, then back),
/// under a load of inferences: no idempotent call fails, and each replica rejoins.
pub fn a_pool_rides_through_rolling_restarts<A: Adapter>() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (servers, pool) = replicas::<A>(3, 2, "roll");
    let (stop, calls, failures) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        Default::default(),
    );
    std::thread::scope(|s| {
        s.spawn(|| pool_load::<A>(&pool, &stop, &calls, &failures));
        let _stop = StopOnDrop(&stop);
        for (r, server) in servers.iter().enumerate() {
            let before = calls.load(Ordering::Relaxed);
            server.begin_shutdown();
            assert!(
                eventually(Duration::from_secs(10), || A::pool_stats(&pool).replicas[r]
                    .ready
                    == 0),
                "replica {r} left the selection"
            );
            assert!(
                eventually(Duration::from_secs(30), || calls.load(Ordering::Relaxed)
                    >= before + 48),
                "calls go on while replica {r} is down"
            );
            server.restart_ready();
            assert!(
                eventually(Duration::from_secs(30), || A::pool_stats(&pool).replicas[r]
                    .ready
                    == 2),
                "replica {r} rejoined: {:?}",
                A::pool_stats(&pool)
            );
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(failures.is_empty(), "failed idempotent calls: {failures:?}");
    let stats = A::pool_stats(&pool);
    assert!(stats.calls > 0 && stats.failed == 0, "{stats:?}");
    assert_eq!(stats.by_outcome[0], ("ok", stats.calls), "{stats:?}");
    A::pool_close(&pool);
}

/// A replica that drops its connections abruptly (no close frame) while inferences are in
/// flight on it: those calls are sent again on another replica, and none fails.
pub fn a_pool_replays_the_calls_of_a_replica_that_drops<A: Adapter>() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (servers, pool) = replicas::<A>(3, 2, "kill");
    let (stop, calls, failures) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        Default::default(),
    );
    // Every inference that reaches the first replica kills the connection it came on.
    servers[0].drop_on_next_inference(u32::MAX);
    std::thread::scope(|s| {
        s.spawn(|| pool_load::<A>(&pool, &stop, &calls, &failures));
        assert!(
            eventually(Duration::from_secs(30), || A::pool_stats(&pool).replays
                >= 3
                && calls.load(Ordering::Relaxed) >= 96),
            "calls on the dropping replica were replayed: {:?}",
            A::pool_stats(&pool)
        );
        stop.store(true, Ordering::Relaxed);
    });
    let failures = failures.into_inner().unwrap_or_default();
    assert!(failures.is_empty(), "failed idempotent calls: {failures:?}");
    A::pool_close(&pool);
}

/// Management is never sent twice: a management call whose replica drops fails typed.
pub fn a_pool_never_replays_management<A: Adapter>() {
    let (servers, pool) = replicas::<A>(2, 1, "mgmt");
    for server in &servers {
        server.drop_after_frames(1);
    }
    let r = A::pool_management(&pool, "deletion");
    assert!(
        matches!(r, Err(CallFailure::Request(RequestError::Disconnected(_)))),
        "{r:?}"
    );
    assert_eq!(
        A::pool_stats(&pool).replays,
        0,
        "management is not replayed"
    );
    A::pool_close(&pool);
}
