//! The public surface of the clients, written once for every I/O model. Each client crate
//! declares its types and invokes these macros with how its I/O model waits:
//!
//! - `impl { … }`: the `impl` header (`impl Client`, `impl<R: Runtime> Client<R>`);
//! - `io { async } { .await } recv`: the blocking crate passes `io {} {} recv_blocking`, the
//!   async one `io { async } { .await } recv`, so the same method bodies block or await;
//! - `start { path }`: the crate's function that starts a client's I/O loop (see
//!   `tcm_blocking` and `tcm_async`'s `driver::start`);
//! - `get { path }`: the crate's `GET` for probes; `stream Type`: its stream of frames;
//!   `new |shared| …`: how the client type wraps its shared state.
//!
//! Every call goes through one method (`call`, `send` for JSON-RPC); the convenience methods
//! are one line each over it.

/// Makes a call with one outcome and waits for it: the blocking clients (`recv_blocking`) let
/// the calling thread drive the connection while no other thread does, the async ones the
/// calling task. Gives `Result<Outcome, NotStarted>`.
#[doc(hidden)]
#[macro_export]
macro_rules! __call {
    ($caller:expr, $request:expr, $timeout:expr, {} recv_blocking) => {
        $caller.call_blocking($request, $timeout)
    };
    ($caller:expr, $request:expr, $timeout:expr, { $($await:tt)* } $recv:ident) => {
        $caller.call_async($request, $timeout) $($await)*
    };
}

