"""The CLI starts without the services: ``dropline --help`` and the commands that talk
to the running server import neither the container nor SQLAlchemy, Alembic, Jinja2 or
the token libraries; a command that needs the database loads them when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "dropline.bootstrap",
    "sqlalchemy",
    "alembic",
    "jinja2",
    "jwt",
    "icalendar",
    "holidays",
)


def loaded_after(code: str) -> dict[str, bool]:
    """Which of ``HEAVY`` a fresh interpreter has imported after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    loaded: dict[str, bool] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_the_command_tree_loads_without_the_services() -> None:
    loaded = loaded_after("import dropline.cli.app")
    assert not any(loaded.values()), [m for m, on in loaded.items() if on]


def test_help_loads_without_the_services() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from dropline.cli.app import main\n"
        "sys.argv = ['dropline', 'keys', '--help']\n"
        "with contextlib.redirect_stdout(io.StringIO()) as help_text:\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        main()\n"
        "assert 'create' in help_text.getvalue(), help_text.getvalue()\n"
    )
    loaded = loaded_after(code)
    assert not any(loaded.values()), [m for m, on in loaded.items() if on]


def test_a_database_command_loads_them_when_it_runs() -> None:
    """The lazy imports still happen: ``run`` builds the container (here it fails on a
    database with no tables, after importing the services)."""
    code = (
        "import contextlib, io, os, sys, tempfile\n"
        "os.environ['DROPLINE_DATABASE_URL'] = 'sqlite+aiosqlite:///' + tempfile.mktemp()\n"
        "from dropline.cli.app import main\n"
        "sys.argv = ['dropline', 'products', 'list']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        main()\n"
    )
    loaded = loaded_after(code)
    assert loaded["dropline.bootstrap"] and loaded["sqlalchemy"], loaded
