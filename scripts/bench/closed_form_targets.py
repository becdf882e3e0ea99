#!/usr/bin/env python3
"""Per-point cost of the closed form end to end (`lazyrich run`, one thread), before and after.

The table of issue 13's closed-form targets (README "Speed"): µs per point of an 8-8-8 closed
form on a random task (the spec of scripts/bench/sweep.sh: 100 λ × 10 scales × replicates,
10 000 points by default) for the three record settings, at 100 log-spaced times and at one time,
and what follows from them:

  set-up per point      = cost(1 time) − per-time cost
  per time              = (cost(100 times) − cost(1 time)) / 99   (loss, kernel distance, row)
  singular values/time  = (cost(sv) − cost(no sv)) / 100

Each binary runs each spec --repeats times, the two binaries alternating run by run (the machine
may be shared: medians, and the fastest runs, of runs made side by side). Every run writes a fresh dataset (Parquet
included) into a temporary directory.

Usage:
  python3 scripts/bench/closed_form_targets.py --before OLD/lazyrich --after target/release/lazyrich
      [--replicates 10] [--repeats 3]

Build the "before" binary from an older commit in its own worktree, e.g.
  git worktree add --detach ../before 46c2d16 && (cd ../before && cargo build --release -p lazyrich-cli)
and pass ../before/target/release/lazyrich.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

SPEC = """\
name = "closed_form_targets"
seed = 7
max_points = {max_points}

[defaults]
task = {{ kind = "random", samples = 64 }}
init = "balanced"
method = "closed-form"
time = {time}
record = {{ per_time = {per_time}, singular_values = {sv} }}

[[block]]
lambda = {{ linspace = [-5, 5, 100] }}
scale = {{ logspace = [-2, 0, 10] }}
widths = [8, 8, 8]
replicates = {replicates}
"""

TIMES_100 = "{ logspace = [-2, 2, 100] }"
TIMES_1 = "[1.0]"

#: (label, per_time, singular values, times)
CASES = [
    ("loss + kernel distance per time (no SVs)", "true", "false", TIMES_100),
    ("+ singular values per time (the default record)", "true", "true", TIMES_100),
    ("record.per_time = false (summaries only)", "false", "true", TIMES_100),
    ("no SVs, one time (set-up)", "true", "false", TIMES_1),
]


def run_once(binary: pathlib.Path, spec: pathlib.Path, work: pathlib.Path) -> float:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [str(binary), "run", str(spec), "--out", str(out), "--threads", "1", "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=pathlib.Path, required=True)
    parser.add_argument("--after", type=pathlib.Path, required=True)
    parser.add_argument("--replicates", type=int, default=10, help="points = 1000 × replicates")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    points = 1000 * args.replicates
    binaries = {"before": args.before.resolve(), "after": args.after.resolve()}
    medians: dict[tuple[str, int], float] = {}
    minima: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="lazyrich-cf-targets.") as tmp:
        work = pathlib.Path(tmp)
        for idx, (label, per_time, sv, times) in enumerate(CASES):
            spec = work / f"case{idx}.toml"
            spec.write_text(
                SPEC.format(
                    max_points=points,
                    time=times,
                    per_time=per_time,
                    sv=sv,
                    replicates=args.replicates,
                )
            )
            runs: dict[str, list[float]] = {name: [] for name in binaries}
            for _ in range(args.repeats):
                for name, binary in binaries.items():
                    runs[name].append(run_once(binary, spec, work))
            for name in binaries:
                medians[(name, idx)] = statistics.median(runs[name]) / points * 1e6
                minima[(name, idx)] = min(runs[name]) / points * 1e6
                listed = ", ".join(f"{x / points * 1e6:.1f}" for x in runs[name])
                print(f"# {label} [{name}]: µs/point runs {listed}", flush=True)

    def derived(name: str, of: dict[tuple[str, int], float]) -> dict[str, float]:
        no_sv, sv, summary, one = (of[(name, i)] for i in range(4))
        per_time = (no_sv - one) / 99
        return {
            "per point, no SVs (100 times)": no_sv,
            "per point, with SVs (100 times)": sv,
            "per point, per_time = false": summary,
            "set-up per point": one - per_time,
            "per time (kernel, loss, kernel distance, row)": per_time,
            "singular values per time": (sv - no_sv) / 100,
        }

    # The medians are what the README quotes. The fastest runs are printed too: on a shared
    # machine a run is slowed by its neighbours, never sped up, so where the medians of the
    # two binaries move with the machine from case to case, the minima are the steadier
    # comparison.
    for what, of in (("medians", medians), ("fastest", minima)):
        before, after = derived("before", of), derived("after", of)
        print(f"\n{points} points, 8-8-8 closed form, random task, 1 thread; {what} of "
              f"{args.repeats} alternating runs, µs")
        print(f"{'what':<48} {'before':>9} {'after':>9} {'ratio':>7}")
        for key in before:
            ratio = before[key] / after[key] if after[key] > 0 else float("nan")
            print(f"{key:<48} {before[key]:>9.2f} {after[key]:>9.2f} {ratio:>6.2f}x")


if __name__ == "__main__":
    main()
