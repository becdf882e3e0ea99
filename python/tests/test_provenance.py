"""`lazyrich.spec`, `lazyrich.provenance` and `lazyrich.__version__`."""

from __future__ import annotations

import pathlib
import re
import tomllib

import pyarrow.parquet as pq

import lazyrich

from .conftest import REPO, lazyrich as run_lazyrich


def test_spec_is_the_text_given(quickstart: pathlib.Path) -> None:
    text = lazyrich.spec(quickstart)
    assert text == (REPO / "sweeps" / "quickstart.toml").read_text()
    assert tomllib.loads(text)["name"] == "quickstart"


def test_provenance(quickstart: pathlib.Path) -> None:
    p = lazyrich.provenance(quickstart)
    plan = run_lazyrich("plan", REPO / "sweeps" / "quickstart.toml").stdout
    spec_hash = re.search(r"^spec hash\s+([0-9a-f]{16})$", plan, re.M)
    assert spec_hash is not None
    assert p["spec_name"] == "quickstart"
    assert p["spec_hash"] == spec_hash.group(1)
    assert p["schema_version"] == lazyrich.SCHEMA_VERSION == 4
    assert p["layouts"] == ["0/1"]
    assert p["rows"] == 756
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["created"])
    footer = pq.read_metadata(next((quickstart / "points").glob("*/*.parquet"))).metadata
    assert p["lazyrich_versions"] == [footer[b"lazyrich.lazyrich_version"].decode()]
    assert p["git_commits"] == [footer[b"lazyrich.git_commit"].decode()]
    # `lazyrich 0.1.0 (commit 0a20847582b4)`
    version = re.fullmatch(r"lazyrich (\S+) \(commit (\S+)\)\n",
                           run_lazyrich("--version").stdout)
    assert version is not None
    assert p["lazyrich_versions"] == [version.group(1)]
    assert p["git_commits"] == [version.group(2)]


def test_package_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", lazyrich.__version__)
    assert lazyrich.__version__ == tomllib.loads(
        (REPO / "python" / "pyproject.toml").read_text())["project"]["version"]
