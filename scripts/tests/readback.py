# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "pandas>=2.0", "pyarrow>=14", "duckdb>=1.0", "numpy>=1.24"]
# ///
"""Read a lazyrich dataset back with polars, pandas (pyarrow) and DuckDB, and check it.

This is the external contract of ``docs/dataset.md`` tested from the readers researchers use:

- layout: ``_lazyrich/manifest.json`` (keys, schema version 2), ``_lazyrich/spec.toml``, part
  file names ``points/task=<kind>/part-s<kkkk>of<NNNN>-<seq>.parquet`` or ``part-merged-<seq>``;
- pyarrow, per file: the Arrow schema is exactly the column list of docs/dataset.md (names,
  order, types, nullability), and the footer key-value metadata holds every ``lazyrich.*`` key,
  consistent with the manifest, the spec file and the file name;
- polars ``scan_parquet("DIR/points/**/*.parquet", hive_partitioning=True)``, pandas
  ``read_parquet("DIR/points")`` and DuckDB ``read_parquet('DIR/points/**/*.parquet',
  hive_partitioning=true)``, each: the expected columns with compatible types, the row count,
  unique ``point_id``, no NaN in the numeric summaries of ``status = 'ok'`` rows, never-null
  columns without nulls, ``t``/``phase``/``loss``/``kernel_distance`` of equal length in every
  row, the tidy per-time recipe of the docs (polars ``explode``, pandas ``explode``, DuckDB
  ``unnest``) and the Hive column ``task`` (equal to the partition directory of the row's file);
- the phase columns (polars, DuckDB): every ``phase_*`` list has ``n_phases`` entries,
  ``forgetting``/``forgetting_formula`` have ``n_phases - 1`` (in a row whose status is not
  ``ok``: one per completed phase, c <= n_phases, and max(c - 1, 0) transitions), phase indices are below ``n_phases``, no NaN in any float list of an
  ``ok`` row; and, unless ``--multi-phase``, every row is
  single-phase: ``n_phases == 1``, ``phase`` all 0, one entry per phase list starting at t = 0
  and ending at ``t_end``, empty ``task_losses``/``forgetting``/``forgetting_formula``.

The expected row count is ``--expected N``, or is computed from ``--spec FILE`` by an independent
expansion of the spec (no Rust code involved) that supports specs without ``where``/``exclude``
and without parameters a point drops (see ``expected_from_spec``); ``--spec`` also gives the
expected time grid, which is then compared with every row's ``t``.

With ``--same-as OTHER``, the table must also equal that of dataset ``OTHER`` (sorted by
``point_id``, every column but ``wall_time_s`` and ``shard``, bitwise): a run split into shards,
run with another thread count or merged computes the same values.

Usage: ``python3 scripts/tests/readback.py DIR (--expected N | --spec SPEC.toml)
[--same-as OTHER] [--multi-phase] [-q]``.
Prints one line per check (failures only with ``-q``) and ends with the line
``readback: N passed, M failed``; exits 1 if any check failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import re
import sys
import tomllib
import traceback

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DATASET_DOC = REPO_ROOT / "docs" / "dataset.md"

#: The columns of docs/dataset.md (schema version 2), in file order: (name, type, nullable).
#: Types are the doc's spellings (`list<f64?>`: nullable items). `check_doc_columns` compares
#: this list with the doc's tables.
COLUMNS: list[tuple[str, str, bool]] = [
    # identity and provenance
    ("point_id", "u64", False),
    ("seed", "u64", False),
    ("block", "u32", False),
    ("replicate", "u32", False),
    ("spec_hash", "dict<utf8>", False),
    ("schema_version", "u32", False),
    ("lazyrich_version", "dict<utf8>", False),
    ("git_commit", "dict<utf8>", False),
    ("shard", "dict<utf8>", False),
    # parameters
    ("lambda", "f64", True),
    ("lambda_ft", "f64", True),
    ("scale", "f64", True),
    ("depth", "u32", False),
    ("widths", "list<u32>", False),
    ("n_in", "u32", False),
    ("n_hidden", "u32", False),
    ("n_out", "u32", False),
    ("task", "dict<utf8>", False),
    ("task_params", "utf8", False),
    ("task_samples", "u32", True),
    ("n_phases", "u32", False),
    ("init", "dict<utf8>", False),
    ("method", "dict<utf8>", False),
    ("lr", "f64", True),
    ("dt", "f64", True),
    # outcome
    ("status", "dict<utf8>", False),
    ("error", "utf8", True),
    ("lambda_measured", "f64", True),
    # summaries
    ("t_end", "f64", False),
    ("initial_loss", "f64", True),
    ("final_loss", "f64", True),
    ("t90", "f64", True),
    ("escape_time", "f64", True),
    ("kernel_distance_end", "f64", True),
    ("balance_drift", "f64", True),
    ("cf_sim_error", "f64", True),
    ("wall_time_s", "f64", False),
    # per time
    ("t", "list<f64>", False),
    ("phase", "list<u32>", False),
    ("loss", "list<f64>", False),
    ("task_losses", "list<list<f64>>", False),
    ("kernel_distance", "list<f64>", False),
    ("singular_values", "list<list<f64>>", False),
    ("sim_loss", "list<f64>", False),
    # per phase
    ("phase_t_start", "list<f64>", False),
    ("phase_t_end", "list<f64>", False),
    ("phase_task_losses", "list<list<f64>>", False),
    ("phase_t_half", "list<f64?>", False),
    ("phase_kernel_distance", "list<f64>", False),
    ("phase_rep_change_in", "list<f64>", False),
    ("phase_rep_change_out", "list<f64>", False),
    ("phase_tsc_in", "list<f64>", False),
    ("phase_tsc_out", "list<f64>", False),
    # per phase transition
    ("forgetting", "list<list<f64>>", False),
    ("forgetting_formula", "list<list<f64>>", False),
    # checkpoints
    ("qqt_t", "list<f64>", False),
    ("qqt", "list<list<f64>>", False),
]
NAMES = [name for name, _, _ in COLUMNS]
TYPES = {name: ty for name, ty, _ in COLUMNS}
NULLABLE = {name: nullable for name, _, nullable in COLUMNS}
NOT_NULL = [name for name, _, nullable in COLUMNS if not nullable]
#: Numeric scalar columns that must not be NaN in a row whose status is "ok".
SUMMARY_F64 = [name for name, ty, _ in COLUMNS if ty == "f64"]
#: Per-time lists that have one entry per time of `t` (or are all empty).
PER_TIME = ["t", "phase", "loss", "kernel_distance"]
#: Per-time lists that are either empty or of one entry per time of `t`.
PER_TIME_OPTIONAL = ["task_losses", "singular_values", "sim_loss"]
#: Per-phase lists: `n_phases` entries in every row (a degenerate row: one per completed phase).
PER_PHASE = [name for name, _, _ in COLUMNS if name.startswith("phase_")]
#: Per-transition lists: `n_phases - 1` entries in every row (a degenerate row: one fewer than
#: its completed phases, or none).
PER_TRANSITION = ["forgetting", "forgetting_formula"]
#: Float list columns (any depth): never NaN in a row whose status is "ok".
FLOAT_LISTS = [name for name, ty, _ in COLUMNS if ty.startswith("list<") and "f64" in ty]
STATUSES = {"ok", "singular", "rank_deficient_task", "beyond_validity", "diverged", "invalid"}
FOOTER_KEYS = [
    "lazyrich.spec_text",
    "lazyrich.spec_hash",
    "lazyrich.shard",
    "lazyrich.schema_version",
    "lazyrich.created",
    "lazyrich.lazyrich_version",
    "lazyrich.git_commit",
]
MANIFEST_KEYS = {"spec_name", "spec_hash", "schema_version", "created"}
SCHEMA_VERSION = 2
PART_NAME = re.compile(r"^part-(?:s(\d{4})of(\d{4})|merged)-(\d{6})\.parquet$")
TASK_DIR = re.compile(r"^task=([A-Za-z0-9_.-]+)$")
TASK_IN_PATH = re.compile(r"task=([^/\\]+)[/\\][^/\\]+\.parquet$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


# ----------------------------------------------------------------------------------------------
# Check bookkeeping
# ----------------------------------------------------------------------------------------------


class CheckFailed(Exception):
    """A check's condition does not hold; the message says what was found."""


