"""``dropline launches`` on a migrated SQLite database: tables for people, ``--json``
for scripts, one-line errors for bad input."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dropline.cli.app import app

ENV = {"COLUMNS": "220"}


def test_launch_commands(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    start = date.today()
    stream = (start + timedelta(days=90)).isoformat()

    out = runner.invoke(
        app,
        ["launches", "create", "Winter hoodie", "--stream", stream, "--start", start.isoformat()],
        env=ENV,
    )
    assert out.exit_code == 0, out.output
    found = re.search(r"Launch (lch_\w+) Winter hoodie", out.output)
    assert found and "feasible" in out.output and "20 days of slack" in out.output
    lid = found.group(1)
    assert "critical" in out.output and "sample_approval" in out.output

    out = runner.invoke(app, ["launches", "timeline", lid, "--json"], env=ENV)
    assert out.exit_code == 0, out.output
    tl = json.loads(out.output)
    assert tl["slack_days"] == 20 and tl["critical_path"][-1] == "rehearsal"

    done = (start + timedelta(days=0)).isoformat()
    out = runner.invoke(
        app, ["launches", "milestone", lid, "design_freeze", "--actual", done], env=ENV
    )
    assert out.exit_code == 0, out.output
    assert f"done {done}" in out.output

    out = runner.invoke(
        app,
        ["launches", "scenario", lid, "--price", "6500", "--cost", "2400", "--salvage", "1200",
         "--best", "900", "--expected", "500", "--worst", "200", "--json"],
        env=ENV,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["first_run_quantity"] == 605

    scores = [
        "--score", "demand_certainty=4:waitlist", "--score", "margin=5", "--score",
        "complexity=4", "--score", "lead_time=4", "--score", "return_risk=3", "--score",
        "content_value=5",
    ]  # fmt: skip
    out = runner.invoke(app, ["launches", "score", lid, *scores, "--reason", "kickoff"], env=ENV)
    assert out.exit_code == 0, out.output
    assert "79/100 → go" in out.output and "Stress test" in out.output

    out = runner.invoke(app, ["launches", "scorecard", lid], env=ENV)
    assert out.exit_code == 0 and "Proposed from evidence" in out.output
    assert "gross margin 63 %" in out.output and "delay" in out.output

    out = runner.invoke(app, ["launches", "list"], env=ENV)
    assert out.exit_code == 0 and "1 launches" in out.output and "79 go" in out.output

    ics = tmp_path / "plan.ics"
    out = runner.invoke(app, ["launches", "calendar", lid, "--out", str(ics)], env=ENV)
    assert out.exit_code == 0, out.output
    assert ics.read_text().count("BEGIN:VEVENT") == 12

    out = runner.invoke(
        app,
        ["launches", "first-run", "--price", "18000", "--cost", "11000", "--salvage", "9000",
         "--mean", "3192", "--sd", "1181"],
        env=ENV,
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "first run 4096 units" in out.output and "first_run" in out.output

    # Bad input: a one-line error with the stable code, and nothing changes.
    bad = runner.invoke(
        app, ["launches", "milestone", lid, "final_qc", "--after", "rehearsal"], env=ENV
    )
    assert bad.exit_code == 1 and "[dependency_cycle]" in bad.output
    assert "final_qc" in bad.output and "→" in bad.output
    bad = runner.invoke(
        app,
        ["launches", "first-run", "--price", "1000", "--cost", "500", "--mean", "10", "--sd", "0"],
    )
    assert bad.exit_code == 1 and "no fallback" in bad.output
    bad = runner.invoke(app, ["launches", "create", "x", "--stream", "2020-01-01"], env=ENV)
    assert bad.exit_code == 1 and "in the past" in bad.output
    bad = runner.invoke(app, ["launches", "create", "x", "--stream", "soon"], env=ENV)
    assert bad.exit_code == 2 and "2027-03-01" in bad.output
    out = runner.invoke(app, ["launches", "timeline", lid, "--json"], env=ENV)
    final_qc = next(m for m in json.loads(out.output)["milestones"] if m["key"] == "final_qc")
    assert final_qc["depends_on"] == ["inline_qc"]
