//! Random regression (docs/math.md §5): Gaussian inputs and targets, inputs whitened exactly.

use lazyrich_solver::linalg::{gaussian_matrix, product};
use nalgebra::DMatrix;
use rand::Rng;

use crate::{Task, TaskError};

/// Random regression (docs/math.md §5): `X, Y ~ N(0, 1)` with `X` whitened exactly.
pub fn random_regression<R: Rng + ?Sized>(
    n_in: usize,
    n_out: usize,
    samples: usize,
    rng: &mut R,
) -> Result<Task, TaskError> {
    if samples < n_in || samples == 0 {
        return Err(TaskError::TooFewSamples { samples, needed: n_in.max(1) });
    }
    let raw = gaussian_matrix(n_in, samples, 1.0, rng);
    let targets = gaussian_matrix(n_out, samples, 1.0, rng);
    let inputs = whiten(&raw)?;
    Ok(Task::from_data(inputs, targets))
}

/// `C^{-1/2} X` with `C = XXᵀ/P`, so that the result has `XXᵀ/P = I` to roundoff.
pub fn whiten(x: &DMatrix<f64>) -> Result<DMatrix<f64>, TaskError> {
    let p = x.ncols() as f64;
    let cov = product(x, &x.transpose()) / p;
    let eigen = lazyrich_solver::linalg::symmetric_eigen(&cov, "the input covariance")?;
    let smallest = eigen.eigenvalues.min();
    if smallest.is_nan() || smallest <= 1e-12 * eigen.eigenvalues.max() {
        return Err(TaskError::RankDeficient { smallest });
    }
    let inv_sqrt = DMatrix::from_diagonal(&eigen.eigenvalues.map(|l| 1.0 / l.sqrt()));
    let q = &eigen.eigenvectors;
    // `((q · inv_sqrt) · qᵀ) · x`, each product bitwise nalgebra's.
    Ok(product(&product(&product(q, &inv_sqrt), &q.transpose()), x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lazyrich_solver::metrics::Objective;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn random_regression_is_whitened_and_consistent() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let task = random_regression(4, 3, 16, &mut rng).unwrap();
        let p = 16.0;
        let cov = &task.inputs * task.inputs.transpose() / p;
        assert!((cov - DMatrix::identity(4, 4)).amax() < 1e-13);
        let sigma_yx = &task.targets * task.inputs.transpose() / p;
        assert!((sigma_yx - &task.problem.sigma_yx).amax() < 1e-15);
        // The loss identity of docs/math.md §1 holds for any W.
        let w = DMatrix::from_fn(3, 4, |i, j| 0.1 * (i as f64) - 0.2 * (j as f64));
        let direct = (&w * &task.inputs - &task.targets).norm_squared() / (2.0 * p);
        let objective = Objective::new(&task.problem);
        assert!((objective.loss_of_product(&w) - direct).abs() < 1e-13);
    }

    #[test]
    fn too_few_samples_is_an_error() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(matches!(
            random_regression(8, 2, 4, &mut rng),
            Err(TaskError::TooFewSamples { samples: 4, needed: 8 })
        ));
    }

    #[test]
    fn same_seed_same_task() {
        let a = random_regression(3, 3, 8, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        let b = random_regression(3, 3, 8, &mut ChaCha8Rng::seed_from_u64(5)).unwrap();
        assert_eq!(a.problem.sigma_yx, b.problem.sigma_yx);
    }
}
