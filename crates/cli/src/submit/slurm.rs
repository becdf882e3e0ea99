//! `lazyrich submit slurm`: job arrays of shards and a merge job, through `sbatch`.
//!
//! The pure parts (chunking by `MaxArraySize`, array expressions, the scripts' text) are
//! functions of their inputs and tested here; the rest runs `scontrol`, `sbatch` and `squeue`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::common::{
    CommonArgs, Prepared, incomplete_shards, prepare, recorded_count, run_command, shell_line,
    shell_quote,
};
use crate::error::BadInput;
use crate::status::array_expression;

/// `MaxArraySize` when `scontrol show config` cannot be read (Slurm's default).
pub const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;
/// Seconds between SIGTERM and the end of a task's time limit (`#SBATCH --signal`), when
/// `--time` is given: time for `lazyrich run` to publish the rows it computed.
pub const SIGNAL_LEAD_SECONDS: u32 = 60;
/// How often `--wait` asks `squeue` whether the merge job has ended.
const POLL: Duration = Duration::from_secs(2);

const SLURM_HELP: &str = "\
What it does: stores the spec in DIR (creating the dataset), writes one job script per job
array and a merge script under DIR/_lazyrich/slurm/ (kept for reproducibility; logs in
DIR/_lazyrich/slurm/logs/, submitted job ids in DIR/_lazyrich/slurm/submissions.jsonl), and
submits them with sbatch: arrays of at most MaxArraySize tasks (read from `scontrol show
config`), each task running `lazyrich run DIR/_lazyrich/spec.toml --out DIR --shards N
--shard-offset O`, then a merge job (--dependency=afterany on every array) that runs
`lazyrich merge DIR` and `lazyrich status DIR` and fails, naming the command that resubmits
the incomplete shards, when points are missing.

DIR, the spec and this binary must be at the same paths on every node (a shared filesystem):
the scripts name them by their absolute paths.

Tasks are stopped by Slurm with SIGTERM, then SIGKILL KillWait seconds later (30 s by default).
`lazyrich run` publishes the rows it has computed on SIGTERM; with --time, the scripts also ask
for SIGTERM 60 s before the time limit (--signal=B:TERM@60). A stopped task loses at most its
points in flight; --resubmit-missing runs the rest.

Exit codes: 0 submitted (with --wait: and the dataset is complete), 1 sbatch failed (or, with
--wait, points are missing), 2 bad spec, options or DIR, or no sbatch on PATH.";

/// Submits a sweep to Slurm: job arrays of shards, then a merge job.
#[derive(Debug, clap::Args)]
#[command(after_long_help = SLURM_HELP)]
pub struct SlurmArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Slurm partition (`#SBATCH --partition`).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit per task (`#SBATCH --time`, e.g. 30:00 or 1-00:00:00).
    #[arg(long)]
    time: Option<String>,
    /// Memory per task (`#SBATCH --mem`, e.g. 4G).
    #[arg(long)]
    mem: Option<String>,
    /// Account to charge (`#SBATCH --account`).
    #[arg(long)]
    account: Option<String>,
    /// Run at most K tasks of each array at once (`--array=...%K`).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    max_running: Option<u32>,
    /// An extra `#SBATCH` line for every script, verbatim (repeatable), e.g. --sbatch-arg=--qos=low.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// Block until the merge job has ended; fail (exit 1) if any shard is incomplete.
    #[arg(long)]
    wait: bool,
    /// For an existing DIR: submit only the shards that miss points and are neither queued nor
    /// running.
    #[arg(long)]
    resubmit_missing: bool,
}

