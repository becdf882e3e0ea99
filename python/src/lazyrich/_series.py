"""`series`: the tidy per-time table, one row per (point, time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import polars as pl

from ._dataset import PathLike, scan
from ._schema import CHECKPOINTS, PER_PHASE, PER_TIME, PER_TIME_OPTIONAL

#: The key columns `series` copies onto every time of a point by default.
DEFAULT_KEYS: tuple[str, ...] = ("arch", "lambda", "scale", "replicate")


def _names(value: str | Sequence[str], what: str) -> list[str]:
    """A column list from one name or a sequence of names, without repeats."""
    names = [value] if isinstance(value, str) else list(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what}: column names are strings, got {name!r}")
    return list(dict.fromkeys(names))


def _check_columns(columns: list[str]) -> None:
    for name in columns:
        if name in PER_TIME:
            continue
        if name in PER_PHASE:
            raise ValueError(
                f"series: {name!r} is a per-phase column (one entry per phase or transition, "
                "not per time): explode it by phase as in docs/dataset.md, \"Multi-phase "
                "points\", or keep it as a list in scan()"
            )
        if name in CHECKPOINTS:
            raise ValueError(
                f"series: {name!r} holds QQᵀ checkpoints at the times qqt_t, not at every time "
                "of t: use lazyrich.matrices()"
            )
        raise ValueError(
            f"series: {name!r} is not a per-time column; choose from {', '.join(PER_TIME)} "
            "(t is always included)"
        )


def _check_keys(keys: list[str], schema: pl.Schema) -> None:
    for name in keys:
        if name not in schema:
            raise ValueError(f"series: unknown key column {name!r}")
        if name in PER_TIME or name in PER_PHASE or name in CHECKPOINTS or name == "t":
            raise ValueError(
                f"series: key {name!r} is a list column of per-time, per-phase or checkpoint "
                "values: keys are copied onto every time, choose scalar columns"
            )


def _aligned(name: str) -> pl.Expr:
    """A per-time list cut or padded with nulls to the length of `t`, so that it explodes
    together with `t` (an empty `singular_values`, `task_losses` or `sim_loss`, or the
    shorter `sim_loss` of a diverged overlay, becomes nulls)."""
    if name not in PER_TIME_OPTIONAL:
        return pl.col(name)
    positions = pl.int_ranges(0, pl.col("t").list.len())
    return pl.col(name).list.gather(positions, null_on_oob=True).alias(name)


@overload
def series(
    path: PathLike,
    columns: str | Sequence[str] = ...,
    where: pl.Expr | None = ...,
    keys: str | Sequence[str] = ...,
    *,
    lazy: Literal[False] = ...,
) -> pl.DataFrame: ...


@overload
def series(
    path: PathLike,
    columns: str | Sequence[str] = ...,
    where: pl.Expr | None = ...,
    keys: str | Sequence[str] = ...,
    *,
    lazy: Literal[True],
) -> pl.LazyFrame: ...


def series(
    path: PathLike,
    columns: str | Sequence[str] = ("loss", "kernel_distance"),
    where: pl.Expr | None = None,
    keys: str | Sequence[str] = DEFAULT_KEYS,
    *,
    lazy: bool = False,
) -> pl.DataFrame | pl.LazyFrame:
    """The tidy per-time table: one row per (point, time), with the columns `point_id`, the
    `keys`, `t` and the per-time `columns`.

    Only the columns asked for are read and exploded (exploding every list column of a row
    would copy its other lists, `qqt` and `singular_values` among them, onto each of its
    times), and `where`, a polars expression over the points table of `scan` (any column,
    `arch` included), selects points before anything is exploded. The result is collected
    with polars' streaming engine, so a dataset larger than memory works as long as the result
    fits; `lazy=True` returns the `LazyFrame` instead (sink it to a file with `sink_parquet`).

    `columns` are per-time lists: `loss`, `kernel_distance`, `phase` (the phase index of each
    time, for multi-phase protocols; times are absolute), `singular_values` and `task_losses`
    (a list per time), `sim_loss` (the overlay simulation of `closed-form+…` methods). A
    column a point does not have (`singular_values` not recorded, `task_losses` of a
    single-task kind, `sim_loss` of another method or after a diverged simulation stopped) is
    null at those times. Per-phase columns (`phase_*`, `forgetting*`) and the QQᵀ checkpoints
    are refused with a `ValueError` saying where to get them. Points without per-time series
    (`record.per_time = false`) have no row. Rows come in no particular order.

    >>> import lazyrich, polars as pl
    >>> tidy = lazyrich.series("results/quickstart", ["loss", "kernel_distance"],
    ...                        where=pl.col("status") == "ok")
    >>> tidy.columns
    ['point_id', 'arch', 'lambda', 'scale', 'replicate', 't', 'loss', 'kernel_distance']
    >>> tidy.height   # 750 points that are ok, 50 times each
    37500
    """
    names = [c for c in _names(columns, "columns") if c != "t"]
    _check_columns(names)
    lf = scan(path)
    schema = lf.collect_schema()
    key_names = [k for k in _names(keys, "keys") if k != "point_id"]
    _check_keys(key_names, schema)
    if where is not None:
        lf = lf.filter(where)
    tidy = (
        lf.filter(pl.col("t").list.len() > 0)
        .select("point_id", *key_names, "t", *[_aligned(c) for c in names])
        .explode(["t", *names])
    )
    return tidy if lazy else tidy.collect(engine="streaming")
