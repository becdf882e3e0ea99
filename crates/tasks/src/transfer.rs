//! Second tasks for transfer and fine-tuning: related to a first task in a controlled way.

use lazyrich_solver::Problem;
use lazyrich_solver::linalg::{FullSvd, orthogonal_complement, random_orthogonal};
use nalgebra::DMatrix;
use rand::Rng;

use crate::hierarchy::hierarchy_targets;
use crate::{Task, TaskError};

/// A random task related to `first`: the same singular values, the same first `shared` singular-
/// vector pairs (in descending order of singular value), and fresh Haar-random directions
/// orthogonal to those for the other `min(Ni, No) − shared` pairs. `shared = min(Ni, No)` gives
/// the first task back; `shared = 0` a task that only shares the spectrum.
///
/// The residual `tr Σyy − ‖Σyx‖²_F` is kept, so both tasks have the same optimal loss.
pub fn related_random<R: Rng + ?Sized>(
    first: &Problem,
    shared: usize,
    rng: &mut R,
) -> Result<Problem, TaskError> {
    let (n_out, n_in) = first.sigma_yx.shape();
    let m = n_in.min(n_out);
    if shared > m {
        return Err(TaskError::Invalid(format!(
            "shared = {shared} singular-vector pairs, but the task has only min(Ni, No) = {m}"
        )));
    }
    let svd = FullSvd::new(&first.sigma_yx, "the first task Σyx")?;
    let u = fresh_directions(&svd.u_m, shared, m, rng)?;
    let v = fresh_directions(&svd.v_m, shared, m, rng)?;
    let sigma_yx = &u * DMatrix::from_diagonal(&svd.s) * v.transpose();
    Ok(Problem { sigma_yx, sigma_xx: None, trace_sigma_yy: first.trace_sigma_yy, tau: first.tau })
}

/// `m` orthonormal columns: the first `shared` of `basis`, then random directions orthogonal to
/// those.
fn fresh_directions<R: Rng + ?Sized>(
    basis: &DMatrix<f64>,
    shared: usize,
    m: usize,
    rng: &mut R,
) -> Result<DMatrix<f64>, TaskError> {
    let n = basis.nrows();
    let kept = basis.columns(0, shared).clone_owned();
    let complement = orthogonal_complement(&kept)?;
    let rotated = &complement * random_orthogonal(n - shared, rng);
    let mut out = DMatrix::zeros(n, m);
    out.columns_mut(0, shared).copy_from(&kept);
    out.columns_mut(shared, m - shared).copy_from(&rotated.columns(0, m - shared));
    Ok(out)
}

/// The hierarchy of [`crate::hierarchy`] with one extra feature (output `2^levels`): absent
/// (target 0 for every item) when `present` is false, and `+1` on the items of the first
/// bottom-level subtree (items 0 and 1, e.g. "eats worms" for the two fish) when true. With
/// `split`, the new column is scaled like the others (`1 + 0.1/(n + 1)`).
///
/// Transfer from the hierarchy pre-trains on `present = false` and then learns `present = true`:
/// the network is `2^levels` items → `2^levels + 1` features in both phases.
pub fn hierarchy_new_feature(levels: u32, split: bool, present: bool) -> Result<Task, TaskError> {
    let table = hierarchy_targets(levels, split)?;
    let n = table.nrows();
    let mut extended = DMatrix::zeros(n, n + 1);
    extended.columns_mut(0, n).copy_from(&table);
    if present {
        let value = if split { 1.0 + 0.1 / (n + 1) as f64 } else { 1.0 };
        extended[(0, n)] = value;
        extended[(1, n)] = value;
    }
    let root = (n as f64).sqrt();
    Ok(Task::from_data(DMatrix::identity(n, n) * root, extended.transpose() / root))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random_regression;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn related_task_shares_exactly_the_requested_pairs() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let first = random_regression(5, 3, 32, &mut rng).unwrap().problem;
        let a = FullSvd::new(&first.sigma_yx, "a").unwrap();
        for shared in 0..=3 {
            let second = related_random(&first, shared, &mut rng).unwrap();
            let b = FullSvd::new(&second.sigma_yx, "b").unwrap();
            assert!((&b.s - &a.s).amax() < 1e-12);
            assert_eq!(second.trace_sigma_yy, first.trace_sigma_yy);
            // |cos| between matched singular vectors: 1 for shared pairs; the rest are orthogonal
            // to every shared one.
            for alpha in 0..3 {
                let cos_u = a.u_m.column(alpha).dot(&b.u_m.column(alpha)).abs();
                let cos_v = a.v_m.column(alpha).dot(&b.v_m.column(alpha)).abs();
                if alpha < shared {
                    assert!((cos_u - 1.0).abs() < 1e-10 && (cos_v - 1.0).abs() < 1e-10);
                } else {
                    for beta in 0..shared {
                        assert!(a.u_m.column(beta).dot(&b.u_m.column(alpha)).abs() < 1e-10);
                    }
                }
            }
        }
        let same = related_random(&first, 3, &mut rng).unwrap();
        assert!((same.sigma_yx - &first.sigma_yx).amax() < 1e-12);
        assert!(related_random(&first, 4, &mut rng).is_err());
    }

    #[test]
    fn new_feature_only_changes_the_last_output() {
        let before = hierarchy_new_feature(3, false, false).unwrap().problem.sigma_yx;
        let after = hierarchy_new_feature(3, false, true).unwrap().problem.sigma_yx;
        assert_eq!(before.shape(), (9, 8));
        assert!((before.rows(0, 8) - after.rows(0, 8)).amax() == 0.0);
        assert!(before.row(8).amax() == 0.0);
        let expected = [1.0 / 8.0, 1.0 / 8.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        for (j, &x) in expected.iter().enumerate() {
            assert!((after[(8, j)] - x).abs() < 1e-15);
        }
    }
}