/// Runs `lazyrich submit slurm`.
pub fn run(args: &SlurmArgs) -> anyhow::Result<()> {
    check_slurm_word(&args.common.out.display().to_string(), "--out")?;
    if !args.common.dry_run && !on_path("sbatch") {
        return Err(BadInput::new(
            "sbatch is not on PATH: run this on a Slurm login node, or add --dry-run to see the \
             job scripts and sbatch commands",
        )
        .into());
    }
    let prepared = prepare(&args.common, |dataset| {
        if !args.resubmit_missing {
            return Ok(None);
        }
        let recorded = match dataset {
            Some(dataset) => dataset.layouts()?.recorded,
            None => Vec::new(),
        };
        match recorded_count(&recorded) {
            Some(count) => Ok(Some(count)),
            None => Err(BadInput::new(
                "--resubmit-missing without --shards needs a dataset whose shards agree on one \
                 count N: give --shards N",
            )
            .into()),
        }
    })?;
    for word in [&prepared.exe, &prepared.dir] {
        check_slurm_word(&word.display().to_string(), "a path")?;
    }
    let mut out = String::new();
    if let Some(note) = &prepared.shard_note {
        let _ = writeln!(out, "{note}");
    }
    let (max_array, from_config) = max_array_size();
    let chunks = chunks(prepared.shards, max_array);
    let slurm_dir = prepared.dir.join("_lazyrich").join("slurm");

    // Which arrays to submit: every chunk in full, or the incomplete idle shards of each chunk.
    let mut active_jobs = Vec::new();
    let arrays: Vec<(Chunk, String)> = if args.resubmit_missing {
        let log = read_log(&slurm_dir);
        let queue = if on_path("squeue") { queue(&log) } else { Queue::default() };
        active_jobs = queue.shards.keys().cloned().collect();
        let active: BTreeSet<u32> = queue.shards.values().flatten().copied().collect();
        let idle_missing: Vec<u32> = if prepared.dataset_exists {
            incomplete_shards(&prepared.dir, prepared.shards, &active)?.0
        } else {
            (0..prepared.shards).collect()
        };
        if idle_missing.is_empty() {
            let _ = writeln!(
                out,
                "nothing to resubmit: every shard of {} is complete, queued or running",
                prepared.dir.display()
            );
            crate::solve::write_stdout(&out)?;
            return Ok(());
        }
        supersede_merges(&queue.merges, args.common.dry_run, &mut out)?;
        let _ = writeln!(
            out,
            "resubmitting shards {} of {} (incomplete, neither queued nor running)",
            array_expression(idle_missing.iter().copied()),
            prepared.shards
        );
        group_by_chunk(&idle_missing, &chunks)
    } else {
        chunks.iter().map(|&c| (c, format!("0-{}", c.len - 1))).collect()
    };
    let arrays: Vec<(Chunk, String)> = arrays
        .into_iter()
        .map(|(chunk, expr)| match args.max_running {
            Some(k) => (chunk, format!("{expr}%{k}")),
            None => (chunk, expr),
        })
        .collect();
    let settings = ScriptSettings::new(args, &prepared, &slurm_dir);
    let scripts: Vec<(PathBuf, String)> = arrays
        .iter()
        .map(|(chunk, _)| {
            let path = slurm_dir.join(format!("shards-{}.sh", chunk.index));
            (path, shard_script(&settings, *chunk, prepared.shards))
        })
        .collect();
    let merge_path = slurm_dir.join("merge.sh");
    let merge_text = merge_script(&settings, &resubmit_command(args, &prepared));

    if args.common.dry_run {
        let size_source = if from_config { "scontrol show config" } else { "default" };
        let _ = writeln!(
            out,
            "# dry run: nothing written, nothing submitted. MaxArraySize {max_array} \
             ({size_source}): {} shards in {} array(s)",
            prepared.shards,
            chunks.len()
        );
        for (path, text) in scripts.iter().chain([(merge_path.clone(), merge_text)].iter()) {
            let _ = writeln!(out, "\n# ---- {}\n{text}", path.display());
        }
        let _ = writeln!(out, "# ---- sbatch commands");
        let mut deps: Vec<String> = active_jobs.clone();
        for (i, ((_, expr), (path, _))) in arrays.iter().zip(&scripts).enumerate() {
            let command = shell_line(&[
                "sbatch",
                "--parsable",
                &format!("--array={expr}"),
                &path.display().to_string(),
            ]);
            let _ = writeln!(out, "job{i}=$({command})");
            deps.push(format!("$job{i}"));
        }
        let _ = writeln!(
            out,
            "sbatch --parsable --dependency=afterany:{} {}",
            deps.join(":"),
            shell_quote(&merge_path.display().to_string())
        );
        return crate::solve::write_stdout(&out);
    }

    std::fs::create_dir_all(slurm_dir.join("logs"))
        .with_context(|| format!("failed to create {}", slurm_dir.join("logs").display()))?;
    for (path, text) in scripts.iter().chain([(merge_path.clone(), merge_text)].iter()) {
        write_script(path, text)?;
    }
    crate::solve::write_stdout(&out)?;
    let mut job_ids = Vec::new();
    for ((chunk, expr), (path, _)) in arrays.iter().zip(&scripts) {
        let job = sbatch(&[format!("--array={expr}")], path)?;
        append_log(&slurm_dir, &LogEntry::shards(&job, *chunk, expr, path, prepared.shards))?;
        crate::solve::write_stdout(&format!(
            "submitted shards {} of {} as job array {job} ({})\n",
            shard_range(*chunk, expr),
            prepared.shards,
            path.display()
        ))?;
        job_ids.push(job);
    }
    let deps: Vec<String> = active_jobs.iter().chain(&job_ids).cloned().collect();
    let merge_job = sbatch(&[format!("--dependency=afterany:{}", deps.join(":"))], &merge_path)?;
    append_log(&slurm_dir, &LogEntry::merge(&merge_job, &merge_path))?;
    crate::solve::write_stdout(&format!(
        "submitted the merge job {merge_job} (after jobs {}); logs in {}\n",
        deps.join(", "),
        slurm_dir.join("logs").display()
    ))?;
    if args.wait {
        wait_for_job(&merge_job)?;
        return report_completion(args, &prepared);
    }
    Ok(())
}

