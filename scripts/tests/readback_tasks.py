# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10"]
# ///
"""Read a dataset of ``sweeps/tasks.toml`` (every task kind × λ × scale) back with polars.

Checks what the protocol columns of ``docs/dataset.md`` promise, from the reader researchers use:

- one ``scan_parquet`` over the Hive layout gives the expected row count and every task kind;
- per-time lists (``t``, ``phase``, ``loss``, ``task_losses``) have equal lengths and ``t`` grows;
  per-phase lists have one entry per completed phase, ``n_phases`` of them when ``status = ok``;
- forgetting measured at convergence equals the docs/math.md §5.1 formula (``forgetting_formula``) to
  1e-8 for every continual row;
- reversal: ``status = singular`` only at λ = 0 (with the failing phase in ``error``), an
  ``escape_time`` otherwise, and the loss on −Σyx after phase 2 equals that on Σyx after phase 1;
- the tidy recipes work: per-time rows with their phase and per-task losses (``explode`` of
  ``t``, ``phase``, ``loss``, ``task_losses`` together) and per-phase rows; and the polars code
  of ``docs/dataset.md`` ("Multi-phase points") runs as written on this dataset.

Usage: ``python3 scripts/tests/readback_tasks.py DIR --expected N [-q]``. Ends with
``readback-tasks: N passed, M failed``; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import traceback

import polars as pl

KINDS = {"random", "hierarchy", "reversal", "continual", "transfer", "fine-tune"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--expected", type=int, required=True, help="expected row count")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    args = parser.parse_args()

    lf = pl.scan_parquet(f"{args.dir}/points/**/*.parquet", hive_partitioning=True)
    df = lf.collect()
    ok = df.filter(pl.col("status") == "ok")
    results: list[tuple[str, bool, str]] = []

    def check(name: str, fn) -> None:
        try:
            detail = fn()
            results.append((name, detail is None or detail is True, "" if detail in (None, True) else str(detail)))
        except Exception:  # noqa: BLE001 - report and go on
            results.append((name, False, traceback.format_exc(limit=2)))

    check("row count", lambda: df.height == args.expected or f"{df.height} rows, expected {args.expected}")
    check("unique point ids", lambda: df["point_id"].n_unique() == df.height)
    check("every task kind", lambda: set(df["task"].unique()) == KINDS or sorted(df["task"].unique()))
    check("only ok or singular", lambda: set(df["status"].unique()) <= {"ok", "singular"} or df["status"].unique().to_list())
    check(
        "singular only at λ = 0, naming the phase of multi-phase tasks",
        lambda: df.filter(pl.col("status") == "singular")
        .filter((pl.col("lambda") != 0) | ((pl.col("n_phases") > 1) & ~pl.col("error").str.contains("phase ")))
        .height
        == 0,
    )

    lengths = ok.select(
        n=pl.col("t").list.len(),
        phase=pl.col("phase").list.len(),
        loss=pl.col("loss").list.len(),
        task_losses=pl.col("task_losses").list.len(),
        phases=pl.col("phase_t_end").list.len(),
        n_phases=pl.col("n_phases"),
        multi=pl.col("n_phases") > 1,
    )
    check("per-time lists of equal length", lambda: lengths.filter((pl.col("n") != pl.col("phase")) | (pl.col("n") != pl.col("loss"))).height == 0)
    check(
        "task_losses per time for multi-phase rows, empty otherwise",
        lambda: lengths.filter(pl.col("task_losses") != pl.when(pl.col("multi")).then(pl.col("n")).otherwise(0)).height == 0,
    )
    check("one entry per phase", lambda: lengths.filter(pl.col("phases") != pl.col("n_phases")).height == 0)
    check(
        "t increases within every row",
        lambda: ok.select(bad=pl.col("t").list.eval(pl.element().diff().drop_nulls().le(0).any()).list.first())["bad"].sum() == 0,
    )

    def forgetting() -> str | bool:
        # Phases of 1000 time units have converged; the short RK4 block has not.
        # (or switch once converged to 1e-20 of their excess loss, `until`).
        converged = (pl.col("phase_t_end").list.first() >= 1000) | pl.col("task_params").str.contains("until=")
        rows = ok.filter(pl.col("task") == "continual", converged)
        rows = rows.select("forgetting", "forgetting_formula")
        flat = rows.explode(["forgetting", "forgetting_formula"]).explode(["forgetting", "forgetting_formula"])
        if flat.height == 0:
            return "no continual rows"
        worst = (flat["forgetting"] - flat["forgetting_formula"]).abs().max()
        return worst < 1e-8 or f"max |forgetting - formula| = {worst:e}"

    check("forgetting equals the formula at convergence (1e-8)", forgetting)

    def reversal() -> str | bool:
        rev = ok.filter(pl.col("task") == "reversal")
        if rev.height == 0:
            return "no reversal rows"
        if rev["escape_time"].null_count() > 0:
            return "reversal rows without escape_time"
        long = rev.filter(pl.col("phase_t_end").list.first() >= 1000).select(
            first=pl.col("phase_task_losses").list.get(0).list.get(0),
            second=pl.col("phase_task_losses").list.get(1).list.get(1),
        )
        worst = ((long["first"] - long["second"]).abs() / long["first"].abs().clip(lower_bound=1.0)).max()
        return long.height > 0 and worst < 1e-10 or f"{long.height} rows, worst {worst}"

    check("reversal learns −Σyx (loss equal to phase 1's optimum)", reversal)

    def tidy_per_time() -> str | bool:
        tidy = (
            lf.filter(pl.col("n_phases") > 1, pl.col("status") == "ok")
            .select("point_id", "task", "lambda", "t", "phase", "loss", "task_losses")
            .explode(["t", "phase", "loss", "task_losses"])
            .with_columns(loss_task0=pl.col("task_losses").list.get(0))
            .collect()
        )
        per_phase = tidy.group_by("task", "phase").len()
        expected = ok.filter(pl.col("n_phases") > 1)["t"].list.len().sum()
        return tidy.height == expected and per_phase.height > 0 or f"{tidy.height} vs {expected}"

    check("tidy per-time recipe (explode t, phase, loss, task_losses)", tidy_per_time)

    def tidy_per_phase() -> str | bool:
        cols = ["phase_t_start", "phase_t_end", "phase_kernel_distance", "phase_rep_change_in", "phase_tsc_in"]
        tidy = lf.filter(pl.col("status") == "ok").select("point_id", "task", *cols).explode(cols).collect()
        bad = tidy.filter(pl.col("phase_t_end") <= pl.col("phase_t_start")).height
        return tidy.height == ok["n_phases"].sum() and bad == 0 or f"{tidy.height} rows, {bad} bad"

    check("tidy per-phase recipe", tidy_per_phase)

    def doc_recipes() -> str | bool:
        # The polars recipes of docs/dataset.md ("Multi-phase points") run as written.
        doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "dataset.md").read_text()
        section = doc[doc.index("### Multi-phase points"):doc.index("## Versioning")]
        blocks = re.findall(r"```python\n(.*?)```", section, re.S)
        namespace = {"pl": pl}
        exec("\n".join(blocks).replace("DIR", args.dir), namespace)  # noqa: S102 - our own docs
        sizes = {name: namespace[name].height for name in ("per_task", "per_phase", "first")}
        return all(sizes.values()) or f"empty results: {sizes}"

    check("docs/dataset.md multi-phase recipes run on this dataset", doc_recipes)

    def lambda_ft() -> str | bool:
        ft = df.filter(pl.col("task") == "fine-tune")
        others = df.filter(pl.col("task") != "fine-tune")
        return (ft["lambda_ft"].null_count() == 0 and others["lambda_ft"].null_count() == others.height) or "lambda_ft"

    check("lambda_ft set exactly for fine-tune rows", lambda_ft)

    failed = 0
    for name, passed, detail in results:
        failed += not passed
        if not passed or not args.quiet:
            print(f"{'ok  ' if passed else 'FAIL'} {name}" + (f": {detail}" if detail else ""))
    print(f"readback-tasks: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