def require(condition, message):
    if not condition:
        raise CheckFailed(message)


class Runner:
    def __init__(self, quiet):
        self.quiet = quiet
        self.passed = 0
        self.failed = 0

    def check(self, name, func, *args):
        """Runs one check; an exception of any kind is a failure with its message."""
        try:
            detail = func(*args)
        except CheckFailed as err:
            self.failed += 1
            print(f"FAIL {name}: {err}", flush=True)
            return False
        except Exception as err:  # noqa: BLE001 - a reader crashing is a failed check
            self.failed += 1
            last = traceback.format_exception_only(type(err), err)[-1].strip()
            print(f"FAIL {name}: {last}", flush=True)
            return False
        self.passed += 1
        if not self.quiet:
            print(f"ok   {name}" + (f": {detail}" if detail else ""), flush=True)
        return True


# ----------------------------------------------------------------------------------------------
# Expected count and time grid from a spec (independent of the Rust implementation)
# ----------------------------------------------------------------------------------------------


class UnsupportedSpec(ValueError):
    """The spec uses a feature the independent expansion does not model."""


def grid_values(value, field):
    """Values of an axis or time field: a scalar, a list or a grid object (docs/spec.md)."""
    if isinstance(value, dict):
        require(len(value) == 1, f"{field}: a grid object has exactly one key")
        (kind, args), = value.items()
        if kind == "linspace":
            start, stop, num = args
            if num == 1:
                return [float(start)]
            return [float(stop) if i == num - 1 else start + i * (stop - start) / (num - 1)
                    for i in range(num)]
        if kind == "logspace":
            return [10.0 ** x for x in grid_values({"linspace": args}, field)]
        if kind == "range":
            start, stop, step = args
            out, i = [], 0
            while True:
                x = start + i * step
                if (step > 0 and x >= stop - 1e-9 * abs(step)) or (
                        step < 0 and x <= stop + 1e-9 * abs(step)):
                    return out
                out.append(float(x))
                i += 1
        raise UnsupportedSpec(f"{field}: unknown grid kind {kind!r}")
    if isinstance(value, list):
        return list(value)
    return [value]


