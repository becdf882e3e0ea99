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

#[cfg(target_arch = "x86_64")]
mod avx2;
mod four;
mod jacobi;
mod lanes;
mod qr8;
mod small;
pub(crate) mod square8;
mod tiles;

pub(crate) use four::{Lane8, WarmJacobi8x4};
pub(crate) use jacobi::{Jacobi8, WarmJacobi8};
pub(crate) use lanes::{Kernel, Lanes, NR, Portable, leading_dim, pow2, round_up};
pub(crate) use qr8::{Prepare8, Prepared8};
pub use small::SMALL_PRODUCT;
pub(crate) use small::{all_finite, axpy, lin_comb, matmul, matmul_nt, matmul_tn};
pub(crate) use tiles::{
    Factor, Product, RowMajor, all_finite_lanes, cholesky, gemm, solve_rows, syrk,
};

/// Runs `kernel` with AVX2 + FMA if available, portably otherwise.
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = avx2::token() {
        return pulp::Simd::vectorize(v3, avx2::OnV3(v3, kernel));
    }
    kernel.run(Portable)
}

/// [`dispatch`] for the singular-value kernels ([`Prepare8`], [`Jacobi8`]): where the CPU also
/// has AVX-512 (F, VL, DQ, BW, CD), the same 4-wide code compiled with AVX-512VL enabled, which
/// gives it 32 vector registers instead of 16 and so removes the spills of the two-matrix
/// Jacobi sweeps (`product_singular_values/jacobi_pair/8` 3.2–3.6 → 3.0–3.1 µs, `jacobi/8`
/// 2.5–2.6 → 2.2–2.4). The operations and their order are the same, so the results are bitwise
/// those of AVX2. Only these kernels take it: the others gained nothing, and each context
/// compiles every kernel it runs once more.
pub(crate) fn dispatch_sweeps<K: Kernel>(kernel: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if let Some(v4) = avx2::token_v4() {
        return pulp::Simd::vectorize(v4, avx2::OnV3(*v4, kernel));
    }
    dispatch(kernel)
}

/// Runs `kernel` with AVX2 + FMA if available, else hands it back: a kernel specialised for
/// speed (a closed-form time point at constant sizes) is not compiled portably too.
pub(crate) fn dispatch_avx2<K: Kernel>(kernel: K) -> Result<K::Output, K> {
    #[cfg(target_arch = "x86_64")]
    if let Some(v3) = avx2::token() {
        return Ok(pulp::Simd::vectorize(v3, avx2::OnV3(v3, kernel)));
    }
    Err(kernel)
}

#[cfg(test)]
mod tests {
    use nalgebra::{DMatrix, DVector};

    use super::*;
    use crate::linalg::gaussian_matrix;
    use rand::{Rng, SeedableRng};
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

