//! The exact two-layer trajectory for $N_h = \min(N_i, N_o)$ (MATH §3.3), evaluated the
//! numerically stable way (MATH §3.4).
//!
//! Under whitened inputs and a λ-balanced start, $QQ^\top$ solves the Riccati equation
//! $\tau \tfrac{d}{dt} QQ^\top = F QQ^\top + QQ^\top F - (QQ^\top)^2$ with
//! $F = \begin{bmatrix} -\tfrac\lambda2 I & \Sigma_{yx}^\top \\ \Sigma_{yx} & \tfrac\lambda2 I\end{bmatrix}$.
//! With $F = O\Lambda O^\top$, $O = [O_+, O_-, O_\perp]$ and $P_\bullet = O_\bullet^\top Q_0$:
//!
//! $$QQ^\top(t) = Z A^{-1} Z^\top,\quad Z = O_+ + O_-(ee^\top\odot N_-) + O_\perp(N_\perp \odot \mathbf 1 g^\top),$$
//! $$A = ee^\top \odot (H + N_-^\top \operatorname{diag}(f) N_-) + \operatorname{diag}(f) + K_\perp \odot h,$$
//!
//! with $e_\alpha = e^{-s_{\lambda,\alpha}T}$, $f_\alpha = (1-e_\alpha^2)/(2 s_{\lambda,\alpha})$,
//! $g_\beta = e^{(\lambda_\perp - s_{\lambda,\beta})T}$, $h_{\alpha\beta} = G(T) e_\alpha e_\beta$,
//! $N_- = P_-P_+^{-1}$, $N_\perp = P_\perp P_+^{-1}$, $H = P_+^{-\top}P_+^{-1}$,
//! $K_\perp = N_\perp^\top N_\perp$. Every exponent is non-positive, no quantity is divided by λ,
//! and `A` is factored by Cholesky, so the result is finite and symmetric PSD for any
//! $t \ge 0$ (tested to $t = 10^{12}$ and $|\lambda| = 10^4$).
//!
//! Setup is $O(N^3)$ once per trajectory; a time point costs $O((N_i+N_o)^2 m)$ with no
//! allocation (see [`Workspace`]).

use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut, DVector};

use crate::error::SolverError;
use crate::generic::GenericClosedForm;
use crate::kernels;
use crate::linalg::{FullSvd, spectral_norm};
use crate::network::{Network, Problem};

/// Relative tolerance on the balance: `‖W2ᵀW2 − W1W1ᵀ − λI‖_F ≤ tol · max(1, ‖W1‖_F², ‖W2‖_F²)`.
pub const BALANCE_TOLERANCE: f64 = 1e-8;
/// Entrywise tolerance for treating Σxx as the identity.
pub const WHITENING_TOLERANCE: f64 = 1e-10;
/// `cond(P₊)` above this is reported as [`SolverError::Singular`] (MATH §3.4, P7).
pub const MAX_CONDITION: f64 = 1e12;
/// `σ_min(P₊) / max(‖W1‖₂, ‖W2‖₂)` below this is reported as singular (MATH P7).
pub const MIN_RELATIVE_SIGMA: f64 = 1e-12;

/// Checks the common preconditions of the exact solutions and returns λ.
pub(crate) fn check_balanced_two_layer(
    net: &Network,
    problem: &Problem,
) -> Result<f64, SolverError> {
    let bad = |msg: String| Err(SolverError::InvalidInput(msg));
    if net.depth() != 2 {
        return bad(format!(
            "the closed form needs a two-layer network, got depth {}; use a simulation",
            net.depth()
        ));
    }
    if !net.is_finite() {
        return bad("the weights have a non-finite entry".into());
    }
    problem.check(net.n_in(), net.n_out())?;
    if !problem.is_whitened(WHITENING_TOLERANCE) {
        return bad(
            "the closed form needs whitened inputs (sigma_xx = I); use a simulation method".into(),
        );
    }
    let (w1, w2) = (&net.layers[0], &net.layers[1]);
    let lambda = net.lambdas()[0];
    let residual = net.balance_residuals()[0];
    let scale = w1.norm_squared().max(w2.norm_squared()).max(1.0);
    if !(lambda.is_finite() && residual.is_finite() && scale.is_finite()) {
        return bad("the weights are too large: their squares overflow".into());
    }
    if residual > BALANCE_TOLERANCE * scale {
        return bad(format!(
            "the weights are not lambda-balanced: ||W2'W2 - W1W1' - lambda I||_F = {residual:.3e} \
             exceeds {:.1e} (relative); use a simulation method",
            BALANCE_TOLERANCE
        ));
    }
    Ok(lambda)
}

