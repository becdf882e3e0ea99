//! `lazyrich solve` from a description (`widths`, `init`, `task`, the vocabulary of a sweep
//! spec) instead of hand-made weights (issue 12).

use lazyrich_store::Dataset;
use serde_json::Value;

mod common;
use common::{TempDir, lazyrich, ok, text, write_spec};

/// `solve` from a description starts from the weights of the sweep point with the same
/// parameters, seed and replicate: its QQᵀ and loss at the stored times equal the row's.
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
    // The loss is the row's too: the task's tr Σyy is taken, not the excess over the optimum.
    assert_eq!(row.loss.len(), points.len());
    for (stored, point) in row.loss.iter().zip(points) {
        let loss = point["loss"].as_f64().unwrap();
        assert!((stored - loss).abs() <= 1e-12 * (1.0 + stored.abs()), "loss: {stored} vs {loss}");
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

/// Per-layer λ end to end: a `lambdas` sweep written and read back from Parquet (the `lambdas`
/// column; `lambda` null where the λ_l differ, `[1, 1, 1]` the `lambda = 1` row, id included),
/// and `solve` from a description with `init.lambdas`, the point of `init.lambda` when equal.
#[test]
fn lambdas_sweeps_and_descriptions() {
    let dir = TempDir::new("lambdas");
    let body = |lambdas: &str| {
        format!(
            "name = \"l\"\nseed = 7\n[[block]]\ntask = {{ kind = \"random\", samples = 16 }}\n\
             init = \"aligned\"\nmethod = \"closed-form\"\nwidths = [3, 3, 3, 3, 3]\n\
             scale = 0.3\n{lambdas}\ntime = [0, 1, 10]\n"
        )
    };
    let read = |name: &str, text_: &str| {
        let spec = write_spec(&dir, &format!("{name}.toml"), text_);
        let out = dir.join(name);
        ok(&["run", text(&spec), "--out", text(&out), "--quiet"]);
        let mut rows = Dataset::open(&out).unwrap().read_rows().unwrap();
        rows.sort_by(|a, b| a.lambda.partial_cmp(&b.lambda).unwrap());
        rows
    };
    let rows = read("profiles", &body("lambdas = [[0.5, -0.3, 0.0], [1, 1, 1]]"));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == "ok"), "{rows:?}");
    assert_eq!((rows[0].lambda, rows[0].lambdas.clone()), (None, vec![0.5, -0.3, 0.0]));
    assert_eq!((rows[1].lambda, rows[1].lambdas.clone()), (Some(1.0), vec![1.0; 3]));
    let scalar = read("scalar", &body("lambda = 1"));
    assert_eq!(scalar[0].point_id, rows[1].point_id);
    assert_eq!(scalar[0].loss, rows[1].loss);

    // A description: `init.lambdas` of equal values is `init.lambda`.
    let solve = |init: &str| {
        let problem = write_spec(
            &dir,
            "problem.json",
            &format!(
                "{{\"widths\": [3, 2, 2], \"init\": {{\"kind\": \"balanced\", {init}, \
                 \"scale\": 0.5, \"seed\": 7}}, \"task\": {{\"kind\": \"random\", \"samples\": 16}}, \
                 \"times\": [0, 1], \"method\": \"closed-form\"}}"
            ),
        );
        ok(&["solve", text(&problem)]).stdout
    };
    let out = solve("\"lambdas\": [-0.5]");
    assert_eq!(out, solve("\"lambda\": -0.5"));
    // The balance of the initial weights, as the dataset's columns.
    let out: Value = serde_json::from_str(&out).unwrap();
    assert!((out["lambda"].as_f64().unwrap() + 0.5).abs() < 1e-12, "{out}");
    assert!(out["balance_defect"].as_f64().unwrap() < 1e-12, "{out}");
    assert!(out["balance_entry_defect"].as_f64().unwrap() < 1e-12, "{out}");
}

