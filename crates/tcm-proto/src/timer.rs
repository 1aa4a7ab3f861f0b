//! The timers of a [`Connection`](crate::Connection).
//!
//! | timer | armed | on expiry |
//! |---|---|---|
//! | [`Timer::Auth`] | the auth frame is queued | the connection fails with `AuthTimeout` |
//! | [`Timer::Keepalive`] | while connected | a ping is queued, or the peer is declared dead |
//! | [`Timer::Request`] | a request is accepted | it fails with `Timeout` (an in-flight inference orphans the slot) |
//! | [`Timer::Retry`] | a retriable failure is retried | the request is queued again, ahead of newer ones |
//! | [`Timer::Reconnect`] | after an unexpected close | the driver is asked to probe `/ready` or to dial |
//! | [`Timer::Orphan`] | an abandoned inference holds the slot while others wait | the connection is recycled |
//!
//! [`Connection::poll_timeout`](crate::Connection::poll_timeout) returns the earliest armed
//! deadline; [`Connection::handle_timeout`](crate::Connection::handle_timeout) fires every timer
//! that is due.

use std::collections::BTreeSet;
use std::time::Instant;

/// The kinds of timer a connection arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Waiting for `auth.ok`.
    Auth,
    /// Idle ping or pong wait.
    Keepalive,
    /// A request's deadline.
    Request,
    /// A request's next retry.
    Retry,
    /// The next reconnect attempt.
    Reconnect,
    /// Recycling a connection whose inference slot is held by an abandoned request.
    Orphan,
}

/// An ordered set of `(deadline, key)` pairs: earliest first, removable by key and deadline.
#[derive(Debug, Clone)]
pub(crate) struct DeadlineSet<K: Ord + Copy>(BTreeSet<(Instant, K)>);

impl<K: Ord + Copy> Default for DeadlineSet<K> {
    fn default() -> Self {
        Self(BTreeSet::new())
    }
}

impl<K: Ord + Copy> DeadlineSet<K> {
    pub(crate) fn insert(&mut self, at: Instant, key: K) {
        self.0.insert((at, key));
    }

    pub(crate) fn remove(&mut self, at: Instant, key: K) {
        self.0.remove(&(at, key));
    }

    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.0.first().map(|(t, _)| *t)
    }

    /// Removes and returns the earliest key due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        match self.0.first() {
            Some((t, _)) if *t <= now => self.0.pop_first().map(|(_, k)| k),
            _ => None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The earliest of a set of optional deadlines.
pub(crate) fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}
