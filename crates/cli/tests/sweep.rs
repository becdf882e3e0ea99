//! End-to-end tests of the sweep commands of the `lazyrich` binary: `plan`, `run`, `status`,
//! `merge`.
//!
//! The contract under test (issue 3): a run killed at any moment (SIGKILL) and re-run with the
//! same command ends with exactly the rows of an uninterrupted run, bit for bit; so does a run
//! on one thread, and the union of its shards. Rows are compared column by column with
//! `f64::to_bits`, leaving out `wall_time_s` (not reproducible) and, for sharded runs, `shard`.
//! Every malformed spec (the sweep crate's corpus `tests/data/bad_specs/`, and the admissibility
//! cases of `tests/data/bad_specs_runner/` that only the runner can detect) exits with code 2, one
//! line on stderr, and creates no output directory.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use lazyrich_store::{Dataset, PointRow};
use lazyrich_sweep::{Shard, Spec};

mod common;
use common::{Run, TempDir, command, lazyrich, lazyrich_env, ok, spawn_run_with, text, write_spec};

/// The test sweep: 260 distinct points, every one `ok`. Each point of the first block runs RK4
/// with a small step next to the closed form, so the whole run takes about a second on two
/// threads and a kill lands mid-run; the other blocks add gradient descent on a depth-3
/// network, gaussian inits whose λ copies share one id, and plain closed-form points.
const SWEEP: &str = r#"
name = "it-sweep"
seed = 11

[defaults]
task = { kind = "random", samples = 16 }
init = "balanced"
scale = 0.5
time = { logspace = [-1, 1, 20] }

# Closed form and RK4 on the same points (no λ = 0: nothing converges to a saddle).
[[block]]
method = "closed-form+rk4"
dt = 0.002
lambda = { linspace = [-2, 2, 6] }
scale = [0.2, 1.0]
widths = [[3, 3, 3], [4, 2, 2], [2, 2, 4]]
replicates = 3
record = { matrices_at = [0.1, 10] }

# Depth 3 by gradient descent; the gaussian init ignores λ, so its three λ copies are one point.
[[block]]
method = "gd"
lr = 0.01
widths = [3, 3, 3, 3]
init = ["balanced", "gaussian"]
lambda = [-0.5, 0.5, 1.0]
replicates = 2
record = { per_time = true, singular_values = false }

# Plain closed form.
[[block]]
method = "closed-form"
lambda = { linspace = [-3, 3, 8] }
scale = [0.05, 0.5, 1.0]
widths = [[3, 3, 3], [3, 2, 2]]
replicates = 3
"#;

/// Rows per part file in the kill tests.
const FLUSH_POINTS: usize = 10;

// ---------------------------------------------------------------------------------------------
// Helpers

/// `run SPEC --out OUT --threads 2 --quiet` plus `extra`, to completion.
fn run_sweep(spec: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["run", text(spec), "--out", text(out), "--threads", "2", "--quiet"];
    args.extend_from_slice(extra);
    ok(&args)
}

fn read_rows(out: &Path) -> Vec<PointRow> {
    Dataset::open(out).unwrap().read_rows().unwrap()
}

fn n_part_files(out: &Path) -> usize {
    let partition = out.join("points").join("task=random");
    std::fs::read_dir(partition).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|ext| ext == "parquet"))
            .count()
    })
}

/// The distinct point ids of the test sweep.
fn expected_ids() -> HashSet<u64> {
    let spec = Spec::parse(SWEEP, "sweep.toml").unwrap();
    spec.points(Shard::ALL).map(|p| p.point_id).collect()
}

