//! One task-aligned mode (docs/math.md §3.5): the scalar dynamics
//! $\tau\dot a = \sqrt{\lambda^2 + 4a^2}\,(\tilde s - a)$ in closed form.
//!
//! With $s_\lambda = \sqrt{\tilde s^2 + \lambda^2/4}$, the fixed-point mode strengths
//! $c_+ = \sqrt{(s_\lambda - \lambda/2)/(2s_\lambda)}$, $d_+ = \sqrt{(s_\lambda + \lambda/2)/(2s_\lambda)}$,
//! the initial ones $c_0 = \operatorname{sgn}(a_0)\sqrt{\sqrt{a_0^2+\lambda^2/4}-\lambda/2}$,
//! $d_0 = \sqrt{\sqrt{a_0^2+\lambda^2/4}+\lambda/2}$, $p_\pm$ their overlaps and
//! $e = e^{-2s_\lambda t/\tau}$:
//! $$a(t) = \frac{\tilde s\,(p_+^2 - p_-^2e^2) - \lambda p_+p_-e}{2s_\lambda e + p_+^2(1-e) + p_-^2 e(1-e)}.$$
//! λ = 0 gives the sigmoid of Saxe et al. (2014); |λ| → ∞ the exponential of a shallow network.
//! A negative `a0` (anti-aligned start) is allowed: at λ = 0 it stays on the saddle `a → 0`.

use crate::error::SolverError;

/// The closed-form trajectory of one aligned mode.
#[derive(Clone, Copy, Debug)]
pub struct AlignedMode {
    s_task: f64,
    a0: f64,
    lambda: f64,
    tau: f64,
    s_lambda: f64,
    p_plus: f64,
    p_minus: f64,
}

/// `(sqrt(x² + λ²/4) − λ/2, sqrt(x² + λ²/4) + λ/2)` without cancellation.
fn split_squares(x: f64, lambda: f64) -> (f64, f64) {
    let half = 0.5 * lambda;
    let h = x.hypot(half);
    if lambda >= 0.0 {
        let plus = h + half;
        (if plus > 0.0 { x * x / plus } else { 0.0 }, plus)
    } else {
        let minus = h - half;
        (minus, x * x / minus)
    }
}

impl AlignedMode {
    /// A mode with task singular value `s_task > 0`, initial strength `a0` and relative scale λ.
    pub fn new(s_task: f64, a0: f64, lambda: f64, tau: f64) -> Result<AlignedMode, SolverError> {
        let finite = [s_task, a0, lambda, tau].iter().all(|x| x.is_finite());
        if !finite || s_task <= 0.0 || tau <= 0.0 {
            return Err(SolverError::InvalidInput(format!(
                "aligned mode needs finite s_task > 0 and tau > 0 (got s_task = {s_task}, a0 = \
                 {a0}, lambda = {lambda}, tau = {tau})"
            )));
        }
        let s_lambda = s_task.hypot(0.5 * lambda);
        let (minus, plus) = split_squares(s_task, lambda);
        let c_plus = (minus / (2.0 * s_lambda)).sqrt();
        let d_plus = (plus / (2.0 * s_lambda)).sqrt();
        let (minus0, plus0) = split_squares(a0, lambda);
        let h0 = a0.hypot(0.5 * lambda);
        let (c0, d0) = (minus0.sqrt(), plus0.sqrt());
        // p₊ = c₊c₀ + d₊d₀ and p₋ = c₊d₀ − d₊c₀ with c₀ carrying the sign of a0. The difference
        // of products is rewritten from d₊²d₀² − c₊²c₀² = λ(s_λ + h₀)/(2s_λ) and
        // c₊²d₀² − d₊²c₀² = λ(s̃² − a0²)/((s_λ + h₀) 2s_λ), so that p₊ = 0 exactly on the λ = 0
        // saddle and p₋ = 0 exactly at the fixed point.
        let (p_plus, p_minus) = if a0 >= 0.0 {
            let p_minus = lambda * (s_task * s_task - a0 * a0)
                / ((s_lambda + h0) * 2.0 * s_lambda * (c_plus * d0 + d_plus * c0));
            (c_plus * c0 + d_plus * d0, if p_minus.is_finite() { p_minus } else { 0.0 })
        } else {
            let p_plus = lambda * (s_lambda + h0) / (2.0 * s_lambda * (d_plus * d0 + c_plus * c0));
            (if p_plus.is_finite() { p_plus } else { 0.0 }, c_plus * d0 + d_plus * c0)
        };
        Ok(AlignedMode { s_task, a0, lambda, tau, s_lambda, p_plus, p_minus })
    }

