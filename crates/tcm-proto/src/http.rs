//! A sans-IO HTTP/1.1 exchange for the server's `GET /health` and `GET /ready`.
//!
//! The driver writes [`get_request`] to a fresh stream on the WebSocket's host and port (TLS
//! for `wss`), feeds what it reads to a [`ResponseParser`] until it returns a response, and
//! closes the stream.
//!
//! The response may come from the server itself or from what stands in front of it (an
//! ingress, a reverse proxy), so the parser reads HTTP/1.1 as such peers send it:
//!
//! - status lines and headers are parsed by `httparse`;
//! - the body is delimited by `Content-Length`, by `Transfer-Encoding: chunked` (chunk
//!   extensions and trailers are read and ignored), or by the end of the stream when neither
//!   is present; `204` has no body;
//! - a response completes as soon as its body does, so a peer that keeps the connection alive
//!   (`Connection: keep-alive`) never makes the probe wait for the end of the stream;
//! - interim `1xx` responses (`100 Continue`, `103 Early Hints`) are skipped;
//! - redirects (`3xx`) are refused with [`HttpError::Redirect`]: a probe checks the server it
//!   was pointed at, so following one, or taking it for an answer, would report on something
//!   else;
//! - anything malformed, truncated or too large is a typed [`HttpError`]; no input panics.
//!
//! Limits: each head (status line and headers) at most [`MAX_HEAD`] bytes, the body at most
//! [`MAX_BODY`] bytes (a readiness answer is a few bytes of JSON), and the whole response as
//! received, interim responses and chunk framing included, at most [`MAX_RESPONSE`] bytes.

use std::io::Write as _;

/// Largest head (status line and headers) accepted, in bytes; also the limit for trailers.
pub const MAX_HEAD: usize = 16 * 1024;

/// Largest body accepted, in bytes (after removing the chunked framing).
pub const MAX_BODY: usize = 64 * 1024;

/// Largest response accepted as received, in bytes: interim responses, the head, the body and
/// its chunked framing together.
pub const MAX_RESPONSE: usize = 128 * 1024;

/// Most header fields accepted in one head or one trailer section.
const MAX_HEADERS: usize = 64;

/// Longest chunk-size line accepted (the size in hex, extensions and CRLF).
const MAX_CHUNK_LINE: usize = 1024;

/// Why an HTTP response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The status line or a header is malformed, or the framing headers contradict each other.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    /// The response as received exceeds [`MAX_RESPONSE`] bytes.
    #[error("HTTP response exceeds {0} bytes")]
    TooLarge(usize),
    /// A head (or the trailers) exceeds [`MAX_HEAD`] bytes.
    #[error("HTTP response head exceeds {0} bytes")]
    HeadTooLarge(usize),
    /// The body exceeds [`MAX_BODY`] bytes (announced by `Content-Length` or received).
    #[error("HTTP response body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// The chunked body is malformed: a chunk size that is not hexadecimal, a chunk not
    /// followed by CRLF, a malformed trailer.
    #[error("malformed chunked HTTP body: {0}")]
    BadChunk(&'static str),
    /// The body uses a transfer coding other than `chunked` (e.g. `gzip`), which a probe does
    /// not decode.
    #[error("unsupported HTTP Transfer-Encoding '{0}': only chunked is understood")]
    UnsupportedTransferEncoding(String),
    /// The peer closed the stream before the named part (`headers`, `body`, `chunked body`)
    /// ended.
    #[error("connection closed before the HTTP response {0} ended")]
    Truncated(&'static str),
    /// The response is a redirect (`3xx`), which a probe does not follow.
    #[error(
        "HTTP {status} redirect to {} refused: a probe does not follow redirects",
        .location.as_deref().unwrap_or("(no Location header)")
    )]
    Redirect {
        /// The status, e.g. 301, 302, 307 or 308.
        status: u16,
        /// The `Location` header, if the response had one.
        location: Option<String>,
    },
}

/// A parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code, e.g. 200 or 503.
    pub status: u16,
    /// The whole body, without any chunked framing.
    pub body: Vec<u8>,
}

