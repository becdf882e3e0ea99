//! Numeric outcomes of single points: the reproductions of overflow, divergence, inaccuracy and
//! panics, each a status with finite values (docs/dataset.md "Statuses").

use lazyrich_sweep::{Shard, Spec};

use super::setup::build_protocol;
use super::*;

/// The points of a one-block spec (defaults: random task, 16 samples).
fn points(block: &str) -> Vec<Point> {
    let text = format!(
        "name = \"t\"\nseed = 3\n[defaults]\ntask = {{ kind = \"random\", samples = 16 }}\n\
         [[block]]\n{block}"
    );
    let spec = Spec::parse(&text, "t.toml").unwrap_or_else(|err| panic!("{err}"));
    spec.points(Shard::ALL).collect()
}

fn point(block: &str) -> Point {
    points(block).remove(0)
}

/// Every float of `row` is finite (docs/dataset.md "Non-finite values").
pub(crate) fn assert_all_finite(row: &PointRow) {
    for (name, value) in row.floats() {
        assert!(value.is_finite(), "{name} = {value}: {row:?}");
    }
    // The per-time series keep one common length.
    for len in [row.phase.len(), row.loss.len(), row.kernel_distance.len()] {
        assert_eq!(len, row.t.len());
    }
    assert_eq!(row.t_end, row.t.last().copied().or(row.t_end.filter(|_| row.t.is_empty())));
}

/// The reproduction of the SVD hang (`[4, 4, 4]`) and of the "Singular value was NaN" panic
/// (`[8, 2, 2]`): a scale of 1e300 with a balanced or aligned init. The spec refuses it; a point
/// built by hand is an `overflow` row with no time computed.
#[test]
fn an_init_beyond_f64_is_an_overflow_row_not_a_hang_or_a_panic() {
    for widths in ["[4, 4, 4]", "[8, 2, 2]", "[2, 2, 8]"] {
        for init in ["balanced", "balanced-signed", "aligned"] {
            for method in ["\"closed-form\"", "\"closed-form+rk4\"\ndt = 0.01", "\"gd\"\nlr = 0.1"]
            {
                let mut p = point(&format!(
                    "widths = {widths}\ninit = \"{init}\"\nmethod = {method}\nlambda = 0.5\n\
                     scale = 0.5\ntime = [0, 1, 2]\n"
                ));
                for scale in [1e300, 1e154] {
                    p.scale = Some(scale);
                    let row = compute_point(&p);
                    assert_eq!(row.status, "overflow", "{widths} {init} {method}: {:?}", row.error);
                    let error = row.error.clone().unwrap();
                    assert!(error.starts_with("overflow: "), "{error}");
                    assert_eq!(row.t_end, None, "no time was computed");
                    assert!(row.t.is_empty() && row.phase_t_end.is_empty());
                    assert_all_finite(&row);
                }
            }
        }
    }
}

/// A Gaussian init whose initial loss is infinite used to run, fail at the first step and blame
/// the learning rate: it is an overflow of the init.
#[test]
fn a_gaussian_init_with_an_infinite_initial_loss_is_an_overflow() {
    let mut p = point(
        "widths = [4, 4, 4]\ninit = \"gaussian\"\nmethod = \"rk4\"\ndt = 0.01\nscale = 1\n\
         time = [0, 1]\n",
    );
    for scale in [1e100, 1e160] {
        p.scale = Some(scale);
        let row = compute_point(&p);
        assert_eq!(row.status, "overflow");
        let error = row.error.clone().unwrap();
        assert!(
            error.starts_with("the initial loss is not finite") || error.starts_with("overflow")
        );
        assert!(!error.contains("learning rate"), "{error}");
        assert_eq!((row.initial_loss, row.t_end), (None, None));
        assert_all_finite(&row);
    }
}

