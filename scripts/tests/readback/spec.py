"""Expected point count and time grid of a spec, by an expansion independent of the Rust code.

Follows docs/spec.md: grid objects (`linspace`, `logspace`, `range`), the product of a block's
axes (a `zip` group counting once), blocks summed. See `expected_from_spec` for what it refuses.
"""

from __future__ import annotations

import math
import pathlib
import tomllib
from typing import Any

from .common import require


class UnsupportedSpec(ValueError):
    """The spec uses a feature the independent expansion does not model."""


def grid_values(value: Any, field: str) -> list[Any]:
    """Values of an axis or time field: a scalar, a list or a grid object (docs/spec.md)."""
    if isinstance(value, dict):
        require(len(value) == 1, f"{field}: a grid object has exactly one key")
        (kind, args), = value.items()
        if kind == "linspace":
            start, stop, num = args
            if num == 1:
                return [float(start)]
            return [float(stop) if i == num - 1 else start + i * (stop - start) / (num - 1)
                    for i in range(num)]
        if kind == "logspace":
            return [10.0 ** x for x in grid_values({"linspace": args}, field)]
        if kind == "range":
            start, stop, step = args
            out: list[float] = []
            i = 0
            while True:
                x = start + i * step
                if (step > 0 and x >= stop - 1e-9 * abs(step)) or (
                        step < 0 and x <= stop + 1e-9 * abs(step)):
                    return out
                out.append(float(x))
                i += 1
        raise UnsupportedSpec(f"{field}: unknown grid kind {kind!r}")
    if isinstance(value, list):
        return list(value)
    return [value]


def axis_length(name: str, value: Any) -> int:
    """Number of values of axis `name` written as `value` (widths and task lists are special)."""
    if name == "widths":
        return len(value) if value and isinstance(value[0], list) else 1
    if name == "task":
        return len(value) if isinstance(value, list) else 1
    if name == "replicates":
        return int(value)
    return len(grid_values(value, name))


def expected_from_spec(path: pathlib.Path) -> tuple[int, list[float] | None]:
    """(number of points, time grid of every point or None if blocks differ) of a spec file.

    Independent re-expansion for the read-back test: the product of the axis lengths of each
    block (a zip group counting once), summed over blocks. Refuses (UnsupportedSpec) what it does
    not model: `where`/`exclude` filters, and values a point drops (λ of gaussian/lecun inits,
    scale of lecun, lr without gd, dt without rk4), which make duplicate ids the runner dedupes.
    """
    spec = tomllib.loads(pathlib.Path(path).read_text())
    defaults = spec.get("defaults", {})
    total = 0
    grids: list[list[Any]] = []
    for index, raw in enumerate(spec["block"]):
        block = {**defaults, **raw}
        if "where" in block or "exclude" in block:
            raise UnsupportedSpec(f"block[{index}] has filters: pass --expected instead")
        inits = grid_values(block.get("init", []), "init")
        methods = grid_values(block.get("method", []), "method")
        dropped = {
            "lambda": any(i in ("gaussian", "lecun") for i in inits),
            "scale": "lecun" in inits,
            "lr": any("gd" not in m for m in methods),
            "dt": any("rk4" not in m for m in methods),
        }
        axes: dict[str, int] = {}
        for name in ("lambda", "scale", "lr", "dt", "widths", "task", "init", "method"):
            if name in block:
                axes[name] = axis_length(name, block[name])
        axes["replicate"] = int(block.get("replicates", 1))
        for name, drops in dropped.items():
            if drops and axes.get(name, 1) > 1:
                raise UnsupportedSpec(f"block[{index}]: some points drop `{name}`: pass --expected")
        for group in block.get("zip", []):
            lengths = {axes[name] for name in group}
            if len(lengths) != 1:
                raise UnsupportedSpec(f"block[{index}]: zip of unequal axes {group}")
            for name in group[1:]:
                axes[name] = 1
        total += math.prod(axes.values())
        grids.append(grid_values(block["time"], "time"))
    same = all(len(g) == len(grids[0]) and all(a == b for a, b in zip(g, grids[0])) for g in grids)
    return total, (grids[0] if same else None)
