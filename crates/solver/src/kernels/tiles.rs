//! Register-blocked kernels on zero-padded column-major buffers: Cholesky, triangular solves,
//! `gemm` and `syrk`, all generic over [`Lanes`].

use super::lanes::{Lanes, NR, round_up};

/// Vectors per tile column for the next row block when `remaining` rows (a multiple of 4) are
/// left: 8-row tiles (8 accumulators, as many as FMA latency × throughput needs; 12 spill),
/// and a last 4-row tile.
#[inline(always)]
fn tile_vectors(remaining: usize) -> usize {
    if remaining >= 2 * NR { 2 } else { 1 }
}

/// A tile of `4·MV` rows by [`NR`] columns, column by column.
type Tile<V, const MV: usize> = [[V; NR]; MV];

/// `tile[v][j] ±= Σ_{i < inner} A(4v + q, i) · B(i, j)` (`q < 4`) for column-major
/// `A(r, i) = a[i·lda + r]` and row-major `B(i, j) = b[i·ldb + j]`; `a` and `b` must hold
/// `inner` whole columns (rows) of length `lda` (`ldb`).
#[inline(always)]
fn accumulate<L: Lanes, const MV: usize, const SUB: bool>(
    l: L,
    mut tile: Tile<L::V, MV>,
    a: &[f64],
    lda: usize,
    b: &[f64],
    ldb: usize,
    inner: usize,
) -> Tile<L::V, MV> {
    // Whole columns of A and rows of B (the buffers carry a padding column for this), so the
    // bounds checks inside the loop are loop-invariant.
    let (a, b) = (&a[..inner * lda], &b[..inner * ldb]);
    for (col, row) in a.chunks_exact(lda).zip(b.chunks_exact(ldb)) {
        let (col, row) = (&col[..NR * MV], &row[..NR]);
        let mut av = [l.splat(0.0); MV];
        for (v, a_v) in av.iter_mut().enumerate() {
            *a_v = l.load(col[NR * v..NR * v + NR].try_into().expect("tile column"));
        }
        for (j, &b_ij) in row.iter().enumerate() {
            let bj = l.splat(b_ij);
            for (v, &a_v) in av.iter().enumerate() {
                tile[v][j] = if SUB {
                    l.neg_mul_add(a_v, bj, tile[v][j])
                } else {
                    l.mul_add(a_v, bj, tile[v][j])
                };
            }
        }
    }
    tile
}

/// The tile whose top-left entry is `src[0]` (leading dimension `ld`).
#[inline(always)]
fn load_tile<L: Lanes, const MV: usize>(l: L, src: &[f64], ld: usize) -> Tile<L::V, MV> {
    let mut tile = [[l.splat(0.0); NR]; MV];
    for j in 0..NR {
        for (v, row) in tile.iter_mut().enumerate() {
            let at = j * ld + NR * v;
            row[j] = l.load(src[at..at + NR].try_into().expect("tile"));
        }
    }
    tile
}

#[inline(always)]
fn store_tile<L: Lanes, const MV: usize>(l: L, dst: &mut [f64], ld: usize, tile: &Tile<L::V, MV>) {
    for j in 0..NR {
        for (v, row) in tile.iter().enumerate() {
            let at = j * ld + NR * v;
            l.store((&mut dst[at..at + NR]).try_into().expect("tile"), row[j]);
        }
    }
}

/// `X ← X L_JJ⁻ᵀ` for the tile's columns `J = j0..j0+4`, with `L` lower triangular
/// (`l_mat[c·ld + r] = L[r, c]`) and `inv_diag[j] = 1 / L[j, j]`.
#[inline(always)]
fn solve_tile<L: Lanes, const MV: usize>(
    l: L,
    tile: &mut Tile<L::V, MV>,
    l_mat: &[f64],
    ld: usize,
    j0: usize,
    inv_diag: &[f64],
) {
    for c in 0..NR {
        for p in 0..c {
            let l_cp = l.splat(l_mat[(j0 + p) * ld + j0 + c]);
            for row in tile.iter_mut() {
                row[c] = l.neg_mul_add(row[p], l_cp, row[c]);
            }
        }
        let inv = l.splat(inv_diag[j0 + c]);
        for row in tile.iter_mut() {
            row[c] = l.mul(row[c], inv);
        }
    }
}

