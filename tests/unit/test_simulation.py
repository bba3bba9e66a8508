"""``dropline simulate`` without a server: where it aims by default (0.0.0.0 is not a
place to send requests to), what it pays with (test payment methods, never raw card
numbers), and a one-line error, not a traceback, when nothing answers."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from dropline.cli.app import app
from dropline.cli.live.simulation import Simulation, default_url
from dropline.domain.errors import InvalidInput
from dropline.domain.readiness.rehearsal import DEFAULT_METHODS, percentile, rehearsal_methods


def test_default_url_is_this_machine_on_the_configured_port() -> None:
    assert default_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert default_url("::", 9000) == "http://127.0.0.1:9000"
    assert default_url("127.0.0.1", 8001) == "http://127.0.0.1:8001"
    assert default_url("0.0.0.0", 9000, "http://localhost:7000") == "http://localhost:7000"


def test_pays_with_test_payment_methods_never_card_numbers() -> None:
    sim = Simulation("http://127.0.0.1:1", "k", "s", "drp_x")
    assert sim.methods == dict(DEFAULT_METHODS)
    assert sim.methods["ok"] == "pm_card_visa"
    custom = Simulation("http://127.0.0.1:1", "k", "s", "drp_x", methods={"decline": "pm_x"})
    assert custom.methods["decline"] == "pm_x" and custom.methods["ok"] == "pm_card_visa"
    for bad in ({"ok": "4242424242424242"}, {"ok": "4242 4242 4242 4242"}, {"nope": "pm_x"}):
        with pytest.raises(InvalidInput):
            rehearsal_methods(bad)


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) == 0
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_server_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLINE_HOST", "0.0.0.0")
    monkeypatch.setenv("DROPLINE_PORT", str(_free_port()))
    monkeypatch.setenv("DROPLINE_OPS_KEY", "k")
    out = CliRunner().invoke(app, ["simulate", "drp_x", "--duration", "1"])
    assert out.exit_code == 1, out.output
    assert "no server answers at http://127.0.0.1:" in out.output
    assert "Traceback" not in out.output and isinstance(out.exception, SystemExit)
    monkeypatch.setenv("DROPLINE_PORT", "eighty")
    out = CliRunner().invoke(app, ["simulate", "drp_x"])
    assert out.exit_code == 2 and "DROPLINE_PORT" in out.output
