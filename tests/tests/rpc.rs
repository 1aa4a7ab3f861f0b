//! Tellurio JSON-RPC client scenarios over all four clients against the reference server.
//! Each scenario is named after the requirement of the protocol document (§9) it shows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tcm_proto::jsonrpc::methods::ok_result;
use tcm_proto::jsonrpc::{Call, CallError, RpcConfig, RpcDisconnect, RpcError, ServerMethod};
use tcm_proto::{Backoff, KeepaliveConfig, ReconnectPolicy};
use tcm_rpc_testserver::{
    CallReply, Direction, Fault, Plan, Reply, RpcServerConfig, RpcServerHandle, RpcTestServer,
    SessionFrame,
};

#[allow(dead_code)]
#[path = "common/tls.rs"]
mod tls;

#[allow(dead_code)]
#[path = "common/hostile.rs"]
mod hostile;

const KEY: &str = "rpc-test-key";
const RUN: &str = "0b6f7c9e-3c1e-4d0a-9a57-2f3c6a2d9e11";

/// A request handler, written once for every adapter.
type Handler<C> = Arc<dyn Fn(&C, ServerMethod) -> Result<Value, RpcError> + Send + Sync>;

/// A connect failure, normalised across adapters.
#[derive(Debug)]
enum ConnectFailure {
    Unauthorized(u16),
    Disconnected(RpcDisconnect),
    #[allow(dead_code)]
    Other(String),
}

/// A client event, normalised across adapters.
#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Reconnected(Option<String>),
    Disconnected(RpcDisconnect),
}

/// What a scenario can do with a client, synchronously.
trait Rpc: Clone + Send + Sync + std::fmt::Debug + 'static {
    fn connect(
        url: &str,
        config: RpcConfig,
        handler_timeout: Option<Duration>,
        handler: Option<Handler<Self>>,
    ) -> Result<Self, ConnectFailure>;
    /// Connects over `wss://`, trusting only `ca_pem` (or only the webpki roots with `None`).
    fn connect_tls(
        url: &str,
        config: RpcConfig,
        ca_pem: Option<&str>,
    ) -> Result<Self, ConnectFailure>;
    fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError>;
    fn close(&self);
    fn set_run_uuid(&self, run: Option<String>);
    fn session_id(&self) -> Option<String>;
    fn events(&self) -> Receiver<Ev>;
}

impl Rpc for tcm_blocking::RpcClient {
    fn connect(
        url: &str,
        config: RpcConfig,
        handler_timeout: Option<Duration>,
        handler: Option<Handler<Self>>,
    ) -> Result<Self, ConnectFailure> {
        let mut handlers = tcm_blocking::RpcHandlers::new();
        if let Some(h) = handler {
            handlers = handlers.on_request(move |c, m| h(c, m));
        }
        let options = tcm_blocking::RpcOptions::default().with_handler_timeout(handler_timeout);
        tcm_blocking::RpcClient::connect_with(url, config, options, handlers).map_err(|e| match e {
            tcm_blocking::RpcConnectError::Unauthorized { status } => {
                ConnectFailure::Unauthorized(status)
            }
            tcm_blocking::RpcConnectError::Disconnected(e) => ConnectFailure::Disconnected(e),
            other => ConnectFailure::Other(other.to_string()),
        })
    }

    fn connect_tls(
        url: &str,
        config: RpcConfig,
        ca_pem: Option<&str>,
    ) -> Result<Self, ConnectFailure> {
        let mut transport = tcm_blocking::ClientOptions::default();
        if let Some(pem) = ca_pem {
            transport = transport.with_ca_pem(pem.as_bytes()).without_webpki_roots();
        }
        let options = tcm_blocking::RpcOptions::default().with_transport(transport);
        tcm_blocking::RpcClient::connect_with(url, config, options, Default::default())
            .map_err(|e| ConnectFailure::Other(e.to_string()))
    }

    fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        self.send(Call::new(method, params), timeout)
    }

    fn close(&self) {
        tcm_blocking::RpcClient::close(self);
    }

    fn set_run_uuid(&self, run: Option<String>) {
        tcm_blocking::RpcClient::set_run_uuid(self, run);
    }

    fn session_id(&self) -> Option<String> {
        tcm_blocking::RpcClient::session_id(self)
    }

    fn events(&self) -> Receiver<Ev> {
        let rx = tcm_blocking::RpcClient::events(self).expect("events taken once");
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(e) = rx.recv_blocking() {
                let e = match e {
                    tcm_blocking::RpcClientEvent::Reconnected { session_id } => {
                        Ev::Reconnected(session_id)
                    }
                    tcm_blocking::RpcClientEvent::Disconnected { error, .. } => {
                        Ev::Disconnected(error)
                    }
                    _ => continue,
                };
                if tx.send(e).is_err() {
                    break;
                }
            }
        });
        out
    }
}

/// How a test thread waits for a future of one async runtime.
trait BlockOn: tcm_async::Runtime {
    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T;
}

impl BlockOn for tcm_smol::Smol {
    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        smol::block_on(f)
    }
}

