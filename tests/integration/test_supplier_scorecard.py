"""Supplier scorecards on both backend profiles against a hand-computed fixture, and the
launch scorecard's lead-time and return-risk evidence reading them.

Run R1 of the manufacturer (created at t0, quoted lead time 0):
- sample_approval planned t0+5d, actual t0+4d: slip −1 (on time);
- production_start planned t0+10d, actual t0+13d: slip +3;
- warehouse_intake planned t0+20d, actual t0+22d: slip +2;
  all: 3 judged, 1 on time (3333 bp), average slip (−1+3+2)/3 = 1.3 days;
  lead-time delta 22 − 0 = 22 days over 1 run.
- lot A (10) passes first time; lot B (10) is rejected, reworked and passes: 1 of 2
  first time (5000 bp); lot C is received and not inspected (not counted).
- 4 units of lot A are offered to a drop (delivered 4); one buyer's unit is reported
  defective and approved into a return: defect rate 1/4 = 2500 bp, return rate 2500 bp.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_returns import ship
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.cli.app import app
from dropline.domain.live.drops import DropStatus
from dropline.domain.supply.production import RunLine
from dropline.services.ports import ManualClock
from fulfilment_support import paid_order
from preorders_support import now, pass_lot, seed_run
from support import Shop

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _photos_in_tmp(container: Container, tmp_path: Any) -> None:
    container.problems.data_dir = tmp_path / "data"


async def test_the_scorecard_against_a_hand_computed_fixture(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    t0 = now(c)
    plan = {"sample_approval": (5, 4), "production_start": (10, 13), "warehouse_intake": (20, 22)}
    for kind, (planned, _) in plan.items():
        await c.production.set_milestone(
            f.run_id, kind, planned_at=t0 + timedelta(days=planned), actor="lee", reason="plan"
        )
    clock.advance(30 * 86400)
    for kind, (_, actual) in plan.items():
        await c.production.set_milestone(
            f.run_id, kind, actual_at=t0 + timedelta(days=actual), actor="lee"
        )
    await c.quality.set_threshold("*", 100)  # no alert in this fixture
    lot_a = await pass_lot(c, f.run_id, f.sku_id, 10, "A")
    drop = await c.drops.create("Drop", "USD")
    await c.drops.set_offer(drop.id, f.sku_id, 4)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    order = await paid_order(c, Shop(drop.id, [f.sku_id]), "ann", 1)
    await ship(c, order.id)
    photo = {"content_type": "image/jpeg", "data": base64.b64encode(JPEG).decode()}
    store, _ = await c.access.create_key("store", "storefront")
    heads = {"Authorization": f"Bearer {store}", "X-Buyer-Token": c.access.mint("ann")}
    body = {"lines": [{"line_no": 1, "quantity": 1}], "reason": "stitching", "photos": [photo]}
    rep = await api.post(f"/v1/orders/{order.id}/problems", json=body, headers=heads)
    assert (await api.post(f"/v1/problems/{rep.json()['id']}/approve")).status_code == 200

    lot_b = await c.production.receive(f.run_id, f.sku_id, 10, "B", actor="wh")
    ins = await c.qc.inspect(lot_b["id"], "final_random", {"major": 3}, inspector="ivy")
    await c.qc.sign_off(ins["id"], approver="Dana")
    await c.qc.dispose(lot_b["id"], "rework", actor="lee", note="re-press")
    ins = await c.qc.inspect(lot_b["id"], "final_random", {}, inspector="ivy")
    await c.qc.sign_off(ins["id"], approver="Dana")
    await c.production.receive(f.run_id, f.sku_id, 10, "C", actor="wh")

    r = await api.get(f"/v1/suppliers/{f.manufacturer_id}/scorecard")
    assert r.status_code == 200, r.text
    sc = r.json()
    assert sc["milestones"] == {
        "all": {"judged": 3, "on_time": 1, "on_time_bp": 3333, "average_slip_days": 1.3},
        "production_start": {
            "judged": 1,
            "on_time": 0,
            "on_time_bp": 0,
            "average_slip_days": 3.0,
        },
        "sample_approval": {
            "judged": 1,
            "on_time": 1,
            "on_time_bp": 10_000,
            "average_slip_days": -1.0,
        },
        "warehouse_intake": {
            "judged": 1,
            "on_time": 0,
            "on_time_bp": 0,
            "average_slip_days": 2.0,
        },
    }
    assert (sc["quoted_lead_time_days"], sc["lead_time_runs"], sc["lead_time_delta_days"]) == (
        0,
        1,
        22.0,
    )
    assert (sc["lots_inspected"], sc["lots_passed_first_time"], sc["first_pass_bp"]) == (
        2,
        1,
        5000,
    )
    assert (sc["delivered_units"], sc["defective_units"], sc["defect_rate_bp"]) == (4, 1, 2500)
    assert (sc["returned_units"], sc["return_rate_bp"]) == (1, 2500)
    assert lot_a  # traced: the defect is on lot A
    assert [p["lot"] for p in await c.quality.pareto("lot")] == [lot_a]

    listed = (await api.get("/v1/suppliers/scorecards")).json()
    assert [s["manufacturer_id"] for s in listed] == [f.manufacturer_id]
    assert (await api.get("/v1/suppliers/mfr_nope/scorecard")).status_code == 404

    # The launch scorecard of a new run of this manufacturer reads the scorecard.
    run2 = await c.production.create_run(
        f.manufacturer_id, "Hoodie batch 2", "USD", [RunLine(f.sku_id, 300)], actor="lee"
    )
    start = now(c).date()
    r = await api.post(
        "/v1/launches",
        json={
            "name": "Hoodie 2",
            "stream_date": (start + timedelta(days=100)).isoformat(),
            "start_date": start.isoformat(),
            "run_id": run2["id"],
        },
    )
    assert r.status_code == 201, r.text
    card = (await api.get(f"/v1/launches/{r.json()['id']}/scorecard")).json()
    proposed = {p["variable"]: p for p in card["proposals"]}
    assert "milestones slip 2.0 days on average" in proposed["lead_time"]["why"]
    risk = proposed["return_risk"]
    assert risk["score"] == 1  # 25 % field defects: worse than 20 %
    assert "1 of the manufacturer's 4 delivered units reported defective (25.0 %)" in risk["why"]

    web = create_app(container=c)
    web.state.container = c
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as ui:
        assert (await ui.get("/ui/suppliers")).status_code == 303
        key, _ = await c.access.create_key("ops-ui", "ops")
        form = await ui.get("/ui/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        await ui.post("/ui/login", data={"api_key": key, "csrf_token": token})
        page = await ui.get("/ui/suppliers")
    assert page.status_code == 200 and f.manufacturer_id in page.text
    assert "1 of 2 (50.00 %)" in page.text and "1 of 4 (25.00 %)" in page.text
    assert "22.0 days vs 0 quoted" in page.text and "1.3 days" in page.text
    assert "on time means a slip of 0 or less" in page.text  # definitions on the page


async def test_a_manufacturer_without_history_has_empty_figures(container: Container) -> None:
    f = await seed_run(container)
    sc = await container.scorecards.supplier(f.manufacturer_id)
    assert sc["milestones"] == {} and sc["lead_time_delta_days"] is None
    assert sc["first_pass_bp"] is None and sc["defect_rate_bp"] is None
    assert sc["return_rate_bp"] is None


def test_the_supplier_commands(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    out = runner.invoke(app, ["suppliers", "scorecards"])
    assert out.exit_code == 0 and out.output.strip() == "[]", out.output
    out = runner.invoke(app, ["suppliers", "scorecard", "mfr_nope"])
    assert out.exit_code != 0 and "not found" in out.output
