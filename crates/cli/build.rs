//! Records the git commit of the build as `LAZYRICH_GIT_COMMIT` (12 hex digits, or `unknown`).
//!
//! Every row of a sweep records it. A build from a tarball (no `.git`, or no `git` on the
//! PATH) must still compile: then the commit is `unknown`. Cargo reruns this script when `HEAD`
//! moves (a checkout) or the branch it points to moves (a commit); paths that do not exist are
//! not watched, since Cargo would treat a missing path as always changed.
//!
//! Two git worktrees of the repository that share one `CARGO_TARGET_DIR` share this script's
//! output: Cargo takes the second's package for the first's, and the watched paths (the first
//! worktree's `HEAD`) had not moved, so a binary rebuilt from the second's code named the
//! first's commit (stop 26). Each worktree needs its own target directory.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LAZYRICH_GIT_COMMIT");
    let commit = std::env::var("LAZYRICH_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    for path in watched_paths() {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=LAZYRICH_GIT_COMMIT={}", commit.trim());
}

/// `HEAD`, the ref it points to, `packed-refs` (where a packed branch lives) and the reflog of
/// `HEAD`, as git resolves them (this also handles worktrees, whose `.git` is a file).
fn watched_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut watch = |name: &str| {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            let path = PathBuf::from(path.trim());
            // `--git-path` answers relative to the working directory of the command.
            paths.push(if path.is_absolute() { path } else { manifest_dir().join(path) });
        }
    };
    watch("HEAD");
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(reference.trim());
    }
    watch("packed-refs");
    // Appended to by every commit and checkout: catches a commit on a branch that was packed
    // (no loose ref file to watch when this script ran).
    watch("logs/HEAD");
    paths
}

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// The trimmed stdout of a successful `git ARGS` run in the crate directory, if any.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).current_dir(manifest_dir()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
