//! Per-time-point metrics that do not involve the NTK: loss, network function, singular values,
//! task specificity of the representations.
//!
//! The loss (docs/math.md §1) of the network function $W = W_L\cdots W_1$ is
//! $\mathcal L = \tfrac12\operatorname{tr}(W\Sigma_{xx}W^\top) - \operatorname{tr}(W\Sigma_{yx}^\top) + \tfrac12\operatorname{tr}\Sigma_{yy}$.
//!
//! It is evaluated as $\tfrac12\operatorname{tr}((W-W_\ast)\Sigma_{xx}(W-W_\ast)^\top) +
//! \mathcal L_\ast$ with $W_\ast = \Sigma_{yx}\Sigma_{xx}^+$, which stays accurate near
//! convergence. When `trace_sigma_yy` is not given, $\mathcal L_\ast$ is taken as 0: the reported
//! loss is the excess over the best linear map, $\tfrac12\|W - \Sigma_{yx}\|_F^2$ for whitened
//! inputs.

use nalgebra::{DMatrix, DMatrixView};

use crate::error::SolverError;
use crate::kernels::{Kernel, Lanes, NR, Portable, dispatch};
use crate::linalg::FullSvd;
use crate::network::Problem;

/// The loss of a problem, with its constants precomputed.
#[derive(Clone, Debug)]
pub struct Objective {
    /// `W* = Σyx Σxx⁺` (`No × Ni`).
    w_star: DMatrix<f64>,
    sigma_xx: Option<DMatrix<f64>>,
    /// Loss of `W*`: ½ tr Σyy − ½ tr(W* Σxx W*ᵀ), or 0 when tr Σyy is unknown.
    optimal_loss: f64,
}

impl Objective {
    /// Precomputes the optimum of `problem`.
    ///
    /// `Σxx⁺` comes from the bounded SVD of [`crate::linalg::svd`]; a Σxx it refuses (non-finite,
    /// which [`Problem::check`] rejects before any computation) gives `W* = 0`, and every loss
    /// is then non-finite, never a hang.
    pub fn new(problem: &Problem) -> Objective {
        let (w_star, sigma_xx) = match &problem.sigma_xx {
            None => (problem.sigma_yx.clone(), None),
            Some(sxx) => {
                let pinv = pseudo_inverse(sxx, 1e-12 * sxx.amax().max(f64::MIN_POSITIVE))
                    .unwrap_or_else(|| DMatrix::zeros(sxx.nrows(), sxx.ncols()));
                (&problem.sigma_yx * pinv, Some(sxx.clone()))
            }
        };
        let optimal_loss = match problem.trace_sigma_yy {
            None => 0.0,
            Some(tr_yy) => {
                let explained = match &sigma_xx {
                    None => w_star.norm_squared(),
                    Some(sxx) => (&w_star * sxx).dot(&w_star),
                };
                // tr Σyy ≥ ‖W*‖² for consistent data; noiseless data (Y = W*X) gives a difference
                // at roundoff level that may be negative. Report exactly 0 then, not −2e-16.
                let gap = tr_yy - explained;
                if gap < 0.0 && -gap <= 64.0 * f64::EPSILON * tr_yy.abs() { 0.0 } else { 0.5 * gap }
            }
        };
        Objective { w_star, sigma_xx, optimal_loss }
    }

    /// The loss of the network function `w` (`No × Ni`).
    pub fn loss_of_product(&self, w: &DMatrix<f64>) -> f64 {
        self.excess_loss(w) + self.optimal_loss
    }

    /// The loss of `w` in excess of the optimum, `½ tr((W − W*)Σxx(W − W*)ᵀ)`, computed without
    /// the cancellation of `loss − optimal_loss` (convergence tests).
    pub fn excess_loss(&self, w: &DMatrix<f64>) -> f64 {
        let diff = w - &self.w_star;
        let quad = match &self.sigma_xx {
            None => diff.norm_squared(),
            Some(sxx) => (&diff * sxx).dot(&diff),
        };
        0.5 * quad
    }

    /// The loss of a two-layer network given by its `QQᵀ` (`(Ni+No) × (Ni+No)`): bitwise
    /// `loss_of_product(&product_from_qqt(qqt, Ni))`. For whitened inputs (no Σxx) straight from
    /// the bottom-left block of `qqt`, in one pass and without allocating: `W − W*` entry by
    /// entry, summed in the order of nalgebra's `norm_squared` (`DotOrder`, one total per
    /// column), in vector lanes (AVX2 where the CPU has it, the same value portably; for an
    /// 8-8-8 network on fixed-size arrays). With a Σxx, through the product.
    ///
    /// # Panics
    /// If `qqt` is not `(Ni+No) × (Ni+No)` for this objective's `No × Ni` (as the product's
    /// shape mismatch would).
    pub fn loss_from_qqt(&self, qqt: &DMatrix<f64>) -> f64 {
        let (n_out, n_in) = self.w_star.shape();
        if self.sigma_xx.is_some() {
            return self.loss_of_product(&product_from_qqt(qqt, n_in));
        }
        let n = n_in + n_out;
        assert!(qqt.shape() == (n, n), "QQᵀ must be (Ni+No) × (Ni+No)");
        let pass = WhitenedLoss { objective: self, qqt };
        // Columns of fewer than eight rows have no vector chunk: the portable code is the same
        // scalar arithmetic without the dispatch.
        if n_out < 8 {
            pass.run(Portable)
        } else if let Some(square) = pass.square8() {
            dispatch(square)
        } else {
            dispatch(pass)
        }
    }

    /// The whitened loss of [`Objective::loss_from_qqt`] (shapes checked there) with vectors `l`,
    /// the column length a constant for eight outputs (the compiler then unrolls the pass: the
    /// same operations in the same order).
    #[inline(always)]
    fn whitened_loss_from_qqt<L: Lanes>(&self, l: L, qqt: &DMatrix<f64>) -> f64 {
        if self.w_star.nrows() == 8 {
            self.whitened_loss_sized::<L, 8>(l, qqt)
        } else {
            self.whitened_loss_sized::<L, 0>(l, qqt)
        }
    }

    /// [`Objective::whitened_loss_from_qqt`] with `FIXED` `No` as a constant, or 0 for `No`
    /// known at run time only.
    #[inline(always)]
    fn whitened_loss_sized<L: Lanes, const FIXED: usize>(&self, l: L, qqt: &DMatrix<f64>) -> f64 {
        let (n_out, n_in) = self.w_star.shape();
        debug_assert!(FIXED == 0 || FIXED == n_out);
        let n_out = if FIXED > 0 { FIXED } else { n_out };
        let mut quad = 0.0;
        for (column, target) in qqt
            .as_slice()
            .chunks_exact((n_in + n_out).max(1))
            .zip(self.w_star.as_slice().chunks_exact(n_out.max(1)))
        {
            let mut sum = [0.0];
            DotOrder::column_lanes(
                l,
                &mut sum,
                &column[n_in..],
                target,
                |w, w_star| {
                    let d = l.sub(w, w_star);
                    [l.mul(d, d)]
                },
                |w, w_star| {
                    let d = w - w_star;
                    [d * d]
                },
            );
            quad += sum[0];
        }
        0.5 * quad + self.optimal_loss
    }

