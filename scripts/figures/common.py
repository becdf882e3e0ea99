"""Shared helpers of the figure scripts: arguments, loading a lazyrich dataset, QQᵀ blocks,
the qualitative claims every figure checks, and one plotting style.

Every figure script reads only the Parquet output of ``lazyrich run`` (through polars; balance.py
also asks ``lazyrich solve`` for the weights of the one matrix it draws), draws one
PNG and checks the claim it illustrates; it exits 1 if the data contradicts a claim (the PNG is
still written, so the contradiction can be looked at).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]

#: One colour per sign of λ, used by every figure: negative, ≈ 0, positive.
NEG, ZERO, POS = "#2166ac", "#1b7837", "#b2182b"


def arguments(doc: str, data: str, out: str) -> argparse.Namespace:
    """``--data DIR`` (the dataset, default ``results/paper/<data>``) and ``--out PNG``
    (default ``docs/figures/<out>``)."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--data", type=pathlib.Path, default=REPO / "results" / "paper" / data,
                        help=f"dataset written by `lazyrich run sweeps/paper/{data}.toml`")
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "docs" / "figures" / out,
                        help="PNG to write")
    return parser.parse_args()


def load(data: pathlib.Path) -> pl.DataFrame:
    """Every row of a dataset (all part files, Hive column ``task``)."""
    files = str(data / "points" / "**" / "*.parquet")
    return pl.scan_parquet(files, hive_partitioning=True).collect()


def matrices(row: dict) -> np.ndarray:
    """The QQᵀ checkpoints of a row as an array ``(k, n, n)``, ``n = Ni + No``."""
    n = row["n_in"] + row["n_out"]
    return np.array(row["qqt"], dtype=float).reshape(-1, n, n)


def blocks(qqt: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W1ᵀW1, W2W1, W2W2ᵀ)`` of QQᵀ (works on a stack ``(k, n, n)`` too)."""
    return qqt[..., :n_in, :n_in], qqt[..., n_in:, :n_in], qqt[..., n_in:, n_in:]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Frobenius cosine of two matrices."""
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class Claims:
    """The qualitative claims a figure illustrates, each checked against the data."""

    def __init__(self, figure: str) -> None:
        self.figure = figure
        self.failed = 0

    def check(self, ok: bool, claim: str, detail: str = "") -> None:
        self.failed += not ok
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} {self.figure}: {claim}" + (f" ({detail})" if detail else ""))

    def finish(self) -> int:
        """Exit status: 1 if any claim failed."""
        if self.failed:
            print(f"{self.figure}: {self.failed} claim(s) contradicted by the data", file=sys.stderr)
        return 1 if self.failed else 0


def style() -> None:
    """Readable at README size: larger fonts, light grid, no top/right spines."""
    plt.rcParams.update({
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 8,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "figure.dpi": 110,
        "savefig.dpi": 110,
    })


def save(fig: matplotlib.figure.Figure, out: pathlib.Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {out}")


def lambda_label(lam: float) -> str:
    return f"λ = {lam:g}"
