//! `lazyrich run SPEC --out DIR`: computes a sweep, or one shard of it, into a Parquet dataset.
//!
//! Everything that can be checked is checked before `DIR` is touched: the spec, width/λ
//! admissibility, the shard and the flush options; a failure there exits with code 2 and
//! creates nothing. Then [`lazyrich_runner::run`] does the work: it skips the points already in
//! `DIR` (so re-running the same command resumes a killed run), computes the rest on `--threads`
//! workers and publishes a part file every `--flush-points` rows or `--flush-seconds` seconds.
//! A `DIR` that holds another spec's results (or other files) is refused with exit code 2.

use std::path::PathBuf;
use std::time::Instant;

use lazyrich_runner::{RunOptions, RunnerError};
use lazyrich_store::StoreError;
use lazyrich_sweep::Shard;

use crate::error::BadInput;
use crate::inputs::{load_spec, positive_usize, thread_count};
use crate::progress::{Mode, Progress};

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

const RUN_HELP: &str = "\
Re-running the same command resumes: points already in DIR are skipped. A killed run loses at
most the rows of its last --flush-points / --flush-seconds window.

Shards: --shard k/N runs the points whose point id p has p % N == k (points with equal ids,
such as replicated Gaussian draws across λ, fall into one shard). --shards N takes k from
SLURM_ARRAY_TASK_ID (sbatch --array=0-<N-1>), else from JOB_COMPLETION_INDEX (Kubernetes
indexed jobs). Shards may run at once into one DIR; `lazyrich merge DIR` compacts the files.
DIR records the shard layouts that wrote into it: a layout that overlaps one running now or
one recorded (k/N and j/M overlap when k = j modulo gcd(N, M); unsharded overlaps all) is
refused; --relayout allows a recorded one once its runs have finished.

Integrity: the resume reads every part file in full and checks its content checksum; a damaged
file is moved to DIR/_lazyrich/quarantine/ (a warning says so) and its points are computed
again. Part files of another spec, or part files without DIR/_lazyrich/manifest.json, refuse
the run.

Progress goes to stderr: a bar on a terminal, otherwise a line every 10 s and a summary line
(--quiet: errors only). \"failed\" counts points whose status is not ok (singular, diverged, ...):
they are results, recorded in their rows.

