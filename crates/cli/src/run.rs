//! `lazyrich run SPEC --out DIR`: computes a sweep, or one shard of it, into a Parquet dataset.
//!
//! Everything that can be checked is checked before `DIR` is touched: the spec, width/λ
//! admissibility, the shard and the flush options; a failure there exits with code 2 and
//! creates nothing. Then [`lazyrich_runner::run`] does the work: it skips the points already in
//! `DIR` (so re-running the same command resumes a killed run), computes the rest on `--threads`
//! workers and publishes a part file every `--flush-points` rows or `--flush-seconds` seconds.
//! A `DIR` that holds another spec's results (or other files) is refused with exit code 2.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use lazyrich_runner::{RunOptions, RunSummary, RunnerError};
use lazyrich_store::StoreError;
use lazyrich_sweep::Shard;

use crate::error::BadInput;
use crate::inputs::{load_spec, positive_usize, thread_count};
use crate::progress::{Mode, Progress};
use crate::signals::{StopSignals, Stopped};

/// The version recorded in every row (`lazyrich_version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit recorded in every row (`git_commit`): from `build.rs`, `unknown` when the
/// build had no git repository.
pub const GIT_COMMIT: &str = env!("LAZYRICH_GIT_COMMIT");
/// `lazyrich --version`.
pub const VERSION_LINE: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("LAZYRICH_GIT_COMMIT"), ")");

/// Default `--flush-points`.
pub const DEFAULT_FLUSH_POINTS: usize = 1000;
/// Default `--flush-seconds`.
pub const DEFAULT_FLUSH_SECONDS: f64 = 30.0;
/// Rows that may wait between the workers and the writer (per worker thread).
const CHANNEL_ROWS_PER_THREAD: usize = 64;
/// Environment variables `--shards N` reads the shard index k from, first set wins: Slurm job
/// arrays, then Kubernetes indexed jobs.
pub const SHARD_INDEX_VARS: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"];
/// The variable the default thread count comes from when set (`sbatch --cpus-per-task`).
pub const CPUS_VAR: &str = "SLURM_CPUS_PER_TASK";

const RUN_HELP: &str = "\
Re-running the same command resumes: points already in DIR are skipped. A killed run loses at
most the rows of its last --flush-points / --flush-seconds window and of the part files still
being written (at most two per encoder thread: --encoders, default one per 4 threads, rounded up).

Shards: --shard k/N runs the points whose point id p has p % N == k (points with equal ids,
such as replicated Gaussian draws across λ, fall into one shard). --shards N takes k from
SLURM_ARRAY_TASK_ID (sbatch --array=0-<N-1>), else from JOB_COMPLETION_INDEX (Kubernetes
indexed jobs), plus --shard-offset (for arrays that do not start at shard 0: Slurm caps task
ids below MaxArraySize). A Slurm array must cover shards 0 to N-1 unless --shard-offset is given;
a task of an array without --shards/--shard is refused (it would compute the whole spec).
`lazyrich submit slurm` writes and submits such arrays (docs/cluster.md). Shards may run at
once into one DIR; `lazyrich merge DIR` compacts the files.
DIR records the shard layouts that wrote into it: a layout that overlaps one running now or
one recorded (k/N and j/M overlap when k = j modulo gcd(N, M); unsharded overlaps all) is
refused; --relayout allows a recorded one once its runs have finished.

Sweeps that grow: --extend accepts a changed spec (more λ values, another block, ...) on a
dataset of an earlier one. Point ids do not depend on the spec they come from, so the points
already present are skipped, whichever spec computed them; the new spec becomes the dataset's
(DIR/_lazyrich/spec.toml), and the manifest records every spec with its hash (their texts in
DIR/_lazyrich/specs/). Rows keep the spec_hash of the spec that computed them. `lazyrich status`
counts against the current spec and reports the points of earlier specs that it no longer has.

Integrity: the resume reads every part file in full and checks its content checksum; a damaged
file is moved to DIR/_lazyrich/quarantine/ (a warning says so) and its points are computed
again. Part files of another spec, or part files without DIR/_lazyrich/manifest.json, refuse
the run.

