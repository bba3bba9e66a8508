"""Waitlists with fair claims and restock waves, through the services, on SQLite with
the in-process engine and PostgreSQL with Redis: every unit that comes back goes to the
next buyer in line (never to a tapper), an expired claim always passes on, a claim link
works once and for its buyer only, and stock stays consistent (nothing oversells)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from alembic import command

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.waitlist import WaitlistOrder, draw_order
from dropline.services.live.public_view import public_drop
from dropline.services.ports import ManualClock
from dropline.store.db import alembic_config, upgrade_async
from support import seed_shop, sku_item

VISA = "4242424242424242"


async def consistent(c: Container, drop_id: str, sku_id: str) -> tuple[int, int, int]:
    """(remaining, held, sold) after checking engine + ledger add up to the offer."""
    counts = (await c.engine.counts(drop_id))[sku_id]
    async with c.uow(readonly=True) as uow:
        offer = (await uow.drops.offers(drop_id))[sku_id]
    assert counts.remaining >= 0
    assert counts.remaining + counts.held + offer.sold == offer.offered
    return counts.remaining, counts.held, offer.sold


async def claim_token(c: Container, entry_id: str) -> str:
    async with c.uow(readonly=True) as uow:
        row = await uow.waitlist.get(entry_id)
        msgs = await uow.messages.list(kind="waitlist_claim", limit=100)
    assert row is not None and row["status"] == "offered"
    [msg] = [m for m in msgs if m["event_id"] == entry_id]
    return str(msg["text_body"].split("token=")[1].split()[0])


async def sold_out_shop(c: Container, units: int = 1) -> tuple[str, str, list[str]]:
    shop = await seed_shop(c, units=units, ttl=30)
    sku = shop.skus[0]
    holds = [
        (await c.holds.place(shop.drop_id, f"early{i}", [sku_item(sku)])).id for i in range(units)
    ]
    return shop.drop_id, sku, holds


async def test_join_refused_while_units_can_be_held(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=3)
    with pytest.raises(e.NotSoldOut) as info:
        await c.waitlist.join(shop.drop_id, shop.skus[0], "ann")
    assert info.value.extra["hold_url"] == "/v1/holds" and info.value.extra["remaining"] == 3
    async with c.uow(readonly=True) as uow:
        assert await uow.waitlist.line(shop.drop_id, shop.skus[0]) == []


async def test_units_back_go_to_the_line_in_order(container: Container, clock: ManualClock) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, added = await c.waitlist.join(drop_id, sku, "ann", "ann@example.com")
    assert added and ann["position"] == 1
    bo, _ = await c.waitlist.join(drop_id, sku, "bo")
    assert bo["position"] == 2
    again, added = await c.waitlist.join(drop_id, sku, "bo")
    assert not added and again["id"] == bo["id"]

    # the early buyer lets go: the unit waits behind the gate, a tapper cannot take it
    await c.holds.release(early, "early0")
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "tapper", [sku_item(sku)])
    # the public view agrees: the unit is the line's, not on sale
    public = await public_drop(c.engine, c.drops, c.drops.cache, drop_id)
    [variant] = [v for p in public["products"] for v in p["skus"] if v["id"] == sku]
    assert variant["sold_out"] and variant["remaining"] == 0
    [row] = (await c.monitor.snapshot(drop_id))["skus"]
    assert (row["remaining"], row["for_waitlist"]) == (0, 1)
    [shown] = (await c.monitor.public(drop_id))["skus"]
    assert shown["state"] == "sold_out"
    assert await c.waitlist_serving.serve_once() == 1
    [mine] = await c.waitlist.mine(drop_id, "ann")
    assert mine["status"] == "offered" and mine["hold_id"]
    assert (await consistent(c, drop_id, sku)) == (0, 1, 0)

    # the claim link: once, for its buyer only
    token = await claim_token(c, ann["id"])
    with pytest.raises(e.ClaimNotYours):
        await c.waitlist.claim(token, "bo")
    opened = await c.waitlist.claim(token, "ann")
    assert opened["hold_id"] == mine["hold_id"]
    with pytest.raises(e.ClaimUsed):
        await c.waitlist.claim(token, "ann")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(e.InvalidToken):
        await c.waitlist.claim(tampered, "ann")

    # ann lets the claim window pass: it passes on to bo, not to the tapper
    clock.advance(601)
    await c.engine.expire_due(clock.now())
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "tapper", [sku_item(sku)])
    assert await c.waitlist_serving.serve_once() == 1
    assert (await c.waitlist.mine(drop_id, "ann"))[0]["status"] == "lost"
    [bos] = await c.waitlist.mine(drop_id, "bo")
    assert bos["status"] == "offered"
    with pytest.raises(e.ClaimLost):
        await c.waitlist.claim(token.replace(token, token), "ann")

    # bo pays: claimed; nobody waits any more, so the next unit back goes on sale
    result = await c.checkout.start(bos["hold_id"], "bo", VISA)
    assert result.order is not None
    await c.waitlist_serving.serve_once()
    assert (await c.waitlist.mine(drop_id, "bo"))[0]["status"] == "claimed"
    assert (await consistent(c, drop_id, sku)) == (0, 0, 1)
    [demand] = await c.waitlist_demand.demand(drop_id)
    assert demand["joined"] == 2 and demand["offered"] == 2
    assert demand["claimed"] == 1 and demand["lost"] == 1 and demand["unserved"] == 1
    counts = (await c.engine.counts(drop_id))[sku]
    assert counts.waitlist == ""


async def test_leaving_hands_the_claim_on(container: Container) -> None:
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    await c.waitlist.join(drop_id, sku, "ann")
    await c.waitlist.join(drop_id, sku, "bo")
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    left = await c.waitlist.leave(drop_id, sku, "ann")
    assert left["status"] == "left"
    [bos] = await c.waitlist.mine(drop_id, "bo")
    assert bos["status"] == "offered"
    await consistent(c, drop_id, sku)
    with pytest.raises(e.NotFound):
        await c.waitlist.leave(drop_id, sku, "ann")


async def test_demand_counts_a_buyer_who_left_and_came_back_once(
    container: Container, api: httpx.AsyncClient
) -> None:
    """Ann joins, leaves and joins again (behind Bo); Bo's claim is paid. Demand counts
    buyers: 2 joined, Ann unserved and waiting (not also gone), and 3 entries; the
    report's waitlist (JSON and CSV) says the same."""
    from dropline.web.render import report_csv

    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    url = f"/v1/drops/{drop_id}/waitlist"
    for buyer, method in (("ann", "post"), ("ann", "delete"), ("bo", "post"), ("ann", "post")):
        if method == "post":
            r = await api.post(url, json={"sku_id": sku}, headers=_buyer(c, buyer))
            assert r.status_code == 201, r.text
        else:
            r = await api.delete(url, params={"sku_id": sku}, headers=_buyer(c, buyer))
            assert r.json()["status"] == "left"
    await c.holds.release(early, "early0")
    assert await c.waitlist_serving.serve_once() == 1
    [bos] = await c.waitlist.mine(drop_id, "bo")
    assert (await c.checkout.start(str(bos["hold_id"]), "bo", VISA)).order is not None
    await c.waitlist_serving.serve_once()  # settles Bo's claim: paid

    [demand] = (await api.get(f"{url}/demand")).json()
    buyers = ("joined", "waiting", "left", "skipped", "unserved")
    assert {k: demand[k] for k in buyers} == {
        "joined": 2, "waiting": 1, "left": 0, "skipped": 0, "unserved": 1
    }  # fmt: skip
    claims = ("entries", "offered", "claimed", "lost")
    assert {k: demand[k] for k in claims} == {"entries": 3, "offered": 1, "claimed": 1, "lost": 0}
    report = await c.reports.build(drop_id)
    [line] = report["waitlist"]["skus"]
    assert (line["joined"], line["entries"], line["unserved"]) == (2, 3, 1)
    csv_text = report_csv(report)
    assert f"waitlist,{sku},joined,2" in csv_text and f"waitlist,{sku},entries,3" in csv_text


