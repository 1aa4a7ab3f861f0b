//! [`Client`]: a cloneable handle on one TCM connection served by a driver task.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
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

use crate::driver::{Command, Driver, ReplyTo};
use crate::error::{ConnectError, Error, ProbeError};
use crate::runtime::Runtime;
use crate::stream::InferStream;

/// A connected TCM client on runtime `R`. Cheap to clone; all clones share one connection and
/// its driver task, and concurrent calls are multiplexed on it by the protocol core.
pub struct Client<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<R: Runtime> {
    commands: mpsc::UnboundedSender<Command>,
    status: ClientStatus,
    next_call: AtomicU64,
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    options: ClientOptions,
    notifications: Mutex<Option<mpsc::Receiver<Notification>>>,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.endpoint.to_string())
            .field("uuid", &self.uuid())
            .finish_non_exhaustive()
    }
}

/// Cancels a call whose future is dropped before its reply arrived.
pub(crate) struct CancelOnDrop<R: Runtime> {
    client: Client<R>,
    call: u64,
    armed: bool,
}

impl<R: Runtime> CancelOnDrop<R> {
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl<R: Runtime> Drop for CancelOnDrop<R> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self
                .client
                .inner
                .commands
                .unbounded_send(Command::Cancel { call: self.call });
        }
    }
}

impl<R: Runtime> Client<R> {
    /// Connects to `url` (`ws://` or `wss://`) with default [`ClientOptions`], sends the auth
    /// frame first and waits for `auth.ok`. Any failure before that is returned as a typed error
    /// and the connection is closed.
    pub async fn connect(
        url: &str,
        auth: AuthContext,
        config: Config,
    ) -> Result<Self, ConnectError> {
        Self::connect_with(url, auth, config, ClientOptions::default()).await
    }

    /// [`connect`](Self::connect) with explicit transport options (timeouts, private CA).
    pub async fn connect_with(
        url: &str,
        auth: AuthContext,
        config: Config,
        options: ClientOptions,
    ) -> Result<Self, ConnectError> {
        let endpoint = tcm_proto::Endpoint::parse(url)?;
        let tls = tcm_adapter::tls::for_endpoint(&endpoint, &options)?;
        let config = tcm_adapter::seed::seeded(config);
        let conn = Connection::new(config, auth);
        let status = ClientStatus::connecting(conn.uuid().to_owned());
        let (notify_tx, notify_rx) = match options.notification_capacity {
            0 => (None, None),
            n => {
                let (tx, rx) = mpsc::channel(n);
                (Some(tx), Some(rx))
            }
        };
        let mut driver = Driver::<R>::new(
            conn,
            endpoint.clone(),
            tls.clone(),
            options.clone(),
            status.clone(),
            notify_tx,
        );
        driver.establish().await?;
        let (tx, rx) = mpsc::unbounded();
        R::spawn(driver.run(rx));
        Ok(Self {
            inner: Arc::new(Inner {
                commands: tx,
                status,
                next_call: AtomicU64::new(1),
                endpoint,
                tls,
                options,
                notifications: Mutex::new(notify_rx),
                _runtime: std::marker::PhantomData,
            }),
        })
    }

