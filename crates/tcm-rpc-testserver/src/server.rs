//! The socket side: listener, HTTP routing and the key check at upgrade, and the handle that
//! stops the server, scripts it, drives faults and exposes what it recorded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::WebSocket;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::{
    LongRunning, RPC_PATH, RejectMode, RpcServerConfig, SessionFrame, SessionFrameWrite,
};
use crate::faults::{Fault, NextResponse, padded_notification};
use crate::log::{CallReply, ClientCall, FrameRecord, HandshakeOutcome, HandshakeRecord, Recorder};
use crate::script::{Plan, Plans, ScriptStep};
use crate::session::{self, Conn, End, notification_text, request_text};

/// Errors starting a server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// A thread could not be spawned.
    #[error("cannot spawn a server thread: {0}")]
    Spawn(std::io::Error),
    /// The record file could not be created.
    #[error("cannot create the record file {path}: {source}")]
    Record {
        /// The file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Errors of handle operations that need a live session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// No client is connected (or the last session has ended).
    #[error("no live session")]
    NoSession,
    /// The session ended before the frame could be queued.
    #[error("the session has ended")]
    SessionEnded,
}

/// Counters for assertions such as "the client reconnected once" or "no retry storm".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Upgrade requests received (any path, any key).
    pub handshakes: u64,
    /// Sessions started (upgrade accepted with a good key).
    pub sessions: u64,
    /// Handshakes refused for a bad or missing key (either reject mode).
    pub rejected_keys: u64,
    /// Plain HTTP requests and upgrades of other paths (answered 404/426).
    pub not_found: u64,
    /// Data frames received from clients.
    pub frames_received: u64,
    /// Client requests dispatched (notifications excluded).
    pub requests: u64,
}

#[derive(Debug, Default)]
struct Counters {
    handshakes: AtomicU64,
    sessions: AtomicU64,
    rejected_keys: AtomicU64,
    not_found: AtomicU64,
    frames_received: AtomicU64,
    requests: AtomicU64,
}

/// State shared by the listener, the connections, the workers and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: RpcServerConfig,
    pub(crate) recorder: Recorder,
    reject: Mutex<RejectMode>,
    session_frame: Mutex<(SessionFrame, Duration)>,
    session_frame_write: Mutex<SessionFrameWrite>,
    long_running: Mutex<LongRunning>,
    next: Mutex<NextResponse>,
    plans: Mutex<Plans>,
    connect_script: Mutex<Option<Vec<ScriptStep>>>,
    live: Mutex<Vec<Arc<Conn>>>,
    session_ids: Mutex<Vec<String>>,
    stopping: AtomicBool,
    heartbeats_paused: AtomicBool,
    counters: Counters,
    next_conn: AtomicU64,
    next_call: AtomicU64,
    conn_threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn heartbeats_paused(&self) -> bool {
        self.heartbeats_paused.load(Ordering::SeqCst)
    }

    pub(crate) fn session_frame(&self) -> (SessionFrame, Duration) {
        self.session_frame
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    pub(crate) fn session_frame_write(&self) -> SessionFrameWrite {
        self.session_frame_write
            .lock()
            .map(|g| *g)
            .unwrap_or(self.config.session_frame_write)
    }

    pub(crate) fn long_running(&self) -> LongRunning {
        self.long_running
            .lock()
            .map(|g| *g)
            .unwrap_or(self.config.long_running)
    }

    pub(crate) fn take_next_response(&self) -> NextResponse {
        self.next
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default()
    }

    pub(crate) fn plan_for(&self, method: &str) -> Option<Plan> {
        self.plans.lock().ok().and_then(|mut p| p.take(method))
    }

    pub(crate) fn connect_script(&self) -> Option<Vec<ScriptStep>> {
        self.connect_script.lock().ok().and_then(|g| g.clone())
    }

    pub(crate) fn next_call_id(&self) -> Value {
        json!(format!(
            "srv-{}",
            self.next_call.fetch_add(1, Ordering::SeqCst)
        ))
    }

    pub(crate) fn session_started(&self, conn: &Arc<Conn>, session_id: String) {
        self.counters.sessions.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut v) = self.session_ids.lock() {
            v.push(session_id);
        }
        if let Ok(mut v) = self.live.lock() {
            v.retain(|c| c.alive());
            v.push(Arc::clone(conn));
        }
    }

    pub(crate) fn session_ended(&self, conn: &Arc<Conn>) {
        if let Ok(mut v) = self.live.lock() {
            v.retain(|c| c.alive() && !Arc::ptr_eq(c, conn));
        }
    }

    pub(crate) fn count_client_frame(&self) {
        self.counters.frames_received.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count_request(&self) {
        self.counters.requests.fetch_add(1, Ordering::SeqCst);
    }

    /// The newest live session: the target of the handle's "now" operations.
    fn current(&self) -> Result<Arc<Conn>, HandleError> {
        self.live
            .lock()
            .ok()
            .and_then(|v| v.iter().rev().find(|c| c.alive()).cloned())
            .ok_or(HandleError::NoSession)
    }
}