/// Gradient descent with lr = 3 at λ = −1 blows up: on this draw the loss overflows f64 at
/// t = 18 while the weights are still finite (they overflow at t = 21, where the solver's own
/// check fires). A grid that ends at 18 used to give `ok` rows with `final_loss = inf` and
/// `kernel_distance_end = NaN`; now `diverged`, the series cut at the last finite time, for the
/// simulation and for the overlay of `closed-form+gd`. A longer grid, where the solver sees the
/// divergence, is `diverged` with finite series too.
#[test]
fn gradient_descent_that_blows_up_is_diverged_with_finite_series() {
    for (last, solver_sees_it) in [(36, false), (50, true)] {
        let times: Vec<String> = (0..=last).map(|k| (0.5 * f64::from(k)).to_string()).collect();
        let block = format!(
            "widths = [4, 4, 4]\ninit = \"balanced\"\nmethod = [\"gd\", \"closed-form+gd\"]\n\
             lr = 3\nlambda = -1\nscale = 0.5\ntime = [{}]\n",
            times.join(", ")
        );
        for p in points(&block) {
            let row = compute_point(&p);
            assert_eq!(row.status, "diverged", "{}: {:?}", p.method.as_str(), row.error);
            let error = row.error.clone().unwrap();
            assert_all_finite(&row);
            assert_eq!(row.tolerance, None);
            if p.method.uses_closed_form() {
                // The closed form is complete; the overlay stops before its first non-finite
                // value, and so does the error between them.
                assert_eq!((row.t.len(), row.sim_loss.len()), (times.len(), 33), "{error}");
                assert!(row.cf_sim_error.is_some_and(|e| e > 1.0));
                if !solver_sees_it {
                    assert_eq!(
                        error,
                        "the simulation diverged: its loss is not finite at t = 18 (learning \
                         rate or dt too large); sim_loss and cf_sim_error stop before it"
                    );
                }
            } else {
                assert_eq!(row.t.len(), 33, "the series stop at t = 15: {error}");
                assert_eq!((row.t_end, row.final_loss), (Some(15.0), row.loss.last().copied()));
                assert!(row.final_loss.unwrap() > 1e200);
                if solver_sees_it {
                    assert!(error.starts_with("simulation diverged at t = 21"), "{error}");
                    assert!(error.ends_with("[non-finite values removed: `loss` is not finite at t = 18; the series stop at t = 15]"), "{error}");
                } else {
                    assert_eq!(
                        error,
                        "the simulation diverged: `loss` is not finite at t = 18; the series \
                         stop at t = 15 (learning rate or dt too large)"
                    );
                }
            }
        }
    }
}

/// An RK4 step far too large for a depth-3 network keeps every value finite but breaks the
/// conserved balance (a relative drift near 1 used to be `ok`): `inaccurate`, with the drift and
/// the tolerance in their columns. A tolerance set in the spec is the one checked.
#[test]
fn rk4_whose_balance_drifts_beyond_the_tolerance_is_inaccurate() {
    let block = "widths = [4, 4, 4, 4]\ninit = \"balanced\"\nmethod = \"rk4\"\ndt = 0.2\n\
                 lambda = 1\nscale = 0.5\ntime = [0, 1, 2, 4]\n";
    let row = compute_point(&point(block));
    let drift = row.balance_drift.unwrap();
    assert!(drift > 1e-6, "drift {drift:e}");
    assert_eq!(row.status, "inaccurate", "{:?}", row.error);
    assert_eq!(row.tolerance, Some(lazyrich_sweep::DEFAULT_TOLERANCE));
    assert!(row.error.as_deref().unwrap().contains("exceeds the tolerance 1e-6"));
    assert_eq!(row.t.len(), 4, "every value is kept");
    assert_all_finite(&row);
    // A tolerance above the drift accepts the same point; a small dt is accurate by default.
    let loose = compute_point(&point(&format!("{block}tolerance = 0.9\n")));
    assert_eq!((loose.status.as_str(), loose.tolerance), ("ok", Some(0.9)));
    let fine = compute_point(&point(&block.replace("dt = 0.2", "dt = 0.01")));
    assert_eq!(fine.status, "ok", "{:?}", fine.error);
    assert!(fine.balance_drift.unwrap() < 1e-6);
    // Gradient descent drifts by design: no tolerance applies.
    let gd = compute_point(&point(&block.replace("\"rk4\"\ndt = 0.2", "\"gd\"\nlr = 0.2")));
    assert_eq!(gd.tolerance, None);
    assert_ne!(gd.status, "inaccurate");
}

