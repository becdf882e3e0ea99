//! `lazyrich status DIR`: what a dataset holds and what it still lacks.
//!
//! The expected points come from the spec the dataset was created with (`_lazyrich/spec.toml`);
//! the done ones from the `point_id`, `status` and `shard` columns of the published files (only
//! those columns are read). Reported overall and per shard, shards as the rows record them
//! (`"k/N"`); missing points per shard when every row agrees on N. A point counts once however
//! many rows it has (a row twice would be a bug, and is reported).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use lazyrich_sweep::{Shard, Spec};

use crate::inputs::open_dataset;

const STATUS_HELP: &str = "\
done: points with a row; failed: those of them whose status is not ok (singular, diverged, ...:
results, not errors; re-running does not retry them); missing: points a re-run of the same
command would compute. Per shard as the rows record it (k/N); missing per shard when every row
agrees on N.

--verify reads every part file in full and checks it against the content checksum in its
footer: a damaged file is moved to DIR/_lazyrich/quarantine/ (with a note of why), so that no
reader sees it and the next run recomputes its points. Without --verify only the columns the
report needs are read (and a file of another spec is still found, from the footers).

Exit codes: 0 nothing wrong found, 1 a damaged file (quarantined by --verify) or a file of
another spec (move it out of DIR/points), 2 DIR is not a dataset.";

/// Reports done, missing and failed points of a dataset, overall and per shard.
#[derive(Debug, clap::Args)]
#[command(after_long_help = STATUS_HELP)]
pub struct StatusArgs {
    /// The dataset directory (the `--out` of `lazyrich run`).
    pub dir: PathBuf,
    /// Read every part file in full and verify it against its checksum; quarantine damaged
    /// files.
    #[arg(long)]
    pub verify: bool,
}

/// Runs `lazyrich status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let dataset = open_dataset(&args.dir)?;
    let spec_path = args.dir.join("_lazyrich").join("spec.toml");
    let spec = Spec::from_path(&spec_path)
        .with_context(|| format!("failed to read the spec of {}", args.dir.display()))?;
    let mut out = String::new();
    let _ = writeln!(out, "dataset    {}", args.dir.display());
    let manifest = dataset.manifest();
    let _ = writeln!(out, "spec       {} (hash {})", manifest.spec_name, manifest.spec_hash);
    if spec.hash_hex() != manifest.spec_hash {
        let _ = writeln!(
            out,
            "warning    the stored spec now hashes to {} (another lazyrich version?): the \
             expected points below may be wrong",
            spec.hash_hex()
        );
    }
    let mut problems = Vec::new();
    let foreign = if args.verify {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let verification = dataset.verify(threads)?;
        let _ = writeln!(
            out,
            "verified   {} part files, {} rows: content checksums match",
            verification.files, verification.rows
        );
        for file in &verification.quarantined {
            let _ = writeln!(
                out,
                "damaged    {}: {}; moved to {}",
                file.file.display(),
                file.reason,
                file.moved_to.display()
            );
        }
        if !verification.quarantined.is_empty() {
            problems.push(format!(
                "{} moved to the quarantine (the next run recomputes their points)",
                count(verification.quarantined.len(), "damaged part file")
            ));
        }
        verification.foreign
    } else {
        dataset.foreign_files()?
    };
    for file in &foreign {
        let _ = writeln!(
            out,
            "foreign    {}: results of spec hash {}, not of this dataset's spec",
            file.path.display(),
            file.spec_hash
        );
    }
    if !foreign.is_empty() {
        problems.push(format!(
            "{} of another spec: move them out of {} (runs and merges refuse this dataset until \
             then)",
            count(foreign.len(), "part file"),
            args.dir.join("points").display()
        ));
    }
    let layouts = dataset.layouts()?;
    let mut layout_text = format!("{} (recorded)", layouts.recorded.join(", "));
    if layouts.recorded.is_empty() {
        layout_text = "none recorded".to_owned();
    }
    if !layouts.running.is_empty() {
        let _ = write!(layout_text, "; running now: {}", layouts.running.join(", "));
    }
    let _ = writeln!(out, "layouts    {layout_text}");
    let quarantined = dataset.quarantined_files()?;
    if !quarantined.is_empty() {
        let _ = writeln!(
            out,
            "quarantine {} in {} (each with a note <file>.json saying why)",
            count(quarantined.len(), "file"),
            args.dir.join("_lazyrich").join("quarantine").display()
        );
    }
    let foreign_paths: HashSet<&PathBuf> = foreign.iter().map(|f| &f.path).collect();
    let files: Vec<PathBuf> =
        dataset.part_files()?.into_iter().filter(|p| !foreign_paths.contains(p)).collect();
    let rows = dataset.status_rows_of(&files)?;
    let report = Report::build(&spec, &rows);
    let _ = writeln!(out, "files      {} part files, {} rows", files.len(), rows.len());
    report.write(&mut out);
    crate::solve::write_stdout(&out)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}: {}", args.dir.display(), problems.join("; ")))
    }
}