def axis_length(name, value):
    if name == "widths":
        return len(value) if value and isinstance(value[0], list) else 1
    if name == "task":
        return len(value) if isinstance(value, list) else 1
    if name == "replicates":
        return int(value)
    return len(grid_values(value, name))


def expected_from_spec(path):
    """(number of points, time grid of every point or None if blocks differ) of a spec file.

    Independent re-expansion for the read-back test: the product of the axis lengths of each
    block (a zip group counting once), summed over blocks. Refuses (UnsupportedSpec) what it does
    not model: `where`/`exclude` filters, and values a point drops (λ of gaussian/lecun inits,
    scale of lecun, lr without gd, dt without rk4), which make duplicate ids the runner dedupes.
    """
    spec = tomllib.loads(pathlib.Path(path).read_text())
    defaults = spec.get("defaults", {})
    total, grids = 0, []
    for index, raw in enumerate(spec["block"]):
        block = {**defaults, **raw}
        if "where" in block or "exclude" in block:
            raise UnsupportedSpec(f"block[{index}] has filters: pass --expected instead")
        inits = grid_values(block.get("init", []), "init")
        methods = grid_values(block.get("method", []), "method")
        dropped = {
            "lambda": any(i in ("gaussian", "lecun") for i in inits),
            "scale": "lecun" in inits,
            "lr": any("gd" not in m for m in methods),
            "dt": any("rk4" not in m for m in methods),
        }
        axes = {}
        for name in ("lambda", "scale", "lr", "dt", "widths", "task", "init", "method"):
            if name in block:
                axes[name] = axis_length(name, block[name])
        axes["replicate"] = int(block.get("replicates", 1))
        for name, drops in dropped.items():
            if drops and axes.get(name, 1) > 1:
                raise UnsupportedSpec(f"block[{index}]: some points drop `{name}`: pass --expected")
        for group in block.get("zip", []):
            lengths = {axes[name] for name in group}
            if len(lengths) != 1:
                raise UnsupportedSpec(f"block[{index}]: zip of unequal axes {group}")
            for name in group[1:]:
                axes[name] = 1
        total += math.prod(axes.values())
        grids.append(grid_values(block["time"], "time"))
    same = all(len(g) == len(grids[0]) and all(a == b for a, b in zip(g, grids[0])) for g in grids)
    return total, (grids[0] if same else None)


# ----------------------------------------------------------------------------------------------
# Layout, docs and pyarrow (per file)
# ----------------------------------------------------------------------------------------------


def doc_columns():
    """(name, type, nullable) of the column tables of docs/dataset.md, in order."""
    text = DATASET_DOC.read_text()
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        m = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|\s*([a-z0-9<>?]+?)(\??)\s*\|", line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3) == "?"))
    return out


