"""Corrupted part files: flipped bytes, a truncated file, a damaged footer, a flipped column
statistic (a min or max in the footer that readers prune by).

Each trial copies the finished reference dataset, damages one of its part files, then runs
`lazyrich status` (with `--verify` when the binary has it), `lazyrich run` (the resume) and
`lazyrich merge`, each of them first in turn (trial k starts with command k mod 3), and ends with
a resume. The expectation, for each command: **error or quarantine,
never silently accepted**. Precisely, each command must

- end cleanly (no signal, panic or hang), and either
- exit non-zero with a one-line `error: ...` that names the damaged file, or
- exit 0 having reported the file (its name, or "corrupt", "checksum" or "quarantin" in its
  output) and moved it out of `points/` (quarantine);

a command that exits 0 while the damaged file is still under `points/`, unreported, has
accepted it silently. After the three commands, no readable part file may hold a value that
differs from the reference for its point (a merge must never republish altered values), and if
every command succeeded the dataset must again equal the uninterrupted run (the quarantined
points recomputed by the resume).
"""

from __future__ import annotations

import random
import shutil

from common import compare_tables, first_line, part_files, run_cmd, table_signature

KINDS = ("flip-bytes", "truncate", "flip-footer", "flip-statistics")
REPORT_WORDS = ("corrupt", "checksum", "quarantin", "damaged", "invalid parquet", "unreadable")