    /// The smallest achievable loss (0 when tr Σyy was not given).
    pub fn optimal_loss(&self) -> f64 {
        self.optimal_loss
    }
}

/// The pass of [`Objective::loss_from_qqt`] for whitened inputs, as a [`Kernel`].
struct WhitenedLoss<'a> {
    objective: &'a Objective,
    qqt: &'a DMatrix<f64>,
}

impl Kernel for WhitenedLoss<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> f64 {
        self.objective.whitened_loss_from_qqt(l, self.qqt)
    }
}

impl<'a> WhitenedLoss<'a> {
    /// This pass on fixed-size arrays for an 8-8-8 network (`No = Ni = 8`: `QQᵀ` is 16 × 16);
    /// `None` for any other size.
    #[inline(always)]
    fn square8(&self) -> Option<WhitenedLoss8<'a>> {
        if self.objective.w_star.shape() != (8, 8) || self.qqt.shape() != (16, 16) {
            return None;
        }
        Some(WhitenedLoss8 {
            qqt: self.qqt.as_slice().as_chunks::<16>().0.try_into().ok()?,
            w_star: self.objective.w_star.as_slice().as_chunks::<8>().0.try_into().ok()?,
            optimal_loss: self.objective.optimal_loss,
        })
    }
}

/// [`WhitenedLoss`] of an 8-8-8 network, the columns of `QQᵀ` and `W*` as fixed-size arrays
/// (every index a constant), bitwise the same loss: per column the vector operations of
/// `DotOrder::column_lanes` (one chunk of eight rows: two partial sums from `+0`, added), then
/// the column's total `((0 + p₀) + p₁) + p₂) + p₃` of the four pair sums for four columns at a
/// time in the lanes of a transpose (the same additions in the same order, lane by lane), and
/// the loss's total over the columns in order.
struct WhitenedLoss8<'a> {
    qqt: &'a [[f64; 16]; 16],
    w_star: &'a [[f64; 8]; 8],
    optimal_loss: f64,
}

impl Kernel for WhitenedLoss8<'_> {
    type Output = f64;

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> f64 {
        let zero = l.splat(0.0);
        // The pair sums `(acc₀ + acc₄, …, acc₃ + acc₇)` of column `j`.
        let pairs = |j: usize| {
            let (column, target): (&[f64; 16], &[f64; 8]) = (&self.qqt[j], &self.w_star[j]);
            let squared = |at: usize| {
                let d = l.sub(
                    l.load_slice(&column[8 + at..8 + at + NR]),
                    l.load_slice(&target[at..at + NR]),
                );
                l.add(zero, l.mul(d, d))
            };
            l.add(squared(0), squared(NR))
        };
        let mut quad = 0.0;
        for first in [0, 4] {
            let [p0, p1, p2, p3] =
                l.transpose([pairs(first), pairs(first + 1), pairs(first + 2), pairs(first + 3)]);
            let totals = l.add(l.add(l.add(l.add(zero, p0), p1), p2), p3);
            let mut lanes = [0.0; NR];
            l.store(&mut lanes, totals);
            for total in lanes {
                quad += total;
            }
        }
        0.5 * quad + self.optimal_loss
    }
}

/// The network function `W2W1`, the bottom-left block of `QQᵀ`.
pub fn product_from_qqt(qqt: &DMatrix<f64>, n_in: usize) -> DMatrix<f64> {
    let n_out = qqt.nrows() - n_in;
    block(qqt, (n_in, 0), (n_out, n_in))
}

/// `W1ᵀW1`, the top-left block of `QQᵀ`.
pub fn input_representation(qqt: &DMatrix<f64>, n_in: usize) -> DMatrix<f64> {
    block(qqt, (0, 0), (n_in, n_in))
}

/// `W2W2ᵀ`, the bottom-right block of `QQᵀ`.
pub fn output_representation(qqt: &DMatrix<f64>, n_in: usize) -> DMatrix<f64> {
    let n_out = qqt.nrows() - n_in;
    block(qqt, (n_in, n_in), (n_out, n_out))
}

/// The `shape` block of `a` at `start`, copied column by column (the same values as
/// `a.view(start, shape).clone_owned()`, without nalgebra's per-entry strided iteration, which
/// costs more than the copy at the sizes of a time point).
///
/// # Panics
/// If the block does not fit in `a`.
pub fn block(a: &DMatrix<f64>, start: (usize, usize), shape: (usize, usize)) -> DMatrix<f64> {
    let ((r0, c0), (rows, cols)) = (start, shape);
    assert!(r0 + rows <= a.nrows() && c0 + cols <= a.ncols(), "block out of range");
    let mut values = Vec::with_capacity(rows * cols);
    for column in a.as_slice().chunks_exact(a.nrows().max(1)).skip(c0).take(cols) {
        values.extend_from_slice(&column[r0..r0 + rows]);
    }
    DMatrix::from_vec(rows, cols, values)
}

/// The summation order of nalgebra's `Matrix::dot` (`dotx`) for dynamically sized matrices, so
/// that a sum computed on the fly (from a block of another matrix, of entries divided by a scale)
/// is bitwise the one nalgebra computes on the materialised matrices: per column, eight partial
/// sums `acc_k` (`k = 0..8`) over the rows `i ≡ k (mod 8)` of the leading multiple of eight,
/// added to the running total as `(acc_0 + acc_4)`, `(acc_1 + acc_5)`, `(acc_2 + acc_6)`,
/// `(acc_3 + acc_7)`, then the remaining rows one by one. `dot` keeps one running total over all
/// columns; `norm_squared` sums each column from 0 and adds the column's total.
pub(crate) struct DotOrder;

impl DotOrder {
    /// Adds to `totals[s]` the sum over the rows `i` of one column of `terms(x[i], y[i])[s]`, in
    /// nalgebra's order (`K` sums in one pass over the column): the scalar form, used where a
    /// sum is taken once per phase (the task-specificity cosines) and which the tests hold
    /// nalgebra and [`DotOrder::column_lanes`] to.
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    pub(crate) fn column<const K: usize>(
        totals: &mut [f64; K],
        x: &[f64],
        y: &[f64],
        terms: impl Fn(f64, f64) -> [f64; K],
    ) {
        assert_eq!(x.len(), y.len(), "columns of different lengths");
        // acc[s][lane]: the partial sum of the rows ≡ lane (mod 8) of sum s (lanes side by side,
        // so that the compiler can vectorise across them: each lane is summed in row order).
        let mut acc = [[0.0; 8]; K];
        let ((xs, x_rest), (ys, y_rest)) = (x.as_chunks::<8>(), y.as_chunks::<8>());
        for (x8, y8) in xs.iter().zip(ys) {
            for (lane, (&a, &b)) in x8.iter().zip(y8).enumerate() {
                for (partial, t) in acc.iter_mut().zip(terms(a, b)) {
                    partial[lane] += t;
                }
            }
        }
        for (total, a) in totals.iter_mut().zip(&acc) {
            *total += a[0] + a[4];
            *total += a[1] + a[5];
            *total += a[2] + a[6];
            *total += a[3] + a[7];
        }
        for (&a, &b) in x_rest.iter().zip(y_rest) {
            for (total, t) in totals.iter_mut().zip(terms(a, b)) {
                *total += t;
            }
        }
    }