/// Entry point: starts servers.
#[derive(Debug)]
pub struct RpcTestServer;

impl RpcTestServer {
    /// Binds `config.bind` and serves in background threads until the handle is stopped or
    /// dropped.
    pub fn start(config: RpcServerConfig) -> Result<RpcServerHandle, ServerError> {
        let listener = TcpListener::bind(config.bind).map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let sink = match &config.record_file {
            Some(path) => {
                Some(
                    std::fs::File::create(path).map_err(|source| ServerError::Record {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            recorder: Recorder::new(sink),
            reject: Mutex::new(config.reject),
            session_frame: Mutex::new((config.session_frame.clone(), config.session_delay)),
            session_frame_write: Mutex::new(config.session_frame_write),
            long_running: Mutex::new(config.long_running),
            next: Mutex::new(NextResponse::default()),
            plans: Mutex::new(Plans::default()),
            connect_script: Mutex::new(None),
            live: Mutex::new(Vec::new()),
            session_ids: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            heartbeats_paused: AtomicBool::new(false),
            counters: Counters::default(),
            next_conn: AtomicU64::new(1),
            next_call: AtomicU64::new(1),
            conn_threads: Mutex::new(Vec::new()),
            config,
        });
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("rpc-accept".into())
            .spawn(move || accept_loop(s, listener))
            .map_err(ServerError::Spawn)?;
        Ok(RpcServerHandle {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }
}

/// A running server. Every method takes `&self`, so a test can share the handle with a
/// thread that plays the client; dropping it stops the server (clients get close 1000).
#[derive(Debug)]
pub struct RpcServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl RpcServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://HOST:PORT/ws/v0/rpc/`.
    pub fn url(&self) -> String {
        format!("ws://{}{RPC_PATH}", self.addr)
    }

    /// Connection and traffic counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            handshakes: c.handshakes.load(Ordering::SeqCst),
            sessions: c.sessions.load(Ordering::SeqCst),
            rejected_keys: c.rejected_keys.load(Ordering::SeqCst),
            not_found: c.not_found.load(Ordering::SeqCst),
            frames_received: c.frames_received.load(Ordering::SeqCst),
            requests: c.requests.load(Ordering::SeqCst),
        }
    }

    /// Every data frame so far, both directions, in the order sent or received.
    pub fn frames(&self) -> Vec<FrameRecord> {
        self.shared.recorder.frames()
    }

    /// Every upgrade request so far, with its headers and outcome.
    pub fn handshakes(&self) -> Vec<HandshakeRecord> {
        self.shared.recorder.handshakes()
    }

    /// Every server → client call so far (scripts, [`call_client`](Self::call_client),
    /// faults), with the client's reply.
    pub fn client_calls(&self) -> Vec<ClientCall> {
        self.shared.recorder.calls()
    }

    /// The session ids sent so far, oldest first.
    pub fn session_ids(&self) -> Vec<String> {
        self.shared
            .session_ids
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Forgets recorded frames, handshakes and calls.
    pub fn clear_records(&self) {
        self.shared.recorder.clear();
    }

    /// Whether a session is live. The newest live session is the target of the "now"
    /// operations (`call_client`, `notify_client`, `send_raw`, "now" faults).
    pub fn has_session(&self) -> bool {
        self.shared.current().is_ok()
    }

    /// Waits up to `timeout` for a live session.
    pub fn wait_for_session(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.has_session() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.has_session()
    }

    /// Switches how bad keys are refused, for later handshakes.
    pub fn set_reject_mode(&self, mode: RejectMode) {
        if let Ok(mut g) = self.shared.reject.lock() {
            *g = mode;
        }
    }

    /// Switches the session frame and its delay, for later sessions.
    pub fn set_session_frame(&self, frame: SessionFrame, delay: Duration) {
        if let Ok(mut g) = self.shared.session_frame.lock() {
            *g = (frame, delay);
        }
    }

    /// Switches how the session frame is written (with the upgrade response or after it), for
    /// later sessions.
    pub fn set_session_frame_write(&self, write: SessionFrameWrite) {
        if let Ok(mut g) = self.shared.session_frame_write.lock() {
            *g = write;
        }
    }

    /// Switches the default timing of the long-running methods, for later requests.
    pub fn set_long_running(&self, timing: LongRunning) {
        if let Ok(mut g) = self.shared.long_running.lock() {
            *g = timing;
        }
    }

    /// Stops (or resumes) every heartbeat, including those of requests already working: the
    /// switch for testing a client's deadline when heartbeats stop mid-call.
    pub fn pause_heartbeats(&self, paused: bool) {
        self.shared
            .heartbeats_paused
            .store(paused, Ordering::SeqCst);
    }

    /// Uses `plan` for every later request of `method` (until [`clear_plans`](Self::clear_plans)).
    pub fn set_plan(&self, method: &str, plan: Plan) {
        if let Ok(mut p) = self.shared.plans.lock() {
            p.set(method, plan);
        }
    }

    /// Uses `plan` for the next request of `method` only (queued after earlier one-shot plans).
    pub fn plan_next(&self, method: &str, plan: Plan) {
        if let Ok(mut p) = self.shared.plans.lock() {
            p.push_once(method, plan);
        }
    }

    /// Forgets every plan.
    pub fn clear_plans(&self) {
        if let Ok(mut p) = self.shared.plans.lock() {
            p.clear();
        }
    }

    /// Runs `script` on every later session right after its session frame (`None` stops).
    pub fn set_connect_script(&self, script: Option<Vec<ScriptStep>>) {
        if let Ok(mut g) = self.shared.connect_script.lock() {
            *g = script;
        }
    }

    /// Sends a request (id `srv-<n>`) to the current client and waits for its reply (up to
    /// the configured `client_reply_timeout`). The call is recorded.
    pub fn call_client(&self, method: &str, params: Value) -> Result<CallReply, HandleError> {
        let conn = self.shared.current()?;
        Ok(conn.call_method(&self.shared, None, method, params))
    }

    /// Sends `text` verbatim and waits for the reply carrying `id`. The call is recorded.
    pub fn call_client_raw(&self, id: Value, text: &str) -> Result<CallReply, HandleError> {
        let conn = self.shared.current()?;
        let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let method = parsed
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let params = parsed.get("params").cloned().unwrap_or(Value::Null);
        Ok(conn.call(&self.shared, id, &method, params, text.to_string()))
    }

    /// Sends a notification to the current client.
    pub fn notify_client(&self, method: &str, params: Value) -> Result<(), HandleError> {
        self.send_raw(&notification_text(method, &params))
    }

    /// Sends a text frame verbatim to the current client.
    pub fn send_raw(&self, text: &str) -> Result<(), HandleError> {
        let conn = self.shared.current()?;
        if conn.send(text.to_string()) {
            Ok(())
        } else {
            Err(HandleError::SessionEnded)
        }
    }

    /// Injects a fault. "Now" faults act on the current session (and the request faults return
    /// the client's reply); "next" faults wait for the next client request on any session.
    pub fn inject(&self, fault: Fault) -> Result<Option<CallReply>, HandleError> {
        if let Ok(mut n) = self.shared.next.lock() {
            if n.add(&fault) {
                return Ok(None);
            }
        }
        let conn = self.shared.current()?;
        let sent = |ok: bool| {
            if ok {
                Ok(None)
            } else {
                Err(HandleError::SessionEnded)
            }
        };
        match fault {
            Fault::Drop => sent(conn.end(None)),
            Fault::Close(code) => sent(conn.end(Some(code))),
            Fault::Oversize(bytes) => sent(conn.send(padded_notification(bytes))),
            Fault::InvalidJson => sent(conn.send("{not json".into())),
            Fault::JsonArray => sent(conn.send(
                json!([{"jsonrpc": "2.0", "method": "heartbeat", "params": {"id": "batch"}}])
                    .to_string(),
            )),
            Fault::NullIdError => sent(conn.send(
                json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Invalid Request"}})
                    .to_string(),
            )),
            Fault::MissingParamRequest => Ok(Some(conn.call_method(
                &self.shared,
                None,
                "create_node",
                json!({"node_id": "node-missing-name"}),
            ))),
            Fault::UnknownMethodRequest => Ok(Some(conn.call_method(
                &self.shared,
                None,
                "no_such_method",
                json!({"a": 1}),
            ))),
            Fault::UnknownMethodNotification => {
                sent(conn.send(notification_text("no_such_method", &json!({"x": 1}))))
            }
            Fault::WrongVersionRequest => {
                let id = self.shared.next_call_id();
                let params = json!({"node_id": "node-v", "name": "X"});
                let mut frame: Value =
                    serde_json::from_str(&request_text(&id, "create_node", &params))
                        .unwrap_or(Value::Null);
                frame["jsonrpc"] = json!("1.0");
                Ok(Some(conn.call(
                    &self.shared,
                    id,
                    "create_node",
                    params,
                    frame.to_string(),
                )))
            }
            Fault::ReplayLastResponse => match conn.last_response() {
                Some(t) => sent(conn.send(t)),
                None => Ok(None),
            },
            // "Next" faults were recorded above.
            _ => Ok(None),
        }
    }

    /// Stops the server: every client is closed with 1000, threads are joined.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        let s = &self.shared;
        s.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        let _ = acceptor.join();
        let conns: Vec<JoinHandle<()>> = s
            .conn_threads
            .lock()
            .map(|mut v| v.drain(..).collect())
            .unwrap_or_default();
        for h in conns {
            let _ = h.join();
        }
    }
}

impl Drop for RpcServerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let s = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("rpc-conn".into())
            .spawn(move || handle_stream(&s, stream));
        if let (Ok(h), Ok(mut v)) = (spawned, shared.conn_threads.lock()) {
            v.retain(|h| !h.is_finished());
            v.push(h);
        }
    }
}

