"""Random SIGKILL trials: kill `lazyrich run` at random times, resume, compare.

Each trial runs the torture spec into a fresh directory, SIGKILLs it 1 to 3 times at random
moments (from the start to a little past the length of an uninterrupted run), each time
starting it again, then lets a last run finish. The final table must equal the uninterrupted
run's: same id set, no duplicate row, every column but `wall_time_s` bitwise equal. No file
under `points/` may be anything but a complete part file, and the completed run must leave no
temporary file. Flush sizes and thread counts vary by trial (neither may change a value).
"""

from __future__ import annotations

import random
import signal
import subprocess

from common import compare_tables, finish, read_points, spawn, stray_files, tmp_files


def kill_trials(ctx, report) -> None:
    """`ctx.n_kills` trials; one scenario line."""
    reference, ref_seconds = ctx.reference()
    failures: list[str] = []
    passed = 0
    for trial in range(ctx.n_kills):
        rng = random.Random(f"{ctx.seed}:kill:{trial}")
        problem = one_trial(ctx, rng, trial, reference, ref_seconds)
        if problem:
            failures.append(f"trial {trial} (--seed {ctx.seed}): {problem}")
        else:
            passed += 1
    report.scenario("kill-resume", passed, failures,
                    f"{ctx.n_kills} trials, SIGKILL 1-3 times each, then resume")


def one_trial(ctx, rng: random.Random, trial: int, reference, ref_seconds: float) -> str | None:
    """One trial; what went wrong, or None."""
    out = ctx.tmp / f"kill-{trial}"
    flush = rng.choice([1, 5, 25, 1000])
    threads = rng.choice([1, 2])
    args = [ctx.bin, "run", ctx.spec, "--out", out, "--threads", str(threads),
            "--flush-points", str(flush), "--quiet"]
    kills = rng.randint(1, 3)
    for _ in range(kills):
        proc = spawn(args)
        delay = rng.uniform(0.0, ref_seconds * 1.2)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        result = finish(proc, args, timeout=ctx.run_timeout)
        if result.rc not in (0, -signal.SIGKILL):
            return f"a run before the kill failed: {result.describe()}"
        stray = stray_files(out)
        if stray:
            return f"after a kill, non-part files under points/: {[str(p) for p in stray]}"
    proc = spawn(args)
    result = finish(proc, args, timeout=ctx.run_timeout)
    crash = result.crash(allowed=(0,))
    if crash:
        return f"the resume failed: {crash}: {result.describe()}"
    leftovers = tmp_files(out)
    if leftovers:
        return f"temporary files left after the completed resume: {[str(p) for p in leftovers]}"
    try:
        table = read_points(out)
    except Exception as err:  # noqa: BLE001 - an unreadable part file is the finding
        return f"a part file cannot be read: {err}"
    problems = compare_tables(table, reference)
    if problems:
        return (f"final table differs from the uninterrupted run (flush {flush}, threads "
                f"{threads}, {kills} kills): {'; '.join(problems)}")
    return None
