//! A linear network `ŷ = W_L ⋯ W_2 W_1 x` and the regression problem it is trained on.

use nalgebra::DMatrix;

use crate::error::SolverError;

/// The weights of a deep linear network, input layer first.
///
/// `layers[0]` is `W1` (`N1 × Ni`), `layers[L-1]` is `W_L` (`No × N_{L-1}`). Depth is the number
/// of weight matrices (docs/math.md "naming trap").
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Weight matrices, input side first.
    pub layers: Vec<DMatrix<f64>>,
}

/// `‖m‖_F` without overflowing the sum of squares: scaled by the largest entry first, so the
/// result is finite whenever it fits in `f64` (entries near the P15 bound square beyond it).
/// On the slice: the same folds as nalgebra's `amax` and its column-major iterator.
fn scaled_norm(m: &DMatrix<f64>) -> f64 {
    let mut entries = m.as_slice().iter();
    let first = entries.next().map_or(0.0, |x| x.abs());
    let largest = entries.fold(first, |a, b| {
        let b = b.abs();
        if a >= b { a } else { b }
    });
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    largest * m.as_slice().iter().map(|x| (x / largest).powi(2)).sum::<f64>().sqrt()
}

/// The balance `B_l = W_{l+1}ᵀW_{l+1} − W_lW_lᵀ` of one hidden layer, measured
/// ([`Network::balance_stats`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BalanceStats {
    /// `λ_l = tr B_l / N_l`, the λ the layer is closest to.
    pub lambda: f64,
    /// `‖B_l − λ_l I‖_F`.
    pub residual: f64,
    /// `‖B_l‖_F`.
    pub norm: f64,
    /// `‖W_{l+1}ᵀW_{l+1}‖_F + ‖W_lW_lᵀ‖_F`: the size of the two terms, what rounding in `B_l` is
    /// relative to.
    pub terms: f64,
    /// The hidden width `N_l`.
    pub width: usize,
}

impl BalanceStats {
    /// `B_l` smaller than this share of [`BalanceStats::terms`] is zero as far as rounding can
    /// tell (a λ-balanced init at λ = 0), and its relative defect is undefined.
    pub const ZERO_BALANCE: f64 = 1e-6;

    /// `‖B_l − λ_l I‖_F / ‖B_l‖_F`, in [0, 1]: 0 when `B_l = λ_l I`; `None` when `B_l` is zero to
    /// rounding ([`BalanceStats::ZERO_BALANCE`]) or not finite.
    pub fn relative_defect(&self) -> Option<f64> {
        let defined = self.norm.is_finite()
            && self.residual.is_finite()
            && self.norm > Self::ZERO_BALANCE * self.terms;
        defined.then(|| (self.residual / self.norm).min(1.0))
    }

    /// `‖B_l − λ_l I‖_F / N_l`: the root mean square of the `N_l²` entries of `B_l − λ_l I`.
    pub fn entry_defect(&self) -> f64 {
        self.residual / self.width as f64
    }
}

impl Network {
    /// A network from its layers, checking that consecutive shapes chain.
    pub fn new(layers: Vec<DMatrix<f64>>) -> Result<Network, SolverError> {
        if layers.is_empty() {
            return Err(SolverError::InvalidInput("a network needs at least one layer".into()));
        }
        for (idx, pair) in layers.windows(2).enumerate() {
            if pair[1].ncols() != pair[0].nrows() {
                return Err(SolverError::InvalidInput(format!(
                    "layer {} has {} columns but layer {} has {} rows",
                    idx + 2,
                    pair[1].ncols(),
                    idx + 1,
                    pair[0].nrows()
                )));
            }
        }
        Ok(Network { layers })
    }

    /// A two-layer network `W2 W1`.
    pub fn two_layer(w1: DMatrix<f64>, w2: DMatrix<f64>) -> Result<Network, SolverError> {
        Network::new(vec![w1, w2])
    }

