//! [`ClosedForm`]: the per-trajectory constants of the stable evaluation of docs/math.md §3.4 for
//! $N_h = \min(N_i, N_o)$, the [`Workspace`] of its time points, and [`weights_from_qqt`], which
//! restarts a trajectory. Evaluating a time point (`qqt`, `qqt_into`) is the module `point`.

use nalgebra::{DMatrix, DMatrixView, Dyn, U1};

use super::eigenbasis::{Eigenbasis, checked_lambda_and_gram};
use crate::error::SolverError;
use crate::kernels;
use crate::linalg::{self, FullSvd};
use crate::network::{Network, Problem};

/// `cond(P₊)` above this is reported as [`SolverError::Singular`] (docs/math.md §3.4, P7).
pub const MAX_CONDITION: f64 = 1e12;
/// `σ_min(P₊) / max(‖W1‖₂, ‖W2‖₂)` below this is reported as singular (docs/math.md P7).
pub const MIN_RELATIVE_SIGMA: f64 = 1e-12;

/// Per-trajectory constants of the stable closed form.
///
/// Besides the matrices of docs/math.md §3.4 it keeps zero-padded, column-major copies laid out for the
/// kernels of one time point (module `point`): row counts padded to a multiple of 4 (`ld`, `mp`).
#[derive(Clone, Debug)]
pub struct ClosedForm {
    pub(super) n_in: usize,
    pub(super) n_out: usize,
    /// `m = min(Ni, No) = Nh`.
    pub(super) m: usize,
    /// `|Ni − No|`.
    pub(super) k: usize,
    pub(super) lambda: f64,
    pub(super) tau: f64,
    /// `s_λ = sqrt(s̃² + λ²/4)` per mode.
    pub(super) s_lambda: Vec<f64>,
    /// `s_λ − λ⊥ ≥ 0`, computed without cancellation: the decay rate of the ⊥ coupling.
    pub(super) perp_rate: Vec<f64>,
    /// `λ⊥ = sgn(No − Ni) λ/2`.
    pub(super) lambda_perp: f64,
    /// `N⊥ = P⊥P₊⁻¹` (`k × m`).
    pub(super) n_perp: DMatrix<f64>,
    /// Leading dimension of the `N`-row buffers, `≥ round_up(Ni) + round_up(No) ≥ round_up(N)`.
    pub(super) ld: usize,
    /// `round_up(m)`: columns of `Z`, `W`, and the size of `A`.
    pub(super) mp: usize,
    /// Leading dimension of the `mp`-row buffers (and row stride of the row-major ones).
    pub(super) lm: usize,
    /// `O₊` (`N × m`, `N = Ni + No`) and `[O₋, O⊥]` (`N × (m + k)`), zero padded to `ld`
    /// rows (and `O₊` to `mp` columns).
    pub(super) o_plus_pad: Vec<f64>,
    pub(super) o_rest_pad: Vec<f64>,
    /// `N₋ᵀ` with `N₋ = P₋P₊⁻¹` (`m × m`, zero padded to `lm × m`): column α is row α of `N₋`.
    pub(super) n_minus_t_pad: Vec<f64>,
    /// `H = P₊⁻ᵀP₊⁻¹` and `K⊥ = N⊥ᵀN⊥` (`m × m`, zero padded to `lm × mp`; `K⊥` empty when
    /// `k = 0`).
    pub(super) h_pad: Vec<f64>,
    pub(super) k_perp_pad: Vec<f64>,
    /// Times `T = t/τ` below this use the direct Fukumizu form.
    pub(super) early_until: f64,
    /// Early-time evaluation: `P = [O₊, O₋, O⊥]ᵀ Q₀` as `[P₊; P₋; P⊥]` with `P₊` and `P₋`
    /// zero padded to `mp` rows each (leading dimension `ldp`, `m` columns), and `Pᵀ`
    /// (`lm × N`, zero padded, rows in the order `+s_λ`, `−s_λ`, `λ⊥`).
    pub(super) p_blocks: Vec<f64>,
    pub(super) ldp: usize,
    pub(super) p_t_pad: Vec<f64>,
    /// `[Ṽ_m, Ṽ⊥]` (`Ni` columns) and `[Ũ_m, Ũ⊥]` (`No` columns), zero padded to the
    /// leading dimensions `leading_dim(Ni)` and `leading_dim(No)`.
    pub(super) v_pad: Vec<f64>,
    pub(super) u_pad: Vec<f64>,
    /// `Ĉ/√2` and `D̂/√2` per mode.
    pub(super) c_half: Vec<f64>,
    pub(super) d_half: Vec<f64>,
}

