//! Server endpoints: parsing `ws://` and `wss://` URLs into what a driver needs to dial.

use std::fmt;

/// Why a URL is not a usable TCM endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The scheme is not `ws` or `wss`.
    #[error("unsupported scheme in '{0}': expected ws:// or wss://")]
    Scheme(String),
    /// No host.
    #[error("no host in '{0}'")]
    MissingHost(String),
    /// The port is not a number in 1..=65535.
    #[error("invalid port in '{0}'")]
    Port(String),
    /// User info, fragments and whitespace are not accepted.
    #[error("invalid URL '{0}': {1}")]
    Invalid(String, &'static str),
}

/// A parsed WebSocket endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `wss://`: TLS, verified against `host`.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port (default 80 for ws, 443 for wss).
    pub port: u16,
    /// Path and query, e.g. `/ws`.
    pub path: String,
}

impl Endpoint {
    /// Parses `ws://host[:port][/path]` or `wss://…`; the path defaults to `/ws`.
    pub fn parse(url: &str) -> Result<Self, EndpointError> {
        let bad = |why| EndpointError::Invalid(url.to_owned(), why);
        if url.chars().any(char::is_whitespace) {
            return Err(bad("contains whitespace"));
        }
        let (tls, rest) = if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else {
            return Err(EndpointError::Scheme(url.to_owned()));
        };
        if rest.contains('#') {
            return Err(bad("fragments are not allowed"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/ws{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/ws".to_owned()),
        };
        if authority.contains('@') {
            return Err(bad("user info is not allowed"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, parse_port(url, p)?),
                None if after.is_empty() => (h, default_port),
                None => return Err(bad("junk after IPv6 address")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(url, p)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() {
            return Err(EndpointError::MissingHost(url.to_owned()));
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// The `host:port` authority, with brackets for IPv6.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn parse_port(url: &str, p: &str) -> Result<u16, EndpointError> {
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(EndpointError::Port(url.to_owned())),
        Ok(n) => Ok(n),
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "wss" } else { "ws" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let e = Endpoint::parse("ws://127.0.0.1:8000/ws").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (false, "127.0.0.1", 8000, "/ws")
        );
        let e = Endpoint::parse("wss://tcm.example.com").unwrap();
        assert_eq!((e.tls, e.port, e.path.as_str()), (true, 443, "/ws"));
        let e = Endpoint::parse("ws://[::1]:9000/ws?x=1").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("::1", 9000, "/ws?x=1")
        );
        assert_eq!(e.to_string(), "ws://[::1]:9000/ws?x=1");
    }

    #[test]
    fn rejects_bad_urls_with_typed_errors() {
        assert!(matches!(
            Endpoint::parse("http://h/ws"),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoint::parse("ws://:80/ws"),
            Err(EndpointError::MissingHost(_))
        ));
        assert!(matches!(
            Endpoint::parse("ws://h:99999/ws"),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            Endpoint::parse("ws://h:0"),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(
            Endpoint::parse("ws://u@h/ws"),
            Err(EndpointError::Invalid(..))
        ));
        assert!(matches!(
            Endpoint::parse("ws://h /ws"),
            Err(EndpointError::Invalid(..))
        ));
        assert!(matches!(Endpoint::parse(""), Err(EndpointError::Scheme(_))));
    }
}
