"""`lazyrich.scan` and the dataset checks every reader runs."""

from __future__ import annotations

import fcntl
import json
import pathlib
import shutil
import subprocess
import sys
import time

import polars as pl
import pyarrow.parquet as pq
import pytest

import lazyrich
from lazyrich._schema import POINTS_SCHEMA

from .conftest import REPO, lazyrich as run_lazyrich, planned_rows


def test_one_row_per_planned_point(quickstart: pathlib.Path) -> None:
    df = lazyrich.scan(quickstart).collect()
    assert df.height == planned_rows(REPO / "sweeps" / "quickstart.toml") == 756
    assert df["point_id"].n_unique() == df.height


def test_arch_is_the_widths_joined(quickstart: pathlib.Path) -> None:
    df = lazyrich.scan(quickstart).select("widths", "arch").collect()
    assert df.schema["arch"] == pl.String
    expected = ["-".join(map(str, w)) for w in df["widths"].to_list()]
    assert df["arch"].to_list() == expected
    assert set(expected) == {"4-4-4", "8-2-2", "2-2-8"}


def test_columns_are_the_documented_ones_once(quickstart: pathlib.Path) -> None:
    schema = lazyrich.scan(quickstart).collect_schema()
    assert schema.names() == [*POINTS_SCHEMA, "arch"]
    assert schema.names().count("task") == 1
    # The empty-dataset schema of the package is the one the files give.
    assert dict(schema) == {**POINTS_SCHEMA, "arch": pl.String}


def test_hive_partitions(tasks: pathlib.Path) -> None:
    lf = lazyrich.scan(tasks)
    counts = dict(lf.group_by(pl.col("task").cast(pl.String)).len().collect().iter_rows())
    on_disk: dict[str, int] = {}
    for part in sorted((tasks / "points").glob("task=*/*.parquet")):
        kind = part.parent.name.removeprefix("task=")
        on_disk[kind] = on_disk.get(kind, 0) + pq.read_metadata(part).num_rows
    assert counts == on_disk
    assert len(counts) == 6
    # A filter on the partition column reads only that partition's rows.
    reversal = lf.filter(pl.col("task") == "reversal").select("task", "task_params").collect()
    assert reversal.height == on_disk["reversal"]
    assert all(p.startswith("reversal(") for p in reversal["task_params"])


def test_empty_dataset_has_the_schema(quickstart: pathlib.Path, tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "empty"
    shutil.copytree(quickstart / "_lazyrich", empty / "_lazyrich")
    (empty / "points").mkdir()
    lf = lazyrich.scan(empty)
    assert lf.collect().height == 0
    assert lf.collect_schema() == lazyrich.scan(quickstart).collect_schema()
    assert lazyrich.series(empty).height == 0
    assert lazyrich.provenance(empty)["rows"] == 0
    shutil.rmtree(empty / "points")  # a run that has not even created points/
    assert lazyrich.scan(empty).collect().height == 0


def test_not_a_dataset(tmp_path: pathlib.Path) -> None:
    with pytest.raises(lazyrich.DatasetError) as err:
        lazyrich.scan(tmp_path)
    assert err.value.path == tmp_path
    assert "not a lazyrich dataset" in err.value.reason
    assert "_lazyrich/manifest.json" in str(err.value)
    with pytest.raises(lazyrich.DatasetError, match="no such directory"):
        lazyrich.scan(tmp_path / "missing")


def test_points_directory_names_its_dataset(quickstart: pathlib.Path) -> None:
    with pytest.raises(lazyrich.DatasetError, match="points/ directory of the dataset"):
        lazyrich.scan(quickstart / "points")


def test_part_files_without_manifest(quickstart_copy: pathlib.Path) -> None:
    (quickstart_copy / "_lazyrich" / "manifest.json").unlink()
    with pytest.raises(lazyrich.DatasetError, match="manifest is missing"):
        lazyrich.scan(quickstart_copy)


def test_newer_schema_version_is_refused(quickstart_copy: pathlib.Path) -> None:
    path = quickstart_copy / "_lazyrich" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["schema_version"] == lazyrich.SCHEMA_VERSION
    manifest["schema_version"] = lazyrich.SCHEMA_VERSION + 1
    path.write_text(json.dumps(manifest))
    for reader in (lazyrich.scan, lazyrich.series, lazyrich.spec, lazyrich.provenance):
        with pytest.raises(lazyrich.DatasetError, match="schema version 5 is newer"):
            reader(quickstart_copy)


def test_interrupted_merge_is_refused_until_recovered(quickstart_copy: pathlib.Path) -> None:
    # The journal of a merge that crashed before publishing its output (merge.rs): the next
    # open by lazyrich rolls it back.
    journal = {
        "output": "points/task=random/part-merged-000099.parquet",
        "temp": "_lazyrich/tmp/merge-000099.parquet",
        "sources": ["points/task=random/part-s0000of0001-000000.parquet"],
    }
    path = quickstart_copy / "_lazyrich" / "merge.journal"
    path.write_text(json.dumps(journal))
    with pytest.raises(lazyrich.DatasetError, match="merge is in progress or was interrupted"):
        lazyrich.scan(quickstart_copy)
    with pytest.raises(lazyrich.DatasetError):
        lazyrich.series(quickstart_copy)
    # The remedy the message names works.
    run_lazyrich("status", quickstart_copy)
    assert not path.exists()
    assert lazyrich.scan(quickstart_copy).collect().height == 756


HOLD_LOCK = """\
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def hold_lock(path: pathlib.Path) -> subprocess.Popen[str]:
    """A child process holding the exclusive flock of `path` until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_running_merge_is_refused(quickstart_copy: pathlib.Path) -> None:
    lock = quickstart_copy / "_lazyrich" / "merge.lock"
    lock.touch()  # a finished merge leaves its (free) lock file behind
    assert lazyrich.scan(quickstart_copy).collect().height == 756
    holder = hold_lock(lock)
    try:
        with pytest.raises(lazyrich.DatasetError, match="merge` is running"):
            lazyrich.scan(quickstart_copy)
    finally:
        holder.kill()
        holder.wait()
    assert lazyrich.scan(quickstart_copy).collect().height == 756


def test_lazyrich_sees_a_python_flock(quickstart_copy: pathlib.Path) -> None:
    """The lock probe relies on lazyrich locking with flock(2): a lock taken the way the
    probe tests it must be one that lazyrich itself sees (here: a shard lock, which
    `lazyrich status --json` reports as a running layout)."""
    lock = quickstart_copy / "_lazyrich" / "tmp" / "s0000of0001.lock"
    holder = hold_lock(lock)
    try:
        status = json.loads(run_lazyrich("status", "--json", quickstart_copy).stdout)
        assert status["running_layouts"] == ["0/1"]
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.05)
    status = json.loads(run_lazyrich("status", "--json", quickstart_copy).stdout)
    assert status["running_layouts"] == []


def test_probe_creates_no_lock_and_leaves_it_free(quickstart_copy: pathlib.Path) -> None:
    lock = quickstart_copy / "_lazyrich" / "merge.lock"
    assert not lock.exists()
    lazyrich.scan(quickstart_copy)
    assert not lock.exists()
    lock.touch()
    lazyrich.scan(quickstart_copy)
    with open(lock) as f:  # free right after the probe
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
