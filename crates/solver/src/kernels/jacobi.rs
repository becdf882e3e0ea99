//! One-sided Jacobi on eight columns of length eight, four disjoint rotations at a time: the
//! per-time singular values of an 8 × 8 network function (docs/math.md §4.3).

use super::lanes::{Kernel, Lanes, NR};

/// The 28 pairs of eight columns form 7 rounds of 4 disjoint pairs (the circle method).
const ROUNDS: usize = 7;

/// One-sided (Hestenes) Jacobi on the eight columns held in `rows`: `rows[8k..8k + 4]` are the
/// entries in row `k` of the columns in seats 0–3, `rows[8k + 4..8k + 8]` those in seats 7, 6,
/// 5, 4 (lane `q` of the two halves is a pair). Each round computes the four pairs' inner
/// products and rotations in the lanes of one vector and rotates whole rows with 4-wide FMAs,
/// then moves the columns one seat on ([`Lanes::circle_shift`]), so that 7 rounds are a sweep
/// that visits every pair once and returns every column to its seat.
///
/// A pair is rotated unless `|cᵢ·cⱼ| ≤ tol ‖cᵢ‖‖cⱼ‖` (the same relative test and rotation as
/// the scalar `jacobi_columns` of `crate::linalg`, with a shorter chain of roots and
/// divisions; a pair that needs no rotation is left exactly unchanged). `run` returns, for each
/// matrix, `true` once a sweep rotates nothing, with the columns written back to `rows[b]` in
/// their seats, and `false` (rows unspecified) after `max_sweeps`.
///
/// With `B > 1` the rounds of the `B` matrices interleave: each round is a chain of about 120
/// cycles of dependent latency (inner products, a root, a division, a root, the rotation) that
/// leaves most of the core idle, and independent chains fill it. Every matrix sees exactly the
/// operations it would alone (a matrix stops at its own first sweep without rotations), so
/// the results are bitwise those of `B = 1`.
pub(crate) struct Jacobi8<'a, const B: usize = 1> {
    /// The columns of `B` independent matrices, each as above; the entries should be at most
    /// about 1 in magnitude (scaled).
    pub(crate) rows: [&'a mut [f64; 64]; B],
    /// The relative orthogonality tolerance.
    pub(crate) tol: f64,
    /// The sweep cap.
    pub(crate) max_sweeps: usize,
}

impl<const B: usize> Kernel for Jacobi8<'_, B> {
    type Output = [bool; B];

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> [bool; B] {
        let Jacobi8 { rows, tol, max_sweeps } = self;
        let mut x: [[L::V; 8]; B] = std::array::from_fn(|b| {
            std::array::from_fn(|k| l.load_slice(&rows[b][8 * k..8 * k + NR]))
        });
        let mut y: [[L::V; 8]; B] = std::array::from_fn(|b| {
            std::array::from_fn(|k| l.load_slice(&rows[b][8 * k + NR..8 * (k + 1)]))
        });
        let (zero, one) = (l.splat(0.0), l.splat(1.0));
        let tol_sq = l.splat(tol * tol);
        // `active[b]`: matrix b has not yet had a sweep without rotations.
        let (mut active, mut converged) = ([true; B], [false; B]);
        for _ in 0..max_sweeps {
            let mut rotated = [false; B];
            for _ in 0..ROUNDS {
                for b in 0..B {
                    if !active[b] {
                        continue;
                    }
                    let (x, y) = (&mut x[b], &mut y[b]);
                    // Four accumulators per inner product: chains of two FMAs and two additions.
                    let (mut aa, mut bb, mut c) = ([zero; 4], [zero; 4], [zero; 4]);
                    for k in 0..8 {
                        let h = k % 4;
                        aa[h] = l.mul_add(x[k], x[k], aa[h]);
                        bb[h] = l.mul_add(y[k], y[k], bb[h]);
                        c[h] = l.mul_add(x[k], y[k], c[h]);
                    }
                    let sum = |v: [L::V; 4]| l.add(l.add(v[0], v[1]), l.add(v[2], v[3]));
                    let (aa, bb, c) = (sum(aa), sum(bb), sum(c));
                    // |c| > tol √(aa bb), without square roots; NaN compares false.
                    let need = l.select_gt(l.mul(c, c), l.mul(tol_sq, l.mul(aa, bb)), one, zero);
                    // A round in which no pair needs a rotation (most of the last sweeps) only
                    // moves the columns: its rotations would be exact identities, and skipping
                    // them lets the next round's inner products start at once.
                    let mut flags = [0.0; NR];
                    l.store(&mut flags, need);
                    if flags == [0.0; NR] {
                        for k in 0..8 {
                            (x[k], y[k]) = l.circle_shift(x[k], y[k]);
                        }
                        continue;
                    }
                    // The rotation that diagonalizes [[aa, c], [c, bb]], from d = bb − aa and
                    // w = √(d² + 4c²) (no cancellation): cos θ = √((|d| + w) / 2w),
                    // tan θ = 2c sign(d) / (|d| + w) (Rutishauser's t; sign(0) = +1). The two
                    // divisions and the second root are independent, so the chain is one root
                    // and one division shorter than t first, then cos θ = 1/√(1 + t²). Where no
                    // rotation is needed, c, d are replaced by 0, 1 (then t = 0, cos θ = 1
                    // exactly).
                    let c = l.select_gt(need, zero, c, zero);
                    let d = l.select_gt(need, zero, l.sub(bb, aa), one);
                    let two_c = l.add(c, c);
                    let w = l.sqrt(l.mul_add(two_c, two_c, l.mul(d, d)));
                    let size = l.abs(d);
                    let s = l.add(size, w);
                    let cs = l.sqrt(l.div(s, l.add(w, w)));
                    let t = l.div(l.select_gt(zero, d, l.sub(zero, two_c), two_c), s);
                    let sn = l.mul(cs, t);
                    for k in 0..8 {
                        let (xk, yk) = (x[k], y[k]);
                        let new_x = l.neg_mul_add(sn, yk, l.mul(cs, xk));
                        let new_y = l.mul_add(sn, xk, l.mul(cs, yk));
                        (x[k], y[k]) = l.circle_shift(new_x, new_y);
                    }
                    rotated[b] = true;
                }
            }
            for b in 0..B {
                if active[b] && !rotated[b] {
                    for k in 0..8 {
                        l.store_slice(&mut rows[b][8 * k..8 * k + NR], x[b][k]);
                        l.store_slice(&mut rows[b][8 * k + NR..8 * (k + 1)], y[b][k]);
                    }
                    (active[b], converged[b]) = (false, true);
                }
            }
            if active == [false; B] {
                break;
            }
        }
        converged
    }
}
