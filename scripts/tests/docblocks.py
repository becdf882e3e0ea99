"""Run the code blocks of README.md and docs/*.md against a lazyrich binary.

Every fenced block is classified by the first word of its info string:

- ``sh``, ``bash``, ``shell``: a shell command, run with ``bash -e``; ``console``: the same for
  its ``$ ``-prompted lines (the other lines are output). ``cargo run [--release] -p
  lazyrich-cli --`` is replaced by the binary, whose directory is also first on ``PATH``
  (``lazyrich ...`` works); any other ``cargo`` call is a failure (mark the block skip);
- ``toml``: a sweep spec, written to a file and checked with ``lazyrich plan FILE`` (exit 0); a
  spec of at most ``RUN_MAX_POINTS`` points is then also run with ``lazyrich run``;
- ``json``: a ``lazyrich solve`` problem: ``lazyrich solve FILE`` must exit 0 and print
  ``"status": "ok"``;
- ``python`` (or ``py``): run with the ``python3`` running this script. The blocks of one file
  share their definitions, like a notebook: a block runs after the blocks of its file before it
  that passed;
- anything else (``text`` for output, formulas and usage lines) is not run; blocks without a
  language are not run either, and are counted in the closing summary.

A marker, an HTML comment on the line right before the opening fence, changes that:

- ``<!-- docblock: skip (reason) -->``: not run (a partial example, a command that must not run
  in CI, e.g. the test command itself); the reason is required;
- ``<!-- docblock: output -->``: the block shows output, not input (JSON printed by a command);
- ``<!-- docblock: expect-fail -->``: a documented failing example: it must exit non-zero.

Every block runs in one temporary working directory, never in the repository: it holds links
to the repository's ``sweeps/`` and ``scripts/``, and, made by the binary on first use by a
Python block, the datasets the docs' Python reads: ``results/quickstart`` (``lazyrich run
sweeps/quickstart.toml``, the README's command) and ``DIR`` (``sweeps/tasks.toml``, every task
kind: the placeholder of docs/dataset.md).

Usage: ``python3 scripts/tests/docblocks.py [--bin PATH] [--root DIR] [-q] [FILE.md ...]``.
Files default to ``README.md`` and ``docs/*.md`` under ``--root`` (default: this repository);
``--bin`` defaults to ``target/debug/lazyrich`` of the repository. Prints one line per
executable block (``ok README.md:18 sh``, ``FAIL docs/spec.md:120 toml: <first lines of the
error>``, ``skip ...: <reason>``; failures only with ``-q``) and ends with ``docblocks: N passed,
M failed, K skipped``; exits 1 if any block failed, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

SHELL = {"sh", "bash", "shell", "console"}
PYTHON = {"python", "py"}
RUNNABLE = SHELL | PYTHON | {"toml", "json"}
#: A spec block of at most this many points is run, not only planned.
RUN_MAX_POINTS = 1000
#: Seconds one block (or the making of a dataset) may take.
TIMEOUT_S = 120

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
MARKER = re.compile(r"^\s*<!--\s*docblock:\s*(?P<body>.*?)\s*-->\s*$")
MARKER_BODY = re.compile(r"^(?P<kind>skip|output|expect-fail)(?:\s*\((?P<reason>.*)\))?$")
CARGO_RUN = re.compile(r"\bcargo\s+run\s+(?:--release\s+)?-p\s+lazyrich-cli\s+--(?=\s|$)")
CARGO_CALL = re.compile(r"(?:^|[;&|(]|\bthen|\bdo)\s*cargo\b")


@dataclasses.dataclass
class Block:
    """One fenced code block of a Markdown file."""

    #: The file as reported (relative to the root when inside it).
    file: str
    #: Line number (1-based) of the opening fence.
    line: int
    #: First word of the info string, lowercased; "" for a bare fence.
    lang: str
    code: str
    #: "skip", "output", "expect-fail" or None.
    marker: str | None = None
    #: The reason of a skip marker.
    reason: str = ""
    #: A malformed marker or fence: the block fails with this message.
    error: str = ""

    @property
    def label(self) -> str:
        """`FILE:LINE LANG`, as the report prints it."""
        return f"{self.file}:{self.line} {self.lang or '(bare)'}"


@dataclasses.dataclass
class Outcome:
    """The result of one block: "ok", "FAIL" or "skip", with a detail."""

    status: str
    detail: str = ""


def parse_marker(text: str) -> tuple[str | None, str, str]:
    """(kind, reason, error) of a marker comment's body."""
    m = MARKER_BODY.match(text)
    if not m:
        return None, "", f"unknown docblock marker {text!r} (skip (reason), output, expect-fail)"
    kind, reason = m.group("kind"), (m.group("reason") or "").strip()
    if kind == "skip" and not reason:
        return None, "", "a skip marker needs a reason: <!-- docblock: skip (why) -->"
    if kind != "skip" and m.group("reason") is not None:
        return None, "", f"the {kind} marker takes no reason"
    return kind, reason, ""


