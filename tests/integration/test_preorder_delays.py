"""The mail-order rule after the first delay, and the run schedule it rests on, on both
backend profiles: a renewed delay needs express consent however short, a promised date
that passes unannounced cancels and refunds, every delay notice reaches the buyer as a
message, and final QC can never be scheduled after the warehouse intake."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.services.ports import ManualClock, PaymentStatus
from preorders_support import buy, now, pass_lot, preorder_drop, seed_run

DAY = 86400


async def delay(c: Container, run_id: str, planned: Any, reason: str) -> None:
    await c.production.set_milestone(
        run_id, "warehouse_intake", planned_at=planned, actor="lee", reason=reason
    )


async def last_notice(c: Container, order_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await c.preorders.notices(order_id))[-1]["payload"]
    return payload


async def delay_messages(c: Container, order_id: str) -> list[dict[str, Any]]:
    return await c.messages.list(order_id=order_id, kind="preorder_delayed")


async def test_a_renewed_delay_needs_express_consent_however_short(
    container: Container, clock: ManualClock
) -> None:
    c = container
    f = await seed_run(c, intake_days=20)
    drop_id = await preorder_drop(c, f, cap=10)
    ann = await buy(c, drop_id, "ann", f.sku_id)
    bob = await buy(c, drop_id, "bob", f.sku_id, 2)
    original = (await c.preorders.get(ann.id)).promised_ship_by
    assert original is not None

    # A first delay of 10 days: silence is consent.
    await delay(c, f.run_id, f.intake + timedelta(days=10), "dye lot re-run")
    first = await last_notice(c, bob.id)
    assert (first["consent"], first["delay_days"]) == ("silent", 10)
    revised = original + timedelta(days=10)
    assert (await c.preorders.get(bob.id)).promised_ship_by == revised

    # A second delay of 10 more days is renewed: express consent by the revised date.
    clock.advance(3600)
    await delay(c, f.run_id, f.intake + timedelta(days=20), "port strike")
    second = await last_notice(c, bob.id)
    assert (second["consent"], second["delay_days"]) == ("required", 10)
    assert second["consent_deadline"].startswith(revised.date().isoformat())
    assert (first["renewed"], second["renewed"]) == (False, True)
    po = await c.preorders.get(bob.id)
    assert (po.consent, po.consent_deadline, po.promised_ship_by) == ("required", revised, revised)

    # Each notice reached the buyer as a message saying what, if anything, to do.
    old, new = await delay_messages(c, bob.id)
    assert old["subject"] == f"Order {bob.number}: a new ship date"
    assert "dye lot re-run" in old["text_body"] and "do not need to do anything" in old["text_body"]
    assert first["cancel_url"] in old["text_body"] and "consent?token=" not in old["text_body"]
    text, html = new["text_body"], new["html_body"]
    assert "delayed again" in text and "port strike" in text
    assert second["consent_url"] in text and second["cancel_url"] in text
    assert "refund you in full" in text and "We need your agreement" in html

    await c.preorder_lifecycle.consent(ann.id)
    assert (await c.preorders.get(ann.id)).promised_ship_by == original + timedelta(days=20)
    # Just before the revised date nothing happens; just after, silence means a refund.
    clock.advance((revised - now(c)).total_seconds() - 60)
    assert await c.preorder_lifecycle.process_deadlines() == []
    clock.advance(120)
    assert await c.preorder_lifecycle.process_deadlines() == [bob.id]
    gone = await c.preorders.get(bob.id)
    assert gone.status == "cancelled" and gone.refunded_at is not None
    assert (await c.provider.retrieve(bob.payment_id)).status is PaymentStatus.REFUNDED
    assert len(await c.messages.list(order_id=bob.id, kind="refunded")) == 1

    # Consent to one renewed delay is not consent to the next.
    await delay(c, f.run_id, f.intake + timedelta(days=23), "customs hold")
    third = await last_notice(c, ann.id)
    assert (third["consent"], third["delay_days"], third["renewed"]) == ("required", 3, True)
    kept = await c.preorders.get(ann.id)
    assert kept.consent_deadline == original + timedelta(days=20)
    assert (await c.preorders.get(ann.id)).status == "waiting"


async def test_a_promised_date_that_passes_unannounced_cancels_and_refunds(
    container: Container, clock: ManualClock
) -> None:
    """Nobody moved a milestone, yet the date the buyer was promised passed with the
    units still missing: the sweep cancels and refunds. An order whose units arrived is
    left to the warehouse."""
    c = container
    f = await seed_run(c, intake_days=3)
    drop_id = await preorder_drop(c, f, cap=10)
    arrived = await buy(c, drop_id, "ann", f.sku_id, 2)
    clock.advance(1)
    waiting = await buy(c, drop_id, "bob", f.sku_id, 2)
    await pass_lot(c, f.run_id, f.sku_id, 2, "L-1")  # enough for the first buyer only
    promised = (await c.preorders.get(waiting.id)).promised_ship_by
    assert promised is not None

    clock.advance((promised - now(c)).total_seconds() - 60)
    assert await c.preorder_lifecycle.process_deadlines() == []
    clock.advance(120)
    assert await c.preorder_lifecycle.process_deadlines() == [waiting.id]
    assert await c.preorder_lifecycle.process_deadlines() == []  # once
    gone = await c.preorders.get(waiting.id)
    assert gone.status == "cancelled" and gone.refunded_at is not None
    notice = next(n for n in await c.preorders.notices(waiting.id) if n["kind"] == "cancelled")
    assert notice["payload"]["by"] == "system"
    assert "not shipped by the promised date" in notice["payload"]["reason"]
    assert (await c.provider.retrieve(waiting.payment_id)).status is PaymentStatus.REFUNDED
    assert len(await c.messages.list(order_id=waiting.id, kind="refunded")) == 1
    assert (await c.preorders.get(arrived.id)).status == "ready"
    async with c.uow(readonly=True) as uow:
        assert (await uow.drops.offers(drop_id))[f.sku_id].sold == 2


async def test_final_qc_is_never_scheduled_after_the_warehouse_intake(
    container: Container,
) -> None:
    c = container
    f = await seed_run(c, intake_days=20)  # intake planned at f.intake
    await c.production.set_milestone(
        f.run_id, "final_qc", planned_at=f.intake - timedelta(days=5), actor="lee"
    )
    history = await c.production.milestone_history(f.run_id)
    with pytest.raises(e.MilestoneOutOfOrder) as info:
        await c.production.set_milestone(
            f.run_id,
            "final_qc",
            planned_at=f.intake + timedelta(days=1),
            actor="lee",
            reason="inspector booked late",
        )
    assert info.value.extra["milestone"] == "final_qc"
    assert info.value.extra["must_precede"] == "warehouse_intake"
    # Moving the intake before final QC is the same disorder, refused the same way.
    with pytest.raises(e.MilestoneOutOfOrder):
        await c.production.set_milestone(
            f.run_id,
            "warehouse_intake",
            planned_at=f.intake - timedelta(days=6),
            actor="lee",
            reason="early freight",
        )
    # An actual final-QC date counts over the plan.
    with pytest.raises(e.MilestoneOutOfOrder):
        await c.production.set_milestone(
            f.run_id, "final_qc", actual_at=f.intake + timedelta(hours=1), actor="ivy"
        )
    # Refused changes wrote nothing.
    assert await c.production.milestone_history(f.run_id) == history
    run = await c.production.run(f.run_id)
    dates = {m["kind"]: (m["planned_at"], m["actual_at"]) for m in run["milestones"]}
    assert dates["final_qc"] == (f.intake - timedelta(days=5), None)
    assert dates["warehouse_intake"] == (f.intake, None)
    # In order is fine, on the same day too.
    await c.production.set_milestone(
        f.run_id, "final_qc", planned_at=f.intake, actor="lee", reason="later inspection"
    )
