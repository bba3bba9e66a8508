"""``dropline drops windows`` and ``dropline drops limits`` against a real server
process: windows set by SKU code, shown as a table and as JSON, refused in one line
with the problem's code (and nothing changed), and the limits set and cleared."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from dropline.cli.app import app
from monitor_support import Server, server

pytestmark = pytest.mark.e2e
__all__ = ["server"]  # the fixture, re-exported for pytest

runner = CliRunner()


def cli(s: Server, *args: str) -> Any:
    return runner.invoke(
        app, [*args, "--url", s.url, "--api-key", s.ops_key], env={"COLUMNS": "200"}
    )


def test_windows_set_show_refuse_and_clear(server: Server) -> None:
    drop = server.drops["spare"]
    code_m = "HD-SPARE-BLK-M"
    out = cli(
        server,
        "drops",
        "windows",
        "set",
        drop.id,
        "-w",
        f"2030-01-01T20:00Z tiers=gold alloc={code_m}:5 'name=Gold members'",
        "-w",
        "2030-01-01T20:15Z tiers=* name=Members",
        "-w",
        "2030-01-01T20:30Z name=Everyone",
    )
    assert out.exit_code == 0, out.output
    assert "Gold members" in out.output and "everyone" in out.output
    assert drop.skus["Black / M"] + ": 5" in out.output  # the full SKU id, never cut

    shown = cli(server, "drops", "windows", "show", drop.id, "--json")
    data = json.loads(shown.output)
    assert [w["tiers"] for w in data["windows"]] == [["gold"], ["*"], []]
    assert data["windows"][0]["allocation"] == {drop.skus["Black / M"]: 5}
    assert data["next_window_at"] == "2030-01-01T20:00:00Z"

    bad = cli(
        server, "drops", "windows", "set", drop.id, "-w", "2030-01-01T21:00Z", "-w",
        "2030-01-01T20:00Z",
    )  # fmt: skip
    assert bad.exit_code != 0
    assert "window_order" in bad.output
    again = json.loads(cli(server, "drops", "windows", "show", drop.id, "--json").output)
    assert again["windows"] == data["windows"]  # nothing changed

    over = cli(
        server, "drops", "windows", "set", drop.id, "-w", f"2030-01-01T20:00Z alloc={code_m}:21"
    )
    assert over.exit_code != 0 and "window_allocation_exceeds_offer" in over.output

    cleared = cli(server, "drops", "windows", "clear", drop.id, "--json")
    assert json.loads(cleared.output)["windows"] == []


def test_limits_set_and_removed(server: Server) -> None:
    drop = server.drops["spare"]
    out = cli(
        server, "drops", "limits", drop.id, "--holds-per-buyer", "10", "--token-max-age", "900",
        "--json",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    limits = json.loads(out.output)["limits"]
    assert limits["holds_per_buyer"] == 10 and limits["token_max_age_s"] == 900
    assert limits["checkouts_per_buyer"] is None
    bad = cli(server, "drops", "limits", drop.id, "--token-max-age", "1")
    assert bad.exit_code != 0 and "validation_error" in bad.output
    table = cli(server, "drops", "limits", drop.id)
    assert table.exit_code == 0 and "limits: none" in table.output
