//! Exact dynamics of a task-aligned network of any depth with one λ per hidden layer
//! (docs/math.md §3.6).
//!
//! In the task basis every layer is diagonal and mode α is a chain of scalars `a_1 … a_L` with
//! `τ ȧ_l = (s̃ − p) Π_{k≠l} a_k`, `p = Π_l a_l`. The balances `a_{l+1}² − a_l² = λ_l` are
//! conserved, so with `m` a layer of smallest `a_l²`, the offsets `D_l = a_l² − a_m² ≥ 0` and
//! the signed coordinate `c = (Π_{l≠m} sgn a_l) a_m`, the whole mode is one autonomous scalar
//! equation
//! $$\tau\dot c = Q(c)\,(\tilde s - cQ(c)),\qquad Q(c) = \prod_{l\ne m}\sqrt{c^2 + D_l}.$$
//! Its solution is the inverse of the time integral `t(c) = τ∫ dc/(Q(s̃ − g))`, `g = cQ`, which
//! [`DeepAlignedMode`] evaluates by adaptive Gauss–Kronrod quadrature on variables in which
//! the integrand is smooth and bounded (`ln c` near 0, `−ln|c∞ − c|` near the limit), inverted
//! per requested time by safeguarded Newton steps. Every loop is bounded; a quadrature or an
//! inversion that does not reach its tolerance is [`SolverError::Inaccurate`].
//!
//! [`DeepAligned`] applies it to every mode of a task-aligned init given as its
//! [`BalancedFactors`]: the bases stay, the diagonals move.

use nalgebra::DMatrix;

use crate::error::SolverError;
use crate::init::{BalancedFactors, chain_offsets};
use crate::network::{Network, Problem};

/// Relative accuracy asked of every quadrature panel (its Gauss–Kronrod error estimate, which
/// overstates the error of the Kronrod value by orders of magnitude on smooth integrands).
const PANEL_RTOL: f64 = 1e-13;
/// A panel this narrow relative to its position is accepted whatever its error estimate.
const NARROWEST_PANEL: f64 = 1e-12;
/// Most panels one quadrature may use.
const MAX_PANELS: usize = 4000;
/// Most Newton or bisection iterations of one inversion.
const MAX_INVERSION_STEPS: usize = 400;
/// A Newton correction below this (in the units of the variable, relative to `max(1, |v|)` for
/// the logarithmic ones) ends the inversion: it leaves an error of about its square.
const NEWTON_DONE: f64 = 1e-7;
/// How far (in `−ln|c∞ − c|`) past its start a tail is followed before `c = c∞` is returned:
/// the deviation is then below `e^{−700}` of the starting one.
const TAIL_SPAN: f64 = 700.0;
/// And never past `e^{−650}` absolute (the deviation would be subnormal beyond `e^{−708}`).
const TAIL_END: f64 = 650.0;

/// Gauss–Kronrod 7–15 nodes on [−1, 1] (non-negative half, the last is 0).
const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_4,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_5,
    0.0,
];
/// Kronrod weights of [`XGK`].
const WGK: [f64; 8] = [
    0.022_935_322_010_529_224,
    0.063_092_092_629_978_55,
    0.104_790_010_322_250_18,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_4,
    0.204_432_940_075_298_9,
    0.209_482_141_084_727_83,
];
/// Gauss weights of the nodes `XGK[1], XGK[3], XGK[5], XGK[7]`.
const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_7,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// `√(c² + d)` for `d ≥ 0`, exact to rounding also where `c²` is subnormal (`d` tiny).
fn root(c: f64, c2: f64, d: f64) -> f64 {
    if d > 1e-200 { (c2 + d).sqrt() } else { c.hypot(d.sqrt()) }
}

/// Gauss–Kronrod 3–7 nodes (non-negative half, the last is 0) and Kronrod weights; the Gauss
/// nodes are `XK7[1]` (weight 5/9) and 0 (weight 8/9).
const XK7: [f64; 4] =
    [0.960_491_268_708_020_3, 0.774_596_669_241_483_4, 0.434_243_749_346_802_6, 0.0];
