//! The socket side: listener, HTTP routing, WebSocket connection loops, and the handle that
//! stops the server and drives faults.

use crate::config::{Config, Flavor};
use crate::faults::FaultState;
use crate::frames::{self, QueueStats};
use crate::http;
use crate::registry::{Outbound, Registry};
use crate::rng::XorShift;
use crate::scheduler::{self, CancelFlag, Dispatcher};
use crate::session::{Action, Env, Job, Session, Submit};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

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
}

/// Counters for assertions such as "no retry storm".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// WebSocket upgrade requests received (any path).
    pub connection_attempts: u64,
    /// Upgrades that succeeded.
    pub websocket_connections: u64,
    /// Successful authentications.
    pub auth_successes: u64,
    /// Connections refused during auth (error then close, or dropped).
    pub auth_failures: u64,
    /// Text frames received after the upgrade.
    pub frames_received: u64,
    /// Plain HTTP requests served.
    pub http_requests: u64,
}

#[derive(Debug, Default)]
struct Counters {
    connection_attempts: AtomicU64,
    websocket_connections: AtomicU64,
    auth_successes: AtomicU64,
    auth_failures: AtomicU64,
    frames_received: AtomicU64,
    http_requests: AtomicU64,
}

/// State shared by the listener, the connections, the scheduler and the workers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Registry,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) dispatcher: Dispatcher,
    pub(crate) rng: Mutex<XorShift>,
    pub(crate) stopping: AtomicBool,
    pub(crate) breakers: crate::inference::CircuitBreakers,
    /// The registered Triton clients' shared-memory mappings (§9.7).
    pub(crate) shm_mappings: crate::tensor::ShmMappings,
    draining: AtomicBool,
    ready: AtomicBool,
    auth_failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    tenants: Mutex<HashMap<String, (f64, Instant)>>,
    cancel: Mutex<HashMap<String, CancelFlag>>,
    counters: Counters,
    next_conn: AtomicU64,
    conn_threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn cancel_flag(&self, uuid: &str) -> CancelFlag {
        self.cancel
            .lock()
            .map(|mut m| Arc::clone(m.entry(uuid.to_string()).or_default()))
            .unwrap_or_default()
    }

    fn metrics(&self) -> String {
        let c = &self.counters;
        format!(
            "# TYPE tcm_ws_connections_total counter\ntcm_ws_connections_total {}\n# TYPE tcm_ws_messages_total counter\ntcm_ws_messages_total{{type=\"any\"}} {}\n# TYPE tcm_ws_active_connections gauge\ntcm_ws_active_connections {}\n",
            c.websocket_connections.load(Ordering::SeqCst),
            c.frames_received.load(Ordering::SeqCst),
            self.registry.open_count()
        )
    }
}

/// Entry point: starts servers.
#[derive(Debug)]
pub struct TestServer;

impl TestServer {
    /// Binds `config.bind` and starts serving in background threads.
    pub fn start(config: Config) -> Result<TestServerHandle, ServerError> {
        let listener = TcpListener::bind(config.bind).map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let shared = Arc::new(Shared {
            rng: Mutex::new(XorShift::new(config.seed)),
            faults: Mutex::new(config.faults.clone()),
            config: Arc::new(config),
            registry: Registry::default(),
            dispatcher: Dispatcher::new(),
            stopping: AtomicBool::new(false),
            breakers: crate::inference::CircuitBreakers::default(),
            shm_mappings: crate::tensor::ShmMappings::default(),
            draining: AtomicBool::new(false),
            ready: AtomicBool::new(true),
            auth_failures: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
            cancel: Mutex::new(HashMap::new()),
            counters: Counters::default(),
            next_conn: AtomicU64::new(1),
            conn_threads: Mutex::new(Vec::new()),
        });
        let mut threads = scheduler::start(&shared);
        let s = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("tcm-accept".into())
            .spawn(move || accept_loop(s, listener))
            .map_err(ServerError::Spawn)?;
        threads.push(acceptor);
        Ok(TestServerHandle {
            addr,
            shared,
            threads,
            stopped: false,
        })
    }
}

/// A running server; dropping it stops the server (closing every client with 1000).
#[derive(Debug)]
pub struct TestServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    stopped: bool,
}

