"""The quality loop on both backend profiles, against a hand-computed fixture:

- lot L0 (5 units) passes: 2 go to pre-orders, 3 to ``available``; lot L1 (10) passes: 10
  to ``available``; a drop is offered 5 units (first in, first out: L0's 3, then 2 of
  L1); 4 more units arrive outside any lot. Shelf: 12, of which L1's are 8.
- two buyers of the drop report a stitching defect; each is traced to L1 (the newest
  passed lot before their order). L1 delivered 2 units, so its rate is 1/2 = 50 %,
  then 2/2 = 100 %.
- with the manufacturer's threshold at exactly 50 % the first report opens nothing;
  the second opens an alert: exactly L1's 8 units move to ``quality_control``, the 4
  lot-less units stay, and the manufacturer's product is on tightened inspection.
- the alert closes only with a corrective action and a later lot that passed.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from test_returns import ship
from typer.testing import CliRunner

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.cli.app import app
from dropline.domain.errors import Conflict, InvalidInput
from dropline.domain.live.drops import DropStatus
from dropline.services.ports import ManualClock
from fulfilment_support import paid_order
from preorders_support import buy, pass_lot, preorder_drop, seed_run
from support import Shop

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PHOTO = {"content_type": "image/jpeg", "data": base64.b64encode(JPEG).decode()}


@pytest.fixture(autouse=True)
def _photos_in_tmp(container: Container, tmp_path: Any) -> None:
    container.problems.data_dir = tmp_path / "data"


async def report_defect(c: Container, api: httpx.AsyncClient, shop: Shop, buyer: str) -> dict:
    order = await paid_order(c, shop, buyer, 1)
    await ship(c, order.id)
    store, _ = await c.access.create_key(f"store-{buyer}", "storefront")
    heads = {"Authorization": f"Bearer {store}", "X-Buyer-Token": c.access.mint(buyer)}
    body = {"lines": [{"line_no": 1, "quantity": 1}], "reason": "stitching", "photos": [PHOTO]}
    resp = await api.post(f"/v1/orders/{order.id}/problems", json=body, headers=heads)
    assert resp.status_code == 201, resp.text
    approved = await api.post(f"/v1/problems/{resp.json()['id']}/approve")
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


async def test_a_lot_past_its_threshold_is_contained_and_its_maker_tightened(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c)
    pre = await preorder_drop(c, f, cap=10)
    await buy(c, pre, "pa", f.sku_id)
    await buy(c, pre, "pb", f.sku_id)
    lot0 = await pass_lot(c, f.run_id, f.sku_id, 5, "B0")
    clock.advance(60)
    lot1 = await pass_lot(c, f.run_id, f.sku_id, 10, "B1")
    drop = await c.drops.create("Live drop", "USD")
    await c.drops.set_offer(drop.id, f.sku_id, 5)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    await c.stock.receive(f.sku_id, 4)
    shop = Shop(drop.id, [f.sku_id])
    assert (await c.stock.level(f.sku_id)).available == 12

    bad = await api.put(f"/v1/quality/thresholds/{f.manufacturer_id}", json={"threshold_pct": 101})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    neg = await api.put("/v1/quality/thresholds/*", json={"threshold_pct": -1})
    assert neg.status_code == 422
    ok = await api.put("/v1/quality/thresholds/*", json={"threshold_pct": 1})
    assert ok.json()["threshold_bp"] == 100
    ok = await api.put(f"/v1/quality/thresholds/{f.manufacturer_id}", json={"threshold_pct": 50})
    assert ok.status_code == 200 and ok.json()["threshold_bp"] == 5000

    await report_defect(c, api, shop, "ann")
    figures = await c.quality.lot_figures(lot1)
    assert figures == {
        "lot_id": lot1,
        "delivered_units": 2,
        "remaining_units": 8,
        "defective_units": 1,
        "defect_rate_bp": 5000,
    }
    assert await c.quality.alerts() == []  # 50 % is not above 50 %
    before = await c.stock.level(f.sku_id)

    clock.advance(60)
    await report_defect(c, api, shop, "bob")
    [alert] = (await api.get("/v1/quality/alerts", params={"status": "open"})).json()
    assert (alert["lot_id"], alert["manufacturer_id"], alert["sku_id"]) == (
        lot1,
        f.manufacturer_id,
        f.sku_id,
    )
    assert (alert["defect_rate_bp"], alert["threshold_bp"]) == (10_000, 5000)
    assert (alert["defective_units"], alert["delivered_units"]) == (2, 2)
    assert alert["contained_units"] == 8
    after = await c.stock.level(f.sku_id)
    assert after.available == before.available - 8 == 4
    assert after.quality_control == before.quality_control + 8
    async with c.uow(readonly=True) as uow:
        ledger = await uow.stock.movements(f.sku_id)
    moves = [m for _, _, m in ledger if m.reason.value == "contain"]
    assert [(m.quantity, m.ref, m.from_bucket, m.to_bucket) for m in moves] == [
        (8, lot1, "available", "quality_control")
    ]
    assert (await c.quality.lot_figures(lot1))["remaining_units"] == 0
    assert (await c.quality.lot_figures(lot0))["remaining_units"] == 0
    switching = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert {s["severity"] for s in switching.values()} == {"tightened"}

    pareto = (await api.get("/v1/quality/pareto", params={"by": "lot"})).json()
    assert [(p["lot"], p["defective_units"], p["delivered_units"]) for p in pareto] == [
        (lot1, 2, 2)
    ]
    assert (pareto[0]["reports"], pareto[0]["photos"], pareto[0]["defect_rate_bp"]) == (
        2,
        2,
        10_000,
    )
    by_mfr = (await api.get("/v1/quality/pareto", params={"by": "manufacturer"})).json()
    # L0 delivered 2 (pre-orders) + 3 (offered), L1 2: 2 of 7 units = 2857 bp.
    assert [(p["manufacturer"], p["delivered_units"], p["defect_rate_bp"]) for p in by_mfr] == [
        (f.manufacturer_id, 7, 2857)
    ]
    assert (await api.get("/v1/quality/pareto", params={"by": "colour"})).status_code == 422

    # A third report does not open a second alert or contain again.
    await report_defect(c, api, shop, "cat")
    assert len(await c.quality.alerts()) == 1
    assert (await c.stock.level(f.sku_id)).quality_control == after.quality_control

    # Closing: a corrective action and a later lot of theirs that passed.
    path = f"/v1/quality/alerts/{alert['id']}/close"
    resp = await api.post(path, json={"corrective_action": " ", "closing_lot_id": lot1})
    assert resp.status_code == 422
    resp = await api.post(path, json={"corrective_action": "new seam", "closing_lot_id": lot0})
    assert resp.status_code == 422 and "after the alert" in resp.json()["detail"]
    clock.advance(60)
    lot2 = await c.production.receive(f.run_id, f.sku_id, 50, "B2", actor="wh")
    assert {k["severity"] for k in (await c.qc.plan(lot2["id"]))["classes"]} == {"tightened"}
    resp = await api.post(
        path, json={"corrective_action": "new seam", "closing_lot_id": lot2["id"]}
    )
    assert resp.status_code == 409
    ins = await c.qc.inspect(lot2["id"], "final_random", {}, inspector="ivy")
    await c.qc.sign_off(ins["id"], approver="Dana")
    resp = await api.post(
        path, json={"corrective_action": "new seam machine", "closing_lot_id": lot2["id"]}
    )
    assert resp.status_code == 200, resp.text
    closed = resp.json()
    assert (closed["status"], closed["closing_lot_id"]) == ("closed", lot2["id"])
    assert closed["corrective_action"] == "new seam machine"
    with pytest.raises(Conflict):
        await c.quality.close(alert["id"], "again", lot2["id"], by="ops")


async def test_threshold_input_is_checked(container: Container) -> None:
    c = container
    for bad in (101, -0.01, "ten", 2.555, True, None):
        with pytest.raises(InvalidInput):
            await c.quality.set_threshold("*", bad)
    assert (await c.quality.set_threshold("*", "2.5"))["threshold_bp"] == 250
    assert (await c.quality.set_threshold("*", 0))["threshold_bp"] == 0
    assert (await c.quality.set_threshold("*", 100))["threshold_bp"] == 10_000
    assert (await c.quality.thresholds())["thresholds"] == {"*": 10_000}


async def test_the_quality_page_lists_alerts_and_closes_with_csrf(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c)
    lot = await pass_lot(c, f.run_id, f.sku_id, 10, "B1")
    drop = await c.drops.create("Live drop", "USD")
    await c.drops.set_offer(drop.id, f.sku_id, 4)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    await c.quality.set_threshold("*", 10)
    await report_defect(c, api, Shop(drop.id, [f.sku_id]), "ann")  # 1 of 4: 25 % > 10 %
    [alert] = await c.quality.alerts("open")
    assert alert["contained_units"] == 6

    web = create_app(container=c)
    web.state.container = c
    ui = httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url="http://testserver")
    async with ui:
        assert (await ui.get("/ui/quality")).status_code == 303
        key, _ = await c.access.create_key("ops-ui", "ops")
        form = await ui.get("/ui/login")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        await ui.post("/ui/login", data={"api_key": key, "csrf_token": token})
        got = await ui.get("/ui/quality", params={"by": "lot"})
        assert got.status_code == 200
        assert lot in got.text and "25.00 %" in got.text and 'href="/ui/quality"' in got.text
        assert "Delivered units:" in got.text  # each figure's definition is on the page
        csrf = got.text.split('name="csrf_token" value="')[1].split('"')[0]
        path = f"/ui/quality/alerts/{alert['id']}/close"
        forged = await ui.post(path, data={"csrf_token": "x", "corrective_action": "a"})
        assert forged.status_code == 403
        clock.advance(60)
        lot2 = await pass_lot(c, f.run_id, f.sku_id, 20, "B2")
        done = await ui.post(
            path, data={"csrf_token": csrf, "corrective_action": "jig", "closing_lot_id": lot2}
        )
        assert done.status_code == 303 and "closed" in done.headers["location"]
    assert (await c.quality.alert(alert["id"]))["status"] == "closed"


def test_the_quality_commands(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DROPLINE_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    out = runner.invoke(app, ["quality", "set-threshold", "*", "2.5"])
    assert out.exit_code == 0, out.output
    assert '"threshold_bp": 250' in out.output
    bad = runner.invoke(app, ["quality", "set-threshold", "*", "150"])
    assert bad.exit_code != 0 and "0 to 100" in bad.output
    out = runner.invoke(app, ["quality", "thresholds"])
    assert '"*": 250' in out.output
    out = runner.invoke(app, ["quality", "pareto", "--by", "manufacturer"])
    assert out.exit_code == 0 and out.output.strip() == "[]"
    out = runner.invoke(app, ["quality", "alerts", "--status", "open"])
    assert out.exit_code == 0 and out.output.strip() == "[]"
