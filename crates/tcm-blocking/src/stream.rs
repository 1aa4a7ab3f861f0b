//! [`InferStream`]: the frames of a gRPC streaming inference as a blocking iterator.

use tcm_adapter::Error;
use tcm_adapter::engine::Frames;
use tcm_proto::StreamFrame;

use crate::client::Client;

/// The frames of one streaming inference, in order, as they arrive. The iterator ends after
/// the final frame; a failure is yielded once as an `Err`. Dropping it early cancels the
/// request. It keeps its client's connection open while it lives.
#[derive(Debug)]
pub struct InferStream(Frames<Client>);

impl InferStream {
    /// Collects the text chunks until the end of the stream.
    pub fn collect_text(self) -> Result<String, Error> {
        let mut text = String::new();
        for frame in self {
            if let StreamFrame::Chunk(c) = frame? {
                text.push_str(&c);
            }
        }
        Ok(text)
    }
}

impl Iterator for InferStream {
    type Item = Result<StreamFrame, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let reply = self.0.pending()?.replies().recv_blocking();
        self.0.take(reply)
    }
}

tcm_adapter::stream_methods!({ impl InferStream } Client);
