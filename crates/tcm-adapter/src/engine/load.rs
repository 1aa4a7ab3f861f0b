//! The members of a connection pool, spread over one or more replicas, and their selection:
//! the least-loaded ready member, ties broken round-robin.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counts a call against a member's load until the call (or stream) ends.
#[derive(Debug)]
pub struct LoadGuard {
    loads: Arc<[AtomicUsize]>,
    index: usize,
}

impl LoadGuard {
    /// The member this call runs on.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if let Some(l) = self.loads.get(self.index) {
            l.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a pool has done, for metrics: read it with [`Members::stats`].
#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    replays: AtomicU64,
    /// Per kind (info, management, inference): calls and failures.
    by_kind: [[AtomicU64; 2]; 3],
}

/// The kinds of call the pool counts apart.
pub const KINDS: [&str; 3] = ["info", "management", "inference"];

/// A snapshot of a pool's counters and members.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Calls made through the pool.
    pub calls: u64,
    /// Calls that ended in an error.
    pub failed: u64,
    /// Idempotent calls sent again on another replica after theirs shut down or dropped.
    pub replays: u64,
    /// Per kind of call (`info`, `management`, `inference`): calls and failures.
    pub by_kind: Vec<(&'static str, u64, u64)>,
    /// Per replica: its URL, its members, how many are ready, and the calls in progress.
    pub replicas: Vec<ReplicaStats>,
}

/// A snapshot of one replica of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStats {
    /// The replica's host and port.
    pub url: String,
    /// Connections to it.
    pub members: usize,
    /// Connections to it that are authenticated now.
    pub ready: usize,
    /// Calls in progress on it.
    pub in_flight: usize,
    /// Attempts it answered (successfully or not) and their mean latency, in microseconds.
    pub attempts: u64,
    /// The mean latency of those attempts, in microseconds (0 without any).
    pub mean_latency_us: u64,
}

/// The connections of a pool, the replica each talks to, and their load.
#[derive(Debug)]
pub struct Members<C> {
    timeouts: tcm_proto::Timeouts,
    members: Vec<C>,
    replica: Vec<usize>,
    urls: Vec<String>,
    loads: Arc<[AtomicUsize]>,
    next: AtomicUsize,
    counters: Counters,
    /// Per replica: attempts and their total latency in microseconds.
    latency: Vec<[AtomicU64; 2]>,
}

impl<C> Members<C> {
    /// A pool of `members` (at least one), member `i` connected to `urls[replica[i]]`, whose
    /// calls have the default deadlines `timeouts`. Replicas are named by host and port in
    /// spans and stats: a URL's query or user info (which may carry a credential) never is.
    pub fn new(
        members: Vec<C>,
        replica: Vec<usize>,
        urls: Vec<String>,
        timeouts: tcm_proto::Timeouts,
    ) -> Self {
        let loads = (0..members.len()).map(|_| AtomicUsize::new(0)).collect();
        let latency = urls.iter().map(|_| Default::default()).collect();
        let urls = urls
            .iter()
            .map(|u| {
                tcm_proto::Endpoint::parse(u).map_or_else(|_| "?".to_owned(), |e| e.authority())
            })
            .collect();
        Self {
            latency,
            timeouts,
            members,
            replica,
            urls,
            loads,
            next: AtomicUsize::new(0),
            counters: Counters::default(),
        }
    }

    /// Every member.
    pub fn all(&self) -> &[C] {
        &self.members
    }

    /// The deadline of `request` when its call gives none.
    pub fn deadline_of(&self, request: &tcm_proto::Request) -> std::time::Duration {
        self.timeouts.of(request)
    }

    /// The replica member `index` talks to.
    pub fn replica_of(&self, index: usize) -> usize {
        self.replica.get(index).copied().unwrap_or(0)
    }

    /// The host and port of `replica`.
    pub fn url(&self, replica: usize) -> &str {
        self.urls.get(replica).map_or("", String::as_str)
    }