/// The request head as peeked (nothing consumed yet).
struct Head {
    /// Whether it asks for a WebSocket upgrade.
    upgrade: bool,
    /// The path, without the query.
    path: String,
    /// Its length in bytes, blank line included.
    len: usize,
}

/// Peeks at the request head; `None` if nothing usable arrived.
fn peek_head(stream: &TcpStream, stopping: &dyn Fn() -> bool) -> Option<Head> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.peek(&mut buf) {
            Ok(0) => return None,
            Ok(n) => {
                if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]);
                    let mut lines = head.split("\r\n");
                    let path = lines
                        .next()
                        .and_then(|l| l.split_whitespace().nth(1))
                        .unwrap_or("")
                        .split('?')
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let upgrade = lines.any(|l| {
                        l.split_once(':').is_some_and(|(k, v)| {
                            k.trim().eq_ignore_ascii_case("upgrade")
                                && v.trim().eq_ignore_ascii_case("websocket")
                        })
                    });
                    return Some(Head {
                        upgrade,
                        path,
                        len: end + 4,
                    });
                }
                if n == buf.len() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline || stopping() {
            return None;
        }
    }
}

/// The socket during the upgrade. tungstenite reads the request head from the TCP stream, and not
/// a byte more (the session then starts on a clean stream); its answer is kept in `out`, so that
/// the session frame can leave in the same write.
struct UpgradeIo<'a> {
    tcp: &'a TcpStream,
    head_left: usize,
    out: &'a mut Vec<u8>,
}