/// The TCM client: connect, any call, streams, probes, close, accessors and conveniences.
#[doc(hidden)]
#[macro_export]
macro_rules! tcm_client {
    (
        impl { $($head:tt)* }
        io { $($async:tt)* } { $($await:tt)* } $recv:ident
        start { $($start:tt)* }
        get { $($get:tt)* }
        stream $stream:ty;
        new $new:expr;
    ) => {
        $($head)* {
            /// Connects to `url` (`ws://` or `wss://`) with default
            /// [`ClientOptions`]($crate::ClientOptions), sends the auth frame first and waits for
            /// `auth.ok`. Any failure before that is returned as a typed error and the connection
            /// is closed.
            pub $($async)* fn connect(
                url: &str,
                auth: $crate::__private::tcm_proto::AuthContext,
                config: $crate::__private::tcm_proto::Config,
            ) -> Result<Self, $crate::ConnectError> {
                Self::connect_with(url, auth, config, $crate::ClientOptions::default()) $($await)*
            }

            /// [`connect`](Self::connect) with explicit transport options (timeouts, private CA,
            /// notifications).
            pub $($async)* fn connect_with(
                url: &str,
                auth: $crate::__private::tcm_proto::AuthContext,
                config: $crate::__private::tcm_proto::Config,
                options: $crate::ClientOptions,
            ) -> Result<Self, $crate::ConnectError> {
                use $crate::engine::client;
                let (shared, ready) =
                    $($start)*(|wake| client::tcm(url, auth, config, options, wake))?;
                ready.$recv() $($await)* .map_err(|_| $crate::ConnectError::Stopped)??;
                Ok(($new)(shared))
            }

            /// Makes any typed call (see [`tcm_proto::call`]($crate::__private::tcm_proto::call))
            /// with per-call `options` (a deadline, how tensors travel) and waits for its typed
            /// result: `client.call(GetQueueStats, Duration::from_secs(1))`. Anything that
            /// converts into [`CallOptions`]($crate::CallOptions) will do: a `Duration`, an
            /// `Option<Duration>`, or the options themselves.
            pub $($async)* fn call<C: $crate::__private::tcm_proto::Call>(
                &self,
                call: C,
                options: impl Into<$crate::CallOptions>,
            ) -> Result<C::Output, $crate::Error> {
                let options = options.into();
                let (request, keep) =
                    $crate::call::prepare(call, &options, || self.capabilities(), &self.shm)?;
                let caller = &self.shared.caller;
                let outcome = match $crate::__call!(caller, request, options.timeout, { $($await)* } $recv) {
                    Ok(outcome) => outcome?,
                    Err(e) => return Err($crate::call::unsent(keep, e)),
                };
                $crate::call::finish::<C>(keep, outcome)
            }

            /// A gRPC streaming inference: its frames as they arrive. `options` give the
            /// deadline of the whole stream. Dropping the stream early cancels the request; it
            /// keeps the connection open while it lives.
            pub fn stream(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
                options: impl Into<$crate::CallOptions>,
            ) -> Result<$stream, $crate::Error> {
                let timeout = options.into().timeout;
                let request = request.into_stream().into();
                let frames = self.shared.target.options.stream_buffer;
                let ticket = self.shared.caller.start(request, timeout, frames)?;
                Ok(<$stream>::new(self.clone(), ticket))
            }

            /// `GET /health` on the server's host and port (a fresh HTTP connection).
            pub $($async)* fn health(&self) -> Result<$crate::__private::HttpResponse, $crate::ProbeError> {
                self.http_get("/health") $($await)*
            }

            /// `GET /ready` on the server's host and port; status 200 means ready.
            pub $($async)* fn ready(&self) -> Result<$crate::__private::HttpResponse, $crate::ProbeError> {
                self.http_get("/ready") $($await)*
            }

            $($async)* fn http_get(&self, path: &str) -> Result<$crate::__private::HttpResponse, $crate::ProbeError> {
                $($get)*(&self.shared.target, path) $($await)*
            }

            /// Closes the connection gracefully: pending calls fail with a local disconnect and
            /// the close frame is written (or given up on after a second). Idempotent; later
            /// calls fail with `RequestError::Closed`. The client's shared-memory regions are
            /// unlinked: the idle ones now, those of calls still ending as they end.
            pub $($async)* fn close(&self) {
                if let Some(done) = self.shared.caller.close() {
                    let _ = done.$recv() $($await)*;
                }
                self.shm.close();
            }

            /// The shared-memory regions this client reuses across its calls (see
            /// [`Shm`]($crate::Shm)): their bounds, what is idle and leased, and how many were
            /// created, reused and retired.
            #[cfg(unix)]
            pub fn shm_pool(&self) -> &$crate::__private::tcm_shm::RegionPool {
                self.shm.regions()
            }

            /// The frames that answer no request (alerts, budget advisories, late replies), when
            /// enabled with [`ClientOptions::with_notifications`]($crate::ClientOptions::with_notifications):
            /// a channel to read with `recv().await`, `recv_blocking()` or `try_recv()`. Handed
            /// out once. When it is full, new notifications are dropped (and counted in the log).
            pub fn notifications(&self) -> Option<$crate::__private::Receiver<$crate::__private::tcm_proto::Notification>> {
                self.shared.extra.notifications.lock().ok()?.take()
            }

            /// The connection's changes: every (re)connect and disconnect, with when the next
            /// attempt starts (`None`: given up). Up to 64 unread are kept; later ones are
            /// dropped (and counted in the log). Handed out once.
            pub fn events(&self) -> Option<$crate::__private::Receiver<$crate::ClientEvent>> {
                self.shared.extra.events.lock().ok()?.take()
            }

            /// The capabilities negotiated on the current transport; `None` while reconnecting.
            pub fn capabilities(&self) -> Option<$crate::__private::tcm_proto::Capabilities> {
                self.shared.status.capabilities()
            }

            /// The uuid of the current transport connection.
            pub fn uuid(&self) -> String {
                self.shared.status.uuid()
            }

            /// The connection's phase as last published by the I/O loop.
            pub fn state(&self) -> $crate::__private::tcm_proto::ConnectionState {
                self.shared.status.state()
            }

            /// The endpoint this client talks to.
            pub fn endpoint(&self) -> &$crate::__private::tcm_proto::Endpoint {
                &self.shared.target.endpoint
            }

            /// The calls this client's connection took, by kind and outcome, those in
            /// progress and their mean latency, and how often its transport connected,
            /// reconnected and was lost: a snapshot to export as metrics. Counted by the I/O
            /// loop as calls end and transports come and go; calls refused before reaching it
            /// (a full queue, shared memory that could not be set up) are not counted.
            pub fn stats(&self) -> $crate::ClientStats {
                self.shared.status.stats()
            }
        }
        $crate::tcm_calls!({ $($head)* } { $($async)* } { $($await)* } $stream);
    };
}

