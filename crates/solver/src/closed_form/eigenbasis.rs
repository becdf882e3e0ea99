//! What the exact two-layer forms share: their preconditions (two layers, whitened inputs,
//! λ-balanced weights), the eigenbasis of F (docs/math.md §3.2) and the growth integral of the ⊥
//! block (docs/math.md P6).

use nalgebra::DMatrix;

use crate::error::SolverError;
use crate::linalg::{FullSvd, product};
use crate::network::{Network, Problem};

/// Relative tolerance on the balance: `‖W2ᵀW2 − W1W1ᵀ − λI‖_F ≤ tol · max(1, ‖W1‖_F², ‖W2‖_F²)`.
pub const BALANCE_TOLERANCE: f64 = 1e-8;
/// Entrywise tolerance for treating Σxx as the identity.
pub const WHITENING_TOLERANCE: f64 = 1e-10;

/// Checks the common preconditions of the exact solutions and returns λ.
pub(super) fn check_balanced_two_layer(
    net: &Network,
    problem: &Problem,
) -> Result<f64, SolverError> {
    checked_lambda_and_gram(net, problem).map(|(lambda, _)| lambda)
}

/// [`check_balanced_two_layer`], also returning the Gram matrix `W1 W1ᵀ` it computes on the way
/// (the balance is `W2ᵀW2 − W1W1ᵀ`, each Gram formed once).
pub(super) fn checked_lambda_and_gram(
    net: &Network,
    problem: &Problem,
) -> Result<(f64, DMatrix<f64>), SolverError> {
    let bad = |msg: String| Err(SolverError::InvalidInput(msg));
    if net.depth() != 2 {
        return bad(format!(
            "the closed form needs a two-layer network, got depth {}; use a simulation",
            net.depth()
        ));
    }
    if !net.is_finite() {
        return Err(SolverError::Overflow("the weights have a non-finite entry".into()));
    }
    problem.check(net.n_in(), net.n_out())?;
    if !problem.is_whitened(WHITENING_TOLERANCE) {
        return bad(
            "the closed form needs whitened inputs (sigma_xx = I); use a simulation method".into(),
        );
    }
    let (w1, w2) = (&net.layers[0], &net.layers[1]);
    let gram_w1 = product(w1, &w1.transpose());
    let mut balance = product(&w2.transpose(), w2) - &gram_w1;
    let lambda = balance.trace() / balance.nrows() as f64;
    for i in 0..balance.nrows() {
        balance[(i, i)] -= lambda;
    }
    let residual = balance.norm();
    let scale = w1.norm_squared().max(w2.norm_squared()).max(1.0);
    if !(lambda.is_finite() && residual.is_finite() && scale.is_finite()) {
        return Err(SolverError::Overflow(
            "the weights are too large: their squares overflow (docs/math.md P15)".into(),
        ));
    }
    if residual > BALANCE_TOLERANCE * scale {
        return bad(format!(
            "the weights are not lambda-balanced: ||W2'W2 - W1W1' - lambda I||_F = {residual:.3e} \
             exceeds {:.1e} (relative); use a simulation method",
            BALANCE_TOLERANCE
        ));
    }
    Ok((lambda, gram_w1))
}

/// The eigendecomposition of F (docs/math.md §3.2): `F = O₊ S_λ O₊ᵀ − O₋ S_λ O₋ᵀ + λ⊥ O⊥O⊥ᵀ`.
#[derive(Clone, Debug)]
pub(super) struct Eigenbasis {
    /// `s_λ = sqrt(s̃² + λ²/4)` per task mode, in the order of the SVD (descending s̃).
    pub(super) s_lambda: Vec<f64>,
    /// `s_λ − λ⊥ ≥ 0`, computed without cancellation.
    pub(super) perp_rate: Vec<f64>,
    /// `λ⊥ = sgn(No − Ni) λ/2`.
    pub(super) lambda_perp: f64,
    /// `O₊` (`N × m`).
    pub(super) o_plus: DMatrix<f64>,
    /// `[O₋, O⊥]` (`N × (m + k)`).
    pub(super) o_rest: DMatrix<f64>,
    /// `Ĉ` and `D̂` per task mode (docs/math.md §3.2).
    pub(super) c_hat: Vec<f64>,
    pub(super) d_hat: Vec<f64>,
    /// The full right and left singular bases of Σyx, `[Ṽ_m, Ṽ⊥]` (`Ni × Ni`) and
    /// `[Ũ_m, Ũ⊥]` (`No × No`): `O = blockdiag(Ṽ, Ũ) R` with a sparse `R` of the `Ĉ`, `D̂`.
    pub(super) v_full: DMatrix<f64>,
    pub(super) u_full: DMatrix<f64>,
}

