"""Every guide's ```bash blocks run as pasted, in order, against a fresh ``make run``
(``tests/e2e/guides.py``), with the settings' defaults (the readiness gate enforced):
the quickstart with curl, the console with the CLI only, and the fulfilment, monitor,
pre-order, readiness, planning, learning and buyer-token guides. One server per guide."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dropline.bootstrap import build
from dropline.config import Settings
from e2e.guides import bash_blocks, run_guide

pytestmark = pytest.mark.e2e


def test_console_guide_runs_a_drop_with_the_cli_only(tmp_path: Path) -> None:
    """From an empty catalog to a finished drop using nothing but ``dropline``: the
    products, stock, bundle, drop, offers, schedule, live, pause, buyers (``simulate``),
    end, orders and a balanced report."""
    done = run_guide(tmp_path, "console.md")
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    out = done.stdout
    assert "created Logo Tee" in out and "with 8 variants" in out
    assert "Logo Tee — Black / S" in out and "USD 30.00" in out
    assert "Sunday live drop" in out and " ended" in out
    assert "curl" not in done.stderr and "Traceback" not in done.stderr + out
    env = done.env
    # The server is stopped by now: read the database it left.

    async def state() -> tuple[str, int, bool]:
        c = await build(Settings(database_url=env["DROPLINE_DATABASE_URL"],
                                 background_tasks=False))  # fmt: skip
        try:
            drop = next(d for d in await c.drops.list_drops() if d.name == "Sunday live drop")
            report = await c.reports.build(drop.id)
            return drop.status.value, report["totals"]["orders"], report["balanced"]
        finally:
            await c.close()

    status, orders, balanced = asyncio.run(state())
    assert status == "ended" and orders > 0 and balanced


def test_quickstart_blocks_run_against_make_run(tmp_path: Path) -> None:
    done = run_guide(tmp_path, "quickstart.md")
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert '"code": "limit_exceeded"' in out
    assert '"status": "succeeded"' in out
    assert '"status": "paid"' in out
    assert '"consistent": true' in out
    assert "\nended\n" in out
    assert '"available": 18' in out  # 20 received, 2 sold, the rest returned
    # the gate refused the practice drop, then it went live with an override on record
    assert '"code": "not_ready"' in out and "quickstart practice drop" in out


EXPECT = {
    # a webhook endpoint, a tracking import by order number, a cancel, a return
    "fulfilment.md": ['"event_types"', "1 applied, 0 already imported, 1 rejected",
                      '"status": "refunded"', "\nrefunded\n", "1 returns"],
    # the report as JSON, tables, CSV and its check on the demo drop
    "monitor-and-report.md": ['"balanced": true', "section,name,metric,value"],
    # a run under MOQ refused, pre-orders sold, a delay notice, QC passed, shipped
    "preorders-and-qc.md": ['"code": "below_moq"', "will ship later than we promised",
                            '"accepted": true', "\nshipped\n"],
    # problems reported by link (from a delivered message) and by the storefront, one
    # approved into a return, one declined; quality, suppliers, lessons across drops
    "learning.md": ['"status":"delivered"', "Report a problem: http", '"via":"link"',
                    '"via":"api"', '"status":"approved","return_id":"ret_',
                    '"status":"declined"', '"name":"Knit Co"',
                    '"first_run_quantity":2',
                    # a lot past its maker's threshold: an alert, closed by a later lot
                    '{"status":"open","defect_rate_bp":2500,"threshold_bp":250,"contained_units":6}',
                    '{"status":"closed","corrective_action":"new seam machine, operator',
                    '"status": "closed"'],
    # a token minted and used for a hold; a tampered and a missing one refused
    "buyer-tokens.md": ['"buyer_id": "buyer-42"', '"status": 401', '"code": "unauthenticated"'],
    # a launch: timeline, first run, scorecard, a plan made feasible, linked to a run
    "planning.md": ["design_freeze", "critical ratio 0.7736", "Scorecard v1", "→ go",
                    "not feasible", "feasible, 4 days of slack"],
    # blocked and refused first; bins, a blind count with an approved variance, staging,
    # a passed rehearsal; then nothing blocks and the drop goes live with no override
    "readiness.md": ["verdict: block (gate: enforce)", "exit code 1: blocked",
                     "[not_ready]", "exit code 1: not live", "rehearsal passed",
                     "verdict: warn (gate: enforce)", "counted: pass", "staged: pass",
                     "returns_policy: pass", "rehearsal: pass", "Hoodie drop drp_"],
}  # fmt: skip


@pytest.mark.parametrize("guide", sorted(EXPECT))
def test_guide_blocks_run_against_make_run(tmp_path: Path, guide: str) -> None:
    assert bash_blocks(guide), f"{guide} has no bash block to run"
    done = run_guide(tmp_path, guide)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "Traceback" not in done.stderr + done.stdout
    for text in EXPECT[guide]:
        assert text in done.stdout, (text, done.stdout[-3000:])


def test_guides_use_one_set_of_variables() -> None:
    """demo.env's names, nowhere the old ones ($BASE, $ADMIN, $OPS, $API, $STORE,
    $STOREFRONT_KEY), and the venv's binary in every runnable block."""
    root = Path(__file__).resolve().parents[2]
    for doc in [*sorted((root / "docs").glob("*.md")), root / "README.md"]:
        text = doc.read_text()
        for old in ("$BASE", "$ADMIN ", "$ADMIN\"", "$OPS ", "$OPS\"", "$API", "$STORE ",
                    "$STORE\"", "$STOREFRONT_KEY"):  # fmt: skip
            assert old not in text, f"{doc.name} still uses {old.strip()}"
    for guide in ("quickstart.md", "console.md", *EXPECT):
        for block in bash_blocks(guide):
            for line in block.splitlines():
                assert not line.lstrip().startswith("dropline "), f"{guide}: {line}"
