"""Production runs, QC gating stock and pre-orders, through the services on SQLite and
PostgreSQL with the memory engine, the sandbox provider and a manual clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.orders import OrderStatus
from dropline.domain.supply.production import RunLine
from dropline.services.fulfilment.shipping import UpdateDetails
from dropline.services.ports import ManualClock, PaymentStatus
from preorders_support import buy, now, pass_lot, preorder_drop, seed_run
from support import sku_item

DAY = 86400


async def outbox(c: Container, type_prefix: str) -> list[dict[str, Any]]:
    async with c.uow(readonly=True) as uow:
        return await uow.outbox.list(type_prefix=type_prefix, limit=1000)


async def test_run_under_moq_is_refused_with_shortfall_or_overridden(container: Container) -> None:
    c = container
    product = await c.catalog.create_product("Cap")
    a = await c.catalog.create_sku(product.id, "CAP-A", 1500, "USD", {})
    b = await c.catalog.create_sku(product.id, "CAP-B", 1500, "USD", {})
    mfr = await c.production.create_manufacturer("Hat Co", default_lead_time_days=45)
    lines = [RunLine(a.id, 80, moq=100), RunLine(b.id, 150, moq=100)]
    with pytest.raises(e.BelowMoq) as info:
        await c.production.create_run(mfr["id"], "Caps", "USD", lines, moq=300)
    assert info.value.extra["shortfall"] == {"per_sku": {a.id: 20}, "run": 70}
    assert await c.production.runs() == []  # refused: nothing written
    run = await c.production.create_run(
        mfr["id"],
        "Caps",
        "USD",
        lines,
        moq=300,
        moq_override_reason="test market, small batch accepted by the factory",
        actor="lee",
    )
    assert run["moq_override_reason"].startswith("test market")
    assert run["moq_override_by"] == "lee"
    assert {ln["sku_id"]: ln["incoming"] for ln in run["lines"]} == {a.id: 80, b.id: 150}
    events = await outbox(c, "production.run_created")
    assert events[0]["payload"]["moq_overridden"] is True
    # A spec must be frozen, and be the spec of the run's product.
    spec = await c.qc_specs.create_spec(
        product.id, "Cap v1", {"aqls": {"major": "2.5"}}, actor="lee"
    )
    with pytest.raises(e.Conflict):
        await c.production.set_qc_spec(run["id"], spec["spec_id"], 1)
    other = await c.catalog.create_product("Mug")
    mug_spec = await c.qc_specs.create_spec(
        other.id, "Mug", {"aqls": {"major": "2.5"}}, actor="lee"
    )
    sample = await c.qc_specs.register_sample(mug_spec["spec_id"], 1, "", actor="lee")
    await c.qc_specs.approve_sample(sample["id"], approver="Dana")
    with pytest.raises(e.InvalidInput):
        await c.production.set_qc_spec(run["id"], mug_spec["spec_id"], 1)
    sample = await c.qc_specs.register_sample(spec["spec_id"], 1, "", actor="lee")
    await c.qc_specs.approve_sample(sample["id"], approver="Dana")
    assert (await c.production.set_qc_spec(run["id"], spec["spec_id"], 1))["qc_spec_version"] == 1
    revised = await c.qc_specs.revise_spec(spec["spec_id"], {"aqls": {"major": "1.5"}}, actor="lee")
    assert revised["version"] == 2 and revised["frozen_at"] is None
    versions = await c.qc_specs.spec_versions(spec["spec_id"])
    assert [v["content"]["aqls"]["major"] for v in versions] == ["2.5", "1.5"]


async def test_units_in_quality_control_can_never_be_held(container: Container) -> None:
    c = container
    f = await seed_run(c)
    await c.production.receive(f.run_id, f.sku_id, 40, "B-001", actor="wh")
    level = await c.stock.level(f.sku_id)
    assert (level.quality_control, level.available, level.reserved) == (40, 0, 0)
    drop = await c.drops.create("Stock drop", "USD")
    with pytest.raises(e.InsufficientStock):  # an offer cannot take QC units
        await c.drops.set_offer(drop.id, f.sku_id, 1)
    # A pre-order drop holds against its cap, never against the QC units.
    pre = await preorder_drop(c, f, cap=3)
    counts = await c.engine.counts(pre)
    assert counts[f.sku_id].remaining == 3
    for buyer in ("a", "b", "c"):
        await c.holds.place(pre, buyer, [sku_item(f.sku_id)])
    with pytest.raises(e.SoldOut):
        await c.holds.place(pre, "d", [sku_item(f.sku_id)])
    level = await c.stock.level(f.sku_id)
    assert (level.quality_control, level.reserved, level.committed) == (40, 0, 0)


async def test_preorder_cap_reached_exactly_under_concurrent_holds(container: Container) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    drop_id = await preorder_drop(c, f, cap=7)
    results = await asyncio.gather(
        *(c.holds.place(drop_id, f"buyer-{n}", [sku_item(f.sku_id)]) for n in range(60)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 7
    assert all(isinstance(x, e.SoldOut) for x in losers)
    for hold in winners:
        assert (await c.checkout.start(hold.id, hold.buyer_id, "4242424242424242")).order
    async with c.uow(readonly=True) as uow:
        assert (await uow.drops.offers(drop_id))[f.sku_id].sold == 7
    # No unit exists yet: nothing moved in stock; seven promises wait for the run.
    level = await c.stock.level(f.sku_id)
    assert level.on_hand == 0
    waiting = await c.preorders.find(drop_id=drop_id, status="waiting")
    assert len(waiting) == 7
    paid = await outbox(c, "order.paid")
    assert all(ev["payload"]["preorder"]["units"] == {f.sku_id: 1} for ev in paid)
    assert all(p.promised_ship_by == f.intake + timedelta(days=5) for p in waiting)
    snap = await c.drops.snapshot(drop_id)
    assert snap.offers[f.sku_id].remaining == 0
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_cap_never_exceeds_what_the_run_makes_less_promised(container: Container) -> None:
    c = container
    f = await seed_run(c, quantity=100)
    first = await c.drops.create("A", "USD")
    closes = now(c) + timedelta(days=3)
    await c.preorders.set_offer(first.id, f.sku_id, f.run_id, 70, closes)
    second = await c.drops.create("B", "USD")
    with pytest.raises(e.Conflict) as info:
        await c.preorders.set_offer(second.id, f.sku_id, f.run_id, 31, closes)
    assert info.value.extra["max_cap"] == 30
    await c.preorders.set_offer(second.id, f.sku_id, f.run_id, 30, closes)
    with pytest.raises(e.Conflict):  # an in-stock offer cannot replace a pre-order
        await c.drops.set_offer(second.id, f.sku_id, 1)


async def test_preorder_window_closes(container: Container, clock: ManualClock) -> None:
    c = container
    f = await seed_run(c)
    drop_id = await preorder_drop(c, f, cap=10, closes_in_days=1)
    await c.holds.place(drop_id, "early", [sku_item(f.sku_id)])
    clock.advance(DAY + 1)
    c.drops.cache.clear()
    with pytest.raises(e.PreorderClosed):
        await c.holds.place(drop_id, "late", [sku_item(f.sku_id)])


async def test_public_view_shows_ship_estimate_and_follows_milestones(
    container: Container,
) -> None:
    c = container
    f = await seed_run(c, intake_days=20)
    drop_id = await preorder_drop(c, f, cap=5)
    from dropline.services.live.public_view import public_drop

    view = await public_drop(c.engine, c.drops, c.drops.cache, drop_id)
    sku = view["products"][0]["skus"][0]
    assert sku["remaining"] == 5
    est = sku["preorder"]["ship_estimate"]
    assert est["earliest"].startswith((f.intake + timedelta(days=2)).date().isoformat())
    assert est["latest"].startswith((f.intake + timedelta(days=5)).date().isoformat())
    await c.production.set_milestone(
        f.run_id,
        "warehouse_intake",
        planned_at=f.intake + timedelta(days=3),
        actor="lee",
        reason="freight rebooked",
    )
    view = await public_drop(c.engine, c.drops, c.drops.cache, drop_id)
    est = view["products"][0]["skus"][0]["preorder"]["ship_estimate"]
    assert est["latest"].startswith((f.intake + timedelta(days=8)).date().isoformat())


async def test_lot_rejected_then_reinspected_and_accepted(container: Container) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    lot = await c.production.receive(f.run_id, f.sku_id, 500, "B-7", actor="wh")
    plan = await c.qc.plan(lot["id"])
    major = next(p for p in plan["classes"] if p["defect_class"] == "major")
    # 500 units, level II → letter H: n=50; AQL 2.5 normal → Ac 3, Re 4.
    assert (major["code_letter"], major["sample_size"], major["accept"], major["reject"]) == (
        "H",
        50,
        3,
        4,
    )
    bad = await c.qc.inspect(
        lot["id"],
        "final_random",
        {"major": 4, "minor": 1},
        inspector="ivy",
        measurements=[{"name": "chest width", "value": "53.5"}],
        checks=[{"name": "print", "passed": False, "note": "cracked print"}],
        defect_notes={"major": "print cracks on 4 units"},
    )
    assert bad["accepted"] is False
    assert bad["measurements"][0]["within"] is False
    assert (await c.stock.level(f.sku_id)).quality_control == 500  # nothing moves unsigned
    await c.qc.sign_off(bad["id"], approver="Dana")
    with pytest.raises(e.Conflict):  # a rejected lot needs a disposition first
        await c.qc.inspect(lot["id"], "final_random", {}, inspector="ivy")
    reworked = await c.qc.dispose(lot["id"], "rework", actor="lee", note="reprint the chest")
    assert reworked["status"] == "rework"
    level = await c.stock.level(f.sku_id)
    assert (level.quality_control, level.available) == (500, 0)
    good = await c.qc.inspect(lot["id"], "final_random", {"major": 1}, inspector="ivy")
    assert good["accepted"] is True and good["resubmitted"] is True
    signed = await c.qc.sign_off(good["id"], approver="Dana")
    assert signed["allocation"] == {"available": 500}
    level = await c.stock.level(f.sku_id)
    assert (level.quality_control, level.available) == (0, 500)
    async with c.uow(readonly=True) as uow:
        moves = await uow.stock.movements(sku_id=f.sku_id)
    assert [m.reason.value for _, _, m in moves] == ["qc_pass", "receipt"]
    # The resubmitted lot is not fed to the switching rules: one lot recorded, rejected.
    switching = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert switching["major"]["normal_history"] == [False]
    trace = await c.qc_trace.trace_lot(lot["id"])
    assert [i["accepted"] for i in trace["inspections"]] == [False, True]
    assert trace["manufacturer"]["name"] == "Knit Co"
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_a_lot_out_of_tolerance_is_rejected_and_never_sold_over_http(
    container: Container, api: httpx.AsyncClient
) -> None:
    """The gate counts measurements and checks: one major defect seen by eye is within
    Ac 3, but with two chest widths out of 52.0 ± 1.0 and a cracked print the major
    class reaches Re 4, so the lot is rejected and none of its units is sold or
    allocated."""
    c = container
    f = await seed_run(c, quantity=500)
    drop_id = await preorder_drop(c, f, cap=5)
    order = await buy(c, drop_id, "ann", f.sku_id, 2)
    r = await api.post(
        f"/v1/runs/{f.run_id}/lots",
        json={"sku_id": f.sku_id, "quantity": 500, "batch_number": "OOT-1"},
    )
    assert r.status_code == 201, r.text
    lot_id = r.json()["id"]
    r = await api.post(
        f"/v1/qc/lots/{lot_id}/inspections",
        json={
            "defects": {"major": 1},
            "measurements": [
                {"name": "chest width", "value": "53.6"},
                {"name": "chest width", "value": "50.5"},
                {"name": "chest width", "value": "52.3"},
            ],
            "checks": [
                {"name": "print", "passed": False, "note": "cracked"},
                {"name": "label", "passed": True},
            ],
        },
    )
    assert r.status_code == 201, r.text
    ins = r.json()
    assert ins["accepted"] is False
    assert [m["within"] for m in ins["measurements"]] == [False, False, True]
    major = next(k for k in ins["classes"] if k["defect_class"] == "major")
    assert (major["accept"], major["reject"]) == (3, 4)
    assert (
        major["reported_defects"],
        major["measurement_defects"],
        major["check_defects"],
        major["defects"],
        major["accepted"],
    ) == (1, 2, 1, 4, False)
    r = await api.post(f"/v1/qc/inspections/{ins['id']}/sign-off")
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["allocation"]) == (False, None)
    r = await api.get(f"/v1/runs/{f.run_id}/lots")
    assert [lot["status"] for lot in r.json()] == ["rejected"]
    r = await api.get(f"/v1/stock/{f.sku_id}")
    level = r.json()["level"]
    assert (level["quality_control"], level["available"], level["committed"]) == (500, 0, 0)
    assert "qc_pass" not in [m["reason"] for m in r.json()["movements"]]
    r = await api.get(f"/v1/preorders/{order.id}")
    assert r.json()["status"] == "waiting"
    assert r.json()["lines"] == [{"sku_id": f.sku_id, "quantity": 2, "allocated": 0}]
    other = await c.drops.create("Stock drop", "USD")
    r = await api.put(f"/v1/drops/{other.id}/offers/{f.sku_id}", json={"quantity": 1})
    assert (r.status_code, r.json()["code"]) == (409, "insufficient_stock"), r.text
    r = await api.post(f"/v1/qc/lots/{lot_id}/inspections", json={"defects": {}})
    assert (r.status_code, r.json()["code"]) == (409, "conflict")  # a disposition first
    r = await api.post(
        f"/v1/qc/lots/{lot_id}/disposition",
        json={"disposition": "scrap", "note": "chest cut too wide"},
    )
    assert r.status_code == 200, r.text
    r = await api.get(f"/v1/stock/{f.sku_id}")
    level = r.json()["level"]
    assert (level["quality_control"], level["damaged"], level["available"]) == (0, 500, 0)
    assert (await c.preorders.get(order.id)).status == "waiting"
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_rejected_lot_returned_or_scrapped_as_movements(container: Container) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    for batch, disposition in (("R-1", "return"), ("S-1", "scrap")):
        lot = await c.production.receive(f.run_id, f.sku_id, 100, batch, actor="wh")
        ins = await c.qc.inspect(lot["id"], "final_random", {"critical": 1}, inspector="ivy")
        assert ins["accepted"] is False
        await c.qc.sign_off(ins["id"], approver="Dana")
        await c.qc.dispose(lot["id"], disposition, actor="lee", note="sharp edge on zipper")
    level = await c.stock.level(f.sku_id)
    assert (level.quality_control, level.damaged, level.available) == (0, 100, 0)
    async with c.uow(readonly=True) as uow:
        reasons = [m.reason.value for _, _, m in await uow.stock.movements(sku_id=f.sku_id)]
    assert reasons.count("qc_fail") == 2


async def test_switching_rules_follow_recorded_inspections(container: Container) -> None:
    """Two of five lots rejected → tightened; then five accepted → normal again."""
    c = container
    f = await seed_run(c, quantity=5000)

    async def lot_with(major: int) -> bool:
        lot = await c.production.receive(f.run_id, f.sku_id, 500, "L", actor="wh")
        ins = await c.qc.inspect(lot["id"], "final_random", {"major": major}, inspector="ivy")
        await c.qc.sign_off(ins["id"], approver="Dana")
        if not ins["accepted"]:
            await c.qc.dispose(lot["id"], "return", actor="lee", note="failed AQL")
        return bool(ins["accepted"])

    assert await lot_with(4) is False
    assert await lot_with(0) is True
    assert await lot_with(5) is False
    state = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert state["major"]["severity"] == "tightened"
    assert state["minor"]["severity"] == "normal"  # each class switches on its own
    lot = await c.production.receive(f.run_id, f.sku_id, 500, "T", actor="wh")
    plan = await c.qc.plan(lot["id"])
    major = next(p for p in plan["classes"] if p["defect_class"] == "major")
    assert (major["severity"], major["sample_size"], major["accept"]) == ("tightened", 50, 2)
    # 3 major defects pass normal (Ac 3) but fail tightened (Ac 2).
    ins = await c.qc.inspect(lot["id"], "final_random", {"major": 3}, inspector="ivy")
    assert ins["accepted"] is False
    await c.qc.sign_off(ins["id"], approver="Dana")
    await c.qc.dispose(lot["id"], "return", actor="lee", note="failed tightened")
    for _ in range(5):
        assert await lot_with(0) is True
    state = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert state["major"]["severity"] == "normal"
    events = await outbox(c, "qc.switching_changed")
    assert [(ev["payload"]["from"], ev["payload"]["to"]) for ev in events] == [
        ("normal", "tightened"),
        ("tightened", "normal"),
    ]


async def lot_status(c: Container, lot_id: str) -> str:
    async with c.uow(readonly=True) as uow:
        lot = await uow.production.lot(lot_id)
    assert lot is not None
    return str(lot["status"])


async def test_an_inspection_made_before_tightening_is_inspected_again(
    container: Container,
) -> None:
    """An inspection recorded under normal and signed off only after other lots' sign-offs
    moved the product to tightened is refused (409, nothing changes): its lot, still
    in QC, is inspected again under the plan in force. (Found by the lifecycle model:
    it was a 422 from the switching rules.)"""
    c = container
    f = await seed_run(c, quantity=5000)
    early = await c.production.receive(f.run_id, f.sku_id, 500, "E", actor="wh")
    # 3 major defects pass normal (Ac 3) but fail tightened (Ac 2).
    stale = await c.qc.inspect(early["id"], "final_random", {"major": 3}, inspector="ivy")
    assert stale["accepted"] is True
    for batch in ("R1", "R2"):
        lot = await c.production.receive(f.run_id, f.sku_id, 500, batch, actor="wh")
        ins = await c.qc.inspect(lot["id"], "final_random", {"major": 5}, inspector="ivy")
        await c.qc.sign_off(ins["id"], approver="Dana")
    state = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert state["major"]["severity"] == "tightened"
    level = await c.stock.level(f.sku_id)

    with pytest.raises(e.Conflict) as info:
        await c.qc.sign_off(stale["id"], approver="Dana")
    assert info.value.extra["severity_in_force"] == "tightened"
    assert await lot_status(c, early["id"]) == "quality_control"
    assert await c.stock.level(f.sku_id) == level
    assert await c.qc.switching(f.manufacturer_id, f.product_id) == state
    again = await c.qc.inspect(early["id"], "final_random", {"major": 3}, inspector="ivy")
    assert again["accepted"] is False  # the tightened plan's verdict
    await c.qc.sign_off(again["id"], approver="Dana")
    assert await lot_status(c, early["id"]) == "rejected"


async def test_discontinued_after_five_tightened_rejections(container: Container) -> None:
    c = container
    f = await seed_run(c, quantity=10_000)

    async def failing_lot() -> None:
        lot = await c.production.receive(f.run_id, f.sku_id, 500, "X", actor="wh")
        ins = await c.qc.inspect(lot["id"], "final_random", {"major": 9}, inspector="ivy")
        await c.qc.sign_off(ins["id"], approver="Dana")
        await c.qc.dispose(lot["id"], "return", actor="lee", note="fail")

    for _ in range(2 + 5):  # two to tighten, five rejected on tightened
        await failing_lot()
    lot = await c.production.receive(f.run_id, f.sku_id, 500, "Y", actor="wh")
    with pytest.raises(e.InspectionDiscontinued):
        await c.qc.inspect(lot["id"], "final_random", {}, inspector="ivy")
    state = await c.qc.resume(f.manufacturer_id, f.product_id, actor="lee")
    assert state["major"]["severity"] == "tightened" and not state["major"]["discontinued"]
    assert (await c.qc.inspect(lot["id"], "final_random", {}, inspector="ivy"))["accepted"]


async def test_preorders_allocated_fifo_from_a_partial_lot(
    container: Container, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    drop_id = await preorder_drop(c, f, cap=10)
    orders = []
    for buyer in ("ann", "bob", "cy"):
        orders.append(await buy(c, drop_id, buyer, f.sku_id, 2))
        clock.advance(5)
    ann, bob, cy = (o.id for o in orders)
    lot1 = await pass_lot(c, f.run_id, f.sku_id, 5, "P-1")
    assert (await c.preorders.get(ann)).status == "ready"
    assert (await c.preorders.get(bob)).status == "ready"
    cy_po = await c.preorders.get(cy)
    assert cy_po.status == "waiting" and cy_po.lines[f.sku_id] == (2, 1)
    level = await c.stock.level(f.sku_id)
    assert (level.committed, level.available, level.quality_control) == (5, 0, 0)
    lot2 = await pass_lot(c, f.run_id, f.sku_id, 3, "P-2")
    assert (await c.preorders.get(cy)).status == "ready"
    level = await c.stock.level(f.sku_id)
    assert (level.committed, level.available) == (6, 2)
    # Traceability both ways.
    trace = await c.qc_trace.trace_lot(lot1)
    assert sorted((a["order_id"], a["quantity"]) for a in trace["orders"]) == sorted(
        [(ann, 2), (bob, 2), (cy, 1)]
    )
    t_order = await c.qc_trace.trace_order(cy)
    assert sorted(x["lot"]["id"] for x in t_order["lots"]) == sorted([lot1, lot2])
    assert t_order["lots"][0]["manufacturer"]["id"] == f.manufacturer_id
    assert t_order["lots"][0]["inspections"][0]["approver"] == "Dana"
    ready = await outbox(c, "preorder.ready_to_fulfil")
    assert [ev["aggregate_id"] for ev in ready] == [ann, bob, cy]
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_slip_of_10_days_notices_and_silence_is_consent(
    container: Container, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c, intake_days=20)
    drop_id = await preorder_drop(c, f, cap=10)
    a = await buy(c, drop_id, "ann", f.sku_id)
    b = await buy(c, drop_id, "bob", f.sku_id)
    original = (await c.preorders.get(a.id)).promised_ship_by
    assert original == f.intake + timedelta(days=5)
    await c.production.set_milestone(
        f.run_id,
        "warehouse_intake",
        planned_at=f.intake + timedelta(days=10),
        actor="lee",
        reason="dye lot re-run at the mill",
    )
    history = await c.production.milestone_history(f.run_id)
    assert (history[-1]["actor"], history[-1]["reason"]) == ("lee", "dye lot re-run at the mill")
    assert history[-1]["old_value"] == f.intake
    notices = await outbox(c, "preorder.delay_notice")
    assert sorted(ev["aggregate_id"] for ev in notices) == sorted([a.id, b.id])
    payload = notices[0]["payload"]
    assert payload["delay_days"] == 10 and payload["consent"] == "silent"
    assert payload["reason"] == "dye lot re-run at the mill"
    assert "/v1/preorder-links/cancel?token=" in payload["cancel_url"]
    assert payload["ship_estimate"]["latest"].startswith(
        (original + timedelta(days=10)).date().isoformat()
    )
    po = await c.preorders.get(a.id)
    assert po.consent == "silent" and po.promised_ship_by == original + timedelta(days=10)
    assert [n["kind"] for n in await c.preorders.notices(a.id)] == ["placed", "delay_notice"]
    # Setting an owner, or an actual date equal to the plan, tells the buyer nothing new.
    await c.production.set_milestone(
        f.run_id, "warehouse_intake", actual_at=f.intake + timedelta(days=10), actor="sam"
    )
    assert [n["kind"] for n in await c.preorders.notices(a.id)] == ["placed", "delay_notice"]
    clock.advance((original - now(c)).total_seconds() + DAY)
    assert await c.preorder_lifecycle.process_deadlines() == []
    assert (await c.preorders.get(a.id)).status == "waiting"
    assert (await c.preorders.get(b.id)).status == "waiting"


async def test_slip_of_45_days_needs_consent_else_refund_at_original_date(
    container: Container, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c, intake_days=20)
    drop_id = await preorder_drop(c, f, cap=10)
    agrees = await buy(c, drop_id, "ann", f.sku_id, 2)
    silent = await buy(c, drop_id, "bob", f.sku_id, 3)
    original = (await c.preorders.get(silent.id)).promised_ship_by
    assert original is not None
    await c.production.set_milestone(
        f.run_id,
        "warehouse_intake",
        planned_at=f.intake + timedelta(days=45),
        actor="lee",
        reason="factory fire",
    )
    notices = {ev["aggregate_id"]: ev["payload"] for ev in await outbox(c, "preorder.delay_notice")}
    p = notices[silent.id]
    assert p["consent"] == "required" and p["delay_days"] == 45
    assert p["consent_deadline"].startswith(original.date().isoformat())
    token = str(notices[agrees.id]["consent_url"]).split("token=")[1]
    assert c.preorder_links.verify(token, "consent") == agrees.id
    with pytest.raises(e.InvalidToken):  # a consent link cannot cancel
        c.preorder_links.verify(token, "cancel")
    with pytest.raises(e.InvalidToken):
        c.preorder_links.verify(token[:-1] + ("A" if not token.endswith("A") else "B"), "consent")
    await c.preorder_lifecycle.consent(agrees.id)
    # Just before the original date nothing happens; just after, silence means cancel.
    clock.advance((original - now(c)).total_seconds() - 60)
    assert await c.preorder_lifecycle.process_deadlines() == []
    clock.advance(120)
    assert await c.preorder_lifecycle.process_deadlines() == [silent.id]
    cancelled = await c.preorders.get(silent.id)
    assert cancelled.status == "cancelled" and cancelled.refunded_at is not None
    payment = await c.provider.retrieve(silent.payment_id)
    assert payment.status is PaymentStatus.REFUNDED and payment.refunded_amount == 7500
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(silent.id)
        assert order is not None and order.status.value == "refunded"
        assert (await uow.drops.offers(drop_id))[f.sku_id].sold == 2  # cap given back
    kept = await c.preorders.get(agrees.id)
    assert kept.status == "waiting" and kept.consent == "given"
    assert kept.promised_ship_by == f.intake + timedelta(days=50)
    kinds = [n["kind"] for n in await c.preorders.notices(silent.id)]
    assert kinds == ["placed", "delay_notice", "cancelled", "refunded"]
    assert await c.preorder_lifecycle.process_deadlines() == []  # idempotent


async def test_indefinite_delay_and_one_click_cancel(container: Container) -> None:
    c = container
    f = await seed_run(c)
    drop_id = await preorder_drop(c, f, cap=4)
    order = await buy(c, drop_id, "ann", f.sku_id)
    await c.production.set_milestone(
        f.run_id, "warehouse_intake", clear_planned=True, actor="lee", reason="factory closed"
    )
    p = (await outbox(c, "preorder.delay_notice"))[0]["payload"]
    assert p["delay_days"] is None and p["consent"] == "required"
    assert p["ship_estimate"]["known"] is False
    token = str(p["cancel_url"]).split("token=")[1]
    order_id = c.preorder_links.verify(token, "cancel")
    assert (await c.engine.counts(drop_id))[f.sku_id].remaining == 3
    done = await c.preorder_lifecycle.cancel(
        order_id, reason="buyer cancelled via link", by="buyer"
    )
    assert done.status == "cancelled" and done.refunded_at is not None
    assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.REFUNDED
    assert (await c.engine.counts(drop_id))[f.sku_id].remaining == 4  # back in the cap
    assert (await c.drops.snapshot(drop_id)).offers[f.sku_id].remaining == 4
    with pytest.raises(e.Conflict):
        await c.preorder_lifecycle.consent(order_id)


async def test_authorise_now_capture_at_ship(container: Container, clock: ManualClock) -> None:
    c = container
    far = await seed_run(c, intake_days=20, code="FAR")
    drop = await c.drops.create("Auth drop", "USD")
    closes = now(c) + timedelta(days=1)
    with pytest.raises(e.InvalidInput):  # would outlive a 7-day authorisation
        await c.preorders.set_offer(drop.id, far.sku_id, far.run_id, 5, closes, "authorize")
    f = await seed_run(c, intake_days=1, code="NEAR")
    drop_id = await preorder_drop(c, f, cap=5, mode="authorize", closes_in_days=1)
    order = await buy(c, drop_id, "ann", f.sku_id)
    assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.AUTHORIZED
    po = await c.preorders.get(order.id)
    assert po.captured is False and po.authorization_expires_at is not None
    with pytest.raises(e.Conflict):  # not allocated yet
        await c.preorder_lifecycle.ship(order.id)
    await pass_lot(c, f.run_id, f.sku_id, 5, "N-1")
    assert (await c.stock.level(f.sku_id)).committed == 1
    shipped = await c.preorder_lifecycle.ship(order.id)
    assert shipped.status == "shipped" and shipped.captured
    assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.CAPTURED
    level = await c.stock.level(f.sku_id)  # its allocated unit left: committed → outside
    assert (level.committed, level.available) == (0, 4)
    with pytest.raises(e.Conflict):  # shipped once; nothing moves twice
        await c.preorder_lifecycle.ship(order.id)
    assert (await c.stock.level(f.sku_id)).committed == 0
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_warehouse_shipping_a_preorder_ships_it_as_ops_do(
    container: Container, clock: ManualClock
) -> None:
    """A warehouse's ``shipped`` update (signed webhook or tracking CSV) of a pre-order
    does what the ops route does: its authorised payment is captured, the pre-order is
    ``shipped`` with its notice and event, its allocated units leave ``committed``
    once. Refused (409, nothing recorded) while it still waits for its units."""
    c = container
    f = await seed_run(c, intake_days=1, code="WMS")
    drop_id = await preorder_drop(c, f, cap=5, mode="authorize", closes_in_days=1)
    ann = await buy(c, drop_id, "ann", f.sku_id)
    bo = await buy(c, drop_id, "bo", f.sku_id)
    ups = UpdateDetails("UPS", "1ZWMS")
    with pytest.raises(e.Conflict):  # no unit of it in the building yet
        await c.fulfilment.apply_update("wms", "ship-ann", FulfilmentUpdate.SHIPPED, ann.id, ups)
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(ann.id)
    assert order is not None and order.status is OrderStatus.PAID
    assert (await c.provider.retrieve(ann.payment_id)).status is PaymentStatus.AUTHORIZED
    await pass_lot(c, f.run_id, f.sku_id, 5, "W-1")
    assert (await c.stock.level(f.sku_id)).committed == 2

    # The warehouse update's path (a signed webhook's): the same update id applies now (nothing was
    # recorded by the refusal).
    done = await c.fulfilment.apply_update("wms", "ship-ann", FulfilmentUpdate.SHIPPED, ann.id, ups)
    assert (done.applied, done.status) == (True, "shipped")
    # The tracking CSV's path.
    report = await c.fulfilment.import_tracking(
        f"order_id,carrier,tracking_number\n{bo.id},UPS,1ZB\n"
    )
    assert (report.applied, report.errors) == ([2], [])
    for order in (ann, bo):
        po = await c.preorders.get(order.id)
        assert (po.status, po.captured) == ("shipped", True)
        assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.CAPTURED
        async with c.uow(readonly=True) as uow:
            kinds = [n["kind"] for n in await uow.production.notices(order.id)]
            types = [ev["type"] for ev in await uow.outbox.list(aggregate_id=order.id)]
        assert kinds[-2:] == ["captured", "shipped"]
        assert types.index("preorder.payment_captured") < types.index("preorder.shipped")
        assert "order.shipped" in types
    level = await c.stock.level(f.sku_id)  # both allocated units left, once each
    assert (level.committed, level.available) == (0, 3)

    # Shipped once: ops cannot ship it again, a repeated update changes nothing.
    with pytest.raises(e.Conflict):
        await c.preorder_lifecycle.ship(ann.id)
    again = await c.fulfilment.apply_update(
        "wms", "ship-ann", FulfilmentUpdate.SHIPPED, ann.id, ups
    )
    assert again.applied is False
    assert (await c.stock.level(f.sku_id)).committed == 0
    report = await c.reports.build(drop_id)
    assert report["balanced"], report["reconciliation"]
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_authorisation_captured_before_it_lapses(
    container: Container, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c, intake_days=1)
    drop_id = await preorder_drop(c, f, cap=5, mode="authorize", closes_in_days=1)
    order = await buy(c, drop_id, "ann", f.sku_id)
    assert await c.preorder_lifecycle.capture_expiring() == []
    clock.advance(6 * DAY + 1)
    assert await c.preorder_lifecycle.capture_expiring() == [order.id]
    assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.CAPTURED
    assert (await c.preorders.get(order.id)).captured


async def test_phased_run_proposes_a_reorder_never_orders(container: Container) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    first = await c.production.create_run(
        f.manufacturer_id,
        "Phase 1",
        "USD",
        [RunLine(f.sku_id, 10, moq=5)],
        reorder_threshold_pct=50,
        reorder_window_days=14,
        qc_spec=(f.spec_id, 1),
    )
    drop = await c.drops.create("Phase drop", "USD")
    await c.preorders.set_offer(drop.id, f.sku_id, first["id"], 10, now(c) + timedelta(days=3))
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    await buy(c, drop.id, "ann", f.sku_id, 4)
    assert await c.preorder_allocation.check_reorders() == []
    await buy(c, drop.id, "bob", f.sku_id, 2)
    assert await c.preorder_allocation.check_reorders() == [first["id"]]
    assert await c.preorder_allocation.check_reorders() == []  # proposed once
    proposal = (await outbox(c, "production.reorder_proposed"))[0]["payload"]
    assert proposal["suggested_quantities"] == {f.sku_id: 6}
    assert proposal["sell_through_pct"] == 60
    assert len(await outbox(c, "ops.alert")) == 1
    assert len(await c.production.runs()) == 2  # nothing was ordered


async def test_reduced_inspection_needs_the_authoritys_approval(container: Container) -> None:
    """Switching score: +3 per lot accepted even at one AQL step tighter (Ac >= 2);
    at 30 reduced inspection starts only if the approver allows it."""
    c = container
    f = await seed_run(c, quantity=20_000)

    async def clean_lot(approve: bool) -> None:
        lot = await c.production.receive(f.run_id, f.sku_id, 500, "C", actor="wh")
        ins = await c.qc.inspect(lot["id"], "final_random", {}, inspector="ivy")
        await c.qc.sign_off(ins["id"], approver="Dana", approve_reduced=approve)

    for _ in range(10):
        await clean_lot(approve=False)
    state = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert state["major"]["severity"] == "normal" and state["major"]["switching_score"] == 30
    await clean_lot(approve=True)
    state = await c.qc.switching(f.manufacturer_id, f.product_id)
    assert state["major"]["severity"] == "reduced"
    lot = await c.production.receive(f.run_id, f.sku_id, 500, "R", actor="wh")
    major = next(p for p in (await c.qc.plan(lot["id"]))["classes"] if p["defect_class"] == "major")
    assert (major["severity"], major["sample_size"]) == ("reduced", 20)


async def test_snapshot_after_engine_loss_keeps_cap_and_buyer_limits(
    container: Container,
) -> None:
    c = container
    f = await seed_run(c)
    drop_id = await preorder_drop(c, f, cap=5, limit=1)
    await buy(c, drop_id, "ann", f.sku_id)
    await c.engine.forget_drop(drop_id)  # the engine lost its state
    snap = await c.drops.snapshot(drop_id)
    assert snap.offers[f.sku_id].remaining == 4
    assert snap.buyer_taken["ann"] == {f.sku_id: 1}
    with pytest.raises(e.LimitExceeded):  # rebuilt from the ledger, limit still counted
        await c.holds.place(drop_id, "ann", [sku_item(f.sku_id)])
    assert (await c.holds.place(drop_id, "bob", [sku_item(f.sku_id)])).units == {f.sku_id: 1}


async def test_mixed_cart_sells_stock_now_and_waits_for_the_run(container: Container) -> None:
    c = container
    f = await seed_run(c)
    cap = await c.catalog.create_sku(f.product_id, "CAP-STOCK", 1500, "USD", {})
    await c.stock.receive(cap.id, 10)
    drop = await c.drops.create("Mixed", "USD")
    await c.drops.set_offer(drop.id, cap.id, 10)
    await c.preorders.set_offer(drop.id, f.sku_id, f.run_id, 5, now(c) + timedelta(days=2))
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    hold = await c.holds.place(drop.id, "ann", [sku_item(cap.id), sku_item(f.sku_id, 2)])
    order = (await c.checkout.start(hold.id, "ann", "4242424242424242")).order
    assert order is not None and order.total_amount == 1500 + 2 * 2500
    assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.CAPTURED
    level = await c.stock.level(cap.id)
    assert (level.committed, level.reserved) == (1, 9)
    assert (await c.stock.level(f.sku_id)).on_hand == 0
    po = await c.preorders.get(order.id)
    assert po.lines == {f.sku_id: (2, 0)} and po.status == "waiting"
    await c.preorder_lifecycle.cancel(order.id, reason="changed mind", by="ops")
    level = await c.stock.level(cap.id)
    assert (level.committed, level.reserved) == (0, 10)  # the in-stock unit went back
    async with c.uow(readonly=True) as uow:
        offers = await uow.drops.offers(drop.id)
    assert (offers[cap.id].sold, offers[f.sku_id].sold) == (0, 0)
    assert all(ch.consistent for ch in await c.stock.verify())
