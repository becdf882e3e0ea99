# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lazy or rich? A first look at a lazyrich sweep
#
# This example opens the quickstart sweep (`sweeps/quickstart.toml`: 21 values of λ × 3 init
# scales × 3 architectures × 4 replicates, closed form) with the `lazyrich` Python package and
# draws how far the neural tangent kernel moves during training (the kernel distance between
# t = 0 and the end): small in the lazy regime, large in the rich one.
#
# Open it as a notebook (Jupyter with jupytext, or VS Code: "Run Cell") or run it as a script:
#
#     python3 python/examples/analysis.py [DIR] [--out OUTDIR]
#
# `DIR` defaults to `results/quickstart`; if it holds no dataset yet, the example runs
# `lazyrich run sweeps/quickstart.toml --out DIR` first (the binary: `$LAZYRICH_BIN`, else
# `target/release/lazyrich` or `target/debug/lazyrich` of this repository, else `lazyrich` on
# PATH). The figures are written to `OUTDIR` (default `analysis-out`).

# %%
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

import lazyrich  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2] if "__file__" in globals() else pathlib.Path.cwd()


def arguments() -> argparse.Namespace:
    """DIR and --out from the command line; the defaults inside a notebook kernel."""
    parser = argparse.ArgumentParser(description="Kernel distance across λ, scale and width.")
    parser.add_argument("dir", nargs="?", type=pathlib.Path,
                        default=pathlib.Path("results/quickstart"),
                        help="dataset of sweeps/quickstart.toml (made if absent)")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("analysis-out"),
                        help="directory for the PNG files")
    return parser.parse_args([] if "ipykernel" in sys.modules else None)


def lazyrich_binary() -> str:
    """The lazyrich binary to make the dataset with."""
    candidates = [os.environ.get("LAZYRICH_BIN", ""),
                  str(REPO / "target" / "release" / "lazyrich"),
                  str(REPO / "target" / "debug" / "lazyrich"),
                  shutil.which("lazyrich") or ""]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("no lazyrich binary: build it (cargo build -p lazyrich-cli) or set LAZYRICH_BIN")


args = arguments()
if not (args.dir / "_lazyrich" / "manifest.json").is_file():
    spec_file = REPO / "sweeps" / "quickstart.toml"
    print(f"{args.dir} holds no dataset: lazyrich run {spec_file} --out {args.dir}")
    subprocess.run([lazyrich_binary(), "run", str(spec_file), "--out", str(args.dir),
                    "--quiet"], check=True)
args.out.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## The dataset
#
# `lazyrich.scan` gives the points table, one row per point, with an `arch` column such as
# `"4-4-4"` (input, hidden, output widths); `provenance` says what computed it.

# %%
prov = lazyrich.provenance(args.dir)
print(f"spec {prov['spec_name']!r} ({prov['spec_hash']}), {prov['rows']} points, "
      f"lazyrich {', '.join(prov['lazyrich_versions'])}")
points = lazyrich.scan(args.dir)
print(points.group_by("status").len().collect())

# %% [markdown]
# ## Kernel distance at the end against λ, per architecture
#
# `kernel_distance_end` is the kernel distance at the last time. Points whose status is not `ok`
# (initializations at the λ = 0 saddle) are left out; replicates are averaged. `to_pandas`
# gives `arch` as a categorical, so a pandas `groupby` by architecture just works.

# %%
ok = points.filter(pl.col("status") == "ok")
end = lazyrich.to_pandas(ok.select("arch", "lambda", "scale", "kernel_distance_end"))
mean = (end.groupby(["scale", "arch", "lambda"], observed=True)["kernel_distance_end"]
        .mean().reset_index())
scales = sorted(mean["scale"].unique())
fig, axes = plt.subplots(1, len(scales), figsize=(4 * len(scales), 3.2), sharey=True)
for ax, scale in zip(np.atleast_1d(axes), scales):
    for arch, group in mean[mean["scale"] == scale].groupby("arch", observed=True):
        ax.plot(group["lambda"], group["kernel_distance_end"], marker="o", ms=3, label=arch)
    ax.set_title(f"init scale {scale:g}")
    ax.set_xlabel("λ")
    ax.set_yscale("log")
np.atleast_1d(axes)[0].set_ylabel("kernel distance at the end")
np.atleast_1d(axes)[-1].legend(title="Ni-Nh-No")
fig.tight_layout()
fig.savefig(args.out / "kernel_distance_vs_lambda.png", dpi=110)
plt.close(fig)

# %% [markdown]
# ## λ × scale map of the kernel distance
#
# One panel per architecture: rows are init scales, columns values of λ. Lazy (small kernel
# distance) at large |λ| or large scale, rich near λ = 0 at small scale.

# %%
grid = (ok.group_by("arch", "scale", "lambda").agg(pl.col("kernel_distance_end").mean())
        .sort("arch", "scale", "lambda").collect())
archs = grid["arch"].unique().sort().to_list()
lambdas = grid["lambda"].unique().sort().to_numpy()
scale_values = grid["scale"].unique().sort().to_numpy()
fig, axes = plt.subplots(1, len(archs), figsize=(4 * len(archs), 3), sharey=True)
for ax, arch in zip(np.atleast_1d(axes), archs):
    table = (grid.filter(pl.col("arch") == arch)
             .pivot(on="lambda", index="scale", values="kernel_distance_end").sort("scale"))
    values = table.drop("scale").to_numpy()
    image = ax.imshow(np.log10(np.clip(values, 1e-12, None)), aspect="auto", origin="lower",
                      extent=(lambdas[0], lambdas[-1], -0.5, len(scale_values) - 0.5),
                      cmap="viridis")
    ax.set_yticks(range(len(scale_values)), [f"{s:g}" for s in scale_values])
    ax.set_title(arch)
    ax.set_xlabel("λ")
    ax.grid(False)
np.atleast_1d(axes)[0].set_ylabel("init scale")
fig.colorbar(image, ax=axes, label="log10 kernel distance")
fig.savefig(args.out / "kernel_distance_heatmap.png", dpi=110, bbox_inches="tight")
plt.close(fig)

# %% [markdown]
# ## Over time: the tidy table
#
# `lazyrich.series` explodes only the columns asked for, after `where` has chosen the points:
# here the kernel distance over time of the square network at the smallest scale, averaged
# over replicates, one line per λ (for a square network, λ and −λ give the same curve).

# %%
tidy = lazyrich.series(
    args.dir, ["kernel_distance"], keys=["lambda"],
    where=(pl.col("status") == "ok") & (pl.col("arch") == "4-4-4")
    & (pl.col("scale") == pl.col("scale").min()),
)
curves = tidy.group_by("lambda", "t").agg(pl.col("kernel_distance").mean()).sort("lambda", "t")
fig, ax = plt.subplots(figsize=(5, 3.2))
cmap = plt.get_cmap("coolwarm")
lo, hi = curves["lambda"].min(), curves["lambda"].max()
for (lam,), curve in curves.partition_by("lambda", as_dict=True).items():
    ax.plot(curve["t"], curve["kernel_distance"], color=cmap((lam - lo) / (hi - lo or 1)), lw=1)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("t")
ax.set_ylabel("kernel distance")
ax.set_title("4-4-4, smallest scale: blue λ < 0, red λ > 0")
fig.tight_layout()
fig.savefig(args.out / "kernel_distance_over_time.png", dpi=110)
plt.close(fig)

for png in sorted(args.out.glob("*.png")):
    print(f"wrote {png}")
