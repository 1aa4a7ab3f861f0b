//! [`Frames`]: the caller's side of a gRPC stream, the same whether the client's stream type is
//! an iterator or an async `Stream`.

use tcm_proto::{Connection, Response, StreamFrame};

use super::mailbox::Closed;
use super::{LoadGuard, Reply, Ticket};
use crate::error::Error;

/// One streaming inference seen from its caller: the ticket its frames arrive on, its end, and
/// the load it counts as on a pool member. Holds a handle `C` on the client so that the
/// connection stays open while the stream lives.
#[derive(Debug)]
pub struct Frames<C> {
    _client: C,
    ticket: Ticket<Connection>,
    done: bool,
    completion: Option<Response>,
    load: Option<LoadGuard>,
}

impl<C> Frames<C> {
    /// The stream of `ticket`, on `client`.
    pub fn new(client: C, ticket: Ticket<Connection>) -> Self {
        Self {
            _client: client,
            ticket,
            done: false,
            completion: None,
            load: None,
        }
    }

    /// Counts this stream against a pool member's load until it ends or is dropped.
    pub fn with_load(mut self, load: LoadGuard) -> Self {
        self.load = Some(load);
        self
    }

    /// The final response once the stream completed (it carries the model name).
    pub fn completion(&self) -> Option<&Response> {
        self.completion.as_ref()
    }

    /// Frames (and the outcome, once it is in) waiting unread.
    pub fn unread(&self) -> usize {
        if self.done {
            0
        } else {
            self.ticket.replies().len()
        }
    }

    /// The ticket to read the next reply from, until the stream has ended.
    pub fn pending(&mut self) -> Option<&mut Ticket<Connection>> {
        (!self.done).then_some(&mut self.ticket)
    }

    /// Takes one reply: a frame, or the end of the stream (`None` when it completed, an error
    /// once when it failed).
    pub fn take(
        &mut self,
        reply: Result<Reply<Connection>, Closed>,
    ) -> Option<Result<StreamFrame, Error>> {
        let end = match self.ticket.take(reply) {
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
        end
    }
}