/// The adaptive integrator: the default tolerance 1e-8 in the `tolerance` column, the overlay of
/// `closed-form+adaptive` within it of the closed form, a deep point `ok` with a drift below it,
/// and a tolerance set in the spec the one used.
#[test]
fn adaptive_points_record_their_tolerance_and_meet_it() {
    let block = "widths = [3, 3, 3]\ninit = \"balanced-signed\"\nmethod = \"closed-form+adaptive\"\n\
                 lambda = 0.5\nscale = 0.1\ntime = { linspace = [0, 10, 21] }\n";
    let row = compute_point(&point(block));
    assert_eq!(row.status, "ok", "{:?}", row.error);
    assert_eq!(row.tolerance, Some(lazyrich_sweep::DEFAULT_ADAPTIVE_TOLERANCE));
    assert!(row.cf_sim_error.unwrap() < 1e-8, "{:?}", row.cf_sim_error);
    assert_eq!(row.sim_loss.len(), 21);
    for (sim, exact) in row.sim_loss.iter().zip(&row.loss) {
        assert!((sim - exact).abs() < 1e-8 * row.initial_loss.unwrap(), "{sim} vs {exact}");
    }
    let deep = "widths = [4, 4, 4, 4]\ninit = \"balanced\"\nmethod = \"adaptive\"\n\
                lambda = 1\nscale = 0.5\ntime = [0, 1, 2, 4]\n";
    let row = compute_point(&point(deep));
    assert_eq!(row.status, "ok", "{:?}", row.error);
    assert!(row.balance_drift.unwrap() < 1e-8);
    assert_all_finite(&row);
    let loose = compute_point(&point(&format!("{deep}tolerance = 1e-4\n")));
    assert_eq!((loose.status.as_str(), loose.tolerance), ("ok", Some(1e-4)));
    assert!((loose.loss.last().unwrap() - row.loss.last().unwrap()).abs() < 1e-3);
}

/// A point that stops at t = 0 reports no `t_end` rather than the end of the grid.
#[test]
fn a_point_without_a_computed_time_has_a_null_t_end() {
    // λ = 0 on a square network: about half of the draws are singular (docs/math.md P2).
    let rows: Vec<PointRow> = points(
        "widths = [3, 3, 3]\ninit = \"balanced\"\nmethod = \"closed-form\"\nlambda = 0\n\
         scale = 0.5\nreplicates = 8\ntime = [0, 1, 2]\n",
    )
    .iter()
    .map(compute_point)
    .collect();
    let singular: Vec<&PointRow> = rows.iter().filter(|r| r.status == "singular").collect();
    assert!(!singular.is_empty());
    for row in singular {
        assert_eq!(row.t_end, None);
        assert!(row.initial_loss.is_some());
    }
    for row in rows.iter().filter(|r| r.status == "ok") {
        assert_eq!(row.t_end, Some(2.0));
    }
}

/// A panic while computing a point is a fresh row of its parameters with status `panic`, the
/// message and its location in `error`, and nothing else.
#[test]
fn a_panic_is_a_row_with_status_panic_and_nothing_half_written() {
    let p = point(
        "widths = [3, 3, 3]\ninit = \"balanced\"\nmethod = \"closed-form\"\nlambda = 1\n\
         scale = 0.5\ntime = [0, 1]\n",
    );
    let row = guarded(&p, |p| {
        let mut partial = compute_row(p, &mut SetupCache::default());
        partial.loss.push(f64::NAN);
        panic!("index out of bounds: the len is 3 but the index is 7");
    });
    assert_eq!(row.status, "panic");
    let error = row.error.clone().unwrap();
    assert!(
        error.starts_with(
            "computing the point panicked: index out of bounds: the len is 3 but the index is 7 \
             at crates/runner/src/compute/tests.rs:"
        ),
        "{error}"
    );
    assert!(error.ends_with("(a bug in lazyrich: please report it)"));
    let mut expected = parameters_row(&p);
    expected.status = row.status.clone();
    expected.error = row.error.clone();
    assert_eq!(row, expected);
    assert_all_finite(&row);
    // A computation that does not panic is returned as it is.
    let uncached = |p: &Point| compute_row(p, &mut SetupCache::default());
    assert_eq!(guarded(&p, uncached), uncached(&p));
}

