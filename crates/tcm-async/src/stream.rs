//! [`InferStream`]: the frames of a gRPC streaming inference as an async `Stream`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tcm_adapter::Error;
use tcm_adapter::engine::{LoadGuard, Reply, Ticket};
use tcm_proto::{Connection, Response, StreamFrame};

use crate::client::Client;
use crate::runtime::Runtime;

/// The frames of one streaming inference, in order, as they arrive. The stream ends after the
/// final frame; a failure is yielded once as an `Err`. Dropping it early cancels the request.
/// It keeps its client's connection open while it lives.
pub struct InferStream<R: Runtime> {
    _client: Client<R>,
    ticket: Ticket<Connection>,
    done: bool,
    completion: Option<Response>,
    load: Option<LoadGuard>,
}

impl<R: Runtime> std::fmt::Debug for InferStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InferStream")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> InferStream<R> {
    pub(crate) fn new(client: Client<R>, ticket: Ticket<Connection>) -> Self {
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
    pub async fn collect_text(mut self) -> Result<String, Error> {
        let mut text = String::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut self).poll_next(cx)).await {
            if let StreamFrame::Chunk(c) = frame? {
                text.push_str(&c);
            }
        }
        Ok(text)
    }
}

impl<R: Runtime> Stream for InferStream<R> {
    type Item = Result<StreamFrame, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let reply = match this.ticket.replies_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(reply) => reply.ok_or(async_channel::RecvError),
        };
        let item = match this.ticket.take(reply) {
            Ok(Reply::Stream(frame)) => return Poll::Ready(Some(Ok(frame))),
            Ok(Reply::Finished(Ok(response))) => {
                this.completion = Some(response);
                None
            }
            Ok(Reply::Finished(Err(e))) => Some(Err(Error::Request(e))),
            Err(stopped) => Some(Err(stopped.into())),
        };
        this.done = true;
        this.load = None;
        Poll::Ready(item)
    }
}
