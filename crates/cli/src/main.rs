//! `lazyrich`: the command line of lazyrich, and the only part of it that prints.
//!
//! This file is deliberately thin (as in ripgrep and hyperfine): it parses the command line,
//! dispatches to one module per subcommand, and turns an error into one line on stderr and an
//! exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success, including a trajectory or sweep point whose status is not `"ok"` |
//! | 1 | anything else (for example stdout or the dataset could not be written) |
//! | 2 | bad input or usage: unreadable or malformed input, invalid values, wrong command line, |
//! |   | an output directory that holds another spec's results |
//! | 3 | `run` stopped by SIGTERM, SIGINT or SIGUSR1 after saving every row it computed |
//!
//! Subcommands: `solve` (one trajectory as JSON), and the sweep commands `plan` (what a spec
//! expands to), `run` (compute a spec, or one shard of it, into a Parquet dataset; resumable),
//! `status` (what a dataset holds and lacks), `merge` (compact its files) and `submit` (run the
//! shards as Slurm job arrays or a Kubernetes Indexed Job).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod error;
mod inputs;
mod merge;
mod plan;
mod progress;
mod run;
mod signals;
mod solve;
mod status;
mod submit;

/// Exact learning dynamics of linear networks (Dominé et al., "From Lazy to Rich"), one
/// trajectory at a time or swept over parameter grids into Parquet datasets.
#[derive(Debug, Parser)]
#[command(name = "lazyrich", version = run::VERSION_LINE)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each lives in its own module.
#[derive(Debug, Subcommand)]
enum Command {
    Solve(solve::SolveArgs),
    Plan(plan::PlanArgs),
    Run(run::RunArgs),
    Status(status::StatusArgs),
    Merge(merge::MergeArgs),
    Submit(submit::SubmitArgs),
}

/// mimalloc instead of glibc's allocator. A closed-form point's set-up makes about 150 small
/// allocations, and its row is freed on an encoder thread, not the worker that allocated it:
/// with glibc about a fifth of a one-time sweep's worker time went to `malloc`/`free`. Measured
/// (docs/speed.md, "Allocator and the writer's wait"): 1.15× at one thread and 1.17× at two on
/// a set-up-bound sweep, for 77 MiB of resident memory instead of 32 on a 10⁶-point run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if let Some(stopped) = err.downcast_ref::<signals::Stopped>() {
                note(stopped);
                return ExitCode::from(signals::EXIT_STOPPED);
            }
            report(&err);
            ExitCode::from(error::exit_code(&err))
        }
    }
}

/// Runs one subcommand.
fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Solve(args) => solve::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Submit(args) => submit::run(&args),
    }
}

/// Prints an error as a single line, its causes joined by ": ".
#[expect(clippy::print_stderr, reason = "the binary reports errors on stderr")]
fn report(err: &anyhow::Error) {
    let line = format!("{err:#}").replace('\n', " ");
    eprintln!("error: {line}");
}

/// Says what a run stopped by a signal saved: not an error, though not a finished run either.
#[expect(clippy::print_stderr, reason = "the binary reports on stderr")]
fn note(stopped: &signals::Stopped) {
    eprintln!("lazyrich: {stopped}");
}

/// Prints clap's help, version or usage error, and maps it to 0 (help, version) or 2 (usage).
fn clap_exit(err: &clap::Error) -> ExitCode {
    // Printing can only fail if the terminal is gone; there is nobody left to tell.
    let _ = err.print();
    if err.use_stderr() { ExitCode::from(error::EXIT_BAD_INPUT) } else { ExitCode::SUCCESS }
}
