"""The torture suite of lazyrich: never silently wrong, never stuck, never mixed.

Usage::

    python3 scripts/torture/run.py [--quick | --full] --bin target/debug/lazyrich
        [--seed N] [--only NAME[,NAME...]] [--jobs N] [--failures DIR] [--keep]

It attacks a `lazyrich` binary from outside, the way a cluster, a full disk or a careless edit
would, and checks that every outcome is a clean success or a clean, clear error:

==================== =========================================================================
scenario             what it does (the module that does it)
==================== =========================================================================
kill-resume          SIGKILL `run` 1-3 times at random moments, resume, compare the final
                     table with an uninterrupted run: same ids, no duplicate, every column but
                     `wall_time_s` bitwise equal, no temporary file left (kills.py)
signal-resume        SIGTERM/SIGINT/SIGUSR1 `run` 1-3 times with no flush due: exit 3 and the
                     rows on disk are exactly those it reports saved; then as kill-resume
                     (kills.py)
concurrent-shards    3 shards and a duplicate of one at once into one directory (sharing.py)
merge-while-running  `merge` again and again while a run publishes (sharing.py)
status-while-running `status` again and again while two shards publish (sharing.py)
disk-full            `run` into small or full tmpfs: a one-line error, nothing
                     published lost or altered, no temporary file; then resumed on a grown
                     tmpfs to the exact table (diskfull.py; root and `mount -t tmpfs` only,
                     skipped otherwise; it unmounts what it mounts)
corrupt-part-file    flip bytes in, truncate, or damage the footer of a part file, then
                     `status` (`--verify` when the binary has it), `run`, `merge`: error or
                     quarantine, never silently accepted (corruption.py)
spec-fuzz            mutated bundled specs through `plan` and, when small, `run` (specfuzz.py)
solve-fuzz           mutated bundled problems through `solve` (solvefuzz.py)
==================== =========================================================================

A crash is: an exit code other than 0, 1 or 2, a signal, a Rust panic (exit 101 or "panicked"
on stderr), or a timeout (a hang). Each module's docstring states its expectations exactly.

Sizes: ``--quick`` (the default; scripts/test.sh runs it, a few minutes on 2 cores with the
debug build): 10 kill trials, one of each dataset scenario, 200 spec and 200 solve mutants.
``--full`` (not in CI; run before a release): 100 kill trials, 3 000 spec and 2 000 solve
mutants, 3 corruption rounds.

Reproducing: everything random is drawn from ``--seed`` (default 1), each trial or mutant from
its own generator (``random.Random(f"{seed}:spec:{i}")`` and the like), so a failure
reproduces with the same seed, with ``--only`` to run one scenario. Every failing mutant is
saved with a note (its base, its mutations, the failure) to ``--failures`` (default: a
directory named in the output), and its exact command is `lazyrich plan FILE` / `lazyrich
run FILE --out DIR` / `lazyrich solve FILE`.

Output: one line per scenario (``ok``/``FAIL``/``skip``, with its counts), one indented line
per failure, then ``torture: N passed, M failed`` (N and M count checks: kill trials, command
outcomes, final tables, mutants); exit status 1 if anything failed, 2 on bad usage.

Needs Python 3.11 and the packages of scripts/requirements.txt (pyarrow, numpy). See also
docs/torture.md.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import common  # noqa: E402
import corruption  # noqa: E402
import diskfull  # noqa: E402
import kills  # noqa: E402
import sharing  # noqa: E402
import solvefuzz  # noqa: E402
import specfuzz  # noqa: E402

SCENARIOS = {
    "kill-resume": kills.kill_trials,
    "signal-resume": kills.signal_trials,
    "concurrent-shards": sharing.concurrent_shards,
    "merge-while-running": sharing.merge_while_running,
    "status-while-running": sharing.status_while_running,
    "disk-full": diskfull.disk_full,
    "corrupt-part-file": corruption.corruption,
    "spec-fuzz": specfuzz.spec_fuzz,
    "solve-fuzz": solvefuzz.solve_fuzz,
}


class Context:
    """What every scenario shares: the binary, sizes, timeouts, the reference dataset."""

    def __init__(self, args: argparse.Namespace, tmp: pathlib.Path) -> None:
        self.bin = pathlib.Path(args.bin).resolve()
        self.seed = args.seed
        self.full = args.full
        self.jobs = args.jobs
        self.tmp = tmp
        self.n_kills = 100 if args.full else 10
        self.n_spec = 3000 if args.full else 200
        self.n_solve = 2000 if args.full else 200
        self.n_corrupt = 3 if args.full else 1
        # Generous for the debug build on a loaded 2-core machine; a hang is far longer.
        self.plan_timeout = 60.0
        self.run_timeout = 180.0
        self.solve_timeout = 60.0
        self.spec = common.write_spec(tmp / "spec")
        self.failures_dir = pathlib.Path(args.failures) if args.failures else (
            pathlib.Path(tempfile.gettempdir()) / f"lazyrich-torture-failures-seed{args.seed}")
        self.status_verify: bool | None = None
        self._reference = None
        self.reference_dir = tmp / "reference"

    def reference(self):
        """The uninterrupted run of the torture spec: (its table, its wall time in seconds)."""
        if self._reference is None:
            result = common.run_cmd(
                [self.bin, "run", self.spec, "--out", self.reference_dir, "--threads", "2",
                 "--flush-points", "25", "--quiet"], timeout=self.run_timeout)
            if result.rc != 0:
                raise RuntimeError(f"the reference run failed: {result.describe()}")
            self._reference = (common.read_points(self.reference_dir), result.seconds)
        return self._reference

    def save_failure(self, name: str, text: str, note: str) -> pathlib.Path:
        """Saves a failing input and a note next to it; its path."""
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        path = self.failures_dir / name
        path.write_text(text)
        path.with_name(path.name + ".txt").write_text(note)
        return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description="The torture suite of lazyrich (see the module docstring).")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CI size (the default)")
    size.add_argument("--full", action="store_true", help="the long run")
    parser.add_argument("--bin", default=str(common.REPO_ROOT / "target" / "debug" / "lazyrich"),
                        help="the lazyrich binary (default: target/debug/lazyrich)")
    parser.add_argument("--seed", type=int, default=1, help="seed of every random choice")
    parser.add_argument("--only", default="",
                        help=f"comma-separated scenarios, of: {', '.join(SCENARIOS)}")
    parser.add_argument("--jobs", type=int, default=2, help="fuzz mutants run at once")
    parser.add_argument("--failures", default="", help="where failing mutants are saved")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    only = [name for name in args.only.split(",") if name]
    unknown = [name for name in only if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    if not pathlib.Path(args.bin).is_file():
        parser.error(f"no binary at {args.bin} (build it: cargo build -p lazyrich-cli)")

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="lazyrich-torture-"))
    ctx = Context(args, tmp)
    report = common.Report()
    start = time.monotonic()
    print(f"torture: {'full' if args.full else 'quick'}, seed {args.seed}, binary {ctx.bin}, "
          f"work in {tmp}, failing mutants to {ctx.failures_dir}", flush=True)
    try:
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            common.guarded(name, report, lambda scenario=scenario: scenario(ctx, report))
    finally:
        if args.keep:
            print(f"torture: kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"torture: {time.monotonic() - start:.0f} s", flush=True)
    return report.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
