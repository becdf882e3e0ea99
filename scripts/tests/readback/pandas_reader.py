"""pandas (pyarrow engine): `read_parquet("DIR/points")` and the checks on it."""

from __future__ import annotations

import pathlib
from typing import Any

from .common import NAMES, NULLABLE, PER_TIME, SUMMARY_F64, TASK_DIR, TYPES, Runner, require


def pandas_checks(run: Runner, root: pathlib.Path, expected_rows: int | None) -> None:
    """The pandas checks on `read_parquet("DIR/points", engine="pyarrow")`: columns and dtypes,
    count, unique ids, NaN vs null, list lengths, the tidy `explode` recipe, the Hive column."""
    import numpy as np
    import pandas as pd

    state: dict[str, Any] = {}

    def load():
        state["df"] = pd.read_parquet(root / "points", engine="pyarrow")
        return f"{len(state['df'])} rows, {state['df'].shape[1]} columns"

    if not run.check("pandas: read_parquet(DIR/points, engine='pyarrow')", load):
        return
    df = state["df"]

    def dtype_ok(series, spelling, nullable):
        dtype = series.dtype
        if spelling.startswith("list<"):
            return pd.api.types.is_object_dtype(dtype) and all(
                isinstance(v, (np.ndarray, list)) for v in series.head(20))
        if spelling == "dict<utf8>":
            return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
        if spelling == "utf8":
            return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
        if spelling == "f64":
            return dtype == np.float64
        # Unsigned integers; a nullable one holding nulls comes back as float64.
        if dtype.kind == "u":
            return True
        return nullable and dtype == np.float64

    def columns():
        names = list(df.columns)
        require(sorted(names) == sorted(NAMES),
                f"missing {sorted(set(NAMES) - set(names))}, extra {sorted(set(names) - set(NAMES))}")
        bad = [f"{c}: {df[c].dtype} (expected {TYPES[c]})" for c in NAMES
               if not dtype_ok(df[c], TYPES[c], NULLABLE[c])]
        require(not bad, "; ".join(bad))
        return f"{len(names)} columns with compatible dtypes"

    def count():
        require(len(df) == expected_rows, f"{len(df)} rows, expected {expected_rows}")

    def unique_ids():
        require(df["point_id"].is_unique, f"{df['point_id'].duplicated().sum()} duplicate point_id values")

    def no_nan():
        ok = df[df["status"].astype(str) == "ok"]
        bad = {c: int(ok[c].isna().sum()) for c in SUMMARY_F64
               if not NULLABLE[c] and ok[c].isna().any()}
        require(not bad, f"NaN in never-null summaries of ok rows: {bad}")
        # pandas shows null as NaN: compare with the nulls polars/pyarrow see.
        bad = {c: int(np.isnan(ok[c].to_numpy(dtype=float)).sum()) for c in SUMMARY_F64}
        null = {c: int(ok[c].isna().sum()) for c in SUMMARY_F64}
        require(bad == null, f"NaN counts {bad} differ from null counts {null}")
        n = sum(int(np.isnan(np.asarray(v, dtype=float)).any()) for v in ok["loss"])
        require(n == 0, f"{n} ok rows with NaN in loss")
        return f"{len(ok)} ok rows"

    def equal_lengths():
        lens = {c: df[c].map(len) for c in PER_TIME}
        for c in PER_TIME[1:]:
            n = int((lens[c] != lens["t"]).sum())
            require(n == 0, f"{n} rows where len({c}) != len(t)")

    def explode():
        full = df[df["t"].map(len) > 0]
        # The recipe of docs/dataset.md: select the columns, then explode them.
        tidy = full[["point_id", "t", "loss", "kernel_distance"]].explode(["t", "loss", "kernel_distance"])
        tidy = tidy.astype({"t": float, "loss": float, "kernel_distance": float})
        want = int(df["t"].map(len).sum())
        require(len(tidy) == want, f"explode gave {len(tidy)} rows, expected {want}")
        require(not tidy["t"].isna().any(), "exploded t has NaN")
        return f"{len(tidy)} (point, time) rows"

    def hive_task():
        require("task" in df.columns, "no task column")
        values = set(df["task"].astype(str).unique())
        dirs = {TASK_DIR.match(p.name).group(1) for p in (root / "points").iterdir()
                if p.is_dir() and TASK_DIR.match(p.name)}
        require(values == dirs, f"task values {values} != partition directories {dirs}")
        return ", ".join(sorted(values))

    run.check("pandas: documented columns, compatible dtypes", columns)
    if expected_rows is not None:
        run.check("pandas: row count", count)
    run.check("pandas: point_id unique", unique_ids)
    run.check("pandas: no NaN in numeric summaries where status = 'ok'", no_nan)
    run.check("pandas: t/phase/loss/kernel_distance of equal length per row", equal_lengths)
    run.check("pandas: explode(['t','loss','kernel_distance'])", explode)
    run.check("pandas: hive column task", hive_task)