/// After `--wait`: the shards' state from the dataset; an error naming the incomplete shards.
fn report_completion(args: &SlurmArgs, prepared: &Prepared) -> anyhow::Result<()> {
    let (incomplete, missing) =
        incomplete_shards(&prepared.dir, prepared.shards, &BTreeSet::new())?;
    if missing == 0 {
        return crate::solve::write_stdout(&format!(
            "complete: all {} shards of {} are done\n",
            prepared.shards,
            prepared.dir.display()
        ));
    }
    Err(anyhow::anyhow!(
        "{missing} points missing, in shards {} of {}; resubmit them with: {}",
        array_expression(incomplete),
        prepared.shards,
        shell_line(&resubmit_command(args, prepared))
    ))
}

/// A run of shards submitted as one job array: shards `offset .. offset + len`, array indices
/// `0 .. len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Which array (0, 1, …).
    pub index: u32,
    /// The first shard; array task i runs shard `offset + i`.
    pub offset: u32,
    /// Shards in the array (at most MaxArraySize).
    pub len: u32,
}

/// N shards as arrays of at most `max_array` tasks: chunk c covers shards
/// `[c·M, min((c+1)·M, N))`, so every array index is at most M − 1.
pub fn chunks(shards: u32, max_array: u32) -> Vec<Chunk> {
    let size = max_array.max(1);
    (0..shards.div_ceil(size))
        .map(|index| {
            let offset = index * size;
            Chunk { index, offset, len: size.min(shards - offset) }
        })
        .collect()
}

/// Sorted shard indices grouped by the chunk holding them, each as the array expression of the
/// shards' indices within their chunk (shard − offset).
pub fn group_by_chunk(shards: &[u32], chunks: &[Chunk]) -> Vec<(Chunk, String)> {
    chunks
        .iter()
        .filter_map(|&chunk| {
            let local: Vec<u32> = shards
                .iter()
                .filter(|&&s| s >= chunk.offset && s < chunk.offset + chunk.len)
                .map(|&s| s - chunk.offset)
                .collect();
            (!local.is_empty()).then(|| (chunk, array_expression(local)))
        })
        .collect()
}