    /// The least-loaded member that is `ready` (ties broken round-robin), outside the
    /// `excluded` replicas; a member that is not ready only when no other is left. `None` when
    /// every replica is excluded. The member counts as loaded until the guard is dropped.
    pub fn pick(
        &self,
        ready: impl Fn(&C) -> bool,
        excluded: &[usize],
    ) -> Option<(usize, &C, LoadGuard)> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(bool, usize, usize)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if excluded.contains(&self.replica_of(i)) {
                continue;
            }
            let candidate = (
                ready(&self.members[i]),
                self.loads[i].load(Ordering::Relaxed),
                i,
            );
            let better = match best {
                None => true,
                Some((r, l, _)) => (candidate.0 && !r) || (candidate.0 == r && candidate.1 < l),
            };
            if better {
                best = Some(candidate);
            }
        }
        let (_, _, index) = best?;
        self.loads[index].fetch_add(1, Ordering::Relaxed);
        let guard = LoadGuard {
            loads: Arc::clone(&self.loads),
            index,
        };
        Some((index, &self.members[index], guard))
    }

    /// Counts one attempt on `replica` that took `elapsed`.
    pub fn attempted(&self, replica: usize, elapsed: std::time::Duration) {
        if let Some([n, total]) = self.latency.get(replica) {
            n.fetch_add(1, Ordering::Relaxed);
            let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            total.fetch_add(us, Ordering::Relaxed);
        }
    }

    /// Counts a call of `kind` (an index into [`KINDS`]), its outcome, and whether it was sent
    /// again on another replica.
    pub fn count(&self, kind: usize, ok: bool, replayed: bool) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if let Some([calls, failed]) = self.counters.by_kind.get(kind) {
            calls.fetch_add(1, Ordering::Relaxed);
            if !ok {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !ok {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        if replayed {
            self.counters.replays.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A snapshot of the counters and the members; `ready` says whether a member is up.
    pub fn stats(&self, ready: impl Fn(&C) -> bool) -> PoolStats {
        let replicas = (0..self.urls.len())
            .map(|r| {
                let members: Vec<usize> = (0..self.members.len())
                    .filter(|i| self.replica_of(*i) == r)
                    .collect();
                let [n, total] = &self.latency[r];
                let attempts = n.load(Ordering::Relaxed);
                let total = total.load(Ordering::Relaxed);
                ReplicaStats {
                    attempts,
                    mean_latency_us: total.checked_div(attempts).unwrap_or(0),
                    url: self.urls[r].clone(),
                    members: members.len(),
                    ready: members.iter().filter(|i| ready(&self.members[**i])).count(),
                    in_flight: members
                        .iter()
                        .map(|i| self.loads[*i].load(Ordering::Relaxed))
                        .sum(),
                }
            })
            .collect();
        let by_kind = KINDS
            .iter()
            .zip(&self.counters.by_kind)
            .map(|(kind, [calls, failed])| {
                (
                    *kind,
                    calls.load(Ordering::Relaxed),
                    failed.load(Ordering::Relaxed),
                )
            })
            .collect();
        PoolStats {
            by_kind,
            calls: self.counters.calls.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            replays: self.counters.replays.load(Ordering::Relaxed),
            replicas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(ready: [bool; 4]) -> (Members<bool>, [bool; 4]) {
        let urls = vec!["a".to_owned(), "b".to_owned()];
        let timeouts = tcm_proto::Timeouts::default();
        (
            Members::new(ready.to_vec(), vec![0, 1, 0, 1], urls, timeouts),
            ready,
        )
    }

    #[test]
    fn the_least_loaded_ready_member_is_picked_and_released() {
        let (p, _) = pool([true; 4]);
        let (a, _, ga) = p.pick(|r| *r, &[]).unwrap();
        let (b, _, _gb) = p.pick(|r| *r, &[]).unwrap();
        assert_ne!(a, b);
        drop(ga);
        let (c, _, _) = p.pick(|r| *r, &[]).unwrap();
        assert_ne!(c, b, "the released member is less loaded");
    }

    #[test]
    fn members_that_are_not_ready_or_on_an_excluded_replica_are_passed_over() {
        let (p, _) = pool([false, true, false, false]);
        for _ in 0..8 {
            let (i, _, _g) = p.pick(|r| *r, &[]).unwrap();
            assert_eq!(i, 1, "the one ready member");
        }
        let (i, _, _g) = p.pick(|r| *r, &[1]).unwrap();
        assert_eq!(
            p.replica_of(i),
            0,
            "replica 1 is excluded: a member of 0, ready or not"
        );
        assert!(p.pick(|r| *r, &[0, 1]).is_none());
    }

    #[test]
    fn stats_count_per_replica() {
        let (p, _) = pool([true, false, true, true]);
        let _g = p.pick(|r| *r, &[]).unwrap();
        p.count(0, true, false);
        p.count(2, false, true);
        p.attempted(1, std::time::Duration::from_micros(300));
        p.attempted(1, std::time::Duration::from_micros(100));
        let s = p.stats(|r| *r);
        assert_eq!((s.calls, s.failed, s.replays), (2, 1, 1));
        assert_eq!(
            s.by_kind,
            vec![("info", 1, 0), ("management", 0, 0), ("inference", 1, 1)]
        );
        assert_eq!(
            (s.replicas[1].attempts, s.replicas[1].mean_latency_us),
            (2, 200)
        );
        assert_eq!(s.replicas[0].ready, 2);
        assert_eq!(s.replicas[1].ready, 1);
        assert_eq!(s.replicas.iter().map(|r| r.in_flight).sum::<usize>(), 1);
    }
}