Signals: SIGTERM (scancel, a time limit, preemption), SIGINT (Ctrl-C) and SIGUSR1 (sbatch
--signal=B:USR1@120) stop the run: no new point is started, every computed row is published,
a line says how many were saved, and the run exits with status 3; a re-run resumes. A second
signal exits at once (status 128 + signal), losing the rows not yet published. Slurm sends
SIGKILL KillWait seconds (often 30) after SIGTERM: points that take longer than that to
compute are lost with it.

Threads: --threads, else SLURM_CPUS_PER_TASK, else the CPUs this process may run on.

Progress goes to stderr: a bar on a terminal, otherwise a line every 10 s and a summary line
(--quiet: errors only). \"failed\" counts points whose status is not ok (singular, diverged, ...):
they are results, recorded in their rows.

Exit codes: 0 success (whatever the points' statuses), 1 failure, 2 bad spec, shard, options
or output directory (nothing is written then), 3 stopped by a signal (everything computed is
saved), 128 + n killed by a second signal n.";

/// Computes a sweep spec (or one shard of it) into a Parquet dataset; resumable.
#[derive(Debug, clap::Args)]
#[command(after_long_help = RUN_HELP)]
pub struct RunArgs {
    /// The sweep spec (TOML; see docs/spec.md).
    pub spec: PathBuf,
    /// The dataset directory (created if absent; see docs/dataset.md).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Worker threads, at most 16 per available core and 1024 [default: SLURM_CPUS_PER_TASK,
    /// else the CPUs this process may run on].
    #[arg(long, value_name = "T", value_parser = thread_count)]
    pub threads: Option<usize>,
    /// Run shard k of N (0 <= k < N).
    #[arg(long, value_name = "K/N", conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Run one of N shards, k taken from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// With --shards: the shard is the task index plus this offset (an array of Slurm tasks
    /// 0..M-1 running shards O..O+M-1).
    #[arg(long, value_name = "O", requires = "shards")]
    pub shard_offset: Option<u32>,
    /// Publish a part file at least every N rows.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FLUSH_POINTS, value_parser = positive_usize)]
    pub flush_points: usize,
    /// Publish a part file at least every S seconds (S > 0).
    #[arg(long, value_name = "S", default_value_t = DEFAULT_FLUSH_SECONDS)]
    pub flush_seconds: f64,
    /// Print nothing but errors (and warnings about damaged files).
    #[arg(long)]
    pub quiet: bool,
    /// Run this shard layout although DIR records an overlapping one (e.g. unsharded after
    /// shards k/N have finished, to fill their gaps); still refused while an overlapping run
    /// is going on.
    #[arg(long)]
    pub relayout: bool,
    /// Run this spec on a dataset of another spec (typically the same sweep with more values):
    /// it becomes the dataset's spec, every earlier spec stays recorded with its rows, and
    /// only the points the dataset lacks are computed.
    #[arg(long)]
    pub extend: bool,
    /// Parquet encoder threads, beside the workers [default: one per 4 threads, rounded up].
    /// More only helps when the encoders, not the workers, limit the rate (many cores, cheap
    /// points); an idle encoder thread takes no CPU.
    #[arg(long, value_name = "E", value_parser = thread_count)]
    pub encoders: Option<usize>,
}

/// Runs `lazyrich run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    // First of all, so that a signal during the checks or the resume is a clean stop too.
    let signals = StopSignals::install().context("failed to install the signal handlers")?;
    let spec = load_spec(&args.spec)?;
    let env = |name: &str| std::env::var(name).ok();
    let shard = resolve_shard(args.shard, args.shards, args.shard_offset, env)?;
    if !(args.flush_seconds.is_finite() && args.flush_seconds > 0.0) {
        return Err(BadInput::new(format!(
            "--flush-seconds must be a positive number of seconds, got {}",
            args.flush_seconds
        ))
        .into());
    }
    let threads = match args.threads {
        Some(threads) => threads,
        None => default_threads(env)?,
    };
    let options = RunOptions {
        threads,
        shard,
        flush_points: args.flush_points,
        flush_seconds: args.flush_seconds,
        channel_capacity: CHANNEL_ROWS_PER_THREAD.saturating_mul(threads),
        lazyrich_version: VERSION.to_owned(),
        git_commit: GIT_COMMIT.to_owned(),
        relayout: args.relayout,
        stop: Some(signals.flag()),
        extend: args.extend,
        encoders: args.encoders,
    };
    let progress = Progress::new(Mode::detect(args.quiet), shard, threads);
    let start = Instant::now();
    match lazyrich_runner::run(&spec, &args.out, &options, &progress) {
        Ok(summary) => {
            progress.finish(&summary, &args.out, start.elapsed());
            match signals.received() {
                Some(signal) if summary.stopped => {
                    Err(Stopped(stopped_line(signal, &summary, shard, &args.out)).into())
                }
                _ => Ok(()),
            }
        }
        Err(err) => {
            progress.abandon();
            Err(classify(err))
        }
    }
}

