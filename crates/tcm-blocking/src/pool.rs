//! [`Pool`]: several connections, each with its own uuid, sharing the load.

use std::sync::Arc;

use tcm_adapter::engine::Members;
use tcm_adapter::{CallOptions, ClientOptions, ConnectError, Error};
use tcm_proto::{AuthContext, Call, Config, InferenceRequest};

use crate::client::Client;
use crate::stream::InferStream;

/// A fixed set of connections. The protocol allows one inference in flight per connection, so
/// the pool sends each call to the member with the fewest calls in progress. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    members: Arc<Members<Client>>,
}

impl Pool {
    /// Connects `size` clients (at least one), member `i` with `config.pool_member(i)`.
    pub fn connect(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
    ) -> Result<Self, ConnectError> {
        Self::connect_with(url, auth, config, size, ClientOptions::default())
    }

    /// [`connect`](Self::connect) with explicit transport options.
    pub fn connect_with(
        url: &str,
        auth: AuthContext,
        config: Config,
        size: usize,
        options: ClientOptions,
    ) -> Result<Self, ConnectError> {
        let config = tcm_adapter::engine::seeded(config);
        let mut members = Vec::with_capacity(size.max(1));
        for i in 0..size.max(1) {
            match Client::connect_with(url, auth.clone(), config.pool_member(i), options.clone()) {
                Ok(c) => members.push(c),
                Err(e) => {
                    members.iter().for_each(Client::close);
                    return Err(e);
                }
            }
        }
        Ok(Self {
            members: Arc::new(Members::new(members)),
        })
    }

    /// Makes any typed call on the least-loaded connection (see [`Client::call`]).
    pub fn call<C: Call>(
        &self,
        call: C,
        options: impl Into<CallOptions>,
    ) -> Result<C::Output, Error> {
        let (client, _load) = self.members.pick();
        client.call(call, options)
    }

    /// A streaming inference on the least-loaded connection; it counts as load until it ends.
    pub fn stream(
        &self,
        request: InferenceRequest,
        options: impl Into<CallOptions>,
    ) -> Result<InferStream, Error> {
        let (client, load) = self.members.pick();
        client.stream(request, options).map(|s| s.with_load(load))
    }

    /// Closes every connection.
    pub fn close(&self) {
        self.members.all().iter().for_each(Client::close);
    }
}

tcm_adapter::pool_accessors!({ impl Pool }, Client);
tcm_adapter::tcm_calls!({ impl Pool }, {}, {}, InferStream);