/// The unblocked `4 × 4` step of [`cholesky`]: the columns `t` of a diagonal tile (its shift
/// added) become those of `L_JJ` (entries above the diagonal are scratch), and `inv_diag[c]` is
/// `1 / L[c, c]`. Only the first `n_pivots` columns are factorized; the others are the
/// identity's (`inv_diag` 1). `false` on a non-positive or non-finite pivot.
///
/// As `L D Lᵀ` first (`u = L D`, no square root on the dependency chain from one pivot to the
/// next), then `L̃ = L D^{1/2}`: `u_rc = a_rc − Σ_p u_rp u_cp / d_p`, `d_c = u_cc`.
#[inline(always)]
pub(crate) fn factor_diagonal_tile(
    t: &mut [[f64; NR]; NR],
    n_pivots: usize,
    inv_diag: &mut [f64],
) -> bool {
    let mut inv_pivot = [1.0; NR];
    // Every pivot is checked, the verdict taken once after the loop (no branch per pivot; a
    // bad pivot only makes the later columns garbage, which `false` discards). For `d > 0`,
    // `d < ∞` is `d.is_finite()` (a NaN fails both comparisons).
    let mut pivots_ok = true;
    for c in 0..n_pivots {
        for r in c..NR {
            let mut v = t[c][r];
            for p in 0..c {
                v -= t[p][r] * inv_pivot[p] * t[p][c];
            }
            t[c][r] = v;
        }
        let d = t[c][c];
        pivots_ok &= (d > 0.0) & (d < f64::INFINITY);
        inv_pivot[c] = 1.0 / d;
    }
    if !pivots_ok {
        return false;
    }
    for c in 0..NR {
        if c >= n_pivots {
            inv_diag[c] = 1.0;
            continue;
        }
        let root = t[c][c].sqrt();
        let inv = 1.0 / root;
        t[c][c] = root;
        for value in &mut t[c][c + 1..] {
            *value *= inv;
        }
        inv_diag[c] = inv;
    }
    true
}

/// In-place Cholesky `A + diag(shift) = L Lᵀ` of the lower triangle of the column-major
/// `mp × mp` matrix `a` (leading dimension `lda`, `mp` a multiple of 4; the strict upper
/// triangle is scratch), blocked by 4 columns. Rows and columns from `size` on must be those of
/// the identity (zero in `a`, one in `shift`): their pivots are not recomputed. Also writes
/// `inv_diag[j] = 1 / L[j, j]`. Returns `false` on a non-positive or non-finite pivot (the
/// matrix is then partly overwritten).
///
/// The shift is added in registers: a scalar store into `a` just before the vector loads of
/// the factorization would stall them (no store-to-load forwarding from narrower stores).
#[inline(always)]
pub(crate) fn cholesky<L: Lanes>(
    l: L,
    a: &mut [f64],
    lda: usize,
    mp: usize,
    size: usize,
    shift: &[f64],
    inv_diag: &mut [f64],
) -> bool {
    debug_assert!(mp.is_multiple_of(NR) && lda >= mp && inv_diag.len() >= mp);
    for j0 in (0..mp).step_by(NR) {
        // Diagonal tile: A_JJ − L_J,<j0 L_J,<j0ᵀ, then an unblocked 4 × 4 factorization.
        let diag: Tile<L::V, 1> = load_tile(l, &a[j0 * lda + j0..], lda);
        let diag = accumulate::<L, 1, true>(l, diag, &a[j0..], lda, &a[j0..], lda, j0);
        let mut t = [[0.0; NR]; NR];
        for (c, (col, v)) in t.iter_mut().zip(diag[0]).enumerate() {
            l.store(col, v);
            col[c] += shift[j0 + c];
        }
        let n_pivots = size.saturating_sub(j0).min(NR);
        if !factor_diagonal_tile(&mut t, n_pivots, &mut inv_diag[j0..j0 + NR]) {
            return false;
        }
        for (c, col) in t.iter().enumerate() {
            a[(j0 + c) * lda + j0..(j0 + c) * lda + j0 + NR].copy_from_slice(col);
        }
        // The panel below: (A_RJ − L_R,<j0 L_J,<j0ᵀ) L_JJ⁻ᵀ.
        let mut r0 = j0 + NR;
        while r0 < mp {
            let mv = tile_vectors(mp - r0);
            match mv {
                2 => cholesky_panel::<L, 2>(l, a, lda, r0, j0, inv_diag),
                _ => cholesky_panel::<L, 1>(l, a, lda, r0, j0, inv_diag),
            }
            r0 += NR * mv;
        }
    }
    true
}