/// Largest condition bound of the direct (Fukumizu) form used at early times.
pub const EARLY_MAX_CONDITION: f64 = 1e8;

/// Scratch buffers for [`ClosedForm::qqt_into`]; one per thread. `Workspace::default()` is
/// empty and sized by the first `qqt_into`.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// `e_α = e^{−s_α T}` (stable form, zero padded to `mp`) or `e^{μT}` per eigenvalue `μ`
    /// (early form).
    pub(super) e: Vec<f64>,
    /// `f_α` (stable form) or `Γ_μ(T)` (early form).
    pub(super) f: Vec<f64>,
    /// `g_α = e^{−(s_α − λ⊥)T}`, zero padded.
    pub(super) g: Vec<f64>,
    /// `Ñ = [eeᵀ ⊙ N₋; N⊥ ⊙ 1gᵀ]`, row-major `(m + k) × mp` with row stride `lm`.
    pub(super) n_tilde: Vec<f64>,
    /// The factor whose Gram is the quadratic part of `A` (`N₋ᵀ √f`, `mp × m`) or of `M`
    /// (`Pᵀ √Γ`, `mp × N`), column-major with leading dimension `lm`.
    pub(super) factor: Vec<f64>,
    /// `A` (or `M`), then its Cholesky factor, column-major `mp × mp` (leading dimension `lm`).
    pub(super) a: Vec<f64>,
    /// The diagonal added to `A` (`diag(f)`, 1 on the padding) or to `M` (1) by the Cholesky.
    pub(super) shift: Vec<f64>,
    /// `1 / L[j, j]`.
    pub(super) inv_diag: Vec<f64>,
    /// `W = Z L⁻ᵀ`, column-major `ld × mp`.
    pub(super) w: Vec<f64>,
    /// Early form: `X' = R e^{ΛT} P`, then `Y' = X' L⁻ᵀ` (`ld × mp`): the coordinates of `W`
    /// in the singular bases of Σyx.
    pub(super) x: Vec<f64>,
    /// Early form: `Y'` row-major (row stride `lm`).
    pub(super) y_rows: Vec<f64>,
    /// Early form: the coefficients of `R e^{ΛT}` (`4m`).
    pub(super) coef: Vec<f64>,
}

/// `m` into a zero-padded column-major buffer with `ld` rows and `cols` columns, plus one zero
/// column: the kernels read whole columns past the end of a block (see `kernels`).
/// The extreme singular values of `P₊` and `‖W1‖₂²`: what the set-up's singularity test and
/// early-time bound need of the two factorizations.
#[derive(Debug)]
struct Spectra {
    sigma_max: f64,
    sigma_min: f64,
    w1_norm_sq: f64,
}

