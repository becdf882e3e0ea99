"""polars: `scan_parquet("DIR/points/**/*.parquet", hive_partitioning=True)` and its checks."""

from __future__ import annotations

import pathlib
from typing import Any

from .common import (FLOAT_LISTS, NAMES, NOT_NULL, PER_PHASE, PER_TIME, PER_TIME_OPTIONAL,
                     PER_TRANSITION, SCHEMA_VERSION, STATUSES, SUMMARY_F64, TASK_IN_PATH, TYPES,
                     Runner, require)


def polars_dtype_ok(dtype: Any, spelling: str) -> bool:
    """Whether a polars dtype reads a column of the documented type `spelling`."""
    import polars as pl

    if spelling.startswith("list<"):
        item = spelling[5:-1].removesuffix("?")
        return isinstance(dtype, pl.List) and polars_dtype_ok(dtype.inner, item)
    if spelling == "dict<utf8>":
        return dtype in (pl.Categorical, pl.String) or isinstance(dtype, (pl.Categorical, pl.Enum))
    return dtype == {"u64": pl.UInt64, "u32": pl.UInt32, "f64": pl.Float64, "utf8": pl.String}[spelling]


def polars_checks(run: Runner, root: pathlib.Path, expected_rows: int | None,
                  times: list[float] | None, multi_phase: bool = False,
                  manifest: dict[str, Any] | None = None) -> None:
    """The polars checks: one `scan_parquet` over the Hive layout, then the column, count,
    null/NaN, status, length, time grid, tidy recipe, partition, phase and provenance checks.

    `times`: the spec's time grid, if known; `manifest`: the dataset's, once the layout check
    has read it (enables the provenance check).
    """
    import polars as pl

    glob = str(root / "points" / "**" / "*.parquet")
    state: dict[str, Any] = {}

    def load():
        lf = pl.scan_parquet(glob, hive_partitioning=True, include_file_paths="_file")
        state["df"] = lf.collect()
        return f"{state['df'].height} rows, {state['df'].width - 1} columns"

    if not run.check("polars: scan_parquet(hive_partitioning=True).collect()", load):
        return
    df = state["df"]

    def columns():
        names = [c for c in df.columns if c != "_file"]
        require(sorted(names) == sorted(NAMES),
                f"missing {sorted(set(NAMES) - set(names))}, extra {sorted(set(names) - set(NAMES))}")
        bad = [f"{c}: {df.schema[c]} (expected {TYPES[c]})" for c in NAMES
               if not polars_dtype_ok(df.schema[c], TYPES[c])]
        require(not bad, "; ".join(bad))
        return f"{len(names)} columns with the documented types"

    def count():
        require(df.height == expected_rows, f"{df.height} rows, expected {expected_rows}")
        return f"{df.height} rows"

    def unique_ids():
        n = df["point_id"].n_unique()
        require(n == df.height, f"{df.height - n} duplicate point_id values")
        return None

    def not_null():
        bad = {c: df[c].null_count() for c in NOT_NULL if df[c].null_count()}
        require(not bad, f"nulls in never-null columns: {bad}")

    def no_nan():
        # Every float of every row is finite, whatever its status (docs/dataset.md "Statuses").
        ok = df.filter(pl.col("status").cast(pl.String) == "ok")
        bad = {c: df[c].is_nan().sum() for c in SUMMARY_F64 if df[c].is_nan().sum()}
        require(not bad, f"NaN in summaries: {bad}")
        inf = {c: df[c].is_infinite().sum() for c in SUMMARY_F64 if df[c].is_infinite().sum()}
        require(not inf, f"infinite values in summaries: {inf}")
        for c in ("loss", "kernel_distance"):
            n = ok.select(pl.col(c).list.eval(pl.element().is_nan().not_()).list.all().not_().sum()).item()
            require(n == 0, f"{n} status='ok' rows with NaN in {c}")
        nan = {}
        for c in FLOAT_LISTS:
            values = df[c]
            while isinstance(values.dtype, pl.List):
                values = values.explode()
            n = values.is_nan().sum() + values.is_infinite().sum()
            if n:
                nan[c] = n
        require(not nan, f"NaN or infinite items in float lists (null is the missing value): {nan}")
        return f"{df.height} rows, {ok.height} ok"

    def statuses():
        values = set(df["status"].cast(pl.String).unique().to_list())
        require(values <= STATUSES, f"unknown status values {values - STATUSES}")
        errors_ok = df.filter((pl.col("status").cast(pl.String) == "ok") & pl.col("error").is_not_null()).height
        errors_missing = df.filter((pl.col("status").cast(pl.String) != "ok") & pl.col("error").is_null()).height
        require(errors_ok == 0, f"{errors_ok} ok rows carry an error message")
        require(errors_missing == 0, f"{errors_missing} non-ok rows lack an error message")
        counts = df["status"].cast(pl.String).value_counts().sort("status")
        return ", ".join(f"{s}={n}" for s, n in counts.iter_rows())

    def equal_lengths():
        lens = df.select([pl.col(c).list.len().alias(c) for c in PER_TIME + PER_TIME_OPTIONAL])
        for c in PER_TIME[1:]:
            n = lens.filter(pl.col(c) != pl.col("t")).height
            require(n == 0, f"{n} rows where len({c}) != len(t)")
        stopped = df["status"].cast(pl.String) != "ok"
        for c in PER_TIME_OPTIONAL:
            # A diverged overlay stops early: sim_loss may be shorter than t when status != ok.
            short = stopped & (lens[c] < lens["t"]) if c == "sim_loss" else pl.lit(False)
            n = lens.filter((pl.col(c) != 0) & (pl.col(c) != pl.col("t")) & ~short).height
            require(n == 0, f"{n} rows where {c} is neither empty nor of len(t)")
        return f"len(t) in [{lens['t'].min()}, {lens['t'].max()}]"

    def time_grid():
        n_times = len(times)
        # A row that stopped early (status != ok) has the times it computed: a prefix of the grid.
        lens = df["t"].list.len()
        stopped = df["status"].cast(pl.String) != "ok"
        require(((lens == n_times) | (lens == 0) | (stopped & (lens < n_times))).all(),
                f"len(t) not in {{0, {n_times}}} in an ok row")
        full = df.filter(pl.col("t").list.len() > 0)
        for row in full.select("t").head(50).iter_rows():
            got = row[0]
            require(all(abs(a - b) <= 1e-12 * max(abs(b), 1e-300) for a, b in zip(got, times)),
                    f"t = {got[:3]}… differs from the spec's grid {times[:3]}…")
        t_end = full.filter(pl.col("t_end") != pl.col("t").list.last()).height
        require(t_end == 0, f"{t_end} rows where t_end != last t")
        return f"{n_times} times"

    def explode():
        tidy = (
            pl.scan_parquet(glob, hive_partitioning=True)
            .filter(pl.col("t").list.len() > 0)
            .select("point_id", "lambda", "scale", "t", "loss", "kernel_distance")
            .explode(["t", "loss", "kernel_distance"])
            .collect()
        )
        want = int(df["t"].list.len().sum())
        require(tidy.height == want, f"explode gave {tidy.height} rows, expected {want}")
        for c in ("t", "loss", "kernel_distance"):
            require(tidy.schema[c] == pl.Float64, f"exploded {c} is {tidy.schema[c]}")
        return f"{tidy.height} (point, time) rows"

    def hive_task():
        from_path = df["_file"].str.extract(TASK_IN_PATH.pattern, 1)
        require(from_path.null_count() == 0, "a file path without task=<kind>")
        n = (df["task"].cast(pl.String) != from_path).sum()
        require(n == 0, f"{n} rows whose task differs from their partition directory")
        pruned = (
            pl.scan_parquet(glob, hive_partitioning=True)
            .filter(pl.col("task").cast(pl.String) == df["task"].cast(pl.String)[0])
            .select(pl.len())
            .collect()
            .item()
        )
        want = (df["task"].cast(pl.String) == df["task"].cast(pl.String)[0]).sum()
        require(pruned == want, f"filter on task gave {pruned} rows, expected {want}")
        return ", ".join(sorted(set(from_path.to_list())))

    def provenance(manifest):
        hashes = set(df["spec_hash"].cast(pl.String).unique().to_list())
        require(hashes == {manifest["spec_hash"]}, f"spec_hash values {hashes}")
        versions = set(df["schema_version"].unique().to_list())
        require(versions == {SCHEMA_VERSION}, f"schema_version values {versions}")
        n = df.filter(pl.col("widths").list.len() != pl.col("depth") + 1).height
        require(n == 0, f"{n} rows where len(widths) != depth + 1")
        n = df.filter((pl.col("widths").list.first() != pl.col("n_in"))
                      | (pl.col("widths").list.last() != pl.col("n_out"))).height
        require(n == 0, f"{n} rows where widths do not start with n_in and end with n_out")

    not_ok = pl.col("status").cast(pl.String) != "ok"

    def phases():
        n = df.filter(pl.col("n_phases") < 1).height
        require(n == 0, f"{n} rows with n_phases < 1")
        # A degenerate row has the summaries of the phases it completed (c <= n_phases) and
        # max(c - 1, 0) transitions.
        completed = pl.col("phase_t_end").list.len().cast(pl.Int64)
        partial = not_ok & (completed <= pl.col("n_phases"))
        for c in PER_PHASE:
            bad = (pl.col(c).list.len() != pl.col("n_phases")) & ~(partial & (pl.col(c).list.len() == completed))
            n = df.filter(bad).height
            require(n == 0, f"{n} rows where len({c}) != n_phases")
        for c in PER_TRANSITION:
            transitions = pl.max_horizontal(completed - 1, pl.lit(0))
            bad = (pl.col(c).list.len() != pl.col("n_phases") - 1) & ~(partial & (pl.col(c).list.len() == transitions))
            n = df.filter(bad).height
            require(n == 0, f"{n} rows where len({c}) != n_phases - 1")
        tidy = (df.filter(pl.col("phase").list.len() > 0)
                .select("point_id", "n_phases", "phase").explode("phase"))
        n = tidy.filter(pl.col("phase") >= pl.col("n_phases")).height
        require(n == 0, f"{n} (point, time) rows whose phase index is not below n_phases")
        counts = df["n_phases"].value_counts().sort("n_phases")
        return ", ".join(f"n_phases={k}: {v} rows" for k, v in counts.iter_rows())

    def single_phase():
        n = df.filter(pl.col("n_phases") != 1).height
        require(n == 0, f"{n} rows with n_phases != 1 (pass --multi-phase for multi-phase specs)")
        n = df.filter(pl.col("phase").list.len() != pl.col("t").list.len()).height
        require(n == 0, f"{n} rows where len(phase) != len(t)")
        n = df.filter(pl.col("phase").list.eval(pl.element() != 0).list.any()).height
        require(n == 0, f"{n} single-phase rows with a phase index other than 0")
        n = df.filter((pl.col("phase_t_end").list.len() != 1)
                      & ~(not_ok & (pl.col("phase_t_end").list.len() == 0))).height
        require(n == 0, f"{n} rows where len(phase_t_end) != 1")
        ok = df.filter(~not_ok)
        n = ok.filter((pl.col("phase_t_start").list.first() != 0.0)
                      | (pl.col("phase_t_end").list.first() != pl.col("t_end"))).height
        require(n == 0, f"{n} ok rows whose only phase is not [0, t_end]")
        for c in ["task_losses"] + PER_TRANSITION:
            n = df.filter(pl.col(c).list.len() != 0).height
            require(n == 0, f"{n} single-phase rows with a non-empty {c}")
        n = df.filter(pl.col("lambda_ft").is_not_null() | pl.col("escape_time").is_not_null()).height
        require(n == 0, f"{n} single-phase rows with lambda_ft or escape_time set")
        return f"{df.height} rows"

    run.check("polars: documented columns and types", columns)
    if expected_rows is not None:
        run.check("polars: row count", count)
    run.check("polars: point_id unique", unique_ids)
    run.check("polars: no nulls in never-null columns", not_null)
    run.check("polars: no NaN/inf in numeric summaries where status = 'ok'", no_nan)
    run.check("polars: status values and error messages", statuses)
    run.check("polars: t/phase/loss/kernel_distance of equal length per row", equal_lengths)
    if times is not None:
        run.check("polars: t equals the spec's time grid", time_grid)
    run.check("polars: explode(['t','loss','kernel_distance']) (tidy recipe)", explode)
    run.check("polars: hive column task matches the partition directory", hive_task)
    run.check("polars: phase lists of n_phases entries, transitions of n_phases - 1", phases)
    if not multi_phase:
        run.check("polars: every row single-phase (n_phases = 1, len(phase) = len(t), "
                  "len(phase_t_end) = 1)", single_phase)
    if manifest is not None:
        run.check("polars: spec_hash, schema_version, widths consistent", provenance, manifest)

