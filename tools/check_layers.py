"""Keeps the house in order: imports point down the layers and never go round in a circle.

Layers, bottom first (``../shared/DESIGN.md``); a module may import its own layer or
any layer below it, never one above:

    0  domain          pure rules; the standard library only
    1  ports, config   the protocols the services define (``services/ports.py``), settings
    2  adapters        store, engine, payments, webhooks, mail, auth
    3  services        use cases
    4  composition     bootstrap.py (picks the adapters), runtime.py
    5  entrypoints     api, web, cli, workers, __main__

Every ``import`` counts, including those inside functions (a lazy import still ties the
modules together); only imports under ``if TYPE_CHECKING:`` are left out. A cycle is
any set of modules that import each other, directly or through others.

A module over ``MAX_LINES`` lines must be one idea, and say so: its docstring names it
with the words "one idea" (the Redis engine, ISO 2859-1 sampling, ...). Anything else
that grows that long is split.

Run ``python tools/check_layers.py`` (``make lint`` does); exit code 1 lists each problem.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "dropline"
MAX_LINES = 500
SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[tuple[int, str, tuple[str, ...]]] = [
    (0, "domain", ("domain",)),
    (1, "ports", ("services.ports", "services.context", "config")),
    (2, "adapters", ("store", "engine", "payments", "webhooks", "mail", "auth")),
    (3, "services", ("services",)),
    (4, "composition", ("bootstrap", "runtime")),
    (5, "entrypoints", ("api", "web", "cli", "workers", "__main__")),
]


def layer_of(module: str) -> tuple[int, str] | None:
    """The (rank, name) of a ``dropline.*`` module: the longest matching prefix wins."""
    rel = module.removeprefix(PACKAGE + ".")
    best: tuple[int, int, str] | None = None
    for rank, name, prefixes in LAYERS:
        for p in prefixes:
            if (rel == p or rel.startswith(p + ".")) and (best is None or len(p) > best[0]):
                best = (len(p), rank, name)
    return None if best is None else (best[1], best[2])


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package by dotted name (a package is its ``__init__``)."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, imported module) for each import in ``path``: ``dropline`` modules by their
    full name, anything else by its top-level name."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_lines(tree)
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".") if is_pkg else module.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            for a in node.names:
                full = f"{base}.{a.name}"
                yield node.lineno, full if full in known else base


def problems(src: Path = SRC) -> list[str]:
    """Every upward import, every non-standard import in the domain, every long module
    that does not say it is one idea, and every cycle."""
    known = modules(src)
    found: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in known}
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for mod, path in known.items():
        here = layer_of(mod)
        for line, target in imports(mod, path, known):
            where = f"{path.relative_to(src.parent)}:{line}"
            if not target.startswith(PACKAGE + ".") and target != PACKAGE:
                if here and here[1] == "domain" and target.split(".")[0] not in stdlib:
                    found.append(f"{where}: the domain imports {target} (standard library only)")
                continue
            if target in known and target != mod:
                graph[mod].add(target)
            there = layer_of(target)
            if here and there and there[0] > here[0]:
                found.append(
                    f"{where}: {mod} ({here[1]}) imports {target} ({there[1]}), a layer above"
                )
    for path in known.values():
        text = path.read_text()
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and "one idea" not in doc.lower():
            found.append(
                f"{path.relative_to(src.parent)}: {n} lines; split it, or say in its "
                "docstring which one idea it holds"
            )
    found += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each shown as
    one loop ``a -> b -> a`` through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(_loop(graph, set(comp)))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _loop(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """One real loop through a strongly connected component, from its first module
    back to it (breadth-first, so the shortest such loop)."""
    start = min(comp)
    prev: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & comp):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return [*reversed(path), start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return sorted(comp)  # unreachable for a real component


def main() -> int:
    found = problems()
    for p in found:
        print(p)
    if found:
        print(f"{len(found)} layering problem(s); see tools/check_layers.py for the rule")
        return 1
    print(f"imports: {len(modules())} modules, every import points down, no cycles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
