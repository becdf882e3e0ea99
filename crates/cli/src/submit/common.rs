//! What `submit slurm` and `submit k8s` share: the options, the dataset every shard writes into,
//! the shard count, the shards still to compute, and shell quoting. A leaf of `submit`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use lazyrich_store::{Dataset, DatasetMeta, StoreError};
use lazyrich_sweep::{Shard, Spec};

use crate::error::BadInput;
use crate::inputs::{load_spec, thread_count};
use crate::run::{GIT_COMMIT, VERSION};
use crate::status::MAX_SHARDS;

/// The work the default shard count aims at per task, in seconds of one task's wall time.
pub const TARGET_TASK_SECONDS: f64 = 300.0;
/// Most points the default shard count times, and its time budget.
const ESTIMATE_POINTS: usize = 50;
const ESTIMATE_BUDGET: Duration = Duration::from_secs(1);

/// The options every `submit` target takes.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// The sweep spec (TOML; see docs/spec.md). It is stored in DIR/_lazyrich/spec.toml, which
    /// every task then runs.
    pub spec: PathBuf,
    /// The dataset directory, on a filesystem every node sees at the same path.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Shards (tasks) [default: about 5 minutes of work each, estimated from a timed sample of
    /// points; with --resubmit-missing: the shard count DIR records].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// Worker threads per task (and CPUs asked for each task).
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = thread_count)]
    pub threads: usize,
    /// Passed to `lazyrich run --flush-seconds` in every task.
    #[arg(long, value_name = "S")]
    pub flush_seconds: Option<f64>,
    /// Print what would be written and submitted; write and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// A submission, ready to be turned into job scripts: every path absolute.
#[derive(Debug)]
pub struct Prepared {
    /// The validated spec.
    pub spec: Spec,
    /// The dataset directory (absolute).
    pub dir: PathBuf,
    /// The spec as stored in the dataset, which the tasks run: `DIR/_lazyrich/spec.toml`.
    pub stored_spec: PathBuf,
    /// The `lazyrich` binary running now (absolute), which the tasks run.
    pub exe: PathBuf,
    /// The shard count.
    pub shards: u32,
    /// Worker threads per task.
    pub threads: usize,
    /// A line saying how the shard count was chosen, when it was not given.
    pub shard_note: Option<String>,
    /// Whether the dataset exists (it is not created by a dry run).
    pub dataset_exists: bool,
}

/// Validates the spec, then creates or opens the dataset (unless `dry_run`), so that every task
/// finds DIR/_lazyrich/spec.toml and agrees on it. `default_shards` gives the shard count when
/// `--shards` is absent (after the dataset is open), else it is estimated.
pub fn prepare(
    args: &CommonArgs,
    default_shards: impl FnOnce(Option<&Dataset>) -> anyhow::Result<Option<u32>>,
) -> anyhow::Result<Prepared> {
    if let Some(seconds) = args.flush_seconds
        && !(seconds.is_finite() && seconds > 0.0)
    {
        return Err(BadInput::new(format!(
            "--flush-seconds must be a positive number of seconds, got {seconds}"
        ))
        .into());
    }
    let spec = load_spec(&args.spec)?;
    let dir = std::path::absolute(&args.out)
        .with_context(|| format!("failed to make {} absolute", args.out.display()))?;
    let exe = std::env::current_exe().context("failed to find the path of this lazyrich binary")?;
    let stored_spec = dir.join("_lazyrich").join("spec.toml");
    let meta = DatasetMeta {
        spec_name: spec.name().to_owned(),
        spec_hash: spec.hash_hex(),
        spec_text: spec.text().to_owned(),
        lazyrich_version: VERSION.to_owned(),
        git_commit: GIT_COMMIT.to_owned(),
    };
    let dataset = if args.dry_run {
        match Dataset::open(&dir) {
            Ok(dataset) if dataset.manifest().spec_hash != meta.spec_hash => {
                return Err(BadInput::new(format!(
                    "{} holds the results of spec '{}' (hash {}), not of {} (hash {})",
                    dir.display(),
                    dataset.manifest().spec_name,
                    dataset.manifest().spec_hash,
                    args.spec.display(),
                    meta.spec_hash
                ))
                .into());
            }
            Ok(dataset) => Some(dataset),
            Err(_) => None,
        }
    } else {
        let dataset = Dataset::create_or_open(&dir, &meta).map_err(store_error)?;
        let stored = Spec::from_path(&stored_spec)
            .with_context(|| format!("failed to read {}", stored_spec.display()))?;
        if stored.hash_hex() != meta.spec_hash {
            return Err(anyhow::anyhow!(
                "{} hashes to {}, not to {} like {}: the tasks would run another spec",
                stored_spec.display(),
                stored.hash_hex(),
                meta.spec_hash,
                args.spec.display()
            ));
        }
        Some(dataset)
    };
    let (shards, shard_note) = match args.shards {
        Some(shards) => (shards, None),
        None => match default_shards(dataset.as_ref())? {
            Some(shards) => (shards, None),
            None => {
                let (shards, note) = estimate_shards(&spec, args.threads);
                (shards, Some(note))
            }
        },
    };
    if let Some(dataset) = &dataset {
        check_layouts(dataset, shards)?;
    }
    Ok(Prepared {
        spec,
        dir,
        stored_spec,
        exe,
        shards,
        threads: args.threads,
        shard_note,
        dataset_exists: dataset.is_some(),
    })
}

/// A store error: bad input when the user must change the command (DIR is another spec's).
fn store_error(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::SpecMismatch { .. }
        | StoreError::NotEmpty { .. }
        | StoreError::SchemaVersion { .. }
        | StoreError::ManifestMissing { .. } => BadInput::new(err.to_string()).into(),
        other => anyhow::Error::new(other),
    }
}

