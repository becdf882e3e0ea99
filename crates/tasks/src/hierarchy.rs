//! The semantic hierarchy (docs/math.md §5.1; Saxe et al. 2019, Braun et al. 2022).
//!
//! Items are the leaves of a complete binary tree with `levels` levels below the root, so there
//! are `n = 2^levels` items with one-hot inputs. There are `n` features: feature 0 is shared by
//! every item ("living thing"); every internal node of the tree has one feature that is `+1` on
//! the items of its left subtree and `−1` on those of its right subtree, in breadth-first order
//! (animal/plant, bird/fish, flower/tree, then one feature per pair of sibling items). For
//! `levels = 3` this is exactly the 8 × 8 table of docs/math.md §5.1.

use nalgebra::DMatrix;

use crate::{Task, TaskError};

/// Largest supported `levels` (1024 items).
pub const MAX_LEVELS: u32 = 10;

/// The target table, items × features (`2^levels × 2^levels`), as printed in docs/math.md §5.1.
///
/// With `split`, feature column `j` (1-based) is multiplied by `1 + 0.1/j` (the reference
/// code's `correct=True`), which splits the degenerate singular values of the tree.
pub fn hierarchy_targets(levels: u32, split: bool) -> Result<DMatrix<f64>, TaskError> {
    if !(1..=MAX_LEVELS).contains(&levels) {
        return Err(TaskError::Invalid(format!(
            "hierarchy levels must be in 1..={MAX_LEVELS}, got {levels}"
        )));
    }
    let n = 1usize << levels;
    let mut table = DMatrix::zeros(n, n);
    table.column_mut(0).fill(1.0);
    for level in 0..levels {
        let nodes = 1usize << level;
        let span = n >> level;
        for node in 0..nodes {
            let column = nodes + node;
            let first = node * span;
            for item in first..first + span {
                table[(item, column)] = if item < first + span / 2 { 1.0 } else { -1.0 };
            }
        }
    }
    if split {
        for j in 0..n {
            let factor = 1.0 + 0.1 / (j + 1) as f64;
            table.column_mut(j).scale_mut(factor);
        }
    }
    Ok(table)
}

/// The hierarchy as a whitened task: `X = √n I` (items as one-hot inputs, `P = n` samples, so
/// `XXᵀ/P = I` exactly, P12) and `Y = tableᵀ/√n` (features × items), hence `Σyx = tableᵀ/n`
/// (`n × n`: outputs are features, inputs are items).
///
/// The later reference scripts pass the printed table itself as `Y`, i.e. use `Σyx = table/n`;
/// that is the transpose, with the same singular values. We keep the semantic orientation so
/// that `W1ᵀW1` is the item (input) representation and `W2W2ᵀ` the feature one.
pub fn hierarchy(levels: u32, split: bool) -> Result<Task, TaskError> {
    let table = hierarchy_targets(levels, split)?;
    let n = table.nrows();
    let root = (n as f64).sqrt();
    let inputs = DMatrix::identity(n, n) * root;
    let targets = table.transpose() / root;
    Ok(Task::from_data(inputs, targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_items_match_the_printed_table() {
        let expected = DMatrix::from_row_slice(
            8,
            8,
            &[
                1., 1., 1., 0., 1., 0., 0., 0., //
                1., 1., 1., 0., -1., 0., 0., 0., //
                1., 1., -1., 0., 0., 1., 0., 0., //
                1., 1., -1., 0., 0., -1., 0., 0., //
                1., -1., 0., 1., 0., 0., 1., 0., //
                1., -1., 0., 1., 0., 0., -1., 0., //
                1., -1., 0., -1., 0., 0., 0., 1., //
                1., -1., 0., -1., 0., 0., 0., -1.,
            ],
        );
        assert_eq!(hierarchy_targets(3, false).unwrap(), expected);
        let task = hierarchy(3, false).unwrap();
        assert!((&task.problem.sigma_yx - expected.transpose() / 8.0).amax() < 1e-15);
        let cov = &task.inputs * task.inputs.transpose() / 8.0;
        assert!((cov - DMatrix::identity(8, 8)).amax() < 1e-15);
    }

    #[test]
    fn split_scales_columns() {
        let plain = hierarchy_targets(2, false).unwrap();
        let split = hierarchy_targets(2, true).unwrap();
        for j in 0..4 {
            let factor = 1.0 + 0.1 / (j + 1) as f64;
            assert!((split.column(j) - plain.column(j) * factor).amax() < 1e-15);
        }
    }

    #[test]
    fn levels_out_of_range_are_errors() {
        assert!(hierarchy_targets(0, false).is_err());
        assert!(hierarchy_targets(MAX_LEVELS + 1, true).is_err());
    }
}
