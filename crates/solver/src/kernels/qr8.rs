//! The preparation of the 8 × 8 one-sided Jacobi SVD on fixed-size arrays: the scaling by a
//! power of two and the Householder QR with column pivoting, in the lanes of [`Lanes`]
//! (docs/math.md §4.3, "Fixed-size preparation").
//!
//! The matrix is held row by row (`rows[8i..8i + 8]` is row `i`, two vectors), so that the
//! lanes of a vector are columns: the squared norms of all eight column tails, the inner
//! products of the reflector with all eight columns and the update of a row are each one chain
//! of vector operations. Every such sum runs over the rows in their order, one unfused
//! multiplication and one addition per row, as the scalar `pivoted_qr` of `crate::linalg` sums
//! them, so `R` is bitwise the scalar one (up to the sign of exact zeros, which no singular value
//! sees).

use super::lanes::{Kernel, Lanes, NR};

/// What [`Prepare8`] found for one matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Prepared8 {
    /// An entry is not finite (the matrix is left as it was).
    NonFinite,
    /// Every entry is zero (the matrix is left as it was).
    Zero,
    /// The matrix now holds `R` of the matrix scaled by `1 / up` (a power of two), column-major
    /// with exact zeros below the diagonal: the seats of `super::Jacobi8` (column `i` of `Rᵀ`, row
    /// `i` of `R`, in seat `i`).
    Seated {
        /// The power of two that undoes the scaling.
        up: f64,
    },
}

/// Scaling and pivoted QR of `B` column-major 8 × 8 matrices in place, the steps of the `B`
/// factorizations alternating (independent chains side by side). Each matrix sees exactly the
/// operations it would alone, so `B = 2` is bitwise two calls with `B = 1`.
pub(crate) struct Prepare8<'a, const B: usize> {
    /// The matrices, column-major; overwritten as [`Prepared8::Seated`] says.
    pub(crate) matrices: [&'a mut [f64; 64]; B],
}

impl<const B: usize> Kernel for Prepare8<'_, B> {
    type Output = [Prepared8; B];

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> [Prepared8; B] {
        let Prepare8 { matrices } = self;
        let mut outcome = [Prepared8::Zero; B];
        let mut rows = [[0.0; 64]; B];
        for b in 0..B {
            outcome[b] = scale_into_rows(l, matrices[b], &mut rows[b]);
        }
        let live = outcome.map(|o| matches!(o, Prepared8::Seated { .. }));
        // Every step at a constant `k`: constant loop bounds and indices, no bounds checks.
        steps::<L, B, 0>(l, &mut rows, live);
        steps::<L, B, 1>(l, &mut rows, live);
        steps::<L, B, 2>(l, &mut rows, live);
        steps::<L, B, 3>(l, &mut rows, live);
        steps::<L, B, 4>(l, &mut rows, live);
        steps::<L, B, 5>(l, &mut rows, live);
        steps::<L, B, 6>(l, &mut rows, live);
        steps::<L, B, 7>(l, &mut rows, live);
        for b in 0..B {
            if live[b] {
                transpose8(l, &rows[b], matrices[b]);
            }
        }
        outcome
    }
}

/// Step `K` of the factorizations of the live matrices, one after the other.
#[inline(always)]
fn steps<L: Lanes, const B: usize, const K: usize>(
    l: L,
    rows: &mut [[f64; 64]; B],
    live: [bool; B],
) {
    for b in 0..B {
        if live[b] {
            step(l, &mut rows[b], K);
        }
    }
}

/// Checks `m` (column-major) for non-finite entries and zero, then writes it scaled by the
/// power of two `2^−⌊log₂ max|mᵢⱼ|⌋` (exact) into `rows`, row by row.
#[inline(always)]
pub(super) fn scale_into_rows<L: Lanes>(l: L, m: &[f64; 64], rows: &mut [f64; 64]) -> Prepared8 {
    let zero = l.splat(0.0);
    let v: [L::V; 16] = std::array::from_fn(|q| l.load_slice(&m[NR * q..NR * (q + 1)]));
    // x·0 is ±0 for a finite x and NaN otherwise; the largest |x| is exact in any order.
    let (mut probe, mut largest) = (zero, zero);
    for x in v {
        probe = l.add(probe, l.mul(x, zero));
        let a = l.abs(x);
        largest = l.select_gt(a, largest, a, largest);
    }
    let (mut probes, mut maxima) = ([0.0; NR], [0.0; NR]);
    l.store(&mut probes, probe);
    l.store(&mut maxima, largest);
    if probes.iter().any(|&p| p != 0.0) {
        return Prepared8::NonFinite;
    }
    let largest = maxima.iter().fold(0.0f64, |m, &x| m.max(x));
    if largest == 0.0 {
        return Prepared8::Zero;
    }
    // As in `crate::linalg::jacobi_prepare`: a power of two near 1/largest.
    let exponent = largest.log2().floor() as i32;
    let (down, up) = (2f64.powi(-exponent), 2f64.powi(exponent));
    let down = l.splat(down);
    // Column c, rows 4h..4h + 4 is v[2c + h]; a 4 × 4 tile's transpose gives its rows.
    for h in 0..2 {
        for g in 0..2 {
            let cols = std::array::from_fn(|c| l.mul(v[2 * (4 * g + c) + h], down));
            for (r, row) in l.transpose(cols).into_iter().enumerate() {
                let at = 8 * (4 * h + r) + 4 * g;
                l.store_slice(&mut rows[at..at + NR], row);
            }
        }
    }
    Prepared8::Seated { up }
}

