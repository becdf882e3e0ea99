"""Read lazyrich datasets: the Parquet output of `lazyrich run` (docs/dataset.md) as polars
frames, tidy per-time tables, numpy matrices and pandas frames.

>>> import lazyrich, polars as pl
>>> lf = lazyrich.scan("results/quickstart")              # one row per point, plus `arch`
>>> tidy = lazyrich.series("results/quickstart", ["loss"],  # one row per (point, time)
...                        where=(pl.col("arch") == "4-4-4") & (pl.col("status") == "ok"))
>>> tidy.height                                           # 246 points, 50 times each
12300

Functions: `scan`, `series`, `matrices`, `to_pandas`, `spec`, `provenance`; a directory that
cannot be read as a dataset raises `DatasetError`. See docs/python.md.
"""

from __future__ import annotations

from ._dataset import DatasetError, Provenance, provenance, scan, spec
from ._matrices import PointMatrices, matrices
from ._pandas import to_pandas
from ._schema import SCHEMA_VERSION
from ._series import DEFAULT_KEYS, series

#: Version of this package (the lazyrich version it was released with).
__version__ = "0.1.0"

__all__ = [
    "DEFAULT_KEYS",
    "DatasetError",
    "PointMatrices",
    "Provenance",
    "SCHEMA_VERSION",
    "__version__",
    "matrices",
    "provenance",
    "scan",
    "series",
    "spec",
    "to_pandas",
]
