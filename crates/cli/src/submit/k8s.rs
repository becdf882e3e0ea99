//! `lazyrich submit k8s`: a Kubernetes Indexed Job manifest (YAML) of the shards.
//!
//! lazyrich does not call kubectl: it writes the manifest (or prints it with `--dry-run`) and
//! prints the `kubectl apply` command.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::common::{CommonArgs, prepare};
use crate::error::BadInput;

/// Retries of one index (one shard) before the index counts as failed.
pub const BACKOFF_LIMIT_PER_INDEX: u32 = 3;
/// Seconds between SIGTERM and SIGKILL when a pod is stopped.
pub const GRACE_SECONDS: u32 = 60;

const K8S_HELP: &str = "\
Writes DIR/_lazyrich/k8s/job.yaml, an Indexed Job (batch/v1) of N completions: pod i runs
`lazyrich run DIR/_lazyrich/spec.toml --out DIR --shards N`, which reads its shard from
JOB_COMPLETION_INDEX. The PersistentVolumeClaim --claim (ReadWriteMany, e.g. NFS) is mounted
at DIR in every pod, so DIR must be that volume as seen from here too: the spec is stored in it
before the job starts. Then run the printed `kubectl apply -f` command. Needs Kubernetes 1.29
or newer (backoffLimitPerIndex, podFailurePolicy).";

/// Writes a Kubernetes Indexed Job manifest of the shards (it does not call kubectl).
#[derive(Debug, clap::Args)]
#[command(after_long_help = K8S_HELP)]
pub struct K8sArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The container image, with `lazyrich` on its PATH.
    #[arg(long, value_name = "IMG")]
    image: String,
    /// The PersistentVolumeClaim (ReadWriteMany) that holds DIR, mounted at DIR's path.
    #[arg(long, value_name = "PVC", default_value = "lazyrich-data")]
    claim: String,
    /// Pods running at once [default: all N].
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
    parallelism: Option<u32>,
}

/// What a manifest holds.
#[derive(Debug)]
pub struct Manifest<'a> {
    /// The Job's name (a DNS label).
    pub name: String,
    /// The image.
    pub image: &'a str,
    /// The claim.
    pub claim: &'a str,
    /// The dataset directory (absolute), the mount path of the claim.
    pub dir: &'a Path,
    /// N.
    pub shards: u32,
    /// Pods at once.
    pub parallelism: u32,
    /// Threads (and CPUs) per pod.
    pub threads: usize,
    /// `--flush-seconds` of the runs.
    pub flush_seconds: Option<f64>,
}

/// Runs `lazyrich submit k8s`.
pub fn run(args: &K8sArgs) -> anyhow::Result<()> {
    if args.image.trim().is_empty() || args.image.contains(['"', '\\', '\n']) {
        return Err(BadInput::new(format!("--image '{}' is not an image name", args.image)).into());
    }
    if dns_label(&args.claim) != args.claim {
        return Err(BadInput::new(format!(
            "--claim '{}' is not a PersistentVolumeClaim name (lowercase letters, digits, '-')",
            args.claim
        ))
        .into());
    }
    let prepared = prepare(&args.common, |_| Ok(None))?;
    if prepared.dir.to_str().is_none_or(|dir| dir.contains(['"', '\\', '\n'])) {
        return Err(BadInput::new(format!(
            "--out {} holds characters the manifest cannot quote simply: choose another path",
            prepared.dir.display()
        ))
        .into());
    }
    let manifest = Manifest {
        name: format!("lazyrich-{}", dns_label(prepared.spec.name())),
        image: &args.image,
        claim: &args.claim,
        dir: &prepared.dir,
        shards: prepared.shards,
        parallelism: args.parallelism.unwrap_or(prepared.shards).min(prepared.shards),
        threads: prepared.threads,
        flush_seconds: args.common.flush_seconds,
    };
    let yaml = manifest_yaml(&manifest);
    let mut out = String::new();
    if let Some(note) = &prepared.shard_note {
        let _ = writeln!(out, "# {note}");
    }
    let path = prepared.dir.join("_lazyrich").join("k8s").join("job.yaml");
    if args.common.dry_run {
        out.push_str(&yaml);
        return crate::solve::write_stdout(&out);
    }
    let k8s_dir = prepared.dir.join("_lazyrich").join("k8s");
    std::fs::create_dir_all(&k8s_dir)
        .and_then(|()| std::fs::write(&path, &yaml))
        .with_context(|| format!("failed to write {}", path.display()))?;
    let _ = writeln!(
        out,
        "wrote {} ({} shards); submit it with:\n  kubectl apply -f {}",
        path.display(),
        prepared.shards,
        path.display()
    );
    crate::solve::write_stdout(&out)
}

/// `text` as a DNS label: lowercase letters, digits and `-`, at most 40 characters (a Job name
/// must leave room for the pod names Kubernetes derives from it).
pub fn dns_label(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .take(40)
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() { "sweep".to_owned() } else { trimmed.to_owned() }
}

