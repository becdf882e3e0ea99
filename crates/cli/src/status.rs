//! `lazyrich status DIR`: what a dataset holds and what it still lacks.
//!
//! The expected points come from the spec the dataset was created with (`_lazyrich/spec.toml`);
//! the done ones from the `point_id`, `status` and `shard` columns of the published files (only
//! those columns are read). Reported overall and per shard: per shard `k/N` of `--shards N`, or
//! of the N every row agrees on (with missing counts), else as the rows record them. One pass
//! over the spec, whatever N. A point counts once however many rows it has (a row twice would
//! be a bug, and is reported). A shard is running when its writer holds its lock.
//!
//! `--json` prints the same as one JSON object with stable keys, `--missing-shards` the Slurm
//! array expression of the shards to resubmit.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use lazyrich_sweep::Spec;
use serde::Serialize;

use crate::error::BadInput;
use crate::inputs::open_dataset;

mod report;

pub use report::{Report, array_expression};

const STATUS_HELP: &str = "\
done: points with a row; failed: those of them whose status is not ok (singular, diverged, ...:
results, not errors; re-running does not retry them); missing: points a re-run of the same
command would compute. Per shard k/N of --shards N, else of the N every row agrees on (with
missing counts), else as the rows record them; running: the shard's writer holds its lock now.

--json prints one JSON object: dataset, spec_name, spec_hash, expected, done, failed, missing,
failed_by_status, duplicate_rows, unexpected, files, rows, recorded_layouts, running_layouts,
shard_count (N or null), shards (each: shard \"k/N\", index, count, done, missing, failed,
running), missing_shards (the --missing-shards expression) and problems. Keys are only ever
added.

--missing-shards prints only the shards that lack points and are not running, as a Slurm array
expression (1,7-9; an empty line when there are none): `sbatch --array=$(lazyrich status DIR
--missing-shards) ...` resubmits them (lazyrich submit slurm --resubmit-missing does that).

--verify reads every part file in full and checks it against the content checksum in its
footer: a damaged file is moved to DIR/_lazyrich/quarantine/ (with a note of why), so that no
reader sees it and the next run recomputes its points. Without --verify only the columns the
report needs are read (and a file of another spec is still found, from the footers).

Exit codes: 0 nothing wrong found, 1 a damaged file (quarantined by --verify) or a file of
another spec (move it out of DIR/points), 2 DIR is not a dataset, or --missing-shards without
a shard count.";

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
    /// Count per shard k/N of N shards [default: the N every row agrees on].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SHARDS)))]
    pub shards: Option<u32>,
    /// Print the report as one JSON object (stable keys; see --help).
    #[arg(long, conflicts_with = "missing_shards")]
    pub json: bool,
    /// Print only the shards that lack points and are not running, as a Slurm array
    /// expression (`1,7-9`).
    #[arg(long)]
    pub missing_shards: bool,
}

/// The longest array expression the text report prints in full.
const MAX_EXPRESSION_TEXT: usize = 200;

/// The most shards `--shards` accepts.
pub const MAX_SHARDS: u32 = 100_000;

/// What `lazyrich status` found.
#[derive(Debug)]
pub struct Status {
    /// The dataset directory.
    pub dir: PathBuf,
    /// Its spec's name and hash (from the manifest).
    pub spec_name: String,
    /// Its spec hash.
    pub spec_hash: String,
    /// The stored spec hashes to something else now (another lazyrich version?).
    pub rehashed: Option<String>,
    /// The counts.
    pub report: Report,
    /// Part files counted, and their rows.
    pub files: usize,
    /// Rows of those files.
    pub rows: u64,
    /// Layouts recorded in the manifest and running now (`"k/N"`).
    pub recorded_layouts: Vec<String>,
    /// Layouts whose writer holds its lock now.
    pub running_layouts: Vec<String>,
    /// Lines about files (verified, damaged, foreign, quarantined), in the text report.
    pub notes: Vec<String>,
    /// What is wrong with the dataset (a non-empty list fails the command).
    pub problems: Vec<String>,
}

impl Status {
    /// Whether shard `text` (`"k/N"`) is running now.
    pub fn is_running(&self, text: &str) -> bool {
        self.running_layouts.iter().any(|l| l == text)
    }

    /// The shards of [`Report::shard_count`] that lack points and are not running.
    pub fn shards_to_resubmit(&self) -> Vec<u32> {
        self.report
            .incomplete()
            .filter(|shard| !self.is_running(&shard.to_string()))
            .map(|shard| shard.index)
            .collect()
    }
}

