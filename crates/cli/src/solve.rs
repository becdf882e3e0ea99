//! `lazyrich solve PROBLEM.json`: one trajectory of a two-layer linear network (or of a deep
//! aligned one from a description), as JSON.
//!
//! The flow is read → [`input::parse`] (all validation, errors name the field) →
//! [`trajectory::compute`] (closed form or simulation) or, for a deep aligned description,
//! [`deep::compute`] (the deep aligned closed form) → one JSON document on stdout
//! ([`output::SolveOutput`]). The input and output formats are documented in `docs/solve.md`.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::error::BadInput;

pub mod deep;
pub mod describe;
pub mod input;
pub mod output;
pub mod trajectory;

/// Extra help after the argument list: the problem file's fields and their defaults.
const FIELDS_HELP: &str = "\
Problem file (JSON object; unknown fields are errors; see docs/solve.md):
  w1              Nh x Ni matrix (array of rows), required unless init is given
  w2              No x Nh matrix, required unless init is given
  widths, init    instead of w1 and w2, a description as in a sweep spec: widths [Ni, Nh, No],
                  init {\"kind\", \"lambda\" (or \"lambdas\": [lambda]), \"scale\", \"seed\" (default 0),
                  \"replicate\" (default 0)};
                  the weights are those of the sweep point with these parameters and seed;
                  deeper widths [Ni, N1, ..., No] need init \"aligned\" (\"lambdas\": one per hidden
                  layer), a one-phase task and method \"closed-form\" (the deep aligned closed form)
  task            with init, instead of sigma_yx: a spec task table ({\"kind\": \"random\",
                  \"samples\": 64}, hierarchy), drawn as in a sweep
  sigma_yx        No x Ni matrix, required unless task is given
  sigma_xx        Ni x Ni symmetric matrix, optional (default: identity, i.e. whitened)
  trace_sigma_yy  tr(Sigma_yy) >= 0, optional (default: loss in excess of the best linear map)
  times           non-negative numbers in ascending order, required
  method          \"closed-form\" | \"rk4\" | \"gd\", required
  dt              rk4 time step > 0 (default 0.001); only with method \"rk4\"
  lr              gd learning rate > 0 (default 0.001); only with method \"gd\";
                  gd step k is reported at t = k * lr * tau
  tau             time constant > 0 of tau dW/dt = -grad L (default 1)

Output (stdout, one JSON object):
  {\"status\": \"ok\" | \"singular\" | \"diverged\" | ..., \"method\", \"lambda\",
   [\"balance_defect\"], \"balance_entry_defect\", [\"message\"],
   [\"n_steps\"], [\"w1\", \"w2\", \"sigma_yx\" (with init)], \"points\": [{\"t\", \"qqt\", \"loss\", \"kernel_distance\", \"singular_values\",
   [\"balance_drift\"]}, ...]}
  Deep: [\"lambdas\"] and \"weights\" (every layer) instead of w1, w2; each point has \"weights\",
  no \"qqt\".
  A status other than \"ok\" still exits 0 and lists the points computed before it.

Exit codes: 0 success (any status), 1 failure, 2 bad input or usage.";

/// Computes one trajectory (closed form, RK4 or gradient descent) and prints it as JSON.
#[derive(Debug, clap::Args)]
#[command(after_long_help = FIELDS_HELP)]
pub struct SolveArgs {
    /// The problem file (JSON), or `-` to read it from stdin.
    pub problem: PathBuf,
    /// Pretty-print the JSON (default: one line).
    #[arg(long)]
    pub pretty: bool,
}

/// Runs `lazyrich solve`.
pub fn run(args: &SolveArgs) -> anyhow::Result<()> {
    let text = read_problem(&args.problem)?;
    let problem = input::parse(&text)
        .with_context(|| format!("invalid problem {}", display_name(&args.problem)))?;
    let output = match &problem.deep {
        Some(deep) => deep::compute(&problem.net, &problem.problem, &problem.times, deep)?,
        None => trajectory::compute(&problem)?,
    };
    let mut json = if args.pretty {
        serde_json::to_string_pretty(&output)
    } else {
        serde_json::to_string(&output)
    }
    .context("failed to serialize the output")?;
    json.push('\n');
    write_stdout(&json)
}

/// How the problem source is named in messages.
fn display_name(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" { "<stdin>".to_owned() } else { format!("{}", path.display()) }
}

/// Reads the problem text from a file, or from stdin for `-`.
fn read_problem(path: &std::path::Path) -> anyhow::Result<String> {
    let mut text = String::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut file| file.read_to_string(&mut text)).map(|_| ())
    };
    result.map_err(|err| {
        BadInput::new(format!("failed to read problem {}: {err}", display_name(path)))
    })?;
    Ok(text)
}

/// Writes the output (also of `plan` and `status`). A reader that closed the pipe early
/// (`lazyrich status DIR | head`) is not an error: it has read what it wanted. Any other write
/// failure (a full disk) is one (exit 1), never a panic as with `print!`.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("failed to write the output to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_states_the_defaults() {
        let dt = format!("(default {})", input::DEFAULT_DT);
        let lr = format!("(default {})", input::DEFAULT_LR);
        let tau = format!("(default {})", input::DEFAULT_TAU);
        for needle in [dt, lr, tau] {
            assert!(FIELDS_HELP.contains(&needle), "help lacks {needle}");
        }
    }
}