impl BlockOn for tcm_async_std::AsyncStd {
    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        async_std::task::block_on(f)
    }
}

impl BlockOn for tcm_tokio::Tokio {
    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tcm_tests::tokio_block_on(f)
    }
}

impl<R: BlockOn> Rpc for tcm_async::RpcClient<R> {
    fn connect(
        url: &str,
        config: RpcConfig,
        handler_timeout: Option<Duration>,
        handler: Option<Handler<Self>>,
    ) -> Result<Self, ConnectFailure> {
        let mut handlers = tcm_async::RpcHandlers::<R>::new();
        if let Some(h) = handler {
            handlers = handlers.on_request(move |c, m| h(c, m));
        }
        let options = tcm_async::RpcOptions::default().with_handler_timeout(handler_timeout);
        R::block_on(tcm_async::RpcClient::connect_with(
            url, config, options, handlers,
        ))
        .map_err(|e| match e {
            tcm_async::RpcConnectError::Unauthorized { status } => {
                ConnectFailure::Unauthorized(status)
            }
            tcm_async::RpcConnectError::Disconnected(e) => ConnectFailure::Disconnected(e),
            other => ConnectFailure::Other(other.to_string()),
        })
    }

    fn connect_tls(
        url: &str,
        config: RpcConfig,
        ca_pem: Option<&str>,
    ) -> Result<Self, ConnectFailure> {
        let mut transport = tcm_async::ClientOptions::default();
        if let Some(pem) = ca_pem {
            transport = transport.with_ca_pem(pem.as_bytes()).without_webpki_roots();
        }
        let options = tcm_async::RpcOptions::default().with_transport(transport);
        R::block_on(tcm_async::RpcClient::connect_with(
            url,
            config,
            options,
            tcm_async::RpcHandlers::<R>::new(),
        ))
        .map_err(|e| ConnectFailure::Other(e.to_string()))
    }

    fn call(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, CallError> {
        R::block_on(self.send(Call::new(method, params), timeout))
    }

    fn close(&self) {
        R::block_on(tcm_async::RpcClient::close(self));
    }

    fn set_run_uuid(&self, run: Option<String>) {
        tcm_async::RpcClient::set_run_uuid(self, run);
    }

    fn session_id(&self) -> Option<String> {
        tcm_async::RpcClient::session_id(self)
    }

    fn events(&self) -> Receiver<Ev> {
        let rx = tcm_async::RpcClient::events(self).expect("events taken once");
        let (tx, out) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(e) = rx.recv_blocking() {
                let e = match e {
                    tcm_async::RpcClientEvent::Reconnected { session_id } => {
                        Ev::Reconnected(session_id)
                    }
                    tcm_async::RpcClientEvent::Disconnected { error, .. } => {
                        Ev::Disconnected(error)
                    }
                    _ => continue,
                };
                if tx.send(e).is_err() {
                    break;
                }
            }
        });
        out
    }
}

// ----- helpers -------------------------------------------------------------------------------

fn server() -> RpcServerHandle {
    RpcTestServer::start(RpcServerConfig::with_api_key(KEY)).expect("server starts")
}

fn config() -> RpcConfig {
    let mut c = RpcConfig::new(KEY);
    c.run_uuid = Some(RUN.to_owned());
    c.default_timeout = Duration::from_secs(5);
    c.session_timeout = Duration::from_secs(2);
    c.keepalive = Some(KeepaliveConfig {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
    });
    c.reconnect = Some(ReconnectPolicy::at_most(
        5,
        Backoff {
            initial: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        },
    ));
    c
}

fn connect<C: Rpc>(server: &RpcServerHandle, handler: Option<Handler<C>>) -> C {
    C::connect(
        &server.url(),
        config(),
        Some(Duration::from_secs(3)),
        handler,
    )
    .unwrap_or_else(|e| panic!("connect: {e:?}"))
}

fn create_variable<C: Rpc>(client: &C) -> Result<Value, CallError> {
    client.call(
        "create_variable",
        json!({"data": "x", "role": "r", "requires_grad": true, "obj_type": "__variable__"}),
        None,
    )
}

fn run_function<C: Rpc>(client: &C, timeout: Duration) -> Result<Value, CallError> {
    client.call(
        "run_function",
        json!({"function_name": "f", "grad_enabled": false, "args": [], "kwargs": {}}),
        Some(timeout),
    )
}

fn client_frames(server: &RpcServerHandle) -> Vec<Value> {
    server
        .frames()
        .iter()
        .filter(|f| f.direction == Direction::FromClient)
        .filter_map(|f| f.json())
        .collect()
}

fn internal_exception(reply: &CallReply) -> String {
    let e = reply
        .error()
        .unwrap_or_else(|| panic!("error reply, got {reply:?}"));
    assert_eq!(e.code, -32603, "{e:?}");
    assert_eq!(e.message, "Internal error");
    e.exception().unwrap_or_default().to_owned()
}

// ----- scenarios -----------------------------------------------------------------------------

