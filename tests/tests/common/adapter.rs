//! One synchronous facade over the four clients, so each scenario is written once.

use std::time::Duration;

use serde_json::{Map, Value};
use tcm_adapter::ClientEvent;
use tcm_proto::GetQueueStats;
use tcm_proto::management::ManagementReply;
use tcm_proto::{
    AuthContext, Capabilities, Config, ConnectionState, DisconnectError, InferenceRequest,
    Notification, Outputs, PipelineStep, QueueStats, RequestError,
};

/// Transport options common to every adapter.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    /// A private CA (PEM) to trust instead of the webpki roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Capacity of the notification channel (0: off).
    pub notifications: usize,
    /// Overrides the dial timeout (5 s).
    pub connect_timeout: Option<Duration>,
    /// Overrides how many frames of a stream may wait unread.
    pub stream_buffer: Option<usize>,
    /// Dials this address instead of resolving the URL's host.
    pub connect_to: Option<std::net::SocketAddr>,
}

/// A call running in the background; calling it waits for its outcome.
pub type Pending<T> = Box<dyn FnOnce() -> Call<T> + Send>;

/// A connect failure, normalised across adapters.
#[derive(Debug)]
pub enum ConnectFailure {
    Auth(String),
    HttpStatus(u16),
    Refused,
    Tls(String),
    Timeout,
    Disconnected(DisconnectError),
    Other(String),
}

/// A call failure, normalised across adapters.
#[derive(Debug)]
pub enum CallFailure {
    Request(RequestError),
    Other(String),
}

impl CallFailure {
    pub fn request(&self) -> Option<&RequestError> {
        match self {
            Self::Request(e) => Some(e),
            Self::Other(_) => None,
        }
    }
}

pub type Call<T> = Result<T, CallFailure>;

/// What a scenario can do with a client.
pub trait Adapter: 'static {
    const NAME: &'static str;
    type Client: Clone + Send + Sync + std::fmt::Debug + 'static;
    type Pool: Send + Sync + 'static;

    fn connect(
        url: &str,
        auth: AuthContext,
        config: Config,
        opts: &Opts,
    ) -> Result<Self::Client, ConnectFailure>;
    fn capabilities(c: &Self::Client) -> Option<Capabilities>;
    fn state(c: &Self::Client) -> ConnectionState;
    fn queue_stats(c: &Self::Client) -> Call<QueueStats>;
    fn management(
        c: &Self::Client,
        action: &str,
        payload: Map<String, Value>,
    ) -> Call<ManagementReply>;
    fn infer(c: &Self::Client, r: InferenceRequest, timeout: Option<Duration>) -> Call<Outputs>;
    fn pipeline(
        c: &Self::Client,
        target: InferenceRequest,
        steps: Vec<PipelineStep>,
    ) -> Call<Outputs>;
    fn stream_text(c: &Self::Client, r: InferenceRequest) -> Call<String>;
    /// `queue_stats` with a deadline of its own.
    fn queue_stats_within(c: &Self::Client, timeout: Duration) -> Call<QueueStats>;
    /// Starts an inference with a deadline in the background.
    fn infer_in_background(
        c: &Self::Client,
        r: InferenceRequest,
        timeout: Duration,
    ) -> Pending<Outputs>;
    /// Takes the connection-event receiver; the closure returns the next one without waiting.
    fn events(c: &Self::Client) -> Box<dyn FnMut() -> Option<ClientEvent> + Send>;
    /// Starts a stream, waits (up to `within`) until `unread` replies wait unread, then reads
    /// it to the end: the number of chunks read and how it ended.
    fn late_stream(
        c: &Self::Client,
        r: InferenceRequest,
        unread: usize,
        within: Duration,
    ) -> (usize, Call<()>);
    fn health(c: &Self::Client) -> Result<u16, String>;
    fn ready(c: &Self::Client) -> Result<u16, String>;
    fn close(c: &Self::Client);
    /// `GET path` on the server of `url` without a session.
    fn probe(url: &str, path: &str) -> Result<u16, String>;
    /// Takes the notification receiver; the closure returns the next one without waiting.
    fn notifications(c: &Self::Client) -> Box<dyn FnMut() -> Option<Notification> + Send>;
    /// `n` queue_stats calls in flight at once on one connection.
    fn concurrent_queue_stats(c: &Self::Client, n: usize) -> Vec<Call<QueueStats>>;
    /// Every request in flight at once on one connection; results in request order.
    fn concurrent_infer(c: &Self::Client, reqs: Vec<InferenceRequest>) -> Vec<Call<Outputs>>;
    fn pool_connect(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
        opts: &Opts,
    ) -> Result<Self::Pool, ConnectFailure>;
    fn pool_uuids(p: &Self::Pool) -> Vec<String>;
    /// A pool of `per_replica` connections to each of `urls`.
    fn pool_connect_replicas(
        urls: &[&str],
        config: Config,
        per_replica: usize,
    ) -> Result<Self::Pool, ConnectFailure>;
    fn pool_stats(p: &Self::Pool) -> tcm_adapter::PoolStats;
    /// A pool over the replicas behind the host of `url`, as `pool` says.
    fn pool_connect_service(
        url: &str,
        config: Config,
        pool: tcm_adapter::PoolOptions,
        opts: &Opts,
    ) -> Result<Self::Pool, ConnectFailure>;
    /// The counters of one client.
    fn stats(c: &Self::Client) -> tcm_adapter::ClientStats;
    fn pool_management(p: &Self::Pool, action: &str) -> Call<ManagementReply>;
    /// Every request in flight at once on the pool; results in request order.
    fn pool_infer_many(p: &Self::Pool, reqs: Vec<InferenceRequest>) -> Vec<Call<Outputs>>;
    fn pool_stream_text(p: &Self::Pool, r: InferenceRequest) -> Call<String>;
    fn pool_close(p: &Self::Pool);
}