/// The eigendecomposition of F (MATH §3.2): `F = O₊ S_λ O₊ᵀ − O₋ S_λ O₋ᵀ + λ⊥ O⊥O⊥ᵀ`.
#[derive(Clone, Debug)]
pub(crate) struct Eigenbasis {
    /// `s_λ = sqrt(s̃² + λ²/4)` per task mode, in the order of the SVD (descending s̃).
    pub(crate) s_lambda: Vec<f64>,
    /// `s_λ − λ⊥ ≥ 0`, computed without cancellation.
    pub(crate) perp_rate: Vec<f64>,
    /// `λ⊥ = sgn(No − Ni) λ/2`.
    pub(crate) lambda_perp: f64,
    /// `O₊` (`N × m`).
    pub(crate) o_plus: DMatrix<f64>,
    /// `[O₋, O⊥]` (`N × (m + k)`).
    pub(crate) o_rest: DMatrix<f64>,
}

impl Eigenbasis {
    pub(crate) fn new(sigma_yx: &DMatrix<f64>, lambda: f64) -> Result<Eigenbasis, SolverError> {
        let (n_out, n_in) = sigma_yx.shape();
        let m = n_in.min(n_out);
        let k = n_in.max(n_out) - m;
        let n = n_in + n_out;
        let svd = FullSvd::new(sigma_yx);
        let half = 0.5 * lambda;
        let s_lambda: Vec<f64> = svd.s.iter().map(|s| s.hypot(half)).collect();
        if let Some(pos) = s_lambda.iter().position(|&s| s <= 0.0) {
            return Err(SolverError::RankDeficientTask { smallest: svd.s[pos] });
        }
        // Ĉ² = (s_λ − λ/2)/s_λ and D̂² = (s_λ + λ/2)/s_λ, the smaller numerator as s̃²/(larger)
        // (MATH P3, P4): never divide by λ.
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
        Ok(Eigenbasis { s_lambda, perp_rate, lambda_perp, o_plus, o_rest })
    }
}

/// Per-trajectory constants of the stable closed form.
#[derive(Clone, Debug)]
pub struct ClosedForm {
    n_in: usize,
    n_out: usize,
    /// `m = min(Ni, No) = Nh`.
    m: usize,
    /// `|Ni − No|`.
    k: usize,
    lambda: f64,
    tau: f64,
    /// `s_λ = sqrt(s̃² + λ²/4)` per mode.
    s_lambda: Vec<f64>,
    /// `s_λ − λ⊥ ≥ 0`, computed without cancellation: the decay rate of the ⊥ coupling.
    perp_rate: Vec<f64>,
    /// `λ⊥ = sgn(No − Ni) λ/2`.
    lambda_perp: f64,
    /// `O₊` (`N × m`, N = Ni + No).
    o_plus: DMatrix<f64>,
    /// `[O₋, O⊥]` (`N × (m + k)`).
    o_rest: DMatrix<f64>,
    /// `N₋ = P₋P₊⁻¹` (`m × m`).
    n_minus: DMatrix<f64>,
    /// `N⊥ = P⊥P₊⁻¹` (`k × m`).
    n_perp: DMatrix<f64>,
    /// `H = P₊⁻ᵀP₊⁻¹` (`m × m`).
    h: DMatrix<f64>,
    /// `K⊥ = N⊥ᵀN⊥` (`m × m`).
    k_perp: DMatrix<f64>,
    /// Large problems use nalgebra's GEMM; small ones the register-blocked kernels.
    use_gemm: bool,
    /// Early-time evaluation (see [`ClosedForm::qqt_into`]): the full eigenbasis `[O₊, O₋, O⊥]`.
    o_full: DMatrix<f64>,
    /// Eigenvalues of F in the order of `o_full`'s columns.
    eigenvalues: Vec<f64>,
    /// `P = [O₊, O₋, O⊥]ᵀ Q₀` (`N × m`) and its transpose.
    p_full: DMatrix<f64>,
    p_full_t: DMatrix<f64>,
    /// Times `T = t/τ` below this use the direct Fukumizu form.
    early_until: f64,
}