/// The balance columns (docs/math.md §2.2, docs/dataset.md): λ̄ and both defects from the initial
/// weights, for every init; the relative defect is null where the balance is zero to rounding.
#[test]
fn every_init_records_the_balance_of_its_initial_weights() {
    // LeCun 40-200-80: λ̄ ≈ 80/200 − 1, the relative defect ≈ 0.97 (it does not vanish with
    // width), the entry defect ≈ √(1/40 + 80/200²) ≈ 0.16.
    let row = compute_point(&point(
        "widths = [40, 200, 80]\ntask = { kind = \"random\", samples = 40 }\ninit = \"lecun\"\n\
         method = \"gd\"\nlr = 0.01\ntime = [0]\n",
    ));
    assert_eq!(row.status, "ok", "{:?}", row.error);
    assert!((row.lambda_measured.unwrap() + 0.6).abs() < 0.02, "{row:?}");
    assert!((row.balance_defect.unwrap() - 0.968).abs() < 0.01, "{:?}", row.balance_defect);
    assert!((row.balance_entry_defect.unwrap() - 0.165).abs() < 0.01, "{row:?}");
    assert_all_finite(&row);

    // λ-balanced: exact to rounding at every hidden layer; at λ = 0 the relative defect is
    // undefined (B = 0).
    for (lambda, widths, relative) in
        [(0.5, "[4, 4, 4, 4]", true), (0.0, "[3, 3, 3]", false), (-2.0, "[4, 4, 4]", true)]
    {
        let row = compute_point(&point(&format!(
            "widths = {widths}\ninit = \"balanced\"\nmethod = \"gd\"\nlr = 0.01\nlambda = \
             {lambda}\nscale = 0.5\ntime = [0]\n"
        )));
        assert_eq!(row.status, "ok", "{:?}", row.error);
        assert!((row.lambda_measured.unwrap() - lambda).abs() < 1e-12);
        assert!(row.balance_entry_defect.unwrap() < 1e-12);
        assert_eq!(
            row.balance_defect.is_some(),
            relative,
            "λ = {lambda}: {:?}",
            row.balance_defect
        );
        assert!(row.balance_defect.is_none_or(|d| d < 1e-12));
    }

    // Depth 1 has no hidden layer, hence no balance.
    let row = compute_point(&point(
        "widths = [3, 3]\ninit = \"gaussian\"\nscale = 0.5\nmethod = \"gd\"\nlr = 0.01\ntime = [0]\n",
    ));
    assert_eq!(row.status, "ok", "{:?}", row.error);
    assert_eq!(
        (row.lambda_measured, row.balance_defect, row.balance_entry_defect),
        (None, None, None)
    );
}

/// The deep aligned closed form (docs/math.md §3.6) at depths 3 and 4 gives the row of the
/// adaptive simulation of the same point: every float column (per-time series, summaries,
/// singular values) within 1e-8, the same times and statuses.
#[test]
fn deep_aligned_closed_form_rows_equal_adaptive_rows() {
    for (widths, lambda, scale) in
        [("[3, 3, 3, 3]", 0.0, 0.3), ("[2, 3, 3, 4]", 0.5, 0.1), ("[3, 3, 3, 3, 2]", -0.4, 0.8)]
    {
        let block = |method: &str| {
            point(&format!(
                "widths = {widths}\ninit = \"aligned\"\nmethod = {method}\nlambda = {lambda}\n\
                 scale = {scale}\ntime = {{ linspace = [0, 12, 25] }}\n\
                 record = {{ singular_values = true }}\n"
            ))
        };
        let exact = compute_point(&block("\"closed-form\""));
        let simulated = compute_point(&block("\"adaptive\"\ntolerance = 1e-11"));
        assert_eq!(exact.status, "ok", "{widths}: {:?}", exact.error);
        assert_eq!(simulated.status, "ok", "{widths}: {:?}", simulated.error);
        assert_eq!(exact.t, simulated.t);
        assert_eq!(exact.t.len(), 25);
        let (ours, theirs) = (exact.floats(), simulated.floats());
        let skip = |name: &str| matches!(name, "wall_time_s" | "tolerance" | "balance_drift");
        let ours: Vec<_> = ours.into_iter().filter(|(n, _)| !skip(n)).collect();
        let theirs: Vec<_> = theirs.into_iter().filter(|(n, _)| !skip(n)).collect();
        assert_eq!(ours.len(), theirs.len(), "{widths}: the same columns are filled");
        let mut compared = 0;
        for ((name, value), (other_name, other)) in ours.iter().zip(&theirs) {
            assert_eq!(name, other_name);
            assert!(
                (other - value).abs() <= 1e-8 * value.abs().max(1.0),
                "{widths}: {name} = {value} (closed form) vs {other} (adaptive)"
            );
            compared += 1;
        }
        assert!(compared > 50, "{compared} floats compared");
        assert_all_finite(&exact);
        // The overlay: the simulation's loss next to the closed form's.
        let both = compute_point(&block("\"closed-form+adaptive\"\ntolerance = 1e-11"));
        assert_eq!(both.status, "ok", "{widths}: {:?}", both.error);
        assert_eq!(both.loss, exact.loss);
        assert_eq!(both.sim_loss.len(), both.loss.len());
        for (sim, cf) in both.sim_loss.iter().zip(&both.loss) {
            assert!((sim - cf).abs() <= 1e-8 * cf.max(1.0), "{widths}: {sim} vs {cf}");
        }
    }
}