#[inline(always)]
fn cholesky_panel<L: Lanes, const MV: usize>(
    l: L,
    a: &mut [f64],
    lda: usize,
    r0: usize,
    j0: usize,
    inv_diag: &[f64],
) {
    let tile: Tile<L::V, MV> = load_tile(l, &a[j0 * lda + r0..], lda);
    let mut tile = accumulate::<L, MV, true>(l, tile, &a[r0..], lda, &a[j0..], lda, j0);
    solve_tile(l, &mut tile, a, lda, j0, inv_diag);
    store_tile(l, &mut a[j0 * lda + r0..], lda, &tile);
}

/// The product `Z = O₊ + O_rest Ñ` of the stable form, fused into [`solve_rows`]: `o_plus`
/// (`ld × mp`) and `o_rest` (`ld × inner`) column-major with the `ld` of the solved matrix,
/// `n_tilde` row-major `inner × mp` with row stride `ldn`.
#[derive(Clone, Copy)]
pub(crate) struct Product<'a> {
    pub(crate) o_plus: &'a [f64],
    pub(crate) o_rest: &'a [f64],
    pub(crate) n_tilde: &'a [f64],
    pub(crate) ldn: usize,
    pub(crate) inner: usize,
}

/// The lower-triangular factor written by [`cholesky`]: `L` (`mp × mp`, leading dimension
/// `ld`) and `1 / L[j, j]`.
#[derive(Clone, Copy)]
pub(crate) struct Factor<'a> {
    pub(crate) l: &'a [f64],
    pub(crate) ld: usize,
    pub(crate) mp: usize,
    pub(crate) inv_diag: &'a [f64],
}

/// A row-major copy of a result (`rows × mp`, row stride `ld`).
pub(crate) struct RowMajor<'a> {
    pub(crate) values: &'a mut [f64],
    pub(crate) ld: usize,
}

/// `W ← X L⁻ᵀ` in place (solves `W Lᵀ = X`) for the column-major `rows × mp` matrix `w`
/// (leading dimension `ld`, `rows` a multiple of 4). With `product`, `X` is that product
/// instead of the current content of `w`; with `copy`, `W` is also stored row-major there.
#[inline(always)]
pub(crate) fn solve_rows<L: Lanes>(
    l: L,
    w: &mut [f64],
    ld: usize,
    rows: usize,
    factor: Factor<'_>,
    product: Option<Product<'_>>,
    mut copy: Option<RowMajor<'_>>,
) {
    let mut r0 = 0;
    while r0 < rows {
        let mv = tile_vectors(rows - r0);
        match mv {
            2 => solve_row_block::<L, 2>(l, w, ld, r0, factor, product, &mut copy),
            _ => solve_row_block::<L, 1>(l, w, ld, r0, factor, product, &mut copy),
        }
        r0 += NR * mv;
    }
}

