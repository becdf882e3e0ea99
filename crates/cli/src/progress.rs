//! Progress of `lazyrich run` on stderr: a bar on a terminal, plain lines in logs, or nothing.
//!
//! [`Progress`] is the runner's [`Observer`]; its callbacks come from the runner's writer thread.
//! On a terminal it draws an indicatif bar (points done/total, rate, ETA, failures); otherwise
//! (a batch job's log file) it prints one plain line every [`LINE_INTERVAL`] and a final
//! summary, so logs stay short and greppable. "Failures" are points whose status is not `ok`
//! (`singular`, `diverged`, …): they are results, recorded in their rows, not errors of the run.

use std::collections::BTreeMap;
use std::fmt::Write as FmtWrite;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use lazyrich_runner::{Observer, RunSummary};
use lazyrich_sweep::Shard;

/// How often the plain (non-terminal) mode prints a progress line.
const LINE_INTERVAL: Duration = Duration::from_secs(10);
/// How often the bar redraws by itself (so the ETA moves while a slow point computes).
const BAR_TICK: Duration = Duration::from_millis(200);
const BAR_TEMPLATE: &str =
    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} points, {rate}, ETA {eta} {msg}";

/// Where progress goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing but errors (`--quiet`).
    Quiet,
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// A plain line every [`LINE_INTERVAL`] and a final summary (stderr is a file or pipe).
    Lines,
}

impl Mode {
    /// The mode for `--quiet` and the current stderr.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// Counts, shared between the writer thread (callbacks) and the main thread (summary).
#[derive(Debug)]
struct State {
    total: u64,
    already_done: u64,
    computed: u64,
    /// Computed points whose status is not `ok`, by status.
    failures: BTreeMap<String, u64>,
    /// When counting started (after the resume index was read).
    started: Instant,
    last_line: Instant,
}

/// The progress display of one run; see the module docs.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    shard: Shard,
    threads: usize,
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

impl Progress {
    /// A display for shard `shard`, computed on `threads` workers, in `mode`.
    pub fn new(mode: Mode, shard: Shard, threads: usize) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                bar.set_style(style.with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn FmtWrite| {
                        let _ = write!(w, "{:.1} points/s", state.per_sec());
                    },
                ));
            }
            bar
        });
        let now = Instant::now();
        let state = State {
            total: 0,
            already_done: 0,
            computed: 0,
            failures: BTreeMap::new(),
            started: now,
            last_line: now,
        };
        Progress { mode, shard, threads, bar, state: Mutex::new(state) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The counts stay meaningful even if a callback panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Clears the bar and, unless quiet, prints the summary line of a finished run.
    pub fn finish(&self, summary: &RunSummary, out: &Path, elapsed: Duration) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        // A stopped run is reported by `run` itself, in every mode.
        if self.mode == Mode::Quiet || summary.stopped {
            return;
        }
        let failures = failures_text(summary.not_ok, &self.state().failures);
        let missing = summary.total.saturating_sub(summary.already_done + summary.computed);
        let missing = if missing > 0 { format!(", {missing} not computed") } else { String::new() };
        line(&format!(
            "lazyrich: done: shard {}, {} points: {} computed, {failures}, {} already done{missing}; \
             {} rows published to {} in {}",
            self.shard,
            summary.total,
            summary.computed,
            summary.already_done,
            summary.published,
            out.display(),
            human_duration(elapsed.as_secs_f64()),
        ));
        if summary.extended {
            line(&format!(
                "lazyrich: {} now holds this spec (--extend): the rows of earlier specs stay, \
                 recorded in its manifest",
                out.display()
            ));
        }
    }

    /// Removes the bar after a failed run, so the error line stands alone.
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The plain progress line.
    fn progress_line(&self, state: &State) -> String {
        let done = state.already_done + state.computed;
        let percent =
            if state.total == 0 { 100.0 } else { 100.0 * done as f64 / state.total as f64 };
        let elapsed = state.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 { state.computed as f64 / elapsed } else { 0.0 };
        let remaining = state.total.saturating_sub(done);
        let eta = if rate > 0.0 { human_duration(remaining as f64 / rate) } else { "-".to_owned() };
        let failures = failures_text(state.failures.values().sum(), &state.failures);
        format!(
            "lazyrich: shard {}: {done}/{} points ({percent:.1} %), {rate:.1} points/s, ETA {eta}, \
             {failures}",
            self.shard, state.total
        )
    }
}

