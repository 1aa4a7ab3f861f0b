//! The members of a connection pool and their selection: the least-loaded member, ties broken
//! round-robin.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The number of calls in progress on each member of a pool, and where the next tie-break
/// starts.
#[derive(Debug)]
pub struct Load {
    loads: Arc<[AtomicUsize]>,
    next: AtomicUsize,
}

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

impl Load {
    /// No call in progress on any of `members` members.
    pub fn new(members: usize) -> Self {
        Self {
            loads: (0..members).map(|_| AtomicUsize::new(0)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The least-loaded member (ties broken round-robin) with its load counter incremented.
    /// The pool must have at least one member.
    pub fn pick(&self) -> LoadGuard {
        let n = self.loads.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut best = start % n;
        let mut best_load = usize::MAX;
        for k in 0..n {
            let i = (start + k) % n;
            let l = self.loads[i].load(Ordering::Relaxed);
            if l < best_load {
                best = i;
                best_load = l;
            }
        }
        self.loads[best].fetch_add(1, Ordering::Relaxed);
        LoadGuard {
            loads: Arc::clone(&self.loads),
            index: best,
        }
    }
}

/// The connections of a pool, with their load.
#[derive(Debug)]
pub struct Members<C> {
    members: Vec<C>,
    load: Load,
}

impl<C> Members<C> {
    /// A pool of `members` (at least one).
    pub fn new(members: Vec<C>) -> Self {
        let load = Load::new(members.len());
        Self { members, load }
    }

    /// Every member.
    pub fn all(&self) -> &[C] {
        &self.members
    }

    /// The least-loaded member, counted as loaded until the guard is dropped.
    pub fn pick(&self) -> (&C, LoadGuard) {
        let guard = self.load.pick();
        (&self.members[guard.index()], guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_loaded_member_is_picked_and_released() {
        let load = Load::new(2);
        let a = load.pick();
        let b = load.pick();
        assert_ne!(a.index(), b.index());
        let kept = a.index();
        drop(b);
        assert_ne!(load.pick().index(), kept);
    }
}
