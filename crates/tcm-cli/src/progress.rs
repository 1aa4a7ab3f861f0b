//! Progress on standard error for operations that can run for seconds: a bar with rate and
//! ETA for counted work, a spinner with the elapsed time for one long wait. Both are drawn only
//! when standard error is a terminal, so scripts and CI logs get nothing extra.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A progress display; dropping it clears it.
pub struct Progress(ProgressBar);

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

impl Progress {
    /// A bar for `total` steps of `what` (e.g. `requests`), with rate and ETA.
    pub fn bar(total: u64, what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), target());
        let template =
            format!("{{bar:30.cyan/blue}} {{pos}}/{{len}} {what} · {{rate}} · ETA {{eta}}");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            let style = style.progress_chars("█▉▊▋▌▍▎▏ ").with_key(
                "rate",
                |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0}/s", state.per_sec());
                },
            );
            bar.set_style(style);
        }
        Self(bar)
    }

    /// A spinner saying `message`, with the time elapsed.
    pub fn spinner(message: String) -> Self {
        let bar = ProgressBar::with_draw_target(None, target());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(bar)
    }

    /// One step done.
    pub fn step(&self) {
        self.0.inc(1);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
