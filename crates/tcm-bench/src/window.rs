//! A timed window: wall-clock time, the process's CPU time and its context switches over exactly
//! the stretch of code being measured. The reference server runs in a child process, so these
//! count the client alone: the calling threads and every I/O thread or runtime worker it uses.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

/// The CPU time consumed so far by all threads of this process.
fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The context switches (voluntary and involuntary) of all threads of this process so far.
fn process_switches() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` writes a whole `rusage` into the pointer it is given, and the value
    // is read only when it reports success.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let count = |n: libc::c_long| u64::try_from(n).unwrap_or(0);
    Some(count(usage.ru_nvcsw) + count(usage.ru_nivcsw))
}

/// Started at the first timed instruction, finished at the last.
pub struct Window {
    wall: Instant,
    cpu: Duration,
    switches: Option<u64>,
}

impl Window {
    /// Starts the window: its clocks and counters are read now.
    pub fn start() -> Self {
        Self {
            switches: process_switches(),
            cpu: process_cpu(),
            wall: Instant::now(),
        }
    }

    /// Ends the window after `ops` operations completed in it.
    pub fn finish(self, ops: u64) -> Sample {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = process_cpu().saturating_sub(self.cpu).as_secs_f64();
        let switches = process_switches()
            .zip(self.switches)
            .map(|(end, start)| end.saturating_sub(start));
        Sample {
            ops,
            wall,
            cpu,
            switches,
        }
    }
}

/// What one window measured: operations completed, wall seconds, process CPU seconds, and
/// context switches where they were counted.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub ops: u64,
    pub wall: f64,
    pub cpu: f64,
    pub switches: Option<u64>,
}

impl Sample {
    /// Operations per wall-clock second.
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.wall
    }

    /// CPU microseconds per operation.
    pub fn cpu_us(&self) -> f64 {
        self.cpu * 1e6 / self.ops as f64
    }

    /// Context switches per operation, where they were counted.
    pub fn switches_per_op(&self) -> Option<f64> {
        self.switches.map(|n| n as f64 / self.ops as f64)
    }
}

/// The medians of several windows of one measurement (each figure's own median).
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Operations per second.
    pub rate: f64,
    /// CPU microseconds per operation; `None` where the peer did not report it.
    pub cpu_us: Option<f64>,
    /// Context switches per operation; `None` where they were not counted.
    pub switches: Option<f64>,
    /// The longest window's wall-clock seconds: far beyond the requested length, it shows that
    /// calls stalled (a timed loop stops starting calls at its deadline but waits for them).
    pub longest: f64,
}

impl Summary {
    /// Summarises `samples` (at least one; an empty list gives NaN).
    pub fn of(samples: &[Sample]) -> Self {
        Self {
            rate: median(samples.iter().map(Sample::rate).collect()),
            cpu_us: Some(median(samples.iter().map(Sample::cpu_us).collect())),
            switches: samples
                .iter()
                .map(Sample::switches_per_op)
                .collect::<Option<Vec<f64>>>()
                .map(median),
            longest: samples.iter().map(|s| s.wall).fold(0.0, f64::max),
        }
    }

    /// Milliseconds per operation.
    pub fn ms(&self) -> f64 {
        1e3 / self.rate
    }
}

/// The median of `v` (the upper one for an even count); NaN when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The instant `seconds` from now, when a timed loop stops starting new operations.
pub fn deadline(seconds: f64) -> Instant {
    Instant::now() + Duration::from_secs_f64(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_takes_the_median_of_each_figure_on_its_own() {
        let samples = [
            Sample {
                ops: 100,
                wall: 1.0,
                cpu: 0.001,
                switches: Some(100),
            },
            Sample {
                ops: 300,
                wall: 1.0,
                cpu: 0.009,
                switches: Some(900),
            },
            Sample {
                ops: 200,
                wall: 1.0,
                cpu: 0.002,
                switches: Some(400),
            },
        ];
        let s = Summary::of(&samples);
        assert_eq!(s.rate, 200.0);
        assert_eq!(s.cpu_us, Some(10.0));
        assert_eq!(s.switches, Some(2.0));
        assert_eq!(s.ms(), 5.0);
        assert_eq!(s.longest, 1.0);
    }

    #[test]
    fn a_window_counts_the_cpu_spent_inside_it() {
        let window = Window::start();
        let mut x = 0u64;
        for i in 0..10_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let sample = window.finish(1);
        assert!(sample.cpu > 0.0, "a busy loop used no CPU: {sample:?}");
        assert!(sample.wall > 0.0);
    }
}