/// §9.1: the session frame is read before anything is dispatched, so a late one still works.
fn late_session_frame_still_works<C: Rpc>() {
    let server = server();
    server.set_session_frame(SessionFrame::Standard, Duration::from_millis(300));
    let client: C = connect(&server, None);
    let sid = client.session_id().expect("session id");
    assert_eq!(server.session_ids(), vec![sid]);
    let r = create_variable(&client).expect("call after a late session frame");
    assert!(r["variable_id"].is_string(), "{r}");
    client.close();
}

/// §1.3, §9.2: a refused key is a typed auth error from connect, with no retry.
fn bad_key_is_a_typed_auth_error_without_retry<C: Rpc>() {
    let server = server();
    let mut cfg = config();
    cfg.api_key = tcm_proto::envelope::Secret::new("wrong-key");
    match C::connect(&server.url(), cfg, None, None) {
        Err(ConnectFailure::Unauthorized(403)) => {}
        other => panic!("expected Unauthorized(403), got {:?}", other.map(|_| ())),
    }
    std::thread::sleep(Duration::from_millis(300));
    let stats = server.stats();
    assert_eq!((stats.handshakes, stats.rejected_keys), (1, 1), "{stats:?}");
}

/// §9.2: a reconnect carries the stored key and reports `Reconnected` with the new session id.
fn reconnect_carries_the_key_and_reports_reconnected<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    let events = client.events();
    let first = client.session_id();
    server.inject(Fault::Drop).expect("drop");
    let deadline = Instant::now() + Duration::from_secs(5);
    let sid = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Ev::Reconnected(sid)) => break sid,
            Ok(Ev::Disconnected(_)) => {}
            Err(e) => panic!("no Reconnected event: {e}"),
        }
    };
    assert!(sid.is_some() && sid != first);
    assert_eq!(server.session_ids().last(), sid.as_ref());
    assert_eq!(client.session_id(), sid);
    let handshakes = server.handshakes();
    assert_eq!(handshakes.len(), 2);
    assert!(handshakes.iter().all(|h| h.carried_key(KEY)));
    create_variable(&client).expect("call on the new session");
    client.close();
}

/// §9.3, §9.4: a normal close (1000) fails pending calls at once, not after their timeout.
fn normal_close_fails_pending_calls_at_once<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    server
        .inject(Fault::CloseOnNextRequest(1000))
        .expect("fault");
    let started = Instant::now();
    let r = client.call(
        "create_variable",
        json!({"data": "x", "role": "r", "requires_grad": false}),
        Some(Duration::from_secs(10)),
    );
    assert!(
        matches!(
            &r,
            Err(CallError::Disconnected(RpcDisconnect::Closed {
                code: Some(1000),
                ..
            }))
        ),
        "{r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    client.close();
}

/// §9.6: `close()` is prompt (pending calls are cancelled at once) and idempotent; later calls
/// fail with `NotConnected`.
fn close_is_prompt_and_idempotent<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    server.inject(Fault::NeverAnswerNext).expect("fault");
    let pending = {
        let c = client.clone();
        std::thread::spawn(move || create_variable(&c))
    };
    // Let the call reach the server.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.stats().requests == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    client.close();
    let r = pending.join().expect("caller thread");
    assert_eq!(r, Err(CallError::Cancelled));
    client.close();
    client.close();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(create_variable(&client), Err(CallError::NotConnected));
}

/// §5, §9.8: heartbeats slide a long-running call's deadline (T = 300 ms, heartbeats every
/// 100 ms, answer after 1 s); when they stop, the call times out about T after the last one.
fn heartbeats_slide_the_deadline<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    let t = Duration::from_millis(300);
    server.plan_next(
        "run_function",
        Plan::new()
            .work(Duration::from_secs(1))
            .heartbeats_every(Duration::from_millis(100))
            .result(json!({"data": {"variable_id": "v-1"}})),
    );
    let started = Instant::now();
    let r = run_function(&client, t).expect("heartbeats keep the call alive");
    assert_eq!(r["data"]["variable_id"], "v-1");
    assert!(started.elapsed() >= Duration::from_millis(900));

    server.plan_next(
        "run_function",
        Plan::new()
            .work(Duration::from_secs(3))
            .heartbeats_every(Duration::from_millis(100))
            .max_heartbeats(4),
    );
    let started = Instant::now();
    let r = run_function(&client, t);
    let took = started.elapsed();
    assert_eq!(r, Err(CallError::Timeout));
    // The last heartbeat goes out at ~400 ms: the deadline is ~700 ms, not 300 ms nor 3 s.
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(1300),
        "{took:?}"
    );
    client.close();
}