/// The semantic hierarchy (repeated and zero task singular values) by the deep aligned closed
/// form: the same losses as the adaptive simulation.
#[test]
fn deep_aligned_closed_form_learns_the_hierarchy_like_the_simulation() {
    let text = |method: &str| {
        format!(
            "name = \"t\"\nseed = 3\n[defaults]\ntask = {{ kind = \"hierarchy\", levels = 3 }}\n\
             [[block]]\nwidths = [8, 8, 8, 8]\ninit = \"aligned\"\nmethod = {method}\n\
             lambda = 0.25\nscale = 0.2\ntime = {{ linspace = [0, 20, 11] }}\n"
        )
    };
    let row = |method: &str| {
        let spec = Spec::parse(&text(method), "t.toml").unwrap_or_else(|err| panic!("{err}"));
        compute_point(&spec.points(Shard::ALL).next().unwrap())
    };
    let exact = row("\"closed-form\"");
    let simulated = row("\"adaptive\"\ntolerance = 1e-11");
    assert_eq!(exact.status, "ok", "{:?}", exact.error);
    assert_eq!(simulated.status, "ok", "{:?}", simulated.error);
    assert_eq!(exact.loss.len(), 11);
    for (a, b) in exact.loss.iter().zip(&simulated.loss) {
        assert!((a - b).abs() <= 1e-8 * b.max(1.0), "{a} vs {b}");
    }
    assert!(exact.loss.last() < exact.loss.first());
}

/// Per-layer λ (`lambdas`, docs/math.md §3.6) at depth 4: the profile [1, 1, 1] is the point of
/// `lambda = 1`, row for row and bit for bit (id included); a profile whose values differ is
/// computed by the deep aligned closed form as the adaptive simulation computes it (every float
/// column within 1e-8), from an initial network whose balances are the profile.
#[test]
fn lambdas_profiles_by_the_deep_aligned_closed_form() {
    let block = |lambdas: &str, method: &str| {
        points(&format!(
            "widths = [3, 3, 3, 3, 3]\ninit = \"aligned\"\nmethod = {method}\n{lambdas}\n\
             scale = 0.3\ntime = {{ linspace = [0, 12, 25] }}\n\
             record = {{ singular_values = true }}\n"
        ))
    };
    let profiles = block("lambdas = [[0.5, -0.3, 0.0], [1, 1, 1]]", "\"closed-form\"");
    assert_eq!(profiles.len(), 2);
    let rows: Vec<PointRow> = profiles.iter().map(compute_point).collect();
    for row in &rows {
        assert_eq!(row.status, "ok", "{:?}", row.error);
        assert_all_finite(row);
    }
    assert_eq!((rows[0].lambda, rows[0].lambdas.clone()), (None, vec![0.5, -0.3, 0.0]));
    assert_eq!((rows[1].lambda, rows[1].lambdas.clone()), (Some(1.0), vec![1.0; 3]));

    // [1, 1, 1] is lambda = 1.
    let scalar = block("lambda = 1", "\"closed-form\"").remove(0);
    assert_eq!(scalar.point_id, profiles[1].point_id);
    let mut scalar_row = compute_point(&scalar);
    scalar_row.wall_time_s = rows[1].wall_time_s;
    assert_eq!(scalar_row, rows[1]);

    // The initial network is balanced with the profile, layer by layer.
    let protocol = build_protocol(&profiles[0]).unwrap();
    let net = setup::build_network(&profiles[0], &protocol.problem(0).sigma_yx).unwrap();
    let balances = net.balance_stats();
    assert_eq!(balances.len(), 3);
    for (stats, lambda) in balances.iter().zip([0.5, -0.3, 0.0]) {
        assert!((stats.lambda - lambda).abs() <= 1e-12, "{stats:?} vs {lambda}");
        assert!(stats.entry_defect() <= 1e-12, "{stats:?}");
    }

    // The closed form against the adaptive simulation of the same profile.
    let simulated = compute_point(
        &block("lambdas = [0.5, -0.3, 0.0]\ntolerance = 1e-11", "\"adaptive\"").remove(0),
    );
    assert_eq!(simulated.status, "ok", "{:?}", simulated.error);
    assert_eq!(rows[0].t, simulated.t);
    let skip = |name: &str| matches!(name, "wall_time_s" | "tolerance" | "balance_drift");
    let ours: Vec<_> = rows[0].floats().into_iter().filter(|(n, _)| !skip(n)).collect();
    let theirs: Vec<_> = simulated.floats().into_iter().filter(|(n, _)| !skip(n)).collect();
    assert_eq!(ours.len(), theirs.len(), "the same columns are filled");
    for ((name, value), (other_name, other)) in ours.iter().zip(&theirs) {
        assert_eq!(name, other_name);
        assert!(
            (other - value).abs() <= 1e-8 * value.abs().max(1.0),
            "{name} = {value} (closed form) vs {other} (adaptive)"
        );
    }
    assert!(ours.len() > 50, "{} floats compared", ours.len());
}

