"""Several commands on one dataset directory at the same time.

- concurrent-shards: shards 0/3, 1/3 and 2/3 run at once into one directory, with a second copy of
  shard 1/3 started alongside (the shard lock must refuse it with a clear error, or let it
  find nothing left to do); every shard is then resumed to completion;
- merge-while-running: `lazyrich merge` runs again and again while a run publishes small files;
- status-while-running: `lazyrich status` runs again and again while two shards publish; it must
  succeed and never report a duplicate row or an unexpected id.

Every command must exit cleanly (no signal, panic or hang), and each final dataset must equal
the uninterrupted run (same ids, no duplicate, every column but `wall_time_s` and `shard`
bitwise equal).
"""

from __future__ import annotations

import time

from common import SHARD, WALL_TIME, compare_tables, finish, read_points, run_cmd, spawn

DROP = (WALL_TIME, SHARD)


def run_args(ctx, out, extra: list[str]) -> list:
    """`lazyrich run` of the torture spec into `out`, small flushes, quiet."""
    return [ctx.bin, "run", ctx.spec, "--out", out, "--flush-points", "5", "--quiet", *extra]


def concurrent_shards(ctx, report) -> None:
    reference, _ = ctx.reference()
    out = ctx.tmp / "concurrent-shards"
    failures: list[str] = []
    checks = 0
    shards = ["0/3", "1/3", "2/3", "1/3"]
    procs = [(s, spawn(run_args(ctx, out, ["--shard", s, "--threads", "1"]))) for s in shards]
    for shard, proc in procs:
        result = finish(proc, run_args(ctx, out, ["--shard", shard]), timeout=ctx.run_timeout)
        checks += 1
        crash = result.crash(allowed=(0, 1, 2))
        if crash:
            failures.append(f"shard {shard}: {crash}")
        elif result.rc != 0 and not result.stderr.startswith("error: "):
            failures.append(f"shard {shard} failed without a one-line error: {result.describe()}")
    for shard in shards[:3]:
        result = run_cmd(run_args(ctx, out, ["--shard", shard]), timeout=ctx.run_timeout)
        checks += 1
        if result.rc != 0:
            failures.append(f"resuming shard {shard}: {result.describe()}")
    checks += 1
    problems = compare_tables(read_points(out), reference, drop=DROP)
    if problems:
        failures.append(f"final dataset: {'; '.join(problems)}")
    report.scenario("concurrent-shards", checks - len(failures), failures,
                    "3 shards and a duplicate of one at once, then resumed")


def merge_while_running(ctx, report) -> None:
    reference, _ = ctx.reference()
    out = ctx.tmp / "merge-while-running"
    failures: list[str] = []
    checks = 0
    args = run_args(ctx, out, ["--threads", "2"])
    proc = spawn(args)
    merges = 0
    while proc.poll() is None and merges < 200:
        if (out / "_lazyrich" / "manifest.json").exists():
            result = run_cmd([ctx.bin, "merge", out, "--target-rows", "40"],
                             timeout=ctx.run_timeout)
            merges += 1
            checks += 1
            crash = result.crash(allowed=(0,))
            if crash:
                failures.append(f"merge {merges} while running: {crash}: {result.describe()}")
        time.sleep(0.05)
    result = finish(proc, args, timeout=ctx.run_timeout)
    checks += 1
    if result.rc != 0:
        failures.append(f"the run under merges: {result.describe()}")
    # The run may have stopped on a merge (an error); resume, then merge once more.
    for command in (args, [ctx.bin, "merge", out]):
        result = run_cmd(command, timeout=ctx.run_timeout)
        checks += 1
        if result.rc != 0:
            failures.append(f"after the run: {result.describe()}")
    checks += 1
    problems = compare_tables(read_points(out), reference, drop=DROP)
    if problems:
        failures.append(f"final dataset: {'; '.join(problems)}")
    report.scenario("merge-while-running", checks - len(failures), failures,
                    f"{merges} merges during the run")


def status_while_running(ctx, report) -> None:
    reference, _ = ctx.reference()
    out = ctx.tmp / "status-while-running"
    failures: list[str] = []
    checks = 0
    procs = [(s, spawn(run_args(ctx, out, ["--shard", s, "--threads", "1"])))
             for s in ("0/2", "1/2")]
    statuses = 0
    while any(p.poll() is None for _, p in procs) and statuses < 200:
        if (out / "_lazyrich" / "manifest.json").exists():
            result = run_cmd([ctx.bin, "status", out], timeout=ctx.run_timeout)
            statuses += 1
            checks += 1
            crash = result.crash(allowed=(0,))
            if crash:
                failures.append(f"status {statuses} while running: {crash}: "
                                f"{result.describe()}")
            elif "warning" in result.stdout:
                failures.append(f"status {statuses} while running warns: "
                                f"{[l for l in result.stdout.splitlines() if 'warning' in l]}")
        time.sleep(0.05)
    for shard, proc in procs:
        result = finish(proc, run_args(ctx, out, ["--shard", shard]), timeout=ctx.run_timeout)
        checks += 1
        if result.rc != 0:
            failures.append(f"shard {shard}: {result.describe()}")
    checks += 1
    problems = compare_tables(read_points(out), reference, drop=DROP)
    if problems:
        failures.append(f"final dataset: {'; '.join(problems)}")
    report.scenario("status-while-running", checks - len(failures), failures,
                    f"{statuses} status calls during 2 shards")
