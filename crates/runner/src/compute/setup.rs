//! A point → what it runs: the tasks crate's [`TaskDef`] and [`Protocol`], the initial
//! [`Network`], and the row's parameter columns.

use lazyrich_solver::Network;
use lazyrich_solver::init::{self, BalancedFactors, ProductBases, ProductValues};
use lazyrich_store::PointRow;
use lazyrich_sweep::{InitKind, Point, TaskSpec, TransferSource};
use lazyrich_tasks::{Protocol, SourceDef, TaskDef};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::outcome::{Outcome, invalid};

/// The row of `point` with its parameter columns filled in (results empty).
pub(super) fn parameters_row(point: &Point) -> PointRow {
    let to_u32 = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    PointRow {
        point_id: point.point_id,
        seed: point.seed,
        block: point.block,
        replicate: point.replicate,
        lambda: point.lambda,
        lambdas: point.layer_lambdas().unwrap_or_default(),
        lambda_ft: point.task.lambda_ft(),
        scale: point.scale,
        depth: to_u32(point.depth()),
        widths: point.widths.iter().map(|&w| to_u32(w)).collect(),
        n_in: to_u32(point.n_in()),
        n_hidden: to_u32(point.n_hidden()),
        n_out: to_u32(point.n_out()),
        task: point.task.kind().to_owned(),
        task_params: point.task.canonical(),
        task_samples: point.task.samples(),
        n_phases: point.task.n_phases(),
        init: point.init.as_str().to_owned(),
        method: point.method.as_str().to_owned(),
        lr: point.lr,
        dt: point.dt,
        // Set from the times actually computed (summary), null if none is.
        t_end: None,
        ..PointRow::default()
    }
}

/// The tasks crate's description of a spec task.
fn task_def(task: &TaskSpec) -> Result<TaskDef, Outcome> {
    let source_def = |source: &TransferSource| match *source {
        TransferSource::Random { samples, shared } => {
            SourceDef::Random { samples: samples as usize, shared: shared as usize }
        }
        TransferSource::Hierarchy { levels, split } => SourceDef::Hierarchy { levels, split },
    };
    Ok(match *task {
        TaskSpec::Random { samples } => TaskDef::Random { samples: samples as usize },
        TaskSpec::Hierarchy { levels, split } => TaskDef::Hierarchy { levels, split },
        TaskSpec::Reversal { samples, .. } => TaskDef::Reversal { samples: samples as usize },
        TaskSpec::Continual { tasks, samples, .. } => {
            TaskDef::Continual { tasks: tasks as usize, samples: samples as usize }
        }
        TaskSpec::Transfer { ref source, .. } => TaskDef::Transfer(source_def(source)),
        TaskSpec::FineTune { ref source, lambda_ft, .. } => {
            TaskDef::FineTune { source: source_def(source), lambda_ft: lambda_ft.get() }
        }
        ref other => {
            return Err(invalid(format!(
                "task kind '{}' is not supported by this runner",
                other.kind()
            )));
        }
    })
}

/// The protocol of `point`: its tasks drawn from `task_seed`, its phases, its `until`.
pub(crate) fn build_protocol(point: &Point) -> Result<Protocol, Outcome> {
    let def = task_def(&point.task)?;
    let mut rng = ChaCha8Rng::seed_from_u64(point.task_seed);
    let mut protocol = lazyrich_tasks::protocol(&def, point.n_in(), point.n_out(), &mut rng)
        .map_err(|err| invalid(err.to_string()))?;
    protocol.until = point.task.until();
    Ok(protocol)
}

/// The initial network of `point`, drawn from `init_seed` (`balanced-signed` matches the sign
/// of `det Σyx` of `first_task`, docs/math.md P2).
pub(crate) fn build_network(point: &Point, first_task: &DMatrix<f64>) -> Result<Network, Outcome> {
    build_network_and_factors(point, first_task).map(|(net, _)| net)
}

/// [`build_network`], with the init's factors for init `aligned` (what the deep aligned closed
/// form evolves, docs/math.md §3.6; the same draws, the same network).
pub(crate) fn build_network_and_factors(
    point: &Point,
    first_task: &DMatrix<f64>,
) -> Result<(Network, Option<BalancedFactors>), Outcome> {
    let mut rng = ChaCha8Rng::seed_from_u64(point.init_seed);
    // A parsed spec sets λ and scale wherever the init uses them; there are no defaults here.
    let missing = |field: &str| {
        invalid(format!("init `{}` needs `{field}`, and this point has none", point.init.as_str()))
    };
    let scale = || point.scale.ok_or_else(|| missing("scale"));
    // One λ per hidden layer (`lambda` repeated, or the `lambdas` profile): with all λ_l equal
    // the solver's per-layer init is bitwise its scalar one (docs/math.md §2.2).
    let balanced = |bases, rng: &mut ChaCha8Rng| -> Result<BalancedFactors, Outcome> {
        let lambdas = point.layer_lambdas().ok_or_else(|| missing("lambda"))?;
        let values = ProductValues::GaussianProduct { sigma: scale()? };
        init::balanced_factors_layers(&point.widths, &lambdas, values, bases, rng)
            .map_err(Outcome::from)
    };
    let net = match point.init {
        InitKind::Balanced => balanced(ProductBases::Random, &mut rng)?.network(),
        InitKind::BalancedSigned => balanced(ProductBases::Random, &mut rng)?
            .network()
            .map(|net| init::match_determinant_sign(net, first_task)),
        InitKind::Aligned => {
            let factors = balanced(ProductBases::TaskAligned(first_task), &mut rng)?;
            let net = factors.network().map_err(Outcome::from)?;
            return Ok((net, Some(factors)));
        }
        InitKind::Gaussian => {
            init::gaussian(&point.widths, &vec![scale()?; point.depth()], &mut rng)
        }
        InitKind::Lecun => init::lecun(&point.widths, &mut rng),
    };
    // A numerical failure (an init that overflows f64) is `overflow`, a refused parameter
    // `invalid`.
    net.map(|net| (net, None)).map_err(Outcome::from)
}