/// [`Spectra`] of an 8-8-8 point from one-sided Jacobi on `P₊` and `W1` side by side
/// ([`linalg::singular_values_jacobi_pair`]: the two chains of roots and divisions interleave,
/// about half the time of nalgebra's bidiagonal SVD and symmetric eigensolver one after the
/// other), `‖W1‖₂² = σ_max(W1)²`; other sizes: the singular values of `P₊` by
/// [`linalg::singular_values`] and `‖W1‖₂²` as the largest eigenvalue of `W1W1ᵀ`.
fn spectra(
    p_plus: &DMatrix<f64>,
    w1: &DMatrix<f64>,
    gram_w1: &DMatrix<f64>,
) -> Result<Spectra, SolverError> {
    if p_plus.shape() == (8, 8) && w1.shape() == (8, 8) {
        let (mut p_values, mut w1_values) = (Vec::with_capacity(8), Vec::with_capacity(8));
        let [p_result, w1_result] = linalg::singular_values_jacobi_pair(
            [p_plus.as_view(), w1.as_view()],
            "P₊ and W1",
            &mut linalg::JacobiScratch::default(),
            [&mut p_values, &mut w1_values],
        );
        p_result?;
        w1_result?;
        // Descending, and finite once they converged (finite inputs, scaled by powers of two).
        let w1_max = w1_values.first().copied().unwrap_or(0.0);
        return Ok(Spectra {
            sigma_max: p_values.first().copied().unwrap_or(0.0),
            sigma_min: p_values.last().copied().unwrap_or(0.0),
            w1_norm_sq: w1_max * w1_max,
        });
    }
    let singular_values = linalg::singular_values(p_plus, "P₊")?;
    let gram_eigen = linalg::symmetric_eigen(gram_w1, "W1W1ᵀ")?;
    Ok(Spectra {
        sigma_max: singular_values.max(),
        sigma_min: singular_values.min(),
        w1_norm_sq: gram_eigen.eigenvalues.max().max(0.0),
    })
}

fn padded(m: &DMatrix<f64>, ld: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; ld * (cols + 1)];
    let rows = m.nrows();
    if rows > 0 {
        for (dst, src) in out.chunks_exact_mut(ld).zip(m.as_slice().chunks_exact(rows)) {
            dst[..rows].copy_from_slice(src);
        }
    }
    out
}

/// A view of the `rows × cols` matrix stored column-major with leading dimension `ld`.
pub(super) fn view(values: &[f64], rows: usize, cols: usize, ld: usize) -> DMatrixView<'_, f64> {
    DMatrixView::from_slice_with_strides_generic(values, Dyn(rows), Dyn(cols), U1, Dyn(ld))
}

impl ClosedForm {
    /// Precomputes the trajectory of `net` (two layers, `Nh = min(Ni, No)`, λ-balanced) on a
    /// whitened `problem`.
    ///
    /// Returns [`SolverError::Singular`] when `B` is numerically singular (both tests of docs/math.md P7),
    /// [`SolverError::RankDeficientTask`] for a rank-deficient Σyx at λ = 0, and
    /// [`SolverError::InvalidInput`] when the preconditions do not hold.
    pub fn new(net: &Network, problem: &Problem) -> Result<ClosedForm, SolverError> {
        Self::build(net, problem, None)
    }

    /// [`ClosedForm::new`] with the SVD of the task's Σyx already computed (`task_svd` must be
    /// `FullSvd::new(&problem.sigma_yx, …)`; its shape is checked): a caller that needs the SVD
    /// for something else too (the task-specificity references of a row) computes it once.
    pub fn with_task_svd(
        net: &Network,
        problem: &Problem,
        task_svd: &FullSvd,
    ) -> Result<ClosedForm, SolverError> {
        Self::build(net, problem, Some(task_svd))
    }

