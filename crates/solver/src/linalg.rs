//! Small dense linear-algebra helpers shared by the solver: bounded factorizations, full SVD
//! bases, orthogonal complements, Haar-random orthogonal matrices.
//!
//! **Bounded factorizations.** nalgebra's `svd`, `singular_values` and `symmetric_eigen` iterate
//! until convergence with no cap: on a matrix with an infinite or NaN entry they loop forever
//! (the scaling by the largest entry turns it into NaNs, which never converge), and sorting NaN
//! singular values panics. Every factorization of the solver therefore goes through [`svd`],
//! [`singular_values`] or [`symmetric_eigen`]: they refuse a non-finite input
//! ([`SolverError::Overflow`]), cap the iterations at [`max_iterations`]
//! ([`SolverError::NoConvergence`] beyond it) and check that the result is finite. On finite input
//! they compute exactly what nalgebra's unbounded versions compute (same tolerance, same
//! order), so no result changes.

use nalgebra::linalg::{SVD, SymmetricEigen};
use nalgebra::{DMatrix, DMatrixView, DVector, Dyn, SMatrix};
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::SolverError;
use crate::kernels::Prepared8;

/// The convergence tolerance of nalgebra's unbounded `svd` (`5 ε`), kept so that results do not
/// change.
const SVD_EPS: f64 = 5.0 * f64::EPSILON;

/// The iteration cap of [`svd`], [`singular_values`] and [`symmetric_eigen`] for a matrix whose
/// smaller dimension is `n`: `100 + 30 n²`.
///
/// One iteration is one implicit-shift QR sweep over an unreduced block; LAPACK caps the same
/// loop at `6 n²` (`dbdsqr`, `MAXITR = 6`), and convergence normally takes about `2n` sweeps.
/// The cap only matters for input that cannot converge; it turns a potential endless loop into
/// [`SolverError::NoConvergence`].
pub fn max_iterations(n: usize) -> usize {
    100usize.saturating_add(n.saturating_mul(n).saturating_mul(30))
}

/// Whether every value is finite, in one pass without a branch per value (the compiler
/// vectorises it): the scan the set-up runs on every matrix it builds or receives.
#[inline]
pub fn all_finite(values: &[f64]) -> bool {
    values.iter().fold(true, |ok, x| ok & (x.abs() < f64::INFINITY))
}

/// `Overflow` unless every entry of `a` is finite.
pub fn check_finite(a: &DMatrix<f64>, what: &str) -> Result<(), SolverError> {
    if all_finite(a.as_slice()) {
        Ok(())
    } else {
        Err(SolverError::Overflow(format!("{what} has a non-finite entry")))
    }
}

fn no_convergence(kind: &str, what: &str, a: &DMatrix<f64>, max_iter: usize) -> SolverError {
    SolverError::NoConvergence {
        what: format!("{kind} of {what}"),
        rows: a.nrows(),
        cols: a.ncols(),
        max_iter,
    }
}

/// The SVD of `a` (with `U` and `Vᵀ`), singular values descending: nalgebra's `svd`, bounded
/// (module documentation). `what` names the matrix in errors ("the initial product", …).
pub fn svd(a: &DMatrix<f64>, what: &str) -> Result<SVD<f64, Dyn, Dyn>, SolverError> {
    svd_capped(a, what, max_iterations(a.nrows().min(a.ncols())))
}

fn svd_capped(
    a: &DMatrix<f64>,
    what: &str,
    max_iter: usize,
) -> Result<SVD<f64, Dyn, Dyn>, SolverError> {
    if a.is_empty() {
        return Err(SolverError::InvalidInput(format!(
            "the SVD of {what} needs a non-empty matrix"
        )));
    }
    check_finite(a, what)?;
    let mut svd = a
        .clone()
        .try_svd_unordered(true, true, SVD_EPS, max_iter)
        .ok_or_else(|| no_convergence("SVD", what, a, max_iter))?;
    if !svd.singular_values.iter().all(|s| s.is_finite()) {
        return Err(SolverError::Overflow(format!("the singular values of {what} overflow")));
    }
    svd.sort_by_singular_values();
    Ok(svd)
}

/// The singular values of `a`, descending (empty for an empty matrix): bounded (module
/// documentation).
pub fn singular_values(a: &DMatrix<f64>, what: &str) -> Result<DVector<f64>, SolverError> {
    if a.is_empty() {
        return Ok(DVector::zeros(0));
    }
    check_finite(a, what)?;
    let max_iter = max_iterations(a.nrows().min(a.ncols()));
    let values = if a.shape() == (8, 8) {
        // The set-up's `P₊` of an 8-8-8 network: the same algorithm on a fixed-size copy
        // (bitwise the same values, without the run-time-size loop overhead; tested).
        SMatrix::<f64, 8, 8>::from_column_slice(a.as_slice())
            .try_svd_unordered(false, false, SVD_EPS, max_iter)
            .map(|svd| DVector::from_column_slice(svd.singular_values.as_slice()))
    } else {
        a.clone().try_svd_unordered(false, false, SVD_EPS, max_iter).map(|svd| svd.singular_values)
    };
    let mut values = values.ok_or_else(|| no_convergence("SVD", what, a, max_iter))?;
    if !values.iter().all(|s| s.is_finite()) {
        return Err(SolverError::Overflow(format!("the singular values of {what} overflow")));
    }
    values.as_mut_slice().sort_by(|x, y| y.total_cmp(x));
    Ok(values)
}

/// Sweep cap of [`singular_values_jacobi`]: after the QR preconditioning one-sided Jacobi
/// takes 5–6 sweeps on the 8 × 8 network functions of the closed form (6–7 without it);
/// LAPACK's `dgesvj` caps it at 30.
pub const JACOBI_MAX_SWEEPS: usize = 30;

/// The error of a one-sided Jacobi SVD of `what` (`rows × cols`) that did not converge within
/// [`JACOBI_MAX_SWEEPS`] sweeps.
fn jacobi_no_convergence(what: &str, rows: usize, cols: usize) -> SolverError {
    SolverError::NoConvergence {
        what: format!("one-sided Jacobi SVD of {what}"),
        rows,
        cols,
        max_iter: JACOBI_MAX_SWEEPS,
    }
}

/// Reusable scratch of [`singular_values_jacobi`] (no allocation once sized).
#[derive(Clone, Debug, Default)]
pub struct JacobiScratch {
    /// The matrix, column-major `p × n` (`n` = the smaller dimension), then `Rᵀ` of its QR.
    columns: Vec<f64>,
    /// `Rᵀ` with its rows padded to a multiple of 4, column-major.
    lower: Vec<f64>,
    /// Squared column norms.
    norms: Vec<f64>,
    /// The pairs of a sweep, in order.
    pairs: Vec<(usize, usize)>,
}

/// The singular values of `a` into `out` (descending; empty for an empty `a`): Householder QR
/// with column pivoting of `a` (or `aᵀ`, whichever is taller), then one-sided (Hestenes) Jacobi
/// on the columns of `Rᵀ` (Drmač & Veselić 2008; docs/math.md §4.3, "Singular values").
/// Bounded: a non-finite `a` is [`SolverError::Overflow`], more than [`JACOBI_MAX_SWEEPS`]
/// sweeps [`SolverError::NoConvergence`] (`out` is then empty).
///
/// A pair of columns is rotated unless `|cᵢ·cⱼ| ≤ n ε ‖cᵢ‖‖cⱼ‖` (a test relative to the two
/// columns, with no absolute threshold), so the result does not depend on the scale of `a`
/// (exactly: `a` is first scaled by a power of two) and small singular values keep a relative
/// accuracy of about `ε κ`, where κ is the condition number of `a` with its columns scaled to
/// unit norm (Demmel & Veselić 1992), never worse than the bidiagonal QR of [`singular_values`].
///
/// When the smaller dimension is 5 to 8 (`Rᵀ` padded to 8 × 8 with zeros), the sweeps run four
/// disjoint rotations at a time in the lanes of a vector (`crate::kernels::Jacobi8`, AVX2 + FMA
/// when the CPU has them); [`singular_values_jacobi_scalar`] is the same method one rotation at a
/// time (the reference, and the path for the other sizes).
pub fn singular_values_jacobi(
    a: DMatrixView<'_, f64>,
    what: &str,
    scratch: &mut JacobiScratch,
    out: &mut Vec<f64>,
) -> Result<(), SolverError> {
    jacobi_svd(a, what, scratch, out, true)
}

/// [`singular_values_jacobi`] with every rotation scalar (no 8 × 8 vector kernel): the reference
/// that the vector kernel is tested and benchmarked against.
pub fn singular_values_jacobi_scalar(
    a: DMatrixView<'_, f64>,
    what: &str,
    scratch: &mut JacobiScratch,
    out: &mut Vec<f64>,
) -> Result<(), SolverError> {
    jacobi_svd(a, what, scratch, out, false)
}

