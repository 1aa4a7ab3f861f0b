//! [`InferStream`]: the frames of a gRPC streaming inference as a blocking iterator.

use tcm_adapter::Error;
use tcm_adapter::engine::{LoadGuard, Reply, Ticket};
use tcm_proto::{Connection, Response, StreamFrame};

use crate::client::Client;

/// The frames of one streaming inference, in order, as they arrive. The iterator ends after
/// the final frame; a failure is yielded once as an `Err`. Dropping it early cancels the
/// request. It keeps its client's connection open while it lives.
#[derive(Debug)]
pub struct InferStream {
    _client: Client,
    ticket: Ticket<Connection>,
    done: bool,
    completion: Option<Response>,
    load: Option<LoadGuard>,
}

impl InferStream {
    pub(crate) fn new(client: Client, ticket: Ticket<Connection>) -> Self {
        Self {
            _client: client,
            ticket,
            done: false,
            completion: None,
            load: None,
        }
    }

    /// Counts this stream against a pool member's load until it ends or is dropped.
    pub(crate) fn with_load(mut self, load: LoadGuard) -> Self {
        self.load = Some(load);
        self
    }

    /// The final response once the stream completed (it carries the model name).
    pub fn completion(&self) -> Option<&Response> {
        self.completion.as_ref()
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
        if self.done {
            return None;
        }
        let reply = self.ticket.replies().recv_blocking();
        let item = match self.ticket.take(reply) {
            Ok(Reply::Stream(frame)) => return Some(Ok(frame)),
            Ok(Reply::Finished(Ok(response))) => {
                self.completion = Some(response);
                None
            }
            Ok(Reply::Finished(Err(e))) => Some(Err(Error::Request(e))),
            Err(stopped) => Some(Err(stopped.into())),
        };
        self.done = true;
        self.load = None;
        item
    }
}
