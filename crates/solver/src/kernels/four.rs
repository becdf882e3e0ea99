//! One-sided Jacobi on four 8 × 8 matrices at once, one matrix per lane: the per-time singular
//! values of a series, four times at once (docs/math.md §4.3, "Four matrices in lanes").

use super::jacobi::{SMALL_ANGLE, small_rotation};
use super::lanes::{Kernel, Lanes, NR};

/// The 28 pairs of eight columns as 7 rounds of 4 disjoint pairs (the circle method: column 0
/// stays, the others move one place per round).
const ROUNDS: [[(usize, usize); 4]; 7] = [
    [(0, 7), (1, 6), (2, 5), (3, 4)],
    [(0, 6), (7, 5), (1, 4), (2, 3)],
    [(0, 5), (6, 4), (7, 3), (1, 2)],
    [(0, 4), (5, 3), (6, 2), (7, 1)],
    [(0, 3), (4, 2), (5, 1), (6, 7)],
    [(0, 2), (3, 1), (4, 7), (5, 6)],
    [(0, 1), (2, 7), (3, 6), (4, 5)],
];

/// A sorting network for eight values (19 compare–exchanges, Knuth's).
const SORT8: [(usize, usize); 19] = [
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (2, 4),
    (3, 5),
    (1, 4),
    (3, 6),
    (1, 2),
    (3, 4),
    (5, 6),
];

/// What [`WarmJacobi8x4`] did with one lane's matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane8 {
    /// A non-finite entry: not swept.
    NonFinite,
    /// All zero: not swept.
    Zero,
    /// Swept to convergence: the values are in `values`, the final columns in `out`.
    Converged {
        /// Whether a squared column norm is below 1e-290 but not 0, so that its root in
        /// `values` may not be relatively accurate (the caller recomputes it from `out`).
        tiny: bool,
    },
    /// Not converged within the sweep cap: `values`, `out` unspecified.
    NotConverged,
}

/// The warm-started sweeps of four independent 8 × 8 matrices, matrix `l` in lane `l` of every
/// vector (docs/math.md §4.3, "Four matrices in lanes").
///
/// Matrix `l` is `A` (column-major, `matrices[l]`), scaled by a power of two ([`scaling`]);
/// the sweeps run on the columns of `X = A V`, `V` the warm start that the four share
/// (`vectors`, column-major), in the order of [`ROUNDS`]. The
/// test and rotation of a pair are those of [`super::Jacobi8`]: rotated unless
/// `|cᵢ·cⱼ| ≤ tol ‖cᵢ‖‖cⱼ‖`, the rotation from the series in `c/d` where `|c| < 2⁻⁸|d|`
/// and from the roots otherwise, chosen lane by lane; a pair that needs no rotation is left
/// exactly unchanged. So a lane's arithmetic does not depend on the other lanes: each matrix
/// gets bitwise the values it would get alone (the other lanes zero, the same start), and a
/// lane that has converged (a sweep without a rotation) is not changed by the sweeps the others
/// still need.
///
/// Where one lane's chain of roots and divisions would leave the core idle (one matrix's
/// rounds depend on each other), the four lanes and the four pairs of a round are independent
/// work: the sweeps run at the core's throughput rather than its latency.
///
/// On return, for each lane, [`Lane8`]; a converged lane has its values (the column norms of
/// `X`, scaled back by `up`, descending) in `values` and the final columns of `X` (scaled) in
/// `out` (as `keep_columns` says); other lanes' `values`, `out` are unspecified. `V` is
/// multiplied by the first sweep's rotations (the large ones; docs/math.md §4.3, "Warm
/// starts") of the last lane that converged, the next step's start; it is unchanged when none
/// did. Since only one lane's rotations are kept, `V` is updated as one matrix, not four.
pub(crate) struct WarmJacobi8x4<'a> {
    /// `A` of each lane, column-major.
    pub(crate) matrices: [&'a [f64; 64]; NR],
    /// `V`, column-major: `vectors[8j + k]` is `V[k, j]`.
    pub(crate) vectors: &'a mut [f64; 64],
    /// The final columns of the four lanes, interleaved: `out[4(8j + k) + l]` is `X[k, j]` of
    /// lane `l`.
    pub(crate) out: &'a mut [f64; 256],
    /// Whether to write `out` for every converged lane; otherwise only when some lane is
    /// `tiny` (its values then come from the columns).
    pub(crate) keep_columns: bool,
    /// The values of each lane, in descending order: `values[4k + l]` is the `k`-th of lane
    /// `l`.
    pub(crate) values: &'a mut [f64; 32],
    /// The inverse scaling of each lane (`2^e`; 1 for a lane not swept).
    pub(crate) up: &'a mut [f64; NR],
    /// The relative orthogonality tolerance.
    pub(crate) tol: f64,
    /// The sweep cap.
    pub(crate) max_sweeps: usize,
}