/// Every column of a row except `wall_time_s` (and `shard` if `with_shard` is false), floats
/// as their bits. The destructuring has no `..`: a new column fails to compile here until the
/// comparison covers it.
fn columns(row: &PointRow, with_shard: bool) -> Vec<(&'static str, String)> {
    let PointRow {
        point_id,
        seed,
        block,
        replicate,
        spec_hash,
        schema_version,
        lazyrich_version,
        git_commit,
        shard,
        lambda,
        lambdas,
        lambda_ft,
        scale,
        depth,
        widths,
        n_in,
        n_hidden,
        n_out,
        task,
        task_params,
        task_samples,
        n_phases,
        init,
        method,
        lr,
        dt,
        status,
        error,
        lambda_measured,
        balance_defect,
        balance_entry_defect,
        t_end,
        initial_loss,
        final_loss,
        t90,
        escape_time,
        kernel_distance_end,
        balance_drift,
        tolerance,
        cf_sim_error,
        wall_time_s: _,
        t,
        phase,
        loss,
        task_losses,
        kernel_distance,
        singular_values,
        sim_loss,
        phase_t_start,
        phase_t_end,
        phase_task_losses,
        phase_t_half,
        phase_kernel_distance,
        phase_rep_change_in,
        phase_rep_change_out,
        phase_tsc_in,
        phase_tsc_out,
        forgetting,
        forgetting_formula,
        qqt_t,
        qqt,
    } = row;
    let bits = |x: &f64| format!("{:016x}", x.to_bits());
    let opt = |x: &Option<f64>| x.as_ref().map_or_else(|| "null".to_owned(), bits);
    let list = |xs: &[f64]| xs.iter().map(bits).collect::<Vec<_>>().join(",");
    let nested = |xss: &[Vec<f64>]| xss.iter().map(|xs| list(xs)).collect::<Vec<_>>().join(";");
    let mut out = vec![
        ("point_id", point_id.to_string()),
        ("seed", seed.to_string()),
        ("block", block.to_string()),
        ("replicate", replicate.to_string()),
        ("spec_hash", spec_hash.clone()),
        ("schema_version", schema_version.to_string()),
        ("lazyrich_version", lazyrich_version.clone()),
        ("git_commit", git_commit.clone()),
        ("lambda", opt(lambda)),
        ("lambdas", list(lambdas)),
        ("lambda_ft", opt(lambda_ft)),
        ("scale", opt(scale)),
        ("depth", depth.to_string()),
        ("widths", format!("{widths:?}")),
        ("n_in", n_in.to_string()),
        ("n_hidden", n_hidden.to_string()),
        ("n_out", n_out.to_string()),
        ("task", task.clone()),
        ("task_params", task_params.clone()),
        ("task_samples", format!("{task_samples:?}")),
        ("n_phases", n_phases.to_string()),
        ("init", init.clone()),
        ("method", method.clone()),
        ("lr", opt(lr)),
        ("dt", opt(dt)),
        ("status", status.clone()),
        ("error", format!("{error:?}")),
        ("lambda_measured", opt(lambda_measured)),
        ("balance_defect", opt(balance_defect)),
        ("balance_entry_defect", opt(balance_entry_defect)),
        ("t_end", opt(t_end)),
        ("initial_loss", opt(initial_loss)),
        ("final_loss", opt(final_loss)),
        ("t90", opt(t90)),
        ("escape_time", opt(escape_time)),
        ("kernel_distance_end", opt(kernel_distance_end)),
        ("balance_drift", opt(balance_drift)),
        ("tolerance", opt(tolerance)),
        ("cf_sim_error", opt(cf_sim_error)),
        ("t", list(t)),
        ("phase", format!("{phase:?}")),
        ("loss", list(loss)),
        ("task_losses", nested(task_losses)),
        ("kernel_distance", list(kernel_distance)),
        ("singular_values", nested(singular_values)),
        ("sim_loss", list(sim_loss)),
        ("phase_t_start", list(phase_t_start)),
        ("phase_t_end", list(phase_t_end)),
        ("phase_task_losses", nested(phase_task_losses)),
        ("phase_t_half", phase_t_half.iter().map(opt).collect::<Vec<_>>().join(",")),
        ("phase_kernel_distance", list(phase_kernel_distance)),
        ("phase_rep_change_in", list(phase_rep_change_in)),
        ("phase_rep_change_out", list(phase_rep_change_out)),
        ("phase_tsc_in", list(phase_tsc_in)),
        ("phase_tsc_out", list(phase_tsc_out)),
        ("forgetting", nested(forgetting)),
        ("forgetting_formula", nested(forgetting_formula)),
        ("qqt_t", list(qqt_t)),
        ("qqt", nested(qqt)),
    ];
    if with_shard {
        out.push(("shard", shard.clone()));
    }
    out
}

/// Asserts that `got` has no duplicate ids and exactly the rows of `want`, column by column.
fn assert_same_rows(got: &[PointRow], want: &[PointRow], with_shard: bool, what: &str) {
    let index = |rows: &[PointRow]| -> BTreeMap<u64, Vec<(&'static str, String)>> {
        let mut map = BTreeMap::new();
        for row in rows {
            let previous = map.insert(row.point_id, columns(row, with_shard));
            assert!(previous.is_none(), "{what}: point {:016x} has two rows", row.point_id);
        }
        map
    };
    let (got, want) = (index(got), index(want));
    let got_ids: Vec<u64> = got.keys().copied().collect();
    let want_ids: Vec<u64> = want.keys().copied().collect();
    assert_eq!(got_ids.len(), want_ids.len(), "{what}: row count");
    assert_eq!(got_ids, want_ids, "{what}: point ids");
    for (id, want_columns) in &want {
        for ((name, got_value), (_, want_value)) in got[id].iter().zip(want_columns) {
            assert_eq!(got_value, want_value, "{what}: point {id:016x}, column {name}");
        }
    }
}

/// The rows of an uninterrupted, unsharded run of [`SWEEP`] on two threads (computed once).
fn baseline() -> &'static [PointRow] {
    static BASELINE: OnceLock<Vec<PointRow>> = OnceLock::new();
    BASELINE.get_or_init(|| {
        let dir = TempDir::new("baseline");
        let spec = write_spec(&dir, "sweep.toml", SWEEP);
        let out = dir.join("out");
        run_sweep(&spec, &out, &[]);
        read_rows(&out)
    })
}

/// Starts `run` in the background with small flushes.
fn spawn_run(spec: &Path, out: &Path) -> Child {
    let flush = FLUSH_POINTS.to_string();
    spawn_run_with(spec, out, &["--flush-points", &flush, "--quiet"], Stdio::null())
}

/// Waits until `out` has at least `n_files` part files (or the run ends), then SIGKILLs the
/// run. Returns whether the kill landed before the run finished.
fn kill_after_files(mut child: Child, out: &Path, n_files: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while n_part_files(out) < n_files && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        sleep(Duration::from_millis(1));
    }
    kill(child)
}

/// SIGKILLs the run (`Child::kill` is SIGKILL on Unix); whether it was still running.
fn kill(mut child: Child) -> bool {
    let running = child.try_wait().unwrap().is_none();
    // Fails only if the child has already exited.
    let _ = child.kill();
    child.wait().unwrap();
    running
}

/// The value of a `name   value` line of `status` output.
fn status_value(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(name).map(|rest| rest.trim().to_owned()))
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
}

/// A snapshot of every file under `dir`: relative path and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.insert(path.strip_prefix(dir).unwrap().to_owned(), b"<dir>".to_vec());
                stack.push(path);
            } else {
                let contents = std::fs::read(&path).unwrap();
                files.insert(path.strip_prefix(dir).unwrap().to_owned(), contents);
            }
        }
    }
    files
}

// ---------------------------------------------------------------------------------------------
// Complete runs

