//! `lazyrich merge DIR`: compacts the many small part files of a dataset into few large ones.
//!
//! The store does the work (`Dataset::merge`): per task partition, groups of files become files
//! of at most `--target-rows` rows, each checked against its sources (row count and ids) before
//! the sources are removed, behind a journal that makes a crash recoverable. Do not read the
//! dataset while it merges (rows of a group appear twice for a moment).

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::inputs::{open_dataset, positive_usize};

/// Default `--target-rows`.
pub const DEFAULT_TARGET_ROWS: usize = 100_000;

/// Compacts a dataset's part files into files of at most --target-rows rows.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The dataset directory (the `--out` of `lazyrich run`).
    pub dir: PathBuf,
    /// Largest number of rows of a merged file (a larger file is left as it is).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TARGET_ROWS, value_parser = positive_usize)]
    pub target_rows: usize,
}

/// Runs `lazyrich merge`.
pub fn run(args: &MergeArgs) -> anyhow::Result<()> {
    let dataset = open_dataset(&args.dir)?;
    let report = dataset.merge(args.target_rows)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "merged {}: {} part files -> {}, {} rows",
        args.dir.display(),
        report.files_before,
        report.files_after,
        report.rows
    );
    crate::solve::write_stdout(&out)
}
