"""The column schema of a lazyrich dataset (docs/dataset.md, schema version 4), as polars reads
it, and the groups of columns the readers treat alike."""

from __future__ import annotations

import polars as pl

#: The newest schema version this package knows (``lazyrich_store::SCHEMA_VERSION``).
SCHEMA_VERSION = 4

_F64 = pl.Float64()
_U32 = pl.UInt32()
_U64 = pl.UInt64()
_STR = pl.String()
_CAT = pl.Categorical()
_LF64 = pl.List(pl.Float64())
_LLF64 = pl.List(pl.List(pl.Float64()))

#: Every column of the `points` table of schema version 4, in file order, with the polars type
#: `scan_parquet` gives it (`dict<utf8>` columns are categoricals). Used for the frame of a
#: dataset that has no part file yet.
POINTS_SCHEMA: dict[str, pl.DataType] = {
    "point_id": _U64,
    "seed": _U64,
    "block": _U32,
    "replicate": _U32,
    "spec_hash": _CAT,
    "schema_version": _U32,
    "lazyrich_version": _CAT,
    "git_commit": _CAT,
    "shard": _CAT,
    "lambda": _F64,
    "lambdas": _LF64,
    "lambda_ft": _F64,
    "scale": _F64,
    "depth": _U32,
    "widths": pl.List(pl.UInt32()),
    "n_in": _U32,
    "n_hidden": _U32,
    "n_out": _U32,
    "task": _CAT,
    "task_params": _STR,
    "task_samples": _U32,
    "n_phases": _U32,
    "init": _CAT,
    "method": _CAT,
    "lr": _F64,
    "dt": _F64,
    "status": _CAT,
    "error": _STR,
    "lambda_measured": _F64,
    "balance_defect": _F64,
    "balance_entry_defect": _F64,
    "t_end": _F64,
    "initial_loss": _F64,
    "final_loss": _F64,
    "t90": _F64,
    "escape_time": _F64,
    "kernel_distance_end": _F64,
    "balance_drift": _F64,
    "tolerance": _F64,
    "cf_sim_error": _F64,
    "wall_time_s": _F64,
    "t": _LF64,
    "phase": pl.List(pl.UInt32()),
    "loss": _LF64,
    "task_losses": _LLF64,
    "kernel_distance": _LF64,
    "singular_values": _LLF64,
    "sim_loss": _LF64,
    "phase_t_start": _LF64,
    "phase_t_end": _LF64,
    "phase_task_losses": _LLF64,
    "phase_t_half": _LF64,
    "phase_kernel_distance": _LF64,
    "phase_rep_change_in": _LF64,
    "phase_rep_change_out": _LF64,
    "phase_tsc_in": _LF64,
    "phase_tsc_out": _LF64,
    "forgetting": _LLF64,
    "forgetting_formula": _LLF64,
    "qqt_t": _LF64,
    "qqt": _LLF64,
}

#: Per-time lists other than `t`: one entry per time of `t` in every row that has times.
PER_TIME_REQUIRED: tuple[str, ...] = ("phase", "loss", "kernel_distance")
#: Per-time lists that are either empty or (`sim_loss` of a diverged overlay: at most) one entry
#: per time of `t`.
PER_TIME_OPTIONAL: tuple[str, ...] = ("task_losses", "singular_values", "sim_loss")
#: Every per-time list `series` can return besides `t`.
PER_TIME: tuple[str, ...] = PER_TIME_REQUIRED + PER_TIME_OPTIONAL
#: Per-phase and per-transition lists: `n_phases` (or `n_phases - 1`) entries, not one per time.
PER_PHASE: tuple[str, ...] = tuple(
    name for name in POINTS_SCHEMA if name.startswith("phase_")
) + ("forgetting", "forgetting_formula")
#: QQᵀ checkpoints: `qqt_t` times, not those of `t`.
CHECKPOINTS: tuple[str, ...] = ("qqt_t", "qqt")

#: Nullable integer columns of the schema (pandas gets them as nullable integers even when a
#: frame happens to hold no null).
NULLABLE_INTEGERS: frozenset[str] = frozenset({"task_samples"})

#: String columns converted to pandas categoricals besides the dictionary-encoded ones.
CATEGORICAL_STRINGS: frozenset[str] = frozenset({"arch"})
