//! `lazyrich merge DIR`: compacts the many small part files of a dataset into few large ones.
//!
//! The store does the work (`Dataset::merge`): every part file is verified first (a damaged one
//! is quarantined and nothing is merged; a file of another spec, or two differing rows of one
//! point, refuse the merge), exact duplicate rows are dropped, then per task partition groups of
//! files become files of at most `--target-rows` rows, each checked against its sources before
//! the sources are removed, behind a journal that makes a crash recoverable. Do not read the
//! dataset while it merges (rows of a group appear twice for a moment).

use std::fmt::Write as _;
use std::path::PathBuf;

use lazyrich_store::StoreError;

use crate::error::BadInput;
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
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let report = dataset.merge(args.target_rows, threads).map_err(|err| match err {
        // The user must act (move a file out): bad input, like a foreign --out directory.
        StoreError::ForeignFile { .. } | StoreError::ConflictingDuplicates { .. } => {
            anyhow::Error::new(BadInput::new(err.to_string()))
        }
        other => anyhow::Error::new(other),
    })?;
    let mut out = String::new();
    let _ = write!(
        out,
        "merged {}: {} part files -> {}, {} rows",
        args.dir.display(),
        report.files_before,
        report.files_after,
        report.rows
    );
    if report.duplicates_dropped > 0 {
        let _ = write!(
            out,
            "; dropped {} duplicate rows (bitwise-equal copies of rows kept, apart from \
             wall_time_s and shard)",
            report.duplicates_dropped
        );
    }
    out.push('\n');
    crate::solve::write_stdout(&out)
}
