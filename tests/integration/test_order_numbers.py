"""Short human order numbers (``DL-1042``): one per order, never shared, even when
checkouts race on several processes; shown in the API and in buyer messages; existing
orders are numbered by the migration."""

from __future__ import annotations

import asyncio

import httpx
from alembic import command
from sqlalchemy import event, select

from dropline.bootstrap import Container, build
from dropline.store.db import alembic_config, upgrade_async
from dropline.store.live.tables import order_numbers
from fulfilment_support import VISA, paid_order
from support import seed_shop, sku_item


async def test_concurrent_checkouts_on_two_processes_get_distinct_numbers(
    container: Container,
) -> None:
    shop = await seed_shop(container, units=40)
    # A second container on the same database and engine stands for a second process.
    other = await build(container.settings, clock=container.clock)
    try:

        async def buy(c: Container, n: int) -> str:
            hold = await c.holds.place(shop.drop_id, f"buyer-{n}", [sku_item(shop.skus[0])])
            result = await c.checkout.start(hold.id, f"buyer-{n}", VISA)
            assert result.order is not None
            return result.order.number

        numbers = await asyncio.gather(*(buy(container if n % 2 else other, n) for n in range(30)))
    finally:
        await other.close()
    assert len(set(numbers)) == 30
    seqs = sorted(int(n.removeprefix("DL-")) for n in numbers)
    assert seqs == list(range(1001, 1031))


async def test_a_batch_of_orders_is_numbered_in_one_statement(container: Container) -> None:
    """The order batch numbers all its orders with one insert (RETURNING both columns,
    matched by order id: SQLite does not promise RETURNING's row order, and asking
    SQLAlchemy to sort made it send a statement per row). Each order gets the number
    the table holds for it, in the batch's order."""
    c = container
    ids = [f"ord_batch{i}" for i in range(7)]
    seen: list[str] = []

    def _seen(_c: object, _cur: object, statement: str, *_a: object) -> None:
        seen.append(statement)

    event.listen(c.db.sync_engine, "before_cursor_execute", _seen)
    try:
        async with c.uow() as uow:
            numbers = await uow.orders.next_order_numbers(ids)
            rows = await uow.conn.execute(select(order_numbers))
            stored = {r.order_id: r.number for r in rows}
            await uow.commit()
    finally:
        event.remove(c.db.sync_engine, "before_cursor_execute", _seen)
    assert len([s for s in seen if "INSERT INTO order_numbers" in s]) == 1
    assert numbers == [stored[i] for i in ids]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(ids)


async def test_number_in_api_and_buyer_message(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container)
    order = await paid_order(container, shop, "ada")
    assert order.number == "DL-1001"
    body = (await api.get(f"/v1/orders/{order.id}")).json()
    assert body["number"] == "DL-1001" and body["id"] == order.id
    by_number = await api.get("/v1/orders/DL-1001")
    assert by_number.status_code == 200 and by_number.json()["id"] == order.id
    assert (await api.get("/v1/orders/DL-9999")).status_code == 404
    messages = (await api.get("/v1/messages", params={"order_id": order.id})).json()
    confirmed = next(m for m in messages if m["kind"] == "order_confirmed")
    assert confirmed["subject"] == "Order DL-1001 confirmed"
    assert "DL-1001" in confirmed["text_body"] and order.id not in confirmed["text_body"]


async def test_migration_numbers_existing_orders_oldest_first(
    container: Container, database_url: str
) -> None:
    shop = await seed_shop(container)
    first = await paid_order(container, shop, "a")
    container.clock.advance(1)  # type: ignore[attr-defined]
    second = await paid_order(container, shop, "b")
    config = alembic_config(database_url)
    try:
        await asyncio.to_thread(command.downgrade, config, "0016_bins_counts")
    finally:
        await upgrade_async(database_url)
    async with container.uow(readonly=True) as uow:
        again = [await uow.orders.get_order(o.id) for o in (first, second)]
    assert [o.number for o in again if o] == ["DL-1001", "DL-1002"]
    container.drops.cache.clear()
    third = await paid_order(container, shop, "c")
    assert third.number == "DL-1003"


async def test_tracking_import_takes_the_order_number(container: Container) -> None:
    shop = await seed_shop(container)
    order = await paid_order(container, shop, "ada")
    csv_text = f"order_id,carrier,tracking_number\n{order.number},UPS,1Z999\n"
    report = await container.fulfilment.import_tracking(csv_text)
    assert report.applied == [2] and not report.errors
    async with container.uow(readonly=True) as uow:
        shipped = await uow.orders.get_order(order.id)
        ship = await uow.shipments.for_order(order.id)
    assert shipped is not None and shipped.status.value == "shipped"
    assert ship is not None and ship["tracking_number"] == "1Z999"
