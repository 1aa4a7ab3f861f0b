//! Retry and reconnect policy: exponential backoff with full jitter from a seeded generator.
//!
//! These are pure values and functions; the [`Connection`](crate::Connection) keeps the state
//! (attempt counters, timers) and asks the policy what to do.

use std::time::Duration;

use crate::error::RequestError;
use crate::rng::Rng;

/// Exponential backoff with full jitter: attempt `n` (0-based) waits a uniform random time in
/// `[0, min(cap, initial × 2ⁿ)]`, which spreads reconnecting clients instead of
/// synchronising them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first attempt's delay.
    pub initial: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            cap: Duration::from_secs(10),
        }
    }
}

impl Backoff {
    /// The ceiling for attempt `attempt` (0-based): `min(cap, initial × 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.cap)
    }

    /// A jittered delay for attempt `attempt`.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.below_or_equal(nanos))
    }
}

/// When a failed request is sent again.
///
/// Only idempotent requests (info, inference) are retried, and only on retriable failures:
/// a typed error with `retriable: true`, or a `BACKPRESSURE_QUEUE_FULL` /
/// `BACKPRESSURE_EXECUTOR_FULL` drop. Text failures, fatal codes, `SYSTEM_SHUTDOWN` and
/// management requests never are. A server `retry_after_seconds` is a lower bound on the delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Delay between attempts.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::default(),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// After attempt number `attempts` (1-based) failed with `error`: the delay before the next
    /// attempt, or `None` when the failure is final.
    pub fn next_delay(
        &self,
        attempts: u32,
        idempotent: bool,
        error: &RequestError,
        rng: &mut Rng,
    ) -> Option<Duration> {
        if !idempotent || !error.is_retriable() || attempts >= self.max_attempts {
            return None;
        }
        let jittered = self.backoff.delay(attempts.saturating_sub(1), rng);
        let floor = Duration::from_secs(error.retry_after_seconds().unwrap_or(0));
        Some(jittered.max(floor))
    }
}

/// How a dropped connection is re-established.
///
/// After an unexpected close the connection waits a jittered backoff, then dials again with a
/// fresh uuid. After `SYSTEM_SHUTDOWN` it first asks the driver to probe `GET /ready` and dials
/// only once the server says ready. Authentication failures and local closes are final.
///
/// The backoff grows with every attempt and starts again only once a connection has stayed up
/// for [`healthy_after`](Self::healthy_after): a server that accepts and then drops at once
/// (flapping) is dialled ever more slowly, up to the cap, never in a storm. The default keeps
/// trying for as long as the client lives, with a capped delay, while requests fail by their own
/// deadlines; giving up is an explicit choice ([`at_most`](Self::at_most)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Delay between attempts.
    pub backoff: Backoff,
    /// Consecutive failed attempts before giving up; `None` retries for as long as the client
    /// lives.
    pub max_attempts: Option<u32>,
    /// How long a connection must stay up before the backoff starts again from `initial`.
    pub healthy_after: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            backoff: Backoff {
                initial: Duration::from_millis(200),
                cap: Duration::from_secs(30),
            },
            max_attempts: None,
            healthy_after: Duration::from_secs(10),
        }
    }
}

impl ReconnectPolicy {
    /// The default: keep trying, with `backoff`.
    pub fn forever(backoff: Backoff) -> Self {
        Self {
            backoff,
            ..Self::default()
        }
    }

    /// Give up after `attempts` consecutive failed attempts, with `backoff`.
    pub fn at_most(attempts: u32, backoff: Backoff) -> Self {
        Self {
            backoff,
            max_attempts: Some(attempts),
            ..Self::default()
        }
    }

    /// Sets [`healthy_after`](Self::healthy_after).
    pub fn with_healthy_after(mut self, healthy_after: Duration) -> Self {
        self.healthy_after = healthy_after;
        self
    }
}

/// The consecutive reconnect attempts of one session: the state both session machines keep
/// for a [`ReconnectPolicy`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Reconnects {
    attempts: u32,
    /// When the current connection was established, if it is up.
    up_since: Option<std::time::Instant>,
}

impl Reconnects {
    /// The instant of the next attempt, or `None` when there is no policy or it is spent.
    pub(crate) fn next(
        &mut self,
        policy: Option<ReconnectPolicy>,
        now: std::time::Instant,
        rng: &mut Rng,
    ) -> Option<std::time::Instant> {
        let policy = policy?;
        if self
            .up_since
            .take()
            .is_some_and(|t| now.saturating_duration_since(t) >= policy.healthy_after)
        {
            self.attempts = 0;
        }
        if policy.max_attempts.is_some_and(|max| self.attempts >= max) {
            return None;
        }
        let until = now + policy.backoff.delay(self.attempts, rng);
        self.attempts += 1;
        Some(until)
    }

