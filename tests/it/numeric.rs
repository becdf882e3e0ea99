//! No row ever holds a NaN or an infinity (docs/dataset.md "Non-finite values"): `compute_point`
//! over many seeded random points, including extreme λ, scales beyond the spec's bound (points
//! built by hand), huge learning rates and RK4 steps, every init, method and several protocols.

use lazyrich_runner::compute_point;
use lazyrich_sweep::{Point, Shard, Spec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const STATUSES: [&str; 9] = [
    "ok",
    "singular",
    "rank_deficient_task",
    "beyond_validity",
    "diverged",
    "overflow",
    "inaccurate",
    "invalid",
    "panic",
];

/// `10^u` with `u` uniform in `[lo, hi)`.
fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    10f64.powf(rng.random_range(lo..hi))
}

/// A random point of a spec the parser accepts, then pushed past the spec's bounds with some
/// probability (scale, λ), as a point built by hand could be.
fn random_point(rng: &mut ChaCha8Rng, seed: u64) -> Point {
    const WIDTHS: [&str; 8] = [
        "[2, 2, 2]",
        "[3, 3, 3]",
        "[4, 4, 4]",
        "[3, 2, 2]",
        "[2, 2, 3]",
        "[3, 3, 3, 3]",
        "[3, 2]",
        "[2, 3, 4]",
    ];
    const INITS: [&str; 5] = ["balanced", "balanced-signed", "aligned", "gaussian", "lecun"];
    let widths = WIDTHS[rng.random_range(0..WIDTHS.len())];
    let depth = widths.matches(',').count();
    let init = INITS[rng.random_range(0..INITS.len())];
    let balanced = !matches!(init, "gaussian" | "lecun");
    let methods: &[&str] = if depth == 2 && balanced {
        &["closed-form", "rk4", "gd", "closed-form+rk4", "closed-form+gd"]
    } else {
        &["rk4", "gd"]
    };
    let method = methods[rng.random_range(0..methods.len())];
    let lambda = match rng.random_range(0..4) {
        0 => 0.0,
        1 => rng.random_range(-5.0..5.0),
        _ => {
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            sign * log_uniform(rng, -3.0, 300.0)
        }
    };
    let task = match rng.random_range(0..4) {
        0 => "{ kind = \"continual\", tasks = 2, samples = 8 }",
        1 if depth == 2 => "{ kind = \"reversal\", samples = 8 }",
        _ => "{ kind = \"random\", samples = 8 }",
    };
    let scale = log_uniform(rng, -3.0, 1.5);
    let lr = log_uniform(rng, -3.0, 1.0);
    let dt = log_uniform(rng, -2.5, 0.0);
    let times = ["[0, 0.5, 1, 2]", "{ logspace = [-1, 0.5, 5] }", "[0, 3]"][rng.random_range(0..3)];
    let record = if rng.random_bool(0.3) { "record = { matrices_at = \"all\" }\n" } else { "" };
    let text = format!(
        "name = \"numeric\"\nseed = {seed}\n[[block]]\ntask = {task}\nwidths = {widths}\n\
         init = \"{init}\"\nmethod = \"{method}\"\nlambda = 0\nscale = {scale:e}\nlr = {lr:e}\n\
         dt = {dt:e}\ntime = {times}\n{record}"
    );
    let spec = Spec::parse(&text, "numeric.toml").unwrap_or_else(|err| panic!("{err}\n{text}"));
    let mut point = spec.points(Shard::ALL).next().expect("one point");
    if point.lambda.is_some() {
        point.lambda = Some(lambda);
    }
    if point.scale.is_some() && rng.random_bool(0.2) {
        point.scale = Some(log_uniform(rng, 1.0, 308.0));
    }
    point
}

#[test]
fn no_row_holds_a_non_finite_float() {
    let mut rng = ChaCha8Rng::seed_from_u64(20_260_501);
    let mut statuses = std::collections::BTreeMap::new();
    for seed in 0..240 {
        let point = random_point(&mut rng, seed);
        let row = compute_point(&point);
        let context =
            format!("{} λ = {:?} scale = {:?}", point.canonical(), point.lambda, point.scale);
        if let Some((column, value)) = row.floats().into_iter().find(|(_, x)| !x.is_finite()) {
            panic!("{context}: `{column}` = {value} in a row with status {}", row.status);
        }
        assert!(STATUSES.contains(&row.status.as_str()), "{context}: status {}", row.status);
        assert_ne!(row.status, "panic", "{context}: {:?}", row.error);
        assert_eq!(row.error.is_some(), row.status != "ok", "{context}: {:?}", row.error);
        for len in [row.phase.len(), row.loss.len(), row.kernel_distance.len()] {
            assert_eq!(len, row.t.len(), "{context}");
        }
        if !row.t.is_empty() {
            assert_eq!(row.t_end, row.t.last().copied(), "{context}");
        }
        assert!(row.sim_loss.len() <= row.t.len(), "{context}");
        *statuses.entry(row.status.clone()).or_insert(0) += 1;
    }
    // The sample reaches the numeric outcomes, not only `ok`.
    for status in ["ok", "diverged", "overflow"] {
        assert!(statuses.contains_key(status), "no {status} row among {statuses:?}");
    }
}