    fn jacobi8(rows: &mut [f64; 64], max_sweeps: usize) -> Jacobi8<'_> {
        Jacobi8 { rows: [rows], tol: 8.0 * f64::EPSILON, max_sweeps }
    }

    /// The column norms of eight columns in the seats of [`Jacobi8`].
    fn seat_norms(rows: &[f64; 64]) -> Vec<f64> {
        let mut norms: Vec<f64> =
            (0..8).map(|q| (0..8).map(|k| rows[8 * k + q].powi(2)).sum::<f64>().sqrt()).collect();
        norms.sort_by(|a, b| b.total_cmp(a));
        norms
    }

    /// Sylvester's Hadamard matrix, seat q scaled by q + 1: exactly orthogonal columns.
    fn orthogonal_columns() -> [f64; 64] {
        std::array::from_fn(|i| {
            let (k, q) = (i / 8, i % 8);
            let sign = if (k & q).count_ones() % 2 == 0 { 1.0 } else { -1.0 };
            sign * (q + 1) as f64
        })
    }

    /// The 8 × 8 Jacobi kernel, portable and dispatched (AVX2 + FMA where available), on the
    /// same columns: both converge to orthogonal columns with the singular values of the input
    /// as norms (agreeing to 1e-13); converged or already orthogonal columns are left exactly
    /// unchanged by one more sweep; two matrices in one kernel (one converging at once) give
    /// bitwise the results of each alone; a cap of 0 or 1 sweep on a random matrix reports
    /// non-convergence.
    #[test]
    fn jacobi8_portable_and_dispatched_agree_and_are_bounded() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        for _ in 0..20 {
            let a = gaussian_matrix(8, 8, 0.3, &mut rng);
            let want = crate::linalg::singular_values(&a, "a").unwrap();
            let input: [f64; 64] = std::array::from_fn(|i| a.as_slice()[i]);
            let (mut portable, mut dispatched) = (input, input);
            assert!(jacobi8(&mut portable, 30).run(Portable)[0]);
            assert!(dispatch_sweeps(jacobi8(&mut dispatched, 30))[0]);
            for rows in [&portable, &dispatched] {
                for (g, w) in seat_norms(rows).iter().zip(want.iter()) {
                    assert!((g - w).abs() <= 1e-13 * want[0], "{g} vs {w}");
                }
                for (i, j) in (0..8).flat_map(|i| (i + 1..8).map(move |j| (i, j))) {
                    let dot: f64 = (0..8).map(|k| rows[8 * k + i] * rows[8 * k + j]).sum();
                    assert!(dot.abs() <= 1e-14, "columns {i} {j}: {dot}");
                }
            }
            // A converged matrix is left exactly unchanged by a further sweep.
            let mut again = dispatched;
            assert!(dispatch_sweeps(jacobi8(&mut again, 1))[0]);
            assert_eq!(again, dispatched);
            // Two matrices in one kernel: bitwise the results of each alone.
            let (mut first, mut second) = (input, orthogonal_columns());
            let kernel = Jacobi8 {
                rows: [&mut first, &mut second],
                tol: 8.0 * f64::EPSILON,
                max_sweeps: 30,
            };
            assert_eq!(dispatch_sweeps(kernel), [true, true]);
            assert_eq!((first, second), (dispatched, orthogonal_columns()));
            for max_sweeps in [0, 1] {
                let mut rows = input;
                assert!(!dispatch_sweeps(jacobi8(&mut rows, max_sweeps))[0]);
            }
        }
        let orthogonal = orthogonal_columns();
        let mut rows = orthogonal;
        assert!(dispatch_sweeps(jacobi8(&mut rows, 1))[0]);
        assert_eq!(rows, orthogonal);
    }

    /// Where the CPU has AVX-512, [`dispatch_sweeps`] compiles the kernels with AVX-512VL (more
    /// registers, the same operations): the pivoted QRs and the sweeps of two 8 × 8 matrices at
    /// once (`Prepare8`, `Jacobi8`) give bitwise the results of the AVX2 context alone, on
    /// random matrices from well to badly scaled and nearly singular ones. (On a CPU without
    /// AVX-512 both are the AVX2 context and this checks nothing new.)
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_registers_give_the_avx2_results_bitwise() {
        let Some(v3) = avx2::token() else {
            return;
        };
        fn on_v3<K: Kernel>(v3: pulp::x86::V3, kernel: K) -> K::Output {
            pulp::Simd::vectorize(v3, avx2::OnV3(v3, kernel))
        }
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        for case in 0..200 {
            let scale = [1e-6, 0.3, 1e3][case % 3];
            let mut a = gaussian_matrix(8, 8, scale, &mut rng);
            let mut b = gaussian_matrix(8, 8, scale, &mut rng);
            if case % 4 == 3 {
                // Nearly rank 7: one column almost a copy of another.
                let copy = a.column(0) * (1.0 + 1e-12);
                a.set_column(5, &copy);
                b.column_mut(2).fill(0.0);
            }
            let start =
                |m: &DMatrix<f64>| -> [f64; 64] { std::array::from_fn(|i| m.as_slice()[i]) };
            let tol = 8.0 * f64::EPSILON;
            let (mut x4, mut y4) = (start(&a), start(&b));
            let prepared4 = dispatch_sweeps(Prepare8 { matrices: [&mut x4, &mut y4] });
            let swept4 = dispatch_sweeps(Jacobi8 { rows: [&mut x4, &mut y4], tol, max_sweeps: 30 });
            let (mut x2, mut y2) = (start(&a), start(&b));
            let prepared2 = on_v3(v3, Prepare8 { matrices: [&mut x2, &mut y2] });
            let swept2 = on_v3(v3, Jacobi8 { rows: [&mut x2, &mut y2], tol, max_sweeps: 30 });
            assert_eq!(prepared_bits(&prepared4), prepared_bits(&prepared2), "case {case}");
            assert_eq!(swept4, swept2, "case {case}");
            let bits = |m: [f64; 64]| m.map(f64::to_bits);
            assert_eq!((bits(x4), bits(y4)), (bits(x2), bits(y2)), "case {case}");
        }
    }

    /// `V = I` in the seats of [`Jacobi8`] (row `j` has its one in position `j`).
    fn identity_seats() -> [f64; 64] {
        std::array::from_fn(|i| if i / 8 == i % 8 { 1.0 } else { 0.0 })
    }

    /// `max |VᵀV − I|` of `V` in seats.
    fn orthogonality_defect(v: &[f64; 64]) -> f64 {
        let mut defect = 0.0f64;
        for p in 0..8 {
            for q in 0..8 {
                let dot: f64 = (0..8).map(|j| v[8 * j + p] * v[8 * j + q]).sum();
                defect = defect.max((dot - if p == q { 1.0 } else { 0.0 }).abs());
            }
        }
        defect
    }

    /// [`Lanes::pow2`] of four integers.
    struct Pow2([f64; NR]);

    impl Kernel for Pow2 {
        type Output = [f64; NR];

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) -> [f64; NR] {
            let mut out = [0.0; NR];
            l.store(&mut out, l.pow2(l.load(&self.0)));
            out
        }
    }

    /// `2^k` for every integer `k` of `[−1022, 1023]`, portably and dispatched (AVX2: from the
    /// bits of `k + 1.5·2⁵²`), is exactly `powi`'s, and `-0.0` is `k = 0`.
    #[test]
    fn pow2_is_exact_on_the_normal_exponents() {
        let ks: Vec<f64> = (-1022..=1023).map(f64::from).collect();
        for chunk in ks.chunks(NR) {
            let mut k = [0.0; NR];
            k[..chunk.len()].copy_from_slice(chunk);
            let want = k.map(|k| 2f64.powi(k as i32));
            assert_eq!(Pow2(k).run(Portable), want, "{k:?}");
            assert_eq!(dispatch(Pow2(k)), want, "{k:?}");
            assert_eq!(pow2(k[0]), want[0]);
        }
        assert_eq!(dispatch(Pow2([-0.0; NR])), [1.0; NR]);
    }

    /// [`jacobi::small_rotation`] of four `(c, d)` pairs.
    struct SmallRotation {
        c: [f64; NR],
        d: [f64; NR],
    }

    impl Kernel for SmallRotation {
        type Output = ([f64; NR], [f64; NR]);

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) -> ([f64; NR], [f64; NR]) {
            let (cs, sn) = jacobi::small_rotation(l, l.load(&self.c), l.load(&self.d));
            let (mut c, mut s) = ([0.0; NR], [0.0; NR]);
            l.store(&mut c, cs);
            l.store(&mut s, sn);
            (c, s)
        }
    }

    /// The small-angle rotation of the Jacobi sweeps (`|c/d| < 2⁻⁸`, docs/math.md §4.3, "Small
    /// rotations") is the exact one, `θ = atan(2c/d) / 2`, to a few units in the last place
    /// (against `cos` and `sin` of the C library), is a rotation to rounding
    /// (`cos² θ + sin² θ = 1`), and is exactly the identity for `c = 0`, portably and
    /// dispatched. The general formula of the sweeps agrees with it to rounding.
    #[test]
    fn small_rotations_are_the_exact_rotation() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        let edge = jacobi::SMALL_ANGLE;
        let mut ratios: Vec<f64> = vec![0.0, -0.0, edge.next_down(), -edge.next_down(), 1e-300];
        ratios.extend((0..4000).map(|i| {
            let r = edge * 2f64.powf(-60.0 * rng.random::<f64>());
            if i % 2 == 0 { r } else { -r }
        }));
        for (k, chunk) in ratios.chunks(NR).enumerate() {
            let mut r = [0.0; NR];
            r[..chunk.len()].copy_from_slice(chunk);
            // d of both signs and of several magnitudes (the columns are scaled to about 1).
            let d: [f64; NR] = std::array::from_fn(|q| {
                let size = [1.0, 3.7, 1e-3, 8.0][(k + q) % 4];
                if (k + q) % 3 == 0 { -size } else { size }
            });
            let c: [f64; NR] = std::array::from_fn(|q| r[q] * d[q]);
            let portable = SmallRotation { c, d }.run(Portable);
            for (cs, sn) in [portable, dispatch(SmallRotation { c, d })] {
                for q in 0..NR {
                    let ratio = c[q] / d[q];
                    let theta = (2.0 * ratio).atan() / 2.0;
                    let (cos, sin) = (theta.cos(), theta.sin());
                    assert!((cs[q] - cos).abs() <= 2.0 * f64::EPSILON, "cos at r = {ratio}");
                    let tol = 4.0 * f64::EPSILON * sin.abs() + f64::MIN_POSITIVE;
                    assert!((sn[q] - sin).abs() <= tol, "sin at r = {ratio}: {} vs {sin}", sn[q]);
                    let norm = cs[q].mul_add(cs[q], sn[q] * sn[q]) - 1.0;
                    assert!(norm.abs() <= 2.0 * f64::EPSILON, "not a rotation at r = {ratio}");
                    // The general formula of the sweeps (t = 2c sign(d) / (|d| + w)).
                    let w = (d[q] * d[q] + 4.0 * c[q] * c[q]).sqrt();
                    let s = d[q].abs() + w;
                    let general_cs = (s / (w + w)).sqrt();
                    let t = if d[q] < 0.0 { -2.0 * c[q] } else { 2.0 * c[q] } / s;
                    assert!((cs[q] - general_cs).abs() <= 2.0 * f64::EPSILON);
                    assert!((sn[q] - general_cs * t).abs() <= tol);
                }
            }
        }
        // c = 0 (a lane that needs no rotation: c, d = 0, 1): exactly the identity.
        let identity = SmallRotation { c: [0.0; NR], d: [1.0; NR] };
        assert_eq!(identity.run(Portable), ([1.0; NR], [0.0; NR]));
        let identity = SmallRotation { c: [0.0; NR], d: [1.0; NR] };
        assert_eq!(dispatch(identity), ([1.0; NR], [0.0; NR]));
    }

    /// The warm-started 8 × 8 kernel ([`WarmJacobi8`]), portable and dispatched, on random
    /// matrices from well to badly scaled and nearly singular ones: the final columns are
    /// orthogonal (1e-14 relative to their norms) with the singular values (times the scale) as norms, `V` stays orthogonal
    /// (1e-14), the two agree to 1e-13, and with AVX-512 its registers give bitwise the AVX2
    /// results. Repeated calls on one matrix carry `V` to its right singular vectors: within six
    /// calls the first sweep rotates nothing (a cap of one sweep converges). Two matrices in one
    /// kernel give bitwise the results of each alone; a cap of 0 sweeps, or a non-finite or zero
    /// partner, converges nothing and leaves `V` unchanged.
    /// Lane `lane` of [`WarmJacobi8x4`]'s interleaved columns, in seats (`[8k + j]` is
    /// `X[k, j]`).
    fn lane_seats(columns: &[f64; 256], lane: usize) -> [f64; 64] {
        std::array::from_fn(|i| columns[4 * (8 * (i % 8) + i / 8) + lane])
    }

    /// `V` in seats (`[8k + j]` is `V[k, j]`) from column-major.
    fn seats_of(v: &[f64; 64]) -> [f64; 64] {
        std::array::from_fn(|i| v[8 * (i % 8) + i / 8])
    }

    #[test]
    fn four_lanes_converge_keep_v_orthogonal_and_are_each_bitwise_alone() {
        /// The kernel's outputs other than `V`: final columns, sorted values, inverse scales.
        struct Outputs {
            columns: [f64; 256],
            values: [f64; 32],
            up: [f64; 4],
        }
        impl Outputs {
            fn new() -> Outputs {
                Outputs { columns: [0.0; 256], values: [0.0; 32], up: [0.0; 4] }
            }
            /// Lane `lane`'s final columns, in seats (`[8k + j]` is `X[k, j]`).
            fn seats(&self, lane: usize) -> [f64; 64] {
                lane_seats(&self.columns, lane)
            }
            fn values(&self, lane: usize) -> Vec<f64> {
                (0..8).map(|k| self.values[4 * k + lane]).collect()
            }
        }
        fn four<'a>(
            matrices: [&'a [f64; 64]; 4],
            vectors: &'a mut [f64; 64],
            outputs: &'a mut Outputs,
            max_sweeps: usize,
        ) -> WarmJacobi8x4<'a> {
            let Outputs { columns, values, up } = outputs;
            let tol = 8.0 * f64::EPSILON;
            let out = columns;
            WarmJacobi8x4 {
                matrices,
                vectors,
                out,
                keep_columns: true,
                values,
                up,
                tol,
                max_sweeps,
            }
        }
        let bits = |m: &[f64]| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut rng = ChaCha8Rng::seed_from_u64(34);
        for case in 0..40 {
            // Four matrices: scales from 1e-6 to 1e3, a nearly repeated column, and now and then
            // a non-finite or zero one; one warm start for the four, near the right singular
            // vectors of the first (or V = I).
            let mut matrices = [[0.0; 64]; 4];
            for (lane, matrix) in matrices.iter_mut().enumerate() {
                let scale = [1e-6, 0.3, 1e3, 1.0][(case + lane) % 4];
                let mut a = gaussian_matrix(8, 8, scale, &mut rng);
                if (case + lane) % 5 == 3 {
                    let copy = a.column(0) * (1.0 + 1e-12);
                    a.set_column(5, &copy);
                }
                *matrix = std::array::from_fn(|i| a.as_slice()[i]);
            }
            let start: [f64; 64] = if case % 3 == 0 {
                std::array::from_fn(|i| f64::from(u8::from(i / 8 == i % 8)))
            } else {
                let nudged = matrices[0].map(|e| e * (1.0 + 1e-3 * (e * 7.0).sin()));
                let (mut v, mut x) = (identity_seats(), [0.0; 64]);
                let _ = dispatch_sweeps(WarmJacobi8 {
                    matrices: [&nudged],
                    vectors: [&mut v],
                    out: [&mut x],
                    tol: 8.0 * f64::EPSILON,
                    max_sweeps: 30,
                });
                seats_of(&v)
            };
            match case % 7 {
                2 => matrices[case % 4][9] = f64::NAN,
                4 => matrices[(case + 1) % 4][63] = f64::INFINITY,
                5 => matrices[(case + 2) % 4] = [0.0; 64],
                _ => {}
            }
            let refs = [&matrices[0], &matrices[1], &matrices[2], &matrices[3]];
            let (mut v_portable, mut v_dispatched) = (start, start);
            let (mut x_portable, mut x_dispatched) = (Outputs::new(), Outputs::new());
            let portable = four(refs, &mut v_portable, &mut x_portable, 30).run(Portable);
            let dispatched = dispatch_sweeps(four(refs, &mut v_dispatched, &mut x_dispatched, 30));
            let converged =
                |found: &[Lane8; 4], lane: usize| matches!(found[lane], Lane8::Converged { .. });
            // The next start: the last converged lane's, orthogonal; unchanged if none.
            let source = (0..4).rev().find(|&lane| converged(&dispatched, lane));
            for v in [&v_portable, &v_dispatched] {
                match source {
                    Some(_) => assert!(orthogonality_defect(&seats_of(v)) <= 1e-14, "case {case}"),
                    None => assert_eq!(bits(v), bits(&start), "case {case}"),
                }
            }
            for lane in 0..4 {
                let m = &matrices[lane];
                let expected = if m.iter().any(|x| !x.is_finite()) {
                    Some(Lane8::NonFinite)
                } else if m.iter().all(|&x| x == 0.0) {
                    Some(Lane8::Zero)
                } else {
                    None
                };
                for (found, outputs) in
                    [(portable[lane], &x_portable), (dispatched[lane], &x_dispatched)]
                {
                    if let Some(expected) = expected {
                        assert_eq!(found, expected, "case {case} lane {lane}");
                        continue;
                    }
                    assert_eq!(found, Lane8::Converged { tiny: false }, "case {case} lane {lane}");
                    let x = &outputs.seats(lane);
                    let up = outputs.up[lane];
                    let a = DMatrix::from_column_slice(8, 8, m);
                    let want = crate::linalg::singular_values(&a, "a").unwrap();
                    let values = outputs.values(lane);
                    for ((g, w), v) in seat_norms(x).iter().zip(want.iter()).zip(&values) {
                        assert!((g * up - w).abs() <= 1e-13 * want[0], "case {case}: {g} vs {w}");
                        // The kernel's sorted values are these norms, to rounding.
                        assert!((v - g * up).abs() <= 4.0 * f64::EPSILON * v, "case {case}");
                    }
                    let norm = |i: usize| (0..8).map(|k| x[8 * k + i].powi(2)).sum::<f64>().sqrt();
                    for (i, j) in (0..8).flat_map(|i| (i + 1..8).map(move |j| (i, j))) {
                        let dot: f64 = (0..8).map(|k| x[8 * k + i] * x[8 * k + j]).sum();
                        assert!(dot.abs() <= 1e-14 * norm(i) * norm(j), "case {case}: {i} {j}");
                    }
                }
                // Bitwise alone, in another lane, with zeros around it; the start it passes on
                // is bitwise the one of the four together where it is their last converged.
                let other = (lane + 1 + case % 3) % 4;
                let zero = [0.0; 64];
                let mut alone_refs = [&zero; 4];
                alone_refs[other] = m;
                let mut v_alone = start;
                let mut x_alone = Outputs::new();
                let found = dispatch_sweeps(four(alone_refs, &mut v_alone, &mut x_alone, 30));
                assert_eq!(found[other], dispatched[lane], "case {case} lane {lane}");
                if converged(&found, other) {
                    let (alone, together) = (&x_alone, &x_dispatched);
                    assert_eq!(bits(&alone.seats(other)), bits(&together.seats(lane)));
                    assert_eq!(bits(&alone.values(other)), bits(&together.values(lane)));
                    assert_eq!(alone.up[other].to_bits(), together.up[lane].to_bits());
                    if source == Some(lane) {
                        assert_eq!(bits(&v_alone), bits(&v_dispatched), "case {case} lane {lane}");
                    }
                } else {
                    assert_eq!(bits(&v_alone), bits(&start), "case {case} lane {lane}");
                }
            }
            // Each context bitwise the same with and without AVX-512's registers.
            #[cfg(target_arch = "x86_64")]
            if let Some(v3) = avx2::token() {
                let (mut v3_vectors, mut v3_out) = (start, Outputs::new());
                let kernel = four(refs, &mut v3_vectors, &mut v3_out, 30);
                let found = pulp::Simd::vectorize(v3, avx2::OnV3(v3, kernel));
                assert_eq!(found, dispatched);
                assert_eq!(bits(&v3_vectors), bits(&v_dispatched));
                assert_eq!(bits(&v3_out.values), bits(&x_dispatched.values));
            }
            // A cap of 0 sweeps converges nothing and leaves V as it was.
            let mut v = start;
            let found = dispatch_sweeps(four(refs, &mut v, &mut Outputs::new(), 0));
            assert!(found.iter().all(|f| !matches!(f, Lane8::Converged { .. })), "case {case}");
            assert_eq!(bits(&v), bits(&start));
        }
    }

    #[test]
    fn warm_jacobi8_converges_keeps_v_orthogonal_and_pairs_bitwise() {
        fn warm<'a, const B: usize>(
            matrices: [&'a [f64; 64]; B],
            vectors: [&'a mut [f64; 64]; B],
            out: [&'a mut [f64; 64]; B],
            max_sweeps: usize,
        ) -> WarmJacobi8<'a, B> {
            WarmJacobi8 { matrices, vectors, out, tol: 8.0 * f64::EPSILON, max_sweeps }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(33);
        for case in 0..60 {
            let scale = [1e-6, 0.3, 1e3][case % 3];
            let mut a = gaussian_matrix(8, 8, scale, &mut rng);
            if case % 4 == 3 {
                let copy = a.column(0) * (1.0 + 1e-12);
                a.set_column(5, &copy);
            }
            let m: [f64; 64] = std::array::from_fn(|i| a.as_slice()[i]);
            let want = crate::linalg::singular_values(&a, "a").unwrap();
            let (mut v_portable, mut v_dispatched) = (identity_seats(), identity_seats());
            let (mut x_portable, mut x_dispatched) = ([0.0; 64], [0.0; 64]);
            let [(Prepared8::Seated { up }, true)] =
                warm([&m], [&mut v_portable], [&mut x_portable], 30).run(Portable)
            else {
                panic!("case {case}: portable did not converge");
            };
            let found = dispatch_sweeps(warm([&m], [&mut v_dispatched], [&mut x_dispatched], 30));
            assert!(matches!(found, [(Prepared8::Seated { .. }, true)]), "case {case}");
            for (x, v) in [(&x_portable, &v_portable), (&x_dispatched, &v_dispatched)] {
                for (g, w) in seat_norms(x).iter().zip(want.iter()) {
                    assert!((g * up - w).abs() <= 1e-13 * want[0], "case {case}: {g} vs {w}");
                }
                let norm = |i: usize| (0..8).map(|k| x[8 * k + i].powi(2)).sum::<f64>().sqrt();
                for (i, j) in (0..8).flat_map(|i| (i + 1..8).map(move |j| (i, j))) {
                    let dot: f64 = (0..8).map(|k| x[8 * k + i] * x[8 * k + j]).sum();
                    let bound = 1e-14 * norm(i) * norm(j);
                    assert!(dot.abs() <= bound, "case {case}: columns {i} {j}: {dot}");
                }
                assert!(orthogonality_defect(v) <= 1e-14, "case {case}");
            }
            #[cfg(target_arch = "x86_64")]
            if let Some(v3) = avx2::token() {
                let (mut v2, mut x2) = (identity_seats(), [0.0; 64]);
                let kernel = warm([&m], [&mut v2], [&mut x2], 30);
                let found2 = pulp::Simd::vectorize(v3, avx2::OnV3(v3, kernel));
                assert_eq!(found2[0].1, found[0].1);
                let bits = |m: [f64; 64]| m.map(f64::to_bits);
                assert_eq!((bits(v2), bits(x2)), (bits(v_dispatched), bits(x_dispatched)));
            }
            // V converges to the right singular vectors: after six more calls the columns of
            // A V are orthogonal to 1e-10 (relative), unless A is nearly singular (the rounding
            // of A V alone is then about ε σ_max / σ_min).
            let mut v = v_dispatched;
            for _ in 0..6 {
                dispatch_sweeps(warm([&m], [&mut v], [&mut [0.0; 64]], 30));
            }
            let columns: Vec<DVector<f64>> =
                (0..8).map(|p| &a * DVector::from_fn(8, |j, _| v[8 * j + p])).collect();
            let mut off = 0.0f64;
            for (p, q) in (0..8).flat_map(|p| (p + 1..8).map(move |q| (p, q))) {
                let (cp, cq) = (&columns[p], &columns[q]);
                off = off.max(cp.dot(cq).abs() / (cp.norm() * cq.norm()));
            }
            assert!(case % 4 == 3 || off <= 1e-10, "case {case}: {off}");
            // Pairs: bitwise each alone; a partner that cannot be swept stops both.
            let other = gaussian_matrix(8, 8, 1.0, &mut rng);
            let other: [f64; 64] = std::array::from_fn(|i| other.as_slice()[i]);
            let (mut va, mut vb, mut xa, mut xb) = (v, identity_seats(), [0.0; 64], [0.0; 64]);
            let pair =
                dispatch_sweeps(warm([&m, &other], [&mut va, &mut vb], [&mut xa, &mut xb], 30));
            let (mut va1, mut xa1, mut vb1, mut xb1) = (v, [0.0; 64], identity_seats(), [0.0; 64]);
            let alone_a = dispatch_sweeps(warm([&m], [&mut va1], [&mut xa1], 30));
            let alone_b = dispatch_sweeps(warm([&other], [&mut vb1], [&mut xb1], 30));
            assert_eq!([pair[0].1, pair[1].1], [alone_a[0].1, alone_b[0].1]);
            let bits = |m: [f64; 64]| m.map(f64::to_bits);
            assert_eq!(
                [bits(va), bits(xa), bits(vb), bits(xb)],
                [bits(va1), bits(xa1), bits(vb1), bits(xb1)]
            );
            let mut nan = other;
            nan[17] = f64::NAN;
            for (partner, what) in [(nan, Prepared8::NonFinite), ([0.0; 64], Prepared8::Zero)] {
                let (mut va, mut vb, mut xa, mut xb) = (v, v, [0.0; 64], [0.0; 64]);
                let found = dispatch_sweeps(warm(
                    [&m, &partner],
                    [&mut va, &mut vb],
                    [&mut xa, &mut xb],
                    30,
                ));
                assert!(matches!(found[0], (Prepared8::Seated { .. }, false)), "case {case}");
                assert_eq!(found[1], (what, false));
                assert_eq!((bits(va), bits(vb)), (bits(v), bits(v)));
            }
            let mut v0 = identity_seats();
            let found = dispatch_sweeps(warm([&m], [&mut v0], [&mut [0.0; 64]], 0));
            assert!(!found[0].1);
            assert_eq!(v0, identity_seats());
        }
    }

    /// What [`Prepared8`] reports, as bits (the scale `up` of a seated matrix, 0/1 otherwise).
    fn prepared_bits(prepared: &[Prepared8; 2]) -> Vec<u64> {
        prepared
            .iter()
            .map(|p| match p {
                Prepared8::Seated { up } => up.to_bits(),
                Prepared8::Zero => 0,
                Prepared8::NonFinite => 1,
            })
            .collect()
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