async def test_restock_wave_serves_the_line_then_sells(container: Container) -> None:
    c = container
    drop_id, sku, _ = await sold_out_shop(c)
    for buyer in ("ann", "bo"):
        await c.waitlist.join(drop_id, sku, buyer)
    await c.stock.receive(sku, 5)
    wave = await c.restocks.schedule(drop_id, sku, 5)
    assert wave["status"] == "scheduled"
    assert await c.restocks.run_once() == [wave["id"]]
    assert await c.restocks.run_once() == []  # exactly once
    [done] = await c.restocks.waves(drop_id)
    assert done["status"] == "done" and done["waitlisted"] == 2
    for buyer in ("ann", "bo"):
        assert (await c.waitlist.mine(drop_id, buyer))[0]["status"] == "offered"
    # the line is served: the other three are on sale
    hold = await c.holds.place(drop_id, "tapper", [sku_item(sku, 3)])
    assert hold.units[sku] == 3
    assert (await consistent(c, drop_id, sku))[:2] == (0, 1 + 2 + 3)
    # the monitor and the report show the wave and the line's demand
    for view in (await c.monitor.snapshot(drop_id), await c.reports.build(drop_id)):
        [shown] = view["restocks"]
        assert shown["id"] == wave["id"] and shown["waitlisted"] == 2
        [line] = view["waitlist"]["skus"]
        assert line["joined"] == 2 and line["offered"] == 2 and line["unserved"] == 2
    # and so do the console's monitor and report pages
    from dropline.api.app import create_app

    app = create_app(container=c)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            key, _ = await c.access.create_key("ops", "ops")
            form = await http.get("/ui/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
            for path in (f"/ui/drops/{drop_id}", f"/ui/drops/{drop_id}/report"):
                text = (await http.get(path)).text
                assert "Waitlist and restock waves" in text and wave["id"] in text, path


async def test_waves_done_before_the_migration_keep_what_they_put_on_sale(
    container: Container, database_url: str
) -> None:
    """``0025_wave_on_sale`` records what a wave's units did; a wave done before it
    keeps the old reading, quantity − waitlisted on sale, and a scheduled one none."""
    c = container
    drop_id, sku, _ = await sold_out_shop(c)
    await c.waitlist.join(drop_id, sku, "ann")
    await c.stock.receive(sku, 4)
    await c.restocks.schedule(drop_id, sku, 3)
    await c.restocks.run_once()
    planned = await c.restocks.schedule(drop_id, sku, 1, datetime(2099, 1, 1, tzinfo=UTC))
    config = alembic_config(database_url)
    try:
        await asyncio.to_thread(command.downgrade, config, "0024_waitlist_tiers")
    finally:
        await upgrade_async(database_url)
    shown = {w["id"]: w for w in await c.restocks.waves(drop_id)}
    keys = ("waitlisted", "for_waitlist", "on_sale", "back_in_stock")
    assert [tuple(w[k] for k in keys) for w in shown.values() if w["status"] == "done"] == [
        (1, 0, 2, 0)
    ]
    assert shown[planned["id"]]["on_sale"] is None
    async with c.uow(readonly=True) as uow:
        row = await uow.waitlist.wave(planned["id"])
    assert row is not None and (row["on_sale"], row["for_waitlist"]) == (0, 0)


async def test_a_cancelled_order_unit_goes_to_the_line(container: Container) -> None:
    """A cancellation gives its unit back to the live drop: the gate keeps it for the
    next in line, not for whoever taps first."""
    c = container
    drop_id, sku, [early] = await sold_out_shop(c)
    paid = await c.checkout.start(early, "early0", VISA)
    assert paid.order is not None
    await c.waitlist.join(drop_id, sku, "ann")
    await c.cancellations.cancel(paid.order.id, reason="changed my mind")
    with pytest.raises(e.SoldOut):
        await c.holds.place(drop_id, "tapper", [sku_item(sku)])
    assert await c.waitlist_serving.serve_once() == 1
    [mine] = await c.waitlist.mine(drop_id, "ann")
    assert mine["status"] == "offered"
    assert await consistent(c, drop_id, sku) == (0, 1, 0)


async def test_restock_bad_input(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=1, live=False)
    with pytest.raises(e.Conflict):
        await c.restocks.schedule(shop.drop_id, shop.skus[0], 1)
    await c.drops.transition(shop.drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(shop.drop_id, DropStatus.LIVE)
    with pytest.raises(e.InvalidInput):
        await c.restocks.schedule(shop.drop_id, shop.skus[0], 0)
    with pytest.raises(e.NotFound):
        await c.restocks.schedule(
            shop.drop_id, shop.skus[0], 1, source_kind="lot", source_id="lot_x"
        )
    # too few units in stock: the wave fails with the reason, nothing changes
    wave = await c.restocks.schedule(shop.drop_id, shop.skus[0], 50)
    await c.restocks.run_once()
    [failed] = await c.restocks.waves(shop.drop_id)
    assert failed["id"] == wave["id"] and failed["status"] == "failed" and failed["error"]
    await consistent(c, shop.drop_id, shop.skus[0])


async def test_draw_orders_the_pre_queue_by_the_recorded_seed(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=1, live=False, ttl=30)
    drop_id, sku = shop.drop_id, shop.skus[0]
    await c.waitlist.configure(drop_id, WaitlistOrder.DRAW, 120)
    entries = [(await c.waitlist.join(drop_id, sku, f"b{i}"))[0] for i in range(6)]
    assert all(x["pre_queue"] for x in entries)
    await c.drops.transition(drop_id, DropStatus.SCHEDULED)
    await c.drops.transition(drop_id, DropStatus.LIVE)
    late, _ = await sold_out_later(c, drop_id, sku)
    await c.waitlist_serving.serve_once()
    async with c.uow(readonly=True) as uow:
        [draw] = await uow.waitlist.draws(drop_id)
    expected = draw_order([x["id"] for x in entries], draw["seed"])
    assert draw["entry_ids"] == expected
    by_id = {x["id"]: x["buyer_id"] for x in entries}
    for place, entry_id in enumerate(expected, start=1):
        [mine] = await c.waitlist.mine(drop_id, by_id[entry_id])
        assert mine["position"] == place
    assert (await c.waitlist.mine(drop_id, "late"))[0]["position"] == 7
    assert late["pre_queue"] is False


async def sold_out_later(c: Container, drop_id: str, sku: str) -> tuple[dict[str, object], bool]:
    await c.holds.place(drop_id, "early", [sku_item(sku)])
    return await c.waitlist.join(drop_id, sku, "late")


# ---------------------------------------------------------------- the API


def _buyer(c: Container, buyer: str) -> dict[str, str]:
    return {"X-Buyer-Token": c.access.mint(buyer)}


async def test_api_join_claim_leave_and_restock(
    container: Container, api: httpx.AsyncClient
) -> None:
    """The HTTP contract: 409 ``not_sold_out`` with the hold to place, 201 then 200 for
    a second join, the buyer's place, the claim refused to another buyer (403) and used
    twice (409), demand and waves for ops, bad input as 422 that changes nothing."""
    c = container
    drop_id, sku, [early] = await sold_out_shop(c, units=1)
    shop2 = await seed_shop(c, units=2)
    r = await api.post(
        f"/v1/drops/{shop2.drop_id}/waitlist",
        json={"sku_id": shop2.skus[0]},
        headers=_buyer(c, "ann"),
    )
    assert r.status_code == 409 and r.json()["code"] == "not_sold_out"
    assert r.json()["hold_url"] == "/v1/holds" and "hint" in r.json()

    url = f"/v1/drops/{drop_id}/waitlist"
    r = await api.post(
        url, json={"sku_id": sku, "email": "ann@example.com"}, headers=_buyer(c, "ann")
    )
    assert r.status_code == 201 and r.json()["position"] == 1
    r = await api.post(url, json={"sku_id": sku}, headers=_buyer(c, "ann"))
    assert r.status_code == 200 and r.json()["position"] == 1
    r = await api.post(url, json={"sku_id": sku}, headers=_buyer(c, "bo"))
    assert r.json()["position"] == 2
    r = await api.post(url, json={"sku_id": sku, "extra": 1}, headers=_buyer(c, "cy"))
    assert r.status_code == 422
    r = await api.post(url, json={"sku_id": sku})
    assert r.status_code == 401

    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    [entry] = (await api.get(url, headers=_buyer(c, "ann"))).json()
    assert entry["status"] == "offered" and entry["hold_id"]
    token = await claim_token(c, entry["id"])
    r = await api.post(f"{url}/claim", json={"token": token}, headers=_buyer(c, "bo"))
    assert r.status_code == 403 and r.json()["code"] == "claim_not_yours"
    r = await api.post(f"{url}/claim", json={"token": token}, headers=_buyer(c, "ann"))
    assert r.status_code == 200 and r.json()["hold_id"] == entry["hold_id"]
    r = await api.post(f"{url}/claim", json={"token": token}, headers=_buyer(c, "ann"))
    assert r.status_code == 409 and r.json()["code"] == "claim_used"

    r = await api.delete(url, params={"sku_id": sku}, headers=_buyer(c, "bo"))
    assert r.status_code == 200 and r.json()["status"] == "left"
    r = await api.delete(url, params={"sku_id": sku}, headers=_buyer(c, "bo"))
    assert r.status_code == 404

    [demand] = (await api.get(f"{url}/demand")).json()
    assert demand["joined"] == 2 and demand["offered"] == 1 and demand["left"] == 1
    r = await api.put(f"{url}/settings", json={"order": "draw", "claim_window_s": 5})
    assert r.status_code == 422
    r = await api.put(f"{url}/settings", json={"order": "draw", "claim_window_s": 300})
    assert r.json() == {"drop_id": drop_id, "order": "draw", "claim_window_s": 300}

    await c.stock.receive(sku, 2)
    r = await api.post(f"/v1/drops/{drop_id}/restocks", json={"sku_id": sku, "quantity": 0})
    assert r.status_code == 422
    r = await api.post(
        f"/v1/drops/{drop_id}/restocks",
        json={"sku_id": sku, "quantity": 2, "at": "2099-01-01T00:00:00Z"},
    )
    assert r.status_code == 201 and r.json()["status"] == "scheduled"
    wave_id = r.json()["id"]
    assert await c.restocks.run_once() == []  # not due yet
    r = await api.post(f"/v1/restocks/{wave_id}/cancel")
    assert r.json()["status"] == "cancelled"
    r = await api.post(f"/v1/restocks/{wave_id}/cancel")
    assert r.status_code == 409
    [wave] = (await api.get(f"/v1/drops/{drop_id}/restocks")).json()
    assert wave["id"] == wave_id and wave["status"] == "cancelled"
    await consistent(c, drop_id, sku)
