"""`lazyrich.to_pandas`: dtypes made for analysis."""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd
import polars as pl

import lazyrich


def test_dtypes(quickstart: pathlib.Path) -> None:
    df = lazyrich.to_pandas(quickstart)
    assert df.shape == (756, 62)
    for name in ("task", "init", "method", "status", "arch", "spec_hash", "shard"):
        assert isinstance(df[name].dtype, pd.CategoricalDtype), name
    assert set(df["status"].cat.categories) == {"ok", "singular"}
    assert df["task_samples"].dtype == pd.UInt32Dtype()
    assert df["n_in"].dtype == np.uint32 and df["point_id"].dtype == np.uint64
    for name in ("lambda", "scale", "t90", "lr", "final_loss"):
        assert df[name].dtype == np.float64, name
    assert df["lr"].isna().all()  # closed form: no learning rate
    assert not isinstance(df["task_params"].dtype, pd.CategoricalDtype)
    # The per-layer λ of the depth-2 quickstart: one value, the row's λ, as a tuple.
    assert all(lambdas == (lam,) for lambdas, lam in zip(df["lambdas"], df["lambda"]))


def test_groupby_architecture(quickstart: pathlib.Path) -> None:
    df = lazyrich.to_pandas(lazyrich.scan(quickstart).select("arch", "widths", "kernel_distance_end"))
    by_arch = df.groupby("arch", observed=True)["kernel_distance_end"].size().to_dict()
    assert by_arch == {"2-2-8": 252, "4-4-4": 252, "8-2-2": 252}
    by_widths = df.groupby("widths")["kernel_distance_end"].size().to_dict()
    assert by_widths == {(2, 2, 8): 252, (4, 4, 4): 252, (8, 2, 2): 252}


def test_nullable_integers_stay_integers(tasks: pathlib.Path) -> None:
    df = lazyrich.to_pandas(lazyrich.scan(tasks).select("task", "task_samples", "n_phases"))
    assert df["task_samples"].dtype == pd.UInt32Dtype()
    hierarchy = df[df["task"] == "hierarchy"]
    assert len(hierarchy) > 0 and hierarchy["task_samples"].isna().all()
    sampled = df[df["task"] == "random"]["task_samples"]
    assert len(sampled) > 0 and sampled.notna().all() and (sampled > 0).all()
    # An integer column that holds a null (here after a join) is nullable too, not float.
    frame = pl.DataFrame({"k": [1, 2]}).join(
        pl.DataFrame({"k": [1], "n": pl.Series([7], dtype=pl.UInt32)}), on="k", how="left")
    assert lazyrich.to_pandas(frame)["n"].dtype == pd.UInt32Dtype()


def test_lists_are_numpy_arrays(quickstart: pathlib.Path) -> None:
    lf = lazyrich.scan(quickstart).filter(pl.col("status") == "ok").head(5)
    df = lazyrich.to_pandas(lf.select("n_in", "n_out", "t", "loss", "singular_values", "phase"))
    for _, row in df.iterrows():
        assert isinstance(row["t"], np.ndarray) and row["t"].dtype == np.float64
        assert row["t"].shape == row["loss"].shape == (50,)
        assert row["singular_values"].shape == (50, min(row["n_in"], row["n_out"]))
        assert (row["phase"] == 0).all()


def test_series_frame(quickstart: pathlib.Path) -> None:
    tidy = lazyrich.series(quickstart, ["loss", "kernel_distance"])
    df = lazyrich.to_pandas(tidy)
    assert len(df) == tidy.height
    assert df["t"].dtype == df["loss"].dtype == np.float64
    assert isinstance(df["arch"].dtype, pd.CategoricalDtype)
    last = df.groupby(["arch", "lambda"], observed=True)["kernel_distance"].last()
    assert len(last) == 3 * 21
