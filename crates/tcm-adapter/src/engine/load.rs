//! The members of a connection pool, spread over one or more replicas, and their selection:
//! the least-loaded ready member, ties broken round-robin. Replicas may join and leave while
//! the pool runs (a service name re-resolved): the set of members is swapped under a lock
//! held only to pick or to change it, and a call keeps its member's handle, so a replica
//! that leaves takes no new calls while those in flight on it finish.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::outcome::{CallCounts, CallOutcome};

/// Counts a call against a member's load until the call (or stream) ends.
#[derive(Debug)]
pub struct LoadGuard {
    load: Arc<AtomicUsize>,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a pool has done, for metrics: read it with [`Members::stats`].
#[derive(Debug, Default)]
struct Counters {
    calls: CallCounts,
    replays: AtomicU64,
}

/// The kinds of call the stats count apart.
pub const KINDS: [&str; 3] = ["info", "management", "inference"];

/// The kind of `request`: an index into [`KINDS`].
pub fn kind_of(request: &tcm_proto::Request) -> usize {
    match request {
        tcm_proto::Request::Info(_) => 0,
        tcm_proto::Request::Management(_) => 1,
        tcm_proto::Request::Inference(_) => 2,
    }
}

/// A snapshot of one client's counters: the calls its connection took, by kind and outcome,
/// those in progress, their mean latency, and how often its transport came and went. Read it
/// with `Client::stats()`, e.g. to export as metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Calls that ended (streams included), however they ended.
    pub calls: u64,
    /// Calls that ended in an error: a timeout, a disconnect, a server error, a cancel.
    pub failed: u64,
    /// Per kind of call (`info`, `management`, `inference`): calls and failures.
    pub by_kind: Vec<(&'static str, u64, u64)>,
    /// Per [`CallOutcome`](crate::CallOutcome) by its name (`ok`, `server_error`, `timeout`,
    /// `disconnected`, `cancelled`, `refused`): calls that ended so.
    pub by_outcome: Vec<(&'static str, u64)>,
    /// Calls in progress now.
    pub in_flight: usize,
    /// The mean time from making a call to its end, in microseconds (0 without any).
    pub mean_latency_us: u64,
    /// Transports that authenticated: the first connect and every reconnect.
    pub connects: u64,
    /// Of those, the ones after the first: how often the client had to come back.
    pub reconnects: u64,
    /// Authenticated transports that were lost (dropped, closed by the server, shut down,
    /// recycled); a close the application asked for is not counted.
    pub disconnects: u64,
}

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
    /// Per [`CallOutcome`](crate::CallOutcome) by its name: calls that ended so (after any
    /// replay).
    pub by_outcome: Vec<(&'static str, u64)>,
    /// Per replica now in the pool: its name, its members, how many are ready, the calls in
    /// progress, and its connection counters. A replica that left the pool is not listed.
    pub replicas: Vec<ReplicaStats>,
}

/// A snapshot of one replica of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicaStats {
    /// The replica's host and port (its address, for a replica found by resolving a name).
    pub url: String,
    /// Connections to it.
    pub members: usize,
    /// Connections to it that are authenticated now.
    pub ready: usize,
    /// Calls in progress on it.
    pub in_flight: usize,
    /// Attempts it answered (successfully or not).
    pub attempts: u64,
    /// The mean latency of those attempts, in microseconds (0 without any).
    pub mean_latency_us: u64,
    /// Transports of its members that authenticated (first connects and reconnects).
    pub connects: u64,
    /// Of those, the reconnects.
    pub reconnects: u64,
    /// Authenticated transports of its members that were lost.
    pub disconnects: u64,
}

/// One replica of a pool: its name in spans and stats, its address when it was found by
/// resolving a name, and the latency of the attempts it answered.
#[derive(Debug)]
pub struct Replica {
    id: u64,
    name: String,
    address: Option<SocketAddr>,
    /// Attempts and their total latency in microseconds.
    latency: [AtomicU64; 2],
}

impl Replica {
    /// Its name: host and port.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A number that tells it apart from every other replica of its pool, also later ones.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Counts one attempt it answered that took `elapsed`.
    pub fn attempted(&self, elapsed: Duration) {
        let [n, total] = &self.latency;
        n.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        total.fetch_add(us, Ordering::Relaxed);
    }
}

/// One connection of a pool.
#[derive(Debug)]
struct Member<C> {
    client: C,
    replica: Arc<Replica>,
    load: Arc<AtomicUsize>,
}

/// The members and replicas of a pool at one time.
#[derive(Debug)]
struct View<C> {
    members: Vec<Member<C>>,
    replicas: Vec<Arc<Replica>>,
}

/// The member a call goes to: a handle on its client, its replica, and its load until the
/// guard is dropped.
#[derive(Debug)]
pub struct Picked<C> {
    /// The member's client.
    pub client: C,
    /// The replica it talks to.
    pub replica: Arc<Replica>,
    /// Counts the call against the member until dropped.
    pub load: LoadGuard,
}

/// Stops a pool's background work (its re-resolution) when dropped.
pub type Follower = Box<dyn std::any::Any + Send + Sync>;

/// The connections of a pool, the replica each talks to, and their load.
#[derive(Debug)]
pub struct Members<C> {
    timeouts: tcm_proto::Timeouts,
    view: RwLock<View<C>>,
    next: AtomicUsize,
    next_replica: AtomicU64,
    next_member: AtomicUsize,
    counters: Counters,
    closed: AtomicBool,
    follower: Mutex<Option<Follower>>,
}

impl<C> Members<C> {
    /// A pool without members yet, whose calls have the default deadlines `timeouts`; add
    /// replicas with [`add`](Self::add).
    pub fn new(timeouts: tcm_proto::Timeouts) -> Self {
        Self {
            timeouts,
            view: RwLock::new(View {
                members: Vec::new(),
                replicas: Vec::new(),
            }),
            next: AtomicUsize::new(0),
            next_replica: AtomicU64::new(0),
            next_member: AtomicUsize::new(0),
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            follower: Mutex::new(None),
        }
    }

