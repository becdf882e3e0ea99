//! The kernels of a closed-form time point at `mp = 8`, `N = 16` (the square 8-8-8 network),
//! stable and early form, on fixed-size arrays: every matrix is a `[f64; R·C]` column-major
//! array with `R` rows, so every index is known to the compiler (no bounds checks, no tile loops
//! over run-time sizes). Each kernel performs the floating-point operations of its counterpart in
//! `tiles` at these sizes, on the same values and in the same order (the accumulations over the
//! inner dimension start from zero and run `i = 0, 1, …`; the scalar `4 × 4` Cholesky steps are
//! those of [`super::cholesky`]): bitwise the same results (tested in `closed_form::point`).

use super::lanes::{Lanes, NR};

/// Four consecutive values of `x` from `at` as a vector.
#[inline(always)]
fn get<L: Lanes, const N: usize>(l: L, x: &[f64; N], at: usize) -> L::V {
    l.load(x[at..at + NR].try_into().expect("four lanes"))
}

#[inline(always)]
fn put<L: Lanes, const N: usize>(l: L, x: &mut [f64; N], at: usize, v: L::V) {
    l.store((&mut x[at..at + NR]).try_into().expect("four lanes"), v);
}

/// `tile[j] += aᵢ · b(i, j)` for `i = 0, 1, …, 7` in order (one fused multiply–add per vector):
/// the `8 × 4` tile (two vectors of rows per column `j`) plus the products of the eight rows of
/// `a` that start at `a_at(i)` with the scalars `b(i, j)`. The inner loop of the tile products
/// of [`solve8`], [`basis8`] and [`gram16`]; with constant offsets every index is a constant.
#[inline(always)]
fn accumulate8<L: Lanes, const N: usize>(
    l: L,
    tile: &mut [[L::V; 2]; NR],
    a: &[f64; N],
    a_at: impl Fn(usize) -> usize,
    b: impl Fn(usize, usize) -> f64,
) {
    for i in 0..8 {
        let at = a_at(i);
        let a = [get(l, a, at), get(l, a, at + NR)];
        for (j, acc) in tile.iter_mut().enumerate() {
            let bj = l.splat(b(i, j));
            acc[0] = l.mul_add(a[0], bj, acc[0]);
            acc[1] = l.mul_add(a[1], bj, acc[1]);
        }
    }
}

/// The blocks of `S = B Bᵀ` on and below the diagonal for the column-major `8 × (N/8)` `B`
/// (`syrk::<_, false>` with `mp = 8`, `inner = N/8`: 8 for the stable form's `A`, 16 for the
/// early form's `M`): rows `0..8` of columns `0..4`, rows `4..8` of columns `4..8`; the block
/// above the diagonal (rows `0..4`, columns `4..8`, never read by [`cholesky8`]) is zero.
#[inline(always)]
pub(crate) fn gram8<L: Lanes, const N: usize>(l: L, b: &[f64; N]) -> [f64; 64] {
    let zero = l.splat(0.0);
    // Columns 0..4: two vectors per column.
    let mut left = [[zero; 2]; NR];
    // Columns 4..8: the lower vector only.
    let mut right = [zero; NR];
    for i in 0..N / 8 {
        let (top, bottom) = (get(l, b, 8 * i), get(l, b, 8 * i + NR));
        for j in 0..NR {
            let bj = l.splat(b[8 * i + j]);
            left[j][0] = l.mul_add(top, bj, left[j][0]);
            left[j][1] = l.mul_add(bottom, bj, left[j][1]);
        }
        for (j, acc) in right.iter_mut().enumerate() {
            *acc = l.mul_add(bottom, l.splat(b[8 * i + NR + j]), *acc);
        }
    }
    let mut s = [0.0; 64];
    for j in 0..NR {
        put(l, &mut s, 8 * j, left[j][0]);
        put(l, &mut s, 8 * j + NR, left[j][1]);
        put(l, &mut s, 8 * (NR + j) + NR, right[j]);
    }
    s
}

/// The unblocked `4 × 4` step of [`super::cholesky`] on the diagonal tile `diag` (columns of
/// `A_JJ − L_J,<j0 L_J,<j0ᵀ`, `J = j0..j0+4`), `shift` added to its diagonal: the columns of
/// `L_JJ` (entries above the diagonal are scratch) and `1 / L[j, j]` into `inv_diag`; `None`
/// on a non-positive or non-finite pivot.
#[inline(always)]
fn factor_tile<L: Lanes>(
    l: L,
    diag: [L::V; NR],
    shift: &[f64; 8],
    j0: usize,
    inv_diag: &mut [f64; 8],
) -> Option<[[f64; NR]; NR]> {
    let mut t = [[0.0; NR]; NR];
    for (c, (col, v)) in t.iter_mut().zip(diag).enumerate() {
        l.store(col, v);
        col[c] += shift[j0 + c];
    }
    super::tiles::factor_diagonal_tile(&mut t, NR, &mut inv_diag[j0..j0 + NR]).then_some(t)
}

