//! [`Pool`]: several connections, each with its own uuid, sharing the load; over a list of
//! replicas, or over the replicas behind a service name, followed on a thread of its own.

use std::net::SocketAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tcm_adapter::TransportError;
use tcm_adapter::engine::{Follower, Members, Service};

use crate::client::Client;
use crate::stream::InferStream;

/// A set of connections over one or more replicas. The protocol allows one inference in
/// flight per connection, so the pool sends each call to the member with the fewest calls in
/// progress. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Pool {
    members: Arc<Members<Client>>,
}

tcm_adapter::tcm_pool! {
    impl { impl Pool }
    io {} {}
    client Client;
    stream InferStream;
    probe { crate::probe }
    resolve { resolve }
    follow { follow }
}

/// Resolves the service name on the calling thread (the pool's own, after connecting).
fn resolve(service: &Service) -> Result<Vec<SocketAddr>, TransportError> {
    service.resolve()
}

/// Starts the thread that resolves the service name again every `every` while the pool lives;
/// it stops as soon as the returned value is dropped (the pool closed or dropped).
fn follow(members: Weak<Members<Client>>, service: Arc<Service>, every: Duration) -> Follower {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("tcm-pool-resolve".to_owned())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                let Some(members) = members.upgrade() else {
                    break;
                };
                Pool::refresh(&members, &service);
            }
        });
    if let Err(error) = thread {
        tracing::warn!(%error, "cannot start the resolver thread; the service name is not followed");
    }
    Box::new(stop)
}