/// `MaxArraySize` from the text of `scontrol show config`.
pub fn parse_max_array_size(config: &str) -> Option<u32> {
    config.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "MaxArraySize").then(|| value.trim().parse().ok())?
    })
}

/// What the job scripts say besides the shards.
#[derive(Debug)]
pub struct ScriptSettings {
    /// Job name stem (`lazyrich-<spec name>`).
    pub name: String,
    /// `#SBATCH` option lines shared by every script, without the prefix.
    pub options: Vec<String>,
    /// Whether a time limit is set (then `--signal=B:TERM@60`).
    pub timed: bool,
    /// Where the logs go.
    pub logs: PathBuf,
    /// The binary.
    pub exe: PathBuf,
    /// The dataset.
    pub dir: PathBuf,
    /// `lazyrich run` for the shards, without `--shard-offset`.
    pub run: Vec<String>,
    /// Threads per task.
    pub threads: usize,
    /// N.
    pub shards: u32,
}

impl ScriptSettings {
    fn new(args: &SlurmArgs, prepared: &Prepared, slurm_dir: &Path) -> ScriptSettings {
        let mut options = Vec::new();
        for (flag, value) in [
            ("partition", &args.partition),
            ("time", &args.time),
            ("mem", &args.mem),
            ("account", &args.account),
        ] {
            if let Some(value) = value {
                options.push(format!("--{flag}={value}"));
            }
        }
        options.extend(args.sbatch_arg.iter().cloned());
        ScriptSettings {
            name: format!("lazyrich-{}", job_name(prepared.spec.name())),
            options,
            timed: args.time.is_some(),
            logs: slurm_dir.join("logs"),
            exe: prepared.exe.clone(),
            dir: prepared.dir.clone(),
            run: run_command(prepared, 0, args.common.flush_seconds),
            shards: prepared.shards,
            threads: prepared.threads,
        }
    }
}

/// The script of one array: task i runs shard `chunk.offset + i` of `shards`.
pub fn shard_script(settings: &ScriptSettings, chunk: Chunk, shards: u32) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# lazyrich: shards {}-{} of {shards} (array task i runs shard {} + i). Written by \
         `lazyrich submit slurm`; submit with `sbatch --array=0-{} THIS` (or a list of indices).",
        chunk.offset,
        chunk.offset + chunk.len - 1,
        chunk.offset,
        chunk.len - 1
    );
    let _ = writeln!(s, "#SBATCH --job-name={}-{}", settings.name, chunk.index);
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", settings.threads);
    let _ = writeln!(s, "#SBATCH --output={}/shard-%A_%a.out", settings.logs.display());
    let _ = writeln!(s, "#SBATCH --open-mode=append");
    let _ = writeln!(s, "#SBATCH --requeue");
    if settings.timed {
        let _ = writeln!(s, "#SBATCH --signal=B:TERM@{SIGNAL_LEAD_SECONDS}");
    }
    for option in &settings.options {
        let _ = writeln!(s, "#SBATCH {option}");
    }
    s.push_str(
        "# exec: Slurm's SIGTERM (scancel, time limit, preemption) reaches lazyrich itself, which\n\
         # publishes the rows it has computed and exits with status 3; a re-run resumes.\n",
    );
    let mut run = settings.run.clone();
    if let Some(pos) = run.iter().position(|w| w == "--shard-offset") {
        run[pos + 1] = chunk.offset.to_string();
    }
    let _ = writeln!(s, "exec {}", shell_line(&run));
    s
}

