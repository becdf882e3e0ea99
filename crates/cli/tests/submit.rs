//! End-to-end tests of `lazyrich submit` that need no cluster: `slurm --dry-run` (the scripts
//! and sbatch commands, nothing written), `--resubmit-missing --dry-run` on a half-done
//! dataset, the missing-sbatch and too-many-shards errors, and the Kubernetes manifest.
//! scripts/slurm/test.sh submits to a real Slurm.

use std::path::Path;

mod common;
use common::{TempDir, lazyrich, lazyrich_env, ok, text, write_spec};

const SPEC: &str = "name = \"sub\"\nseed = 5\n[[block]]\ntask = { kind = \"random\", samples = 8 }\n\
                    init = \"balanced\"\nmethod = \"closed-form\"\ntime = [0.0, 1.0]\n\
                    lambda = { linspace = [-1, 1, 21] }\nscale = 0.5\nwidths = [2, 2, 2]\n";

/// `submit slurm SPEC --out OUT` and `extra`.
fn slurm<'a>(spec: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["submit", "slurm", text(spec), "--out", text(out)];
    args.extend_from_slice(extra);
    args
}

#[test]
fn slurm_dry_run_prints_scripts_and_commands_and_writes_nothing() {
    let tmp = TempDir::new("submit-dry");
    let spec = write_spec(&tmp, "sub.toml", SPEC);
    let out = tmp.join("ds");
    let run = ok(&slurm(
        &spec,
        &out,
        &[
            "--shards",
            "3",
            "--threads",
            "2",
            "--partition",
            "short",
            "--time",
            "10:00",
            "--max-running",
            "2",
            "--sbatch-arg=--qos=low",
            "--dry-run",
        ],
    ));
    let dir = text(&out);
    let stdout = &run.stdout;
    for expected in [
        format!("# ---- {dir}/_lazyrich/slurm/shards-0.sh\n#!/bin/bash\n"),
        "#SBATCH --cpus-per-task=2\n".to_owned(),
        "#SBATCH --partition=short\n".to_owned(),
        "#SBATCH --time=10:00\n".to_owned(),
        "#SBATCH --signal=B:TERM@60\n".to_owned(),
        "#SBATCH --qos=low\n".to_owned(),
        format!("#SBATCH --output={dir}/_lazyrich/slurm/logs/shard-%A_%a.out\n"),
        format!(
            " run {dir}/_lazyrich/spec.toml --out {dir} --threads 2 --shards 3 --shard-offset 0\n"
        ),
        format!("# ---- {dir}/_lazyrich/slurm/merge.sh\n"),
        format!("job0=$(sbatch --parsable --array=0-2%2 {dir}/_lazyrich/slurm/shards-0.sh)\n"),
        format!("sbatch --parsable --dependency=afterany:$job0 {dir}/_lazyrich/slurm/merge.sh\n"),
    ] {
        assert!(stdout.contains(&expected), "{expected:?} not in\n{stdout}");
    }
    // The scripts run this very binary, by its absolute path.
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_lazyrich")).unwrap();
    assert!(stdout.contains(&format!("exec {} run ", exe.display())), "{stdout}");
    assert!(!out.exists(), "a dry run writes nothing");
}

#[test]
fn slurm_default_shard_count_is_explained() {
    let tmp = TempDir::new("submit-default");
    let spec = write_spec(&tmp, "sub.toml", SPEC);
    let out = tmp.join("ds");
    let run = ok(&["submit", "slurm", text(&spec), "--out", text(&out), "--dry-run"]);
    let first = run.stdout.lines().next().unwrap();
    // 21 closed-form points take far less than 5 minutes: one shard.
    assert!(first.starts_with("1 shard: about "), "{first}");
    assert!(first.contains("min of work per task at 1 thread (estimated from 21 sample points"));
}

