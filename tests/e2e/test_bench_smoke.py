"""The benchmark harness in its tiny mode: it starts a server, drives it with wrk, and
its correctness checks run and pass. Nothing here is timed; speed lives in
``docs/benchmarks.md``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_tiny_bench_runs_its_correctness_checks(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (make bench installs it)")
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--mode",
            "tiny",
            "--stacks",
            "embedded",
            "--scenarios",
            "hot,sold-out,checkout",
            "--out",
            "-",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    runs = {r["scenario"]: r for r in result["runs"]}
    assert set(runs) == {"hot-sku", "sold-out", "checkout"}
    checks = [c for r in result["runs"] for c in r["checks"]]
    # every scenario reconciled the server's counts with what the load generator saw
    assert any(c.startswith("ok   hot:") for c in checks)
    assert any(c.startswith("ok   sold-out: winners") for c in checks)
    assert any(c.startswith("ok   checkout: orders in the ledger") for c in checks)
    assert any("GET /v1/stock/verify consistent" in c for c in checks)
    assert result["failures"] == []
    assert all(r["ok"] > 0 for r in (runs["hot-sku"], runs["checkout"]))
    assert runs["sold-out"]["ok"] == 0 and runs["sold-out"]["conflict"] > 0
    # the report can be rewritten later, on another machine, and still names the one
    # that measured
    assert result["machine"].startswith(f"{os.cpu_count()} CPU cores")
    result["machine"] = "the measuring machine"
    out.write_text(json.dumps(result))
    report = tmp_path / "benchmarks.md"
    rendered = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--render",
            str(out),
            "--out",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert "- **Machine:** the measuring machine\n" in report.read_text()