macro_rules! map_connect {
    ($m:ident, $e:expr) => {
        match $e {
            $m::ConnectError::AuthFailed { message } => ConnectFailure::Auth(message),
            $m::ConnectError::Transport($m::TransportError::HttpStatus { status }) => {
                ConnectFailure::HttpStatus(status)
            }
            $m::ConnectError::Transport($m::TransportError::Connect { .. }) => {
                ConnectFailure::Refused
            }
            $m::ConnectError::Transport($m::TransportError::Tls(e)) => {
                ConnectFailure::Tls(e.to_string())
            }
            $m::ConnectError::Transport($m::TransportError::Timeout) => ConnectFailure::Timeout,
            $m::ConnectError::Disconnected(d) => ConnectFailure::Disconnected(d),
            other => ConnectFailure::Other(other.to_string()),
        }
    };
}

macro_rules! map_call {
    ($m:ident, $e:expr) => {
        match $e {
            $m::Error::Request(r) => CallFailure::Request(r),
            other => CallFailure::Other(other.to_string()),
        }
    };
}

/// The blocking client.
pub struct Blocking;

fn blocking_options(opts: &Opts) -> tcm_blocking::ClientOptions {
    let o = tcm_blocking::ClientOptions::default()
        .with_connect_timeout(opts.connect_timeout.unwrap_or(Duration::from_secs(5)))
        .with_http_timeout(Duration::from_secs(2))
        .with_stream_buffer(opts.stream_buffer.unwrap_or(1024))
        .with_notifications(opts.notifications);
    let o = match opts.connect_to {
        Some(address) => o.with_connect_to(address),
        None => o,
    };
    match &opts.ca_pem {
        Some(pem) => o.with_ca_pem(pem.clone()).without_webpki_roots(),
        None => o,
    }
}

impl Adapter for Blocking {
    const NAME: &'static str = "blocking";
    type Client = tcm_blocking::Client;
    type Pool = tcm_blocking::Pool;