#[test]
fn a_sweep_runs_to_one_ok_row_per_distinct_point() {
    let rows = baseline();
    let expected = expected_ids();
    assert_eq!(expected.len(), 260, "the test sweep changed: update the comment on SWEEP");
    let ids: HashSet<u64> = rows.iter().map(|r| r.point_id).collect();
    assert_eq!(ids.len(), rows.len(), "duplicate point ids");
    assert_eq!(ids, expected);
    let spec = Spec::parse(SWEEP, "sweep.toml").unwrap();
    for row in rows {
        assert_eq!(row.status, "ok", "point {:016x}: {:?}", row.point_id, row.error);
        assert_eq!(row.spec_hash, spec.hash_hex());
        assert_eq!(row.lazyrich_version, env!("CARGO_PKG_VERSION"));
        assert!(!row.git_commit.is_empty());
        assert_eq!(row.shard, "0/1");
        assert!(row.wall_time_s >= 0.0);
        if row.method == "closed-form+rk4" {
            assert_eq!(row.qqt_t.len(), 2, "matrices_at = [0.1, 10]");
            let cf_sim_error = row.cf_sim_error.expect("closed-form+rk4 records its error");
            assert!(cf_sim_error < 1e-6, "RK4 with dt = 0.002 is close: {cf_sim_error}");
        }
    }
}

/// The row-level reproductions, end to end: gradient descent that blows up (its loss overflows
/// while the weights are still finite, and later the weights), an RK4 step too large for a
/// depth-3 network (finite, but its balance drifts), and a point that stops at t = 0 run to
/// completion (exit 0, every row published), with a status per row and no NaN or infinity
/// anywhere (docs/dataset.md "Statuses"); a rerun computes nothing.
#[test]
fn numeric_failures_are_statuses_of_finite_rows() {
    let dir = TempDir::new("numeric");
    let spec = write_spec(
        &dir,
        "numeric.toml",
        r#"
name = "numeric"
seed = 1
[defaults]
task = { kind = "random", samples = 16 }
init = "balanced"
scale = 0.5

[[block]]
method = ["gd", "closed-form+gd"]
lr = 1
lambda = -1
widths = [4, 4, 4]
time = { linspace = [0, 30, 61] }

[[block]]
method = "rk4"
dt = 0.2
lambda = 1
widths = [4, 4, 4, 4]
time = [0, 1, 2, 4]

[[block]]
method = "closed-form"
lambda = 0
widths = [3, 3, 3]
replicates = 6
time = [0, 1, 2]
"#,
    );
    let out = dir.join("out");
    run_sweep(&spec, &out, &[]);
    let rows = read_rows(&out);
    assert_eq!(rows.len(), 9);
    let mut statuses: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    assert!(statuses.iter().all(|s| ["diverged", "inaccurate", "singular", "ok"].contains(s)));
    for row in &rows {
        // Every float column, as the bits `columns` compares: none is NaN or infinite.
        let strings = ["spec_hash", "lazyrich_version", "git_commit", "task_params", "error"];
        for (name, value) in columns(row, true).into_iter().filter(|(n, _)| !strings.contains(n)) {
            let non_finite = value
                .split([',', ';'])
                .filter(|word| word.len() == 16 && word.chars().all(|c| c.is_ascii_hexdigit()))
                .filter_map(|word| u64::from_str_radix(word, 16).ok())
                .any(|bits| !f64::from_bits(bits).is_finite());
            assert!(!non_finite, "{name} = {value}");
        }
        match (row.method.as_str(), row.depth) {
            ("gd" | "closed-form+gd", _) => assert_eq!(row.status, "diverged", "{:?}", row.error),
            ("rk4", 3) => {
                assert_eq!(row.status, "inaccurate", "{:?}", row.error);
                assert!(row.balance_drift.unwrap() > row.tolerance.unwrap());
            }
            _ if row.status == "singular" => assert_eq!(row.t_end, None),
            _ => assert_eq!((row.status.as_str(), row.t_end), ("ok", Some(2.0))),
        }
    }
    let rerun = run_sweep(&spec, &out, &[]);
    assert!(rerun.stderr.is_empty(), "{rerun:?}");
    assert_eq!(read_rows(&out).len(), 9);
}

#[test]
fn progress_goes_to_stderr_unless_quiet() {
    let dir = TempDir::new("progress");
    let small =
        SWEEP.split("# Depth 3").next().unwrap().replace("replicates = 3", "replicates = 1");
    let spec = write_spec(&dir, "small.toml", &small);
    let loud = ok(&["run", text(&spec), "--out", text(&dir.join("loud"))]);
    assert!(loud.stdout.is_empty(), "{loud:?}");
    // Not a terminal: a start line and a summary line, no bar.
    let last = loud.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("lazyrich: done: shard 0/1, 36 points: 36 computed, 0 failed, 0 already done; 36 rows published to "), "{loud:?}");
    let again = ok(&["run", text(&spec), "--out", text(&dir.join("loud"))]);
    assert!(
        again.stderr.contains("36 points: 0 computed, 0 failed, 36 already done; 0 rows"),
        "{again:?}"
    );
    let quiet = ok(&["run", text(&spec), "--out", text(&dir.join("quiet")), "--quiet"]);
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty(), "{quiet:?}");
}

#[test]
fn one_thread_or_three_encoders_give_the_rows_of_two() {
    let dir = TempDir::new("threads");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    ok(&["run", text(&spec), "--out", text(&out), "--threads", "1", "--quiet"]);
    assert_same_rows(&read_rows(&out), baseline(), true, "--threads 1");
    // Three encoder threads publishing small files side by side: the same rows, each once.
    let encoders = dir.join("encoders");
    let args = ["--threads", "1", "--encoders", "3", "--flush-points", "5", "--quiet"];
    ok(&[&["run", text(&spec), "--out", text(&encoders)][..], &args[..]].concat());
    assert_same_rows(&read_rows(&encoders), baseline(), true, "--encoders 3");
}

// ---------------------------------------------------------------------------------------------
// Kill and resume

