//! The reversal-learning data set of Braun et al. (2022) (docs/math.md §5.1).

use lazyrich_solver::linalg::{FullSvd, gaussian_matrix};
use nalgebra::DMatrix;
use rand::Rng;

use crate::random::whiten;
use crate::{Task, TaskError};

/// The first task of a reversal protocol; the second is the same data with targets negated
/// (`Σyx → −Σyx`).
///
/// Construction (docs/math.md §5.1): `R` = left singular vectors of a `P × P` Gaussian matrix and
/// `G = U S Vᵀ` the SVD of an `No × Ni` Gaussian matrix; inputs `X = V S_xᵀ Rᵀ` and targets
/// `Y = U S_y Rᵀ` with `√S` on the diagonals of `S_x` (`P × Ni`) and `S_y` (`No × P`), so that
/// `YXᵀ = G`. The input diagonal is padded with ones past `min(Ni, No)` so that `X` has full rank
/// `Ni` and can be whitened. After whitening, `Σyx = U diag(√(s/P)) Vᵀ`.
///
/// Needs `samples ≥ max(Ni, No)`.
pub fn reversal<R: Rng + ?Sized>(
    n_in: usize,
    n_out: usize,
    samples: usize,
    rng: &mut R,
) -> Result<Task, TaskError> {
    let needed = n_in.max(n_out).max(1);
    if samples < needed {
        return Err(TaskError::TooFewSamples { samples, needed });
    }
    let r =
        FullSvd::new(&gaussian_matrix(samples, samples, 1.0, rng), "a Gaussian matrix")?.u_full();
    let g = FullSvd::new(&gaussian_matrix(n_out, n_in, 1.0, rng), "a Gaussian matrix")?;
    let (u, v) = (g.u_full(), g.v_full());
    let m = n_in.min(n_out);
    let mut s_x = DMatrix::zeros(samples, n_in);
    let mut s_y = DMatrix::zeros(n_out, samples);
    for alpha in 0..n_in {
        s_x[(alpha, alpha)] = if alpha < m { g.s[alpha].sqrt() } else { 1.0 };
    }
    for alpha in 0..m {
        s_y[(alpha, alpha)] = g.s[alpha].sqrt();
    }
    let raw_inputs = v * s_x.transpose() * r.transpose();
    let targets = u * s_y * r.transpose();
    let inputs = whiten(&raw_inputs)?;
    Ok(Task::from_data(inputs, targets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sigma_is_the_square_root_of_the_gaussian_spectrum() {
        for (n_in, n_out, samples) in [(4, 4, 16), (5, 3, 8), (3, 5, 5)] {
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let task = reversal(n_in, n_out, samples, &mut rng).unwrap();
            let p = samples as f64;
            let cov = &task.inputs * task.inputs.transpose() / p;
            assert!((cov - DMatrix::identity(n_in, n_in)).amax() < 1e-12);
            // Redraw the same Gaussian G to compare the spectra.
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            let _r = gaussian_matrix(samples, samples, 1.0, &mut rng);
            let g = FullSvd::new(&gaussian_matrix(n_out, n_in, 1.0, &mut rng), "g").unwrap();
            let s = FullSvd::new(&task.problem.sigma_yx, "task").unwrap().s;
            for alpha in 0..n_in.min(n_out) {
                let expected = (g.s[alpha] / p).sqrt();
                assert!(
                    (s[alpha] - expected).abs() < 1e-12 * expected.max(1.0),
                    "{s} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn too_few_samples() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!(matches!(
            reversal(3, 6, 5, &mut rng),
            Err(TaskError::TooFewSamples { samples: 5, needed: 6 })
        ));
    }
}