/// A deep aligned description (depth ≥ 3, issue 14) is solved by the deep aligned closed form:
/// its loss, kernel distance and singular values are the `closed-form` row of the same point
/// (to 1e-12; the same functions on the same weights), its balances the row's columns, and it
/// agrees with the `adaptive` row of the point to 1e-8. Per-layer `lambdas` included. (Read
/// exactly, by Python's float parser, the values are the row's bit for bit; serde_json's default
/// float parsing may be one ulp off, hence 1e-12 here.)
#[test]
fn deep_aligned_description_is_the_sweep_point() {
    let dir = TempDir::new("deep");
    let close = |a: f64, b: f64, tol: f64, what: &str| {
        assert!((a - b).abs() <= tol * a.abs().max(1.0), "{what}: {a} vs {b}");
    };
    for (widths, lambdas, json_lambdas, replicate) in [
        ("[3, 3, 3, 3]", "lambda = 0", "\"lambda\": 0", 1),
        ("[2, 3, 3, 4]", "lambdas = [0.5, -0.3]", "\"lambdas\": [0.5, -0.3]", 0),
        ("[3, 3, 3, 3, 2]", "lambda = -0.4", "\"lambda\": -0.4", 0),
    ] {
        let body = |method: &str| {
            format!(
                "name = \"deep\"\nseed = 7\n[[block]]\ntask = {{ kind = \"random\", samples = 16 }}\n\
                 init = \"aligned\"\n{method}\nwidths = {widths}\nscale = 0.3\n{lambdas}\n\
                 replicates = 2\ntime = [0, 0.5, 2, 12]\nrecord = {{ singular_values = true }}\n"
            )
        };
        let row_of = |name: &str, method: &str| {
            let spec = write_spec(&dir, &format!("{name}.toml"), &body(method));
            let out = dir.join(name);
            ok(&["run", text(&spec), "--out", text(&out), "--quiet"]);
            let rows = Dataset::open(&out).unwrap().read_rows().unwrap();
            rows.into_iter().find(|r| r.replicate == replicate).unwrap()
        };
        let tag = widths.replace([' ', ',', '[', ']'], "");
        let exact = row_of(&format!("cf{tag}"), "method = \"closed-form\"");
        let adaptive = row_of(&format!("ad{tag}"), "method = \"adaptive\"\ntolerance = 1e-11");
        assert_eq!((exact.status.as_str(), adaptive.status.as_str()), ("ok", "ok"));
        let problem = write_spec(
            &dir,
            &format!("{tag}.json"),
            &format!(
                "{{\"widths\": {widths}, \"init\": {{\"kind\": \"aligned\", {json_lambdas}, \
                 \"scale\": 0.3, \"seed\": 7, \"replicate\": {replicate}}}, \
                 \"task\": {{\"kind\": \"random\", \"samples\": 16}}, \
                 \"times\": [0, 0.5, 2, 12], \"method\": \"closed-form\"}}"
            ),
        );
        let solved: Value = serde_json::from_str(&ok(&["solve", text(&problem)]).stdout).unwrap();
        assert_eq!(solved["status"], "ok", "{solved}");
        assert_eq!(solved["method"], "closed-form");
        for absent in ["w1", "w2"] {
            assert!(solved.get(absent).is_none(), "{widths}: {absent} in a deep output");
        }
        let depth = widths.matches(',').count();
        assert_eq!(solved["weights"].as_array().unwrap().len(), depth);
        assert_eq!(solved["lambdas"].as_array().unwrap().len(), depth - 1);
        close(solved["lambda"].as_f64().unwrap(), exact.lambda_measured.unwrap(), 1e-12, "λ");
        close(
            solved["balance_entry_defect"].as_f64().unwrap(),
            exact.balance_entry_defect.unwrap(),
            1e-12,
            "balance_entry_defect",
        );
        let points = solved["points"].as_array().unwrap();
        assert_eq!(points.len(), exact.t.len());
        for (k, point) in points.iter().enumerate() {
            assert!(point.get("qqt").is_none(), "no QQᵀ at depth {depth}");
            assert_eq!(point["weights"].as_array().unwrap().len(), depth);
            assert_eq!(point["t"].as_f64().unwrap(), exact.t[k]);
            let loss = point["loss"].as_f64().unwrap();
            let kernel = point["kernel_distance"].as_f64().unwrap();
            let values: Vec<f64> = point["singular_values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            close(loss, exact.loss[k], 1e-12, "loss vs closed-form row");
            close(kernel, exact.kernel_distance[k], 1e-12, "kernel distance vs closed-form row");
            close(loss, adaptive.loss[k], 1e-8, "loss vs adaptive row");
            close(kernel, adaptive.kernel_distance[k], 1e-8, "kernel distance vs adaptive row");
            assert_eq!(values.len(), exact.singular_values[k].len());
            for (i, &s) in values.iter().enumerate() {
                close(s, exact.singular_values[k][i], 1e-12, "singular value vs closed-form row");
                close(s, adaptive.singular_values[k][i], 1e-8, "singular value vs adaptive row");
            }
        }
    }
}