/// `(2^−e, 2^e)` for the exponent `e` of `largest` (finite, positive): the scaled entries are
/// below 2 in magnitude, the largest at least 1. From the exponent bits for a normal `largest`
/// (exact); as the cold preparation (`2^−⌊log₂ largest⌋`) for a subnormal one.
fn scaling(largest: f64) -> (f64, f64) {
    let biased = (largest.to_bits() >> 52) & 0x7ff;
    if biased == 0 {
        let exponent = largest.log2().floor() as i32;
        return (2f64.powi(-exponent), 2f64.powi(exponent));
    }
    // `2^e` for e in [−1022, 1023] from its bits, and `2^−e` as its exact reciprocal (a
    // power of two down to 2^−1023, subnormal but exact).
    let up = f64::from_bits(biased << 52);
    (1.0 / up, up)
}

/// A cache-line aligned array of vectors: the vector type of [`Lanes`] is only as aligned as
/// an `f64`, and the sweeps' columns live in memory (64 vectors), so without this about half
/// of their loads and stores would straddle two cache lines, depending on where the stack
/// happens to start (measured: 1.15× slower, varying from run to run).
#[repr(C, align(64))]
struct Aligned<T>(T);

impl Kernel for WarmJacobi8x4<'_> {
    type Output = [Lane8; NR];

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> [Lane8; NR] {
        let WarmJacobi8x4 { matrices, vectors, out, keep_columns, values, up, tol, max_sweeps } =
            self;
        let (zero, one) = (l.splat(0.0), l.splat(1.0));
        // Entry `e` (column-major) of the four matrices as one vector: 4 × 4 transposes.
        let mut a = Aligned([zero; 64]);
        let a = &mut a.0;
        for e in (0..64).step_by(NR) {
            // Plain arrays, not closures: a closure the compiler does not inline is compiled
            // without the dispatched instruction set (see `WarmJacobi8`).
            let tile = l.transpose([
                l.load_slice(&matrices[0][e..e + NR]),
                l.load_slice(&matrices[1][e..e + NR]),
                l.load_slice(&matrices[2][e..e + NR]),
                l.load_slice(&matrices[3][e..e + NR]),
            ]);
            a[e..e + NR].copy_from_slice(&tile);
        }
        // x·0 is ±0 for a finite x and NaN otherwise; the largest |x| is exact in any order.
        // Four of each, for four short chains instead of one long one.
        let (mut probe, mut largest) = ([zero; 4], [zero; 4]);
        for (e, &x) in a.iter().enumerate() {
            let h = e % 4;
            probe[h] = l.add(probe[h], l.mul(x, zero));
            let m = l.abs(x);
            largest[h] = l.select_gt(m, largest[h], m, largest[h]);
        }
        let probe = l.add(l.add(probe[0], probe[1]), l.add(probe[2], probe[3]));
        let most = |x: L::V, y: L::V| l.select_gt(x, y, x, y);
        let largest = most(most(largest[0], largest[1]), most(largest[2], largest[3]));
        let (mut probes, mut maxima) = ([0.0; NR], [0.0; NR]);
        l.store(&mut probes, probe);
        l.store(&mut maxima, largest);
        let mut found = [Lane8::NotConverged; NR];
        let (mut down, mut seated) = ([0.0; NR], [0.0; NR]);
        *up = [1.0; NR];
        for q in 0..NR {
            if probes[q] != 0.0 {
                found[q] = Lane8::NonFinite;
            } else if maxima[q] == 0.0 {
                found[q] = Lane8::Zero;
            } else {
                (down[q], up[q]) = scaling(maxima[q]);
                seated[q] = 1.0;
            }
        }
        if seated == [0.0; NR] {
            return found;
        }
        let (down, seated_v) = (l.load(&down), l.load(&seated));
        // A lane that is not swept is multiplied by 0: zeros, or NaN where an entry is not
        // finite. Either way its tests fail, so it is never rotated, and nothing of it is kept.
        for x in a.iter_mut() {
            *x = l.mul(*x, down);
        }
        // X = A V: column j of X is Σ_k A[·, k] V[k, j] (k in order, the first a product).
        let mut x = Aligned([[zero; 8]; 8]);
        let x = &mut x.0;
        for (j, column) in x.iter_mut().enumerate() {
            for (i, entry) in column.iter_mut().enumerate() {
                let mut s = l.mul(a[i], l.splat(vectors[8 * j]));
                for k in 1..8 {
                    s = l.mul_add(a[8 * k + i], l.splat(vectors[8 * j + k]), s);
                }
                *entry = s;
            }
        }
        let tol_sq = l.splat(tol * tol);
        let small = l.splat(SMALL_ANGLE);
        // The first sweep's rotations, applied to `V` at the end (identities where none).
        let mut first = Aligned([[(one, zero); 4]; 7]);
        let first = &mut first.0;
        // Lanes that have had a sweep without a rotation (1), or not yet (0); unswept lanes
        // count as converged so that they never hold the others up.
        let mut converged = l.select_gt(seated_v, zero, zero, one);
        for sweep in 0..max_sweeps {
            // Lanes rotated in this sweep (1).
            let mut moved = zero;
            for (round, pairs) in ROUNDS.iter().enumerate() {
                // The pairs' Gram entries, two accumulators each.
                let (mut cs, mut ds) = ([zero; 4], [zero; 4]);
                let mut any = false;
                for (p, &(i, j)) in pairs.iter().enumerate() {
                    let (xi, xj) = (&x[i], &x[j]);
                    let mut acc = [[l.mul(xi[0], xi[0]), l.mul(xi[1], xi[1])]; 3];
                    acc[1] = [l.mul(xj[0], xj[0]), l.mul(xj[1], xj[1])];
                    acc[2] = [l.mul(xi[0], xj[0]), l.mul(xi[1], xj[1])];
                    for r in 2..8 {
                        let h = r % 2;
                        acc[0][h] = l.mul_add(xi[r], xi[r], acc[0][h]);
                        acc[1][h] = l.mul_add(xj[r], xj[r], acc[1][h]);
                        acc[2][h] = l.mul_add(xi[r], xj[r], acc[2][h]);
                    }
                    let (aa, bb) = (l.add(acc[0][0], acc[0][1]), l.add(acc[1][0], acc[1][1]));
                    let c = l.add(acc[2][0], acc[2][1]);
                    // A rotation where |c| > tol √(aa bb) (without square roots; NaN compares
                    // false); elsewhere c, d = 0, 1: exactly the identity below.
                    let (square, bound) = (l.mul(c, c), l.mul(tol_sq, l.mul(aa, bb)));
                    any |= l.any_gt(square, bound);
                    moved = l.select_gt(square, bound, one, moved);
                    cs[p] = l.select_gt(square, bound, c, zero);
                    ds[p] = l.select_gt(square, bound, l.sub(bb, aa), one);
                }
                if !any {
                    continue;
                }
                // Each lane's rotation from the series where |c| < 2⁻⁸|d| (one division), from
                // the roots elsewhere; the roots only when some lane of the round needs them.
                let mut rotations = [(one, zero); 4];
                let mut any_large = false;
                for p in 0..4 {
                    rotations[p] = small_rotation(l, cs[p], ds[p]);
                    // Not |c| < 2⁻⁸ |d| (the test of `Jacobi8`).
                    any_large |= l.any_gt(l.abs(cs[p]), l.mul(small, l.abs(ds[p])));
                }
                if any_large {
                    for p in 0..4 {
                        let (c, d) = (cs[p], ds[p]);
                        let two_c = l.add(c, c);
                        let w = l.sqrt(l.mul_add(two_c, two_c, l.mul(d, d)));
                        let s = l.add(l.abs(d), w);
                        let cos = l.sqrt(l.div(s, l.add(w, w)));
                        let t = l.div(l.select_gt(zero, d, l.sub(zero, two_c), two_c), s);
                        let sin = l.mul(cos, t);
                        // The series where |c| < 2⁻⁸ |d|, as `Jacobi8` would take it.
                        let (small_cos, small_sin) = rotations[p];
                        let series = l.mul(small, l.abs(d));
                        rotations[p] = (
                            l.select_gt(series, l.abs(c), small_cos, cos),
                            l.select_gt(series, l.abs(c), small_sin, sin),
                        );
                    }
                }
                if sweep == 0 {
                    first[round] = rotations;
                }
                for (p, &(i, j)) in pairs.iter().enumerate() {
                    let (cos, sin) = rotations[p];
                    // Two columns of one array, row by row (as `V`'s rotation below).
                    #[allow(clippy::needless_range_loop)]
                    for r in 0..8 {
                        let (xi, xj) = (x[i][r], x[j][r]);
                        x[i][r] = l.neg_mul_add(sin, xj, l.mul(cos, xi));
                        x[j][r] = l.mul_add(sin, xi, l.mul(cos, xj));
                    }
                }
            }
            // A lane without a rotation in this sweep has converged; it stays as it is
            // (every later test of it passes again, and its rotations are identities).
            converged = l.select_gt(moved, zero, converged, one);
            if !l.any_gt(one, converged) {
                break;
            }
        }
        let mut done = [0.0; NR];
        l.store(&mut done, l.mul(converged, seated_v));
        // `V` times the first sweep's rotations of the last lane that converged, column by
        // column as two vectors (the same operations, entry by entry, as for that lane alone).
        if let Some(source) = (0..NR).rev().find(|&q| done[q] == 1.0) {
            let mut columns: [(L::V, L::V); 8] = [(zero, zero); 8];
            for (j, column) in columns.iter_mut().enumerate() {
                let at = 8 * j;
                *column =
                    (l.load_slice(&vectors[at..at + NR]), l.load_slice(&vectors[at + NR..at + 8]));
            }
            let lane = |v: L::V| {
                let mut lanes = [0.0; NR];
                l.store(&mut lanes, v);
                l.splat(lanes[source])
            };
            for (round, pairs) in ROUNDS.iter().enumerate() {
                for (p, &(i, j)) in pairs.iter().enumerate() {
                    let (cos, sin) = (lane(first[round][p].0), lane(first[round][p].1));
                    let ((i0, i1), (j0, j1)) = (columns[i], columns[j]);
                    columns[i] = (
                        l.neg_mul_add(sin, j0, l.mul(cos, i0)),
                        l.neg_mul_add(sin, j1, l.mul(cos, i1)),
                    );
                    columns[j] =
                        (l.mul_add(sin, i0, l.mul(cos, j0)), l.mul_add(sin, i1, l.mul(cos, j1)));
                }
            }
            for (j, (low, high)) in columns.into_iter().enumerate() {
                let at = 8 * j;
                l.store_slice(&mut vectors[at..at + NR], low);
                l.store_slice(&mut vectors[at + NR..at + 8], high);
            }
        }
        // The final columns as they are; their norms (squares summed in row order, the root,
        // scaled back) sorted in descending order by a network of 19 compare–exchanges, the
        // four lanes at once. A square below 1e-290 (whose root is no longer relatively
        // accurate) marks its lane `tiny`.
        let up = l.load(up);
        let (floor, mut tiny) = (l.splat(1e-290), zero);
        let mut norms = [zero; 8];
        for (j, column) in x.iter().enumerate() {
            let mut sum = l.mul(column[0], column[0]);
            for &e in &column[1..] {
                sum = l.mul_add(e, e, sum);
            }
            // (An exact zero is exact: the zero columns of a padded matrix are not `tiny`.)
            tiny = l.select_gt(floor, sum, l.select_gt(sum, zero, one, tiny), tiny);
            norms[j] = l.mul(l.sqrt(sum), up);
        }
        // The columns themselves only where asked or where a lane needs them.
        if keep_columns || l.any_gt(tiny, zero) {
            for (j, column) in x.iter().enumerate() {
                for (k, &e) in column.iter().enumerate() {
                    l.store_slice(&mut out[4 * (8 * j + k)..4 * (8 * j + k) + NR], e);
                }
            }
        }
        for (i, j) in SORT8 {
            let (a, b) = (norms[i], norms[j]);
            (norms[i], norms[j]) = (l.select_gt(b, a, b, a), l.select_gt(b, a, a, b));
        }
        for (k, norm) in norms.into_iter().enumerate() {
            l.store_slice(&mut values[4 * k..4 * k + NR], norm);
        }
        let mut tiny_lanes = [0.0; NR];
        l.store(&mut tiny_lanes, tiny);
        for q in 0..NR {
            if done[q] == 1.0 {
                found[q] = Lane8::Converged { tiny: tiny_lanes[q] == 1.0 };
            }
        }
        found
    }
}
