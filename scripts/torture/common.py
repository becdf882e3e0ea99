"""Shared pieces of the torture suite: running the binary, reading datasets, comparing tables.

Nothing here knows a scenario. `Cmd` runs `lazyrich` with a timeout and classifies the outcome
(exit code, signal, panic, hang); `read_points` reads a dataset's part files with pyarrow;
`table_signature` turns a table into a bitwise-comparable form (floats by their bits, lists
with their offsets); `Report` collects one line per scenario and the closing count.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Iterable, Sequence

#: Columns that may differ between two computations of the same spec: the wall time always, the
#: shard when one table was computed in shards and the other not.
WALL_TIME = "wall_time_s"
SHARD = "shard"

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class CmdResult:
    """What one command did."""

    args: list[str]
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def signal(self) -> int | None:
        """The signal that ended it (a negative return code), if any."""
        return -self.rc if self.rc is not None and self.rc < 0 else None

    @property
    def panicked(self) -> bool:
        """A Rust panic: exit 101, or "panicked" on stderr."""
        return self.rc == 101 or "panicked" in self.stderr

    def crash(self, allowed: Iterable[int] = (0, 1, 2)) -> str | None:
        """Why this outcome is a crash (hang, signal, panic, unexpected exit code), or None."""
        if self.timed_out:
            return f"hang: still running after {self.seconds:.0f} s"
        if self.signal is not None:
            return f"killed by signal {self.signal} ({signal.Signals(self.signal).name})"
        if self.panicked:
            return f"panic (exit {self.rc}): {first_line(self.stderr, 'panicked')}"
        if self.rc not in allowed:
            return f"exit code {self.rc}: {first_line(self.stderr)}"
        return None

    def describe(self) -> str:
        """One line: the command, its exit code and the first line of stderr."""
        return f"`{' '.join(self.args)}` -> rc {self.rc}: {first_line(self.stderr)}"


def first_line(text: str, containing: str = "") -> str:
    """The first non-empty line of `text` (the first containing `containing`, if any)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if containing in line:
            return line[:300]
    return lines[0][:300] if lines else ""


def run_cmd(args: Sequence[str | os.PathLike[str]], timeout: float,
            cwd: pathlib.Path | None = None) -> CmdResult:
    """Runs `args` to completion or `timeout` seconds (then SIGKILL), capturing its output."""
    argv = [str(a) for a in args]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                            text=True, errors="replace")
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    return CmdResult(argv, proc.returncode, out, err, time.monotonic() - start, timed_out)


def spawn(args: Sequence[str | os.PathLike[str]]) -> subprocess.Popen[str]:
    """Starts `args` in the background, output to pipes read at the end (`finish`)."""
    return subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace")


def finish(proc: subprocess.Popen[str], args: Sequence[str | os.PathLike[str]],
           timeout: float) -> CmdResult:
    """Waits for a process started by `spawn` (SIGKILL after `timeout` seconds)."""
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    return CmdResult([str(a) for a in args], proc.returncode, out, err,
                     time.monotonic() - start, timed_out)


# ---------------------------------------------------------------------------------------------
# Datasets


def part_files(out: pathlib.Path) -> list[pathlib.Path]:
    """The published part files of a dataset, sorted."""
    return sorted((out / "points").glob("task=*/*.parquet"))


def stray_files(out: pathlib.Path) -> list[pathlib.Path]:
    """Files under `points/` that are not part files (a partial or temporary file there is a
    bug: users must never see one)."""
    points = out / "points"
    if not points.exists():
        return []
    return sorted(p for p in points.rglob("*") if p.is_file() and p.suffix != ".parquet")


def tmp_files(out: pathlib.Path) -> list[pathlib.Path]:
    """Temporary files anywhere in the dataset (`*.tmp`), locks excluded."""
    return sorted(p for p in out.rglob("*") if p.is_file() and ".tmp" in p.name)


def read_points(out: pathlib.Path) -> Any:
    """Every row of the dataset as one pyarrow table (the `task` partition column dropped: it is
    also a column of the files). Raises on an unreadable file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(path) for path in part_files(out)]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def _signature(array: Any) -> Any:
    """A bitwise-comparable Python value of one (combined) arrow array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.cast(kind.value_type)
        kind = array.type
    nulls = array.is_null().to_pylist() if array.null_count else None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = pc.list_value_length(array).fill_null(-1).to_pylist()
        return ("list", nulls, lengths, _signature(pc.list_flatten(array)))
    if pa.types.is_floating(kind):
        values = array.fill_null(0.0).to_numpy(zero_copy_only=False).astype(np.float64)
        return ("f64", nulls, values.view(np.uint64).tobytes())
    return ("value", array.to_pylist())


def table_signature(table: Any, drop: Iterable[str] = (WALL_TIME,)) -> dict[str, Any]:
    """Column name -> bitwise signature, rows sorted by point_id, without the `drop` columns."""
    table = table.sort_by("point_id")
    return {
        name: _signature(table.column(name).combine_chunks())
        for name in table.column_names
        if name not in set(drop)
    }