/// Largest condition bound of the direct (Fukumizu) form used at early times.
pub const EARLY_MAX_CONDITION: f64 = 1e8;

/// `‖W1‖₂² + ‖W2‖₂² ≥ ‖Q₀‖₂²`.
fn weight_norm_sq_bound(w1: &DMatrix<f64>, w2: &DMatrix<f64>) -> f64 {
    spectral_norm(w1).powi(2) + spectral_norm(w2).powi(2)
}

/// `(Ni + No) · m²` above which a time point uses GEMM rather than the small kernels.
const GEMM_THRESHOLD: usize = 24 * 12 * 12;

/// Scratch buffers for [`ClosedForm::qqt_into`]; one per thread.
#[derive(Clone, Debug)]
pub struct Workspace {
    e: Vec<f64>,
    f: Vec<f64>,
    g: Vec<f64>,
    /// `[ee^T ⊙ N₋; N⊥ ⊙ 1gᵀ]`, column-major `(m + k) × m`.
    n_tilde: Vec<f64>,
    /// `f ⊙ N₋` column by column (`√f ⊙ N₋` on the GEMM path).
    f_n: Vec<f64>,
    /// `N₋ᵀ diag(f) N₋` on the GEMM path.
    quad: Vec<f64>,
    /// `Z`, then `Z L⁻ᵀ`, column-major `N × m`.
    z: Vec<f64>,
    /// `A`, then its Cholesky factor, column-major `m × m`.
    a: Vec<f64>,
    /// Early-time buffers: `e^{ΛT}P`, `ΓP` (`N × m`) and `O·Y` (`N × m`).
    x: Vec<f64>,
    gamma_p: Vec<f64>,
    w: Vec<f64>,
}