/// The manifest's YAML text: an Indexed Job, one completion per shard.
pub fn manifest_yaml(m: &Manifest<'_>) -> String {
    let dir = m.dir.display().to_string();
    let mut command = vec![
        "lazyrich".to_owned(),
        "run".to_owned(),
        format!("{dir}/_lazyrich/spec.toml"),
        "--out".to_owned(),
        dir.clone(),
        "--threads".to_owned(),
        m.threads.to_string(),
        "--shards".to_owned(),
        m.shards.to_string(),
    ];
    if let Some(seconds) = m.flush_seconds {
        command.extend(["--flush-seconds".to_owned(), seconds.to_string()]);
    }
    let command: Vec<String> = command.iter().map(|w| format!("\"{w}\"")).collect();
    format!(
        "# Written by `lazyrich submit k8s`: {shards} shards of the sweep in {dir}.\n\
         # Pod i runs shard i/{shards} (JOB_COMPLETION_INDEX); apply with kubectl apply -f FILE.\n\
         apiVersion: batch/v1\n\
         kind: Job\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: lazyrich\n\
         spec:\n\
         \x20 completionMode: Indexed\n\
         \x20 completions: {shards}\n\
         \x20 parallelism: {parallelism}\n\
         \x20 backoffLimitPerIndex: {BACKOFF_LIMIT_PER_INDEX}\n\
         \x20 podFailurePolicy:\n\
         \x20   rules:\n\
         \x20     - action: Ignore\n\
         \x20       onPodConditions:\n\
         \x20         - type: DisruptionTarget\n\
         \x20 template:\n\
         \x20   metadata:\n\
         \x20     labels:\n\
         \x20       app.kubernetes.io/name: lazyrich\n\
         \x20   spec:\n\
         \x20     restartPolicy: Never\n\
         \x20     terminationGracePeriodSeconds: {GRACE_SECONDS}\n\
         \x20     containers:\n\
         \x20       - name: lazyrich\n\
         \x20         image: \"{image}\"\n\
         \x20         command: [{command}]\n\
         \x20         resources:\n\
         \x20           requests:\n\
         \x20             cpu: \"{threads}\"\n\
         \x20           limits:\n\
         \x20             cpu: \"{threads}\"\n\
         \x20         volumeMounts:\n\
         \x20           - name: data\n\
         \x20             mountPath: \"{dir}\"\n\
         \x20     volumes:\n\
         \x20       - name: data\n\
         \x20         persistentVolumeClaim:\n\
         \x20           claimName: {claim}\n",
        shards = m.shards,
        name = m.name,
        parallelism = m.parallelism,
        image = m.image,
        command = command.join(", "),
        threads = m.threads,
        claim = m.claim,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> String {
        manifest_yaml(&Manifest {
            name: "lazyrich-quickstart".to_owned(),
            image: "ghcr.io/example/lazyrich:0.1",
            claim: "sweeps",
            dir: Path::new("/data/quick"),
            shards: 8,
            parallelism: 4,
            threads: 2,
            flush_seconds: Some(10.0),
        })
    }

    /// The value of `key:` at `indent` spaces, on the first line that has it.
    fn value<'a>(yaml: &'a str, indent: usize, key: &str) -> Option<&'a str> {
        let prefix = format!("{}{key}:", " ".repeat(indent));
        yaml.lines().find_map(|line| line.strip_prefix(&prefix).map(str::trim))
    }

    #[test]
    fn an_indexed_job_of_one_completion_per_shard() {
        let yaml = manifest();
        assert_eq!(value(&yaml, 0, "apiVersion"), Some("batch/v1"));
        assert_eq!(value(&yaml, 0, "kind"), Some("Job"));
        assert_eq!(value(&yaml, 2, "name"), Some("lazyrich-quickstart"));
        assert_eq!(value(&yaml, 2, "completionMode"), Some("Indexed"));
        assert_eq!(value(&yaml, 2, "completions"), Some("8"));
        assert_eq!(value(&yaml, 2, "parallelism"), Some("4"));
        assert_eq!(value(&yaml, 2, "backoffLimitPerIndex"), Some("3"));
        assert_eq!(value(&yaml, 6, "restartPolicy"), Some("Never"));
        assert_eq!(value(&yaml, 10, "image"), Some("\"ghcr.io/example/lazyrich:0.1\""));
        assert_eq!(
            value(&yaml, 10, "command"),
            Some(
                "[\"lazyrich\", \"run\", \"/data/quick/_lazyrich/spec.toml\", \"--out\", \
                 \"/data/quick\", \"--threads\", \"2\", \"--shards\", \"8\", \
                 \"--flush-seconds\", \"10\"]"
            )
        );
        assert_eq!(value(&yaml, 14, "cpu"), Some("\"2\""));
        assert_eq!(value(&yaml, 14, "mountPath"), Some("\"/data/quick\""));
        assert_eq!(value(&yaml, 12, "claimName"), Some("sweeps"));
        // Indentation only in steps of two spaces, no tabs: YAML structure.
        for line in yaml.lines().filter(|l| !l.starts_with('#')) {
            let indent = line.len() - line.trim_start_matches(' ').len();
            assert!(indent % 2 == 0 && !line.contains('\t'), "{line:?}");
        }
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("Quick Start_v2"), "quick-start-v2");
        assert_eq!(dns_label("--"), "sweep");
        assert_eq!(dns_label(&"x".repeat(100)).len(), 40);
    }
}