/// The merge job's script: merge, `status --json` into `DIR/_lazyrich/slurm/status.json`, and
/// a failure naming `resubmit` when shards are incomplete (`status --missing-shards`).
pub fn merge_script(settings: &ScriptSettings, resubmit: &[String]) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(
        "# lazyrich: merge job, run after every array of the submission has ended (afterany).\n",
    );
    let _ = writeln!(s, "#SBATCH --job-name={}-merge", settings.name);
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", settings.threads);
    let _ = writeln!(s, "#SBATCH --output={}/merge-%j.out", settings.logs.display());
    for option in &settings.options {
        let _ = writeln!(s, "#SBATCH {option}");
    }
    let _ = writeln!(s, "set -u");
    let _ = writeln!(s, "lazyrich={}", shell_quote(&settings.exe.display().to_string()));
    let _ = writeln!(s, "dir={}", shell_quote(&settings.dir.display().to_string()));
    let _ = writeln!(s, "shards={}", settings.shards);
    s.push_str(
        "code=0\n\
         \"$lazyrich\" merge \"$dir\" || code=1\n\
         \"$lazyrich\" status \"$dir\" --shards \"$shards\" --json >\"$dir/_lazyrich/slurm/status.json\" || code=1\n\
         cat \"$dir/_lazyrich/slurm/status.json\"\n\
         missing=$(\"$lazyrich\" status \"$dir\" --shards \"$shards\" --missing-shards) || code=1\n\
         if [ -n \"$missing\" ]; then\n\
         \x20   echo \"lazyrich: shards $missing of $shards are incomplete; resubmit them with:\"\n",
    );
    let _ = writeln!(s, "    echo {}", shell_quote(&format!("  {}", shell_line(resubmit))));
    s.push_str("    exit 1\nfi\nexit \"$code\"\n");
    s
}

/// The command that resubmits the incomplete shards of this submission.
fn resubmit_command(args: &SlurmArgs, prepared: &Prepared) -> Vec<String> {
    let mut words = vec![
        prepared.exe.display().to_string(),
        "submit".to_owned(),
        "slurm".to_owned(),
        prepared.stored_spec.display().to_string(),
        "--out".to_owned(),
        prepared.dir.display().to_string(),
        "--shards".to_owned(),
        prepared.shards.to_string(),
        "--threads".to_owned(),
        prepared.threads.to_string(),
    ];
    for (flag, value) in [
        ("--partition", &args.partition),
        ("--time", &args.time),
        ("--mem", &args.mem),
        ("--account", &args.account),
    ] {
        if let Some(value) = value {
            words.extend([flag.to_owned(), value.clone()]);
        }
    }
    if let Some(k) = args.max_running {
        words.extend(["--max-running".to_owned(), k.to_string()]);
    }
    for arg in &args.sbatch_arg {
        words.push(format!("--sbatch-arg={arg}"));
    }
    if let Some(seconds) = args.common.flush_seconds {
        words.extend(["--flush-seconds".to_owned(), seconds.to_string()]);
    }
    words.push("--resubmit-missing".to_owned());
    words
}

/// A spec name as part of a job name: letters, digits, `-`, `_`, `.`.
fn job_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
        .collect()
}

/// The shards an array expression (`1,7-9`, maybe with `%K`) of a chunk covers, as an
/// expression of shard indices (for messages).
fn shard_range(chunk: Chunk, expr: &str) -> String {
    let list = expr.split('%').next().unwrap_or("");
    let mut shards = Vec::new();
    for item in list.split(',') {
        let (first, last) = item.split_once('-').unwrap_or((item, item));
        if let (Ok(first), Ok(last)) = (first.parse::<u32>(), last.parse::<u32>()) {
            shards.extend((first..=last).map(|i| i + chunk.offset));
        }
    }
    array_expression(shards)
}

/// A path or value that `#SBATCH` lines and `%` patterns would mangle is refused.
fn check_slurm_word(word: &str, what: &str) -> Result<(), BadInput> {
    if word.chars().any(|c| c.is_whitespace() || c == '%') {
        return Err(BadInput::new(format!(
            "{what} '{word}' holds whitespace or '%', which Slurm's #SBATCH lines and log \
             patterns do not keep: choose another path"
        )));
    }
    Ok(())
}

/// Whether an executable `name` is on PATH.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let path = dir.join(name);
            std::fs::metadata(&path).is_ok_and(|m| m.is_file())
        })
    })
}