const WK7: [f64; 4] = [
    0.104_656_226_026_467_27,
    0.268_488_089_868_333_4,
    0.401_397_414_775_962_2,
    0.450_916_538_658_474_1,
];
/// Panels at most this wide (in a logarithmic variable, where the integrand varies on a scale
/// of one) use the 3–7 pair: a Newton correction costs 7 evaluations instead of 15.
const SHORT_PANEL: f64 = 0.02;

/// The variable a segment of the trajectory is integrated in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Var {
    /// `c = v` (a head through or from 0, where `Q(0) > 0`).
    Lin,
    /// `c = e^v` (a head from a small positive `c0`).
    Log,
    /// `c = target − dir · e^{−v}` (the approach to the limit `target`, from the side `dir`).
    Tail { target: f64, dir: f64 },
}

/// The closed-form trajectory of one aligned mode of a deep network (docs/math.md §3.6).
#[derive(Clone, Debug)]
pub struct DeepAlignedMode {
    tau: f64,
    s_task: f64,
    /// Offsets `D_l` of the layers other than `m`.
    offsets: Vec<f64>,
    /// `A_l = √(c*² + D_l)` and the suffix products `Π_{k>l} A_k` (for `g[c*, c]`).
    a_star: Vec<f64>,
    a_suffix: Vec<f64>,
    q_star: f64,
    /// The layer `m` (0-based) whose `a_m` is the coordinate, and the signs of the layers.
    m: usize,
    signs: Vec<f64>,
    all_offsets: Vec<f64>,
    c0: f64,
    c_star: f64,
    plan: Plan,
}

#[derive(Clone, Debug)]
enum Plan {
    /// `c` never moves.
    Static,
    /// An optional head segment (its variable, start, end, duration in units of τ) and a tail.
    Moving { head: Option<(Var, f64, f64, f64)>, tail: Var, tail_start: f64 },
}

/// Where a sequence of evaluations stands: the segment, a point `v` and its time `t(v)/τ`.
#[derive(Clone, Copy, Debug)]
pub struct Cursor {
    in_tail: bool,
    v: f64,
    t: f64,
    /// `dv/dt` at `v` (NaN when not known) and the previous point `(t, v, dv/dt)` of the same
    /// segment: a cubic Hermite extrapolation of `v(t)` from them is the first guess.
    slope: f64,
    prev: Option<(f64, f64, f64)>,
    saturated: bool,
}

impl Cursor {
    /// The cubic Hermite extrapolation of `v(t)` through the last two points, if known.
    fn guess(&self, target: f64) -> Option<f64> {
        let (t0, v0, s0) = self.prev?;
        let span = self.t - t0;
        if !(span > 0.0 && self.slope.is_finite()) {
            return None;
        }
        let u = (target - t0) / span;
        let (u2, u3) = (u * u, u * u * u);
        let value = (2.0 * u3 - 3.0 * u2 + 1.0) * v0
            + (u3 - 2.0 * u2 + u) * span * s0
            + (-2.0 * u3 + 3.0 * u2) * self.v
            + (u3 - u2) * span * self.slope;
        value.is_finite().then_some(value)
    }
}