/// `1 THING`, `N THINGs`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// Done / missing / failed counts of a set of points.
#[derive(Debug, Default, PartialEq)]
struct Counts {
    done: u64,
    missing: Option<u64>,
    /// Done points whose status is not `ok`, by status.
    failed: BTreeMap<String, u64>,
}

impl Counts {
    fn failed_text(&self) -> String {
        let n_failed: u64 = self.failed.values().sum();
        if n_failed == 0 {
            return "0".to_owned();
        }
        let parts: Vec<String> = self.failed.iter().map(|(s, n)| format!("{s} {n}")).collect();
        format!("{n_failed} ({})", parts.join(", "))
    }
}

/// The status of a dataset against its spec.
#[derive(Debug, PartialEq)]
struct Report {
    /// Distinct point ids of the spec.
    expected: u64,
    overall: Counts,
    /// Per shard text as recorded; with `missing` when every row agrees on N.
    shards: Vec<(String, Counts)>,
    /// Rows beyond the first of their point id.
    duplicate_rows: u64,
    /// Distinct ids in the dataset that the spec does not have.
    unexpected: u64,
}

impl Report {
    fn build(spec: &Spec, rows: &[(u64, String, String)]) -> Report {
        let expected: HashSet<u64> = spec.points(Shard::ALL).map(|p| p.point_id).collect();
        // First row of each id: its status and shard.
        let mut present: HashMap<u64, (&str, &str)> = HashMap::with_capacity(rows.len());
        for (id, status, shard) in rows {
            present.entry(*id).or_insert((status.as_str(), shard.as_str()));
        }
        let duplicate_rows = (rows.len() - present.len()) as u64;
        let unexpected = present.keys().filter(|id| !expected.contains(id)).count() as u64;

        let mut overall = Counts::default();
        let mut per_shard: BTreeMap<&str, Counts> = BTreeMap::new();
        for &(status, shard) in present.values() {
            let counts = per_shard.entry(shard).or_default();
            for counts in [&mut overall, counts] {
                counts.done += 1;
                if status != "ok" {
                    *counts.failed.entry(status.to_owned()).or_insert(0) += 1;
                }
            }
        }
        overall.missing =
            Some(expected.iter().filter(|id| !present.contains_key(id)).count() as u64);

        let mut shards: Vec<(String, Counts)> =
            per_shard.into_iter().map(|(shard, counts)| (shard.to_owned(), counts)).collect();
        if let Some(count) = common_shard_count(&shards) {
            for index in 0..count {
                let shard = Shard { index, count };
                let text = shard.to_string();
                let mut ids = HashSet::new();
                let missing = spec
                    .points(shard)
                    .filter(|p| ids.insert(p.point_id) && !present.contains_key(&p.point_id))
                    .count() as u64;
                match shards.iter_mut().find(|(name, _)| *name == text) {
                    Some((_, counts)) => counts.missing = Some(missing),
                    None => {
                        shards.push((text, Counts { missing: Some(missing), ..Counts::default() }))
                    }
                }
            }
            shards.sort_by_key(|(text, _)| text.parse::<Shard>().map_or(u32::MAX, |s| s.index));
        }
        Report { expected: expected.len() as u64, overall, shards, duplicate_rows, unexpected }
    }

