//! One time point of [`ClosedForm`] ([`ClosedForm::qqt`], [`ClosedForm::qqt_into`]): the stable
//! form of docs/math.md §3.4 and, at early times, the direct Fukumizu form, as one [`Kernel`] (SIMD
//! dispatch once per point, no allocation).
//!
//! **Stable form**, with $e_\alpha = e^{-s_\alpha T}$, $f_\alpha = (1-e_\alpha^2)/(2s_\alpha)$,
//! $g_\alpha = e^{-(s_\alpha-\lambda_\perp)T}$ (one exponential per mode):
//! 1. $\tilde N = [ee^\top\odot N_-;\ N_\perp\odot\mathbf 1g^\top]$ and
//!    $B = N_-^\top\operatorname{diag}(\sqrt f)$;
//! 2. the lower triangle of $A = ee^\top\odot(H + BB^\top) + \operatorname{diag}(f) + K_\perp\odot h$,
//!    with $BB^\top = N_-^\top\operatorname{diag}(f)N_-$ by a SYRK;
//! 3. $A = LL^\top$ (blocked Cholesky);
//! 4. $W = (O_+ + [O_-,O_\perp]\tilde N)L^{-\top}$, the product fused into the triangular solve
//!    row block by row block (`Z` is never stored);
//! 5. $QQ^\top = WW^\top$, computing only the tiles that touch the lower triangle and storing
//!    those below it twice.
//!
//! For `Ni = No = m` that is about `(2 + 1 + 2 + 1/2 + 1/6) m³` multiply-adds.
//!
//! **Early form** (`T < early_until`), $QQ^\top = XM^{-1}X^\top$ with $X = Oe^{\Lambda T}P$ and
//! $M = I + P^\top\Gamma(T)P$ (docs/math.md §3.1):
//! 1. $M = I + CC^\top$ with $C = P^\top\sqrt\Gamma$ (SYRK), $M = LL^\top$;
//! 2. $O = \operatorname{blockdiag}(\tilde V,\tilde U)\,R$, where $R$ only mixes the
//!    $\pm s_\alpha$ rows of a mode (by $\hat C/\sqrt2$, $\hat D/\sqrt2$) and commutes with
//!    $L^{-\top}$ (rows against columns): $Y' = (Re^{\Lambda T}P)\,L^{-\top}$;
//! 3. $W = \operatorname{blockdiag}(\tilde V,\tilde U)\,Y'$: two products with the singular
//!    bases of Σyx instead of one with the whole `N × N` basis `O`;
//! 4. $QQ^\top = WW^\top$.
//!
//! Per mode, `e^{±s T}` and `Γ_±(T)` come from one `expm1(sT)`.
//!
//! **Sizes.** The kernel's loops run over the buffer sizes [`Dims`]. For `mp ≤ 8` and
//! `N ≤ 16` (ten `(mp, ld, rows)`) with AVX2, `qqt_into` runs a kernel of its own per size with
//! the sizes as constants ([`Fixed`]); otherwise the kernel of run-time sizes ([`Sizes`]). Same
//! code, same floating-point operations in the same order: bitwise the same `QQᵀ`. The square
//! 8-8-8 network (`m = Ni = No = 8`, the commonest case) with AVX2 runs [`Square8`]: both forms
//! on fixed-size arrays ([`ClosedForm::stable8`], [`ClosedForm::early8`], `kernels::square8`),
//! whose loops the compiler unrolls with every index known; again the same operations in the
//! same order (tested bitwise).

use nalgebra::{DMatrix, DVector};

use super::eigenbasis::growth_integral;
use super::stable::{ClosedForm, Workspace, view};
use crate::error::SolverError;
use crate::kernels::square8::Product8;
use crate::kernels::{self, Factor, Kernel, Lanes, NR, Product, RowMajor, round_up};

/// The buffer sizes the loops of a time point run over: `mp = round_up(m)`, the leading
/// dimensions `lm` and `ld` of [`ClosedForm`], and `rows = round_up(N)`.
///
/// [`Sizes`] holds them at run time (any width); [`Fixed`] makes them constants, for the small
/// widths a sweep meets most. With constants the compiler unrolls the kernels' loops over tiles
/// and drops the bounds checks it can decide; the code is the same, so are its floating-point
/// operations and their order: both give bitwise the same `QQᵀ` (tested).
trait Dims: Copy {
    fn mp(self) -> usize;
    fn lm(self) -> usize;
    fn ld(self) -> usize;
    fn rows(self) -> usize;
}

/// [`Dims`] at run time.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sizes {
    mp: usize,
    lm: usize,
    ld: usize,
    rows: usize,
}

impl Dims for Sizes {
    #[inline(always)]
    fn mp(self) -> usize {
        self.mp
    }
    #[inline(always)]
    fn lm(self) -> usize {
        self.lm
    }
    #[inline(always)]
    fn ld(self) -> usize {
        self.ld
    }
    #[inline(always)]
    fn rows(self) -> usize {
        self.rows
    }
}

/// [`Dims`] as constants, `lm = mp` (so `mp ≤ 8`, see `kernels::leading_dim`).
#[derive(Clone, Copy, Debug)]
struct Fixed<const MP: usize, const LD: usize, const ROWS: usize>;

impl<const MP: usize, const LD: usize, const ROWS: usize> Dims for Fixed<MP, LD, ROWS> {
    #[inline(always)]
    fn mp(self) -> usize {
        MP
    }
    #[inline(always)]
    fn lm(self) -> usize {
        MP
    }
    #[inline(always)]
    fn ld(self) -> usize {
        LD
    }
    #[inline(always)]
    fn rows(self) -> usize {
        ROWS
    }
}

/// `$fixed` with `$d` bound to the [`Fixed`] sizes equal to `$sizes` when there are such
/// (`mp ≤ 8`, `N ≤ 16`: every `(mp, ld, rows)` these widths give), else `$general`.
macro_rules! with_dims {
    ($sizes:expr, $d:ident => $fixed:expr, else $general:expr) => {
        with_dims!(@arms $sizes, $d => $fixed, $general;
            (4, 8, 4), (4, 8, 8), (4, 12, 8), (4, 12, 12), (4, 16, 12), (4, 16, 16),
            (4, 20, 16), (8, 16, 12), (8, 16, 16), (8, 20, 16))
    };
    (@arms $sizes:expr, $d:ident => $fixed:expr, $general:expr;
        $(($mp:literal, $ld:literal, $rows:literal)),*) => {{
        let sizes: Sizes = $sizes;
        match (sizes.mp, sizes.lm, sizes.ld, sizes.rows) {
            $(($mp, $mp, $ld, $rows) => {
                let $d = Fixed::<$mp, $ld, $rows>;
                $fixed
            })*
            _ => $general,
        }
    }};
}

impl ClosedForm {
    /// `QQᵀ(t)`, allocating.
    pub fn qqt(&self, t: f64) -> Result<DMatrix<f64>, SolverError> {
        let n = self.n_in + self.n_out;
        let mut out = DMatrix::zeros(n, n);
        self.qqt_into(t, &mut self.workspace(), &mut out)?;
        Ok(out)
    }

