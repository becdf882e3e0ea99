//! The generic Fukumizu solution (docs/math.md §3.1) for two-layer networks with
//! $N_h > \min(N_i, N_o)$, where the stable form ([`ClosedForm`](crate::closed_form::ClosedForm))
//! does not apply (P8).
//!
//! $$QQ^\top(t) = e^{Ft}Q_0\Big[I + Q_0^\top\Big(\textstyle\int_0^{T} e^{2Fs}ds\Big)Q_0\Big]^{-1}Q_0^\top e^{Ft},$$
//! evaluated in the eigenbasis of F: with $P = O^\top Q_0$, $D = e^{\Lambda T}$ and
//! $\Gamma = (e^{2\Lambda T} - 1)/(2\Lambda)$ (no division by a small eigenvalue),
//! $QQ^\top = O\,DP\,(I + P^\top \Gamma P)^{-1}P^\top D\,O^\top$.
//!
//! **Validity limit.** The inner matrix $M = I + P^\top\Gamma P$ has eigenvalues in
//! $[1, 1 + \|Q_0\|_2^2\,\Gamma_{\max}(T)]$; its growth with $e^{2 s_{\max} T}$ costs accuracy.
//! We evaluate only while that bound stays below [`GENERIC_MAX_CONDITION`] (relative error
//! ≲ 1e-8, checked against RK4 in the tests) and return [`SolverError::BeyondValidity`] past
//! [`GenericClosedForm::valid_until`]. Later times need a simulation.

use nalgebra::DMatrix;

use super::eigenbasis::{Eigenbasis, check_balanced_two_layer, growth_integral};
use crate::error::SolverError;
use crate::linalg::{self, FullSvd, hcat, spectral_norm};
use crate::network::{Network, Problem};

/// Bound on the condition number of the inner matrix beyond which times are refused.
pub const GENERIC_MAX_CONDITION: f64 = 1e8;

/// Per-trajectory constants of the generic form.
#[derive(Clone, Debug)]
pub struct GenericClosedForm {
    n_in: usize,
    n_out: usize,
    lambda: f64,
    tau: f64,
    /// Full eigenbasis `O = [O₊, O₋, O⊥]` (`N × N`).
    o: DMatrix<f64>,
    /// Eigenvalues of F in the order of the columns of `o`.
    eigenvalues: Vec<f64>,
    /// `P = OᵀQ₀` (`N × Nh`).
    p: DMatrix<f64>,
    /// Largest time evaluated.
    t_max: f64,
}

impl GenericClosedForm {
    /// Precomputes the trajectory of a λ-balanced two-layer `net` on a whitened `problem`.
    pub fn new(net: &Network, problem: &Problem) -> Result<GenericClosedForm, SolverError> {
        Self::build(net, problem, None)
    }

    /// [`GenericClosedForm::new`] with the SVD of the task's Σyx already computed (see
    /// [`crate::closed_form::ClosedForm::with_task_svd`]).
    pub fn with_task_svd(
        net: &Network,
        problem: &Problem,
        task_svd: &FullSvd,
    ) -> Result<GenericClosedForm, SolverError> {
        Self::build(net, problem, Some(task_svd))
    }

    fn build(
        net: &Network,
        problem: &Problem,
        task_svd: Option<&FullSvd>,
    ) -> Result<GenericClosedForm, SolverError> {
        let lambda = check_balanced_two_layer(net, problem)?;
        let (n_in, n_out) = (net.n_in(), net.n_out());
        let basis = Eigenbasis::new(&problem.sigma_yx, task_svd, lambda)?;
        let m = n_in.min(n_out);
        let k = n_in.max(n_out) - m;
        let o = hcat(&basis.o_plus, &basis.o_rest);
        let mut eigenvalues = basis.s_lambda.clone();
        eigenvalues.extend(basis.s_lambda.iter().map(|s| -s));
        eigenvalues.extend(std::iter::repeat_n(basis.lambda_perp, k));
        let q0 = net.q_matrix().expect("two layers");
        let p = o.tr_mul(&q0);
        let q_norm_sq = spectral_norm(&q0)?.powi(2);
        let s_max = eigenvalues.iter().copied().fold(0.0, f64::max);
        let budget = (GENERIC_MAX_CONDITION - 1.0) / q_norm_sq;
        let big_t_max = if q_norm_sq == 0.0 {
            f64::INFINITY
        } else if s_max == 0.0 {
            budget
        } else {
            (2.0 * s_max * budget).ln_1p() / (2.0 * s_max)
        };
        Ok(GenericClosedForm {
            n_in,
            n_out,
            lambda,
            tau: problem.tau,
            o,
            eigenvalues,
            p,
            t_max: big_t_max * problem.tau,
        })
    }

    /// λ of the initial weights.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// Ni.
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// No.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// The largest time this form evaluates (see the module documentation).
    pub fn valid_until(&self) -> f64 {
        self.t_max
    }

    /// `QQᵀ(t)` for `0 ≤ t ≤ valid_until()`.
    pub fn qqt(&self, t: f64) -> Result<DMatrix<f64>, SolverError> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(SolverError::InvalidInput(format!(
                "time must be finite and non-negative, got {t}"
            )));
        }
        if t > self.t_max {
            return Err(SolverError::BeyondValidity { t, t_max: self.t_max });
        }
        let big_t = t / self.tau;
        let n_hidden = self.p.ncols();
        let mut x = self.p.clone();
        let mut gamma_p = self.p.clone();
        for (row, &mu) in self.eigenvalues.iter().enumerate() {
            let d = (mu * big_t).exp();
            let gamma = growth_integral(2.0 * mu, big_t);
            x.row_mut(row).scale_mut(d);
            gamma_p.row_mut(row).scale_mut(gamma);
        }
        let inner = DMatrix::identity(n_hidden, n_hidden) + self.p.tr_mul(&gamma_p);
        let inner = 0.5 * (&inner + inner.transpose());
        let beyond = SolverError::BeyondValidity { t, t_max: self.t_max };
        let chol = inner.cholesky().ok_or_else(|| beyond.clone())?;
        // Y = L⁻¹ Xᵀ, so that X M⁻¹ Xᵀ = YᵀY.
        let y = chol.l().solve_lower_triangular(&x.transpose()).ok_or(beyond)?;
        let y_o = y * self.o.transpose();
        let qqt = y_o.tr_mul(&y_o);
        linalg::check_finite(&qqt, &format!("QQᵀ at t = {t}"))?;
        Ok(qqt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{self, Balanced, ProductBases, ProductValues};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn starts_at_the_initial_weights_and_refuses_late_times() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let params = Balanced {
            lambda: 1.5,
            values: ProductValues::GaussianProduct { sigma: 0.5 },
            bases: ProductBases::Random,
        };
        let net = init::balanced(&[2, 4, 5], &params, &mut rng).unwrap();
        let sigma_yx = crate::linalg::gaussian_matrix(5, 2, 1.0, &mut rng);
        let form = GenericClosedForm::new(&net, &Problem::whitened(sigma_yx)).unwrap();
        let q0 = net.q_matrix().unwrap();
        let start = form.qqt(0.0).unwrap();
        assert!((start - &q0 * q0.transpose()).amax() < 1e-13);
        let late = form.valid_until() * 2.0;
        assert!(matches!(form.qqt(late), Err(SolverError::BeyondValidity { .. })));
    }
}