def compare_tables(got: Any, want: Any, drop: Iterable[str] = (WALL_TIME,)) -> list[str]:
    """Differences between two datasets' tables: duplicate ids, missing or extra ids, columns
    whose values differ bitwise (sorted by point_id, `drop` columns ignored). Empty if equal."""
    problems: list[str] = []
    if got is None or want is None:
        if (got is None) != (want is None):
            problems.append("one table is empty" if got is None else "the reference is empty")
        return problems
    got_ids = got.column("point_id").to_pylist()
    want_ids = want.column("point_id").to_pylist()
    if len(set(got_ids)) != len(got_ids):
        problems.append(f"{len(got_ids) - len(set(got_ids))} duplicate rows")
    missing = set(want_ids) - set(got_ids)
    extra = set(got_ids) - set(want_ids)
    if missing:
        problems.append(f"{len(missing)} points missing (e.g. {min(missing):016x})")
    if extra:
        problems.append(f"{len(extra)} unexpected points (e.g. {min(extra):016x})")
    if problems:
        return problems
    a, b = table_signature(got, drop), table_signature(want, drop)
    if set(a) != set(b):
        problems.append(f"columns differ: {sorted(set(a) ^ set(b))}")
    differ = [name for name in sorted(set(a) & set(b)) if a[name] != b[name]]
    if differ:
        problems.append(f"columns not bitwise equal: {differ}")
    return problems


def non_finite_ok_rows(table: Any) -> list[str]:
    """Rows with status `ok` that hold a NaN or an infinity in any float column (lists included):
    one line each, naming the point id and the columns."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if table is None:
        return []
    status = table.column("status").combine_chunks()
    if pa.types.is_dictionary(status.type):
        status = status.cast(status.type.value_type)
    ok = pc.equal(status, "ok")
    ok_rows = table.filter(ok)
    found: dict[int, list[str]] = {}
    ids = ok_rows.column("point_id").to_pylist()
    for name in ok_rows.column_names:
        column = ok_rows.column(name).combine_chunks()
        depth = 0
        values = column
        row_of = np.arange(len(column))
        while pa.types.is_list(values.type) or pa.types.is_large_list(values.type):
            parents = pc.list_parent_indices(values).to_numpy(zero_copy_only=False)
            row_of = row_of[parents]
            values = pc.list_flatten(values)
            depth += 1
        if not pa.types.is_floating(values.type):
            continue
        data = values.fill_null(0.0).to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(data)
        for row in sorted(set(row_of[bad].tolist())):
            found.setdefault(ids[row], []).append(name)
    return [f"point {pid:016x}: non-finite {', '.join(cols)}" for pid, cols in sorted(found.items())]


# ---------------------------------------------------------------------------------------------
# Reporting


@dataclasses.dataclass
class Report:
    """One line per scenario; counts of the checks that passed and failed."""

    verbose: bool = False
    passed: int = 0
    failed: int = 0
    lines: list[str] = dataclasses.field(default_factory=list)

    def scenario(self, name: str, n_passed: int, failures: list[str], note: str = "") -> None:
        """Records a scenario of `n_passed + len(failures)` checks and prints its line (and one
        indented line per failure)."""
        self.passed += n_passed
        self.failed += len(failures)
        total = n_passed + len(failures)
        head = "ok  " if not failures else "FAIL"
        line = f"{head} {name}: {n_passed}/{total} passed" + (f" ({note})" if note else "")
        print(line, flush=True)
        for failure in failures:
            print(f"       - {failure}", flush=True)

    def skip(self, name: str, reason: str) -> None:
        """A scenario that cannot run here (counted neither way)."""
        print(f"skip {name}: {reason}", flush=True)

    def close(self) -> int:
        """Prints the closing line; the exit code."""
        print(f"torture: {self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def guarded(name: str, report: Report, body: Callable[[], None]) -> None:
    """Runs one scenario; an exception inside the suite itself is a failure of that scenario."""
    try:
        body()
    except Exception as err:  # noqa: BLE001 - any bug of the suite must show, not abort it
        import traceback

        report.scenario(name, 0, [f"the suite itself failed: {err!r}"])
        traceback.print_exc(file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# The sweep the dataset scenarios run

#: A small sweep with several task partitions, a simulation, repeated ids (a Gaussian init
#: crossed with λ) and a filter: about 2 s with the debug build on 2 threads.
TORTURE_SPEC = """\
name = "torture"
seed = 11

[defaults]
task = { kind = "random", samples = 16 }
init = "balanced"
method = "closed-form"
time = { linspace = [0, 4, 21] }
scale = [0.1, 0.7]

[[block]]
lambda = { linspace = [-2, 2, 13] }
widths = [[3, 3, 3], [4, 2, 2], [2, 2, 4]]
replicates = 6
where = ["lambda != 0"]

[[block]]
task = [{ kind = "continual", tasks = 3, samples = 8 }, { kind = "reversal", samples = 8 }]
lambda = [-1.5, 1.5]
widths = [3, 3, 3]
replicates = 4
record = { matrices_at = [0, 4] }

[[block]]
method = "rk4"
dt = 0.01
init = ["balanced", "gaussian"]
lambda = [-1, 0.5, 1]
widths = [[3, 3, 3], [4, 3, 3, 3]]
replicates = 3
"""


def write_spec(directory: pathlib.Path, text: str = TORTURE_SPEC,
               name: str = "torture.toml") -> pathlib.Path:
    """Writes a spec file into `directory` and returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path
