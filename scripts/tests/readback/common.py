"""Check bookkeeping, the documented column list and the layout check shared by every reader.

Nothing here imports a reader library at module level; the reader modules (``pyarrow_reader``,
``polars_reader``, ``pandas_reader``, ``duckdb_reader``, ``same_as``) import this module, never
each other.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import traceback
from typing import Any, Callable

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
DATASET_DOC = REPO_ROOT / "docs" / "dataset.md"

#: The columns of docs/dataset.md (schema version 4), in file order: (name, type, nullable).
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
    ("lambdas", "list<f64>", False),
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
    ("balance_defect", "f64", True),
    ("balance_entry_defect", "f64", True),
    # summaries
    ("t_end", "f64", True),
    ("initial_loss", "f64", True),
    ("final_loss", "f64", True),
    ("t90", "f64", True),
    ("escape_time", "f64", True),
    ("kernel_distance_end", "f64", True),
    ("balance_drift", "f64", True),
    ("tolerance", "f64", True),
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
#: Numeric scalar columns: never NaN or infinite, whatever the status (a non-finite value is null).
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
#: Float list columns (any depth): never NaN or infinite, whatever the status.
FLOAT_LISTS = [name for name, ty, _ in COLUMNS if ty.startswith("list<") and "f64" in ty]
STATUSES = {
    "ok", "singular", "rank_deficient_task", "beyond_validity", "diverged", "overflow",
    "inaccurate", "invalid", "panic",
}
FOOTER_KEYS = [
    "lazyrich.spec_text",
    "lazyrich.spec_hash",
    "lazyrich.shard",
    "lazyrich.schema_version",
    "lazyrich.created",
    "lazyrich.lazyrich_version",
    "lazyrich.git_commit",
    "lazyrich.content_xxh3",
    "lazyrich.content_rows",
]
MANIFEST_KEYS = {"spec_name", "spec_hash", "schema_version", "created"}
SCHEMA_VERSION = 4
PART_NAME = re.compile(r"^part-(?:s(\d{4})of(\d{4})|merged)-(\d{6})\.parquet$")
TASK_DIR = re.compile(r"^task=([A-Za-z0-9_.-]+)$")
TASK_IN_PATH = re.compile(r"task=([^/\\]+)[/\\][^/\\]+\.parquet$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


# ----------------------------------------------------------------------------------------------
# Check bookkeeping
# ----------------------------------------------------------------------------------------------


class CheckFailed(Exception):
    """A check's condition does not hold; the message says what was found."""


def require(condition: object, message: str) -> None:
    """Raises CheckFailed with `message` unless `condition` is true."""
    if not condition:
        raise CheckFailed(message)


class Runner:
    """Runs checks, prints one line per check (failures only when quiet) and counts them."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.passed = 0
        self.failed = 0

    def check(self, name: str, func: Callable[..., Any], *args: Any) -> bool:
        """Runs one check; an exception of any kind is a failure with its message.

        `func` returns an optional detail shown after the name; returns whether it passed.
        """
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


@dataclasses.dataclass
class DatasetState:
    """What the layout and footer checks learn about a dataset, for the checks after them."""

    #: `_lazyrich/manifest.json`, set once the layout check has read it.
    manifest: dict[str, Any] | None = None
    #: `_lazyrich/spec.toml`, as text.
    spec_text: str | None = None
    #: Sum of the footer row counts of every part file, set by the footer check.
    footer_rows: int | None = None


# ----------------------------------------------------------------------------------------------
# Docs and layout
# ----------------------------------------------------------------------------------------------


def doc_columns() -> list[tuple[str, str, bool]]:
    """(name, type, nullable) of the column tables of docs/dataset.md, in order."""
    text = DATASET_DOC.read_text()
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        m = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|\s*([a-z0-9<>?]+?)(\??)\s*\|", line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3) == "?"))
    return out


def check_doc_columns() -> str:
    """docs/dataset.md's column tables list exactly COLUMNS, in order."""
    found = doc_columns()
    require(found == COLUMNS,
            "docs/dataset.md and readback COLUMNS (scripts/tests/readback/common.py) differ: "
            f"only in doc {sorted(set(found) - set(COLUMNS))}, "
            f"only here {sorted(set(COLUMNS) - set(found))}"
            + ("" if set(found) != set(COLUMNS) else " (order differs)"))
    return f"{len(found)} columns"


def part_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Every part file of the dataset at `root`, sorted by path."""
    return sorted((root / "points").glob("**/*.parquet"))


def check_layout(root: pathlib.Path, state: DatasetState) -> str:
    """Manifest keys and values, the spec file, part file names, no leftover temporary file."""
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
    state.manifest = manifest
    state.spec_text = (meta_dir / "spec.toml").read_text()
    files = part_files(root)
    require(files, "no part file under points/")
    for f in files:
        rel = f.relative_to(root / "points")
        require(len(rel.parts) == 2 and TASK_DIR.match(rel.parts[0]) and PART_NAME.match(rel.name),
                f"unexpected part file path points/{rel}")
    leftovers = list((meta_dir / "tmp").glob("*.parquet")) if (meta_dir / "tmp").is_dir() else []
    require(not leftovers, f"temporary files left after the run: {[p.name for p in leftovers]}")
    return f"{len(files)} part files, spec {manifest['spec_name']!r} hash {manifest['spec_hash']}"