/// A pool of TCM clients over one or more replicas: connect (to a list of replicas, or to the
/// replicas behind a service name, followed as they come and go), any call on the
/// least-loaded ready member (idempotent ones sent again on another replica when theirs shuts
/// down or drops), streams, stats, close.
///
/// Besides the client's own arguments: `probe { path }` is the crate's stand-alone probe,
/// `resolve { path }` resolves a [`Service`]($crate::engine::Service) off the I/O loops, and
/// `follow { path }` starts the background re-resolution of a pool (returning what stops it).
#[doc(hidden)]
#[macro_export]
macro_rules! tcm_pool {
    (
        impl { $($head:tt)* }
        io { $($async:tt)* } { $($await:tt)* }
        client $client:ty;
        stream $stream:ty;
        probe { $($probe:tt)* }
        resolve { $($resolve:tt)* }
        follow { $($follow:tt)* }
    ) => {
        $($head)* {
            /// Connects `size` clients (at least one) to `url`, member `i` with
            /// `config.pool_member(i)`.
            pub $($async)* fn connect(
                url: &str,
                auth: $crate::__private::tcm_proto::AuthContext,
                config: $crate::__private::tcm_proto::Config,
                size: usize,
            ) -> Result<Self, $crate::ConnectError> {
                Self::connect_with(url, auth, config, size, $crate::ClientOptions::default()) $($await)*
            }

            /// [`connect`](Self::connect) with explicit transport options.
            pub $($async)* fn connect_with(
                url: &str,
                auth: $crate::__private::tcm_proto::AuthContext,
                config: $crate::__private::tcm_proto::Config,
                size: usize,
                options: $crate::ClientOptions,
            ) -> Result<Self, $crate::ConnectError> {
                Self::connect_replicas(&[url], auth, config, size, options) $($await)*
            }

            /// Connects `per_replica` clients (at least one) to each of `urls` (the replicas
            /// of one service), each member with its own uuid (`config.pool_member(i)`). A
            /// call goes to the least-loaded member that is authenticated; an idempotent call
            /// (info, inference) whose replica shuts down (`SYSTEM_SHUTDOWN`) or drops is sent
            /// again on another replica within its original deadline; management never is. If
            /// a member cannot connect, the others are closed and its error is returned.
            pub $($async)* fn connect_replicas(
                urls: &[&str],
                auth: $crate::__private::tcm_proto::AuthContext,
                config: $crate::__private::tcm_proto::Config,
                per_replica: usize,
                options: $crate::ClientOptions,
            ) -> Result<Self, $crate::ConnectError> {
                let mut config = $crate::engine::seeded(config);
                // A call never waits for a replica that is down: it goes to another one.
                config.wait_for_reconnect = urls.len() < 2;
                let members = $crate::engine::Members::new(config.timeouts);
                let mut connected: Vec<Vec<$client>> = urls.iter().map(|_| Vec::new()).collect();
                let slots = (0..per_replica.max(1)).flat_map(|_| 0..urls.len());
                for r in slots {
                    let config = config.pool_member(members.next_member());
                    let member = <$client>::connect_with(urls[r], auth.clone(), config, options.clone()) $($await)*;
                    match member {
                        Ok(c) => connected[r].push(c),
                        Err(e) => {
                            for m in connected.iter().flatten() {
                                m.close() $($await)*;
                            }
                            return Err(e);
                        }
                    }
                }
                for (url, clients) in urls.iter().zip(connected) {
                    let name = $crate::engine::Members::<$client>::name_of(url);
                    // A pool nobody else holds yet is never closed: every replica is added.
                    let _ = members.add(name, None, clients);
                }
                Ok(Self { members: std::sync::Arc::new(members) })
            }

            /// Connects to every replica behind the host of `url` (a service name, e.g.
            /// `ws://tcm.default.svc:8000/ws` for a Kubernetes headless Service): the name is
            /// resolved with `pool.resolver` and each address whose `GET /ready` answers 200
            /// gets `pool.per_replica` members. Each member dials its address but names the
            /// service's host in TLS (SNI, certificate check) and in the `Host` header.
            ///
            /// With `pool.resolve_every`, the name is resolved again in the background at that
            /// interval: a new address gets members once it is ready (the others keep their
            /// connections: no reconnect storm); an address that is gone is drained (no new
            /// calls; calls in flight on it finish, or are sent again per the usual rules) and
            /// its connections close once idle. A failed or empty answer changes nothing.
            /// Calls are spread and replayed as in [`connect_replicas`](Self::connect_replicas).
            ///
            /// Fails if the name does not resolve or no replica could be connected (the last
            /// replica's error).
            pub $($async)* fn connect_service(
                url: &str,
                auth: $crate::__private::tcm_proto::AuthContext,
                config: $crate::__private::tcm_proto::Config,
                pool: $crate::PoolOptions,
                options: $crate::ClientOptions,
            ) -> Result<Self, $crate::ConnectError> {
                use std::sync::Arc;
                let config = $crate::engine::seeded(config);
                let timeouts = config.timeouts;
                let mut service = $crate::engine::Service::new(url, auth, config, &pool, options)?;
                let answer = $($resolve)*(&service) $($await)*?;
                // A call never waits for a replica that is down, unless there can only be one.
                service.config.wait_for_reconnect = answer.len() < 2 && pool.resolve_every.is_none();
                let service = Arc::new(service);
                let members = Arc::new($crate::engine::Members::new(timeouts));
                let mut last = None;
                for address in answer {
                    if let Err(e) = Self::join(&members, &service, address) $($await)* {
                        $crate::__private::tracing::warn!(%address, error = %e, "replica not joined");
                        last = Some(e);
                    }
                }
                if members.is_empty() {
                    return Err(last.unwrap_or($crate::ConnectError::Stopped));
                }
                if let Some(every) = pool.resolve_every {
                    members.follow($($follow)*(Arc::downgrade(&members), service, every));
                }
                Ok(Self { members })
            }

            /// Connects the members of the replica at `address` once its `/ready` answers
            /// 200, and adds them to the pool (or closes them, if the pool closed meanwhile).
            $($async)* fn join(
                members: &$crate::engine::Members<$client>,
                service: &$crate::engine::Service,
                address: std::net::SocketAddr,
            ) -> Result<(), $crate::ConnectError> {
                let options = service.options_for(address);
                let ready = $($probe)*(&service.url, "/ready", &options) $($await)*?;
                if ready.status != 200 {
                    return Err($crate::ConnectError::NotReady { status: ready.status });
                }
                let mut clients = Vec::with_capacity(service.per_replica);
                for _ in 0..service.per_replica {
                    let config = service.config.pool_member(members.next_member());
                    let auth = service.auth.clone();
                    match <$client>::connect_with(&service.url, auth, config, options.clone()) $($await)* {
                        Ok(c) => clients.push(c),
                        Err(e) => {
                            for c in &clients {
                                c.close() $($await)*;
                            }
                            return Err(e);
                        }
                    }
                }
                let joined = clients.len();
                if let Err(clients) = members.add(address.to_string(), Some(address), clients) {
                    // The pool was closed meanwhile.
                    for c in &clients {
                        c.close() $($await)*;
                    }
                    return Ok(());
                }
                $crate::__private::tracing::info!(%address, members = joined, "replica joined");
                Ok(())
            }

            /// One round of following a service name: resolves it, drains the replicas that
            /// are gone and joins those that appeared (and are ready). A failed answer changes
            /// nothing.
            $($async)* fn refresh(
                members: &$crate::engine::Members<$client>,
                service: &$crate::engine::Service,
            ) {
                let answer = match $($resolve)*(service) $($await)* {
                    Ok(answer) => answer,
                    Err(e) => {
                        $crate::__private::tracing::warn!(error = %e, "service name not resolved; replicas kept");
                        return;
                    }
                };
                let (appeared, gone) = $crate::engine::changes(&members.addresses(), &answer);
                for address in gone {
                    // Its connections close once the last call holding one ends.
                    let drained = members.remove(address);
                    $crate::__private::tracing::info!(%address, members = drained.len(), "replica gone; draining");
                }
                for address in appeared {
                    if members.is_closed() {
                        return;
                    }
                    if let Err(e) = Self::join(members, service, address) $($await)* {
                        $crate::__private::tracing::info!(%address, error = %e, "replica not joined yet");
                    }
                }
            }

            /// Makes any typed call on the least-loaded ready connection (see the client's
            /// `call`). An idempotent call whose replica shuts down or drops is sent again on
            /// another replica, within its original deadline.
            pub $($async)* fn call<C: $crate::__private::tcm_proto::Call>(
                &self,
                call: C,
                options: impl Into<$crate::CallOptions>,
            ) -> Result<C::Output, $crate::Error> {
                use $crate::__private::tcm_proto::{ConnectionState, Request};
                let options = options.into();
                let (request, memo) = call.into_request();
                let started = std::time::Instant::now();
                let budget = options.timeout.unwrap_or_else(|| self.members.deadline_of(&request));
                let kind = $crate::engine::kind_of(&request);
                let model = match &request {
                    Request::Inference(r) => r.model_name.clone(),
                    _ => None,
                };
                let ready = |c: &$client| c.state() == ConnectionState::Open;
                let mut excluded = Vec::new();
                let mut pending = Some(request);
                let outcome = loop {
                    let Some(request) = pending.take() else {
                        break Err($crate::Error::Stopped);
                    };
                    let Some(picked) = self.members.pick(&ready, &excluded) else {
                        break Err($crate::Error::Stopped);
                    };
                    let $crate::engine::Picked { client, replica, load: _load } = picked;
                    let left = budget.saturating_sub(started.elapsed());
                    // Kept for a second attempt only where one is allowed.
                    let again = request.is_idempotent().then(|| request.clone());
                    let span = $crate::__private::tracing::debug_span!(
                        "tcm.call",
                        kind = $crate::engine::KINDS[kind],
                        model = model.as_deref(),
                        replica = replica.name(),
                        attempt = excluded.len() + 1,
                        outcome = $crate::__private::tracing::field::Empty,
                        latency_us = $crate::__private::tracing::field::Empty,
                    );
                    let attempt = options.clone().timeout(left);
                    let attempt_started = std::time::Instant::now();
                    let result = {
                        let _enter = span.enter();
                        client.call(request, attempt) $($await)*
                    };
                    let took = attempt_started.elapsed();
                    replica.attempted(took);
                    let ended = $crate::CallOutcome::of(&result, $crate::CallOutcome::of_error);
                    span.record("outcome", ended.name());
                    span.record("latency_us", u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
                    match (result, again) {
                        (Err(e), Some(again)) if $crate::call::replica_gone(&e) && !left.is_zero() => {
                            excluded.push(replica.id());
                            pending = Some(again);
                        }
                        (result, _) => break result,
                    }
                };
                let ended = $crate::CallOutcome::of(&outcome, $crate::CallOutcome::of_error);
                self.members.count(kind, ended, !excluded.is_empty());
                let response = outcome?;
                $crate::call::finish::<C>($crate::call::Keep::memo(memo), Ok(response))
            }

            /// A streaming inference on the least-loaded ready connection; it counts as load
            /// until it ends. A stream that already delivered frames cannot be replayed, so
            /// it is never sent again.
            pub fn stream(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
                options: impl Into<$crate::CallOptions>,
            ) -> Result<$stream, $crate::Error> {
                use $crate::__private::tcm_proto::ConnectionState;
                let ready = |c: &$client| c.state() == ConnectionState::Open;
                let picked = self.members.pick(ready, &[]).ok_or($crate::Error::Stopped)?;
                picked.client.stream(request, options).map(|s| s.with_load(picked.load))
            }

            /// Calls, failures and replays so far, and per replica now in the pool its
            /// members, how many are ready, the calls in progress, its latency and how often
            /// its members connected, reconnected and lost their transport: a snapshot to
            /// export as metrics.
            pub fn stats(&self) -> $crate::PoolStats {
                use $crate::__private::tcm_proto::ConnectionState;
                let ready = |c: &$client| c.state() == ConnectionState::Open;
                self.members.stats(ready, |c: &$client| c.stats())
            }

            /// Closes every connection, and stops following the service name.
            pub $($async)* fn close(&self) {
                for m in self.members.close() {
                    m.close() $($await)*;
                }
            }

            /// The members now (handles on their clients), e.g. to inspect their uuids.
            pub fn members(&self) -> Vec<$client> {
                self.members.all()
            }

            /// Number of connections now.
            pub fn len(&self) -> usize {
                self.members.len()
            }

            /// Whether the pool has no connection (never true for a connected pool).
            pub fn is_empty(&self) -> bool {
                self.members.is_empty()
            }
        }
        $crate::tcm_calls!({ $($head)* } { $($async)* } { $($await)* } $stream);
    };
}

/// The TCM convenience calls of a client or pool that has `call(call, options)` and
/// `stream(request, options)`: one line each.
#[doc(hidden)]
#[macro_export]
macro_rules! tcm_calls {
    ({ $($head:tt)* } { $($async:tt)* } { $($await:tt)* } $stream:ty) => {
        $($head)* {
            /// The server's queue counters (the info fast path).
            pub $($async)* fn queue_stats(&self) -> Result<$crate::__private::tcm_proto::QueueStats, $crate::Error> {
                self.call($crate::__private::tcm_proto::GetQueueStats, $crate::CallOptions::new()) $($await)*
            }

            /// An info request with any action; returns the reply's `data`.
            pub $($async)* fn info(&self, action: &str) -> Result<$crate::__private::Value, $crate::Error> {
                let request = $crate::__private::tcm_proto::InfoRequest::new(action.to_owned());
                self.call(request, $crate::CallOptions::new()) $($await)*
            }

            /// A management request (`action` plus the other payload keys); returns the reply,
            /// typed with `result()` for the actions with a known shape, its `data()` as sent.
            /// Management is never retried automatically.
            pub $($async)* fn management(
                &self,
                action: &str,
                payload: $crate::__private::Map<String, $crate::__private::Value>,
            ) -> Result<$crate::__private::tcm_proto::management::ManagementReply, $crate::Error> {
                let request = $crate::__private::tcm_proto::ManagementRequest::new(action, payload);
                self.call(request, $crate::CallOptions::new()) $($await)*
            }

            /// An HTTP inference; returns the typed outputs.
            pub $($async)* fn infer(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
            ) -> Result<$crate::InferenceOutput, $crate::Error> {
                self.call(request, $crate::CallOptions::new()) $($await)*
            }

            /// An HTTP inference whose typed tensor inputs travel through POSIX shared memory
            /// (TCM §9.7): required, or (with `fallback_to_json`) where negotiated. See
            /// [`Shm`]($crate::Shm).
            pub $($async)* fn infer_shm(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
                fallback_to_json: bool,
            ) -> Result<$crate::InferenceOutput, $crate::Error> {
                let shm = if fallback_to_json { $crate::Shm::Preferred } else { $crate::Shm::Required };
                self.call(request, $crate::CallOptions::new().shm(shm)) $($await)*
            }

            /// A pipeline: `target` names the server (`vm_ip`, `container_id`); the steps run
            /// independently and the outputs come back per step name.
            pub $($async)* fn pipeline(
                &self,
                target: $crate::__private::tcm_proto::InferenceRequest,
                steps: Vec<$crate::__private::tcm_proto::PipelineStep>,
            ) -> Result<$crate::InferenceOutput, $crate::Error> {
                self.call(target.into_pipeline(steps), $crate::CallOptions::new()) $($await)*
            }

            /// A gRPC streaming inference with the default deadline; see `stream`.
            pub fn infer_stream(
                &self,
                request: $crate::__private::tcm_proto::InferenceRequest,
            ) -> Result<$stream, $crate::Error> {
                self.stream(request, $crate::CallOptions::new())
            }
        }
    };
}

/// The JSON-RPC client: connect, any call, close, accessors and handler setters.
#[doc(hidden)]
#[macro_export]
macro_rules! rpc_client {
    (
        impl { $($head:tt)* }
        io { $($async:tt)* } { $($await:tt)* } $recv:ident
        start { $($start:tt)* }
        client $client:ty;
    ) => {
        $($head)* {
            /// Connects to `url` (`ws://` or `wss://`, e.g.
            /// `wss://platform.tellurio.ai/ws/v0/rpc/`) with default options and no handlers,
            /// and waits for the session frame.
            pub $($async)* fn connect(
                url: &str,
                config: $crate::__private::tcm_proto::jsonrpc::RpcConfig,
            ) -> Result<Self, $crate::RpcConnectError> {
                Self::connect_with(url, config, $crate::RpcOptions::default(), $crate::RpcHandlers::default()) $($await)*
            }

            /// [`connect`](Self::connect) with explicit options and handlers. The upgrade carries
            /// `Authorization: Api-Key <key>`; a refused key is
            /// [`RpcConnectError::Unauthorized`]($crate::RpcConnectError::Unauthorized).
            pub $($async)* fn connect_with(
                url: &str,
                config: $crate::__private::tcm_proto::jsonrpc::RpcConfig,
                options: $crate::RpcOptions,
                handlers: $crate::RpcHandlers<$client>,
            ) -> Result<Self, $crate::RpcConnectError> {
                use $crate::engine::client;
                let handle = |shared| Self { shared };
                let (shared, ready) =
                    $($start)*(|wake| client::rpc(url, config, options, handlers, wake, handle))?;
                ready.$recv() $($await)* .map_err(|_| $crate::RpcConnectError::Stopped)??;
                Ok(Self { shared })
            }

            /// Sends `call` (see `tcm_proto::jsonrpc::methods` for typed builders) with
            /// per-call `options` and waits for the result. A deadline overrides the configured
            /// default; for long-running methods it slides with each heartbeat.
            pub $($async)* fn send(
                &self,
                call: $crate::__private::tcm_proto::jsonrpc::Call,
                options: impl Into<$crate::CallOptions>,
            ) -> Result<$crate::__private::Value, $crate::__private::tcm_proto::jsonrpc::CallError> {
                use $crate::__private::tcm_proto::jsonrpc::CallError;
                let timeout = options.into().timeout;
                let caller = &self.shared.caller;
                match $crate::__call!(caller, call, timeout, { $($await)* } $recv) {
                    Ok(outcome) => outcome.unwrap_or(Err(CallError::NotConnected)),
                    Err($crate::engine::NotStarted::Full { limit }) => {
                        Err(CallError::TooManyPending(limit))
                    }
                    Err($crate::engine::NotStarted::Stopped) => Err(CallError::NotConnected),
                }
            }

            /// Calls `method` with named `params` (an object; `run_uuid` is added) with the
            /// default deadline and waits for the result.
            pub $($async)* fn call(
                &self,
                method: &str,
                params: $crate::__private::Value,
            ) -> Result<$crate::__private::Value, $crate::__private::tcm_proto::jsonrpc::CallError> {
                let call = $crate::__private::tcm_proto::jsonrpc::Call::new(method, params);
                self.send(call, $crate::CallOptions::new()) $($await)*
            }

            /// Closes the session: pending calls fail at once with `CallError::Cancelled`, a
            /// close frame (1000) is written, and later calls fail with
            /// `CallError::NotConnected`. Idempotent.
            pub $($async)* fn close(&self) {
                if let Some(done) = self.shared.caller.close() {
                    let _ = done.$recv() $($await)*;
                }
            }

            /// The id of the current session, from its session frame (`None` if the server
            /// sent none).
            pub fn session_id(&self) -> Option<String> {
                self.shared.status.session_id()
            }

            /// Whether a session is ready for calls (not reconnecting, not closed).
            pub fn is_ready(&self) -> bool {
                self.shared.status.state() == $crate::__private::tcm_proto::ConnectionState::Open
            }

            /// Whether the client is closed for good.
            pub fn is_closed(&self) -> bool {
                self.shared.status.state() == $crate::__private::tcm_proto::ConnectionState::Closed
            }

            /// Sets (or clears) the active run whose uuid is added to every call.
            pub fn set_run_uuid(&self, run_uuid: Option<String>) {
                let apply = move |s: &mut $crate::__private::tcm_proto::jsonrpc::RpcSession, _| s.set_run_uuid(run_uuid);
                let _ = self.shared.caller.send($crate::engine::Command::Apply(Box::new(apply)));
            }

            /// Replaces the server-request handler (see
            /// [`RpcHandlers::on_request`]($crate::RpcHandlers::on_request)).
            pub fn on_request<F>(&self, handler: F)
            where
                F: Fn(&$client, $crate::__private::tcm_proto::jsonrpc::ServerMethod) -> Result<$crate::__private::Value, $crate::__private::tcm_proto::jsonrpc::RpcError>
                    + Send + Sync + 'static,
            {
                self.shared.extra.handlers.set_request(handler);
            }

            /// Replaces the notification handler (see
            /// [`RpcHandlers::on_notification`]($crate::RpcHandlers::on_notification)).
            pub fn on_notification<F>(&self, handler: F)
            where
                F: Fn(&$client, &str, &$crate::__private::Value) + Send + Sync + 'static,
            {
                self.shared.extra.handlers.set_notification(handler);
            }

            /// Reconnects and disconnects, as they happen (up to 64 unread; later ones are
            /// dropped). Handed out once.
            pub fn events(&self) -> Option<$crate::__private::Receiver<$crate::RpcClientEvent>> {
                self.shared.extra.events.lock().ok()?.take()
            }
        }
    };
}

/// What a client's stream type (a newtype over [`Frames`]($crate::engine::Frames) holding a
/// `$client`) has in every I/O model.
#[doc(hidden)]
#[macro_export]
macro_rules! stream_methods {
    ({ $($head:tt)* } $client:ty) => {
        $($head)* {
            pub(crate) fn new(
                client: $client,
                ticket: $crate::engine::Ticket<$crate::__private::tcm_proto::Connection>,
            ) -> Self {
                Self($crate::engine::Frames::new(client, ticket))
            }

            /// Counts this stream against a pool member's load until it ends or is dropped.
            pub(crate) fn with_load(self, load: $crate::engine::LoadGuard) -> Self {
                Self(self.0.with_load(load))
            }

            /// The final response once the stream completed (it carries the model name).
            pub fn completion(&self) -> Option<&$crate::__private::tcm_proto::Response> {
                self.0.completion()
            }

            /// Frames waiting unread (and the outcome, once it is in). At most
            /// `ClientOptions::stream_buffer` frames wait; a reader further behind gets
            /// `RequestError::SlowConsumer`.
            pub fn unread(&self) -> usize {
                self.0.unread()
            }
        }
    };
}