/// §9.16: a slow handler runs off the I/O loop: heartbeats and another call keep flowing.
fn slow_handler_does_not_stall_heartbeats_or_calls<C: Rpc>() {
    let server = Arc::new(server());
    let handler: Handler<C> = Arc::new(|_c, m| {
        if matches!(m, ServerMethod::CreateNode(_)) {
            std::thread::sleep(Duration::from_millis(1200));
        }
        Ok(ok_result())
    });
    let client: C = connect(&server, Some(handler));
    server.plan_next(
        "run_function",
        Plan::new()
            .work(Duration::from_millis(900))
            .heartbeats_every(Duration::from_millis(100))
            .result(json!({"data": {"variable_id": "v-2"}})),
    );
    let long = {
        let c = client.clone();
        std::thread::spawn(move || run_function(&c, Duration::from_millis(300)))
    };
    std::thread::sleep(Duration::from_millis(50));
    let slow = {
        let s = Arc::clone(&server);
        std::thread::spawn(move || {
            s.call_client("create_node", json!({"node_id": "n", "name": "N"}))
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    create_variable(&client).expect("a concurrent call while the handler sleeps");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let r = long
        .join()
        .expect("thread")
        .expect("long call alive through heartbeats");
    assert_eq!(r["data"]["variable_id"], "v-2");
    let reply = slow.join().expect("thread").expect("session");
    assert_eq!(reply, CallReply::Result(ok_result()));
    client.close();
}

/// §9.16: a handler may call the server itself (re-entrant call) without deadlock.
fn reentrant_call_from_a_handler_works<C: Rpc>() {
    let server = server();
    let handler: Handler<C> = Arc::new(|c, m| match m {
        ServerMethod::CreateNode(n) => {
            let r = c
                .call(
                    "create_variable",
                    json!({"data": n.name, "role": "node", "requires_grad": false}),
                    Some(Duration::from_secs(3)),
                )
                .map_err(|e| RpcError::internal(e.to_string()))?;
            Ok(json!({"message": "Ok", "data": r["variable_id"]}))
        }
        _ => Ok(ok_result()),
    });
    let client: C = connect(&server, Some(handler));
    let reply = server
        .call_client("create_node", json!({"node_id": "n1", "name": "Add"}))
        .expect("session");
    let result = reply.result().unwrap_or_else(|| panic!("{reply:?}"));
    assert_eq!(result["message"], "Ok");
    assert!(result["data"].is_string(), "{result}");
    client.close();
}

/// §3.6, §9.12: unknown methods get -32601; with no handler a known method gets -32601 too;
/// notifications (known, unknown, heartbeats) are never answered.
fn unknown_method_and_notifications_never_answered<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    let reply = server
        .inject(Fault::UnknownMethodRequest)
        .expect("session")
        .expect("reply");
    let e = reply.error().unwrap_or_else(|| panic!("{reply:?}"));
    assert_eq!(e.code, -32601);
    assert_eq!(e.data, Some(json!({"method": "no_such_method"})));
    let reply = server
        .call_client("create_node", json!({"node_id": "n", "name": "N"}))
        .expect("session");
    assert_eq!(reply.error().map(|e| e.code), Some(-32601), "{reply:?}");

    server.clear_records();
    server
        .inject(Fault::UnknownMethodNotification)
        .expect("fault");
    server
        .notify_client("heartbeat", json!({"id": "not-pending"}))
        .expect("notify");
    server
        .notify_client("clear_step", json!({"variable_ids": []}))
        .expect("notify");
    server.inject(Fault::NullIdError).expect("fault");
    // A call after them: its reply proves they were all read.
    create_variable(&client).expect("call");
    std::thread::sleep(Duration::from_millis(100));
    let frames = client_frames(&server);
    assert_eq!(frames.len(), 1, "only the call was sent: {frames:?}");
    assert_eq!(frames[0]["method"], "create_variable");
    client.close();
}

/// §4, §9.16: a handler that panics or overruns its deadline yields -32603 with
/// `data.exception`, and the client keeps serving.
fn handler_panic_is_internal_error<C: Rpc>() {
    let server = server();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let handler: Handler<C> = Arc::new(move |_c, m| {
        seen.fetch_add(1, Ordering::SeqCst);
        match m {
            ServerMethod::CreateNode(n) if n.name == "panic" => panic!("boom in handler"),
            ServerMethod::CreateNode(n) if n.name == "slow" => {
                std::thread::sleep(Duration::from_millis(800));
                Ok(ok_result())
            }
            _ => Ok(ok_result()),
        }
    });
    // No handler deadline here: printing a panic's backtrace can take a while.
    let client = C::connect(&server.url(), config(), None, Some(Arc::clone(&handler)))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let reply = server
        .call_client("create_node", json!({"node_id": "n", "name": "panic"}))
        .expect("session");
    let exception = internal_exception(&reply);
    assert!(exception.contains("boom in handler"), "{exception}");
    let reply = server
        .call_client("clear_step", json!({"variable_ids": []}))
        .expect("session");
    assert_eq!(reply, CallReply::Result(ok_result()));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // A missing param is -32602, said once, without reaching the handler.
    let reply = server
        .inject(Fault::MissingParamRequest)
        .expect("session")
        .expect("reply");
    assert_eq!(reply.error(), Some(&RpcError::missing_key("name")));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    create_variable(&client).expect("still serving");
    client.close();

    // A handler over its deadline: -32603, and the next request is served at once.
    let client = C::connect(
        &server.url(),
        config(),
        Some(Duration::from_millis(200)),
        Some(handler),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let reply = server
        .call_client("create_node", json!({"node_id": "n", "name": "slow"}))
        .expect("session");
    let exception = internal_exception(&reply);
    assert!(exception.contains("timed out"), "{exception}");
    let started = Instant::now();
    let reply = server
        .call_client("clear_step", json!({"variable_ids": []}))
        .expect("session");
    assert_eq!(reply, CallReply::Result(ok_result()));
    assert!(started.elapsed() < Duration::from_millis(400));
    client.close();
}

/// §9.12: server requests scripted around a call are answered in arrival order, and the
/// long-running call still succeeds.
fn scripted_requests_answered_in_order<C: Rpc>() {
    let server = server();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&order);
    let handler: Handler<C> = Arc::new(move |_c, m| {
        if let Ok(mut v) = log.lock() {
            v.push(m.name());
        }
        Ok(ok_result())
    });
    let client: C = connect(&server, Some(handler));
    server.plan_next(
        "run_function",
        Plan::new()
            .script(vec![
                tcm_rpc_testserver::ScriptStep::call(
                    "create_node",
                    json!({"node_id": "a", "name": "A"}),
                ),
                tcm_rpc_testserver::ScriptStep::call(
                    "create_edge",
                    json!({"from_node_id": "a", "to_node_id": null, "output_nr": 0}),
                ),
                tcm_rpc_testserver::ScriptStep::call("clear_step", json!({"variable_ids": []})),
            ])
            .reply(Reply::Result(json!({"data": []}))),
    );
    run_function(&client, Duration::from_secs(3)).expect("run_function");
    assert_eq!(
        *order.lock().expect("lock"),
        vec!["create_node", "create_edge", "clear_step"]
    );
    let calls = server.client_calls();
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.reply == CallReply::Result(ok_result()))
    );
    client.close();
}