/// The cluster's MaxArraySize and whether it was read (else [`DEFAULT_MAX_ARRAY_SIZE`]).
fn max_array_size() -> (u32, bool) {
    let read = Command::new("scontrol")
        .args(["show", "config"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| parse_max_array_size(&String::from_utf8_lossy(&out.stdout)));
    match read {
        Some(size) if size >= 1 => (size, true),
        _ => (DEFAULT_MAX_ARRAY_SIZE, false),
    }
}

/// Runs `sbatch --parsable ARGS SCRIPT` and returns the job id.
fn sbatch(args: &[String], script: &Path) -> anyhow::Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .context("failed to run sbatch")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(anyhow::anyhow!(
            "sbatch {} {} failed ({}): {}",
            args.join(" "),
            script.display(),
            out.status,
            stderr.trim()
        ));
    }
    // --parsable prints `jobid` or `jobid;cluster`.
    let job = stdout.trim().split(';').next().unwrap_or("").to_owned();
    if job.is_empty() || !job.chars().all(|c| c.is_ascii_digit()) {
        return Err(anyhow::anyhow!(
            "sbatch {} printed no job id: '{}' {}",
            script.display(),
            stdout.trim(),
            stderr.trim()
        ));
    }
    Ok(job)
}

/// Consecutive `squeue` failures (other than "invalid job id", which means the job has left
/// the queue) that `--wait` rides out, one [`POLL`] apart, before it gives up: a controller
/// restarting is not the job ending.
const SQUEUE_RETRIES: u32 = 30;