#[test]
fn killed_right_after_start_then_resumed() {
    let dir = TempDir::new("kill-start");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    // At once, then a few milliseconds in (while the dataset is being created or the first
    // points computed).
    for delay_ms in [0, 5, 30] {
        let child = spawn_run(&spec, &out);
        sleep(Duration::from_millis(delay_ms));
        kill(child);
    }
    run_sweep(&spec, &out, &["--flush-points", "10"]);
    assert_same_rows(&read_rows(&out), baseline(), true, "killed at start, resumed");
}

#[test]
fn killed_after_the_first_file_then_resumed_with_status_and_merge() {
    let dir = TempDir::new("kill-first");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let child = spawn_run(&spec, &out);
    assert!(kill_after_files(child, &out, 1), "the run finished before the kill");

    let partial = ok(&["status", text(&out)]);
    let missing: u64 = status_value(&partial.stdout, "missing").parse().unwrap();
    let done: u64 = status_value(&partial.stdout, "done").parse().unwrap();
    assert!(missing > 0, "{}", partial.stdout);
    assert_eq!(done + missing, 260, "{}", partial.stdout);
    assert_eq!(status_value(&partial.stdout, "expected"), "260 points");

    run_sweep(&spec, &out, &["--flush-points", "10"]);
    let complete = ok(&["status", text(&out)]);
    assert_eq!(status_value(&complete.stdout, "missing"), "0", "{}", complete.stdout);
    assert_eq!(status_value(&complete.stdout, "done"), "260", "{}", complete.stdout);
    assert!(complete.stdout.starts_with(&format!("dataset    {}", out.display())));
    assert!(
        complete.stdout.contains(&format!("\n{:<12} {:>10} {:>10}  0\n", "0/1", 260, 0)),
        "{}",
        complete.stdout
    );
    assert_same_rows(&read_rows(&out), baseline(), true, "killed after the first file");

    let files_before = n_part_files(&out);
    assert!(files_before >= 260 / FLUSH_POINTS, "{files_before} files");
    let merged = ok(&["merge", text(&out), "--target-rows", "100"]);
    let files_after = n_part_files(&out);
    assert!(files_after < files_before, "{merged:?}");
    assert_eq!(
        merged.stdout.trim(),
        format!("merged {}: {files_before} part files -> {files_after}, 260 rows", out.display())
    );
    assert_same_rows(&read_rows(&out), baseline(), true, "after merge");
    assert_eq!(status_value(&ok(&["status", text(&out)]).stdout, "missing"), "0");
}

#[test]
fn killed_at_half_and_again_while_resuming_then_resumed() {
    let dir = TempDir::new("kill-half");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let half = 260 / FLUSH_POINTS / 2;
    assert!(kill_after_files(spawn_run(&spec, &out), &out, half), "finished before the kill");
    let files = n_part_files(&out);
    assert!(files >= half, "{files} files");
    // The resume is killed after it published one more file.
    assert!(kill_after_files(spawn_run(&spec, &out), &out, files + 1), "finished before the kill");
    run_sweep(&spec, &out, &["--flush-points", "10"]);
    assert_same_rows(&read_rows(&out), baseline(), true, "killed twice, resumed");
}

// ---------------------------------------------------------------------------------------------
// Shards

#[test]
fn explicit_shards_then_merge_give_the_unsharded_rows() {
    let dir = TempDir::new("shards");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    for k in 0..3 {
        let shard = format!("{k}/3");
        run_sweep(&spec, &out, &["--shard", &shard, "--flush-points", "25"]);
    }
    let rows = read_rows(&out);
    let parsed = Spec::parse(SWEEP, "sweep.toml").unwrap();
    for row in &rows {
        let shard: Shard = row.shard.parse().unwrap();
        assert_eq!(shard.count, 3);
        assert!(
            parsed.points(shard).any(|p| p.point_id == row.point_id),
            "point {:016x} is not a point of shard {shard}",
            row.point_id
        );
    }
    assert_same_rows(&rows, baseline(), false, "shards 0/3, 1/3, 2/3");

    let status = ok(&["status", text(&out)]);
    assert_eq!(status_value(&status.stdout, "missing"), "0", "{}", status.stdout);
    for k in 0..3 {
        let line = status.stdout.lines().find(|l| l.starts_with(&format!("{k}/3 "))).unwrap();
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields[2], "0", "shard {k} has missing points: {}", status.stdout);
    }

    let before = n_part_files(&out);
    ok(&["merge", text(&out)]);
    assert!(n_part_files(&out) < before);
    assert_same_rows(&read_rows(&out), baseline(), false, "shards, merged");
}