/// §9.1: a server that never sends the session frame fails connect after the configured
/// timeout (the original hangs for ever), without a retry inside connect.
fn missing_session_frame_times_out<C: Rpc>() {
    let server = server();
    server.set_session_frame(SessionFrame::Omitted, Duration::ZERO);
    let mut cfg = config();
    cfg.session_timeout = Duration::from_millis(300);
    let started = Instant::now();
    match C::connect(&server.url(), cfg, None, None) {
        Err(ConnectFailure::Disconnected(RpcDisconnect::SessionTimeout)) => {}
        other => panic!("expected SessionTimeout, got {:?}", other.map(|_| ())),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(server.stats().handshakes, 1);
}

/// A session frame that arrives one byte at a time cannot stretch the session deadline.
fn a_trickled_session_frame_fails_by_the_session_deadline<C: Rpc>() {
    let server = hostile::Hostile::start(hostile::Behaviour::RpcTrickleSession);
    let mut cfg = config();
    cfg.session_timeout = Duration::from_secs(1);
    let started = Instant::now();
    match C::connect(&server.url(), cfg, None, None) {
        Err(ConnectFailure::Disconnected(RpcDisconnect::SessionTimeout)) => {}
        other => panic!("expected SessionTimeout, got {:?}", other.map(|_| ())),
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "resolved after {took:?}");
}

/// A reply that arrives one byte at a time cannot stretch its call's deadline.
fn a_trickled_reply_times_out_by_the_call_deadline<C: Rpc>() {
    let server = hostile::Hostile::start(hostile::Behaviour::RpcTrickleReplies);
    let client =
        C::connect(&server.url(), config(), None, None).unwrap_or_else(|e| panic!("{e:?}"));
    let started = Instant::now();
    let r = client.call(
        "create_variable",
        json!({"data": "x"}),
        Some(Duration::from_secs(1)),
    );
    let took = started.elapsed();
    assert_eq!(r, Err(CallError::Timeout));
    assert!(took < Duration::from_secs(3), "resolved after {took:?}");
    client.close();
}

/// §9.9, §9.10: no call is sent without an active run; a zero timeout is refused, never "the
/// default".
fn no_active_run_and_zero_timeout_are_refused<C: Rpc>() {
    let server = server();
    let mut cfg = config();
    cfg.run_uuid = None;
    let client = C::connect(&server.url(), cfg, None, None).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(create_variable(&client), Err(CallError::NoActiveRun));
    client.set_run_uuid(Some(RUN.to_owned()));
    assert_eq!(
        client.call("create_variable", json!({"data": 1}), Some(Duration::ZERO)),
        Err(CallError::Timeout)
    );
    assert_eq!(server.stats().requests, 0);
    create_variable(&client).expect("with a run");
    let sent = client_frames(&server);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["params"]["run_uuid"], RUN);
    client.close();
}

