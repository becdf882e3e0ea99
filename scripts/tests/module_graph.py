"""Check that no two modules of a crate import each other (ARCHITECTURE.md, "Invariants").

For every crate under ``crates/``, builds the graph of its modules (one per ``.rs`` file under
``src/``; ``mod.rs``/``lib.rs``/``main.rs`` name their folder's module) with an edge ``a → b``
whenever the non-test code of ``a`` names ``crate::b`` (or ``crate::b::…``), or ``super::b`` for
a sibling ``b``. Test modules (from ``#[cfg(test)]`` on) are left out: a test may use any
helper; so are comments (an intra-doc link is not an import). A parent's ``mod child;`` declaration and re-exports are not imports of the child's
code by themselves, but a child naming ``super::item`` of a parent that in turn uses the child
would be a cycle, so ``super::item`` (not a sibling module) counts as an edge to the parent.

Usage: ``python3 scripts/tests/module_graph.py [ROOT]``. Prints one line per crate and the
cycles found; exits 1 if there is any.
"""

from __future__ import annotations

import pathlib
import re
import sys

CRATE_PATH = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")
SUPER_PATH = re.compile(r"\bsuper::([a-zA-Z_][a-zA-Z0-9_]*)")


def module_name(src: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def non_test_code(text: str) -> str:
    """The code before the first `#[cfg(test)]`, without comments (doc links are not imports)."""
    cut = text.find("#[cfg(test)]")
    code = text if cut < 0 else text[:cut]
    return re.sub(r"//[^\n]*", "", code)


def crate_graph(src: pathlib.Path) -> dict[str, set[str]]:
    code = {module_name(src, p): non_test_code(p.read_text()) for p in src.rglob("*.rs")}
    edges: dict[str, set[str]] = {m: set() for m in code}
    for module, text in code.items():
        for hit in CRATE_PATH.findall(text):
            segments = hit.split("::")
            for k in range(len(segments), 0, -1):
                target = "::".join(segments[:k])
                if target in code:
                    if target != module and not module.startswith(target + "::"):
                        edges[module].add(target)
                    break
        parent = module.rpartition("::")[0]
        for name in SUPER_PATH.findall(text):
            sibling = f"{parent}::{name}" if parent else name
            edges[module].add(sibling if sibling in code else parent)
        edges[module].discard(module)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return found


def main(argv: list[str]) -> int:
    root = pathlib.Path(argv[1] if len(argv) > 1 else ".")
    failed = 0
    for crate in sorted((root / "crates").iterdir()):
        src = crate / "src"
        if not src.is_dir():
            continue
        edges = crate_graph(src)
        found = cycles(edges)
        name = crate.name
        if found:
            failed += 1
            for cycle in found:
                print(f"FAIL {name}: modules import each other: {' -> '.join(cycle)}")
        else:
            print(f"ok   {name}: {len(edges)} modules, no import cycle")
    print(f"module-graph: {sum(1 for c in (root / 'crates').iterdir() if (c / 'src').is_dir()) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
