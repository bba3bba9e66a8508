"""Auto-charge on the waitlist, through the services and the API, on SQLite with the
in-process engine and PostgreSQL with Redis (the sandbox provider): a saved card is
charged through the normal checkout the moment a unit is allocated; a decline passes
the unit to the next in line, who gets the claim; a buyer who left is never charged;
two workers on the same allocation make one charge; stock stays consistent."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_waitlist import claim_token, consistent, sold_out_shop

from dropline.bootstrap import Container, build
from dropline.domain import errors as e
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.live.waitlist_autocharge import CHARGE_FAILED_KIND, CHARGED_KIND
from dropline.services.ports import ManualClock
from support import sku_item

VISA = "4242424242424242"
DECLINES_ON_CHARGE = "4000000000000341"
NEEDS_AUTH_OFF_SESSION = "4000002760003184"


async def entry(c: Container, entry_id: str) -> dict[str, object]:
    async with c.uow(readonly=True) as uow:
        row = await uow.waitlist.get(entry_id)
    assert row is not None
    return row


async def messages(c: Container, entry_id: str) -> dict[str, dict[str, object]]:
    async with c.uow(readonly=True) as uow:
        rows = await uow.messages.list(limit=500)
    return {str(m["kind"]): m for m in rows if m["event_id"] == entry_id}


async def checkouts(c: Container, hold_id: str) -> list[object]:
    async with c.uow(readonly=True) as uow:
        return list(await uow.orders.checkouts_for_hold(hold_id))


async def test_saved_card_is_charged_on_allocation(container: Container) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, added = await c.waitlist_autocharge.join(drop_id, sku, "ann", "ann@example.com", VISA)
    assert added and ann["card_saved"] is True and ann["position"] == 1
    [mine] = await c.waitlist.mine(drop_id, "ann")
    assert mine["card_saved"] is True and mine["auto_charge"] is None

    await c.holds.release(early, "early0")
    assert await c.waitlist_serving.serve_once() == 1
    row = await entry(c, ann["id"])
    assert row["status"] == "claimed" and row["charge_status"] == "succeeded"
    assert row["payment_token"] is None  # detached once used
    [checkout] = await checkouts(c, str(row["hold_id"]))
    assert checkout.status is CheckoutStatus.SUCCEEDED  # type: ignore[attr-defined]
    assert checkout.payment_method.startswith("saved:sandbox:ok")  # type: ignore[attr-defined]
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(checkout.order_id)  # type: ignore[attr-defined]
    assert order is not None and order.buyer_id == "ann" and order.total_amount == 2500
    # the buyer hears about the order, not a claim link
    sent = await messages(c, ann["id"])
    assert set(sent) == {CHARGED_KIND}
    assert order.number in str(sent[CHARGED_KIND]["text_body"])
    assert sent[CHARGED_KIND]["to_email"] == "ann@example.com"
    assert (await consistent(c, drop_id, sku)) == (0, 0, 1)
    [demand] = await c.waitlist_demand.demand(drop_id)
    assert demand["claimed"] == 1 and demand["autocharge_succeeded"] == 1
    assert demand["autocharge_failed"] == 0
    # nothing left to do for the background pass, and it charges nothing twice
    await c.waitlist_autocharge.run_once()
    assert len(await checkouts(c, str(row["hold_id"]))) == 1


@pytest.mark.parametrize(
    ("card", "code"),
    [(DECLINES_ON_CHARGE, "card_declined"), (NEEDS_AUTH_OFF_SESSION, "authentication_required")],
)
async def test_failed_charge_passes_the_unit_on(container: Container, card: str, code: str) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "ann@example.com", card)
    bo, _ = await c.waitlist.join(drop_id, sku, "bo", "bo@example.com")
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()

    row = await entry(c, ann["id"])
    assert row["status"] == "lost" and row["charge_status"] == "failed"
    assert code in str(row["charge_error"]) and row["payment_token"] is None
    [failed] = await checkouts(c, str(row["hold_id"]))
    assert failed.status is CheckoutStatus.FAILED  # type: ignore[attr-defined]
    assert failed.decline_code == code  # type: ignore[attr-defined]
    assert set(await messages(c, ann["id"])) == {CHARGE_FAILED_KIND}
    # the next in line gets the claim, with the link, and can pay for it
    [bos] = await c.waitlist.mine(drop_id, "bo")
    assert bos["status"] == "offered" and bos["id"] == bo["id"]
    token = await claim_token(c, bo["id"])
    opened = await c.waitlist.claim(token, "bo")
    assert (await consistent(c, drop_id, sku)) == (0, 1, 0)
    paid = await c.checkout.start(opened["hold_id"], "bo", VISA)
    assert paid.order is not None
    assert (await consistent(c, drop_id, sku)) == (0, 0, 1)
    [demand] = await c.waitlist_demand.demand(drop_id)
    assert demand["autocharge_failed"] == 1 and demand["autocharge_succeeded"] == 0
    assert demand["lost"] == 1 and demand["offered"] == 2


async def test_failed_charge_with_nobody_else_puts_the_unit_on_sale(
    container: Container,
) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    await c.waitlist_autocharge.join(drop_id, sku, "ann", "", DECLINES_ON_CHARGE)
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    hold = await c.holds.place(drop_id, "tapper", [sku_item(sku)])
    assert hold.units[sku] == 1
    assert (await consistent(c, drop_id, sku)) == (0, 1, 0)


async def test_a_buyer_who_left_is_not_charged(container: Container) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
    await c.waitlist.join(drop_id, sku, "bo")
    left = await c.waitlist.leave(drop_id, sku, "ann")
    assert left["status"] == "left" and left["card_saved"] is False
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    await c.waitlist_autocharge.run_once()
    row = await entry(c, ann["id"])
    assert row["status"] == "left" and row["charge_status"] is None and row["hold_id"] is None
    async with c.uow(readonly=True) as uow:
        orders = await uow.orders.list_orders(drop_id=drop_id)
    assert [o.buyer_id for o in orders] == []
    assert (await c.waitlist.mine(drop_id, "bo"))[0]["status"] == "offered"


async def test_the_entry_left_after_the_offer_is_not_charged(container: Container) -> None:
    """The buyer leaves between the claim hold being placed and the charge: the charge
    finds the entry changed and records no checkout (no money moves)."""
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
    charger = c.waitlist_serving.autocharge
    c.waitlist_serving.autocharge = None  # offer without charging, as a worker that died
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    c.waitlist_serving.autocharge = charger
    row = await entry(c, ann["id"])
    assert row["status"] == "offered" and row["payment_token"]
    # the buyer leaves; a late charge of the same entry does nothing
    await c.waitlist.leave(drop_id, sku, "ann")
    assert await c.waitlist_autocharge.charge(ann["id"]) is False
    assert await checkouts(c, str(row["hold_id"])) == []
    assert (await consistent(c, drop_id, sku))[2] == 0


async def test_two_workers_racing_make_one_charge(container: Container) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
    charger = c.waitlist_serving.autocharge
    c.waitlist_serving.autocharge = None
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    c.waitlist_serving.autocharge = charger
    row = await entry(c, ann["id"])
    assert row["status"] == "offered" and row["charge_status"] is None

    # two workers find the same uncharged claim at once, and two more retry it
    ac = c.waitlist_autocharge
    results = await asyncio.gather(
        ac.charge(ann["id"]), ac.charge(ann["id"]), ac.run_once(), ac.run_once()
    )
    assert results[0] is True and results[1] is True
    [checkout] = await checkouts(c, str(row["hold_id"]))
    assert checkout.status is CheckoutStatus.SUCCEEDED  # type: ignore[attr-defined]
    async with c.uow(readonly=True) as uow:
        orders = await uow.orders.list_orders(drop_id=drop_id)
    assert [o.buyer_id for o in orders] == ["ann"]
    done = await entry(c, ann["id"])
    assert done["status"] == "claimed" and done["charge_status"] == "succeeded"
    assert (await consistent(c, drop_id, sku)) == (0, 0, 1)


async def test_two_processes_racing_make_one_charge(
    container: Container, clock: ManualClock
) -> None:
    """Two workers with their own connections and engine clients (PostgreSQL + Redis,
    where several processes share the state) serve the same line at once."""
    c = container
    if not c.settings.database_url.startswith("postgresql"):
        pytest.skip("the in-process engine lives in one process")
    other = await build(c.settings, clock=clock)
    try:
        drop_id, sku, [early] = await sold_out_shop(c)
        ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
        await c.holds.release(early, "early0")
        await asyncio.gather(c.waitlist_serving.serve_once(), other.waitlist_serving.serve_once())
        await asyncio.gather(c.waitlist_autocharge.run_once(), other.waitlist_autocharge.run_once())
        row = await entry(c, ann["id"])
        assert row["charge_status"] == "succeeded"
        assert len(await checkouts(c, str(row["hold_id"]))) == 1
        async with c.uow(readonly=True) as uow:
            orders = await uow.orders.list_orders(drop_id=drop_id)
        assert [o.buyer_id for o in orders] == ["ann"]
        assert (await consistent(c, drop_id, sku)) == (0, 0, 1)
    finally:
        await other.close()


async def test_two_serving_passes_make_one_charge(container: Container) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
    await c.holds.release(early, "early0")
    await asyncio.gather(c.waitlist_serving.serve_once(), c.waitlist_serving.serve_once())
    row = await entry(c, ann["id"])
    assert row["charge_status"] == "succeeded"
    assert len(await checkouts(c, str(row["hold_id"]))) == 1
    assert (await consistent(c, drop_id, sku)) == (0, 0, 1)


async def test_a_card_that_cannot_be_saved_changes_nothing(container: Container) -> None:
    c = container
    drop_id, sku, _ = await sold_out_shop(c)
    with pytest.raises(e.PaymentDeclined) as info:
        await c.waitlist_autocharge.join(drop_id, sku, "ann", "", "4000000000000002")
    assert info.value.extra["decline_code"] == "card_declined"
    with pytest.raises(e.PaymentDeclined) as info:
        await c.waitlist_autocharge.join(drop_id, sku, "ann", "", "4000000000003220")
    assert info.value.extra["decline_code"] == "authentication_required"
    with pytest.raises(e.InvalidInput):
        await c.waitlist_autocharge.join(drop_id, sku, "ann", "", "saved:sandbox:ok:4242")
    with pytest.raises(e.InvalidInput):
        await c.waitlist_autocharge.join(drop_id, sku, "ann", "", " ")
    assert await c.waitlist.mine(drop_id, "ann") == []
    # joining again while waiting replaces the saved card
    first, _ = await c.waitlist.join(drop_id, sku, "ann")
    assert first["card_saved"] is False
    again, added = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
    assert not added and again["id"] == first["id"] and again["card_saved"] is True


async def test_a_charge_left_to_recovery_is_picked_up(container: Container) -> None:
    """The charge's checkout was finished by someone else (checkout recovery, a
    webhook): the background pass records its outcome on the entry."""
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(drop_id, sku, "ann", "", VISA)
    charger = c.waitlist_serving.autocharge
    c.waitlist_serving.autocharge = None
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    c.waitlist_serving.autocharge = charger
    row = await entry(c, ann["id"])

    async def mark(uow: object, checkout: object) -> None:  # what charge's hook does
        await uow.waitlist.change(  # type: ignore[attr-defined]
            ann["id"],
            row["version"],
            charge_status="charging",
            charge_checkout_id=checkout.id,  # type: ignore[attr-defined]
        )

    paid = await c.checkout.start(
        str(row["hold_id"]), "ann", str(row["payment_token"]), on_started=mark
    )
    assert paid.order is not None
    assert (await entry(c, ann["id"]))["charge_status"] == "charging"
    with pytest.raises(e.Conflict):  # leaving while the card is charged
        await c.waitlist.leave(drop_id, sku, "ann")
    assert await c.waitlist_autocharge.run_once() >= 1
    done = await entry(c, ann["id"])
    assert done["status"] == "claimed" and done["charge_status"] == "succeeded"
    assert done["payment_token"] is None
    assert CHARGED_KIND in await messages(c, ann["id"])


# ---------------------------------------------------------------- the API


def _buyer(c: Container, buyer: str) -> dict[str, str]:
    return {"X-Buyer-Token": c.access.mint(buyer)}


async def test_api_join_with_a_card(container: Container, api: httpx.AsyncClient) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    # a saved method's token is not a payment method a buyer may check out with
    r = await api.post(
        "/v1/checkouts",
        json={"hold_id": early, "payment_method": "saved:sandbox:ok:4242"},
        headers=_buyer(c, "early0"),
    )
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    assert await checkouts(c, early) == []
    url = f"/v1/drops/{drop_id}/waitlist"
    r = await api.post(
        url, json={"sku_id": sku, "payment_method": "4000000000000002"}, headers=_buyer(c, "ann")
    )
    assert r.status_code == 402 and r.json()["code"] == "payment_declined"
    assert (await api.get(url, headers=_buyer(c, "ann"))).json() == []
    r = await api.post(url, json={"sku_id": sku, "payment_method": ""}, headers=_buyer(c, "ann"))
    assert r.status_code == 422
    r = await api.post(
        url, json={"sku_id": sku, "payment_method": "pm_card_visa"}, headers=_buyer(c, "ann")
    )
    assert r.status_code == 201 and r.json()["card_saved"] is True
    [mine] = (await api.get(url, headers=_buyer(c, "ann"))).json()
    assert mine["card_saved"] is True and mine["auto_charge"] is None
    r = await api.post(
        url, json={"sku_id": sku, "payment_method": "pm_card_visa"}, headers=_buyer(c, "bo")
    )
    assert r.status_code == 201
    r = await api.delete(url, params={"sku_id": sku}, headers=_buyer(c, "bo"))
    assert r.status_code == 200 and r.json()["card_saved"] is False

    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    [mine] = (await api.get(url, headers=_buyer(c, "ann"))).json()
    assert mine["status"] == "claimed" and mine["auto_charge"] == "succeeded"
    [demand] = (await api.get(f"{url}/demand")).json()
    assert demand["autocharge_succeeded"] == 1 and demand["autocharge_failed"] == 0
    doc = (await api.get("/openapi.json")).json()
    join = doc["paths"]["/v1/drops/{drop_id}/waitlist"]["post"]
    assert {"402", "409", "201"} <= set(join["responses"])


def test_sandbox_saved_cards_table() -> None:
    """The sandbox's test values for saved cards, as ``payments/sandbox.py`` lists them:
    on-session, 0341 declines and 3184 asks for 3-D Secure; a saved token carries what
    its off-session charge does."""
    from dropline.payments.sandbox import card_outcome

    assert card_outcome(DECLINES_ON_CHARGE) == ("decline", "card_declined")
    assert card_outcome(NEEDS_AUTH_OFF_SESSION) == ("action", None)
    assert card_outcome("saved:sandbox:ok:4242") == ("success", None)
    assert card_outcome("saved:sandbox:card_declined:0341") == ("decline", "card_declined")
    assert card_outcome("saved:sandbox:authentication_required:3184") == (
        "decline",
        "authentication_required",
    )
