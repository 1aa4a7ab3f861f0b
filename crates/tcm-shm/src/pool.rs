//! [`RegionPool`]: regions reused across calls, handed out as RAII [`Lease`]s.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::ShmError;
use crate::region::ShmRegion;

/// The smallest region a pool creates: one page.
pub const MIN_CLASS: usize = 4096;

/// The size of the region a pool lends for a tensor of `len` bytes: the smallest power of two
/// of at least `max(len, MIN_CLASS)`; `None` if that overflows `usize`.
pub fn size_class(len: usize) -> Option<usize> {
    len.max(MIN_CLASS).checked_next_power_of_two()
}

/// How much a [`RegionPool`] keeps idle between calls.
///
/// Past either bound a returned region is retired (unlinked, its key never used again). Keep
/// `max_idle_regions` well below the server's 256 cached mappings per Triton client, so the keys a
/// client reuses stay mapped on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Idle regions kept, all size classes together (default 32; 0 keeps none, so every lease
    /// creates a region and every return unlinks it).
    pub max_idle_regions: usize,
    /// Bytes of idle regions kept, counted by region size (default 256 MiB).
    pub max_idle_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_regions: 32,
            max_idle_bytes: 256 << 20,
        }
    }
}

impl PoolConfig {
    /// The defaults: 32 regions, 256 MiB.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how many idle regions are kept.
    pub fn with_max_idle_regions(mut self, regions: usize) -> Self {
        self.max_idle_regions = regions;
        self
    }

    /// Sets how many bytes of idle regions are kept.
    pub fn with_max_idle_bytes(mut self, bytes: usize) -> Self {
        self.max_idle_bytes = bytes;
        self
    }
}

/// What a pool has done so far, and what it holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Regions created (each under a fresh key).
    pub created: u64,
    /// Leases served by an idle region.
    pub reused: u64,
    /// Regions unlinked: returned past a bound, retired by their lease, or idle at close.
    pub retired: u64,
    /// Regions idle now.
    pub idle: usize,
    /// Regions leased now.
    pub leased: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Idle regions by size class; the most recently returned last (it is lent first, as its
    /// key is the likeliest to be still mapped on the server).
    idle: BTreeMap<usize, Vec<ShmRegion>>,
    idle_bytes: usize,
    closed: bool,
    stats: PoolStats,
}

#[derive(Debug)]
struct Inner {
    config: PoolConfig,
    state: Mutex<State>,
}

impl Inner {
    /// The state, even if a thread panicked while holding the lock: every update leaves it
    /// consistent, and a lease dropped during unwinding must still be able to return.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes `region` back, or retires it (unlinked when it drops, after the lock is released).
    fn give_back(&self, region: ShmRegion) -> Option<ShmRegion> {
        let mut state = self.state();
        state.stats.leased = state.stats.leased.saturating_sub(1);
        let len = region.len();
        let keep = !state.closed
            && state.stats.idle < self.config.max_idle_regions
            && state.idle_bytes.saturating_add(len) <= self.config.max_idle_bytes;
        if keep {
            state.idle_bytes += len;
            state.stats.idle += 1;
            state.idle.entry(len).or_default().push(region);
            None
        } else {
            state.stats.retired += 1;
            Some(region)
        }
    }

    fn retired(&self) {
        let mut state = self.state();
        state.stats.leased = state.stats.leased.saturating_sub(1);
        state.stats.retired += 1;
    }
}

/// A pool of shared-memory regions, reused across calls: one per client. Cheap to clone (the
/// clones share the regions).
///
/// [`lease`](Self::lease) lends a region of a tensor's [`size_class`]; dropping the [`Lease`]
/// returns it.
///
/// Creating, sizing, mapping and unlinking a region costs about a millisecond for a 600 KB
/// tensor; writing the tensor into a region that is already mapped costs what a `memcpy` does.
/// A pool keeps regions once made and lends them out again.
///
/// # What the server may still hold
///
/// The TCM server maps each region itself and caches the mapping (and its Triton registration)
/// per `(shm_key, byte_size)`, up to 256 per Triton client (TCM §9.7). A key is therefore bound
/// to one memory object for as long as the server may remember it:
///
/// - a pooled region is never resized, unlinked and re-created under its key: the key names the
///   same object from its creation until it is retired;
/// - a retired key (a region unlinked because the pool is full, closed or dropped, or because a
///   call ended without its reply) is never used again: every region is created under a fresh
///   key from [`generate_key`](crate::generate_key);
/// - a region is lent to one call at a time and comes back only when that call's lease is
///   dropped, which the clients do only once the server has answered.
///
/// The `byte_size` sent is the tensor's size (Triton checks it against shape × element size),
/// which may be smaller than the region's: the server then maps the first `byte_size` bytes of
/// the same object, so reusing one region for tensors of several sizes under one key adds cache
/// entries on the server but never changes what any of them maps.
///
/// # Size classes and bounds
///
/// A lease of `n` bytes takes a region of the smallest power of two of at least
/// `max(n, 4096)` bytes ([`size_class`]), so a region serves every tensor of its class. Any
/// number of regions may be leased at once (one per input of each call in flight); what the
/// pool keeps idle is bounded by [`PoolConfig`] (by default 32 regions and 256 MiB). A region
/// returned past either bound is retired: unlinked at once, its key never used again.
///
/// # Cleanup
///
/// Idle regions are unlinked by [`RegionPool::close`] and when the last handle on the pool (and
/// the last lease) is dropped. A lease dropped while its thread unwinds from a panic returns its
/// region like any other drop (the pool's lock is never poisoned for good). Only a process that
/// ends without running destructors (`abort`, `SIGKILL`) leaves regions behind: they are
/// `/dev/shm/tcm-<pid>-<counter>-<nonce>`, so those of a process that is gone can be found by its
/// pid and removed.
#[derive(Debug, Clone)]
pub struct RegionPool {
    inner: Arc<Inner>,
}