/// `X ← X L_JJ⁻ᵀ` on the `4·V`-row tile `tile` (columns `J = j0..j0+4`), as `solve_tile`.
#[inline(always)]
#[expect(clippy::needless_range_loop, reason = "constant indices, unrolled")]
fn solve_tile<L: Lanes, const V: usize>(
    l: L,
    tile: &mut [[L::V; V]; NR],
    l_mat: &[f64; 64],
    j0: usize,
    inv_diag: &[f64; 8],
) {
    for c in 0..NR {
        for p in 0..c {
            let l_cp = l.splat(l_mat[8 * (j0 + p) + j0 + c]);
            for v in 0..V {
                tile[c][v] = l.neg_mul_add(tile[p][v], l_cp, tile[c][v]);
            }
        }
        let inv = l.splat(inv_diag[j0 + c]);
        for v in 0..V {
            tile[c][v] = l.mul(tile[c][v], inv);
        }
    }
}

/// [`super::cholesky`] of the `8 × 8` `a + diag(shift)` (lower triangle; no identity padding):
/// `L` in place (the strict upper triangle is scratch) and `1 / L[j, j]` into `inv_diag`;
/// `false` on a non-positive or non-finite pivot.
#[inline(always)]
pub(crate) fn cholesky8<L: Lanes>(
    l: L,
    a: &mut [f64; 64],
    shift: &[f64; 8],
    inv_diag: &mut [f64; 8],
) -> bool {
    // j0 = 0: the diagonal tile, then the panel of rows 4..8.
    let diag: [L::V; NR] = std::array::from_fn(|c| get(l, a, 8 * c));
    let Some(t) = factor_tile(l, diag, shift, 0, inv_diag) else {
        return false;
    };
    for (c, col) in t.iter().enumerate() {
        a[8 * c..8 * c + NR].copy_from_slice(col);
    }
    let mut panel: [[L::V; 1]; NR] = std::array::from_fn(|c| [get(l, a, 8 * c + NR)]);
    solve_tile(l, &mut panel, a, 0, inv_diag);
    for (c, v) in panel.iter().enumerate() {
        put(l, a, 8 * c + NR, v[0]);
    }
    // j0 = 4: A_JJ − L_J,<4 L_J,<4ᵀ, over the inner index 0..4 in order.
    let mut diag: [L::V; NR] = std::array::from_fn(|c| get(l, a, 8 * (NR + c) + NR));
    for i in 0..NR {
        let col = get(l, a, 8 * i + NR);
        for (j, acc) in diag.iter_mut().enumerate() {
            *acc = l.neg_mul_add(col, l.splat(a[8 * i + NR + j]), *acc);
        }
    }
    let Some(t) = factor_tile(l, diag, shift, NR, inv_diag) else {
        return false;
    };
    for (c, col) in t.iter().enumerate() {
        a[8 * (NR + c) + NR..8 * (NR + c) + 2 * NR].copy_from_slice(col);
    }
    true
}

/// The product `Z = O₊ + O_rest Ñ` of the stable form that [`solve8`] solves (as
/// [`super::Product`]): the column-major `16 × 8` `O₊` and `O_rest` (`o_rest` with 8 columns) and
/// the row-major `8 × 8` `Ñ`.
#[derive(Clone, Copy)]
pub(crate) struct Product8<'a> {
    pub(crate) o_plus: &'a [f64; 128],
    pub(crate) o_rest: &'a [f64; 128],
    pub(crate) n_tilde: &'a [f64; 64],
}

/// `W ← X L⁻ᵀ` (`solve_rows` at `rows = 16`, `mp = 8`) for the column-major `16 × 8` `w` and
/// the factor `L` of [`cholesky8`]: `X` is `product` when there is one (the stable form), else
/// the content of `w` (the early form). The tiles in `solve_rows`' order, each with its corner
/// as constants.
#[inline(always)]
pub(crate) fn solve8<L: Lanes>(
    l: L,
    w: &mut [f64; 128],
    product: Option<Product8<'_>>,
    l_mat: &[f64; 64],
    inv_diag: &[f64; 8],
) {
    solve8_tile::<L, 0, 0>(l, w, product, l_mat, inv_diag);
    solve8_tile::<L, 0, NR>(l, w, product, l_mat, inv_diag);
    solve8_tile::<L, 8, 0>(l, w, product, l_mat, inv_diag);
    solve8_tile::<L, 8, NR>(l, w, product, l_mat, inv_diag);
}

