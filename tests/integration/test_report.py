"""The post-stream report and the live monitor on a seeded drop with known numbers, on
SQLite and PostgreSQL, including reconciliations that a tampered row unbalances."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.drops import DropStatus
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.platform.background import expire_holds
from dropline.services.ports import ManualClock
from dropline.store.live.tables import hold_event_pages
from support import Shop, bundle_item, seed_shop, sku_item

VISA = "4242424242424242"


def check(report: dict[str, Any], key: str, scope: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c for c in report["reconciliation"] if c["key"] == key and c["scope"] == scope
    ]
    assert len(found) == 1, (key, scope, report["reconciliation"])
    return found[0]


def parts(c: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["value"] for p in c["right"]}


async def live_drop_with_known_numbers(c: Container, clock: ManualClock) -> Shop:
    """Two SKUs × 10 units and a bundle of both. Then:
    ann buys 2 × SKU0 (live, promo LIVE10); bo's card is declined and bo releases;
    cy buys the bundle (clip); di's hold expires; ed's hold is still active."""
    shop = await seed_shop(c, units=10, skus=2, bundle=True)
    s0, s1 = shop.skus
    live = {"channel": "live", "promo_code": "LIVE10", "utm_source": "tiktok"}
    h = await c.holds.place(shop.drop_id, "ann", [sku_item(s0, 2)], attribution=live)
    assert (await c.checkout.start(h.id, "ann", VISA)).order is not None
    h = await c.holds.place(shop.drop_id, "bo", [sku_item(s1)], attribution={"channel": "live"})
    with pytest.raises(e.PaymentDeclined):
        await c.checkout.start(h.id, "bo", "4000000000009995")
    await c.holds.release(h.id, "bo")
    assert shop.bundle_id
    h = await c.holds.place(
        shop.drop_id, "cy", [bundle_item(shop.bundle_id)], attribution={"channel": "clip"}
    )
    assert (await c.checkout.start(h.id, "cy", VISA)).order is not None
    await c.holds.place(shop.drop_id, "di", [sku_item(s0)], attribution={"channel": "live"})
    clock.advance(91)
    assert await expire_holds(c.engine, c.clock) == 1
    await c.holds.place(shop.drop_id, "ed", [sku_item(s1)])
    await drain_hold_events(c.engine, c.uow)
    return shop


async def test_report_reconciles_a_live_drop(container: Container, clock: ManualClock) -> None:
    c = container
    shop = await live_drop_with_known_numbers(c, clock)
    s0, s1 = shop.skus
    r = await c.reports.build(shop.drop_id)
    assert r["balanced"] is True
    total = check(r, "units", "all SKUs")
    assert total["left"]["value"] == 20
    assert parts(total) == {"sold": 4, "unsold, back in stock": 0, "still offered": 16}
    assert parts(check(r, "units", "Tee — S0")) == {
        "sold": 3,
        "unsold, back in stock": 0,
        "still offered": 7,
    }
    holds = check(r, "holds", "all holds")
    assert holds["left"]["value"] == 5
    assert parts(holds) == {"converted": 2, "expired": 1, "released": 1, "active": 1}
    orders = check(r, "orders", "all orders")
    assert orders["left"]["value"] == 2 and parts(orders)["pending"] == 2
    money = check(r, "money", "all payments")
    assert money["left"]["value"] == 9000 and money["formula"] == "net = captured − refunded"
    assert parts(money) == {"captured": 9000, "refunded": 0}
    assert r["totals"]["units_sold"] == 4 and r["totals"]["orders"] == 2
    by_sku = {row["sku_id"]: row for row in r["sell_through"]["by_sku"]}
    assert (by_sku[s0]["sold"], by_sku[s1]["sold"]) == (3, 1)
    assert by_sku[s0]["sell_through_pct"] == 30.0
    assert r["payment_failures"] == [{"reason": "insufficient_funds", "count": 1}]
    channels = {row["key"]: row for row in r["conversion"]["channel"]}
    assert channels["live"]["holds"] == 3 and channels["live"]["orders"] == 1
    assert channels["clip"]["conversion_pct"] == 100.0
    assert [row["key"] for row in r["conversion"]["promo_code"]] == ["LIVE10", "(none)"]
    assert r["abandonment"]["expired"] == 1 and r["abandonment"]["abandonment_pct"] == 40.0
    assert r["buyers"] == {"total": 2, "first_time": 2, "repeat": 0}
    assert sum(p["units"] for p in r["timeline"]["points"]) == 4

    # Ending returns every unsold unit to stock, and the units still balance; ed's open
    # hold ends with a hold.released event, so no hold of an ended drop stays "active".
    await c.drops.transition(shop.drop_id, DropStatus.ENDED)
    await drain_hold_events(c.engine, c.uow)
    r = await c.reports.build(shop.drop_id)
    assert parts(check(r, "units", "all SKUs")) == {
        "sold": 4,
        "unsold, back in stock": 16,
        "still offered": 0,
    }
    assert check(r, "units", "all SKUs")["balanced"]
    holds = check(r, "holds", "all holds")
    assert parts(holds) == {"converted": 2, "expired": 1, "released": 2, "active": 0}
    assert holds["balanced"] and r["balanced"] is True


async def test_tampered_rows_unbalance_the_report(container: Container, clock: ManualClock) -> None:
    c = container
    shop = await live_drop_with_known_numbers(c, clock)
    s0 = shop.skus[0]
    async with c.db.begin() as conn:
        await conn.execute(
            text("UPDATE drop_offers SET sold = sold - 1 WHERE drop_id = :d AND sku_id = :s"),
            {"d": shop.drop_id, "s": s0},
        )
        await conn.execute(
            text(
                "UPDATE orders SET total_amount = total_amount + 100 WHERE id = "
                "(SELECT MIN(id) FROM orders WHERE drop_id = :d)"
            ),
            {"d": shop.drop_id},
        )
        # lose the first hold.placed event of the drop's first page
        first = (
            await conn.execute(
                select(hold_event_pages)
                .where(hold_event_pages.c.drop_id == shop.drop_id)
                .order_by(hold_event_pages.c.seq)
                .limit(1)
            )
        ).one()
        events = list(first.events)
        events.remove(next(e for e in events if e[1] == "hold.placed"))
        await conn.execute(
            update(hold_event_pages)
            .where(hold_event_pages.c.seq == first.seq)
            .values(events=events, n=len(events))
        )
    r = await c.reports.build(shop.drop_id)
    assert r["balanced"] is False
    units = check(r, "units", "Tee — S0")
    assert not units["balanced"] and units["difference"] == -1
    assert check(r, "units", "all SKUs")["difference"] == -1
    assert check(r, "units", "Tee — S1")["balanced"]
    money = check(r, "money", "all payments")
    assert money["difference"] == 100 and money["left"]["value"] == 9100
    holds = check(r, "holds", "all holds")
    assert holds["left"]["value"] == 4 and holds["difference"] == -1
    assert check(r, "orders", "all orders")["balanced"]


async def another_drop(c: Container, units: int) -> Shop:
    """A second live drop in the same database (``seed_shop``'s SKU codes would clash)."""
    product = await c.catalog.create_product("Cap")
    sku = await c.catalog.create_sku(product.id, "CAP-1", 2500, "USD", {"colour": "Red"})
    await c.stock.receive(sku.id, units)
    drop = await c.drops.create("Second drop", "USD")
    await c.drops.set_offer(drop.id, sku.id, units)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    return Shop(drop.id, [sku.id])


async def test_post_stream_window_repeat_buyers_and_previous_drops(
    container: Container, clock: ManualClock
) -> None:
    c = container
    first = await seed_shop(c, units=5)
    h = await c.holds.place(first.drop_id, "ann", [sku_item(first.skus[0])])
    await c.checkout.start(h.id, "ann", VISA)
    await c.drops.transition(first.drop_id, DropStatus.ENDED)
    await c.monitor.update_settings(first.drop_id, creator="mira")
    clock.advance(3600)

    shop = await another_drop(c, units=5)
    await c.monitor.update_settings(shop.drop_id, creator="mira", conversion_window_h=2)
    for buyer in ("ann", "zed"):
        h = await c.holds.place(shop.drop_id, buyer, [sku_item(shop.skus[0])])
        await c.checkout.start(h.id, buyer, VISA)
    ended = datetime.fromtimestamp(clock.now(), UTC)
    await c.monitor.update_settings(shop.drop_id, stream_ended_at=ended)
    clock.advance(3600)  # inside the 2 h window
    h = await c.holds.place(shop.drop_id, "yan", [sku_item(shop.skus[0], 2)])
    await c.checkout.start(h.id, "yan", VISA)
    clock.advance(7200)  # after the window
    h = await c.holds.place(shop.drop_id, "xi", [sku_item(shop.skus[0])])
    await c.checkout.start(h.id, "xi", VISA)

    r = await c.reports.build(shop.drop_id)
    post = r["post_stream"]
    assert (post["during"]["orders"], post["window"]["orders"], post["after"]["orders"]) == (
        2,
        1,
        1,
    )
    assert post["window"]["units"] == 2 and post["window"]["revenue"] == 5000
    assert r["buyers"] == {"total": 4, "first_time": 3, "repeat": 1}
    assert [p["id"] for p in r["previous_drops"]] == [first.drop_id]
    assert r["previous_drops"][0]["units_sold"] == 1
    assert r["sell_through"]["by_sku"][0]["time_to_sell_out_s"] is not None  # 5 of 5 sold


async def test_unknown_drop_and_bad_settings_are_refused(container: Container) -> None:
    c = container
    with pytest.raises(e.NotFound):
        await c.reports.build("drp_missing")
    shop = await seed_shop(c, units=3)
    with pytest.raises(e.InvalidInput):
        await c.monitor.update_settings(shop.drop_id, stream_mode="fuzzy")
    with pytest.raises(e.InvalidInput):
        await c.monitor.update_settings(shop.drop_id, low_stock={"sku_nope": 2})
    assert (await c.monitor.settings(shop.drop_id)).stream_mode == "exact"


async def test_monitor_snapshot_counts_alerts_and_cues(
    container: Container, clock: ManualClock
) -> None:
    c = container
    product = await c.catalog.create_product("Hoodie")
    m = await c.catalog.create_sku(
        product.id, "HD-BLK-M", 6000, "USD", {"colour": "Black", "size": "M"}
    )
    lg = await c.catalog.create_sku(
        product.id, "HD-BLK-L", 6000, "USD", {"colour": "Black", "size": "L"}
    )
    for sku in (m, lg):
        await c.stock.receive(sku.id, 20)
    drop = await c.drops.create("Hoodies", "USD")
    await c.drops.set_offer(drop.id, m.id, 2)
    await c.drops.set_offer(drop.id, lg.id, 15)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    await c.monitor.update_settings(drop.id, low_stock={lg.id: 12})
    h = await c.holds.place(drop.id, "ann", [sku_item(m.id, 2)])
    await c.checkout.start(h.id, "ann", VISA)
    await c.holds.place(drop.id, "bo", [sku_item(lg.id, 3)])
    await drain_hold_events(c.engine, c.uow)
    snap = await c.monitor.snapshot(drop.id)
    rows = {r["sku_id"]: r for r in snap["skus"]}
    assert (rows[m.id]["sold"], rows[m.id]["remaining"], rows[m.id]["velocity_1m"]) == (2, 0, 2)
    assert (rows[lg.id]["held"], rows[lg.id]["remaining"]) == (3, 12)
    assert snap["holds"]["active"] == 1 and snap["holds"]["converted"] == 1
    kinds = {(a["kind"], a["sku_id"]) for a in snap["alerts"]}
    assert ("sold_out", m.id) in kinds and ("low_stock", lg.id) in kinds
    assert "Hoodie — Black / M sold out — Black / L has 12 left" in snap["cues"]
    await c.monitor.update_settings(drop.id, stream_mode="coarse")
    public = await c.monitor.public(drop.id)
    states = {s["id"]: s for s in public["skus"]}
    assert states[m.id]["state"] == "sold_out" and states[lg.id]["state"] == "low"
    assert "remaining" not in states[lg.id]


def test_chart_buckets_fit_short_rehearsals_and_long_streams() -> None:
    from dropline.services.insight.report_sales import bucket_size

    assert bucket_size(8) == 5
    assert bucket_size(300) == 15
    assert bucket_size(3600) == 60
    assert 36 * 3600 / bucket_size(36 * 3600) <= 120


async def test_payment_failure_spike_raises_an_alert(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10)
    for n in range(3):
        hold = await c.holds.place(shop.drop_id, f"fan-{n}", [sku_item(shop.skus[0])])
        with pytest.raises(e.PaymentDeclined):
            await c.checkout.start(hold.id, f"fan-{n}", "4000000000000002")
    hold = await c.holds.place(shop.drop_id, "ok", [sku_item(shop.skus[0])])
    await c.checkout.start(hold.id, "ok", VISA)
    snap = await c.monitor.snapshot(shop.drop_id)
    assert snap["payments"]["failed"] == 3 and snap["payments"]["failed_last_minute"] == 3
    assert snap["payments"]["by_reason"] == {"card_declined": 3}
    spikes = [a for a in snap["alerts"] if a["kind"] == "payment_failure_spike"]
    assert len(spikes) == 1 and spikes[0]["message"].startswith("3 of 4 payments")