/// Shards running at the same time into one directory (a Slurm array): no point twice, even the
/// gaussian-init λ copies that share one id (shards are assigned by point id).
#[test]
fn concurrent_shards_write_each_point_once() {
    let dir = TempDir::new("concurrent");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let children: Vec<Child> = (0..3)
        .map(|k| {
            let shard = format!("{k}/3");
            command(&[
                "run",
                text(&spec),
                "--out",
                text(&out),
                "--shard",
                &shard,
                "--threads",
                "1",
                "--quiet",
                "--flush-points",
                "7",
            ])
            .spawn()
            .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let rows = read_rows(&out);
    assert_same_rows(&rows, baseline(), false, "concurrent shards 0/3, 1/3, 2/3");
}

#[test]
fn shards_from_the_job_array_index() {
    let dir = TempDir::new("slurm");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let args =
        ["run", text(&spec), "--out", text(&out), "--shards", "3", "--threads", "2", "--quiet"];
    for (var, k) in
        [("SLURM_ARRAY_TASK_ID", "0"), ("JOB_COMPLETION_INDEX", "1"), ("SLURM_ARRAY_TASK_ID", "2")]
    {
        let run = lazyrich_env(&args, &[(var, k)]);
        assert_eq!(run.code, 0, "{var}={k}: {run:?}");
    }
    let rows = read_rows(&out);
    let shards: HashSet<&str> = rows.iter().map(|r| r.shard.as_str()).collect();
    assert_eq!(shards, HashSet::from(["0/3", "1/3", "2/3"]));
    assert_same_rows(&rows, baseline(), false, "--shards 3 from the environment");

    // Slurm's variable wins over Kubernetes'; an index ≥ N and no index are refused.
    let fresh = dir.join("fresh");
    let args = ["run", text(&spec), "--out", text(&fresh), "--shards", "3", "--quiet"];
    let run = lazyrich_env(&args, &[("SLURM_ARRAY_TASK_ID", "3"), ("JOB_COMPLETION_INDEX", "0")]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "error: SLURM_ARRAY_TASK_ID = 3 is not below --shards 3: shards are numbered 0 to 2 (an \
         array that does not start at shard 0 needs --shard-offset: shard = task id + offset)\n"
    );
    let run = lazyrich(&args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("neither is set: give it with --shard k/3"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1);
    assert!(!fresh.exists());
}

// ---------------------------------------------------------------------------------------------
// Refusals

#[test]
fn another_spec_into_the_same_directory_is_refused_and_changes_nothing() {
    let dir = TempDir::new("other-spec");
    let first = write_spec(&dir, "first.toml", &SWEEP.replace("replicates = 3", "replicates = 1"));
    let second =
        write_spec(&dir, "second.toml", &SWEEP.replace("replicates = 3", "replicates = 2"));
    let out = dir.join("out");
    run_sweep(&first, &out, &[]);
    let before = snapshot(&out);
    let run = lazyrich(&["run", text(&second), "--out", text(&out), "--quiet"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let hash = |path: &Path| Spec::from_path(path).unwrap().hash_hex();
    assert_eq!(
        run.stderr,
        format!(
            "error: {} holds results of spec 'it-sweep' (hash {}); this spec has hash {}: use \
             another --out directory, or --extend to make this spec the dataset's (only the \
             points it lacks are computed)\n",
            out.display(),
            hash(&first),
            hash(&second)
        )
    );
    assert_eq!(snapshot(&out), before, "the refused run changed the directory");

    // A directory with other files is not a dataset: refused too, untouched.
    let foreign = dir.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let run = lazyrich(&["run", text(&first), "--out", text(&foreign)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("is not empty and holds no lazyrich dataset"), "{run:?}");
    assert_eq!(snapshot(&foreign).len(), 1);
}

#[test]
fn bad_options_exit_2_and_create_nothing() {
    let dir = TempDir::new("options");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let cases: [&[&str]; 8] = [
        &["--threads", "0"],
        &["--encoders", "0"],
        &["--encoders", "1000000"],
        &["--flush-points", "0"],
        &["--flush-seconds", "0"],
        &["--flush-seconds", "nan"],
        &["--shard", "3/3"],
        &["--shard", "0/2", "--shards", "2"],
    ];
    for extra in cases {
        let mut args = vec!["run", text(&spec), "--out", text(&out)];
        args.extend_from_slice(extra);
        let run = lazyrich(&args);
        assert_eq!(run.code, 2, "{extra:?}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{extra:?}: {run:?}");
        assert!(!out.exists(), "{extra:?} created the output directory");
    }
    let missing = lazyrich(&["run", text(&dir.join("no-such.toml")), "--out", text(&out)]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("no-such.toml: failed to read spec: "), "{missing:?}");
    assert!(!out.exists());
}

#[test]
fn status_and_merge_refuse_a_directory_that_is_not_a_dataset() {
    let dir = TempDir::new("not-a-dataset");
    for command in ["status", "merge"] {
        let run = lazyrich(&[command, text(&dir.0)]);
        assert_eq!(run.code, 2, "{command}: {run:?}");
        assert_eq!(
            run.stderr,
            format!(
                "error: {} is not a lazyrich dataset (no _lazyrich/manifest.json)\n",
                dir.0.display()
            )
        );
    }
}

/// The `.toml` files of a corpus directory, each with its expected message.
fn corpus(dir: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    cases.sort();
    cases
        .into_iter()
        .map(|path| {
            let expect = std::fs::read_to_string(path.with_extension("expect"))
                .unwrap_or_else(|err| panic!("{}: no .expect file: {err}", path.display()));
            (path, expect.trim_end().to_owned())
        })
        .collect()
}

#[test]
fn malformed_specs_exit_2_with_one_line_and_create_nothing() {
    let spec_corpus = corpus("tests/data/bad_specs");
    let runner_corpus = corpus("tests/data/bad_specs_runner");
    assert!(spec_corpus.len() >= 24, "only {} bad specs", spec_corpus.len());
    assert!(runner_corpus.len() >= 3, "only {} runner bad specs", runner_corpus.len());
    // The runner's cases are valid specs: only admissibility (which needs the solver) fails.
    for (path, _) in &runner_corpus {
        if let Err(err) = Spec::from_path(path) {
            panic!("{} should parse (it belongs in tests/data/bad_specs/): {err}", path.display());
        }
    }
    let dir = TempDir::new("bad-specs");
    let mut failures = Vec::new();
    for (path, expect) in spec_corpus.iter().chain(&runner_corpus) {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.join(&name);
        let plan = lazyrich(&["plan", text(path)]);
        let run = lazyrich(&["run", text(path), "--out", text(&out)]);
        for (command, result) in [("plan", &plan), ("run", &run)] {
            let lines: Vec<&str> = result.stderr.lines().collect();
            let good = result.code == 2
                && result.stdout.is_empty()
                && lines.len() == 1
                && lines[0].starts_with(&format!("error: {}:", path.display()))
                && lines[0].contains(expect.as_str())
                && !result.stderr.contains("panicked");
            if !good {
                failures.push(format!("{command} {name}: {result:?}, expected {expect:?}"));
            }
        }
        if out.exists() {
            failures.push(format!("run {name} created {}", out.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Plan

#[test]
fn plan_counts_points_shards_and_lists_the_first() {
    let dir = TempDir::new("plan");
    let spec_path = write_spec(&dir, "sweep.toml", SWEEP);
    let run = ok(&["plan", text(&spec_path), "--shards", "3", "--list", "4"]);
    let spec = Spec::parse(SWEEP, "sweep.toml").unwrap();
    let out = &run.stdout;
    assert_eq!(status_value(out, "name"), "it-sweep");
    assert_eq!(status_value(out, "spec hash"), spec.hash_hex());
    assert_eq!(status_value(out, "blocks"), "3");
    // 6·2·3·3 + 2·3·2 + 8·3·2·3; the gaussian block's λ copies are 4 repeats.
    assert_eq!(status_value(out, "raw points"), "264");
    assert_eq!(status_value(out, "after filters"), "264");
    assert!(
        status_value(out, "estimated rows")
            .starts_with("260 (one per distinct point id; 4 points repeat"),
        "{out}"
    );
    assert!(status_value(out, "estimated size").contains("uncompressed"), "{out}");
    let shard_counts: u64 =
        (0..3).map(|k| status_value(out, &format!("  {k}/3")).parse::<u64>().unwrap()).sum();
    assert_eq!(shard_counts, 264);
    let listed: Vec<&str> =
        out.lines().skip_while(|l| !l.starts_with("first points")).skip(1).collect();
    assert_eq!(listed.len(), 4, "{out}");
    for (line, point) in listed.iter().zip(spec.points(Shard::ALL)) {
        let (head, description) = line.trim_start().split_at(28);
        let fields: Vec<&str> = head.split_whitespace().collect();
        assert_eq!(fields, [point.raw_index.to_string(), format!("{:016x}", point.point_id)]);
        assert_eq!(description, point.describe());
    }
    // Readable values: decimal numbers, no IEEE hex.
    assert!(listed[0].contains("lambda=-2 scale=0.2 widths=3-3-3"), "{}", listed[0]);
    assert!(listed[0].contains("dt=0.002 replicate=0 times=20 in [0.1, 10]"), "{}", listed[0]);
    // --canonical: the exact texts the ids hash.
    let run = ok(&["plan", text(&spec_path), "--list", "2", "--canonical"]);
    let listed: Vec<&str> =
        run.stdout.lines().skip_while(|l| !l.starts_with("first points")).skip(1).collect();
    for (line, point) in listed.iter().zip(spec.points(Shard::ALL)) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            fields,
            [point.raw_index.to_string(), format!("{:016x}", point.point_id), point.canonical()]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Integrity: checksums, quarantine, foreign files, layouts, duplicates

/// The part files of `out`, sorted.
fn part_files(out: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for partition in std::fs::read_dir(out.join("points")).unwrap() {
        let partition = partition.unwrap().path();
        for file in std::fs::read_dir(&partition).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|ext| ext == "parquet") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

/// Inverts 64 bytes in the middle of the pages of column `column` of the part file `path`, as
/// a bad disk or a bad copy would.
fn flip_64_bytes(path: &Path, column: &str) {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let metadata = parquet::file::reader::FileReader::metadata(&reader);
    let chunk = metadata
        .row_group(0)
        .columns()
        .iter()
        .find(|c| c.column_path().string().starts_with(column))
        .unwrap();
    let (start, len) = chunk.byte_range();
    let offset = usize::try_from(start + len.saturating_sub(64) / 2).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    for byte in &mut bytes[offset..offset + 64] {
        *byte = !*byte;
    }
    std::fs::write(path, bytes).unwrap();
}

/// The quarantined copy of the part file `file` of `out`.
fn quarantined(out: &Path, file: &Path) -> PathBuf {
    let partition = file.parent().unwrap().file_name().unwrap();
    out.join("_lazyrich/quarantine").join(partition).join(file.file_name().unwrap())
}

/// The reproduction: 64 flipped bytes inside a part file went unnoticed by `status`, `run` and
/// `merge`, and `merge` published the altered values and deleted the original. Now `status
/// --verify`, the resume of `run` and `merge` each find the damaged file, quarantine it and
/// say so; the next run recomputes its points, and the dataset ends bit for bit as the
/// baseline.
#[test]
fn flipped_bytes_are_found_by_status_verify_run_and_merge_and_recomputed() {
    let dir = TempDir::new("flipped");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    run_sweep(&spec, &out, &["--flush-points", "10"]);
    let files = part_files(&out);
    assert!(files.len() >= 20, "{} files", files.len());

    // status --verify: reported, quarantined, exit 1.
    flip_64_bytes(&files[3], "final_loss");
    let status = lazyrich(&["status", "--verify", text(&out)]);
    assert_eq!(status.code, 1, "{status:?}");
    let moved = quarantined(&out, &files[3]);
    let damaged_line = status.stdout.lines().find(|l| l.starts_with("damaged ")).unwrap();
    assert!(
        damaged_line.starts_with(&format!("damaged    {}: ", files[3].display())),
        "{status:?}"
    );
    assert!(damaged_line.ends_with(&format!("; moved to {}", moved.display())), "{status:?}");
    assert_eq!(
        status.stderr,
        format!(
            "error: {}: 1 damaged part file moved to the quarantine (the next run recomputes \
             their points)\n",
            out.display()
        )
    );
    assert!(moved.exists() && !files[3].exists());
    assert!(moved.with_extension("parquet.json").exists());
    let missing: u64 = status_value(&status.stdout, "missing").parse().unwrap();
    assert_eq!(missing, 10, "{}", status.stdout);
    // Verified again: clean, exit 0.
    let clean = ok(&["status", "--verify", text(&out)]);
    assert!(clean.stdout.contains(&format!("verified   {} part files, 250 rows", files.len() - 1)));
    assert!(clean.stdout.contains("quarantine 1 file in "), "{}", clean.stdout);

    // run: the resume verifies every file, quarantines the damaged one (a warning on stderr,
    // even with --quiet) and recomputes its points with the missing ones.
    flip_64_bytes(&files[7], "loss");
    let run = run_sweep(&spec, &out, &["--flush-points", "10"]);
    assert_eq!(
        run.stderr,
        format!(
            "lazyrich: warning: {} is damaged ({}): moved to {}; its points will be computed \
             again\n",
            files[7].display(),
            run.stderr
                .split(" is damaged (")
                .nth(1)
                .and_then(|r| r.split("): moved").next())
                .unwrap(),
            quarantined(&out, &files[7]).display()
        )
    );
    assert_same_rows(&read_rows(&out), baseline(), true, "after two quarantines and a resume");

    // merge: verifies every source before writing anything; refuses and quarantines.
    let files = part_files(&out);
    flip_64_bytes(&files[0], "qqt");
    let merge = lazyrich(&["merge", text(&out)]);
    assert_eq!(merge.code, 1, "{merge:?}");
    assert!(
        merge.stderr.starts_with(&format!(
            "error: refused to merge {}: 1 damaged part file moved to {} with a note of why (the \
             next `lazyrich run` recomputes their points): {}: ",
            out.display(),
            out.join("_lazyrich/quarantine").display(),
            files[0].display()
        )),
        "{merge:?}"
    );
    assert!(merge.stderr.ends_with("; nothing was merged\n"), "{merge:?}");
    assert_eq!(part_files(&out), files[1..], "nothing merged, nothing else removed");
    run_sweep(&spec, &out, &[]);
    let merged = ok(&["merge", text(&out)]);
    assert!(merged.stdout.ends_with(", 260 rows\n"), "{merged:?}");
    assert_same_rows(&read_rows(&out), baseline(), true, "recomputed and merged");
    let status = ok(&["status", "--verify", text(&out)]);
    assert!(status.stdout.contains("quarantine 3 files in "), "{}", status.stdout);
}

/// Every file under `dir` but the lock files (a refused run may create its lock file).
fn snapshot_without_locks(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = snapshot(dir);
    files.retain(|path, _| path.extension().is_none_or(|ext| ext != "lock"));
    files
}

/// The reproduction: an unsharded run and `--shard 0/2` at the same time into one directory
/// both ran to exit 0 and wrote duplicate rows. Now the second is refused while the first
/// runs, and after it too (the layout is recorded), unless `--relayout` says its run is over.
#[test]
fn an_overlapping_shard_layout_is_refused_while_running_and_once_recorded() {
    let dir = TempDir::new("overlap");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let child = command(&["run", text(&spec), "--out", text(&out), "--threads", "1", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !out.join("_lazyrich/manifest.json").exists() && Instant::now() < deadline {
        sleep(Duration::from_millis(5));
    }
    sleep(Duration::from_millis(100));
    let lock = out.join("_lazyrich/tmp/s0000of0001.lock");
    let refused = lazyrich(&["run", text(&spec), "--out", text(&out), "--shard", "0/2", "--quiet"]);
    let mut child = child;
    let still_running = child.try_wait().unwrap().is_none();
    assert_eq!(refused.code, 2, "{refused:?}");
    if still_running {
        assert_eq!(
            refused.stderr,
            format!(
                "error: shard 0/2 would compute points that the unsharded run (0/1) is computing \
                 now into {} (it holds {}): wait until it has finished, or run a shard layout \
                 that does not overlap it (shards k/N and j/M share points when k and j are \
                 equal modulo gcd(N, M))\n",
                out.display(),
                lock.display()
            )
        );
        // --relayout does not get past a running layout either.
        let relayout =
            lazyrich(&["run", text(&spec), "--out", text(&out), "--shard", "2/4", "--relayout"]);
        assert_eq!(relayout.code, 2, "{relayout:?}");
        assert!(relayout.stderr.contains("is computing now"), "{relayout:?}");
    }
    assert!(child.wait().unwrap().success());
    assert_same_rows(&read_rows(&out), baseline(), true, "the unsharded run alone");

    // Finished and recorded: refused without --relayout, changing nothing.
    let before = snapshot_without_locks(&out);
    let refused = lazyrich(&["run", text(&spec), "--out", text(&out), "--shard", "0/2"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert_eq!(
        refused.stderr,
        format!(
            "error: {} holds results of the shard layouts 0/1 (recorded in its manifest), and \
             shard 0/2 overlaps 0/1: mixing overlapping layouts can compute points twice. Run \
             with a recorded layout, or, once no run of 0/1 is going on any more (on any \
             machine), add --relayout to run this layout anyway (points already present are \
             skipped)\n",
            out.display()
        )
    );
    assert_eq!(snapshot_without_locks(&out), before);
    // With --relayout: nothing left to compute, no duplicate.
    run_sweep(&spec, &out, &["--shard", "0/2", "--relayout"]);
    assert_same_rows(&read_rows(&out), baseline(), true, "after --relayout");
    let status = ok(&["status", text(&out)]);
    assert_eq!(status_value(&status.stdout, "layouts"), "0/1, 0/2 (recorded)", "{}", status.stdout);
}

/// The documented way out: shards 0/2 ran (1/2 never did, or was lost); an unsharded
/// `--relayout` run fills the gaps.
#[test]
fn relayout_fills_the_gaps_of_finished_shards() {
    let dir = TempDir::new("relayout");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    run_sweep(&spec, &out, &["--shard", "0/2"]);
    // Shards of the same N never overlap: 1/2 runs next to (or after) 0/2.
    let refused = lazyrich(&["run", text(&spec), "--out", text(&out), "--quiet"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("add --relayout"), "{refused:?}");
    run_sweep(&spec, &out, &["--relayout"]);
    assert_same_rows(&read_rows(&out), baseline(), false, "0/2, then unsharded --relayout");
    let shards: HashSet<String> = read_rows(&out).into_iter().map(|r| r.shard).collect();
    assert_eq!(shards, HashSet::from(["0/2".to_owned(), "0/1".to_owned()]));
    // Recorded now: a plain unsharded run resumes.
    run_sweep(&spec, &out, &[]);
}

/// The reproduction: with `_lazyrich/manifest.json` (or all of `_lazyrich/`) deleted, `run`
/// adopted the existing part files and the directory then held two specs. Now `run` (of this
/// spec or another), `status` and `merge` refuse it with what to do, and change nothing.
#[test]
fn part_files_without_a_manifest_are_refused_by_run_status_and_merge() {
    let dir = TempDir::new("no-manifest");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let other = write_spec(&dir, "other.toml", &SWEEP.replace("seed = 11", "seed = 12"));
    for remove in ["_lazyrich/manifest.json", "_lazyrich"] {
        let out = dir.join(&format!("out-{}", remove.len()));
        run_sweep(&spec, &out, &["--flush-points", "100"]);
        let target = out.join(remove);
        if target.is_dir() {
            std::fs::remove_dir_all(&target).unwrap();
        } else {
            std::fs::remove_file(&target).unwrap();
        }
        let before = snapshot(&out);
        let expected = format!(
            "error: {} holds part files but {} is missing, so they cannot be attributed to a \
             spec: restore the dataset's _lazyrich/ directory (manifest.json, spec.toml) from a \
             backup or the copy it came from, or use another --out directory\n",
            out.join("points").display(),
            out.join("_lazyrich/manifest.json").display()
        );
        for args in [
            vec!["run", text(&spec), "--out", text(&out)],
            vec!["run", text(&other), "--out", text(&out)],
            vec!["status", text(&out)],
            vec!["merge", text(&out)],
        ] {
            let refused = lazyrich(&args);
            assert_eq!((refused.code, refused.stderr.as_str()), (2, expected.as_str()), "{args:?}");
        }
        assert_eq!(snapshot(&out), before, "{remove}: the refusals changed the directory");
    }
}

/// The reproduction: a foreign part file (from a dataset of another spec) gave a warning and
/// `merge` folded it in. Now `run` and `merge` refuse the dataset, `status` names the file
/// (exit 1), and nothing changes until it is moved out.
#[test]
fn a_part_file_of_another_spec_is_refused_until_moved_out() {
    let dir = TempDir::new("foreign");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let other = write_spec(&dir, "other.toml", &SWEEP.replace("seed = 11", "seed = 12"));
    let out = dir.join("out");
    let elsewhere = dir.join("elsewhere");
    run_sweep(&spec, &out, &["--flush-points", "100"]);
    run_sweep(&other, &elsewhere, &["--flush-points", "100"]);
    let foreign = out.join("points/task=random/part-s0000of0001-000050.parquet");
    std::fs::copy(&part_files(&elsewhere)[0], &foreign).unwrap();
    let before = snapshot_without_locks(&out);
    let hash = |path: &Path| Spec::from_path(path).unwrap().hash_hex();
    let expected = format!(
        "error: {} holds results of spec hash {}, not of this dataset's spec (hash {}): move it \
         out of {}, back to the dataset it came from, and run again\n",
        foreign.display(),
        hash(&other),
        hash(&spec),
        out.join("points").display()
    );
    for args in [vec!["run", text(&spec), "--out", text(&out)], vec!["merge", text(&out)]] {
        let refused = lazyrich(&args);
        assert_eq!((refused.code, refused.stderr.as_str()), (2, expected.as_str()), "{args:?}");
    }
    let status = lazyrich(&["status", text(&out)]);
    assert_eq!(status.code, 1, "{status:?}");
    assert!(
        status.stdout.contains(&format!(
            "foreign    {}: results of spec hash {}, not of this dataset's spec\n",
            foreign.display(),
            hash(&other)
        )),
        "{status:?}"
    );
    assert_eq!(status_value(&status.stdout, "done"), "260", "foreign rows are not counted");
    assert_eq!(snapshot_without_locks(&out), before);
    std::fs::remove_file(&foreign).unwrap();
    run_sweep(&spec, &out, &[]);
    ok(&["merge", text(&out)]);
    assert_same_rows(&read_rows(&out), baseline(), true, "after moving the foreign file out");
}

/// The reproduction: a copied part file (each of its points twice) was kept by `merge`. Now
/// `merge` drops the exact duplicates and says so.
#[test]
fn merge_drops_the_rows_of_a_copied_part_file_and_says_so() {
    let dir = TempDir::new("copied");
    let spec = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    run_sweep(&spec, &out, &["--flush-points", "25"]);
    let files = part_files(&out);
    let copy = files[2].with_file_name("part-s0000of0001-000002 (copy).parquet");
    std::fs::copy(&files[2], &copy).unwrap();
    let status = ok(&["status", text(&out)]);
    assert!(status.stdout.contains("warning    25 rows repeat a point id"), "{}", status.stdout);
    run_sweep(&spec, &out, &[]); // the copy's points are done: nothing to compute
    let merged = ok(&["merge", text(&out)]);
    assert_eq!(
        merged.stdout,
        format!(
            "merged {}: {} part files -> 1, 260 rows; dropped 25 duplicate rows (bitwise-equal \
             copies of rows kept, apart from wall_time_s and shard)\n",
            out.display(),
            files.len() + 1
        )
    );
    assert_same_rows(&read_rows(&out), baseline(), true, "copied file merged away");
}

#[test]
fn too_many_threads_is_bad_input_and_writes_nothing() {
    let dir = TempDir::new("threads");
    let spec_path = write_spec(&dir, "sweep.toml", SWEEP);
    let out = dir.join("out");
    let run = lazyrich(&["run", text(&spec_path), "--out", text(&out), "--threads", "100000"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("invalid value '100000' for '--threads <T>': must be at most"),
        "{run:?}"
    );
    assert!(run.stderr.contains("per available core"), "{run:?}");
    assert!(!out.exists());
}
