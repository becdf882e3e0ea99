//! Admissibility of a spec's widths × λ combinations (docs/math.md §2.1), checked with the solver.

use lazyrich_solver::init::diagonal_entries;
use lazyrich_sweep::{Spec, located_message};

use crate::error::RunnerError;

/// Checks that every (widths, λ) pair of every block admits a λ-balanced initialization. The
/// error names the spec file, the location of the block's `widths` and the reason.
pub fn validate(spec: &Spec) -> Result<(), RunnerError> {
    for block in 0..spec.n_blocks() {
        for (widths, lambda, init) in spec.block_width_lambda_pairs(block) {
            let Some(lambda) = lambda else { continue };
            let m = widths[0].min(widths[widths.len() - 1]);
            if let Err(err) = diagonal_entries(&widths, lambda, &vec![1.0; m]) {
                // An inherited value is reported where it is written; say which block.
                let own = format!("block[{block}].widths");
                let field = spec.widths_path(block).filter(|p| !p.is_empty()).unwrap_or(&own);
                let mut reason = format!("{err} (init = {})", init.as_str());
                if field != own {
                    reason.push_str(&format!(" (in block[{block}])"));
                }
                return Err(RunnerError::Inadmissible(located_message(
                    spec.origin(),
                    spec.location(block, "widths"),
                    field,
                    &reason,
                )));
            }
        }
    }
    Ok(())
}
