//! [`Pool`]: several connections, each with its own uuid, sharing the inference load.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tcm_adapter::pool_load::{Load, LoadGuard};
use tcm_adapter::{ClientOptions, InferenceOutput};
use tcm_proto::{AuthContext, Config, InferenceRequest, QueueStats};

use crate::client::Client;
use crate::error::{ConnectError, Error};
use crate::runtime::Runtime;
use crate::stream::InferStream;

/// A fixed set of connections. The protocol allows one inference in flight per connection, so
/// the pool sends each inference to the member with the fewest calls in progress. Cheap to clone.
pub struct Pool<R: Runtime> {
    inner: Arc<PoolInner<R>>,
}

impl<R: Runtime> Clone for Pool<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("members", &self.inner.members)
            .finish_non_exhaustive()
    }
}

struct PoolInner<R: Runtime> {
    members: Vec<Client<R>>,
    load: Load,
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

    /// [`connect`](Self::connect) with explicit transport options.
    pub async fn connect_with(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
        options: ClientOptions,
    ) -> Result<Self, ConnectError> {
        let config = tcm_adapter::seed::seeded(config);
        let mut members = Vec::with_capacity(size.max(1));
        for i in 0..size.max(1) {
            let member =
                Client::connect_with(url, auth.clone(), config.pool_member(i), options.clone())
                    .await;
            match member {
                Ok(c) => members.push(c),
                Err(e) => {
                    for m in &members {
                        m.close().await;
                    }
                    return Err(e);
                }
            }
        }
        let load = Load::new(members.len());
        Ok(Self {
            inner: Arc::new(PoolInner { members, load }),
        })
    }

    /// The members, e.g. to inspect their uuids.
    pub fn members(&self) -> &[Client<R>] {
        &self.inner.members
    }

    /// Number of connections.
    pub fn len(&self) -> usize {
        self.inner.members.len()
    }

    /// Whether the pool has no connection (never true for a connected pool).
    pub fn is_empty(&self) -> bool {
        self.inner.members.is_empty()
    }

    /// The least-loaded member (ties broken round-robin) with its load counter incremented.
    fn pick(&self) -> (&Client<R>, LoadGuard) {
        let guard = self.inner.load.pick();
        (&self.inner.members[guard.index()], guard)
    }

    /// An HTTP inference on the least-loaded connection.
    pub async fn infer(&self, request: InferenceRequest) -> Result<InferenceOutput, Error> {
        self.infer_with_timeout(request, None).await
    }

    /// [`infer`](Self::infer) with a per-call deadline.
    pub async fn infer_with_timeout(
        &self,
        request: InferenceRequest,
        timeout: Option<Duration>,
    ) -> Result<InferenceOutput, Error> {
        let (client, _guard) = self.pick();
        client.infer_with_timeout(request, timeout).await
    }

    /// A streaming inference on the least-loaded connection; it counts as load until it ends.
    pub fn infer_stream(&self, request: InferenceRequest) -> Result<InferStream<R>, Error> {
        let (client, guard) = self.pick();
        client.infer_stream(request).map(|s| s.with_load(guard))
    }

    /// The server's queue counters, asked on one of the connections.
    pub async fn queue_stats(&self) -> Result<QueueStats, Error> {
        let (client, _guard) = self.pick();
        client.queue_stats().await
    }

    /// A management request on one of the connections.
    pub async fn management(
        &self,
        action: &str,
        payload: Map<String, Value>,
    ) -> Result<Value, Error> {
        let (client, _guard) = self.pick();
        client.management(action, payload).await
    }

    /// Closes every connection.
    pub async fn close(&self) {
        for m in &self.inner.members {
            m.close().await;
        }
    }
}
