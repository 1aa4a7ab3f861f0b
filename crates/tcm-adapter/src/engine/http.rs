//! Reading the response of a `GET /health` or `GET /ready` probe as it arrives.

use std::io;

use tcm_proto::http::{HttpResponse, ResponseParser};

use crate::error::ProbeError;

/// The bytes of one probe response, read a chunk at a time and fed to a [`ResponseParser`]
/// until the response is complete: as soon as its body is, whether or not the peer closes.
pub struct ResponseReader {
    parser: ResponseParser,
    chunk: [u8; 4096],
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self {
            parser: ResponseParser::new(),
            chunk: [0; 4096],
        }
    }
}

impl ResponseReader {
    /// Nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where the next read goes.
    pub fn chunk(&mut self) -> &mut [u8] {
        &mut self.chunk
    }

    /// Takes the outcome of a read into [`chunk`](Self::chunk); returns the response once it
    /// is complete (a read of 0 bytes is the end of the stream). A malformed, truncated,
    /// oversized or redirecting response is [`ProbeError::Http`].
    pub fn on_read(&mut self, read: io::Result<usize>) -> Result<Option<HttpResponse>, ProbeError> {
        let n = match read {
            Ok(n) => n.min(self.chunk.len()),
            // A TLS peer that closes without close_notify: a body delimited by the end of the
            // stream is complete anyway; any other framing reports what is missing.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(self.parser.push(&self.chunk[..n], n == 0)?)
    }
}

#[cfg(test)]
mod tests {
    use tcm_proto::http::HttpError;

    use super::*;

    /// Delivers `pieces` as successive reads; the outcome of the first read that ends the
    /// exchange, or `None` if every read left it waiting.
    fn read_all(
        reader: &mut ResponseReader,
        pieces: &[&[u8]],
    ) -> Option<Result<HttpResponse, ProbeError>> {
        for piece in pieces {
            reader.chunk()[..piece.len()].copy_from_slice(piece);
            match reader.on_read(Ok(piece.len())) {
                Ok(None) => {}
                Ok(Some(response)) => return Some(Ok(response)),
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    #[test]
    fn a_chunked_keep_alive_response_completes_without_the_end_of_the_stream() {
        let mut reader = ResponseReader::new();
        let outcome = read_all(
            &mut reader,
            &[
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nTransfer-",
                b"Encoding: chunked\r\n\r\na\r\n{\"statu",
                b"s\":\r\n8\r\n\"ready\"}\r\n0\r",
                b"\n\r\n",
            ],
        );
        let response = outcome.expect("complete").expect("parsed");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{\"status\":\"ready\"}");
    }

    #[test]
    fn a_body_delimited_by_close_completes_at_a_tls_close_without_close_notify() {
        let mut reader = ResponseReader::new();
        assert!(read_all(&mut reader, &[b"HTTP/1.0 503 Unavailable\r\n\r\nnot ready"]).is_none());
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        let response = reader.on_read(Err(eof)).expect("parsed").expect("complete");
        assert_eq!(
            (response.status, response.body.as_slice()),
            (503, &b"not ready"[..])
        );
    }

    #[test]
    fn a_stream_that_ends_inside_a_chunked_body_is_a_typed_error() {
        let mut reader = ResponseReader::new();
        assert!(
            read_all(
                &mut reader,
                &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nre"]
            )
            .is_none()
        );
        assert!(matches!(
            reader.on_read(Ok(0)),
            Err(ProbeError::Http(HttpError::Truncated("chunked body")))
        ));
    }

    #[test]
    fn a_redirect_is_refused_with_its_location() {
        let mut reader = ResponseReader::new();
        let outcome = read_all(
            &mut reader,
            &[b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /login\r\n\r\n"],
        );
        assert!(matches!(
            outcome,
            Some(Err(ProbeError::Http(HttpError::Redirect { status: 308, location: Some(l) }))) if l == "/login"
        ));
    }

    #[test]
    fn a_failed_read_is_an_io_error() {
        let mut reader = ResponseReader::new();
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            reader.on_read(Err(reset)),
            Err(ProbeError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset
        ));
    }
}
