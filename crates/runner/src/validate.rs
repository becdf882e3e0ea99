//! Admissibility of a spec's widths × λ combinations (docs/math.md §2.1), checked with the solver.

use lazyrich_solver::InitError;
use lazyrich_solver::init::{diagonal_entries, diagonal_entries_layers};
use lazyrich_sweep::{InitKind, Spec, located_message};

use crate::error::RunnerError;

/// Checks that every (widths, λ) pair of every block, and every (widths, per-layer λ) pair of
/// its `lambdas` profiles, admits a λ-balanced initialization. The error names the spec file,
/// the location of the block's `widths` and the reason.
pub fn validate(spec: &Spec) -> Result<(), RunnerError> {
    for block in 0..spec.n_blocks() {
        let ones = |widths: &[usize]| vec![1.0; widths[0].min(widths[widths.len() - 1])];
        for (widths, lambda, init) in spec.block_width_lambda_pairs(block) {
            let Some(lambda) = lambda else { continue };
            if let Err(err) = diagonal_entries(&widths, lambda, &ones(&widths)) {
                return Err(inadmissible(spec, block, &err, init));
            }
        }
        for (widths, lambdas, init) in spec.block_width_profile_pairs(block) {
            if let Err(err) = diagonal_entries_layers(&widths, &lambdas, &ones(&widths)) {
                // The solver's reason names the profile.
                return Err(inadmissible(spec, block, &err, init));
            }
        }
    }
    Ok(())
}

/// The located error of an inadmissible combination of `block`.
fn inadmissible(spec: &Spec, block: usize, err: &InitError, init: InitKind) -> RunnerError {
    // An inherited value is reported where it is written; say which block.
    let own = format!("block[{block}].widths");
    let field = spec.widths_path(block).filter(|p| !p.is_empty()).unwrap_or(&own);
    let mut reason = format!("{err} (init = {})", init.as_str());
    if field != own {
        reason.push_str(&format!(" (in block[{block}])"));
    }
    RunnerError::Inadmissible(located_message(
        spec.origin(),
        spec.location(block, "widths"),
        field,
        &reason,
    ))
}
