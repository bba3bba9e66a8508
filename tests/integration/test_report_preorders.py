"""The post-stream report of a drop that sells in-stock and pre-order units, on SQLite
and PostgreSQL: every check balanced while live and after the end, figures equal to a
hand computation, and authorised pre-order money kept apart from captured money."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import delete, select, update

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.services.ports import PaymentStatus
from dropline.store.db import alembic_config, upgrade_async
from dropline.store.supply.tables import preorder_cap_changes, preorder_lines
from dropline.web.render import report_csv, report_html
from preorders_support import Factory, buy, now, pass_lot, seed_run
from support import sku_item, unique_suffix

VISA = "4242424242424242"
CAP_LEDGER = "0010_preorder_cap_ledger"
STOCK_PRICE, PRE_PRICE = 1500, 2500  # the in-stock cap; the pre-order hoodie (seed_run)


def check(report: dict[str, Any], key: str, scope: str) -> dict[str, Any]:
    found = [c for c in report["reconciliation"] if c["key"] == key and c["scope"] == scope]
    assert len(found) == 1, (key, scope, report["reconciliation"])
    return found[0]


def parts(c: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["value"] for p in c["right"]}


def units(report: dict[str, Any], scope: str) -> tuple[int, dict[str, int]]:
    c = check(report, "units", scope)
    assert c["balanced"], c
    return c["left"]["value"], parts(c)


@dataclass
class MixedDrop:
    drop_id: str
    stock: str  # in-stock SKU, 10 offered
    pre: str  # pre-order SKU, cap 8, paid by authorisation
    f: Factory
    orders: dict[str, str]  # buyer → order id


async def mixed_drop(c: Container) -> MixedDrop:
    """An in-stock cap (10 offered at 1,500) and a pre-order hoodie (cap 10, lowered to 8
    before going live, at 2,500, authorise now and capture at ship). Then:
    ann buys 2 caps; bob buys 1 cap + 2 hoodies (a mixed cart: captured now); cy, di and
    ed pre-order 1, 3 and 1 hoodies (authorised only); fay buys 1 cap."""
    f = await seed_run(c, intake_days=1, code="PRE")
    stock = await c.catalog.create_sku(
        f.product_id, f"CAP-{unique_suffix()}", STOCK_PRICE, "USD", {"colour": "Red"}
    )
    await c.stock.receive(stock.id, 10)
    drop = await c.drops.create("Mixed drop", "USD")
    await c.drops.set_offer(drop.id, stock.id, 10)
    closes = now(c) + timedelta(days=1)
    await c.preorders.set_offer(drop.id, f.sku_id, f.run_id, 10, closes, "authorize")
    await c.preorders.set_offer(drop.id, f.sku_id, f.run_id, 8, closes, "authorize")
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    orders = {"ann": (await buy(c, drop.id, "ann", stock.id, 2)).id}
    hold = await c.holds.place(drop.id, "bob", [sku_item(stock.id), sku_item(f.sku_id, 2)])
    bob = (await c.checkout.start(hold.id, "bob", VISA)).order
    assert bob is not None
    orders["bob"] = bob.id
    for buyer, qty in (("cy", 1), ("di", 3), ("ed", 1)):
        orders[buyer] = (await buy(c, drop.id, buyer, f.sku_id, qty)).id
    orders["fay"] = (await buy(c, drop.id, "fay", stock.id)).id
    return MixedDrop(drop.id, stock.id, f.sku_id, f, orders)


async def test_report_of_a_drop_with_preorders_balances_live_and_ended(
    container: Container,
) -> None:
    c = container
    d = await mixed_drop(c)
    o = d.orders
    payment = {b: (await c.provider.retrieve(await payment_id(c, o[b]))).status for b in o}
    assert payment["bob"] is PaymentStatus.CAPTURED
    assert payment["cy"] is payment["di"] is PaymentStatus.AUTHORIZED
    # While live: bob's captured mixed order is refunded, ed's authorisation voided.
    await c.preorder_lifecycle.cancel(o["bob"], reason="changed mind", by="ops")
    await c.preorder_lifecycle.cancel(o["ed"], reason="changed mind", by="buyer")

    r = await c.reports.build(d.drop_id)
    assert r["balanced"] is True, r["reconciliation"]
    labels = {row["sku_id"]: row["label"] for row in r["sell_through"]["by_sku"]}
    stock, pre = labels[d.stock], labels[d.pre]
    # Kept: ann 2 + fay 1 caps; cy 1 + di 3 hoodies (bob's and ed's were cancelled).
    assert units(r, stock) == (
        10,
        {"sold": 3, "unsold, back in stock": 0, "still offered": 7, "cap closed": 0},
    )
    assert units(r, pre) == (
        8,
        {"sold": 4, "unsold, back in stock": 0, "still offered": 4, "cap closed": 0},
    )
    assert units(r, "all SKUs") == (
        18,
        {"sold": 7, "unsold, back in stock": 0, "still offered": 11, "cap closed": 0},
    )
    captured = 2 * STOCK_PRICE + (STOCK_PRICE + 2 * PRE_PRICE) + STOCK_PRICE  # ann, bob, fay
    refunded = STOCK_PRICE + 2 * PRE_PRICE  # bob; ed's void moved no money
    authorised = (1 + 3) * PRE_PRICE  # cy, di
    money = check(r, "money", "all payments")
    assert money["formula"] == "net = captured − refunded" and money["balanced"]
    assert money["left"]["value"] == captured - refunded
    assert parts(money) == {"captured": captured, "refunded": refunded}
    assert {k: r["totals"][k] for k in ("captured", "authorised", "refunded", "net")} == {
        "captured": captured,
        "authorised": authorised,
        "refunded": refunded,
        "net": captured - refunded,
    }
    orders = check(r, "orders", "all orders")
    assert orders["left"]["value"] == 6 and orders["balanced"]
    assert (parts(orders)["pending"], parts(orders)["refunded"]) == (4, 2)
    assert (r["totals"]["units_offered"], r["totals"]["units_sold"]) == (18, 7)
    by_sku = {row["sku_id"]: row for row in r["sell_through"]["by_sku"]}
    assert (by_sku[d.pre]["sold"], by_sku[d.pre]["sell_through_pct"]) == (4, 50.0)
    assert by_sku[d.pre]["preorder"] is True and by_sku[d.stock]["preorder"] is False
    assert (by_sku[d.stock]["sold"], by_sku[d.stock]["sell_through_pct"]) == (3, 30.0)
    assert f"totals,,authorised,{authorised}" in report_csv(r).splitlines()
    page = report_html(r)
    assert "<th>Authorised</th><td>USD 100.00" in page and "· pre-order" in page

    # Ended: the unsold caps go back to stock, the unsold pre-order cap closes.
    await c.drops.transition(d.drop_id, DropStatus.ENDED)
    r = await c.reports.build(d.drop_id)
    assert r["balanced"] is True, r["reconciliation"]
    assert units(r, stock) == (
        10,
        {"sold": 3, "unsold, back in stock": 7, "still offered": 0, "cap closed": 0},
    )
    assert units(r, pre) == (
        8,
        {"sold": 4, "unsold, back in stock": 0, "still offered": 0, "cap closed": 4},
    )

    # After the end: cy's authorisation is voided, di's lot passes QC and di ships (the
    # authorisation is captured then).
    await c.preorder_lifecycle.cancel(o["cy"], reason="changed mind", by="buyer")
    await pass_lot(c, d.f.run_id, d.pre, 3, "P-1")
    assert (await c.preorder_lifecycle.ship(o["di"])).captured
    r = await c.reports.build(d.drop_id)
    assert r["balanced"] is True, r["reconciliation"]
    assert units(r, pre) == (
        8,
        {"sold": 3, "unsold, back in stock": 0, "still offered": 0, "cap closed": 5},
    )
    assert units(r, "all SKUs") == (
        18,
        {"sold": 6, "unsold, back in stock": 7, "still offered": 0, "cap closed": 5},
    )
    captured += 3 * PRE_PRICE  # di, at ship
    assert {k: r["totals"][k] for k in ("captured", "authorised", "refunded", "net")} == {
        "captured": captured,
        "authorised": 0,
        "refunded": refunded,
        "net": captured - refunded,
    }
    assert check(r, "money", "all payments")["left"]["value"] == captured - refunded
    assert parts(check(r, "orders", "all orders"))["refunded"] == 3  # bob, ed, cy
    assert r["totals"]["units_sold"] == 6
    # The stock ledger never saw a pre-order unit until the lot arrived; it agrees.
    assert all(ch.consistent for ch in await c.stock.verify())
    level = await c.stock.level(d.pre)
    assert (level.on_hand, level.committed) == (0, 0)  # di's 3 units shipped
    level = await c.stock.level(d.stock)
    assert (level.available, level.committed, level.reserved) == (7, 3, 0)


async def payment_id(c: Container, order_id: str) -> str:
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    assert order is not None
    return order.payment_id


async def test_tampered_preorder_records_unbalance_the_units_check(
    container: Container,
) -> None:
    c = container
    d = await mixed_drop(c)
    r = await c.reports.build(d.drop_id)
    assert r["balanced"] is True
    pre = next(row["label"] for row in r["sell_through"]["by_sku"] if row["sku_id"] == d.pre)
    async with c.db.begin() as conn:  # a promise that claims one more unit
        await conn.execute(
            update(preorder_lines)
            .where(preorder_lines.c.order_id == d.orders["di"])
            .values(quantity=preorder_lines.c.quantity + 1)
        )
    r = await c.reports.build(d.drop_id)
    assert r["balanced"] is False
    assert check(r, "units", pre)["difference"] == -1
    assert check(r, "units", "all SKUs")["difference"] == -1
    assert check(r, "money", "all payments")["balanced"]
    async with c.db.begin() as conn:  # lose the cap's first change (+10)
        first = (
            await conn.execute(
                select(preorder_cap_changes.c.seq)
                .where(preorder_cap_changes.c.drop_id == d.drop_id)
                .order_by(preorder_cap_changes.c.seq)
                .limit(1)
            )
        ).scalar_one()
        await conn.execute(delete(preorder_cap_changes).where(preorder_cap_changes.c.seq == first))
    r = await c.reports.build(d.drop_id)
    assert check(r, "units", pre)["difference"] == -11


async def test_the_migration_records_caps_of_earlier_preorder_offers(
    container: Container, database_url: str
) -> None:
    """Pre-order offers made before the cap ledger existed get one change each, with
    their current cap, so their drops' reports balance."""
    c = container
    d = await mixed_drop(c)
    async with c.db.begin() as conn:
        await conn.execute(delete(preorder_cap_changes))
    assert (await c.reports.build(d.drop_id))["balanced"] is False
    config = alembic_config(database_url)
    before = ScriptDirectory.from_config(config).get_revision(CAP_LEDGER).down_revision
    assert isinstance(before, str)
    try:
        await asyncio.to_thread(command.downgrade, config, before)
    finally:
        await upgrade_async(database_url)
    async with c.db.connect() as conn:
        rows = list(await conn.execute(select(preorder_cap_changes)))
    assert [(x.drop_id, x.sku_id, x.run_id, x.delta, x.cap) for x in rows] == [
        (d.drop_id, d.pre, d.f.run_id, 8, 8)
    ]
    assert (await c.reports.build(d.drop_id))["balanced"] is True
