//! `lazyrich plan`'s estimates and warnings (issue 12): a time and disk estimate from a timed
//! sample (skipped with --no-estimate), the λ = 0 saddle of `balanced`, and steps that are
//! likely unstable for a block's largest scale or |λ|.

mod common;
use common::{TempDir, ok, text, write_spec};

const SPEC: &str = r#"
name = "advice"
seed = 2
[defaults]
task = { kind = "random", samples = 16 }
widths = [4, 4, 4]
time = { linspace = [0, 10, 11] }
scale = 0.5
# Gradient descent: lr 0.2 at scale 2 diverges.
[[block]]
init = "balanced-signed"
method = "gd"
lr = [0.01, 0.2]
scale = [0.5, 2.0]
lambda = [-1, 1]
# The saddle: balanced at λ = 0 on a square network.
[[block]]
init = "balanced"
method = "closed-form"
lambda = [-1, 0, 1]
# The same with balanced-signed, and balanced at λ = 0 on a funnel: no warning.
[[block]]
init = "balanced-signed"
method = "closed-form"
lambda = [0]
[[block]]
init = "balanced"
method = "closed-form"
widths = [6, 2, 2]
lambda = [0]
"#;

fn warnings(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("warning ")).collect()
}

#[test]
fn plan_warns_of_the_saddle_and_of_unstable_steps_only() {
    let dir = TempDir::new("plan-advice");
    let spec = write_spec(&dir, "advice.toml", SPEC);
    let run = ok(&["plan", text(&spec), "--no-estimate"]);
    let lines = warnings(&run.stdout);
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(
        lines[0].contains(
            "advice.toml:18:8: field `block[1].init`: `balanced` at λ = 0 with Ni = No = 4"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"balanced-signed\" avoids it"), "{}", lines[0]);
    assert!(lines[1].contains("field `block[0].lr`: lr = 0.2 at scale = 2"), "{}", lines[1]);
    assert!(lines[1].contains("gradient descent is likely to diverge"), "{}", lines[1]);
    // The warned step does diverge, the saddle is singular.
    let out = dir.join("out");
    ok(&["run", text(&spec), "--out", text(&out), "--quiet"]);
    let status = ok(&["status", text(&out)]).stdout;
    assert!(status.contains("diverged 2"), "{status}");
    assert!(status.contains("singular"), "{status}");
    // Without the estimate, no estimate lines.
    assert!(!run.stdout.contains("estimated time"), "{}", run.stdout);
}

#[test]
fn plan_estimates_time_and_disk_from_a_sample() {
    let dir = TempDir::new("plan-estimate");
    let spec = write_spec(&dir, "advice.toml", SPEC);
    let run = ok(&["plan", text(&spec), "--shards", "4"]);
    let line = |start: &str| {
        run.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` line: {}", run.stdout))
            .to_owned()
    };
    let time = line("estimated time");
    assert!(time.contains(" per point on one thread (from "), "{time}");
    assert!(time.contains("of CPU in all"), "{time}");
    assert!(line("per shard of 4: about").contains("of CPU"));
    let disk = line("estimated disk");
    assert!(disk.contains("as zstd Parquet"), "{disk}");
    // The disk estimate is within a factor of 3 of what a run writes.
    let out = dir.join("out");
    ok(&["run", text(&spec), "--out", text(&out), "--quiet"]);
    let written: u64 = std::fs::read_dir(out.join("points/task=random"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    let estimate = parse_bytes(
        disk.split_whitespace().nth(2).unwrap(),
        disk.split_whitespace().nth(3).unwrap(),
    );
    let ratio = estimate / written as f64;
    assert!(
        (1.0 / 3.0..3.0).contains(&ratio),
        "estimated {estimate} B, written {written} B: {disk}"
    );
}

/// `12.3` `KiB` → bytes.
fn parse_bytes(number: &str, unit: &str) -> f64 {
    let value: f64 = number.parse().unwrap();
    let factor = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other}"),
    };
    value * factor
}
