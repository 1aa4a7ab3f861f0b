//! [`Client`]: a cloneable handle on one TCM connection served by an I/O task.

use std::sync::Arc;

use tcm_adapter::call::{finish, prepare};
use tcm_adapter::engine::client::{self, TcmShared};
use tcm_adapter::engine::{Outcome, Protocol, Ticket};
use tcm_adapter::{CallOptions, ClientOptions, ConnectError, Error, ProbeError};
use tcm_proto::http::HttpResponse;
use tcm_proto::{AuthContext, Call, Config, InferenceRequest};

use crate::runtime::Runtime;
use crate::stream::InferStream;

/// A connected TCM client on runtime `R`. Cheap to clone; all clones share one connection and
/// its I/O task, and concurrent calls are multiplexed on it by the protocol core. Dropping a
/// call's future cancels its request.
pub struct Client<R: Runtime> {
    pub(crate) shared: Arc<TcmShared>,
    _runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            _runtime: std::marker::PhantomData,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Client<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

/// Awaits the outcome of a ticket's request; dropping the future cancels it.
pub(crate) async fn wait<P: Protocol>(ticket: &mut Ticket<P>) -> Outcome<P> {
    loop {
        let reply = ticket.replies().recv().await;
        if let Some(outcome) = ticket.outcome(reply) {
            return outcome;
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
        let client::Parts {
            shared,
            setup,
            ready,
        } = client::tcm(url, auth, config, options, None)?;
        R::spawn(crate::driver::run::<R, _>(setup));
        ready.recv().await.map_err(|_| ConnectError::Stopped)??;
        Ok(Self {
            shared,
            _runtime: std::marker::PhantomData,
        })
    }

    /// Makes any typed call (see [`tcm_proto::call`]) with per-call `options` (a deadline, how
    /// tensors travel): `client.call(GetQueueStats, Duration::from_secs(1)).await`.
    pub async fn call<C: Call>(
        &self,
        call: C,
        options: impl Into<CallOptions>,
    ) -> Result<C::Output, Error> {
        let options = options.into();
        let (request, keep) = prepare(call, &options, || self.capabilities())?;
        let mut ticket = self.shared.caller.start(request, options.timeout)?;
        let outcome = wait(&mut ticket).await?;
        // Only now may shared-memory inputs go: the server has read them (or the call failed).
        drop(keep);
        finish::<C>(outcome)
    }

    /// A gRPC streaming inference: a `Stream` of its frames as they arrive. `options` give the
    /// deadline of the whole stream. Dropping it early cancels the request.
    pub fn stream(
        &self,
        request: InferenceRequest,
        options: impl Into<CallOptions>,
    ) -> Result<InferStream<R>, Error> {
        let options = options.into();
        let ticket = self
            .shared
            .caller
            .start(request.into_stream().into(), options.timeout)?;
        Ok(InferStream::new(self.clone(), ticket))
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
        let target = &self.shared.target;
        let timeout = target.options.http_timeout;
        crate::http::get::<R>(&target.endpoint, target.tls.as_ref(), path, timeout).await
    }

    /// Closes the connection gracefully: pending calls fail with a local disconnect and the close
    /// frame is written. Idempotent; later calls fail with `RequestError::Closed`.
    pub async fn close(&self) {
        if let Some(done) = self.shared.caller.close() {
            let _ = done.recv().await;
        }
    }
}

tcm_adapter::tcm_accessors!({ impl<R: Runtime> Client<R> });
tcm_adapter::tcm_calls!({ impl<R: Runtime> Client<R> }, { async }, { .await }, InferStream<R>);