impl Read for UpgradeIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.head_left == 0 {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.head_left);
        let got = self.tcp.read(&mut buf[..n])?;
        self.head_left -= got;
        Ok(got)
    }
}

impl Write for UpgradeIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn plain_http(mut stream: TcpStream, path: &str) {
    let (status, body) = if path == RPC_PATH {
        ("426 Upgrade Required", "Upgrade Required")
    } else {
        ("404 Not Found", "Not Found")
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn error_response(status: StatusCode, body: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(body.to_string()));
    *r.status_mut() = status;
    r
}

fn handle_stream(shared: &Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let stopping = || shared.stopping();
    let Some(head) = peek_head(&stream, &stopping) else {
        return;
    };
    if !head.upgrade {
        shared.counters.not_found.fetch_add(1, Ordering::SeqCst);
        plain_http(stream, &head.path);
        return;
    }
    shared.counters.handshakes.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let max = shared.config.max_message_bytes;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .write_buffer_size(0);
    let reject = shared.reject.lock().map(|g| *g).unwrap_or_default();
    let expected = format!("Api-Key {}", shared.config.api_key);
    let outcome = std::cell::Cell::new(None);
    let mut answer = Vec::new();
    let upgraded = {
        let outcome = &outcome;
        #[allow(clippy::result_large_err)]
        let callback = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let path = req.uri().path().to_string();
            let key_ok = req
                .headers()
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == expected.as_bytes());
            let (verdict, answer) = if path != RPC_PATH {
                (
                    HandshakeOutcome::NotFound,
                    Err(error_response(StatusCode::NOT_FOUND, "Not Found")),
                )
            } else if key_ok {
                (HandshakeOutcome::Accepted, Ok(resp))
            } else {
                match reject {
                    RejectMode::Http403 => (
                        HandshakeOutcome::Forbidden,
                        Err(error_response(StatusCode::FORBIDDEN, "Invalid API key")),
                    ),
                    RejectMode::AcceptThenClose(_) => {
                        (HandshakeOutcome::ClosedBeforeSession, Ok(resp))
                    }
                }
            };
            // Recorded before the answer is written, so a client that sees it can assert on it.
            let counter = match verdict {
                HandshakeOutcome::NotFound => Some(&shared.counters.not_found),
                HandshakeOutcome::Forbidden | HandshakeOutcome::ClosedBeforeSession => {
                    Some(&shared.counters.rejected_keys)
                }
                HandshakeOutcome::Accepted => None,
            };
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::SeqCst);
            }
            shared.recorder.handshake(HandshakeRecord {
                path,
                headers: req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_ascii_lowercase(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                outcome: verdict,
            });
            outcome.set(Some(verdict));
            answer
        };
        let io = UpgradeIo {
            tcp: &stream,
            head_left: head.len,
            out: &mut answer,
        };
        tungstenite::accept_hdr_with_config(io, callback, Some(ws_config)).is_ok()
    };
    if !upgraded {
        // The refusal (403, 404) tungstenite wrote.
        let _ = (&stream).write_all(&answer);
        let _ = (&stream).flush();
        return;
    }
    let Some(outcome) = outcome.get() else { return };
    let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(ws_config));
    match (outcome, reject) {
        (HandshakeOutcome::ClosedBeforeSession, RejectMode::AcceptThenClose(code)) => {
            if ws.get_mut().write_all(&answer).is_err() {
                return;
            }
            let end = match code {
                Some(c) => End::Close(c, "Invalid API key".into()),
                None => End::Drop,
            };
            session::finish(&mut ws, end);
        }
        (HandshakeOutcome::Accepted, _) => {
            let conn_id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
            session::serve(shared, ws, conn_id, answer);
        }
        _ => {}
    }
}