impl DeepAlignedMode {
    /// A mode with task singular value `s_task ≥ 0`, signed initial values `a0` (layer 1
    /// first), the balances `lambdas` (`a0.len() − 1` of them) and time constant τ.
    ///
    /// The smallest `a_l²` is taken from `a0`; the others follow from it and the λs (a
    /// mismatch between `a0` and `lambdas` beyond `1e-8` relative is invalid input).
    pub fn new(
        s_task: f64,
        a0: &[f64],
        lambdas: &[f64],
        tau: f64,
    ) -> Result<DeepAlignedMode, SolverError> {
        let depth = a0.len();
        let finite = a0.iter().chain(lambdas).chain([&s_task, &tau]).all(|x| x.is_finite());
        if depth == 0 || lambdas.len() + 1 != depth || !finite || s_task < 0.0 || tau <= 0.0 {
            return Err(SolverError::InvalidInput(format!(
                "deep aligned mode needs depth >= 1, depth - 1 lambdas, finite values, \
                 s_task >= 0 and tau > 0 (got {depth} values, {} lambdas, s_task = {s_task}, \
                 tau = {tau})",
                lambdas.len()
            )));
        }
        let all_offsets = chain_offsets(lambdas);
        let m = all_offsets.iter().position(|&d| d == 0.0).expect("the minimum is zero");
        let scale = a0.iter().map(|a| a * a).fold(0.0, f64::max)
            + lambdas.iter().map(|l| l.abs()).sum::<f64>();
        for (l, (&a, &d)) in a0.iter().zip(&all_offsets).enumerate() {
            let expected = a0[m] * a0[m] + d;
            if (a * a - expected).abs() > 1e-8 * scale.max(f64::MIN_POSITIVE) {
                return Err(SolverError::InvalidInput(format!(
                    "initial value {a} of layer {} does not match the balances (a² should be \
                     {expected})",
                    l + 1
                )));
            }
        }
        let signs: Vec<f64> = a0.iter().map(|&a| if a < 0.0 { -1.0 } else { 1.0 }).collect();
        let sigma: f64 =
            signs.iter().enumerate().filter(|&(l, _)| l != m).map(|(_, s)| s).product();
        let c0 = sigma * a0[m];
        let offsets: Vec<f64> =
            all_offsets.iter().enumerate().filter(|&(l, _)| l != m).map(|(_, &d)| d).collect();
        let mut mode = DeepAlignedMode {
            tau,
            s_task,
            offsets,
            a_star: Vec::new(),
            a_suffix: Vec::new(),
            q_star: 1.0,
            m,
            signs,
            all_offsets,
            c0,
            c_star: 0.0,
            plan: Plan::Static,
        };
        mode.c_star = mode.fixed_point()?;
        let c_star = mode.c_star;
        mode.a_star = mode.offsets.iter().map(|d| (c_star * c_star + d).sqrt()).collect();
        let n = mode.a_star.len();
        mode.a_suffix = vec![1.0; n];
        for l in (0..n.saturating_sub(1)).rev() {
            mode.a_suffix[l] = mode.a_suffix[l + 1] * mode.a_star[l + 1];
        }
        mode.q_star = mode.a_star.iter().product();
        mode.plan = mode.plan()?;
        Ok(mode)
    }

    /// `Q(c) = Π_{l≠m} √(c² + D_l)`.
    fn q(&self, c: f64) -> f64 {
        let c2 = c * c;
        self.offsets.iter().map(|&d| root(c, c2, d)).product()
    }

    /// The mode strength `p = g(c) = cQ(c)`, the singular value of the product (signed).
    pub fn strength(&self, c: f64) -> f64 {
        c * self.q(c)
    }

    /// The fixed point `c* ≥ 0` with `g(c*) = s̃`.
    fn fixed_point(&self) -> Result<f64, SolverError> {
        let s = self.s_task;
        if s == 0.0 {
            return Ok(0.0);
        }
        let depth = self.offsets.len() + 1;
        // f(x) = x + ½Σ ln(e^{2x} + D) − ln s̃ is increasing and convex in x = ln c; Newton from
        // a point where f ≥ 0 decreases monotonically to the root.
        let root_d: f64 = self.offsets.iter().map(|d| d.sqrt()).product();
        let mut x = (s.ln() / depth as f64).min(if root_d > 0.0 {
            (s / root_d).ln()
        } else {
            f64::INFINITY
        });
        if !x.is_finite() {
            x = s.ln() / depth as f64;
        }
        let f = |x: f64| {
            let e = (2.0 * x).exp();
            x + 0.5 * self.offsets.iter().map(|d| (e + d).ln()).sum::<f64>() - s.ln()
        };
        let mut converged = false;
        for _ in 0..200 {
            let e = (2.0 * x).exp();
            let df = 1.0 + self.offsets.iter().map(|d| e / (e + d)).sum::<f64>();
            let step = f(x) / df;
            if !step.is_finite() {
                break;
            }
            x -= step;
            // From the right Newton steps are positive and shrink; a step at rounding level, or
            // one of the wrong sign (rounding in f), ends it; the polish below does the rest.
            if step.abs() <= 1e-13 * x.abs().max(1.0) || step <= 0.0 {
                converged = true;
                break;
            }
        }
        let mut c = x.exp();
        // Polish in c itself (the logarithm loses |x|·ε of relative accuracy).
        for _ in 0..3 {
            let q = self.q(c);
            let c2 = c * c;
            let dg = q * (1.0 + self.offsets.iter().map(|d| c2 / (c2 + d)).sum::<f64>());
            let step = (c * q - s) / dg;
            if step.is_finite() {
                c -= step;
            }
        }
        if !(converged && c.is_finite() && c > 0.0) {
            return Err(SolverError::Inaccurate(format!(
                "the fixed point of an aligned mode (s_task = {s}) did not converge"
            )));
        }
        Ok(c)
    }