/// The singular values of two matrices, each exactly as [`singular_values_jacobi`] would give
/// it (bitwise, and with the same errors). When both are 8 × 8 (the per-time network functions
/// of an 8-8-8 point), the two run side by side: the steps of their pivoted QRs alternate, and
/// their sweeps share one kernel (`crate::kernels::Jacobi8` with two matrices), so that the
/// chain of dependent roots and divisions of each hides the other's latency (about 1.3× the
/// throughput of two calls; docs/speed.md). Other shapes are two calls.
pub fn singular_values_jacobi_pair(
    a: [DMatrixView<'_, f64>; 2],
    what: &str,
    scratch: &mut JacobiScratch,
    out: [&mut Vec<f64>; 2],
) -> [Result<(), SolverError>; 2] {
    let [out0, out1] = out;
    if a[0].shape() != (8, 8) || a[1].shape() != (8, 8) {
        return [
            jacobi_svd(a[0], what, scratch, out0, true),
            jacobi_svd(a[1], what, scratch, out1, true),
        ];
    }
    let [mut m0, mut m1] = a.map(gather8);
    // The two preparations and the two sweeps step by step: independent chains side by side.
    let prepared =
        crate::kernels::dispatch_sweeps(crate::kernels::Prepare8 { matrices: [&mut m0, &mut m1] });
    if let [Prepared8::Seated { up: up0 }, Prepared8::Seated { up: up1 }] = prepared {
        let converged = crate::kernels::dispatch_sweeps(crate::kernels::Jacobi8 {
            rows: [&mut m0, &mut m1],
            tol: 8.0 * f64::EPSILON,
            max_sweeps: JACOBI_MAX_SWEEPS,
        });
        out0.clear();
        out1.clear();
        return [
            seat_values(&m0, 8, up0, converged[0], (8, 8), what, out0),
            seat_values(&m1, 8, up1, converged[1], (8, 8), what, out1),
        ];
    }
    [jacobi8_prepared(prepared[0], m0, what, out0), jacobi8_prepared(prepared[1], m1, what, out1)]
}

/// An 8 × 8 view, column-major.
fn gather8(a: DMatrixView<'_, f64>) -> [f64; 64] {
    let mut m = [0.0; 64];
    gather8_into(a, &mut m);
    m
}

/// [`gather8`] into `m` (no array returned by value: no copy of it).
#[inline(always)]
fn gather8_into(a: DMatrixView<'_, f64>, m: &mut [f64; 64]) {
    for (j, column) in m.chunks_exact_mut(8).enumerate() {
        // As arrays: a fixed-size copy, not a call to `memcpy`.
        let source = a.column(j);
        let entries: &[f64; 8] = source.as_slice().try_into().expect("eight rows");
        <&mut [f64; 8]>::try_from(column).expect("eight rows").clone_from(entries);
    }
}

/// [`singular_values_jacobi`] of an 8 × 8 matrix (column-major `m`) on fixed-size arrays: the
/// scaling and pivoted QR of `crate::kernels::Prepare8` (bitwise the run-time [`pivoted_qr`]'s
/// `R`), then the sweeps of `crate::kernels::Jacobi8`.
fn jacobi8(m: [f64; 64], what: &str, out: &mut Vec<f64>) -> Result<(), SolverError> {
    let mut m = m;
    let [prepared] =
        crate::kernels::dispatch_sweeps(crate::kernels::Prepare8 { matrices: [&mut m] });
    jacobi8_prepared(prepared, m, what, out)
}

/// The rest of [`jacobi8`] once `Prepare8` ran on `m`.
fn jacobi8_prepared(
    prepared: Prepared8,
    mut m: [f64; 64],
    what: &str,
    out: &mut Vec<f64>,
) -> Result<(), SolverError> {
    out.clear();
    match prepared {
        Prepared8::NonFinite => {
            Err(SolverError::Overflow(format!("{what} has a non-finite entry")))
        }
        Prepared8::Zero => {
            out.resize(8, 0.0);
            Ok(())
        }
        Prepared8::Seated { up } => {
            let [converged] = crate::kernels::dispatch_sweeps(crate::kernels::Jacobi8 {
                rows: [&mut m],
                tol: 8.0 * f64::EPSILON,
                max_sweeps: JACOBI_MAX_SWEEPS,
            });
            seat_values(&m, 8, up, converged, (8, 8), what, out)
        }
    }
}

/// How many matrices a [`WarmStart`] serves before it starts again from the identity: the
/// rounding of its rotations accumulates in `V` (about `ε` per rotation), and a fresh start
/// bounds that drift (docs/math.md §4.3, "Warm starts").
pub const WARM_RESTART: u32 = 64;

/// The warm start of [`singular_values_warm`]: the right singular vectors that the last
/// network function of a series left (orthogonal to rounding), for 8 × 8 in the seats of the
/// vector Jacobi kernel. A new one is the identity; one that served [`WARM_RESTART`] times,
/// whose last call fell back to the cold start, or that meets another shape, is the identity
/// again.
#[derive(Clone, Debug)]
pub struct WarmStart {
    /// `V`: for 8 × 8, in the seats of the vector kernel; for a smaller shape, `n × n`
    /// column-major in the first `n²` entries.
    vectors: [f64; 64],
    uses: u32,
    /// The shape `(rows, cols)` of the matrices whose `V` this holds.
    shape: (usize, usize),
}

impl Default for WarmStart {
    fn default() -> Self {
        WarmStart { vectors: identity_seats(), uses: 0, shape: (8, 8) }
    }
}

impl WarmStart {
    /// `V = I` for `rows × cols` matrices of a small shape ([`warm_started`]).
    fn identity_small(rows: usize, cols: usize) -> WarmStart {
        let n = rows.min(cols);
        let mut vectors = [0.0; 64];
        for j in 0..n {
            vectors[j * n + j] = 1.0;
        }
        WarmStart { vectors, uses: 0, shape: (rows, cols) }
    }
}

/// Whether [`singular_values_warm`] warm-starts matrices of this shape: 8 × 8 (the vector
/// kernel) and every shape with both sides at most 8 and the smaller below 8 (scalar sweeps
/// on `A V`); other shapes take the cold start.
pub fn warm_started(rows: usize, cols: usize) -> bool {
    rows.max(cols) <= 8 && rows.min(cols) >= 1
}

/// `V = I` in seats: row `j` has its one in position `j` (any one-to-one placement would do).
fn identity_seats() -> [f64; 64] {
    std::array::from_fn(|i| if i / 8 == i % 8 { 1.0 } else { 0.0 })
}

/// The singular values of one matrix of a series (descending, as [`singular_values_jacobi`]),
/// warm-started: for an 8 × 8 `a`, the one-sided Jacobi sweeps run on the columns of `A V`,
/// `V` the right singular vectors that `warm` kept from the previous call, and `warm` keeps the
/// new ones (`crate::kernels::WarmJacobi8`; docs/math.md §4.3, "Warm starts"). Successive times
/// of a trajectory change `V` little, so about half the sweeps of the cold start remain, and
/// no QR. Smaller shapes with both sides at most 8 ([`warm_started`]) sweep the columns of
/// `A V` one rotation at a time, each rotation applied to `V` as well; other shapes are
/// [`singular_values_jacobi`] (`warm` unused).
///
/// The values are those of the cold start to rounding: each is accurate to about
/// `ε ‖A‖₂ / s` relative, the accuracy that the entries of `a` determine unless `a` is graded;
/// a non-finite or zero `a`, or sweeps that do not converge, take the cold start (with its
/// errors) and reset `warm`.
pub fn singular_values_warm(
    a: DMatrixView<'_, f64>,
    what: &str,
    scratch: &mut JacobiScratch,
    warm: &mut WarmStart,
    out: &mut Vec<f64>,
) -> Result<(), SolverError> {
    let (rows, cols) = a.shape();
    if (rows, cols) == (8, 8) {
        let [result] = warm8([a], [warm], what, [out]);
        return result;
    }
    if !warm_started(rows, cols) {
        return jacobi_svd(a, what, scratch, out, true);
    }
    // A smaller shape: the columns of `X = A V` (`A` scaled by a power of two and in its taller
    // orientation, `p × n`; `V` the warm start's `n × n`) swept by the scalar one-sided Jacobi,
    // each rotation applied to `V` too (docs/math.md §4.3, "Warm starts"). A non-finite or zero
    // `a`, or sweeps that do not converge, take the cold start (its values or its error) and
    // reset `warm`.
    let cold = |warm: &mut WarmStart, scratch: &mut JacobiScratch, out: &mut Vec<f64>| {
        *warm = WarmStart::identity_small(rows, cols);
        jacobi_svd(a, what, scratch, out, true)
    };
    out.clear();
    if !a.iter().all(|x| x.is_finite()) {
        return cold(warm, scratch, out);
    }
    let largest = a.amax();
    if largest == 0.0 {
        return cold(warm, scratch, out);
    }
    if warm.shape != (rows, cols) || warm.uses >= WARM_RESTART {
        *warm = WarmStart::identity_small(rows, cols);
    }
    // As the cold preparation: the taller orientation, scaled by a power of two.
    let transpose = cols > rows;
    let (p, n) = if transpose { (cols, rows) } else { (rows, cols) };
    let exponent = largest.log2().floor() as i32;
    let (down, up) = (2f64.powi(-exponent), 2f64.powi(exponent));
    let entry = |i: usize, k: usize| (if transpose { a[(k, i)] } else { a[(i, k)] }) * down;
    let JacobiScratch { columns, norms, pairs, .. } = scratch;
    let v = &mut warm.vectors[..n * n];
    columns.clear();
    columns.resize(p * n, 0.0);
    for j in 0..n {
        for i in 0..p {
            columns[j * p + i] = (0..n).fold(0.0, |x, k| x + entry(i, k) * v[j * n + k]);
        }
    }
    norms.clear();
    norms.resize(n, 0.0);
    if !jacobi_columns(columns, p, n, norms, pairs, Some(v)) {
        return cold(warm, scratch, out);
    }
    out.extend(columns.chunks_exact(p).map(|column| column_norm(column) * up));
    out.sort_by(|x, y| y.total_cmp(x));
    if !out.iter().all(|s| s.is_finite()) {
        return cold(warm, scratch, out);
    }
    warm.uses += 1;
    Ok(())
}

/// [`singular_values_warm`] of two matrices, each with its own warm start, bitwise as two
/// calls: for two 8 × 8 matrices the sweeps of both interleave in one kernel (as
/// [`singular_values_jacobi_pair`]).
pub fn singular_values_warm_pair(
    a: [DMatrixView<'_, f64>; 2],
    what: &str,
    scratch: &mut JacobiScratch,
    warm: [&mut WarmStart; 2],
    out: [&mut Vec<f64>; 2],
) -> [Result<(), SolverError>; 2] {
    let [w0, w1] = warm;
    let [out0, out1] = out;
    if a[0].shape() != (8, 8) || a[1].shape() != (8, 8) {
        return [
            singular_values_warm(a[0], what, scratch, w0, out0),
            singular_values_warm(a[1], what, scratch, w1, out1),
        ];
    }
    warm8(a, [w0, w1], what, [out0, out1])
}

/// The warm-started values of `B` 8 × 8 matrices ([`singular_values_warm`]).
fn warm8<const B: usize>(
    a: [DMatrixView<'_, f64>; B],
    warm: [&mut WarmStart; B],
    what: &str,
    out: [&mut Vec<f64>; B],
) -> [Result<(), SolverError>; B] {
    let mut warm = warm;
    let mut out = out;
    let mut matrices = [[0.0; 64]; B];
    for (m, a) in matrices.iter_mut().zip(a) {
        gather8_into(a, m);
    }
    for w in warm.iter_mut() {
        if w.uses >= WARM_RESTART || w.shape != (8, 8) {
            **w = WarmStart::default();
        }
    }
    let mut columns = [[0.0; 64]; B];
    let mut found = crate::kernels::dispatch_sweeps(crate::kernels::WarmJacobi8 {
        matrices: matrices.each_ref(),
        vectors: warm.each_mut().map(|w| &mut w.vectors),
        out: columns.each_mut(),
        tol: 8.0 * f64::EPSILON,
        max_sweeps: JACOBI_MAX_SWEEPS,
    });
    if B > 1 && found.iter().any(|(p, _)| !matches!(p, Prepared8::Seated { .. })) {
        // Not every one could be swept: each alone (bitwise the same for the others).
        for b in 0..B {
            if let Prepared8::Seated { .. } = found[b].0 {
                let [alone] = crate::kernels::dispatch_sweeps(crate::kernels::WarmJacobi8 {
                    matrices: [&matrices[b]],
                    vectors: [&mut warm[b].vectors],
                    out: [&mut columns[b]],
                    tol: 8.0 * f64::EPSILON,
                    max_sweeps: JACOBI_MAX_SWEEPS,
                });
                found[b] = alone;
            }
        }
    }
    std::array::from_fn(|b| {
        let out = &mut *out[b];
        match found[b] {
            (Prepared8::Seated { up }, true) => {
                warm[b].uses += 1;
                out.clear();
                seat_values(&columns[b], 8, up, true, (8, 8), what, out)
            }
            // Non-finite, zero or not converged: the cold start says what it is.
            _ => {
                *warm[b] = WarmStart::default();
                jacobi8(matrices[b], what, out)
            }
        }
    })
}

/// How many matrices a [`WarmSeries8`] holds before it must be flushed: four lanes of at most
/// [`WARM_RESTART`] steps.
pub const WARM_SERIES_BATCH: usize = 4 * WARM_RESTART as usize;

/// The per-time singular values of a series of matrices of at most 8 × 8 (a row's network
/// functions, in time order; smaller ones padded, [`WarmSeries8::push`]), four at a time: [`WarmSeries8::push`] holds each matrix, and
/// [`WarmSeries8::flush`] sweeps the held ones four at a time, one per lane of the vectors
/// (`crate::kernels::WarmJacobi8x4`; docs/math.md §4.3, "Four matrices in lanes"): step `s` takes
/// matrices `4s … 4s + 3`, and all four start from the `V` that the last converged matrix of
/// step `s − 1` left (normally matrix `4s − 1`), as [`singular_values_warm`] starts from the
/// previous one. The first step starts from `V = I`, so a start is the product of at most 64
/// steps' rotations ([`WARM_RESTART`]); fewer than four matrices are each
/// [`singular_values_warm`] from `V = I` (the one-matrix kernel, without idle lanes).
///
/// Within a step, each value is what its lane gives it alone, bitwise, whatever the other lanes
/// hold; so the values depend on the series and on where it was flushed, never on threads or
/// order. A
/// non-finite or zero matrix, or sweeps that do not converge, take the cold start
/// ([`singular_values_jacobi`]: its values, or its `Overflow` / `NoConvergence` error) and
/// restart their lane from `V = I`. Accuracy: that of [`singular_values_warm`].
#[derive(Clone, Debug, Default)]
pub struct WarmSeries8 {
    /// The matrices not yet flushed, column-major, in their taller orientation and padded with
    /// zeros to 8 × 8.
    pending: Vec<[f64; 64]>,
    /// The shape `(rows, cols)` of each as pushed.
    shapes: Vec<(usize, usize)>,
}

impl WarmSeries8 {
    /// Holds `a` (both sides at most 8, [`warm_started`]) for the next [`WarmSeries8::flush`];
    /// returns whether the series is now full ([`WARM_SERIES_BATCH`] held), so that the caller
    /// must flush before the next push. A smaller matrix is held in its taller orientation,
    /// padded with zero rows and columns to 8 × 8: its zero columns never rotate (their inner
    /// products are exactly 0), so the sweeps are those of the matrix itself, and its values
    /// are the first `min(rows, cols)` of the padded one's.
    ///
    /// # Panics
    /// If a side of `a` is 0 or above 8, or if the series was already full.
    pub fn push(&mut self, a: DMatrixView<'_, f64>) -> bool {
        let (rows, cols) = a.shape();
        assert!(warm_started(rows, cols), "WarmSeries8 holds matrices of at most 8 × 8");
        assert!(self.pending.len() < WARM_SERIES_BATCH, "a full WarmSeries8 must be flushed");
        // Written in place in the held list (no 512-byte copy from the stack), by code that
        // cannot panic between the two pushes.
        self.pending.push([0.0; 64]);
        self.shapes.push((rows, cols));
        let m = self.pending.last_mut().expect("just pushed");
        if (rows, cols) == (8, 8) {
            gather8_into(a, m);
        } else if cols <= rows {
            for (j, column) in a.column_iter().enumerate() {
                for (i, &x) in column.iter().enumerate() {
                    m[8 * j + i] = x;
                }
            }
        } else {
            for (i, row) in a.row_iter().enumerate() {
                for (k, &x) in row.iter().enumerate() {
                    m[8 * i + k] = x;
                }
            }
        }
        self.pending.len() == WARM_SERIES_BATCH
    }

    /// Makes room for `additional` more matrices (at most up to [`WARM_SERIES_BATCH`] held),
    /// so that a series of known length is held without growing its list (grown by doubling,
    /// the list of a 100-time series was allocated six times and 124 of its matrices copied
    /// again).
    pub fn reserve(&mut self, additional: usize) {
        let room = additional.min(WARM_SERIES_BATCH.saturating_sub(self.pending.len()));
        self.pending.reserve(room);
        self.shapes.reserve(room);
    }

    /// Held matrix `index` as pushed (`rows × cols`).
    fn held(&self, index: usize) -> DMatrix<f64> {
        let ((rows, cols), m) = (self.shapes[index], &self.pending[index]);
        if cols <= rows {
            DMatrix::from_fn(rows, cols, |i, j| m[8 * j + i])
        } else {
            DMatrix::from_fn(rows, cols, |i, k| m[8 * i + k])
        }
    }

    /// How many matrices are held.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no matrix is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets the held matrices.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.shapes.clear();
    }

    /// The singular values (descending) of every held matrix, in the order pushed, into `out`
    /// (one `Vec` per matrix, replaced), then forgets them. `note` hears each matrix's result,
    /// in the order pushed (the error of the cold start where it took one; its `out` is then
    /// what the cold start left).
    ///
    /// # Panics
    /// If `out.len()` is not [`WarmSeries8::len`].
    pub fn flush(
        &mut self,
        what: &str,
        out: &mut [Vec<f64>],
        mut note: impl FnMut(Result<(), SolverError>),
    ) {
        let n = self.pending.len();
        assert_eq!(out.len(), n, "one output per held matrix");
        if n < 4 {
            // Each is the first of its lane, from V = I: the one-matrix warm start does the same
            // without three idle lanes (a row with one to three times).
            let mut scratch = JacobiScratch::default();
            for (index, values) in out.iter_mut().enumerate() {
                let a = self.held(index);
                let mut start = WarmStart::default();
                note(singular_values_warm(a.as_view(), what, &mut scratch, &mut start, values));
            }
            self.clear();
            return;
        }
        let steps = n.div_ceil(4);
        // `V = I`, column-major: the start of the first step; the kernel moves it on.
        let mut vectors: [f64; 64] = std::array::from_fn(|i| f64::from(u8::from(i / 8 == i % 8)));
        let zero = [0.0; 64];
        let mut lanes = LaneResults { columns: [0.0; 256], sorted: [0.0; 32], up: [1.0; 4] };
        for step in 0..steps {
            // Lane `l` takes matrix `4 step + l` (a lane past the end holds zeros).
            let at: [Option<usize>; 4] = std::array::from_fn(|lane| {
                let index = 4 * step + lane;
                (index < n).then_some(index)
            });
            let matrices = at.map(|index| index.map_or(&zero, |i| &self.pending[i]));
            let found = crate::kernels::dispatch_sweeps(crate::kernels::WarmJacobi8x4 {
                matrices,
                vectors: &mut vectors,
                out: &mut lanes.columns,
                keep_columns: false,
                values: &mut lanes.sorted,
                up: &mut lanes.up,
                tol: 8.0 * f64::EPSILON,
                max_sweeps: JACOBI_MAX_SWEEPS,
            });
            for lane in 0..4 {
                let Some(index) = at[lane] else { continue };
                let values = &mut out[index];
                values.clear();
                // Lane by lane, step by step: `index` goes up by one, so `note` hears the
                // matrices in order.
                let (rows, cols) = self.shapes[index];
                note(match found[lane] {
                    crate::kernels::Lane8::Converged { tiny } => {
                        let lane = Lane { index: lane, tiny, shape: (rows, cols) };
                        lanes.write(lane, what, values)
                    }
                    // Non-finite, zero or not converged: the cold start says what it is (and
                    // passes nothing on to the next step's start).
                    _ if (rows, cols) == (8, 8) => jacobi8(self.pending[index], what, values),
                    _ => {
                        let a = self.held(index);
                        let mut scratch = JacobiScratch::default();
                        singular_values_jacobi(a.as_view(), what, &mut scratch, values)
                    }
                });
            }
        }
        self.clear();
    }
}

/// What [`crate::kernels::WarmJacobi8x4`] leaves of its four lanes: final columns, sorted
/// values and inverse scales.
struct LaneResults {
    columns: [f64; 256],
    sorted: [f64; 32],
    up: [f64; 4],
}

impl LaneResults {
    /// The values of a converged lane into `out`: those the kernel sorted, or where it marked
    /// them `tiny`, [`seat_values`] of the lane's final columns (which rescales a column before
    /// its norm). A padded matrix has `min(rows, cols)`; the rest are its zero columns'.
    fn write(&self, lane: Lane, what: &str, out: &mut Vec<f64>) -> Result<(), SolverError> {
        let Lane { index, tiny, shape } = lane;
        let n = shape.0.min(shape.1);
        if tiny {
            let seats: [f64; 64] =
                std::array::from_fn(|i| self.columns[4 * (8 * (i % 8) + i / 8) + index]);
            return seat_values(&seats, n, self.up[index], true, shape, what, out);
        }
        let sorted: [f64; 8] = std::array::from_fn(|k| self.sorted[4 * k + index]);
        finite_values(&sorted[..n], what, out)
    }
}

/// A converged lane of [`LaneResults`]: its index, whether the kernel marked it `tiny`, and
/// the shape of its matrix as pushed.
struct Lane {
    index: usize,
    tiny: bool,
    shape: (usize, usize),
}

fn jacobi_svd(
    a: DMatrixView<'_, f64>,
    what: &str,
    scratch: &mut JacobiScratch,
    out: &mut Vec<f64>,
    vectorised: bool,
) -> Result<(), SolverError> {
    if vectorised && a.shape() == (8, 8) {
        return jacobi8(gather8(a), what, out);
    }
    let path = if vectorised { Path::Vector } else { Path::Scalar };
    match jacobi_prepare(a, what, scratch, out, path)? {
        Some(mut seated) => seated.solve(what, out),
        None => Ok(()),
    }
}

/// How far [`jacobi_prepare`] goes.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// Every rotation scalar: `out` is complete.
    Scalar,
    /// Up to the vector kernel when `n` is 5 to 8.
    Vector,
}

/// [`jacobi_svd`] at run-time sizes, up to the 8-column vector kernel as `path` says.
fn jacobi_prepare(
    a: DMatrixView<'_, f64>,
    what: &str,
    scratch: &mut JacobiScratch,
    out: &mut Vec<f64>,
    path: Path,
) -> Result<Option<Seated>, SolverError> {
    out.clear();
    let (rows, cols) = a.shape();
    if rows == 0 || cols == 0 {
        return Ok(None);
    }
    if !a.iter().all(|x| x.is_finite()) {
        return Err(SolverError::Overflow(format!("{what} has a non-finite entry")));
    }
    // Columns of the taller orientation: p × n with n ≤ p.
    let transpose = cols > rows;
    let (p, n) = if transpose { (cols, rows) } else { (rows, cols) };
    let largest = a.amax();
    if largest == 0.0 {
        out.resize(n, 0.0);
        return Ok(None);
    }
    // A power of two near 1/largest: scaling is exact, and squares neither overflow nor (for
    // the leading columns) underflow.
    let exponent = largest.log2().floor() as i32;
    let (down, up) = (2f64.powi(-exponent), 2f64.powi(exponent));
    let JacobiScratch { columns, lower, norms, pairs } = scratch;
    columns.clear();
    columns.resize(p * n, 0.0);
    for j in 0..n {
        for i in 0..p {
            let x = if transpose { a[(j, i)] } else { a[(i, j)] };
            columns[j * p + i] = x * down;
        }
    }
    norms.clear();
    norms.resize(n, 0.0);
    pivoted_qr(columns, p, n, norms);
    // Rᵀ (n × n, lower triangular), rows padded with zeros to a multiple of 4 (zero rows change
    // no inner product): column i of Rᵀ is row i of R.
    let ld = n.div_ceil(4) * 4;
    if path != Path::Scalar && ld == 8 {
        return Ok(Some(Seated::new(columns, p, n, up, (rows, cols))));
    }
    lower.clear();
    lower.resize(ld * n, 0.0);
    for i in 0..n {
        for j in i..n {
            lower[i * ld + j] = columns[j * p + i];
        }
    }
    let converged = match ld {
        4 => jacobi_columns(lower, 4, n, norms, pairs, None),
        8 => jacobi_columns(lower, 8, n, norms, pairs, None),
        _ => jacobi_columns(lower, ld, n, norms, pairs, None),
    };
    if !converged {
        return Err(jacobi_no_convergence(what, rows, cols));
    }
    out.extend(lower.chunks_exact(ld).map(|column| column_norm(column) * up));
    out.sort_by(|x, y| y.total_cmp(x));
    if !out.iter().all(|s| s.is_finite()) {
        out.clear();
        return Err(SolverError::Overflow(format!("the singular values of {what} overflow")));
    }
    Ok(None)
}

/// The vector path of [`singular_values_jacobi`] for `ld = 8`: `R` (upper triangle of the
/// `p × n` column-major QR) in the seats of [`crate::kernels::Jacobi8`] (column `i` of `Rᵀ`,
/// i.e. row `i` of `R`, in seat `i` for `i < 4` and `11 − i` for `i ≥ 4`; row `k` of `Rᵀ` is
/// column `k` of `R`). Zero padding columns stay zero (no pair with them is rotated), so the
/// first `n` sorted column norms times `up` are the singular values.
struct Seated {
    seats: [f64; 64],
    n: usize,
    up: f64,
    shape: (usize, usize),
}

impl Seated {
    fn new(columns: &[f64], p: usize, n: usize, up: f64, shape: (usize, usize)) -> Self {
        let mut seats = [0.0; 64];
        for k in 0..n {
            for i in 0..=k {
                seats[8 * k + i] = columns[k * p + i];
            }
        }
        Self { seats, n, up, shape }
    }

    /// The sweeps of this matrix alone.
    fn sweep(&mut self) -> bool {
        let [converged] = crate::kernels::dispatch_sweeps(crate::kernels::Jacobi8 {
            rows: [&mut self.seats],
            tol: self.n as f64 * f64::EPSILON,
            max_sweeps: JACOBI_MAX_SWEEPS,
        });
        converged
    }

    fn solve(&mut self, what: &str, out: &mut Vec<f64>) -> Result<(), SolverError> {
        let converged = self.sweep();
        self.finish(converged, what, out)
    }

    /// The singular values into `out` once the sweeps ran (`converged` as the kernel says).
    fn finish(&self, converged: bool, what: &str, out: &mut Vec<f64>) -> Result<(), SolverError> {
        seat_values(&self.seats, self.n, self.up, converged, self.shape, what, out)
    }
}

/// The singular values of `n` columns swept in the seats of `crate::kernels::Jacobi8` into
/// `out`: the column norms times `up`, descending (`converged` as the kernel says; `shape`, the
/// matrix's, for the error).
fn seat_values(
    seats: &[f64; 64],
    n: usize,
    up: f64,
    converged: bool,
    shape: (usize, usize),
    what: &str,
    out: &mut Vec<f64>,
) -> Result<(), SolverError> {
    let (rows, cols) = shape;
    if !converged {
        return Err(jacobi_no_convergence(what, rows, cols));
    }
    // The squared norms of the eight seats at once, each summed in row order ([`column_norm`]'s).
    let mut sums = [-0.0; 8];
    for row in seats.chunks_exact(8) {
        for (sum, &x) in sums.iter_mut().zip(row) {
            *sum += x * x;
        }
    }
    let mut values: [f64; 8] = std::array::from_fn(|lane| {
        let norm = if sums[lane] >= 1e-290 {
            sums[lane].sqrt()
        } else {
            column_norm(&std::array::from_fn::<f64, 8, _>(|k| seats[8 * k + lane]))
        };
        norm * up
    });
    values.sort_by(|x, y| y.total_cmp(x));
    finite_values(&values[..n], what, out)
}

/// `values` (descending) appended to `out`, or the `Overflow` error with `out` empty if a value
/// in it is not finite.
fn finite_values(values: &[f64], what: &str, out: &mut Vec<f64>) -> Result<(), SolverError> {
    out.extend_from_slice(values);
    if !out.iter().all(|s| s.is_finite()) {
        out.clear();
        return Err(SolverError::Overflow(format!("the singular values of {what} overflow")));
    }
    Ok(())
}

/// Householder QR with column pivoting (largest remaining column first) of the `p × n`
/// column-major `columns` (`n ≤ p`), in place: `R` in the upper triangle, the reflectors are
/// not kept. `norms` (length `n`) is scratch.
fn pivoted_qr(columns: &mut [f64], p: usize, n: usize, norms: &mut [f64]) {
    for k in 0..n {
        pivoted_qr_step(columns, p, n, norms, k);
    }
}

/// Step `k` of [`pivoted_qr`]: the pivot, then the reflector that zeros column `k` below the
/// diagonal, applied to the columns after it.
#[inline(always)]
fn pivoted_qr_step(columns: &mut [f64], p: usize, n: usize, norms: &mut [f64], k: usize) {
    // The remaining column of largest norm (rows k..p), recomputed exactly.
    let mut pivot = k;
    for j in k..n {
        let tail = &columns[j * p + k..(j + 1) * p];
        norms[j] = dot(tail, tail);
        if norms[j] > norms[pivot] {
            pivot = j;
        }
    }
    if pivot != k {
        for i in 0..p {
            columns.swap(k * p + i, pivot * p + i);
        }
    }
    let (head, rest) = columns.split_at_mut((k + 1) * p);
    let v = &mut head[k * p + k..(k + 1) * p];
    let alpha = column_norm(v);
    if alpha == 0.0 {
        return;
    }
    // v = x − β e₁ with β = −sign(x₀)‖x‖ (no cancellation), H = I − 2 v vᵀ / (vᵀv) and
    // vᵀv = 2 (α² + |x₀| α) = −2 β v₀.
    let beta = if v[0] >= 0.0 { -alpha } else { alpha };
    if (beta * (v[0] - beta)).abs() < f64::MIN_POSITIVE {
        // The remaining block (rows k.., columns k..) is below about 1e-154 of the scaled
        // matrix: β v₀ underflows, the reflector would be 1/0 (NaN in R), and its products
        // would underflow anyway. The block is dropped: every value moves by at most its
        // norm, `√n α` (docs/math.md §4.3, "Singular values").
        v.fill(0.0);
        for j in 0..n - k - 1 {
            rest[j * p + k..(j + 1) * p].fill(0.0);
        }
        return;
    }
    v[0] -= beta;
    let scale = -1.0 / (beta * v[0]);
    for j in 0..n - k - 1 {
        let target = &mut rest[j * p + k..(j + 1) * p];
        let factor = dot(v, target) * scale;
        for (t, &vi) in target.iter_mut().zip(v.iter()) {
            *t -= factor * vi;
        }
    }
    v[0] = beta;
    v[1..].fill(0.0);
}

/// One-sided Jacobi on the `n` columns (length `ld`) of `columns`: sweeps until no pair needs a
/// rotation (`true`) or [`JACOBI_MAX_SWEEPS`] (`false`). A sweep visits every pair once in
/// round-robin order (`n − 1` rounds of disjoint pairs, when `n` is even), so that consecutive
/// rotations touch different columns and their square roots and divisions overlap in the CPU
/// instead of forming one chain. Inlined so that a constant `ld` (4, 8) gives fixed-length loops.
#[inline(always)]
fn jacobi_columns(
    columns: &mut [f64],
    ld: usize,
    n: usize,
    norms: &mut [f64],
    pairs: &mut Vec<(usize, usize)>,
    mut vectors: Option<&mut [f64]>,
) -> bool {
    round_robin(n, pairs);
    let tol = (n as f64).max(1.0) * f64::EPSILON;
    let tol_sq = tol * tol;
    for _ in 0..JACOBI_MAX_SWEEPS {
        for (j, norm) in norms.iter_mut().enumerate().take(n) {
            let column = &columns[j * ld..(j + 1) * ld];
            *norm = dot(column, column);
        }
        let mut rotated = false;
        for &(i, j) in pairs.iter() {
            let (left, right) = columns.split_at_mut(j * ld);
            let ci = &mut left[i * ld..(i + 1) * ld];
            let cj = &mut right[..ld];
            let (aa, bb) = (norms[i], norms[j]);
            let c = dot(ci, cj);
            // |c| ≤ tol √(aa bb), without square roots (aa, bb ≤ p after the scaling).
            if c * c <= tol_sq * aa * bb {
                continue;
            }
            rotated = true;
            // The rotation that diagonalizes [[aa, c], [c, bb]] (Rutishauser): t = tan θ.
            let zeta = (bb - aa) / (2.0 * c);
            let t = if zeta.abs() > 1e150 {
                0.5 / zeta
            } else {
                zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt())
            };
            let cs = 1.0 / (1.0 + t * t).sqrt();
            let sn = cs * t;
            for (x, y) in ci.iter_mut().zip(cj.iter_mut()) {
                let (xi, yj) = (*x, *y);
                *x = cs * xi - sn * yj;
                *y = sn * xi + cs * yj;
            }
            if let Some(v) = vectors.as_deref_mut() {
                // The same rotation of columns i and j of V (n × n, column-major).
                let (left, right) = v.split_at_mut(j * n);
                for (x, y) in left[i * n..(i + 1) * n].iter_mut().zip(&mut right[..n]) {
                    let (xi, yj) = (*x, *y);
                    *x = cs * xi - sn * yj;
                    *y = sn * xi + cs * yj;
                }
            }
            norms[i] = (aa - t * c).max(0.0);
            norms[j] = (bb + t * c).max(0.0);
        }
        if !rotated {
            return true;
        }
    }
    false
}