def extract_blocks(path: pathlib.Path, name: str) -> list[Block]:
    """Every fenced block of a Markdown file, with its marker; a marker that is not right
    before a fence, or a fence left open, is a block with an error."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        if marker:
            fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
            if not fence:
                error = "a docblock marker must be on the line right before a fence"
                blocks.append(Block(name, i + 1, "marker", "", error=error))
            i += 1
            continue
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, info = fence.group(1), fence.group(2), fence.group(3)
        block = Block(name, i + 1, info.lower(), "")
        if i > 0 and (prev := MARKER.match(lines[i - 1])):
            block.marker, block.reason, block.error = parse_marker(prev.group("body"))
        body: list[str] = []
        j = i + 1
        closing = re.compile(rf"^ {{0,3}}{re.escape(ticks[0])}{{{len(ticks)},}}\s*$")
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
            j += 1
        if j == len(lines):
            block.error = "the fence is never closed"
        block.code = "\n".join(body) + "\n"
        blocks.append(block)
        i = j + 1
    return blocks


def first_lines(text: str, n: int = 3) -> str:
    """The first `n` non-blank lines of `text`, joined with ' | '."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out = " | ".join(lines[:n])
    return out + (" | …" if len(lines) > n else "")


class Workspace:
    """The temporary working directory of every block, and the binary it runs."""

    def __init__(self, directory: pathlib.Path, binary: pathlib.Path) -> None:
        self.dir = directory
        self.bin = binary
        self.env = dict(os.environ)
        self.env["PATH"] = f"{binary.parent}{os.pathsep}{self.env.get('PATH', '')}"
        for name in ("sweeps", "scripts"):
            (directory / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
        (directory / "_docblocks").mkdir()
        self.counter = 0
        self.python_done: dict[str, list[Block]] = {}

    def scratch(self, suffix: str) -> pathlib.Path:
        """A new file name under `_docblocks/` of the working directory."""
        self.counter += 1
        return self.dir / "_docblocks" / f"block{self.counter:03d}{suffix}"

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Runs a command in the working directory (a timeout is exit code 124)."""
        try:
            proc = subprocess.run(argv, cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                                  text=True, capture_output=True, timeout=TIMEOUT_S)
            # Messages name scratch files relative to the working directory.
            proc.stderr = proc.stderr.replace(f"{self.dir}{os.sep}", "")
            return proc
        except subprocess.TimeoutExpired as err:
            out = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
            return subprocess.CompletedProcess(argv, 124, out, f"timed out after {TIMEOUT_S} s")

    def dataset(self, rel: str, spec: str) -> str | None:
        """Makes the dataset `rel` of the working directory from `spec` unless it exists;
        returns an error message or None."""
        if (self.dir / rel / "points").is_dir():
            return None
        proc = self.run([str(self.bin), "run", spec, "--out", rel, "--quiet"])
        if proc.returncode != 0:
            return f"making {rel} from {spec}: {first_lines(proc.stderr or proc.stdout)}"
        return None


def expect(block: Block, proc: subprocess.CompletedProcess[str], what: str) -> Outcome:
    """ok/FAIL of a finished command, given the block's expect-fail marker."""
    if block.marker == "expect-fail":
        if proc.returncode == 0:
            return Outcome("FAIL", f"{what} exited 0, but the block is marked expect-fail")
        return Outcome("ok", f"fails as documented (exit {proc.returncode})")
    if proc.returncode != 0:
        message = first_lines(proc.stderr or proc.stdout)
        return Outcome("FAIL", f"{what} exit {proc.returncode}: {message}")
    return Outcome("ok")


def shell_script(block: Block, binary: pathlib.Path) -> tuple[str, str]:
    """(script, error) of a shell block: `$ ` lines of a console block, cargo run rewritten."""
    lines = block.code.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    script = "\n".join(CARGO_RUN.sub(lambda _: shlex.quote(str(binary)), line) for line in lines)
    for line in script.splitlines():
        command = line.split("#", 1)[0]
        if CARGO_CALL.search(command):
            return "", (f"calls cargo: `{line.strip()}` (only `cargo run -p lazyrich-cli --` is "
                        "replaced by the binary); mark the block "
                        "`<!-- docblock: skip (reason) -->`")
    return script + "\n", ""


def run_shell(block: Block, ws: Workspace) -> Outcome:
    """A shell block: its script under `bash -e` in the working directory."""
    script, error = shell_script(block, ws.bin)
    if error:
        return Outcome("FAIL", error)
    path = ws.scratch(".sh")
    path.write_text(script)
    return expect(block, ws.run(["bash", "-e", str(path)]), "bash")


def run_toml(block: Block, ws: Workspace) -> Outcome:
    """A spec block: `lazyrich plan`, then `lazyrich run` if it has few enough points."""
    path = ws.scratch(".toml")
    path.write_text(block.code)
    plan = ws.run([str(ws.bin), "plan", str(path)])
    outcome = expect(block, plan, "lazyrich plan")
    if block.marker == "expect-fail" or outcome.status != "ok":
        return outcome
    rows = re.search(r"^estimated rows\s+(\d+)", plan.stdout, re.M)
    n = int(rows.group(1)) if rows else None
    if n is None or n > RUN_MAX_POINTS:
        return Outcome("ok", "planned" + (f", {n} points (not run)" if n is not None else ""))
    run = ws.run([str(ws.bin), "run", str(path), "--out", str(path.with_suffix("")), "--quiet"])
    outcome = expect(block, run, "lazyrich run")
    if outcome.status == "ok":
        outcome.detail = f"planned and run, {n} points"
    return outcome


def run_json(block: Block, ws: Workspace) -> Outcome:
    """A `lazyrich solve` problem: exit 0 and `"status": "ok"`."""
    path = ws.scratch(".json")
    path.write_text(block.code)
    proc = ws.run([str(ws.bin), "solve", str(path)])
    outcome = expect(block, proc, "lazyrich solve")
    if block.marker == "expect-fail" or outcome.status != "ok":
        return outcome
    try:
        status = json.loads(proc.stdout).get("status")
    except (json.JSONDecodeError, AttributeError) as err:
        return Outcome("FAIL", f"lazyrich solve printed no JSON object: {err}")
    if status != "ok":
        message = json.loads(proc.stdout).get("message", "")
        return Outcome("FAIL", f'lazyrich solve: "status": {status!r} {message}'.strip())
    return Outcome("ok")


#: Runs the blocks of one file named on the command line (a JSON list of [label, code]) in one
#: namespace: every block but the last as set-up, then the last.
PYTHON_DRIVER = """\
import json, sys
blocks = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
for label, code in blocks:
    exec(compile(code, label, "exec"), ns)
"""


#: The datasets the docs' Python reads, made on first need: (path in the working directory, spec).
DATASETS = [("results/quickstart", "sweeps/quickstart.toml"), ("DIR", "sweeps/tasks.toml")]


def run_python(block: Block, ws: Workspace) -> Outcome:
    """A Python block, after the blocks of its file that passed before it (one namespace)."""
    for rel, spec in DATASETS:
        error = ws.dataset(rel, spec)
        if error:
            return Outcome("FAIL", error)
    before = ws.python_done.setdefault(block.file, [])
    path = ws.scratch(".json")
    path.write_text(json.dumps([[b.label, b.code] for b in before + [block]]))
    proc = ws.run([sys.executable, "-c", PYTHON_DRIVER, str(path)])
    outcome = expect(block, proc, "python3")
    if proc.returncode != 0 and block.marker != "expect-fail":
        # The traceback's last line names the error; the line before it, where.
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        where = next((line.strip() for line in reversed(lines)
                      if line.strip().startswith("File ")), "")
        outcome.detail = f"python3: {lines[-1] if lines else 'exit ' + str(proc.returncode)}" + (
            f" ({where})" if where else "")
    if outcome.status == "ok" and block.marker != "expect-fail":
        before.append(block)
    return outcome


RUNNERS = {"toml": run_toml, "json": run_json}
RUNNERS.update({lang: run_shell for lang in SHELL})
RUNNERS.update({lang: run_python for lang in PYTHON})


def run_block(block: Block, ws: Workspace) -> Outcome:
    """The outcome of one executable (or marked, or malformed) block."""
    if block.error:
        return Outcome("FAIL", block.error)
    if block.marker == "skip":
        return Outcome("skip", block.reason)
    if block.marker == "output":
        return Outcome("skip", "output")
    return RUNNERS[block.lang](block, ws)


def default_files(root: pathlib.Path) -> list[pathlib.Path]:
    """README.md and docs/*.md under `root`, those that exist."""
    files = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    return [f for f in files if f.is_file()]


def display_name(path: pathlib.Path, root: pathlib.Path) -> str:
    """`path` relative to `root` when inside it, else as given."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Runs every block of the chosen files; 0 if none failed, 1 if any did, 2 on bad usage."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("files", nargs="*", type=pathlib.Path, metavar="FILE.md",
                        help="Markdown files (default: README.md and docs/*.md under --root)")
    parser.add_argument("--bin", type=pathlib.Path,
                        default=REPO_ROOT / "target" / "debug" / "lazyrich",
                        help="the lazyrich binary (default: target/debug/lazyrich)")
    parser.add_argument("--root", type=pathlib.Path, default=REPO_ROOT,
                        help="directory holding README.md and docs/ (default: the repository)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    args = parser.parse_args(argv)
    binary = args.bin.resolve()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        parser.error(f"--bin {args.bin}: not an executable file")
    files = args.files or default_files(args.root)
    missing = [str(f) for f in files if not f.is_file()]
    if not files or missing:
        parser.error(f"no such Markdown file: {', '.join(missing)}" if missing
                     else "no Markdown file")

    passed = failed = skipped = 0
    not_run: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="lazyrich-docblocks.") as tmp:
        ws = Workspace(pathlib.Path(tmp), binary)
        for path in files:
            for block in extract_blocks(path, display_name(path, args.root)):
                if not block.error and block.lang not in RUNNABLE:
                    not_run[block.lang or "(bare)"] = not_run.get(block.lang or "(bare)", 0) + 1
                    continue
                outcome = run_block(block, ws)
                passed += outcome.status == "ok"
                failed += outcome.status == "FAIL"
                skipped += outcome.status == "skip"
                if outcome.status == "FAIL" or not args.quiet:
                    detail = f": {outcome.detail}" if outcome.detail else ""
                    print(f"{outcome.status} {block.label}{detail}", flush=True)
    if not_run:
        counts = ", ".join(f"{n} {lang}" for lang, n in sorted(not_run.items()))
        print(f"docblocks: not run (no runnable language): {counts}")
    print(f"docblocks: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
