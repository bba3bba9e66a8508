"""A server or worker pointed at a database that is not migrated to this dropline's head
stops before its first query with one line saying which command fixes it, instead of an
SQL traceback from the first request or job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends import free_port
from dropline.api.app import create_app
from dropline.config import load_settings
from dropline.store.db import SchemaNotCurrent, head_revision

pytestmark = pytest.mark.e2e


def _env(db: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DROPLINE_")}
    return base | {
        "DROPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "DROPLINE_DATA_DIR": str(db.parent / "data"),
        "DROPLINE_PORT": str(free_port()),
    }


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dropline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_empty_database_is_refused_with_the_command_that_fixes_it(
    tmp_path: Path, command: str
) -> None:
    env = _env(tmp_path / "dropline.db")
    if command == "worker":
        env["DROPLINE_ENGINE_URL"] = "redis://127.0.0.1:6379/0"
    done = _run([command], env)
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert "no dropline tables yet" in out
    assert "dropline db upgrade" in out
    assert "Traceback" not in out


def test_an_older_schema_names_both_migrations(tmp_path: Path) -> None:
    env = _env(tmp_path / "dropline.db")
    assert _run(["db", "upgrade", "--revision", "0021_funnel"], env).returncode == 0
    done = _run(["serve"], env)
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    head = head_revision()
    assert head is not None and head != "0021_funnel"
    assert f"at migration 0021_funnel, this dropline needs {head}" in out
    # after the upgrade the same check passes: the server gets as far as its port
    assert _run(["db", "upgrade"], env).returncode == 0
    assert _run(["serve", "--check"], env).returncode == 0


async def test_the_app_refuses_to_start_on_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another ASGI server (gunicorn, a second uvicorn) runs the app's lifespan, not
    ``dropline serve``: the lifespan checks too."""
    for name, value in _env(tmp_path / "dropline.db").items():
        monkeypatch.setenv(name, value)
    app = create_app(load_settings())
    with pytest.raises(SchemaNotCurrent, match="dropline db upgrade"):
        async with app.router.lifespan_context(app):
            pass
