//! Is a simulation's step likely to be unstable? A bound on the loss curvature along the
//! trajectory of a point, for `lazyrich plan`'s warnings.
//!
//! For the whitened loss `½‖Σyx − W_L⋯W_1‖²` the Gauss–Newton curvature with respect to all the
//! weights is at most `Σ_l Π_{k≠l} ‖W_k‖²` (each layer's Jacobian is the product of the others).
//! It is evaluated at the initialization and at the solution: for two layers with balance λ
//! the solution has `‖W_1‖² + ‖W_2‖² = √(λ² + 4 s̃²)` (`s̃` the top singular value of Σyx,
//! docs/math.md §2), and a deep network at λ = 0 has `‖W_l‖² = s̃^{2/L}`, so
//! `Σ_l Π_{k≠l} ‖W_k‖² = L · s̃^{2(L−1)/L}`. The larger of the two is the estimate.
//!
//! Gradient descent `W ← W − lr ∇L` is unstable once `lr · curvature > 2`; classical RK4 on the
//! flow `τ dW/dt = −∇L` once `dt · curvature / τ` exceeds its stability limit on the negative
//! real axis, about 2.785. Nonlinear effects make these indications, not guarantees.

use lazyrich_solver::Network;
use lazyrich_solver::linalg::singular_values;
use lazyrich_sweep::{Point, Step};

use crate::materialize::{first_problem, initial_network};

/// The stability limit of `step × curvature` for gradient descent.
pub const GD_LIMIT: f64 = 2.0;
/// The stability limit of `dt × curvature / τ` for classical RK4 (where its stability region
/// meets the negative real axis).
pub const RK4_LIMIT: f64 = 2.785;

/// What [`step_check`] found for one point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepCheck {
    /// The simulation and its step (`lr` or `dt`).
    pub step: Step,
    /// The curvature estimate (see the module docs), already divided by τ for RK4.
    pub curvature: f64,
    /// `step × curvature`.
    pub product: f64,
    /// The stability limit of `product` for this method.
    pub limit: f64,
}

impl StepCheck {
    /// Whether `product` exceeds `limit`.
    pub fn unstable(&self) -> bool {
        self.product > self.limit
    }

    /// The largest step that keeps `product` below the limit.
    pub fn largest_stable_step(&self) -> f64 {
        self.limit / self.curvature
    }
}

/// The step check of `point`: `None` when it simulates nothing, or when its task or
/// initialization cannot be built (the run reports that in its row) or is not whitened.
pub fn step_check(point: &Point) -> Option<StepCheck> {
    let step = point.step()?;
    // The adaptive integrator chooses its own stable steps (docs/math.md §6.1).
    if matches!(step, Step::Adaptive { .. }) {
        return None;
    }
    let (problem, _) = first_problem(point).ok()?;
    if problem.sigma_xx.is_some() || problem.tau.is_nan() || problem.tau <= 0.0 {
        return None;
    }
    let net = initial_network(point, &problem.sigma_yx).ok()?;
    let task_norm = top_singular_value(&problem.sigma_yx)?;
    let at_init = curvature_bound(&net)?;
    let depth = net.depth() as f64;
    let at_solution = if net.depth() == 2 {
        // The largest |λ_l| of a per-layer profile bounds the curvature as |λ| does.
        let lambda = point.max_abs_lambda().unwrap_or(0.0);
        (lambda * lambda + 4.0 * task_norm * task_norm).sqrt()
    } else {
        depth * task_norm.powf(2.0 * (depth - 1.0) / depth)
    };
    let curvature = at_init.max(at_solution);
    let (size, limit, curvature) = match step {
        Step::Gd { lr } => (lr, GD_LIMIT, curvature),
        Step::Rk4 { dt } => (dt, RK4_LIMIT, curvature / problem.tau),
        Step::Adaptive { .. } => return None,
    };
    let product = size * curvature;
    product.is_finite().then_some(StepCheck { step, curvature, product, limit })
}

/// `Σ_l Π_{k≠l} ‖W_k‖²` (spectral norms).
fn curvature_bound(net: &Network) -> Option<f64> {
    let squared: Vec<f64> =
        net.layers.iter().map(|w| top_singular_value(w).map(|s| s * s)).collect::<Option<_>>()?;
    let total = (0..squared.len())
        .map(|l| {
            squared.iter().enumerate().filter(|&(k, _)| k != l).map(|(_, s)| s).product::<f64>()
        })
        .sum();
    Some(total)
}

fn top_singular_value(m: &nalgebra::DMatrix<f64>) -> Option<f64> {
    let values = singular_values(m, "the stability check").ok()?;
    Some(values.iter().copied().fold(0.0, f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute_point;
    use lazyrich_sweep::{Shard, Spec};

    /// Gradient descent at three learning rates and two scales. The estimate is an upper bound
    /// near the start (and the trajectory may leave a sharp region), so between 1× and 2× the
    /// limit either outcome is possible; below the limit no point diverges, above twice the
    /// limit every point does.
    #[test]
    fn the_check_predicts_which_gradient_descents_diverge() {
        let text = "name = \"u\"\nseed = 2\n[[block]]\ntask = { kind = \"random\", samples = 16 }\n\
                    init = \"balanced\"\nwidths = [4, 4, 4]\ntime = { linspace = [0, 10, 11] }\n\
                    method = \"gd\"\nlr = [0.01, 0.05, 0.2]\nscale = [0.5, 2.0]\nlambda = [-1, 1]\n";
        let spec = Spec::parse(text, "u.toml").unwrap();
        let (mut stable, mut unstable) = (0, 0);
        for point in spec.points(Shard::ALL) {
            let check = step_check(&point).unwrap();
            let diverged = compute_point(&point).status == "diverged";
            let what = format!(
                "lr {:?} scale {:?} λ {:?}: {check:?}",
                point.lr, point.scale, point.lambda
            );
            if check.product < check.limit {
                assert!(!diverged, "diverged below the limit: {what}");
                stable += 1;
            } else if check.product > 2.0 * check.limit {
                assert!(diverged, "did not diverge at twice the limit: {what}");
                unstable += 1;
            }
        }
        assert!(stable >= 4 && unstable >= 2, "both kinds: {stable} stable, {unstable} unstable");
    }

    #[test]
    fn the_closed_form_has_no_step() {
        let text = "name = \"c\"\nseed = 2\n[[block]]\ntask = { kind = \"random\", samples = 16 }\n\
                    init = \"balanced\"\nwidths = [3, 3, 3]\ntime = [0, 1]\n\
                    method = \"closed-form\"\nscale = 1.0\nlambda = 1.0\n";
        let spec = Spec::parse(text, "c.toml").unwrap();
        let point = spec.points(Shard::ALL).next().unwrap();
        assert!(step_check(&point).is_none());
    }
}
