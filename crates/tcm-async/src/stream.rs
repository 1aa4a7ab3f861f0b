//! [`InferStream`]: the frames of a gRPC streaming inference as an async `Stream`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tcm_adapter::Error;
use tcm_adapter::engine::Frames;
use tcm_adapter::engine::mailbox::Closed;
use tcm_proto::StreamFrame;

use crate::client::Client;
use crate::runtime::Runtime;

/// The frames of one streaming inference, in order, as they arrive. The stream ends after the
/// final frame; a failure is yielded once as an `Err`. Dropping it early cancels the request.
/// It keeps its client's connection open while it lives.
#[derive(Debug)]
pub struct InferStream<R: Runtime>(Frames<Client<R>>);

impl<R: Runtime> InferStream<R> {
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
        match ticket.replies().poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(reply) => Poll::Ready(frames.take(reply.ok_or(Closed))),
        }
    }
}

tcm_adapter::stream_methods!({ impl<R: Runtime> InferStream<R> } Client<R>);