impl ClosedForm {
    /// Precomputes the trajectory of `net` (two layers, `Nh = min(Ni, No)`, λ-balanced) on a
    /// whitened `problem`.
    ///
    /// Returns [`SolverError::Singular`] when `B` is numerically singular (both tests of MATH P7),
    /// [`SolverError::RankDeficientTask`] for a rank-deficient Σyx at λ = 0, and
    /// [`SolverError::InvalidInput`] when the preconditions do not hold.
    pub fn new(net: &Network, problem: &Problem) -> Result<ClosedForm, SolverError> {
        let lambda = check_balanced_two_layer(net, problem)?;
        let (w1, w2) = (&net.layers[0], &net.layers[1]);
        let (n_in, n_out, n_hidden) = (w1.ncols(), w2.nrows(), w1.nrows());
        let m = n_in.min(n_out);
        if n_hidden != m {
            return Err(SolverError::InvalidInput(format!(
                "the stable closed form needs Nh = min(Ni, No) = {m}, got Nh = {n_hidden}"
            )));
        }
        let k = n_in.max(n_out) - m;
        let basis = Eigenbasis::new(&problem.sigma_yx, lambda)?;
        let Eigenbasis { s_lambda, perp_rate, lambda_perp, o_plus, o_rest } = basis;
        let q0 = net.q_matrix().expect("two layers");
        let p_plus = o_plus.tr_mul(&q0);
        let p_rest = o_rest.tr_mul(&q0);
        if !(p_plus.iter().chain(p_rest.iter()).all(|x| x.is_finite())) {
            return Err(SolverError::InvalidInput(
                "the weights or the task are too large: the projection onto F's eigenbasis \
                 overflowed"
                    .into(),
            ));
        }
        let p_svd = p_plus.clone().svd(true, true);
        let sigma_max = p_svd.singular_values.max();
        let sigma_min = p_svd.singular_values.min();
        let weight_norm = spectral_norm(w1).max(spectral_norm(w2));
        let condition = if sigma_min > 0.0 { sigma_max / sigma_min } else { f64::INFINITY };
        let relative_sigma_min = if weight_norm > 0.0 { sigma_min / weight_norm } else { 0.0 };
        if !(condition <= MAX_CONDITION && relative_sigma_min >= MIN_RELATIVE_SIGMA) {
            return Err(SolverError::Singular { condition, relative_sigma_min });
        }
        // P₊⁻¹ = V Σ⁻¹ Uᵀ from the SVD already computed.
        let u = p_svd.u.expect("u requested");
        let v_t = p_svd.v_t.expect("v requested");
        let inv_s = DMatrix::from_diagonal(&p_svd.singular_values.map(|s| 1.0 / s));
        let p_plus_inv = v_t.transpose() * inv_s * u.transpose();
        let n_rest = &p_rest * &p_plus_inv;
        // Early times: the direct form is accurate while cond(M) ≤ 1 + ‖Q₀‖²Γ_max(T) stays below
        // the stable form's own error factor cond(P₊)² (capped at EARLY_MAX_CONDITION).
        let q_norm_sq = weight_norm_sq_bound(w1, w2);
        let s_max = s_lambda.iter().copied().fold(0.0, f64::max);
        let budget = (condition * condition).min(EARLY_MAX_CONDITION) - 1.0;
        let early_until = if q_norm_sq == 0.0 || budget <= 0.0 {
            0.0
        } else {
            (2.0 * s_max * budget / q_norm_sq).ln_1p() / (2.0 * s_max)
        };
        let o_full = crate::linalg::hcat(&o_plus, &o_rest);
        let p_full = crate::linalg::vcat(&p_plus, &p_rest);
        let p_full_t = p_full.transpose();
        let mut eigenvalues = s_lambda.clone();
        eigenvalues.extend(s_lambda.iter().map(|s| -s));
        eigenvalues.extend(std::iter::repeat_n(lambda_perp, k));
        let n_minus = n_rest.rows(0, m).clone_owned();
        let n_perp = n_rest.rows(m, k).clone_owned();
        let h = p_plus_inv.tr_mul(&p_plus_inv);
        let k_perp = n_perp.tr_mul(&n_perp);

        Ok(ClosedForm {
            n_in,
            n_out,
            m,
            k,
            lambda,
            tau: problem.tau,
            s_lambda,
            perp_rate,
            lambda_perp,
            o_plus,
            o_rest,
            n_minus,
            n_perp,
            h,
            k_perp,
            use_gemm: (n_in + n_out) * m * m > GEMM_THRESHOLD,
            o_full,
            eigenvalues,
            p_full,
            p_full_t,
            early_until,
        })
    }

    /// λ of the initial weights (conserved by the flow).
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

    /// The eigenvalues `s_λ = sqrt(s̃² + λ²/4)` of F on `O₊`, one per task mode.
    pub fn s_lambda(&self) -> &[f64] {
        &self.s_lambda
    }

    /// Scratch buffers sized for this trajectory.
    pub fn workspace(&self) -> Workspace {
        let (m, k, n) = (self.m, self.k, self.n_in + self.n_out);
        Workspace {
            e: vec![0.0; m],
            f: vec![0.0; m],
            g: vec![0.0; m],
            n_tilde: vec![0.0; (m + k) * m],
            f_n: vec![0.0; m * m],
            quad: vec![0.0; m * m],
            z: vec![0.0; n * m],
            a: vec![0.0; m * m],
            x: vec![0.0; n * m],
            gamma_p: vec![0.0; n * m],
            w: vec![0.0; n * m],
        }
    }

    /// `QQᵀ(t)`, allocating.
    pub fn qqt(&self, t: f64) -> Result<DMatrix<f64>, SolverError> {
        let n = self.n_in + self.n_out;
        let mut out = DMatrix::zeros(n, n);
        self.qqt_into(t, &mut self.workspace(), &mut out)?;
        Ok(out)
    }

