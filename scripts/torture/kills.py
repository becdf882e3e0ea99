"""Random SIGKILL trials: kill `lazyrich run` at random times, resume, compare.

Each trial runs the torture spec into a fresh directory, SIGKILLs it 1 to 3 times at random
moments (from the start to a little past the length of an uninterrupted run), each time
starting it again, then lets a last run finish. The final table must equal the uninterrupted
run's: same id set, no duplicate row, every column but `wall_time_s` bitwise equal. No file
under `points/` may be anything but a complete part file, and the completed run must leave no
temporary file. Flush sizes and thread counts vary by trial (neither may change a value).

Signal trials (`signal-resume`) stop the run with SIGTERM, SIGINT or SIGUSR1 instead, with no
flush due: the run must exit 3 and the rows on disk must be exactly those it reports saved; a
second signal at once may end it (128 + signal) with only the earlier rows. The resume must end
with the uninterrupted run's table.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess

from common import compare_tables, finish, read_points, spawn, stray_files, tmp_files


def run_trials(ctx, report, scenario: str, key: str, one, note: str) -> None:
    """`ctx.n_kills` trials of `one(ctx, rng, trial, reference, ref_seconds)` (what went wrong,
    or None), each with its own seeded rng; one scenario line."""
    reference, ref_seconds = ctx.reference()
    failures: list[str] = []
    passed = 0
    for trial in range(ctx.n_kills):
        rng = random.Random(f"{ctx.seed}:{key}:{trial}")
        problem = one(ctx, rng, trial, reference, ref_seconds)
        if problem:
            failures.append(f"trial {trial} (--seed {ctx.seed}): {problem}")
        else:
            passed += 1
    report.scenario(scenario, passed, failures, f"{ctx.n_kills} trials, {note}")


def kill_trials(ctx, report) -> None:
    """`ctx.n_kills` SIGKILL trials; one scenario line."""
    run_trials(ctx, report, "kill-resume", "kill", one_trial,
               "SIGKILL 1-3 times each, then resume")


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


# Signals that stop a run cleanly (exit 3 after publishing every computed row).
STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1]
STOP_LINE = re.compile(r"lazyrich: stopped by (SIG\w+): (\d+) points computed in this run, (\d+) "
                       r"rows saved to .* \((\d+) of shard 0/1 done before\)")


def signal_trials(ctx, report) -> None:
    """`ctx.n_kills` trials of stop signals (SIGTERM, SIGINT, SIGUSR1); one scenario line."""
    run_trials(ctx, report, "signal-resume", "signal", one_signal_trial,
               "SIGTERM/SIGINT/SIGUSR1 1-3 times each (sometimes twice at once), rows saved = "
               "rows reported, then resume")


def one_signal_trial(ctx, rng: random.Random, trial: int, reference,
                     ref_seconds: float) -> str | None:
    """One trial: stop the run 1-3 times at random moments with no flush due (so the stop alone
    publishes the rows), check that the rows on disk are exactly those it reports saved, then
    resume to the end and compare with the uninterrupted run."""
    out = ctx.tmp / f"signal-{trial}"
    threads = rng.choice([1, 2])
    args = [ctx.bin, "run", ctx.spec, "--out", out, "--threads", str(threads),
            "--flush-points", "100000", "--flush-seconds", "100000"]
    on_disk = 0
    for _ in range(rng.randint(1, 3)):
        sig = rng.choice(STOP_SIGNALS)
        twice = rng.random() < 0.2
        proc = spawn(args)
        try:
            proc.wait(timeout=rng.uniform(0.0, ref_seconds * 1.2))
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
            if twice:
                proc.send_signal(sig)
        result = finish(proc, args, timeout=ctx.run_timeout)
        if result.panicked or result.timed_out:
            return f"the run crashed or hung after SIG{sig.name[3:]}: {result.describe()}"
        table = read_points(out)
        rows = 0 if table is None else table.num_rows
        match = STOP_LINE.search(result.stderr)
        if result.rc == 3:
            if not match:
                return f"exit 3 without the stop line: {result.describe()}"
            computed, saved, before = (int(match.group(i)) for i in (2, 3, 4))
            if match.group(1) != sig.name:
                return f"stopped by {match.group(1)}, sent {sig.name}"
            if before != on_disk or saved != computed or rows != on_disk + saved:
                return (f"{sig.name}: reported {computed} computed, {saved} saved, {before} done "
                        f"before; {on_disk} rows before, {rows} on disk now")
        elif result.rc == 128 + sig.value and twice:
            pass  # the second signal ended it before the flush: only the earlier flushes count
        elif result.rc == -sig.value and rows == on_disk:
            pass  # the signal came before the handlers were installed: nothing had started
        elif result.rc != 0:
            return f"unexpected exit after {sig.name}: {result.describe()}"
        on_disk = rows
        stray = stray_files(out)
        if stray:
            return f"after {sig.name}, non-part files under points/: {[str(p) for p in stray]}"
    result = finish(spawn(args), args, timeout=ctx.run_timeout)
    crash = result.crash(allowed=(0,))
    if crash:
        return f"the resume failed: {crash}: {result.describe()}"
    leftovers = tmp_files(out)
    if leftovers:
        return f"temporary files left after the completed resume: {[str(p) for p in leftovers]}"
    problems = compare_tables(read_points(out), reference)
    if problems:
        return f"final table differs from the uninterrupted run: {'; '.join(problems)}"
    return None
