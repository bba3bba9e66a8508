"""Run a guide's ```bash blocks, in order, as pasted, against a demo server started the
way ``make run`` starts it.

The guides' convention: a ```bash block is a command a reader pastes into the shell
where they ran ``source .dropline/demo.env`` (in the checkout's root, beside ``.venv``);
output samples and production settings use ```sh or ```text and are not run. A block
that is exactly ``make run`` stands for the server this harness starts; one that is
``NAME=value ... make run`` (settings for the server, such as the returns policy the
readiness gate checks) starts it with those variables too.

The run happens in a scratch directory laid out like a fresh clone after ``make run``:
``.dropline/demo.env`` written by ``dropline demo``, ``./dropline.db``, and
``.venv/bin/dropline`` (a wrapper around this interpreter, so the code under test is the
one that runs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backends import free_port

ROOT = Path(__file__).resolve().parents[2]


MAKE_RUN = re.compile(r"((?:[A-Z][A-Z0-9_]*=\S+ )*)make run")


def bash_blocks(guide: str) -> list[str]:
    """The guide's ```bash blocks, in order, ``make run`` left out."""
    text = (ROOT / "docs" / guide).read_text()
    return [
        b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if not MAKE_RUN.fullmatch(b.strip())
    ]


def server_env(guide: str) -> dict[str, str]:
    """The variables the guide's ``NAME=value make run`` gives the server."""
    text = (ROOT / "docs" / guide).read_text()
    out: dict[str, str] = {}
    for b in re.findall(r"```bash\n(.*?)```", text, re.S):
        m = MAKE_RUN.fullmatch(b.strip())
        if m:
            out |= dict(v.split("=", 1) for v in m.group(1).split())
    return out


@dataclass
class GuideRun:
    stdout: str
    stderr: str
    returncode: int
    env: dict[str, str]
    workdir: Path


def require_tools() -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the guides need curl and jq")


def run_guide(
    workdir: Path, guide: str, *, timeout: float = 600, extra_env: dict[str, str] | None = None
) -> GuideRun:
    """Start a demo server in ``workdir``, run ``guide``'s bash blocks, stop the server."""
    require_tools()
    port = free_port()
    env = {
        # a user's shell: the settings' defaults (the readiness gate enforced), not the
        # suite's (tests/conftest.py has it advise)
        **{k: v for k, v in os.environ.items() if k != "DROPLINE_READINESS_GATE"},
        "DROPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'dropline.db'}",
        "DROPLINE_PORT": str(port),
        "DROPLINE_DATA_DIR": str(workdir / ".dropline"),
        "DROPLINE_LOG_LEVEL": "warning",
        "COLUMNS": "160",
        **(extra_env or {}),
    }
    venv_bin = workdir / ".venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    wrapper = venv_bin / "dropline"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dropline "$@"\n')
    wrapper.chmod(0o755)
    cli = [sys.executable, "-m", "dropline"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=workdir)
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, cwd=workdir)
    log = (workdir / "server.log").open("w")
    server = subprocess.Popen([*cli, "serve"], env=env | server_env(guide), stdout=log,
                              stderr=log, cwd=workdir)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError((workdir / "server.log").read_text())
            time.sleep(0.2)
        script = "set -euo pipefail\n" + "\n".join(bash_blocks(guide))
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True,
                              text=True, timeout=timeout, cwd=workdir)  # fmt: skip
        return GuideRun(done.stdout, done.stderr, done.returncode, env, workdir)
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