    fn plan(&self) -> Result<Plan, SolverError> {
        let (c0, c_star) = (self.c0, self.c_star);
        let q0 = self.q(0.0);
        if c0 == c_star || self.q(c0) == 0.0 {
            return Ok(Plan::Static);
        }
        let tail_from = |target: f64, c: f64| {
            let dir = if target > c { 1.0 } else { -1.0 };
            (Var::Tail { target, dir }, -(target - c).abs().ln())
        };
        if self.s_task == 0.0 || (c0 < 0.0 && q0 == 0.0) {
            // Decay to the origin: the fixed point, or the saddle that a negative mode cannot
            // cross when two layers tie for the smallest a².
            let (tail, start) = tail_from(0.0, c0);
            return Ok(Plan::Moving { head: None, tail, tail_start: start });
        }
        let half = 0.5 * c_star;
        if c0 >= half {
            let (tail, start) = tail_from(c_star, c0);
            return Ok(Plan::Moving { head: None, tail, tail_start: start });
        }
        let (var, v0, v1) =
            if c0 > 0.0 { (Var::Log, c0.ln(), half.ln()) } else { (Var::Lin, c0, half) };
        let duration = self.integrate(var, v0, v1)?;
        let (tail, start) = tail_from(c_star, half);
        Ok(Plan::Moving { head: Some((var, v0, v1, duration)), tail, tail_start: start })
    }

    /// `c` at the variable `v`.
    fn c_of(var: Var, v: f64) -> f64 {
        match var {
            Var::Lin => v,
            Var::Log => v.exp(),
            Var::Tail { target, dir } => target - dir * (-v).exp(),
        }
    }

    /// `dt/dv` in units of τ.
    fn rate(&self, var: Var, v: f64) -> f64 {
        let c = Self::c_of(var, v);
        match var {
            Var::Lin => {
                let q = self.q(c);
                1.0 / (q * (self.s_task - c * q))
            }
            Var::Log => {
                let q = self.q(c);
                c / (q * (self.s_task - c * q))
            }
            Var::Tail { target, .. } => {
                if target != 0.0 {
                    let (q, r) = self.divided_difference(c);
                    1.0 / (q * r)
                } else {
                    let q = self.q(c);
                    let r = if self.s_task == 0.0 { q } else { self.s_task / (-c) + q };
                    1.0 / (q * r)
                }
            }
        }
    }

    /// `Q(c)` and `g[c*, c] = (s̃ − g(c))/(c* − c)` without cancellation for `c > 0`:
    /// `Q* + c Σ_l (c* + c)/(A_l + B_l) Π_{k<l} B_k Π_{k>l} A_k`, `B_l = √(c² + D_l)`.
    fn divided_difference(&self, c: f64) -> (f64, f64) {
        let cs = self.c_star;
        let c2 = c * c;
        let mut prefix = 1.0;
        let mut sum = 0.0;
        for (l, d) in self.offsets.iter().enumerate() {
            let b = root(c, c2, *d);
            sum += (cs + c) / (self.a_star[l] + b) * prefix * self.a_suffix[l];
            prefix *= b;
        }
        (prefix, self.q_star + c * sum)
    }

