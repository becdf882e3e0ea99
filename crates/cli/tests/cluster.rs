//! End-to-end tests of what a cluster needs from `lazyrich run` and `status` (issue 11):
//! signals that save every computed row, status as JSON and as the shards to resubmit, job
//! variables checked against the shard count, threads from the Slurm allocation, lock files
//! removed by finished shards, and a reader that closes the pipe early.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use lazyrich_store::Dataset;
use serde_json::Value;

mod common;
use common::{TempDir, command, lazyrich, lazyrich_env, ok, spawn_run_with, text, write_spec};

/// RK4 points that take tens of milliseconds each (optimised) or half a second (unoptimised):
/// a run of them is still going when a signal comes a second after its start.
const SLOW: &str = r#"
name = "slow"
seed = 3
[[block]]
task = { kind = "random", samples = 16 }
init = "balanced"
method = "rk4"
dt = 0.001
widths = [4, 4, 4]
scale = 0.5
lambda = { linspace = [-2, 2, 40] }
replicates = 50
time = { linspace = [0, 20, 5] }
"#;

/// A small closed-form sweep (seconds at most).
const FAST: &str = r#"
name = "fast"
seed = 5
[[block]]
task = { kind = "random", samples = 8 }
init = "balanced"
method = "closed-form"
widths = [3, 3, 3]
scale = [0.1, 1.0]
lambda = { linspace = [-2, 2, 9] }
replicates = 2
time = [0, 1, 10]
"#;

/// Starts `run SPEC --out OUT` with flushes far apart (so that only the stop publishes rows),
/// stderr piped.
fn spawn_slow(spec: &Path, out: &Path) -> Child {
    let flushes = ["--flush-points", "1000000", "--flush-seconds", "100000"];
    spawn_run_with(spec, out, &flushes, Stdio::piped())
}

/// Sends `signal` (e.g. `"TERM"`) to the child.
fn send(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for the child (at most a minute) and returns its exit code and stderr.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), stderr);
        }
        assert!(Instant::now() < deadline, "the run did not stop within a minute: {stderr}");
        sleep(Duration::from_millis(20));
    }
}

/// The number before `what` in `line`: `12 rows saved` → 12.
fn number_before(line: &str, what: &str) -> u64 {
    let head = &line[..line.find(what).unwrap_or_else(|| panic!("no `{what}` in {line}"))];
    head.split_whitespace().last().unwrap().trim_start_matches('(').parse().unwrap()
}

/// The contract of a stop: the line names the signal and the rows saved; every computed row is
/// on disk (the flush window was never reached, so only the stop wrote them); the exit status
/// is 3; and the same command resumes after them.
#[test]
fn sigterm_sigint_and_sigusr1_save_every_computed_row_and_exit_3() {
    let dir = TempDir::new("signals");
    let spec = write_spec(&dir, "slow.toml", SLOW);
    let out = dir.join("out");
    let mut on_disk = 0;
    for signal in ["TERM", "INT", "USR1"] {
        let child = spawn_slow(&spec, &out);
        // Wait until the run has started computing (its first progress line), then a second.
        sleep(Duration::from_millis(1500));
        send(&child, signal);
        let (code, stderr) = finish(child);
        assert_eq!(code, Some(3), "SIG{signal}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("lazyrich: stopped by SIG{signal}: ")))
            .unwrap_or_else(|| panic!("no stop line: {stderr}"));
        let computed = number_before(line, "points computed in this run");
        let saved = number_before(line, "rows saved to");
        let before = number_before(line, "of shard 0/1 done before");
        assert!(computed > 0, "nothing computed in 1.5 s: {line}");
        assert_eq!(saved, computed, "{line}");
        assert_eq!(before, on_disk, "the re-run resumed after the saved rows: {line}");
        let rows = Dataset::open(&out).unwrap().read_rows().unwrap();
        on_disk += saved;
        assert_eq!(rows.len() as u64, on_disk, "every saved row is on disk: {line}");
        let ids: HashSet<u64> = rows.iter().map(|r| r.point_id).collect();
        assert_eq!(ids.len(), rows.len(), "no row twice");
        assert!(!stderr.contains("lazyrich: done"), "{stderr}");
    }
    // The lock of the stopped shard is gone (it finished cleanly), and status says so.
    assert!(!out.join("_lazyrich/tmp/s0000of0001.lock").exists());
    let status = ok(&["status", text(&out), "--json"]);
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["done"], on_disk);
    assert_eq!(json["running_layouts"], Value::Array(vec![]));
}