impl TestServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://HOST:PORT/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://HOST:PORT`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Connection and auth counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        Stats {
            connection_attempts: c.connection_attempts.load(Ordering::SeqCst),
            websocket_connections: c.websocket_connections.load(Ordering::SeqCst),
            auth_successes: c.auth_successes.load(Ordering::SeqCst),
            auth_failures: c.auth_failures.load(Ordering::SeqCst),
            frames_received: c.frames_received.load(Ordering::SeqCst),
            http_requests: c.http_requests.load(Ordering::SeqCst),
        }
    }

    /// Current queue counters (as an info `queue_stats` would report them).
    pub fn queue_stats(&self) -> QueueStats {
        self.shared.dispatcher.stats()
    }

    /// Uuids currently registered.
    pub fn connected_uuids(&self) -> Vec<String> {
        self.shared.registry.uuids()
    }

    fn faults(&self, f: impl FnOnce(&mut FaultState)) {
        if let Ok(mut g) = self.shared.faults.lock() {
            f(&mut g);
        }
    }

    /// Switches `/ready` between 200 ready and 503 not_ready.
    pub fn set_ready(&self, ready: bool) {
        self.shared.ready.store(ready, Ordering::SeqCst);
    }

    /// Never answer inference (the stock dev server, Q1) while on.
    pub fn set_never_answer_inference(&self, on: bool) {
        self.faults(|f| f.never_answer_inference = on);
    }

    /// The next `n` inference requests drop their connection (no close frame) instead of answering.
    pub fn drop_on_next_inference(&self, n: u32) {
        self.faults(|f| f.drop_on_inference = n);
    }

    /// Drops the connection that processes the `n`-th next text frame (any connection), right after it.
    pub fn drop_after_frames(&self, n: u32) {
        self.faults(|f| f.drop_after_frames = (n > 0).then_some(n));
    }

    /// Delays every worker reply (inference, management, queued info) by `d`.
    pub fn set_reply_delay(&self, d: Duration) {
        self.faults(|f| f.reply_delay = d);
    }

    /// Silently discards the next `n` worker replies.
    pub fn discard_next_replies(&self, n: u32) {
        self.faults(|f| f.discard_replies = n);
    }

    /// The next `n` inference requests fail with a typed error of `code` (retriable per §9.8:
    /// `TRITON_NETWORK`, `TRITON_TIMEOUT`, `TRITON_OVERLOADED`, `TRITON_CIRCUIT_OPEN` are).
    pub fn fail_next_inferences(&self, n: u32, code: &str) {
        self.faults(|f| {
            for _ in 0..n {
                f.fail_inferences.push_back(code.to_string());
            }
        });
    }

    /// The next `n` queued requests are NACKed with `BACKPRESSURE_QUEUE_FULL`.
    pub fn queue_full_next(&self, n: u32) {
        self.faults(|f| f.queue_full = n);
    }

    /// Connections stop (or resume) reading: pings get no pong and frames wait unprocessed.
    pub fn set_stall_reading(&self, on: bool) {
        self.faults(|f| f.stall_reading = on);
    }

    /// Sends a raw text frame (possibly malformed) to the holder of `uuid`; false if nobody holds it.
    pub fn send_raw(&self, uuid: &str, text: &str) -> bool {
        self.shared
            .registry
            .send(uuid, Outbound::Text(text.to_string()))
    }

    /// Q12: behaves as if an asynchronous send to `uuid` had failed. The uuid is unregistered
    /// while its socket stays open: responses for it are lost, its later management and
    /// inference frames are Forbidden, and a second connection with that uuid is accepted.
    pub fn simulate_failed_send(&self, uuid: &str) -> bool {
        match self.shared.registry.unregister(uuid) {
            Some(tx) => tx.send(Outbound::ForgetAuth).is_ok(),
            None => false,
        }
    }

    /// Sends an `alert` to the longest-connected client; returns its uuid.
    pub fn inject_alert(&self, error_type: &str, message: &str) -> Option<String> {
        let uuid = self.shared.registry.oldest()?;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.send_raw(&uuid, &frames::alert(error_type, message, ts))
            .then_some(uuid)
    }

    /// Sends an advisory `BACKPRESSURE_INSUFFICIENT_BUDGET` to some client of `tenant`; returns its uuid.
    pub fn inject_insufficient_budget(&self, job_type: &str, tenant: &str) -> Option<String> {
        let uuid = self.shared.registry.any_of_tenant(tenant)?;
        self.send_raw(&uuid, &frames::insufficient_budget(job_type, tenant))
            .then_some(uuid)
    }

    /// Starts draining (SIGTERM held, §14): `/ready` turns 503, queued requests are NACKed
    /// with `dropped_type` (info, management, inference), each connection gets `SYSTEM_SHUTDOWN`
    /// and 1012 after its next frame, and new connections get `auth.ok` then the same.
    pub fn begin_shutdown(&self) {
        let s = &self.shared;
        s.ready.store(false, Ordering::SeqCst);
        s.draining.store(true, Ordering::SeqCst);
        for job in s.dispatcher.take_waiting() {
            s.registry.send(
                &job.uuid,
                Outbound::Text(frames::shutdown_dropped(job.kind.as_str())),
            );
        }
    }

    /// Full graceful stop (SIGTERM): [`begin_shutdown`](Self::begin_shutdown), wait up to
    /// `max_wait` for running jobs, then close every client with 1000 and stop accepting.
    pub fn shutdown_gracefully(&mut self, max_wait: Duration) {
        self.begin_shutdown();
        let deadline = Instant::now() + max_wait;
        while !self.shared.dispatcher.idle() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stop_inner();
    }

    /// Leaves the draining state and reports ready again.
    pub fn restart_ready(&self) {
        self.shared.draining.store(false, Ordering::SeqCst);
        self.shared.ready.store(true, Ordering::SeqCst);
    }

    /// Whether the server is draining.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::SeqCst)
    }

    /// Stops the server: every client is closed with 1000, threads are joined.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let s = &self.shared;
        s.stopping.store(true, Ordering::SeqCst);
        s.registry.broadcast(&Outbound::Close(1000, String::new()));
        s.dispatcher.close();
        // Wake the acceptor.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        let conns: Vec<JoinHandle<()>> = s
            .conn_threads
            .lock()
            .map(|mut v| v.drain(..).collect())
            .unwrap_or_default();
        for h in conns {
            let _ = h.join();
        }
        for h in self.threads.drain(..) {
            // Workers may be inside a long injected delay: do not wait for them.
            if h.thread()
                .name()
                .is_some_and(|n| n == "tcm-accept" || n == "tcm-scheduler")
            {
                let _ = h.join();
            }
        }
    }
}

