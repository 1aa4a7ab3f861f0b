//! [`InferStream`]: the frames of a gRPC streaming inference as a blocking iterator.

use tcm_adapter::Error;
use tcm_adapter::engine::{Frames, LoadGuard, Ticket};
use tcm_proto::{Connection, Response, StreamFrame};

use crate::client::Client;

/// The frames of one streaming inference, in order, as they arrive. The iterator ends after
/// the final frame; a failure is yielded once as an `Err`. Dropping it early cancels the
/// request. It keeps its client's connection open while it lives.
#[derive(Debug)]
pub struct InferStream(Frames<Client>);

impl InferStream {
    pub(crate) fn new(client: Client, ticket: Ticket<Connection>) -> Self {
        Self(Frames::new(client, ticket))
    }

    pub(crate) fn with_load(self, load: LoadGuard) -> Self {
        Self(self.0.with_load(load))
    }

    /// The final response once the stream completed (it carries the model name).
    pub fn completion(&self) -> Option<&Response> {
        self.0.completion()
    }

    /// Frames waiting unread (and the outcome, once it is in). At most
    /// `ClientOptions::stream_buffer` frames wait; a reader further behind gets
    /// `RequestError::SlowConsumer`.
    pub fn unread(&self) -> usize {
        self.0.unread()
    }

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
