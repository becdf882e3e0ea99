# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Figure 4A–D: hidden representations on the semantic hierarchy across λ, and the lazy regime
of a large Gaussian init.

Reads the dataset of ``sweeps/paper/fig4.toml``. Top row: the input-side representation W1ᵀW1
(items × items); bottom row: the output-side W2W2ᵀ (features × features); at convergence for
each λ of block 0 (closed form), and at the end of the RK4 runs of block 1 (Gaussian init,
small and large σ).

Claims checked: at λ = 0 both layers are task-specific (task-specificity score, docs/math.md §4.6,
above 0.999); at λ = +10 the output layer is large and task-agnostic (cosine with the identity
above 0.999) while the input layer is task-specific and small (‖W1ᵀW1‖ < 1 % of ‖W2W2ᵀ‖), and
the mirror image at λ = −10 ("semi-structured lazy"); the large Gaussian init is lazy: its NTK
moves less than half as much as the small init's, and its W1ᵀW1 changes by less than its
initial norm, while the small init's grows from almost nothing (more than 100×).
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import common


def main() -> int:
    args = common.arguments(__doc__, "fig4", "fig4_representations.png")
    common.style()
    df = common.load(args.data)
    claims = common.Claims("Fig 4A-D")
    balanced = {r["lambda"]: r for r in df.filter(pl.col("block") == 0).iter_rows(named=True)}
    gaussian = {r["scale"]: r for r in df.filter(pl.col("block") == 1).iter_rows(named=True)}
    lambdas = sorted(balanced)
    scales = sorted(gaussian)

    panels = []  # (title, W1ᵀW1, W2W2ᵀ)
    for lam in lambdas:
        row = balanced[lam]
        a, _, m = common.blocks(common.matrices(row)[-1], row["n_in"])
        panels.append((common.lambda_label(lam), a, m))
    for scale in scales:
        row = gaussian[scale]
        a, _, m = common.blocks(common.matrices(row)[-1], row["n_in"])
        panels.append((f"Gaussian σ = {scale:g}\n(not balanced, RK4)", a, m))

    fig, axes = plt.subplots(2, len(panels), figsize=(2.3 * len(panels), 5.0))
    for j, (title, a, m) in enumerate(panels):
        for i, (mat, name) in enumerate(((a, "W1ᵀW1 (items)"), (m, "W2W2ᵀ (features)"))):
            ax = axes[i, j]
            vmax = np.max(np.abs(mat))
            im = ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            cb.ax.tick_params(labelsize=7)
            cb.ax.yaxis.get_offset_text().set_fontsize(7)
            if i == 0:
                ax.set_title(title)
            if j == 0:
                ax.set_ylabel(name)
    fig.suptitle("Converged representations on the 8-item hierarchy: rich at λ = 0, semi-structured lazy at large |λ|,\n"
                 "lazy from a large Gaussian init (colour scales per panel; matrix entries, dimensionless)",
                 y=0.99)
    fig.tight_layout()
    common.save(fig, args.out)

    if 0.0 in balanced:
        row = balanced[0.0]
        tsc = min(row["phase_tsc_in"][0], row["phase_tsc_out"][0])
        claims.check(tsc > 0.999, "λ = 0: both layers task-specific", f"smallest TSC {tsc:.5f}")
    for lam in (min(lambdas), max(lambdas)):
        row = balanced[lam]
        a, _, m = common.blocks(common.matrices(row)[-1], row["n_in"])
        big, small = (m, a) if lam > 0 else (a, m)
        small_tsc = row["phase_tsc_in"][0] if lam > 0 else row["phase_tsc_out"][0]
        agnostic = common.cosine(big, np.eye(len(big)))
        ratio = np.linalg.norm(small) / np.linalg.norm(big)
        which = "output" if lam > 0 else "input"
        claims.check(agnostic > 0.999, f"λ = {lam:g}: the {which} layer is task-agnostic (≈ identity)",
                     f"cos with I = {agnostic:.5f}")
        claims.check(small_tsc > 0.999 and ratio < 0.01,
                     f"λ = {lam:g}: the other layer is task-specific and small",
                     f"TSC {small_tsc:.5f}, norm ratio {ratio:.1e}")
    if len(scales) == 2:
        small_row, big_row = gaussian[scales[0]], gaussian[scales[1]]
        kd_small, kd_big = small_row["kernel_distance_end"], big_row["kernel_distance_end"]
        claims.check(kd_big < 0.5 * kd_small, "large Gaussian init: the NTK moves less (lazy)",
                     f"kernel distance {kd_big:.3f} vs {kd_small:.3f}")
        for row, rule, text in ((big_row, lambda r: r < 1.0, "changes by less than its initial norm"),
                                (small_row, lambda r: r > 100, "grows more than 100×")):
            a0, _, _ = common.blocks(common.matrices(row)[0], row["n_in"])
            a1, _, _ = common.blocks(common.matrices(row)[-1], row["n_in"])
            rel = np.linalg.norm(a1 - a0) / np.linalg.norm(a0)
            claims.check(bool(rule(rel)), f"Gaussian σ = {row['scale']:g}: W1ᵀW1 {text}", f"‖ΔA‖/‖A(0)‖ = {rel:.2f}")
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