impl Drop for TestServerHandle {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let s = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("tcm-conn".into())
            .spawn(move || handle_stream(s, stream));
        if let (Ok(h), Ok(mut v)) = (spawned, shared.conn_threads.lock()) {
            v.retain(|h| !h.is_finished());
            v.push(h);
        }
    }
}

fn handle_stream(shared: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let stopping = || shared.stopping.load(Ordering::SeqCst);
    let Some(head) = http::peek_head(&stream, Duration::from_secs(5), &stopping) else {
        return;
    };
    if !head.upgrade {
        shared.counters.http_requests.fetch_add(1, Ordering::SeqCst);
        let ready = http::ReadyState {
            ready: shared.ready.load(Ordering::SeqCst),
            full_server: shared.config.flavor == Flavor::FullServer,
            registered: shared.config.registered_servers.len(),
        };
        let peer = stream.peer_addr().ok().map(|a| a.ip());
        let resp = http::route(&head, ready, peer, &shared.metrics());
        http::serve(stream, &head, &resp);
        return;
    }
    shared
        .counters
        .connection_attempts
        .fetch_add(1, Ordering::SeqCst);
    serve_websocket(&shared, stream);
}

fn forbidden() -> ErrorResponse {
    let mut r = ErrorResponse::new(None);
    *r.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
    r
}

fn serve_websocket(shared: &Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let max = shared.config.transport_max_bytes;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
        .write_buffer_size(0);
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() == "/ws" {
            Ok(resp)
        } else {
            Err(forbidden())
        }
    };
    let Ok(mut ws) = tungstenite::accept_hdr_with_config(stream, callback, Some(ws_config)) else {
        return;
    };
    shared
        .counters
        .websocket_connections
        .fetch_add(1, Ordering::SeqCst);
    let _ = ws
        .get_mut()
        .set_read_timeout(Some(Duration::from_millis(5)));
    let conn_id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = channel();
    shared.registry.open(conn_id, tx.clone());
    let mut session = Session::new(Arc::clone(&shared.config));
    let end = {
        let mut env = ServerEnv {
            shared,
            conn_id,
            tx,
        };
        connection_loop(shared, &mut ws, &rx, &mut session, &mut env)
    };
    let uuid = session.uuid().map(str::to_string);
    shared.registry.close(conn_id, uuid.as_deref());
    if let Some(u) = &uuid {
        shared.cancel_flag(u).store(true, Ordering::SeqCst);
    }
    match end {
        End::Close(code, reason) => crate::close::close_gracefully(&mut ws, code, &reason, false),
        End::CloseUnreadable(code, reason) => {
            crate::close::close_gracefully(&mut ws, code, &reason, true)
        }
        End::Drop => {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        }
        End::Gone => {}
    }
}

