"""`lazyrich.series`: the tidy per-time table."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import polars as pl
import pytest

import lazyrich

GLOB = "points/**/*.parquet"


def naive(root: pathlib.Path, columns: list[str], keys: list[str]) -> pl.DataFrame:
    """The recipe of docs/dataset.md: select, then explode (polars directly, no lazyrich)."""
    return (
        pl.read_parquet(str(root / GLOB), hive_partitioning=True)
        .filter(pl.col("t").list.len() > 0)
        .with_columns(arch=pl.col("widths").cast(pl.List(pl.String)).list.join("-"))
        .select("point_id", *keys, "t", *columns)
        .explode(["t", *columns])
    )


def test_equals_the_naive_explode(quickstart: pathlib.Path) -> None:
    got = lazyrich.series(quickstart, ["loss", "kernel_distance"])
    want = naive(quickstart, ["loss", "kernel_distance"], list(lazyrich.DEFAULT_KEYS))
    assert got.columns == ["point_id", *lazyrich.DEFAULT_KEYS, "t", "loss", "kernel_distance"]
    assert got.height == 750 * 50  # the 6 singular points have no times
    order = ["point_id", "t"]
    assert got.sort(order).equals(want.sort(order))


def test_where_selects_points_before_the_explode(quickstart: pathlib.Path) -> None:
    where = (pl.col("arch") == "8-2-2") & (pl.col("status") == "ok") & (pl.col("scale") == 0.5)
    got = lazyrich.series(quickstart, "loss", where=where, keys=["lambda", "status"])
    assert got.columns == ["point_id", "lambda", "status", "t", "loss"]
    points = lazyrich.scan(quickstart).filter(where).collect()
    assert 0 < points.height < 756
    assert got.height == points["t"].list.len().sum()
    assert set(got["point_id"]) == set(points["point_id"])
    lazy = lazyrich.series(quickstart, "loss", where=where, keys=["lambda", "status"], lazy=True)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().sort("point_id", "t").equals(got.sort("point_id", "t"))


def test_singular_values_one_list_per_time(quickstart: pathlib.Path) -> None:
    got = lazyrich.series(quickstart, ["singular_values"], keys=["n_in", "n_out"],
                          where=pl.col("status") == "ok")
    assert got.schema["singular_values"] == pl.List(pl.Float64)
    # W2W1 is No × Ni: min(Ni, No) singular values at each time.
    n_values = pl.min_horizontal("n_in", "n_out")
    assert got.select((pl.col("singular_values").list.len() == n_values).all()).item()
    first = got.sort("point_id", "t").row(0, named=True)
    raw = (lazyrich.scan(quickstart).filter(pl.col("point_id") == first["point_id"])
           .select("singular_values").collect().item())
    assert first["singular_values"] == list(raw[0])


def test_multi_phase_and_optional_columns(tasks: pathlib.Path) -> None:
    columns = ["phase", "loss", "task_losses", "sim_loss"]
    got = lazyrich.series(tasks, columns, keys=["task", "method", "n_phases"])
    rows = lazyrich.scan(tasks).collect()
    assert got.height == rows["t"].list.len().sum()
    max_phase = got.select(pl.col("phase").max()).item()
    assert max_phase == rows.select(pl.col("n_phases").max()).item() - 1
    by_id = {r["point_id"]: r for r in rows.iter_rows(named=True)}
    per_point = got.sort("point_id", "t").partition_by("point_id", as_dict=True)
    checked_overlay = checked_single = 0
    for (pid,), frame in per_point.items():
        row = by_id[pid]
        assert frame["t"].to_list() == row["t"]
        assert frame["phase"].to_list() == row["phase"]
        # Empty optional lists are nulls; a shorter sim_loss (diverged overlay) is padded.
        sim = row["sim_loss"]
        assert frame["sim_loss"].to_list() == sim + [None] * (len(row["t"]) - len(sim))
        checked_overlay += bool(sim)
        if row["task_losses"]:
            assert frame["task_losses"].to_list() == row["task_losses"]
        else:
            assert frame["task_losses"].null_count() == frame.height
            checked_single += 1
    assert checked_overlay > 0 and checked_single > 0


def test_refuses_columns_that_are_not_per_time(quickstart: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="per-phase column"):
        lazyrich.series(quickstart, ["loss", "phase_t_end"])
    with pytest.raises(ValueError, match="lazyrich.matrices"):
        lazyrich.series(quickstart, ["qqt"])
    with pytest.raises(ValueError, match="not a per-time column"):
        lazyrich.series(quickstart, ["t90"])
    with pytest.raises(ValueError, match="keys are copied onto every time"):
        lazyrich.series(quickstart, ["loss"], keys=["singular_values"])
    with pytest.raises(ValueError, match="unknown key"):
        lazyrich.series(quickstart, ["loss"], keys=["lamda"])


#: Peak RSS a `series` call may add to a child that only imports lazyrich and scans.
SERIES_BUDGET_MIB = 200

CHILD = """\
import sys, lazyrich
if sys.argv[2] == "series":
    frame = lazyrich.series(sys.argv[1], ["loss", "kernel_distance"])
else:  # baseline: the imports and a scan of one column
    frame = lazyrich.scan(sys.argv[1]).select("point_id").collect()
print(frame.height)
"""


def peak_rss_mib(root: pathlib.Path, what: str) -> tuple[int, float]:
    """(printed row count, peak RSS in MiB) of a child process running `CHILD`."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), what],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert os.waitstatus_to_exitcode(status) == 0, err
    return int(out), usage.ru_maxrss / 1024  # Linux: KiB


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KiB on Linux")
def test_series_memory_stays_far_below_the_naive_explode(memory_data: pathlib.Path) -> None:
    # What exploding every per-time list of the table would hold: each point's QQᵀ
    # checkpoints (and singular values) copied onto each of its times.
    lens = pl.read_parquet(str(memory_data / GLOB), columns=["t", "qqt", "singular_values"])
    floats_per_row = (
        lens["qqt"].list.eval(pl.element().list.len()).list.sum()
        + lens["singular_values"].list.eval(pl.element().list.len()).list.sum()
    )
    naive_bytes = int((lens["t"].list.len() * floats_per_row * 8).sum())
    assert naive_bytes > 2**30, f"the dataset is too small for this test: {naive_bytes} bytes"

    _, baseline = peak_rss_mib(memory_data, "baseline")
    rows, peak = peak_rss_mib(memory_data, "series")
    assert rows == 8 * 400
    assert peak - baseline < SERIES_BUDGET_MIB, (
        f"series peak RSS {peak:.0f} MiB, {peak - baseline:.0f} MiB over the baseline "
        f"{baseline:.0f} MiB (the naive explode would hold {naive_bytes / 2**30:.1f} GiB)"
    )