    fn build(
        net: &Network,
        problem: &Problem,
        task_svd: Option<&FullSvd>,
    ) -> Result<ClosedForm, SolverError> {
        let (lambda, gram_w1) = checked_lambda_and_gram(net, problem)?;
        let (w1, w2) = (&net.layers[0], &net.layers[1]);
        let (n_in, n_out, n_hidden) = (w1.ncols(), w2.nrows(), w1.nrows());
        let m = n_in.min(n_out);
        if n_hidden != m {
            return Err(SolverError::InvalidInput(format!(
                "the stable closed form needs Nh = min(Ni, No) = {m}, got Nh = {n_hidden}"
            )));
        }
        let (k, n) = (n_in.max(n_out) - m, n_in + n_out);
        let ld = kernels::leading_dim(kernels::round_up(n_in) + kernels::round_up(n_out));
        let mp = kernels::round_up(m);
        let lm = kernels::leading_dim(mp);
        let basis = Eigenbasis::new(&problem.sigma_yx, task_svd, lambda)?;
        let q0 = net.q_matrix().expect("two layers");
        let o_full = crate::linalg::hcat(&basis.o_plus, &basis.o_rest);
        let p_full = linalg::product(&o_full.transpose(), &q0);
        if !linalg::all_finite(p_full.as_slice()) {
            return Err(SolverError::Overflow(
                "the weights or the task are too large: the projection onto F's eigenbasis \
                 overflowed"
                    .into(),
            ));
        }
        let p_plus = p_full.rows(0, m).clone_owned();
        let p_rest = p_full.rows(m, m + k).clone_owned();
        let Spectra { sigma_max, sigma_min, w1_norm_sq } = spectra(&p_plus, w1, &gram_w1)?;
        // ‖W2‖₂² = ‖W1‖₂² + λ by the balance W2ᵀW2 = W1W1ᵀ + λI.
        let w2_norm_sq = (w1_norm_sq + lambda).max(0.0);
        let weight_norm = w1_norm_sq.max(w2_norm_sq).sqrt();
        let condition = if sigma_min > 0.0 { sigma_max / sigma_min } else { f64::INFINITY };
        let relative_sigma_min = if weight_norm > 0.0 { sigma_min / weight_norm } else { 0.0 };
        let singular = SolverError::Singular { condition, relative_sigma_min };
        if !(condition <= MAX_CONDITION && relative_sigma_min >= MIN_RELATIVE_SIGMA) {
            return Err(singular);
        }
        let p_plus_inv = linalg::lu_inverse(&p_plus).ok_or(singular)?;
        let n_rest = linalg::product(&p_rest, &p_plus_inv);
        // Early times: the direct form is accurate while cond(M) ≤ 1 + ‖Q₀‖²Γ_max(T) stays below
        // the stable form's own error factor cond(P₊)² (capped at EARLY_MAX_CONDITION), with
        // ‖Q₀‖² ≤ ‖W1‖₂² + ‖W2‖₂².
        let q_norm_sq = w1_norm_sq + w2_norm_sq;
        let s_max = basis.s_lambda.iter().copied().fold(0.0, f64::max);
        let budget = (condition * condition).min(EARLY_MAX_CONDITION) - 1.0;
        let early_until = if q_norm_sq == 0.0 || budget <= 0.0 {
            0.0
        } else {
            (2.0 * s_max * budget / q_norm_sq).ln_1p() / (2.0 * s_max)
        };
        let n_minus_t = n_rest.rows(0, m).transpose();
        let n_perp = n_rest.rows(m, k).clone_owned();
        let h = linalg::product(&p_plus_inv.transpose(), &p_plus_inv);
        let k_perp = if k > 0 {
            linalg::product(&n_perp.transpose(), &n_perp)
        } else {
            DMatrix::zeros(0, 0)
        };
        let mut p_blocks = DMatrix::zeros(2 * mp + k, m);
        p_blocks.rows_mut(0, m).copy_from(&p_full.rows(0, m));
        p_blocks.rows_mut(mp, m).copy_from(&p_full.rows(m, m));
        p_blocks.rows_mut(2 * mp, k).copy_from(&p_full.rows(2 * m, k));
        let ldp = kernels::leading_dim(2 * mp + k);

        let inv_sqrt2 = std::f64::consts::FRAC_1_SQRT_2;
        Ok(ClosedForm {
            n_in,
            n_out,
            m,
            k,
            lambda,
            tau: problem.tau,
            s_lambda: basis.s_lambda,
            perp_rate: basis.perp_rate,
            lambda_perp: basis.lambda_perp,
            o_plus_pad: padded(&basis.o_plus, ld, mp),
            o_rest_pad: padded(&basis.o_rest, ld, m + k),
            n_minus_t_pad: padded(&n_minus_t, lm, m),
            h_pad: padded(&h, lm, mp),
            k_perp_pad: if k > 0 { padded(&k_perp, lm, mp) } else { Vec::new() },
            n_perp,
            ld,
            mp,
            lm,
            early_until,
            p_blocks: padded(&p_blocks, ldp, m),
            ldp,
            p_t_pad: padded(&p_full.transpose(), lm, n),
            v_pad: padded(&basis.v_full, kernels::leading_dim(n_in), n_in),
            u_pad: padded(&basis.u_full, kernels::leading_dim(n_out), n_out),
            c_half: basis.c_hat.iter().map(|c| c * inv_sqrt2).collect(),
            d_half: basis.d_hat.iter().map(|d| d * inv_sqrt2).collect(),
        })
    }