#[inline(always)]
fn solve_row_block<L: Lanes, const MV: usize>(
    l: L,
    w: &mut [f64],
    ld: usize,
    r0: usize,
    factor: Factor<'_>,
    product: Option<Product<'_>>,
    copy: &mut Option<RowMajor<'_>>,
) {
    let Factor { l: l_mat, ld: ldl, mp, inv_diag } = factor;
    for j0 in (0..mp).step_by(NR) {
        let tile: Tile<L::V, MV> = match product {
            Some(p) => {
                let tile = load_tile(l, &p.o_plus[j0 * ld + r0..], ld);
                let (o_rest, n_tilde) = (&p.o_rest[r0..], &p.n_tilde[j0..]);
                accumulate::<L, MV, false>(l, tile, o_rest, ld, n_tilde, p.ldn, p.inner)
            }
            None => load_tile(l, &w[j0 * ld + r0..], ld),
        };
        let mut tile = accumulate::<L, MV, true>(l, tile, &w[r0..], ld, &l_mat[j0..], ldl, j0);
        solve_tile(l, &mut tile, l_mat, ldl, j0, inv_diag);
        store_tile(l, &mut w[j0 * ld + r0..], ld, &tile);
        if let Some(RowMajor { values, ld: ldt }) = copy {
            store_transposed(l, values, *ldt, r0, j0, &tile);
        }
    }
}

/// Stores the transpose of the tile at rows `r0..`, columns `j0..` of a column-major matrix,
/// i.e. the tile of the row-major matrix with row stride `ld`.
#[inline(always)]
fn store_transposed<L: Lanes, const MV: usize>(
    l: L,
    dst: &mut [f64],
    ld: usize,
    r0: usize,
    j0: usize,
    tile: &Tile<L::V, MV>,
) {
    for (v, row) in tile.iter().enumerate() {
        for (q, t) in l.transpose(*row).into_iter().enumerate() {
            let at = (r0 + NR * v + q) * ld + j0;
            l.store((&mut dst[at..at + NR]).try_into().expect("tile"), t);
        }
    }
}

/// `C = A B` for column-major `A` (`rows × inner`, leading dimension `lda`, `rows` a multiple
/// of 4) and row-major `B` (`inner × cols`, leading dimension `ldb`, `cols` a multiple of 4),
/// into the column-major `c` (leading dimension `ldc`).
#[inline(always)]
#[expect(clippy::too_many_arguments)]
pub(crate) fn gemm<L: Lanes>(
    l: L,
    c: &mut [f64],
    ldc: usize,
    a: &[f64],
    lda: usize,
    rows: usize,
    b: &[f64],
    ldb: usize,
    inner: usize,
    cols: usize,
) {
    let mut r0 = 0;
    while r0 < rows {
        let mv = tile_vectors(rows - r0);
        match mv {
            2 => gemm_row_block::<L, 2>(l, c, ldc, &a[r0..], lda, b, ldb, inner, cols, r0),
            _ => gemm_row_block::<L, 1>(l, c, ldc, &a[r0..], lda, b, ldb, inner, cols, r0),
        }
        r0 += NR * mv;
    }
}

#[inline(always)]
#[expect(clippy::too_many_arguments)]
fn gemm_row_block<L: Lanes, const MV: usize>(
    l: L,
    c: &mut [f64],
    ldc: usize,
    a: &[f64],
    lda: usize,
    b: &[f64],
    ldb: usize,
    inner: usize,
    cols: usize,
    r0: usize,
) {
    for j0 in (0..cols).step_by(NR) {
        let zero: Tile<L::V, MV> = [[l.splat(0.0); NR]; MV];
        let tile = accumulate::<L, MV, false>(l, zero, a, lda, &b[j0..], ldb, inner);
        store_tile(l, &mut c[j0 * ldc + r0..], ldc, &tile);
    }
}