    /// `QQᵀ(t)` into `out` (`(Ni+No) × (Ni+No)`), without allocating.
    ///
    /// `t` must be finite and non-negative. Times `T = t/τ` below a per-trajectory bound use the
    /// direct Fukumizu form (accurate there even for a nearly singular `P₊`), later times the
    /// stable form; both cost `O(N² m)`. A result with a non-finite entry (or an `A` that neither
    /// Cholesky nor the bounded eigendecomposition can whiten) is [`SolverError::Overflow`] (or
    /// [`SolverError::NoConvergence`]), with `out` unspecified.
    pub fn qqt_into(
        &self,
        t: f64,
        ws: &mut Workspace,
        out: &mut DMatrix<f64>,
    ) -> Result<(), SolverError> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(SolverError::InvalidInput(format!(
                "time must be finite and non-negative, got {t}"
            )));
        }
        let n = self.n_in + self.n_out;
        if out.shape() != (n, n) {
            *out = DMatrix::zeros(n, n);
        }
        if ws.w.len() != self.ld * (self.mp + 1) || ws.factor.len() != self.lm * (n + 1) {
            *ws = self.workspace();
        }
        let (big_t, sizes, values) = (t / self.tau, self.sizes(), out.as_mut_slice());
        let finite = if self.is_square8() {
            let out: &mut [f64; 256] = values.try_into().expect("16 × 16");
            match kernels::dispatch_avx2(Square8 { cf: self, big_t, ws, out }) {
                Ok(finite) => finite,
                Err(Square8 { ws, out, .. }) => {
                    kernels::dispatch(Point { cf: self, d: sizes, big_t, ws, out })
                }
            }
        } else {
            with_dims!(sizes,
            d => match kernels::dispatch_avx2(Point { cf: self, d, big_t, ws, out: values }) {
                Ok(finite) => finite,
                // Without AVX2 the kernel of the run-time sizes (no portable copy per size).
                Err(Point { ws, out, .. }) => {
                    kernels::dispatch(Point { cf: self, d: sizes, big_t, ws, out })
                }
            },
            else kernels::dispatch(Point { cf: self, d: sizes, big_t, ws, out: values })
            )
        }?;
        // The message is formatted only on failure (not once per time point).
        if finite {
            return Ok(());
        }
        crate::linalg::check_finite(out, &format!("QQᵀ at t = {t}"))
    }

    /// The buffer sizes of this trajectory, at run time.
    fn sizes(&self) -> Sizes {
        let rows = round_up(self.n_in + self.n_out);
        Sizes { mp: self.mp, lm: self.lm, ld: self.ld, rows }
    }

    /// Whether this is the square 8-8-8 network (`m = Ni = No = 8`, no ⊥ modes), which
    /// [`Square8`] evaluates (with AVX2).
    fn is_square8(&self) -> bool {
        let square = Sizes { mp: 8, lm: 8, ld: 16, rows: 16 };
        (self.n_in, self.n_out, self.m, self.k) == (8, 8, 8, 0) && self.sizes() == square
    }
}

/// A time point of the square 8-8-8 network: the early and the stable form on fixed-size
/// arrays (`kernels::square8`), the general kernel at the constant sizes of [`Fixed`] only
/// where `A` fails its Cholesky factorization: bitwise the results of [`Point`] (tested).
struct Square8<'a> {
    cf: &'a ClosedForm,
    big_t: f64,
    ws: &'a mut Workspace,
    out: &'a mut [f64; 256],
}

impl Kernel for Square8<'_> {
    /// Whether every entry of `QQᵀ` is finite.
    type Output = Result<bool, SolverError>;

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> Result<bool, SolverError> {
        let Square8 { cf, big_t, ws, out } = self;
        let early = big_t < cf.early_until && cf.early8(l, big_t, out);
        if !(early || cf.stable8(l, big_t, out)) {
            // `A` failed its Cholesky factorization: the general kernel's eigendecomposition.
            cf.stable(l, Fixed::<8, 16, 16>, big_t, ws, out)?;
        }
        Ok(kernels::all_finite_lanes(l, out))
    }
}

/// The kernel of one time point.
struct Point<'a, D: Dims> {
    cf: &'a ClosedForm,
    /// The buffer sizes, constants or not.
    d: D,
    /// `T = t/τ`.
    big_t: f64,
    ws: &'a mut Workspace,
    /// `QQᵀ`, column-major `N × N`.
    out: &'a mut [f64],
}

impl<D: Dims> Kernel for Point<'_, D> {
    /// Whether every entry of `QQᵀ` is finite.
    type Output = Result<bool, SolverError>;

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> Result<bool, SolverError> {
        let Point { cf, d, big_t, ws, out } = self;
        cf.evaluate(l, d, big_t, ws, out)
    }
}

/// `(e, f) = (e^{−sT}, (1 − e²)/(2s))` from one exponential, through `e^{−sT} − 1` where
/// `1 − e²` would cancel (`2sT ≤ 0.7`). [`decay_lanes`] is the same in vector lanes.
#[inline(always)]
fn decay(s: f64, big_t: f64) -> (f64, f64) {
    let x = s * big_t;
    let (e, u) = exp_expm1(-x);
    if x > 0.35 { (e, (1.0 - e * e) / (2.0 * s)) } else { (1.0 + u, -u * (2.0 + u) / (2.0 * s)) }
}

/// [`decay`] of four rates `s` at once: bitwise `decay` lane by lane (as [`exp_expm1_lanes`];
/// the rest is single IEEE operations).
#[inline(always)]
fn decay_lanes<L: Lanes>(l: L, s: L::V, big_t: f64) -> (L::V, L::V) {
    let k = |x: f64| l.splat(x);
    // −(sT), exactly as `-x` of `x = s·T`.
    let y = l.mul(s, k(-big_t));
    let (e, u) = exp_expm1_lanes(l, y);
    let two_s = l.mul(k(2.0), s);
    let late_numerator = l.sub(k(1.0), l.mul(e, e));
    let early_numerator = l.mul(l.mul(k(-1.0), u), l.add(k(2.0), u));
    // sT > 0.35 ⇔ y < −0.35 (false for NaN, as the comparison of `decay`); one division, of
    // the numerator chosen.
    let late = |a, b| l.select_gt(k(-0.35), y, a, b);
    (late(e, l.add(k(1.0), u)), l.div(late(late_numerator, early_numerator), two_s))
}

/// `[e^{sT}, e^{−sT}, Γ₊(T), Γ₋(T)]` of the early form from one `e^{sT} − 1`:
/// `e^{2sT} − 1 = u(2 + u)` and `Γ₋ = Γ₊ e^{−2sT}`, without cancellation. [`growth_lanes`]
/// is the same in vector lanes.
#[inline(always)]
fn growth(s: f64, big_t: f64) -> [f64; 4] {
    let (_, u) = exp_expm1(s * big_t);
    let shrink = 1.0 / (1.0 + u);
    let gamma_plus = u * (2.0 + u) / (2.0 * s);
    [1.0 + u, shrink, gamma_plus, gamma_plus * shrink * shrink]
}

/// [`growth`] of four rates `s` at once (bitwise, as [`decay_lanes`]).
#[inline(always)]
fn growth_lanes<L: Lanes>(l: L, s: L::V, big_t: f64) -> [L::V; 4] {
    let k = |x: f64| l.splat(x);
    let (_, u) = exp_expm1_lanes(l, l.mul(s, k(big_t)));
    let grow = l.add(k(1.0), u);
    let shrink = l.div(k(1.0), grow);
    let gamma_plus = l.div(l.mul(u, l.add(k(2.0), u)), l.mul(k(2.0), s));
    [grow, shrink, gamma_plus, l.mul(l.mul(gamma_plus, shrink), shrink)]
}

/// `1/j!` for `j = 1, …, 13`: the Taylor coefficients of `e^r − 1` (docs/math.md §3.4,
/// "Exponentials").
const EXPM1_TAYLOR: [f64; 13] = [
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
];