    /// The name of the replica at `url` in spans and stats: its host and port. A URL's query or
    /// user info (which may carry a credential) never is.
    pub fn name_of(url: &str) -> String {
        tcm_proto::Endpoint::parse(url).map_or_else(|_| "?".to_owned(), |e| e.authority())
    }

    /// Adds a replica named `name` (at `address`, when found by resolving a name) with its
    /// `clients`; once the pool is closed, the clients are handed back instead (to close).
    pub fn add(
        &self,
        name: String,
        address: Option<SocketAddr>,
        clients: Vec<C>,
    ) -> Result<(), Vec<C>> {
        let replica = Arc::new(Replica {
            id: self.next_replica.fetch_add(1, Ordering::Relaxed),
            name,
            address,
            latency: Default::default(),
        });
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        if self.closed.load(Ordering::Relaxed) {
            return Err(clients);
        }
        view.members
            .extend(clients.into_iter().map(|client| Member {
                client,
                replica: Arc::clone(&replica),
                load: Arc::default(),
            }));
        view.replicas.push(replica);
        Ok(())
    }

    /// Takes the replica at `address` out of the pool: it gets no new call from now on, and
    /// its clients are returned (calls in flight on them hold handles of their own and finish).
    pub fn remove(&self, address: SocketAddr) -> Vec<C> {
        let mut view = self.view.write().unwrap_or_else(PoisonError::into_inner);
        view.replicas.retain(|r| r.address != Some(address));
        let (gone, kept) = std::mem::take(&mut view.members)
            .into_iter()
            .partition(|m| m.replica.address == Some(address));
        view.members = kept;
        gone.into_iter().map(|m: Member<C>| m.client).collect()
    }

    /// The addresses of the replicas found by resolving a name.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        view.replicas.iter().filter_map(|r| r.address).collect()
    }

