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
