# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Appendix A.4: interplay of the absolute scale (init σ) and the relative scale (λ): kernel
distance between NTK(0) and NTK(t = 40) over a 40 × 40 grid (2-2-2 network).

Reads the dataset of ``sweeps/paper/a4.toml`` (closed form). The colour is the kernel distance on
a log scale.

Claims checked: λ matters relative to the absolute scale σ². At the smallest σ the kernel
distance falls more than 100× from the λ nearest 0 to |λ| = 9 (the relative scale alone moves
the network from rich towards lazy); at the largest σ (σ² ≫ 9) it changes by less than 2× across
the whole λ range; and at every σ it is largest at one of the two λ nearest 0.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.colors import LogNorm

import common


def main() -> int:
    args = common.arguments(__doc__, "a4", "a4_kernel_distance_heatmap.png")
    common.style()
    df = common.load(args.data).filter(pl.col("status") == "ok")
    claims = common.Claims("App A.4")
    lambdas = np.array(sorted(df["lambda"].unique().to_list()))
    scales = np.array(sorted(df["scale"].unique().to_list()))
    kd = np.full((len(scales), len(lambdas)), np.nan)
    lam_idx = {lam: j for j, lam in enumerate(lambdas)}
    scale_idx = {s: i for i, s in enumerate(scales)}
    for lam, scale, value in df.select("lambda", "scale", "kernel_distance_end").iter_rows():
        kd[scale_idx[scale], lam_idx[lam]] = value

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    mesh = ax.pcolormesh(lambdas, scales, kd, norm=LogNorm(vmin=np.nanmin(kd), vmax=np.nanmax(kd)),
                         cmap="viridis", shading="nearest")
    ax.set_yscale("log")
    ax.set_xlabel("λ (relative scale)")
    ax.set_ylabel("init scale σ (absolute scale)")
    ax.set_title(f"Kernel distance NTK(0) → NTK(t = 40), 2-2-2 network, {len(lambdas)} × {len(scales)} grid")
    ax.grid(False)
    fig.colorbar(mesh, ax=ax, label="kernel distance (log scale)")
    fig.tight_layout()
    common.save(fig, args.out)

    claims.check(not np.isnan(kd).any(), "every grid point computed", f"{np.isnan(kd).sum()} missing")
    near = np.argsort(np.abs(lambdas))[:2]
    far = np.abs(lambdas) == np.abs(lambdas).max()
    small = kd[0]
    ratio = small[near].max() / small[far].max()
    claims.check(ratio > 100, f"σ = {scales[0]:g}: λ moves the network from rich to lazy",
                 f"kernel distance {small[near].max():.2e} near λ = 0 vs {small[far].max():.1e} at |λ| = 9")
    large = kd[-1]
    spread = large.max() / large.min()
    claims.check(spread < 2, f"σ = {scales[-1]:g}: λ in [−9, 9] barely matters (σ² ≫ |λ|)",
                 f"max/min over λ = {spread:.2f}")
    peaks = np.argmax(kd, axis=1)
    off = [f"σ = {scales[i]:.3g}" for i, j in enumerate(peaks) if j not in near]
    claims.check(not off, "at every σ the kernel distance is largest next to λ = 0", ", ".join(off[:5]))
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
