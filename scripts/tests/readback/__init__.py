"""Read a lazyrich dataset back with polars, pandas (pyarrow) and DuckDB, and check it.

This is the external contract of ``docs/dataset.md`` tested from the readers researchers use:

- layout: ``_lazyrich/manifest.json`` (keys, schema version 3), ``_lazyrich/spec.toml``, part
  file names ``points/task=<kind>/part-s<kkkk>of<NNNN>-<seq>.parquet`` or ``part-merged-<seq>``;
- pyarrow, per file: the Arrow schema is exactly the column list of docs/dataset.md (names,
  order, types, nullability), and the footer key-value metadata holds every ``lazyrich.*`` key,
  consistent with the manifest, the spec file and the file name;
- polars ``scan_parquet("DIR/points/**/*.parquet", hive_partitioning=True)``, pandas
  ``read_parquet("DIR/points")`` and DuckDB ``read_parquet('DIR/points/**/*.parquet',
  hive_partitioning=true)``, each: the expected columns with compatible types, the row count,
  unique ``point_id``, no NaN in the numeric summaries of ``status = 'ok'`` rows (polars: no NaN
  or infinity in any float of any row, whatever its status), never-null
  columns without nulls, ``t``/``phase``/``loss``/``kernel_distance`` of equal length in every
  row, the tidy per-time recipe of the docs (polars ``explode``, pandas ``explode``, DuckDB
  ``unnest``) and the Hive column ``task`` (equal to the partition directory of the row's file);
- the phase columns (polars, DuckDB): every ``phase_*`` list has ``n_phases`` entries,
  ``forgetting``/``forgetting_formula`` have ``n_phases - 1`` (in a row whose status is not
  ``ok``: one per completed phase, c <= n_phases, and max(c - 1, 0) transitions), phase
  indices are below ``n_phases``, no NaN in any float list of an ``ok`` row; and, unless
  ``--multi-phase``, every row is single-phase: ``n_phases == 1``, ``phase`` all 0, one entry
  per phase list starting at t = 0 and ending at ``t_end``, empty
  ``task_losses``/``forgetting``/``forgetting_formula``.

The expected row count is ``--expected N``, or is computed from ``--spec FILE`` by an independent
expansion of the spec (no Rust code involved) that supports specs without ``where``/``exclude``
and without parameters a point drops (see ``expected_from_spec``); ``--spec`` also gives the
expected time grid, which is then compared with every row's ``t``.

With ``--same-as OTHER``, the table must also equal that of dataset ``OTHER`` (sorted by
``point_id``, every column but ``wall_time_s`` and ``shard``, bitwise): a run split into shards,
run with another thread count or merged computes the same values.

Usage, from the repository root: ``PYTHONPATH=scripts/tests python3 -m readback DIR
(--expected N | --spec SPEC.toml) [--same-as OTHER] [--multi-phase] [-q]``.
Prints one line per check (failures only with ``-q``) and ends with the line
``readback: N passed, M failed``; exits 1 if any check failed, 2 on bad usage.

Modules: ``common`` (check bookkeeping, the documented column list, the layout check), ``spec``
(the independent spec expansion), one module per reader (``pyarrow_reader``, ``polars_reader``,
``pandas_reader``, ``duckdb_reader``), ``same_as`` (``--same-as``) and ``__main__`` (the CLI,
which calls them in that order). Every module imports only ``common``; ``__main__`` imports
them all. The reader libraries are imported inside the check functions, so ``--help`` and a
bad usage need none of them.
"""
