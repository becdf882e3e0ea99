"""`to_pandas`: a polars frame of a dataset as a pandas frame with dtypes made for analysis."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import polars as pl

from ._dataset import scan
from ._schema import CATEGORICAL_STRINGS, NULLABLE_INTEGERS

if TYPE_CHECKING:
    import pandas as pd

#: What `to_pandas` accepts: a frame, or a dataset directory (read in full with `scan`).
Data = Union[pl.DataFrame, pl.LazyFrame, str, "os.PathLike[str]"]

_NULLABLE_INT: dict[Any, str] = {
    pl.Int8: "Int8", pl.Int16: "Int16", pl.Int32: "Int32", pl.Int64: "Int64",
    pl.UInt8: "UInt8", pl.UInt16: "UInt16", pl.UInt32: "UInt32", pl.UInt64: "UInt64",
}


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "lazyrich.to_pandas needs pandas: pip install 'lazyrich[pandas]' (or pandas)"
        ) from err
    return pandas


def _numpy_item_dtype(dtype: pl.DataType) -> type[np.float64] | None:
    """`float64` for lists of floats (a null item becomes NaN); None lets numpy choose."""
    item: Any = dtype
    while isinstance(item, pl.List):
        item = item.inner
    return np.float64 if item.is_float() else None


def _list_objects(s: pl.Series) -> np.ndarray:
    """A list column as an object array of numpy arrays (a list of lists of equal lengths is a
    2-D array; a null list is None; a null float item is NaN)."""
    item = _numpy_item_dtype(s.dtype)
    out = np.empty(len(s), dtype=object)
    for i, value in enumerate(s.to_list()):
        if value is None:
            out[i] = None
            continue
        try:
            out[i] = np.array(value, dtype=item)
        except ValueError:  # ragged nested lists
            out[i] = np.array([np.array(v, dtype=item) for v in value], dtype=object)
    return out


#: List columns that become tuples (hashable): the architecture and the per-layer λ.
_TUPLE_COLUMNS = ("widths", "lambdas")


def _tuples(s: pl.Series) -> np.ndarray:
    """A list column as an object array of tuples (hashable: groupby and set work)."""
    out = np.empty(len(s), dtype=object)
    for i, value in enumerate(s.to_list()):
        out[i] = None if value is None else tuple(value)
    return out


def to_pandas(data: Data) -> pd.DataFrame:
    """A frame of a dataset (or the whole points table of a dataset directory) as a pandas
    `DataFrame` whose dtypes work for analysis:

    - strings of few values are categoricals: the dictionary-encoded columns (`task`, `init`,
      `method`, `status`, `spec_hash`, `lazyrich_version`, `git_commit`, `shard`) and `arch`;
      other strings (`task_params`, `error`) stay strings;
    - integer columns keep their width; nullable ones (`task_samples`, and any integer column
      holding a null) are pandas nullable integers (`UInt32`, …), never floats;
    - floats stay `float64` (null is NaN);
    - `widths` becomes a tuple (hashable: `groupby("widths")` works; `arch` is the same as a
      string), and so does `lambdas`, the per-layer λ (`groupby("lambdas")` groups the λ
      profiles; `()` for inits without λ); every other list column is an object column of numpy arrays (float items as
      `float64`, a list of equal-length lists as a 2-D array: `singular_values` of a point is
      `(times, k)`).

    A `LazyFrame` is collected with the streaming engine; select the columns you need first,
    the list columns of a large dataset are slow to convert.

    >>> import lazyrich
    >>> df = lazyrich.to_pandas(lazyrich.scan("results/quickstart").select(
    ...     "arch", "widths", "lambda", "task_samples", "kernel_distance_end", "loss"))
    >>> str(df["arch"].dtype), str(df["task_samples"].dtype), str(df["lambda"].dtype)
    ('category', 'UInt32', 'float64')
    >>> df.groupby("arch", observed=True).size().to_dict()
    {'2-2-8': 252, '4-4-4': 252, '8-2-2': 252}
    >>> df["widths"][0] in {(4, 4, 4), (8, 2, 2), (2, 2, 8)}
    True
    """
    pd = _pandas()
    if isinstance(data, pl.LazyFrame):
        frame = data.collect(engine="streaming")
    elif isinstance(data, pl.DataFrame):
        frame = data
    else:
        frame = scan(data).collect(engine="streaming")
    columns: dict[str, Any] = {}
    for name, dtype in frame.schema.items():
        s = frame.get_column(name)
        if isinstance(dtype, pl.List):
            columns[name] = _tuples(s) if name in _TUPLE_COLUMNS else _list_objects(s)
        elif isinstance(dtype, (pl.Categorical, pl.Enum)) or (
            dtype == pl.String and name in CATEGORICAL_STRINGS
        ):
            values = s.cast(pl.String).to_list()
            columns[name] = pd.Categorical(values)
        elif dtype.is_integer() and (name in NULLABLE_INTEGERS or s.null_count() > 0):
            columns[name] = pd.array(s.to_list(), dtype=_NULLABLE_INT[dtype.base_type()])
        elif dtype.is_float():
            columns[name] = s.cast(pl.Float64).to_numpy()
        else:
            columns[name] = s.to_pandas()
    return pd.DataFrame(columns, index=pd.RangeIndex(frame.height))