/// What a stopped run saved, and how to go on.
fn stopped_line(signal: &str, summary: &RunSummary, shard: Shard, out: &Path) -> String {
    let remaining = summary.total.saturating_sub(summary.already_done + summary.computed);
    format!(
        "stopped by {signal}: {} points computed in this run, {} rows saved to {} ({} of shard \
         {shard} done before); {remaining} points still to compute: re-run the same command to \
         resume",
        summary.computed,
        summary.published,
        out.display(),
        summary.already_done,
    )
}

/// The thread count without `--threads`: `SLURM_CPUS_PER_TASK` when set (bounded like
/// `--threads`), else the CPUs this process may run on (its affinity mask and cgroup quota).
fn default_threads(env: impl Fn(&str) -> Option<String>) -> Result<usize, BadInput> {
    match env(CPUS_VAR).filter(|value| !value.trim().is_empty()) {
        Some(value) => thread_count(value.trim())
            .map_err(|reason| BadInput::new(format!("{CPUS_VAR} = '{value}': {reason}"))),
        None => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
    }
}

/// Maps a runner error to bad input (exit 2) when the user must change the command: an
/// inadmissible spec, a bad shard, or an output directory that is not this spec's dataset.
fn classify(err: RunnerError) -> anyhow::Error {
    let bad_input = match &err {
        RunnerError::Inadmissible(_) | RunnerError::Shard { .. } => true,
        RunnerError::Store(store) => matches!(
            store,
            StoreError::SpecMismatch { .. }
                | StoreError::NotEmpty { .. }
                | StoreError::SchemaVersion { .. }
                | StoreError::ManifestMissing { .. }
                | StoreError::ForeignFile { .. }
                | StoreError::LayoutRunning { .. }
                | StoreError::LayoutConflict { .. }
        ),
        _ => false,
    };
    if bad_input { BadInput::new(err.to_string()).into() } else { anyhow::Error::new(err) }
}