impl Observer for Progress {
    /// Printed in every mode, `--quiet` included: the dataset changed under the user's feet.
    fn quarantined(&self, file: &lazyrich_store::Quarantined) {
        let text = quarantine_line(file);
        match &self.bar {
            Some(bar) => bar.suspend(|| line(&text)),
            None => line(&text),
        }
    }

    fn started(&self, total: u64, already_done: u64) {
        let mut state = self.state();
        state.total = total;
        state.already_done = already_done;
        state.started = Instant::now();
        state.last_line = state.started;
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_length(total);
                    bar.set_position(already_done);
                    bar.reset_eta();
                    bar.enable_steady_tick(BAR_TICK);
                }
            }
            Mode::Lines => line(&format!(
                "lazyrich: shard {}: {total} points, {already_done} already done, {} to compute on \
                 {} thread{}",
                self.shard,
                total.saturating_sub(already_done),
                self.threads,
                if self.threads == 1 { "" } else { "s" }
            )),
        }
    }

    fn point_finished(&self, status: &str) {
        let mut state = self.state();
        state.computed += 1;
        let failed = status != "ok";
        if failed {
            *state.failures.entry(status.to_owned()).or_insert(0) += 1;
        }
        match self.mode {
            Mode::Quiet => {}
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                    if failed {
                        let n_failed = state.failures.values().sum();
                        bar.set_message(failures_text(n_failed, &state.failures));
                    }
                }
            }
            Mode::Lines => {
                if state.last_line.elapsed() >= LINE_INTERVAL {
                    state.last_line = Instant::now();
                    line(&self.progress_line(&state));
                }
            }
        }
    }
}

/// The warning about a part file that failed verification and was quarantined.
pub fn quarantine_line(file: &lazyrich_store::Quarantined) -> String {
    format!(
        "lazyrich: warning: {} is damaged ({}): moved to {}; its points will be computed again",
        file.file.display(),
        file.reason,
        file.moved_to.display()
    )
}

/// `0 failed`, or `3 failed (diverged 1, singular 2)`.
fn failures_text(n_failed: u64, by_status: &BTreeMap<String, u64>) -> String {
    if n_failed == 0 || by_status.is_empty() {
        return format!("{n_failed} failed");
    }
    let parts: Vec<String> = by_status.iter().map(|(status, n)| format!("{status} {n}")).collect();
    format!("{n_failed} failed ({})", parts.join(", "))
}

/// `0.42 s`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
pub(crate) fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "-".to_owned();
    }
    if seconds < 60.0 {
        return if seconds < 10.0 { format!("{seconds:.2} s") } else { format!("{seconds:.1} s") };
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, (whole % 3600) / 60)
    }
}

/// Prints one line on stderr; a closed stderr is ignored (progress is not worth failing for).
fn line(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_listed_by_status() {
        let mut by_status = BTreeMap::new();
        assert_eq!(failures_text(0, &by_status), "0 failed");
        by_status.insert("singular".to_owned(), 2);
        by_status.insert("diverged".to_owned(), 1);
        assert_eq!(failures_text(3, &by_status), "3 failed (diverged 1, singular 2)");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(0.421), "0.42 s");
        assert_eq!(human_duration(12.34), "12.3 s");
        assert_eq!(human_duration(245.0), "4 min 05 s");
        assert_eq!(human_duration(7380.0), "2 h 03 min");
        assert_eq!(human_duration(f64::INFINITY), "-");
    }

    #[test]
    fn the_plain_line_counts_resumed_points_as_done() {
        let progress = Progress::new(Mode::Quiet, Shard { index: 1, count: 4 }, 2);
        progress.started(10, 4);
        progress.point_finished("ok");
        progress.point_finished("singular");
        let text = progress.progress_line(&progress.state());
        assert!(text.starts_with("lazyrich: shard 1/4: 6/10 points (60.0 %), "), "{text}");
        assert!(text.ends_with(", 1 failed (singular 1)"), "{text}");
    }
}
