//! Latency summaries of a load run: percentiles to three significant digits, readable units,
//! and a small histogram.

use serde_json::{Value, json};

/// Latency samples of the successful requests of a run, in milliseconds, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Latencies {
    sorted_ms: Vec<f64>,
}

/// Rounds to three significant digits (`3.8124309` → `3.81`, `1234.5` → `1230`).
pub fn sig3(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let magnitude = x.abs().log10().floor() as i32;
    if magnitude >= 2 {
        let unit = 10f64.powi(magnitude - 2);
        (x / unit).round() * unit
    } else {
        let scale = 10f64.powi(2 - magnitude);
        (x * scale).round() / scale
    }
}

/// A duration in milliseconds, to three significant digits in the unit that reads best:
/// `412 µs`, `3.81 ms`, `1.20 s`.
pub fn human(ms: f64) -> String {
    let (value, unit) = if ms < 1.0 {
        (ms * 1e3, "µs")
    } else if ms < 1e3 {
        (ms, "ms")
    } else {
        (ms / 1e3, "s")
    };
    let v = sig3(value);
    let decimals = if v == 0.0 || v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.decimals$} {unit}")
}

impl Latencies {
    /// Takes the samples, in milliseconds.
    pub fn new(mut samples_ms: Vec<f64>) -> Self {
        samples_ms.sort_by(f64::total_cmp);
        Self {
            sorted_ms: samples_ms,
        }
    }

    /// The samples, sorted.
    pub fn samples(&self) -> &[f64] {
        &self.sorted_ms
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.sorted_ms.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.sorted_ms.is_empty()
    }

    /// The nearest-rank percentile `p` (0..=1); 0 without samples.
    pub fn percentile(&self, p: f64) -> f64 {
        let n = self.sorted_ms.len();
        if n == 0 {
            return 0.0;
        }
        let rank = (p * n as f64).ceil() as usize;
        self.sorted_ms[rank.clamp(1, n) - 1]
    }

    /// The mean; 0 without samples.
    pub fn mean(&self) -> f64 {
        if self.sorted_ms.is_empty() {
            0.0
        } else {
            self.sorted_ms.iter().sum::<f64>() / self.sorted_ms.len() as f64
        }
    }

    /// `(label, milliseconds)` of the reported statistics, in order.
    pub fn stats(&self) -> [(&'static str, f64); 6] {
        [
            ("avg", self.mean()),
            ("p50", self.percentile(0.50)),
            ("p90", self.percentile(0.90)),
            ("p95", self.percentile(0.95)),
            ("p99", self.percentile(0.99)),
            ("max", self.sorted_ms.last().copied().unwrap_or(0.0)),
        ]
    }

    /// The statistics as a JSON object of milliseconds, three significant digits each.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (label, ms) in self.stats() {
            map.insert(label.to_owned(), json!(sig3(ms)));
        }
        Value::Object(map)
    }

    /// A histogram: `buckets` rows of equal width from the fastest sample to the 99th
    /// percentile, and a last row for the slower ones (if any), each `range  bar  count`, bars
    /// at most `width` wide. Empty without samples.
    pub fn histogram(&self, buckets: usize, width: usize) -> Vec<String> {
        let (Some(&lo), Some(&max)) = (self.sorted_ms.first(), self.sorted_ms.last()) else {
            return Vec::new();
        };
        let hi = self.percentile(0.99);
        let buckets = if hi > lo { buckets.max(1) } else { 1 };
        let step = (hi - lo) / buckets as f64;
        let edge = |i: usize| lo + step * i as f64;
        let mut rows: Vec<(String, usize)> = (0..buckets)
            .map(|i| (format!("{} – {}", human(edge(i)), human(edge(i + 1))), 0))
            .collect();
        let mut slower = 0;
        for &s in &self.sorted_ms {
            if s > hi {
                slower += 1;
            } else {
                let i = if step > 0.0 {
                    ((s - lo) / step) as usize
                } else {
                    0
                };
                rows[i.min(buckets - 1)].1 += 1;
            }
        }
        if slower > 0 {
            rows.push((format!("{} – {}", human(hi), human(max)), slower));
        }
        let most = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
        let label_width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        rows.iter()
            .map(|(label, count)| {
                let bar = "█".repeat((count * width).div_ceil(most));
                let pad = " ".repeat(label_width - label.chars().count());
                format!("{label}{pad}  {bar:<width$}  {count}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_have_three_significant_digits() {
        assert_eq!(sig3(3.812_430_999_999_999_7), 3.81);
        assert_eq!(sig3(0.041_26), 0.0413);
        assert_eq!(sig3(1234.5), 1230.0);
        assert_eq!(sig3(0.0), 0.0);
        assert_eq!(human(0.4123), "412 µs");
        assert_eq!(human(3.8124), "3.81 ms");
        assert_eq!(human(12.34), "12.3 ms");
        assert_eq!(human(1204.0), "1.20 s");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let l = Latencies::new((1..=100).rev().map(f64::from).collect());
        assert_eq!(l.percentile(0.5), 50.0);
        assert_eq!(l.percentile(0.9), 90.0);
        assert_eq!(l.percentile(0.99), 99.0);
        assert_eq!(l.stats()[5], ("max", 100.0));
        assert_eq!(Latencies::new(Vec::new()).percentile(0.5), 0.0);
        assert_eq!(l.to_json()["avg"], 50.5);
    }

    #[test]
    fn the_histogram_counts_every_sample() {
        let mut samples: Vec<f64> = (1..=99).map(f64::from).collect();
        samples.push(500.0);
        let l = Latencies::new(samples);
        let rows = l.histogram(4, 20);
        assert_eq!(
            rows.len(),
            5,
            "four buckets up to p99, one for the slower: {rows:?}"
        );
        assert!(rows[4].starts_with("99.0 ms – 500 ms"), "{}", rows[4]);
        let total: usize = rows
            .iter()
            .map(|r| r.rsplit(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        assert_eq!(total, 100);
        assert_eq!(Latencies::new(vec![2.0; 3]).histogram(8, 10).len(), 1);
        assert!(Latencies::new(Vec::new()).histogram(8, 10).is_empty());
    }
}
