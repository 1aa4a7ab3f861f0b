//! [`Service`]: what a pool that follows a service name needs to resolve it again and to
//! connect the members of a replica that appears.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tcm_proto::{AuthContext, Config, Endpoint};

use crate::error::{ConnectError, TransportError};
use crate::options::{ClientOptions, PoolOptions};
use crate::resolve::{Resolve, normalise};

/// A service name, its port, and what resolves it; cheap to clone, to resolve on a thread of
/// its own.
#[derive(Clone)]
pub struct Name {
    host: String,
    port: u16,
    resolver: Arc<dyn Resolve>,
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Name")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Name {
    /// The addresses the name resolves to now, sorted and without duplicates; an empty
    /// answer is an error (a pool never drains every replica because of one).
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, TransportError> {
        let failed = |source| TransportError::Resolve {
            host: self.host.clone(),
            source,
        };
        let answer = normalise(
            self.resolver
                .resolve(&self.host, self.port)
                .map_err(failed)?,
        );
        if answer.is_empty() {
            return Err(failed(io::Error::new(
                io::ErrorKind::NotFound,
                "no addresses",
            )));
        }
        Ok(answer)
    }
}

/// A service name and how its replicas are connected: the URL, the credentials, the
/// configuration and transport options of every member, and the resolver.
pub struct Service {
    /// The WebSocket URL as given (its host is the service name).
    pub url: String,
    /// The URL's host and port, and their resolver.
    pub name: Name,
    /// The members' credentials.
    pub auth: AuthContext,
    /// The members' configuration (member `i` uses `config.pool_member(i)`).
    pub config: Config,
    /// The members' transport options, without an address (each replica adds its own).
    pub options: ClientOptions,
    /// Connections per replica.
    pub per_replica: usize,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("per_replica", &self.per_replica)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The service at `url` with its members' `auth`, `config` and `options`, connected as
    /// `pool` says.
    pub fn new(
        url: &str,
        auth: AuthContext,
        config: Config,
        pool: &PoolOptions,
        options: ClientOptions,
    ) -> Result<Self, ConnectError> {
        let endpoint = Endpoint::parse(url)?;
        Ok(Self {
            url: url.to_owned(),
            name: Name {
                host: endpoint.host,
                port: endpoint.port,
                resolver: Arc::clone(&pool.resolver),
            },
            auth,
            config,
            options,
            per_replica: pool.per_replica.max(1),
        })
    }

    /// The addresses the name resolves to now (see [`Name::resolve`]).
    pub fn resolve(&self) -> Result<Vec<SocketAddr>, TransportError> {
        self.name.resolve()
    }

    /// The transport options of a member of the replica at `address`: dial it, and name the
    /// service's host in TLS and the `Host` header.
    pub fn options_for(&self, address: SocketAddr) -> ClientOptions {
        self.options.clone().with_connect_to(address)
    }
}

/// What changed between the addresses a pool has (`current`) and a new `answer`: the
/// addresses that appeared, and those that are gone.
pub fn changes(
    current: &[SocketAddr],
    answer: &[SocketAddr],
) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let appeared = answer
        .iter()
        .filter(|a| !current.contains(a))
        .copied()
        .collect();
    let gone = current
        .iter()
        .filter(|a| !answer.contains(a))
        .copied()
        .collect();
    (appeared, gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 8000))
    }

    #[test]
    fn an_answer_is_compared_with_the_replicas_a_pool_has() {
        let (appeared, gone) = changes(&[at(1), at(2)], &[at(2), at(3)]);
        assert_eq!((appeared, gone), (vec![at(3)], vec![at(1)]));
        let (appeared, gone) = changes(&[at(1)], &[at(1)]);
        assert!(appeared.is_empty() && gone.is_empty());
    }

    #[test]
    fn the_service_host_is_resolved_and_an_empty_answer_is_an_error() {
        let pool = PoolOptions::new(2).resolver(|host: &str, port: u16| {
            assert_eq!((host, port), ("tcm.svc", 8080));
            Ok(vec![at(2), at(1), at(2)])
        });
        let config = Config::new("svc");
        let service = Service::new(
            "ws://tcm.svc:8080/ws",
            AuthContext::anonymous(),
            config.clone(),
            &pool,
            ClientOptions::default(),
        )
        .unwrap();
        assert_eq!(service.resolve().unwrap(), vec![at(1), at(2)]);
        assert_eq!(service.options_for(at(1)).connect_to, Some(at(1)));

        let nothing = PoolOptions::new(1).resolver(|_: &str, _: u16| Ok(Vec::new()));
        let service = Service::new(
            "ws://tcm.svc:8080/ws",
            AuthContext::anonymous(),
            config,
            &nothing,
            ClientOptions::default(),
        )
        .unwrap();
        assert!(matches!(
            service.resolve(),
            Err(TransportError::Resolve { host, .. }) if host == "tcm.svc"
        ));
    }
}
