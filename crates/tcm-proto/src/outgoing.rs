//! [`Outgoing`]: the frames a session wants written, in order, each with the request it carries
//! (if any). A request that ends before the driver took its frame is never sent: a peer that
//! reads slowly or not at all cannot make a timed-out request go out later.

use std::collections::VecDeque;

use crate::event::Transmit;

/// The frames a session wants written; `K` identifies the requests they carry.
#[derive(Debug)]
pub(crate) struct Outgoing<K> {
    frames: VecDeque<(Option<K>, Transmit)>,
}

impl<K> Default for Outgoing<K> {
    fn default() -> Self {
        Self {
            frames: VecDeque::new(),
        }
    }
}

impl<K: PartialEq> Outgoing<K> {
    /// Queues a frame that carries no request (auth, ping, close, a reply).
    pub(crate) fn push(&mut self, transmit: Transmit) {
        self.frames.push_back((None, transmit));
    }

    /// Queues the frame of request `id`.
    pub(crate) fn push_request(&mut self, id: K, transmit: Transmit) {
        self.frames.push_back((Some(id), transmit));
    }

    /// The next frame to write.
    pub(crate) fn pop(&mut self) -> Option<Transmit> {
        self.frames.pop_front().map(|(_, t)| t)
    }

    /// Drops the frame of request `id` if it was not written yet; whether it was still here.
    pub(crate) fn withdraw(&mut self, id: &K) -> bool {
        let before = self.frames.len();
        self.frames.retain(|(k, _)| k.as_ref() != Some(id));
        self.frames.len() != before
    }

    /// Drops every request frame not written yet (their transport is gone).
    pub(crate) fn withdraw_all(&mut self) {
        self.frames.retain(|(k, _)| k.is_none());
    }
}

impl<K> Extend<Transmit> for Outgoing<K> {
    fn extend<I: IntoIterator<Item = Transmit>>(&mut self, frames: I) {
        self.frames.extend(frames.into_iter().map(|t| (None, t)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_withdrawn_request_frame_is_never_written_and_the_rest_keep_their_order() {
        let mut out = Outgoing::default();
        out.push(Transmit::Text("auth".into()));
        out.push_request(1, Transmit::Text("one".into()));
        out.push_request(2, Transmit::Text("two".into()));
        assert!(out.withdraw(&1));
        assert!(!out.withdraw(&1));
        assert_eq!(out.pop(), Some(Transmit::Text("auth".into())));
        assert_eq!(out.pop(), Some(Transmit::Text("two".into())));
        assert_eq!(out.pop(), None);
    }
}