/// §9.12–15: invalid frames get one error reply with `id: null` and the reader survives;
/// `id: null` errors and duplicate responses are never answered; a response with a wrong
/// `jsonrpc` still settles its call; one with neither `result` nor `error` fails it.
fn malformed_frames_are_answered_once_and_the_reader_survives<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    server.clear_records();
    server.inject(Fault::InvalidJson).expect("fault");
    server.inject(Fault::JsonArray).expect("fault");
    server.inject(Fault::NullIdError).expect("fault");
    server
        .inject(Fault::WrongVersionNextResponse)
        .expect("fault");
    let r = create_variable(&client).expect("a wrong-version response still settles");
    assert!(r["variable_id"].is_string());
    server.inject(Fault::ReplayLastResponse).expect("fault");
    server.inject(Fault::EmptyNextResponse).expect("fault");
    assert_eq!(create_variable(&client), Err(CallError::MalformedResponse));
    create_variable(&client).expect("still serving");
    std::thread::sleep(Duration::from_millis(100));
    let sent = client_frames(&server);
    let errors: Vec<&Value> = sent.iter().filter(|f| f.get("error").is_some()).collect();
    assert_eq!(errors.len(), 2, "{sent:?}");
    assert!(errors.iter().all(|e| e["id"].is_null()));
    assert_eq!(errors[0]["error"]["code"], -32700);
    assert!(errors[0]["error"]["data"]["error"].is_string());
    assert_eq!(errors[1]["error"]["code"], -32600);
    assert_eq!(sent.len(), 5, "two error replies and three calls: {sent:?}");
    client.close();
}

/// §9.18: the incoming size limit is configurable: 1 MiB + 1 passes the default, and a client
/// configured for 1 MiB drops the connection and reconnects.
fn incoming_size_limit_is_configurable<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    server
        .inject(Fault::Oversize((1 << 20) + 1))
        .expect("fault");
    create_variable(&client).expect("a frame over 1 MiB is accepted by default");
    assert_eq!(server.stats().sessions, 1);
    client.close();

    let mut cfg = config();
    cfg.max_message_bytes = 1 << 20;
    let client = C::connect(&server.url(), cfg, None, None).unwrap_or_else(|e| panic!("{e:?}"));
    let events = client.events();
    server
        .inject(Fault::Oversize((1 << 20) + 1))
        .expect("fault");
    let mut saw_disconnect = false;
    loop {
        match events.recv_timeout(Duration::from_secs(5)) {
            Ok(Ev::Disconnected(_)) => saw_disconnect = true,
            Ok(Ev::Reconnected(_)) => break,
            Err(e) => panic!("no reconnect after an oversize frame: {e}"),
        }
    }
    assert!(saw_disconnect);
    create_variable(&client).expect("new session");
    client.close();
}

/// Dropping the last handle closes the session, and the API key never shows in `Debug`.
fn drop_closes_and_debug_hides_the_key<C: Rpc>() {
    let server = server();
    let client: C = connect(&server, None);
    let text = format!("{client:?}");
    assert!(!text.contains(KEY), "{text}");
    assert!(server.has_session());
    let other = client.clone();
    drop(client);
    create_variable(&other).expect("a clone keeps the session");
    drop(other);
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.has_session() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!server.has_session(), "the session outlived every handle");
}

/// `wss://` with rustls, as in the TCM adapters: a private CA is trusted when given, and an
/// unknown issuer is a TLS error; the key travels inside TLS.
fn wss_with_a_private_ca<C: Rpc>() {
    let server = server();
    let proxy = tls::TlsProxy::start(server.addr());
    let url = format!(
        "wss://localhost:{}{}",
        proxy.addr.port(),
        tcm_rpc_testserver::RPC_PATH
    );
    match C::connect_tls(&url, config(), None) {
        Err(ConnectFailure::Other(e)) => assert!(e.contains("TLS"), "{e}"),
        other => panic!("expected a TLS failure, got {:?}", other.map(|_| ())),
    }
    let client = C::connect_tls(&url, config(), Some(&proxy.ca_pem))
        .unwrap_or_else(|e| panic!("wss connect: {e:?}"));
    assert!(client.session_id().is_some());
    create_variable(&client).expect("call over TLS");
    assert!(server.handshakes().iter().all(|h| h.carried_key(KEY)));
    client.close();
}

// ----- the Tellurio vectors, played by a scripted server -------------------------------------

/// The application state a vector's `client_setup` describes, and the handler that serves the
/// server's requests from it (what an application built on the client would do).
#[derive(Default)]
struct VectorApp {
    variables: std::sync::Mutex<std::collections::HashSet<String>>,
    callables: std::collections::HashSet<String>,
}

