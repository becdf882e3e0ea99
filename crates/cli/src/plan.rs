//! `lazyrich plan SPEC`: what a spec expands to, before running it.
//!
//! Validates the spec exactly as `run` does (so a spec that plans also runs), then prints its
//! name and hash, the point counts (raw, after filters, distinct ids), the split into shards,
//! and an estimate of the rows and of their uncompressed size. `--list N` prints the first
//! points with their ids and canonical texts. One pass over the points: no sweep is held in
//! memory beyond the set of distinct ids.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use lazyrich_sweep::{Point, Shard, Spec};

use crate::inputs::load_spec;

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
    /// Print the first N points (after filters): raw index, point id (hex), canonical text.
    #[arg(long, value_name = "N")]
    pub list: Option<u64>,
}

/// Runs `lazyrich plan`.
pub fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let spec = load_spec(&args.spec)?;
    let scan = Scan::of(&spec);
    let mut out = String::new();
    write_plan(&mut out, &args.spec.display().to_string(), &spec, &scan);
    if let Some(n_shards) = args.shards {
        write_shards(&mut out, &spec, n_shards);
    }
    if let Some(n_list) = args.list {
        write_list(&mut out, &spec, n_list);
    }
    crate::solve::write_stdout(&out)
}

/// What one pass over the points finds.
struct Scan {
    /// Points after filters, per block.
    per_block: Vec<u64>,
    /// Distinct point ids: the rows a complete run writes.
    n_distinct: u64,
    /// Estimated bytes of those rows (see [`estimated_row_bytes`]).
    bytes: u64,
}

impl Scan {
    fn of(spec: &Spec) -> Scan {
        let mut per_block = vec![0; spec.n_blocks()];
        let mut ids = HashSet::new();
        let mut bytes = 0;
        for point in spec.points(Shard::ALL) {
            if let Some(count) = per_block.get_mut(point.block as usize) {
                *count += 1;
            }
            if ids.insert(point.point_id) {
                bytes += estimated_row_bytes(&point);
            }
        }
        Scan { per_block, n_distinct: ids.len() as u64, bytes }
    }
}

/// Bytes of fixed-width and short string values every row has, besides its lists: 2 u64 ids,
/// 8 u32 (block, replicate, schema_version, depth, n_in, n_hidden, n_out, n_phases),
/// task_samples, 14 f64 (λ, λ_ft, scale, lr, dt, λ measured, 8 summaries including wall time),
/// and the strings (spec hash, version, commit, shard, task, task params, init, method, status)
/// at a typical length.
const FIXED_ROW_BYTES: u64 = 2 * 8 + 9 * 4 + 14 * 8 + 16 + 8 + 12 + 4 + 6 + 20 + 8 + 15 + 2;
/// Arrow keeps one 4-byte offset per list and per string.
const OFFSET_BYTES: u64 = 4;

/// Estimated uncompressed size of a point's row: its values as Arrow holds them in memory
/// (8 bytes per float, 4 per u32, strings at full length, one offset per list or string),
/// assuming it completes (a failed point stops its series early). This is roughly what the
/// loaded table takes in polars or pandas; the zstd-compressed Parquet files are smaller.
fn estimated_row_bytes(point: &Point) -> u64 {
    let n_phases = u64::from(point.task.n_phases());
    // Multi-phase protocols train on one task per phase and track the loss of each.
    let n_tasks = if n_phases > 1 { n_phases } else { 0 };
    let skipped = u64::from(point.times.first() == Some(&0.0));
    let n_times = point.times.len() as u64 + (n_phases - 1) * (point.times.len() as u64 - skipped);
    let n_in = point.n_in() as u64;
    let n_out = point.n_out() as u64;
    let mut bytes = FIXED_ROW_BYTES + 33 * OFFSET_BYTES + 4 * point.widths.len() as u64;
    // Per phase: 7 f64 lists and the losses on every task; per transition, two lists of n_tasks.
    bytes += n_phases * (7 * 8 + n_tasks.max(1) * 8 + OFFSET_BYTES);
    bytes += n_phases.saturating_sub(1) * 2 * (n_tasks * 8 + OFFSET_BYTES);
    if point.record.per_time {
        // t, loss, kernel_distance (f64) and phase (u32); losses on every task.
        bytes += (3 * 8 + 4) * n_times;
        if n_tasks > 0 {
            bytes += n_times * (8 * n_tasks + OFFSET_BYTES);
        }
        if point.record.singular_values {
            bytes += n_times * (8 * n_in.min(n_out) + OFFSET_BYTES);
        }
        if point.method.uses_closed_form() && point.method.simulation().is_some() {
            bytes += 8 * n_times;
        }
    }
    if point.depth() == 2 {
        let side = n_in + n_out;
        let n_matrices = n_phases * point.record.matrices_at.len() as u64;
        bytes += n_matrices * (8 + 8 * side * side + OFFSET_BYTES);
    }
    bytes
}