    /// `∫_a^b rate(v) dv` by adaptive Gauss–Kronrod 7–15.
    fn integrate(&self, var: Var, a: f64, b: f64) -> Result<f64, SolverError> {
        if a == b {
            return Ok(0.0);
        }
        let mut stack: Vec<(f64, f64)> = vec![(a, b)];
        let mut total = 0.0;
        let mut panels = 0;
        while let Some((lo, hi)) = stack.pop() {
            panels += 1;
            let short = var != Var::Lin && (hi - lo).abs() <= SHORT_PANEL;
            let (kronrod, gauss) =
                if short { self.panel7(var, lo, hi) } else { self.panel(var, lo, hi) };
            let err = (kronrod - gauss).abs();
            if !kronrod.is_finite() {
                return Ok(f64::INFINITY);
            }
            if err <= PANEL_RTOL * kronrod.abs() {
                total += kronrod;
                continue;
            }
            let mid = 0.5 * (lo + hi);
            if (hi - lo).abs() <= NARROWEST_PANEL * lo.abs().max(hi.abs()).max(1.0) {
                // As narrow as the variable resolves (the integrand is then rounding noise, for
                // example subnormal products deep in a tail): its share of the sum is negligible.
                total += kronrod;
                continue;
            }
            if panels > MAX_PANELS || mid == lo || mid == hi {
                return Err(SolverError::Inaccurate(format!(
                    "the time integral of an aligned mode did not converge on [{lo}, {hi}]"
                )));
            }
            stack.push((mid, hi));
            stack.push((lo, mid));
        }
        Ok(total)
    }

    fn panel7(&self, var: Var, lo: f64, hi: f64) -> (f64, f64) {
        let center = 0.5 * (lo + hi);
        let half = 0.5 * (hi - lo);
        let f0 = self.rate(var, center);
        let mut kronrod = WK7[3] * f0;
        let mut gauss = 8.0 / 9.0 * f0;
        for i in 0..3 {
            let dx = half * XK7[i];
            let pair = self.rate(var, center - dx) + self.rate(var, center + dx);
            kronrod += WK7[i] * pair;
            if i == 1 {
                gauss += 5.0 / 9.0 * pair;
            }
        }
        (kronrod * half, gauss * half)
    }

    fn panel(&self, var: Var, lo: f64, hi: f64) -> (f64, f64) {
        let center = 0.5 * (lo + hi);
        let half = 0.5 * (hi - lo);
        let f0 = self.rate(var, center);
        let mut kronrod = WGK[7] * f0;
        let mut gauss = WG[3] * f0;
        for i in 0..7 {
            let dx = half * XGK[i];
            let pair = self.rate(var, center - dx) + self.rate(var, center + dx);
            kronrod += WGK[i] * pair;
            if i % 2 == 1 {
                gauss += WG[i / 2] * pair;
            }
        }
        (kronrod * half, gauss * half)
    }

    /// A cursor at `t = 0`, for [`DeepAlignedMode::advance`].
    pub fn start(&self) -> Cursor {
        match &self.plan {
            Plan::Moving { head: Some((_, v0, _, _)), .. } => Cursor {
                in_tail: false,
                v: *v0,
                t: 0.0,
                slope: f64::NAN,
                prev: None,
                saturated: false,
            },
            Plan::Moving { head: None, tail_start, .. } => Cursor {
                in_tail: true,
                v: *tail_start,
                t: 0.0,
                slope: f64::NAN,
                prev: None,
                saturated: false,
            },
            Plan::Static => Cursor {
                in_tail: true,
                v: 0.0,
                t: 0.0,
                slope: f64::NAN,
                prev: None,
                saturated: true,
            },
        }
    }

    /// The coordinate `c` at time `t ≥ cursor's time`, moving the cursor there (times must be
    /// visited in non-decreasing order).
    pub fn advance(&self, cursor: &mut Cursor, t: f64) -> Result<f64, SolverError> {
        let target = t / self.tau;
        if !(target.is_finite() && target >= cursor.t) {
            return Err(SolverError::InvalidInput(format!(
                "aligned mode times must be finite and non-decreasing (got {t} after {})",
                cursor.t * self.tau
            )));
        }
        let Plan::Moving { head, tail, tail_start } = &self.plan else {
            return Ok(self.c0);
        };
        if cursor.saturated {
            return Ok(self.limit());
        }
        if target == 0.0 {
            return Ok(self.c0);
        }
        if !cursor.in_tail {
            let (var, _, v1, duration) = head.expect("a cursor outside the tail has a head");
            if target < duration {
                let guess = cursor.guess(target);
                let (v, tv) =
                    self.invert(var, cursor.v, cursor.t, target, (v1, Some(duration)), guess)?;
                self.moved(cursor, var, v, tv);
                return Ok(Self::c_of(var, v));
            }
            *cursor = Cursor {
                in_tail: true,
                v: *tail_start,
                t: duration,
                slope: f64::NAN,
                prev: None,
                saturated: false,
            };
        }
        let v_max = (tail_start.max(0.0) + TAIL_SPAN).min(TAIL_END);
        if cursor.v >= v_max {
            cursor.saturated = true;
            return Ok(self.limit());
        }
        let guess = cursor.guess(target);
        let (v, tv) = self.invert(*tail, cursor.v, cursor.t, target, (v_max, None), guess)?;
        if v >= v_max {
            cursor.saturated = true;
            return Ok(self.limit());
        }
        self.moved(cursor, *tail, v, tv);
        Ok(Self::c_of(*tail, v))
    }

