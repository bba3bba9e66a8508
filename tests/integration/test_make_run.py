"""What ``make run`` relies on: ``dropline demo`` writes every guide's variables once and
reuses its keys on the next run; ``dropline serve`` says what already holds its port
instead of a traceback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from dropline.bootstrap import build
from dropline.cli.app import app
from dropline.cli.platform.demo import ENV_NAMES, read_env
from dropline.cli.platform.server import port_in_use
from dropline.config import Settings

runner = CliRunner()


async def _demo_overrides(url: str, drop_id: str) -> list[tuple[str, str, str]]:
    c = await build(Settings(database_url=url, background_tasks=False, readiness_gate="enforce"))
    try:
        report = await c.readiness.checklist(drop_id)
        return [(report["drop"]["status"], o["actor"], o["reason"]) for o in report["overrides"]]
    finally:
        await c.close()


def test_demo_writes_the_guides_variables_and_reuses_its_keys(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {
        "DROPLINE_DATABASE_URL": sqlite_url,
        "DROPLINE_DATA_DIR": str(tmp_path / "data"),
        "DROPLINE_PORT": "8123",
        "DROPLINE_READINESS_GATE": "enforce",  # the default a fresh clone runs with
        "COLUMNS": "200",
    }
    first = runner.invoke(app, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    values = read_env(tmp_path / "data" / "demo.env")
    # the demo drop is live through the enforced gate, with the override on record
    assert "DROP" in values
    overrides = asyncio.run(_demo_overrides(sqlite_url, values["DROP"]))
    assert overrides == [("live", "demo", "the demo shop, not a real drop")]
    assert tuple(values) == ENV_NAMES
    assert values["DL"] == "http://127.0.0.1:8123"  # the port is honoured
    assert ".venv/bin/dropline simulate" in first.output and '--url "$DL"' in first.output
    second = runner.invoke(app, ["demo"], env=env)
    assert second.exit_code == 0, second.output
    assert "keys reused" in second.output and "already there" in second.output
    rerun = read_env(tmp_path / "data" / "demo.env")
    # the keys and the drop are reused; the buyer token is minted afresh (a JWT with
    # its own issue time), for the same demo buyer
    assert {k: v for k, v in rerun.items() if k != "BUYER_TOKEN"} == {
        k: v for k, v in values.items() if k != "BUYER_TOKEN"
    }
    claims = jwt.decode(rerun["BUYER_TOKEN"], options={"verify_signature": False})
    assert claims["sub"] == "buyer-demo-1"
    # A revoked key is replaced; the others are kept.
    keys = runner.invoke(app, ["keys", "list"], env=env).output
    ops_id = next(ln.split()[1] for ln in keys.splitlines() if "demo ops" in ln)
    assert runner.invoke(app, ["keys", "revoke", ops_id], env=env).exit_code == 0
    third = runner.invoke(app, ["demo"], env=env)
    again = read_env(tmp_path / "data" / "demo.env")
    assert "keys written" in third.output
    assert again["OPS_KEY"] != values["OPS_KEY"] and again["ADMIN_KEY"] == values["ADMIN_KEY"]


@pytest.fixture
def listener() -> Iterator[int]:
    """A port some other program listens on (it answers nothing useful)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_serve_says_what_holds_the_port(listener: int) -> None:
    other = port_in_use("127.0.0.1", listener)
    assert other is not None and "another program" in other and "DROPLINE_PORT" in other
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        ours = port_in_use("127.0.0.1", port)
        assert ours is not None and f"already running on http://127.0.0.1:{port}" in ours
        out = runner.invoke(app, ["serve", "--port", str(port)], env={"COLUMNS": "300"})
        assert out.exit_code == 1 and "already running" in out.output
        assert "Traceback" not in out.output
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert port_in_use("127.0.0.1", free) is None
