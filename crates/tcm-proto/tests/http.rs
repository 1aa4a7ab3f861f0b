//! Reading probe responses split anywhere: arbitrary bytes never panic the parser, and a valid
//! response (any framing, interim responses, keep-alive or not) parses the same however the
//! stream cuts it.
//!
//! The number of cases defaults to 2 000 per property (`PROPTEST_CASES` overrides it).

use proptest::prelude::*;
use tcm_proto::http::{HttpError, HttpResponse, ResponseParser, parse_response};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Feeds `bytes` cut at `cuts` (positions, any order, duplicates allowed), the last piece with
/// `eof`; returns the first outcome that is not "more bytes needed", or that of the last push.
fn split_feed(bytes: &[u8], cuts: &[usize], eof: bool) -> Result<Option<HttpResponse>, HttpError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut parser = ResponseParser::new();
    let mut start = 0;
    for (i, &end) in points.iter().enumerate() {
        let last = i + 1 == points.len();
        match parser.push(&bytes[start..end], eof && last) {
            Ok(None) if !last => {}
            outcome => return outcome,
        }
        start = end;
    }
    unreachable!("the last piece returns")
}

/// How a generated response delimits its body.
#[derive(Debug, Clone)]
enum Framing {
    Length,
    /// Chunk lengths (cycled over the body), whether chunk lines carry extensions, and
    /// whether there are trailers.
    Chunked(Vec<usize>, bool, bool),
    Close,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Length),
        (
            prop::collection::vec(1usize..40, 1..6),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(sizes, ext, trailers)| Framing::Chunked(sizes, ext, trailers)),
        Just(Framing::Close),
    ]
}

/// A valid final response: status, body, framing, keep-alive, interim responses before it.
fn response() -> impl Strategy<Value = (Vec<u8>, u16, Vec<u8>, bool)> {
    (
        prop_oneof![200u16..300, 400u16..600].prop_filter("204 has no body", |s| *s != 204),
        prop::collection::vec(any::<u8>(), 0..300),
        framing(),
        any::<bool>(),
        0usize..3,
    )
        .prop_map(|(status, body, framing, keep_alive, interim)| {
            let mut out = Vec::new();
            for _ in 0..interim {
                out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            out.extend_from_slice(
                format!("HTTP/1.1 {status} Whatever\r\nServer: proxy\r\n").as_bytes(),
            );
            let conn = if keep_alive { "keep-alive" } else { "close" };
            out.extend_from_slice(format!("Connection: {conn}\r\n").as_bytes());
            let close = matches!(framing, Framing::Close);
            match framing {
                Framing::Length => {
                    out.extend_from_slice(
                        format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                    );
                    out.extend_from_slice(&body);
                }
                Framing::Chunked(sizes, ext, trailers) => {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                    let mut rest = body.as_slice();
                    for size in sizes.iter().cycle() {
                        if rest.is_empty() {
                            break;
                        }
                        let (chunk, after) = rest.split_at((*size).min(rest.len()));
                        let ext = if ext { ";a=b;c=\"d\"" } else { "" };
                        out.extend_from_slice(format!("{:X}{ext}\r\n", chunk.len()).as_bytes());
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                        rest = after;
                    }
                    out.extend_from_slice(b"0\r\n");
                    if trailers {
                        out.extend_from_slice(b"X-Checksum: 1234\r\n");
                    }
                    out.extend_from_slice(b"\r\n");
                }
                Framing::Close => {
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&body);
                }
            }
            (out, status, body, close)
        })
}

/// Bytes that look like the start of a response often, so the fuzzing reaches the body states.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        (
            prop::sample::select(vec![
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 503 x\r\n\r\n",
                b"HTTP/1.1 200 OK\r\n",
            ]),
            prop::collection::vec(
                prop::sample::select(b"0123456789abcdefABCDEFxz;= \r\n\t:".to_vec()),
                0..200
            ),
        )
            .prop_map(|(head, tail)| [head, &tail[..]].concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_split_anywhere_never_panic(
        bytes in noisy_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        eof in any::<bool>(),
    ) {
        let _ = parse_response(&bytes, eof);
        let _ = split_feed(&bytes, &cuts, eof);
    }

    #[test]
    fn a_valid_response_split_anywhere_parses_the_same(
        (bytes, status, body, close) in response(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let expected = Ok(Some(HttpResponse { status, body }));
        prop_assert_eq!(&parse_response(&bytes, close), &expected);
        prop_assert_eq!(&split_feed(&bytes, &cuts, close), &expected);
        if !close {
            // Complete without the end of the stream, and nothing earlier than the last byte.
            prop_assert_eq!(parse_response(&bytes[..bytes.len() - 1], false), Ok(None));
        }
    }
}