/// Blocks until `squeue` no longer lists `job` as pending or running.
fn wait_for_job(job: &str) -> anyhow::Result<()> {
    let mut failures = 0;
    loop {
        let out = Command::new("squeue")
            .args(["-h", "-j", job, "-o", "%T"])
            .output()
            .context("failed to run squeue")?;
        let states = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && !stderr.contains("Invalid job id") {
            failures += 1;
            if failures > SQUEUE_RETRIES {
                anyhow::bail!(
                    "squeue failed {failures} times in a row while waiting for job {job}: {}",
                    stderr.trim()
                );
            }
            std::thread::sleep(POLL);
            continue;
        }
        failures = 0;
        // A job that has left the queue is unknown to squeue (an error) or listed as finished.
        let waiting = out.status.success()
            && states.lines().any(|state| {
                matches!(
                    state.trim(),
                    "PENDING"
                        | "RUNNING"
                        | "CONFIGURING"
                        | "COMPLETING"
                        | "REQUEUED"
                        | "RESIZING"
                        | "SUSPENDED"
                )
            });
        if !waiting {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// One line of `submissions.jsonl`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LogEntry {
    /// `shards` or `merge`.
    kind: String,
    /// The job id sbatch gave.
    job: String,
    /// Shards: array task i runs shard `offset + i`.
    #[serde(default)]
    offset: u32,
    /// Shards: the array expression submitted.
    #[serde(default)]
    array: String,
    /// Shards: N.
    #[serde(default)]
    shards: u32,
    /// The script submitted.
    script: String,
    /// Seconds since the Unix epoch.
    submitted: u64,
}

impl LogEntry {
    fn shards(job: &str, chunk: Chunk, array: &str, script: &Path, shards: u32) -> LogEntry {
        LogEntry {
            kind: "shards".to_owned(),
            job: job.to_owned(),
            offset: chunk.offset,
            array: array.to_owned(),
            shards,
            script: script.display().to_string(),
            submitted: now(),
        }
    }

    fn merge(job: &str, script: &Path) -> LogEntry {
        LogEntry {
            kind: "merge".to_owned(),
            job: job.to_owned(),
            offset: 0,
            array: String::new(),
            shards: 0,
            script: script.display().to_string(),
            submitted: now(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

const LOG_NAME: &str = "submissions.jsonl";

fn append_log(slurm_dir: &Path, entry: &LogEntry) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = slurm_dir.join(LOG_NAME);
    let line = serde_json::to_string(entry)? + "\n";
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .with_context(|| format!("failed to record the submission in {}", path.display()))
}

/// The submissions recorded so far (unreadable lines are skipped).
fn read_log(slurm_dir: &Path) -> Vec<LogEntry> {
    std::fs::read_to_string(slurm_dir.join(LOG_NAME))
        .map(|text| text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
        .unwrap_or_default()
}

/// What `squeue` still lists (pending or running) of the logged submissions.
#[derive(Debug, Default)]
struct Queue {
    /// Shards of logged arrays, by array job id.
    shards: BTreeMap<String, Vec<u32>>,
    /// Logged merge jobs and their state (`PENDING`, `RUNNING`, …).
    merges: Vec<(String, String)>,
}

fn queue(log: &[LogEntry]) -> Queue {
    let offsets: BTreeMap<&str, u32> =
        log.iter().filter(|e| e.kind == "shards").map(|e| (e.job.as_str(), e.offset)).collect();
    let merges: BTreeSet<&str> =
        log.iter().filter(|e| e.kind == "merge").map(|e| e.job.as_str()).collect();
    let mut queue = Queue::default();
    // -r: one line per array task (%K its index; N/A for a job that is not an array).
    let Ok(out) = Command::new("squeue").args(["-h", "-r", "-o", "%F %K %T"]).output() else {
        return queue;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let (Some(job), Some(task), Some(state)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        if merges.contains(job) {
            queue.merges.push((job.to_owned(), state.to_owned()));
        }
        let (Some(&offset), Ok(task)) = (offsets.get(job), task.parse::<u32>()) else { continue };
        queue.shards.entry(job.to_owned()).or_default().push(offset + task);
    }
    queue
}

/// Before a resubmission: an earlier merge job still pending is cancelled (the new merge job
/// waits for every array still queued, so it replaces it); one running now refuses it (merging
/// while new tasks write is not allowed).
fn supersede_merges(
    merges: &[(String, String)],
    dry_run: bool,
    out: &mut String,
) -> anyhow::Result<()> {
    for (job, state) in merges {
        if state != "PENDING" {
            return Err(anyhow::anyhow!(
                "the merge job {job} of an earlier submission is {state}: wait until it has \
                 ended (squeue -j {job}), then resubmit"
            ));
        }
        if dry_run {
            let _ = writeln!(out, "# would cancel the pending merge job {job} (superseded)");
            continue;
        }
        let status = Command::new("scancel").arg(job).status().context("failed to run scancel")?;
        if !status.success() {
            return Err(anyhow::anyhow!("scancel {job} (a superseded merge job) failed: {status}"));
        }
        let _ = writeln!(out, "cancelled the pending merge job {job} (the new one replaces it)");
    }
    Ok(())
}

/// Writes a job script atomically (tmp name, rename), executable.
fn write_script(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = path.with_extension("sh.tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_max_array_size() {
        let c = |index, offset, len| Chunk { index, offset, len };
        assert_eq!(chunks(10, 4), vec![c(0, 0, 4), c(1, 4, 4), c(2, 8, 2)]);
        assert_eq!(chunks(4, 4), vec![c(0, 0, 4)]);
        assert_eq!(chunks(1, 1001), vec![c(0, 0, 1)]);
        assert_eq!(chunks(2002, 1001), vec![c(0, 0, 1001), c(1, 1001, 1001)]);
        assert_eq!(chunks(3, 1), vec![c(0, 0, 1), c(1, 1, 1), c(2, 2, 1)]);
        for (n, m) in [(1, 1), (7, 3), (100_000, 1001), (5, 10)] {
            let all = chunks(n, m);
            assert_eq!(all.iter().map(|c| c.len).sum::<u32>(), n);
            assert!(all.iter().all(|c| c.len >= 1 && c.len <= m), "indices stay below {m}");
            assert!(all.windows(2).all(|w| w[0].offset + w[0].len == w[1].offset));
        }
    }

    #[test]
    fn missing_shards_are_grouped_by_chunk() {
        let all = chunks(10, 4);
        let groups = group_by_chunk(&[1, 2, 3, 5, 8, 9], &all);
        let got: Vec<(u32, String)> = groups.iter().map(|(c, e)| (c.index, e.clone())).collect();
        assert_eq!(got, vec![(0, "1-3".to_owned()), (1, "1".to_owned()), (2, "0-1".to_owned())]);
    }

    #[test]
    fn messages_name_shards_not_array_indices() {
        let chunk = Chunk { index: 1, offset: 4, len: 4 };
        assert_eq!(shard_range(chunk, "0-3"), "4-7");
        assert_eq!(shard_range(chunk, "1,2-3%2"), "5-7");
        assert_eq!(shard_range(chunk, "0,3"), "4,7");
    }

    #[test]
    fn max_array_size_is_read_from_scontrol() {
        let config = "Configuration data as of 2026-01-01T00:00:00\nKillWait                = 30 sec\n\
                      MaxArraySize            = 4\nMaxJobCount = 10000\n";
        assert_eq!(parse_max_array_size(config), Some(4));
        assert_eq!(parse_max_array_size("nothing"), None);
    }

    fn settings(timed: bool) -> ScriptSettings {
        ScriptSettings {
            name: "lazyrich-quick".to_owned(),
            options: vec!["--partition=debug".to_owned(), "--qos=low".to_owned()],
            timed,
            logs: PathBuf::from("/data/ds/_lazyrich/slurm/logs"),
            exe: PathBuf::from("/opt/lazyrich"),
            dir: PathBuf::from("/data/ds"),
            run: [
                "/opt/lazyrich",
                "run",
                "/data/ds/_lazyrich/spec.toml",
                "--out",
                "/data/ds",
                "--threads",
                "2",
                "--shards",
                "10",
                "--shard-offset",
                "0",
            ]
            .map(str::to_owned)
            .to_vec(),
            threads: 2,
            shards: 10,
        }
    }

    #[test]
    fn shard_scripts_run_their_chunk() {
        let script = shard_script(&settings(true), Chunk { index: 2, offset: 8, len: 2 }, 10);
        assert!(script.starts_with("#!/bin/bash\n"), "{script}");
        for line in [
            "#SBATCH --job-name=lazyrich-quick-2\n",
            "#SBATCH --cpus-per-task=2\n",
            "#SBATCH --output=/data/ds/_lazyrich/slurm/logs/shard-%A_%a.out\n",
            "#SBATCH --signal=B:TERM@60\n",
            "#SBATCH --partition=debug\n",
            "#SBATCH --qos=low\n",
            "\nexec /opt/lazyrich run /data/ds/_lazyrich/spec.toml --out /data/ds --threads 2 \
             --shards 10 --shard-offset 8\n",
        ] {
            assert!(script.contains(line), "{line:?} not in\n{script}");
        }
        let first = shard_script(&settings(false), Chunk { index: 0, offset: 0, len: 4 }, 10);
        assert!(!first.contains("--signal"), "no time limit, no early signal:\n{first}");
        assert!(first.contains("--shards 10 --shard-offset 0\n"), "explicit, also 0:\n{first}");
        // Every #SBATCH line precedes the first command (sbatch stops reading them there).
        let lines: Vec<&str> = first.lines().collect();
        let last_sbatch = lines.iter().rposition(|l| l.starts_with("#SBATCH")).unwrap();
        let first_command =
            lines.iter().position(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
        assert!(last_sbatch < first_command, "{first}");
    }

    #[test]
    fn the_merge_script_fails_with_the_resubmit_command() {
        let resubmit = ["/opt/lazyrich", "submit", "slurm", "/data/ds/_lazyrich/spec.toml"]
            .map(str::to_owned)
            .to_vec();
        let script = merge_script(&settings(false), &resubmit);
        assert!(script.contains("\"$lazyrich\" merge \"$dir\""), "{script}");
        assert!(script.contains("\"$lazyrich\" status \"$dir\" --shards \"$shards\" --json"));
        assert!(script.contains("--missing-shards)"), "{script}");
        assert!(script.contains("\nshards=10\n"), "{script}");
        assert!(script.contains("/opt/lazyrich submit slurm /data/ds/_lazyrich/spec.toml"));
        assert!(script.contains("exit 1"), "{script}");
    }
}
