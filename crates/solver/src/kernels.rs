//! Register-blocked dense kernels for the small matrices of a single time point.
//!
//! All matrices are column-major slices. For the sizes of a typical sweep (N ≤ 16) these beat a
//! general GEMM, whose packing and dispatch overhead dominates at that size; larger sizes go to
//! nalgebra's GEMM (matrixmultiply) instead. Each kernel keeps an 8-row block of the output in
//! registers while it runs over the inner dimension, and sums in a fixed order, so results are
//! deterministic.

const BLOCK: usize = 8;

/// `C += A B` with `A` `rows × inner`, `B` `inner × cols`, `C` `rows × cols`.
pub(crate) fn gemm_acc(
    c: &mut [f64],
    a: &[f64],
    b: &[f64],
    rows: usize,
    inner: usize,
    cols: usize,
) {
    debug_assert!(c.len() >= rows * cols && a.len() >= rows * inner && b.len() >= inner * cols);
    for j in 0..cols {
        let b_col = &b[j * inner..(j + 1) * inner];
        let c_col = &mut c[j * rows..(j + 1) * rows];
        let mut r = 0;
        while r + BLOCK <= rows {
            let mut acc = [0.0; BLOCK];
            acc.copy_from_slice(&c_col[r..r + BLOCK]);
            for (i, &bij) in b_col.iter().enumerate() {
                let a_blk: &[f64; BLOCK] =
                    a[i * rows + r..i * rows + r + BLOCK].try_into().expect("block");
                for q in 0..BLOCK {
                    acc[q] += bij * a_blk[q];
                }
            }
            c_col[r..r + BLOCK].copy_from_slice(&acc);
            r += BLOCK;
        }
        for (rr, c_rr) in c_col.iter_mut().enumerate().skip(r) {
            let mut s = *c_rr;
            for (i, &bij) in b_col.iter().enumerate() {
                s += bij * a[i * rows + rr];
            }
            *c_rr = s;
        }
    }
}

/// `Z ← Z L⁻ᵀ` in place, i.e. solves `W Lᵀ = Z`, for `Z` `rows × m` and lower-triangular `L`
/// (`m × m`, only the lower triangle is read).
pub(crate) fn solve_right_lower_transposed(z: &mut [f64], l: &[f64], rows: usize, m: usize) {
    let mut r = 0;
    while r + BLOCK <= rows {
        for j in 0..m {
            let mut acc = [0.0; BLOCK];
            acc.copy_from_slice(&z[j * rows + r..j * rows + r + BLOCK]);
            for i in 0..j {
                let l_ji = l[i * m + j];
                let w_blk: &[f64; BLOCK] =
                    z[i * rows + r..i * rows + r + BLOCK].try_into().expect("block");
                for q in 0..BLOCK {
                    acc[q] -= l_ji * w_blk[q];
                }
            }
            let inv = 1.0 / l[j * m + j];
            for (dst, v) in z[j * rows + r..j * rows + r + BLOCK].iter_mut().zip(acc) {
                *dst = v * inv;
            }
        }
        r += BLOCK;
    }
    for rr in r..rows {
        for j in 0..m {
            let mut s = z[j * rows + rr];
            for i in 0..j {
                s -= l[i * m + j] * z[i * rows + rr];
            }
            z[j * rows + rr] = s / l[j * m + j];
        }
    }
}

/// `out = W Wᵀ` (`rows × rows`, full symmetric) for `W` `rows × m`. Computes the lower triangle
/// in 8-row blocks and mirrors it, so the result is exactly symmetric.
pub(crate) fn syrk(out: &mut [f64], w: &[f64], rows: usize, m: usize) {
    for c in 0..rows {
        let start = c - c % BLOCK;
        let out_col = &mut out[c * rows..(c + 1) * rows];
        let mut r = start;
        while r + BLOCK <= rows {
            let mut acc = [0.0; BLOCK];
            for j in 0..m {
                let w_cj = w[j * rows + c];
                let w_blk: &[f64; BLOCK] =
                    w[j * rows + r..j * rows + r + BLOCK].try_into().expect("block");
                for q in 0..BLOCK {
                    acc[q] += w_cj * w_blk[q];
                }
            }
            out_col[r..r + BLOCK].copy_from_slice(&acc);
            r += BLOCK;
        }
        for rr in r.max(c)..rows {
            let mut s = 0.0;
            for j in 0..m {
                s += w[j * rows + c] * w[j * rows + rr];
            }
            out_col[rr] = s;
        }
    }
    for c in 0..rows {
        for r in 0..c {
            out[c * rows + r] = out[r * rows + c];
        }
    }
}

/// In-place Cholesky of the lower triangle of a column-major `m × m` matrix. Returns `false` on
/// a non-positive or non-finite pivot (the matrix is then partly overwritten).
pub(crate) fn cholesky_lower_in_place(a: &mut [f64], m: usize) -> bool {
    for j in 0..m {
        let mut d = a[j * m + j];
        for p in 0..j {
            d -= a[p * m + j] * a[p * m + j];
        }
        if d.is_nan() || d <= 0.0 || d.is_infinite() {
            return false;
        }
        let d = d.sqrt();
        a[j * m + j] = d;
        for i in j + 1..m {
            let mut v = a[j * m + i];
            for p in 0..j {
                v -= a[p * m + i] * a[p * m + j];
            }
            a[j * m + i] = v / d;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn matrix(rows: usize, cols: usize, salt: f64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |i, j| ((i * 7 + j * 3) as f64 * 0.37 + salt).sin())
    }

    #[test]
    fn kernels_match_nalgebra() {
        for rows in [1, 3, 8, 9, 16, 21] {
            for (inner, cols) in [(1, 1), (4, 3), (8, 8), (11, 5)] {
                let (a, b, c0) =
                    (matrix(rows, inner, 0.1), matrix(inner, cols, 0.2), matrix(rows, cols, 0.3));
                let mut c = c0.clone();
                gemm_acc(c.as_mut_slice(), a.as_slice(), b.as_slice(), rows, inner, cols);
                assert!((c - (&c0 + &a * &b)).amax() < 1e-13);
            }
            for m in [1, 2, 5, 8, 10] {
                let w = matrix(rows, m, 0.4);
                let mut out = DMatrix::zeros(rows, rows);
                syrk(out.as_mut_slice(), w.as_slice(), rows, m);
                assert!((&out - &w * w.transpose()).amax() < 1e-13);
                assert_eq!(out, out.transpose());
                let spd = &w.transpose() * &w + DMatrix::identity(m, m);
                let mut l = spd.clone();
                assert!(cholesky_lower_in_place(l.as_mut_slice(), m));
                let l = l.lower_triangle();
                assert!((&l * l.transpose() - &spd).amax() < 1e-12);
                let z = matrix(rows, m, 0.5);
                let mut solved = z.clone();
                solve_right_lower_transposed(solved.as_mut_slice(), l.as_slice(), rows, m);
                assert!((solved * l.transpose() - z).amax() < 1e-12);
            }
        }
    }

    #[test]
    fn cholesky_reports_indefinite_matrices() {
        let mut a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
        assert!(!cholesky_lower_in_place(a.as_mut_slice(), 2));
    }
}
