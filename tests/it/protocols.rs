//! Tasks and protocols (issue 4, docs/math.md §5.1): forgetting at convergence, reversal, closed form vs
//! simulation on every protocol, the hierarchy's spectrum.

use lazyrich_solver::SolverError;
use lazyrich_solver::init::{self, Balanced, ProductBases, ProductValues};
use lazyrich_solver::linalg::FullSvd;
use lazyrich_solver::metrics::{Objective, product_from_qqt};
use lazyrich_solver::simulate::Integrator;
use lazyrich_solver::{Network, Status};
use lazyrich_tasks::{
    Event, Protocol, SourceDef, State, TaskDef, forgetting_formula, hierarchy, protocol,
    run_closed_form, run_simulation,
};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn draw(def: &TaskDef, n_in: usize, n_out: usize, seed: u64) -> Protocol {
    protocol(def, n_in, n_out, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

fn balanced_net(widths: &[usize], lambda: f64, sigma: f64, seed: u64) -> Network {
    let params = Balanced {
        lambda,
        values: ProductValues::GaussianProduct { sigma },
        bases: ProductBases::Random,
    };
    init::balanced(widths, &params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

fn aligned_net(widths: &[usize], lambda: f64, sigma_yx: &DMatrix<f64>) -> Network {
    let m = widths[0].min(widths[widths.len() - 1]);
    let values = vec![1e-3; m];
    let params = Balanced {
        lambda,
        values: ProductValues::Given(&values),
        bases: ProductBases::TaskAligned(sigma_yx),
    };
    init::balanced(widths, &params, &mut ChaCha8Rng::seed_from_u64(0)).unwrap()
}

/// `QQᵀ` at the end of every phase (the closed form).
fn phase_ends(protocol: &Protocol, net: &Network, times: &[f64]) -> Vec<DMatrix<f64>> {
    let t_phase = *times.last().unwrap();
    let mut ends = Vec::new();
    run_closed_form(protocol, net, times, |event| {
        if let Event::At { requested, state: State::Qqt(qqt), .. } = event
            && requested == t_phase
        {
            ends.push(qqt.clone());
        }
    })
    .unwrap();
    ends
}

/// `QQᵀ` at every grid time of every phase, from the closed form.
fn exact_series(protocol: &Protocol, net: &Network, times: &[f64]) -> Vec<DMatrix<f64>> {
    let mut series = Vec::new();
    run_closed_form(protocol, net, times, |event| {
        if let Event::At { state: State::Qqt(q), .. } = event {
            series.push(q.clone());
        }
    })
    .unwrap_or_else(|err| panic!("{err}"));
    series
}

/// `QQᵀ` at every grid time of every phase, simulated, and the largest balance drift.
fn simulated_series(
    protocol: &Protocol,
    net: &Network,
    integrator: Integrator,
    times: &[f64],
) -> (Vec<DMatrix<f64>>, f64) {
    let mut series = Vec::new();
    let outcome = run_simulation(protocol, net, integrator, times, |event| {
        if let Event::At { state: State::Network(n), .. } = event {
            let q = n.q_matrix().unwrap();
            series.push(&q * q.transpose());
        }
    })
    .unwrap_or_else(|err| panic!("{err}"));
    (series, outcome.balance_drift.iter().copied().fold(0.0, f64::max))
}

/// Largest relative Frobenius distance between matching entries of two series.
fn worst_relative_error(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).norm() / x.norm()).fold(0.0, f64::max)
}

/// docs/math.md §5.1: after training to convergence on task j and then on task k, the loss of task i
/// has changed by ½(‖Σk − Σi‖² − ‖Σj − Σi‖²), for every λ.
#[test]
fn forgetting_equals_the_formula_at_convergence() {
    let def = TaskDef::Continual { tasks: 4, samples: 25 };
    for (seed, lambda) in [(1, -2.0), (2, -0.5), (3, 0.5), (4, 1.0), (5, 3.0)] {
        let p = draw(&def, 5, 5, seed);
        let net = balanced_net(&[5, 5, 5], lambda, 0.1, seed);
        let ends = phase_ends(&p, &net, &[0.0, 1.0, 1e5]);
        assert_eq!(ends.len(), 4);
        let objectives: Vec<Objective> = p.tasks.iter().map(Objective::new).collect();
        let losses: Vec<Vec<f64>> =
            ends.iter().map(|q| objectives.iter().map(|o| o.loss_from_qqt(q)).collect()).collect();
        let mut largest: f64 = 0.0;
        for (k, pair) in losses.windows(2).enumerate().map(|(k, w)| (k + 1, w)) {
            for (i, (after, before)) in pair[1].iter().zip(&pair[0]).enumerate() {
                let measured = after - before;
                let predicted = forgetting_formula(&p.tasks, k - 1, k, i);
                assert!(
                    (measured - predicted).abs() < 1e-8,
                    "λ = {lambda}, phase {k}, task {i}: {measured} vs {predicted}"
                );
                largest = largest.max(predicted.abs());
            }
        }
        // Not a vacuous comparison: tasks are forgotten.
        assert!(largest > 0.1, "largest predicted forgetting {largest}");
    }
}

/// docs/math.md §5.1 reversal: at λ = 0 the second phase starts with B exactly singular (status
/// `singular`, not a crash); at λ = ±1 the network learns −Σyx.
#[test]
fn reversal_is_singular_at_lambda_zero_and_learns_minus_sigma_otherwise() {
    let def = TaskDef::Reversal { samples: 16 };
    let times = [0.0, 1.0, 10.0, 1e4];
    for seed in 0..3 {
        let p = draw(&def, 4, 4, seed);
        let sigma = &p.tasks[0].sigma_yx;
        // A task-aligned start, so that phase 1 itself is regular at λ = 0 (P2).
        let net = aligned_net(&[4, 4, 4], 0.0, sigma);
        let mut phase_one_end = None;
        let err = run_closed_form(&p, &net, &times, |event| {
            if let Event::At { phase: 0, requested: 1e4, state: State::Qqt(q), .. } = event {
                phase_one_end = Some(q.clone());
            }
        })
        .unwrap_err();
        assert_eq!(err.phase, 1, "{err}");
        assert!(matches!(err.error, SolverError::Singular { .. }), "{err}");
        assert_eq!(err.error.status(), Some(Status::Singular));
        assert!(err.to_string().starts_with("phase 2 of 2: "), "{err}");
        let learned = product_from_qqt(&phase_one_end.unwrap(), 4);
        assert!((learned - sigma).norm() < 1e-10 * sigma.norm());

        for lambda in [-1.0, 1.0] {
            let net = balanced_net(&[4, 4, 4], lambda, 0.1, seed);
            let ends = phase_ends(&p, &net, &times);
            let reversed = product_from_qqt(&ends[1], 4);
            let rel = (reversed + sigma).norm() / sigma.norm();
            assert!(rel < 1e-10, "λ = {lambda}: relative error {rel:e}");
        }
    }
}

/// Every protocol: the closed form restarted at each switch equals RK4 continued through the
/// switches (and re-balanced for fine-tuning); gradient descent follows within O(lr).
#[test]
fn closed_form_and_simulation_agree_on_every_protocol() {
    let random = SourceDef::Random { samples: 16, shared: 1 };
    let tree = SourceDef::Hierarchy { levels: 2, split: true };
    let cases: Vec<(TaskDef, [usize; 3], f64)> = vec![
        (TaskDef::Random { samples: 8 }, [3, 2, 2], 0.5),
        (TaskDef::Hierarchy { levels: 2, split: true }, [4, 4, 4], -0.7),
        (TaskDef::Reversal { samples: 8 }, [3, 3, 3], 1.0),
        (TaskDef::Continual { tasks: 3, samples: 8 }, [2, 2, 3], -1.2),
        (TaskDef::Transfer(random.clone()), [4, 3, 3], 0.3),
        (TaskDef::Transfer(tree.clone()), [4, 4, 5], 2.0),
        (TaskDef::FineTune { source: random, lambda_ft: -1.0 }, [3, 3, 3], 1.5),
        (TaskDef::FineTune { source: tree, lambda_ft: 2.5 }, [4, 4, 5], -0.5),
    ];
    let times = [0.0, 0.3, 1.0, 2.5];
    for (idx, (def, widths, lambda)) in cases.iter().enumerate() {
        let p = draw(def, widths[0], widths[2], idx as u64);
        let net = balanced_net(widths, *lambda, 0.4, idx as u64);
        let exact = exact_series(&p, &net, &times);
        assert_eq!(exact.len(), 4 + 3 * (p.phases.len() - 1));
        // GD does not conserve the balance exactly (its drift is O(lr) over unit time).
        for (integrator, tol, drift_tol) in [
            (Integrator::Rk4 { dt: 1e-3 }, 1e-9, 1e-10),
            (Integrator::GradientDescent { lr: 1e-3 }, 1e-2, 1e-2),
        ] {
            let (simulated, drift) = simulated_series(&p, &net, integrator, &times);
            let worst = worst_relative_error(&exact, &simulated);
            assert!(worst < tol, "{def:?} with {integrator:?}: relative error {worst:e}");
            assert!(drift < drift_tol, "{def:?} with {integrator:?}: drift {drift:e}");
        }
        // Each later phase moves the function towards its own task.
        let n_in = widths[0];
        let task = |k: usize| &p.problem(k).sigma_yx;
        for k in 1..p.phases.len() {
            let (start, end) = (&exact[3 + 3 * (k - 1)], &exact[3 + 3 * k]);
            let gap = |q: &DMatrix<f64>| (product_from_qqt(q, n_in) - task(k)).norm();
            assert!(gap(end) < gap(start), "{def:?}: phase {k} did not approach its task");
        }
    }
}

/// Depth > 2 runs protocols by simulation: every phase closes 90 % of its own loss gap and the balance of
/// every layer pair is kept within each phase.
#[test]
fn deep_protocols_run_by_simulation() {
    let p = draw(&TaskDef::Continual { tasks: 3, samples: 16 }, 3, 3, 11);
    let net = balanced_net(&[3, 3, 3, 3], 0.5, 1.0, 11);
    let objectives: Vec<Objective> = p.tasks.iter().map(Objective::new).collect();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let outcome =
        run_simulation(&p, &net, Integrator::Rk4 { dt: 1e-2 }, &[0.0, 5.0, 50.0], |e| match e {
            Event::Start { phase, state: State::Network(n), .. } => {
                starts.push(objectives[phase].loss_of_product(&n.product()));
            }
            Event::At { phase, requested: 50.0, state: State::Network(n), .. } => {
                ends.push(objectives[phase].loss_of_product(&n.product()));
            }
            _ => {}
        })
        .unwrap();
    assert_eq!((starts.len(), ends.len()), (3, 3));
    for (k, (start, end)) in starts.iter().zip(&ends).enumerate() {
        let optimum = objectives[k].optimal_loss();
        assert!(
            end - optimum < 0.1 * (start - optimum),
            "phase {k}: {start} → {end} (optimum {optimum})"
        );
    }
    assert_eq!(outcome.balance_drift.len(), 2);
    // RK4 with dt = 1e-2 over 150 time units: drift ~ 2e-5.
    assert!(outcome.balance_drift.iter().all(|&d| d < 1e-4), "{:?}", outcome.balance_drift);
}

/// The hierarchy's Σyx = tableᵀ/n has orthogonal feature columns: singular values √(n/2^ℓ)/n
/// with multiplicity 2^ℓ per tree level ℓ (plus the root feature), and with `split` the column
/// norms times 1 + 0.1/j, all distinct.
#[test]
fn hierarchy_has_the_expected_singular_values() {
    for levels in 1..=5u32 {
        let n = 1usize << levels;
        let nf = n as f64;
        let mut expected = vec![nf.sqrt() / nf];
        for level in 0..levels {
            let span = (n >> level) as f64;
            expected.extend(std::iter::repeat_n(span.sqrt() / nf, 1 << level));
        }
        expected.sort_by(|a, b| b.total_cmp(a));
        let s =
            FullSvd::new(&hierarchy(levels, false).unwrap().problem.sigma_yx, "task").unwrap().s;
        for (got, want) in s.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-14, "levels {levels}: {s} vs {expected:?}");
        }
        // With split: column j (1-based) scaled by 1 + 0.1/j, so the values are distinct.
        let mut split: Vec<f64> =
            std::iter::once(nf.sqrt())
                .chain((0..levels).flat_map(|level| {
                    std::iter::repeat_n(((n >> level) as f64).sqrt(), 1 << level)
                }))
                .enumerate()
                .map(|(j, norm)| norm * (1.0 + 0.1 / (j + 1) as f64) / nf)
                .collect();
        split.sort_by(|a, b| b.total_cmp(a));
        let s = FullSvd::new(&hierarchy(levels, true).unwrap().problem.sigma_yx, "task").unwrap().s;
        for (got, want) in s.iter().zip(&split) {
            assert!((got - want).abs() < 1e-14, "levels {levels} split: {s} vs {split:?}");
        }
        assert!(split.windows(2).all(|w| w[0] - w[1] > 1e-6), "{split:?}");
    }
    // docs/math.md §5.1: the 8-item tree, s = (√8, √8, 2, 2, √2, √2, √2, √2)/8.
    let s = FullSvd::new(&hierarchy(3, false).unwrap().problem.sigma_yx, "task").unwrap().s;
    let r8 = 8f64.sqrt() / 8.0;
    let r2 = 2f64.sqrt() / 8.0;
    let expected = [r8, r8, 0.25, 0.25, r2, r2, r2, r2];
    assert!(s.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-15), "{s}");
}

