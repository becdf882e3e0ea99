"""The `lazyrich solve` fuzzer: mutations of the bundled problems.

Bases: `sweeps/*.json` and `tests/data/bad_solve/*.json`. Mutant `i` of seed `s` is drawn from
`random.Random(f"{s}:solve:{i}")` alone. A base that is valid JSON is mutated as a tree (1 to 3
of: a number becomes an extreme value, including NaN and ±Infinity written as such; a matrix
loses or repeats a row or a column, or is transposed; `times` becomes long (10⁴ entries) or
reaches 1e300; a value changes type (string, null, list, object); a field is deleted, added
with an unknown name, or set to another method or step), then written back as JSON; any base
may also receive text-level damage (a deleted or repeated character, a duplicated field).
Each mutant runs through `lazyrich solve` (timeout). It fails on: a signal, a panic, a
timeout, an exit code other than 0, 1, 2; a bad-input exit (2) without a one-line error; or
exit 0 with output that is not strict JSON, or whose `"status": "ok"` trajectory holds a NaN,
an infinity or a non-number. Failing mutants are saved.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import math
import random

from common import REPO_ROOT, run_cmd

EXTREMES = [0, -1, 1e300, -1e300, 1e-300, -1e-300, 5e-324, 1e308, -1e308, 1e30, 1.0000001e30,
            1e31, 1e154, -1e154, 1e-154, 4e9, 2**63, -0.0, 0.5, 1e-9, 1e12, 1e15, float("nan"),
            float("inf"), float("-inf")]
METHODS = ["closed-form", "rk4", "gd", "closed_form", "", "RK4"]
FIELDS = ["w1", "w2", "sigma_yx", "sigma_xx", "trace_sigma_yy", "times", "method", "dt", "lr",
          "tau"]


def numbers(node, path=()):
    """Paths of every number in a JSON tree."""
    if isinstance(node, bool):
        return []
    if isinstance(node, (int, float)):
        return [path]
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in numbers(item, path + (i,))]
    if isinstance(node, dict):
        return [p for key, item in node.items() for p in numbers(item, path + (key,))]
    return []


def get(node, path):
    for key in path:
        node = node[key]
    return node


def set_at(node, path, value):
    if not path:
        return value
    get(node, path[:-1])[path[-1]] = value
    return node


def mutate_tree(doc, rng: random.Random) -> tuple[object, str]:
    """One mutation of a JSON document (a copy); the new document and a description."""
    doc = copy.deepcopy(doc)
    op = rng.choice(["extreme", "extreme", "extreme", "matrix", "times", "type", "field",
                     "method"])
    if op == "extreme":
        paths = numbers(doc)
        if paths:
            path = rng.choice(paths)
            value = rng.choice(EXTREMES)
            return set_at(doc, path, value), f"{'/'.join(map(str, path))} = {value!r}"
    if op == "matrix" and isinstance(doc, dict):
        names = [k for k in ("w1", "w2", "sigma_yx", "sigma_xx") if isinstance(doc.get(k), list)]
        if names:
            name = rng.choice(names)
            matrix = doc[name]
            how = rng.choice(["drop-row", "repeat-row", "drop-column", "repeat-column",
                              "transpose", "empty", "huge"])
            rows = [r for r in matrix if isinstance(r, list)]
            if how == "drop-row" and matrix:
                matrix.pop(rng.randrange(len(matrix)))
            elif how == "repeat-row" and matrix:
                matrix.append(copy.deepcopy(matrix[-1]))
            elif how == "drop-column" and rows:
                for row in rows:
                    if row:
                        row.pop()
            elif how == "repeat-column" and rows:
                for row in rows:
                    if row:
                        row.append(row[-1])
            elif how == "transpose" and rows and all(len(r) == len(rows[0]) for r in rows):
                doc[name] = [list(col) for col in zip(*rows)]
            elif how == "empty":
                doc[name] = rng.choice([[], [[]]])
            elif how == "huge":
                size = rng.choice([64, 300])
                doc[name] = [[0.01 * ((i * 7 + j * 3) % 11 - 5) for j in range(size)]
                             for i in range(size)]
            return doc, f"{name}: {how}"
    if op == "times" and isinstance(doc, dict):
        how = rng.choice(["long", "far", "dense-far", "duplicate", "reverse"])
        if how == "long":
            doc["times"] = [i * 1e-3 for i in range(10_000)]
        elif how == "far":
            doc["times"] = [0, rng.choice([1e12, 1e15, 1e300])]
        elif how == "dense-far":
            doc["times"] = [0, 1e-300, 1e300]
        elif how == "duplicate":
            doc["times"] = [0, 1, 1, 1]
        else:
            doc["times"] = [5, 1, 0]
        return doc, f"times: {how}"
    if op == "type" and isinstance(doc, dict) and doc:
        key = rng.choice(sorted(doc))
        value = rng.choice(["1", None, [], {}, [[None]], [["1"]], True, [[[1]]]])
        doc[key] = value
        return doc, f"{key} = {value!r}"
    if op == "field" and isinstance(doc, dict):
        how = rng.choice(["delete", "unknown", "add"])
        if how == "delete" and doc:
            key = rng.choice(sorted(doc))
            del doc[key]
            return doc, f"delete {key}"
        if how == "unknown":
            doc[rng.choice(["lamda", "w3", "sigma_yy", "Times"])] = 1
            return doc, "unknown field"
        key = rng.choice(FIELDS)
        doc[key] = rng.choice(EXTREMES)
        return doc, f"add {key} = {doc[key]!r}"
    if op == "method" and isinstance(doc, dict):
        doc["method"] = rng.choice(METHODS)
        if rng.random() < 0.5:
            doc[rng.choice(["dt", "lr"])] = rng.choice([1e-9, 1e-300, 1e300, 0.5, 2.0, 1e-3])
        return doc, f"method = {doc['method']!r}"
    paths = numbers(doc)
    if paths:
        path = rng.choice(paths)
        value = rng.choice(EXTREMES)
        return set_at(doc, path, value), f"{'/'.join(map(str, path))} = {value!r}"
    return doc, "no-op"


def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """Text-level damage."""
    if not text:
        return "{", "empty -> {"
    how = rng.choice(["delete", "repeat", "duplicate-field", "truncate"])
    at = rng.randrange(len(text))
    if how == "delete":
        return text[:at] + text[at + 1:], f"delete char {at}"
    if how == "repeat":
        return text[:at] + text[at] * rng.choice([2, 1000]) + text[at:], f"repeat char {at}"
    if how == "duplicate-field" and text.lstrip().startswith("{"):
        start = text.index("{") + 1
        return text[:start] + '"tau": 2, "tau": 3,' + text[start:], "duplicate field tau"
    return text[:at], f"truncate at {at}"


def bases() -> tuple[list, list]:
    """The valid problems (sweeps/*.json) and the malformed ones (tests/data/bad_solve/)."""
    return sorted((REPO_ROOT / "sweeps").glob("*.json")), sorted(
        (REPO_ROOT / "tests" / "data" / "bad_solve").glob("*.json"))


def make_mutant(seed: int, index: int, base_paths: tuple[list, list]) -> tuple[str, str, str]:
    """Mutant `index`: half start from a valid problem, half from a malformed one."""
    rng = random.Random(f"{seed}:solve:{index}")
    good, bad = base_paths
    base = rng.choice(good if rng.random() < 0.5 else bad)
    text = base.read_text()
    done = []
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if doc is not None and rng.random() < 0.85:
        for _ in range(rng.choices([1, 2, 3], weights=[6, 3, 1])[0]):
            doc, what = mutate_tree(doc, rng)
            done.append(what)
        # allow_nan writes NaN and Infinity as such: the binary must refuse them cleanly.
        text = json.dumps(doc, allow_nan=True)
    else:
        text, what = mutate_text(text, rng)
        done.append(what)
    return base.relative_to(REPO_ROOT).as_posix(), text, "; ".join(done)


def strict_json(text: str):
    """Parses JSON, refusing NaN and Infinity."""
    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


def bad_numbers(node, path="") -> list[str]:
    """Paths of values in a trajectory that are not finite numbers."""
    if isinstance(node, bool) or node is None or isinstance(node, str):
        return [f"{path} = {node!r}"]
    if isinstance(node, (int, float)):
        return [] if math.isfinite(node) else [f"{path} = {node!r}"]
    if isinstance(node, list):
        return [b for i, item in enumerate(node) for b in bad_numbers(item, f"{path}[{i}]")]
    if isinstance(node, dict):
        return [b for key, item in node.items() for b in bad_numbers(item, f"{path}.{key}")]
    return [f"{path}: {type(node).__name__}"]


def check_mutant(ctx, index: int, text: str, counts: dict[str, int]) -> str | None:
    work = ctx.tmp / "solve-fuzz"
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{index:05d}.json"
    path.write_text(text)
    result = run_cmd([ctx.bin, "solve", path], timeout=ctx.solve_timeout)
    try:
        crash = result.crash()
        if crash:
            return crash
        if result.rc == 2:
            lines = result.stderr.strip().splitlines()
            if len(lines) != 1 or not lines[0].startswith("error: "):
                return f"bad input without a one-line error: {result.stderr.strip()[:300]!r}"
            return None
        if result.rc != 0:
            return None
        try:
            output = strict_json(result.stdout)
        except ValueError as err:
            return f"exit 0 but the output is not strict JSON ({err}): {result.stdout[:200]!r}"
        if isinstance(output, dict) and output.get("status") == "ok":
            counts["ok"] += 1
            bad = bad_numbers(output.get("points"), "points")
            bad += bad_numbers(output.get("lambda"), "lambda")
            if bad:
                return f"status ok with non-finite or non-number values: {bad[:3]}"
        return None
    finally:
        path.unlink(missing_ok=True)


def solve_fuzz(ctx, report) -> None:
    base_paths = bases()
    failures: list[str] = []
    counts = {"ok": 0}

    def one(index: int) -> str | None:
        base, text, what = make_mutant(ctx.seed, index, base_paths)
        problem = check_mutant(ctx, index, text, counts)
        if problem is None:
            return None
        saved = ctx.save_failure(f"solve-{index:05d}.json", text,
                                 f"base {base}; mutations: {what}\n{problem}\n")
        return f"mutant {index} of {base} ({what[:120]}): {problem[:300]} [saved: {saved}]"

    with concurrent.futures.ThreadPoolExecutor(max_workers=ctx.jobs) as pool:
        for problem in pool.map(one, range(ctx.n_solve)):
            if problem:
                failures.append(problem)
    report.scenario("solve-fuzz", ctx.n_solve - len(failures), failures,
                    f"{ctx.n_solve} mutants of {sum(map(len, base_paths))} problems, "
                    f"{counts['ok']} solved with status ok, seed {ctx.seed}")
