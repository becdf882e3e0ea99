"""DuckDB: `read_parquet('DIR/points/**/*.parquet', hive_partitioning=true)` and its checks."""

from __future__ import annotations

import pathlib
from typing import Any

from .common import (FOOTER_KEYS, NAMES, NOT_NULL, PER_PHASE, PER_TRANSITION, SUMMARY_F64, TYPES,
                     Runner, require)

#: The DuckDB type of each docs/dataset.md type spelling.
DUCKDB_TYPES = {"u64": "UBIGINT", "u32": "UINTEGER", "f64": "DOUBLE", "utf8": "VARCHAR",
                "dict<utf8>": "VARCHAR", "list<u32>": "UINTEGER[]", "list<f64>": "DOUBLE[]",
                "list<f64?>": "DOUBLE[]", "list<list<f64>>": "DOUBLE[][]"}


def duckdb_checks(run: Runner, root: pathlib.Path, expected_rows: int | None,
                  multi_phase: bool = False) -> None:
    """The DuckDB checks on a view over `read_parquet(..., hive_partitioning=true)`: columns and
    types, count, ids, NaN and nulls, list lengths, phases, `unnest`, the Hive column, footers."""
    import duckdb

    con = duckdb.connect()
    glob = str(root / "points" / "**" / "*.parquet").replace("'", "''")
    src = f"read_parquet('{glob}', hive_partitioning=true, filename=true)"
    con.execute(f"create view points as select * from {src}")

    def q(sql: str) -> list[Any]:
        return con.execute(sql).fetchall()

    def columns():
        desc = {name: ty for name, ty, *_ in q("describe points")}
        desc.pop("filename", None)
        require(sorted(desc) == sorted(NAMES),
                f"missing {sorted(set(NAMES) - set(desc))}, extra {sorted(set(desc) - set(NAMES))}")
        bad = [f"{c}: {desc[c]} (expected {DUCKDB_TYPES[TYPES[c]]})" for c in NAMES
               if desc[c] != DUCKDB_TYPES[TYPES[c]]]
        require(not bad, "; ".join(bad))
        return f"{len(desc)} columns"

    if not run.check("duckdb: read_parquet(hive_partitioning=true), documented columns and types", columns):
        return

    def count():
        (n,), = q("select count(*) from points")
        require(n == expected_rows, f"{n} rows, expected {expected_rows}")
        return f"{n} rows"

    def unique_ids():
        (n, d), = q("select count(*), count(distinct point_id) from points")
        require(n == d, f"{n - d} duplicate point_id values")

    def no_nan():
        exprs = ", ".join(f'count(*) filter (where isnan("{c}"))' for c in SUMMARY_F64)
        counts = q(f"select {exprs} from points where status = 'ok'")[0]
        bad = {c: n for c, n in zip(SUMMARY_F64, counts) if n}
        require(not bad, f"NaN in status='ok' rows: {bad}")
        nulls = ", ".join(f'count(*) filter (where "{c}" is null)' for c in NOT_NULL)
        counts = q(f"select {nulls} from points")[0]
        bad = {c: n for c, n in zip(NOT_NULL, counts) if n}
        require(not bad, f"nulls in never-null columns: {bad}")

    def equal_lengths():
        (n,), = q("select count(*) from points where len(loss) != len(t) or len(kernel_distance) != len(t) "
                  "or len(phase) != len(t)")
        require(n == 0, f"{n} rows with lists of unequal length")

    def phases():
        # A degenerate row has the summaries of the phases it completed and one transition fewer.
        partial = "(status != 'ok' and len(phase_t_end) <= n_phases and len({c}) = {n})"
        per_phase = " or ".join(
            f"(len({c}) != n_phases and not {partial.format(c=c, n='len(phase_t_end)')})"
            for c in PER_PHASE)
        per_transition = " or ".join(
            f"(len({c}) != n_phases - 1 and not "
            f"{partial.format(c=c, n='greatest(len(phase_t_end) - 1, 0)')})"
            for c in PER_TRANSITION)
        (n,), = q(f"select count(*) from points where {per_phase} or {per_transition}")
        require(n == 0, f"{n} rows whose phase or transition lists do not match n_phases")
        if not multi_phase:
            (n,), = q("select count(*) from points where n_phases != 1 or len(phase) != len(t) "
                      "or len(phase_t_end) > 1 or (status = 'ok' and len(phase_t_end) != 1) "
                      "or list_max(phase) != 0 or len(task_losses) != 0 or len(forgetting) != 0")
            require(n == 0, f"{n} rows that are not single-phase")
        (n,), = q("select count(*) from (select unnest(phase_t_half) as h from points "
                  "where status = 'ok') where isnan(h)")
        require(n == 0, f"{n} NaN items in phase_t_half")

    def unnest():
        (n,), = q("select count(*) from (select point_id, unnest(t) as t, unnest(loss) as loss, "
                  "unnest(kernel_distance) as kd from points)")
        (want,), = q("select coalesce(sum(len(t)), 0) from points")
        require(n == want, f"unnest gave {n} rows, expected {want}")
        return f"{n} (point, time) rows"

    def hive_task():
        (n,), = q("select count(*) from points where task != regexp_extract(filename, 'task=([^/\\\\]+)', 1)")
        require(n == 0, f"{n} rows whose task differs from their partition directory")
        return ", ".join(r[0] for r in q("select distinct task from points order by 1"))

    def footer():
        rows = q(f"select file_name, decode(key), decode(value) from parquet_kv_metadata('{glob}')")
        keys = {}
        for file_name, key, _ in rows:
            keys.setdefault(file_name, set()).add(key)
        missing = {f: set(FOOTER_KEYS) - k for f, k in keys.items() if set(FOOTER_KEYS) - k}
        require(keys and not missing, f"footer keys missing: {missing or 'no file'}")
        return f"{len(keys)} files"

    if expected_rows is not None:
        run.check("duckdb: row count", count)
    run.check("duckdb: point_id unique", unique_ids)
    run.check("duckdb: no NaN where status = 'ok', no nulls in never-null columns", no_nan)
    run.check("duckdb: t/phase/loss/kernel_distance of equal length per row", equal_lengths)
    run.check("duckdb: phase and transition lists match n_phases"
              + ("" if multi_phase else "; single-phase rows"), phases)
    run.check("duckdb: unnest(t), unnest(loss) (tidy recipe)", unnest)
    run.check("duckdb: hive column task matches the partition directory", hive_task)
    run.check("duckdb: parquet_kv_metadata has the footer keys", footer)

