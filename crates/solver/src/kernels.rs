//! Hand-written dense kernels: register-blocked ones for the small matrices of a closed-form
//! time point, and the simulator's allocation-free products.
//!
//! All matrices are column-major slices whose row counts are padded to a multiple of [`NR`]
//! with zeros, so every kernel works on whole `4 × 4` tiles: row blocks of 8 (or a last one
//! of 4) rows by column blocks of 4, held in registers while the kernel runs over the inner
//! dimension. The loop order is fixed, so results are deterministic on a given machine.
//!
//! The kernels are generic over [`Lanes`], a 4-wide `f64` vector. [`dispatch`] runs a
//! [`Kernel`] with AVX2 + FMA when the CPU has them (detected at run time through `pulp`, whose
//! API is safe: the binaries stay baseline x86-64) and with the portable implementation
//! otherwise. A whole time point is one kernel, so the dispatch happens once per point.
//!
//! The simulator's kernels are here too: [`matmul`], [`matmul_nt`] and [`matmul_tn`] write a
//! product into a preallocated `DMatrix` (a register-accumulating hand kernel up to
//! [`SMALL_PRODUCT`] multiply–adds, nalgebra's `gemm` above), with [`axpy`], [`lin_comb`] and
//! [`all_finite`] on the raw column-major data.

use nalgebra::{DMatrix, DMatrixView};

/// Width of a vector, of a column block and the padding unit of every row count.
pub(crate) const NR: usize = 4;

/// `x` rounded up to a multiple of [`NR`].
pub(crate) fn round_up(x: usize) -> usize {
    x.div_ceil(NR) * NR
}

/// A leading dimension for `rows` rows: [`round_up`], plus one vector when that is a multiple
/// of 32, so that a column stride is never a multiple of 256 bytes (such strides map a panel's
/// columns to few L1 sets and evict each other: 30% slower at N = 64).
pub(crate) fn leading_dim(rows: usize) -> usize {
    let r = round_up(rows);
    if r >= 32 && r.is_multiple_of(32) { r + NR } else { r }
}

/// A 4-wide `f64` vector: the only operations the kernels need.
pub(crate) trait Lanes: Copy {
    /// The vector type.
    type V: Copy;
    /// `[x; 4]`.
    fn splat(self, x: f64) -> Self::V;
    /// Loads four consecutive values.
    fn load(self, x: &[f64; NR]) -> Self::V;
    /// Stores four consecutive values.
    fn store(self, x: &mut [f64; NR], v: Self::V);
    /// `a·b + c` (fused where the hardware has FMA).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c − a·b` (fused where the hardware has FMA).
    fn neg_mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a·b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// Loads a slice of exactly four values (as from `chunks_exact(NR)`).
    #[inline(always)]
    fn load_slice(self, x: &[f64]) -> Self::V {
        self.load(x.try_into().expect("four lanes"))
    }
    /// Stores into a slice of exactly four values.
    #[inline(always)]
    fn store_slice(self, x: &mut [f64], v: Self::V) {
        self.store(x.try_into().expect("four lanes"), v);
    }
    /// The transpose of the `4 × 4` tile whose columns are `cols`.
    fn transpose(self, cols: [Self::V; NR]) -> [Self::V; NR];
}

