"""`matrices`: the QQᵀ checkpoints of two-layer points as numpy blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import polars as pl

from ._dataset import PathLike, scan

FloatArray = npt.NDArray[np.float64]


@dataclasses.dataclass(frozen=True, eq=False)
class PointMatrices:
    """The QQᵀ checkpoints of one two-layer point (`record.matrices_at`), and their blocks.

    With `Q = [W1ᵀ; W2]` (`(Ni+No) × Nh`), `QQᵀ = [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]]`
    (docs/math.md §2). Arrays are stacked over the `k` stored times: index 0 is the time
    `t[0]`. `qqt` is stored row-major in the dataset (column `qqt`). Instances compare by
    identity (compare the arrays with `numpy.array_equal`).
    """

    #: The point's id (column `point_id`).
    point_id: int
    #: The architecture, widths joined by "-" (`"3-2-2"`).
    arch: str
    #: The balance λ of the initialization (column `lambda`; None for Gaussian/LeCun inits).
    lambda_: float | None
    #: Input width Ni.
    n_in: int
    #: Hidden width Nh.
    n_hidden: int
    #: Output width No.
    n_out: int
    #: The stored times (column `qqt_t`), shape `(k,)`.
    t: FloatArray
    #: QQᵀ at each stored time, shape `(k, Ni+No, Ni+No)`.
    qqt: FloatArray
    #: The input representation W1ᵀW1, shape `(k, Ni, Ni)`.
    w1tw1: FloatArray
    #: The output representation W2W2ᵀ, shape `(k, No, No)`.
    w2w2t: FloatArray
    #: The network function W2W1, shape `(k, No, Ni)`.
    w2w1: FloatArray


def _ids(point_id: int | Iterable[int]) -> list[int]:
    if isinstance(point_id, (int, np.integer)):
        return [int(point_id)]
    return [int(p) for p in point_id]


def matrices(
    path: PathLike,
    point_id: int | Iterable[int] | None = None,
    where: pl.Expr | None = None,
) -> list[PointMatrices]:
    """The QQᵀ checkpoints of the selected points, each split into W1ᵀW1, W2W2ᵀ and W2W1.

    Points are selected by `point_id` (one id or several) and/or `where` (a polars expression
    over the points table of `scan`); both default to every point. Only points with stored
    matrices are returned (two-layer networks with `record.matrices_at` in their spec), in
    ascending `point_id` order: an id that is not in the dataset or has no matrices is left
    out, so check the length when it matters. Only the selected rows' `qqt` are read.

    >>> import lazyrich, polars as pl
    >>> ms = lazyrich.matrices("results/fig2", where=pl.col("method") == "closed-form")
    >>> [(m.lambda_, m.arch, m.w2w1.shape) for m in sorted(ms, key=lambda m: m.lambda_)]
    [(-2.0, '3-3-3', (101, 3, 3)), (0.0, '3-3-3', (101, 3, 3)), (2.0, '3-3-3', (101, 3, 3))]
    >>> m = ms[0]
    >>> bool(abs(m.w1tw1 - m.w1tw1.transpose(0, 2, 1)).max() < 1e-12)   # symmetric
    True
    """
    lf = scan(path)
    if point_id is not None:
        lf = lf.filter(pl.col("point_id").is_in(_ids(point_id)))
    if where is not None:
        lf = lf.filter(where)
    df = (
        lf.filter(pl.col("qqt_t").list.len() > 0)
        .select("point_id", "arch", "lambda", "n_in", "n_hidden", "n_out", "qqt_t", "qqt")
        .sort("point_id")
        .collect()
    )
    out: list[PointMatrices] = []
    for row in df.iter_rows(named=True):
        n_in, n_out = int(row["n_in"]), int(row["n_out"])
        n = n_in + n_out
        t = np.asarray(row["qqt_t"], dtype=np.float64)
        flat = np.asarray(row["qqt"], dtype=np.float64)
        if flat.shape != (len(t), n * n):
            raise ValueError(
                f"point {row['point_id']}: qqt has shape {flat.shape}, expected "
                f"({len(t)}, {n * n}) for Ni + No = {n}"
            )
        qqt = flat.reshape(len(t), n, n)
        out.append(
            PointMatrices(
                point_id=int(row["point_id"]),
                arch=str(row["arch"]),
                lambda_=None if row["lambda"] is None else float(row["lambda"]),
                n_in=n_in,
                n_hidden=int(row["n_hidden"]),
                n_out=n_out,
                t=t,
                qqt=qqt,
                w1tw1=np.ascontiguousarray(qqt[:, :n_in, :n_in]),
                w2w2t=np.ascontiguousarray(qqt[:, n_in:, n_in:]),
                w2w1=np.ascontiguousarray(qqt[:, n_in:, :n_in]),
            )
        )
    return out
