"""A full disk: `lazyrich run` into a small tmpfs.

Runs only as root where `mount -t tmpfs` works (skipped with a message otherwise); whatever it
mounts it unmounts, also on failure. Four trials:

- a 512 KiB tmpfs, smaller than the dataset (about 1.3 MiB): the run must fail with a one-line
  error (exit 1; no panic, signal or hang), every part file already published must be complete
  and hold exactly the reference's values for its rows, and no temporary file may be left; the
  tmpfs is then grown to 64 MiB and the same command must complete the dataset, equal to the
  uninterrupted run;
- a 16 KiB tmpfs: the run fails on its first part file, just after creating the dataset;
- a 4 KiB tmpfs: the run fails while creating the dataset itself (its spec file);
- a 64 KiB tmpfs filled up by another file first: the run fails on its very first write (the
  manifest); the filler is removed before the resume;

each with the same checks (clear error, nothing published lost or altered, no temporary file),
then the resume on the grown tmpfs.
"""

from __future__ import annotations

import os
import subprocess

from common import (WALL_TIME, compare_tables, first_line, part_files, read_points, run_cmd,
                    stray_files, table_signature, tmp_files)


def mount_tmpfs(path, size: str) -> str | None:
    """Mounts a tmpfs of `size` at `path`; the error, or None."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"exit {proc.returncode}")


def umount(path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, timeout=60)


def disk_full(ctx, report) -> None:
    if os.geteuid() != 0:
        report.skip("disk-full", "not running as root: cannot mount a small tmpfs")
        return
    probe = ctx.tmp / "tmpfs-probe"
    error = mount_tmpfs(probe, "64k")
    if error:
        report.skip("disk-full", f"`mount -t tmpfs` does not work here: {error}")
        return
    umount(probe)
    reference, _ = ctx.reference()
    failures: list[str] = []
    checks = 0
    for size, prefill in (("512k", False), ("16k", False), ("4k", False), ("64k", True)):
        mount = ctx.tmp / f"tmpfs-{size}"
        error = mount_tmpfs(mount, size)
        if error:
            failures.append(f"mounting a {size} tmpfs: {error}")
            continue
        try:
            if prefill:
                fill(mount / "filler")
            n, problems = one_trial(ctx, mount, f"{size} full", reference) if prefill else \
                one_trial(ctx, mount, size, reference)
            checks += n
            failures.extend(problems)
        finally:
            umount(mount)
    report.scenario("disk-full", checks - len(failures), failures,
                    "runs into 512 KiB, 16 KiB, 4 KiB and full 64 KiB tmpfs, then resumed on "
                    "64 MiB")


def fill(path) -> None:
    """Writes `path` until the file system is full."""
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError:
            pass


def one_trial(ctx, mount, size: str, reference) -> tuple[int, list[str]]:
    """Checks made and problems found for one tmpfs size."""
    out = mount / "dataset"
    args = [ctx.bin, "run", ctx.spec, "--out", out, "--threads", "2", "--flush-points", "25",
            "--quiet"]
    problems: list[str] = []
    checks = 4
    result = run_cmd(args, timeout=ctx.run_timeout)
    crash = result.crash(allowed=(0, 1))
    if crash:
        problems.append(f"{size}: {crash}: {result.describe()}")
    elif result.rc != 1:
        problems.append(f"{size}: the run did not fail on a full disk: {result.describe()}")
    else:
        lines = result.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            problems.append(f"{size}: not a one-line error: {result.stderr.strip()[:400]!r}")
        elif "space" not in lines[0].lower():
            problems.append(f"{size}: the error does not say the disk is full: "
                            f"{first_line(result.stderr)}")
    leftovers = tmp_files(out) + stray_files(out)
    if leftovers:
        problems.append(f"{size}: files left after the failed run: "
                        f"{[str(p.relative_to(mount)) for p in leftovers]}")
    # Everything published is complete and holds the reference's values.
    if part_files(out):
        try:
            published = read_points(out)
            want = table_signature(reference.filter(
                _isin(reference, published.column("point_id"))))
            got = table_signature(published)
            ids = published.column("point_id").to_pylist()
            if len(set(ids)) != len(ids):
                problems.append(f"{size}: duplicate rows among the published files")
            elif got != want:
                differ = sorted(k for k in got if got[k] != want.get(k))
                problems.append(f"{size}: published rows differ from the reference: {differ}")
        except Exception as err:  # noqa: BLE001 - an unreadable file is the finding
            problems.append(f"{size}: a published part file cannot be read: {err}")
    (mount / "filler").unlink(missing_ok=True)
    grow = subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], capture_output=True,
                          text=True, timeout=30)
    if grow.returncode != 0:
        problems.append(f"{size}: could not grow the tmpfs: {grow.stderr.strip()}")
        return checks, problems
    checks += 1
    result = run_cmd(args, timeout=ctx.run_timeout)
    if result.rc != 0:
        problems.append(f"{size}: the resume on a larger disk failed: {result.describe()}")
        return checks, problems
    differences = compare_tables(read_points(out), reference, drop=(WALL_TIME,))
    if differences:
        problems.append(f"{size}: after the resume: {'; '.join(differences)}")
    return checks, problems


def _isin(table, values):
    import pyarrow.compute as pc

    return pc.is_in(table.column("point_id"), value_set=values.combine_chunks())
