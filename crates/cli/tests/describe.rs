//! `lazyrich solve` from a description (`widths`, `init`, `task`, the vocabulary of a sweep
//! spec) instead of hand-made weights (issue 12).

use lazyrich_store::Dataset;
use serde_json::Value;

mod common;
use common::{TempDir, lazyrich, ok, text, write_spec};

/// `solve` from a description starts from the weights of the sweep point with the same
/// parameters, seed and replicate: its QQᵀ at the stored times equals the row's.
#[test]
fn solve_from_a_description_is_the_sweep_point() {
    let dir = TempDir::new("describe");
    let spec = write_spec(
        &dir,
        "one.toml",
        "name = \"one\"\nseed = 7\n[[block]]\ntask = { kind = \"random\", samples = 16 }\n\
         init = \"balanced\"\nmethod = \"closed-form\"\nwidths = [3, 2, 2]\nscale = 0.5\n\
         lambda = -0.5\nreplicates = 2\ntime = [0, 1, 10]\nrecord = { matrices_at = [0, 1, 10] }\n",
    );
    let out = dir.join("out");
    ok(&["run", text(&spec), "--out", text(&out), "--quiet"]);
    let rows = Dataset::open(&out).unwrap().read_rows().unwrap();
    let row = rows.iter().find(|r| r.replicate == 1).unwrap();
    let problem = write_spec(
        &dir,
        "problem.json",
        r#"{"widths": [3, 2, 2], "init": {"kind": "balanced", "lambda": -0.5, "scale": 0.5,
            "seed": 7, "replicate": 1}, "task": {"kind": "random", "samples": 16},
            "times": [0, 1, 10], "method": "closed-form"}"#,
    );
    let solved: Value = serde_json::from_str(&ok(&["solve", text(&problem)]).stdout).unwrap();
    assert_eq!(solved["status"], "ok");
    assert_eq!(solved["w1"].as_array().unwrap().len(), 2, "w1 is Nh × Ni");
    assert_eq!(solved["sigma_yx"].as_array().unwrap().len(), 2, "Σyx is No × Ni");
    let points = solved["points"].as_array().unwrap();
    assert_eq!(row.qqt.len(), 3);
    for (stored, point) in row.qqt.iter().zip(points) {
        let computed: Vec<f64> = point["qqt"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        assert_eq!(stored.len(), computed.len());
        for (a, b) in stored.iter().zip(&computed) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()), "QQᵀ differs: {a} vs {b}");
        }
    }
    // Another replicate or seed is another network.
    let other = write_spec(
        &dir,
        "other.json",
        r#"{"widths": [3, 2, 2], "init": {"kind": "balanced", "lambda": -0.5, "scale": 0.5,
            "seed": 8, "replicate": 1}, "task": {"kind": "random", "samples": 16},
            "times": [0], "method": "closed-form"}"#,
    );
    let other: Value = serde_json::from_str(&ok(&["solve", text(&other)]).stdout).unwrap();
    assert_ne!(other["w1"], solved["w1"]);
    // Weights and a description together are refused, naming the field.
    let both = write_spec(
        &dir,
        "both.json",
        r#"{"w1": [[1, 0, 0]], "widths": [3, 1, 1], "init": {"kind": "balanced", "lambda": 0,
            "scale": 1}, "task": {"kind": "random"}, "times": [0], "method": "closed-form"}"#,
    );
    let run = lazyrich(&["solve", text(&both)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("w1: give either the weights (w1, w2) or a description"),
        "{run:?}"
    );
}