enum End {
    Close(u16, String),
    /// Close after an oversized frame: tungstenite's reader must not be used again.
    CloseUnreadable(u16, String),
    Drop,
    Gone,
}

fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted))
}

/// Frames read at most, once one has been, before the replies of queued work are sent.
const EAGER_FRAMES: usize = 64;

/// Reads the next frame: waiting for one (up to the socket's read timeout), or, when `eager`,
/// only one already received. After a frame, the loop reads every frame that has already
/// arrived before it sends the replies of queued work, as TCM's event loop handles what it has
/// read before its job loop's turn: a fast-path reply to a frame sent right after a queued
/// request goes out first however the threads are scheduled.
fn read_frame(ws: &mut WebSocket<TcpStream>, eager: bool) -> tungstenite::Result<Message> {
    if !eager {
        return ws.read();
    }
    let _ = ws.get_mut().set_nonblocking(true);
    let frame = ws.read();
    let _ = ws.get_mut().set_nonblocking(false);
    frame
}

fn connection_loop(
    shared: &Arc<Shared>,
    ws: &mut WebSocket<TcpStream>,
    rx: &Receiver<Outbound>,
    session: &mut Session,
    env: &mut ServerEnv<'_>,
) -> End {
    let mut keepalive = Keepalive::new(&shared.config);
    // Frames still to read before the replies of queued work go out (see `read_frame`).
    let mut eager = 0;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return End::Close(1000, String::new());
        }
        let outbound = if eager == 0 { usize::MAX } else { 0 };
        for item in rx.try_iter().take(outbound) {
            match item {
                Outbound::Text(t) => {
                    if ws.send(Message::text(t)).is_err() {
                        return End::Gone;
                    }
                }
                Outbound::Close(code, reason) => return End::Close(code, reason),
                Outbound::Drop => return End::Drop,
                Outbound::ForgetAuth => session.forget_auth_context(),
            }
        }
        if shared
            .faults
            .lock()
            .map(|f| f.stall_reading)
            .unwrap_or(false)
        {
            keepalive.suspend();
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match keepalive.due() {
            KeepaliveStep::Idle => {}
            KeepaliveStep::Ping => {
                if ws.send(Message::Ping(Vec::new().into())).is_err() {
                    return End::Gone;
                }
            }
            KeepaliveStep::TimedOut => {
                return End::Close(1011, "keepalive ping timeout".to_string());
            }
        }
        match read_frame(ws, eager > 0) {
            Ok(Message::Text(text)) => {
                shared
                    .counters
                    .frames_received
                    .fetch_add(1, Ordering::SeqCst);
                eager = if eager > 0 { eager - 1 } else { EAGER_FRAMES };
                let was_authed = session.uuid().is_some();
                let actions = session.on_text(text.as_str(), env);
                if !was_authed {
                    if session.uuid().is_some() {
                        shared
                            .counters
                            .auth_successes
                            .fetch_add(1, Ordering::SeqCst);
                    } else if session.is_closed() {
                        shared.counters.auth_failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
                for a in actions {
                    match a {
                        Action::Send(t) => {
                            if ws.send(Message::text(t)).is_err() {
                                return End::Gone;
                            }
                        }
                        Action::Close(code, reason) => return End::Close(code, reason),
                        Action::Drop => return End::Drop,
                    }
                }
                let drop_now = shared
                    .faults
                    .lock()
                    .map(|mut f| match f.drop_after_frames {
                        Some(1) => {
                            f.drop_after_frames = None;
                            true
                        }
                        Some(n) => {
                            f.drop_after_frames = Some(n - 1);
                            false
                        }
                        None => false,
                    })
                    .unwrap_or(false);
                if drop_now {
                    return End::Drop;
                }
            }
            Ok(Message::Binary(_)) => {
                shared
                    .counters
                    .frames_received
                    .fetch_add(1, Ordering::SeqCst);
                let _ = session.on_binary();
                if session.uuid().is_none() {
                    shared.counters.auth_failures.fetch_add(1, Ordering::SeqCst);
                }
                return End::Drop;
            }
            Ok(Message::Close(_)) => {
                // tungstenite queued the close reply; flush it and finish the handshake.
                let _ = ws.flush();
                return drain_until_closed(ws);
            }
            Ok(Message::Pong(_)) => keepalive.pong(),
            Ok(_) => {
                let _ = ws.flush();
            }
            Err(e) if is_timeout(&e) => {
                eager = 0;
                let _ = ws.flush();
            }
            Err(tungstenite::Error::Capacity(_)) => {
                return End::CloseUnreadable(
                    1009,
                    format!(
                        "Message exceeds the maximum size ({} bytes)",
                        shared.config.transport_max_bytes
                    ),
                );
            }
            Err(_) => return End::Gone,
        }
    }
}

/// The server's keepalive: a ping every interval, close 1011 when its pong is late.
struct Keepalive {
    interval: Option<Duration>,
    timeout: Duration,
    last_ping: Instant,
    awaiting: bool,
}

enum KeepaliveStep {
    Idle,
    Ping,
    TimedOut,
}

impl Keepalive {
    fn new(cfg: &Config) -> Self {
        Keepalive {
            interval: cfg.ping_interval,
            timeout: cfg.ping_timeout,
            last_ping: Instant::now(),
            awaiting: false,
        }
    }

    fn due(&mut self) -> KeepaliveStep {
        let Some(interval) = self.interval else {
            return KeepaliveStep::Idle;
        };
        let elapsed = self.last_ping.elapsed();
        if self.awaiting {
            if elapsed >= self.timeout {
                return KeepaliveStep::TimedOut;
            }
            return KeepaliveStep::Idle;
        }
        if elapsed >= interval {
            self.last_ping = Instant::now();
            self.awaiting = true;
            return KeepaliveStep::Ping;
        }
        KeepaliveStep::Idle
    }

    fn pong(&mut self) {
        self.awaiting = false;
    }

    fn suspend(&mut self) {
        self.awaiting = false;
        self.last_ping = Instant::now();
    }
}

fn drain_until_closed(ws: &mut WebSocket<TcpStream>) -> End {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match ws.read() {
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {
                let _ = ws.flush();
            }
            Err(_) => break,
        }
    }
    End::Gone
}

