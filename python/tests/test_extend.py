"""Datasets grown with `lazyrich run --extend`: every spec's rows are read, `provenance` lists
the specs and `spec` returns each one's text."""

from __future__ import annotations

import pathlib

import polars as pl
import pytest

import lazyrich

from .conftest import lazyrich as run_binary

SMALL = """\
name = "pytest-grow"
seed = 4
[[block]]
task = { kind = "random", samples = 8 }
init = "balanced"
method = "closed-form"
widths = [3, 3, 3]
scale = 0.5
time = [0, 1, 10]
lambda = { linspace = [-1, 1, 5] }
"""
GROWN = SMALL.replace("linspace = [-1, 1, 5]", "linspace = [-1, 1, 9]")


def test_an_extended_dataset_holds_the_rows_and_texts_of_every_spec(tmp_path: pathlib.Path) -> None:
    small, grown = tmp_path / "small.toml", tmp_path / "grown.toml"
    small.write_text(SMALL)
    grown.write_text(GROWN)
    out = tmp_path / "out"
    run_binary("run", small, "--out", out, "--quiet")
    before = lazyrich.provenance(out)
    assert len(before["specs"]) == 1 and before["specs"] == [before["spec_hash"]]
    run_binary("run", grown, "--out", out, "--extend", "--quiet")
    after = lazyrich.provenance(out)
    assert after["rows"] == 9
    assert after["specs"] == [before["spec_hash"], after["spec_hash"]]
    assert after["spec_hash"] != before["spec_hash"]
    assert lazyrich.spec(out) == GROWN
    assert lazyrich.spec(out, spec_hash=before["spec_hash"]) == SMALL
    with pytest.raises(lazyrich.DatasetError, match="holds no spec of hash 'nope'"):
        lazyrich.spec(out, spec_hash="nope")
    # Each row names the spec that computed it: 5 of the small spec, 4 new ones.
    counts = dict(
        lazyrich.scan(out)
        .group_by(pl.col("spec_hash").cast(pl.String))
        .len()
        .collect()
        .iter_rows()
    )
    assert counts == {before["spec_hash"]: 5, after["spec_hash"]: 4}
    lambdas = sorted(lazyrich.scan(out).select("lambda").collect()["lambda"].to_list())
    assert lambdas == pytest.approx([-1 + 0.25 * i for i in range(9)])
