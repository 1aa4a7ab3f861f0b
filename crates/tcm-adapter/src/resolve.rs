//! Name resolution for pools that follow a service name: [`Resolve`] turns a host and port
//! into the addresses of the replicas behind them. [`SystemResolver`] (the default) asks the
//! operating system; a closure or a type of your own can answer instead (a service registry,
//! a fixed list, a test).

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves a host name to the addresses of every replica behind it. Called by a pool when it
/// connects and then every `PoolOptions::resolve_every`, on a thread of its own (it may block),
/// never on an I/O loop. The order of the answer does not matter; duplicates are ignored.
///
/// Any `Fn(&str, u16) -> io::Result<Vec<SocketAddr>>` is a resolver:
///
/// ```
/// use std::net::SocketAddr;
/// use tcm_adapter::resolve::Resolve;
///
/// let fixed = |_host: &str, port: u16| Ok(vec![SocketAddr::from(([10, 0, 0, 7], port))]);
/// assert_eq!(fixed.resolve("tcm.svc", 8000)?, vec!["10.0.0.7:8000".parse()?]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (a name or an IP literal) on `port`.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

impl<F> Resolve for F
where
    F: Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
{
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self(host, port)
    }
}

/// The operating system's resolver (`getaddrinfo` through std's `ToSocketAddrs`): every A and
/// AAAA record of the name, as a Kubernetes headless Service publishes one per ready pod.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok((host, port).to_socket_addrs()?.collect())
    }
}

/// The addresses in `answer`, sorted and without duplicates, so that two answers compare
/// whatever order the resolver gave them in.
pub fn normalise(mut answer: Vec<SocketAddr>) -> Vec<SocketAddr> {
    answer.sort_unstable();
    answer.dedup();
    answer
}

/// What a debug print shows of a resolver.
pub(crate) struct Opaque;

impl fmt::Debug for Opaque {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<resolver>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_resolver_answers_an_ip_literal_with_itself() {
        let answer = SystemResolver.resolve("127.0.0.1", 8000).unwrap();
        assert_eq!(answer, vec![SocketAddr::from(([127, 0, 0, 1], 8000))]);
    }

    #[test]
    fn answers_compare_whatever_their_order_and_duplicates() {
        let a = SocketAddr::from(([10, 0, 0, 1], 1));
        let b = SocketAddr::from(([10, 0, 0, 2], 1));
        assert_eq!(normalise(vec![b, a, b]), vec![a, b]);
    }
}
