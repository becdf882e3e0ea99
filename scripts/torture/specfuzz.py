"""The spec fuzzer: token-level mutations of the bundled specs through `plan` and `run`.

Bases: `sweeps/*.toml`, `sweeps/paper/*.toml` and `tests/data/bad_specs/*.toml`. Mutant `i` of
seed `s` is drawn from `random.Random(f"{s}:spec:{i}")` alone, so one mutant reproduces without
the others (`--seed s --only spec-fuzz`, or the saved file). Each mutant takes 1 to 3 of:

- a number becomes an extreme value (0, -1, ±1e300, ±1e-300, nan, ±inf, 4e9, 2⁶³, -0.0, ...),
  a long list of copies, or a long grid;
- a line is deleted, duplicated, or swapped with another; a `key = value` of an inline table is
  deleted; the `[[block]]` header is repeated;
- a string becomes another name (inits, methods, task kinds, axes, "all", "", a long string);
- a value changes type (number -> string, boolean or list; string -> number; list -> table);
- a key becomes another known key.

Each mutant runs through `lazyrich plan` (timeout), and, when plan accepts it with at most 50
rows, through `lazyrich run` into a temporary directory (its time grid capped first when its
simulations would be long: at most 50 times, and no later than 2·10⁴ steps of its smallest `dt`
or `lr`). A mutant fails on: an exit code other than 0, 1, 2; a signal; a Rust panic (exit
101 or "panicked" on stderr); a timeout; a bad-input exit (2) without a one-line
`error: FILE:...` message; a run whose row count differs from the plan's estimate; or a row with
status `ok` that holds a NaN or an infinity. Failing mutants are saved (TOML and a note).
"""

from __future__ import annotations

import concurrent.futures
import math
import random
import re
import shutil
import tomllib

from common import REPO_ROOT, non_finite_ok_rows, read_points, run_cmd

EXTREMES = ["0", "-1", "1e300", "-1e300", "1e-300", "-1e-300", "nan", "inf", "-inf", "4e9",
            "4000000000", "-0.0", "1e-9", "9223372036854775807", "18446744073709551616",
            "1e7", "10000000", "0.5", "2", "1", "1e154", "-1e154", "1e-154", "65", "4097",
            "100000", "1e12"]
STRINGS = ["balanced", "balanced-signed", "aligned", "gaussian", "lecun", "closed-form", "rk4",
           "gd", "closed-form+rk4", "closed-form+gd", "random", "hierarchy", "reversal",
           "continual", "transfer", "fine-tune", "lambda", "lambdas", "scale", "replicate", "widths", "all",
           "", "x" * 300, "lambda != 0", "scale >= 1e300", "λ", "method == 'gd'"]
KEYS = ["lambda", "lambdas", "scale", "lr", "dt", "widths", "task", "init", "method", "replicates", "time",
        "record", "zip", "where", "exclude", "samples", "levels", "tasks", "shared",
        "lambda_ft", "until", "source", "split", "kind", "per_time", "singular_values",
        "matrices_at", "max_points", "seed", "name", "linspace", "logspace", "range"]

TOKEN = re.compile(
    r'(?P<comment>#[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\')|(?P<newline>\n)'
    r'|(?P<bare>[A-Za-z0-9_+\-.]+)|(?P<punct>[\[\]{}=,])|(?P<space>[ \t\r]+)|(?P<other>.)')
NUMBER = re.compile(r'^[+-]?(\d[\d_]*(\.\d*)?([eE][+-]?\d+)?|\.\d+|inf|nan|0x[0-9a-fA-F]+)$')