    fn connect(
        url: &str,
        auth: AuthContext,
        config: Config,
        opts: &Opts,
    ) -> Result<Self::Client, ConnectFailure> {
        tcm_blocking::Client::connect_with(url, auth, config, blocking_options(opts))
            .map_err(|e| map_connect!(tcm_blocking, e))
    }
    fn capabilities(c: &Self::Client) -> Option<Capabilities> {
        c.capabilities()
    }
    fn state(c: &Self::Client) -> ConnectionState {
        c.state()
    }
    fn queue_stats(c: &Self::Client) -> Call<QueueStats> {
        c.queue_stats().map_err(|e| map_call!(tcm_blocking, e))
    }
    fn management(
        c: &Self::Client,
        action: &str,
        payload: Map<String, Value>,
    ) -> Call<ManagementReply> {
        c.management(action, payload)
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn infer(c: &Self::Client, r: InferenceRequest, timeout: Option<Duration>) -> Call<Outputs> {
        c.call(r, timeout)
            .map(|o| o.outputs)
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn pipeline(
        c: &Self::Client,
        target: InferenceRequest,
        steps: Vec<PipelineStep>,
    ) -> Call<Outputs> {
        c.pipeline(target, steps)
            .map(|o| o.outputs)
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn stream_text(c: &Self::Client, r: InferenceRequest) -> Call<String> {
        c.infer_stream(r)
            .and_then(|s| s.collect_text())
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn queue_stats_within(c: &Self::Client, timeout: Duration) -> Call<QueueStats> {
        c.call(GetQueueStats, timeout)
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn infer_in_background(
        c: &Self::Client,
        r: InferenceRequest,
        timeout: Duration,
    ) -> Pending<Outputs> {
        let c = c.clone();
        let call = std::thread::spawn(move || Self::infer(&c, r, Some(timeout)));
        Box::new(move || {
            call.join()
                .unwrap_or_else(|_| Err(CallFailure::Other("panic".into())))
        })
    }
    fn events(c: &Self::Client) -> Box<dyn FnMut() -> Option<ClientEvent> + Send> {
        let rx = c.events().expect("events taken once");
        Box::new(move || rx.try_recv().ok())
    }
    fn late_stream(
        c: &Self::Client,
        r: InferenceRequest,
        unread: usize,
        within: Duration,
    ) -> (usize, Call<()>) {
        let stream = c.infer_stream(r).expect("the stream starts");
        assert!(
            super::eventually(within, || stream.unread() >= unread),
            "{unread} replies wait unread"
        );
        let mut chunks = 0;
        for frame in stream {
            match frame {
                Ok(_) => chunks += 1,
                Err(e) => return (chunks, Err(map_call!(tcm_blocking, e))),
            }
        }
        (chunks, Ok(()))
    }
    fn health(c: &Self::Client) -> Result<u16, String> {
        c.health().map(|r| r.status).map_err(|e| e.to_string())
    }
    fn ready(c: &Self::Client) -> Result<u16, String> {
        c.ready().map(|r| r.status).map_err(|e| e.to_string())
    }
    fn close(c: &Self::Client) {
        c.close();
    }
    fn probe(url: &str, path: &str) -> Result<u16, String> {
        tcm_blocking::probe(url, path, &blocking_options(&Opts::default()))
            .map(|r| r.status)
            .map_err(|e| e.to_string())
    }
    fn notifications(c: &Self::Client) -> Box<dyn FnMut() -> Option<Notification> + Send> {
        let rx = c.notifications().expect("notifications enabled");
        Box::new(move || rx.try_recv().ok())
    }
    fn concurrent_queue_stats(c: &Self::Client, n: usize) -> Vec<Call<QueueStats>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n).map(|_| s.spawn(|| Self::queue_stats(c))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(CallFailure::Other("panic".into())))
                })
                .collect()
        })
    }
    fn concurrent_infer(c: &Self::Client, reqs: Vec<InferenceRequest>) -> Vec<Call<Outputs>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = reqs
                .into_iter()
                .map(|r| s.spawn(move || Self::infer(c, r, None)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(CallFailure::Other("panic".into())))
                })
                .collect()
        })
    }
    fn pool_connect(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
        opts: &Opts,
    ) -> Result<Self::Pool, ConnectFailure> {
        tcm_blocking::Pool::connect_with(url, auth, config, size, blocking_options(opts))
            .map_err(|e| map_connect!(tcm_blocking, e))
    }
    fn pool_uuids(p: &Self::Pool) -> Vec<String> {
        p.members().iter().map(|c| c.uuid()).collect()
    }
    fn pool_connect_replicas(
        urls: &[&str],
        config: Config,
        per_replica: usize,
    ) -> Result<Self::Pool, ConnectFailure> {
        let options = blocking_options(&Opts::default());
        let auth = AuthContext::anonymous();
        tcm_blocking::Pool::connect_replicas(urls, auth, config, per_replica, options)
            .map_err(|e| map_connect!(tcm_blocking, e))
    }
    fn pool_stats(p: &Self::Pool) -> tcm_adapter::PoolStats {
        p.stats()
    }
    fn pool_connect_service(
        url: &str,
        config: Config,
        pool: tcm_adapter::PoolOptions,
        opts: &Opts,
    ) -> Result<Self::Pool, ConnectFailure> {
        let auth = AuthContext::anonymous();
        tcm_blocking::Pool::connect_service(url, auth, config, pool, blocking_options(opts))
            .map_err(|e| map_connect!(tcm_blocking, e))
    }
    fn stats(c: &Self::Client) -> tcm_adapter::ClientStats {
        c.stats()
    }
    fn pool_management(p: &Self::Pool, action: &str) -> Call<ManagementReply> {
        p.management(action, Map::new())
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn pool_infer_many(p: &Self::Pool, reqs: Vec<InferenceRequest>) -> Vec<Call<Outputs>> {
        // 32 caller threads share the requests, preserving their order in the results.
        let reqs: Vec<(usize, InferenceRequest)> = reqs.into_iter().enumerate().collect();
        let total = reqs.len();
        let queue = std::sync::Mutex::new(reqs);
        let results = std::sync::Mutex::new(Vec::with_capacity(total));
        std::thread::scope(|s| {
            for _ in 0..32 {
                s.spawn(|| {
                    loop {
                        let next = queue.lock().ok().and_then(|mut q| q.pop());
                        let Some((i, r)) = next else { break };
                        let out = p
                            .infer(r)
                            .map(|o| o.outputs)
                            .map_err(|e| map_call!(tcm_blocking, e));
                        if let Ok(mut res) = results.lock() {
                            res.push((i, out));
                        }
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_default();
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }
    fn pool_stream_text(p: &Self::Pool, r: InferenceRequest) -> Call<String> {
        p.infer_stream(r)
            .and_then(|s| s.collect_text())
            .map_err(|e| map_call!(tcm_blocking, e))
    }
    fn pool_close(p: &Self::Pool) {
        p.close();
    }
}

fn async_options(opts: &Opts) -> tcm_async::ClientOptions {
    let o = tcm_async::ClientOptions::default()
        .with_connect_timeout(opts.connect_timeout.unwrap_or(Duration::from_secs(5)))
        .with_http_timeout(Duration::from_secs(2))
        .with_stream_buffer(opts.stream_buffer.unwrap_or(1024))
        .with_notifications(opts.notifications);
    let o = match opts.connect_to {
        Some(address) => o.with_connect_to(address),
        None => o,
    };
    match &opts.ca_pem {
        Some(pem) => o.with_ca_pem(pem.clone()).without_webpki_roots(),
        None => o,
    }
}

/// Implements [`Adapter`] for an async facade given its `block_on` and `spawn`.
macro_rules! async_adapter {
    ($name:ident, $label:literal, $krate:ident, $rt:ty, block_on = $block_on:path, spawn = $spawn:path) => {
        /// An async client.
        pub struct $name;

        impl Adapter for $name {
            const NAME: &'static str = $label;
            type Client = $krate::Client;
            type Pool = $krate::Pool;

            fn connect(
                url: &str,
                auth: AuthContext,
                config: Config,
                opts: &Opts,
            ) -> Result<Self::Client, ConnectFailure> {
                $block_on($krate::Client::connect_with(
                    url,
                    auth,
                    config,
                    async_options(opts),
                ))
                .map_err(|e| map_connect!(tcm_async, e))
            }
            fn capabilities(c: &Self::Client) -> Option<Capabilities> {
                c.capabilities()
            }
            fn state(c: &Self::Client) -> ConnectionState {
                c.state()
            }
            fn queue_stats(c: &Self::Client) -> Call<QueueStats> {
                $block_on(c.queue_stats()).map_err(|e| map_call!(tcm_async, e))
            }
            fn management(
                c: &Self::Client,
                action: &str,
                payload: Map<String, Value>,
            ) -> Call<ManagementReply> {
                $block_on(c.management(action, payload)).map_err(|e| map_call!(tcm_async, e))
            }
            fn infer(
                c: &Self::Client,
                r: InferenceRequest,
                timeout: Option<Duration>,
            ) -> Call<Outputs> {
                $block_on(c.call(r, timeout))
                    .map(|o| o.outputs)
                    .map_err(|e| map_call!(tcm_async, e))
            }
            fn pipeline(
                c: &Self::Client,
                target: InferenceRequest,
                steps: Vec<PipelineStep>,
            ) -> Call<Outputs> {
                $block_on(c.pipeline(target, steps))
                    .map(|o| o.outputs)
                    .map_err(|e| map_call!(tcm_async, e))
            }
            fn stream_text(c: &Self::Client, r: InferenceRequest) -> Call<String> {
                let stream = c.infer_stream(r).map_err(|e| map_call!(tcm_async, e))?;
                $block_on(stream.collect_text()).map_err(|e| map_call!(tcm_async, e))
            }
            fn queue_stats_within(c: &Self::Client, timeout: Duration) -> Call<QueueStats> {
                $block_on(c.call(GetQueueStats, timeout)).map_err(|e| map_call!(tcm_async, e))
            }
            fn infer_in_background(
                c: &Self::Client,
                r: InferenceRequest,
                timeout: Duration,
            ) -> Pending<Outputs> {
                let c = c.clone();
                let task = $spawn(async move { c.call(r, timeout).await });
                Box::new(move || {
                    $block_on(task)
                        .map(|o| o.outputs)
                        .map_err(|e| map_call!(tcm_async, e))
                })
            }
            fn events(c: &Self::Client) -> Box<dyn FnMut() -> Option<ClientEvent> + Send> {
                let rx = c.events().expect("events taken once");
                Box::new(move || rx.try_recv().ok())
            }
            fn late_stream(
                c: &Self::Client,
                r: InferenceRequest,
                unread: usize,
                within: Duration,
            ) -> (usize, Call<()>) {
                use futures_util::StreamExt;
                let mut stream = c.infer_stream(r).expect("the stream starts");
                assert!(
                    super::eventually(within, || stream.unread() >= unread),
                    "{unread} replies wait unread"
                );
                $block_on(async move {
                    let mut chunks = 0;
                    while let Some(frame) = stream.next().await {
                        match frame {
                            Ok(_) => chunks += 1,
                            Err(e) => return (chunks, Err(map_call!(tcm_async, e))),
                        }
                    }
                    (chunks, Ok(()))
                })
            }
            fn health(c: &Self::Client) -> Result<u16, String> {
                $block_on(c.health())
                    .map(|r| r.status)
                    .map_err(|e| e.to_string())
            }
            fn ready(c: &Self::Client) -> Result<u16, String> {
                $block_on(c.ready())
                    .map(|r| r.status)
                    .map_err(|e| e.to_string())
            }
            fn close(c: &Self::Client) {
                $block_on(c.close());
            }
            fn probe(url: &str, path: &str) -> Result<u16, String> {
                $block_on($krate::probe(url, path, &async_options(&Opts::default())))
                    .map(|r| r.status)
                    .map_err(|e| e.to_string())
            }
            fn notifications(c: &Self::Client) -> Box<dyn FnMut() -> Option<Notification> + Send> {
                let rx = c.notifications().expect("notifications enabled");
                Box::new(move || rx.try_recv().ok())
            }
            fn concurrent_queue_stats(c: &Self::Client, n: usize) -> Vec<Call<QueueStats>> {
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let c = c.clone();
                        $spawn(async move { c.queue_stats().await })
                    })
                    .collect();
                $block_on(async move {
                    let mut out = Vec::with_capacity(tasks.len());
                    for t in tasks {
                        out.push(t.await.map_err(|e| map_call!(tcm_async, e)));
                    }
                    out
                })
            }
            fn concurrent_infer(
                c: &Self::Client,
                reqs: Vec<InferenceRequest>,
            ) -> Vec<Call<Outputs>> {
                let tasks: Vec<_> = reqs
                    .into_iter()
                    .map(|r| {
                        let c = c.clone();
                        $spawn(async move { c.infer(r).await })
                    })
                    .collect();
                $block_on(async move {
                    let mut out = Vec::with_capacity(tasks.len());
                    for t in tasks {
                        out.push(
                            t.await
                                .map(|o| o.outputs)
                                .map_err(|e| map_call!(tcm_async, e)),
                        );
                    }
                    out
                })
            }
            fn pool_connect(
                url: &str,
                auth: AuthContext,
                config: Config,
                size: usize,
                opts: &Opts,
            ) -> Result<Self::Pool, ConnectFailure> {
                $block_on($krate::Pool::connect_with(
                    url,
                    auth,
                    config,
                    size,
                    async_options(opts),
                ))
                .map_err(|e| map_connect!(tcm_async, e))
            }
            fn pool_uuids(p: &Self::Pool) -> Vec<String> {
                p.members().iter().map(|c| c.uuid()).collect()
            }
            fn pool_connect_replicas(
                urls: &[&str],
                config: Config,
                per_replica: usize,
            ) -> Result<Self::Pool, ConnectFailure> {
                let options = async_options(&Opts::default());
                let auth = AuthContext::anonymous();
                $block_on($krate::Pool::connect_replicas(
                    urls,
                    auth,
                    config,
                    per_replica,
                    options,
                ))
                .map_err(|e| map_connect!(tcm_async, e))
            }
            fn pool_stats(p: &Self::Pool) -> tcm_adapter::PoolStats {
                p.stats()
            }
            fn pool_connect_service(
                url: &str,
                config: Config,
                pool: tcm_adapter::PoolOptions,
                opts: &Opts,
            ) -> Result<Self::Pool, ConnectFailure> {
                let auth = AuthContext::anonymous();
                $block_on($krate::Pool::connect_service(
                    url,
                    auth,
                    config,
                    pool,
                    async_options(opts),
                ))
                .map_err(|e| map_connect!(tcm_async, e))
            }
            fn stats(c: &Self::Client) -> tcm_adapter::ClientStats {
                c.stats()
            }
            fn pool_management(p: &Self::Pool, action: &str) -> Call<ManagementReply> {
                $block_on(p.management(action, Map::new())).map_err(|e| map_call!(tcm_async, e))
            }
            fn pool_infer_many(p: &Self::Pool, reqs: Vec<InferenceRequest>) -> Vec<Call<Outputs>> {
                let tasks: Vec<_> = reqs
                    .into_iter()
                    .map(|r| {
                        let p = p.clone();
                        $spawn(async move { p.infer(r).await })
                    })
                    .collect();
                $block_on(async move {
                    let mut out = Vec::with_capacity(tasks.len());
                    for t in tasks {
                        out.push(
                            t.await
                                .map(|o| o.outputs)
                                .map_err(|e| map_call!(tcm_async, e)),
                        );
                    }
                    out
                })
            }
            fn pool_stream_text(p: &Self::Pool, r: InferenceRequest) -> Call<String> {
                let stream = p.infer_stream(r).map_err(|e| map_call!(tcm_async, e))?;
                $block_on(stream.collect_text()).map_err(|e| map_call!(tcm_async, e))
            }
            fn pool_close(p: &Self::Pool) {
                $block_on(p.close());
            }
        }
    };
}

async_adapter!(
    Smol,
    "smol",
    tcm_smol,
    tcm_smol::Smol,
    block_on = smol::block_on,
    spawn = smol::spawn
);
async_adapter!(
    AsyncStd,
    "async-std",
    tcm_async_std,
    tcm_async_std::AsyncStd,
    block_on = async_std::task::block_on,
    spawn = async_std::task::spawn
);
async_adapter!(
    Tokio,
    "tokio",
    tcm_tokio,
    tcm_tokio::Tokio,
    block_on = tcm_tests::tokio_block_on,
    spawn = tcm_tests::tokio_spawn
);
