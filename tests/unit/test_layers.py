"""The layer rule and the no-cycle rule of ``tools/check_layers.py``: the real tree obeys
them, and the checker catches each kind of breach in a small tree made for the test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools/check_layers.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = mod
    spec.loader.exec_module(mod)
    return mod


check = _checker()


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for rel, text in files.items():
        path = src / "dropline" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for parent in path.relative_to(src).parents:
            init = src / parent / "__init__.py"
            if parent != Path(".") and not init.exists():
                init.write_text("")
    return src


def test_the_project_obeys_the_rules() -> None:
    assert check.problems() == []


def test_the_layers_are_known_for_every_module() -> None:
    unknown = [m for m in check.modules() if m != "dropline" and check.layer_of(m) is None]
    assert unknown == []


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "domain/live/holds.py": "from dropline.services.live import holds\n",
            "services/live/holds.py": "X = 1\n",
        },
    )
    found = check.problems(src)
    assert len(found) == 1
    assert "domain/live/holds.py:1" in found[0]
    assert "a layer above" in found[0]


def test_a_lazy_import_counts_but_a_type_checking_one_does_not(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "store/db.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from dropline.bootstrap import Container\n"
                "def f():\n    from dropline.api import app\n"
            ),
            "bootstrap.py": "",
            "api/app.py": "",
        },
    )
    found = check.problems(src)
    assert [p.split(": ")[0] for p in found] == ["src/dropline/store/db.py:5"]


def test_a_cycle_is_reported_with_its_members(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "cli/app.py": "from dropline.cli import runs\n",
            "cli/runs.py": "from dropline.cli.helpers import x\n",
            "cli/helpers.py": "def x():\n    from dropline.cli.app import main\n",
        },
    )
    assert check.problems(src) == [
        "import cycle: dropline.cli.app -> dropline.cli.runs -> dropline.cli.helpers"
        " -> dropline.cli.app"
    ]


def test_the_domain_may_use_the_standard_library_only(tmp_path: Path) -> None:
    src = _tree(tmp_path, {"domain/money.py": "import json\nimport sqlalchemy\n"})
    found = check.problems(src)
    assert len(found) == 1 and "imports sqlalchemy" in found[0]


def test_a_long_module_must_say_it_is_one_idea(tmp_path: Path) -> None:
    body = "x = 1\n" * (check.MAX_LINES + 1)
    src = _tree(
        tmp_path,
        {
            "engine/long.py": '"""Long."""\n' + body,
            "engine/whole.py": '"""The engine.\n\nOne idea: the engine."""\n' + body,
        },
    )
    found = check.problems(src)
    assert len(found) == 1 and found[0].startswith("src/dropline/engine/long.py")


def test_the_contributor_map_lists_every_module() -> None:
    spec = importlib.util.spec_from_file_location("module_map", ROOT / "tools/module_map.py")
    assert spec and spec.loader
    module_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module_map)
    doc = (ROOT / "docs/contributing.md").read_text()
    shown = doc.split("<!-- module-map:start -->\n")[1].split("<!-- module-map:end -->")[0]
    assert shown.rstrip().splitlines() == module_map.lines(), (
        "docs/contributing.md is out of date: paste the output of python tools/module_map.py"
    )
