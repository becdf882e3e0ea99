//! A point's task and initial network as values, outside a run: for `lazyrich solve` from a
//! description (the weights a sweep point with the same parameters and seed starts from) and
//! for `plan`'s step check.

use lazyrich_solver::{Network, Problem};
use lazyrich_sweep::Point;
use nalgebra::DMatrix;

use lazyrich_solver::init::BalancedFactors;

use crate::compute::setup::{build_network, build_network_and_factors, build_protocol};

/// The first phase's problem of `point`'s task (drawn from its `task_seed`), and whether the
/// task has more than one phase (a protocol: reversal, continual, transfer, fine-tune).
pub fn first_problem(point: &Point) -> Result<(Problem, bool), String> {
    let protocol = build_protocol(point).map_err(|outcome| outcome.message)?;
    let several = protocol.phases.len() > 1;
    Ok((protocol.problem(0).clone(), several))
}

/// `point`'s initial network (drawn from its `init_seed`); `sigma_yx` is the task the
/// `aligned` and `balanced-signed` inits refer to.
pub fn initial_network(point: &Point, sigma_yx: &DMatrix<f64>) -> Result<Network, String> {
    build_network(point, sigma_yx).map_err(|outcome| outcome.message)
}

/// [`initial_network`], with the init's factors for init `aligned` (what the deep aligned
/// closed form evolves, docs/math.md §3.6): the same draws, the same network.
pub fn initial_network_and_factors(
    point: &Point,
    sigma_yx: &DMatrix<f64>,
) -> Result<(Network, Option<BalancedFactors>), String> {
    build_network_and_factors(point, sigma_yx).map_err(|outcome| outcome.message)
}