/// A second signal does not wait for the flush: the process ends at once with 128 + signal.
#[test]
fn a_second_signal_exits_at_once() {
    let dir = TempDir::new("signals-twice");
    let spec = write_spec(&dir, "slow.toml", SLOW);
    let out = dir.join("out");
    let child = spawn_slow(&spec, &out);
    sleep(Duration::from_millis(1000));
    send(&child, "TERM");
    send(&child, "INT");
    let (code, stderr) = finish(child);
    // Either the second signal came before the first was acted on (130, no stop line) or the
    // run had already stopped cleanly (3); never a hang, a panic or another code.
    assert!(code == Some(130) || code == Some(3), "{code:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// While a shard runs, `status` reports it running; JSON keys, per-shard counts for a given N
/// and the array expression of the shards to resubmit.
#[test]
fn status_reports_running_shards_json_and_the_shards_to_resubmit() {
    let dir = TempDir::new("status-json");
    let fast = write_spec(&dir, "fast.toml", FAST);
    let out = dir.join("out");
    for shard in ["0/4", "2/4"] {
        ok(&["run", text(&fast), "--out", text(&out), "--shard", shard, "--quiet"]);
    }
    let run = ok(&["status", text(&out), "--missing-shards"]);
    assert_eq!(run.stdout, "1,3\n");
    let run = ok(&["status", text(&out), "--json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    for key in [
        "dataset",
        "spec_name",
        "spec_hash",
        "expected",
        "done",
        "failed",
        "missing",
        "failed_by_status",
        "shard_count",
        "shards",
        "missing_shards",
        "running_layouts",
        "recorded_layouts",
        "problems",
    ] {
        assert!(json.get(key).is_some(), "no key {key}: {json}");
    }
    assert_eq!(json["expected"], 36);
    assert_eq!(json["shard_count"], 4);
    assert_eq!(json["missing_shards"], "1,3");
    let shards = json["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    let done: u64 = shards.iter().map(|s| s["done"].as_u64().unwrap()).sum();
    let missing: u64 = shards.iter().map(|s| s["missing"].as_u64().unwrap()).sum();
    assert_eq!(
        (done, missing),
        (json["done"].as_u64().unwrap(), json["missing"].as_u64().unwrap())
    );
    assert_eq!(done + missing, 36);
    for shard in shards {
        let index = shard["index"].as_u64().unwrap();
        assert_eq!(shard["shard"], format!("{index}/4"));
        assert_eq!(shard["missing"].as_u64().unwrap() > 0, index % 2 == 1, "{shard}");
        assert_eq!(shard["running"], false);
    }
    // Another N on request (the rows of 0/4 and 2/4 fall into 0/2).
    let run = ok(&["status", text(&out), "--shards", "2", "--missing-shards"]);
    assert_eq!(run.stdout, "1\n");

    // A running shard is reported and not listed for resubmission.
    let slow = write_spec(&dir, "slow.toml", SLOW);
    let slow_out = dir.join("slow");
    let child =
        command(&["run", text(&slow), "--out", text(&slow_out), "--shard", "1/2", "--quiet"])
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !slow_out.join("_lazyrich/tmp/s0001of0002.lock").exists() {
        assert!(Instant::now() < deadline, "the run never took its lock");
        sleep(Duration::from_millis(20));
    }
    sleep(Duration::from_millis(300));
    let run = ok(&["status", text(&slow_out), "--shards", "2", "--json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["running_layouts"], serde_json::json!(["1/2"]), "{json}");
    assert_eq!(json["shards"][1]["running"], true);
    assert_eq!(json["shards"][0]["running"], false);
    assert_eq!(json["missing_shards"], "0");
    let text_status = ok(&["status", text(&slow_out), "--shards", "2"]);
    assert!(text_status.stdout.contains("(running)"), "{}", text_status.stdout);
    send(&child, "TERM");
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(3), "{stderr}");

    // Without a shard count to agree on, --missing-shards asks for one.
    let mixed = dir.join("mixed");
    ok(&["run", text(&fast), "--out", text(&mixed), "--shard", "0/2", "--quiet"]);
    ok(&["run", text(&fast), "--out", text(&mixed), "--shard", "1/4", "--quiet"]);
    let run = lazyrich(&["status", text(&mixed), "--missing-shards"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("give it with --shards N"), "{run:?}");
}

/// A finished shard leaves no lock file behind; status of a dataset whose shards have not
/// written anything yet takes N from the recorded layouts.
#[test]
fn finished_shards_remove_their_lock_files() {
    let dir = TempDir::new("locks");
    let fast = write_spec(&dir, "fast.toml", FAST);
    let out = dir.join("out");
    for shard in ["0/3", "1/3", "2/3"] {
        ok(&["run", text(&fast), "--out", text(&out), "--shard", shard, "--quiet"]);
    }
    let leftovers: Vec<String> = std::fs::read_dir(out.join("_lazyrich/tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('s') && name.ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let run = ok(&["status", text(&out), "--missing-shards"]);
    assert_eq!(run.stdout, "\n", "complete: nothing to resubmit");
}

/// The job variables: an array task without --shards is refused, an array shorter or longer
/// than the shard count is refused unless --shard-offset maps it, and the offset selects the
/// shard.
#[test]
fn job_arrays_are_checked_against_the_shard_count() {
    let dir = TempDir::new("arrays");
    let fast = write_spec(&dir, "fast.toml", FAST);
    let out = dir.join("out");
    let array = |id: &'static str, max: &'static str| {
        vec![
            ("SLURM_ARRAY_TASK_ID", id),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", max),
            ("SLURM_ARRAY_TASK_COUNT", if max == "1" { "2" } else { "3" }),
        ]
    };
    let run = lazyrich_env(&["run", text(&fast), "--out", text(&out), "--quiet"], &array("0", "2"));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("neither --shards nor --shard is given"), "{run:?}");
    let args = ["run", text(&fast), "--out", text(&out), "--shards", "4", "--quiet"];
    let run = lazyrich_env(&args, &array("0", "2"));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("shards 3 to 3 would never run"), "{run:?}");
    assert!(!out.exists(), "nothing is written on a refusal");
    // Chunks of 2 tasks with offsets 0 and 2 cover the 4 shards.
    for offset in ["0", "2"] {
        for id in ["0", "1"] {
            let mut args = args.to_vec();
            args.extend(["--shard-offset", offset]);
            let run = lazyrich_env(&args, &array(id, "1"));
            assert_eq!(run.code, 0, "offset {offset}, task {id}: {run:?}");
        }
    }
    let run = ok(&["status", text(&out), "--json"]);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!((json["missing"].as_u64(), json["shard_count"].as_u64()), (Some(0), Some(4)));
    // An offset past the last shard is refused in every task.
    let mut past = args.to_vec();
    past.extend(["--shard-offset", "3"]);
    let run = lazyrich_env(&past, &array("0", "1"));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no task may be past the last shard"), "{run:?}");
}

/// Without --threads, a Slurm allocation's CPU count is the thread count.
#[test]
fn threads_come_from_slurm_cpus_per_task() {
    let dir = TempDir::new("cpus");
    let fast = write_spec(&dir, "fast.toml", FAST);
    let out = dir.join("out");
    let run =
        lazyrich_env(&["run", text(&fast), "--out", text(&out)], &[("SLURM_CPUS_PER_TASK", "1")]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("to compute on 1 thread\n"), "{run:?}");
}

/// `lazyrich plan … | head -1` and `status DIR | head -1`: a reader that stops early is not an
/// error.
#[test]
fn a_closed_stdout_is_not_an_error() {
    let dir = TempDir::new("pipe");
    let fast = write_spec(&dir, "fast.toml", FAST);
    let out = dir.join("out");
    ok(&["run", text(&fast), "--out", text(&out), "--shard", "0/2", "--quiet"]);
    for args in [
        vec!["plan", text(&fast), "--shards", "20000", "--list", "20000"],
        vec!["status", text(&out), "--shards", "50000"],
    ] {
        let mut child = command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        // The reader is dropped here: the pipe is closed with most of the output unread.
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert!(!first.is_empty());
        assert_eq!((status.code(), stderr.as_str()), (Some(0), ""), "{args:?}");
    }
}