/// The row-major `rows` into `out`, column-major.
#[inline(always)]
fn transpose8<L: Lanes>(l: L, rows: &[f64; 64], out: &mut [f64; 64]) {
    for h in 0..2 {
        for g in 0..2 {
            let tile = std::array::from_fn(|r| {
                let at = 8 * (4 * h + r) + 4 * g;
                l.load_slice(&rows[at..at + NR])
            });
            for (c, column) in l.transpose(tile).into_iter().enumerate() {
                let at = 8 * (4 * g + c) + 4 * h;
                l.store_slice(&mut out[at..at + NR], column);
            }
        }
    }
}

/// Step `k` of the pivoted QR on the row-major `rows` (the scalar `pivoted_qr_step` of
/// `crate::linalg`, the same operations in the same order): the remaining column of largest
/// norm (the first on ties) swapped into place, then the reflector `v = x − βe₁`,
/// `β = −sign(x₀)‖x‖`, applied to the columns after it.
#[inline(always)]
fn step<L: Lanes>(l: L, rows: &mut [f64; 64], k: usize) {
    let (zero, start) = (l.splat(0.0), l.splat(-0.0));
    let load = |rows: &[f64; 64], i: usize, h: usize| l.load_slice(&rows[8 * i + NR * h..][..NR]);
    // The squared norms of rows k..8 of every column, summed row by row.
    let mut sums = [start; 2];
    for i in k..8 {
        for (h, sum) in sums.iter_mut().enumerate() {
            let x = load(rows, i, h);
            *sum = l.add(*sum, l.mul(x, x));
        }
    }
    let mut norms = [0.0; 8];
    l.store_slice(&mut norms[..NR], sums[0]);
    l.store_slice(&mut norms[NR..], sums[1]);
    let mut pivot = k;
    for j in k..8 {
        if norms[j] > norms[pivot] {
            pivot = j;
        }
    }
    if pivot != k {
        for i in 0..8 {
            rows.swap(8 * i + k, 8 * i + pivot);
        }
    }
    let sum = norms[pivot];
    let alpha = if sum >= 1e-290 { sum.sqrt() } else { tiny_norm(rows, k) };
    if alpha == 0.0 {
        // The tail is zero already (up to signs of zero); exact zeros as `R` has them.
        for i in k + 1..8 {
            rows[8 * i + k] = 0.0;
        }
        return;
    }
    let x0 = rows[8 * k + k];
    let beta = if x0 >= 0.0 { -alpha } else { alpha };
    let v0 = x0 - beta;
    if (beta * v0).abs() < f64::MIN_POSITIVE {
        // β v₀ underflows (the remaining block is below about 1e-154 of the scaled matrix):
        // the block is dropped, as in the scalar step.
        for i in k..8 {
            for j in k..8 {
                rows[8 * i + j] = 0.0;
            }
        }
        return;
    }
    rows[8 * k + k] = v0;
    let scale = -1.0 / (beta * v0);
    // vᵀ(column j) for every j, then the factors of the columns after k (the others get 0 and
    // are left unchanged: their rows k..8 are exact zeros or, for column k, v itself).
    let mut dots = [start; 2];
    for i in k..8 {
        let vi = l.splat(rows[8 * i + k]);
        for (h, dot) in dots.iter_mut().enumerate() {
            *dot = l.add(*dot, l.mul(vi, load(rows, i, h)));
        }
    }
    let (after, scale) = (l.splat(k as f64), l.splat(scale));
    let lanes = [l.load(&[0.0, 1.0, 2.0, 3.0]), l.load(&[4.0, 5.0, 6.0, 7.0])];
    let factors: [L::V; 2] =
        std::array::from_fn(|h| l.select_gt(lanes[h], after, l.mul(dots[h], scale), zero));
    for i in k..8 {
        let vi = l.splat(rows[8 * i + k]);
        for (h, &factor) in factors.iter().enumerate() {
            let at = 8 * i + NR * h;
            let new = l.sub(load(rows, i, h), l.mul(factor, vi));
            l.store_slice(&mut rows[at..at + NR], new);
        }
    }
    rows[8 * k + k] = beta;
    for i in k + 1..8 {
        rows[8 * i + k] = 0.0;
    }
}

/// `‖x‖₂` of rows k..8 of column `k` when the plain sum of squares is below the normal range:
/// scaled by its largest entry first (the fallback of `crate::linalg`'s `column_norm`, the
/// same operations).
#[cold]
fn tiny_norm(rows: &[f64; 64], k: usize) -> f64 {
    let tail = (k..8).map(|i| rows[8 * i + k]);
    let largest = tail.clone().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        return 0.0;
    }
    let scaled: f64 = tail.map(|v| (v / largest) * (v / largest)).sum();
    largest * scaled.sqrt()
}
