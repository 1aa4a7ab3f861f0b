//! [`Pool`]: several connections, each with its own uuid, sharing the load.

use std::sync::Arc;

use tcm_adapter::engine::Members;

use crate::client::Client;
use crate::stream::InferStream;

/// A fixed set of connections. The protocol allows one inference in flight per connection, so
/// the pool sends each call to the member with the fewest calls in progress. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    members: Arc<Members<Client>>,
}

tcm_adapter::tcm_pool! {
    impl { impl Pool }
    io {} {}
    client Client;
    stream InferStream;
}