/// `1.5·2⁵²`: `(x + ROUND) − ROUND` is `x` rounded to an integer (ties to even), `|x| < 2⁵¹`.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `ln 2` in two parts (fdlibm's): the first, `0.6931471803691238`, has 21 trailing zero bits
/// (`k·LN2_HI` exact for `|k| < 2²¹`); the two sum to `ln 2` within `1.2·10⁻²⁶`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// The rest of `ln 2`, `1.9082149292705877·10⁻¹⁰`.
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `(e^y, e^y − 1)`, each to about a unit in the last place (docs/math.md §3.4,
/// "Exponentials"), in plain IEEE arithmetic (additions, multiplications, FMAs and exact
/// powers of two): no call into the C library, and the same bits in the vector lanes of
/// [`exp_expm1_lanes`], so that eight modes take two vectors instead of eight calls.
///
/// `y = k ln 2 + r` with `|r| ≤ 0.35` (`k = 0` for `|y| ≤ 0.35`, so that `e^y − 1` is the
/// polynomial itself there, without cancellation), `e^r − 1` by its Taylor polynomial of degree
/// 13 (the rest is below `2·10⁻¹⁷` of it), then `e^y = (1 + (e^r − 1)) 2^{k₁} 2^{k₂}`
/// (`k₁ + k₂ = k`, each a normal power of two: no premature overflow or underflow, a subnormal
/// `e^y` rounded once), and `e^y − 1` as `e^y − 1` where `k ≠ 0` (there `|e^y − 1| > 0.29`: at
/// most about two bits lost). `y` beyond `±1100` is clamped there (`e^y` is `0` or `∞` either
/// way); a NaN gives NaNs.
#[inline(always)]
pub(super) fn exp_expm1(y: f64) -> (f64, f64) {
    let y = y.clamp(-1100.0, 1100.0);
    let k = if y.abs() > 0.35 { (y * std::f64::consts::LOG2_E + ROUND) - ROUND } else { 0.0 };
    let r = (-k).mul_add(LN2_LO, (-k).mul_add(LN2_HI, y));
    let mut h = EXPM1_TAYLOR[12];
    for &c in EXPM1_TAYLOR[..12].iter().rev() {
        h = h.mul_add(r, c);
    }
    let p = h * r;
    let k1 = (k * 0.5 + ROUND) - ROUND;
    let e = (1.0 + p) * kernels::pow2(k1) * kernels::pow2(k - k1);
    if y.abs() > 0.35 { (e, e - 1.0) } else { (e, p) }
}

/// [`exp_expm1`] in vector lanes: the same operations, so bitwise the same values. Lanes that
/// round their multiply–adds' products (`Portable`) take the scalar function lane by lane.
#[inline(always)]
pub(super) fn exp_expm1_lanes<L: Lanes>(l: L, y: L::V) -> (L::V, L::V) {
    let k = |x: f64| l.splat(x);
    if !L::FUSED {
        let (mut lanes, mut e, mut u) = ([0.0; NR], [0.0; NR], [0.0; NR]);
        l.store(&mut lanes, y);
        for q in 0..NR {
            (e[q], u[q]) = exp_expm1(lanes[q]);
        }
        return (l.load(&e), l.load(&u));
    }
    let y = l.select_gt(y, k(1100.0), k(1100.0), y);
    let y = l.select_gt(k(-1100.0), y, k(-1100.0), y);
    let reduce = |v| l.select_gt(l.abs(y), k(0.35), v, k(0.0));
    let round = |x| l.sub(l.add(x, k(ROUND)), k(ROUND));
    let n = reduce(round(l.mul(y, k(std::f64::consts::LOG2_E))));
    let r = l.neg_mul_add(n, k(LN2_LO), l.neg_mul_add(n, k(LN2_HI), y));
    let mut h = k(EXPM1_TAYLOR[12]);
    for &c in EXPM1_TAYLOR[..12].iter().rev() {
        h = l.mul_add(h, r, k(c));
    }
    let p = l.mul(h, r);
    let n1 = round(l.mul(n, k(0.5)));
    let e = l.mul(l.mul(l.add(k(1.0), p), l.pow2(n1)), l.pow2(l.sub(n, n1)));
    (e, l.select_gt(l.abs(y), k(0.35), l.sub(e, k(1.0)), p))
}

impl ClosedForm {
    /// One time point into `out`, the early form below `early_until`, else (or if its
    /// factorization fails) the stable form; whether every entry of `out` is finite.
    #[inline(always)]
    fn evaluate<L: Lanes, D: Dims>(
        &self,
        l: L,
        d: D,
        big_t: f64,
        ws: &mut Workspace,
        out: &mut [f64],
    ) -> Result<bool, SolverError> {
        if !(big_t < self.early_until && self.early(l, d, big_t, ws, out)) {
            self.stable(l, d, big_t, ws, out)?;
        }
        Ok(kernels::all_finite_lanes(l, out))
    }

    /// The stable form into `out`; an error only when `A` is not finite or cannot be whitened.
    #[inline(always)]
    fn stable<L: Lanes, D: Dims>(
        &self,
        l: L,
        d: D,
        big_t: f64,
        ws: &mut Workspace,
        out: &mut [f64],
    ) -> Result<(), SolverError> {
        let (m, k, n) = (self.m, self.k, self.n_in + self.n_out);
        let (ld, mp, lm) = (d.ld(), d.mp(), d.lm());
        let Workspace { e, f, g, n_tilde, factor, a, shift, inv_diag, w, .. } = ws;

        // Scalar factors: one exponential per mode, every exponent ≤ 0.
        for alpha in 0..m {
            (e[alpha], f[alpha]) = decay(self.s_lambda[alpha], big_t);
        }
        if k > 0 {
            if self.lambda_perp <= 0.0 {
                // s_α − λ⊥ = s_α + |λ⊥|: g_α = e_α e^{λ⊥T} without overflow.
                let perp = (self.lambda_perp * big_t).exp();
                for (g, &e) in g[..m].iter_mut().zip(&e[..m]) {
                    *g = e * perp;
                }
            } else {
                // The ⊥ coupling decays slower than e (delayed rich regime): its own exponent.
                for (g, &rate) in g[..m].iter_mut().zip(&self.perp_rate) {
                    *g = (-rate * big_t).exp();
                }
            }
        }
        // Vectors run over the padded rows and columns, where e, g, N₋ᵀ, H, K⊥ are zero (the
        // early form leaves other values in e and f).
        e[m..mp].fill(0.0);
        g[m..mp].fill(0.0);
        let (e, f, g) = (&e[..mp], &f[..mp], &g[..mp]);

        // Ñ (row-major (m + k) × mp) and B = N₋ᵀ diag(√f) (column-major mp × m); column α of
        // the padded N₋ᵀ is row α of N₋.
        for alpha in 0..m {
            let n_minus_row = &self.n_minus_t_pad[alpha * lm..alpha * lm + mp];
            let e_alpha = l.splat(e[alpha]);
            let row = &mut n_tilde[alpha * lm..alpha * lm + mp];
            for ((dst, ev), nv) in
                row.chunks_exact_mut(NR).zip(e.chunks_exact(NR)).zip(n_minus_row.chunks_exact(NR))
            {
                l.store_slice(dst, l.mul(l.mul(e_alpha, l.load_slice(ev)), l.load_slice(nv)));
            }
            let root_f = l.splat(f[alpha].sqrt());
            let column = &mut factor[alpha * lm..alpha * lm + mp];
            for (dst, nv) in column.chunks_exact_mut(NR).zip(n_minus_row.chunks_exact(NR)) {
                l.store_slice(dst, l.mul(root_f, l.load_slice(nv)));
            }
        }
        let n_perp = self.n_perp.as_slice();
        for p in 0..k {
            let row = &mut n_tilde[(m + p) * lm..(m + p) * lm + m];
            for (j, (dst, &gj)) in row.iter_mut().zip(g).enumerate() {
                *dst = n_perp[j * k + p] * gj;
            }
        }

        // A = eeᵀ ⊙ (H + BBᵀ) + diag(f) + K⊥ ⊙ h, lower triangle (by aligned vectors from the
        // diagonal down; the entries above it are scratch); identity on the padding.
        kernels::syrk::<L, false>(l, factor, lm, m, a, lm, mp);
        let two_lp = 2.0 * self.lambda_perp;
        let (g_scalar, direct) = if k > 0 {
            (growth_integral(two_lp, big_t), two_lp * big_t > 1.0)
        } else {
            (0.0, false)
        };
        for j in 0..m {
            let start = j - j % NR;
            let (e_j, g_j) = (l.splat(e[j]), l.splat(g[j]));
            let column = &mut a[j * lm + start..j * lm + mp];
            let h_column = &self.h_pad[j * lm + start..j * lm + mp];
            let rows = column.chunks_exact_mut(NR).zip(h_column.chunks_exact(NR));
            if k == 0 {
                for ((dst, hv), ev) in rows.zip(e[start..].chunks_exact(NR)) {
                    let ee = l.mul(l.load_slice(ev), e_j);
                    l.store_slice(dst, l.mul(ee, l.add(l.load_slice(hv), l.load_slice(dst))));
                }
                continue;
            }
            // h_ij = G(T) e_i e_j; for 2λ⊥T > 1 as (g_i g_j − e_i e_j)/(2λ⊥), since
            // g_i = e_i e^{λ⊥T}: no exponent is positive and little cancels.
            let k_column = &self.k_perp_pad[j * lm + start..j * lm + mp];
            let (two_lp, g_scalar) = (l.splat(two_lp), l.splat(g_scalar));
            for ((((dst, hv), ev), gv), kv) in rows
                .zip(e[start..].chunks_exact(NR))
                .zip(g[start..].chunks_exact(NR))
                .zip(k_column.chunks_exact(NR))
            {
                let ee = l.mul(l.load_slice(ev), e_j);
                let value = l.mul(ee, l.add(l.load_slice(hv), l.load_slice(dst)));
                let growth = if direct {
                    l.div(l.sub(l.mul(l.load_slice(gv), g_j), ee), two_lp)
                } else {
                    l.mul(ee, g_scalar)
                };
                l.store_slice(dst, l.mul_add(l.load_slice(kv), growth, value));
            }
        }
        // diag(f), and the identity on the padding.
        shift[..m].copy_from_slice(&f[..m]);
        shift[m..mp].fill(1.0);

        if kernels::cholesky(l, a, lm, mp, m, shift, inv_diag) {
            // W = (O₊ + [O₋, O⊥] Ñ) L⁻ᵀ, so that Z A⁻¹ Zᵀ = W Wᵀ.
            let product = Product {
                o_plus: &self.o_plus_pad,
                o_rest: &self.o_rest_pad,
                n_tilde,
                ldn: lm,
                inner: m + k,
            };
            let factor = Factor { l: a, ld: lm, mp, inv_diag };
            kernels::solve_rows(l, w, ld, d.rows(), factor, Some(product), None);
        } else {
            self.whiten_by_eigen(big_t, &e[..m], &f[..m], &g[..m], w)?;
        }
        kernels::syrk::<L, true>(l, w, ld, m, out, n, n);
        Ok(())
    }

    /// [`ClosedForm::stable`] of the square 8-8-8 network on fixed-size arrays, the same
    /// floating-point operations in the same order (`k = 0`: no ⊥ terms); `false` (and `out`
    /// untouched) if `A` fails its Cholesky factorization.
    #[inline(always)]
    #[expect(clippy::needless_range_loop, reason = "constant indices, unrolled")]
    fn stable8<L: Lanes>(&self, l: L, big_t: f64, out: &mut [f64; 256]) -> bool {
        let (mut e, mut f, mut root_f) = ([0.0; 8], [0.0; 8], [0.0; 8]);
        for v in 0..2 {
            let s = l.load_slice(&self.s_lambda[NR * v..NR * (v + 1)]);
            let (ev, fv) = decay_lanes(l, s, big_t);
            l.store_slice(&mut e[NR * v..NR * (v + 1)], ev);
            l.store_slice(&mut f[NR * v..NR * (v + 1)], fv);
            l.store_slice(&mut root_f[NR * v..NR * (v + 1)], l.sqrt(fv));
        }
        let n_minus: &[f64; 64] = self.n_minus_t_pad[..64].try_into().expect("8 × 8");
        let h: &[f64; 64] = self.h_pad[..64].try_into().expect("8 × 8");
        let ev = [l.load_slice(&e[..NR]), l.load_slice(&e[NR..])];

        // Ñ (row-major) and B = N₋ᵀ diag(√f) (column-major), as in `stable`.
        let (mut n_tilde, mut b) = ([0.0; 64], [0.0; 64]);
        for alpha in 0..8 {
            let (e_alpha, root_f) = (l.splat(e[alpha]), l.splat(root_f[alpha]));
            for v in 0..2 {
                let at = 8 * alpha + NR * v;
                let nv = l.load_slice(&n_minus[at..at + NR]);
                l.store_slice(&mut n_tilde[at..at + NR], l.mul(l.mul(e_alpha, ev[v]), nv));
                l.store_slice(&mut b[at..at + NR], l.mul(root_f, nv));
            }
        }

        // A = eeᵀ ⊙ (H + BBᵀ), lower triangle by vectors from the diagonal block down.
        let mut a = kernels::square8::gram8(l, &b);
        for j in 0..8 {
            let e_j = l.splat(e[j]);
            for v in j / NR..2 {
                let at = 8 * j + NR * v;
                let ee = l.mul(ev[v], e_j);
                let sum = l.add(l.load_slice(&h[at..at + NR]), l.load_slice(&a[at..at + NR]));
                l.store_slice(&mut a[at..at + NR], l.mul(ee, sum));
            }
        }
        let mut inv_diag = [0.0; 8];
        if !kernels::square8::cholesky8(l, &mut a, &f, &mut inv_diag) {
            return false;
        }
        let o_plus: &[f64; 128] = self.o_plus_pad[..128].try_into().expect("16 × 8");
        let o_rest: &[f64; 128] = self.o_rest_pad[..128].try_into().expect("16 × 8");
        let product = Product8 { o_plus, o_rest, n_tilde: &n_tilde };
        let mut w = [0.0; 128];
        kernels::square8::solve8(l, &mut w, Some(product), &a, &inv_diag);
        kernels::square8::gram16(l, &w, out);
        true
    }

    /// [`ClosedForm::early`] of the square 8-8-8 network on fixed-size arrays, the same
    /// floating-point operations in the same order (`k = 0`: no ⊥ rows; `Y'` read in place of
    /// its row-major copy); `false` (and `out` untouched) if `M` fails its Cholesky
    /// factorization.
    #[inline(always)]
    #[expect(clippy::needless_range_loop, reason = "constant indices, unrolled")]
    fn early8<L: Lanes>(&self, l: L, big_t: f64, out: &mut [f64; 256]) -> bool {
        debug_assert_eq!((self.ldp, self.k), (16, 0));
        let (mut grow, mut root_gamma) = ([0.0; 16], [0.0; 16]);
        for v in 0..2 {
            let s = l.load_slice(&self.s_lambda[NR * v..NR * (v + 1)]);
            let [up, down, plus, minus] = growth_lanes(l, s, big_t);
            let at = NR * v;
            l.store_slice(&mut grow[at..at + NR], up);
            l.store_slice(&mut grow[8 + at..8 + at + NR], down);
            l.store_slice(&mut root_gamma[at..at + NR], l.sqrt(plus));
            l.store_slice(&mut root_gamma[8 + at..8 + at + NR], l.sqrt(minus));
        }

        // M = I + C Cᵀ with C = Pᵀ diag(√Γ) (8 × 16), M = L Lᵀ.
        let p_t: &[f64; 128] = self.p_t_pad[..128].try_into().expect("8 × 16");
        let mut c = [0.0; 128];
        for mu in 0..16 {
            let root = l.splat(root_gamma[mu]);
            for at in [8 * mu, 8 * mu + NR] {
                let pv = l.load_slice(&p_t[at..at + NR]);
                l.store_slice(&mut c[at..at + NR], l.mul(root, pv));
            }
        }
        let mut m_mat = kernels::square8::gram8(l, &c);
        let mut inv_diag = [0.0; 8];
        if !kernels::square8::cholesky8(l, &mut m_mat, &[1.0; 8], &mut inv_diag) {
            return false;
        }

        // X' = R e^{ΛT} P (Ṽ-coordinates in rows 0..8, Ũ-coordinates in rows 8..16), the
        // coefficients of R e^{ΛT} by vectors (the products of `early`, lane by lane).
        let half = |x: &[f64], v: usize| l.load_slice(&x[NR * v..NR * v + NR]);
        let coef: [[L::V; 4]; 2] = std::array::from_fn(|v| {
            let (c, d) = (half(&self.c_half, v), half(&self.d_half, v));
            let (up, down) = (half(&grow, v), half(&grow[8..], v));
            [l.mul(c, up), l.mul(d, down), l.mul(d, up), l.mul(c, down)]
        });
        let p: &[f64; 128] = self.p_blocks[..128].try_into().expect("16 × 8");
        let mut x = [0.0; 128];
        for j in 0..8 {
            for v in 0..2 {
                let [c_plus, d_minus, d_plus, c_minus] = coef[v];
                let at = 16 * j + NR * v;
                let (pp, pm) = (l.load_slice(&p[at..at + NR]), l.load_slice(&p[at + 8..at + 12]));
                let top = l.neg_mul_add(d_minus, pm, l.mul(c_plus, pp));
                let bottom = l.mul_add(c_minus, pm, l.mul(d_plus, pp));
                l.store_slice(&mut x[at..at + NR], top);
                l.store_slice(&mut x[at + 8..at + 12], bottom);
            }
        }

        // Y' = X' L⁻ᵀ in place, W = [Ṽ Y'_top; Ũ Y'_bottom], QQᵀ = W Wᵀ.
        kernels::square8::solve8(l, &mut x, None, &m_mat, &inv_diag);
        let v: &[f64; 64] = self.v_pad[..64].try_into().expect("8 × 8");
        let u: &[f64; 64] = self.u_pad[..64].try_into().expect("8 × 8");
        // W into the buffer of C, no longer needed.
        let w = &mut c;
        kernels::square8::basis8(l, v, u, &x, w);
        kernels::square8::gram16(l, w, out);
        true
    }

    /// The direct Fukumizu form into `out`; `false` (and `out` untouched) if `M` fails its
    /// Cholesky factorization, which only non-finite input can cause (`M ⪰ I`).
    #[inline(always)]
    fn early<L: Lanes, D: Dims>(
        &self,
        l: L,
        d: D,
        big_t: f64,
        ws: &mut Workspace,
        out: &mut [f64],
    ) -> bool {
        let (m, n) = (self.m, self.n_in + self.n_out);
        let (ld, mp, lm) = (d.ld(), d.mp(), d.lm());
        let (n_in, n_out) = (self.n_in, self.n_out);
        let Workspace { e: grow, f: gamma, factor, a, shift, inv_diag, w, x, y_rows, coef, .. } =
            ws;

        // e^{μT} and Γ_μ(T) = (e^{2μT} − 1)/(2μ) for μ = +s_α, −s_α, λ⊥: with u = expm1(s_α T),
        // e^{2sT} − 1 = u(2 + u) and Γ₋ = Γ₊ e^{−2sT}, all without cancellation.
        for alpha in 0..m {
            [grow[alpha], grow[m + alpha], gamma[alpha], gamma[m + alpha]] =
                growth(self.s_lambda[alpha], big_t);
        }
        if n > 2 * m {
            grow[2 * m..n].fill((self.lambda_perp * big_t).exp());
            gamma[2 * m..n].fill(growth_integral(2.0 * self.lambda_perp, big_t));
        }

        // M = I + C Cᵀ with C = Pᵀ diag(√Γ) (mp × N).
        for mu in 0..n {
            let root = l.splat(gamma[mu].sqrt());
            let column = &self.p_t_pad[mu * lm..mu * lm + mp];
            let dst = &mut factor[mu * lm..mu * lm + mp];
            for (dst, pv) in dst.chunks_exact_mut(NR).zip(column.chunks_exact(NR)) {
                l.store_slice(dst, l.mul(root, l.load_slice(pv)));
            }
        }
        kernels::syrk::<L, false>(l, factor, lm, n, a, lm, mp);
        shift[..mp].fill(1.0);
        if !kernels::cholesky(l, a, lm, mp, m, shift, inv_diag) {
            return false;
        }

        // W = O Y with Y = e^{ΛT} P L⁻ᵀ, and O = blockdiag(Ṽ, Ũ) R where R only mixes the ±
        // rows of a mode. R acts on rows and L⁻ᵀ on columns, so X' = R e^{ΛT} P is formed
        // first, in the row layout of W (Ṽ-coordinates in rows 0..Ni, Ũ-coordinates in rows
        // Ni..N), and solved with a row-major copy for the products with Ṽ and Ũ.
        let (c_plus, rest) = coef.split_at_mut(mp);
        let (d_minus, rest) = rest.split_at_mut(mp);
        let (d_plus, c_minus) = rest.split_at_mut(mp);
        for alpha in 0..m {
            let (c, d) = (self.c_half[alpha], self.d_half[alpha]);
            let (up, down) = (grow[alpha], grow[m + alpha]);
            (c_plus[alpha], d_minus[alpha]) = (c * up, d * down);
            (d_plus[alpha], c_minus[alpha]) = (d * up, c * down);
        }
        let grow_perp = grow[2 * m..n].first().copied().unwrap_or(0.0);
        let ldp = self.ldp;
        for j in 0..m {
            // Vectors over mp rows (the coefficients are zero past m): the Ṽ block first, whose
            // padding the Ũ block then overwrites, then the ⊥ rows.
            let p_column = &self.p_blocks[j * ldp..(j + 1) * ldp];
            let (p_plus, p_rest) = p_column.split_at(mp);
            let (p_minus, p_perp) = p_rest.split_at(mp);
            let x_column = &mut x[j * ld..(j + 1) * ld];
            for (q, (pp, pm)) in p_plus.chunks_exact(NR).zip(p_minus.chunks_exact(NR)).enumerate() {
                let (pp, pm) = (l.load_slice(pp), l.load_slice(pm));
                let at = q * NR..(q + 1) * NR;
                let value = l.mul(l.load_slice(&c_plus[at.clone()]), pp);
                let value = l.neg_mul_add(l.load_slice(&d_minus[at.clone()]), pm, value);
                l.store_slice(&mut x_column[at], value);
            }
            for (q, (pp, pm)) in p_plus.chunks_exact(NR).zip(p_minus.chunks_exact(NR)).enumerate() {
                let (pp, pm) = (l.load_slice(pp), l.load_slice(pm));
                let at = q * NR..(q + 1) * NR;
                let value = l.mul(l.load_slice(&d_plus[at.clone()]), pp);
                let value = l.mul_add(l.load_slice(&c_minus[at.clone()]), pm, value);
                l.store_slice(&mut x_column[n_in + q * NR..n_in + (q + 1) * NR], value);
            }
            let perp_start = if n_in > n_out { m } else { n_in + m };
            for (dst, &pp) in x_column[perp_start..perp_start + (n - 2 * m)].iter_mut().zip(p_perp)
            {
                *dst = grow_perp * pp;
            }
        }
        let factor = Factor { l: a, ld: lm, mp, inv_diag };
        let copy = RowMajor { values: y_rows, ld: lm };
        kernels::solve_rows(l, x, ld, d.rows(), factor, None, Some(copy));

        // W = [Ṽ Y'_top; Ũ Y'_bottom]: the Ũ rows start at Ni and overwrite the Ṽ padding.
        let (ld_in, ld_out) = (kernels::leading_dim(n_in), kernels::leading_dim(n_out));
        kernels::gemm(l, w, ld, &self.v_pad, ld_in, round_up(n_in), y_rows, lm, n_in, mp);
        let (w_out, y_out) = (&mut w[n_in..], &y_rows[n_in * lm..]);
        kernels::gemm(l, w_out, ld, &self.u_pad, ld_out, round_up(n_out), y_out, lm, n_out, mp);
        kernels::syrk::<L, true>(l, w, ld, m, out, n, n);
        true
    }

    /// Fallback when roundoff makes `A` fail Cholesky (only for an ill-conditioned `P₊` near
    /// `t = 0`): `W = Z Q Λ^{-1/2}` from the symmetric eigendecomposition `A = QΛQᵀ`, eigenvalues
    /// clamped, written into the first `m` columns of `w` (leading dimension `ld`). A non-finite
    /// `A` is [`SolverError::Overflow`] (the bounded eigendecomposition refuses it).
    fn whiten_by_eigen(
        &self,
        big_t: f64,
        e: &[f64],
        f: &[f64],
        g: &[f64],
        w: &mut [f64],
    ) -> Result<(), SolverError> {
        let (m, k, ld, lm) = (self.m, self.k, self.ld, self.lm);
        let n_minus = view(&self.n_minus_t_pad, m, m, lm).transpose();
        let h = view(&self.h_pad, m, m, lm);
        let n_tilde = DMatrix::from_fn(m + k, m, |i, j| {
            if i < m { e[i] * e[j] * n_minus[(i, j)] } else { self.n_perp[(i - m, j)] * g[j] }
        });
        let z = self.o_plus() + self.o_rest() * n_tilde;
        let quad =
            n_minus.transpose() * DMatrix::from_diagonal(&DVector::from_column_slice(f)) * &n_minus;
        let two_lp = 2.0 * self.lambda_perp;
        let g_scalar = growth_integral(two_lp, big_t);
        let a = DMatrix::from_fn(m, m, |i, j| {
            let ee = e[i] * e[j];
            let mut value = ee * (h[(i, j)] + quad[(i, j)]);
            if i == j {
                value += f[i];
            }
            if k > 0 {
                let growth =
                    if two_lp * big_t > 1.0 { (g[i] * g[j] - ee) / two_lp } else { ee * g_scalar };
                value += self.k_perp_pad[j * lm + i] * growth;
            }
            value
        });
        let a = (&a + a.transpose()) * 0.5;
        let eigen = crate::linalg::symmetric_eigen(&a, "A (stable closed form)")?;
        let floor = eigen.eigenvalues.max() * f64::EPSILON;
        let scale =
            DVector::from_iterator(m, eigen.eigenvalues.iter().map(|&l| 1.0 / l.max(floor).sqrt()));
        let whitened = z * eigen.eigenvectors * DMatrix::from_diagonal(&scale);
        for (j, column) in whitened.column_iter().enumerate() {
            for (dst, &value) in w[j * ld..].iter_mut().zip(column.iter()) {
                *dst = value;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{self, Balanced, ProductBases, ProductValues};
    use crate::kernels::Portable;
    use crate::linalg::gaussian_matrix;
    use crate::network::{Network, Problem};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Closed forms of random λ-balanced problems, square and rectangular, both signs of λ.
    fn closed_forms() -> Vec<ClosedForm> {
        let shapes =
            [(3, 3, 0.5), (5, 2, -1.0), (2, 5, 1.5), (9, 9, 0.2), (13, 6, 0.7), (4, 11, 0.0)];
        random_closed_forms(&shapes, 11)
    }

    /// The closed form of a random λ-balanced problem per `(Ni, No, λ)`, seeded from `seed`.
    fn random_closed_forms(shapes: &[(usize, usize, f64)], seed: u64) -> Vec<ClosedForm> {
        scaled_closed_forms(shapes, seed, 0.6)
    }

    /// [`random_closed_forms`] with the init's scale `sigma` (of its Gaussian product).
    fn scaled_closed_forms(
        shapes: &[(usize, usize, f64)],
        seed: u64,
        sigma: f64,
    ) -> Vec<ClosedForm> {
        let mut out = Vec::new();
        for (i, &(n_in, n_out, lambda)) in shapes.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(seed + i as u64);
            let params = Balanced {
                lambda,
                values: ProductValues::GaussianProduct { sigma },
                bases: ProductBases::Random,
            };
            let m = n_in.min(n_out);
            let mut net: Network =
                init::balanced(&[n_in, m, n_out], &params, &mut rng).expect("admissible");
            let problem = Problem::whitened(gaussian_matrix(n_out, n_in, 1.0, &mut rng));
            if ClosedForm::new(&net, &problem).is_err() {
                net.layers[1].row_mut(0).neg_mut();
            }
            out.push(ClosedForm::new(&net, &problem).expect("non-singular"));
        }
        out
    }

    fn run<L: Lanes>(cf: &ClosedForm, lanes: L, big_t: f64, early: bool) -> DMatrix<f64> {
        let n = cf.n_in + cf.n_out;
        let (mut ws, mut out) = (cf.workspace(), DMatrix::zeros(n, n));
        if early {
            assert!(cf.early(lanes, cf.sizes(), big_t, &mut ws, out.as_mut_slice()));
        } else {
            cf.stable(lanes, cf.sizes(), big_t, &mut ws, out.as_mut_slice()).unwrap();
        }
        out
    }

    /// Both forms of one time point with sizes `d` (fresh workspaces): the early form (`None`
    /// if its factorization fails) and the stable form.
    struct Forms<'a, D: Dims> {
        cf: &'a ClosedForm,
        d: D,
        big_t: f64,
    }

    type Values = (Option<Vec<u64>>, Result<Vec<u64>, String>);

    impl<D: Dims> Kernel for Forms<'_, D> {
        type Output = Values;

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) -> Values {
            let Forms { cf, d, big_t } = self;
            let n = cf.n_in + cf.n_out;
            let bits = |out: Vec<f64>| out.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
            let mut out = vec![0.0; n * n];
            let early = cf.early(l, d, big_t, &mut cf.workspace(), &mut out).then(|| bits(out));
            let mut out = vec![0.0; n * n];
            let stable = cf.stable(l, d, big_t, &mut cf.workspace(), &mut out);
            (early, stable.map(|()| bits(out)).map_err(|e| e.to_string()))
        }
    }

    // The kernels are `#[inline(always)]`: the helpers below are not inlined, so that each size
    // and each kernel is a function of its own. Inlined into one test, they made a single
    // function of 0.76 MB of machine code, which LLVM took about eight minutes to optimise on
    // one core (most of CI's build time; one function cannot be split across cores).

    /// [`Forms`] at run-time sizes, portably and dispatched.
    #[inline(never)]
    fn general_forms(cf: &ClosedForm, d: Sizes, big_t: f64) -> (Values, Values) {
        (Forms { cf, d, big_t }.run(Portable), kernels::dispatch(Forms { cf, d, big_t }))
    }

    /// [`Forms`] at the constant sizes `d`, portably and with AVX2 through `dispatch_avx2`, as
    /// `qqt_into` runs them (no third copy per size).
    #[inline(never)]
    fn fixed_forms<D: Dims>(cf: &ClosedForm, d: D, big_t: f64) -> (Values, Values) {
        let dispatched = kernels::dispatch_avx2(Forms { cf, d, big_t });
        (Forms { cf, d, big_t }.run(Portable), dispatched.unwrap_or_else(|f| f.run(Portable)))
    }

    /// The kernel at constant sizes gives bitwise the results of the kernel at run-time sizes,
    /// early and stable forms, portable and dispatched (AVX2 + FMA where available), for every
    /// shape `Ni + No ≤ 16` (every [`Fixed`] size: 1 to 8 modes, square and rectangular), both
    /// signs of λ (and 0), at `T = 0`, early, moderate and late times; and `qqt_into`, which
    /// takes the constant sizes, agrees bitwise with the run-time ones too.
    #[test]
    fn fixed_sizes_give_bitwise_the_results_of_run_time_sizes() {
        let mut shapes = Vec::new();
        for n_in in 1..16 {
            for n_out in 1..=16 - n_in {
                let lambda = [0.7, -0.9, 0.0][(n_in + 2 * n_out) % 3];
                shapes.push((n_in, n_out, lambda));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for cf in random_closed_forms(&shapes, 101).iter().chain(&closed_forms()) {
            let sizes = cf.sizes();
            for big_t in [0.0, cf.early_until * 0.5, 0.02, 0.7, 3.0, 60.0] {
                let general = general_forms(cf, sizes, big_t);
                let fixed = with_dims!(sizes, d => Some(fixed_forms(cf, d, big_t)), else None);
                let Some(fixed) = fixed else {
                    assert!(sizes.mp > 8 || cf.n_in + cf.n_out > 16, "{sizes:?} not fixed");
                    continue;
                };
                seen.insert((sizes.mp, sizes.ld, sizes.rows));
                assert!(general.0.1.is_ok() && general.1.1.is_ok(), "{sizes:?} at T {big_t}");
                assert!(fixed == general, "{} × {} at T {big_t}", cf.n_in, cf.n_out);
                let n = cf.n_in + cf.n_out;
                let (mut ws, mut out) = (cf.workspace(), DMatrix::zeros(n, n));
                cf.qqt_into(big_t * cf.tau, &mut ws, &mut out).expect("finite time");
                let mut want = vec![0.0; n * n];
                let mut ws = cf.workspace();
                kernels::dispatch(Point { cf, d: sizes, big_t, ws: &mut ws, out: &mut want })
                    .expect("finite time");
                assert!(out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        }
        assert_eq!(seen.len(), 10, "every fixed size is exercised: {seen:?}");
    }

    /// The stable and the early form of one time point on fixed-size arrays
    /// ([`ClosedForm::stable8`], [`ClosedForm::early8`]) and by the general kernel at run-time
    /// sizes (`None` where a factorization fails).
    struct Forms8<'a> {
        cf: &'a ClosedForm,
        big_t: f64,
    }

    type Bits = Option<Vec<u64>>;

    impl Kernel for Forms8<'_> {
        /// `((stable8, stable), (early8, early))`.
        type Output = ((Bits, Bits), (Bits, Bits));

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) -> Self::Output {
            let Forms8 { cf, big_t } = self;
            let bits = |out: &[f64]| out.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
            let (d, mut fixed, mut general) = (cf.sizes(), [f64::NAN; 256], vec![f64::NAN; 256]);
            let stable8 = cf.stable8(l, big_t, &mut fixed).then(|| bits(&fixed));
            let ws = &mut cf.workspace();
            let stable = cf.stable(l, d, big_t, ws, &mut general).is_ok().then(|| bits(&general));
            let early8 = cf.early8(l, big_t, &mut fixed).then(|| bits(&fixed));
            let early = cf.early(l, d, big_t, ws, &mut general).then(|| bits(&general));
            ((stable8, stable), (early8, early))
        }
    }

    /// [`Forms8`] portably and dispatched (not inlined: see [`general_forms`]).
    #[inline(never)]
    fn forms8(cf: &ClosedForm, big_t: f64) -> [<Forms8<'_> as Kernel>::Output; 2] {
        [Forms8 { cf, big_t }.run(Portable), kernels::dispatch(Forms8 { cf, big_t })]
    }

    /// A whole time point of the square 8-8-8 network, portably: by [`Square8`] (`square`) or by
    /// the general kernel at run-time sizes (not inlined: see [`general_forms`]).
    #[inline(never)]
    fn point8(cf: &ClosedForm, big_t: f64, square: bool) -> (bool, [u64; 256]) {
        let (mut ws, mut out) = (cf.workspace(), [0.0; 256]);
        let finite = if square {
            Square8 { cf, big_t, ws: &mut ws, out: &mut out }.run(Portable)
        } else {
            Point { cf, d: cf.sizes(), big_t, ws: &mut ws, out: &mut out }.run(Portable)
        };
        (finite.expect("finite time"), out.map(f64::to_bits))
    }

    /// The square 8-8-8 kernel gives bitwise the results of the kernel at run-time sizes: the
    /// stable and the early form on fixed-size arrays ([`ClosedForm::stable8`],
    /// [`ClosedForm::early8`], each at every time, in and out of its range), portable and
    /// dispatched (AVX2 + FMA where available), and the whole time point ([`Square8`], early or
    /// stable form as `qqt_into` chooses, portable and through `qqt_into`), for λ of both signs
    /// and 0, init scales from 1e-6 (whose times are mostly early) to 3, from `T = 0` through
    /// the early form (`early_until` and either side of it) to late times.
    #[test]
    fn square8_gives_bitwise_the_results_of_run_time_sizes() {
        let lambdas = [0.7, -0.9, 0.0, 2.5, -3.0, 0.05, 1e-3, -0.4];
        let shapes: Vec<_> = lambdas.iter().map(|&lambda| (8, 8, lambda)).collect();
        let (mut n_early, mut n_stable, mut n_early8) = (0, 0, 0);
        let cases =
            [(5, 0.6), (17, 0.6), (901, 0.6), (23, 1e-6), (29, 1e-3), (31, 0.05), (37, 3.0)];
        for (seed, sigma) in cases {
            for cf in scaled_closed_forms(&shapes, seed, sigma) {
                assert!(cf.is_square8());
                let early = cf.early_until;
                let times = [
                    0.0,
                    early * 0.5,
                    early * (1.0 - 1e-12),
                    early,
                    early * 1.5,
                    1e-6,
                    1e-3,
                    0.02,
                    0.3,
                    0.7,
                    3.0,
                    60.0,
                    1e3,
                ];
                for big_t in times {
                    for ((stable8, stable), (early8, direct)) in forms8(&cf, big_t) {
                        // `stable8` fails only where the general kernel falls back to the
                        // eigendecomposition (not at these times); the early form overflows at
                        // late times (both kernels alike).
                        assert!(stable.is_some(), "T {big_t}");
                        assert_eq!(stable8, stable, "stable form, T {big_t}");
                        assert!(direct.is_some() || big_t > early, "T {big_t}");
                        n_early8 += usize::from(direct.is_some());
                        assert_eq!(early8, direct, "early form, T {big_t}");
                    }
                    assert_eq!(point8(&cf, big_t, true), point8(&cf, big_t, false), "T {big_t}");
                    let (mut ws, mut out) = (cf.workspace(), DMatrix::zeros(16, 16));
                    cf.qqt_into(big_t * cf.tau, &mut ws, &mut out).expect("finite time");
                    let mut want = [0.0; 256];
                    let (d, ws) = (cf.sizes(), &mut cf.workspace());
                    kernels::dispatch(Point { cf: &cf, d, big_t, ws, out: &mut want })
                        .expect("finite time");
                    assert!(out.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()));
                    n_early += usize::from(big_t < early);
                    n_stable += usize::from(big_t >= early);
                }
            }
        }
        assert!(n_early > 0 && n_stable > 0, "both forms: {n_early} {n_stable}");
        assert!(n_early8 > n_early, "the early form also past early_until: {n_early8}");
    }

    fn rel_diff(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
        (a - b).amax() / b.amax().max(1e-300)
    }

    /// The portable kernels (the fallback for CPUs without AVX2) agree with the dispatched ones,
    /// and the direct and the stable forms agree with each other at moderate times.
    /// Units in the last place between two finite values of one sign (bits are monotonic).
    fn ulps(a: f64, b: f64) -> u64 {
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} against {b}");
        a.to_bits().abs_diff(b.to_bits())
    }

    /// Arguments of the exponentials: a log-uniform spread of both signs over `[10⁻²⁰, 800]`,
    /// the reduction's edges (`±0.35`, `±ln 2 / 2` and around them) and the extremes.
    fn exp_arguments() -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(41);
        let mut ys: Vec<f64> = (0..200_000)
            .map(|_| {
                let magnitude = 10f64.powf(rng.random_range(-20.0..2.903));
                if rng.random_bool(0.5) { magnitude } else { -magnitude }
            })
            .collect();
        for edge in [0.35, std::f64::consts::LN_2 / 2.0, 0.3466, 0.36, 1.0, 700.0, 709.78] {
            for y in [edge, -edge, edge.next_up(), edge.next_down(), -edge.next_up()] {
                ys.push(y);
            }
        }
        ys.extend([0.0, -0.0, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 5e-324, -5e-324]);
        ys.extend([-708.0, -720.0, -744.0, -745.2, -746.0, -1e4, 710.0, 1e4, 1e300]);
        ys.extend([f64::INFINITY, f64::NEG_INFINITY, -1e300]);
        ys
    }

    #[test]
    fn exponentials_are_within_two_units_in_the_last_place() {
        // Against the C library's `exp` and `expm1` (themselves within about half a unit):
        // e^y to 2 units everywhere, subnormal results included; e^y − 1 to 2 units where
        // |y| ≤ 0.35 (the polynomial itself) and to 4 beyond (one subtraction of 1, at most
        // about two bits lost next to 0.35).
        let (mut worst_e, mut worst_u_small, mut worst_u_large) = (0, 0, 0);
        for y in exp_arguments() {
            let (e, u) = exp_expm1(y);
            let (e_ref, u_ref) = (y.exp(), y.exp_m1());
            if e_ref.is_infinite() || e_ref == 0.0 {
                assert_eq!(e, e_ref, "e^{y}");
            } else {
                worst_e = worst_e.max(ulps(e, e_ref));
            }
            if u_ref.is_infinite() {
                assert_eq!(u, u_ref, "e^{y} − 1");
            } else if y.abs() <= 0.35 {
                worst_u_small = worst_u_small.max(ulps(u, u_ref));
            } else {
                worst_u_large = worst_u_large.max(ulps(u, u_ref));
            }
        }
        assert!(worst_e <= 2, "e^y off by {worst_e} units");
        assert!(worst_u_small <= 2, "e^y − 1 for |y| ≤ 0.35 off by {worst_u_small} units");
        assert!(worst_u_large <= 4, "e^y − 1 for |y| > 0.35 off by {worst_u_large} units");
        let (e, u) = exp_expm1(f64::NAN);
        assert!(e.is_nan() && u.is_nan());
        assert_eq!(exp_expm1(-0.0).1.to_bits(), (-0.0f64).to_bits(), "e^−0 − 1 = −0");
        assert_eq!(exp_expm1(0.0), (1.0, 0.0));
    }

    /// [`decay_lanes`], [`growth_lanes`] and [`exp_expm1_lanes`] of four arguments.
    struct ExpLanes<'a> {
        s: &'a [f64; NR],
        big_t: f64,
    }

    impl Kernel for ExpLanes<'_> {
        type Output = [[f64; NR]; 8];

        #[inline(always)]
        fn run<L: Lanes>(self, l: L) -> [[f64; NR]; 8] {
            let s = l.load(self.s);
            let (e, f) = decay_lanes(l, s, self.big_t);
            let [up, down, plus, minus] = growth_lanes(l, s, self.big_t);
            let (pe, pu) = exp_expm1_lanes(l, l.mul(s, l.splat(self.big_t)));
            [e, f, up, down, plus, minus, pe, pu].map(|v| {
                let mut out = [0.0; NR];
                l.store(&mut out, v);
                out
            })
        }
    }

    #[test]
    fn exponentials_in_lanes_are_bitwise_the_scalar_ones() {
        // Portably (the scalar function lane by lane, the rest in lanes) and dispatched.
        let ys = exp_arguments();
        let mut compared = 0;
        for (i, chunk) in ys.chunks_exact(NR).enumerate() {
            // As rates s of the modes at T = 1 (both signs, NaN and infinities included) and at
            // another T.
            let s: [f64; NR] = chunk.try_into().expect("four");
            for big_t in [1.0, 0.37 + i as f64 * 1e-3] {
                let portable = ExpLanes { s: &s, big_t }.run(Portable);
                for lanes in [portable, kernels::dispatch(ExpLanes { s: &s, big_t })] {
                    for q in 0..NR {
                        let (e, f) = decay(s[q], big_t);
                        let g = growth(s[q], big_t);
                        let (pe, pu) = exp_expm1(s[q] * big_t);
                        let scalar = [e, f, g[0], g[1], g[2], g[3], pe, pu];
                        for (k, want) in scalar.into_iter().enumerate() {
                            let got = lanes[k][q];
                            if want.is_nan() {
                                assert!(got.is_nan(), "output {k}, s = {}: {got}", s[q]);
                            } else {
                                assert_eq!(
                                    got.to_bits(),
                                    want.to_bits(),
                                    "output {k}, s = {}",
                                    s[q]
                                );
                            }
                        }
                    }
                }
                compared += 1;
            }
        }
        assert!(compared > 100_000);
    }

    #[test]
    fn portable_dispatched_early_and_stable_forms_agree() {
        for cf in closed_forms() {
            for big_t in [0.0, 0.02, 0.4, 1.3] {
                let want = cf.qqt(big_t).expect("finite time");
                for early in [false, true] {
                    let got = run(&cf, Portable, big_t, early);
                    assert!(rel_diff(&got, &want) < 1e-10, "T {big_t} early {early}");
                    assert_eq!(got, got.transpose());
                }
            }
        }
    }

    /// One workspace serves both forms in any order: what one form leaves in the buffers does
    /// not reach the other (bitwise equal to fresh workspaces).
    #[test]
    fn a_workspace_is_reused_across_forms() {
        let mut n_early = 0;
        for cf in closed_forms() {
            let n = cf.n_in + cf.n_out;
            let (mut ws, mut out) = (cf.workspace(), DMatrix::zeros(n, n));
            let early = cf.early_until * 0.5;
            n_early += usize::from(early > 0.0);
            for big_t in [early, 4.0, early, 0.7, 0.0, 40.0, early] {
                cf.qqt_into(big_t * cf.tau, &mut ws, &mut out).expect("finite time");
                assert_eq!(out, cf.qqt(big_t * cf.tau).expect("finite time"), "T {big_t}");
            }
        }
        assert!(n_early > 0, "no problem exercises the early form");
    }

    /// The eigendecomposition fallback (taken when roundoff makes `A` fail Cholesky) gives the
    /// same `W Wᵀ` as the Cholesky route.
    #[test]
    fn whitening_by_eigen_matches_cholesky() {
        for cf in closed_forms() {
            let (m, n, ld) = (cf.m, cf.n_in + cf.n_out, cf.ld);
            for big_t in [0.3, 2.0, 30.0] {
                let mut ws = cf.workspace();
                let mut want = DMatrix::zeros(n, n);
                cf.stable(Portable, cf.sizes(), big_t, &mut ws, want.as_mut_slice()).unwrap();
                let (e, f, g) = (ws.e[..m].to_vec(), ws.f[..m].to_vec(), ws.g[..m].to_vec());
                let mut w = vec![0.0; ld * (cf.mp + 1)];
                cf.whiten_by_eigen(big_t, &e, &f, &g, &mut w).unwrap();
                let w = DMatrix::from_fn(n, m, |r, c| w[c * ld + r]);
                assert!(rel_diff(&(&w * w.transpose()), &want) < 1e-10, "T {big_t}");
            }
        }
    }
}
