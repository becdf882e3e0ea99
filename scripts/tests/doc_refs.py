"""Check that the maths documents and their citations stay true to the code.

1. Every test or function named in ``docs/*.md`` as ``path/to/file.rs::name`` (or ``.py``) exists:
   the file is in the repository and defines ``fn name`` (Rust) or ``def name`` (Python). The
   verification status of each result in ``docs/math.md`` names its tests this way, so a renamed
   or deleted test shows up here.
2. Every citation ``docs/math.md §X.Y``, ``docs/math.md Pn``, ``docs/math.md Tn`` and
   ``docs/golden.md Gn`` in the repository's tracked text files names a section heading, pitfall,
   test case or golden case that exists in those documents.

Usage: ``python3 scripts/tests/doc_refs.py [ROOT]``. One line per failure, then
``doc-refs: N passed, M failed``; exits 1 on any failure.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

FUNC_REF = re.compile(r"`?((?:[\w.-]+/)*[\w.-]+\.(?:rs|py))::(\w+)`?")
CITATION = re.compile(r"docs/(math|golden)\.md((?:,? ?(?:§\d+(?:\.\d+)?|[PTG]\d+))+)")
IDENT = re.compile(r"§\d+(?:\.\d+)?|[PTG]\d+")


def tracked_files(root: pathlib.Path) -> list[pathlib.Path]:
    out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True)
    return [root / line for line in out.stdout.splitlines()]


def defined_names(path: pathlib.Path) -> set[str]:
    text = path.read_text()
    pattern = r"\bfn\s+(\w+)" if path.suffix == ".rs" else r"\bdef\s+(\w+)"
    return set(re.findall(pattern, text))


def identifiers(math: str, golden: str) -> dict[str, set[str]]:
    math_ids = {f"§{m}" for m in re.findall(r"^#{2,3} (\d+(?:\.\d+)?)[ .]", math, re.M)}
    math_ids |= set(re.findall(r"^- \*\*([PT]\d+) —", math, re.M))
    golden_ids = set(re.findall(r"^## (G\d+):", golden, re.M))
    return {"math": math_ids, "golden": golden_ids}


def main(argv: list[str]) -> int:
    root = pathlib.Path(argv[1] if len(argv) > 1 else ".").resolve()
    passed, failures = 0, []
    docs = sorted((root / "docs").glob("*.md"))
    for doc in docs:
        for lineno, line in enumerate(doc.read_text().splitlines(), 1):
            for file, name in FUNC_REF.findall(line):
                target = root / file
                where = f"{doc.relative_to(root)}:{lineno}"
                if not target.is_file():
                    failures.append(f"{where}: `{file}::{name}`: no file {file}")
                elif name not in defined_names(target):
                    failures.append(f"{where}: `{file}::{name}`: {file} defines no `{name}`")
                else:
                    passed += 1
    known = identifiers((root / "docs/math.md").read_text(), (root / "docs/golden.md").read_text())
    for path in tracked_files(root):
        if path.suffix in {".png", ".parquet", ".lock"} or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for doc, cited in CITATION.findall(line):
                for ident in IDENT.findall(cited):
                    if ident in known[doc] or (ident.startswith("§") and any(
                            k.startswith(ident + ".") for k in known[doc])):
                        passed += 1
                    else:
                        failures.append(f"{path.relative_to(root)}:{lineno}: docs/{doc}.md {ident}: "
                                        f"no such section, pitfall, test case or golden case")
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"doc-refs: {passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