    /// [`DotOrder::column`] in vector lanes, bitwise: the eight partial sums of a sum are two
    /// vectors of [`NR`] = 4 (rows `≡ 0..4` and `≡ 4..8` mod 8), each lane summed in row order
    /// from `+0` as the scalar partial sums are; one vector addition of the two then gives
    /// `(acc_0 + acc_4, …, acc_3 + acc_7)`, added to the total one by one in that order. The
    /// rows past the leading multiple of eight take the scalar `terms`. `lane_terms` must compute
    /// lane by lane what `terms` computes (the same correctly rounded operations in the same
    /// order, nothing fused that `terms` does not fuse).
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    #[inline(always)]
    pub(crate) fn column_lanes<L: Lanes, const K: usize>(
        l: L,
        totals: &mut [f64; K],
        x: &[f64],
        y: &[f64],
        lane_terms: impl Fn(L::V, L::V) -> [L::V; K],
        terms: impl Fn(f64, f64) -> [f64; K],
    ) {
        assert_eq!(x.len(), y.len(), "columns of different lengths");
        let zero = l.splat(0.0);
        let (mut low, mut high) = ([zero; K], [zero; K]);
        let ((xs, x_rest), (ys, y_rest)) = (x.as_chunks::<8>(), y.as_chunks::<8>());
        for (x8, y8) in xs.iter().zip(ys) {
            let (x_low, x_high) = x8.split_at(NR);
            let (y_low, y_high) = y8.split_at(NR);
            let t_low = lane_terms(l.load_slice(x_low), l.load_slice(y_low));
            let t_high = lane_terms(l.load_slice(x_high), l.load_slice(y_high));
            for s in 0..K {
                low[s] = l.add(low[s], t_low[s]);
                high[s] = l.add(high[s], t_high[s]);
            }
        }
        for s in 0..K {
            let mut pairs = [0.0; NR];
            l.store(&mut pairs, l.add(low[s], high[s]));
            for pair in pairs {
                totals[s] += pair;
            }
        }
        for (&a, &b) in x_rest.iter().zip(y_rest) {
            for (total, t) in totals.iter_mut().zip(terms(a, b)) {
                *total += t;
            }
        }
    }
}

/// `a⁺` from the bounded SVD, singular values at most `tol` treated as zero; `None` when the SVD
/// refuses `a`.
fn pseudo_inverse(a: &DMatrix<f64>, tol: f64) -> Option<DMatrix<f64>> {
    let svd = crate::linalg::svd(a, "Σxx").ok()?;
    let (u, v_t) = (svd.u?, svd.v_t?);
    let inverse = svd.singular_values.map(|s| if s > tol { 1.0 / s } else { 0.0 });
    Some(v_t.transpose() * DMatrix::from_diagonal(&inverse) * u.transpose())
}

/// Singular values of `w`, descending; empty when `w` is empty, has a non-finite entry or its
/// (bounded) SVD does not converge. Use [`try_singular_values`] to tell these apart.
pub fn singular_values(w: &DMatrix<f64>) -> Vec<f64> {
    try_singular_values(w).unwrap_or_default()
}

/// Singular values of `w`, descending (empty for an empty `w`); [`SolverError::Overflow`] for a
/// non-finite `w`, [`SolverError::NoConvergence`] if the bounded SVD does not converge.
pub fn try_singular_values(w: &DMatrix<f64>) -> Result<Vec<f64>, SolverError> {
    Ok(crate::linalg::singular_values(w, "the network function")?.iter().copied().collect())
}

/// Up to this `min(No, Ni)`, [`singular_values_into`] uses one-sided Jacobi; above it the
/// bidiagonal QR of [`try_singular_values`], which is faster there (measured: 0.67× its time at
/// 8 × 8 with the vector sweeps, 5.7× at 64 × 64; `benches/solver.rs`, group
/// `product_singular_values`).
pub const JACOBI_MAX_SIZE: usize = 8;

/// Singular values of `w`, descending, into `out` (empty for an empty `w`): the per-time
/// singular values of a row (docs/math.md §4.3, "Singular values"). For `min(No, Ni) ≤`
/// [`JACOBI_MAX_SIZE`] by the bounded one-sided Jacobi of
/// [`crate::linalg::singular_values_jacobi`] with a reusable `scratch` (no allocation per call,
/// relative accuracy on small values), else by [`try_singular_values`]. Errors as
/// [`try_singular_values`] (`out` is then empty).
pub fn singular_values_into(
    w: DMatrixView<'_, f64>,
    scratch: &mut crate::linalg::JacobiScratch,
    out: &mut Vec<f64>,
) -> Result<(), SolverError> {
    if w.nrows().min(w.ncols()) <= JACOBI_MAX_SIZE {
        return crate::linalg::singular_values_jacobi(w, "the network function", scratch, out);
    }
    out.clear();
    out.extend(try_singular_values(&w.clone_owned())?);
    Ok(())
}

/// Frobenius cosine `⟨a, b⟩_F / (‖a‖_F ‖b‖_F)`; 0 when either matrix is zero.
///
/// Both matrices are first divided by their largest entry, so the result is finite for any
/// finite input, however large (the squared norms of entries above about 1e154 would overflow).
pub fn cosine(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let (scale_a, scale_b) = (a.amax(), b.amax());
    if !(scale_a > 0.0 && scale_b > 0.0) {
        return 0.0;
    }
    let (a, b) = (a / scale_a, b / scale_b);
    let denom = a.norm() * b.norm();
    if denom > 0.0 { a.dot(&b) / denom } else { 0.0 }
}

/// The task-specificity score of docs/math.md §4.6 for one task:
/// `TSC(W1ᵀW1) = max(cos(W1ᵀW1, ṼS̃Ṽᵀ), cos(W1ᵀW1, ṼS̃²Ṽᵀ))`, and likewise for `W2W2ᵀ` with `Ũ`.
/// It is 1 for a representation with the task's structure (the rich regime, λ = 0) and lower
/// for a task-agnostic one (e.g. `λI`-like at large |λ|).
///
/// The scores are bitwise `max(cosine(rep, R₁), cosine(rep, R₂))` with [`cosine`], without its
/// allocations: each reference's quotient by its largest entry and that quotient's norm are
/// computed once, at construction, and the representation's quotient is summed on the
/// fly, in one pass per reference, in nalgebra's `dot` and `norm_squared` orders (`DotOrder`),
/// also straight from a block of `QQᵀ` ([`TaskSpecificity::input_from_qqt`]).
#[derive(Clone, Debug)]
pub struct TaskSpecificity {
    /// `ṼS̃Ṽᵀ = (ΣyxᵀΣyx)^{1/2}` and `ṼS̃²Ṽᵀ = ΣyxᵀΣyx`, scaled as [`cosine`] scales them.
    input: [Option<Scaled>; 2],
    /// `ŨS̃Ũᵀ` and `ŨS̃²Ũᵀ = ΣyxΣyxᵀ`, scaled likewise.
    output: [Option<Scaled>; 2],
    /// The references themselves (input side, output side), for the tests.
    #[cfg(test)]
    raw: [[DMatrix<f64>; 2]; 2],
}

