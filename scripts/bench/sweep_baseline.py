# /// script
# requires-python = ">=3.10"
# dependencies = ["numpy>=1.24", "pandas>=2.0", "pyarrow>=14"]
# ///
"""The sweep a researcher would write today: a numpy loop over the points, rows to Parquet.

Baseline for ``scripts/bench/sweep.sh``. It runs the grid of the benchmark spec (the one
``sweep.sh`` gives ``lazyrich run``): λ = linspace(-5, 5, L) × scale = logspace(-2, 0, S) ×
R replicates, widths [N, N, N], a random task on 64 whitened samples, the closed form of docs/math.md
§3.4 at T log-spaced times from 0.01 to 100 (``ClosedForm`` of ``numpy_reference.py``), and per
time the loss and the NTK kernel distance from t = 0 (docs/math.md §4.5, the cheap exact form), plus
the singular values of W2W1 with ``--singular-values``. Each point does the work a
``lazyrich run`` point does: generate its task (seeded by the replicate), its λ-balanced init
(seeded by the replicate), set up the closed form, evaluate every time, summarise (initial and
final loss, t90, kernel distance at the end). Rows (one per point, per-time data as lists, like
lazyrich's table) are collected in a list and written once with ``pandas.DataFrame.to_parquet``
(pyarrow, default settings).

BLAS runs on one thread (set before numpy is imported), so this is a single-core rate.

Reports the wall time of the loop and of the write, points/s and per-time rows/s
(points × T), as text or, with ``--json``, as one JSON object on stdout.

Usage: ``python3 sweep_baseline.py [--lambdas 100] [--scales 10] [--replicates 1] [--width 8]
[--times 100] [--limit K] [--singular-values] [--out FILE.parquet] [--json]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import numpy_reference as ref  # noqa: E402

SEED = 7
SAMPLES = 64


def random_task(rng, n_in, n_out, samples):
    """Σyx and tr Σyy of a random linear-regression task with exactly whitened inputs."""
    x = rng.standard_normal((n_in, samples))
    y = rng.standard_normal((n_out, samples))
    evals, evecs = np.linalg.eigh(x @ x.T / samples)
    x = evecs @ np.diag(evals**-0.5) @ evecs.T @ x
    return y @ x.T / samples, float(np.sum(y * y) / samples)


def kernel_inner(a1, m1, a2, m2, n_in, n_out):
    """⟨K_1, K_2⟩_F / P² for whitened inputs (docs/math.md §4.5)."""
    return (n_out * np.sum(a1 * a2) + np.trace(m2) * np.trace(a1) + np.trace(m1) * np.trace(a2)
            + n_in * np.sum(m1 * m2))


def t90(times, loss, initial):
    final = loss[-1]
    if not initial > final:
        return None
    threshold = initial - 0.9 * (initial - final)
    t_prev, l_prev = 0.0, initial
    for ti, li in zip(times, loss):
        if li <= threshold:
            return ti if ti == t_prev else t_prev + (l_prev - threshold) / (l_prev - li) * (ti - t_prev)
        t_prev, l_prev = ti, li
    return None


def compute_point(lam, scale, replicate, width, times, singular_values):
    """One row: the point's parameters, status, summaries and per-time lists."""
    start = time.perf_counter()
    n_in = n_hidden = n_out = width
    row = {"lambda": lam, "scale": scale, "replicate": replicate, "n_in": n_in,
           "n_hidden": n_hidden, "n_out": n_out, "status": "ok", "error": None}
    syx, tr_yy = random_task(np.random.default_rng([SEED, 0, replicate]), n_in, n_out, SAMPLES)
    w1, w2 = ref.lambda_balanced(np.random.default_rng([SEED, 1, replicate]), lam, n_in, n_hidden,
                                 n_out, scale)
    optimal = 0.5 * (tr_yy - np.sum(syx * syx))
    loss_of = lambda w: 0.5 * np.sum((w - syx) ** 2) + optimal  # noqa: E731
    a0, m0 = w1.T @ w1, w2 @ w2.T
    ref_sq = kernel_inner(a0, m0, a0, m0, n_in, n_out)
    row["initial_loss"] = loss_of(w2 @ w1)
    loss, kd, svs = [], [], []
    try:
        cf = ref.ClosedForm(w1, w2, syx, lam=lam)
        for t in times:
            qqt = cf.qqt(t)
            a, m, w = qqt[:n_in, :n_in], qqt[n_in:, n_in:], qqt[n_in:, :n_in]
            loss.append(loss_of(w))
            cross = kernel_inner(a0, m0, a, m, n_in, n_out)
            kd.append(float(np.clip(1 - cross / np.sqrt(ref_sq * kernel_inner(a, m, a, m, n_in, n_out)), 0, 2)))
            if singular_values:
                svs.append(np.linalg.svd(w, compute_uv=False))
    except (ref.SingularError, np.linalg.LinAlgError, ValueError) as err:
        row["status"] = "singular" if isinstance(err, ref.SingularError) else "invalid"
        row["error"] = str(err)
    row["t"] = list(times[: len(loss)])
    row["loss"] = loss
    row["kernel_distance"] = kd
    row["singular_values"] = svs
    row["final_loss"] = loss[-1] if loss else None
    row["kernel_distance_end"] = kd[-1] if kd else None
    row["t90"] = t90(times, loss, row["initial_loss"]) if loss else None
    row["wall_time_s"] = time.perf_counter() - start
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambdas", type=int, default=100, help="λ = linspace(-5, 5, L)")
    parser.add_argument("--scales", type=int, default=10, help="scale = logspace(-2, 0, S)")
    parser.add_argument("--replicates", type=int, default=1)
    parser.add_argument("--width", type=int, default=8, help="N of widths [N, N, N]")
    parser.add_argument("--times", type=int, default=100, help="T = number of log-spaced times")
    parser.add_argument("--limit", type=int, help="compute only the first K points of the grid")
    parser.add_argument("--singular-values", action="store_true")
    parser.add_argument("--out", type=pathlib.Path, help="Parquet file (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    times = list(np.logspace(-2, 2, args.times))
    lambdas = np.linspace(-5, 5, args.lambdas)
    scales = np.logspace(-2, 0, args.scales)
    # Same nesting as lazyrich's expansion: replicate → scale → λ (innermost).
    grid = itertools.product(range(args.replicates), scales, lambdas)
    if args.limit is not None:
        grid = itertools.islice(grid, args.limit)

    t0 = time.perf_counter()
    rows = [compute_point(float(lam), float(scale), rep, args.width, times, args.singular_values)
            for rep, scale, lam in grid]
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or pathlib.Path(tmp) / "baseline.parquet"
        pd.DataFrame(rows).to_parquet(out)
        size = out.stat().st_size
    t2 = time.perf_counter()

    n = len(rows)
    result = {
        "points": n,
        "times": args.times,
        "per_time_rows": n * args.times,
        "ok": sum(r["status"] == "ok" for r in rows),
        "compute_s": t1 - t0,
        "write_s": t2 - t1,
        "wall_s": t2 - t0,
        "points_per_s": n / (t2 - t0),
        "rows_per_s": n * args.times / (t2 - t0),
        "parquet_bytes": size,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{n} points ({result['ok']} ok) × {args.times} times, widths [{args.width}]*3: "
              f"compute {result['compute_s']:.2f} s, write {result['write_s']:.2f} s, "
              f"{result['points_per_s']:.1f} points/s, {result['rows_per_s']:.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