Exit codes: 0 success (whatever the points' statuses), 1 failure, 2 bad spec, shard, options
or output directory (nothing is written then).";

/// Computes a sweep spec (or one shard of it) into a Parquet dataset; resumable.
#[derive(Debug, clap::Args)]
#[command(after_long_help = RUN_HELP)]
pub struct RunArgs {
    /// The sweep spec (TOML; see docs/spec.md).
    pub spec: PathBuf,
    /// The dataset directory (created if absent; see docs/dataset.md).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Worker threads, at most 16 per available core and 1024 [default: the available
    /// parallelism].
    #[arg(long, value_name = "T", value_parser = thread_count)]
    pub threads: Option<usize>,
    /// Run shard k of N (0 <= k < N).
    #[arg(long, value_name = "K/N", conflicts_with = "shards")]
    pub shard: Option<Shard>,
    /// Run one of N shards, k taken from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// With --shards: add O to the index read from the environment (job arrays of at most
    /// MaxArraySize tasks cover shards O..O+size).
    #[arg(long, value_name = "O", default_value_t = 0, requires = "shards")]
    pub shard_offset: u32,
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
}

/// Runs `lazyrich run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let spec = load_spec(&args.spec)?;
    let shard =
        resolve_shard(args.shard, args.shards, args.shard_offset, |name| std::env::var(name).ok())?;
    if !(args.flush_seconds.is_finite() && args.flush_seconds > 0.0) {
        return Err(BadInput::new(format!(
            "--flush-seconds must be a positive number of seconds, got {}",
            args.flush_seconds
        ))
        .into());
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let options = RunOptions {
        threads,
        shard,
        flush_points: args.flush_points,
        flush_seconds: args.flush_seconds,
        channel_capacity: CHANNEL_ROWS_PER_THREAD.saturating_mul(threads),
        lazyrich_version: VERSION.to_owned(),
        git_commit: GIT_COMMIT.to_owned(),
        relayout: args.relayout,
    };
    let progress = Progress::new(Mode::detect(args.quiet), shard);
    let start = Instant::now();
    match lazyrich_runner::run(&spec, &args.out, &options, &progress) {
        Ok(summary) => {
            progress.finish(&summary, &args.out, start.elapsed());
            Ok(())
        }
        Err(err) => {
            progress.abandon();
            Err(classify(err))
        }
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
fn resolve_shard(
    shard: Option<Shard>,
    n_shards: Option<u32>,
    offset: u32,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Shard, BadInput> {
    let Some(count) = n_shards else { return Ok(shard.unwrap_or(Shard::ALL)) };
    let found = SHARD_INDEX_VARS
        .iter()
        .find_map(|&name| env(name).filter(|value| !value.trim().is_empty()).map(|v| (name, v)));
    let Some((name, value)) = found else {
        return Err(BadInput::new(format!(
            "--shards {count} takes the shard index from SLURM_ARRAY_TASK_ID (Slurm job arrays) \
             or JOB_COMPLETION_INDEX (Kubernetes indexed jobs), and neither is set: give it \
             with --shard k/{count}"
        )));
    };
    let local: u32 = value.trim().parse().map_err(|_| {
        BadInput::new(format!("{name} = '{value}' is not a shard index (a non-negative integer)"))
    })?;
    let index = local.saturating_add(offset);
    if offset > 0 && index >= count {
        return Err(BadInput::new(format!(
            "{name} = {local} + --shard-offset {offset} is not below --shards {count}"
        )));
    }
    if index >= count {
        return Err(BadInput::new(format!(
            "{name} = {index} is not below --shards {count}: shards are numbered 0 to {} \
             (for Slurm: --array=0-{})",
            count - 1,
            count - 1
        )));
    }
    Ok(Shard { index, count })
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
        assert_eq!(resolve_shard(Some(shard), None, 0, env(&[])), Ok(shard));
        assert_eq!(
            resolve_shard(None, None, 0, env(&[("SLURM_ARRAY_TASK_ID", "1")])),
            Ok(Shard::ALL)
        );
    }

    #[test]
    fn shards_read_slurm_first_then_kubernetes() {
        let both = env(&[("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(resolve_shard(None, Some(4), 0, both), Ok(Shard { index: 1, count: 4 }));
        let k8s = env(&[("SLURM_ARRAY_TASK_ID", ""), ("JOB_COMPLETION_INDEX", "3")]);
        assert_eq!(resolve_shard(None, Some(4), 0, k8s), Ok(Shard { index: 3, count: 4 }));
    }

    #[test]
    fn shard_index_errors_are_explained() {
        let message =
            |pairs: &[(&str, &str)]| resolve_shard(None, Some(4), 0, env(pairs)).unwrap_err().0;
        assert!(message(&[]).contains("neither is set: give it with --shard k/4"));
        let too_large = message(&[("SLURM_ARRAY_TASK_ID", "4")]);
        assert_eq!(
            too_large,
            "SLURM_ARRAY_TASK_ID = 4 is not below --shards 4: shards are numbered 0 to 3 (for \
             Slurm: --array=0-3)"
        );
        assert!(message(&[("JOB_COMPLETION_INDEX", "x")]).contains("'x' is not a shard index"));
    }

    #[test]
    fn the_offset_is_added_to_the_array_index() {
        let task = env(&[("SLURM_ARRAY_TASK_ID", "1")]);
        assert_eq!(resolve_shard(None, Some(10), 8, task), Ok(Shard { index: 9, count: 10 }));
        let too_far = resolve_shard(None, Some(10), 8, env(&[("SLURM_ARRAY_TASK_ID", "2")]));
        assert!(too_far.unwrap_err().0.contains("+ --shard-offset 8 is not below --shards 10"));
    }
}
