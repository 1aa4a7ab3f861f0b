//! [`Pool`]: several connections, each with its own uuid, sharing the load.

use std::sync::Arc;

use tcm_adapter::engine::Members;
use tcm_adapter::{CallOptions, ClientOptions, ConnectError, Error};
use tcm_proto::{AuthContext, Call, Config, InferenceRequest};

use crate::client::Client;
use crate::runtime::Runtime;
use crate::stream::InferStream;

/// A fixed set of connections. The protocol allows one inference in flight per connection, so
/// the pool sends each call to the member with the fewest calls in progress. Cheap to clone.
pub struct Pool<R: Runtime> {
    members: Arc<Members<Client<R>>>,
}

impl<R: Runtime> Clone for Pool<R> {
    fn clone(&self) -> Self {
        Self {
            members: Arc::clone(&self.members),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("members", &self.members.all())
            .finish()
    }
}

impl<R: Runtime> Pool<R> {
    /// Connects `size` clients (at least one), member `i` with `config.pool_member(i)`.
    pub async fn connect(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
    ) -> Result<Self, ConnectError> {
        Self::connect_with(url, auth, config, size, ClientOptions::default()).await
    }

    /// [`connect`](Self::connect) with explicit transport options; the members connect
    /// concurrently.
    pub async fn connect_with(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
        options: ClientOptions,
    ) -> Result<Self, ConnectError> {
        let config = tcm_adapter::engine::seeded(config);
        let connects = (0..size.max(1)).map(|i| {
            Client::<R>::connect_with(url, auth.clone(), config.pool_member(i), options.clone())
        });
        let mut members = Vec::with_capacity(size.max(1));
        let mut failure = None;
        for result in futures_util::future::join_all(connects).await {
            match result {
                Ok(c) => members.push(c),
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        if let Some(e) = failure {
            for m in &members {
                m.close().await;
            }
            return Err(e);
        }
        Ok(Self {
            members: Arc::new(Members::new(members)),
        })
    }

    /// Makes any typed call on the least-loaded connection (see [`Client::call`]).
    pub async fn call<C: Call>(
        &self,
        call: C,
        options: impl Into<CallOptions>,
    ) -> Result<C::Output, Error> {
        let (client, _load) = self.members.pick();
        client.call(call, options).await
    }

    /// A streaming inference on the least-loaded connection; it counts as load until it ends.
    pub fn stream(
        &self,
        request: InferenceRequest,
        options: impl Into<CallOptions>,
    ) -> Result<InferStream<R>, Error> {
        let (client, load) = self.members.pick();
        client.stream(request, options).map(|s| s.with_load(load))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        for m in self.members.all() {
            m.close().await;
        }
    }
}

tcm_adapter::pool_accessors!({ impl<R: Runtime> Pool<R> }, Client<R>);
tcm_adapter::tcm_calls!({ impl<R: Runtime> Pool<R> }, { async }, { .await }, InferStream<R>);