impl VectorApp {
    fn new(setup: Option<&Value>) -> Self {
        let keys = |name: &str| -> std::collections::HashSet<String> {
            setup
                .and_then(|s| s.get(name))
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        Self {
            variables: std::sync::Mutex::new(keys("variables")),
            callables: keys("callables"),
        }
    }

    fn handle(&self, method: ServerMethod) -> Result<Value, RpcError> {
        let known = |id: &str| self.variables.lock().is_ok_and(|v| v.contains(id));
        match method {
            ServerMethod::CreateVariable(v) => {
                if let Ok(mut vars) = self.variables.lock() {
                    vars.insert(v.variable_id);
                }
                Ok(ok_result())
            }
            ServerMethod::UpdateVariable(u) if !known(&u.variable_id) => {
                Err(RpcError::internal(format!(
                    "Variable with id '{}' not found in registry.",
                    u.variable_id
                )))
            }
            ServerMethod::RunCallable(c) if self.callables.contains(&c.callable_id) => {
                // The registered function returns the sum of its two positional arguments.
                let sum: i64 = c.args.iter().filter_map(Value::as_i64).sum();
                Ok(json!({"message": "Ok", "data": sum}))
            }
            ServerMethod::RunCallable(c) => Err(RpcError::internal(format!(
                "Callable with ID '{}' not found in registry.",
                c.callable_id
            ))),
            _ => Ok(ok_result()),
        }
    }
}

type Pending = (Instant, std::thread::JoinHandle<Result<Value, CallError>>);

/// Makes a client of type `C` follow a conversation: connects when told, issues the calls of
/// the `send` steps that are client requests, and checks the `outcome` steps.
struct VectorDriver<C: Rpc> {
    url: String,
    config: RpcConfig,
    app: Arc<VectorApp>,
    connecting: Option<std::thread::JoinHandle<Result<C, ConnectFailure>>>,
    connected: Option<Result<C, String>>,
    calls: std::collections::HashMap<String, Pending>,
}

impl<C: Rpc> VectorDriver<C> {
    fn client(&mut self) -> Result<C, String> {
        if let Some(h) = self.connecting.take() {
            let r = h.join().map_err(|_| "connect thread panicked".to_owned())?;
            self.connected = Some(r.map_err(|e| format!("{e:?}")));
        }
        self.connected
            .clone()
            .unwrap_or_else(|| Err("not connected".to_owned()))
    }
}

impl<C: Rpc> tcm_vectors::ClientDriver for VectorDriver<C> {
    fn connect(&mut self, _index: usize, _step: &tcm_vectors::Step) -> Result<(), String> {
        let (url, config, app) = (self.url.clone(), self.config.clone(), Arc::clone(&self.app));
        let handler: Handler<C> = Arc::new(move |_c, m| app.handle(m));
        self.connecting = Some(std::thread::spawn(move || {
            C::connect(&url, config, Some(Duration::from_secs(3)), Some(handler))
        }));
        Ok(())
    }

    fn send(
        &mut self,
        _index: usize,
        step: &tcm_vectors::Step,
        _bindings: &tcm_vectors::Bindings,
    ) -> Result<(), String> {
        let tcm_vectors::StepKind::Send { frame, .. } = &step.kind else {
            return Ok(());
        };
        // Replies to server requests come from the handler; only client requests are issued.
        let Some(method) = frame.get("method").and_then(Value::as_str) else {
            return Ok(());
        };
        let mut params = frame.get("params").cloned().unwrap_or_else(|| json!({}));
        if let Some(p) = params.as_object_mut() {
            p.remove("run_uuid");
        }
        let client = self.client()?;
        let method = method.to_owned();
        let label = step.label.clone().unwrap_or_default();
        let call = std::thread::spawn(move || client.call(&method, params, None));
        self.calls.insert(label, (Instant::now(), call));
        Ok(())
    }