    /// The mode strength `a(t)` (a singular value of `W2W1` for a positive mode).
    pub fn value(&self, t: f64) -> f64 {
        let x = 2.0 * self.s_lambda * t / self.tau;
        let e = (-x).exp();
        let one_minus_e = -(-x).exp_m1();
        let (pp, pm) = (self.p_plus, self.p_minus);
        if pp == 0.0 {
            // On the saddle (λ = 0, a0 < 0) one factor e cancels; a(t) → 0 without 0/0.
            return -self.s_task * pm * pm * e / (2.0 * self.s_lambda + pm * pm * one_minus_e);
        }
        let num = self.s_task * (pp * pp - pm * pm * e * e) - self.lambda * pp * pm * e;
        let den = 2.0 * self.s_lambda * e + pp * pp * one_minus_e + pm * pm * e * one_minus_e;
        num / den
    }

    /// Learning progress `γ(t) = (a(t) − a0)/(s̃ − a0)` of the paper's
    /// `s(t) = s(0) + γ(t)(s̃ − s(0))`.
    pub fn progress(&self, t: f64) -> f64 {
        (self.value(t) - self.a0) / (self.s_task - self.a0)
    }

    /// The right-hand side of the mode ODE, `sqrt(λ² + 4a²)(s̃ − a)/τ`.
    pub fn rate(&self, a: f64) -> f64 {
        self.lambda.hypot(2.0 * a) * (self.s_task - a) / self.tau
    }
}

/// Saxe et al. (2014) sigmoid, the λ = 0 case: `s̃ e^{2s̃t} / (e^{2s̃t} − 1 + s̃/a0)` (τ = 1),
/// written with `e^{−2s̃t}` so it never overflows.
pub fn saxe_sigmoid(s_task: f64, a0: f64, t: f64) -> f64 {
    let e = (-2.0 * s_task * t).exp();
    s_task / (1.0 - e + e * s_task / a0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rk4(mode: &AlignedMode, a0: f64, t_end: f64, dt: f64) -> f64 {
        let n = (t_end / dt).ceil() as usize;
        let h = t_end / n as f64;
        let mut a = a0;
        for _ in 0..n {
            let k1 = mode.rate(a);
            let k2 = mode.rate(a + 0.5 * h * k1);
            let k3 = mode.rate(a + 0.5 * h * k2);
            let k4 = mode.rate(a + h * k3);
            a += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
        }
        a
    }

    #[test]
    fn matches_the_ode_for_both_signs_of_a0_and_lambda() {
        for lambda in [-4.0, -1.0, 0.0, 1e-3, 1.0, 4.0] {
            for a0 in [0.01, 0.3, 2.5, -0.2] {
                if lambda == 0.0 && a0 < 0.0 {
                    continue; // the saddle: covered below
                }
                let mode = AlignedMode::new(1.5, a0, lambda, 1.0).unwrap();
                for t in [0.0, 0.3, 1.0, 4.0] {
                    let exact = mode.value(t);
                    let numeric = rk4(&mode, a0, t, 1e-4);
                    assert!(
                        (exact - numeric).abs() < 1e-10,
                        "lambda {lambda} a0 {a0} t {t}: {exact} vs {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn anti_aligned_start_at_lambda_zero_stays_on_the_saddle() {
        let mode = AlignedMode::new(1.5, -0.2, 0.0, 1.0).unwrap();
        assert!(mode.value(50.0).abs() < 1e-12);
        assert!(mode.value(1e12).is_finite());
    }

    #[test]
    fn extreme_times_and_lambdas_stay_finite() {
        for lambda in [-1e4, -200.0, 0.0, 200.0, 1e4] {
            let mode = AlignedMode::new(1.5, 0.01, lambda, 1.0).unwrap();
            for t in [0.0, 1e-12, 1.0, 1e8, 1e12] {
                let a = mode.value(t);
                assert!(a.is_finite(), "lambda {lambda} t {t}");
            }
            assert!((mode.value(1e12) - 1.5).abs() < 1e-12);
            assert!((mode.value(0.0) - 0.01).abs() < 1e-15);
        }
    }
}
