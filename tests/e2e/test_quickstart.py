"""docs/quickstart.md must really work: its shell blocks run, in order, against a real
server started the way ``make run`` starts it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backends import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_quickstart_blocks_run_against_make_run(tmp_path: Path) -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.skip("the quickstart needs curl and jq")
    port = _free_port()
    env = {
        **os.environ,
        "DROPLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dropline.db'}",
        "DROPLINE_PORT": str(port),
        "DROPLINE_DATA_DIR": str(tmp_path / "data"),
    }
    cli = [sys.executable, "-m", "dropline"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        doc = (ROOT / "docs" / "quickstart.md").read_text()
        blocks = re.findall(r"```bash\n(.*?)```", doc, re.S)
        assert blocks[0].strip() == "make run"
        script = "set -euo pipefail\n" + "\n".join(
            b.replace("source .dropline/demo.env", f"source {tmp_path}/data/demo.env")
            for b in blocks[1:]
        )
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        out = done.stdout
        assert '"code": "limit_exceeded"' in out
        assert '"status": "succeeded"' in out
        assert '"status": "paid"' in out
        assert '"consistent": true' in out
        assert "\nended\n" in out
        assert '"available": 18' in out  # 20 received, 2 sold, the rest returned
        # step 8: a drop scheduled two minutes ahead counts down in the public view
        assert "\nscheduled\n" in out
        assert re.search(r'"starts_in_s": 1[012]\d\b', out), out
    finally:
        server.terminate()
        server.wait(timeout=15)