/// Every pair `(i, j)`, `i < j < n`, once, in rounds of disjoint pairs (the circle method: one
/// position fixed, the others rotating; an odd `n` gets a dummy that sits out).
fn round_robin(n: usize, pairs: &mut Vec<(usize, usize)>) {
    pairs.clear();
    let even = n + n % 2;
    let mut seats: Vec<usize> = (0..even).collect();
    for _ in 0..even.saturating_sub(1) {
        for k in 0..even / 2 {
            let (a, b) = (seats[k], seats[even - 1 - k]);
            if a < n && b < n {
                pairs.push((a.min(b), a.max(b)));
            }
        }
        seats[1..].rotate_right(1);
    }
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// `‖x‖₂` without underflow of tiny columns (scaled by its largest entry first when the plain
/// sum of squares is below the normal range).
fn column_norm(x: &[f64]) -> f64 {
    let sum = dot(x, x);
    if sum >= 1e-290 {
        return sum.sqrt();
    }
    let largest = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if largest == 0.0 {
        return 0.0;
    }
    let scaled: f64 = x.iter().map(|v| (v / largest) * (v / largest)).sum();
    largest * scaled.sqrt()
}

/// The inverse of the square `a` by nalgebra's LU with partial pivoting (`a.lu().try_inverse()`),
/// `None` when a pivot is zero; an 8 × 8 `a` (the set-up's `P₊` of an 8-8-8 network) on a
/// fixed-size copy, bitwise the same inverse (tested).
pub fn lu_inverse(a: &DMatrix<f64>) -> Option<DMatrix<f64>> {
    if a.shape() == (8, 8) {
        let fixed = SMatrix::<f64, 8, 8>::from_column_slice(a.as_slice());
        return fixed
            .lu()
            .try_inverse()
            .map(|inv| DMatrix::from_column_slice(8, 8, inv.as_slice()));
    }
    a.clone().lu().try_inverse()
}

/// The eigendecomposition of the symmetric matrix `a` (its lower triangle is read), eigenvalues
/// in nalgebra's order: bounded (module documentation).
pub fn symmetric_eigen(
    a: &DMatrix<f64>,
    what: &str,
) -> Result<SymmetricEigen<f64, Dyn>, SolverError> {
    if !a.is_square() {
        return Err(SolverError::InvalidInput(format!(
            "the eigendecomposition of {what} needs a square matrix, got {}x{}",
            a.nrows(),
            a.ncols()
        )));
    }
    if a.is_empty() {
        return Ok(SymmetricEigen {
            eigenvectors: DMatrix::zeros(0, 0),
            eigenvalues: DVector::zeros(0),
        });
    }
    check_finite(a, what)?;
    let max_iter = max_iterations(a.nrows());
    let eigen = if a.shape() == (8, 8) {
        // The set-up's `W1W1ᵀ` of an 8-wide network: the same algorithm on a fixed-size copy
        // (bitwise the same decomposition, without the run-time-size loop overhead; tested).
        SymmetricEigen::try_new(
            SMatrix::<f64, 8, 8>::from_column_slice(a.as_slice()),
            f64::EPSILON,
            max_iter,
        )
        .map(|e| SymmetricEigen {
            eigenvectors: DMatrix::from_column_slice(8, 8, e.eigenvectors.as_slice()),
            eigenvalues: DVector::from_column_slice(e.eigenvalues.as_slice()),
        })
    } else {
        SymmetricEigen::try_new(a.clone(), f64::EPSILON, max_iter)
    };
    let eigen = eigen.ok_or_else(|| no_convergence("eigendecomposition", what, a, max_iter))?;
    if !eigen.eigenvalues.iter().all(|x| x.is_finite()) {
        return Err(SolverError::Overflow(format!("the eigenvalues of {what} overflow")));
    }
    Ok(eigen)
}

/// SVD of an `No × Ni` matrix with *full* singular bases (docs/math.md §3.2, P14).
///
/// `u_m`, `v_m` hold the `m = min(Ni, No)` leading singular vectors; `u_perp`, `v_perp` complete
/// them to orthonormal bases of ℝ^No and ℝ^Ni (at most one of the two is non-empty).
#[derive(Clone, Debug)]
pub struct FullSvd {
    /// Leading left singular vectors (`No × m`).
    pub u_m: DMatrix<f64>,
    /// Singular values, descending (`m`).
    pub s: DVector<f64>,
    /// Leading right singular vectors (`Ni × m`).
    pub v_m: DMatrix<f64>,
    /// Orthonormal complement of `u_m` (`No × (No − m)`).
    pub u_perp: DMatrix<f64>,
    /// Orthonormal complement of `v_m` (`Ni × (Ni − m)`).
    pub v_perp: DMatrix<f64>,
}

impl FullSvd {
    /// Decomposes `a` (`No × Ni`); `what` names it in errors. Bounded like [`svd`]: a
    /// non-finite `a` is [`SolverError::Overflow`], never an endless loop.
    pub fn new(a: &DMatrix<f64>, what: &str) -> Result<FullSvd, SolverError> {
        let svd = svd(a, what)?;
        let (Some(u_m), Some(v_t)) = (svd.u, svd.v_t) else {
            return Err(SolverError::InvalidInput(format!("the SVD of {what} lost its bases")));
        };
        let v_m = v_t.transpose();
        let u_perp = orthogonal_complement(&u_m)?;
        let v_perp = orthogonal_complement(&v_m)?;
        Ok(FullSvd { u_m, s: svd.singular_values, v_m, u_perp, v_perp })
    }

    /// Full left basis `[u_m, u_perp]` (`No × No`).
    pub fn u_full(&self) -> DMatrix<f64> {
        hcat(&self.u_m, &self.u_perp)
    }

    /// Full right basis `[v_m, v_perp]` (`Ni × Ni`).
    pub fn v_full(&self) -> DMatrix<f64> {
        hcat(&self.v_m, &self.v_perp)
    }
}

/// `aᵀa`, bitwise nalgebra's `a.tr_mul(a)`, on the slice: entry `(i, j)` is nalgebra's `dot` of
/// columns `i` and `j` (eight partial sums from 0 over the rows `≡ k (mod 8)` of the leading
/// multiple of eight, added to a total from 0 as `(s₀ + s₄)`, `(s₁ + s₅)`, `(s₂ + s₆)`,
/// `(s₃ + s₇)`, then the other rows one by one), without nalgebra's column views; each entry
/// below the diagonal is the one above it (the same products, in the same order).
pub fn gram_of_columns(a: &DMatrix<f64>) -> DMatrix<f64> {
    let (rows, n) = a.shape();
    let column = |j: usize| &a.as_slice()[j * rows..][..rows];
    let mut gram = DMatrix::zeros(n, n);
    for j in 0..n {
        for i in 0..=j {
            let dot = column_dot(column(i), column(j));
            gram[(i, j)] = dot;
            gram[(j, i)] = dot;
        }
    }
    gram
}

/// nalgebra's `dot` of two columns of equal length ([`gram_of_columns`]).
fn column_dot(x: &[f64], y: &[f64]) -> f64 {
    column_sum(x, y, |a, b| a * b)
}

/// `Σ_i term(x_i, y_i)` over two columns of equal length, in the order of nalgebra's `dot` of
/// one column: eight partial sums from 0 over the rows `≡ k (mod 8)` of the leading multiple of
/// eight, added to a total from 0 as `(s₀ + s₄)`, `(s₁ + s₅)`, `(s₂ + s₆)`, `(s₃ + s₇)`, then the
/// other rows one by one.
#[inline(always)]
fn column_sum(x: &[f64], y: &[f64], term: impl Fn(f64, f64) -> f64) -> f64 {
    assert_eq!(x.len(), y.len(), "columns of different lengths");
    let mut acc = [0.0; 8];
    let ((xs, x_rest), (ys, y_rest)) = (x.as_chunks::<8>(), y.as_chunks::<8>());
    for (x8, y8) in xs.iter().zip(ys) {
        for ((partial, &a), &b) in acc.iter_mut().zip(x8).zip(y8) {
            *partial += term(a, b);
        }
    }
    let mut total = 0.0;
    total += acc[0] + acc[4];
    total += acc[1] + acc[5];
    total += acc[2] + acc[6];
    total += acc[3] + acc[7];
    for (&a, &b) in x_rest.iter().zip(y_rest) {
        total += term(a, b);
    }
    total
}

/// `‖A − B‖_F` for the block `A` of `a` of `b`'s shape at `start`, bitwise nalgebra's
/// `(&block − b).norm()` on the copied block (per column the `dot` of the difference with
/// itself from 0, the columns' totals added in order, then the square root), read in place.
///
/// # Panics
/// If the block does not fit in `a`.
pub fn block_difference_norm(a: &DMatrix<f64>, start: (usize, usize), b: &DMatrix<f64>) -> f64 {
    let ((r0, c0), (rows, cols)) = (start, b.shape());
    assert!(r0 + rows <= a.nrows() && c0 + cols <= a.ncols(), "block out of range");
    let n = a.nrows();
    let mut norm_sq = 0.0;
    for j in 0..cols {
        let x = &a.as_slice()[(c0 + j) * n + r0..][..rows];
        let y = &b.as_slice()[j * rows..][..rows];
        norm_sq += column_sum(x, y, |x, y| {
            let d = x - y;
            d * d
        });
    }
    norm_sq.sqrt()
}

/// Columns `[a, b]`.
pub fn hcat(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(a.nrows(), b.nrows());
    let mut out = DMatrix::zeros(a.nrows(), a.ncols() + b.ncols());
    out.columns_mut(0, a.ncols()).copy_from(a);
    out.columns_mut(a.ncols(), b.ncols()).copy_from(b);
    out
}

/// Rows `[a; b]`.
pub fn vcat(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(a.ncols(), b.ncols());
    let mut out = DMatrix::zeros(a.nrows() + b.nrows(), a.ncols());
    out.rows_mut(0, a.nrows()).copy_from(a);
    out.rows_mut(a.nrows(), b.nrows()).copy_from(b);
    out
}

/// An orthonormal basis of the orthogonal complement of the columns of `basis` (which must be
/// orthonormal), as an `n × (n − k)` matrix.
///
/// Uses the eigenvectors of the projector `I − BBᵀ` with eigenvalue one, which is accurate to
/// roundoff and needs no random completion. Errors only for a non-finite `basis` (or a
/// factorization that does not converge).
pub fn orthogonal_complement(basis: &DMatrix<f64>) -> Result<DMatrix<f64>, SolverError> {
    let (n, k) = basis.shape();
    if k >= n {
        return Ok(DMatrix::zeros(n, 0));
    }
    let projector = DMatrix::identity(n, n) - basis * basis.transpose();
    let eigen = symmetric_eigen(&projector, "the projector onto a complement")?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let mut out = DMatrix::zeros(n, n - k);
    for (col, &idx) in order.iter().take(n - k).enumerate() {
        out.set_column(col, &eigen.eigenvectors.column(idx));
    }
    // One Gram–Schmidt pass against `basis` and the earlier columns removes the residual mixing
    // that near-degenerate eigenvalues leave behind.
    for col in 0..n - k {
        let mut v = out.column(col).clone_owned();
        for j in 0..k {
            let c = basis.column(j).dot(&v);
            v.axpy(-c, &basis.column(j), 1.0);
        }
        for j in 0..col {
            let c = out.column(j).dot(&v);
            v -= c * out.column(j);
        }
        let norm = v.norm();
        out.set_column(col, &(v / norm));
    }
    Ok(out)
}

/// `a b`, bitwise nalgebra's `a * b`, without its packing buffers and calls.
///
/// For dynamic matrices with `m, n, k > 5` (`a` is `m × k`, `b` is `k × n`) nalgebra hands the
/// product to `matrixmultiply`, whose kernels add up every entry in one chain over `k` starting
/// from `+0` (for `k ≤ 256`, one block): fused multiply–adds when its run-time dispatch picks an
/// FMA kernel (AVX-512F, or AVX2 with FMA), separate products and sums otherwise; the AVX2 and AVX
/// kernels then add the zero of `C` (`−0` becomes `+0`), the AVX-512 one scales by `α = 1`. Here
/// the same chain is computed for each entry, with the same dispatch (the FMA chains in pulp's
/// AVX2 + FMA vectors, several entries side by side), so each entry has the same bits. Every
/// other case (a dimension ≤ 5, `k > 256`, another architecture) is nalgebra's product itself.
/// This relies on matrixmultiply 0.3 as locked, built with its default `avx512` feature (the
/// test `product_is_bitwise_nalgebras_product` checks it on the machine that runs it).
pub fn product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let ((m, k), n) = (a.shape(), b.ncols());
    if b.nrows() != k || m <= 5 || n <= 5 || k <= 5 || k > 256 {
        return a * b;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut c = DMatrix::zeros(m, n);
        let (a_s, b_s) = (a.as_slice(), b.as_slice());
        match chain_kind() {
            Chain::Fused { plus_zero } => match pulp::x86::V3::try_new() {
                Some(v3) => pulp::Simd::vectorize(
                    v3,
                    FusedV3 { v3, a: a_s, b: b_s, c: c.as_mut_slice(), m, k, plus_zero },
                ),
                None => {
                    let fused = |x: f64, y: f64, acc: f64| x.mul_add(y, acc);
                    chains(a_s, b_s, c.as_mut_slice(), (m, k), fused, plus_zero);
                }
            },
            Chain::Separate => {
                let separate = |x: f64, y: f64, acc: f64| acc + x * y;
                chains(a_s, b_s, c.as_mut_slice(), (m, k), separate, true);
            }
        }
        c
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        a * b
    }
}