    fn moved(&self, cursor: &mut Cursor, var: Var, v: f64, t: f64) {
        if t > cursor.t && cursor.slope.is_finite() {
            cursor.prev = Some((cursor.t, cursor.v, cursor.slope));
        }
        cursor.v = v;
        cursor.t = t;
        cursor.slope = 1.0 / self.rate(var, v);
    }

    /// The `v` in `[v_lo, v_hi]` with `t(v) = target`, from `t(v_lo) = t_lo ≤ target`;
    /// `t_hi` is `t(v_hi)` when known. Returns `v_hi` when the target is at or beyond it.
    ///
    /// Newton steps from the latest point, bisection when a step leaves the bracket or does
    /// not halve the previous one (so a convex `t(v)` approached from above cannot crawl);
    /// a time is integrated from the latest point when that point's time exceeds the target's
    /// distance from the bracket's left end at most twice, else from the left end (whose time
    /// is at most the target), so no large time is subtracted from another.
    fn invert(
        &self,
        var: Var,
        v_lo: f64,
        t_lo: f64,
        target: f64,
        (v_hi, t_hi): (f64, Option<f64>),
        guess: Option<f64>,
    ) -> Result<(f64, f64), SolverError> {
        if target == t_lo {
            return Ok((v_lo, t_lo));
        }
        let (mut lo, mut t_at_lo) = (v_lo, t_lo);
        let mut hi = v_hi;
        let mut hi_known = t_hi;
        let (mut x, mut tx) = (lo, t_at_lo);
        let mut last_step = f64::INFINITY;
        let scale = |v: f64| match var {
            Var::Lin => (v_hi - v_lo).abs().max(self.c_star).max(f64::MIN_POSITIVE),
            _ => v.abs().max(1.0),
        };
        for iteration in 0..MAX_INVERSION_STEPS {
            if hi - lo <= 4.0 * f64::EPSILON * scale(lo) {
                // The bracket is as narrow as the variable resolves.
                return Ok((lo, t_at_lo));
            }
            let newton = x + (target - tx) / self.rate(var, x);
            if newton == x && tx.is_finite() && iteration > 0 {
                // The remaining time is below the resolution of v at x.
                return Ok((x, tx));
            }
            let mut cand = match guess {
                Some(g) if iteration == 0 && g > lo && g < hi => g,
                _ => newton,
            };
            let newton_ok =
                cand.is_finite() && cand > lo && cand < hi && (cand - x).abs() <= 0.5 * last_step;
            if !newton_ok {
                if hi_known.is_none() && cand.is_finite() && cand >= hi {
                    // Is the target beyond the end of the tail?
                    let t_end = t_at_lo + self.integrate(var, lo, hi)?;
                    if t_end <= target {
                        return Ok((hi, t_end));
                    }
                    hi_known = Some(t_end);
                }
                cand = 0.5 * (lo + hi);
            }
            if cand <= lo || cand >= hi {
                // The bracket is as narrow as f64 allows.
                return Ok((lo, t_at_lo));
            }
            // From the latest point when its time is within twice the target (no large time
            // is subtracted then), else from the left end of the bracket.
            let t_cand = if tx.is_finite() && x != lo && tx <= 2.0 * target {
                tx + self.integrate(var, x, cand)?
            } else {
                t_at_lo + self.integrate(var, lo, cand)?
            };
            last_step = (cand - x).abs();
            if t_cand.is_finite() && t_cand <= target {
                lo = cand;
                t_at_lo = t_cand;
            } else {
                hi = cand;
                hi_known = Some(t_cand);
            }
            if t_cand.is_finite() {
                x = cand;
                tx = t_cand;
            } else {
                x = lo;
                tx = t_at_lo;
            }
            if t_cand == target {
                return Ok((cand, t_cand));
            }
            if newton_ok && t_cand.is_finite() {
                // A last Newton correction this small leaves an error of its square (times
                // h'/2h, of order one in these variables): taken without integrating again.
                let last = (target - t_cand) / self.rate(var, cand);
                let done = cand + last;
                if last.abs() <= NEWTON_DONE * scale(cand) && done > lo && done < hi {
                    return Ok((done, target));
                }
            }
        }
        Err(SolverError::Inaccurate(format!(
            "inverting the time integral of an aligned mode did not converge at t/tau = {target}"
        )))
    }