impl Eigenbasis {
    /// From `task_svd`, the [`FullSvd`] of Σyx when the caller has it (it must be
    /// `FullSvd::new(sigma_yx, …)`; its shape is checked), else computed here.
    pub(super) fn new(
        sigma_yx: &DMatrix<f64>,
        task_svd: Option<&FullSvd>,
        lambda: f64,
    ) -> Result<Eigenbasis, SolverError> {
        let (n_out, n_in) = sigma_yx.shape();
        let m = n_in.min(n_out);
        let k = n_in.max(n_out) - m;
        let n = n_in + n_out;
        let computed;
        let svd = match task_svd {
            Some(svd) => {
                if svd.u_m.shape() != (n_out, m) || svd.v_m.shape() != (n_in, m) {
                    return Err(SolverError::InvalidInput(format!(
                        "the SVD given for the task Σyx ({n_out} × {n_in}) has bases of shapes \
                         {:?} and {:?}",
                        svd.u_m.shape(),
                        svd.v_m.shape()
                    )));
                }
                svd
            }
            None => {
                computed = FullSvd::new(sigma_yx, "the task Σyx")?;
                &computed
            }
        };
        let half = 0.5 * lambda;
        let s_lambda: Vec<f64> = svd.s.iter().map(|s| s.hypot(half)).collect();
        if let Some(pos) = s_lambda.iter().position(|&s| s <= 0.0) {
            return Err(SolverError::RankDeficientTask { smallest: svd.s[pos] });
        }
        // Ĉ² = (s_λ − λ/2)/s_λ and D̂² = (s_λ + λ/2)/s_λ, the smaller numerator as s̃²/(larger)
        // (docs/math.md P3, P4): never divide by λ.
        let (mut c_hat, mut d_hat) = (vec![0.0; m], vec![0.0; m]);
        for alpha in 0..m {
            let (s, sl) = (svd.s[alpha], s_lambda[alpha]);
            let (minus, plus) = if lambda >= 0.0 {
                (s * s / (sl + half), sl + half)
            } else {
                (sl - half, s * s / (sl - half))
            };
            c_hat[alpha] = (minus / sl).sqrt();
            d_hat[alpha] = (plus / sl).sqrt();
        }
        let lambda_perp = match n_out.cmp(&n_in) {
            std::cmp::Ordering::Greater => half,
            std::cmp::Ordering::Less => -half,
            std::cmp::Ordering::Equal => 0.0,
        };
        let perp_rate: Vec<f64> = (0..m)
            .map(|alpha| {
                let (s, sl) = (svd.s[alpha], s_lambda[alpha]);
                if lambda_perp > 0.0 { s * s / (sl + lambda_perp) } else { sl - lambda_perp }
            })
            .collect();
        let inv_sqrt2 = std::f64::consts::FRAC_1_SQRT_2;
        let mut o_plus = DMatrix::zeros(n, m);
        let mut o_rest = DMatrix::zeros(n, m + k);
        for alpha in 0..m {
            for i in 0..n_in {
                o_plus[(i, alpha)] = inv_sqrt2 * svd.v_m[(i, alpha)] * c_hat[alpha];
                o_rest[(i, alpha)] = -inv_sqrt2 * svd.v_m[(i, alpha)] * d_hat[alpha];
            }
            for o in 0..n_out {
                o_plus[(n_in + o, alpha)] = inv_sqrt2 * svd.u_m[(o, alpha)] * d_hat[alpha];
                o_rest[(n_in + o, alpha)] = inv_sqrt2 * svd.u_m[(o, alpha)] * c_hat[alpha];
            }
        }
        for p in 0..k {
            if n_in > n_out {
                o_rest.view_mut((0, m + p), (n_in, 1)).copy_from(&svd.v_perp.column(p));
            } else {
                o_rest.view_mut((n_in, m + p), (n_out, 1)).copy_from(&svd.u_perp.column(p));
            }
        }
        let (v_full, u_full) = (svd.v_full(), svd.u_full());
        Ok(Eigenbasis {
            s_lambda,
            perp_rate,
            lambda_perp,
            o_plus,
            o_rest,
            c_hat,
            d_hat,
            v_full,
            u_full,
        })
    }
}

/// `G(T) e^{…}` helper: `T · expm1(x)/x` with `x = 2λ⊥T`, i.e. `(e^{2λ⊥T} − 1)/(2λ⊥)` without
/// dividing by a small λ⊥ (docs/math.md P6).
pub(super) fn growth_integral(two_lambda_perp: f64, big_t: f64) -> f64 {
    let x = two_lambda_perp * big_t;
    if x.abs() < 1e-8 { big_t * (1.0 + 0.5 * x) } else { big_t * x.exp_m1() / x }
}