/// How `matrixmultiply` adds up an entry on this CPU (its kernel dispatch, [`product`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Chain {
    /// FMA kernels; `plus_zero`: the AVX2 one, which adds `+0` at the end.
    Fused { plus_zero: bool },
    /// The AVX and portable kernels (their chains are never `−0`, so adding `+0` changes nothing).
    Separate,
}

#[cfg(target_arch = "x86_64")]
fn chain_kind() -> Chain {
    if std::arch::is_x86_feature_detected!("avx512f") {
        Chain::Fused { plus_zero: false }
    } else if std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("avx2")
    {
        Chain::Fused { plus_zero: true }
    } else {
        Chain::Separate
    }
}

/// Column-major `c = a b` (`a` is `m × k`), each entry `step`ped over `k` from `+0`, then `+0`
/// added if `plus_zero`.
#[cfg(target_arch = "x86_64")]
fn chains(
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    (m, k): (usize, usize),
    step: fn(f64, f64, f64) -> f64,
    plus_zero: bool,
) {
    for (b_col, c_col) in b.chunks_exact(k).zip(c.chunks_exact_mut(m)) {
        for (i, c_ij) in c_col.iter_mut().enumerate() {
            let mut acc = 0.0;
            for (l, &b_lj) in b_col.iter().enumerate() {
                acc = step(a[l * m + i], b_lj, acc);
            }
            *c_ij = if plus_zero { acc + 0.0 } else { acc };
        }
    }
}