/// `C = W Wᵀ` for the column-major `W` (`n × inner` with zero rows up to a multiple of 4,
/// leading dimension `ldw`) into the column-major `n × n` matrix `c` (leading dimension
/// `ldc`). Only the tiles that touch the lower triangle are computed; with `FULL` each tile
/// strictly below the diagonal is also stored transposed, so `c` is filled completely and is
/// exactly symmetric (`fma(a, b, s) = fma(b, a, s)`). Without `FULL` only the lower triangle
/// (and some entries above it) is written, and `c` must have `ldc ≥ round_up(n)` rows.
#[inline(always)]
pub(crate) fn syrk<L: Lanes, const FULL: bool>(
    l: L,
    w: &[f64],
    ldw: usize,
    inner: usize,
    c: &mut [f64],
    ldc: usize,
    n: usize,
) {
    let rows = round_up(n);
    let mut r0 = 0;
    while r0 < rows {
        let mv = tile_vectors(rows - r0);
        match mv {
            2 => syrk_row_block::<L, 2, FULL>(l, w, ldw, inner, c, ldc, n, r0),
            _ => syrk_row_block::<L, 1, FULL>(l, w, ldw, inner, c, ldc, n, r0),
        }
        r0 += NR * mv;
    }
}

#[inline(always)]
#[expect(clippy::too_many_arguments)]
fn syrk_row_block<L: Lanes, const MV: usize, const FULL: bool>(
    l: L,
    w: &[f64],
    ldw: usize,
    inner: usize,
    c: &mut [f64],
    ldc: usize,
    n: usize,
    r0: usize,
) {
    let r_end = r0 + NR * MV;
    for c0 in (0..r_end.min(round_up(n))).step_by(NR) {
        let zero: Tile<L::V, MV> = [[l.splat(0.0); NR]; MV];
        let tile = accumulate::<L, MV, false>(l, zero, &w[r0..], ldw, &w[c0..], ldw, inner);
        let below = c0 + NR <= r0;
        if !FULL {
            store_tile(l, &mut c[c0 * ldc + r0..], ldc, &tile);
        } else if r_end <= n && c0 + NR <= n {
            store_tile(l, &mut c[c0 * ldc + r0..], ldc, &tile);
            if below {
                store_transposed(l, c, ldc, r0, c0, &tile);
            }
        } else {
            // A tile past the last row or column: entry by entry.
            for (v, row) in tile.iter().enumerate() {
                for (j, &col) in row.iter().enumerate() {
                    let mut values = [0.0; NR];
                    l.store(&mut values, col);
                    let cc = c0 + j;
                    for (q, &value) in values.iter().enumerate() {
                        let rr = r0 + NR * v + q;
                        if rr < n && cc < n {
                            c[cc * ldc + rr] = value;
                            if below {
                                c[rr * ldc + cc] = value;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether every entry of `x` is finite: `v·0 + acc` keeps `acc = ±0` for finite `v` and makes
/// it NaN otherwise (four vectors of independent lanes, the rest one by one).
#[inline(always)]
pub(crate) fn all_finite_lanes<L: Lanes>(l: L, x: &[f64]) -> bool {
    let zero = l.splat(0.0);
    let mut acc = [zero; NR];
    let (blocks, rest) = x.as_chunks::<{ NR * NR }>();
    for block in blocks {
        for (acc, v) in acc.iter_mut().zip(block.as_chunks::<NR>().0) {
            *acc = l.mul_add(l.load(v), zero, *acc);
        }
    }
    let mut sum = [0.0; NR];
    l.store(&mut sum, l.add(l.add(acc[0], acc[1]), l.add(acc[2], acc[3])));
    let tail: f64 = rest.iter().map(|v| v * 0.0).sum();
    sum[0] + sum[1] + sum[2] + sum[3] + tail == 0.0
}

// ---------------------------------------------------------------------------------------------
// The simulator's allocation-free kernels on column-major `DMatrix` data (module `simulate`).
