//! [`Outbox`]: a bounded channel from the I/O loop to the application that never blocks the
//! loop. When the application does not keep up, new items are dropped and counted; the count is
//! logged at most once per [`WARN_INTERVAL`], so a flood writes a handful of lines, not one per
//! dropped item.

use std::time::{Duration, Instant};

/// How often dropped items are reported at most.
pub const WARN_INTERVAL: Duration = Duration::from_secs(5);

/// The sending side of an application channel, owned by the I/O loop.
#[derive(Debug)]
pub struct Outbox<T> {
    tx: Option<async_channel::Sender<T>>,
    what: &'static str,
    dropped: u64,
    last_warning: Option<Instant>,
}

impl<T> Outbox<T> {
    /// A channel of `capacity` unread `what`s (for the log); `None` and the receiver when the
    /// capacity is 0 (nothing is kept).
    pub fn bounded(
        capacity: usize,
        what: &'static str,
    ) -> (Self, Option<async_channel::Receiver<T>>) {
        let (tx, rx) = match capacity {
            0 => (None, None),
            n => {
                let (tx, rx) = async_channel::bounded(n);
                (Some(tx), Some(rx))
            }
        };
        let outbox = Self {
            tx,
            what,
            dropped: 0,
            last_warning: None,
        };
        (outbox, rx)
    }

    /// Hands `item` on, or drops it (counted) when the channel is full; returns whether it was
    /// handed on. Once the receiver is gone, items are discarded silently.
    pub fn push(&mut self, item: T) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        match tx.try_send(item) {
            Ok(()) => true,
            Err(async_channel::TrySendError::Full(_)) => {
                self.dropped += 1;
                self.warn(Instant::now());
                false
            }
            Err(async_channel::TrySendError::Closed(_)) => {
                self.tx = None;
                false
            }
        }
    }

    /// Logs the drops counted since the last warning, at most once per [`WARN_INTERVAL`].
    fn warn(&mut self, now: Instant) {
        if self
            .last_warning
            .is_some_and(|t| now.saturating_duration_since(t) < WARN_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            dropped = self.dropped,
            what = self.what,
            "application channel full; dropped since the last warning"
        );
        self.dropped = 0;
        self.last_warning = Some(now);
    }

    /// Items dropped and not yet reported.
    pub fn unreported_drops(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_drops_and_counts_without_blocking() {
        let (mut outbox, rx) = Outbox::bounded(2, "notification");
        let rx = rx.expect("a receiver");
        for i in 0..1000 {
            outbox.push(i);
        }
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(rx.try_recv().is_err());
        // The first drop was reported at once; the other 997 wait for the next interval.
        assert_eq!(outbox.unreported_drops(), 997);
    }

    #[test]
    fn a_zero_capacity_keeps_nothing() {
        let (mut outbox, rx) = Outbox::<u8>::bounded(0, "event");
        assert!(rx.is_none());
        outbox.push(1);
        assert_eq!(outbox.unreported_drops(), 0);
    }
}