    /// λ of the initial weights (conserved by the flow).
    pub fn lambda(&self) -> f64 {
        self.lambda
    }

    /// The time below which a time point takes the direct (early) form (docs/math.md §3.4;
    /// 0 when it never does).
    pub fn early_until(&self) -> f64 {
        self.early_until
    }

    /// Ni.
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// No.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// The eigenvalues `s_λ = sqrt(s̃² + λ²/4)` of F on `O₊`, one per task mode.
    pub fn s_lambda(&self) -> &[f64] {
        &self.s_lambda
    }

    /// Scratch buffers sized for this trajectory.
    pub fn workspace(&self) -> Workspace {
        let (m, k, n, ld, mp, lm) =
            (self.m, self.k, self.n_in + self.n_out, self.ld, self.mp, self.lm);
        Workspace {
            e: vec![0.0; kernels::round_up(n)],
            f: vec![0.0; kernels::round_up(n)],
            g: vec![0.0; mp],
            n_tilde: vec![0.0; (m + k + 1) * lm],
            factor: vec![0.0; lm * (n + 1)],
            a: vec![0.0; lm * mp],
            shift: vec![0.0; mp],
            inv_diag: vec![0.0; mp],
            w: vec![0.0; ld * (mp + 1)],
            x: vec![0.0; ld * (mp + 1)],
            y_rows: vec![0.0; (kernels::round_up(n) + 1) * lm],
            coef: vec![0.0; 4 * mp],
        }
    }

    /// The limit `t → ∞`: `2 O₊ S_λ O₊ᵀ` (docs/math.md §3.3 "Limits").
    pub fn steady_state(&self) -> DMatrix<f64> {
        let o_plus = self.o_plus();
        let scaled = DMatrix::from_fn(o_plus.nrows(), self.m, |r, c| {
            o_plus[(r, c)] * 2.0 * self.s_lambda[c]
        });
        scaled * o_plus.transpose()
    }

    /// `O₊` (`N × m`).
    pub(super) fn o_plus(&self) -> DMatrixView<'_, f64> {
        view(&self.o_plus_pad, self.n_in + self.n_out, self.m, self.ld)
    }

    /// `[O₋, O⊥]` (`N × (m + k)`).
    pub(super) fn o_rest(&self) -> DMatrixView<'_, f64> {
        view(&self.o_rest_pad, self.n_in + self.n_out, self.m + self.k, self.ld)
    }
}

