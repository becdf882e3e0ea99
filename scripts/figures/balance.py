# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Fig 1C / App. A.3: the balance B = W2ᵀW2 − W1W1ᵀ of a LeCun init against width: entry by
entry it approaches λI, as a matrix it does not.

Reads the dataset of ``sweeps/paper/balance.toml`` (LeCun inits at the ratios 40:200:80 scaled
by 1/5 … 2, 8 replicates; the columns ``lambda_measured`` = λ̄ = tr B / Nh, ``balance_defect`` =
‖B − λ̄I‖_F/‖B‖_F and ``balance_entry_defect`` = ‖B − λ̄I‖_F/Nh). Left: the heat map of B for
40-200-80 (replicate 0), whose weights come from ``lazyrich solve`` with the point's description
(the same draw as the sweep's; the binary is ``--bin``, else ``$LAZYRICH_BIN``, else the
repository's debug or release build). Middle: both defects against Nh (log-log) with the curves
of docs/math.md §2.2. Right: λ̄ against Nh.

Claims checked (docs/math.md §2.2; n = the width multiplier):
- λ̄ → No/Nh − 1 = −0.6: the mean over replicates within 4 standard errors (the derived
  Var λ̄ = 2No/Nh³ + 2/(Ni Nh)) at every width;
- the entry defect falls like 1/√width: the least-squares slope of log(mean) against log(Nh) is
  −1/2 ± 0.05, and every mean is within 5 % of √((Nh − 1)(Nh + 2)(No/Nh² + 1/Ni))/Nh;
- the relative defect does not vanish: every mean is within 0.02 of its prediction
  √(E‖B − λ̄I‖²/E‖B‖²) (0.968 at these ratios), above 0.9, and its slope against log(Nh) is
  within ±0.02 of 0;
- the heat map's weights are those of the dataset: λ̄ and both defects recomputed from them
  equal the row's to 1e-10 (relative).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tomllib

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import common

HEATMAP_WIDTHS = [40, 200, 80]


def predicted(ni: np.ndarray, nh: np.ndarray, no: np.ndarray) -> dict[str, np.ndarray]:
    """The LeCun moments of docs/math.md §2.2 (exact expectations; the defects as ratios of
    root mean squares)."""
    lam = no / nh - 1
    lam_var = 2 * no / nh**3 + 2 / (ni * nh)
    residual2 = (nh - 1) * (nh + 2) * (no / nh**2 + 1 / ni)
    norm2 = residual2 + nh * lam**2 + nh * lam_var
    return {"lambda": lam, "lambda_sd": np.sqrt(lam_var), "entry": np.sqrt(residual2) / nh,
            "relative": np.sqrt(residual2 / norm2)}


def binary(given: pathlib.Path | None) -> pathlib.Path | None:
    candidates = [given, os.environ.get("LAZYRICH_BIN"), common.REPO / "target" / "debug" / "lazyrich",
                  common.REPO / "target" / "release" / "lazyrich"]
    for c in candidates:
        if c and pathlib.Path(c).is_file():
            return pathlib.Path(c)
    return None


def initial_weights(lazyrich: pathlib.Path, row: dict, spec_seed: int) -> tuple[np.ndarray, np.ndarray]:
    """W1, W2 of the sweep point ``row`` (a LeCun init), from ``lazyrich solve`` with its
    description (docs/solve.md "From a description")."""
    problem = {
        "widths": list(row["widths"]),
        "init": {"kind": "lecun", "seed": spec_seed, "replicate": row["replicate"]},
        "task": {"kind": "random", "samples": row["task_samples"]},
        "times": [0], "method": "gd", "lr": row["lr"],
    }
    out = subprocess.run([str(lazyrich), "solve", "-"], input=json.dumps(problem), text=True,
                         capture_output=True, check=True)
    result = json.loads(out.stdout)
    return np.array(result["w1"], dtype=float), np.array(result["w2"], dtype=float)


def main() -> int:
    # common.arguments, plus --bin (the lazyrich binary for `solve`).
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--bin", type=pathlib.Path, default=None)
    known, rest = extra.parse_known_args(sys.argv[1:])
    sys.argv = [sys.argv[0], *rest]
    args = common.arguments(__doc__, "balance", "balance.png")
    common.style()
    df = common.load(args.data)
    claims = common.Claims("Fig 1C")
    bad = df.filter(pl.col("status") != "ok")
    claims.check(bad.height == 0, "every point computes (status ok)", f"{bad.height} not ok")
    stats = (df.group_by("n_in", "n_hidden", "n_out")
             .agg(lam=pl.col("lambda_measured").mean(), lam_sd=pl.col("lambda_measured").std(),
                  rel=pl.col("balance_defect").mean(), rel_lo=pl.col("balance_defect").min(),
                  rel_hi=pl.col("balance_defect").max(), entry=pl.col("balance_entry_defect").mean(),
                  entry_lo=pl.col("balance_entry_defect").min(),
                  entry_hi=pl.col("balance_entry_defect").max(), n=pl.len())
             .sort("n_hidden"))
    ni, nh, no = (stats[c].to_numpy().astype(float) for c in ("n_in", "n_hidden", "n_out"))
    p = predicted(ni, nh, no)
    dense = np.geomspace(nh.min(), nh.max(), 100)
    pd = predicted(dense * ni[0] / nh[0], dense, dense * no[0] / nh[0])

    fig, (ax_b, ax_d, ax_l) = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1.1, 1, 1]})

    # Heat map of B for 40-200-80, replicate 0.
    lazyrich = binary(known.bin)
    target = df.filter(pl.col("widths") == HEATMAP_WIDTHS, pl.col("replicate") == 0)
    if lazyrich is None or target.height != 1:
        claims.check(False, "the heat map of B for 40-200-80 can be drawn",
                     f"binary {lazyrich}, {target.height} rows of 40-200-80 replicate 0")
    else:
        row = target.row(0, named=True)
        w1, w2 = initial_weights(lazyrich, row, spec_seed(args.data))
        b = w2.T @ w2 - w1 @ w1.T
        lam = np.trace(b) / b.shape[0]
        residual = np.linalg.norm(b - lam * np.eye(b.shape[0]))
        mine = {"lambda_measured": lam, "balance_defect": residual / np.linalg.norm(b),
                "balance_entry_defect": residual / b.shape[0]}
        worst = max(abs(mine[k] - row[k]) / abs(row[k]) for k in mine)
        claims.check(worst < 1e-10, "the heat map's weights are the dataset's (solve = run)",
                     f"largest relative difference of λ̄ and the defects {worst:.1e}")
        limit = np.max(np.abs(b))
        image = ax_b.imshow(b, cmap="RdBu_r", vmin=-limit, vmax=limit)
        fig.colorbar(image, ax=ax_b, shrink=0.85)
        ax_b.set_title(f"B = W2ᵀW2 − W1W1ᵀ, LeCun 40-200-80\nλ̄ = {lam:.3f} (No/Nh − 1 = −0.6), "
                       f"RMS entry deviation {mine['balance_entry_defect']:.2f}")
        ax_b.set_xticks([])
        ax_b.set_yticks([])
        ax_b.grid(False)

    # Defects against Nh.
    ax_d.plot(nh, stats["entry"], "o", color=common.NEG, label="entry (RMS) defect ‖B − λ̄I‖_F / Nh")
    ax_d.vlines(nh, stats["entry_lo"], stats["entry_hi"], color=common.NEG, lw=1)
    ax_d.plot(dense, pd["entry"], "-", color=common.NEG, lw=0.8, label="√((Nh−1)(Nh+2)(No/Nh² + 1/Ni)) / Nh")
    ax_d.plot(nh, stats["rel"], "s", color=common.POS, label="relative defect ‖B − λ̄I‖_F / ‖B‖_F")
    ax_d.vlines(nh, stats["rel_lo"], stats["rel_hi"], color=common.POS, lw=1)
    ax_d.plot(dense, pd["relative"], "-", color=common.POS, lw=0.8, label="√(E‖B − λ̄I‖² / E‖B‖²)")
    ax_d.set_xscale("log")
    ax_d.set_yscale("log")
    ax_d.set_xlabel("hidden width Nh (Ni:Nh:No = 1:5:2)")
    ax_d.set_ylabel("defect (mean, range over replicates)")
    ax_d.set_title("Entry by entry B → λI (slope −1/2);\nas a matrix it does not")
    ax_d.set_ylim(0.05, 1.5)
    ax_d.legend(fontsize=7, loc="lower left")

    # λ̄ against Nh.
    ax_l.errorbar(nh, stats["lam"], yerr=stats["lam_sd"], fmt="o", color=common.ZERO, capsize=3,
                  label="λ̄ = tr B / Nh (mean ± sd)")
    ax_l.axhline(-0.6, color="k", lw=0.8, ls="--", label="No/Nh − 1 = −0.6")
    ax_l.fill_between(dense, pd["lambda"] - 2 * pd["lambda_sd"], pd["lambda"] + 2 * pd["lambda_sd"],
                      color="grey", alpha=0.2, label="±2 sd (derived)")
    ax_l.set_xscale("log")
    ax_l.set_xlabel("hidden width Nh")
    ax_l.set_ylabel("λ̄")
    ax_l.set_title("λ̄ → No/Nh − 1")
    ax_l.legend(fontsize=7)
    for ax in (ax_d, ax_l):
        ax.set_xticks(nh, [str(int(x)) for x in nh])
        ax.minorticks_off()
    fig.suptitle("LeCun init: the balance approaches λI entry by entry (Fig 1C, App. A.3)", y=1.03)
    fig.tight_layout()
    common.save(fig, args.out)

    # λ̄ → No/Nh − 1.
    n = stats["n"].to_numpy()
    lam_err = np.abs(stats["lam"].to_numpy() - p["lambda"]) / (p["lambda_sd"] / np.sqrt(n))
    claims.check(bool(np.all(lam_err < 4)), "λ̄ → No/Nh − 1 (mean within 4 standard errors at every width)",
                 f"largest {lam_err.max():.1f} standard errors; mean at Nh = {int(nh[-1])}: {stats['lam'][-1]:.4f}")
    # Entry defect: slope −1/2, and the predicted values.
    entry = stats["entry"].to_numpy()
    slope = np.polyfit(np.log(nh), np.log(entry), 1)[0]
    claims.check(abs(slope + 0.5) < 0.05, "the entry defect falls like 1/√width (log-log slope −1/2 ± 0.05)",
                 f"slope {slope:.3f}")
    off = np.max(np.abs(entry / p["entry"] - 1))
    claims.check(off < 0.05, "the entry defect is the derived √((Nh−1)(Nh+2)(No/Nh² + 1/Ni))/Nh (5 %)",
                 f"largest relative difference {off:.3f}")
    # Relative defect: a constant, not 0.
    rel = stats["rel"].to_numpy()
    rel_slope = np.polyfit(np.log(nh), np.log(rel), 1)[0]
    claims.check(bool(np.all(np.abs(rel - p["relative"]) < 0.02)) and bool(np.all(rel > 0.9))
                 and abs(rel_slope) < 0.02,
                 "the relative defect does not vanish: it stays at its derived limit (≈ 0.968)",
                 f"means {', '.join(f'{x:.3f}' for x in rel)}; slope {rel_slope:.4f}")
    return claims.finish()


def spec_seed(data: pathlib.Path) -> int:
    """The ``seed`` of the spec the dataset was run from (its copy ``_lazyrich/spec.toml``)."""
    return int(tomllib.loads((data / "_lazyrich" / "spec.toml").read_text())["seed"])


if __name__ == "__main__":
    sys.exit(main())