/// Columns of the `k`-row column-major `b`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn n_cols(b: &[f64], k: usize) -> usize {
    b.len() / k
}

/// The fused chains of [`product`] in AVX2 + FMA vectors: eight rows by four columns of `c` at a
/// time when `m = 8`, eight rows by two columns when `m` is a multiple of 8, else four rows of a
/// column at a time and the rows past a multiple of four one by one. Each entry is its own chain
/// over `k` in order, whatever the blocking.
#[cfg(target_arch = "x86_64")]
struct FusedV3<'a> {
    v3: pulp::x86::V3,
    a: &'a [f64],
    b: &'a [f64],
    c: &'a mut [f64],
    m: usize,
    k: usize,
    plus_zero: bool,
}

#[cfg(target_arch = "x86_64")]
impl pulp::WithSimd for FusedV3<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let FusedV3 { v3, a, b, c, m, k, plus_zero } = self;
        let zero = v3.splat_f64x4(0.0);
        let finish = |x: pulp::f64x4| if plus_zero { v3.add_f64x4(x, zero) } else { x };
        if m == 8 {
            // Eight rows (every column of `a` one block) by four columns: eight independent
            // chains in flight, so that the FMA latency is hidden. A last group of fewer
            // columns repeats its last column in the unused slots (computed, not stored).
            let (a8, _) = a.as_chunks::<8>();
            let cols = n_cols(b, k);
            let mut j = 0;
            while j < cols {
                let w = (cols - j).min(4);
                let col = |q: usize| {
                    let jq = j + q.min(w - 1);
                    &b[jq * k..(jq + 1) * k]
                };
                let mut acc = [zero; 8];
                for ((((blk, &x0), &x1), &x2), &x3) in
                    a8.iter().zip(col(0)).zip(col(1)).zip(col(2)).zip(col(3))
                {
                    let [lo, hi]: [pulp::f64x4; 2] = pulp::cast(*blk);
                    for (q, x) in [x0, x1, x2, x3].into_iter().enumerate() {
                        let bx = v3.splat_f64x4(x);
                        acc[2 * q] = v3.mul_add_f64x4(lo, bx, acc[2 * q]);
                        acc[2 * q + 1] = v3.mul_add_f64x4(hi, bx, acc[2 * q + 1]);
                    }
                }
                for q in 0..w {
                    let out = &mut c[(j + q) * 8..(j + q) * 8 + 8];
                    let lo: [f64; 4] = pulp::cast(finish(acc[2 * q]));
                    let hi: [f64; 4] = pulp::cast(finish(acc[2 * q + 1]));
                    out[..4].copy_from_slice(&lo);
                    out[4..].copy_from_slice(&hi);
                }
                j += w;
            }
            return;
        }
        if m % 8 == 0 {
            // Blocks of eight rows by two columns: four accumulators share each load of `a`
            // and each broadcast of `b`.
            let (a4, _) = a.as_chunks::<4>();
            let mb = m / 8;
            let mut j = 0;
            while j < n_cols(b, k) {
                let two = j + 1 < n_cols(b, k);
                let b0 = &b[j * k..(j + 1) * k];
                let b1 = if two { &b[(j + 1) * k..(j + 2) * k] } else { b0 };
                for ib in 0..mb {
                    let mut acc = [zero; 4];
                    let mut step = |lo, hi, x, y| {
                        let (bx, by) = (v3.splat_f64x4(x), v3.splat_f64x4(y));
                        acc[0] = v3.mul_add_f64x4(lo, bx, acc[0]);
                        acc[1] = v3.mul_add_f64x4(hi, bx, acc[1]);
                        acc[2] = v3.mul_add_f64x4(lo, by, acc[2]);
                        acc[3] = v3.mul_add_f64x4(hi, by, acc[3]);
                    };
                    for ((a_col, &x), &y) in a4.chunks_exact(2 * mb).zip(b0).zip(b1) {
                        let (lo, hi) = (a_col[2 * ib], a_col[2 * ib + 1]);
                        step(pulp::cast(lo), pulp::cast(hi), x, y);
                    }
                    for (col, pair) in [(j, [acc[0], acc[1]]), (j + 1, [acc[2], acc[3]])] {
                        if col == j || two {
                            let out = &mut c[col * m + ib * 8..col * m + ib * 8 + 8];
                            let [lo, hi]: [[f64; 4]; 2] = pair.map(|v| pulp::cast(finish(v)));
                            out[..4].copy_from_slice(&lo);
                            out[4..].copy_from_slice(&hi);
                        }
                    }
                }
                j += 2;
            }
            return;
        }
        let blocks = m / 4;
        for (b_col, c_col) in b.chunks_exact(k).zip(c.chunks_exact_mut(m)) {
            let mut ib = 0;
            while ib < blocks {
                let two = ib + 1 < blocks;
                let mut acc = [zero, zero];
                for (a_col, &b_lj) in a.chunks_exact(m).zip(b_col) {
                    let bv = v3.splat_f64x4(b_lj);
                    let (a4, _) = a_col.as_chunks::<4>();
                    acc[0] = v3.mul_add_f64x4(pulp::cast(a4[ib]), bv, acc[0]);
                    if two {
                        acc[1] = v3.mul_add_f64x4(pulp::cast(a4[ib + 1]), bv, acc[1]);
                    }
                }
                let (c4, _) = c_col.as_chunks_mut::<4>();
                c4[ib] = pulp::cast(finish(acc[0]));
                if two {
                    c4[ib + 1] = pulp::cast(finish(acc[1]));
                }
                ib += if two { 2 } else { 1 };
            }
            for (i, c_ij) in c_col.iter_mut().enumerate().skip(blocks * 4) {
                let mut acc = 0.0_f64;
                for (l, &b_lj) in b_col.iter().enumerate() {
                    acc = a[l * m + i].mul_add(b_lj, acc);
                }
                *c_ij = if plus_zero { acc + 0.0 } else { acc };
            }
        }
    }
}

/// A matrix of i.i.d. `N(0, σ²)` entries.
pub fn gaussian_matrix<R: Rng + ?Sized>(
    nrows: usize,
    ncols: usize,
    sigma: f64,
    rng: &mut R,
) -> DMatrix<f64> {
    DMatrix::from_fn(nrows, ncols, |_, _| sigma * rng.sample::<f64, _>(StandardNormal))
}