    /// A fresh member number, for `Config::pool_member`: members that join later never share
    /// a uuid with earlier ones.
    pub fn next_member(&self) -> usize {
        self.next_member.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps what stops the pool's background work until the pool is closed or dropped.
    pub fn follow(&self, follower: Follower) {
        let mut slot = self.follower.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some(follower);
    }

    /// Marks the pool closed (it stops its background work) and returns every client, to close.
    pub fn close(&self) -> Vec<C>
    where
        C: Clone,
    {
        let clients = {
            // Under the lock, so that no replica is added after the clients are collected.
            let view = self.view.write().unwrap_or_else(PoisonError::into_inner);
            self.closed.store(true, Ordering::Relaxed);
            view.members.iter().map(|m| m.client.clone()).collect()
        };
        drop(
            self.follower
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        clients
    }

    /// Whether the pool was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Every member's client now.
    pub fn all(&self) -> Vec<C>
    where
        C: Clone,
    {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        view.members.iter().map(|m| m.client.clone()).collect()
    }

    /// Number of members now.
    pub fn len(&self) -> usize {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        view.members.len()
    }

    /// Whether the pool has no member now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The deadline of `request` when its call gives none.
    pub fn deadline_of(&self, request: &tcm_proto::Request) -> Duration {
        self.timeouts.of(request)
    }

    /// The least-loaded member that is `ready` (ties broken round-robin), outside the
    /// `excluded` replicas (by [`Replica::id`]); a member that is not ready only when no other
    /// is left. `None` when every replica is excluded. The member counts as loaded until the
    /// guard is dropped.
    pub fn pick(&self, ready: impl Fn(&C) -> bool, excluded: &[u64]) -> Option<Picked<C>>
    where
        C: Clone,
    {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let n = view.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(bool, usize, usize)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            let member = &view.members[i];
            if excluded.contains(&member.replica.id) {
                continue;
            }
            let candidate = (
                ready(&member.client),
                member.load.load(Ordering::Relaxed),
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
        let member = &view.members[index];
        member.load.fetch_add(1, Ordering::Relaxed);
        Some(Picked {
            client: member.client.clone(),
            replica: Arc::clone(&member.replica),
            load: LoadGuard {
                load: Arc::clone(&member.load),
            },
        })
    }

    /// Counts a call of `kind` (an index into [`KINDS`]), its outcome, and whether it was sent
    /// again on another replica.
    pub fn count(&self, kind: usize, outcome: CallOutcome, replayed: bool) {
        self.counters.calls.add(Some(kind), outcome);
        if replayed {
            self.counters.replays.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A snapshot of the counters and the members; `ready` says whether a member is up, and
    /// `stats` reads a member's own counters.
    pub fn stats(
        &self,
        ready: impl Fn(&C) -> bool,
        stats: impl Fn(&C) -> ClientStats,
    ) -> PoolStats {
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        let replicas = view
            .replicas
            .iter()
            .map(|r| {
                let members: Vec<&Member<C>> = view
                    .members
                    .iter()
                    .filter(|m| m.replica.id == r.id)
                    .collect();
                let [n, total] = &r.latency;
                let attempts = n.load(Ordering::Relaxed);
                let total = total.load(Ordering::Relaxed);
                let own: Vec<ClientStats> = members.iter().map(|m| stats(&m.client)).collect();
                ReplicaStats {
                    attempts,
                    mean_latency_us: total.checked_div(attempts).unwrap_or(0),
                    url: r.name.clone(),
                    members: members.len(),
                    ready: members.iter().filter(|m| ready(&m.client)).count(),
                    in_flight: members.iter().map(|m| m.load.load(Ordering::Relaxed)).sum(),
                    connects: own.iter().map(|s| s.connects).sum(),
                    reconnects: own.iter().map(|s| s.reconnects).sum(),
                    disconnects: own.iter().map(|s| s.disconnects).sum(),
                }
            })
            .collect();
        let calls = &self.counters.calls;
        PoolStats {
            by_kind: calls.by_kind(),
            by_outcome: calls.by_outcome(),
            calls: calls.calls(),
            failed: calls.failed(),
            replays: self.counters.replays.load(Ordering::Relaxed),
            replicas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members are `(ready, connects)`: two replicas, `a` and `b`, members alternating.
    fn pool(ready: [bool; 4]) -> Members<(bool, u64)> {
        let p = Members::new(tcm_proto::Timeouts::default());
        assert!(
            p.add("a".to_owned(), None, vec![(ready[0], 1), (ready[2], 1)])
                .is_ok()
        );
        assert!(
            p.add("b".to_owned(), None, vec![(ready[1], 2), (ready[3], 1)])
                .is_ok()
        );
        p
    }

    fn ready(m: &(bool, u64)) -> bool {
        m.0
    }

    fn own(m: &(bool, u64)) -> ClientStats {
        ClientStats {
            calls: 0,
            failed: 0,
            by_kind: Vec::new(),
            by_outcome: Vec::new(),
            in_flight: 0,
            mean_latency_us: 0,
            connects: m.1,
            reconnects: m.1 - 1,
            disconnects: m.1 - 1,
        }
    }

    fn address(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn the_least_loaded_ready_member_is_picked_and_released() {
        let p = pool([true; 4]);
        let a = p.pick(ready, &[]).unwrap();
        let b = p.pick(ready, &[]).unwrap();
        assert!(!Arc::ptr_eq(&a.load.load, &b.load.load));
        let b_load = Arc::clone(&b.load.load);
        drop(a);
        let c = p.pick(ready, &[]).unwrap();
        assert!(
            !Arc::ptr_eq(&c.load.load, &b_load),
            "the released member is less loaded"
        );
    }

    #[test]
    fn members_that_are_not_ready_or_on_an_excluded_replica_are_passed_over() {
        // Replica a: members 0 (not ready) and 2 (not ready); replica b: 1 (ready), 3 (not).
        let p = pool([false, true, false, false]);
        for _ in 0..8 {
            let picked = p.pick(ready, &[]).unwrap();
            assert_eq!(picked.client, (true, 2), "the one ready member");
        }
        let b = p.pick(ready, &[]).unwrap().replica.id();
        let picked = p.pick(ready, &[b]).unwrap();
        assert_eq!(
            picked.replica.name(),
            "a",
            "replica b is excluded: a member of a, ready or not"
        );
        let a = picked.replica.id();
        assert!(p.pick(ready, &[a, b]).is_none());
    }

    #[test]
    fn stats_count_per_replica() {
        let p = pool([true, false, true, true]);
        let _g = p.pick(ready, &[]).unwrap();
        p.count(0, CallOutcome::Ok, false);
        p.count(2, CallOutcome::Disconnected, true);
        let b = p.pick(|m| !ready(m), &[]).unwrap().replica;
        b.attempted(Duration::from_micros(300));
        b.attempted(Duration::from_micros(100));
        let s = p.stats(ready, own);
        assert_eq!((s.calls, s.failed, s.replays), (2, 1, 1));
        assert_eq!(
            s.by_kind,
            vec![("info", 1, 0), ("management", 0, 0), ("inference", 1, 1)]
        );
        assert_eq!(
            (s.by_outcome[0], s.by_outcome[3]),
            (("ok", 1), ("disconnected", 1))
        );
        assert_eq!(s.replicas[1].url, "b");
        assert_eq!(
            (s.replicas[1].attempts, s.replicas[1].mean_latency_us),
            (2, 200)
        );
        assert_eq!(s.replicas[0].ready, 2);
        assert_eq!(s.replicas[1].ready, 1);
        assert_eq!(s.replicas.iter().map(|r| r.in_flight).sum::<usize>(), 1);
        let b = &s.replicas[1];
        assert_eq!(
            (b.connects, b.reconnects, b.disconnects),
            (3, 1, 1),
            "summed over the replica's members"
        );
    }

    #[test]
    fn a_replica_that_leaves_gets_no_new_call_while_its_calls_in_flight_keep_their_member() {
        let p: Members<u16> = Members::new(tcm_proto::Timeouts::default());
        assert!(p.add("x".to_owned(), Some(address(1)), vec![1, 1]).is_ok());
        assert!(p.add("y".to_owned(), Some(address(2)), vec![2]).is_ok());
        let in_flight: Vec<_> = (0..3).map(|_| p.pick(|_| true, &[]).unwrap()).collect();
        assert_eq!(
            p.remove(address(1)),
            vec![1, 1],
            "its clients are handed back"
        );
        assert_eq!(p.addresses(), vec![address(2)]);
        for _ in 0..8 {
            assert_eq!(p.pick(|_| true, &[]).unwrap().client, 2);
        }
        assert_eq!(
            in_flight.len(),
            3,
            "the calls in flight still hold their members"
        );
        let s = p.stats(|_| true, |_| own(&(true, 1)));
        assert_eq!(s.replicas.len(), 1, "the replica that left is not listed");
        assert_eq!(s.replicas[0].url, "y");
    }

    #[test]
    fn a_replica_that_joins_takes_calls_and_later_members_get_fresh_numbers() {
        let p: Members<u16> = Members::new(tcm_proto::Timeouts::default());
        assert!(p.add("x".to_owned(), Some(address(1)), vec![1]).is_ok());
        let first = (p.next_member(), p.next_member());
        assert!(p.add("z".to_owned(), Some(address(3)), vec![3]).is_ok());
        let _busy = p.pick(|c| *c == 1, &[]).unwrap();
        assert_eq!(
            p.pick(|_| true, &[]).unwrap().client,
            3,
            "the idle newcomer"
        );
        assert_eq!(first, (0, 1));
        assert_eq!(p.next_member(), 2);
        assert_eq!(p.addresses(), vec![address(1), address(3)]);
    }

    #[test]
    fn closing_stops_the_follower_and_hands_back_every_client_then_and_later() {
        let p: Members<u16> = Members::new(tcm_proto::Timeouts::default());
        assert!(p.add("x".to_owned(), None, vec![1, 2]).is_ok());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        p.follow(Box::new(tx));
        assert!(!p.is_closed());
        assert_eq!(p.close(), vec![1, 2]);
        assert!(p.is_closed());
        assert!(rx.recv().is_err(), "the follower's channel is closed");
        assert_eq!(
            p.add("y".to_owned(), None, vec![3]),
            Err(vec![3]),
            "a replica that joins after the close is handed back, to close"
        );
    }
}