    fn outcome(
        &mut self,
        _index: usize,
        outcome: &tcm_vectors::Outcome,
        _bindings: &tcm_vectors::Bindings,
    ) -> Result<(), String> {
        use tcm_vectors::OutcomeKind as K;
        if outcome.kind == K::ConnectFailed {
            return match self.client() {
                Err(_) => Ok(()),
                Ok(_) => Err("connect succeeded".to_owned()),
            };
        }
        let (sent, call) = self
            .calls
            .remove(&outcome.of)
            .ok_or_else(|| format!("no call labelled {}", outcome.of))?;
        let result = call.join().map_err(|_| "call thread panicked".to_owned())?;
        let took = sent.elapsed();
        let ok = match (&result, outcome.kind) {
            (Ok(v), K::Result) => outcome.value.as_ref().is_none_or(|w| w == v),
            (Err(CallError::Rpc(e)), K::RpcError) => outcome.value.as_ref().is_none_or(|w| {
                let mut got = json!({"code": e.code, "message": e.message});
                if let Some(d) = &e.data {
                    got["data"] = d.clone();
                }
                *w == got
            }),
            (Err(CallError::Timeout), K::Timeout) => true,
            (Err(CallError::Disconnected(_)), K::Disconnected) => true,
            (Err(_), K::Failed) => true,
            _ => false,
        };
        if !ok {
            return Err(format!("{result:?}"));
        }
        if let Some((lo, hi)) = outcome.between_ms {
            let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            if ms < lo || ms > hi {
                return Err(format!("reported after {ms} ms, wanted [{lo}, {hi}]"));
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        if let Ok(c) = self.client() {
            c.close();
        }
        Ok(())
    }
}

fn play_vector<C: Rpc>(conv: &tcm_vectors::Conversation) -> Result<(), String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let cfg = &conv.client_config;
    let mut config = config();
    if let Some(key) = cfg.get("api_key").and_then(Value::as_str) {
        config.api_key = tcm_proto::envelope::Secret::new(key);
    }
    config.run_uuid = cfg
        .get("active_run_uuid")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(ms) = cfg.get("default_timeout_ms").and_then(Value::as_u64) {
        config.default_timeout = Duration::from_millis(ms);
    }
    // One connection per conversation: a reconnect would find no one accepting.
    config.reconnect = None;
    let mut driver = VectorDriver::<C> {
        url: format!("ws://{addr}{}", tcm_rpc_testserver::RPC_PATH),
        config,
        app: Arc::new(VectorApp::new(conv.client_setup.as_ref())),
        connecting: None,
        connected: None,
        calls: std::collections::HashMap::new(),
    };
    tcm_vectors::play_server(conv, listener, &mut driver)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Every Tellurio vector, played against the client (concurrently: they mostly wait).
fn tellurio_vectors<C: Rpc>() {
    let convs = tcm_vectors::Conversation::load_dir(&tcm_vectors::tellurio_dir())
        .expect("the Tellurio vectors load");
    assert!(convs.len() >= 19, "{} vectors", convs.len());
    let failures: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = convs
            .iter()
            .map(|conv| (conv.name.clone(), s.spawn(move || play_vector::<C>(conv))))
            .collect();
        runs.into_iter()
            .filter_map(|(name, h)| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{name}: {e}")),
                Err(_) => Some(format!("{name}: panicked")),
            })
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

macro_rules! scenarios {
    ($($module:ident => $client:ty),* $(,)?) => {$(
        mod $module {
            type C = $client;

            #[test]
            fn late_session_frame_still_works() {
                super::late_session_frame_still_works::<C>();
            }

            #[test]
            fn bad_key_is_a_typed_auth_error_without_retry() {
                super::bad_key_is_a_typed_auth_error_without_retry::<C>();
            }

            #[test]
            fn reconnect_carries_the_key_and_reports_reconnected() {
                super::reconnect_carries_the_key_and_reports_reconnected::<C>();
            }

            #[test]
            fn normal_close_fails_pending_calls_at_once() {
                super::normal_close_fails_pending_calls_at_once::<C>();
            }

            #[test]
            fn close_is_prompt_and_idempotent() {
                super::close_is_prompt_and_idempotent::<C>();
            }

            #[test]
            fn heartbeats_slide_the_deadline() {
                super::heartbeats_slide_the_deadline::<C>();
            }

            #[test]
            fn slow_handler_does_not_stall_heartbeats_or_calls() {
                super::slow_handler_does_not_stall_heartbeats_or_calls::<C>();
            }

            #[test]
            fn reentrant_call_from_a_handler_works() {
                super::reentrant_call_from_a_handler_works::<C>();
            }

            #[test]
            fn unknown_method_and_notifications_never_answered() {
                super::unknown_method_and_notifications_never_answered::<C>();
            }

            #[test]
            fn handler_panic_is_internal_error() {
                super::handler_panic_is_internal_error::<C>();
            }

            #[test]
            fn scripted_requests_answered_in_order() {
                super::scripted_requests_answered_in_order::<C>();
            }

            #[test]
            fn wss_with_a_private_ca() {
                super::wss_with_a_private_ca::<C>();
            }

            #[test]
            fn tellurio_vectors() {
                super::tellurio_vectors::<C>();
            }

            #[test]
            fn missing_session_frame_times_out() {
                super::missing_session_frame_times_out::<C>();
            }

            #[test]
            fn a_trickled_session_frame_fails_by_the_session_deadline() {
                super::a_trickled_session_frame_fails_by_the_session_deadline::<C>();
            }

            #[test]
            fn a_trickled_reply_times_out_by_the_call_deadline() {
                super::a_trickled_reply_times_out_by_the_call_deadline::<C>();
            }

            #[test]
            fn no_active_run_and_zero_timeout_are_refused() {
                super::no_active_run_and_zero_timeout_are_refused::<C>();
            }

            #[test]
            fn malformed_frames_are_answered_once_and_the_reader_survives() {
                super::malformed_frames_are_answered_once_and_the_reader_survives::<C>();
            }

            #[test]
            fn incoming_size_limit_is_configurable() {
                super::incoming_size_limit_is_configurable::<C>();
            }

            #[test]
            fn drop_closes_and_debug_hides_the_key() {
                super::drop_closes_and_debug_hides_the_key::<C>();
            }
        }
    )*};
}

scenarios!(
    blocking => tcm_blocking::RpcClient,
    smol_rt => tcm_smol::RpcClient,
    async_std_rt => tcm_async_std::RpcClient,
    tokio_rt => tcm_tokio::RpcClient,
);

/// The handles can be shared across threads and tasks.
#[test]
fn rpc_clients_are_clone_send_sync() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<tcm_blocking::RpcClient>();
    shared::<tcm_smol::RpcClient>();
    shared::<tcm_async_std::RpcClient>();
    shared::<tcm_tokio::RpcClient>();
}