/// A Haar-random orthogonal `n × n` matrix: the Q factor of a Gaussian matrix, with the signs
/// fixed so that R has a positive diagonal.
pub fn random_orthogonal<R: Rng + ?Sized>(n: usize, rng: &mut R) -> DMatrix<f64> {
    if n == 0 {
        return DMatrix::zeros(0, 0);
    }
    let qr = gaussian_matrix(n, n, 1.0, rng).qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..n {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

/// Spectral norm ‖a‖₂ (largest singular value); 0 for an empty matrix. Bounded like
/// [`singular_values`].
pub fn spectral_norm(a: &DMatrix<f64>) -> Result<f64, SolverError> {
    Ok(singular_values(a, "a matrix whose norm is needed")?.iter().copied().fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn jacobi(a: &DMatrix<f64>) -> Result<Vec<f64>, SolverError> {
        let (mut scratch, mut out) = (JacobiScratch::default(), Vec::new());
        singular_values_jacobi(a.as_view(), "a", &mut scratch, &mut out).map(|()| out)
    }

    /// The fixed-size 8 × 8 paths of [`singular_values`] and [`symmetric_eigen`] give bitwise
    /// what nalgebra's run-time-size decompositions give: Gaussian matrices from 1e-150 to
    /// 1e150, graded ones (singular values over 12 and 30 decades), rank-deficient ones,
    /// exact zeros and repeated values (the identity, a diagonal with ties).
    #[test]
    fn fixed_size_8x8_decompositions_are_bitwise_the_run_time_size_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(72);
        let mut cases: Vec<DMatrix<f64>> = Vec::new();
        for scale in [1e-150, 1e-8, 1e-4, 1.0, 3.0, 1e8, 1e150] {
            for _ in 0..20 {
                cases.push(gaussian_matrix(8, 8, scale, &mut rng));
            }
        }
        for decades in [12.0, 30.0] {
            cases.push(graded(8, decades).1);
            let (u, v) = (random_orthogonal(8, &mut rng), random_orthogonal(8, &mut rng));
            cases.push(u * graded(8, decades).1 * v);
        }
        for rank in [1, 3, 7] {
            cases.push(
                gaussian_matrix(8, rank, 1.0, &mut rng) * gaussian_matrix(rank, 8, 1.0, &mut rng),
            );
        }
        cases.push(DMatrix::zeros(8, 8));
        cases.push(DMatrix::identity(8, 8));
        cases.push(DMatrix::from_diagonal(&DVector::from_vec(vec![
            3.0, 3.0, 1.0, 1.0, 1.0, 0.0, 0.0, 2.0,
        ])));
        let bits = |x: &[f64]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let max_iter = max_iterations(8);
        for a in &cases {
            let mut want = a
                .clone()
                .try_svd_unordered(false, false, SVD_EPS, max_iter)
                .unwrap()
                .singular_values;
            want.as_mut_slice().sort_by(|x, y| y.total_cmp(x));
            assert_eq!(
                bits(singular_values(a, "a").unwrap().as_slice()),
                bits(want.as_slice()),
                "{a}"
            );
            // A symmetric matrix from every case (the lower triangle is what is read).
            let sym = a * a.transpose() - a.transpose() * 0.5;
            let want = SymmetricEigen::try_new(sym.clone(), f64::EPSILON, max_iter).unwrap();
            let got = symmetric_eigen(&sym, "s").unwrap();
            assert_eq!(
                bits(got.eigenvalues.as_slice()),
                bits(want.eigenvalues.as_slice()),
                "{sym}"
            );
            assert_eq!(
                bits(got.eigenvectors.as_slice()),
                bits(want.eigenvectors.as_slice()),
                "{sym}"
            );
            let want = a.clone().lu().try_inverse();
            let got = lu_inverse(a);
            assert_eq!(got.is_some(), want.is_some(), "{a}");
            if let (Some(got), Some(want)) = (got, want) {
                assert_eq!(bits(got.as_slice()), bits(want.as_slice()), "{a}");
            }
        }
    }

    /// One-sided Jacobi agrees with the bidiagonal QR SVD on every shape (both orientations,
    /// funnels, 1×1) and at any scale (scaling by a power of two is exact).
    #[test]
    fn jacobi_singular_values_match_the_bidiagonal_svd() {
        let mut rng = ChaCha8Rng::seed_from_u64(71);
        let shapes = [(1, 1), (3, 7), (7, 3), (8, 8), (64, 2), (2, 64), (20, 20), (1, 5)];
        for (rows, cols) in shapes {
            for scale in [1e-150, 1e-4, 1.0, 1e150] {
                let a = gaussian_matrix(rows, cols, scale, &mut rng);
                let want = singular_values(&a, "a").unwrap();
                let got = jacobi(&a).unwrap();
                assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((g - w).abs() <= 1e-12 * want[0], "{rows}x{cols} {scale}: {g} vs {w}");
                }
            }
        }
        assert!(jacobi(&DMatrix::zeros(0, 3)).unwrap().is_empty());
        assert_eq!(jacobi(&DMatrix::zeros(3, 2)).unwrap(), vec![0.0, 0.0]);
    }

    /// Relative accuracy on small singular values: `Q diag(d)` with graded `d` down to 1e-14 has
    /// the singular values `d` to about ε relative (its column-scaled condition is 1), which
    /// Jacobi keeps; a method with an absolute error of `ε max d` would not.
    /// `n` values graded from 1 down to `10^−decades`, and their diagonal matrix.
    fn graded(n: usize, decades: f64) -> (Vec<f64>, DMatrix<f64>) {
        let d: Vec<f64> =
            (0..n).map(|i| 10f64.powf(-decades * i as f64 / (n - 1) as f64)).collect();
        let diag = DMatrix::from_diagonal(&DVector::from_vec(d.clone()));
        (d, diag)
    }

    /// Every value of `got` within `tol` (relative) of `want`.
    fn assert_relative(got: &[f64], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= tol * w, "{what}: {g} vs {w}");
        }
    }

    #[test]
    fn jacobi_keeps_small_singular_values_relatively_accurate() {
        let mut rng = ChaCha8Rng::seed_from_u64(72);
        for n in [2, 5, 8] {
            let q = random_orthogonal(n + 3, &mut rng).columns(0, n).clone_owned();
            let (d, diag) = graded(n, 14.0);
            assert_relative(&jacobi(&(&q * diag)).unwrap(), &d, 1e-13, &format!("n {n}"));
        }
    }

    /// The vector path (min dimension 5–8, four rotations at a time) against the scalar
    /// Jacobi and the known values: square, wide and tall random matrices over many scales,
    /// a rank-deficient one (its zero values at most 1e-14 of the largest), and graded ones, `Q diag(d)` (column graded)
    /// and `diag(d) Qᵀ` (row graded) with `d` from 1 down to 1e-12, where every value must be
    /// relatively accurate to 1e-12.
    #[test]
    fn vector_jacobi_matches_scalar_jacobi_and_graded_values() {
        let mut rng = ChaCha8Rng::seed_from_u64(73);
        let (mut scratch, mut scalar) = (JacobiScratch::default(), Vec::new());
        for (rows, cols) in [(5, 5), (6, 9), (9, 7), (8, 8), (8, 30), (30, 8), (7, 7)] {
            for scale in [1e-200, 1e-6, 1.0, 1e100] {
                let a = gaussian_matrix(rows, cols, scale, &mut rng);
                let got = jacobi(&a).unwrap();
                singular_values_jacobi_scalar(a.as_view(), "a", &mut scratch, &mut scalar).unwrap();
                assert_eq!(got.len(), scalar.len());
                for (g, w) in got.iter().zip(&scalar) {
                    assert!((g - w).abs() <= 1e-13 * w, "{rows}x{cols} {scale}: {g} vs {w}");
                }
            }
        }
        // Rank 3 of 8: five values at rounding level.
        let low = gaussian_matrix(8, 3, 1.0, &mut rng) * gaussian_matrix(3, 8, 1.0, &mut rng);
        let got = jacobi(&low).unwrap();
        assert_eq!(got.len(), 8);
        assert!(got[..3].iter().all(|&v| v > 1e-3), "{got:?}");
        assert!(got[3..].iter().all(|&v| v <= 1e-14 * got[0]), "{got:?}");
        for n in [5, 6, 7, 8] {
            let q = random_orthogonal(n, &mut rng);
            let (d, diag) = graded(n, 12.0);
            for a in [&q * &diag, &diag * q.transpose()] {
                assert_relative(&jacobi(&a).unwrap(), &d, 1e-12, &format!("n {n}"));
            }
        }
    }

    /// Two matrices through [`singular_values_jacobi_pair`] give bitwise the values (or the
    /// errors) of [`singular_values_jacobi`] on each alone, for every ordered pair of a list
    /// that mixes random 8 × 8 matrices, graded ones down to 1e-12 (more sweeps), a
    /// rank-deficient one, a 6 × 9 and a 5 × 5 (not 8 × 8: two calls), a 3 × 3 (scalar path),
    /// zero, empty and non-finite input: interleaving changes no operation of either matrix, and
    /// a converged matrix is never swept again.
    #[test]
    fn jacobi_pair_equals_two_single_calls_bitwise() {
        let mut rng = ChaCha8Rng::seed_from_u64(74);
        let mut list: Vec<DMatrix<f64>> =
            (0..3).map(|i| gaussian_matrix(8, 8, 10f64.powi(-3 * i), &mut rng)).collect();
        let q = random_orthogonal(8, &mut rng);
        let (_, diag) = graded(8, 12.0);
        list.extend([&q * &diag, &diag * q.transpose()]);
        list.push(gaussian_matrix(8, 3, 1.0, &mut rng) * gaussian_matrix(3, 8, 1.0, &mut rng));
        list.extend([(6, 9), (5, 5), (3, 3)].map(|(r, c)| gaussian_matrix(r, c, 1.0, &mut rng)));
        list.extend([DMatrix::zeros(8, 8), DMatrix::zeros(0, 8)]);
        let mut bad = gaussian_matrix(8, 8, 1.0, &mut rng);
        bad[(2, 5)] = f64::NAN;
        list.push(bad);
        let mut scratch = JacobiScratch::default();
        let (mut out0, mut out1) = (vec![f64::NAN], vec![f64::NAN]);
        for a in &list {
            for b in &list {
                let got = singular_values_jacobi_pair(
                    [a.as_view(), b.as_view()],
                    "a",
                    &mut scratch,
                    [&mut out0, &mut out1],
                );
                for (got, (m, out)) in got.into_iter().zip([(a, &out0), (b, &out1)]) {
                    match (got, jacobi(m)) {
                        (Ok(()), Ok(want)) => {
                            let bits =
                                |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                            assert_eq!(bits(out), bits(&want), "{m}");
                        }
                        (Err(g), Err(w)) => assert_eq!(format!("{g:?}"), format!("{w:?}")),
                        (g, w) => panic!("{m}: pair {g:?} vs single {w:?}"),
                    }
                }
            }
        }
    }

    /// Warm starts ([`singular_values_warm`], [`singular_values_warm_pair`]): two series of
    /// matrices that drift slowly (a product `A(s) = U diag(d(s)) V(s)ᵀ` whose bases turn and
    /// whose values move, graded down to 1e-6 of the largest), longer than [`WARM_RESTART`],
    /// with a NaN, an infinite, a zero, a 6 × 9 and a 3 × 3 matrix among them. Each series
    /// through single calls and the two through pair calls give bitwise the same values (and
    /// the same errors); every value is within 1e-12 (relative) plus 32 ε s_max of the cold
    /// start's (the accuracy of a warm start, docs/math.md §4.3); `V` stays orthogonal to
    /// 1e-13 up to the restart; a
    /// non-finite matrix is the cold start's `Overflow` and resets the warm start, a zero one
    /// gives zeros; uses count up to the restart and start again.
    /// `max |VᵀV − I|` of `V` in seats.
    fn orthogonality_defect(v: &[f64; 64]) -> f64 {
        let mut defect = 0.0f64;
        for p in 0..8 {
            for q in 0..8 {
                let dot: f64 = (0..8).map(|j| v[8 * j + p] * v[8 * j + q]).sum();
                defect = defect.max((dot - f64::from(u8::from(p == q))).abs());
            }
        }
        defect
    }

    /// [`orthogonality_defect`] of a warm start of any shape (a small one holds `V` as `n × n`
    /// column-major).
    fn warm_defect(warm: &WarmStart) -> f64 {
        if warm.shape == (8, 8) {
            return orthogonality_defect(&warm.vectors);
        }
        let n = warm.shape.0.min(warm.shape.1);
        let v = DMatrix::from_column_slice(n, n, &warm.vectors[..n * n]);
        (v.transpose() * &v - DMatrix::identity(n, n)).amax()
    }

    #[test]
    fn a_warm_series_matches_the_cold_start_and_its_lanes_are_independent() {
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        let bases = [random_orthogonal(8, &mut rng), random_orthogonal(8, &mut rng)];
        // A slowly turning graded series, with non-finite, zero, overflowing and tiny-valued
        // matrices among them.
        let matrix = |i: usize, salt: f64| -> DMatrix<f64> {
            let s = i as f64 * 0.01 + salt;
            let d: Vec<f64> = (0..8)
                .map(|k| 10f64.powf(-6.0 * f64::from(k) / 7.0) * (1.0 + s * f64::from(k)))
                .collect();
            let turn = DMatrix::from_fn(8, 8, |r, c| {
                let (cos, sin) = ((0.3 * s).cos(), (0.3 * s).sin());
                match (r, c) {
                    (0, 0) | (1, 1) => cos,
                    (0, 1) => -sin,
                    (1, 0) => sin,
                    _ => f64::from(u8::from(r == c)),
                }
            });
            let a = &bases[0] * turn * DMatrix::from_diagonal(&DVector::from_vec(d)) * &bases[1];
            match i % 37 {
                5 => a.map(|x| if x > 0.3 { f64::NAN } else { x }),
                11 => DMatrix::zeros(8, 8),
                17 => a.map(|x| x * 1e300 * 1e300),
                // Values down to 1e-175 of the largest (squared norms below 1e-290), as the
                // first matrix of lane 2 (started from V = I) and later in a lane.
                2 | 23 => {
                    DMatrix::from_diagonal(&DVector::from_fn(8, |k, _| 10f64.powi(-25 * k as i32)))
                }
                29 => a * 1e290,
                _ => a * 1e-3,
            }
        };
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut scratch = JacobiScratch::default();
        for n in [1, 2, 3, 4, 5, 7, 9, 64, 100, WARM_SERIES_BATCH] {
            let list: Vec<DMatrix<f64>> = (0..n).map(|i| matrix(i, 0.0)).collect();
            let mut series = WarmSeries8::default();
            for (i, a) in list.iter().enumerate() {
                assert_eq!(series.push(a.as_view()), i + 1 == WARM_SERIES_BATCH);
            }
            assert_eq!(series.len(), n);
            let mut out = vec![vec![f64::NAN]; n];
            let mut results = Vec::new();
            series.flush("a", &mut out, |r| results.push(r));
            assert!(series.is_empty());
            assert_eq!(results.len(), n);
            for (i, (a, (got, values))) in list.iter().zip(results.iter().zip(&out)).enumerate() {
                let mut cold = Vec::new();
                let want = singular_values_jacobi(a.as_view(), "a", &mut scratch, &mut cold);
                match (got, &want) {
                    (Ok(()), Ok(())) => {
                        assert_eq!(values.len(), 8);
                        let s_max = cold[0];
                        for (g, w) in values.iter().zip(&cold) {
                            let bound = 1e-12 * w + 32.0 * f64::EPSILON * s_max;
                            assert!((g - w).abs() <= bound, "n {n}, {i}: {g} vs {w}");
                        }
                    }
                    (Err(g), Err(w)) => {
                        assert_eq!(format!("{g:?}"), format!("{w:?}"));
                        assert!(values.is_empty(), "n {n}, {i}");
                    }
                    _ => panic!("n {n}, {i}: series {got:?}, cold {want:?}"),
                }
                if i == 2 {
                    // Exactly orthogonal columns from the start: the tiny values are rescaled
                    // before their norms and stay exact to rounding (the cold start, whose QR
                    // drops blocks below 1e-154, gives 0 for the smallest).
                    let exact: Vec<f64> = (0..8).map(|k| 10f64.powi(-25 * k)).collect();
                    for (g, w) in values.iter().zip(&exact) {
                        assert!((g - w).abs() <= 1e-14 * w, "n {n}, {i}: {g} vs {w}");
                    }
                }
            }
            // The same series again: bitwise the same. Changing the matrices of lane 1 (every
            // fourth from the second; never the start of a later step here, since lanes 2 and 3
            // converge in every step that has them) changes none of the other lanes' values.
            let mut again = WarmSeries8::default();
            let mut other = WarmSeries8::default();
            for (i, a) in list.iter().enumerate() {
                again.push(a.as_view());
                let changed = if i % 4 == 1 { matrix(i, 0.7) } else { a.clone() };
                other.push(changed.as_view());
            }
            let (mut out_again, mut out_other) = (vec![Vec::new(); n], vec![Vec::new(); n]);
            again.flush("a", &mut out_again, |_| {});
            other.flush("a", &mut out_other, |_| {});
            for i in 0..n {
                assert_eq!(bits(&out_again[i]), bits(&out[i]), "n {n}, {i}");
                if i % 4 != 1 {
                    assert_eq!(bits(&out_other[i]), bits(&out[i]), "n {n}, {i}");
                }
            }
        }
        // An empty flush does nothing.
        WarmSeries8::default().flush("a", &mut [], |_| panic!("no matrix"));
    }

    #[test]
    fn a_warm_series_pads_smaller_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(78);
        let mut scratch = JacobiScratch::default();
        for (rows, cols) in [(4, 4), (3, 5), (5, 3), (7, 6), (6, 7), (1, 8), (8, 1), (2, 2), (8, 5)]
        {
            let base = gaussian_matrix(rows, cols, 1.0, &mut rng);
            let turn = gaussian_matrix(rows, cols, 0.01, &mut rng);
            for n in [1, 3, 5, 100] {
                let list: Vec<DMatrix<f64>> = (0..n)
                    .map(|i| match i % 23 {
                        7 => base.map(|x| if x > 0.5 { f64::NAN } else { x }),
                        13 => DMatrix::zeros(rows, cols),
                        _ => (&base + &turn * i as f64) * 10f64.powi(i as i32 % 5 - 2),
                    })
                    .collect();
                let mut series = WarmSeries8::default();
                for a in &list {
                    series.push(a.as_view());
                }
                let mut out = vec![Vec::new(); n];
                let mut results = Vec::new();
                series.flush("a", &mut out, |r| results.push(r));
                for (i, (a, (got, values))) in list.iter().zip(results.iter().zip(&out)).enumerate()
                {
                    let mut cold = Vec::new();
                    let want = singular_values_jacobi(a.as_view(), "a", &mut scratch, &mut cold);
                    match (got, &want) {
                        (Ok(()), Ok(())) => {
                            assert_eq!(values.len(), rows.min(cols), "{rows}×{cols} n {n}, {i}");
                            for (g, w) in values.iter().zip(&cold) {
                                let bound = 1e-12 * w + 32.0 * f64::EPSILON * cold[0];
                                assert!((g - w).abs() <= bound, "{rows}×{cols} {i}: {g} vs {w}");
                            }
                        }
                        (Err(g), Err(w)) => {
                            assert_eq!(format!("{g:?}"), format!("{w:?}"));
                            assert!(values.is_empty());
                        }
                        _ => panic!("{rows}×{cols} n {n}, {i}: series {got:?}, cold {want:?}"),
                    }
                }
            }
        }
    }

    /// The batch's bound, which caps how many steps' rotations a start carries: `push` says
    /// "full" exactly at the 256th matrix, a 257th is refused with a panic that leaves the held
    /// matrices intact (the recorder always flushes first, so a run never reaches it), the full
    /// batch flushes to the cold start's values, and the series then takes matrices again.
    /// `reserve` makes room for a whole series up front (capped at a full batch): the held
    /// list is allocated once and never moves while the series is pushed, and what is pushed
    /// is what `held` gives back.
    #[test]
    fn a_reserved_warm_series_is_held_without_growing() {
        let mut series = WarmSeries8::default();
        series.reserve(100);
        let (at, room) = (series.pending.as_ptr(), series.pending.capacity());
        assert!(room >= 100 && series.shapes.capacity() >= 100, "room for 100: {room}");
        let matrices: Vec<DMatrix<f64>> = (0..100)
            .map(|k| {
                let (rows, cols) = [(8, 8), (5, 8), (8, 3)][k % 3];
                DMatrix::from_fn(rows, cols, |i, j| (k * 64 + i * 8 + j) as f64)
            })
            .collect();
        for a in &matrices {
            assert!(!series.push(a.as_view()));
        }
        assert_eq!(series.pending.as_ptr(), at, "the held list moved");
        assert_eq!(series.pending.capacity(), room);
        for (k, a) in matrices.iter().enumerate() {
            assert_eq!(&series.held(k), a, "matrix {k} as pushed");
        }
        // More than a batch is never reserved: the series holds at most WARM_SERIES_BATCH.
        let mut series = WarmSeries8::default();
        series.reserve(1 << 40);
        assert!(series.pending.capacity() >= WARM_SERIES_BATCH);
        assert!(series.pending.capacity() < 2 * WARM_SERIES_BATCH);
    }

    #[test]
    fn a_full_warm_series_refuses_another_matrix_and_stays_intact() {
        let mut rng = ChaCha8Rng::seed_from_u64(79);
        let base = gaussian_matrix(8, 8, 1.0, &mut rng);
        let step = gaussian_matrix(8, 8, 1e-3, &mut rng);
        let list: Vec<DMatrix<f64>> =
            (0..=WARM_SERIES_BATCH).map(|i| &base + &step * i as f64).collect();
        let mut series = WarmSeries8::default();
        for (i, a) in list[..WARM_SERIES_BATCH].iter().enumerate() {
            assert_eq!(series.push(a.as_view()), i + 1 == WARM_SERIES_BATCH, "push {i}");
        }
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            series.push(list[WARM_SERIES_BATCH].as_view());
        }));
        let message = refused.expect_err("a 257th matrix is refused");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"a full WarmSeries8 must be flushed"));
        assert_eq!(series.len(), WARM_SERIES_BATCH);
        let mut out = vec![Vec::new(); WARM_SERIES_BATCH];
        series.flush("a", &mut out, |r| r.unwrap());
        let mut scratch = JacobiScratch::default();
        for (i, (a, values)) in list.iter().zip(&out).enumerate() {
            let mut cold = Vec::new();
            singular_values_jacobi(a.as_view(), "a", &mut scratch, &mut cold).unwrap();
            for (g, w) in values.iter().zip(&cold) {
                let bound = 1e-12 * w + 32.0 * f64::EPSILON * cold[0];
                assert!((g - w).abs() <= bound, "{i}: {g} vs {w}");
            }
        }
        assert!(series.is_empty());
        assert!(!series.push(list[WARM_SERIES_BATCH].as_view()));
        assert_eq!(series.len(), 1);
    }

    #[test]
    fn warm_starts_match_the_cold_start_and_pair_bitwise() {
        let mut rng = ChaCha8Rng::seed_from_u64(76);
        let turn = |angle: f64, n: usize| {
            DMatrix::from_fn(n, n, |i, j| {
                let (c, s) = (angle.cos(), angle.sin());
                match (i, j) {
                    (0, 0) | (1, 1) => c,
                    (0, 1) => -s,
                    (1, 0) => s,
                    _ => f64::from(u8::from(i == j)),
                }
            })
        };
        let bases = [random_orthogonal(8, &mut rng), random_orthogonal(8, &mut rng)];
        let series = |chain: usize| -> Vec<DMatrix<f64>> {
            (0..150)
                .map(|i| {
                    let s = f64::from(i) * 0.01;
                    let d: Vec<f64> = (0..8)
                        .map(|k| 10f64.powf(-6.0 * f64::from(k) / 7.0) * (1.0 + s * f64::from(k)))
                        .collect();
                    let u = &bases[chain] * turn(0.3 * s, 8);
                    let v = bases[1 - chain].transpose() * turn(-0.2 * s, 8);
                    let a = u * DMatrix::from_diagonal(&DVector::from_vec(d)) * v.transpose();
                    match (chain, i) {
                        (0, 20) => a.map(|x| if x > 0.5 { f64::NAN } else { x }),
                        (0, 40) => DMatrix::zeros(8, 8),
                        (1, 30) => a.map(|x| x * 1e300 * 1e300),
                        (1, 50) => gaussian_matrix(6, 9, 1.0, &mut ChaCha8Rng::seed_from_u64(1)),
                        (0, 60) => gaussian_matrix(3, 3, 1.0, &mut ChaCha8Rng::seed_from_u64(2)),
                        _ => a * 1e-3,
                    }
                })
                .collect()
        };
        let series = [series(0), series(1)];
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let mut scratch = JacobiScratch::default();
        let mut single: Vec<Vec<Result<Vec<u64>, String>>> = vec![Vec::new(), Vec::new()];
        for (chain, list) in series.iter().enumerate() {
            let mut warm = WarmStart::default();
            for (i, a) in list.iter().enumerate() {
                let mut out = Vec::new();
                let got = singular_values_warm(a.as_view(), "a", &mut scratch, &mut warm, &mut out);
                let mut cold = Vec::new();
                let want = singular_values_jacobi(a.as_view(), "a", &mut scratch, &mut cold);
                match (&got, &want) {
                    (Ok(()), Ok(())) => {
                        assert_eq!(out.len(), cold.len());
                        let s_max = cold.first().copied().unwrap_or(0.0);
                        for (g, w) in out.iter().zip(&cold) {
                            let bound = 1e-12 * w + 32.0 * f64::EPSILON * s_max;
                            assert!((g - w).abs() <= bound, "{chain} {i}: {g} vs {w}");
                        }
                    }
                    (Err(g), Err(w)) => assert_eq!(format!("{g:?}"), format!("{w:?}")),
                    _ => panic!("{chain} {i}: warm {got:?}, cold {want:?}"),
                }
                if a.shape() == (8, 8) && !a.iter().all(|x| x.is_finite()) {
                    assert!(matches!(got, Err(SolverError::Overflow(_))));
                    assert_eq!(warm.uses, 0);
                }
                if a.shape() == (8, 8) && a.iter().all(|&x| x == 0.0) {
                    assert_eq!(out, vec![0.0; 8]);
                }
                assert!(warm.uses <= WARM_RESTART);
                assert!(warm_defect(&warm) <= 1e-13, "{chain} {i}");
                single[chain].push(got.map(|()| bits(&out)).map_err(|e| format!("{e:?}")));
            }
        }
        let mut warm = [WarmStart::default(), WarmStart::default()];
        for i in 0..series[0].len() {
            let (mut out0, mut out1) = (Vec::new(), Vec::new());
            let [w0, w1] = &mut warm;
            let got = singular_values_warm_pair(
                [series[0][i].as_view(), series[1][i].as_view()],
                "a",
                &mut scratch,
                [w0, w1],
                [&mut out0, &mut out1],
            );
            for (chain, (got, out)) in got.into_iter().zip([&out0, &out1]).enumerate() {
                let got = got.map(|()| bits(out)).map_err(|e| format!("{e:?}"));
                assert_eq!(got, single[chain][i], "{chain} {i}");
            }
        }
    }

    /// The fixed-size preparation of an 8 × 8 matrix (`crate::kernels::Prepare8`, portable and
    /// dispatched, alone and as a pair) gives bitwise the scaled `R` of the run-time one
    /// ([`jacobi_prepare`]: scaling, [`pivoted_qr`], the seats), the same outcome for zero and
    /// non-finite input, on random matrices over many scales, graded `Q diag(d)` and
    /// `diag(d) Qᵀ` with `d` down to 1e-14, rank-deficient ones (ranks 1, 3, 7, and a repeated
    /// column: ties in the pivot search), integer matrices (exact ties), one whose columns need
    /// the rescaled norm (entries below 1e-150 of the largest), zero, ±∞ and NaN.
    #[test]
    fn fixed_size_preparation_gives_the_run_time_r_bitwise() {
        use crate::kernels::{Kernel, Portable, Prepare8, dispatch_sweeps};
        let mut rng = ChaCha8Rng::seed_from_u64(75);
        let mut list: Vec<DMatrix<f64>> = (0..12)
            .map(|i| gaussian_matrix(8, 8, 10f64.powi(-20 * (i % 6) + 30), &mut rng))
            .collect();
        for decades in [6.0, 12.0, 14.0] {
            let q = random_orthogonal(8, &mut rng);
            let (_, diag) = graded(8, decades);
            list.extend([&q * &diag, &diag * q.transpose()]);
        }
        for rank in [1, 3, 7] {
            list.push(
                gaussian_matrix(8, rank, 1.0, &mut rng) * gaussian_matrix(rank, 8, 1.0, &mut rng),
            );
        }
        let mut repeated = gaussian_matrix(8, 8, 1.0, &mut rng);
        let column = repeated.column(2).clone_owned();
        repeated.set_column(6, &column);
        list.push(repeated);
        list.push(DMatrix::from_fn(8, 8, |i, j| ((i + 2 * j) % 3) as f64 - 1.0));
        list.push(DMatrix::identity(8, 8));
        let mut tiny = gaussian_matrix(8, 8, 1e-170, &mut rng);
        tiny[(0, 0)] = 1.0;
        list.push(tiny);
        list.push(DMatrix::zeros(8, 8));
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut m = gaussian_matrix(8, 8, 1.0, &mut rng);
            m[(5, 3)] = bad;
            list.push(m);
        }
        let (mut scratch, mut out) = (JacobiScratch::default(), Vec::new());
        let bits = |v: &[f64; 64]| v.map(|x| if x == 0.0 { 0 } else { x.to_bits() });
        for (index, a) in list.iter().enumerate() {
            let want = jacobi_prepare(a.as_view(), "a", &mut scratch, &mut out, Path::Vector);
            let input = gather8(a.as_view());
            let (mut portable, mut dispatched, mut second) = (input, input, input);
            let [p] = Prepare8 { matrices: [&mut portable] }.run(Portable);
            let [d] = dispatch_sweeps(Prepare8 { matrices: [&mut dispatched] });
            // Paired with the next matrix of the list (its own outcome checked on its turn).
            let mut other = gather8(list[(index + 1) % list.len()].as_view());
            let [s, _] = dispatch_sweeps(Prepare8 { matrices: [&mut second, &mut other] });
            for (got, matrix) in [(p, &portable), (d, &dispatched), (s, &second)] {
                match (&want, got) {
                    (Ok(Some(seated)), Prepared8::Seated { up }) => {
                        assert_eq!(up, seated.up, "{index}");
                        assert_eq!(bits(matrix), bits(&seated.seats), "{index}: {a}");
                    }
                    (Ok(None), Prepared8::Zero) => assert_eq!(out, vec![0.0; 8]),
                    (Err(SolverError::Overflow(_)), Prepared8::NonFinite) => {}
                    (w, g) => {
                        panic!("{index}: run-time {:?} vs fixed-size {g:?}", w.as_ref().err())
                    }
                }
            }
        }
    }

    /// A pivoted QR step whose remaining block is below about 1e-154 of the scaled matrix
    /// (`β v₀` underflows) drops the block instead of dividing by zero: before, `R` got NaN
    /// entries and finite input gave an `Overflow` error (an empty list of values). Diagonal
    /// `diag(1, 1e-170, …)` and a unit entry over Gaussian entries of 1e-170, at 8 × 8 (the
    /// fixed-size kernels: cold, warm and paired) and at 5 × 5 and 3 × 3 (the run-time vector
    /// and scalar paths): finite values, the largest exactly 1, the others within 1e-14 of the
    /// bidiagonal SVD's (which also reports them as about 0).
    #[test]
    fn jacobi_survives_reflectors_that_underflow() {
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        let mut scratch = JacobiScratch::default();
        for n in [8, 5, 3] {
            let d: Vec<f64> =
                (0..n).map(|i| if i == 0 { 1.0 } else { 1e-170 / i as f64 }).collect();
            let diagonal = DMatrix::from_diagonal(&DVector::from_vec(d));
            let mut tiny = gaussian_matrix(n, n, 1e-170, &mut rng);
            tiny[(0, 0)] = 1.0;
            for (a, exact) in [(&diagonal, true), (&tiny, false)] {
                let want = singular_values(a, "a").unwrap();
                let mut got = Vec::new();
                singular_values_jacobi(a.as_view(), "a", &mut scratch, &mut got).unwrap();
                let mut warm = vec![Vec::new(); 3];
                let mut start = WarmStart::default();
                for values in &mut warm[..2] {
                    singular_values_warm(a.as_view(), "a", &mut scratch, &mut start, values)
                        .unwrap();
                }
                let (mut first, mut second) = (Vec::new(), Vec::new());
                let [r0, r1] = singular_values_jacobi_pair(
                    [a.as_view(), a.as_view()],
                    "a",
                    &mut scratch,
                    [&mut first, &mut second],
                );
                r0.unwrap();
                r1.unwrap();
                for values in [&got, &warm[0], &warm[1], &first, &second] {
                    assert_eq!(values.len(), n);
                    assert_eq!(values[0], 1.0, "{n} {exact}: {values:?}");
                    for (g, w) in values.iter().zip(want.iter()) {
                        assert!(g.is_finite() && (g - w).abs() <= 1e-14, "{n} {exact}: {g} vs {w}");
                    }
                }
            }
        }
    }

    /// Non-finite input is an error, never a hang or a panic.
    #[test]
    fn jacobi_refuses_non_finite_input() {
        for bad in [f64::NAN, f64::INFINITY] {
            let mut a = DMatrix::from_element(3, 3, 1.0);
            a[(1, 2)] = bad;
            assert!(matches!(jacobi(&a), Err(SolverError::Overflow(_))));
        }
        let huge = DMatrix::from_element(4, 4, f64::MAX);
        assert!(matches!(jacobi(&huge), Err(SolverError::Overflow(_))));
    }

    #[test]
    fn full_svd_bases_are_orthonormal_and_reconstruct() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (n_out, n_in) in [(3, 5), (5, 3), (4, 4), (1, 6), (6, 1)] {
            let a = gaussian_matrix(n_out, n_in, 1.0, &mut rng);
            let svd = FullSvd::new(&a, "a").unwrap();
            let (u, v) = (svd.u_full(), svd.v_full());
            assert!((u.transpose() * &u - DMatrix::identity(n_out, n_out)).amax() < 1e-13);
            assert!((v.transpose() * &v - DMatrix::identity(n_in, n_in)).amax() < 1e-13);
            let back = &svd.u_m * DMatrix::from_diagonal(&svd.s) * svd.v_m.transpose();
            assert!((back - &a).amax() < 1e-13);
            assert!(svd.s.as_slice().windows(2).all(|w| w[0] >= w[1]), "descending");
        }
    }

    /// The inputs that made nalgebra loop forever (an infinite entry: the Gaussian product of a
    /// scale-1e300 init) or panic ("Singular value was NaN") are typed errors.
    #[test]
    fn non_finite_input_is_an_overflow_error_not_a_hang() {
        for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            for (rows, cols) in [(4, 4), (2, 8), (8, 2), (3, 3), (2, 2)] {
                let mut a = gaussian_matrix(rows, cols, 1.0, &mut ChaCha8Rng::seed_from_u64(1));
                a[(rows - 1, 0)] = bad;
                let is_overflow = |err: SolverError| matches!(err, SolverError::Overflow(_));
                assert!(is_overflow(svd(&a, "a").unwrap_err()), "{bad} {rows}x{cols}");
                assert!(is_overflow(singular_values(&a, "a").unwrap_err()));
                assert!(is_overflow(FullSvd::new(&a, "a").unwrap_err()));
                assert!(is_overflow(spectral_norm(&a).unwrap_err()));
                if rows == cols {
                    let sym = &a + a.transpose();
                    assert!(is_overflow(symmetric_eigen(&sym, "a").unwrap_err()));
                }
            }
        }
        // Huge but finite entries converge; singular values beyond f64 are an overflow.
        let huge = DMatrix::from_row_slice(2, 3, &[1e300, -3e299, 2e299, 5e299, 1e300, -1e300]);
        assert!(singular_values(&huge, "a").unwrap().iter().all(|s| s.is_finite()));
        let too_huge = DMatrix::from_element(3, 3, f64::MAX);
        let err = singular_values(&too_huge, "the product").unwrap_err();
        assert_eq!(err.to_string(), "overflow: the singular values of the product overflow");
    }

    #[test]
    fn an_iteration_cap_that_is_too_small_is_a_no_convergence_error() {
        let a = gaussian_matrix(8, 6, 1.0, &mut ChaCha8Rng::seed_from_u64(4));
        let err = svd_capped(&a, "a test matrix", 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the SVD of a test matrix of a 8x6 matrix did not converge within 1 iterations"
        );
        assert_eq!(err.status(), Some(crate::Status::Inaccurate));
        // The real cap leaves room: the same matrix, and a larger one, converge, and bounded
        // results equal nalgebra's unbounded ones bit for bit.
        for (rows, cols, seed) in [(8, 6, 4), (60, 45, 5)] {
            let a = gaussian_matrix(rows, cols, 1.0, &mut ChaCha8Rng::seed_from_u64(seed));
            let bounded = svd(&a, "a").unwrap();
            let unbounded = a.clone().svd(true, true);
            assert_eq!(bounded.singular_values, unbounded.singular_values);
            assert_eq!(bounded.u, unbounded.u);
            let sym = &a.transpose() * &a;
            let eigen = symmetric_eigen(&sym, "a").unwrap();
            assert_eq!(eigen.eigenvalues, sym.clone().symmetric_eigen().eigenvalues);
        }
    }

    /// [`product`] is bitwise nalgebra's product: every shape on both sides of nalgebra's
    /// `matrixmultiply` threshold (5) and of one `k` block (256), entries of mixed scales with
    /// exact zeros, and chains that end in `−0` (products below the smallest subnormal), where
    /// the kernels differ in the sign of the zero.
    #[test]
    fn product_is_bitwise_nalgebras_product() {
        let mut rng = ChaCha8Rng::seed_from_u64(29);
        let bits = |x: &DMatrix<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let dims = [1, 4, 5, 6, 7, 8, 9, 12, 16, 17, 64];
        let mut checked = 0;
        for &m in &dims {
            for &k in dims.iter().chain(&[255, 256, 257]) {
                for &n in &dims {
                    let mut a = gaussian_matrix(m, k, 1.0, &mut rng);
                    let b = gaussian_matrix(k, n, 3.0, &mut rng);
                    // Mixed scales, and exact zeros in a row and a column.
                    a.row_mut(0).scale_mut(1e-3);
                    a.column_mut(k - 1).fill(0.0);
                    assert_eq!(bits(&product(&a, &b)), bits(&(&a * &b)), "{m} x {k} x {n}");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 11 * 14 * 11);
        // Chains of negative products too small for f64: fused, each is −0.
        let tiny = DMatrix::from_element(8, 8, 1e-200);
        let neg = DMatrix::from_element(8, 8, -1e-200);
        assert_eq!(bits(&product(&tiny, &neg)), bits(&(&tiny * &neg)));
        let mixed = DMatrix::from_fn(8, 8, |i, j| if (i + j) % 3 == 0 { -1e-200 } else { 1e-160 });
        assert_eq!(bits(&product(&mixed, &tiny)), bits(&(&mixed * &tiny)));
    }

    /// [`gram_of_columns`] is bitwise nalgebra's `tr_mul` of a matrix with itself: row counts
    /// below, at and above multiples of eight, mixed scales, exact zeros, and tiny products.
    #[test]
    fn gram_of_columns_is_bitwise_nalgebras_tr_mul() {
        let mut rng = ChaCha8Rng::seed_from_u64(31);
        let bits = |x: &DMatrix<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let mut checked = 0;
        for rows in [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 40] {
            for cols in [1, 2, 5, 8, 13] {
                let mut a = gaussian_matrix(rows, cols, 1.0, &mut rng);
                a.row_mut(0).scale_mut(1e-3);
                a.column_mut(cols - 1).fill(0.0);
                assert_eq!(bits(&gram_of_columns(&a)), bits(&a.tr_mul(&a)), "{rows} x {cols}");
                checked += 1;
            }
        }
        assert_eq!(checked, 60);
        let mixed = DMatrix::from_fn(9, 6, |i, j| if (i + j) % 3 == 0 { -1e-200 } else { 1e-160 });
        assert_eq!(bits(&gram_of_columns(&mixed)), bits(&mixed.tr_mul(&mixed)));
        let empty = DMatrix::<f64>::zeros(0, 3);
        assert_eq!(bits(&gram_of_columns(&empty)), bits(&empty.tr_mul(&empty)));
    }

    /// [`block_difference_norm`] is bitwise nalgebra's norm of the difference of the copied
    /// block: blocks of fewer and more than eight rows, at the corner and inside, and with a NaN.
    #[test]
    fn block_difference_norm_is_bitwise_nalgebras() {
        let mut rng = ChaCha8Rng::seed_from_u64(41);
        for (n, start, shape) in [
            (16, (0, 0), (8, 8)),
            (16, (8, 8), (8, 8)),
            (9, (2, 3), (7, 5)),
            (30, (4, 1), (17, 20)),
        ] {
            let mut a = gaussian_matrix(n, n, 1.0, &mut rng);
            let b = gaussian_matrix(shape.0, shape.1, 1.0, &mut rng);
            let expected = |a: &DMatrix<f64>| (a.view(start, shape).clone_owned() - &b).norm();
            assert_eq!(block_difference_norm(&a, start, &b).to_bits(), expected(&a).to_bits());
            a[(start.0 + 1, start.1)] = f64::NAN;
            assert!(block_difference_norm(&a, start, &b).is_nan() && expected(&a).is_nan());
        }
    }

    #[test]
    fn random_orthogonal_is_orthogonal() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let q = random_orthogonal(6, &mut rng);
        assert!((q.transpose() * &q - DMatrix::identity(6, 6)).amax() < 1e-14);
    }
}
