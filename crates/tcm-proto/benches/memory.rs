//! Memory held per pending request, measured with a counting allocator.
//!
//! Prints the bytes still allocated per request while many requests are pending (queued
//! inferences, and info requests in flight), against the target of 256 bytes. The requests'
//! own data (tensors) is excluded by measuring with minimal requests.
//!
//! Then the peak of memory allocated while decoding a large completed inference (10 MB of FP32
//! outputs as JSON), as a multiple of the frame, typed and through a `serde_json::Value`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use tcm_proto::{Config, Connection, InferenceRequest, InfoRequest, Request};

mod common;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most `LIVE` has been since it was last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: delegates to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
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

/// A completed inference whose one output holds `n` FP32 values as the server writes them.
fn large_reply(n: usize) -> String {
    let values: Vec<String> = (0..n)
        .map(|i| {
            let v = f64::from((i as u32).wrapping_mul(2_654_435_761) >> 8) / f64::from(1u32 << 24);
            format!("{}", v as f32 as f64)
        })
        .collect();
    format!(
        r#"{{"type":"inference","uuid":"c","payload":{{"data":{{"OUTPUT0":[{}]}},"status":"COMPLETED","model_name":"m"}}}}"#,
        values.join(",")
    )
}

/// Prints the peak of memory held while `decode` runs on `frame` (the frame and what the decode
/// allocates), as a multiple of the frame's size, and the fastest of three runs.
fn peak(label: &str, frame: &str, decode: impl Fn(&str)) {
    let mut fastest = Duration::MAX;
    let mut peak = 0;
    for _ in 0..3 {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let start = Instant::now();
        decode(frame);
        fastest = fastest.min(start.elapsed());
        peak = peak.max(PEAK.load(Ordering::Relaxed) - before);
    }
    let beyond = peak as f64 / frame.len() as f64;
    println!(
        "{label:<36} peak {:.2}x the frame's {:.1} MB, the frame included; {:.1} ms",
        1.0 + beyond,
        frame.len() as f64 / 1e6,
        fastest.as_secs_f64() * 1e3
    );
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
    let frame = large_reply(550_000);
    peak("large reply, typed decode", &frame, |f| {
        drop(std::hint::black_box(tcm_proto::ServerFrame::decode(f)));
    });
    peak("large reply, through a Value", &frame, |f| {
        drop(std::hint::black_box(
            serde_json::from_str::<serde_json::Value>(f).map(tcm_proto::ServerFrame::from_value),
        ));
    });
}