def tokens(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every token: string, number, word, punct, comment, newline."""
    out = []
    for match in TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "bare":
            kind = "number" if NUMBER.match(match.group()) else "word"
        if kind not in ("space", "other"):
            out.append((kind, match.start(), match.end()))
    return out


def replace(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def mutate_once(text: str, rng: random.Random, big: int) -> tuple[str, str]:
    """One mutation: the new text and a description."""
    toks = tokens(text)
    of = {kind: [t for t in toks if t[0] == kind] for kind in ("number", "string", "word")}
    lines = text.split("\n")
    ops = ["extreme", "extreme", "extreme", "huge", "line", "line", "key-value", "string",
           "type", "rename", "block"]
    op = rng.choice(ops)
    if op in ("extreme", "huge") and of["number"]:
        # Float literals (λ, scale, steps, times) three times as often as integers.
        weights = [3 if re.search(r"[.eEn]", text[a:b]) else 1 for _, a, b in of["number"]]
        _, start, end = rng.choices(of["number"], weights=weights)[0]
        if op == "extreme":
            new = rng.choice(EXTREMES)
        else:
            value = text[start:end]
            new = rng.choice([
                "[" + ", ".join([value] * rng.choice([100, big])) + "]",
                "[" + ", ".join(str(i) for i in range(rng.choice([100, big]))) + "]",
                f"{{ linspace = [0, 1, {rng.choice([10**6, 10**7, 10**7 + 1, 4 * 10**9])}] }}",
                f"{{ range = [0, {rng.choice(['1e6', '1e300', '1'])}, {rng.choice(['1e-3', '1e-300', '-1'])}] }}",
                f"{{ logspace = [-300, 300, {rng.choice([3, 10**5, 10**7])}] }}",
            ])
        return replace(text, start, end, new), f"{op} {text[start:end]!r} -> {new[:60]!r}"
    if op == "line" and len(lines) > 1:
        idx = rng.randrange(len(lines))
        how = rng.choice(["delete", "duplicate", "swap"])
        if how == "delete":
            del lines[idx]
        elif how == "duplicate":
            lines.insert(idx, lines[idx])
        else:
            other = rng.randrange(len(lines))
            lines[idx], lines[other] = lines[other], lines[idx]
        return "\n".join(lines), f"{how} line {idx + 1}"
    if op == "key-value":
        # A `key = value` inside an inline table (after `{` or `,`).
        pairs = list(re.finditer(r'(?<=[{,])\s*[A-Za-z_]+\s*=\s*("[^"]*"|[^,}\n\[]+),?', text))
        if pairs:
            match = rng.choice(pairs)
            return replace(text, match.start(), match.end(), ""), f"delete {match.group()!r}"
    if op == "string" and of["string"]:
        _, start, end = rng.choice(of["string"])
        new = '"' + rng.choice(STRINGS) + '"'
        return replace(text, start, end, new), f"string {text[start:end]!r} -> {new[:40]!r}"
    if op == "type":
        choices = [t for t in toks if t[0] in ("number", "string")]
        if choices:
            kind, start, end = rng.choice(choices)
            if kind == "number":
                new = rng.choice([f'"{text[start:end]}"', "true", f"[{text[start:end]}]",
                                  f"{{ a = {text[start:end]} }}", "[]", "{}"])
            else:
                new = rng.choice(["1", "true", "[]", "{}", f"[{text[start:end]}]"])
            return replace(text, start, end, new), f"type {text[start:end]!r} -> {new!r}"
    if op == "rename" and of["word"]:
        keys = [t for t in of["word"] if text[t[2]:].lstrip().startswith("=")]
        if keys:
            _, start, end = rng.choice(keys)
            new = rng.choice(KEYS)
            return replace(text, start, end, new), f"rename key {text[start:end]!r} -> {new!r}"
    if op == "block" and "[[block]]" in text:
        at = text.index("[[block]]")
        return replace(text, at, at, "[[block]]\n"), "repeat [[block]]"
    # Nothing of that kind: fall back to an extreme number or a deleted line.
    if of["number"]:
        _, start, end = rng.choice(of["number"])
        new = rng.choice(EXTREMES)
        return replace(text, start, end, new), f"extreme {text[start:end]!r} -> {new!r}"
    if lines:
        idx = rng.randrange(len(lines))
        del lines[idx]
        return "\n".join(lines), f"delete line {idx + 1}"
    return text, "no-op"


def bases() -> tuple[list, list]:
    """The valid specs (sweeps/, sweeps/paper/) and the malformed ones (tests/data/bad_specs/)."""
    good = sorted((REPO_ROOT / "sweeps").glob("*.toml"))
    good += sorted((REPO_ROOT / "sweeps" / "paper").glob("*.toml"))
    bad = sorted((REPO_ROOT / "tests" / "data" / "bad_specs").glob("*.toml"))
    return good, bad


def shrink(text: str) -> str:
    """The spec with at most 3 values per linspace/logspace and at most 2 replicates, so that
    more mutants are small enough to run."""
    text = re.sub(r"((?:linspace|logspace)\s*=\s*\[[^,\]]+,[^,\]]+,\s*)(\d+)(\s*\])",
                  lambda m: m.group(1) + str(min(int(m.group(2)), 3)) + m.group(3), text)
    return re.sub(r"(replicates\s*=\s*)(\d+)",
                  lambda m: m.group(1) + str(min(int(m.group(2)), 2)), text)


def make_mutant(seed: int, index: int, base_paths: tuple[list, list],
                big: int) -> tuple[str, str, str]:
    """Mutant `index`: (its base's name, its text, the mutations made). Half the mutants start
    from a valid spec, most of those shrunk first (see `shrink`); half from a malformed one."""
    rng = random.Random(f"{seed}:spec:{index}")
    good, bad = base_paths
    base = rng.choice(good if rng.random() < 0.5 else bad)
    text = base.read_text()
    done = []
    if base in good and rng.random() < 0.7:
        text = shrink(text)
        done.append("shrunk")
    for _ in range(rng.choices([1, 2, 3], weights=[6, 3, 1])[0]):
        text, what = mutate_once(text, rng, big)
        done.append(what)
    return base.relative_to(REPO_ROOT).as_posix(), text, "; ".join(done)


# ---------------------------------------------------------------------------------------------
# Capping the time grid before a run


def floats_of(value) -> list[float] | None:
    """The numbers a TOML axis value stands for (grid objects evaluated), None if not numbers
    or too many."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                return None
            out.append(float(item))
        return out
    if isinstance(value, dict) and len(value) == 1:
        (kind, args), = value.items()
        if not (isinstance(args, list) and len(args) == 3):
            return None
        try:
            start, stop, third = (float(a) for a in args)
        except (TypeError, ValueError):
            return None
        if kind in ("linspace", "logspace"):
            num = int(third)
            if not 1 <= num <= 100_000:
                return None
            xs = [start + i * (stop - start) / (num - 1) if num > 1 else start for i in range(num)]
            if kind == "logspace":
                try:
                    xs = [10.0 ** x for x in xs]
                except OverflowError:
                    return None
            return xs
        if kind == "range" and third != 0:
            count = (stop - start) / third
            if not (math.isfinite(count) and 0 < count <= 100_000):
                return None
            return [start + i * third for i in range(int(math.ceil(count)))]
    return None


def smallest_step(document: dict) -> float | None:
    """The smallest `dt` or `lr` written anywhere in the spec."""
    found: list[float] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("dt", "lr"):
                    found.extend(x for x in (floats_of(value) or []) if x > 0)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(document)
    return min(found) if found else None


def cap_times(text: str) -> tuple[str, bool]:
    """The spec with every one-line `time = …` capped (at most 50 times, none past 2·10⁴ steps
    of the smallest dt or lr); whether anything changed."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text, False
    step = smallest_step(document)
    t_cap = 2e4 * step if step else math.inf
    changed = False
    out_lines = []
    for line in text.split("\n"):
        match = re.match(r"^(\s*time\s*=\s*)(.+?)\s*(#.*)?$", line)
        if match:
            try:
                value = tomllib.loads("x = " + match.group(2))["x"]
            except tomllib.TOMLDecodeError:
                value = None
            times = floats_of(value)
            if times is not None and (len(times) > 50 or (times and max(times) > t_cap)):
                kept = [t for t in times if t <= t_cap] or [0.0, t_cap]
                if len(kept) > 50:
                    kept = [kept[round(i * (len(kept) - 1) / 49)] for i in range(50)]
                line = match.group(1) + "[" + ", ".join(repr(t) for t in kept) + "]"
                changed = True
        out_lines.append(line)
    return "\n".join(out_lines), changed


# ---------------------------------------------------------------------------------------------
# Running one mutant


def planned_rows(stdout: str) -> int | None:
    match = re.search(r"^estimated rows (\d+)", stdout, re.MULTILINE)
    return int(match.group(1)) if match else None


def bad_input_message(result, path) -> str | None:
    """Why an exit-2 message is not one clear line naming the file, or None."""
    lines = result.stderr.strip().splitlines()
    if len(lines) != 1 or not lines[0].startswith(f"error: {path}"):
        return f"bad input without a one-line `error: {path}:...`: {result.stderr.strip()[:300]!r}"
    return None


def check_mutant(ctx, index: int, base: str, text: str, what: str,
                 counts: dict[str, int]) -> str | None:
    """Runs one mutant; why it fails, or None."""
    work = ctx.tmp / "spec-fuzz" / f"{index:05d}"
    work.mkdir(parents=True, exist_ok=True)
    path = work / "mutant.toml"
    path.write_text(text)
    plan = run_cmd([ctx.bin, "plan", path], timeout=ctx.plan_timeout)
    crash = plan.crash()
    if crash:
        return f"plan: {crash}"
    if plan.rc == 2:
        return bad_input_message(plan, path)
    if plan.rc != 0:
        return None
    counts["planned"] += 1
    rows = planned_rows(plan.stdout)
    if rows is None:
        return f"plan printed no `estimated rows`: {plan.stdout[:200]!r}"
    if rows > 50:
        return None
    capped, changed = cap_times(text)
    run_path = path
    if changed:
        run_path = work / "capped.toml"
        run_path.write_text(capped)
        plan = run_cmd([ctx.bin, "plan", run_path], timeout=ctx.plan_timeout)
        crash = plan.crash()
        if crash:
            return f"plan of the capped spec: {crash}"
        if plan.rc != 0:
            return None
        rows = planned_rows(plan.stdout)
    out = work / "out"
    counts["run"] += 1
    run = run_cmd([ctx.bin, "run", run_path, "--out", out, "--threads", "1", "--quiet"],
                  timeout=ctx.run_timeout)
    crash = run.crash()
    if crash:
        return f"run{' (times capped)' if changed else ''}: {crash}"
    if run.rc == 2:
        return bad_input_message(run, run_path)
    if run.rc != 0:
        return f"run failed: {run.describe()}"
    try:
        table = read_points(out)
    except Exception as err:  # noqa: BLE001 - an unreadable part file is a finding
        return f"run wrote an unreadable part file: {err}"
    n_rows = 0 if table is None else table.num_rows
    if n_rows != rows:
        return f"run wrote {n_rows} rows, plan estimated {rows}"
    bad = non_finite_ok_rows(table)
    if bad:
        return f"rows with status ok and non-finite values: {bad[:3]}"
    return None


def spec_fuzz(ctx, report) -> None:
    base_paths = bases()
    big = 20_000 if ctx.full else 2_000
    failures: list[str] = []
    counts = {"planned": 0, "run": 0}

    def one(index: int) -> str | None:
        base, text, what = make_mutant(ctx.seed, index, base_paths, big)
        try:
            problem = check_mutant(ctx, index, base, text, what, counts)
        finally:
            shutil.rmtree(ctx.tmp / "spec-fuzz" / f"{index:05d}", ignore_errors=True)
        if problem is None:
            return None
        saved = ctx.save_failure(f"spec-{index:05d}.toml", text,
                                 f"base {base}; mutations: {what}\n{problem}\n")
        return f"mutant {index} of {base} ({what[:120]}): {problem[:300]} [saved: {saved}]"

    with concurrent.futures.ThreadPoolExecutor(max_workers=ctx.jobs) as pool:
        for problem in pool.map(one, range(ctx.n_spec)):
            if problem:
                failures.append(problem)
    report.scenario("spec-fuzz", ctx.n_spec - len(failures), failures,
                    f"{ctx.n_spec} mutants of {sum(map(len, base_paths))} specs, "
                    f"{counts['planned']} planned, {counts['run']} run, seed {ctx.seed}")