/// Runs `lazyrich status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let status = collect(&args.dir, args.shards, args.verify)?;
    let out = if args.missing_shards {
        if status.report.shard_count.is_none() {
            return Err(BadInput::new(format!(
                "--missing-shards needs a shard count, and the rows of {} do not agree on one: \
                 give it with --shards N",
                args.dir.display()
            ))
            .into());
        }
        format!("{}\n", array_expression(status.shards_to_resubmit()))
    } else if args.json {
        let mut json = serde_json::to_string_pretty(&JsonStatus::of(&status))
            .context("failed to serialize the status")?;
        json.push('\n');
        json
    } else {
        text(&status)
    };
    crate::solve::write_stdout(&out)?;
    if status.problems.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{}: {}", args.dir.display(), status.problems.join("; ")))
    }
}

/// Reads the dataset at `dir` and counts its points against its spec, per shard of
/// `shard_count` (default: the N its rows agree on); `verify` checks every part file in full
/// (and quarantines damaged ones) first.
pub fn collect(dir: &Path, shard_count: Option<u32>, verify: bool) -> anyhow::Result<Status> {
    let dataset = open_dataset(dir)?;
    let spec_path = dir.join("_lazyrich").join("spec.toml");
    let spec = Spec::from_path(&spec_path)
        .with_context(|| format!("failed to read the spec of {}", dir.display()))?;
    let manifest = dataset.manifest();
    let rehashed = (spec.hash_hex() != manifest.spec_hash).then(|| spec.hash_hex());
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    let foreign = if verify {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let verification = dataset.verify(threads)?;
        notes.push(format!(
            "verified   {} part files, {} rows: content checksums match",
            verification.files, verification.rows
        ));
        for file in &verification.quarantined {
            notes.push(format!(
                "damaged    {}: {}; moved to {}",
                file.file.display(),
                file.reason,
                file.moved_to.display()
            ));
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
        notes.push(format!(
            "foreign    {}: results of spec hash {}, not of this dataset's spec",
            file.path.display(),
            file.spec_hash
        ));
    }
    if !foreign.is_empty() {
        problems.push(format!(
            "{} of another spec: move them out of {} (runs and merges refuse this dataset until \
             then)",
            count(foreign.len(), "part file"),
            dir.join("points").display()
        ));
    }
    let layouts = dataset.layouts()?;
    let quarantined = dataset.quarantined_files()?;
    if !quarantined.is_empty() {
        notes.push(format!(
            "quarantine {} in {} (each with a note <file>.json saying why)",
            count(quarantined.len(), "file"),
            dir.join("_lazyrich").join("quarantine").display()
        ));
    }
    let foreign_paths: HashSet<&PathBuf> = foreign.iter().map(|f| &f.path).collect();
    let files: Vec<PathBuf> =
        dataset.part_files()?.into_iter().filter(|p| !foreign_paths.contains(p)).collect();
    let rows = dataset.status_rows_of(&files)?;
    // Without rows to agree on N, the layouts recorded (claimed by shards that started) may.
    let shard_count = shard_count.or_else(|| {
        let mut counts = layouts
            .recorded
            .iter()
            .map(|l| l.parse::<lazyrich_sweep::Shard>().ok().map(|s| s.count));
        let first = counts.next()??;
        (rows.is_empty() && counts.all(|c| c == Some(first))).then_some(first)
    });
    let report = Report::build(&spec, &rows, shard_count);
    Ok(Status {
        dir: dir.to_owned(),
        spec_name: manifest.spec_name.clone(),
        spec_hash: manifest.spec_hash.clone(),
        rehashed,
        report,
        files: files.len(),
        rows: rows.len() as u64,
        recorded_layouts: layouts.recorded,
        running_layouts: layouts.running,
        notes,
        problems,
    })
}

/// The human-readable report.
fn text(status: &Status) -> String {
    let mut out = String::new();
    let report = &status.report;
    let _ = writeln!(out, "dataset    {}", status.dir.display());
    let _ = writeln!(out, "spec       {} (hash {})", status.spec_name, status.spec_hash);
    if let Some(hash) = &status.rehashed {
        let _ = writeln!(
            out,
            "warning    the stored spec now hashes to {hash} (another lazyrich version?): the \
             expected points below may be wrong"
        );
    }
    for note in &status.notes {
        let _ = writeln!(out, "{note}");
    }
    let mut layout_text = format!("{} (recorded)", status.recorded_layouts.join(", "));
    if status.recorded_layouts.is_empty() {
        layout_text = "none recorded".to_owned();
    }
    if !status.running_layouts.is_empty() {
        let _ = write!(layout_text, "; running now: {}", status.running_layouts.join(", "));
    }
    let _ = writeln!(out, "layouts    {layout_text}");
    let _ = writeln!(out, "files      {} part files, {} rows", status.files, status.rows);
    let _ = writeln!(out, "expected   {} points", report.expected);
    let _ = writeln!(out, "done       {}", report.overall.done);
    let _ = writeln!(out, "missing    {}", report.overall.missing.unwrap_or(0));
    let _ = writeln!(out, "failed     {}", report.overall.failed_text());
    if report.duplicate_rows > 0 {
        let _ = writeln!(
            out,
            "warning    {} rows repeat a point id already present",
            report.duplicate_rows
        );
    }
    if report.unexpected > 0 {
        let _ =
            writeln!(out, "warning    {} point ids are not points of the spec", report.unexpected);
    }
    if report.shards.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n{:<12} {:>10} {:>10}  failed", "shard", "done", "missing");
    for shard in &report.shards {
        let counts = &shard.counts;
        let missing = counts.missing.map_or_else(|| "?".to_owned(), |m| m.to_string());
        let running = if status.is_running(&shard.text) { "  (running)" } else { "" };
        let _ = writeln!(
            out,
            "{:<12} {:>10} {missing:>10}  {}{running}",
            shard.text,
            counts.done,
            counts.failed_text()
        );
    }
    if report.shard_count.is_some() {
        let resubmit = status.shards_to_resubmit();
        if !resubmit.is_empty() {
            let n = resubmit.len();
            let mut expression = array_expression(resubmit);
            if expression.len() > MAX_EXPRESSION_TEXT {
                expression = "(a long list: --missing-shards prints it)".to_owned();
            }
            let _ = writeln!(out, "\nincomplete {} (not running): {expression}", count(n, "shard"));
        }
    }
    out
}

/// `lazyrich status --json`: every key stays; new ones may be added.
#[derive(Serialize)]
struct JsonStatus<'a> {
    dataset: String,
    spec_name: &'a str,
    spec_hash: &'a str,
    expected: u64,
    done: u64,
    failed: u64,
    missing: u64,
    failed_by_status: &'a BTreeMap<String, u64>,
    duplicate_rows: u64,
    unexpected: u64,
    files: usize,
    rows: u64,
    recorded_layouts: &'a [String],
    running_layouts: &'a [String],
    shard_count: Option<u32>,
    shards: Vec<JsonShard<'a>>,
    missing_shards: Option<String>,
    problems: &'a [String],
}

