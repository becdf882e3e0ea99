//! End-to-end tests of the `lazyrich` binary: golden trajectories, the malformed-input corpus
//! under `tests/data/bad_solve/`, and the non-ok statuses.
//!
//! Golden values are G1 and G2 of `docs/golden.md` (independent numpy reference,
//! checked against RK4 to 1e-14).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// What one run of the binary produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lazyrich ARGS`, feeding `stdin` if given.
fn lazyrich(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lazyrich"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).expect("stdin accepts the problem");
    }
    let out = child.wait_with_output().expect("the binary finishes");
    Run {
        code: out.status.code().expect("the binary exits normally, not by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Solves a problem given as JSON text through stdin and returns the parsed output.
fn solve_text(problem: &str) -> Value {
    let run = lazyrich(&["solve", "-"], Some(problem));
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(run.stderr.is_empty(), "stderr: {}", run.stderr);
    serde_json::from_str(&run.stdout).expect("stdout is JSON")
}

fn sweeps(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sweeps").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn matrix(value: &Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .expect("a matrix is an array")
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
        .collect()
}

fn assert_matrix_close(got: &Value, want: &[&[f64]], tol: f64, what: &str) {
    let got = matrix(got);
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (g_row, w_row)) in got.iter().zip(want).enumerate() {
        assert_eq!(g_row.len(), w_row.len(), "{what}: row {i} length");
        for (j, (g, w)) in g_row.iter().zip(w_row.iter()).enumerate() {
            assert!((g - w).abs() <= tol, "{what}[{i}][{j}] = {g}, expected {w} (tol {tol:e})");
        }
    }
}

const G1_QQT_1: [&[f64]; 4] = [
    &[1.41499639168, 0.307440200727, 1.872827350227, 0.065179547504],
    &[0.307440200727, 0.457704792301, 0.445457530261, 0.750523507262],
    &[1.872827350227, 0.445457530261, 2.482592714937, 0.158873602912],
    &[0.065179547504, 0.750523507262, 0.158873602912, 1.390108469043],
];
const G1_QQT_5: [&[f64]; 4] = [
    &[1.538064143109e+00, 3.102977812490e-01, 1.999997541047e+00, 1.664130445408e-05],
    &[3.102977812490e-01, 6.847449054084e-01, 5.000075430930e-01, 9.999488290854e-01],
    &[1.999997541047e+00, 5.000075430930e-01, 2.615638563159e+00, 1.551488879081e-01],
    &[1.664130445408e-05, 9.999488290854e-01, 1.551488879081e-01, 1.607170485358e+00],
];
const G2_QQT_1: [&[f64]; 5] = [
    &[0.991038731565, 0.24662614796, -0.309917040212, 0.800877284944, 0.045902122085],
    &[0.24662614796, 0.737162050728, 0.234001083165, 0.260632387694, 0.471676357193],
    &[-0.309917040212, 0.234001083165, 0.240156313807, -0.222214561921, 0.197541553513],
    &[0.800877284944, 0.260632387694, -0.222214561921, 0.652769936272, 0.078863304189],
    &[0.045902122085, 0.471676357193, 0.197541553513, 0.078863304189, 0.315587159829],
];
const G2_QQT_5: [&[f64]; 5] = [
    &[1.192040253981, 0.271837708022, -0.332552269997, 1.000315600166, 0.093783217942],
    &[0.271837708022, 0.740340677964, 0.398771965488, 0.199575068238, 0.609112955507],
    &[-0.332552269997, 0.398771965488, 0.424835243341, -0.299034166687, 0.385040286473],
    &[1.000315600166, 0.199575068238, -0.299034166687, 0.840628277299, 0.053971301633],
    &[0.093783217942, 0.609112955507, 0.385040286473, 0.053971301633, 0.516587897987],
];

/// Checks the G1/G2 points at t = 0, 1, 5 against docs/golden.md and basic invariants.
fn check_golden(out: &Value, n_in: usize, lambda: f64, at_1: &[&[f64]], at_5: &[&[f64]], tol: f64) {
    assert_eq!(out["status"], "ok", "{out}");
    assert!((out["lambda"].as_f64().unwrap() - lambda).abs() < 1e-12, "{out}");
    let points = out["points"].as_array().unwrap();
    let times: Vec<f64> = points.iter().map(|p| p["t"].as_f64().unwrap()).collect();
    assert_eq!(times, vec![0.0, 1.0, 5.0]);
    assert_matrix_close(&points[1]["qqt"], at_1, tol, "QQT(1)");
    assert_matrix_close(&points[2]["qqt"], at_5, tol, "QQT(5)");
    assert!(
        points[0]["kernel_distance"].as_f64().unwrap().abs() < 1e-14,
        "KD(0) is 0 up to roundoff"
    );
    for point in points {
        let s: Vec<f64> = point["singular_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(s.windows(2).all(|w| w[0] >= w[1]), "singular values not descending: {s:?}");
        let kd = point["kernel_distance"].as_f64().unwrap();
        assert!((-1e-12..=1.0).contains(&kd), "kernel distance {kd}");
    }
    // Kernel distance against docs/math.md §4.5's cheap whitened form, from the t = 0 blocks.
    let q0 = matrix(&points[0]["qqt"]);
    for point in points {
        let q = matrix(&point["qqt"]);
        let want = kernel_distance(&q0, &q, n_in);
        let got = point["kernel_distance"].as_f64().unwrap();
        assert!((got - want).abs() < 1e-12, "kernel distance {got}, expected {want}");
        // Σ s² = ‖W2W1‖²_F, the bottom-left block.
        let s_sq: f64 = point["singular_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap().powi(2))
            .sum();
        let product_sq: f64 = q[n_in..].iter().flat_map(|row| &row[..n_in]).map(|x| x * x).sum();
        assert!((s_sq - product_sq).abs() < 1e-12 * product_sq.max(1.0), "{s_sq} vs {product_sq}");
    }
    // Learning: the loss decreases along the trajectory.
    let losses: Vec<f64> = points.iter().map(|p| p["loss"].as_f64().unwrap()).collect();
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "loss not decreasing: {losses:?}");
}

/// `S(K_a, K_b)` for whitened inputs from the QQᵀ blocks (docs/math.md §4.5), written out directly.
fn kernel_distance(qa: &[Vec<f64>], qb: &[Vec<f64>], n_in: usize) -> f64 {
    let n = qa.len();
    let n_out = n - n_in;
    let block = |q: &[Vec<f64>], lo: usize, hi: usize| -> Vec<Vec<f64>> {
        q[lo..hi].iter().map(|row| row[lo..hi].to_vec()).collect()
    };
    let tr = |m: &[Vec<f64>]| -> f64 { (0..m.len()).map(|i| m[i][i]).sum() };
    let dot = |x: &[Vec<f64>], y: &[Vec<f64>]| -> f64 {
        x.iter().zip(y).flat_map(|(r, s)| r.iter().zip(s).map(|(a, b)| a * b)).sum()
    };
    let inner = |qa: &[Vec<f64>], qb: &[Vec<f64>]| -> f64 {
        let (aa, ma) = (block(qa, 0, n_in), block(qa, n_in, n));
        let (ab, mb) = (block(qb, 0, n_in), block(qb, n_in, n));
        // tr(Aa Ab) = ⟨Aa, Ab⟩ for symmetric blocks.
        n_out as f64 * dot(&aa, &ab)
            + tr(&mb) * tr(&aa)
            + tr(&ma) * tr(&ab)
            + n_in as f64 * dot(&ma, &mb)
    };
    1.0 - inner(qa, qb) / (inner(qa, qa).sqrt() * inner(qb, qb).sqrt())
}

#[test]
fn g1_closed_form_from_the_bundled_file() {
    let path = sweeps("solve_g1.json");
    let run = lazyrich(&["solve", path.to_str().unwrap()], None);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["method"], "closed-form");
    let qqt_1 = &out["points"][1]["qqt"];
    assert!((qqt_1[2][0].as_f64().unwrap() - 1.872827350227).abs() < 1e-10);
    assert!((out["points"][2]["qqt"][3][3].as_f64().unwrap() - 1.607170485358).abs() < 1e-10);
    check_golden(&out, 2, 1.0, &G1_QQT_1, &G1_QQT_5, 1e-10);
    // Loss at t = 0 is ½‖W2W1 − Σyx‖²_F (whitened, no tr Σyy).
    let p0 = &out["points"][0];
    let w = matrix(&p0["qqt"]);
    let sigma_yx = [[2.0, 0.5], [0.0, 1.0]];
    let excess: f64 = (0..2)
        .flat_map(|i| (0..2).map(move |j| (i, j)))
        .map(|(i, j)| (w[2 + i][j] - sigma_yx[i][j]).powi(2))
        .sum();
    assert!((p0["loss"].as_f64().unwrap() - 0.5 * excess).abs() < 1e-14);
}

#[test]
fn g2_funnel_closed_form_through_stdin() {
    let mut problem: Value = serde_json::from_str(&read(&sweeps("solve_funnel_rk4.json"))).unwrap();
    let fields = problem.as_object_mut().unwrap();
    fields.insert("method".into(), "closed-form".into());
    fields.remove("dt");
    let out = solve_text(&problem.to_string());
    check_golden(&out, 3, -0.5, &G2_QQT_1, &G2_QQT_5, 1e-10);
}

#[test]
fn g2_funnel_rk4_from_the_bundled_file() {
    let path = sweeps("solve_funnel_rk4.json");
    let run = lazyrich(&["solve", path.to_str().unwrap()], None);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(out["method"], "rk4");
    check_golden(&out, 3, -0.5, &G2_QQT_1, &G2_QQT_5, 1e-9);
    // RK4 conserves the balance up to its own truncation error.
    for point in out["points"].as_array().unwrap() {
        let drift = point["balance_drift"].as_f64().expect("simulations report balance_drift");
        assert!(drift < 1e-9, "balance drift {drift}");
    }
}

#[test]
fn g1_rk4_and_gd_approach_the_closed_form() {
    let exact = solve_text(&read(&sweeps("solve_g1.json")));
    let rk4 = solve_text(&read(&sweeps("solve_g1.json")).replace("\"closed-form\"", "\"rk4\""));
    let gd = solve_text(
        &read(&sweeps("solve_g1.json")).replace("\"closed-form\"", "\"gd\", \"lr\": 0.001"),
    );
    let want = matrix(&exact["points"][2]["qqt"]);
    let want: Vec<&[f64]> = want.iter().map(Vec::as_slice).collect();
    assert_matrix_close(&rk4["points"][2]["qqt"], &want, 1e-9, "rk4 QQT(5)");
    // Gradient descent is a first-order discretization: error O(lr).
    assert_matrix_close(&gd["points"][2]["qqt"], &want, 1e-2, "gd QQT(5)");
    assert_eq!(gd["method"], "gd");
}

#[test]
fn g1_adaptive_meets_its_tolerance_against_the_closed_form() {
    let exact = solve_text(&read(&sweeps("solve_g1.json")));
    for (tolerance, field) in [(1e-8, String::new()), (1e-10, ", \"tolerance\": 1e-10".into())] {
        let text = read(&sweeps("solve_g1.json"))
            .replace("\"closed-form\"", &format!("\"adaptive\"{field}"));
        let out = solve_text(&text);
        assert_eq!(
            (out["status"].as_str(), out["method"].as_str()),
            (Some("ok"), Some("adaptive"))
        );
        assert!(out["n_steps"].as_u64().unwrap() < 1000, "{}", out["n_steps"]);
        for idx in 0..3 {
            let want = matrix(&exact["points"][idx]["qqt"]);
            let want: Vec<&[f64]> = want.iter().map(Vec::as_slice).collect();
            assert_matrix_close(&out["points"][idx]["qqt"], &want, tolerance, "adaptive QQT");
        }
    }
}

#[test]
fn gd_reports_the_time_of_the_step_used() {
    // lr·τ = 0.3·0.5 = 0.15: requested times land on or near multiples of 0.15.
    let text = read(&sweeps("solve_g1.json"))
        .replace("\"closed-form\"", "\"gd\", \"lr\": 0.3, \"tau\": 0.5")
        .replace("[0, 1, 5]", "[0, 0.3, 1]");
    let out = solve_text(&text);
    assert_eq!(out["status"], "ok", "{out}");
    let times: Vec<f64> =
        out["points"].as_array().unwrap().iter().map(|p| p["t"].as_f64().unwrap()).collect();
    assert_eq!(times.len(), 3);
    for (&t, requested) in times.iter().zip([0.0, 0.3, 1.0]) {
        let k = t / 0.15;
        assert!((k - k.round()).abs() < 1e-9, "t = {t} is not a step time");
        assert!((t - requested).abs() <= 0.15, "t = {t} is far from {requested}");
    }
}

#[test]
fn singular_init_is_a_status_not_an_error() {
    // λ = 0 and det(W2W1)·det(Σyx) < 0: B is singular (docs/math.md P2).
    let problem = r#"{"w1": [[0.1, 0], [0, 0.1]], "w2": [[0.1, 0], [0, -0.1]],
        "sigma_yx": [[1, 0], [0, 1]], "times": [0, 1, 5], "method": "closed-form"}"#;
    let out = solve_text(problem);
    assert_eq!(out["status"], "singular", "{out}");
    assert!(out["message"].as_str().unwrap().contains("singular"), "{out}");
    assert_eq!(out["lambda"].as_f64().unwrap(), 0.0);
    assert!(out["points"].is_array());
}