    fn write(&self, out: &mut String) {
        let missing = self.overall.missing.unwrap_or(0);
        let _ = writeln!(out, "expected   {} points", self.expected);
        let _ = writeln!(out, "done       {}", self.overall.done);
        let _ = writeln!(out, "missing    {missing}");
        let _ = writeln!(out, "failed     {}", self.overall.failed_text());
        if self.duplicate_rows > 0 {
            let _ = writeln!(
                out,
                "warning    {} rows repeat a point id already present",
                self.duplicate_rows
            );
        }
        if self.unexpected > 0 {
            let _ = writeln!(
                out,
                "warning    {} point ids are not points of the spec",
                self.unexpected
            );
        }
        if self.shards.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n{:<12} {:>10} {:>10}  failed", "shard", "done", "missing");
        for (shard, counts) in &self.shards {
            let missing = counts.missing.map_or_else(|| "?".to_owned(), |m| m.to_string());
            let _ = writeln!(
                out,
                "{shard:<12} {:>10} {missing:>10}  {}",
                counts.done,
                counts.failed_text()
            );
        }
    }
}

/// N, if every shard text is a valid `k/N` with the same N.
fn common_shard_count(shards: &[(String, Counts)]) -> Option<u32> {
    let mut counts = shards.iter().map(|(text, _)| text.parse::<Shard>().ok().map(|s| s.count));
    let first = counts.next()??;
    counts.all(|count| count == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "name = \"t\"\nseed = 3\n[[block]]\ntask = { kind = \"random\", samples = 8 }\n\
                        init = \"balanced\"\nmethod = \"closed-form\"\ntime = [0.0, 1.0]\n\
                        lambda = [-1.0, 0.0, 1.0]\nscale = 0.5\nwidths = [2, 2, 2]\nreplicates = 2\n";

    fn rows(spec: &Spec, shard_count: u32, keep: &[u64]) -> Vec<(u64, String, String)> {
        spec.points(Shard::ALL)
            .filter(|p| keep.contains(&p.raw_index))
            .map(|p| {
                let shard = Shard {
                    index: (p.point_id % u64::from(shard_count)) as u32,
                    count: shard_count,
                };
                let status = if p.raw_index == 1 { "singular" } else { "ok" };
                (p.point_id, status.to_owned(), shard.to_string())
            })
            .collect()
    }

    #[test]
    fn counts_overall_and_per_shard() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let rows = rows(&spec, 2, &[0, 1, 2]);
        let report = Report::build(&spec, &rows);
        assert_eq!(report.expected, 6);
        assert_eq!(report.overall.done, 3);
        assert_eq!(report.overall.missing, Some(3));
        assert_eq!(report.overall.failed_text(), "1 (singular 1)");
        let shards: Vec<(String, u64, Option<u64>)> =
            report.shards.iter().map(|(s, c)| (s.clone(), c.done, c.missing)).collect();
        assert_eq!(shards, expected_shards(&spec, 2, &[0, 1, 2]));
        assert_eq!((report.duplicate_rows, report.unexpected), (0, 0));
    }

    #[test]
    fn shards_that_disagree_on_n_have_no_missing_count() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let mut rows = rows(&spec, 2, &[0, 1]);
        rows.extend(self::rows(&spec, 3, &[4]));
        rows.push(rows[0].clone());
        let report = Report::build(&spec, &rows);
        assert!(report.shards.iter().all(|(_, c)| c.missing.is_none()), "{report:?}");
        assert_eq!(report.overall.missing, Some(3));
        assert_eq!(report.duplicate_rows, 1);
        let mut out = String::new();
        report.write(&mut out);
        assert!(out.contains("warning    1 rows repeat a point id"), "{out}");
    }

    #[test]
    fn a_shard_without_rows_is_listed_with_its_missing_points() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let rows = rows(&spec, 3, &[0, 3]);
        let report = Report::build(&spec, &rows);
        let shards: Vec<(String, u64, Option<u64>)> =
            report.shards.iter().map(|(s, c)| (s.clone(), c.done, c.missing)).collect();
        assert_eq!(shards, expected_shards(&spec, 3, &[0, 3]));
        assert_eq!(shards.len(), 3, "every shard is listed, with or without rows");
    }

    /// (shard, done, missing) of every shard when the points at raw indices `keep` are done.
    fn expected_shards(spec: &Spec, n: u32, keep: &[u64]) -> Vec<(String, u64, Option<u64>)> {
        (0..n)
            .map(|k| {
                let shard = Shard { index: k, count: n };
                let done =
                    spec.points(shard).filter(|p| keep.contains(&p.raw_index)).count() as u64;
                (shard.to_string(), done, Some(spec.count(shard) - done))
            })
            .collect()
    }
}
