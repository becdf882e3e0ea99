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
    fn counts_must_be_positive() {
        assert_eq!(positive_usize("3"), Ok(3));
        assert!(positive_usize("0").is_err());
        assert!(positive_usize("-1").is_err());
    }
}