def check_doc_columns():
    found = doc_columns()
    require(found == COLUMNS,
            "docs/dataset.md and readback.py COLUMNS differ: "
            f"only in doc {sorted(set(found) - set(COLUMNS))}, "
            f"only here {sorted(set(COLUMNS) - set(found))}"
            + ("" if set(found) != set(COLUMNS) else " (order differs)"))
    return f"{len(found)} columns"


def part_files(root):
    return sorted((root / "points").glob("**/*.parquet"))


def check_layout(root, state):
    meta_dir = root / "_lazyrich"
    manifest = json.loads((meta_dir / "manifest.json").read_text())
    require(MANIFEST_KEYS <= set(manifest), f"manifest.json lacks {MANIFEST_KEYS - set(manifest)}")
    require(manifest["schema_version"] == SCHEMA_VERSION,
            f"manifest schema_version {manifest['schema_version']!r}, expected {SCHEMA_VERSION}")
    require(re.fullmatch(r"[0-9a-f]{16}", str(manifest["spec_hash"])),
            f"manifest spec_hash {manifest['spec_hash']!r} is not 16 hex digits")
    require(RFC3339_UTC.match(str(manifest["created"])),
            f"manifest created {manifest['created']!r} is not UTC RFC 3339")
    require((meta_dir / "spec.toml").is_file(), "_lazyrich/spec.toml is missing")
    state["manifest"] = manifest
    state["spec_text"] = (meta_dir / "spec.toml").read_text()
    files = part_files(root)
    require(files, "no part file under points/")
    for f in files:
        rel = f.relative_to(root / "points")
        require(len(rel.parts) == 2 and TASK_DIR.match(rel.parts[0]) and PART_NAME.match(rel.name),
                f"unexpected part file path points/{rel}")
    leftovers = list((meta_dir / "tmp").glob("*.parquet")) if (meta_dir / "tmp").is_dir() else []
    require(not leftovers, f"temporary files left after the run: {[p.name for p in leftovers]}")
    return f"{len(files)} part files, spec {manifest['spec_name']!r} hash {manifest['spec_hash']}"


def arrow_type(spelling):
    import pyarrow as pa

    if spelling.startswith("list<") and spelling.endswith(">"):
        item = spelling[5:-1]
        nullable = item.endswith("?")
        return pa.list_(pa.field("item", arrow_type(item.removesuffix("?")), nullable=nullable))
    return {"u64": pa.uint64(), "u32": pa.uint32(), "f64": pa.float64(), "utf8": pa.string(),
            "dict<utf8>": pa.dictionary(pa.int32(), pa.string())}[spelling]


def same_arrow_type(found, expected):
    """Type equality that ignores list item names, dictionary index width and the nullability
    of list items spelled without `?` (items spelled `f64?` must be nullable)."""
    import pyarrow as pa

    if pa.types.is_list(expected):
        return (pa.types.is_list(found)
                and (found.value_field.nullable or not expected.value_field.nullable)
                and same_arrow_type(found.value_type, expected.value_type))
    if pa.types.is_dictionary(expected):
        return (pa.types.is_dictionary(found) and pa.types.is_integer(found.index_type)
                and found.value_type == expected.value_type)
    return found == expected


def check_arrow_schema(root):
    import pyarrow.parquet as pq

    for f in part_files(root):
        schema = pq.read_schema(f)
        names = list(schema.names)
        require(names == NAMES, f"{f.name}: columns {names} differ from docs/dataset.md "
                f"(missing {sorted(set(NAMES) - set(names))}, extra {sorted(set(names) - set(NAMES))})")
        for name, spelling, nullable in COLUMNS:
            field = schema.field(name)
            require(same_arrow_type(field.type, arrow_type(spelling)),
                    f"{f.name}: column {name} is {field.type}, expected {spelling}")
            require(field.nullable == nullable,
                    f"{f.name}: column {name} nullable={field.nullable}, expected {nullable}")
    return "names, order, types and nullability of every file"