    /// A `Stream` of the frames that answer no request (alerts, budget advisories, late
    /// replies), when enabled with [`ClientOptions::with_notifications`]. Handed out once.
    pub fn notifications(&self) -> Option<mpsc::Receiver<Notification>> {
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

    /// The connection's phase as last reported by the driver task.
    pub fn state(&self) -> ConnectionState {
        self.inner.status.state()
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.inner
            .commands
            .unbounded_send(command)
            .map_err(|_| Error::Stopped)
    }

    /// Starts a request; the returned guard cancels it if dropped while armed.
    pub(crate) fn start(
        &self,
        request: Request,
        timeout: Option<Duration>,
        reply: ReplyTo,
    ) -> Result<CancelOnDrop<R>, Error> {
        let call = self.inner.next_call.fetch_add(1, Ordering::Relaxed);
        self.send(Command::Request {
            call,
            request,
            timeout,
            reply,
        })?;
        Ok(CancelOnDrop {
            client: self.clone(),
            call,
            armed: true,
        })
    }

    /// Sends any request and awaits its final response. `timeout` overrides the configured
    /// deadline for its kind; the core enforces it, retries and all.
    pub async fn request(
        &self,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<Response, Error> {
        let (tx, rx) = oneshot::channel();
        let mut guard = self.start(request, timeout, ReplyTo::Once(tx))?;
        let outcome = rx.await;
        guard.disarm();
        match outcome {
            Ok(outcome) => outcome.map_err(Error::Request),
            Err(_) => Err(Error::Stopped),
        }
    }

    /// The server's queue counters (the info fast path).
    pub async fn queue_stats(&self) -> Result<QueueStats, Error> {
        self.queue_stats_with_timeout(None).await
    }

    /// [`queue_stats`](Self::queue_stats) with a per-call deadline.
    pub async fn queue_stats_with_timeout(
        &self,
        timeout: Option<Duration>,
    ) -> Result<QueueStats, Error> {
        let data = self.info_with_timeout("queue_stats", timeout).await?;
        calls::queue_stats(&data).map_err(Error::UnexpectedResponse)
    }

    /// An info request with any action; returns the reply's `data`.
    pub async fn info(&self, action: &str) -> Result<Value, Error> {
        self.info_with_timeout(action, None).await
    }

    /// [`info`](Self::info) with a per-call deadline.
    pub async fn info_with_timeout(
        &self,
        action: &str,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let response = self.request(calls::info(action), timeout).await?;
        calls::info_data(response).map_err(Error::UnexpectedResponse)
    }

    /// A management request (`action` plus the other payload keys); returns the reply's `data`.
    /// Management is never retried automatically.
    pub async fn management(
        &self,
        action: &str,
        payload: Map<String, Value>,
    ) -> Result<Value, Error> {
        self.management_with_timeout(action, payload, None).await
    }

    /// [`management`](Self::management) with a per-call deadline.
    pub async fn management_with_timeout(
        &self,
        action: &str,
        payload: Map<String, Value>,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let request = calls::management(action, payload);
        let response = self.request(request, timeout).await?;
        calls::management_data(response).map_err(Error::UnexpectedResponse)
    }

    /// An HTTP inference; returns the typed outputs.
    pub async fn infer(&self, request: InferenceRequest) -> Result<InferenceOutput, Error> {
        self.infer_with_timeout(request, None).await
    }

    /// [`infer`](Self::infer) with a per-call deadline.
    pub async fn infer_with_timeout(
        &self,
        request: InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<InferenceOutput, Error> {
        let response = self.request(calls::inference(request), timeout).await?;
        calls::inference_output(response).map_err(Error::UnexpectedResponse)
    }

    /// An HTTP inference whose typed tensor inputs travel through POSIX shared memory instead
    /// of JSON (TCM §9.7), for large tensors. Needs `shm` in `Config::capabilities` and granted
    /// by the server; otherwise the inputs go as JSON when `fallback_to_json` is set, and the
    /// call fails with [`Error::Shm`] when it is not. The regions live until the reply has
    /// arrived (or the call failed), then are unlinked. The server must share this host's
    /// `/dev/shm` and run as the same user.
    #[cfg(unix)]
    pub async fn infer_shm(
        &self,
        request: InferenceRequest,
        fallback_to_json: bool,
    ) -> Result<InferenceOutput, Error> {
        self.infer_shm_with_timeout(request, fallback_to_json, None)
            .await
    }

    /// [`infer_shm`](Self::infer_shm) with a per-call deadline.
    #[cfg(unix)]
    pub async fn infer_shm_with_timeout(
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
        let output = self.infer_with_timeout(request, timeout).await;
        // Only now may the regions go: the server has read them (or the call has failed).
        drop(regions);
        output
    }

    /// A pipeline: `target` names the server (`vm_ip`, `container_id`); the steps run
    /// independently and the outputs come back per step name.
    pub async fn pipeline(
        &self,
        target: InferenceRequest,
        steps: Vec<PipelineStep>,
    ) -> Result<InferenceOutput, Error> {
        self.pipeline_with_timeout(target, steps, None).await
    }

    /// [`pipeline`](Self::pipeline) with a per-call deadline.
    pub async fn pipeline_with_timeout(
        &self,
        target: InferenceRequest,
        steps: Vec<PipelineStep>,
        timeout: Option<Duration>,
    ) -> Result<InferenceOutput, Error> {
        self.infer_with_timeout(calls::pipeline(target, steps), timeout)
            .await
    }

    /// A gRPC streaming inference: a `Stream` of frames as they arrive. Dropping it before the
    /// end cancels the request.
    pub fn infer_stream(&self, request: InferenceRequest) -> Result<InferStream<R>, Error> {
        self.infer_stream_with_timeout(request, None)
    }

    /// [`infer_stream`](Self::infer_stream) with a deadline for the whole stream.
    pub fn infer_stream_with_timeout(
        &self,
        request: InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<InferStream<R>, Error> {
        let (tx, rx) = mpsc::unbounded();
        let guard = self.start(calls::stream(request), timeout, ReplyTo::Stream(tx))?;
        Ok(InferStream::new(guard, rx))
    }

    /// `GET /health` on the server's host and port (a fresh HTTP connection).
    pub async fn health(&self) -> Result<HttpResponse, ProbeError> {
        self.http_get("/health").await
    }

    /// `GET /ready` on the server's host and port; status 200 means ready.
    pub async fn ready(&self) -> Result<HttpResponse, ProbeError> {
        self.http_get("/ready").await
    }

    async fn http_get(&self, path: &str) -> Result<HttpResponse, ProbeError> {
        crate::http::get::<R>(
            &self.inner.endpoint,
            self.inner.tls.as_ref(),
            path,
            self.inner.options.http_timeout,
        )
        .await
    }

    /// Closes the connection gracefully: pending calls fail with a local disconnect and the close
    /// frame is written. Idempotent; later calls fail with `RequestError::Closed`.
    pub async fn close(&self) {
        let (done, rx) = oneshot::channel();
        if self.send(Command::Close { done }).is_ok() {
            let _ = rx.await;
        }
    }
}
