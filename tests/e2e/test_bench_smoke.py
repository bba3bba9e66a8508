"""The benchmark harness in its tiny mode: it starts a server, drives it with wrk (and
the last-unit race's buyers), and its correctness checks run and pass; with a peer that
cannot be installed it says so and carries on. The comparison with a peer is checked on
made-up runs. Nothing here is timed; speed lives in ``docs/benchmarks.md``."""

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
sys.path.insert(0, str(ROOT / "bench"))

from harness.compare import peer_section, peer_targets  # noqa: E402
from harness.load import Run  # noqa: E402
from harness.race import RaceOutcome, oversold, percentile, race_run  # noqa: E402


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
            "hot,sold-out,checkout,race",
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
    assert set(runs) == {"hot-sku", "sold-out", "checkout", "race"}
    checks = [c for r in result["runs"] for c in r["checks"]]
    # every scenario reconciled the server's counts with what the load generator saw
    assert any(c.startswith("ok   hot:") for c in checks)
    assert any(c.startswith("ok   sold-out: winners") for c in checks)
    assert any(c.startswith("ok   checkout: orders in the ledger") for c in checks)
    assert any("GET /v1/stock/verify consistent" in c for c in checks)
    # the last-unit races: one winner per unit, no unit sold twice, every unit sold
    races = [r for r in result["runs"] if r["scenario"] == "race"]
    assert [(r["extra"]["buyers"], r["extra"]["units"]) for r in races] == [(8, 1), (12, 4)]
    for r in races:
        assert r["extra"]["oversold"] == 0
        assert r["extra"]["orders"] == r["extra"]["units_ordered"] == r["extra"]["units"]
        assert r["extra"]["outcomes"]["hold 409 sold_out"] == r["extra"]["buyers"] - r["ok"]
    assert any(c.startswith("ok   race: units in orders 1 <= units 1") for c in checks)
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


def test_a_peer_that_cannot_be_installed_is_one_line_and_the_run_carries_on(
    tmp_path: Path,
) -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        pytest.skip("wrk is not installed (make bench installs it)")
    # a PATH with wrk and no node or npm: the peer cannot be installed
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "wrk").symlink_to(wrk)
    out, page = tmp_path / "results.json", tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--mode",
            "tiny",
            "--stacks",
            "embedded",
            "--scenarios",
            "race",
            "--peer",
            "medusa",
            "--out",
            str(page),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"PATH": str(bin_dir)},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    said = [x for x in proc.stderr.splitlines() + proc.stdout.splitlines() if "medusa" in x]
    assert [x for x in said if "cannot be installed" in x] == [
        next(x for x in said if "cannot be installed" in x)
    ]
    assert "node and npm are needed" in said[-1] and "dropline alone" in said[-1]
    result = json.loads(out.read_text())
    assert result["peers"] == [
        {
            "name": "medusa",
            "label": result["peers"][0]["label"],
            "status": "unavailable",
            "reason": "node and npm are needed (Medusa v2 runs on Node 20+)",
        }
    ]
    assert {r["stack"] for r in result["runs"]} == {"embedded"}
    assert result["failures"] == []
    text = page.read_text()
    assert "- **medusa** could not run here, so this run is dropline alone: node and npm" in text


def run(stack: str, scenario: str, variant: str, **extra: object) -> Run:
    return Run(scenario, stack, variant, 16, 10.0, 100, 10.0, 50, 0, 0, 1.0, 2.0, {}, [], extra)


def race(stack: str, buyers: int, units: int, orders: int, sold: int) -> Run:
    out = RaceOutcome(buyers, orders, {"ordered": orders}, [0.01], 5 * buyers, 1.0)
    return race_run(stack, units, out, orders, sold)


def test_the_comparison_with_a_peer_divides_orders_per_second_and_sets_oversold_side_by_side() -> (
    None
):
    runs = [
        run("embedded", "checkout", "orders", orders_per_s=1200.0),
        race("embedded", 50, 1, 1, 1),
        race("embedded", 200, 50, 50, 50),
        run("redis-pg", "checkout", "orders", orders_per_s=390.0),
        run("peer-medusa", "checkout", "orders", orders_per_s=1.5),
        race("peer-medusa", 50, 1, 3, 3),
        race("peer-medusa", 200, 50, 31, 31),
    ]
    rows = {name: (measured, met) for name, measured, met in peer_targets(runs)}
    assert rows["[embedded] checkout ≥ 300 × the peer (peer-medusa)"] == (
        "1,200.0 / 1.50 orders/s = 800 ×",
        "met",
    )
    assert rows["[redis-pg] checkout ≥ 300 × the peer (peer-medusa)"] == (
        "390.0 / 1.50 orders/s = 260 ×",
        "NOT met",
    )
    # oversold units beside each other, race by race, for the stack that ran the races
    assert rows["[embedded] oversold in the races: dropline 0, beside the peer (peer-medusa)"] == (
        "50 buyers, 1 unit: 0 vs 2; 200 buyers, 50 units: 0 vs 0",
        "met",
    )
    assert not any(name.startswith("[redis-pg] oversold") for name in rows)
    page = "\n".join(
        peer_section(runs, [{"name": "medusa", "label": "Medusa v2.21.2", "status": "ran"}])
    )
    assert "| `embedded` | 16 | 1,200.00 | 1.0 | 2.0 | 0 | 800 × |" in page
    assert "| `peer-medusa` | 16 | 1.50 | 1.0 | 2.0 | 0 | – |" in page
    assert "| 50 buyers, 1 unit | 1 / 1 / **0** | – | 3 / 3 / **2** |" in page
    # a peer that completed nothing in the window gives no ratio to meet
    runs[4].extra["orders_per_s"] = 0.0
    rows = {name: (measured, met) for name, measured, met in peer_targets(runs)}
    assert rows["[embedded] checkout ≥ 300 × the peer (peer-medusa)"][1] == "not measured"


def test_race_records_count_refusals_and_oversold_units() -> None:
    out = RaceOutcome(
        6,
        3,
        {"ordered": 3, "hold 409 sold_out": 2, "complete 500 Timed-out acquiring lock": 1},
        [0.001, 0.002, 0.003, 0.004],
        12,
        2.0,
    )
    r = race_run("peer-x", 1, out, orders=3, units_ordered=3)
    assert (r.variant, r.ok, r.conflict, r.other) == ("6 buyers, 1 unit", 3, 2, 1)
    assert r.extra["oversold"] == 2 and r.rps == 6.0
    assert (r.p50_ms, r.p99_ms) == (2.0, 4.0)
    assert oversold(50, 50) == 0 and oversold(53, 50) == 3
    assert percentile([], 50) == 0.0


def test_the_in_process_checkout_loop_reports_how_its_writers_batched() -> None:
    """``checkout_http_cost.py --buyers`` (the loop ``order_instructions.py`` counts)
    runs its orders concurrently and accounts for every one in each writer's batches."""
    proc = subprocess.run(
        [
            sys.executable,
            "-P",
            str(ROOT / "bench" / "checkout_http_cost.py"),
            "24",
            "--buyers",
            "6",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "HTTP (ASGI) 6 buyers at once:" in out
    # The sandbox's authorisations and captures are written in the starts' and the
    # orders' transactions: its own writer has nothing to do.
    for writer, jobs in (("payment starts", 24), ("sandbox payments", 0), ("orders", 24)):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"{writer}:"))
        assert line.split(":")[1].split()[0] == str(jobs), line
    inner = subprocess.run(
        [sys.executable, "-P", str(ROOT / "bench" / "order_instructions.py"), "--inner", "4"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert inner.returncode == 0, inner.stderr[-3000:]
