"""The examples in the package's docstrings run against real datasets (`results/quickstart`,
`results/fig2` of a temporary working directory)."""

from __future__ import annotations

import doctest
import importlib
import os
import pathlib

import pytest

MODULES = ["lazyrich", "lazyrich._dataset", "lazyrich._series", "lazyrich._matrices",
           "lazyrich._pandas"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, quickstart: pathlib.Path, fig2: pathlib.Path,
                            tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "quickstart").symlink_to(quickstart)
    (tmp_path / "results" / "fig2").symlink_to(fig2)
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