/// The per-time singular values of 8 × 8 network functions, each time warm-started from the
/// previous one (`singular_values_warm`, docs/math.md §4.3 "Warm starts"), agree with the cold
/// start of each time alone (`singular_values_into` of the stored QQᵀ's product) to 1e-12
/// relative plus 32 ε s_max (the accuracy of a warm start), at every time: closed form,
/// simulation and both (the simulation's series replacing the closed form's), an odd and an
/// even number of times, one and two phases (a series across the phase boundary), balanced and
/// Gaussian inits; and a second run of the same point gives them bitwise again.
#[test]
fn warm_per_time_singular_values_match_the_cold_start() {
    use lazyrich_solver::linalg::JacobiScratch;
    use lazyrich_solver::metrics::{product_from_qqt, singular_values_into};
    let balanced = "widths = [8, 8, 8]\ninit = \"balanced\"\nlambda = 0.3\n";
    let gaussian = "widths = [8, 8, 8]\ninit = \"gaussian\"\n";
    // Smaller shapes take the same path, padded to 8 × 8.
    let small = "widths = [4, 4, 6]\ninit = \"balanced\"\nlambda = 0.3\n";
    let wide = "widths = [6, 3, 3]\ninit = \"balanced\"\nlambda = -0.3\n";
    let cases = [
        (balanced, "\"closed-form\""),
        (balanced, "\"rk4\"\ndt = 0.005"),
        (balanced, "\"closed-form+rk4\"\ndt = 0.005"),
        (gaussian, "\"rk4\"\ndt = 0.005"),
        (small, "\"closed-form\""),
        (wide, "\"closed-form+rk4\"\ndt = 0.005"),
    ];
    let mut checked = 0;
    for (net, method) in cases {
        for count in [25, 24] {
            for task in ["", "task = { kind = \"continual\", tasks = 2, samples = 16 }\n"] {
                let spec = format!(
                    "{net}method = {method}\nscale = 0.5\n{task}\
                     time = {{ linspace = [0, 3, {count}] }}\n\
                     record = {{ singular_values = true, matrices_at = \"all\" }}\n"
                );
                let row = compute_point(&point(&spec));
                let again = compute_point(&point(&spec));
                assert_eq!(row.status, "ok", "{net} {method} {task}: {:?}", row.error);
                assert_eq!(row.singular_values.len(), row.t.len());
                assert_eq!(row.qqt.len(), row.t.len());
                let (mut scratch, mut want) = (JacobiScratch::default(), Vec::new());
                let widths = &point(&spec).widths;
                let (n_in, size) = (widths[0], widths[0] + widths[widths.len() - 1]);
                for (qqt, got) in row.qqt.iter().zip(&row.singular_values) {
                    let qqt = DMatrix::from_row_slice(size, size, qqt);
                    let product = product_from_qqt(&qqt, n_in);
                    singular_values_into(product.as_view(), &mut scratch, &mut want).unwrap();
                    assert_eq!(got.len(), want.len());
                    let s_max = want[0];
                    for (g, w) in got.iter().zip(&want) {
                        let bound = 1e-12 * w + 32.0 * f64::EPSILON * s_max;
                        assert!((g - w).abs() <= bound, "{net} {method} {task}: {g} vs {w}");
                    }
                    checked += 1;
                }
                let bits =
                    |v: &[Vec<f64>]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&row.singular_values), bits(&again.singular_values));
            }
        }
    }
    assert!(checked > 450, "{checked}");
}

