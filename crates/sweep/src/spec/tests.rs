//! Tests of [`Spec`](super::Spec): parsing, expansion, ids, shards and the bad-spec corpus.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use super::*;
use crate::params::{Method, Step};
use crate::task::TaskSpec;

const QUICK: &str = r#"
name = "quick"
seed = 1
[defaults]
task = { kind = "random", samples = 64 }
init = "balanced"
method = "closed-form"
time = { logspace = [-2, 2, 50] }
[[block]]
lambda = { linspace = [-5, 5, 21] }
scale = [0.05, 0.5, 1.0]
widths = [[4, 4, 4], [8, 2, 2], [2, 2, 8]]
replicates = 4
"#;

fn spec(text: &str) -> Spec {
    match Spec::parse(text, "test.toml") {
        Ok(spec) => spec,
        Err(err) => panic!("spec should parse: {err}"),
    }
}

fn error(text: &str) -> String {
    match Spec::parse(text, "test.toml") {
        Ok(_) => panic!("spec should be rejected:\n{text}"),
        Err(err) => err.to_string(),
    }
}

fn header(body: &str) -> String {
    format!(
        "name = \"t\"\nseed = 7\n[defaults]\ntask = {{ kind = \"random\", samples = 16 }}\n\
         init = \"balanced\"\nmethod = \"closed-form\"\ntime = [0.0, 1.0]\n{body}"
    )
}

#[test]
fn quickstart_shape() {
    let spec = spec(QUICK);
    assert_eq!(spec.name(), "quick");
    assert_eq!(spec.seed(), 1);
    assert_eq!(spec.n_blocks(), 1);
    assert_eq!(spec.n_raw(), 21 * 3 * 3 * 4);
    assert_eq!(spec.count(Shard::ALL), 756);
    assert_eq!(spec.max_points(), 10_000_000);
    let first = spec.point(0).unwrap();
    assert_eq!(first.widths, vec![4, 4, 4]);
    assert_eq!(first.replicate, 0);
    assert_eq!(first.scale, Some(0.05));
    assert_eq!(first.lambda, Some(-5.0));
    assert_eq!(first.times.len(), 50);
    assert_eq!(first.times[0], 0.01);
    assert_eq!(first.times[49], 100.0);
    assert_eq!(first.task, TaskSpec::Random { samples: 64 });
    // λ varies fastest, then scale, then method/init, replicate, widths, task.
    assert_eq!(spec.point(1).unwrap().lambda, Some(-4.5));
    assert_eq!(spec.point(21).unwrap().scale, Some(0.5));
    assert_eq!(spec.point(63).unwrap().replicate, 1);
    assert_eq!(spec.point(252).unwrap().widths, vec![8, 2, 2]);
    assert!(spec.point(756).is_none());
    assert_eq!(spec.hash_hex().len(), 16);
}

#[test]
fn point_k_equals_iterator() {
    let spec = spec(&header(
        "[[block]]\nlambda = [-1, 0, 1]\nscale = [0.1, 1]\nwidths = [[3, 3, 3], [2, 4, 2]]\n\
         where = [\"lambda != 0\"]\n[[block]]\nlambda = 2\nscale = 0.5\nwidths = [5, 5, 5]\nreplicates = 3\n",
    ));
    let from_iter: Vec<Point> = spec.points(Shard::ALL).collect();
    let from_index: Vec<Point> = (0..spec.n_raw()).filter_map(|k| spec.point(k)).collect();
    assert_eq!(from_iter, from_index);
    assert_eq!(spec.n_raw(), 12 + 3);
    assert_eq!(from_iter.len(), 8 + 3);
    assert_eq!(spec.count(Shard::ALL), 11);
    for point in &from_iter {
        assert_eq!(spec.point(point.raw_index).as_ref(), Some(point));
    }
}

/// A random small spec and its expected points from plain nested loops.
#[derive(Clone, Debug)]
struct SmallSpec {
    lambdas: Vec<i32>,
    scales: Vec<i32>,
    widths: Vec<Vec<usize>>,
    methods: Vec<Method>,
    replicates: u32,
    zip_lambda_scale: bool,
}

impl SmallSpec {
    fn text(&self) -> String {
        let floats = |values: &[i32], unit: f64| {
            let items: Vec<String> =
                values.iter().map(|&v| format!("{:?}", f64::from(v) * unit)).collect();
            format!("[{}]", items.join(", "))
        };
        let widths: Vec<String> = self.widths.iter().map(|w| format!("{w:?}")).collect();
        let methods: Vec<String> =
            self.methods.iter().map(|m| format!("\"{}\"", m.as_str())).collect();
        let zip = if self.zip_lambda_scale { "zip = [[\"lambda\", \"scale\"]]\n" } else { "" };
        format!(
            "name = \"p\"\nseed = 3\n[[block]]\ntask = {{ kind = \"random\", samples = 8 }}\n\
             init = \"balanced\"\ntime = [0, 1]\nlr = 0.01\ndt = 0.02\nlambda = {}\nscale = {}\n\
             widths = [{}]\nmethod = [{}]\nreplicates = {}\n{zip}",
            floats(&self.lambdas, 0.5),
            floats(&self.scales, 0.25),
            widths.join(", "),
            methods.join(", "),
            self.replicates,
        )
    }

