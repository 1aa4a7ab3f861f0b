//! [`Client`]: a cloneable handle on one TCM connection served by a background I/O thread.

use std::sync::Arc;

use tcm_adapter::call::{finish, prepare};
use tcm_adapter::engine::client::{self, TcmShared};
use tcm_adapter::engine::{Outcome, Protocol, Ticket};
use tcm_adapter::{CallOptions, ClientOptions, ConnectError, Error, ProbeError};
use tcm_proto::http::HttpResponse;
use tcm_proto::{AuthContext, Call, Config, InferenceRequest};

use crate::stream::InferStream;
use crate::wake::Waker;

/// A connected TCM client. Cheap to clone; all clones share one connection and its I/O thread,
/// and calls from many threads are multiplexed on it by the protocol core.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) shared: Arc<TcmShared>,
}

/// Waits for the outcome of a ticket's request.
pub(crate) fn wait<P: Protocol>(ticket: &mut Ticket<P>) -> Outcome<P> {
    loop {
        let reply = ticket.replies().recv_blocking();
        if let Some(outcome) = ticket.outcome(reply) {
            return outcome;
        }
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
        let waker = Arc::new(Waker::new());
        let wake = Arc::clone(&waker);
        let client::Parts {
            shared,
            setup,
            ready,
        } = client::tcm(
            url,
            auth,
            config,
            options,
            Some(Arc::new(move || wake.wake())),
        )?;
        crate::driver::spawn(setup, waker, "tcm-io").map_err(ConnectError::Spawn)?;
        ready.recv_blocking().map_err(|_| ConnectError::Stopped)??;
        Ok(Self { shared })
    }

    /// Makes any typed call (see [`tcm_proto::call`]) with per-call `options` (a deadline, how
    /// tensors travel) and waits for its result: `client.call(GetQueueStats, Duration::from_secs(1))`.
    pub fn call<C: Call>(
        &self,
        call: C,
        options: impl Into<CallOptions>,
    ) -> Result<C::Output, Error> {
        let options = options.into();
        let (request, keep) = prepare(call, &options, || self.capabilities())?;
        let mut ticket = self.shared.caller.start(request, options.timeout)?;
        let outcome = wait(&mut ticket)?;
        // Only now may shared-memory inputs go: the server has read them (or the call failed).
        drop(keep);
        finish::<C>(outcome)
    }

    /// A gRPC streaming inference: an iterator over the stream's frames as they arrive.
    /// `options` give the deadline of the whole stream. Dropping it early cancels the request.
    pub fn stream(
        &self,
        request: InferenceRequest,
        options: impl Into<CallOptions>,
    ) -> Result<InferStream, Error> {
        let options = options.into();
        let ticket = self
            .shared
            .caller
            .start(request.into_stream().into(), options.timeout)?;
        Ok(InferStream::new(self.clone(), ticket))
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
        let target = &self.shared.target;
        crate::http::get(
            &target.endpoint,
            target.tls.as_ref(),
            path,
            target.options.http_timeout,
        )
    }

    /// Closes the connection gracefully: pending calls fail with a local disconnect and the close
    /// frame is written. Idempotent; later calls fail with `RequestError::Closed`.
    pub fn close(&self) {
        if let Some(done) = self.shared.caller.close() {
            let _ = done.recv_blocking();
        }
    }
}

tcm_adapter::tcm_accessors!({ impl Client });
tcm_adapter::tcm_calls!({ impl Client }, {}, {}, InferStream);
