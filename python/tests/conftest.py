"""Session fixtures: datasets made by the lazyrich binary in temporary directories.

The binary is `$LAZYRICH_BIN`, default `target/debug/lazyrich` of the repository (build it with
`cargo build -p lazyrich-cli`); a missing binary fails the tests, it never skips them.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

#: Funnel, inverted funnel and square two-layer networks, every QQᵀ stored, and a last time
#: long after convergence (W2W1 = Σyx there, which lets `lazyrich solve` recompute the points).
MATRICES_SPEC = """\
name = "pytest-matrices"
seed = 7
[defaults]
task = { kind = "random", samples = 16 }
init = "balanced"
method = "closed-form"
time = [0, 0.5, 1, 2, 1000000]
record = { matrices_at = "all" }
[[block]]
lambda = [-1.0, 0.5, 2.0]
scale = 0.5
widths = [[3, 2, 2], [2, 2, 3], [3, 3, 3]]
"""

#: 8 points of 400 times with QQᵀ at every time: 4 MB of Parquet, but exploding every per-time
#: list of the whole table copies each point's 400 QQᵀ (820 KB) onto each of its times: 2.5 GiB.
MEMORY_SPEC = """\
name = "pytest-memory"
seed = 3
[defaults]
task = { kind = "random", samples = 16 }
init = "balanced"
method = "closed-form"
time = { linspace = [0, 10, 400] }
record = { matrices_at = "all" }
[[block]]
lambda = { linspace = [-1, 1, 8] }
scale = 0.5
widths = [8, 8, 8]
"""


def binary() -> pathlib.Path:
    """The lazyrich binary the tests run."""
    path = pathlib.Path(os.environ.get("LAZYRICH_BIN", REPO / "target" / "debug" / "lazyrich"))
    if not path.is_absolute():
        path = REPO / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"no lazyrich binary at {path}: run `cargo build -p lazyrich-cli` or set "
                    "LAZYRICH_BIN", pytrace=False)
    return path


def lazyrich(*args: str | os.PathLike[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs the binary with `args`; fails the test on a non-zero exit when `check`."""
    proc = subprocess.run([str(binary()), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    if check and proc.returncode != 0:
        pytest.fail(f"lazyrich {' '.join(map(str, args))}: exit {proc.returncode}\n{proc.stderr}")
    return proc


def planned_rows(spec: pathlib.Path) -> int:
    """The row count `lazyrich plan SPEC` estimates."""
    out = lazyrich("plan", spec).stdout
    m = re.search(r"^estimated rows\s+(\d+)", out, re.M)
    assert m, f"no 'estimated rows' line in `lazyrich plan {spec}`:\n{out}"
    return int(m.group(1))


def run_spec(spec: pathlib.Path, out: pathlib.Path, *extra: str) -> pathlib.Path:
    lazyrich("run", spec, "--out", out, "--quiet", *extra)
    return out


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("datasets")


@pytest.fixture(scope="session")
def quickstart(data_dir: pathlib.Path) -> pathlib.Path:
    """`sweeps/quickstart.toml`: 756 closed-form points, 3 architectures."""
    return run_spec(REPO / "sweeps" / "quickstart.toml", data_dir / "quickstart")


@pytest.fixture(scope="session")
def tasks(data_dir: pathlib.Path) -> pathlib.Path:
    """`sweeps/tasks.toml`: every task kind (multi-phase protocols, RK4 overlays)."""
    return run_spec(REPO / "sweeps" / "tasks.toml", data_dir / "tasks")


@pytest.fixture(scope="session")
def fig2(data_dir: pathlib.Path) -> pathlib.Path:
    """`sweeps/paper/fig2.toml`: 3-3-3, closed form and GD, QQᵀ at every time (docstrings)."""
    return run_spec(REPO / "sweeps" / "paper" / "fig2.toml", data_dir / "fig2")


def _spec_dataset(data_dir: pathlib.Path, name: str, text: str) -> pathlib.Path:
    spec = data_dir / f"{name}.toml"
    spec.write_text(text)
    return run_spec(spec, data_dir / name)


@pytest.fixture(scope="session")
def matrices_data(data_dir: pathlib.Path) -> pathlib.Path:
    return _spec_dataset(data_dir, "matrices", MATRICES_SPEC)


@pytest.fixture(scope="session")
def memory_data(data_dir: pathlib.Path) -> pathlib.Path:
    return _spec_dataset(data_dir, "memory", MEMORY_SPEC)


@pytest.fixture()
def quickstart_copy(quickstart: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A copy of the quickstart dataset the test may change."""
    copy = tmp_path / "copy"
    shutil.copytree(quickstart, copy)
    yield copy