/// Refuses a shard count that the layouts recorded in the dataset would make every task refuse.
fn check_layouts(dataset: &Dataset, shards: u32) -> anyhow::Result<()> {
    let recorded = dataset.layouts()?.recorded;
    let other: Vec<&String> = recorded
        .iter()
        .filter(|text| text.parse::<Shard>().map_or(true, |s| s.count != shards))
        .collect();
    if other.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = other.iter().map(|s| s.as_str()).collect();
    Err(BadInput::new(format!(
        "{} records shard layouts {} of another shard count than {shards}: every task would be \
         refused; submit with --shards {} (or, once those runs have finished, run the gaps with \
         `lazyrich run --relayout`)",
        dataset.root().display(),
        names.join(", "),
        recorded_count(&recorded).map_or_else(|| "N".to_owned(), |n| n.to_string())
    ))
    .into())
}

/// The shard count N of the layouts a dataset records, if they all agree on one.
pub fn recorded_count(recorded: &[String]) -> Option<u32> {
    let mut counts = recorded.iter().map(|text| text.parse::<Shard>().ok().map(|s| s.count));
    let first = counts.next()??;
    counts.all(|count| count == Some(first)).then_some(first)
}

/// The default shard count: about [`TARGET_TASK_SECONDS`] of work per task at `threads`,
/// estimated from a timed sample of points; at least 1, at most the distinct points and
/// [`MAX_SHARDS`]. Returns the count and the line that explains it.
pub fn estimate_shards(spec: &Spec, threads: usize) -> (u32, String) {
    let estimate = lazyrich_runner::estimate(spec, ESTIMATE_POINTS, ESTIMATE_BUDGET);
    let points = spec.count_distinct(Shard::ALL);
    let shards = shard_rule(points, estimate.seconds_per_point, threads);
    let minutes = points as f64 * estimate.seconds_per_point
        / (threads.max(1) as f64 * f64::from(shards) * 60.0);
    let note = format!(
        "{shards} shard{plural}: about {minutes:.1} min of work per task at {threads} \
         thread{threads_plural} (estimated from {} sample points; {points} points in all)",
        estimate.sample_points,
        plural = if shards == 1 { "" } else { "s" },
        threads_plural = if threads == 1 { "" } else { "s" },
    );
    (shards, note)
}

/// ceil(points × seconds per point / (threads × [`TARGET_TASK_SECONDS`])), clamped to
/// `[1, min(points, MAX_SHARDS)]`.
pub fn shard_rule(points: u64, seconds_per_point: f64, threads: usize) -> u32 {
    let work = points as f64 * seconds_per_point.max(0.0);
    let wanted = (work / (threads.max(1) as f64 * TARGET_TASK_SECONDS)).ceil();
    let max = points.clamp(1, u64::from(MAX_SHARDS)) as f64;
    wanted.clamp(1.0, max) as u32
}

/// The shards of N that lack points, and how many points are missing in all, from
/// `lazyrich status` (`crate::status::collect`). `skip` lists shards known to be queued or
/// running at the scheduler; shards whose writer holds its lock in DIR are skipped too.
pub fn incomplete_shards(
    dir: &Path,
    shards: u32,
    skip: &BTreeSet<u32>,
) -> anyhow::Result<(Vec<u32>, u64)> {
    let status = crate::status::collect(dir, Some(shards), false)?;
    let missing = status.report.overall.missing.unwrap_or(0);
    let idle = status.shards_to_resubmit().into_iter().filter(|index| !skip.contains(index));
    Ok((idle.collect(), missing))
}

/// `word` quoted for a POSIX shell when it needs it.
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A command line of words, each quoted for a shell when it needs it.
pub fn shell_line<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| shell_quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// The `lazyrich run` command line every Slurm task runs (the shard index from the scheduler's
/// environment, plus `offset`).
pub fn run_command(prepared: &Prepared, offset: u32, flush_seconds: Option<f64>) -> Vec<String> {
    let mut words = vec![
        prepared.exe.display().to_string(),
        "run".to_owned(),
        prepared.stored_spec.display().to_string(),
        "--out".to_owned(),
        prepared.dir.display().to_string(),
        "--threads".to_owned(),
        prepared.threads.to_string(),
        "--shards".to_owned(),
        prepared.shards.to_string(),
    ];
    // Always explicit, also 0: a resubmitted array (`--array=1,7-9`) covers only some shards,
    // which `lazyrich run` accepts only with an explicit offset.
    words.extend(["--shard-offset".to_owned(), offset.to_string()]);
    if let Some(seconds) = flush_seconds {
        words.extend(["--flush-seconds".to_owned(), seconds.to_string()]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b-c_d.toml"), "/a/b-c_d.toml");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn the_shard_rule_aims_at_five_minutes_per_task() {
        // 10 000 points of 0.3 s on 2 threads: 1500 s of wall time, 5 tasks of 300 s.
        assert_eq!(shard_rule(10_000, 0.3, 2), 5);
        assert_eq!(shard_rule(10_000, 0.0001, 1), 1);
        assert_eq!(shard_rule(3, 1000.0, 1), 3, "at most one shard per point");
        assert_eq!(shard_rule(100_000_000, 100.0, 1), MAX_SHARDS);
        assert_eq!(shard_rule(0, 1.0, 1), 1);
    }

    #[test]
    fn recorded_counts() {
        let texts = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(recorded_count(&texts(&["0/4", "3/4"])), Some(4));
        assert_eq!(recorded_count(&texts(&["0/4", "1/2"])), None);
        assert_eq!(recorded_count(&[]), None);
    }
}
