//! The simulator's allocation-free products and vector helpers on raw column-major data.

use nalgebra::{DMatrix, DMatrixView};

/// Products with more multiply–adds than this use nalgebra's `gemm` (matrixmultiply, with AVX2/FMA
/// when available); smaller ones a hand kernel, which is faster there (measured crossover near
/// 12³–16³ on an AMD EPYC).
pub const SMALL_PRODUCT: usize = 16 * 16 * 8;

/// `y ← y + alpha x`.
pub(crate) fn axpy(y: &mut [f64], alpha: f64, x: &[f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out ← base + alpha x`.
pub(crate) fn lin_comb(out: &mut [f64], base: &[f64], alpha: f64, x: &[f64]) {
    for ((oi, bi), xi) in out.iter_mut().zip(base).zip(x) {
        *oi = bi + alpha * xi;
    }
}

/// Whether every entry is finite: `x · 0` is 0 for finite `x` and NaN otherwise, summed in four
/// independent lanes so that the loop vectorizes.
pub(crate) fn all_finite(x: &[f64]) -> bool {
    let mut lanes = [0.0_f64; 4];
    let (chunks, rest) = x.as_chunks::<4>();
    for chunk in chunks {
        for (lane, xi) in lanes.iter_mut().zip(chunk) {
            *lane += xi * 0.0;
        }
    }
    for (lane, xi) in lanes.iter_mut().zip(rest) {
        *lane += xi * 0.0;
    }
    (lanes[0] + lanes[1] + lanes[2] + lanes[3]) == 0.0
}

/// `c ← a b`.
pub(crate) fn matmul(c: &mut DMatrix<f64>, a: &DMatrix<f64>, b: &DMatrix<f64>) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    debug_assert_eq!((b.nrows(), c.nrows(), c.ncols()), (k, m, n));
    if m * k * n > SMALL_PRODUCT {
        c.gemm(1.0, a, b, 0.0);
    } else {
        small_product(c, a, b.as_slice(), (1, k));
    }
}

/// `c ← a bᵀ`.
pub(crate) fn matmul_nt(c: &mut DMatrix<f64>, a: &DMatrix<f64>, b: &DMatrix<f64>) {
    let (m, k, n) = (a.nrows(), a.ncols(), b.nrows());
    debug_assert_eq!((b.ncols(), c.nrows(), c.ncols()), (k, m, n));
    if m * k * n > SMALL_PRODUCT {
        let b_t = DMatrixView::from_slice_with_strides(b.as_slice(), k, n, n, 1);
        c.gemm(1.0, a, &b_t, 0.0);
    } else {
        small_product(c, a, b.as_slice(), (n, 1));
    }
}

/// `c ← aᵀ b`, using `a_t` (shaped like `aᵀ`) as scratch for small products.
pub(crate) fn matmul_tn(
    c: &mut DMatrix<f64>,
    a: &DMatrix<f64>,
    b: &DMatrix<f64>,
    a_t: &mut DMatrix<f64>,
) {
    let (k, m, n) = (a.nrows(), a.ncols(), b.ncols());
    debug_assert_eq!((b.nrows(), c.nrows(), c.ncols(), a_t.shape()), (k, m, n, (m, k)));
    if m * k * n > SMALL_PRODUCT {
        let a_view = DMatrixView::from_slice_with_strides(a.as_slice(), m, k, k, 1);
        c.gemm(1.0, &a_view, b, 0.0);
    } else {
        a.transpose_to(a_t);
        small_product(c, a_t, b.as_slice(), (1, k));
    }
}

/// `c ← a B` for a small product, where `B[p, j] = b[p · b_strides.0 + j · b_strides.1]`.
///
/// Each output column is accumulated in registers; column lengths up to 16 get a kernel with the
/// length known at compile time (fully unrolled and vectorized).
fn small_product(c: &mut DMatrix<f64>, a: &DMatrix<f64>, b: &[f64], b_strides: (usize, usize)) {
    let (m, k) = a.shape();
    if c.is_empty() {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let (c, a) = (c.as_mut_slice(), a.as_slice());
    macro_rules! dispatch {
        ($($len:literal)*) => {
            match m {
                $($len => columns_fixed::<$len>(c, a, k, b, b_strides),)*
                _ => columns_any(c, a, m, k, b, b_strides),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
}

fn columns_fixed<const M: usize>(
    c: &mut [f64],
    a: &[f64],
    k: usize,
    b: &[f64],
    (row_stride, col_stride): (usize, usize),
) {
    let (a_cols, _) = a.as_chunks::<M>();
    let (c_cols, _) = c.as_chunks_mut::<M>();
    let a_cols = &a_cols[..k];
    for (j, c_col) in c_cols.iter_mut().enumerate() {
        // Two accumulators (even and odd p) halve the dependency chain.
        let (mut even, mut odd) = ([0.0; M], [0.0; M]);
        let (pairs, last) = a_cols.as_chunks::<2>();
        for (pair_idx, [a_even, a_odd]) in pairs.iter().enumerate() {
            let base = 2 * pair_idx * row_stride + j * col_stride;
            let (s_even, s_odd) = (b[base], b[base + row_stride]);
            for i in 0..M {
                even[i] += s_even * a_even[i];
                odd[i] += s_odd * a_odd[i];
            }
        }
        if let [a_last] = last {
            let scale = b[(k - 1) * row_stride + j * col_stride];
            for (acc_i, a_i) in even.iter_mut().zip(a_last) {
                *acc_i += scale * a_i;
            }
        }
        for ((c_i, e), o) in c_col.iter_mut().zip(even).zip(odd) {
            *c_i = e + o;
        }
    }
}

fn columns_any(
    c: &mut [f64],
    a: &[f64],
    m: usize,
    k: usize,
    b: &[f64],
    (row_stride, col_stride): (usize, usize),
) {
    for (j, c_col) in c.chunks_exact_mut(m).enumerate() {
        c_col.fill(0.0);
        for (p, a_col) in a.chunks_exact(m).take(k).enumerate() {
            axpy(c_col, b[p * row_stride + j * col_stride], a_col);
        }
    }
}