/// The bytes of `GET path` for `authority` (`host:port`): HTTP/1.1 with `Host`, `User-Agent`,
/// `Accept` (JSON preferred) and `Connection: close`, and no body.
///
/// A path without a leading `/` gets one; bytes that cannot appear in a request target
/// (controls, spaces, `#`, non-ASCII) are percent-encoded, and controls and spaces are left out
/// of the `Host` header, so neither can break the request's framing.
pub fn get_request(authority: &str, path: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + authority.len() + 3 * path.len());
    out.extend_from_slice(b"GET ");
    if !path.starts_with('/') {
        out.push(b'/');
    }
    for &b in path.as_bytes() {
        if b.is_ascii_graphic() && b != b'#' {
            out.push(b);
        } else {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend(
        authority
            .bytes()
            .filter(|b| !b.is_ascii_control() && *b != b' '),
    );
    out.extend_from_slice(
        concat!(
            "\r\nUser-Agent: tcm/",
            env!("CARGO_PKG_VERSION"),
            "\r\nAccept: application/json, */*;q=0.1",
            "\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    out
}

/// Parses a whole buffer at once: the bytes read so far. `Ok(None)` means more bytes are
/// needed; `eof` says the peer has closed, which completes a body delimited by the end of the
/// stream. A driver reading as bytes arrive uses a [`ResponseParser`] instead, which does not
/// parse the same bytes twice.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Option<HttpResponse>, HttpError> {
    ResponseParser::new().push(buf, eof)
}

/// Reads one HTTP/1.1 response as its bytes arrive, in pieces split anywhere.
///
/// Work is linear in the bytes received however they are split: a head or trailer section is
/// handed to `httparse` once its blank line has arrived, a chunk-size line once its line feed
/// has. The parser holds only the bytes it has not consumed yet and the body. After it returns
/// a response it ignores further input; after an error it returns that error again.
#[derive(Debug, Default)]
pub struct ResponseParser {
    /// Received bytes not consumed yet.
    pending: Vec<u8>,
    /// Bytes consumed so far, for [`MAX_RESPONSE`].
    consumed: usize,
    /// Where in `pending` the search for the current delimiter resumes.
    scanned: usize,
    state: State,
    status: u16,
    body: Vec<u8>,
}

#[derive(Debug, Default)]
enum State {
    /// Waiting for a head (the first, or the next after an interim response).
    #[default]
    Head,
    /// A `Content-Length` body with this many bytes left.
    Length(usize),
    /// Waiting for a chunk-size line.
    ChunkSize,
    /// Inside a chunk with this many bytes left.
    ChunkData(u64),
    /// Waiting for the CRLF that ends a chunk's data.
    ChunkEnd,
    /// After the last chunk: waiting for the end of the trailer section.
    Trailers,
    /// A body delimited by the end of the stream.
    UntilClose,
    /// The response was returned.
    Done,
    /// The response could not be read.
    Failed(HttpError),
}

/// What to do after one step of the parser.
enum Step {
    /// The state changed or bytes were consumed: go on.
    Continue,
    /// More bytes are needed.
    NeedMore,
    /// The response is complete.
    Complete,
}

impl ResponseParser {
    /// Nothing received yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes of the stream; `eof` says the peer has closed after them. Returns
    /// the response once it is complete, `Ok(None)` while more bytes are needed.
    pub fn push(&mut self, bytes: &[u8], eof: bool) -> Result<Option<HttpResponse>, HttpError> {
        match &self.state {
            State::Done => return Ok(None),
            State::Failed(e) => return Err(e.clone()),
            _ => {}
        }
        self.pending.extend_from_slice(bytes);
        let outcome = self.advance(eof);
        match &outcome {
            Ok(Some(_)) => {
                self.state = State::Done;
                self.pending = Vec::new();
            }
            Ok(None) => {}
            Err(e) => {
                self.state = State::Failed(e.clone());
                self.pending = Vec::new();
                self.body = Vec::new();
            }
        }
        outcome
    }

    fn advance(&mut self, eof: bool) -> Result<Option<HttpResponse>, HttpError> {
        let pending = std::mem::take(&mut self.pending);
        let mut pos = 0;
        let complete = loop {
            if self.consumed.saturating_add(pos) > MAX_RESPONSE {
                return Err(HttpError::TooLarge(MAX_RESPONSE));
            }
            match self.step(&pending[pos..], &mut pos, eof)? {
                Step::Continue => {}
                Step::NeedMore => break false,
                Step::Complete => break true,
            }
        };
        self.consumed = self.consumed.saturating_add(pos);
        if complete {
            if self.consumed > MAX_RESPONSE {
                return Err(HttpError::TooLarge(MAX_RESPONSE));
            }
            return Ok(Some(HttpResponse {
                status: self.status,
                body: std::mem::take(&mut self.body),
            }));
        }
        if self.consumed.saturating_add(pending.len() - pos) > MAX_RESPONSE {
            return Err(HttpError::TooLarge(MAX_RESPONSE));
        }
        if eof {
            return Err(HttpError::Truncated(match self.state {
                State::Head => "headers",
                State::Length(_) => "body",
                _ => "chunked body",
            }));
        }
        self.pending = pending;
        self.pending.drain(..pos);
        Ok(None)
    }

    /// Where the blank line ending a header block in `rest` ends, or `None` until it arrives
    /// (remembering how far was scanned); an error once the block outgrows [`MAX_HEAD`].
    fn blank_line(&mut self, rest: &[u8]) -> Result<Option<usize>, HttpError> {
        if let Some(blank) = blank_line_end(rest, self.scanned) {
            return Ok(Some(blank));
        }
        if rest.len() > MAX_HEAD {
            return Err(HttpError::HeadTooLarge(MAX_HEAD));
        }
        self.scanned = rest.len().saturating_sub(2);
        Ok(None)
    }

    /// One step over `rest`, the unconsumed bytes; moves `pos` past what it consumes.
    fn step(&mut self, rest: &[u8], pos: &mut usize, eof: bool) -> Result<Step, HttpError> {
        match self.state {
            State::Head => {
                let Some(blank) = self.blank_line(rest)? else {
                    return Ok(Step::NeedMore);
                };
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut headers);
                let len = match response.parse(rest) {
                    Ok(httparse::Status::Complete(len)) => len,
                    // Empty lines before the status line: look for the next blank line.
                    Ok(httparse::Status::Partial) => {
                        self.scanned = blank.saturating_sub(1);
                        return Ok(Step::Continue);
                    }
                    Err(e) => return Err(HttpError::Malformed(head_error(e))),
                };
                if len > MAX_HEAD {
                    return Err(HttpError::HeadTooLarge(MAX_HEAD));
                }
                let status = response.code.unwrap_or_default();
                let next = framing(status, response.version, response.headers)?;
                self.status = status;
                self.scanned = 0;
                *pos += len;
                self.state = next;
                Ok(if matches!(self.state, State::Done) {
                    Step::Complete
                } else {
                    Step::Continue
                })
            }
            State::Length(left) => {
                let take = left.min(rest.len());
                self.body.extend_from_slice(&rest[..take]);
                *pos += take;
                if take == left {
                    self.state = State::Done;
                    Ok(Step::Complete)
                } else {
                    self.state = State::Length(left - take);
                    Ok(Step::NeedMore)
                }
            }
            State::ChunkSize => {
                let Some(lf) = find_from(rest, self.scanned, b'\n') else {
                    if rest.len() > MAX_CHUNK_LINE {
                        return Err(HttpError::BadChunk("chunk-size line too long"));
                    }
                    self.scanned = rest.len();
                    return Ok(Step::NeedMore);
                };
                let line = &rest[..=lf];
                if line.len() > MAX_CHUNK_LINE {
                    return Err(HttpError::BadChunk("chunk-size line too long"));
                }
                if !line[0].is_ascii_hexdigit() {
                    return Err(HttpError::BadChunk("chunk size is not hexadecimal"));
                }
                let size = match httparse::parse_chunk_size(line) {
                    Ok(httparse::Status::Complete((_, size))) => size,
                    Ok(httparse::Status::Partial) => {
                        return Err(HttpError::BadChunk("chunk-size line not ended by CRLF"));
                    }
                    Err(httparse::InvalidChunkSize) => {
                        return Err(HttpError::BadChunk("invalid chunk size"));
                    }
                };
                let room = MAX_BODY - self.body.len();
                if size > room as u64 {
                    return Err(HttpError::BodyTooLarge(MAX_BODY));
                }
                *pos += line.len();
                self.scanned = 0;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
                Ok(Step::Continue)
            }
            State::ChunkData(left) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                self.body.extend_from_slice(&rest[..take]);
                *pos += take;
                let left = left - take as u64;
                if left == 0 {
                    self.state = State::ChunkEnd;
                    Ok(Step::Continue)
                } else {
                    self.state = State::ChunkData(left);
                    Ok(Step::NeedMore)
                }
            }
            State::ChunkEnd => match rest {
                [b'\r', b'\n', ..] => {
                    *pos += 2;
                    self.state = State::ChunkSize;
                    Ok(Step::Continue)
                }
                [] | [b'\r'] => Ok(Step::NeedMore),
                _ => Err(HttpError::BadChunk("chunk data not followed by CRLF")),
            },
            State::Trailers => {
                // An empty trailer section is the CRLF alone.
                match rest {
                    [b'\r', b'\n', ..] => {
                        *pos += 2;
                        self.state = State::Done;
                        return Ok(Step::Complete);
                    }
                    [] | [b'\r'] => return Ok(Step::NeedMore),
                    _ => {}
                }
                let Some(blank) = self.blank_line(rest)? else {
                    return Ok(Step::NeedMore);
                };
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(&rest[..blank], &mut headers) {
                    Ok(httparse::Status::Complete((len, _))) if len == blank => {
                        *pos += len;
                        self.state = State::Done;
                        Ok(Step::Complete)
                    }
                    _ => Err(HttpError::BadChunk("malformed trailer section")),
                }
            }
            State::UntilClose => {
                self.body.extend_from_slice(rest);
                *pos += rest.len();
                if self.body.len() > MAX_BODY {
                    return Err(HttpError::BodyTooLarge(MAX_BODY));
                }
                if eof {
                    self.state = State::Done;
                    Ok(Step::Complete)
                } else {
                    Ok(Step::NeedMore)
                }
            }
            // `push` never steps a finished parser.
            State::Done | State::Failed(_) => Ok(Step::Complete),
        }
    }
}