/// The per-time loss, task losses and kernel distance of two-layer rows (computed from the
/// `QQᵀ` blocks without allocating: `Objective::loss_from_qqt`,
/// `KernelReference::distance_from_qqt`) are bitwise those of the general path (the product's
/// loss, the distance of `NtkFactors::from_qqt` to the init's `NtkFactors::from_network`) at
/// every stored `QQᵀ`: closed form, simulation and both, one and two phases (a reversal),
/// random and balanced inits, a λ = 0 init of scale 1e-6 (one phase), and a huge init.
#[test]
fn per_time_metrics_from_qqt_equal_the_general_path_bitwise() {
    use lazyrich_solver::metrics::{Objective, product_from_qqt};
    use lazyrich_solver::ntk::{KernelReference, NtkFactors};
    let cases = [
        ("init = \"balanced\"\nlambda = 0.3\nscale = 0.5", "\"closed-form\""),
        ("init = \"balanced\"\nlambda = 0.0\nscale = 1e-6", "\"closed-form\""),
        ("init = \"balanced\"\nlambda = -2.0\nscale = 1e30", "\"closed-form\""),
        ("init = \"gaussian\"\nscale = 0.5", "\"rk4\"\ndt = 0.005"),
        ("init = \"balanced\"\nlambda = 1.0\nscale = 0.5", "\"closed-form+rk4\"\ndt = 0.005"),
    ];
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut checked = 0;
    for (init, method) in cases {
        // (A reversal from the λ = 0 init is singular at its second phase: one task there.)
        let tasks: &[&str] = if init.contains("1e-6") {
            &[""]
        } else {
            &["", "task = { kind = \"reversal\", samples = 16 }\n"]
        };
        for task in tasks {
            let point = point(&format!(
                "widths = [8, 8, 8]\n{init}\nmethod = {method}\n{task}\
                 time = {{ logspace = [-2, 1, 20] }}\nrecord = {{ matrices_at = \"all\" }}\n"
            ));
            let row = compute_point(&point);
            assert_eq!(row.status, "ok", "{init} {method} {task}: {:?}", row.error);
            assert_eq!(row.qqt.len(), row.t.len());
            let protocol = build_protocol(&point).unwrap();
            let (net, _) =
                setup::build_network_and_factors(&point, &protocol.problem(0).sigma_yx).unwrap();
            let reference = KernelReference::new(NtkFactors::from_network(&net), None);
            let objectives: Vec<Objective> = protocol.tasks.iter().map(Objective::new).collect();
            for (i, qqt) in row.qqt.iter().enumerate() {
                let qqt = DMatrix::from_row_slice(16, 16, qqt);
                let product = product_from_qqt(&qqt, 8);
                let task = protocol.phases[row.phase[i] as usize].task;
                let loss = objectives[task].loss_of_product(&product);
                assert_eq!(row.loss[i].to_bits(), loss.to_bits(), "{init} {method} {task}");
                let distance = reference.distance(&NtkFactors::from_qqt(&qqt, 8));
                assert_eq!(row.kernel_distance[i].to_bits(), distance.to_bits());
                if protocol.tasks.len() > 1 {
                    let losses: Vec<f64> =
                        objectives.iter().map(|o| o.loss_of_product(&product)).collect();
                    assert_eq!(bits(&row.task_losses[i]), bits(&losses));
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 150, "{checked}");
}