/// The `8 × 4` tile of [`solve8`] at rows `R0..R0+8`, columns `J0..J0+4`.
#[inline(always)]
fn solve8_tile<L: Lanes, const R0: usize, const J0: usize>(
    l: L,
    w: &mut [f64; 128],
    product: Option<Product8<'_>>,
    l_mat: &[f64; 64],
    inv_diag: &[f64; 8],
) {
    let mut tile: [[L::V; 2]; NR] = match product {
        Some(Product8 { o_plus, o_rest, n_tilde }) => {
            let mut tile = std::array::from_fn(|j| {
                std::array::from_fn(|v| get(l, o_plus, 16 * (J0 + j) + R0 + NR * v))
            });
            accumulate8(l, &mut tile, o_rest, |i| 16 * i + R0, |i, j| n_tilde[8 * i + J0 + j]);
            tile
        }
        None => {
            std::array::from_fn(|j| std::array::from_fn(|v| get(l, w, 16 * (J0 + j) + R0 + NR * v)))
        }
    };
    for i in 0..J0 {
        let a = [get(l, w, 16 * i + R0), get(l, w, 16 * i + R0 + NR)];
        for (j, acc) in tile.iter_mut().enumerate() {
            let bj = l.splat(l_mat[8 * i + J0 + j]);
            acc[0] = l.neg_mul_add(a[0], bj, acc[0]);
            acc[1] = l.neg_mul_add(a[1], bj, acc[1]);
        }
    }
    solve_tile(l, &mut tile, l_mat, J0, inv_diag);
    for (j, acc) in tile.iter().enumerate() {
        put(l, w, 16 * (J0 + j) + R0, acc[0]);
        put(l, w, 16 * (J0 + j) + R0 + NR, acc[1]);
    }
}

/// `W = [Ṽ Y_top; Ũ Y_bottom]` (the two `gemm`s of the early form at `Ni = No = mp = 8`) for
/// the column-major `8 × 8` `Ṽ` and `Ũ` and the column-major `16 × 8` `Y`, whose entries are read
/// where the general kernel reads its row-major copy: `W` column-major `16 × 8` into `w`
/// (every entry written; into the caller's buffer, not returned: a returned array is copied).
#[inline(always)]
pub(crate) fn basis8<L: Lanes>(
    l: L,
    v: &[f64; 64],
    u: &[f64; 64],
    y: &[f64; 128],
    w: &mut [f64; 128],
) {
    basis8_tile::<L, 0, 0>(l, v, y, w);
    basis8_tile::<L, 0, NR>(l, v, y, w);
    basis8_tile::<L, 8, 0>(l, u, y, w);
    basis8_tile::<L, 8, NR>(l, u, y, w);
}

/// The `8 × 4` tile of [`basis8`] at rows `R0..R0+8` (`basis` is `Ṽ` or `Ũ`), columns
/// `J0..J0+4`.
#[inline(always)]
fn basis8_tile<L: Lanes, const R0: usize, const J0: usize>(
    l: L,
    basis: &[f64; 64],
    y: &[f64; 128],
    w: &mut [f64; 128],
) {
    let zero = l.splat(0.0);
    let mut tile = [[zero; 2]; NR];
    accumulate8(l, &mut tile, basis, |i| 8 * i, |i, j| y[16 * (J0 + j) + R0 + i]);
    for (j, acc) in tile.iter().enumerate() {
        put(l, w, 16 * (J0 + j) + R0, acc[0]);
        put(l, w, 16 * (J0 + j) + R0 + NR, acc[1]);
    }
}

/// `C = W Wᵀ` (`syrk::<_, true>` with `n = 16`, `inner = 8`) for the column-major `16 × 8`
/// `W` into the column-major `16 × 16` `c`: the tiles on and below the diagonal, those below it
/// stored transposed as well.
#[inline(always)]
pub(crate) fn gram16<L: Lanes>(l: L, w: &[f64; 128], c: &mut [f64; 256]) {
    gram16_rows::<L, 0, 8>(l, w, c);
    gram16_rows::<L, 8, 16>(l, w, c);
}

/// The tiles of [`gram16`] in rows `R0..R0+8`, columns `0..C_END` (in steps of four).
#[inline(always)]
#[expect(clippy::needless_range_loop, reason = "constant indices, unrolled")]
fn gram16_rows<L: Lanes, const R0: usize, const C_END: usize>(
    l: L,
    w: &[f64; 128],
    c: &mut [f64; 256],
) {
    let zero = l.splat(0.0);
    for c0 in (0..C_END).step_by(NR) {
        let mut tile = [[zero; 2]; NR];
        accumulate8(l, &mut tile, w, |i| 16 * i + R0, |i, j| w[16 * i + c0 + j]);
        for (j, acc) in tile.iter().enumerate() {
            put(l, c, 16 * (c0 + j) + R0, acc[0]);
            put(l, c, 16 * (c0 + j) + R0 + NR, acc[1]);
        }
        if c0 + NR <= R0 {
            for v in 0..2 {
                let cols = [tile[0][v], tile[1][v], tile[2][v], tile[3][v]];
                for (q, t) in l.transpose(cols).into_iter().enumerate() {
                    put(l, c, 16 * (R0 + NR * v + q) + c0, t);
                }
            }
        }
    }
}
