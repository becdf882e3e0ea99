//! `lazyrich submit slurm | k8s`: runs a sweep's shards as cluster jobs.
//!
//! Both targets first validate the spec and create (or open) the dataset, so that the spec is
//! stored in `DIR/_lazyrich/spec.toml` and every task runs that file: all shards agree on one
//! spec. `slurm` writes job-array scripts and a merge job and submits them with `sbatch`
//! (`submit/slurm.rs`); `k8s` writes an Indexed Job manifest (`submit/k8s.rs`). What they share
//! is in `submit/common.rs`. See docs/cluster.md.

mod common;
mod k8s;
mod slurm;

use clap::Subcommand;

/// Submits a sweep's shards to a cluster: Slurm job arrays, or a Kubernetes Indexed Job.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    #[command(subcommand)]
    target: Target,
}

/// Where to submit.
#[derive(Debug, Subcommand)]
enum Target {
    Slurm(slurm::SlurmArgs),
    K8s(k8s::K8sArgs),
}

/// Runs `lazyrich submit`.
pub fn run(args: &SubmitArgs) -> anyhow::Result<()> {
    match &args.target {
        Target::Slurm(args) => slurm::run(args),
        Target::K8s(args) => k8s::run(args),
    }
}