    /// (widths, replicate, method, scale, lambda) by nested loops in the documented order.
    fn naive(&self) -> Vec<(Vec<usize>, u32, Method, f64, f64)> {
        let mut out = Vec::new();
        for w in &self.widths {
            for r in 0..self.replicates {
                for &m in &self.methods {
                    if self.zip_lambda_scale {
                        for (&s, &l) in self.scales.iter().zip(&self.lambdas) {
                            out.push((w.clone(), r, m, f64::from(s) * 0.25, f64::from(l) * 0.5));
                        }
                    } else {
                        for &s in &self.scales {
                            for &l in &self.lambdas {
                                out.push((
                                    w.clone(),
                                    r,
                                    m,
                                    f64::from(s) * 0.25,
                                    f64::from(l) * 0.5,
                                ));
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

fn small_spec_strategy() -> impl Strategy<Value = SmallSpec> {
    let widths = prop::collection::vec(prop::collection::vec(1usize..=4, 3), 1..=3);
    let methods = prop::sample::subsequence(Method::ALL.to_vec(), 1..=3);
    (1usize..=4, 1usize..=3, widths, methods, 1u32..=3, any::<bool>()).prop_flat_map(
        |(n_lambda, n_scale, widths, methods, replicates, zip)| {
            let n_scale = if zip { n_lambda } else { n_scale };
            (
                prop::collection::vec(-10i32..=10, n_lambda),
                prop::collection::vec(0i32..=8, n_scale),
                Just(widths),
                Just(methods),
                Just(replicates),
                Just(zip),
            )
                .prop_map(
                    |(lambdas, scales, widths, methods, replicates, zip_lambda_scale)| SmallSpec {
                        lambdas,
                        scales,
                        widths,
                        methods,
                        replicates,
                        zip_lambda_scale,
                    },
                )
        },
    )
}

#[test]
fn mixed_radix_equals_nested_loops() {
    let config = Config { cases: 96, failure_persistence: None, ..Config::default() };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]));
    runner
        .run(&small_spec_strategy(), |small| {
            let text = small.text();
            let spec =
                Spec::parse(&text, "p.toml").map_err(|e| TestCaseError::fail(e.to_string()))?;
            let got: Vec<_> = spec
                .points(Shard::ALL)
                .map(|p| {
                    (
                        p.widths.clone(),
                        p.replicate,
                        p.method,
                        p.scale.unwrap_or(-1.0),
                        p.lambda.unwrap_or(-99.0),
                    )
                })
                .collect();
            prop_assert_eq!(got, small.naive());
            prop_assert_eq!(spec.n_raw(), spec.count(Shard::ALL));
            for shard_count in 1..=3u32 {
                let mut seen = Vec::new();
                for index in 0..shard_count {
                    let shard = Shard { index, count: shard_count };
                    let points: Vec<u64> = spec.points(shard).map(|p| p.raw_index).collect();
                    prop_assert_eq!(points.len() as u64, spec.count(shard));
                    seen.extend(points);
                }
                seen.sort_unstable();
                prop_assert_eq!(seen, (0..spec.n_raw()).collect::<Vec<_>>());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn mutated_specs_never_panic() {
    let base = std::fs::read_to_string(sweeps_dir().join("methods.toml")).unwrap();
    let alphabet: Vec<char> = "[]{}=\",.0123456789-+e#x\n λ".chars().collect();
    let edits = prop::collection::vec(
        (any::<prop::sample::Index>(), 0u8..3, any::<prop::sample::Index>()),
        1..6,
    );
    let config = Config { cases: 256, failure_persistence: None, ..Config::default() };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[5; 32]));
    runner
        .run(&edits, |edits| {
            let mut chars: Vec<char> = base.chars().collect();
            for (at, op, with) in edits {
                let idx = at.index(chars.len());
                let with = alphabet[with.index(alphabet.len())];
                match op {
                    0 => {
                        chars.remove(idx);
                    }
                    1 => chars.insert(idx, with),
                    _ => chars[idx] = with,
                }
            }
            let text: String = chars.into_iter().collect();
            match Spec::parse(&text, "m.toml") {
                // Iterate only small results (a mutation may enlarge the grid).
                Ok(spec) if spec.n_raw() <= 10_000 => {
                    let n = spec.count(Shard::ALL);
                    prop_assert_eq!(spec.points(Shard::ALL).count() as u64, n);
                }
                Ok(_) => {}
                Err(err) => {
                    let message = err.to_string();
                    prop_assert!(message.starts_with("m.toml:"), "{}", message);
                    prop_assert!(!message.contains('\n'), "{}", message);
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn zip_advances_together() {
    let zipped = spec(&header(
        "[[block]]\nwidths = [2, 2, 2]\nlambda = [1, 2, 3]\nscale = [0.1, 0.2, 0.3]\n\
         replicates = 2\nzip = [[\"lambda\", \"scale\"]]\n",
    ));
    assert_eq!(zipped.n_raw(), 6);
    let pairs: Vec<_> =
        zipped.points(Shard::ALL).map(|p| (p.replicate, p.lambda, p.scale)).collect();
    assert_eq!(
        pairs,
        vec![
            (0, Some(1.0), Some(0.1)),
            (0, Some(2.0), Some(0.2)),
            (0, Some(3.0), Some(0.3)),
            (1, Some(1.0), Some(0.1)),
            (1, Some(2.0), Some(0.2)),
            (1, Some(3.0), Some(0.3)),
        ]
    );
    // Zip of a structural axis with the replicate axis.
    let structural = spec(&header(
        "[[block]]\nwidths = [[2, 2, 2], [3, 3, 3]]\nlambda = [1, 2]\nscale = 1\nreplicates = 2\n\
         zip = [[\"widths\", \"replicate\"]]\n",
    ));
    let got: Vec<_> = structural.points(Shard::ALL).map(|p| (p.widths[0], p.replicate)).collect();
    assert_eq!(got, vec![(2, 0), (2, 0), (3, 1), (3, 1)]);
}

#[test]
fn blocks_concatenate() {
    let spec = spec(&header(
        "[[block]]\nwidths = [2, 2, 2]\nlambda = [1, 2]\nscale = 1\n\
         [[block]]\nwidths = [3, 3, 3]\nlambda = [1, 2, 3]\nscale = 1\nmethod = \"rk4\"\ndt = 0.01\n",
    ));
    assert_eq!(spec.n_blocks(), 2);
    assert_eq!(spec.n_raw(), 5);
    let blocks: Vec<u32> = spec.points(Shard::ALL).map(|p| p.block).collect();
    assert_eq!(blocks, vec![0, 0, 1, 1, 1]);
    let second = spec.point(2).unwrap();
    assert_eq!((second.method, second.dt, second.lr), (Method::Rk4, Some(0.01), None));
    assert_eq!(spec.point(1).unwrap().dt, None);
}

#[test]
fn where_and_exclude_filter() {
    let spec = spec(&header(
        "[[block]]\nwidths = [[2, 2, 2], [4, 4, 4]]\nlambda = [-1, 0, 1]\nscale = [0.5, 2]\n\
         where = [\"lambda != 0\", \"scale <= 1\"]\nexclude = [{ lambda = 1.0, widths = [4, 4, 4] }]\n",
    ));
    let kept: Vec<_> = spec.points(Shard::ALL).map(|p| (p.widths[0], p.lambda, p.scale)).collect();
    assert_eq!(
        kept,
        vec![(2, Some(-1.0), Some(0.5)), (2, Some(1.0), Some(0.5)), (4, Some(-1.0), Some(0.5))]
    );
    assert_eq!(spec.count(Shard::ALL), 3);
    assert_eq!(spec.n_raw(), 12);
    // Filtered-out raw indices give None.
    assert!(spec.point(1).is_none());
}

#[test]
fn filters_on_absent_values_keep_points() {
    let spec = spec(&header(
        "[[block]]\nwidths = [3, 3, 3]\nlambda = 1\nscale = 1\nlr = [0.01, 0.5]\n\
         method = [\"closed-form\", \"gd\"]\nwhere = [\"lr < 0.1\"]\nexclude = [{ lr = 0.5, method = \"closed-form\" }]\n",
    ));
    let kept: Vec<_> = spec.points(Shard::ALL).map(|p| (p.method, p.lr)).collect();
    // Closed-form points have no lr: `lr < 0.1` is undecided (kept), the exclude entry
    // cannot match them. Their two copies share one id (lr is not part of it).
    assert_eq!(
        kept,
        vec![(Method::ClosedForm, None), (Method::ClosedForm, None), (Method::Gd, Some(0.01))]
    );
    let ids: Vec<u64> = spec.points(Shard::ALL).map(|p| p.point_id).collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn ids_are_pinned() {
    // Changing the canonical text, hashing or seeds breaks these on purpose: results
    // written by older versions would no longer be recognised on resume.
    let spec = spec(QUICK);
    let p0 = spec.point(0).unwrap();
    assert_eq!(
        p0.canonical(),
        "v1|lambda=c014000000000000|scale=3fa999999999999a|lr=-|dt=-|widths=4,4,4|\
         task=random(samples=64)|init=balanced|method=closed-form|replicate=0|\
         time=PIN_TIME|record=per_time:true,singular_values:true,matrices_at:-"
            .replace("PIN_TIME", &format!("{:016x}", crate::ids::hash_f64s(&p0.times)))
    );
    let pinned: Vec<(u64, u64)> =
        [0u64, 10, 755].iter().map(|&k| (k, spec.point(k).unwrap().point_id)).collect();
    assert_eq!(pinned, vec![(0, PIN_0), (10, PIN_10), (755, PIN_755)]);
    let p10 = spec.point(10).unwrap();
    assert_eq!((p10.seed, p10.task_seed, p10.init_seed), (PIN_SEED_10, PIN_TASK_10, PIN_INIT_10));
}

const PIN_0: u64 = 3582794373178012307;
const PIN_10: u64 = 3982893165168738534;
const PIN_755: u64 = 3020259959303312639;
const PIN_SEED_10: u64 = 4034050644776945626;
const PIN_TASK_10: u64 = 5417262953656044351;
const PIN_INIT_10: u64 = 8337155996288637262;

#[test]
fn ids_do_not_depend_on_block_order_or_position() {
    let a = "[[block]]\nwidths = [2, 2, 2]\nlambda = [1, 2]\nscale = 1\n";
    let b =
        "[[block]]\nwidths = [3, 3, 3]\nlambda = [0.5, 1, 2]\nscale = [1, 2]\ninit = \"aligned\"\n";
    let ab = spec(&header(&format!("{a}{b}")));
    let ba = spec(&header(&format!("{b}{a}")));
    let ids = |spec: &Spec| {
        spec.points(Shard::ALL)
            .map(|p| (p.point_id, p.seed, p.task_seed, p.init_seed))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&ab), ids(&ba));
    assert_ne!(ab.hash_hex(), ba.hash_hex());
    // Identical parameters in two blocks give identical ids.
    let twice = spec(&header(&format!("{a}{a}")));
    let all: Vec<u64> = twice.points(Shard::ALL).map(|p| p.point_id).collect();
    assert_eq!(all[..2], all[2..]);
    // Different seed, different ids.
    let reseeded = spec(&header(a).replace("seed = 7", "seed = 8"));
    assert_ne!(reseeded.point(0).unwrap().point_id, twice.point(0).unwrap().point_id);
}

#[test]
fn seeds_shared_across_lambda_scale_method() {
    let spec = spec(&header(
        "[[block]]\nwidths = [3, 3, 3]\nlambda = [-1, 0, 1]\nscale = [0.1, 1]\nreplicates = 2\n\
         method = [\"closed-form\", \"rk4\"]\ndt = 0.01\n",
    ));
    let points: Vec<Point> = spec.points(Shard::ALL).collect();
    for replicate in 0..2 {
        let of_replicate: Vec<&Point> =
            points.iter().filter(|p| p.replicate == replicate).collect();
        let task_seeds: HashSet<u64> = of_replicate.iter().map(|p| p.task_seed).collect();
        let init_seeds: HashSet<u64> = of_replicate.iter().map(|p| p.init_seed).collect();
        let ids: HashSet<u64> = of_replicate.iter().map(|p| p.point_id).collect();
        let seeds: HashSet<u64> = of_replicate.iter().map(|p| p.seed).collect();
        assert_eq!((task_seeds.len(), init_seeds.len()), (1, 1));
        assert_eq!((ids.len(), seeds.len()), (12, 12));
    }
    assert_ne!(points[0].task_seed, points.last().unwrap().task_seed);
}

#[test]
fn unbalanced_inits_drop_lambda() {
    let spec = spec(&header(
        "[[block]]\nwidths = [3, 3, 3, 3]\nlambda = [-1, 0, 1]\nscale = 0.5\nmethod = \"rk4\"\ndt = 0.01\n\
         init = [\"gaussian\", \"lecun\"]\n",
    ));
    let points: Vec<Point> = spec.points(Shard::ALL).collect();
    assert_eq!(points.len(), 6);
    assert!(points.iter().all(|p| p.lambda.is_none()));
    assert_eq!(points[0].scale, Some(0.5));
    assert_eq!(points[3].scale, None);
    let ids: HashSet<u64> = points.iter().map(|p| p.point_id).collect();
    assert_eq!(ids.len(), 2);
    assert!(points[0].canonical().contains("|lambda=-|"));
}

#[test]
fn hash_ignores_layout_but_not_values() {
    let base = spec(QUICK);
    let commented = QUICK
        .replace("seed = 1", "# the root seed\nseed   =   1   # trailing")
        .replace("\n[[block]]", "\n\n\n[[block]]");
    assert_eq!(spec(&commented).hash_hex(), base.hash_hex());
    // Integer vs float spelling of the same value.
    let spelled = QUICK.replace("scale = [0.05, 0.5, 1.0]", "scale = [0.05, 0.5, 1]");
    assert_eq!(spec(&spelled).hash_hex(), base.hash_hex());
    // Moving a field from [defaults] into the block.
    let moved = QUICK
        .replace("init = \"balanced\"\n", "")
        .replace("replicates = 4", "replicates = 4\ninit = \"balanced\"");
    assert_eq!(spec(&moved).hash_hex(), base.hash_hex());
    for (from, to) in [
        ("seed = 1", "seed = 2"),
        ("seed = 1", "seed = 1\nmax_points = 1000000"),
        ("name = \"quick\"", "name = \"quick2\""),
        ("samples = 64", "samples = 65"),
        ("[-5, 5, 21]", "[-5, 5, 22]"),
        ("[-2, 2, 50]", "[-2, 2, 51]"),
        ("1.0]", "1.5]"),
        ("[2, 2, 8]", "[2, 2, 9]"),
        ("replicates = 4", "replicates = 5"),
        ("\"closed-form\"", "[\"closed-form\", \"rk4\"]\ndt = 0.1"),
        ("replicates = 4", "replicates = 4\nwhere = [\"lambda != 0\"]"),
        ("replicates = 4", "replicates = 4\nexclude = [{ lambda = 0 }]"),
        ("replicates = 4", "replicates = 4\nrecord = { per_time = false }"),
        ("replicates = 4", "replicates = 4\nzip = [[\"widths\", \"scale\"]]"),
    ] {
        let changed = QUICK.replacen(from, to, 1);
        assert_ne!(changed, QUICK);
        assert_ne!(spec(&changed).hash_hex(), base.hash_hex(), "{from} -> {to}");
    }
}

#[test]
fn locations_and_pairs() {
    let text = header(
        "[[block]]\nwidths = [[2, 2, 2], [3, 3, 3]]\nlambda = [0, 1, 1]\nscale = 1\n\
         exclude = [{ lambda = 0, n_in = 3 }]\n[[block]]\nwidths = [2, 2, 2]\nlambda = 5\n\
         scale = 1\ninit = [\"balanced\", \"gaussian\"]\nmethod = \"rk4\"\ndt = 0.1\n",
    );
    let spec = spec(&text);
    let line_of = |needle: &str| text[..text.find(needle).unwrap()].lines().count() + 1;
    assert_eq!(
        spec.location(0, "lambda"),
        Some(Location { line: line_of("lambda = [0"), col: 10 })
    );
    assert_eq!(spec.location(0, "init").map(|l| l.line), Some(line_of("init = \"balanced\"")));
    assert_eq!(spec.location(1, "init").map(|l| l.line), Some(line_of("init = [")));
    assert_eq!(spec.location(0, "lr"), None);
    assert_eq!(spec.location(5, "lambda"), None);
    assert_eq!(
        spec.block_width_lambda_pairs(0),
        vec![
            (vec![2, 2, 2], Some(0.0), InitKind::Balanced),
            (vec![2, 2, 2], Some(1.0), InitKind::Balanced),
            (vec![3, 3, 3], Some(1.0), InitKind::Balanced),
        ]
    );
    assert_eq!(
        spec.block_width_lambda_pairs(1),
        vec![
            (vec![2, 2, 2], Some(5.0), InitKind::Balanced),
            (vec![2, 2, 2], None, InitKind::Gaussian)
        ]
    );
    assert!(spec.block_width_lambda_pairs(9).is_empty());
}

#[test]
fn requirements_respect_structural_filters() {
    // Closed form on a depth-3 network is excluded, so the spec is valid.
    let ok = header(
        "[[block]]\nwidths = [[3, 3, 3], [3, 3, 3, 3]]\nlambda = 1\nscale = 1\n\
         method = [\"closed-form\", \"rk4\"]\ndt = 0.1\nexclude = [{ depth = 3, method = \"closed-form\" }]\n",
    );
    assert_eq!(spec(&ok).count(Shard::ALL), 3);
    let bad = ok.replace(
        "exclude = [{ depth = 3, method = \"closed-form\" }]",
        "exclude = [{ lambda = 3 }]",
    );
    assert!(error(&bad).contains("needs depth 2"));
    let with_where = ok
        .replace("exclude = [{ depth = 3, method = \"closed-form\" }]", "where = [\"depth == 2\"]");
    assert_eq!(spec(&with_where).count(Shard::ALL), 2);
}

/// A spec whose one block has the given task, widths, init and method (rk4, dt = 0.1).
fn task_block(task: &str, widths: &str, init: &str) -> String {
    format!(
        "name = \"t\"\nseed = 7\n[[block]]\ntask = {task}\nwidths = {widths}\ninit = \"{init}\"\n\
         method = \"rk4\"\ndt = 0.1\nlambda = 1\nscale = 0.5\ntime = [0.0, 1.0]\n"
    )
}

#[test]
fn every_task_kind_in_one_sweep() {
    let text = r#"
name = "tasks"
seed = 3
[defaults]
init = "balanced"
method = "rk4"
dt = 0.01
lambda = 1
scale = 0.5
time = [0.0, 1.0]
[[block]]
task = [{ kind = "random", samples = 8 }, { kind = "reversal", samples = 8 },
    { kind = "continual", tasks = 3, samples = 8 }, { kind = "transfer", shared = 2 },
    { kind = "fine-tune", lambda_ft = -1, shared = 2 }]
widths = [[4, 4, 4], [8, 4, 2]]
replicates = 2
exclude = [{ task = "fine-tune", widths = [8, 4, 2] }]
[[block]]
task = [{ kind = "hierarchy", levels = 2 }]
widths = [[4, 4, 4], [4, 2, 2, 4]]
[[block]]
task = [{ kind = "transfer", source = "hierarchy", levels = 2 },
    { kind = "fine-tune", source = "hierarchy", levels = 2, lambda_ft = 0.5 }]
widths = [4, 4, 5]
"#;
    // Fine-tuning needs Nh = min(Ni, No): [8, 4, 2] is excluded for it.
    assert!(error(&text.replace("exclude", "# exclude")).contains("needs Nh = min(Ni, No) = 2"));
    let all = spec(text);
    assert_eq!(all.count(Shard::ALL), (5 * 2 - 1) * 2 + 2 + 2);
    let kinds: BTreeSet<&str> = all.points(Shard::ALL).map(|p| p.task.kind()).collect();
    assert_eq!(kinds.len(), TaskSpec::KINDS.len());
    let filtered = text.replace(
        "exclude = [{ task = \"fine-tune\", widths = [8, 4, 2] }]",
        "where = [\"task == 'fine-tune'\", \"n_out == 4\"]",
    );
    // The where of block 0 keeps its fine-tune on [4, 4, 4]; the other blocks are unfiltered.
    assert_eq!(spec(&filtered).count(Shard::ALL), 2 + 2 + 2);
}

#[test]
fn fine_tunes_draw_the_tasks_of_their_transfer() {
    let text = task_block(
        "[{ kind = \"fine-tune\", lambda_ft = -2, shared = 1 }, \
         { kind = \"fine-tune\", lambda_ft = 2, shared = 1 }, { kind = \"transfer\", shared = 1 }, \
         { kind = \"transfer\", shared = 2 }]",
        "[3, 3, 3]",
        "balanced",
    )
    .replace("lambda = 1", "lambda = 1\nreplicates = 2");
    let points: Vec<Point> = spec(&text).points(Shard::ALL).collect();
    assert_eq!(points.len(), 8);
    // Task is the outermost axis: points[2 * t + r] has task t and replicate r.
    for replicate in 0..2 {
        let seeds: Vec<u64> = (0..4).map(|t| points[2 * t + replicate].task_seed).collect();
        assert_eq!(seeds[0], seeds[2]);
        assert_eq!(seeds[1], seeds[2]);
        assert_ne!(seeds[3], seeds[2]);
    }
    assert_ne!(points[0].task_seed, points[1].task_seed);
    let ids: HashSet<u64> = points.iter().map(|p| p.point_id).collect();
    assert_eq!(ids.len(), 8);
    assert!(
        points[0]
            .canonical()
            .contains("|task=fine-tune(lambda_ft=-2,source=random,samples=64,shared=1)|")
    );
}

#[test]
fn task_requirements() {
    let check = |task: &str, widths: &str, init: &str| {
        Spec::parse(&task_block(task, widths, init), "t.toml").map(|_| ()).map_err(|err| {
            let message = err.to_string();
            assert!(message.starts_with("t.toml:4:8: field `block[0].task`: "), "{message}");
            message
        })
    };
    let hierarchy = "{ kind = \"hierarchy\" }";
    assert_eq!(check(hierarchy, "[8, 8, 8]", "gaussian"), Ok(()));
    assert_eq!(check(hierarchy, "[8, 8]", "lecun"), Ok(()));
    let fails = [
        (
            hierarchy,
            "[4, 4, 4]",
            "balanced",
            "the hierarchy task with levels = 3 has 8 items and 8 features: widths must be [8, …, 8], found [4, 4, 4]",
        ),
        (hierarchy, "[8, 8, 9]", "balanced", "found [8, 8, 9]"),
        (
            "{ kind = \"reversal\", samples = 6 }",
            "[4, 4, 8]",
            "balanced",
            "the reversal task has samples = 6, fewer than max(Ni, No) = 8 of widths [4, 4, 8]: it needs samples ≥ max(Ni, No)",
        ),
        (
            "{ kind = \"continual\", samples = 3 }",
            "[4, 4, 2]",
            "balanced",
            "the continual task has samples = 3, fewer than Ni = 4",
        ),
        (
            "{ kind = \"transfer\", samples = 3, shared = 1 }",
            "[4, 4, 2]",
            "balanced",
            "the transfer task has samples = 3, fewer than Ni = 4",
        ),
        (
            "{ kind = \"transfer\", shared = 3 }",
            "[4, 4, 2]",
            "balanced",
            "the transfer task has shared = 3 singular-vector pairs, more than min(Ni, No) = 2 of widths [4, 4, 2]",
        ),
        (
            "{ kind = \"transfer\", source = \"hierarchy\" }",
            "[8, 8, 8]",
            "balanced",
            "the transfer task from the hierarchy with levels = 3 has 8 items and 9 features",
        ),
        (
            "{ kind = \"fine-tune\", source = \"hierarchy\", levels = 1, lambda_ft = 1 }",
            "[3, 2, 2]",
            "balanced",
            "widths must be [2, …, 3], found [3, 2, 2]",
        ),
        (
            "{ kind = \"fine-tune\", shared = 1, lambda_ft = 1 }",
            "[4, 4, 4, 4]",
            "balanced",
            "the fine-tune task needs depth 2",
        ),
        (
            "{ kind = \"fine-tune\", shared = 1, lambda_ft = 1 }",
            "[4, 4]",
            "balanced",
            "have depth 1: use widths [4, 4, 4]",
        ),
        (
            "{ kind = \"fine-tune\", shared = 1, lambda_ft = 1 }",
            "[2, 3, 4]",
            "balanced",
            "the fine-tune task needs Nh = min(Ni, No) = 2",
        ),
        (
            "{ kind = \"fine-tune\", shared = 1, lambda_ft = 1 }",
            "[4, 1, 2]",
            "balanced",
            "but widths [4, 1, 2] have Nh = 1: use widths [4, 2, 2]",
        ),
        (
            "{ kind = \"fine-tune\", shared = 1, lambda_ft = 1 }",
            "[4, 4, 4]",
            "gaussian",
            "the fine-tune task needs a λ-balanced init (balanced, balanced-signed or aligned), but init is `gaussian`",
        ),
        (
            "{ kind = \"fine-tune\", shared = 1, lambda_ft = 1 }",
            "[4, 4, 4]",
            "lecun",
            "but init is `lecun`",
        ),
    ];
    for (task, widths, init, expected) in fails {
        let message = check(task, widths, init).unwrap_err();
        assert!(
            message.contains(expected),
            "{task} {widths} {init}:\n  {message}\n  expected: {expected}"
        );
    }
    let passes = [
        ("{ kind = \"reversal\", samples = 8 }", "[4, 4, 8]", "balanced"),
        ("{ kind = \"continual\", samples = 4 }", "[4, 4, 8]", "balanced"),
        ("{ kind = \"transfer\", samples = 4, shared = 2 }", "[4, 3, 2, 2]", "gaussian"),
        ("{ kind = \"transfer\", shared = 0 }", "[4, 4]", "lecun"),
        ("{ kind = \"transfer\", source = \"hierarchy\", split = true }", "[8, 3, 9]", "lecun"),
        ("{ kind = \"fine-tune\", shared = 2, lambda_ft = -3 }", "[4, 2, 2]", "aligned"),
        (
            "{ kind = \"fine-tune\", source = \"hierarchy\", levels = 1, lambda_ft = 0 }",
            "[2, 2, 3]",
            "balanced",
        ),
    ];
    for (task, widths, init) in passes {
        assert_eq!(check(task, widths, init), Ok(()), "{task} {widths} {init}");
    }
}

#[test]
fn invalid_shards_are_empty() {
    let spec = spec(QUICK);
    let bad = Shard { index: 3, count: 2 };
    assert_eq!(spec.points(bad).count(), 0);
    assert_eq!(spec.count(bad), 0);
    assert_eq!(spec.count(Shard { index: 0, count: 0 }), 0);
    assert_eq!(spec.count(Shard { index: 5, count: 1000 }), 1);
}

#[test]
fn from_path_names_the_file() {
    let err = Spec::from_path(Path::new("/nonexistent/x.toml")).unwrap_err().to_string();
    assert!(err.starts_with("/nonexistent/x.toml: failed to read spec:"), "{err}");
    let quickstart = sweeps_dir().join("quickstart.toml");
    let spec = Spec::from_path(&quickstart).unwrap();
    assert_eq!(spec.origin(), quickstart.display().to_string());
    assert!(spec.text().contains("quickstart"));
}

fn sweeps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sweeps")
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == extension))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bundled_sweep_parses() {
    let mut files = files_with_extension(&sweeps_dir(), "toml");
    let paper = files_with_extension(&sweeps_dir().join("paper"), "toml");
    assert!(files.len() >= 3 && paper.len() >= 6, "{files:?} {paper:?}");
    files.extend(paper);
    for path in &files {
        let spec = Spec::from_path(path).unwrap_or_else(|err| panic!("{err}"));
        assert!(spec.count(Shard::ALL) > 0, "{}", path.display());
    }
    let sizes = |name: &str| {
        let spec = Spec::from_path(&sweeps_dir().join(name)).unwrap();
        spec.count(Shard::ALL)
    };
    assert_eq!(sizes("quickstart.toml"), 756);
    assert!(sizes("overnight.toml") >= 100_000);
    assert_eq!(sizes("paper/a4.toml"), 1600);
}

#[test]
fn matrices_at_all_is_the_time_grid() {
    let text = "name = \"t\"\nseed = 1\n[[block]]\ntask = { kind = \"random\" }\n\
                init = \"balanced\"\nmethod = \"closed-form\"\nlambda = 1\nscale = 0.1\n\
                widths = [2, 2, 2]\ntime = { linspace = [0, 1, 5] }\n\
                record = { matrices_at = \"all\" }\n";
    let spec = Spec::parse(text, "t.toml").unwrap();
    let point = spec.point(0).unwrap();
    assert_eq!(point.record.matrices_at, point.times.to_vec());
    assert_eq!(point.record.matrices_at.len(), 5);
    // The same point as the explicit list.
    let explicit = text.replace("\"all\"", "[0, 0.25, 0.5, 0.75, 1]");
    let same = Spec::parse(&explicit, "t.toml").unwrap().point(0).unwrap();
    assert_eq!(same.point_id, point.point_id);
}

#[test]
fn bad_spec_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/bad_specs");
    let files = files_with_extension(&dir, "toml");
    assert!(files.len() >= 24, "only {} bad specs", files.len());
    for expect in files_with_extension(&dir, "expect") {
        assert!(expect.with_extension("toml").exists(), "{} has no .toml", expect.display());
    }
    for path in &files {
        let expect_path = path.with_extension("expect");
        let expected = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|_| panic!("{} has no .expect file", path.display()));
        let expected = expected.trim_end_matches('\n');
        assert!(!expected.contains('\n'), "{}: .expect must be one line", expect_path.display());
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let message = match Spec::parse(&text, &name) {
            Ok(_) => panic!("{name} was accepted"),
            Err(err) => err.to_string(),
        };
        assert!(!message.contains('\n'), "{name}: multi-line message {message:?}");
        assert!(
            message.contains(expected),
            "{name}:\n  message: {message}\n  expected: {expected}"
        );
        assert!(message.starts_with(&format!("{name}:")), "{name}: {message}");
    }
}

#[test]
fn tolerance_is_validated_inherited_and_kept_only_for_rk4() {
    let body = "[[block]]\nwidths = [3, 3, 3]\nlambda = 1\nscale = 0.5\n\
                method = [\"closed-form\", \"rk4\", \"gd\", \"closed-form+rk4\"]\ndt = 0.01\nlr = 0.01\n";
    let without = spec(&header(body));
    let with = spec(&header(body).replace("[defaults]\n", "[defaults]\ntolerance = 1e-8\n"));
    let (a, b): (Vec<Point>, Vec<Point>) =
        (without.points(Shard::ALL).collect(), with.points(Shard::ALL).collect());
    assert_eq!(a.len(), 4);
    for (p, q) in a.iter().zip(&b) {
        assert_eq!(p.tolerance, None);
        assert_eq!(p.tolerance_or_default(), crate::params::DEFAULT_TOLERANCE);
        let runs_rk4 = q.method.simulation() == Some(crate::params::Sim::Rk4);
        // Inherited from [defaults]; dropped (and out of the id) where no RK4 runs.
        assert_eq!(q.tolerance, runs_rk4.then_some(1e-8), "{}", q.method.as_str());
        assert_eq!(p.point_id == q.point_id, !runs_rk4, "{}", q.method.as_str());
        assert!(!p.canonical().contains("tolerance"));
        if runs_rk4 {
            assert_eq!(q.canonical(), format!("{}|tolerance=3e45798ee2308c3a", p.canonical()));
        }
    }
    // Unset, the spec hash is what it was before the field existed; set, it changes.
    assert_eq!(spec(QUICK).hash_hex(), spec(&QUICK.replace("\n\n", "\n")).hash_hex());
    assert_ne!(without.hash_hex(), with.hash_hex());
    // Only numbers in (0, 1).
    for bad in ["0", "1", "-1e-6", "1.5", "\"1e-6\"", "[1e-6]"] {
        let message = error(&header(&format!("{body}tolerance = {bad}\n")));
        assert!(message.contains("field `block[0].tolerance`"), "{bad}: {message}");
    }
    assert!(error(&header(&format!("{body}tolerance = 0\n"))).contains("in (0, 1)"));
}

#[test]
fn adaptive_points_default_their_tolerance_and_carry_a_set_one_in_their_id() {
    let body = "[[block]]\nwidths = [3, 3, 3]\nlambda = 1\nscale = 0.5\n\
                method = [\"adaptive\", \"closed-form+adaptive\", \"rk4\"]\ndt = 0.01\n";
    let without: Vec<Point> = spec(&header(body)).points(Shard::ALL).collect();
    let with: Vec<Point> =
        spec(&header(&format!("{body}tolerance = 1e-10\n"))).points(Shard::ALL).collect();
    assert_eq!(without.len(), 3);
    for (p, q) in without.iter().zip(&with) {
        let adaptive = p.method.simulation() == Some(crate::params::Sim::Adaptive);
        assert_eq!(p.tolerance, None);
        assert_eq!(q.tolerance, Some(1e-10));
        assert!(!p.canonical().contains("tolerance"));
        assert!(q.canonical().contains("|tolerance="));
        assert_ne!(p.point_id, q.point_id);
        if adaptive {
            // No dt in the id: the adaptive integrator does not use it.
            assert!(p.canonical().contains("|dt=-|"), "{}", p.canonical());
            assert_eq!(p.tolerance_or_default(), crate::params::DEFAULT_ADAPTIVE_TOLERANCE);
            assert_eq!(p.step(), Some(Step::Adaptive { tolerance: 1e-8 }));
            assert_eq!(q.step(), Some(Step::Adaptive { tolerance: 1e-10 }));
        } else {
            assert_eq!(p.tolerance_or_default(), crate::params::DEFAULT_TOLERANCE);
        }
    }
    // A tolerance the integrator cannot reach is refused where it is written; RK4 alone may
    // still check its drift against it.
    let message = error(&header(&format!("{body}tolerance = 1e-13\n")));
    assert!(message.contains("field `block[0].tolerance`"), "{message}");
    assert!(message.contains("at least 1e-12"), "{message}");
    let rk4_only = body.replace("\"adaptive\", \"closed-form+adaptive\", ", "");
    assert_eq!(spec(&header(&format!("{rk4_only}tolerance = 1e-13\n"))).n_raw(), 1);
    // closed-form+adaptive needs what the closed form needs.
    let deep = body.replace("[3, 3, 3]", "[3, 3, 3, 3]");
    assert!(error(&header(&deep)).contains("`closed-form+adaptive` needs depth 2"));
}

#[test]
fn scales_beyond_the_overflow_bound_are_refused_where_written() {
    use crate::params::max_scale;
    // σ^{2L} Π N = 1e300 exactly at the bound.
    let bound = max_scale(&[4, 4, 4]);
    assert!((bound.powi(4) * 64.0 / 1e300 - 1.0).abs() < 1e-12, "{bound}");
    assert!(max_scale(&[8, 2, 2]) > 4e74 && max_scale(&[8, 2, 2]) < 5e74);
    assert!(max_scale(&[4, 4, 4, 4]) < 1e50 && max_scale(&[4, 4]) > 1e149);
    assert_eq!(max_scale(&[4]), f64::INFINITY);

    let message =
        error(&header("[[block]]\nwidths = [8, 2, 2]\nlambda = 1\nscale = [0.5, 1e300]\n"));
    assert!(message.starts_with("test.toml:11:15:"), "{message}");
    assert!(message.contains("field `block[0].scale[1]`: scale 1e300 is too large"), "{message}");
    assert!(message.contains("docs/math.md P15"), "{message}");
    // Any init that uses the scale, grids included, and an inherited value names its block.
    let gaussian = "[[block]]\nwidths = [4, 4, 4]\ninit = \"gaussian\"\nmethod = \"rk4\"\ndt = 0.1\n\
                    scale = { logspace = [0, 154, 3] }\n";
    assert!(error(&header(gaussian)).contains("field `block[0].scale`: scale 1e77 is too large"));
    let inherited = header("[[block]]\nwidths = [4, 4, 4]\nlambda = 0\n")
        .replace("[defaults]\n", "[defaults]\nscale = 1e100\n");
    assert!(error(&inherited).contains("field `defaults.scale`: scale 1e100 is too large"));
    assert!(error(&inherited).ends_with("(in block[0])"));
    // LeCun ignores the scale; a filter can drop the offending combination; deeper networks
    // have a lower bound.
    spec(&header(
        "[[block]]\nwidths = [4, 4, 4]\ninit = \"lecun\"\nmethod = \"rk4\"\ndt = 0.1\nscale = 1e300\n",
    ));
    spec(&header(
        "[[block]]\nwidths = [[4, 4, 4], [4, 4]]\nlambda = 0\nscale = [1, 1e100]\nmethod = \"gd\"\nlr = 0.1\n\
         exclude = [{ widths = [4, 4, 4], scale = 1e100 }]\n",
    ));
    assert!(error(&header(
        "[[block]]\nwidths = [4, 4, 4, 4]\nlambda = 0\nscale = 1e60\nmethod = \"rk4\"\ndt = 0.1\n"
    ))
    .contains("scale ≤ 3.969e49"));
}

// ---------------------------------------------------------------------------------------------
// Counting in bounded memory (spec/count.rs)

/// Points after filters per block, distinct ids and their row bytes, by building every point and
/// holding every id: what `tally` must find without doing so.
fn brute_tally(spec: &Spec) -> (Vec<u64>, u64, u64) {
    let mut per_block = vec![0; spec.n_blocks()];
    let mut ids = HashSet::new();
    let mut bytes = 0u64;
    for point in spec.points(Shard::ALL) {
        per_block[point.block as usize] += 1;
        if ids.insert(point.point_id) {
            let shape = crate::Shape {
                task: &point.task,
                widths: &point.widths,
                method: point.method,
                times: &point.times,
                record: &point.record,
            };
            bytes += shape.row_bytes();
        }
    }
    (per_block, ids.len() as u64, bytes)
}

/// Checks every counting entry point of `spec` against brute force.
fn check_counts(spec: &Spec) -> Result<(), String> {
    let (per_block, distinct, bytes) = brute_tally(spec);
    let tally = spec.tally();
    let same =
        tally.per_block == per_block && tally.distinct == distinct && tally.row_bytes == bytes;
    if !same {
        return Err(format!("tally {tally:?}, brute force {per_block:?} {distinct} {bytes}"));
    }
    if tally.passes == 0 && !spec.ids_distinct() {
        return Err("counted from the grid, but ids may repeat".to_owned());
    }
    // A small pass buffer: many passes, restarts when a part does not fit.
    let kept: u64 = per_block.iter().sum();
    let capacity = if kept <= 500 { 4 } else { 1024 };
    let small = spec.distinct_by_passes(Shard::ALL, kept, true, capacity);
    if (small.0, small.1) != (distinct, bytes) {
        return Err(format!("passes of {capacity} ids: {small:?}, brute force {distinct} {bytes}"));
    }
    for count in 1..=3u32 {
        let counts = spec.shard_counts(count);
        for index in 0..count {
            let shard = Shard { index, count };
            let points: Vec<u64> = spec.points(shard).map(|p| p.point_id).collect();
            let unique: HashSet<u64> = points.iter().copied().collect();
            if counts[index as usize] != points.len() as u64
                || spec.count(shard) != points.len() as u64
                || spec.count_distinct(shard) != unique.len() as u64
            {
                return Err(format!(
                    "shard {shard}: shard_counts {}, count {}, count_distinct {}, brute force {} \
                     ({} distinct)",
                    counts[index as usize],
                    spec.count(shard),
                    spec.count_distinct(shard),
                    points.len(),
                    unique.len()
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn tally_equals_brute_force_on_random_specs() {
    let config = Config { cases: 64, failure_persistence: None, ..Config::default() };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[13; 32]));
    runner
        .run(&small_spec_strategy(), |small| {
            let spec = Spec::parse(&small.text(), "p.toml")
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            check_counts(&spec).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn tally_equals_brute_force_on_bundled_and_repeating_specs() {
    let mut texts: Vec<(String, String)> = Vec::new();
    for dir in [sweeps_dir(), sweeps_dir().join("paper")] {
        for path in files_with_extension(&dir, "toml") {
            let bundled = Spec::from_path(&path).unwrap();
            if bundled.n_raw() <= 20_000 {
                texts.push((path.display().to_string(), bundled.text().to_owned()));
            }
        }
    }
    let repeating = [
        // λ crossed with unbalanced inits: λ is dropped, ids repeat.
        "[[block]]\nwidths = [3, 3, 3]\nlambda = [-1, 0, 1]\nscale = [0.5, 1]\nmethod = \"rk4\"\n\
         dt = 0.01\ninit = [\"gaussian\", \"lecun\", \"balanced\"]\n",
        // A value twice, -0.0 and 0.0, a filter.
        "[[block]]\nwidths = [[3, 3, 3], [3, 3, 3]]\nlambda = [-0.0, 0.0, 1, 1]\nscale = 0.5\n\
         where = [\"lambda < 1\"]\n",
        // Overlapping blocks (the same points twice), and a disjoint one.
        "[[block]]\nwidths = [3, 3, 3]\nlambda = [1, 2]\nscale = 0.5\n[[block]]\n\
         widths = [3, 3, 3]\nlambda = { linspace = [0, 2, 3] }\nscale = 0.5\n[[block]]\n\
         widths = [4, 4, 4]\nlambda = [1, 2]\nscale = 0.5\n",
        // lr of an RK4 point is dropped.
        "[[block]]\nwidths = [3, 3, 3]\nlambda = 1\nscale = [0.5, 1]\nmethod = [\"rk4\", \"gd\"]\n\
         dt = 0.01\nlr = [0.1, 0.2]\n",
        // Repeated tasks and a multi-phase task.
        "[[block]]\nwidths = [3, 3, 3]\nlambda = 1\nscale = 0.5\ntask = [{ kind = \"random\" }, \
         { kind = \"random\", samples = 64 }, { kind = \"continual\", tasks = 3 }]\n\
         record = { matrices_at = [1] }\n",
    ];
    for (idx, body) in repeating.iter().enumerate() {
        texts.push((format!("repeating[{idx}]"), header(body)));
    }
    for (name, text) in &texts {
        let parsed = Spec::parse(text, "t.toml").unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(message) = check_counts(&parsed) {
            panic!("{name}: {message}");
        }
    }
    // The repeating specs are recognised as such; the quickstart is counted from its grid.
    for body in repeating {
        assert!(!spec(&header(body)).ids_distinct(), "{body}");
    }
    let quick = spec(QUICK);
    assert!(quick.ids_distinct());
    // A zip with a kept axis keeps the ids of a dropped one apart.
    let zipped = header(
        "[[block]]\nwidths = [3, 3, 3]\nlambda = 1\nscale = [0.5, 1]\nmethod = [\"rk4\", \"gd\"]\n\
         dt = 0.01\nlr = [0.1, 0.2]\nzip = [[\"scale\", \"lr\"]]\n",
    );
    assert!(spec(&zipped).ids_distinct());
    check_counts(&spec(&zipped)).unwrap();
    assert_eq!(quick.tally().passes, 0);
}

#[test]
fn ten_million_point_grids_are_counted_from_the_grid() {
    // 10⁷ − 1 values: λ = 0 exactly in the middle.
    let text = "name = \"big\"\nseed = 1\n[[block]]\n\
                task = { kind = \"random\", samples = 16 }\ninit = \"balanced\"\n\
                method = \"closed-form\"\ntime = [0, 1]\n\
                lambda = { linspace = [-5, 5, 9999999] }\nscale = 0.5\nwidths = [4, 4, 4]\n";
    let big = spec(text);
    assert!(big.ids_distinct());
    let tally = big.tally();
    assert_eq!((tally.distinct, tally.passes), (9_999_999, 0));
    assert_eq!(tally.per_block, vec![9_999_999]);
    // Admissibility needs one λ per sign, not ten million.
    let lambda = |raw: u64| big.point(raw).unwrap().lambda;
    assert_eq!(lambda(4_999_999), Some(0.0));
    let expected = vec![
        (vec![4, 4, 4], lambda(0), InitKind::Balanced),
        (vec![4, 4, 4], lambda(4_999_999), InitKind::Balanced),
        (vec![4, 4, 4], lambda(5_000_000), InitKind::Balanced),
    ];
    assert_eq!(big.block_width_lambda_pairs(0), expected);
    // The same grid with a filter on λ takes the general path, with the same answer.
    let filtered = spec(
        &text.replace("widths = [4, 4, 4]\n", "widths = [4, 4, 4]\nwhere = \"lambda != 0\"\n"),
    );
    let pairs: Vec<Option<f64>> =
        filtered.block_width_lambda_pairs(0).into_iter().map(|(_, l, _)| l).collect();
    assert_eq!(pairs, vec![lambda(0), lambda(5_000_000)]);
}

#[test]
fn width_lambda_pairs_fast_and_general_paths_agree() {
    // The same block with and without an always-true filter (which forces the general path).
    let bodies = [
        "widths = [[3, 3, 3], [4, 3, 3], [3, 3, 3]]\nlambda = [2, -1, 0, -3, 1]\nscale = 1\n\
         init = [\"balanced\", \"gaussian\", \"aligned\"]\nmethod = \"rk4\"\ndt = 0.1\n",
        "widths = [3, 3, 3]\nlambda = { range = [-2, 2, 0.5] }\nscale = 1\n",
        "widths = [3, 3, 3]\nscale = 1\ninit = \"gaussian\"\nmethod = \"rk4\"\ndt = 0.1\n",
    ];
    for body in bodies {
        let fast = spec(&header(&format!("[[block]]\n{body}")));
        let general = spec(&header(&format!("[[block]]\n{body}where = \"replicate >= 0\"\n")));
        assert_eq!(fast.block_width_lambda_pairs(0), general.block_width_lambda_pairs(0), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Limits (docs/spec.md, "Limits")

#[test]
fn sizes_are_bounded_with_located_errors() {
    let cases = [
        (
            "[[block]]\nwidths = [4, 4, 4]\nlambda = 1\nscale = 1\n\
             task = { kind = \"random\", samples = 4000000000 }\n",
            "field `block[0].task.samples`: must be at most 10000000, found 4000000000",
        ),
        (
            "[[block]]\nwidths = [4, 4, 4]\nlambda = 1\nscale = 1\n\
             task = { kind = \"reversal\", samples = 5000 }\n",
            "must be at most 2048 (the reversal construction",
        ),
        (
            "[[block]]\nwidths = [512, 512, 512]\nlambda = 1\nscale = 1\n\
             task = { kind = \"random\", samples = 10000000 }\n",
            "field `block[0].task`: a point needs about 191.1 GiB of memory, mostly the random \
             task's data with samples = 10000000 and widths [512, 512, 512]",
        ),
        (
            "[[block]]\nwidths = [4096, 4096, 4096, 4096, 4096, 4096]\nlambda = 1\nscale = 1\n\
             method = \"rk4\"\ndt = 0.1\ntask = { kind = \"random\", samples = 4096 }\n",
            "field `block[0].widths`: a point needs about",
        ),
        (
            "[[block]]\nwidths = [64, 64, 64]\nlambda = 1\nscale = 1\ntime = { linspace = [0, 1, 100000] }\n\
             task = { kind = \"continual\", tasks = 64, samples = 64 }\n",
            "field `block[0].time`: a point needs about",
        ),
        (
            "[[block]]\nwidths = [4, 4, 4]\nlambda = 1\nscale = 1\nmethod = \"rk4\"\n\
             dt = [0.1, 1e-9]\ntime = [0, 1000]\n",
            "field `block[0].dt[1]`: dt = 0.000000001 needs about 1.000e12 RK4 steps to reach \
             t = 1000, more than the limit of 1e8 steps per point",
        ),
        (
            "[[block]]\nwidths = [4, 4, 4]\nlambda = 1\nscale = 1\nmethod = \"gd\"\n\
             lr = 1e-6\ntime = [0, 100]\ntask = { kind = \"continual\", tasks = 3 }\n",
            "in each of the 3 phases of the continual task",
        ),
        (
            &format!(
                "[[block]]\nwidths = [{}]\nlambda = 0\nscale = 1\nmethod = \"rk4\"\ndt = 0.1\n",
                ["2"; 66].join(", ")
            ),
            "field `block[0].widths`: widths have 66 entries (depth 65), more than the limit of 65",
        ),
    ];
    for (body, expected) in cases {
        let message = error(&header(body));
        assert!(message.contains(expected), "{body}\n  message: {message}\n  expected: {expected}");
        assert!(message.starts_with("test.toml:"), "{message}");
    }
    let max_points = error(
        &header("[[block]]\nwidths = [4, 4, 4]\n")
            .replace("seed = 7\n", "seed = 7\nmax_points = 2000000000\n"),
    );
    assert!(max_points.contains("field `max_points`: must be at most 1000000000"), "{max_points}");
    // A spec larger than 1 MiB is refused before it is parsed, from a file or from text.
    let huge = format!("{}\n# {}\n", QUICK, "x".repeat(MAX_SPEC_BYTES as usize));
    assert!(error(&huge).contains("larger than the limit of 1048576 bytes"));
    let dir = std::env::temp_dir().join(format!("lazyrich-sweep-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.toml");
    std::fs::write(&path, &huge).unwrap();
    let message = Spec::from_path(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(message.starts_with(&format!("{}: the spec is larger", path.display())), "{message}");
}

#[test]
fn lambdas_profiles_are_an_axis_and_equal_profiles_are_lambda() {
    let body = |lambdas: &str| {
        header(&format!(
            "scale = 0.5\nlambda = 7\n[[block]]\ninit = \"aligned\"\nwidths = [4, 4, 4, 4, 4]\n\
             {lambdas}\nwhere = \"lambda > 0\"\n"
        ))
    };
    let profiles = spec(&body("lambdas = [[0.5, -0.3, 0.0], [1, 1, 1]]"));
    // The block's `lambdas` replaces the default `lambda`; filters on λ cannot decide a profile
    // whose values differ, so `where` keeps it.
    let points: Vec<Point> = profiles.points(Shard::ALL).collect();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0].lambda, None);
    assert_eq!(points[0].lambdas, Some(vec![0.5, -0.3, 0.0]));
    assert_eq!(points[0].layer_lambdas(), Some(vec![0.5, -0.3, 0.0]));
    assert_eq!(points[0].max_abs_lambda(), Some(0.5));
    assert!(points[0].describe().contains("lambdas=0.5,-0.3,0 "), "{}", points[0].describe());
    assert!(points[0].canonical().ends_with(&format!(
        "|lambdas={:016x},{:016x},{:016x}",
        0.5f64.to_bits(),
        (-0.3f64).to_bits(),
        0.0f64.to_bits()
    )));
    // [1, 1, 1] is λ = 1: the same id, seeds and point as the scalar spelling.
    let scalar = spec(&body("lambda = 1")).point(0).unwrap();
    assert_eq!(points[1].lambdas, None);
    assert_eq!(points[1].layer_lambdas(), Some(vec![1.0; 3]));
    assert_eq!(Point { raw_index: 0, ..points[1].clone() }, scalar);
    // A single profile is an axis of one; the length is checked per widths it meets.
    let one = spec(&body("lambdas = [2, 2, 2]")).point(0).unwrap();
    assert_eq!(one.lambda, Some(2.0));
    let err = error(&body("lambdas = [1, 2]"));
    assert!(
        err.contains("field `block[0].lambdas`: 2 λ given, but widths [4, 4, 4, 4, 4]"),
        "{err}"
    );
    // Zipped with the widths, each profile meets only its own.
    let zipped = spec(&header(
        "scale = 0.5\n[[block]]\ninit = \"aligned\"\nwidths = [[3, 3, 3], [3, 3, 3, 3]]\n\
         lambdas = [[0.5], [0.5, -1]]\nzip = [[\"widths\", \"lambdas\"]]\n",
    ));
    let zipped: Vec<Point> = zipped.points(Shard::ALL).collect();
    assert_eq!(zipped.len(), 2);
    assert_eq!((zipped[0].lambda, zipped[1].lambdas.clone()), (Some(0.5), Some(vec![0.5, -1.0])));
    assert_eq!(profiles.block_width_profile_pairs(0).len(), 1);
    assert_eq!(profiles.block_width_profile_pairs(0)[0].1, vec![0.5, -0.3, 0.0]);
    assert!(profiles.block_width_lambda_pairs(0).iter().any(|(_, l, _)| *l == Some(1.0)));
    let counted = profiles.count(Shard::ALL);
    assert_eq!(counted, 2);
    // Repeated profiles, and [2, 2, 2] next to the scalar 2 of another init: the tally of
    // distinct ids agrees with brute force.
    let repeats = spec(&header(
        "scale = 0.5\n[[block]]\ninit = [\"aligned\", \"balanced\", \"gaussian\"]\n\
         method = \"adaptive\"\nwidths = [4, 4, 4, 4, 4]\n\
         lambdas = [[2, 2, 2], [0.5, -0.3, 0.0], [2, 2, 2], [0.5, -0.3, -0.0], [0, -0.0, 0]]\n",
    ));
    check_counts(&repeats).unwrap();
    // A block's `lambda` replaces a default `lambdas` too; `exclude` has no `lambdas` key.
    let over = spec(&header(
        "lambdas = [0.5, -0.3, 0.0]\nscale = 0.5\n[[block]]\ninit = \"aligned\"\n\
         widths = [4, 4, 4, 4, 4]\nlambda = 2\n",
    ));
    assert_eq!((over.point(0).unwrap().lambda, over.point(0).unwrap().lambdas), (Some(2.0), None));
    let err = error(&body("lambdas = [1, 2, 3]\nexclude = [{ lambdas = [1, 2, 3] }]"));
    assert!(err.contains("lambdas"), "{err}");
}