/// The shard to run: `--shard k/N` as given, `--shards N` with k from the first variable of
/// [`SHARD_INDEX_VARS`] that `env` finds (non-empty) plus `offset`, or the whole spec.
///
/// A Slurm array is checked against N: its task ids (`SLURM_ARRAY_TASK_MAX`) must map to
/// shards below N, and without an explicit offset an array `0-M` must cover every shard
/// (`M = N - 1`), so that no shard is silently left out. A task of an array (or of an indexed
/// Kubernetes job) without `--shards` or `--shard` is refused: it would compute everything.
fn resolve_shard(
    shard: Option<Shard>,
    n_shards: Option<u32>,
    offset: Option<u32>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Shard, BadInput> {
    let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
    let found = SHARD_INDEX_VARS.iter().find_map(|&name| set(name).map(|v| (name, v)));
    let Some(count) = n_shards else {
        if let (None, Some((name, value))) = (shard, &found) {
            return Err(BadInput::new(format!(
                "{name} = {value} says this is one task of {}, but neither --shards nor --shard \
                 is given: every task would compute the whole spec. Give --shards N (one shard \
                 per task{}) or --shard k/N",
                if *name == SHARD_INDEX_VARS[0] { "a Slurm job array" } else { "an indexed job" },
                if *name == SHARD_INDEX_VARS[0] {
                    ", sbatch --array=0-<N-1>, or use `lazyrich submit slurm`"
                } else {
                    ""
                },
            )));
        }
        return Ok(shard.unwrap_or(Shard::ALL));
    };
    let Some((name, value)) = found else {
        return Err(BadInput::new(format!(
            "--shards {count} takes the shard index from SLURM_ARRAY_TASK_ID (Slurm job arrays) \
             or JOB_COMPLETION_INDEX (Kubernetes indexed jobs), and neither is set: give it \
             with --shard k/{count}"
        )));
    };
    let task: u32 = value.trim().parse().map_err(|_| {
        BadInput::new(format!("{name} = '{value}' is not a shard index (a non-negative integer)"))
    })?;
    let plus = offset.map_or_else(String::new, |o| format!(" + --shard-offset {o}"));
    let index = task.checked_add(offset.unwrap_or(0)).filter(|&index| index < count);
    let Some(index) = index else {
        let hint = if offset.is_none() && task >= count {
            " (an array that does not start at shard 0 needs --shard-offset: shard = task id + \
             offset)"
        } else {
            ""
        };
        return Err(BadInput::new(format!(
            "{name} = {task}{plus} is not below --shards {count}: shards are numbered 0 to {}{hint}",
            count - 1
        )));
    };
    if name == SHARD_INDEX_VARS[0] {
        check_slurm_array(count, offset, &set)?;
    }
    Ok(Shard { index, count })
}

/// Checks the Slurm job array this task belongs to against `--shards count` (see
/// [`resolve_shard`]); variables that are absent or unreadable are not checked.
fn check_slurm_array(
    count: u32,
    offset: Option<u32>,
    set: &impl Fn(&str) -> Option<String>,
) -> Result<(), BadInput> {
    let number = |name: &str| set(name).and_then(|v| v.trim().parse::<u64>().ok());
    let Some(max) = number("SLURM_ARRAY_TASK_MAX") else { return Ok(()) };
    let last = max + u64::from(offset.unwrap_or(0));
    if last >= u64::from(count) {
        let plus = offset.map_or_else(String::new, |o| format!(" + --shard-offset {o}"));
        return Err(BadInput::new(format!(
            "this Slurm job array has task ids up to {max} (SLURM_ARRAY_TASK_MAX){plus}, but \
             --shards {count} numbers its shards 0 to {}: no task may be past the last shard \
             (submit --array=0-{})",
            count - 1,
            u64::from(count - 1).saturating_sub(last - max)
        )));
    }
    let (Some(min), Some(tasks)) =
        (number("SLURM_ARRAY_TASK_MIN"), number("SLURM_ARRAY_TASK_COUNT"))
    else {
        return Ok(());
    };
    if offset.is_none() && min == 0 && tasks == max + 1 && last + 1 < u64::from(count) {
        return Err(BadInput::new(format!(
            "this Slurm job array has tasks 0-{max}, but --shards {count} has shards 0 to {}: \
             shards {} to {} would never run. Submit --array=0-{} (`lazyrich submit slurm` \
             splits arrays larger than the cluster's MaxArraySize), or pass --shard-offset 0 to \
             run a part of the shards on purpose",
            count - 1,
            max + 1,
            count - 1,
            count - 1
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn explicit_shard_and_default() {
        let shard = Shard { index: 2, count: 3 };
        assert_eq!(resolve_shard(Some(shard), None, None, env(&[])), Ok(shard));
        assert_eq!(resolve_shard(None, None, None, env(&[])), Ok(Shard::ALL));
        // An explicit shard inside an array task is the user's choice.
        let array = env(&[("SLURM_ARRAY_TASK_ID", "1")]);
        assert_eq!(resolve_shard(Some(shard), None, None, array), Ok(shard));
    }

    #[test]
    fn an_array_task_without_shards_is_refused() {
        let slurm = resolve_shard(None, None, None, env(&[("SLURM_ARRAY_TASK_ID", "1")]));
        let message = slurm.unwrap_err().0;
        assert!(message.starts_with("SLURM_ARRAY_TASK_ID = 1 says this is one task of a Slurm job array, but neither --shards nor --shard is given"), "{message}");
        let k8s = resolve_shard(None, None, None, env(&[("JOB_COMPLETION_INDEX", "0")]));
        assert!(k8s.unwrap_err().0.contains("one task of an indexed job"));
    }

    #[test]
    fn shards_read_slurm_first_then_kubernetes() {
        let both = env(&[("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(resolve_shard(None, Some(4), None, both), Ok(Shard { index: 1, count: 4 }));
        let k8s = env(&[("SLURM_ARRAY_TASK_ID", ""), ("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(resolve_shard(None, Some(4), None, k8s), Ok(Shard { index: 3, count: 4 }));
    }

    #[test]
    fn shard_index_errors_are_explained() {
        let message =
            |pairs: &[(&str, &str)]| resolve_shard(None, Some(4), None, env(pairs)).unwrap_err().0;
        assert!(message(&[]).contains("neither is set: give it with --shard k/4"));
        let too_large = message(&[("SLURM_ARRAY_TASK_ID", "4")]);
        assert_eq!(
            too_large,
            "SLURM_ARRAY_TASK_ID = 4 is not below --shards 4: shards are numbered 0 to 3 (an \
             array that does not start at shard 0 needs --shard-offset: shard = task id + offset)"
        );
        assert!(message(&[("JOB_COMPLETION_INDEX", "x")]).contains("'x' is not a shard index"));
    }

    /// The variables of task `task` of an array `min-max` with `count` tasks.
    fn array(task: &str, min: &str, max: &str, count: &str) -> Vec<(&'static str, String)> {
        vec![
            ("SLURM_ARRAY_TASK_ID", task.to_owned()),
            ("SLURM_ARRAY_TASK_MIN", min.to_owned()),
            ("SLURM_ARRAY_TASK_MAX", max.to_owned()),
            ("SLURM_ARRAY_TASK_COUNT", count.to_owned()),
        ]
    }

    fn resolve_in(
        vars: &[(&'static str, String)],
        count: u32,
        offset: Option<u32>,
    ) -> Result<Shard, BadInput> {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        resolve_shard(None, Some(count), offset, env(&pairs))
    }

    #[test]
    fn slurm_arrays_are_checked_against_the_shard_count() {
        // The right array, and a chunk of a larger one mapped by the offset.
        assert_eq!(
            resolve_in(&array("3", "0", "3", "4"), 4, None),
            Ok(Shard { index: 3, count: 4 })
        );
        assert_eq!(
            resolve_in(&array("2", "0", "3", "4"), 10, Some(8)),
            Err(BadInput::new(
                "SLURM_ARRAY_TASK_ID = 2 + --shard-offset 8 is not below --shards 10: shards are \
                 numbered 0 to 9"
            ))
        );
        assert_eq!(
            resolve_in(&array("1", "0", "1", "2"), 10, Some(8)),
            Ok(Shard { index: 9, count: 10 })
        );
        // --array=0-2 with 4 shards: shard 3 would never run.
        let short = resolve_in(&array("0", "0", "2", "3"), 4, None).unwrap_err().0;
        assert!(short.contains("shards 3 to 3 would never run"), "{short}");
        // ... unless the offset says a part of the shards is meant (a resubmission).
        assert_eq!(
            resolve_in(&array("0", "0", "2", "3"), 4, Some(0)),
            Ok(Shard { index: 0, count: 4 })
        );
        // A list such as --array=1,3 (a resubmission of two shards) is not a first submission.
        assert_eq!(
            resolve_in(&array("1", "1", "3", "2"), 4, None),
            Ok(Shard { index: 1, count: 4 })
        );
        // An array past the last shard fails in every task, not only in the tasks past it.
        let long = resolve_in(&array("0", "0", "4", "5"), 4, None).unwrap_err().0;
        assert!(long.starts_with("this Slurm job array has task ids up to 4"), "{long}");
        assert!(long.ends_with("(submit --array=0-3)"), "{long}");
        let long = resolve_in(&array("0", "0", "3", "4"), 10, Some(8)).unwrap_err().0;
        assert!(long.contains("up to 3 (SLURM_ARRAY_TASK_MAX) + --shard-offset 8"), "{long}");
        assert!(long.ends_with("(submit --array=0-1)"), "{long}");
    }

    #[test]
    fn threads_default_to_the_slurm_allocation() {
        assert_eq!(default_threads(env(&[(CPUS_VAR, "1")])), Ok(1));
        let available = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(default_threads(env(&[])), Ok(available));
        assert!(
            default_threads(env(&[(CPUS_VAR, "0")]))
                .unwrap_err()
                .0
                .starts_with("SLURM_CPUS_PER_TASK = '0': must be at least 1")
        );
    }
}