    /// The limit of `c` as `t → ∞`: `c*`, or 0 on the saddle of a negative mode whose two
    /// smallest layers tie, or `c0` for a mode that does not move.
    pub fn limit(&self) -> f64 {
        match &self.plan {
            Plan::Static => self.c0,
            Plan::Moving { tail: Var::Tail { target, .. }, .. } => *target,
            Plan::Moving { .. } => self.c_star,
        }
    }

    /// The coordinate at `t = 0`.
    pub fn initial(&self) -> f64 {
        self.c0
    }

    /// The fixed point `c*` of the coordinate (`g(c*) = s̃`).
    pub fn fixed_point_value(&self) -> f64 {
        self.c_star
    }

    /// The signed per-layer values `a_l` at coordinate `c` (layer 1 first).
    pub fn layer_values(&self, c: f64, out: &mut [f64]) {
        let c2 = c * c;
        let sigma: f64 =
            self.signs.iter().enumerate().filter(|&(l, _)| l != self.m).map(|(_, s)| s).product();
        for (l, value) in out.iter_mut().enumerate() {
            *value = if l == self.m {
                sigma * c
            } else {
                self.signs[l] * root(c, c2, self.all_offsets[l])
            };
        }
    }

    /// The coordinates `c(t)` at non-decreasing `times`.
    pub fn trajectory(&self, times: &[f64]) -> Result<Vec<f64>, SolverError> {
        let mut cursor = self.start();
        times.iter().map(|&t| self.advance(&mut cursor, t)).collect()
    }
}

/// The exact trajectory of a task-aligned network of any depth (docs/math.md §3.6): the init's
/// factors `W_l = R_l S_l R_{l−1}ᵀ` with `R_0`, `R_L` the singular bases of a whitened task,
/// one [`DeepAlignedMode`] per task mode; the other diagonal entries do not move.
#[derive(Clone, Debug)]
pub struct DeepAligned {
    factors: BalancedFactors,
    modes: Vec<DeepAlignedMode>,
}

impl DeepAligned {
    /// The solver for the aligned init `factors` (balances `lambdas`, one per hidden layer) on
    /// the whitened `problem`.
    ///
    /// Invalid input: a general Σxx, shapes that do not chain, or bases that do not
    /// diagonalise Σyx (`R_Lᵀ Σyx R_0` off its diagonal by more than `1e-10 ‖Σyx‖`).
    pub fn new(
        factors: BalancedFactors,
        lambdas: &[f64],
        problem: &Problem,
    ) -> Result<DeepAligned, SolverError> {
        let widths = factors.widths();
        let depth = widths.len().saturating_sub(1);
        if depth == 0 || factors.diagonals.len() != depth || lambdas.len() + 1 != depth {
            return Err(SolverError::InvalidInput(format!(
                "aligned factors of depth {depth} with {} diagonals and {} lambdas",
                factors.diagonals.len(),
                lambdas.len()
            )));
        }
        problem.check(widths[0], widths[depth])?;
        if !problem.is_whitened(0.0) {
            return Err(SolverError::InvalidInput(
                "the deep aligned closed form needs a whitened task (sigma_xx = I)".into(),
            ));
        }
        let rotated = factors.bases[depth].transpose() * &problem.sigma_yx * &factors.bases[0];
        let norm = problem.sigma_yx.norm();
        let m = widths[0].min(widths[depth]);
        for ((i, j), value) in
            rotated.iter().enumerate().map(|(k, v)| ((k % rotated.nrows(), k / rotated.nrows()), v))
        {
            if i != j && value.abs() > 1e-10 * norm.max(f64::MIN_POSITIVE) {
                return Err(SolverError::InvalidInput(format!(
                    "the init's bases do not diagonalise the task (entry ({i}, {j}) = {value:e})"
                )));
            }
        }
        let mut modes = Vec::with_capacity(m);
        let mut a0 = vec![0.0; depth];
        for j in 0..m {
            for (l, value) in a0.iter_mut().enumerate() {
                *value = factors.diagonals[l][j];
            }
            // A negative task value is a mode whose sign the task basis carries: flip it onto
            // the input-side basis vector (only the sign of R_0's column j changes).
            let s = rotated[(j, j)];
            if s < 0.0 {
                return Err(SolverError::InvalidInput(format!(
                    "task mode {j} has a negative value {s} in the init's bases"
                )));
            }
            modes.push(DeepAlignedMode::new(s, &a0, lambdas, problem.tau)?);
        }
        Ok(DeepAligned { factors, modes })
    }