/// `bytes` with a binary unit: `812 B`, `10.4 MiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn write_plan(out: &mut String, origin: &str, spec: &Spec, scan: &Scan) {
    let n_filtered: u64 = scan.per_block.iter().sum();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "spec           {origin}");
    let _ = writeln!(out, "name           {}", spec.name());
    let _ = writeln!(out, "spec hash      {}", spec.hash_hex());
    let _ = writeln!(out, "blocks         {}", spec.n_blocks());
    let _ = writeln!(out, "raw points     {}", spec.n_raw());
    let _ = writeln!(out, "after filters  {n_filtered}");
    for (block, count) in scan.per_block.iter().enumerate() {
        let _ = writeln!(out, "  block[{block}]     {count}");
    }
    let repeats = n_filtered - scan.n_distinct;
    let _ = writeln!(
        out,
        "estimated rows {} (one per distinct point id; {repeats} points repeat an earlier id and \
         are computed once)",
        scan.n_distinct
    );
    let _ = writeln!(
        out,
        "estimated size {} uncompressed (values as Arrow holds them: 8 bytes per float, every \
         per-time list and QQᵀ checkpoint in full; the zstd Parquet files are smaller)",
        human_bytes(scan.bytes)
    );
}

fn write_shards(out: &mut String, spec: &Spec, n_shards: u32) {
    let _ = writeln!(out, "shards         {n_shards} (points after filters per shard)");
    for index in 0..n_shards {
        let shard = Shard { index, count: n_shards };
        let _ = writeln!(out, "  {:<12} {}", shard.to_string(), spec.count(shard));
    }
}

fn write_list(out: &mut String, spec: &Spec, n_list: u64) {
    let take = usize::try_from(n_list).unwrap_or(usize::MAX);
    let _ = writeln!(out, "first points   raw index, point id, canonical text");
    for point in spec.points(Shard::ALL).take(take) {
        let _ = writeln!(
            out,
            "  {:<10} {:016x} {}",
            point.raw_index,
            point.point_id,
            point.canonical()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10.0 MiB");
    }

    #[test]
    fn row_estimate_counts_the_lists() {
        let text = "name = \"t\"\nseed = 1\n[[block]]\ntask = { kind = \"random\", samples = 8 }\n\
                    init = \"balanced\"\nmethod = \"closed-form\"\ntime = [0.0, 1.0, 2.0, 3.0]\n\
                    lambda = 1.0\nscale = 0.5\nwidths = [3, 3, 2]\n\
                    record = { matrices_at = [1.0] }\n";
        let spec = Spec::parse(text, "t.toml").unwrap();
        let point = spec.point(0).unwrap();
        let per_phase = 7 * 8 + 8 + 4;
        let lists = (3 * 8 + 4) * 4 + 4 * (8 * 2 + 4) + (8 + 8 * 25 + 4) + per_phase;
        let fixed = FIXED_ROW_BYTES + 33 * OFFSET_BYTES + 4 * 3;
        assert_eq!(estimated_row_bytes(&point), fixed + lists);

        // Three phases of the 4-time grid (later phases skip t = 0): 10 times, 3 task losses
        // each, 3 per-phase entries, 2 transitions; QQᵀ at 1.0 in every phase.
        let continual = text.replace("kind = \"random\"", "kind = \"continual\", tasks = 3");
        let spec = Spec::parse(&continual, "t.toml").unwrap();
        let point = spec.point(0).unwrap();
        let per_phase = 7 * 8 + 3 * 8 + 4;
        let lists = (3 * 8 + 4) * 10
            + 10 * (8 * 3 + 4)
            + 10 * (8 * 2 + 4)
            + 3 * (8 + 8 * 25 + 4)
            + 3 * per_phase
            + 2 * 2 * (3 * 8 + 4);
        assert_eq!(estimated_row_bytes(&point), fixed + lists);
    }
}