#[test]
fn resubmit_missing_names_the_incomplete_shards_only() {
    let tmp = TempDir::new("submit-resubmit");
    let spec = write_spec(&tmp, "sub.toml", SPEC);
    let out = tmp.join("ds");
    ok(&["run", text(&spec), "--out", text(&out), "--shard", "0/3", "--quiet"]);
    ok(&["run", text(&spec), "--out", text(&out), "--shard", "2/3", "--quiet"]);
    // The shard count comes from the layouts DIR records.
    let run = ok(&slurm(&spec, &out, &["--resubmit-missing", "--dry-run"]));
    assert!(run.stdout.contains("resubmitting shards 1 of 3"), "{}", run.stdout);
    assert!(run.stdout.contains("--array=1 "), "{}", run.stdout);

    ok(&["run", text(&spec), "--out", text(&out), "--shard", "1/3", "--quiet"]);
    let run = ok(&slurm(&spec, &out, &["--resubmit-missing", "--dry-run"]));
    assert!(run.stdout.starts_with("nothing to resubmit"), "{}", run.stdout);

    // Another shard count than the one recorded would make every task refuse: refused here,
    // as a dry run and, with an `sbatch` on PATH (one that fails if called), before anything is
    // submitted. (Without any `sbatch` the missing command is reported first: the test must not
    // depend on whether the machine has Slurm.)
    let args = ["submit", "slurm", text(&spec), "--out", text(&out), "--shards", "4"];
    let run = lazyrich(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("submit with --shards 3"), "{}", run.stderr);
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sbatch = bin.join("sbatch");
    std::fs::write(&sbatch, "#!/bin/sh\necho 'sbatch was called' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", text(&bin), std::env::var("PATH").unwrap_or_default());
    let run = lazyrich_env(&args, &[("PATH", &path)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("submit with --shards 3"), "{}", run.stderr);
    assert!(!run.stderr.contains("sbatch was called"), "{}", run.stderr);
}

#[test]
fn slurm_without_sbatch_suggests_dry_run() {
    let tmp = TempDir::new("submit-nosbatch");
    let spec = write_spec(&tmp, "sub.toml", SPEC);
    let empty = tmp.join("bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = tmp.join("ds");
    let args = ["submit", "slurm", text(&spec), "--out", text(&out), "--shards", "2"];
    let run = lazyrich_env(&args, &[("PATH", text(&empty))]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("sbatch is not on PATH"), "{}", run.stderr);
    assert!(run.stderr.contains("--dry-run"), "{}", run.stderr);
    assert!(!out.exists(), "nothing is created without sbatch");
}

#[test]
fn too_many_shards_are_refused() {
    let tmp = TempDir::new("submit-many");
    let spec = write_spec(&tmp, "sub.toml", SPEC);
    let out = tmp.join("ds");
    let run = lazyrich(&slurm(&spec, &out, &["--shards", "100001", "--dry-run"]));
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn k8s_writes_an_indexed_job_and_prints_the_apply_command() {
    let tmp = TempDir::new("submit-k8s");
    let spec = write_spec(&tmp, "sub.toml", SPEC);
    let out = tmp.join("ds");
    let args = [
        "submit",
        "k8s",
        text(&spec),
        "--out",
        text(&out),
        "--shards",
        "4",
        "--threads",
        "2",
        "--image",
        "registry.example/lazyrich:1",
        "--claim",
        "sweeps",
    ];
    let dry = ok(&[&args[..], &["--dry-run"]].concat());
    assert!(dry.stdout.contains("completionMode: Indexed\n"), "{}", dry.stdout);
    assert!(dry.stdout.contains("  completions: 4\n"), "{}", dry.stdout);
    assert!(!out.exists(), "a dry run writes nothing");
    let run = ok(&args);
    let manifest = out.join("_lazyrich").join("k8s").join("job.yaml");
    assert!(run.stdout.contains(&format!("kubectl apply -f {}", manifest.display())));
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(yaml, dry.stdout, "the file is what the dry run printed");
    assert!(out.join("_lazyrich").join("spec.toml").exists(), "the spec is stored for the pods");
}