#[derive(Serialize)]
struct JsonShard<'a> {
    shard: &'a str,
    index: Option<u32>,
    count: Option<u32>,
    done: u64,
    missing: Option<u64>,
    failed: u64,
    running: bool,
}

impl<'a> JsonStatus<'a> {
    fn of(status: &'a Status) -> JsonStatus<'a> {
        let report = &status.report;
        JsonStatus {
            dataset: status.dir.display().to_string(),
            spec_name: &status.spec_name,
            spec_hash: &status.spec_hash,
            expected: report.expected,
            done: report.overall.done,
            failed: report.overall.n_failed(),
            missing: report.overall.missing.unwrap_or(0),
            failed_by_status: &report.overall.failed,
            duplicate_rows: report.duplicate_rows,
            unexpected: report.unexpected,
            files: status.files,
            rows: status.rows,
            recorded_layouts: &status.recorded_layouts,
            running_layouts: &status.running_layouts,
            shard_count: report.shard_count,
            shards: report
                .shards
                .iter()
                .map(|s| JsonShard {
                    shard: &s.text,
                    index: s.shard.map(|s| s.index),
                    count: s.shard.map(|s| s.count),
                    done: s.counts.done,
                    missing: s.counts.missing,
                    failed: s.counts.n_failed(),
                    running: status.is_running(&s.text),
                })
                .collect(),
            missing_shards: report
                .shard_count
                .map(|_| array_expression(status.shards_to_resubmit())),
            problems: &status.problems,
        }
    }
}

/// `1 THING`, `N THINGs`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}
