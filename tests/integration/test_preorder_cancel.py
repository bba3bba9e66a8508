"""Cancelling pre-orders on both backend profiles: every kind of unit goes home by the one
give-back path (allocated lot units, in-stock lines, bundle components, repeated lines,
live and ended drops), nothing is stranded in ``committed`` or ``reserved``, and a
pre-order can be cancelled until it ships."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.domain.live.drops import DropStatus
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.services.fulfilment.shipping import UpdateDetails
from dropline.services.ports import ManualClock, PaymentStatus
from dropline.store.live.order_records import OrderRecord
from fulfilment_support import SHIP_TO, outbox_types
from preorders_support import VISA, Factory, buy, now, pass_lot, preorder_drop, seed_run
from support import sku_item, unique_suffix


def bundle_item(bundle_id: str, qty: int = 1) -> HoldItem:
    return HoldItem(ItemKind.BUNDLE, bundle_id, qty)


async def pay(c: Container, drop_id: str, buyer: str, items: list[HoldItem]) -> OrderRecord:
    hold = await c.holds.place(drop_id, buyer, items)
    result = await c.checkout.start(hold.id, buyer, VISA, SHIP_TO)
    assert result.order is not None
    return result.order


@dataclass
class Shop:
    """Two in-stock SKUs ``a`` and ``b`` (``received`` units each), the run's pre-order
    SKU ``p``, a bundle ``ab`` (a + b) and a bundle ``bp`` (b + p)."""

    f: Factory
    a: str
    b: str
    ab: str
    bp: str
    received: int
    offered: dict[str, dict[str, int]] = field(default_factory=dict)  # drop → SKU → units

    @property
    def p(self) -> str:
        return self.f.sku_id


async def seed(c: Container, received: int = 30) -> Shop:
    f = await seed_run(c, quantity=500)
    a = await c.catalog.create_sku(f.product_id, f"A-{unique_suffix()}", 1000, "USD", {})
    b = await c.catalog.create_sku(f.product_id, f"B-{unique_suffix()}", 1200, "USD", {})
    for sku in (a, b):
        await c.stock.receive(sku.id, received)
    ab = await c.catalog.create_bundle(
        f"AB-{unique_suffix()}", "A+B", 2000, "USD", [(a.id, 1), (b.id, 1)]
    )
    bp = await c.catalog.create_bundle(
        f"BP-{unique_suffix()}", "B+P", 3500, "USD", [(b.id, 1), (f.sku_id, 1)]
    )
    return Shop(f, a.id, b.id, ab.id, bp.id, received)


async def open_drop(c: Container, shop: Shop, name: str, units: int = 10, cap: int = 20) -> str:
    drop = await c.drops.create(name, "USD")
    for sku in (shop.a, shop.b):
        await c.drops.set_offer(drop.id, sku, units)
    await c.preorders.set_offer(drop.id, shop.p, shop.f.run_id, cap, now(c) + timedelta(days=5))
    for bundle in (shop.ab, shop.bp):
        await c.drops.add_bundle(drop.id, bundle)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    shop.offered[drop.id] = {shop.a: units, shop.b: units, shop.p: cap}
    return drop.id


async def sold(c: Container, drop_id: str) -> dict[str, int]:
    async with c.uow(readonly=True) as uow:
        return {s: o.sold for s, o in (await uow.drops.offers(drop_id)).items()}


async def committed_to(c: Container, order_id: str) -> dict[str, int]:
    async with c.uow(readonly=True) as uow:
        return await uow.stock.committed_to(order_id)


async def test_cancelling_every_kind_of_preorder_strands_nothing(
    container: Container, clock: ManualClock
) -> None:
    """Allocated, partly allocated and mixed pre-orders, bundles (one with a pre-order
    component), two lines of one SKU, on a live drop and on an ended one: after the
    cancellations each SKU's buckets, each drop's sold counts and the live engine are
    exactly what the orders left and the lot imply."""
    c = container
    shop = await seed(c)
    a, b, p = shop.a, shop.b, shop.p
    live = await open_drop(c, shop, "Live")
    ended = await open_drop(c, shop, "Ends")
    plan: list[tuple[str, str, list[HoldItem], dict[str, int]]] = [
        ("alloc", live, [sku_item(p, 2)], {p: 2}),
        (
            "mixed",
            live,
            [sku_item(a), sku_item(a, 2), sku_item(p), bundle_item(shop.ab)],
            {a: 4, b: 1, p: 1},
        ),
        ("bundle", live, [bundle_item(shop.bp)], {b: 1, p: 1}),
        ("keep", live, [sku_item(a), sku_item(p)], {a: 1, p: 1}),
        (
            "end_mixed",
            ended,
            [sku_item(a), bundle_item(shop.ab), sku_item(p, 2)],
            {a: 2, b: 1, p: 2},
        ),
        ("end_keep", ended, [sku_item(b), sku_item(p)], {b: 1, p: 1}),
        ("wait", live, [sku_item(p, 3)], {p: 3}),
    ]
    orders: dict[str, OrderRecord] = {}
    for name, drop_id, items, _ in plan:
        orders[name] = await pay(c, drop_id, name, items)
        clock.advance(1)  # first come, first served by payment time
    # A lot of 9 fills the first six orders and one unit of the last.
    await pass_lot(c, shop.f.run_id, p, 9, "L-1")
    status = {n: (await c.preorders.get(o.id)).status for n, o in orders.items()}
    assert status == dict.fromkeys(orders, "ready") | {"wait": "waiting"}
    assert (await c.preorders.get(orders["wait"].id)).lines == {p: (3, 1)}
    async with c.uow() as uow:  # the warehouse already acknowledged one of them
        assert await c.fulfilment.mark_handed_off(uow, orders["mixed"].id, "wms")
        await uow.commit()
    await c.drops.transition(ended, DropStatus.ENDED)

    cancelled = ["alloc", "mixed", "bundle", "end_mixed", "wait"]
    for name in cancelled:
        done = await c.preorder_lifecycle.cancel(orders[name].id, reason="changed mind", by="ops")
        assert done.status == "cancelled" and done.refunded_at is not None

    # What the orders left and the lot imply.
    kept = [(drop_id, units) for name, drop_id, _, units in plan if name not in cancelled]
    allocated = {"keep": 1, "end_keep": 1}  # the kept orders' pre-order units, all allocated
    expected_sold = {d: Counter[str]() for d in (live, ended)}
    for drop_id, units in kept:
        expected_sold[drop_id].update(units)
    for sku in (a, b):
        committed = sum(units.get(sku, 0) for _, units in kept)
        reserved = shop.offered[live][sku] - expected_sold[live][sku]  # the ended drop holds none
        level = await c.stock.level(sku)
        assert (level.committed, level.reserved, level.available, level.on_hand) == (
            committed,
            reserved,
            shop.received - committed - reserved,
            shop.received,
        ), sku
    level = await c.stock.level(p)
    lot_committed = sum(allocated.values())
    assert (level.committed, level.reserved, level.quality_control, level.available) == (
        lot_committed,
        0,
        0,
        9 - lot_committed,
    )
    for drop_id in (live, ended):
        assert await sold(c, drop_id) == {s: expected_sold[drop_id][s] for s in (a, b, p)}
    counts = await c.engine.counts(live)
    for sku in (a, b, p):
        assert counts[sku].remaining == shop.offered[live][sku] - expected_sold[live][sku]
    for name in cancelled:
        order = orders[name]
        assert await committed_to(c, order.id) == {}, name
        assert "order.cancelled" in await outbox_types(c, order.id)
        payment = await c.provider.retrieve(order.payment_id)
        assert payment.status is PaymentStatus.REFUNDED
        assert len(await c.messages.list(order_id=order.id, kind="refunded")) == 1
    assert all(ch.consistent for ch in await c.stock.verify())
    # The units are really usable again: the live drop sells them once more.
    again = await pay(c, live, "late", [sku_item(a, 4), bundle_item(shop.ab)])
    assert again.total_amount == 4 * 1000 + 2000


async def test_a_waiting_mixed_order_gives_back_bundles_and_repeated_lines_once_ended(
    container: Container,
) -> None:
    """The in-stock half of a waiting pre-order: a bundle's components and two lines of
    one SKU, summed per SKU; the drop has ended, so they go to ``available``."""
    c = container
    shop = await seed(c, received=12)
    drop_id = await open_drop(c, shop, "Mixed")
    order = await pay(
        c,
        drop_id,
        "ann",
        [sku_item(shop.a), sku_item(shop.a, 2), bundle_item(shop.ab), sku_item(shop.p)],
    )
    assert await committed_to(c, order.id) == {shop.a: 4, shop.b: 1}
    await c.drops.transition(drop_id, DropStatus.ENDED)
    await c.preorder_lifecycle.cancel(order.id, reason="changed mind", by="ops")
    for sku in (shop.a, shop.b):
        level = await c.stock.level(sku)
        assert (level.committed, level.reserved, level.available) == (0, 0, 12), sku
    assert await sold(c, drop_id) == {shop.a: 0, shop.b: 0, shop.p: 0}
    async with c.uow(readonly=True) as uow:
        moves = [m for _, _, m in await uow.stock.movements(ref=order.id)]
    assert sorted(
        (m.sku_id, m.quantity, m.reason.value) for m in moves if m.reason.value == "cancel"
    ) == sorted([(shop.a, 4, "cancel"), (shop.b, 1, "cancel")])
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_a_ready_preorder_can_be_cancelled_until_it_ships(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    f = await seed_run(c, quantity=500)
    drop_id = await preorder_drop(c, f, cap=10)
    ready = await buy(c, drop_id, "ann", f.sku_id, 2)
    shipped = await buy(c, drop_id, "bob", f.sku_id)
    by_wms = await buy(c, drop_id, "cy", f.sku_id)
    await pass_lot(c, f.run_id, f.sku_id, 4, "L-1")
    assert {(await c.preorders.get(o.id)).status for o in (ready, shipped, by_wms)} == {"ready"}
    assert (await c.stock.level(f.sku_id)).committed == 4

    # The plain order route points at the pre-order route, which cancels it.
    r = await api.post(f"/v1/orders/{ready.id}/cancel", json={"reason": "changed mind"})
    assert (r.status_code, r.json()["code"]) == (409, "conflict")
    assert "/v1/preorders/" in r.json()["detail"]
    r = await api.post(f"/v1/preorders/{ready.id}/cancel", json={"reason": "changed mind"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["refunded_at"] is not None
    types = await outbox_types(c, ready.id)
    assert types.index("order.ready_to_fulfill") < types.index("order.cancelled")
    level = await c.stock.level(f.sku_id)
    assert (level.committed, level.available) == (2, 2)  # its two lot units left committed
    assert (await c.engine.counts(drop_id))[f.sku_id].remaining == 10 - 2  # back in the cap
    r = await api.post(f"/v1/preorders/{ready.id}/ship")
    assert r.status_code == 409  # cancelled: it never ships

    # Shipped by dropline, or by the warehouse directly: return it instead.
    await c.preorder_lifecycle.ship(shipped.id)
    await c.fulfilment.apply_update(
        "wms", "ship-cy", FulfilmentUpdate.SHIPPED, by_wms.id, UpdateDetails("UPS", "1Z")
    )
    for order in (shipped, by_wms):
        r = await api.post(f"/v1/preorders/{order.id}/cancel", json={"reason": "too late"})
        assert (r.status_code, r.json()["code"]) == (409, "invalid_transition"), r.text
        with pytest.raises(e.InvalidTransition, match="return it instead"):
            await c.preorder_lifecycle.cancel(order.id, reason="too late", by="ops")
        assert (await c.provider.retrieve(order.payment_id)).status is PaymentStatus.CAPTURED
    level = await c.stock.level(f.sku_id)
    assert (level.committed, level.available) == (0, 2)  # both shipped, nothing came back
    assert all(ch.consistent for ch in await c.stock.verify())
