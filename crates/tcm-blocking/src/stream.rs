//! [`InferStream`]: the frames of a gRPC streaming inference as a blocking iterator.

use std::sync::mpsc::Receiver;

use tcm_adapter::pool_load::LoadGuard;
use tcm_proto::{Response, StreamFrame};

use crate::client::Client;
use crate::driver::Reply;
use crate::error::Error;

/// The frames of one streaming inference, in order, as they arrive. The iterator ends after
/// the final frame; a failure is yielded once as an `Err`. Dropping it early cancels the request.
pub struct InferStream {
    client: Client,
    call: u64,
    rx: Receiver<Reply>,
    done: bool,
    completion: Option<Response>,
    load: Option<LoadGuard>,
}

impl std::fmt::Debug for InferStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferStream")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl InferStream {
    pub(crate) fn new(client: Client, call: u64, rx: Receiver<Reply>) -> Self {
        Self {
            client,
            call,
            rx,
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
        match self.rx.recv() {
            Ok(Reply::Stream(frame)) => Some(Ok(frame)),
            Ok(Reply::Finished(Ok(response))) => {
                self.done = true;
                self.load = None;
                self.completion = Some(response);
                None
            }
            Ok(Reply::Finished(Err(e))) => {
                self.done = true;
                self.load = None;
                Some(Err(Error::Request(e)))
            }
            Err(_) => {
                self.done = true;
                self.load = None;
                Some(Err(Error::Stopped))
            }
        }
    }
}

impl Drop for InferStream {
    fn drop(&mut self) {
        if !self.done {
            self.client.cancel(self.call);
        }
    }
}
