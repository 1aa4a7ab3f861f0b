//! Decoding side by side: the typed path (`ServerFrame::decode`) and the path it replaced (every
//! frame through a whole `serde_json::Value` tree) in alternating rounds of the same frame, so
//! that the machine's speed, which drifts between criterion's groups, cancels out of the ratio.
//!
//! A third column is the least any reading of the text costs with `serde_json`: checking it
//! (`IgnoredAny`, which builds nothing and allocates nothing). It says how much of a frame's
//! decode is reading its bytes at all, and so how far any typed decode can get from the tree.
//!
//! `cargo bench -p tcm-proto --bench side_by_side` prints, per frame, the mean time of each path
//! and the ratios.

use std::hint::black_box;

use serde::de::IgnoredAny;
use std::time::{Duration, Instant};

use tcm_proto::ServerFrame;

mod frames;

/// Rounds per frame; each round times one batch of each path.
const ROUNDS: u32 = 200;
/// Decodes per batch.
const BATCH: u32 = 1_000;

/// The time `decode` takes for one batch of `text`.
fn batch<T>(text: &str, decode: impl Fn(&str) -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..BATCH {
        drop(black_box(decode(black_box(text))));
    }
    start.elapsed()
}

fn main() {
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "frame", "typed", "Value tree", "tree/typed", "check only", "typed/check"
    );
    for (name, text) in frames::FRAMES {
        let (mut typed, mut tree, mut check) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            typed += batch(text, ServerFrame::decode);
            tree += batch(text, |t| {
                serde_json::from_str::<serde_json::Value>(t).map(ServerFrame::from_value)
            });
            check += batch(text, |t| serde_json::from_str::<IgnoredAny>(t));
        }
        let per = |d: Duration| d.as_secs_f64() * 1e9 / f64::from(ROUNDS * BATCH);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "{name:<24} {:>7.0} ns {:>7.0} ns {:>9.2}x {:>7.0} ns {:>10.2}x",
            per(typed),
            per(tree),
            ratio(tree, typed),
            per(check),
            ratio(typed, check)
        );
    }
}