/// What follows a head with this status and these headers: the next head (interim), the
/// body's framing, or the end (no body); or why the response is refused.
fn framing(
    status: u16,
    version: Option<u8>,
    headers: &[httparse::Header<'_>],
) -> Result<State, HttpError> {
    match status {
        101 => {
            return Err(HttpError::Malformed(
                "101 Switching Protocols to a plain GET",
            ));
        }
        100..=199 => return Ok(State::Head),
        204 => return Ok(State::Done),
        300..=399 => {
            let location = header(headers, "location")
                .next()
                .map(|v| String::from_utf8_lossy(v).into_owned());
            return Err(HttpError::Redirect { status, location });
        }
        200..=599 => {}
        _ => return Err(HttpError::Malformed("status code out of range")),
    }
    if header(headers, "transfer-encoding").next().is_some() {
        if version == Some(0) {
            return Err(HttpError::Malformed(
                "Transfer-Encoding in an HTTP/1.0 response",
            ));
        }
        // Transfer-Encoding overrides Content-Length; only `chunked`, alone, is understood.
        let codings: Vec<&[u8]> = list(header(headers, "transfer-encoding")).collect();
        return match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case(b"chunked") => Ok(State::ChunkSize),
            [] => Err(HttpError::Malformed("empty Transfer-Encoding")),
            _ => Err(HttpError::UnsupportedTransferEncoding(
                codings
                    .iter()
                    .map(|c| String::from_utf8_lossy(c))
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        };
    }
    let mut length = None;
    for value in list(header(headers, "content-length")) {
        let n = parse_length(value)?;
        if length.is_some_and(|l| l != n) {
            return Err(HttpError::Malformed("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    if length.is_none() && header(headers, "content-length").next().is_some() {
        return Err(HttpError::Malformed("bad Content-Length"));
    }
    match length {
        Some(n) if n > MAX_BODY => Err(HttpError::BodyTooLarge(MAX_BODY)),
        Some(0) => Ok(State::Done),
        Some(n) => Ok(State::Length(n)),
        None => Ok(State::UntilClose),
    }
}

/// The values of the headers named `name` (lowercase).
fn header<'a>(
    headers: &'a [httparse::Header<'a>],
    name: &'static str,
) -> impl Iterator<Item = &'a [u8]> {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// The non-empty elements of comma-separated header values, trimmed.
fn list<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a [u8]> {
    values
        .flat_map(|v| v.split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|e| !e.is_empty())
}

/// A `Content-Length` value: decimal digits only (no sign, no spaces inside).
fn parse_length(value: &[u8]) -> Result<usize, HttpError> {
    let bad = HttpError::Malformed("bad Content-Length");
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(bad)
}

/// The position of `byte` in `buf` at or after `from`.
fn find_from(buf: &[u8], from: usize, byte: u8) -> Option<usize> {
    let from = from.min(buf.len());
    buf[from..]
        .iter()
        .position(|b| *b == byte)
        .map(|i| from + i)
}

/// Where the first blank line (`\n\n` or `\n\r\n`) whose `\n` is at or after `from` ends.
fn blank_line_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(lf) = find_from(buf, at, b'\n') {
        match &buf[lf + 1..] {
            [b'\n', ..] => return Some(lf + 2),
            [b'\r', b'\n', ..] => return Some(lf + 3),
            _ => at = lf + 1,
        }
    }
    None
}

fn head_error(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "not an HTTP/1.x status line",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` one after the other, the last with `eof`; the outcome of the last push,
    /// after checking that none before it completed.
    fn feed(pieces: &[&[u8]], eof: bool) -> Result<Option<HttpResponse>, HttpError> {
        let mut parser = ResponseParser::new();
        let (last, before) = pieces.split_last().expect("at least one piece");
        for (i, piece) in before.iter().enumerate() {
            assert_eq!(parser.push(piece, false), Ok(None), "piece {i}");
        }
        parser.push(last, eof)
    }

    fn ok(status: u16, body: &[u8]) -> Result<Option<HttpResponse>, HttpError> {
        Ok(Some(HttpResponse {
            status,
            body: body.to_vec(),
        }))
    }

    /// Every split of `full` into two reads, then the rest of the stream closed: the same
    /// outcome as reading it whole, and nothing before the last byte.
    fn assert_every_split(
        full: &[u8],
        eof: bool,
        expected: Result<Option<HttpResponse>, HttpError>,
    ) {
        assert_eq!(parse_response(full, eof), expected, "whole");
        for cut in 0..full.len() {
            assert_eq!(
                feed(&[&full[..cut], &full[cut..]], eof),
                expected,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = full.chunks(1).collect();
        assert_eq!(feed(&bytes, eof), expected, "byte by byte");
    }

    #[test]
    fn a_content_length_body_completes_without_waiting_for_eof() {
        let full = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 24\r\n\r\n{\"status\":\"not_ready\"}  ";
        for cut in 0..full.len() {
            assert_eq!(
                parse_response(&full[..cut], false),
                Ok(None),
                "cut at {cut}"
            );
        }
        assert_every_split(full, false, ok(503, b"{\"status\":\"not_ready\"}  "));
    }

    #[test]
    fn a_keep_alive_response_completes_at_its_length_and_ignores_what_follows() {
        let full = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}";
        assert_every_split(full, false, ok(200, b"{\"status\":\"ok\"}"));
        let mut pipelined = full.to_vec();
        pipelined.extend_from_slice(b"HTTP/1.1 500 Oops\r\n");
        assert_eq!(
            parse_response(&pipelined, false),
            ok(200, b"{\"status\":\"ok\"}")
        );
    }

    #[test]
    fn a_chunked_body_with_extensions_and_trailers_is_decoded_at_every_split() {
        let full = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n\
            4;name=value\r\n{\"st\r\nB\r\natus\":\"ok\"}\r\n0\r\nX-Trailer: yes\r\nServer-Timing: db;dur=5\r\n\r\n";
        assert_every_split(full, false, ok(200, b"{\"status\":\"ok\"}"));
    }

    #[test]
    fn a_chunked_body_without_trailers_completes_at_the_last_chunk() {
        let full = b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: Chunked\r\n\r\n\
            1a\r\n{\"status\":\"shutting_down\"}\r\n0\r\n\r\n";
        assert_every_split(full, false, ok(503, b"{\"status\":\"shutting_down\"}"));
    }

    #[test]
    fn transfer_encoding_overrides_content_length() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_every_split(full, false, ok(200, b"ok"));
    }

    #[test]
    fn a_body_without_length_or_chunking_ends_at_eof() {
        let full = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{}";
        assert_eq!(parse_response(full, false), Ok(None));
        assert_every_split(full, true, ok(200, b"{}"));
        assert_eq!(
            feed(&[full, b""], true),
            ok(200, b"{}"),
            "eof as an empty read after the body"
        );
    }

    #[test]
    fn no_content_and_zero_length_complete_at_the_head() {
        assert_every_split(b"HTTP/1.1 204 No Content\r\n\r\n", false, ok(204, b""));
        assert_every_split(
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            ok(200, b""),
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let full = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_every_split(full, false, ok(200, b"ok"));
    }

    #[test]
    fn redirects_are_refused_naming_the_location() {
        for status in [301u16, 302, 303, 307, 308] {
            let full = format!(
                "HTTP/1.1 {status} Moved\r\nLocation: https://login.example/ready\r\nContent-Length: 0\r\n\r\n"
            );
            let err = parse_response(full.as_bytes(), false).unwrap_err();
            assert_eq!(
                err,
                HttpError::Redirect {
                    status,
                    location: Some("https://login.example/ready".to_owned()),
                }
            );
            assert!(
                err.to_string().contains("https://login.example/ready"),
                "{err}"
            );
        }
        // Refused at the head: the body is not waited for.
        assert_eq!(
            parse_response(b"HTTP/1.1 302 Found\r\nContent-Length: 10\r\n\r\n", false),
            Err(HttpError::Redirect {
                status: 302,
                location: None
            })
        );
    }

    #[test]
    fn malformed_status_lines_and_headers_are_typed_errors() {
        for bad in [
            &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
        ] {
            assert!(
                matches!(parse_response(bad, false), Err(HttpError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_response(b"HTTP/1.1 600 Odd\r\n\r\n", false),
            Err(HttpError::Malformed("status code out of range"))
        );
        assert!(matches!(
            parse_response(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false),
            Err(HttpError::Malformed(_))
        ));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            parse_response(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes(), false),
            Err(HttpError::Malformed("too many headers"))
        );
    }

    #[test]
    fn bad_content_lengths_are_typed_errors() {
        for value in ["+5", "-1", "5 5", "0x10", "", "99999999999999999999999"] {
            let full = format!("HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(
                parse_response(full.as_bytes(), false),
                Err(HttpError::Malformed("bad Content-Length")),
                "{value:?}"
            );
        }
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
                false
            ),
            Err(HttpError::Malformed("conflicting Content-Length values"))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", false),
            ok(200, b"ok")
        );
    }

    #[test]
    fn unsupported_transfer_codings_are_typed_errors() {
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false
            ),
            Err(HttpError::UnsupportedTransferEncoding(
                "gzip, chunked".to_owned()
            ))
        );
        assert!(matches!(
            parse_response(
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Err(HttpError::Malformed(_))
        ));
    }

    #[test]
    fn bad_chunks_are_typed_errors() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (body, why) in [
            ("zz\r\nok\r\n0\r\n\r\n", "chunk size is not hexadecimal"),
            ("\r\nok\r\n0\r\n\r\n", "chunk size is not hexadecimal"),
            ("-2\r\nok\r\n0\r\n\r\n", "chunk size is not hexadecimal"),
            ("2x\r\nok\r\n0\r\n\r\n", "invalid chunk size"),
            ("2\nok\r\n0\r\n\r\n", "invalid chunk size"),
            ("10000000000000000\r\n", "invalid chunk size"),
            ("2;ext\nok\r\n", "chunk-size line not ended by CRLF"),
            ("2\r\nokX\r\n0\r\n\r\n", "chunk data not followed by CRLF"),
            (
                "2\r\nok\r\n0\r\nbad trailer\r\n\r\n",
                "malformed trailer section",
            ),
        ] {
            assert_eq!(
                parse_response(format!("{head}{body}").as_bytes(), false),
                Err(HttpError::BadChunk(why)),
                "{body:?}"
            );
        }
        let long_line = format!("{head}2;{}", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(
            parse_response(long_line.as_bytes(), false),
            Err(HttpError::BadChunk("chunk-size line too long"))
        );
    }

    #[test]
    fn bodies_beyond_the_limit_are_typed_errors() {
        let announced = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_response(announced.as_bytes(), false),
            Err(HttpError::BodyTooLarge(MAX_BODY))
        );
        let chunk = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY + 1
        );
        assert_eq!(
            parse_response(chunk.as_bytes(), false),
            Err(HttpError::BodyTooLarge(MAX_BODY))
        );
        let mut parser = ResponseParser::new();
        assert_eq!(parser.push(b"HTTP/1.1 200 OK\r\n\r\n", false), Ok(None));
        assert_eq!(parser.push(&vec![b'x'; MAX_BODY], false), Ok(None));
        assert_eq!(
            parser.push(b"x", false),
            Err(HttpError::BodyTooLarge(MAX_BODY))
        );
        // A body of exactly the limit is accepted.
        let exact = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY}\r\n\r\n{}",
            "y".repeat(MAX_BODY)
        );
        assert_eq!(
            parse_response(exact.as_bytes(), false).map(|r| r.map(|r| r.body.len())),
            Ok(Some(MAX_BODY))
        );
    }

    #[test]
    fn heads_and_responses_beyond_the_limits_are_typed_errors() {
        let mut parser = ResponseParser::new();
        assert_eq!(parser.push(b"HTTP/1.1 200 OK\r\nX: ", false), Ok(None));
        assert_eq!(
            parser.push(&vec![b'a'; MAX_HEAD], false),
            Err(HttpError::HeadTooLarge(MAX_HEAD))
        );
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_RESPONSE / 20);
        assert_eq!(
            parse_response(&interim, false),
            Err(HttpError::TooLarge(MAX_RESPONSE))
        );
        // Chunk framing counts: one-byte chunks with long extensions.
        let mut framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let ext = "e".repeat(1000);
        while framed.len() <= MAX_RESPONSE {
            framed.extend_from_slice(format!("1;{ext}\r\nx\r\n").as_bytes());
        }
        assert_eq!(
            parse_response(&framed, false),
            Err(HttpError::TooLarge(MAX_RESPONSE))
        );
    }

    #[test]
    fn eof_before_the_end_is_a_typed_error_naming_the_part() {
        assert_eq!(
            parse_response(b"", true),
            Err(HttpError::Truncated("headers"))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200", true),
            Err(HttpError::Truncated("headers"))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", true),
            Err(HttpError::Truncated("body"))
        );
        for cut in [
            "2\r\no",
            "2\r\nok",
            "2\r\nok\r\n",
            "2\r\nok\r\n0\r\n",
            "2\r\nok\r\n0\r\nX: y\r\n",
        ] {
            let full = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{cut}");
            assert_eq!(
                parse_response(full.as_bytes(), true),
                Err(HttpError::Truncated("chunked body")),
                "{cut:?}"
            );
        }
    }

    #[test]
    fn a_finished_parser_keeps_its_outcome() {
        let mut parser = ResponseParser::new();
        assert_eq!(
            parser.push(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            ok(200, b"")
        );
        assert_eq!(parser.push(b"HTTP/1.1 200 OK\r\n\r\n", true), Ok(None));
        let mut parser = ResponseParser::new();
        let err = parser.push(b"garbage\r\n\r\n", false).unwrap_err();
        assert_eq!(parser.push(b"HTTP/1.1 200 OK\r\n\r\n", true), Err(err));
    }

    #[test]
    fn the_request_is_a_bodyless_http11_get_asking_for_close() {
        let r = String::from_utf8(get_request("h:1", "/ready")).unwrap();
        assert_eq!(
            r,
            format!(
                "GET /ready HTTP/1.1\r\nHost: h:1\r\nUser-Agent: tcm/{}\r\n\
                 Accept: application/json, */*;q=0.1\r\nConnection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        assert_eq!(
            request.parse(r.as_bytes()),
            Ok(httparse::Status::Complete(r.len())),
            "the whole request is its head: no body"
        );
        assert_eq!(
            (request.method, request.path, request.version),
            (Some("GET"), Some("/ready"), Some(1))
        );
    }

    #[test]
    fn the_request_cannot_be_split_by_its_path_or_authority() {
        let r = String::from_utf8(get_request("[::1]:80\r\nX: y", "health check#x\r\n")).unwrap();
        assert!(
            r.starts_with("GET /health%20check%23x%0D%0A HTTP/1.1\r\nHost: [::1]:80X:y\r\n"),
            "{r}"
        );
        assert_eq!(r.matches("\r\n").count(), 6);
    }
}
