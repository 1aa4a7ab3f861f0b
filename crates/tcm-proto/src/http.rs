//! A minimal sans-IO HTTP/1.1 exchange for the server's `GET /health` and `GET /ready`.
//!
//! The driver writes [`get_request`] to a fresh stream on the WebSocket's host and port (TLS
//! for `wss`), reads until [`parse_response`] returns a response, and closes the stream.

/// Why an HTTP response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The status line or a header is malformed.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    /// The response is larger than the limit.
    #[error("HTTP response exceeds {0} bytes")]
    TooLarge(usize),
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200 or 503.
    pub status: u16,
    /// The body (the whole body: `Content-Length`, or everything until the peer closed).
    pub body: Vec<u8>,
}

/// Largest response accepted.
pub const MAX_RESPONSE: usize = 1 << 20;

/// The bytes of `GET path` for `authority` (`host:port`), asking the server to close after.
pub fn get_request(authority: &str, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Parses the bytes read so far. `Ok(None)` means more bytes are needed; `eof` says the peer has
/// closed, which completes a body without `Content-Length`.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<HttpResponse>, HttpError> {
    if buf.len() > MAX_RESPONSE {
        return Err(HttpError::TooLarge(MAX_RESPONSE));
    }
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if eof {
            Err(HttpError::Malformed(
                "connection closed before the headers ended",
            ))
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| HttpError::Malformed("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or(HttpError::Malformed("bad status code"))?;
    let mut content_length = None;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header without a colon"))?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            let n = value
                .trim()
                .parse::<usize>()
                .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
            content_length = Some(n);
        }
    }
    let body = &buf[head_end + 4..];
    match content_length {
        Some(n) if body.len() >= n => Ok(Some(HttpResponse {
            status,
            body: body[..n].to_vec(),
        })),
        Some(_) if eof => Err(HttpError::Malformed(
            "connection closed before the body ended",
        )),
        Some(_) => Ok(None),
        None if eof => Ok(Some(HttpResponse {
            status,
            body: body.to_vec(),
        })),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_response_parses_once_complete() {
        let full = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 24\r\n\r\n{\"status\":\"not_ready\"}  ";
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false),
                Ok(None),
                "cut at {cut}"
            );
        }
        let r = parse_response(full, false).unwrap().unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body.len(), 24);
    }

    #[test]
    fn a_body_without_length_ends_at_eof() {
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\n{}", true)
            .unwrap()
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(parse_response(b"SSH-2.0\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 200", true).is_err());
    }

    #[test]
    fn the_request_asks_for_close() {
        let r = String::from_utf8(get_request("h:1", "/ready")).unwrap();
        assert!(r.starts_with("GET /ready HTTP/1.1\r\nHost: h:1\r\n"));
        assert!(r.contains("Connection: close"));
    }
}
