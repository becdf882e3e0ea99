#!/usr/bin/env python3
"""Thread scaling of `lazyrich run` (a benchmark, not a test).

Runs one fixed closed-form sweep (the spec below: 8-8-8 closed form on a random task, 100
log-spaced times, the default record with singular values per time; 100 λ × 10 scales ×
--replicates points) with `lazyrich run --threads T` for T = 1, 2, 4, … up to `nproc` (and
`nproc` itself), each into a fresh output directory, and, as the hardware baseline, T independent
one-thread processes at once, each running one shard `k/T` into its own directory (what a
cluster array does; no shared writer, no shared pool). Each configuration runs --repeats times,
alternating; the median wall time counts.

Prints per T: points/s of the T-thread run, its speed-up over one thread and its efficiency
(speed-up / T), then the same for T independent processes, and the ratio of the two (how much
of the hardware's scaling one process reaches). Wall time is measured around the whole command
(process start, dataset creation and the final flush included).

`--no-singular-values` records loss and kernel distance per time only (cheaper points, so the
Parquet encoders carry a larger share). `--encoders 1,2,4` adds runs at the largest T with
`lazyrich run --encoders E` for each E (the default is one encoder per 4 threads, rounded up): whether the
encoder threads, not the workers, limit the rate.

Usage:
  python3 scripts/bench/scaling.py [--binary target/release/lazyrich] [--replicates 10]
      [--repeats 3] [--max-threads N] [--no-singular-values] [--encoders E1,E2,...]

Build the release binary first: `cargo build --release -p lazyrich-cli`. With the defaults
(10 000 points) it takes about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SPEC = """\
name = "bench_scaling"
seed = 7

[defaults]
task = {{ kind = "random", samples = 64 }}
init = "balanced"
method = "closed-form"
time = {{ logspace = [-2, 2, 100] }}
record = {{ per_time = true, singular_values = {singular_values} }}

[[block]]
lambda = {{ linspace = [-5, 5, 100] }}
scale = {{ logspace = [-2, 0, 10] }}
widths = [8, 8, 8]
replicates = {replicates}
"""


def thread_counts(limit: int) -> list[int]:
    counts, t = [], 1
    while t < limit:
        counts.append(t)
        t *= 2
    counts.append(limit)
    return counts


def run_threads(binary: str, spec: pathlib.Path, out: pathlib.Path, threads: int,
                encoders: int | None = None) -> float:
    shutil.rmtree(out, ignore_errors=True)
    extra = [] if encoders is None else ["--encoders", str(encoders)]
    start = time.perf_counter()
    subprocess.run([binary, "run", str(spec), "--out", str(out), "--threads", str(threads),
                    "--quiet", *extra], check=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def run_processes(binary: str, spec: pathlib.Path, out: pathlib.Path, count: int) -> float:
    dirs = [out.with_name(f"{out.name}-{k}") for k in range(count)]
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    start = time.perf_counter()
    procs = [subprocess.Popen([binary, "run", str(spec), "--out", str(d), "--threads", "1",
                               "--shard", f"{k}/{count}", "--quiet"])
             for k, d in enumerate(dirs)]
    codes = [p.wait() for p in procs]
    elapsed = time.perf_counter() - start
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    if any(codes):
        sys.exit(f"an independent process failed: exit codes {codes}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="target/release/lazyrich")
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-singular-values", action="store_true")
    parser.add_argument("--encoders", default="",
                        help="comma-separated encoder counts to try at the largest T")
    args = parser.parse_args()
    encoders = [int(e) for e in args.encoders.split(",") if e.strip()]
    if not pathlib.Path(args.binary).is_file():
        sys.exit(f"no binary at {args.binary}: cargo build --release -p lazyrich-cli")
    points = 100 * 10 * args.replicates
    counts = thread_counts(max(1, args.max_threads))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lazyrich-scaling-") as tmp:
        tmp = pathlib.Path(tmp)
        spec = tmp / "scaling.toml"
        spec.write_text(SPEC.format(replicates=args.replicates,
                                    singular_values=str(not args.no_singular_values).lower()))
        threads_s: dict[int, list[float]] = {t: [] for t in counts}
        procs_s: dict[int, list[float]] = {t: [] for t in counts if t > 1}
        encoders_s: dict[int, list[float]] = {e: [] for e in encoders}
        for repeat in range(args.repeats):
            for t in counts:
                threads_s[t].append(run_threads(args.binary, spec, tmp / "out", t))
                if t > 1:
                    procs_s[t].append(run_processes(args.binary, spec, tmp / "shard", t))
            for e in encoders:
                encoders_s[e].append(run_threads(args.binary, spec, tmp / "out", counts[-1], e))
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)

    base = points / statistics.median(threads_s[1])
    record = "loss, kernel distance" if args.no_singular_values else "default record (SVs)"
    print(f"{points} points ({record}), {args.repeats} runs each, median wall time; "
          f"{os.cpu_count()} CPUs, load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    print(f"{'T':>4} {'run --threads T':>16} {'speed-up':>9} {'effic.':>7} "
          f"{'T processes':>13} {'speed-up':>9} {'effic.':>7} {'run / procs':>12}")
    for t in counts:
        rate = points / statistics.median(threads_s[t])
        line = f"{t:>4} {rate:>12.0f} p/s {rate / base:>8.2f}x {rate / base / t:>7.0%}"
        if t > 1:
            prate = points / statistics.median(procs_s[t])
            line += (f" {prate:>9.0f} p/s {prate / base:>8.2f}x {prate / base / t:>7.0%}"
                     f" {rate / prate:>11.2f}")
        print(line)
    top = counts[-1]
    for e in encoders:
        rate = points / statistics.median(encoders_s[e])
        print(f"{top:>4} threads, --encoders {e:<3} {rate:>9.0f} p/s {rate / base:>8.2f}x "
              f"{rate / base / top:>7.0%}")


if __name__ == "__main__":
    main()