def check_footer(root, state):
    import pyarrow.parquet as pq

    manifest = state["manifest"]
    rows = 0
    for f in part_files(root):
        meta = pq.read_metadata(f)
        rows += meta.num_rows
        kv = {k.decode(): v.decode() for k, v in (meta.metadata or {}).items()}
        missing = [k for k in FOOTER_KEYS if k not in kv]
        require(not missing, f"{f.name}: footer lacks {missing}")
        require(kv["lazyrich.spec_hash"] == manifest["spec_hash"],
                f"{f.name}: footer spec_hash {kv['lazyrich.spec_hash']} != manifest {manifest['spec_hash']}")
        require(kv["lazyrich.schema_version"] == str(SCHEMA_VERSION),
                f"{f.name}: footer schema_version {kv['lazyrich.schema_version']!r}")
        require(kv["lazyrich.spec_text"] == state["spec_text"],
                f"{f.name}: footer spec_text differs from _lazyrich/spec.toml")
        require(RFC3339_UTC.match(kv["lazyrich.created"]),
                f"{f.name}: footer created {kv['lazyrich.created']!r} is not UTC RFC 3339")
        require(kv["lazyrich.lazyrich_version"] and kv["lazyrich.git_commit"],
                f"{f.name}: empty lazyrich_version or git_commit in the footer")
        m = PART_NAME.match(f.name)
        if m and m.group(1) is not None:
            shard = f"{int(m.group(1))}/{int(m.group(2))}"
            require(kv["lazyrich.shard"] == shard,
                    f"{f.name}: footer shard {kv['lazyrich.shard']!r}, file name says {shard}")
        require(meta.num_rows > 0, f"{f.name}: a published part file has no rows")
    state["footer_rows"] = rows
    return f"{len(FOOTER_KEYS)} keys in every file, {rows} rows in the footers"


# ----------------------------------------------------------------------------------------------
# polars
# ----------------------------------------------------------------------------------------------


def polars_dtype_ok(dtype, spelling):
    import polars as pl

    if spelling.startswith("list<"):
        item = spelling[5:-1].removesuffix("?")
        return isinstance(dtype, pl.List) and polars_dtype_ok(dtype.inner, item)
    if spelling == "dict<utf8>":
        return dtype in (pl.Categorical, pl.String) or isinstance(dtype, (pl.Categorical, pl.Enum))
    return dtype == {"u64": pl.UInt64, "u32": pl.UInt32, "f64": pl.Float64, "utf8": pl.String}[spelling]


def polars_checks(run, root, expected_rows, times, multi_phase=False):
    import polars as pl

    glob = str(root / "points" / "**" / "*.parquet")
    state = {}

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
        ok = df.filter(pl.col("status").cast(pl.String) == "ok")
        bad = {c: ok[c].is_nan().sum() for c in SUMMARY_F64 if ok[c].is_nan().sum()}
        require(not bad, f"NaN in status='ok' rows: {bad}")
        inf = {c: ok[c].is_infinite().sum() for c in SUMMARY_F64 if ok[c].is_infinite().sum()}
        require(not inf, f"infinite values in status='ok' rows: {inf}")
        for c in ("loss", "kernel_distance"):
            n = ok.select(pl.col(c).list.eval(pl.element().is_nan().not_()).list.all().not_().sum()).item()
            require(n == 0, f"{n} status='ok' rows with NaN in {c}")
        nan = {}
        for c in FLOAT_LISTS:
            values = ok[c]
            while isinstance(values.dtype, pl.List):
                values = values.explode()
            if values.is_nan().sum():
                nan[c] = values.is_nan().sum()
        require(not nan, f"NaN items in float lists (null is the missing value): {nan}")
        return f"{ok.height} ok rows"

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
        for c in PER_TIME_OPTIONAL:
            n = lens.filter((pl.col(c) != 0) & (pl.col(c) != pl.col("t"))).height
            require(n == 0, f"{n} rows where {c} is neither empty nor of len(t)")
        return f"len(t) in [{lens['t'].min()}, {lens['t'].max()}]"

    def time_grid():
        n_times = len(times)
        lens = df["t"].list.len()
        require(((lens == n_times) | (lens == 0)).all(), f"len(t) not in {{0, {n_times}}}")
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
    if "manifest" in STATE:
        run.check("polars: spec_hash, schema_version, widths consistent", provenance, STATE["manifest"])


# ----------------------------------------------------------------------------------------------
# pandas (pyarrow engine)
# ----------------------------------------------------------------------------------------------


def pandas_checks(run, root, expected_rows):
    import numpy as np
    import pandas as pd

    state = {}

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
        tidy = full.explode(["t", "loss", "kernel_distance"])[["point_id", "t", "loss", "kernel_distance"]]
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


# ----------------------------------------------------------------------------------------------
# DuckDB
# ----------------------------------------------------------------------------------------------