    /// `QQᵀ(t)` into `out` (`(Ni+No) × (Ni+No)`), without allocating.
    ///
    /// `t` must be finite and non-negative.
    pub fn qqt_into(
        &self,
        t: f64,
        ws: &mut Workspace,
        out: &mut DMatrix<f64>,
    ) -> Result<(), SolverError> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(SolverError::InvalidInput(format!(
                "time must be finite and non-negative, got {t}"
            )));
        }
        let (m, k, n) = (self.m, self.k, self.n_in + self.n_out);
        if out.shape() != (n, n) {
            *out = DMatrix::zeros(n, n);
        }
        let big_t = t / self.tau;
        if big_t < self.early_until {
            self.qqt_early(big_t, ws, out);
            return Ok(());
        }

        // Scalar factors; every exponent is ≤ 0.
        for alpha in 0..m {
            let s = self.s_lambda[alpha];
            let e = (-s * big_t).exp();
            let x = 2.0 * s * big_t;
            ws.e[alpha] = e;
            ws.f[alpha] =
                if x > 0.7 { (1.0 - e * e) / (2.0 * s) } else { -(-x).exp_m1() / (2.0 * s) };
            if k > 0 {
                ws.g[alpha] = (-self.perp_rate[alpha] * big_t).exp();
            }
        }

        // Ñ = [eeᵀ ⊙ N₋; N⊥ ⊙ 1gᵀ] and f ⊙ N₋.
        let rows = m + k;
        let n_minus = self.n_minus.as_slice();
        let n_perp = self.n_perp.as_slice();
        for j in 0..m {
            let ej = ws.e[j];
            let col = &mut ws.n_tilde[j * rows..(j + 1) * rows];
            for i in 0..m {
                col[i] = ws.e[i] * ej * n_minus[j * m + i];
            }
            let gj = ws.g[j];
            for p in 0..k {
                col[m + p] = n_perp[j * k + p] * gj;
            }
            let f_col = &mut ws.f_n[j * m..(j + 1) * m];
            if self.use_gemm {
                // √f ⊙ N₋, so that N₋ᵀ diag(f) N₋ = (√f ⊙ N₋)ᵀ(√f ⊙ N₋) by one GEMM.
                for i in 0..m {
                    f_col[i] = ws.f[i].sqrt() * n_minus[j * m + i];
                }
            } else {
                for i in 0..m {
                    f_col[i] = ws.f[i] * n_minus[j * m + i];
                }
            }
        }

        // Z = O₊ + [O₋, O⊥] Ñ.
        ws.z.copy_from_slice(self.o_plus.as_slice());
        if self.use_gemm {
            let mut z = DMatrixViewMut::from_slice(&mut ws.z, n, m);
            let n_tilde = DMatrixView::from_slice(&ws.n_tilde, rows, m);
            z.gemm(1.0, &self.o_rest, &n_tilde, 1.0);
        } else {
            kernels::gemm_acc(&mut ws.z, self.o_rest.as_slice(), &ws.n_tilde, n, rows, m);
        }

        if self.use_gemm {
            let root_f_n = DMatrixView::from_slice(&ws.f_n, m, m);
            let mut quad = DMatrixViewMut::from_slice(&mut ws.quad, m, m);
            quad.gemm(1.0, &root_f_n.transpose(), &root_f_n, 0.0);
        }
        self.fill_a(ws, big_t);
        if kernels::cholesky_lower_in_place(&mut ws.a, m) {
            // W = Z L⁻ᵀ, so that Z A⁻¹ Zᵀ = W Wᵀ.
            kernels::solve_right_lower_transposed(&mut ws.z, &ws.a, n, m);
        } else {
            self.whiten_by_eigen(ws, big_t);
        }

        // out = W Wᵀ, exactly symmetric.
        if self.use_gemm {
            let w = DMatrixView::from_slice(&ws.z, n, m);
            let w_t = w.transpose();
            out.gemm(1.0, &w, &w_t, 0.0);
            for c in 0..n {
                for r in 0..c {
                    out[(r, c)] = out[(c, r)];
                }
            }
        } else {
            kernels::syrk(out.as_mut_slice(), &ws.z, n, m);
        }
        Ok(())
    }

    /// The direct Fukumizu form `X M⁻¹ Xᵀ` with `X = O e^{ΛT} P`, `M = I + Pᵀ Γ(T) P` (MATH
    /// §3.1), used for `T < early_until`. There `M` is well conditioned (eigenvalues in
    /// `[1, 1 + ‖Q₀‖²Γ_max]`), whereas the stable form reaches small T through `P₊⁻¹` and loses
    /// accuracy like `cond(P₊)²` when the initialization is close to singular.
    fn qqt_early(&self, big_t: f64, ws: &mut Workspace, out: &mut DMatrix<f64>) {
        let (m, n) = (self.m, self.n_in + self.n_out);
        let p = self.p_full.as_slice();
        for (row, &mu) in self.eigenvalues.iter().enumerate() {
            let d = (mu * big_t).exp();
            let gamma = growth_integral(2.0 * mu, big_t);
            for col in 0..m {
                ws.x[col * n + row] = d * p[col * n + row];
                ws.gamma_p[col * n + row] = gamma * p[col * n + row];
            }
        }
        ws.a.fill(0.0);
        for i in 0..m {
            ws.a[i * m + i] = 1.0;
        }
        kernels::gemm_acc(&mut ws.a, self.p_full_t.as_slice(), &ws.gamma_p, m, n, m);
        if !kernels::cholesky_lower_in_place(&mut ws.a, m) {
            unreachable!("M = I + PᵀΓP with Γ ≥ 0 is positive definite");
        }
        kernels::solve_right_lower_transposed(&mut ws.x, &ws.a, n, m);
        ws.w.fill(0.0);
        kernels::gemm_acc(&mut ws.w, self.o_full.as_slice(), &ws.x, n, n, m);
        kernels::syrk(out.as_mut_slice(), &ws.w, n, m);
    }

    /// The lower triangle of `A(T)` into `ws.a` (needs `e`, `f`, `g`, `f_n` filled).
    fn fill_a(&self, ws: &mut Workspace, big_t: f64) {
        let (m, k) = (self.m, self.k);
        let n_minus = self.n_minus.as_slice();
        let h = self.h.as_slice();
        let k_perp = self.k_perp.as_slice();
        let two_lp = 2.0 * self.lambda_perp;
        let g_scalar = growth_integral(two_lp, big_t);
        let direct = two_lp * big_t > 1.0;
        for j in 0..m {
            let fn_col = &ws.f_n[j * m..(j + 1) * m];
            for i in j..m {
                let quad: f64 = if self.use_gemm {
                    ws.quad[j * m + i]
                } else {
                    let n_col = &n_minus[i * m..(i + 1) * m];
                    n_col.iter().zip(fn_col).map(|(a, b)| a * b).sum()
                };
                let ee = ws.e[i] * ws.e[j];
                let mut value = ee * (h[j * m + i] + quad);
                if i == j {
                    value += ws.f[i];
                }
                if k > 0 {
                    // h_ij = G(T) e_i e_j; for 2λ⊥T > 1 as (g_i g_j − e_i e_j)/(2λ⊥), since
                    // g_i = e_i e^{λ⊥T}: no exponent is positive and little cancels.
                    let growth =
                        if direct { (ws.g[i] * ws.g[j] - ee) / two_lp } else { ee * g_scalar };
                    value += k_perp[j * m + i] * growth;
                }
                ws.a[j * m + i] = value;
            }
        }
    }

    /// Fallback when roundoff makes `A` fail Cholesky (only for an ill-conditioned `P₊` near
    /// `t = 0`): `Z ← Z Q Λ^{-1/2}` from the symmetric eigendecomposition, eigenvalues clamped.
    fn whiten_by_eigen(&self, ws: &mut Workspace, big_t: f64) {
        let (m, n) = (self.m, self.n_in + self.n_out);
        self.fill_a(ws, big_t);
        let a = DMatrix::from_fn(m, m, |i, j| ws.a[i.min(j) * m + i.max(j)]);
        let eigen = a.symmetric_eigen();
        let floor = eigen.eigenvalues.max() * f64::EPSILON;
        let scale =
            DVector::from_iterator(m, eigen.eigenvalues.iter().map(|&l| 1.0 / l.max(floor).sqrt()));
        let z = DMatrix::from_column_slice(n, m, &ws.z);
        let w = z * eigen.eigenvectors * DMatrix::from_diagonal(&scale);
        ws.z.copy_from_slice(w.as_slice());
    }

    /// The limit `t → ∞`: `2 O₊ S_λ O₊ᵀ` (MATH §3.3 "Limits").
    pub fn steady_state(&self) -> DMatrix<f64> {
        let scaled = DMatrix::from_fn(self.o_plus.nrows(), self.m, |r, c| {
            self.o_plus[(r, c)] * 2.0 * self.s_lambda[c]
        });
        scaled * self.o_plus.transpose()
    }
}

