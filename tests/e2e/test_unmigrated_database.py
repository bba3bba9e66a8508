"""A server or worker pointed at a database that is not migrated to this dropline's head
stops before its first query with one line saying which command fixes it, instead of an
SQL traceback from the first request or job."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropline.api.app import create_app
from dropline.config import load_settings
from dropline.store.db import SchemaNotCurrent, head_revision
from e2e.cli_support import cli_env, run_cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_an_empty_database_is_refused_with_the_command_that_fixes_it(
    tmp_path: Path, command: str
) -> None:
    env = cli_env(tmp_path)
    if command == "worker":
        env["DROPLINE_ENGINE_URL"] = "redis://127.0.0.1:6379/0"
    done = run_cli([command], env)
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert "no dropline tables yet" in out
    assert "dropline db upgrade" in out
    assert "Traceback" not in out


def test_an_older_schema_names_both_migrations(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli(["db", "upgrade", "--revision", "0021_funnel"], env).returncode == 0
    done = run_cli(["serve"], env)
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    head = head_revision()
    assert head is not None and head != "0021_funnel"
    assert f"at migration 0021_funnel, this dropline needs {head}" in out
    # after the upgrade the same check passes: the server gets as far as its port
    assert run_cli(["db", "upgrade"], env).returncode == 0
    assert run_cli(["serve", "--check"], env).returncode == 0


async def test_the_app_refuses_to_start_on_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another ASGI server (gunicorn, a second uvicorn) runs the app's lifespan, not
    ``dropline serve``: the lifespan checks too."""
    for name, value in cli_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    app = create_app(load_settings())
    with pytest.raises(SchemaNotCurrent, match="dropline db upgrade"):
        async with app.router.lifespan_context(app):
            pass
