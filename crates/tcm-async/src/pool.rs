//! [`Pool`]: several connections, each with its own uuid, sharing the load; over a list of
//! replicas, or over the replicas behind a service name, followed by a task of its own.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tcm_adapter::TransportError;
use tcm_adapter::engine::{Follower, Members, Service};

use crate::client::Client;
use crate::runtime::Runtime;
use crate::stream::InferStream;
use crate::time::until;

/// A set of connections over one or more replicas. The protocol allows one inference in
/// flight per connection, so the pool sends each call to the member with the fewest calls in
/// progress. Cheap to clone.
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
    probe { crate::http::probe::<R> }
    resolve { resolve }
    follow { follow::<R> }
}

/// Resolves the service name on a short-lived thread of its own (resolvers block), so that no
/// executor thread waits for it.
async fn resolve(service: &Service) -> Result<Vec<SocketAddr>, TransportError> {
    let (tx, rx) = async_channel::bounded(1);
    let name = service.name.clone();
    std::thread::Builder::new()
        .name("tcm-resolve".to_owned())
        .spawn(move || {
            let _ = tx.send_blocking(name.resolve());
        })?;
    rx.recv()
        .await
        .map_err(|_| io::Error::other("the resolver thread ended without an answer"))?
}

/// Starts the task that resolves the service name again every `every` while the pool lives;
/// it stops as soon as the returned value is dropped (the pool closed or dropped).
fn follow<R: Runtime>(
    members: Weak<Members<Client<R>>>,
    service: Arc<Service>,
    every: Duration,
) -> Follower {
    let (stop, stopped) = async_channel::bounded::<()>(1);
    R::spawn(async move {
        // The channel closes when the pool stops following; it never carries a message.
        while until::<R, _>(Instant::now() + every, stopped.recv())
            .await
            .is_none()
        {
            let Some(members) = members.upgrade() else {
                break;
            };
            Pool::<R>::refresh(&members, &service).await;
        }
    });
    Box::new(stop)
}