/// `until`: a phase ends at the first grid time at which its excess loss is at most `until`
/// times its initial excess; the closed form and RK4 switch at the same grid times and follow
/// the same trajectory through the earlier switches.
#[test]
fn convergence_criterion_ends_phases_early_for_both_methods() {
    let mut p = draw(&TaskDef::Continual { tasks: 3, samples: 16 }, 3, 3, 21);
    p.until = Some(1e-6);
    let net = balanced_net(&[3, 3, 3], 1.0, 0.3, 21);
    let times: Vec<f64> = (0..=40).map(|k| 0.25 * f64::from(k)).collect(); // 0 … 10
    let objectives: Vec<Objective> = p.tasks.iter().map(Objective::new).collect();
    type Record = (usize, f64, f64, bool); // phase, t, excess loss on the phase's task, last
    let mut exact: Vec<Record> = Vec::new();
    let mut starts = Vec::new();
    run_closed_form(&p, &net, &times, |e| match e {
        Event::Start { state: State::Qqt(q), phase, .. } => {
            starts.push(objectives[phase].excess_loss(&product_from_qqt(q, 3)));
        }
        Event::At { phase, t, state: State::Qqt(q), last, .. } => {
            exact.push((phase, t, objectives[phase].excess_loss(&product_from_qqt(q, 3)), last));
        }
        _ => {}
    })
    .unwrap();
    let mut simulated: Vec<Record> = Vec::new();
    run_simulation(&p, &net, Integrator::Rk4 { dt: 1e-3 }, &times, |e| {
        if let Event::At { phase, t, state: State::Network(n), last, .. } = e {
            simulated.push((phase, t, objectives[phase].excess_loss(&n.product()), last));
        }
    })
    .unwrap();
    let ends: Vec<&Record> = exact.iter().filter(|r| r.3).collect();
    assert_eq!(ends.len(), 3);
    for (k, end) in ends.iter().enumerate() {
        assert!(
            end.2 <= 1e-6 * starts[k],
            "phase {k}: excess {:e} vs start {:e}",
            end.2,
            starts[k]
        );
    }
    // Every phase stopped before the end of its grid (10 time units).
    let mut previous = 0.0;
    for end in &ends {
        assert!(end.1 - previous < 10.0, "a phase ran its whole grid: ends {ends:?}");
        previous = end.1;
    }
    // Both methods switch at the same times and agree along the way.
    assert_eq!(exact.len(), simulated.len());
    for (a, b) in exact.iter().zip(&simulated) {
        assert_eq!((a.0, a.3), (b.0, b.3));
        assert!((a.1 - b.1).abs() < 1e-12, "switch times {} vs {}", a.1, b.1);
        assert!((a.2 - b.2).abs() <= 1e-7 * a.2.max(1e-6), "excess {} vs {}", a.2, b.2);
    }
}

/// Nh > min(Ni, No): the closed form (generic Fukumizu form) restarts from a factor of QQᵀ at
/// every switch and still follows RK4 through the protocol.
#[test]
fn wide_hidden_layer_protocols_restart_from_a_factor_of_qqt() {
    let p = draw(&TaskDef::Continual { tasks: 3, samples: 16 }, 3, 3, 31);
    let net = balanced_net(&[3, 5, 3], 0.0, 0.3, 31);
    let times = [0.0, 0.25, 0.5, 1.0];
    let exact = exact_series(&p, &net, &times);
    let (simulated, _) = simulated_series(&p, &net, Integrator::Rk4 { dt: 1e-3 }, &times);
    assert_eq!(exact.len(), 10);
    let worst = worst_relative_error(&exact, &simulated);
    assert!(worst < 1e-8, "relative error {worst:e}");
}