/// What [`cosine`] computes of its second argument `b`: `b / max|b|` and its Frobenius norm;
/// `None` when `max|b|` is not positive (zero or NaN: the cosine is then 0).
#[derive(Clone, Debug)]
struct Scaled {
    matrix: DMatrix<f64>,
    norm: f64,
}

impl Scaled {
    fn of(b: &DMatrix<f64>) -> Option<Scaled> {
        let scale = largest_abs(b.as_slice().iter());
        (scale > 0.0).then(|| {
            let matrix = b / scale;
            let norm = matrix.norm();
            Scaled { matrix, norm }
        })
    }

    fn pair(references: &[DMatrix<f64>; 2]) -> [Option<Scaled>; 2] {
        [Scaled::of(&references[0]), Scaled::of(&references[1])]
    }
}

/// `max(cosine(a, R₁), cosine(a, R₂))` (folded from `−∞` with `f64::max`, as
/// [`TaskSpecificity::input`] always folded it) for the `len × len` matrix `a` whose column `j`
/// is `column(j)`, bitwise: `max|a|` by [`cosine`]'s fold over the entries in column-major
/// order (nalgebra's `amax`), then per column the squared norm of `a / max|a|` from 0 (nalgebra's
/// `norm_squared`) and its running inner product with each scaled reference (`dot`).
fn best_cosine<'a>(
    references: &[Option<Scaled>; 2],
    len: usize,
    column: impl Fn(usize) -> &'a [f64],
) -> f64 {
    for reference in references.iter().flatten() {
        assert_eq!(reference.matrix.shape(), (len, len), "representation of another size");
    }
    let largest = largest_abs((0..len).flat_map(&column));
    let (mut norm_sq, mut dots) = (0.0, [0.0; 2]);
    if largest > 0.0 {
        for j in 0..len {
            let x = column(j);
            let mut own = [0.0];
            DotOrder::column(&mut own, x, x, |x, _| {
                let x = x / largest;
                [x * x]
            });
            norm_sq += own[0];
            for (dot, reference) in dots.iter_mut().zip(references) {
                if let Some(reference) = reference {
                    let mut total = [*dot];
                    let r = &reference.matrix.as_slice()[j * len..][..len];
                    DotOrder::column(&mut total, x, r, |x, r| [(x / largest) * r]);
                    *dot = total[0];
                }
            }
        }
    }
    let norm = norm_sq.sqrt();
    references
        .iter()
        .zip(dots)
        .map(|(reference, dot)| match reference {
            Some(reference) if largest > 0.0 => {
                let denom = norm * reference.norm;
                if denom > 0.0 { dot / denom } else { 0.0 }
            }
            _ => 0.0,
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

/// nalgebra's `amax` of the matrix whose entries `entries` gives in column-major order: the
/// fold `a >= |b| ? a : |b|` from the first entry's `|·|` (0 for none), as simba's `simd_max`.
fn largest_abs<'a>(mut entries: impl Iterator<Item = &'a f64>) -> f64 {
    let first = entries.next().map_or(0.0, |x| x.abs());
    entries.fold(first, |a, b| {
        let b = b.abs();
        if a >= b { a } else { b }
    })
}

impl TaskSpecificity {
    /// The references of the task with correlation `sigma_yx` (`No × Ni`). Errors only for a
    /// non-finite `sigma_yx` or an eigendecomposition that does not converge (bounded).
    pub fn new(sigma_yx: &DMatrix<f64>) -> Result<TaskSpecificity, SolverError> {
        let gram_in = sigma_yx.transpose() * sigma_yx;
        let gram_out = sigma_yx * sigma_yx.transpose();
        Ok(TaskSpecificity::of([psd_sqrt(&gram_in)?, gram_in], [psd_sqrt(&gram_out)?, gram_out]))
    }

    /// The same references from `svd`, the [`FullSvd`] of `sigma_yx` (which a closed form of the
    /// task needs too: [`crate::closed_form::Exact::with_task_svd`]): the square roots are
    /// `Ṽ_m S̃ Ṽ_mᵀ` and `Ũ_m S̃ Ũ_mᵀ`, no eigendecomposition. Errors if the shapes disagree.
    /// Its products are [`crate::linalg::product`]'s (bitwise nalgebra's).
    pub fn from_svd(
        sigma_yx: &DMatrix<f64>,
        svd: &FullSvd,
    ) -> Result<TaskSpecificity, SolverError> {
        use crate::linalg::product;
        let (n_out, n_in) = sigma_yx.shape();
        let m = n_in.min(n_out);
        if svd.u_m.shape() != (n_out, m) || svd.v_m.shape() != (n_in, m) || svd.s.len() != m {
            return Err(SolverError::InvalidInput(format!(
                "the SVD given for Σyx ({n_out} × {n_in}) has bases of shapes {:?} and {:?}",
                svd.u_m.shape(),
                svd.v_m.shape()
            )));
        }
        let root = |basis: &DMatrix<f64>| {
            let mut scaled = basis.clone();
            for (mut column, &s) in scaled.column_iter_mut().zip(svd.s.iter()) {
                column *= s.max(0.0);
            }
            product(&scaled, &basis.transpose())
        };
        let transposed = sigma_yx.transpose();
        Ok(TaskSpecificity::of(
            [root(&svd.v_m), product(&transposed, sigma_yx)],
            [root(&svd.u_m), product(sigma_yx, &transposed)],
        ))
    }

    fn of(input: [DMatrix<f64>; 2], output: [DMatrix<f64>; 2]) -> TaskSpecificity {
        TaskSpecificity {
            input: Scaled::pair(&input),
            output: Scaled::pair(&output),
            #[cfg(test)]
            raw: [input, output],
        }
    }

    /// TSC of the input-side representation `W1ᵀW1` (`Ni × Ni`).
    ///
    /// # Panics
    /// If `representation` is not `Ni × Ni`.
    pub fn input(&self, representation: &DMatrix<f64>) -> f64 {
        Self::of_matrix(&self.input, representation)
    }

    /// TSC of the output-side representation `W_L W_Lᵀ` (`No × No`).
    ///
    /// # Panics
    /// If `representation` is not `No × No`.
    pub fn output(&self, representation: &DMatrix<f64>) -> f64 {
        Self::of_matrix(&self.output, representation)
    }

    /// [`TaskSpecificity::input`] of `W1ᵀW1`, the top-left `Ni × Ni` block of a two-layer
    /// network's `QQᵀ`, read in place (bitwise `self.input(&input_representation(qqt, n_in))`).
    ///
    /// # Panics
    /// If `qqt` is not square or its block is not `Ni × Ni`.
    pub fn input_from_qqt(&self, qqt: &DMatrix<f64>, n_in: usize) -> f64 {
        Self::of_block(&self.input, qqt, 0, n_in)
    }

    /// [`TaskSpecificity::output`] of `W2W2ᵀ`, the bottom-right `No × No` block of a two-layer
    /// network's `QQᵀ`, read in place (bitwise `self.output(&output_representation(qqt, n_in))`).
    ///
    /// # Panics
    /// If `qqt` is not square or its block is not `No × No`.
    pub fn output_from_qqt(&self, qqt: &DMatrix<f64>, n_in: usize) -> f64 {
        assert!(n_in <= qqt.nrows(), "n_in exceeds the size of QQᵀ");
        Self::of_block(&self.output, qqt, n_in, qqt.nrows() - n_in)
    }

    fn of_matrix(references: &[Option<Scaled>; 2], representation: &DMatrix<f64>) -> f64 {
        assert!(representation.is_square(), "a representation is square");
        Self::of_block(references, representation, 0, representation.nrows())
    }

    /// [`best_cosine`] of the `len × len` block of `a` at `(start, start)`.
    fn of_block(
        references: &[Option<Scaled>; 2],
        a: &DMatrix<f64>,
        start: usize,
        len: usize,
    ) -> f64 {
        let n = a.nrows();
        assert!(a.ncols() == n && start + len <= n, "block out of range");
        let data = a.as_slice();
        best_cosine(references, len, |j| &data[(start + j) * n + start..][..len])
    }
}

/// The PSD square root of a symmetric PSD matrix (negative roundoff eigenvalues clipped to 0).
fn psd_sqrt(a: &DMatrix<f64>) -> Result<DMatrix<f64>, SolverError> {
    let eigen = crate::linalg::symmetric_eigen(a, "the task's Gram matrix")?;
    let root = eigen.eigenvalues.map(|x| x.max(0.0).sqrt());
    Ok(&eigen.eigenvectors * DMatrix::from_diagonal(&root) * eigen.eigenvectors.transpose())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The references from the task's SVD are the square roots of its Gram matrices (to
    /// roundoff) and equal those from their eigendecompositions: to roundoff for a square task;
    /// for a rectangular one the Gram matrix is singular and the eigendecomposition's square
    /// root of its roundoff eigenvalues (~1e-16) leaves ~1e-8, which the SVD has not. A
    /// mismatched SVD is refused.
    #[test]
    fn task_specificity_from_the_svd_matches_the_eigendecompositions() {
        use crate::linalg::{FullSvd, gaussian_matrix};
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for (n_out, n_in) in [(8, 8), (3, 5), (6, 2), (1, 1)] {
            let sigma_yx = gaussian_matrix(n_out, n_in, 1.5, &mut rng);
            let svd = FullSvd::new(&sigma_yx, "Σyx").unwrap();
            let direct = TaskSpecificity::new(&sigma_yx).unwrap();
            let shared = TaskSpecificity::from_svd(&sigma_yx, &svd).unwrap();
            let tolerance = if n_out == n_in { 1e-12 } else { 1e-6 };
            for (a, b) in direct.raw.iter().flatten().zip(shared.raw.iter().flatten()) {
                assert!((a - b).amax() <= tolerance * a.amax().max(1.0), "{n_out}x{n_in}");
            }
            for [root, gram] in &shared.raw {
                assert!((root * root - gram).amax() <= 1e-12 * gram.amax(), "{n_out}x{n_in}");
                assert!((root - root.transpose()).amax() <= 1e-14 * root.amax());
            }
            let rep = gaussian_matrix(n_in, n_in, 1.0, &mut rng);
            let rep = &rep * rep.transpose();
            assert!((direct.input(&rep) - shared.input(&rep)).abs() < tolerance);
            let other = FullSvd::new(&sigma_yx.transpose(), "Σyxᵀ").unwrap();
            if n_out != n_in {
                assert!(TaskSpecificity::from_svd(&sigma_yx, &other).is_err());
            }
        }
    }

    /// The scores are bitwise the [`cosine`]s they replace (the larger of the two, folded from
    /// `−∞`), from a matrix and from the blocks of a `QQᵀ` in place: square and rectangular
    /// tasks with blocks of fewer and more than eight rows, a zero task, and representations
    /// that are random, zero, huge (1e150), or hold a NaN or an infinity.
    #[test]
    fn task_specificity_is_bitwise_the_cosines() {
        use crate::linalg::{FullSvd, gaussian_matrix};
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let cosines = |references: &[DMatrix<f64>; 2], rep: &DMatrix<f64>| {
            references.iter().map(|r| cosine(rep, r)).fold(f64::NEG_INFINITY, f64::max)
        };
        let mut checked = 0;
        for (n_out, n_in) in [(8, 8), (3, 5), (6, 2), (1, 1), (11, 9), (16, 13)] {
            for task_scale in [1.5, 0.0] {
                let sigma_yx = gaussian_matrix(n_out, n_in, 1.0, &mut rng) * task_scale;
                let svd = FullSvd::new(&sigma_yx, "Σyx").unwrap();
                let tsc = TaskSpecificity::from_svd(&sigma_yx, &svd).unwrap();
                let n = n_in + n_out;
                for case in 0..5 {
                    let q = gaussian_matrix(n, 4, 1.0, &mut rng);
                    let mut qqt = &q * q.transpose();
                    match case {
                        1 => qqt.fill(0.0),
                        2 => qqt *= 1e150,
                        3 => qqt[(1 % n_in, 0)] = f64::NAN,
                        4 => qqt[(n - 1, n - 1)] = f64::INFINITY,
                        _ => {}
                    }
                    let (rep_in, rep_out) =
                        (input_representation(&qqt, n_in), output_representation(&qqt, n_in));
                    let input = cosines(&tsc.raw[0], &rep_in);
                    let output = cosines(&tsc.raw[1], &rep_out);
                    assert_eq!(
                        tsc.input(&rep_in).to_bits(),
                        input.to_bits(),
                        "{n_out}x{n_in} {case}"
                    );
                    assert_eq!(tsc.output(&rep_out).to_bits(), output.to_bits());
                    assert_eq!(tsc.input_from_qqt(&qqt, n_in).to_bits(), input.to_bits());
                    assert_eq!(tsc.output_from_qqt(&qqt, n_in).to_bits(), output.to_bits());
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 60);
    }

    /// `got` against the full SVD's `want` (descending): relative error ≤ 1e-10 on every value
    /// that the full SVD itself determines to 1e-11 (`16 ε s_max / s ≤ 1e-11`, strict), within
    /// its own absolute error `16 ε s_max` on the others (loose); returns the two counts.
    fn check_against_full_svd(got: &[f64], want: &[f64], what: &str) -> [usize; 2] {
        assert_eq!(got.len(), want.len(), "{what}");
        let reference_error = 16.0 * f64::EPSILON * want.first().copied().unwrap_or(0.0);
        let mut counts = [0, 0];
        for (g, w) in got.iter().zip(want) {
            if reference_error <= 1e-11 * w {
                counts[0] += 1;
                assert!((g - w).abs() <= 1e-10 * w, "{what}: {g} vs {w}");
            } else {
                counts[1] += 1;
                assert!((g - w).abs() <= reference_error, "{what}: {g} vs {w}");
            }
        }
        counts
    }

    /// The closed form of a seeded random λ-balanced init on a whitened Gaussian task (`Ni × No`
    /// given, hidden width `min(Ni, No)`): λ = 0 for every fifth `seed`, else uniform in
    /// [−4, 4]; a Gaussian product of scale `scale`, random bases; the draws from `rng_seed`.
    /// `None` where the init or the closed form refuses the draw.
    fn seeded_closed_form(
        seed: u64,
        rng_seed: u64,
        (n_in, n_out): (usize, usize),
        scale: f64,
    ) -> Option<crate::closed_form::ClosedForm> {
        use crate::init::{self, Balanced, ProductBases, ProductValues};
        use crate::linalg::gaussian_matrix;
        use crate::network::Network;
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rng_seed);
        let lambda = if seed.is_multiple_of(5) { 0.0 } else { rng.random_range(-4.0..4.0) };
        let params = Balanced {
            lambda,
            values: ProductValues::GaussianProduct { sigma: scale },
            bases: ProductBases::Random,
        };
        let m = n_in.min(n_out);
        let net: Network = init::balanced(&[n_in, m, n_out], &params, &mut rng).ok()?;
        let problem = Problem::whitened(gaussian_matrix(n_out, n_in, 1.0, &mut rng));
        crate::closed_form::ClosedForm::new(&net, &problem).ok()
    }

    /// Property test of the per-time singular values (docs/math.md §4.3): seeded random
    /// λ-balanced inits (λ ∈ [−4, 4], scales 1e-6 to 1, square and funnel widths) on random
    /// tasks, at early and late times of the closed form: [`singular_values_into`] against the
    /// full (bidiagonal QR) SVD of the same network function, relative error ≤ 1e-10 on every
    /// value that the full SVD itself determines to 1e-11 (`16 ε s_max / s ≤ 1e-11`), and within
    /// the full SVD's own absolute error `16 ε s_max` on the others. A tiny init is checked
    /// relatively too: at early times all its values are tiny together.
    #[test]
    fn jacobi_singular_values_of_the_closed_form_match_the_full_svd() {
        use crate::linalg::{JacobiScratch, svd};

        let (mut scratch, mut got) = (JacobiScratch::default(), Vec::new());
        let (mut strict, mut loose) = (0, 0);
        let shapes = [(8, 8), (3, 3), (8, 2), (2, 8), (5, 4), (1, 6), (6, 8), (7, 5)];
        for seed in 0..80u64 {
            let (n_in, n_out) = shapes[seed as usize % shapes.len()];
            let scale = [1e-6, 1e-4, 1e-2, 0.3, 1.0][(seed / 8) as usize % 5];
            let Some(cf) = seeded_closed_form(seed, 900 + seed, (n_in, n_out), scale) else {
                continue;
            };
            for t in [0.0, 1e-6, 1e-3, 0.05, 1.0, 7.0, 60.0] {
                let product = product_from_qqt(&cf.qqt(t).unwrap(), n_in);
                singular_values_into(product.as_view(), &mut scratch, &mut got).unwrap();
                let want = svd(&product, "w").unwrap().singular_values;
                assert_eq!(got.len(), want.len());
                let [s, l] =
                    check_against_full_svd(&got, want.as_slice(), &format!("seed {seed} t {t}"));
                (strict, loose) = (strict + s, loose + l);
            }
        }
        assert!(strict > 10 * loose && strict > 1000, "strict {strict}, loose {loose}");
    }

    /// The warm-started per-time singular values along closed-form trajectories (docs/math.md
    /// §4.3, "Warm starts") on a log-spaced grid of 80 times (1e-4 to 100): one series, each
    /// time warm-started from the previous one ([`crate::linalg::singular_values_warm`], as the
    /// recorder computes them), and two times at a time, each of the two series warm-started
    /// from its own previous time ([`crate::linalg::singular_values_warm_pair`]); on seeded
    /// random λ-balanced inits (λ ∈ [−4, 4] and 0, scales 1e-6 to 1) and random tasks, 30 of
    /// 8-8-8 (the vector kernel) and 10 of each small shape `Ni → No` 4 → 4, 3 → 5, 5 → 3,
    /// 2 → 2 and 7 → 6 (the scalar sweeps on `A V`):
    /// against the full SVD with the criteria of the cold start's property test above (relative
    /// 1e-10 where the full SVD determines a value to 1e-11, its own absolute error elsewhere),
    /// and within 1e-12 of the cold start (relative, plus 32 ε s_max).
    #[test]
    fn warm_singular_values_of_the_closed_form_match_the_full_svd() {
        use crate::linalg::{
            JacobiScratch, WarmSeries8, WarmStart, singular_values_jacobi, singular_values_warm,
            singular_values_warm_pair, svd,
        };

        let mut scratch = JacobiScratch::default();
        let (mut strict, mut loose) = (0, 0);
        let times: Vec<f64> =
            (0..80).map(|i| 10f64.powf(-4.0 + 6.0 * f64::from(i) / 79.0)).collect();
        // 30 trajectories at 8-8-8 (the vector kernel), 10 of each small shape (scalar sweeps).
        let shapes = [(8, 8), (4, 4), (3, 5), (5, 3), (2, 2), (7, 6)];
        let cases = shapes.iter().flat_map(|&shape| {
            let seeds = if shape == (8, 8) { 0..30u64 } else { 0..10u64 };
            seeds.map(move |seed| (shape, seed))
        });
        for ((n_in, n_out), seed) in cases {
            let scale = [1e-6, 1e-4, 1e-2, 0.3, 1.0][(seed / 6) as usize % 5];
            let shape_offset = if (n_in, n_out) == (8, 8) { 0 } else { 100 * (n_in * 10 + n_out) };
            let rng_seed = 1900 + seed + shape_offset as u64;
            let Some(cf) = seeded_closed_form(seed, rng_seed, (n_in, n_out), scale) else {
                continue;
            };
            let products: Vec<_> =
                times.iter().map(|&t| product_from_qqt(&cf.qqt(t).unwrap(), n_in)).collect();
            let mut references = Vec::new();
            for product in &products {
                let full = svd(product, "w").unwrap().singular_values;
                let mut cold = Vec::new();
                singular_values_jacobi(product.as_view(), "w", &mut scratch, &mut cold).unwrap();
                references.push((full, cold));
            }
            let mut check = |k: usize, got: &[f64]| {
                let (full, cold) = &references[k];
                let [s, l] = check_against_full_svd(got, full.as_slice(), &format!("seed {seed}"));
                (strict, loose) = (strict + s, loose + l);
                for (g, c) in got.iter().zip(cold) {
                    let near_cold = 1e-12 * c + 32.0 * f64::EPSILON * full[0];
                    assert!((g - c).abs() <= near_cold, "seed {seed}, time {k}: {g} vs cold {c}");
                }
            };
            let mut warm = WarmStart::default();
            for (k, product) in products.iter().enumerate() {
                let mut got = Vec::new();
                singular_values_warm(product.as_view(), "w", &mut scratch, &mut warm, &mut got)
                    .unwrap();
                check(k, &got);
            }
            let mut warm = [WarmStart::default(), WarmStart::default()];
            for k in (0..products.len()).step_by(2) {
                let (mut first, mut second) = (Vec::new(), Vec::new());
                let [w0, w1] = &mut warm;
                let [r0, r1] = singular_values_warm_pair(
                    [products[k].as_view(), products[k + 1].as_view()],
                    "w",
                    &mut scratch,
                    [w0, w1],
                    [&mut first, &mut second],
                );
                r0.unwrap();
                r1.unwrap();
                check(k, &first);
                check(k + 1, &second);
            }
            // The recorder's path: four times at once in the lanes (smaller shapes padded to
            // 8 × 8), the 80 times in one flush, then in flushes of 48 and 32.
            {
                for parts in [&[80][..], &[48, 32]] {
                    let mut first = 0;
                    for &part in parts {
                        let mut series = WarmSeries8::default();
                        for product in &products[first..first + part] {
                            series.push(product.as_view());
                        }
                        let mut got = vec![Vec::new(); part];
                        series.flush("w", &mut got, |r| r.unwrap());
                        for (k, values) in got.iter().enumerate() {
                            check(first + k, values);
                        }
                        first += part;
                    }
                }
            }
        }
        assert!(strict > 10 * loose && strict > 50_000, "strict {strict}, loose {loose}");
    }

    /// [`DotOrder`] sums bitwise as nalgebra's `dot` (one running total) and `norm_squared` (a
    /// total per column) of dynamic matrices, for columns shorter than, equal to and longer than
    /// the eight partial sums.
    #[test]
    fn dot_order_is_nalgebras_dot_and_norm_squared_bitwise() {
        use crate::linalg::gaussian_matrix;
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for rows in 0..20 {
            for cols in [0, 1, 3, 8] {
                let a = gaussian_matrix(rows, cols, 1.0, &mut rng);
                let b = gaussian_matrix(rows, cols, 1e3, &mut rng);
                let (mut dots, mut norm) = ([0.0; 2], 0.0);
                let rows = rows.max(1);
                for (x, y) in a.as_slice().chunks_exact(rows).zip(b.as_slice().chunks_exact(rows)) {
                    DotOrder::column(&mut dots, x, y, |x, y| [x * y, y * y]);
                    let mut column = [0.0];
                    DotOrder::column(&mut column, x, x, |x, _| [x * x]);
                    norm += column[0];
                }
                assert_eq!(dots[0].to_bits(), a.dot(&b).to_bits(), "{rows} × {cols}");
                assert_eq!(dots[1].to_bits(), b.dot(&b).to_bits(), "{rows} × {cols}");
                assert_eq!(norm.to_bits(), a.norm_squared().to_bits(), "{rows} × {cols}");
            }
        }
    }

    /// [`DotOrder::column_lanes`] over `a` and `b` column by column, with the terms of the
    /// kernel distance's pass (a division by `scale`, two products) and of the loss's (a
    /// difference squared).
    struct LaneSums<'a> {
        a: &'a DMatrix<f64>,
        b: &'a DMatrix<f64>,
        scale: f64,
    }

    impl Kernel for LaneSums<'_> {
        type Output = [f64; 3];

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) -> [f64; 3] {
            let (rows, scale) = (self.a.nrows().max(1), self.scale);
            let divisor = l.splat(scale);
            let mut sums = [0.0; 3];
            let columns =
                self.a.as_slice().chunks_exact(rows).zip(self.b.as_slice().chunks_exact(rows));
            for (x, y) in columns {
                let mut two = [sums[0], sums[1]];
                DotOrder::column_lanes(
                    l,
                    &mut two,
                    x,
                    y,
                    |x, y| {
                        let x = l.div(x, divisor);
                        [l.mul(y, x), l.mul(x, x)]
                    },
                    |x, y| {
                        let x = x / scale;
                        [y * x, x * x]
                    },
                );
                [sums[0], sums[1]] = two;
                let mut one = [0.0];
                DotOrder::column_lanes(
                    l,
                    &mut one,
                    x,
                    y,
                    |x, y| {
                        let d = l.sub(x, y);
                        [l.mul(d, d)]
                    },
                    |x, y| [(x - y) * (x - y)],
                );
                sums[2] += one[0];
            }
            sums
        }
    }

    /// [`DotOrder::column_lanes`], portable and dispatched (AVX2 where the CPU has it), is
    /// bitwise the scalar [`DotOrder::column`]: columns shorter than, equal to and longer than
    /// the eight partial sums, graded entries, and entries that are NaN, infinite or huge
    /// (products that overflow).
    #[test]
    fn dot_order_in_lanes_is_the_scalar_order_bitwise() {
        use crate::linalg::gaussian_matrix;
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(19);
        let mut checked = 0;
        for rows in 0..20 {
            for cols in [0, 1, 3, 8] {
                let mut a = gaussian_matrix(rows, cols, 1.0, &mut rng);
                let b = gaussian_matrix(rows, cols, 1e3, &mut rng);
                for (k, v) in a.iter_mut().enumerate() {
                    *v *= 10f64.powi((7 * k as i32) % 13 - 6);
                }
                let mut cases = vec![a.clone(), &a * 1e200];
                if rows * cols > 0 {
                    for (at, value) in [(0, f64::NAN), (rows * cols - 1, f64::INFINITY)] {
                        let mut bad = a.clone();
                        bad.as_mut_slice()[at] = value;
                        cases.push(bad);
                    }
                }
                for a in &cases {
                    for scale in [1.0, 3.7e-5, 1e300] {
                        let mut want = [0.0; 3];
                        let r = rows.max(1);
                        for (x, y) in a.as_slice().chunks_exact(r).zip(b.as_slice().chunks_exact(r))
                        {
                            let mut two = [want[0], want[1]];
                            DotOrder::column(&mut two, x, y, |x, y| {
                                let x = x / scale;
                                [y * x, x * x]
                            });
                            [want[0], want[1]] = two;
                            let mut one = [0.0];
                            DotOrder::column(&mut one, x, y, |x, y| [(x - y) * (x - y)]);
                            want[2] += one[0];
                        }
                        let kernel = || LaneSums { a, b: &b, scale };
                        let bits = |v: [f64; 3]| v.map(f64::to_bits);
                        assert_eq!(bits(kernel().run(Portable)), bits(want), "{rows} × {cols}");
                        assert_eq!(bits(dispatch(kernel())), bits(want), "{rows} × {cols}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 250, "{checked}");
    }

    /// The `QQᵀ` states of the two `loss_from_qqt` tests (`Ni + No` square): a random PSD one,
    /// two graded copies (by entry index, and by row and column), copies scaled by 1e150, 1e160
    /// and 1e300, zero, and, where the product block is not empty, a NaN and an infinity at its
    /// first and at its last entry.
    fn loss_states(
        n_in: usize,
        n_out: usize,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<DMatrix<f64>> {
        let n = n_in + n_out;
        let q = crate::linalg::gaussian_matrix(n, 4, 1.0, rng);
        let random = &q * q.transpose();
        let mut by_index = random.clone();
        for (k, v) in by_index.iter_mut().enumerate() {
            *v *= 10f64.powi((5 * k as i32) % 17 - 8);
        }
        let mut by_row_column = random.clone();
        for ((r, c), v) in
            by_row_column.iter_mut().enumerate().map(|(k, v)| ((k % n.max(1), k / n.max(1)), v))
        {
            *v *= 10f64.powi((3 * r as i32 - 2 * c as i32) % 11);
        }
        let mut states = vec![
            random.clone(),
            by_index,
            by_row_column,
            &random * 1e150,
            &random * 1e160,
            &random * 1e300,
            DMatrix::zeros(n, n),
        ];
        if n_in > 0 && n_out > 0 {
            for value in [f64::NAN, f64::INFINITY] {
                for at in [(n_in, 0), (n - 1, n_in - 1)] {
                    let mut bad = random.clone();
                    bad[at] = value;
                    states.push(bad);
                }
            }
        }
        states
    }

    /// The whitened pass of [`Objective::loss_from_qqt`] gives bitwise the same loss portably
    /// and dispatched (AVX2 where the CPU has it), over random, graded, huge and zero states and
    /// states with a NaN or an infinite entry in the product block.
    #[test]
    fn loss_from_qqt_is_bitwise_the_same_portably_and_dispatched() {
        use crate::linalg::gaussian_matrix;
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let (mut checked, mut square) = (0, 0);
        for (n_in, n_out) in [(8, 8), (3, 5), (9, 17), (16, 2), (1, 1), (0, 3), (4, 0)] {
            let sigma_yx = gaussian_matrix(n_out, n_in, 1.0, &mut rng);
            let objective = Objective::new(&Problem::whitened(sigma_yx));
            for qqt in &loss_states(n_in, n_out, &mut rng) {
                let kernel = || WhitenedLoss { objective: &objective, qqt };
                let (portable, dispatched) = (kernel().run(Portable), dispatch(kernel()));
                assert_eq!(portable.to_bits(), dispatched.to_bits(), "{n_in} × {n_out}");
                assert_eq!(objective.loss_from_qqt(qqt).to_bits(), dispatched.to_bits());
                assert_eq!(kernel().square8().is_some(), (n_in, n_out) == (8, 8));
                if let Some(fixed) = kernel().square8() {
                    let fixed_portable = fixed.run(Portable).to_bits();
                    let fixed_dispatched = dispatch(kernel().square8().unwrap()).to_bits();
                    assert_eq!(fixed_portable, portable.to_bits(), "fixed, portably");
                    assert_eq!(fixed_dispatched, portable.to_bits(), "fixed, dispatched");
                    square += 1;
                }
                checked += 1;
            }
        }
        assert!(checked > 30 && square > 10, "{checked} {square}");
    }

    /// [`Objective::loss_from_qqt`] is bitwise the loss of the product block, for whitened
    /// tasks (the allocation-free pass) with and without tr Σyy, over random, graded, huge and
    /// zero states and states with a NaN or an infinite entry, and with a Σxx (the product).
    #[test]
    fn loss_from_qqt_is_bitwise_the_loss_of_the_product() {
        use crate::linalg::gaussian_matrix;
        use rand::SeedableRng;
        use rand_chacha::ChaCha8Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let mut checked = 0;
        for (n_in, n_out) in [(8, 8), (3, 5), (9, 17), (16, 2), (1, 1), (0, 3), (4, 0)] {
            let sigma_yx = gaussian_matrix(n_out, n_in, 1.0, &mut rng);
            let x = gaussian_matrix(n_in, n_in + 3, 1.0, &mut rng);
            let whitened = Problem::whitened(sigma_yx.clone());
            let problems = [
                whitened.clone(),
                Problem { trace_sigma_yy: Some(sigma_yx.norm_squared() + 0.7), ..whitened.clone() },
                Problem { sigma_xx: Some(&x * x.transpose() / 7.0), ..whitened },
            ];
            let states = loss_states(n_in, n_out, &mut rng);
            for problem in &problems {
                let objective = Objective::new(problem);
                for qqt in &states {
                    let want = objective.loss_of_product(&product_from_qqt(qqt, n_in));
                    let got = objective.loss_from_qqt(qqt);
                    assert_eq!(got.to_bits(), want.to_bits(), "{n_in} × {n_out}: {got} vs {want}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    #[test]
    fn noiseless_data_has_an_optimal_loss_of_exactly_zero() {
        let sigma = DMatrix::from_row_slice(2, 2, &[0.3, 0.1, -0.7, 0.2]);
        // tr Σyy = ‖Σ‖² up to one rounding below it.
        let tr_yy = sigma.norm_squared() * (1.0 - f64::EPSILON);
        let problem = Problem { trace_sigma_yy: Some(tr_yy), ..Problem::whitened(sigma.clone()) };
        let objective = Objective::new(&problem);
        assert_eq!(objective.optimal_loss(), 0.0);
        assert_eq!(objective.loss_of_product(&sigma), 0.0);
    }

    #[test]
    fn task_specificity_of_rich_and_agnostic_representations() {
        let sigma = DMatrix::from_row_slice(2, 3, &[2.0, 0.5, 0.0, 0.0, 1.0, 0.3]);
        let tsc = TaskSpecificity::new(&sigma).unwrap();
        let gram_in = sigma.transpose() * &sigma;
        // The λ = 0 steady state W1ᵀW1 = ṼS̃Ṽᵀ scores 1; so does a multiple of ṼS̃²Ṽᵀ.
        assert!((tsc.input(&psd_sqrt(&gram_in).unwrap()) - 1.0).abs() < 1e-12);
        assert!((tsc.input(&(&gram_in * 3.0)) - 1.0).abs() < 1e-12);
        // A task-agnostic identity scores less; the zero matrix scores 0.
        assert!(tsc.input(&DMatrix::identity(3, 3)) < 0.9);
        assert_eq!(tsc.output(&DMatrix::zeros(2, 2)), 0.0);
        let root = psd_sqrt(&gram_in).unwrap();
        assert!((&root * &root - &gram_in).amax() < 1e-12);
    }

    #[test]
    fn whitened_loss_is_the_half_squared_distance() {
        let sigma_yx = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.0, 1.0]);
        let objective = Objective::new(&Problem::whitened(sigma_yx.clone()));
        assert_eq!(objective.loss_of_product(&sigma_yx), 0.0);
        let zero = DMatrix::zeros(2, 2);
        assert!((objective.loss_of_product(&zero) - 0.5 * (4.0 + 0.25 + 1.0)).abs() < 1e-15);
    }

    #[test]
    fn general_loss_matches_the_data_form() {
        // X is 2×4, Y is 1×4: compare with (1/2P)‖WX − Y‖².
        let x = DMatrix::from_row_slice(2, 4, &[1.0, 2.0, -1.0, 0.5, 0.3, -0.7, 1.1, 2.0]);
        let y = DMatrix::from_row_slice(1, 4, &[0.2, -1.0, 0.4, 1.5]);
        let p = 4.0;
        let problem = Problem {
            sigma_yx: &y * x.transpose() / p,
            sigma_xx: Some(&x * x.transpose() / p),
            trace_sigma_yy: Some((&y * y.transpose()).trace() / p),
            tau: 1.0,
        };
        let w = DMatrix::from_row_slice(1, 2, &[0.7, -0.2]);
        let direct = (&w * &x - &y).norm_squared() / (2.0 * p);
        let loss = Objective::new(&problem).loss_of_product(&w);
        assert!((loss - direct).abs() < 1e-14, "{loss} vs {direct}");
    }
}
