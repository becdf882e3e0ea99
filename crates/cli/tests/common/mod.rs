//! Helpers shared by the binary's integration tests: temporary directories and runs of the
//! binary with the job variables of the environment removed.

#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lazyrich-cli-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The variables of a Slurm job or Kubernetes indexed job that `run` reads.
pub const JOB_VARS: [&str; 6] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_CPUS_PER_TASK",
    "JOB_COMPLETION_INDEX",
];

/// The binary, with the job variables of the environment removed (tests may run in a job).
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lazyrich"));
    command.args(args);
    for var in JOB_VARS {
        command.env_remove(var);
    }
    command
}

/// Runs `lazyrich ARGS` with extra environment variables.
pub fn lazyrich_env(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let out = command(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the binary starts");
    Run {
        code: out.status.code().expect("the binary exits normally, not by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

pub fn lazyrich(args: &[&str]) -> Run {
    lazyrich_env(args, &[])
}

/// Runs `lazyrich ARGS` and expects success.
pub fn ok(args: &[&str]) -> Run {
    let run = lazyrich(args);
    assert_eq!(run.code, 0, "lazyrich {args:?}: {run:?}");
    run
}

pub fn text(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

pub fn write_spec(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `lazyrich run SPEC --out OUT --threads 2` plus `extra` in the background, stdin and
/// stdout closed, stderr as `stderr` says.
pub fn spawn_run_with(spec: &Path, out: &Path, extra: &[&str], stderr: Stdio) -> Child {
    let mut args = vec!["run", text(spec), "--out", text(out), "--threads", "2"];
    args.extend_from_slice(extra);
    command(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the binary starts")
}