/// Plain Rust arrays: the fallback for CPUs without AVX2 + FMA (and other architectures).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Lanes for Portable {
    type V = [f64; NR];

    #[inline(always)]
    fn splat(self, x: f64) -> [f64; NR] {
        [x; NR]
    }

    #[inline(always)]
    fn load(self, x: &[f64; NR]) -> [f64; NR] {
        *x
    }

    #[inline(always)]
    fn store(self, x: &mut [f64; NR], v: [f64; NR]) {
        *x = v;
    }

    #[inline(always)]
    fn mul_add(self, a: [f64; NR], b: [f64; NR], c: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] * b[q] + c[q])
    }

    #[inline(always)]
    fn neg_mul_add(self, a: [f64; NR], b: [f64; NR], c: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| c[q] - a[q] * b[q])
    }

    #[inline(always)]
    fn mul(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] * b[q])
    }

    #[inline(always)]
    fn add(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] + b[q])
    }

    #[inline(always)]
    fn sub(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] - b[q])
    }

    #[inline(always)]
    fn div(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] / b[q])
    }

    #[inline(always)]
    fn transpose(self, cols: [[f64; NR]; NR]) -> [[f64; NR]; NR] {
        std::array::from_fn(|r| std::array::from_fn(|c| cols[c][r]))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Kernel, Lanes, NR};
    use pulp::x86::V3;
    use pulp::{Simd, WithSimd, cast, f64x4};

    impl Lanes for V3 {
        type V = f64x4;

        #[inline(always)]
        fn splat(self, x: f64) -> f64x4 {
            self.splat_f64s(x)
        }

        #[inline(always)]
        fn load(self, x: &[f64; NR]) -> f64x4 {
            cast(*x)
        }

        #[inline(always)]
        fn store(self, x: &mut [f64; NR], v: f64x4) {
            *x = cast(v);
        }

        #[inline(always)]
        fn mul_add(self, a: f64x4, b: f64x4, c: f64x4) -> f64x4 {
            self.mul_add_f64x4(a, b, c)
        }

        #[inline(always)]
        fn neg_mul_add(self, a: f64x4, b: f64x4, c: f64x4) -> f64x4 {
            self.negate_mul_add_f64x4(a, b, c)
        }

        #[inline(always)]
        fn mul(self, a: f64x4, b: f64x4) -> f64x4 {
            self.mul_f64s(a, b)
        }

        #[inline(always)]
        fn add(self, a: f64x4, b: f64x4) -> f64x4 {
            self.add_f64s(a, b)
        }

        #[inline(always)]
        fn sub(self, a: f64x4, b: f64x4) -> f64x4 {
            self.sub_f64s(a, b)
        }

        #[inline(always)]
        fn div(self, a: f64x4, b: f64x4) -> f64x4 {
            self.div_f64s(a, b)
        }

        #[inline(always)]
        fn transpose(self, cols: [f64x4; NR]) -> [f64x4; NR] {
            let avx = self.avx;
            let [c0, c1, c2, c3] = cols.map(cast);
            let lo01 = avx._mm256_unpacklo_pd(c0, c1);
            let hi01 = avx._mm256_unpackhi_pd(c0, c1);
            let lo23 = avx._mm256_unpacklo_pd(c2, c3);
            let hi23 = avx._mm256_unpackhi_pd(c2, c3);
            [
                cast(avx._mm256_permute2f128_pd::<0x20>(lo01, lo23)),
                cast(avx._mm256_permute2f128_pd::<0x20>(hi01, hi23)),
                cast(avx._mm256_permute2f128_pd::<0x31>(lo01, lo23)),
                cast(avx._mm256_permute2f128_pd::<0x31>(hi01, hi23)),
            ]
        }
    }

    /// Runs a [`Kernel`] inside pulp's AVX2 + FMA context (every call below is inlined).
    pub(super) struct OnV3<K>(pub(super) V3, pub(super) K);

    impl<K: Kernel> WithSimd for OnV3<K> {
        type Output = K::Output;

        #[inline(always)]
        fn with_simd<S: Simd>(self, _simd: S) -> K::Output {
            self.1.run(self.0)
        }
    }

    /// The AVX2 + FMA token when the CPU has these features.
    #[inline(always)]
    pub(super) fn token() -> Option<V3> {
        V3::try_new()
    }
}

/// A computation generic over the vector implementation; `run` must be `#[inline(always)]`
/// so that it is compiled for the dispatched instruction set.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel with vectors `lanes`.
    fn run<L: Lanes>(self, lanes: L) -> Self::Output;
}

