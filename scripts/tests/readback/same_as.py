"""Same table as another dataset: shards, thread counts and merge must not change any value."""

from __future__ import annotations

import pathlib
from typing import Any

from .common import Runner, require

#: Columns that may differ between two computations of the same spec.
NOT_REPRODUCIBLE = ["wall_time_s", "shard"]


def same_as_check(run: Runner, root: pathlib.Path, other: pathlib.Path) -> None:
    """The table of `root` equals that of `other`, sorted by point_id, bitwise, in every column
    but NOT_REPRODUCIBLE (read with polars)."""
    import polars as pl

    def load(path: pathlib.Path) -> Any:
        df = pl.read_parquet(str(path / "points" / "**" / "*.parquet"), hive_partitioning=True)
        df = df.drop(NOT_REPRODUCIBLE)
        cats = [c for c, t in df.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
        return df.with_columns([pl.col(c).cast(pl.String) for c in cats]).sort("point_id")

    def compare() -> str:
        a, b = load(root), load(other)
        require(a.height == b.height, f"{a.height} rows here, {b.height} in {other}")
        require(a["point_id"].equals(b["point_id"]), f"the point_id sets differ from {other}")
        differ = [c for c in a.columns if not a[c].equals(b[c], check_names=True)]
        require(not differ, f"columns that differ from {other}: {differ}")
        return f"{a.height} rows, {a.width} columns bitwise equal (all but {NOT_REPRODUCIBLE})"

    run.check(f"polars: same table as {other.name} (all columns but {', '.join(NOT_REPRODUCIBLE)})",
              compare)

