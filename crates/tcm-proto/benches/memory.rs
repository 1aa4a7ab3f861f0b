//! Memory held per pending request, measured with a counting allocator.
//!
//! Prints the bytes still allocated per request while many requests are pending (queued
//! inferences, and info requests in flight), against the target of 256 bytes. The requests'
//! own data (tensors) is excluded by measuring with minimal requests.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use tcm_proto::{Config, Connection, InferenceRequest, InfoRequest, Request};

mod common;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 10_000;

fn open(max: usize) -> (Connection, Instant) {
    let mut config = Config::new("mem");
    config.max_queued = max;
    config.max_info_in_flight = max;
    common::open(config)
}

/// Prints the bytes held per pending request; `own` is the size of the request's own data,
/// which the connection keeps for retries and which is reported apart from the bookkeeping.
fn measure(label: &str, own: usize, make: impl Fn() -> Request) -> f64 {
    let (mut conn, now) = open(N + 1);
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..N {
        conn.request(now, make(), Some(Duration::from_secs(60)))
            .expect("accepted");
        while conn.poll_transmit().is_some() {}
    }
    let per = (LIVE.load(Ordering::Relaxed) - before) as f64 / N as f64;
    println!(
        "{label:<36} {per:>7.1} bytes per pending request; bookkeeping {:>7.1} (target <= 256)",
        per - own as f64
    );
    drop(conn);
    per
}

fn main() {
    measure("info queue_stats, in flight", 0, || {
        Request::Info(InfoRequest::queue_stats())
    });
    let own = std::mem::size_of::<InferenceRequest>();
    measure("inference without inputs, queued", own, || {
        Request::from({
            let mut r = InferenceRequest::for_container(String::new(), "");
            r.model_name = None;
            r
        })
    });
}