DUCKDB_TYPES = {"u64": "UBIGINT", "u32": "UINTEGER", "f64": "DOUBLE", "utf8": "VARCHAR",
                "dict<utf8>": "VARCHAR", "list<u32>": "UINTEGER[]", "list<f64>": "DOUBLE[]",
                "list<f64?>": "DOUBLE[]", "list<list<f64>>": "DOUBLE[][]"}


def duckdb_checks(run, root, expected_rows, multi_phase=False):
    import duckdb

    con = duckdb.connect()
    glob = str(root / "points" / "**" / "*.parquet").replace("'", "''")
    src = f"read_parquet('{glob}', hive_partitioning=true, filename=true)"
    con.execute(f"create view points as select * from {src}")

    def q(sql):
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


# ----------------------------------------------------------------------------------------------
# Same table as another dataset (shards, threads, merge must not change any value)
# ----------------------------------------------------------------------------------------------

#: Columns that may differ between two computations of the same spec.
NOT_REPRODUCIBLE = ["wall_time_s", "shard"]


def same_as_check(run, root, other):
    import polars as pl

    def load(path):
        df = pl.read_parquet(str(path / "points" / "**" / "*.parquet"), hive_partitioning=True)
        df = df.drop(NOT_REPRODUCIBLE)
        cats = [c for c, t in df.schema.items() if isinstance(t, (pl.Categorical, pl.Enum))]
        return df.with_columns([pl.col(c).cast(pl.String) for c in cats]).sort("point_id")

    def compare():
        a, b = load(root), load(other)
        require(a.height == b.height, f"{a.height} rows here, {b.height} in {other}")
        require(a["point_id"].equals(b["point_id"]), f"the point_id sets differ from {other}")
        differ = [c for c in a.columns if not a[c].equals(b[c], check_names=True)]
        require(not differ, f"columns that differ from {other}: {differ}")
        return f"{a.height} rows, {a.width} columns bitwise equal (all but {NOT_REPRODUCIBLE})"

    run.check(f"polars: same table as {other.name} (all columns but {', '.join(NOT_REPRODUCIBLE)})",
              compare)


# ----------------------------------------------------------------------------------------------

STATE: dict = {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=pathlib.Path, help="dataset directory (holds points/ and _lazyrich/)")
    parser.add_argument("--expected", type=int, help="expected number of rows")
    parser.add_argument("--spec", type=pathlib.Path,
                        help="compute the expected rows and time grid from this spec file")
    parser.add_argument("--same-as", type=pathlib.Path, metavar="OTHER",
                        help="also require the same table as dataset OTHER (but wall_time_s, shard)")
    parser.add_argument("--multi-phase", action="store_true",
                        help="the spec has multi-phase protocols: skip the single-phase checks")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    args = parser.parse_args(argv)
    if args.expected is None and args.spec is None:
        parser.error("give --expected N or --spec FILE")
    if not (args.dir / "points").is_dir():
        print(f"readback: {args.dir}/points is not a directory", file=sys.stderr)
        print("readback: 0 passed, 1 failed")
        return 1

    times = None
    expected = args.expected
    if args.spec is not None:
        try:
            from_spec, times = expected_from_spec(args.spec)
        except UnsupportedSpec as err:
            parser.error(str(err))
        if expected is not None and expected != from_spec:
            parser.error(f"--expected {expected} but the spec expands to {from_spec} points")
        expected = from_spec

    root = args.dir.resolve()
    run = Runner(args.quiet)
    if DATASET_DOC.is_file():
        run.check("docs/dataset.md column tables match this test's column list", check_doc_columns)
    run.check("layout: manifest, spec.toml, part file names", check_layout, root, STATE)
    if "manifest" in STATE:
        run.check("pyarrow: Arrow schema of every file", check_arrow_schema, root)
        run.check("pyarrow: footer key-value metadata of every file", check_footer, root, STATE)
        if expected is not None and "footer_rows" in STATE:
            run.check("pyarrow: footer row counts add up to the expected rows",
                      lambda: require(STATE["footer_rows"] == expected,
                                      f"{STATE['footer_rows']} rows, expected {expected}"))
    polars_checks(run, root, expected, times, args.multi_phase)
    pandas_checks(run, root, expected)
    duckdb_checks(run, root, expected, args.multi_phase)
    if args.same_as is not None:
        same_as_check(run, root, args.same_as.resolve())
    print(f"readback: {run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
