//! [`InferStream`]: the frames of a gRPC streaming inference as an async `Stream`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tcm_adapter::Error;
use tcm_adapter::engine::{Frames, LoadGuard, Ticket};
use tcm_proto::{Connection, Response, StreamFrame};

use crate::client::Client;
use crate::runtime::Runtime;

/// The frames of one streaming inference, in order, as they arrive. The stream ends after the
/// final frame; a failure is yielded once as an `Err`. Dropping it early cancels the request.
/// It keeps its client's connection open while it lives.
#[derive(Debug)]
pub struct InferStream<R: Runtime>(Frames<Client<R>>);

impl<R: Runtime> InferStream<R> {
    pub(crate) fn new(client: Client<R>, ticket: Ticket<Connection>) -> Self {
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
        let frames = &mut self.get_mut().0;
        let Some(ticket) = frames.pending() else {
            return Poll::Ready(None);
        };
        match ticket.replies_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(reply) => Poll::Ready(frames.take(reply.ok_or(async_channel::RecvError))),
        }
    }
}