def damage(path, kind: str, rng: random.Random) -> str:
    """Damages the part file at `path`; a description of what was done."""
    data = bytearray(path.read_bytes())
    size = len(data)
    if kind == "truncate":
        keep = rng.randint(8, max(9, size - 9))
        path.write_bytes(bytes(data[:keep]))
        return f"truncated from {size} to {keep} bytes"
    if kind == "flip-statistics":
        # One bit of the min or max of a numeric column's statistics in the footer: every
        # value still decodes as written, but a reader filtering on that column would skip
        # rows by the wrong bound.
        at = statistic_offset(path, data, rng)
        if at is not None:
            bit = rng.randrange(64)
            data[at + bit // 8] ^= 1 << (bit % 8)
            path.write_bytes(bytes(data))
            return f"flipped bit {bit} of the statistic at byte {at} of {size}"
        kind = "flip-footer"
    if kind == "flip-footer":
        # The footer (Thrift metadata) ends 8 bytes before the end: length + "PAR1".
        footer_len = int.from_bytes(data[size - 8:size - 4], "little")
        start = max(4, size - 8 - footer_len)
        lo, hi = start, size - 9
    else:
        # Data pages: between the leading "PAR1" and the footer.
        footer_len = int.from_bytes(data[size - 8:size - 4], "little")
        lo, hi = 4, max(5, size - 9 - footer_len)
    positions = sorted(rng.sample(range(lo, hi + 1), k=min(8, hi - lo + 1)))
    for at in positions:
        data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    return f"flipped one bit at each of bytes {positions} of {size}"


def statistic_offset(path, data: bytearray, rng: random.Random) -> int | None:
    """The offset in the footer of the 8 bytes of a min or max statistic of a `double` or
    `int64` column (found by its value), or None."""
    import struct

    import pyarrow.parquet as pq

    size = len(data)
    footer_len = int.from_bytes(data[size - 8:size - 4], "little")
    lo, hi = size - 8 - footer_len, size - 8
    metadata = pq.ParquetFile(path).metadata
    candidates = []
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            if stats is None or not stats.has_min_max:
                continue
            kind = column.physical_type
            for value in (stats.min, stats.max):
                if kind == "DOUBLE":
                    needle = struct.pack("<d", value)
                elif kind == "INT64":
                    needle = struct.pack("<Q", value) if value >= 0 else struct.pack("<q", value)
                else:
                    continue
                at = bytes(data[lo:hi]).find(needle)
                if at >= 0:
                    candidates.append(lo + at)
    return rng.choice(candidates) if candidates else None


def status_command(ctx, out) -> list:
    """`status --verify` when the binary knows it, else `status`."""
    if ctx.status_verify is None:
        help_text = run_cmd([ctx.bin, "status", "--help"], timeout=30).stdout
        ctx.status_verify = "--verify" in help_text
    return [ctx.bin, "status", out, *(["--verify"] if ctx.status_verify else [])]


def corruption(ctx, report) -> None:
    reference, _ = ctx.reference()
    # One thread: the same files, byte for byte but for timestamps, whenever it runs, so that
    # a seed damages the same bytes.
    base = ctx.tmp / "undamaged"
    made = run_cmd([ctx.bin, "run", ctx.spec, "--out", base, "--threads", "1",
                    "--flush-points", "25", "--quiet"], timeout=ctx.run_timeout)
    if made.rc != 0:
        raise RuntimeError(f"the dataset to damage could not be made: {made.describe()}")
    failures: list[str] = []
    checks = 0
    for trial, kind in enumerate(KINDS * ctx.n_corrupt):
        rng = random.Random(f"{ctx.seed}:corrupt:{trial}")
        # A neutral name: the directory appears in messages, which are searched for the words
        # that report the damage.
        out = ctx.tmp / f"case{trial}"
        shutil.copytree(base, out)
        victim = rng.choice(part_files(out))
        name = victim.name
        what = damage(victim, kind, rng)
        damaged_bytes = victim.read_bytes()
        label = f"{kind} {victim.relative_to(out)} ({what}, --seed {ctx.seed})"
        commands = [
            ("status", status_command(ctx, out)),
            ("run", [ctx.bin, "run", ctx.spec, "--out", out, "--quiet"]),
            ("merge", [ctx.bin, "merge", out]),
        ]
        # Each command meets a fresh damage first in turn (trial 0: status, 1: run, 2: merge),
        # then the others follow; a resume always comes after a merge that refused.
        first = trial % len(commands)
        commands = commands[first:] + commands[:first]
        if commands[-1][0] != "run":
            commands.append(("run", [ctx.bin, "run", ctx.spec, "--out", out, "--quiet"]))
        all_ok = True
        for command_name, args in commands:
            checks += 1
            # A file an earlier command already quarantined needs no second report.
            present_before = still_damaged(victim, damaged_bytes)
            result = run_cmd(args, timeout=ctx.run_timeout)
            problem = judge(result, victim, name, present_before, damaged_bytes)
            if result.rc != 0:
                all_ok = False
            if problem:
                failures.append(f"{command_name} after {label}: {problem}")
        checks += 1
        problem = altered_values(out, reference)
        if problem:
            failures.append(f"after status, run, merge on {label}: {problem}")
        elif all_ok:
            checks += 1
            differences = compare_tables(_read_all(out), reference)
            if differences:
                failures.append(f"after status, run, merge on {label}, all exiting 0: "
                                f"{'; '.join(differences)}")
    report.scenario("corrupt-part-file", checks - len(failures), failures,
                    f"{len(KINDS) * ctx.n_corrupt} damaged files x (status, run, merge, each "
                    "first in turn); "
                    "expected: error or quarantine, never silently accepted")


def still_damaged(victim, damaged_bytes: bytes) -> bool:
    """Whether the damaged file is still at its path. A resume that recomputed the points of a
    quarantined last file publishes a new, intact file under the same name (it numbers after
    the highest file left): that one is not the damaged file."""
    try:
        return victim.read_bytes() == damaged_bytes
    except FileNotFoundError:
        return False


def judge(result, victim, name: str, present_before: bool = True,
          damaged_bytes: bytes | None = None) -> str | None:
    """Why one command's handling of the damaged file is wrong, or None.

    `present_before` is whether the damaged file was still under `points/` when the command
    started: once an earlier command has moved it to the quarantine, a later one has nothing to
    report and only must not crash."""
    crash = result.crash(allowed=(0, 1, 2))
    if crash:
        return f"{crash}: {result.describe()}"
    output = (result.stdout + result.stderr).lower()
    mentioned = name.lower() in output or any(word in output for word in REPORT_WORDS)
    if result.rc != 0:
        lines = result.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return f"failed without a one-line error: {result.stderr.strip()[:300]!r}"
        if not mentioned:
            return f"failed without naming the damaged file: {first_line(result.stderr)}"
        return None
    present_now = (victim.exists() if damaged_bytes is None
                   else still_damaged(victim, damaged_bytes))
    if present_now and not mentioned:
        return ("exit 0 with the damaged file still in points/ and not reported: silently "
                "accepted")
    if present_before and not mentioned:
        return "exit 0 and the damaged file is gone, but nothing reported it"
    return None


def _read_all(out):
    """Every readable part file's rows (unreadable files skipped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for path in part_files(out):
        try:
            tables.append(pq.read_table(path))
        except Exception:  # noqa: BLE001 - unreadable files are judged elsewhere
            continue
    return pa.concat_tables(tables, promote_options="default") if tables else None


def altered_values(out, reference) -> str | None:
    """A readable part file that holds a value differing from the reference for its point."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for path in part_files(out):
        try:
            table = pq.read_table(path)
        except Exception:  # noqa: BLE001 - unreadable: not silently altered values
            continue
        ids = table.column("point_id").combine_chunks()
        want = reference.filter(pc.is_in(reference.column("point_id"), value_set=ids))
        if want.num_rows != table.num_rows:
            return (f"{path.relative_to(out)} holds {table.num_rows} rows, "
                    f"{want.num_rows} of them points of the reference")
        got, expected = table_signature(table), table_signature(want)
        differ = sorted(k for k in got if got[k] != expected.get(k))
        if differ:
            return (f"{path.relative_to(out)} is readable and holds altered values in "
                    f"columns {differ}")
    return None
