"""Running ``python -m dropline`` as an operator would, in a scratch folder: an
environment with no ``DROPLINE_*`` of the caller's, a SQLite file and a free port."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backends import free_port


def cli_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without its ``DROPLINE_*``, then a SQLite database and a
    data folder under ``tmp_path``, a free port, and ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DROPLINE_")}
    return base | {
        "DROPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dropline.db'}",
        "DROPLINE_DATA_DIR": str(tmp_path / "data"),
        "DROPLINE_PORT": str(free_port()),
        **(extra or {}),
    }


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m dropline ARGS`` to the end, its output captured (60 s at most)."""
    return subprocess.run(
        [sys.executable, "-m", "dropline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