struct ServerEnv<'a> {
    shared: &'a Arc<Shared>,
    conn_id: u64,
    tx: Sender<Outbound>,
}

impl Env for ServerEnv<'_> {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_time(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }

    fn register(&mut self, uuid: &str, tenant: &str) -> bool {
        self.shared
            .registry
            .register(uuid, self.conn_id, self.tx.clone(), tenant)
    }

    fn record_auth_failure(&mut self, uuid: &str) -> usize {
        let Ok(mut m) = self.shared.auth_failures.lock() else {
            return 1;
        };
        let now = Instant::now();
        let w = m.entry(uuid.to_string()).or_default();
        while w
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            w.pop_front();
        }
        w.push_back(now);
        w.len()
    }

    fn tenant_allow(&mut self, tenant: &str) -> bool {
        let limit = f64::from(
            self.shared
                .config
                .rate_limits
                .messages_per_second_per_tenant,
        );
        let Ok(mut m) = self.shared.tenants.lock() else {
            return true;
        };
        let now = Instant::now();
        let (tokens, last) = m.entry(tenant.to_string()).or_insert((limit, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * limit).min(limit);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn queue_stats(&self) -> QueueStats {
        self.shared.dispatcher.stats()
    }

    fn draining(&self) -> bool {
        self.shared.draining.load(Ordering::SeqCst)
    }

    fn correlation_id(&mut self) -> String {
        let n = self
            .shared
            .rng
            .lock()
            .map(|mut r| r.next_u64())
            .unwrap_or(0);
        format!("{n:016x}")
    }

    fn submit(&mut self, job: Job) -> Submit {
        let forced = self
            .shared
            .faults
            .lock()
            .map(|mut f| FaultState::take(&mut f.queue_full))
            .unwrap_or(false);
        if forced {
            return Submit::QueueFull;
        }
        self.shared.dispatcher.submit(job)
    }
}