impl Default for RegionPool {
    fn default() -> Self {
        Self::new(PoolConfig::default())
    }
}

impl RegionPool {
    /// An empty pool with the given bounds.
    pub fn new(config: PoolConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The pool's bounds.
    pub fn config(&self) -> PoolConfig {
        self.inner.config
    }

    /// Lends a region for `len` bytes: an idle one of the same size class, or a new one under
    /// a fresh key. Its first `len` bytes are the lease's; they hold whatever the region held
    /// last. Fails on `len` 0 and when a region cannot be created.
    pub fn lease(&self, len: usize) -> Result<Lease, ShmError> {
        let class = size_class(len).filter(|_| len > 0).ok_or_else(|| {
            if len == 0 {
                ShmError::Empty {
                    name: String::new(),
                }
            } else {
                ShmError::io(
                    "ftruncate",
                    "",
                    std::io::Error::other("size class overflows"),
                )
            }
        })?;
        let idle = {
            let mut state = self.inner.state();
            let region = state.idle.get_mut(&class).and_then(Vec::pop);
            if region.is_some() {
                state.idle_bytes -= class;
                state.stats.idle -= 1;
                state.stats.reused += 1;
            }
            state.stats.leased += 1;
            region
        };
        let region = match idle {
            Some(region) => region,
            None => match ShmRegion::create_unique(class) {
                Ok(region) => {
                    self.inner.state().stats.created += 1;
                    region
                }
                Err(e) => {
                    let mut state = self.inner.state();
                    state.stats.leased = state.stats.leased.saturating_sub(1);
                    return Err(e);
                }
            },
        };
        Ok(Lease {
            region: Some(region),
            len,
            pool: Arc::clone(&self.inner),
        })
    }

    /// Unlinks every idle region now, and every leased one as it comes back; later leases
    /// create regions that are unlinked when returned. Idempotent.
    pub fn close(&self) {
        let idle = {
            let mut state = self.inner.state();
            state.closed = true;
            state.idle_bytes = 0;
            let idle = std::mem::take(&mut state.idle);
            let count = idle.values().map(Vec::len).sum::<usize>();
            state.stats.idle = 0;
            state.stats.retired += count as u64;
            idle
        };
        // Unlinked here, outside the lock.
        drop(idle);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.state().closed
    }

    /// What the pool has done so far, and what it holds now.
    pub fn stats(&self) -> PoolStats {
        self.inner.state().stats
    }

    /// The keys of the idle regions, e.g. to check that none was re-created.
    pub fn idle_keys(&self) -> Vec<String> {
        let state = self.inner.state();
        state
            .idle
            .values()
            .flatten()
            .map(|r| r.key().to_owned())
            .collect()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The idle regions unlink themselves as the map drops; nothing is leased any more,
        // since every lease holds the pool.
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        state.idle.clear();
    }
}

/// A region lent by a [`RegionPool`] for one tensor of [`len`](Self::len) bytes.
///
/// Dropping the lease returns the region to its pool (or retires it when the pool is closed or
/// full), even while the thread unwinds from a panic. Keep it until the server has answered
/// every request that references it; if a request may still be read after its lease is given
/// up (its call timed out or was abandoned), [`retire`](Self::retire) it instead: the server may
/// read it later, so it must never be lent to another call.
#[derive(Debug)]
pub struct Lease {
    /// Always `Some` until dropped or retired.
    region: Option<ShmRegion>,
    len: usize,
    pool: Arc<Inner>,
}

impl Lease {
    fn region_ref(&self) -> &ShmRegion {
        // Invariant: `region` is `Some` for the whole life of a lease; only `drop` and
        // `retire` (which consumes the lease) take it.
        self.region.as_ref().unwrap_or_else(|| unreachable!())
    }

    /// The region's key.
    pub fn key(&self) -> &str {
        self.region_ref().key()
    }

    /// The bytes leased (the tensor's size, at most [`capacity`](Self::capacity)).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: a lease holds at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The region's size: the size class of [`len`](Self::len).
    pub fn capacity(&self) -> usize {
        self.region_ref().len()
    }

    /// The whole region.
    pub fn region(&self) -> &ShmRegion {
        self.region_ref()
    }

    /// The leased bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.region_ref().as_slice()[..self.len]
    }

    /// The leased bytes, for writing.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        match self.region.as_mut() {
            Some(region) => &mut region.as_mut_slice()[..len],
            None => unreachable!(),
        }
    }

    /// Unlinks the region now instead of returning it; its key is never used again. For a
    /// region the server may still read after the lease ends (a call that ended without its
    /// reply): the server keeps whatever it already mapped, and no other call ever writes to it.
    pub fn retire(mut self) {
        if self.region.take().is_some() {
            self.pool.retired();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(region) = self.region.take() {
            // A retired region unlinks here, outside the pool's lock.
            drop(self.pool.give_back(region));
        }
    }
}