#[test]
fn huge_learning_rate_diverges_without_nan() {
    // Coarse times: the weights become non-finite between observations (the solver's check).
    // Every step observed: a value passes the overflow guard while the weights are still finite.
    let every_step: Vec<String> = (0..=10).map(|k| (10 * k).to_string()).collect();
    for times in ["0, 10, 100, 1000".to_owned(), every_step.join(", ")] {
        let problem = format!(
            r#"{{"w1": [[0.1, 0], [0, 0.1]], "w2": [[0.1, 0], [0, 0.1]],
                "sigma_yx": [[2, 0.5], [0, 1]], "times": [{times}], "method": "gd", "lr": 10}}"#
        );
        let run = lazyrich(&["solve", "-"], Some(&problem));
        assert_eq!(run.code, 0, "stderr: {}", run.stderr);
        for bad in ["NaN", "nan", "inf", "null"] {
            assert!(!run.stdout.contains(bad), "stdout contains {bad}: {}", run.stdout);
        }
        let out: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(out["status"], "diverged", "{out}");
        assert!(out["message"].as_str().unwrap().contains("diverged"), "{out}");
        let n_points = out["points"].as_array().unwrap().len();
        assert!(0 < n_points && n_points < times.split(',').count(), "{out}");
    }
}

#[test]
fn malformed_inputs_are_rejected_with_one_line_naming_the_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/bad_solve");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 15, "only {} malformed inputs", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expect = read(&case.with_extension("expect"));
        let expect = expect.trim_end();
        let run = lazyrich(&["solve", case.to_str().unwrap()], None);
        let lines: Vec<&str> = run.stderr.lines().collect();
        let ok = run.code == 2
            && run.stdout.is_empty()
            && lines.len() == 1
            && lines[0].starts_with("error: ")
            && lines[0].contains(expect)
            && !run.stderr.contains("panicked");
        if !ok {
            failures.push(format!(
                "{}: exit {}, stdout {:?}, stderr {:?}, expected {expect:?}",
                case.file_name().unwrap().to_string_lossy(),
                run.code,
                run.stdout,
                run.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn malformed_stdin_names_stdin() {
    let run = lazyrich(&["solve", "-"], Some("{\"w1\": }"));
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr.lines().count(), 1);
    assert!(
        run.stderr.starts_with("error: invalid problem <stdin>: invalid JSON: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("line 1 column"), "{}", run.stderr);
}

#[test]
fn unreadable_file_is_named() {
    let run = lazyrich(&["solve", "no/such/problem.json"], None);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert_eq!(run.stderr.lines().count(), 1);
    assert!(
        run.stderr.starts_with("error: failed to read problem no/such/problem.json: "),
        "{}",
        run.stderr
    );
    let dir = lazyrich(&["solve", env!("CARGO_MANIFEST_DIR")], None);
    assert_eq!(dir.code, 2, "{}", dir.stderr);
}

#[test]
fn usage_errors_exit_with_two_and_help_with_zero() {
    let no_args = lazyrich(&[], None);
    assert_eq!(no_args.code, 2);
    let missing = lazyrich(&["solve"], None);
    assert_eq!(missing.code, 2);
    assert!(missing.stdout.is_empty());
    let help = lazyrich(&["solve", "--help"], None);
    assert_eq!(help.code, 0);
    for needle in ["closed-form", "(default 0.001)", "(default 1)", "`-` to read it from stdin"] {
        assert!(help.stdout.contains(needle), "help lacks {needle:?}:\n{}", help.stdout);
    }
}

#[test]
fn pretty_output_is_the_same_document() {
    let path = sweeps("solve_g1.json");
    let compact = lazyrich(&["solve", path.to_str().unwrap()], None);
    let pretty = lazyrich(&["solve", "--pretty", path.to_str().unwrap()], None);
    assert_eq!(pretty.code, 0);
    assert!(pretty.stdout.lines().count() > 1);
    assert_eq!(compact.stdout.lines().count(), 1);
    let a: Value = serde_json::from_str(&compact.stdout).unwrap();
    let b: Value = serde_json::from_str(&pretty.stdout).unwrap();
    assert_eq!(a, b);
}

#[test]
fn trace_sigma_yy_shifts_the_loss_by_the_optimum() {
    let g1 = read(&sweeps("solve_g1.json"));
    let plain = solve_text(&g1);
    // ‖Σyx‖²_F = 4 + 0.25 + 1 = 5.25; the best achievable loss is ½(tr Σyy − 5.25) = 1.
    let shifted = solve_text(&g1.replacen('{', "{\"trace_sigma_yy\": 7.25,", 1));
    for (a, b) in
        plain["points"].as_array().unwrap().iter().zip(shifted["points"].as_array().unwrap())
    {
        let (a, b) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((b - a - 1.0).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn identity_sigma_xx_is_whitened_and_a_general_one_needs_a_simulation() {
    let g1 = read(&sweeps("solve_g1.json"));
    let plain = solve_text(&g1);
    let identity = solve_text(&g1.replacen('{', "{\"sigma_xx\": [[1, 0], [0, 1]],", 1));
    for (a, b) in
        plain["points"].as_array().unwrap().iter().zip(identity["points"].as_array().unwrap())
    {
        assert_eq!(a["qqt"], b["qqt"]);
        assert_eq!(a["kernel_distance"], b["kernel_distance"]);
        let (la, lb) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((la - lb).abs() < 1e-14, "{la} vs {lb}");
    }

    let general = g1.replacen('{', "{\"sigma_xx\": [[2, 0.3], [0.3, 1]],", 1);
    let run = lazyrich(&["solve", "-"], Some(&general));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("sigma_xx: "), "{}", run.stderr);
    let out = solve_text(&general.replace("\"closed-form\"", "\"rk4\", \"dt\": 0.01"));
    assert_eq!(out["status"], "ok", "{out}");
    // With Σxx the optimum is W* = Σyx Σxx⁻¹ and the loss (without tr Σyy) goes to 0.
    let last_loss = out["points"][2]["loss"].as_f64().unwrap();
    let first_loss = out["points"][0]["loss"].as_f64().unwrap();
    assert!(last_loss < 1e-3 * first_loss, "{first_loss} -> {last_loss}");
    assert!(out["n_steps"].as_u64().unwrap() >= 500);
}
