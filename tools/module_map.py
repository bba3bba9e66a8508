"""Prints the source tree as a Markdown list, one line per module with the first line of
its docstring: the map in ``docs/contributing.md`` is this output, and a test checks
that the two agree. ``python tools/module_map.py --write`` puts it into the doc."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "dropline"


def summary(path: Path) -> str:
    """The first sentence of a module's docstring on one line, or "" when it has none."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    if len(para) > 110 and ". " in para[:110]:
        para = para[: para.index(". ") + 1]
    if len(para) > 110:
        para = para[: para[:110].rindex(" ")].rstrip(",;:") + " …"
    return para


def lines(root: Path = SRC) -> list[str]:
    """``- `path` — summary`` for each module, packages before their modules."""
    out = []
    for path in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).parts):
        rel = path.relative_to(root)
        if "migrations" in rel.parts or rel == Path("__init__.py"):
            continue
        package = path.name == "__init__.py"
        shown = f"{rel.parent.name}/" if package else rel.name
        depth = len(rel.parts) - (2 if package else 1)
        text = summary(path)
        out.append(f"{'  ' * depth}- `{shown}`" + (f" — {text}" if text else ""))
    return out


DOC = SRC.parents[1] / "docs" / "contributing.md"
START, END = "<!-- module-map:start -->\n", "<!-- module-map:end -->"


def write(doc: Path = DOC) -> None:
    """Replace the map between the markers of ``doc`` with the current tree."""
    text = doc.read_text()
    head, rest = text.split(START)
    _, tail = rest.split(END)
    doc.write_text(head + START + "\n".join(lines()) + "\n" + END + tail)


if __name__ == "__main__":
    import sys

    if "--write" in sys.argv:
        write()
    else:
        print("\n".join(lines()))