/// Runs `kernel` with AVX2 + FMA if available, portably otherwise.
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = avx2::token() {
        return pulp::Simd::vectorize(v3, avx2::OnV3(v3, kernel));
    }
    kernel.run(Portable)
}

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
        // As L D Lᵀ first (u = L D, no square root on the dependency chain from one pivot to
        // the next), then L̃ = L D^{1/2}: u_rc = a_rc − Σ_p u_rp u_cp / d_p, d_c = u_cc.
        let mut inv_pivot = [1.0; NR];
        let n_pivots = size.saturating_sub(j0).min(NR);
        for c in 0..n_pivots {
            for r in c..NR {
                let mut v = t[c][r];
                for p in 0..c {
                    v -= t[p][r] * inv_pivot[p] * t[p][c];
                }
                t[c][r] = v;
            }
            let d = t[c][c];
            if !(d > 0.0 && d.is_finite()) {
                return false;
            }
            inv_pivot[c] = 1.0 / d;
        }
        for c in 0..NR {
            if c >= n_pivots {
                inv_diag[j0 + c] = 1.0;
                continue;
            }
            let root = t[c][c].sqrt();
            let inv = 1.0 / root;
            t[c][c] = root;
            for value in &mut t[c][c + 1..] {
                *value *= inv;
            }
            inv_diag[j0 + c] = inv;
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

// ---------------------------------------------------------------------------------------------
// The simulator's allocation-free kernels on column-major `DMatrix` data (module `simulate`).

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::gaussian_matrix;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn matrix(rows: usize, cols: usize, salt: f64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |i, j| ((i * 7 + j * 3) as f64 * 0.37 + salt).sin())
    }

    /// `m` as a column-major buffer with `ld` rows (zero padded) and `cols` columns, plus the
    /// padding column the kernels need.
    fn padded(m: &DMatrix<f64>, ld: usize, cols: usize) -> Vec<f64> {
        let mut out = vec![0.0; ld * (cols + 1)];
        for c in 0..m.ncols() {
            for r in 0..m.nrows() {
                out[c * ld + r] = m[(r, c)];
            }
        }
        out
    }

    struct Check;

    impl Kernel for Check {
        type Output = ();

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) {
            check_kernels(l);
        }
    }

    fn check_kernels<L: Lanes>(l: L) {
        for n in [1, 3, 4, 8, 9, 16, 21, 32] {
            let ld = leading_dim(n);
            for m in [1, 2, 5, 8, 10] {
                let mp = round_up(m);
                // Symmetric rank-m product, full and lower.
                let w = matrix(n, m, 0.4);
                let want = &w * w.transpose();
                let w_buf = padded(&w, ld, m);
                let mut full = DMatrix::zeros(n, n);
                syrk::<L, true>(l, &w_buf, ld, m, full.as_mut_slice(), n, n);
                assert!((&full - &want).amax() < 1e-13, "syrk n {n} m {m}");
                assert_eq!(full, full.transpose());
                let mut lower = vec![0.0; ld * ld];
                syrk::<L, false>(l, &w_buf, ld, m, &mut lower, ld, n);
                for c in 0..n {
                    for r in c..n {
                        assert!((lower[c * ld + r] - want[(r, c)]).abs() < 1e-13);
                    }
                }
                // Cholesky of an SPD matrix padded with the identity, then W = Z L⁻ᵀ.
                let spd = &w.transpose() * &w + DMatrix::identity(m, m);
                let lm = leading_dim(mp + 1);
                let mut a = padded(&(&spd - DMatrix::identity(m, m) * 0.5), lm, mp);
                let mut inv_diag = vec![0.0; mp];
                let shift: Vec<f64> = (0..mp).map(|j| if j < m { 0.5 } else { 1.0 }).collect();
                assert!(cholesky(l, &mut a, lm, mp, m, &shift, &mut inv_diag));
                let l_mat = DMatrix::from_fn(m, m, |r, c| if r >= c { a[c * lm + r] } else { 0.0 });
                let factor = Factor { l: &a, ld: lm, mp, inv_diag: &inv_diag };
                assert!((&l_mat * l_mat.transpose() - &spd).amax() < 1e-12);
                let z = matrix(n, m, 0.5);
                let mut solved = padded(&z, ld, mp);
                let mut copy = vec![0.0; ld * mp];
                let row_major = RowMajor { values: &mut copy, ld: mp };
                solve_rows(l, &mut solved, ld, ld, factor, None, Some(row_major));
                let solved = DMatrix::from_fn(n, m, |r, c| solved[c * ld + r]);
                assert!((&solved * l_mat.transpose() - &z).amax() < 1e-12);
                assert_eq!(solved, DMatrix::from_fn(n, m, |r, c| copy[r * mp + c]));
                // The fused product O₊ + O_rest Ñ before the solve.
                let (o_plus, o_rest, n_tilde) =
                    (matrix(n, m, 0.1), matrix(n, 3, 0.2), matrix(3, m, 0.3));
                let (op, or) = (padded(&o_plus, ld, mp), padded(&o_rest, ld, 3));
                let nt = padded(&n_tilde.transpose(), mp, 3);
                let mut fused = vec![0.0; ld * (mp + 1)];
                let product = Product { o_plus: &op, o_rest: &or, n_tilde: &nt, ldn: mp, inner: 3 };
                solve_rows(l, &mut fused, ld, ld, factor, Some(product), None);
                let fused = DMatrix::from_fn(n, m, |r, c| fused[c * ld + r]);
                let x = o_plus + o_rest * n_tilde;
                assert!((fused * l_mat.transpose() - x).amax() < 1e-12);
                // General product with strided B.
                let (a_m, b_m) = (matrix(n, 7, 0.6), matrix(7, m, 0.7));
                let mut c = vec![0.0; ld * mp];
                let b_buf = padded(&b_m.transpose(), mp, 7);
                gemm(l, &mut c, ld, &padded(&a_m, ld, 7), ld, ld, &b_buf, mp, 7, mp);
                let c = DMatrix::from_fn(n, m, |r, j| c[j * ld + r]);
                assert!((c - a_m * b_m).amax() < 1e-13);
            }
        }
        let mut indefinite = vec![1.0, 2.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0];
        indefinite.extend([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(!cholesky(l, &mut indefinite, 4, 4, 4, &[0.0; 4], &mut [0.0; 4]));
    }

    #[test]
    fn portable_kernels_match_nalgebra() {
        check_kernels(Portable);
    }

    #[test]
    fn dispatched_kernels_match_nalgebra() {
        dispatch(Check);
    }

    #[test]
    fn kernels_match_nalgebra_for_small_large_and_empty_shapes() {
        let mut r = ChaCha8Rng::seed_from_u64(27);
        for (m, k, n) in
            [(3, 4, 5), (8, 8, 8), (1, 7, 2), (40, 33, 30), (0, 3, 2), (3, 0, 2), (2, 3, 0)]
        {
            let a = gaussian_matrix(m, k, 1.0, &mut r);
            let b = gaussian_matrix(k, n, 1.0, &mut r);
            let mut c = DMatrix::from_element(m, n, f64::NAN);
            matmul(&mut c, &a, &b);
            assert!((&c - &a * &b).amax() < 1e-12, "nn {m} {k} {n}");
            let at = a.transpose();
            let mut c = DMatrix::from_element(m, n, f64::NAN);
            matmul_tn(&mut c, &at, &b, &mut DMatrix::zeros(m, k));
            assert!((&c - &a * &b).amax() < 1e-12, "tn {m} {k} {n}");
            let bt = b.transpose();
            let mut c = DMatrix::from_element(m, n, f64::NAN);
            matmul_nt(&mut c, &a, &bt);
            assert!((&c - &a * &b).amax() < 1e-12, "nt {m} {k} {n}");
        }
        assert!(all_finite(&[1.0, -2.0, 3.0, 4.0, 5.0]));
        assert!(!all_finite(&[1.0, -2.0, 3.0, 4.0, f64::INFINITY]));
        assert!(!all_finite(&[f64::NAN, 1.0]));
        assert!(!all_finite(&[1.0, 2.0, f64::NEG_INFINITY, 4.0]));
    }
}