    /// Number of weight matrices.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Widths `[Ni, N1, …, No]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths = Vec::with_capacity(self.layers.len() + 1);
        widths.push(self.layers[0].ncols());
        widths.extend(self.layers.iter().map(|w| w.nrows()));
        widths
    }

    /// Input dimension Ni.
    pub fn n_in(&self) -> usize {
        self.layers[0].ncols()
    }

    /// Output dimension No.
    pub fn n_out(&self) -> usize {
        self.layers[self.layers.len() - 1].nrows()
    }

    /// The network function `W_L ⋯ W_1` (`No × Ni`).
    ///
    /// Each product is [`crate::linalg::product`] (bitwise nalgebra's `w * acc`).
    pub fn product(&self) -> DMatrix<f64> {
        let mut acc = self.layers[0].clone();
        for w in &self.layers[1..] {
            acc = crate::linalg::product(w, &acc);
        }
        acc
    }

    /// Balance matrix `W_{l+1}ᵀW_{l+1} − W_l W_lᵀ` at hidden layer `pair_idx` (0-based:
    /// `pair_idx = 0` is `W2ᵀW2 − W1W1ᵀ`).
    pub fn balance(&self, pair_idx: usize) -> DMatrix<f64> {
        let lower = &self.layers[pair_idx];
        let upper = &self.layers[pair_idx + 1];
        upper.tr_mul(upper) - lower * lower.transpose()
    }

    /// λ of every hidden layer: the mean diagonal of each balance matrix.
    pub fn lambdas(&self) -> Vec<f64> {
        (0..self.layers.len() - 1)
            .map(|idx| {
                let b = self.balance(idx);
                b.trace() / b.nrows() as f64
            })
            .collect()
    }

    /// How far every balance matrix is from `λ_l I` (docs/math.md §2.2 "Infinite-width link"),
    /// hidden layer 1 first; empty for depth 1. One product per layer, so this is what a caller
    /// that wants λ and the defects together should use.
    ///
    /// Bitwise [`Network::balance`]'s products (`W_{l+1}ᵀW_{l+1}` by
    /// [`crate::linalg::gram_of_columns`], `W_lW_lᵀ` by [`crate::linalg::product`], nalgebra's
    /// values without its per-entry views and packing).
    pub fn balance_stats(&self) -> Vec<BalanceStats> {
        (0..self.layers.len() - 1)
            .map(|idx| {
                let lower = &self.layers[idx];
                let upper = &self.layers[idx + 1];
                let gram_upper = crate::linalg::gram_of_columns(upper);
                let gram_lower = crate::linalg::product(lower, &lower.transpose());
                let terms = scaled_norm(&gram_upper) + scaled_norm(&gram_lower);
                let mut b = gram_upper;
                b -= &gram_lower;
                let width = b.nrows();
                let lambda = b.trace() / width as f64;
                let norm = scaled_norm(&b);
                for i in 0..width {
                    b[(i, i)] -= lambda;
                }
                BalanceStats { lambda, residual: scaled_norm(&b), norm, terms, width }
            })
            .collect()
    }

    /// Deviation of every balance matrix from `λ_l I`, as `‖B_l − λ_l I‖_F`.
    pub fn balance_residuals(&self) -> Vec<f64> {
        (0..self.layers.len() - 1)
            .map(|idx| {
                let mut b = self.balance(idx);
                let lambda = b.trace() / b.nrows() as f64;
                for i in 0..b.nrows() {
                    b[(i, i)] -= lambda;
                }
                b.norm()
            })
            .collect()
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.layers.iter().all(|w| crate::linalg::all_finite(w.as_slice()))
    }

    /// `Q = [W1ᵀ; W2]` stacked, for a two-layer network (`(Ni+No) × Nh`).
    pub fn q_matrix(&self) -> Option<DMatrix<f64>> {
        let [w1, w2] = self.layers.as_slice() else { return None };
        let (n_in, n_out, n_hidden) = (w1.ncols(), w2.nrows(), w1.nrows());
        let mut q = DMatrix::zeros(n_in + n_out, n_hidden);
        q.view_mut((0, 0), (n_in, n_hidden)).copy_from(&w1.transpose());
        q.view_mut((n_in, 0), (n_out, n_hidden)).copy_from(w2);
        Some(q)
    }
}

/// The regression problem, summarized by its second-order statistics (docs/math.md §1).
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Input–output correlation Σyx (`No × Ni`).
    pub sigma_yx: DMatrix<f64>,
    /// Input covariance Σxx (`Ni × Ni`); `None` means whitened inputs (Σxx = I, assumption A1).
    pub sigma_xx: Option<DMatrix<f64>>,
    /// Output second moment tr(Σyy); `None` reports the loss in excess of the best linear map.
    pub trace_sigma_yy: Option<f64>,
    /// Time constant τ of the gradient flow `τ dW/dt = −∇L`.
    pub tau: f64,
}

impl Problem {
    /// Whitened problem with τ = 1.
    pub fn whitened(sigma_yx: DMatrix<f64>) -> Problem {
        Problem { sigma_yx, sigma_xx: None, trace_sigma_yy: None, tau: 1.0 }
    }

    /// Number of inputs Ni.
    pub fn n_in(&self) -> usize {
        self.sigma_yx.ncols()
    }

    /// Number of outputs No.
    pub fn n_out(&self) -> usize {
        self.sigma_yx.nrows()
    }

    /// Checks shapes and values against a network with the given input and output sizes.
    pub fn check(&self, n_in: usize, n_out: usize) -> Result<(), SolverError> {
        let bad = |msg: String| Err(SolverError::InvalidInput(msg));
        if self.sigma_yx.shape() != (n_out, n_in) {
            return bad(format!(
                "sigma_yx is {}x{} but the network maps {n_in} inputs to {n_out} outputs",
                self.sigma_yx.nrows(),
                self.sigma_yx.ncols()
            ));
        }
        if !crate::linalg::all_finite(self.sigma_yx.as_slice()) {
            return bad("sigma_yx has a non-finite entry".into());
        }
        if let Some(sxx) = &self.sigma_xx {
            if sxx.shape() != (n_in, n_in) {
                return bad(format!(
                    "sigma_xx is {}x{} but must be {n_in}x{n_in}",
                    sxx.nrows(),
                    sxx.ncols()
                ));
            }
            if !crate::linalg::all_finite(sxx.as_slice()) {
                return bad("sigma_xx has a non-finite entry".into());
            }
            let asym = (sxx - sxx.transpose()).norm();
            if asym > 1e-10 * sxx.norm().max(1.0) {
                return bad(format!("sigma_xx is not symmetric (asymmetry {asym:.3e})"));
            }
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return bad(format!("tau must be a positive finite number, got {}", self.tau));
        }
        Ok(())
    }

    /// Whether Σxx is the identity (absent, or equal to I within `tol` entrywise).
    pub fn is_whitened(&self, tol: f64) -> bool {
        match &self.sigma_xx {
            None => true,
            Some(sxx) => (sxx - DMatrix::identity(sxx.nrows(), sxx.ncols())).amax() <= tol,
        }
    }
}