    /// A session was established at `now`: if it stays up long enough, the next failure
    /// starts the backoff again.
    pub(crate) fn established(&mut self, now: std::time::Instant) {
        self.up_since = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, TritonCode, TritonError};

    fn typed(retriable: bool, after: Option<u64>) -> RequestError {
        RequestError::Triton(TritonError {
            code: TritonCode::Network,
            message: String::new(),
            retriable,
            retry_after_seconds: after,
            extra: Default::default(),
        })
    }

    #[test]
    fn backoff_ceiling_doubles_up_to_the_cap() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(400), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling_and_is_seeded() {
        let b = Backoff::default();
        let mut r1 = Rng::new(42);
        let mut r2 = Rng::new(42);
        for n in 0..20 {
            let d = b.delay(n, &mut r1);
            assert!(d <= b.ceiling(n));
            assert_eq!(d, b.delay(n, &mut r2));
        }
    }

    #[test]
    fn retriable_typed_error_is_retried_until_max_attempts() {
        let p = RetryPolicy::default();
        let mut rng = Rng::new(1);
        let e = typed(true, None);
        assert!(p.next_delay(1, true, &e, &mut rng).is_some());
        assert!(p.next_delay(2, true, &e, &mut rng).is_some());
        assert!(p.next_delay(3, true, &e, &mut rng).is_none());
    }

    #[test]
    fn fatal_text_management_and_shutdown_are_never_retried() {
        let p = RetryPolicy::default();
        let mut rng = Rng::new(1);
        assert!(
            p.next_delay(1, true, &typed(false, None), &mut rng)
                .is_none()
        );
        assert!(
            p.next_delay(1, true, &RequestError::Failed("x".into()), &mut rng)
                .is_none()
        );
        assert!(
            p.next_delay(1, false, &typed(true, None), &mut rng)
                .is_none()
        );
        let shutdown = RequestError::Dropped {
            code: ErrorCode::SystemShutdown,
            message: String::new(),
        };
        assert!(p.next_delay(1, true, &shutdown, &mut rng).is_none());
        let full = RequestError::Dropped {
            code: ErrorCode::BackpressureQueueFull,
            message: String::new(),
        };
        assert!(p.next_delay(1, true, &full, &mut rng).is_some());
    }

    #[test]
    fn the_backoff_starts_again_only_after_a_healthy_connection() {
        let policy = ReconnectPolicy::at_most(
            100,
            Backoff {
                initial: Duration::from_secs(1),
                cap: Duration::from_secs(1_000),
            },
        );
        let mut rng = Rng::new(7);
        let mut r = Reconnects::default();
        let t0 = std::time::Instant::now();
        // A flapping server: up for a moment after every attempt.
        for _ in 0..5 {
            r.next(Some(policy), t0, &mut rng);
            r.established(t0);
        }
        r.next(Some(policy), t0 + Duration::from_secs(1), &mut rng);
        assert_eq!(
            r.attempts, 6,
            "short-lived connections do not reset the backoff"
        );
        r.established(t0);
        r.next(Some(policy), t0 + policy.healthy_after, &mut rng);
        assert_eq!(r.attempts, 1, "a healthy connection starts it again");
    }

    #[test]
    fn the_default_never_gives_up_and_a_finite_policy_does() {
        let mut rng = Rng::new(7);
        let mut r = Reconnects::default();
        let now = std::time::Instant::now();
        for _ in 0..10_000 {
            assert!(
                r.next(Some(ReconnectPolicy::default()), now, &mut rng)
                    .is_some()
            );
        }
        let finite = ReconnectPolicy::at_most(3, Backoff::default());
        let mut r = Reconnects::default();
        let tries = (0..10)
            .filter(|_| r.next(Some(finite), now, &mut rng).is_some())
            .count();
        assert_eq!(tries, 3);
    }

    #[test]
    fn retry_after_seconds_is_a_floor() {
        let p = RetryPolicy::default();
        let mut rng = Rng::new(1);
        let d = p.next_delay(1, true, &typed(true, Some(30)), &mut rng);
        assert_eq!(d, Some(Duration::from_secs(30)));
    }
}
