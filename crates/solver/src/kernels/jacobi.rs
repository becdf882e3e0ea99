//! One-sided Jacobi on eight columns of length eight, four disjoint rotations at a time: the
//! per-time singular values of an 8 × 8 network function (docs/math.md §4.3).

use super::lanes::{Kernel, Lanes, NR};
use super::qr8::{Prepared8, scale_into_rows};

/// The 28 pairs of eight columns form 7 rounds of 4 disjoint pairs (the circle method).
const ROUNDS: usize = 7;

/// The rotation `(cos θ, sin θ)` of a round's four pairs, `None` for a round without one.
type Rotation<L> = Option<(<L as Lanes>::V, <L as Lanes>::V)>;

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
        sweeps(
            l,
            &mut x,
            &mut y,
            tol,
            max_sweeps,
            |_, _, _| {},
            |b, x, y| {
                for k in 0..8 {
                    l.store_slice(&mut rows[b][8 * k..8 * k + NR], x[k]);
                    l.store_slice(&mut rows[b][8 * k + NR..8 * (k + 1)], y[k]);
                }
            },
        )
    }
}

/// [`Jacobi8`] from a warm start: the sweeps run on the columns of `X = A V` (`V` the right
/// singular vectors that the previous time of a series left, orthogonal to rounding), and the
/// rotations of the first sweep, which are the large ones, are applied to `V` after the sweeps,
/// so that `V` becomes the next time's warm start (docs/math.md §4.3, "Warm starts"). Close to
/// converged from the start, the sweeps are about half those of the QR-preconditioned cold
/// start, and there is no QR.
///
/// `matrices[b]` is `A`, column-major; it is scaled by a power of two as [`super::Prepare8`]
/// scales it (`crate::kernels::qr8`'s `scale_into_rows`). `vectors[b]` is `V` in the layout of
/// [`Jacobi8`]'s rows (`V[j, ·]` is row `j`, its entries in seats). `X` is formed as
/// `Σ_j A[k, j] V[j, ·]` for each row `k` (`j` in order, the first a product, then FMAs).
///
/// Returns, for each matrix, what the scaling found and whether the sweeps converged. Only when
/// every matrix is [`Prepared8::Seated`] are they swept; a converged matrix then has the final
/// columns of `X` in `out[b]` (in seats) and the rotated `V` in `vectors[b]`; otherwise
/// `vectors[b]` is unchanged and `out[b]` unspecified. With `B > 1` the matrices interleave as
/// in [`Jacobi8`], bitwise each alone.
pub(crate) struct WarmJacobi8<'a, const B: usize = 1> {
    /// `A` of each matrix, column-major.
    pub(crate) matrices: [&'a [f64; 64]; B],
    /// `V` of each matrix, in seats; rotated in place on convergence.
    pub(crate) vectors: [&'a mut [f64; 64]; B],
    /// The final columns of each matrix, in seats.
    pub(crate) out: [&'a mut [f64; 64]; B],
    /// The relative orthogonality tolerance.
    pub(crate) tol: f64,
    /// The sweep cap.
    pub(crate) max_sweeps: usize,
}

impl<const B: usize> Kernel for WarmJacobi8<'_, B> {
    type Output = [(Prepared8, bool); B];

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> [(Prepared8, bool); B] {
        let WarmJacobi8 { matrices, vectors, out, tol, max_sweeps } = self;
        // Plain loops around the lane operations: a closure that the compiler does not inline
        // (as `std::array::from_fn`'s around the scaling was not) is compiled without the
        // dispatched instruction set, and its intrinsics become calls (2× slower here).
        let mut a = [[0.0; 64]; B];
        let mut found = [(Prepared8::Zero, false); B];
        for b in 0..B {
            found[b].0 = scale_into_rows(l, matrices[b], &mut a[b]);
        }
        if found.iter().any(|(p, _)| !matches!(p, Prepared8::Seated { .. })) {
            return found;
        }
        let zero = l.splat(0.0);
        let (mut x, mut y) = ([[zero; 8]; B], [[zero; 8]; B]);
        for b in 0..B {
            let mut v = [(zero, zero); 8];
            for (j, v) in v.iter_mut().enumerate() {
                let row = &vectors[b][8 * j..8 * (j + 1)];
                *v = (l.load_slice(&row[..NR]), l.load_slice(&row[NR..]));
            }
            for k in 0..8 {
                let s = l.splat(a[b][8 * k]);
                let (mut xk, mut yk) = (l.mul(s, v[0].0), l.mul(s, v[0].1));
                for j in 1..8 {
                    let s = l.splat(a[b][8 * k + j]);
                    xk = l.mul_add(s, v[j].0, xk);
                    yk = l.mul_add(s, v[j].1, yk);
                }
                (x[b][k], y[b][k]) = (xk, yk);
            }
        }
        // The first sweep's rotations (`None`: a round without one), applied to `V` after the
        // sweeps: it makes the large rotations. Later sweeps are close to identities; leaving
        // them out keeps `V` orthogonal (a product of rotations) and as good a warm start to
        // first order, and keeps `V` out of the sweeps' registers and dependency chains.
        let mut first: [[Rotation<L>; ROUNDS]; B] = [[None; ROUNDS]; B];
        let converged = sweeps(
            l,
            &mut x,
            &mut y,
            tol,
            max_sweeps,
            |b, round, rotation| first[b][round] = rotation,
            |b, x, y| {
                for k in 0..8 {
                    l.store_slice(&mut out[b][8 * k..8 * k + NR], x[k]);
                    l.store_slice(&mut out[b][8 * k + NR..8 * (k + 1)], y[k]);
                }
            },
        );
        for b in 0..B {
            if !converged[b] {
                continue;
            }
            let mut v = [(zero, zero); 8];
            for (j, v) in v.iter_mut().enumerate() {
                let row = &vectors[b][8 * j..8 * (j + 1)];
                *v = (l.load_slice(&row[..NR]), l.load_slice(&row[NR..]));
            }
            for rotation in &first[b] {
                for (vx, vy) in &mut v {
                    let (new_x, new_y) = match *rotation {
                        Some((cs, sn)) => (
                            l.neg_mul_add(sn, *vy, l.mul(cs, *vx)),
                            l.mul_add(sn, *vx, l.mul(cs, *vy)),
                        ),
                        None => (*vx, *vy),
                    };
                    (*vx, *vy) = l.circle_shift(new_x, new_y);
                }
            }
            for (j, (vx, vy)) in v.into_iter().enumerate() {
                l.store_slice(&mut vectors[b][8 * j..8 * j + NR], vx);
                l.store_slice(&mut vectors[b][8 * j + NR..8 * (j + 1)], vy);
            }
        }
        for b in 0..B {
            found[b].1 = converged[b];
        }
        found
    }
}

/// The largest `|c / d|` of [`small_rotation`]: `2⁻⁸`.
pub(super) const SMALL_ANGLE: f64 = 1.0 / 256.0;

/// Whether every lane's rotation is small: `|c| < 2⁻⁸ |d|` ([`SMALL_ANGLE`]; false for a NaN).
#[inline(always)]
fn all_small_angles<L: Lanes>(l: L, c: L::V, d: L::V) -> bool {
    let small =
        l.select_gt(l.mul(l.splat(SMALL_ANGLE), l.abs(d)), l.abs(c), l.splat(1.0), l.splat(0.0));
    let mut flags = [0.0; NR];
    l.store(&mut flags, small);
    flags == [1.0; NR]
}

/// The rotation that diagonalizes the Gram block `[[a, c], [c, a + d]]` of a pair when
/// `|c / d| < 2⁻⁸` ([`all_small_angles`]), from `r = c / d` alone: `θ = atan(2r) / 2`, so
/// `cos θ = 1 − r²/2 + 11r⁴/8 − 69r⁶/16 + O(r⁸)` and
/// `sin θ = r (1 − 3r²/2 + 31r⁴/8 − 187r⁶/16 + O(r⁸))` (docs/math.md §4.3, "Small rotations").
/// The terms left out are below `15 r⁸ < 2⁻⁶⁰` and `38 r⁸ < 2⁻⁵⁸` relative: far under a unit
/// in the last place. One division and six FMAs instead of two roots and two divisions: the
/// later sweeps' rotations, which are small, no longer wait for the divider.
#[inline(always)]
pub(super) fn small_rotation<L: Lanes>(l: L, c: L::V, d: L::V) -> (L::V, L::V) {
    let k = |x: f64| l.splat(x);
    let r = l.div(c, d);
    let r2 = l.mul(r, r);
    let cs = l.mul_add(
        r2,
        l.mul_add(r2, l.mul_add(r2, k(-69.0 / 16.0), k(11.0 / 8.0)), k(-0.5)),
        k(1.0),
    );
    let p = l.mul_add(
        r2,
        l.mul_add(r2, l.mul_add(r2, k(-187.0 / 16.0), k(31.0 / 8.0)), k(-1.5)),
        k(1.0),
    );
    (cs, l.mul(r, p))
}

/// The sweeps of [`Jacobi8`] on the rows of `B` matrices held as two halves (`x`: seats 0–3,
/// `y`: seats 7–4). `first_sweep(b, round, rotation)` hears the rotation `(cos θ, sin θ)` of
/// each round of matrix `b`'s first sweep (`None` where no pair needed one); `done(b, x, y)`
/// receives matrix `b`'s rows after its first sweep without rotations. Returns which matrices
/// got there within `max_sweeps`.
#[inline(always)]
fn sweeps<L: Lanes, const B: usize>(
    l: L,
    x: &mut [[L::V; 8]; B],
    y: &mut [[L::V; 8]; B],
    tol: f64,
    max_sweeps: usize,
    mut first_sweep: impl FnMut(usize, usize, Rotation<L>),
    mut done: impl FnMut(usize, &[L::V; 8], &[L::V; 8]),
) -> [bool; B] {
    let (zero, one) = (l.splat(0.0), l.splat(1.0));
    let tol_sq = l.splat(tol * tol);
    // `active[b]`: matrix b has not yet had a sweep without rotations.
    let (mut active, mut converged) = ([true; B], [false; B]);
    for sweep in 0..max_sweeps {
        if active == [false; B] {
            break;
        }
        let mut rotated = [false; B];
        for round in 0..ROUNDS {
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
                    if sweep == 0 {
                        first_sweep(b, round, None);
                    }
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
                // exactly). When every lane's rotation is small (most of the later sweeps),
                // its series in c/d replaces the roots ([`small_rotation`]; c, d = 0, 1 give
                // exactly the identity there too).
                let c = l.select_gt(need, zero, c, zero);
                let d = l.select_gt(need, zero, l.sub(bb, aa), one);
                let (cs, sn) = if all_small_angles(l, c, d) {
                    small_rotation(l, c, d)
                } else {
                    let two_c = l.add(c, c);
                    let w = l.sqrt(l.mul_add(two_c, two_c, l.mul(d, d)));
                    let size = l.abs(d);
                    let s = l.add(size, w);
                    let cs = l.sqrt(l.div(s, l.add(w, w)));
                    let t = l.div(l.select_gt(zero, d, l.sub(zero, two_c), two_c), s);
                    (cs, l.mul(cs, t))
                };
                if sweep == 0 {
                    first_sweep(b, round, Some((cs, sn)));
                }
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
                done(b, &x[b], &y[b]);
                (active[b], converged[b]) = (false, true);
            }
        }
    }
    converged
}