    /// The per-mode solvers.
    pub fn modes(&self) -> &[DeepAlignedMode] {
        &self.modes
    }

    /// Calls `observe(t, &network)` at every non-decreasing time of `times`.
    pub fn networks<F: FnMut(f64, &Network)>(
        &self,
        times: &[f64],
        mut observe: F,
    ) -> Result<(), SolverError> {
        let mut cursors: Vec<Cursor> = self.modes.iter().map(|m| m.start()).collect();
        let mut diagonals = self.factors.diagonals.clone();
        let depth = diagonals.len();
        let mut values = vec![0.0; depth];
        // W_l = (R_l[:, :k] diag(d_l)) R_{l−1}[:, :k]ᵀ, into buffers allocated once.
        let bases = &self.factors.bases;
        let lowers: Vec<DMatrix<f64>> = (1..=depth)
            .map(|l| bases[l - 1].columns(0, diagonals[l - 1].len()).transpose())
            .collect();
        let mut scaled: Vec<DMatrix<f64>> =
            (1..=depth).map(|l| bases[l].columns(0, diagonals[l - 1].len()).into_owned()).collect();
        let mut net = Network {
            layers: (1..=depth)
                .map(|l| DMatrix::zeros(bases[l].nrows(), bases[l - 1].nrows()))
                .collect(),
        };
        for &t in times {
            for (j, (mode, cursor)) in self.modes.iter().zip(&mut cursors).enumerate() {
                let c = mode.advance(cursor, t)?;
                mode.layer_values(c, &mut values);
                for (l, &value) in values.iter().enumerate() {
                    diagonals[l][j] = value;
                }
            }
            for l in 1..=depth {
                let upper = bases[l].columns(0, diagonals[l - 1].len());
                for (j, &d) in diagonals[l - 1].iter().enumerate() {
                    for (out, &r) in
                        scaled[l - 1].column_mut(j).iter_mut().zip(upper.column(j).iter())
                    {
                        *out = r * d;
                    }
                }
                net.layers[l - 1].gemm(1.0, &scaled[l - 1], &lowers[l - 1], 0.0);
            }
            if !net.is_finite() {
                return Err(SolverError::Overflow(format!(
                    "a weight of the aligned closed form at t = {t} is not finite"
                )));
            }
            observe(t, &net);
        }
        Ok(())
    }

    /// The network at one time.
    pub fn network_at(&self, t: f64) -> Result<Network, SolverError> {
        let mut out = None;
        self.networks(&[t], |_, net| out = Some(net.clone()))?;
        out.ok_or_else(|| SolverError::InvalidInput("no time".into()))
    }
}

/// The rotated task `R_Lᵀ Σyx R_0` of aligned factors (diagonal for an aligned init).
pub fn task_in_bases(factors: &BalancedFactors, sigma_yx: &DMatrix<f64>) -> DMatrix<f64> {
    let depth = factors.bases.len() - 1;
    factors.bases[depth].transpose() * sigma_yx * &factors.bases[0]
}

#[cfg(test)]
mod tests;
