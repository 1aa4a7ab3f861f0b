//! Plain HTTP on the WebSocket port: request-head peeking and the `/health`, `/ready`,
//! `/metrics` and 404 responses (§1.3).

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

/// The parts of an HTTP request head used for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Whether the request asks for a WebSocket upgrade.
    pub upgrade: bool,
    /// Length of the head including the blank line.
    pub head_len: usize,
}

/// Parses a complete request head; `None` if it is incomplete or not HTTP.
pub fn parse_head(bytes: &[u8]) -> Option<RequestHead> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let target = first.next()?;
    let path = target.split('?').next().unwrap_or("").to_string();
    let upgrade = lines.any(|l| {
        let mut kv = l.splitn(2, ':');
        let k = kv.next().unwrap_or("").trim();
        let v = kv.next().unwrap_or("").trim();
        k.eq_ignore_ascii_case("upgrade") && v.eq_ignore_ascii_case("websocket")
    });
    Some(RequestHead {
        method,
        path,
        upgrade,
        head_len: end,
    })
}

/// Peeks (without consuming) until a full request head has arrived or `timeout` passes.
pub fn peek_head(
    stream: &TcpStream,
    timeout: Duration,
    stop: &dyn Fn() -> bool,
) -> Option<RequestHead> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 8192];
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut last = 0;
    loop {
        match stream.peek(&mut buf) {
            Ok(0) => return None,
            Ok(n) => {
                if let Some(h) = parse_head(&buf[..n]) {
                    return Some(h);
                }
                if n == buf.len() {
                    return None;
                }
                if n == last {
                    std::thread::sleep(Duration::from_millis(2));
                }
                last = n;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline || stop() {
            return None;
        }
    }
}

/// A plain HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

fn json(status: u16, body: &str) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: body.to_string(),
    }
}

/// Readiness inputs for `/ready`.
#[derive(Debug, Clone, Copy)]
pub struct ReadyState {
    /// Whether the server reports ready.
    pub ready: bool,
    /// Full-server body shape (with the Triton registry counts).
    pub full_server: bool,
    /// Registered Triton servers.
    pub registered: usize,
}

/// Routes a plain HTTP request.
pub fn route(
    head: &RequestHead,
    ready: ReadyState,
    peer: Option<IpAddr>,
    metrics: &str,
) -> Response {
    if head.method != "GET" && head.method != "HEAD" {
        return Response {
            status: 405,
            content_type: "application/json",
            body: r#"{"detail":"Method Not Allowed"}"#.into(),
        };
    }
    match head.path.as_str() {
        "/health" => json(200, r#"{"status":"ok"}"#),
        "/ready" => {
            let status = if ready.ready { "ready" } else { "not_ready" };
            let code = if ready.ready { 200 } else { 503 };
            if ready.full_server {
                let healthy = if ready.ready { ready.registered } else { 0 };
                json(
                    code,
                    &format!(
                        r#"{{"status":"{status}","triton":{{"registered":{},"healthy":{healthy}}}}}"#,
                        ready.registered
                    ),
                )
            } else {
                json(code, &format!(r#"{{"status":"{status}"}}"#))
            }
        }
        "/metrics" => {
            let private = match peer {
                Some(IpAddr::V4(a)) => a.is_loopback() || a.is_private(),
                Some(IpAddr::V6(a)) => a.is_loopback(),
                None => false,
            };
            if private {
                Response {
                    status: 200,
                    content_type: "text/plain; version=1.0.0; charset=utf-8",
                    body: metrics.to_string(),
                }
            } else {
                json(403, r#"{"detail":"Forbidden"}"#)
            }
        }
        _ => json(404, r#"{"detail":"Not Found"}"#),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Consumes the request head, writes the response and closes the connection.
pub fn serve(mut stream: TcpStream, head: &RequestHead, resp: &Response) {
    let mut sink = vec![0u8; head.head_len];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.read_exact(&mut sink);
    let body = if head.method == "HEAD" {
        ""
    } else {
        resp.body.as_str()
    };
    let text = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        body
    );
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Let the client read the response before the socket goes away.
    let mut rest = [0u8; 512];
    let deadline = Instant::now() + Duration::from_millis(200);
    while Instant::now() < deadline {
        match stream.read(&mut rest) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> RequestHead {
        parse_head(s.as_bytes()).unwrap()
    }

    #[test]
    fn the_query_string_is_ignored_and_upgrades_are_detected() {
        let h = head("GET /ws?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!(h.path, "/ws");
        assert!(h.upgrade);
        assert!(parse_head(b"GET / HTTP/1.1\r\n").is_none());
    }

    #[test]
    fn plain_get_on_ws_is_not_found() {
        let r = route(
            &head("GET /ws HTTP/1.1\r\n\r\n"),
            ReadyState {
                ready: true,
                full_server: false,
                registered: 0,
            },
            None,
            "",
        );
        assert_eq!(
            (r.status, r.body.as_str()),
            (404, r#"{"detail":"Not Found"}"#)
        );
    }

    #[test]
    fn readiness_can_be_switched() {
        let h = head("GET /ready HTTP/1.1\r\n\r\n");
        let r = route(
            &h,
            ReadyState {
                ready: true,
                full_server: false,
                registered: 0,
            },
            None,
            "",
        );
        assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ready"}"#));
        let r = route(
            &h,
            ReadyState {
                ready: false,
                full_server: true,
                registered: 0,
            },
            None,
            "",
        );
        assert_eq!(r.status, 503);
    }
}