/// `G(T) e^{…}` helper: `T · expm1(x)/x` with `x = 2λ⊥T`, i.e. `(e^{2λ⊥T} − 1)/(2λ⊥)` without
/// dividing by a small λ⊥ (MATH P6).
fn growth_integral(two_lambda_perp: f64, big_t: f64) -> f64 {
    let x = two_lambda_perp * big_t;
    if x.abs() < 1e-8 { big_t * (1.0 + 0.5 * x) } else { big_t * x.exp_m1() / x }
}

/// The exact solution for any admissible two-layer width: the stable form when
/// `Nh = min(Ni, No)`, the generic Fukumizu form (with a validity limit) when `Nh` is larger.
#[derive(Clone, Debug)]
pub enum Exact {
    /// `Nh = min(Ni, No)`: [`ClosedForm`].
    Stable(Box<ClosedForm>),
    /// `Nh > min(Ni, No)`: [`GenericClosedForm`].
    Generic(GenericClosedForm),
}

impl Exact {
    /// Chooses the form from the widths of `net`.
    pub fn new(net: &Network, problem: &Problem) -> Result<Exact, SolverError> {
        if net.depth() == 2 && net.layers[0].nrows() > net.n_in().min(net.n_out()) {
            Ok(Exact::Generic(GenericClosedForm::new(net, problem)?))
        } else {
            Ok(Exact::Stable(Box::new(ClosedForm::new(net, problem)?)))
        }
    }

