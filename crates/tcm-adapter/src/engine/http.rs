//! Reading the response of a `GET /health` or `GET /ready` probe as it arrives.

use std::io;

use tcm_proto::http::{HttpResponse, parse_response};

use crate::error::ProbeError;

/// The bytes of one probe response, read a chunk at a time until the response is complete.
pub struct ResponseReader {
    buf: Vec<u8>,
    chunk: [u8; 4096],
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
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
    /// is complete (a read of 0 bytes is the end of the stream).
    pub fn on_read(&mut self, read: io::Result<usize>) -> Result<Option<HttpResponse>, ProbeError> {
        let n = match read {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: the body is complete anyway.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e.into()),
        };
        self.buf.extend_from_slice(&self.chunk[..n]);
        Ok(parse_response(&self.buf, n == 0)?)
    }
}