/// A λ-balanced two-layer network with `Nh = min(Ni, No)` whose `QQᵀ` has the given network
/// function block (docs/math.md §4.3): with `W2W1 = U S Vᵀ`, `W1 = sqrt(S_λ − λ/2) Vᵀ` and
/// `W2 = U sqrt(S_λ + λ/2)`, i.e. the choice `R = I` of the unobservable rotation.
///
/// `QQᵀ` of a λ-balanced network is invariant under `R`, so a closed form restarted from these
/// weights continues the original trajectory exactly: this is how multi-phase protocols restart.
///
/// Errors only for a non-finite `qqt` ([`SolverError::Overflow`]) or an SVD that does not
/// converge.
pub fn weights_from_qqt(
    qqt: &DMatrix<f64>,
    n_in: usize,
    lambda: f64,
) -> Result<Network, SolverError> {
    let product = crate::metrics::product_from_qqt(qqt, n_in);
    let n_out = product.nrows();
    let m = n_in.min(n_out);
    let svd = FullSvd::new(&product, "the network function W2W1 to restart from")?;
    let mut w1 = DMatrix::zeros(m, n_in);
    let mut w2 = DMatrix::zeros(n_out, m);
    for alpha in 0..m {
        let (s1_sq, s2_sq) = crate::init::split_two_layer(svd.s[alpha], lambda);
        let (s1, s2) = (s1_sq.sqrt(), s2_sq.sqrt());
        for i in 0..n_in {
            w1[(alpha, i)] = s1 * svd.v_m[(i, alpha)];
        }
        for o in 0..n_out {
            w2[(o, alpha)] = s2 * svd.u_m[(o, alpha)];
        }
    }
    Ok(Network { layers: vec![w1, w2] })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given the task's SVD, the closed form is the one `new` builds (it computes the same SVD):
    /// bitwise equal at every time, stable and generic widths alike; an SVD of another shape is
    /// refused.
    #[test]
    fn a_given_task_svd_gives_the_same_closed_form_bitwise() {
        use crate::closed_form::Exact;
        use crate::init::{self, Balanced, ProductBases, ProductValues};
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for (widths, lambda) in [([8, 8, 8], 0.5), ([3, 3, 5], -1.0), ([2, 4, 3], 0.0)] {
            let sigma_yx = linalg::gaussian_matrix(widths[2], widths[0], 1.0, &mut rng);
            let problem = Problem::whitened(sigma_yx.clone());
            let params = Balanced {
                lambda,
                values: ProductValues::GaussianProduct { sigma: 0.3 },
                bases: ProductBases::Random,
            };
            let net = init::balanced(&widths, &params, &mut rng).unwrap();
            let svd = FullSvd::new(&sigma_yx, "the task Σyx").unwrap();
            let (Ok(plain), Ok(shared)) =
                (Exact::new(&net, &problem), Exact::with_task_svd(&net, &problem, &svd))
            else {
                panic!("{widths:?}: the closed form does not build");
            };
            for t in [0.0, 0.01, 1.0, 30.0] {
                match (plain.qqt(t), shared.qqt(t)) {
                    (Ok(a), Ok(b)) => assert!(
                        a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{widths:?} at {t}"
                    ),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{widths:?} at {t}: {a:?} against {b:?}"),
                }
            }
            if widths[0] != widths[2] {
                let other = FullSvd::new(&sigma_yx.transpose(), "Σyxᵀ").unwrap();
                let err = Exact::with_task_svd(&net, &problem, &other).unwrap_err();
                assert!(err.to_string().contains("the SVD given for the task"), "{err}");
            }
        }
    }

    /// The 8 × 8 set-up spectra (one-sided Jacobi on `P₊` and `W1` side by side) agree with
    /// nalgebra's bidiagonal SVD of `P₊` and symmetric eigensolver of `W1W1ᵀ` (the path of the
    /// other sizes): `σ_max(P₊)` and `‖W1‖₂²` to a few ulps, `σ_min(P₊)` to `ε cond(P₊)`, on
    /// balanced inits from well conditioned to nearly singular (a rank-7 `W2W1`, where Jacobi
    /// keeps a relative accuracy that the bidiagonal SVD does not, and both report singular).
    #[test]
    fn eight_by_eight_spectra_agree_with_nalgebras_factorizations() {
        use crate::init::{self, Balanced, ProductBases, ProductValues};
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut checked = 0;
        for case in 0..60 {
            let sigma = [1e-3, 0.1, 1.0][case % 3];
            let sigma_yx = linalg::gaussian_matrix(8, 8, 1.0, &mut rng);
            let problem = Problem::whitened(sigma_yx.clone());
            // Every tenth case: λ = 0 and a product of rank 7, so P₊ is singular.
            let rank_seven = [1.0, 0.8, 0.5, 0.3, 0.2, 0.1, 0.05, 0.0];
            let (lambda, values) = if case % 10 == 9 {
                (0.0, ProductValues::Given(&rank_seven))
            } else {
                ([-2.0, -0.3, 0.0, 0.7, 3.0][case % 5], ProductValues::GaussianProduct { sigma })
            };
            let params = Balanced { lambda, values, bases: ProductBases::Random };
            let net = init::balanced(&[8, 8, 8], &params, &mut rng).unwrap();
            let (_, gram_w1) = match checked_lambda_and_gram(&net, &problem) {
                Ok(found) => found,
                Err(_) => continue,
            };
            let basis = Eigenbasis::new(&problem.sigma_yx, None, lambda).unwrap();
            let o_full = crate::linalg::hcat(&basis.o_plus, &basis.o_rest);
            let p_plus = linalg::product(&o_full.transpose(), &net.q_matrix().unwrap())
                .rows(0, 8)
                .clone_owned();
            let fast = spectra(&p_plus, &net.layers[0], &gram_w1).unwrap();
            let values = linalg::singular_values(&p_plus, "P₊").unwrap();
            let eigen = linalg::symmetric_eigen(&gram_w1, "W1W1ᵀ").unwrap();
            let (sigma_max, sigma_min) = (values.max(), values.min());
            let w1_norm_sq = eigen.eigenvalues.max();
            let close =
                |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b.abs().max(f64::MIN_POSITIVE);
            assert!(close(fast.sigma_max, sigma_max, 1e-14), "case {case}: σ_max {fast:?}");
            assert!(close(fast.w1_norm_sq, w1_norm_sq, 1e-13), "case {case}: ‖W1‖² {fast:?}");
            let cond = sigma_max / fast.sigma_min;
            if cond < 1e8 {
                assert!(
                    close(fast.sigma_min, sigma_min, 1e-14 * cond),
                    "case {case}: σ_min {fast:?}"
                );
            } else {
                // Nearly singular: both past the closed form's condition limit.
                assert!(
                    cond > MAX_CONDITION && sigma_max / sigma_min > MAX_CONDITION,
                    "case {case}"
                );
            }
            checked += 1;
        }
        assert!(checked >= 50, "only {checked} cases built");
    }

    fn rot(theta: f64) -> DMatrix<f64> {
        let (s, c) = theta.sin_cos();
        DMatrix::from_row_slice(2, 2, &[c, -s, s, c])
    }

    /// Golden case G1 (docs/golden.md), the quickest end-to-end check of the stable evaluation.
    #[test]
    fn golden_g1_entries() {
        let mut s1 = DMatrix::zeros(2, 2);
        let mut s2 = DMatrix::zeros(2, 2);
        for (idx, s) in [0.3, 0.1].into_iter().enumerate() {
            let (a, b) = crate::init::split_two_layer(s, 1.0);
            s1[(idx, idx)] = a.sqrt();
            s2[(idx, idx)] = b.sqrt();
        }
        let (u, v, r) = (rot(0.4), rot(-0.7), rot(1.1));
        let w1 = &r * s1 * v.transpose();
        let w2 = u * s2 * r.transpose();
        let net = Network::two_layer(w1, w2).unwrap();
        let sigma_yx = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.0, 1.0]);
        let cf = ClosedForm::new(&net, &Problem::whitened(sigma_yx)).unwrap();
        assert!((cf.qqt(1.0).unwrap()[(2, 0)] - 1.872827350227).abs() < 1e-10);
        assert!((cf.qqt(5.0).unwrap()[(3, 3)] - 1.607170485358).abs() < 1e-10);
    }

    #[test]
    fn weights_from_qqt_restart_continues_the_trajectory() {
        let net = Network::two_layer(
            DMatrix::from_row_slice(2, 3, &[0.14, 0.78, 0.20, -0.73, -0.04, 0.30]),
            DMatrix::zeros(2, 2),
        )
        .unwrap();
        // Make it balanced at λ = −0.5 by rebuilding from its own product.
        let lambda = -0.5;
        let mut q = DMatrix::zeros(5, 5);
        q.view_mut((3, 0), (2, 3))
            .copy_from(&(DMatrix::from_row_slice(2, 2, &[0.3, -0.3, 0.25, 0.13]) * &net.layers[0]));
        let start = weights_from_qqt(&q, 3, lambda).unwrap();
        assert!(start.balance_residuals()[0] < 1e-14);
        let problem =
            Problem::whitened(DMatrix::from_row_slice(2, 3, &[1.0, 0.2, -0.3, 0.1, 0.6, 0.4]));
        let cf = ClosedForm::new(&start, &problem).unwrap();
        let mid = cf.qqt(1.5).unwrap();
        let restarted =
            ClosedForm::new(&weights_from_qqt(&mid, 3, lambda).unwrap(), &problem).unwrap();
        let direct = cf.qqt(4.0).unwrap();
        let two_phase = restarted.qqt(2.5).unwrap();
        assert!((direct - two_phase).amax() < 1e-12);
    }
}