    /// λ of the initial weights.
    pub fn lambda(&self) -> f64 {
        match self {
            Exact::Stable(cf) => cf.lambda(),
            Exact::Generic(g) => g.lambda(),
        }
    }

    /// `QQᵀ(t)`.
    pub fn qqt(&self, t: f64) -> Result<DMatrix<f64>, SolverError> {
        match self {
            Exact::Stable(cf) => cf.qqt(t),
            Exact::Generic(g) => g.qqt(t),
        }
    }
}

/// A λ-balanced two-layer network with `Nh = min(Ni, No)` whose `QQᵀ` has the given network
/// function block (MATH §4.3): with `W2W1 = U S Vᵀ`, `W1 = sqrt(S_λ − λ/2) Vᵀ` and
/// `W2 = U sqrt(S_λ + λ/2)`, i.e. the choice `R = I` of the unobservable rotation.
///
/// `QQᵀ` of a λ-balanced network is invariant under `R`, so a closed form restarted from these
/// weights continues the original trajectory exactly: this is how multi-phase protocols restart.
pub fn weights_from_qqt(qqt: &DMatrix<f64>, n_in: usize, lambda: f64) -> Network {
    let product = crate::metrics::product_from_qqt(qqt, n_in);
    let n_out = product.nrows();
    let m = n_in.min(n_out);
    let svd = FullSvd::new(&product);
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
    Network { layers: vec![w1, w2] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(theta: f64) -> DMatrix<f64> {
        let (s, c) = theta.sin_cos();
        DMatrix::from_row_slice(2, 2, &[c, -s, s, c])
    }

    /// Golden case G1 (GOLDEN.md), the quickest end-to-end check of the stable evaluation.
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
        let start = weights_from_qqt(&q, 3, lambda);
        assert!(start.balance_residuals()[0] < 1e-14);
        let problem =
            Problem::whitened(DMatrix::from_row_slice(2, 3, &[1.0, 0.2, -0.3, 0.1, 0.6, 0.4]));
        let cf = ClosedForm::new(&start, &problem).unwrap();
        let mid = cf.qqt(1.5).unwrap();
        let restarted = ClosedForm::new(&weights_from_qqt(&mid, 3, lambda), &problem).unwrap();
        let direct = cf.qqt(4.0).unwrap();
        let two_phase = restarted.qqt(2.5).unwrap();
        assert!((direct - two_phase).amax() < 1e-12);
    }
}
