//! `lazyrich plan SPEC`: what a spec expands to, before running it.
//!
//! Validates the spec exactly as `run` does (so a spec that plans also runs), then prints its
//! name and hash, the point counts (raw, after filters, distinct ids), the split into shards,
//! an estimate of the rows and of their uncompressed size, and (unless `--no-estimate`) the
//! time and disk space of a run, from a timed sample of points (a second at most). Then
//! warnings about combinations that are likely mistakes (`advice`). `--list N` prints the
//! first points with their ids and parameters (`--canonical`: the exact texts their ids hash).
//!
//! Memory is bounded whatever the spec's size: the counts come from [`Spec::tally`], which
//! counts distinct ids from the grid when no two points can share one and otherwise enumerates
//! them in passes of bounded size; `--shards N` counts every shard in one pass.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use lazyrich_sweep::{Shard, Spec, Tally, human_bytes};

use crate::inputs::load_spec;
use crate::progress::human_duration;

mod advice;

/// Most points the time estimate computes…
const SAMPLE_POINTS: usize = 50;
/// …and the time it may take (it stops after the point that crosses it).
const SAMPLE_BUDGET: Duration = Duration::from_secs(1);

/// How many shards `--shards` accepts (one line is printed per shard).
const MAX_SHARDS: u32 = 100_000;

/// Shows what a sweep spec expands to: counts, shards, estimated rows and size.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The sweep spec (TOML; see docs/spec.md).
    pub spec: PathBuf,
    /// Also count the points of each of N shards (as `run --shard k/N` splits them).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// Print the first N points (after filters): raw index, point id (hex), parameters.
    #[arg(long, value_name = "N")]
    pub list: Option<u64>,
    /// With --list: print each point's canonical text (the exact text its id hashes, numbers as
    /// IEEE-754 bits in hex) instead of its readable parameters.
    #[arg(long, requires = "list")]
    pub canonical: bool,
    /// Skip the time and disk estimates (they compute a sample of points: a second at most).
    #[arg(long)]
    pub no_estimate: bool,
}

/// Runs `lazyrich plan`.
pub fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let spec = load_spec(&args.spec)?;
    let tally = spec.tally();
    let mut out = String::new();
    let origin = args.spec.display().to_string();
    write_plan(&mut out, &origin, &spec, &tally);
    if !args.no_estimate {
        write_estimate(&mut out, &spec, tally.distinct, args.shards);
    }
    for warning in advice::warnings(&spec, &origin) {
        let _ = writeln!(out, "warning        {warning}");
    }
    if let Some(n_shards) = args.shards {
        write_shards(&mut out, &spec, n_shards);
    }
    if let Some(n_list) = args.list {
        write_list(&mut out, &spec, n_list, args.canonical);
    }
    crate::solve::write_stdout(&out)
}

fn write_plan(out: &mut String, origin: &str, spec: &Spec, tally: &Tally) {
    let n_filtered: u64 = tally.per_block.iter().sum();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "spec           {origin}");
    let _ = writeln!(out, "name           {}", spec.name());
    let _ = writeln!(out, "spec hash      {}", spec.hash_hex());
    let _ = writeln!(out, "blocks         {}", spec.n_blocks());
    let _ = writeln!(out, "raw points     {}", spec.n_raw());
    let _ = writeln!(out, "after filters  {n_filtered}");
    for (block, count) in tally.per_block.iter().enumerate() {
        let _ = writeln!(out, "  block[{block}]     {count}");
    }
    let repeats = n_filtered - tally.distinct;
    let _ = writeln!(
        out,
        "estimated rows {} (one per distinct point id; {repeats} points repeat an earlier id and \
         are computed once)",
        tally.distinct
    );
    let _ = writeln!(
        out,
        "estimated size {} uncompressed (values as Arrow holds them: 8 bytes per float, every \
         per-time list and QQᵀ checkpoint in full; the zstd Parquet files are smaller)",
        human_bytes(tally.row_bytes)
    );
}

/// The time and disk estimates from a timed sample of points.
fn write_estimate(out: &mut String, spec: &Spec, distinct: u64, shards: Option<u32>) {
    let sample = lazyrich_runner::sample(spec, SAMPLE_POINTS, SAMPLE_BUDGET);
    let n = sample.estimate.sample_points;
    if n == 0 {
        return;
    }
    let per_point = sample.estimate.seconds_per_point;
    let cpu = per_point * distinct as f64;
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let _ = writeln!(
        out,
        "estimated time {} per point on one thread (from {n} sample point{}): {} of CPU in all, \
         {} on the {threads} thread{} here",
        if per_point < 1.0 {
            format!("{:.2} ms", per_point * 1e3)
        } else {
            human_duration(per_point)
        },
        if n == 1 { "" } else { "s" },
        human_duration(cpu),
        human_duration(cpu / threads as f64),
        if threads == 1 { "" } else { "s" },
    );
    if let Some(n_shards) = shards {
        let _ = writeln!(
            out,
            "               per shard of {n_shards}: about {} of CPU",
            human_duration(cpu / f64::from(n_shards))
        );
    }
    if let Ok(bytes) = lazyrich_store::encoded_size(&sample.rows) {
        let total = bytes as f64 / n as f64 * distinct as f64;
        let _ = writeln!(
            out,
            "estimated disk {} as zstd Parquet (the {n} sampled rows as one file, scaled: part \
             files of more rows compress better, of fewer worse)",
            human_bytes(total as u64)
        );
    }
}

fn write_shards(out: &mut String, spec: &Spec, n_shards: u32) {
    let _ = writeln!(out, "shards         {n_shards} (points after filters per shard)");
    for (index, count) in (0..n_shards).zip(spec.shard_counts(n_shards)) {
        let shard = Shard { index, count: n_shards };
        let _ = writeln!(out, "  {:<12} {count}", shard.to_string());
    }
}

fn write_list(out: &mut String, spec: &Spec, n_list: u64, canonical: bool) {
    let take = usize::try_from(n_list).unwrap_or(usize::MAX);
    let what = if canonical { "canonical text" } else { "parameters" };
    let _ = writeln!(out, "first points   raw index, point id, {what}");
    for point in spec.points(Shard::ALL).take(take) {
        let text = if canonical { point.canonical() } else { point.describe() };
        let _ = writeln!(out, "  {:<10} {:016x} {text}", point.raw_index, point.point_id);
    }
}
