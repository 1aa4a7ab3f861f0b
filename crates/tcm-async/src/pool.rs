//! [`Pool`]: several connections, each with its own uuid, sharing the load.

use std::sync::Arc;

use tcm_adapter::engine::Members;

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

tcm_adapter::tcm_pool! {
    impl { impl<R: Runtime> Pool<R> }
    io { async } { .await }
    client Client<R>;
    stream InferStream<R>;
}
