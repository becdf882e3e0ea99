//! The user's inputs to the sweep commands: spec files, dataset directories, counts.
//!
//! Every problem found here is the user's (exit code 2). A spec error is the sweep crate's one
//! line, `FILE:LINE:COL: field `…`: reason`; nothing is written before a spec passes.

use std::path::Path;

use lazyrich_store::{Dataset, StoreError};
use lazyrich_sweep::Spec;

use crate::error::BadInput;

/// Reads the spec at `path` and runs every check that precedes work: the sweep crate's (syntax,
/// fields, grids, method requirements) and the runner's (widths × λ admissibility, docs/math.md §2.1).
pub fn load_spec(path: &Path) -> anyhow::Result<Spec> {
    let spec = Spec::from_path(path).map_err(|err| BadInput::new(err.to_string()))?;
    lazyrich_runner::validate(&spec).map_err(|err| BadInput::new(err.to_string()))?;
    Ok(spec)
}

/// Opens an existing dataset for reading or merging; a directory that is not a dataset (or is
/// one of another schema version) is bad input.
pub fn open_dataset(dir: &Path) -> anyhow::Result<Dataset> {
    Dataset::open(dir).map_err(|err| match err {
        StoreError::NotADataset { .. }
        | StoreError::ManifestMissing { .. }
        | StoreError::SchemaVersion { .. } => BadInput::new(err.to_string()).into(),
        other => anyhow::Error::new(other),
    })
}

/// Most worker threads per available core (`--threads`): more only adds contention (on 2 cores,
/// 512 threads take 4× as long as 2 on a small sweep, 2048 threads 150×).
pub const THREADS_PER_CORE: usize = 16;
/// Most worker threads whatever the machine.
pub const MAX_THREADS: usize = 1024;

/// The largest `--threads` on this machine: [`THREADS_PER_CORE`] × the available parallelism,
/// at most [`MAX_THREADS`].
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    cores.saturating_mul(THREADS_PER_CORE).min(MAX_THREADS)
}

/// Parses `--threads`: a count in `1..=max_threads()` (a clap value parser).
pub fn thread_count(text: &str) -> Result<usize, String> {
    let threads = positive_usize(text)?;
    let max = max_threads();
    if threads > max {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        return Err(format!(
            "must be at most {max} ({THREADS_PER_CORE} per available core, {cores} here, and at \
             most {MAX_THREADS}): more threads than that only contend for the cores"
        ));
    }
    Ok(threads)
}

/// Parses a count ≥ 1 (a clap value parser).
pub fn positive_usize(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(value) => Ok(value),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_bounded() {
        assert_eq!(thread_count("1"), Ok(1));
        assert_eq!(thread_count(&max_threads().to_string()), Ok(max_threads()));
        assert!(max_threads() <= MAX_THREADS && max_threads() >= THREADS_PER_CORE);
        let message = thread_count("10000").unwrap_err();
        assert!(message.starts_with(&format!("must be at most {}", max_threads())), "{message}");
        assert!(thread_count("0").is_err());
    }

    #[test]
    fn counts_must_be_positive() {
        assert_eq!(positive_usize("3"), Ok(3));
        assert!(positive_usize("0").is_err());
        assert!(positive_usize("-1").is_err());
    }
}
