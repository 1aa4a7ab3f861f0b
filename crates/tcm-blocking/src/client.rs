//! [`Client`]: a cloneable handle on one TCM connection served by a background I/O thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use serde_json::{Map, Value};
use tcm_adapter::ClientOptions;
use tcm_adapter::calls::{self, InferenceOutput};
use tcm_adapter::status::ClientStatus;
use tcm_proto::Notification;
use tcm_proto::http::HttpResponse;
use tcm_proto::{
    AuthContext, Capabilities, Config, Connection, ConnectionState, Endpoint, InferenceRequest,
    PipelineStep, QueueStats, Request, Response,
};

use crate::driver::{Command, Driver, Reply};
use crate::error::{ConnectError, Error, ProbeError};
use crate::stream::InferStream;

/// A connected TCM client. Cheap to clone; all clones share one connection and its I/O thread,
/// and calls from many threads are multiplexed on it by the protocol core.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Mutex<Option<crate::wake::Mailbox<Command>>>,
    status: ClientStatus,
    next_call: AtomicU64,
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    options: ClientOptions,
    notifications: Mutex<Option<Receiver<Notification>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Tells the I/O thread to close and exit.
        if let Ok(mut c) = self.commands.lock() {
            if let Some(tx) = c.take() {
                let _ = tx.send(Command::Hangup);
            }
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.to_string())
            .field("uuid", &self.uuid())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `url` (`ws://` or `wss://`) with default [`ClientOptions`], sends the auth
    /// frame first and waits for `auth.ok`. Any failure before that is returned as a typed error
    /// and the connection is closed.
    pub fn connect(url: &str, auth: AuthContext, config: Config) -> Result<Self, ConnectError> {
        Self::connect_with(url, auth, config, ClientOptions::default())
    }

    /// [`connect`](Self::connect) with explicit transport options (timeouts, private CA).
    pub fn connect_with(
        url: &str,
        auth: AuthContext,
        config: Config,
        options: ClientOptions,
    ) -> Result<Self, ConnectError> {
        let endpoint = Endpoint::parse(url)?;
        let tls = tcm_adapter::tls::for_endpoint(&endpoint, &options)?;
        let config = tcm_adapter::seed::seeded(config);
        let conn = Connection::new(config, auth);
        let status = ClientStatus::connecting(conn.uuid().to_owned());
        let (notify_tx, notify_rx) = match options.notification_capacity {
            0 => (None, None),
            n => {
                let (tx, rx) = mpsc::sync_channel(n);
                (Some(tx), Some(rx))
            }
        };
        let (tx, rx) = mpsc::channel();
        let mailbox = crate::wake::Mailbox::new(tx, Arc::new(crate::wake::Waker::new()));
        let mut driver = Driver::new(
            conn,
            endpoint.clone(),
            tls.clone(),
            options.clone(),
            status.clone(),
            notify_tx,
            mailbox.clone(),
        );
        driver.establish()?;
        std::thread::Builder::new()
            .name("tcm-io".to_owned())
            .spawn(move || driver.run(rx))
            .map_err(ConnectError::Spawn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                commands: Mutex::new(Some(mailbox)),
                status,
                next_call: AtomicU64::new(1),
                endpoint,
                tls,
                options,
                notifications: Mutex::new(notify_rx),
            }),
        })
    }

    /// The frames that answer no request (alerts, budget advisories, late replies), when
    /// enabled with [`ClientOptions::with_notifications`]. The receiver is handed out once.
    pub fn notifications(&self) -> Option<Receiver<Notification>> {
        self.inner.notifications.lock().ok()?.take()
    }

    /// The capabilities negotiated on the current transport; `None` while reconnecting.
    pub fn capabilities(&self) -> Option<Capabilities> {
        self.inner.status.capabilities()
    }

    /// The uuid of the current transport connection.
    pub fn uuid(&self) -> String {
        self.inner.status.uuid()
    }

    /// The connection's phase as last reported by the I/O thread.
    pub fn state(&self) -> ConnectionState {
        self.inner.status.state()
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        let guard = self.inner.commands.lock().map_err(|_| Error::Stopped)?;
        let tx = guard.as_ref().ok_or(Error::Stopped)?;
        tx.send(command).map_err(|_| Error::Stopped)
    }

    /// Starts a request and returns its call number and reply channel.
    pub(crate) fn start(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<(u64, Receiver<Reply>), Error> {
        let call = self.inner.next_call.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = mpsc::channel();
        self.send(Command::Request {
            call,
            request,
            timeout,
            reply,
        })?;
        Ok((call, rx))
    }

    /// Cancels a call started with [`start`](Self::start).
    pub(crate) fn cancel(&self, call: u64) {
        let _ = self.send(Command::Cancel { call });
    }

    /// Sends any request and waits for its final response. `timeout` overrides the configured
    /// deadline for its kind; the core enforces it, retries and all.
    pub fn request(&self, request: Request, timeout: Option<Duration>) -> Result<Response, Error> {
        let (_, rx) = self.start(request, timeout)?;
        loop {
            match rx.recv() {
                Ok(Reply::Finished(outcome)) => return outcome.map_err(Error::Request),
                Ok(Reply::Stream(_)) => {}
                Err(_) => return Err(Error::Stopped),
            }
        }
    }

    /// The server's queue counters (the info fast path).
    pub fn queue_stats(&self) -> Result<QueueStats, Error> {
        self.queue_stats_with_timeout(None)
    }

    /// [`queue_stats`](Self::queue_stats) with a per-call deadline.
    pub fn queue_stats_with_timeout(&self, timeout: Option<Duration>) -> Result<QueueStats, Error> {
        let data = self.info_with_timeout("queue_stats", timeout)?;
        calls::queue_stats(&data).map_err(Error::UnexpectedResponse)
    }

    /// An info request with any action; returns the reply's `data`.
    pub fn info(&self, action: &str) -> Result<Value, Error> {
        self.info_with_timeout(action, None)
    }

    /// [`info`](Self::info) with a per-call deadline.
    pub fn info_with_timeout(
        &self,
        action: &str,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let response = self.request(calls::info(action), timeout)?;
        calls::info_data(response).map_err(Error::UnexpectedResponse)
    }

    /// A management request (`action` plus the other payload keys); returns the reply's `data`.
    /// Management is never retried automatically.
    pub fn management(&self, action: &str, payload: Map<String, Value>) -> Result<Value, Error> {
        self.management_with_timeout(action, payload, None)
    }

    /// [`management`](Self::management) with a per-call deadline.
    pub fn management_with_timeout(
        &self,
        action: &str,
        payload: Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let request = calls::management(action, payload);
        let response = self.request(request, timeout)?;
        calls::management_data(response).map_err(Error::UnexpectedResponse)
    }

    /// An HTTP inference; returns the typed outputs.
    pub fn infer(&self, request: InferenceRequest) -> Result<InferenceOutput, Error> {
        self.infer_with_timeout(request, None)
    }

    /// [`infer`](Self::infer) with a per-call deadline.
    pub fn infer_with_timeout(
        &self,
        request: InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<InferenceOutput, Error> {
        let response = self.request(calls::inference(request), timeout)?;
        calls::inference_output(response).map_err(Error::UnexpectedResponse)
    }

    /// An HTTP inference whose typed tensor inputs travel through POSIX shared memory instead
    /// of JSON (TCM §9.7), for large tensors. Needs `shm` in `Config::capabilities` and granted
    /// by the server; otherwise the inputs go as JSON when `fallback_to_json` is set, and the
    /// call fails with [`Error::Shm`] when it is not. The regions live until the reply has
    /// arrived (or the call failed), then are unlinked. The server must share this host's
    /// `/dev/shm` and run as the same user.
    #[cfg(unix)]
    pub fn infer_shm(
        &self,
        request: InferenceRequest,
        fallback_to_json: bool,
    ) -> Result<InferenceOutput, Error> {
        self.infer_shm_with_timeout(request, fallback_to_json, None)
    }

    /// [`infer_shm`](Self::infer_shm) with a per-call deadline.
    #[cfg(unix)]
    pub fn infer_shm_with_timeout(
        &self,
        request: InferenceRequest,
        fallback_to_json: bool,
        timeout: Option<Duration>,
    ) -> Result<InferenceOutput, Error> {
        let capabilities = self
            .capabilities()
            .unwrap_or_else(|| Capabilities::from_auth_ok(None));
        let (request, regions) =
            tcm_shm::prepare_request(request, &capabilities, fallback_to_json)?;
        let output = self.infer_with_timeout(request, timeout);
        // Only now may the regions go: the server has read them (or the call has failed).
        drop(regions);
        output
    }

    /// A pipeline: `target` names the server (`vm_ip`, `container_id`); the steps run
    /// independently and the outputs come back per step name.
    pub fn pipeline(
        &self,
        target: InferenceRequest,
        steps: Vec<PipelineStep>,
    ) -> Result<InferenceOutput, Error> {
        self.pipeline_with_timeout(target, steps, None)
    }

    /// [`pipeline`](Self::pipeline) with a per-call deadline.
    pub fn pipeline_with_timeout(
        &self,
        target: InferenceRequest,
        steps: Vec<PipelineStep>,
        timeout: Option<Duration>,
    ) -> Result<InferenceOutput, Error> {
        self.infer_with_timeout(calls::pipeline(target, steps), timeout)
    }

    /// A gRPC streaming inference: an iterator over the stream frames as they arrive. Dropping
    /// it before the end cancels the request.
    pub fn infer_stream(&self, request: InferenceRequest) -> Result<InferStream, Error> {
        self.infer_stream_with_timeout(request, None)
    }

    /// [`infer_stream`](Self::infer_stream) with a deadline for the whole stream.
    pub fn infer_stream_with_timeout(
        &self,
        request: InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<InferStream, Error> {
        let (call, rx) = self.start(calls::stream(request), timeout)?;
        Ok(InferStream::new(self.clone(), call, rx))
    }

    /// `GET /health` on the server's host and port (a fresh HTTP connection).
    pub fn health(&self) -> Result<HttpResponse, ProbeError> {
        self.http_get("/health")
    }

    /// `GET /ready` on the server's host and port; status 200 means ready.
    pub fn ready(&self) -> Result<HttpResponse, ProbeError> {
        self.http_get("/ready")
    }

    fn http_get(&self, path: &str) -> Result<HttpResponse, ProbeError> {
        crate::http::get(
            &self.inner.endpoint,
            self.inner.tls.as_ref(),
            path,
            self.inner.options.http_timeout,
        )
    }

    /// Closes the connection gracefully: pending calls fail with a local disconnect and the close
    /// frame is written. Idempotent; later calls fail with `RequestError::Closed`.
    pub fn close(&self) {
        let (done, rx) = mpsc::channel();
        if self.send(Command::Close { done }).is_ok() {
            let _ = rx.recv_timeout(self.inner.options.write_timeout);
        }
    }
}
