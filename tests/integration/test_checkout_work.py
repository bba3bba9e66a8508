"""Less work per order (issue 24): the order's transaction does not read again what the
checkout's catalog snapshot already holds (the drop, its SKUs), nor the drop's staging
plan when no bin holds the SKUs, on SQLite and PostgreSQL; the warehouse hand-off still
carries the right codes, bins and locations, and follows an edit of the SKU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from dropline.bootstrap import Container
from dropline.domain.errors import InsufficientStock
from dropline.domain.live.drops import DropStatus
from dropline.domain.stock.buckets import Bucket, Movement, Reason
from fulfilment_support import SHIP_TO, VISA
from support import sku_item, unique_suffix


@contextmanager
def statements(c: Container) -> Iterator[list[str]]:
    """The SQL statements ``c``'s engine runs inside the block, one line each."""
    seen: list[str] = []

    def _seen(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(c.db.sync_engine, "before_cursor_execute", _seen)
    try:
        yield seen
    finally:
        event.remove(c.db.sync_engine, "before_cursor_execute", _seen)


def reads_of(seen: list[str], table: str) -> list[str]:
    """Plain reads of ``table``. PostgreSQL's ``SELECT ... FOR SHARE`` of the drop is not
    one: it is the rule that an ending drop waits for the sales in flight."""
    return [
        s
        for s in seen
        if s.startswith("SELECT") and f" FROM {table} " in f"{s} " and "FOR SHARE" not in s
    ]


async def _live_drop(c: Container, units: int, *, bins: bool) -> tuple[str, str, str]:
    """A live drop selling one SKU (free-text location ``A-00``); with ``bins`` its units
    are in bins ``S-1`` and ``S-9``, the drop staged in ``S-9``. (sku, code, drop)."""
    product = await c.catalog.create_product("Tee")
    code = f"TEE-{unique_suffix()}"
    sku = await c.catalog.create_sku(
        product.id, code, 2500, "USD", {"size": "M"}, bin_location="A-00"
    )
    drop = await c.drops.create("Work drop", "USD")
    if bins:
        s9, s1 = f"S9-{unique_suffix()}", f"S1-{unique_suffix()}"
        await c.bins.create(s9)
        await c.bins.create(s1)
        await c.stock.receive(sku.id, 1, to_bin=s9)
        await c.stock.receive(sku.id, units - 1, to_bin=s1)
        await c.bins.stage(drop.id, sku.id, s9, "ann")
    else:
        await c.stock.receive(sku.id, units)
    await c.drops.set_offer(drop.id, sku.id, units)
    await c.drops.transition(drop.id, DropStatus.SCHEDULED)
    await c.drops.transition(drop.id, DropStatus.LIVE)
    return sku.id, code, drop.id


async def _order(c: Container, drop_id: str, sku: str, buyer: str, qty: int = 1) -> str:
    hold = await c.holds.place(drop_id, buyer, [sku_item(sku, qty)])
    result = await c.checkout.start(hold.id, buyer, VISA, SHIP_TO)
    assert result.order is not None
    return result.order.id


async def _ready_lines(c: Container, order_id: str) -> list[dict[str, Any]]:
    async with c.uow(readonly=True) as uow:
        events = await uow.outbox.list(aggregate_id=order_id)
    ready = [ev for ev in events if ev["type"] == "order.ready_to_fulfill"]
    assert len(ready) == 1
    assert "test" not in ready[0]["payload"]  # not a rehearsal's order
    lines: list[dict[str, Any]] = ready[0]["payload"]["lines"]
    return lines


async def test_order_reads_no_drop_sku_or_staging_row_when_no_bin_holds_units(
    container: Container,
) -> None:
    c = container
    sku, code, drop_id = await _live_drop(c, 5, bins=False)
    await _order(c, drop_id, sku, "warm")  # the catalog snapshot is loaded here
    with statements(c) as seen:
        order_id = await _order(c, drop_id, sku, "ann", 2)
    assert reads_of(seen, "drops") == []
    assert reads_of(seen, "skus") == []
    assert reads_of(seen, "drop_staging") == []
    assert len(reads_of(seen, "bin_stock")) == 1  # where units are is always read fresh
    lines = await _ready_lines(c, order_id)
    assert [(ln["sku_code"], ln["bin_location"], ln["quantity"]) for ln in lines] == [
        (code, "A-00", 2)
    ]
    # An edit of the SKU reaches the next order's hand-off (the snapshot is dropped).
    await c.catalog.edit_sku(sku, bin_location="B-07")
    lines = await _ready_lines(c, await _order(c, drop_id, sku, "bob"))
    assert [(ln["sku_code"], ln["bin_location"]) for ln in lines] == [(code, "B-07")]
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_order_still_picks_the_staged_bin_first_when_bins_hold_units(
    container: Container,
) -> None:
    c = container
    sku, code, drop_id = await _live_drop(c, 6, bins=True)
    await _order(c, drop_id, sku, "warm")  # takes the staged bin's one unit
    with statements(c) as seen:
        order_id = await _order(c, drop_id, sku, "ann", 2)
    assert reads_of(seen, "drops") == [] and reads_of(seen, "skus") == []
    assert len(reads_of(seen, "drop_staging")) == 1  # needed: bins hold the SKU
    lines = await _ready_lines(c, order_id)
    # Bins hold 1 (staged) + 5 units; the pick plan reads them now, staged bin first.
    assert [(ln["sku_code"], ln["quantity"]) for ln in lines] == [(code, 1), (code, 1)]
    assert lines[0]["bin_location"].startswith("S9-")
    assert lines[1]["bin_location"].startswith("S1-")
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_racing_single_movements_move_only_the_units_there_are(
    container: Container,
) -> None:
    """One movement is one conditional update on PostgreSQL too (it was a locked read,
    then a write): 12 transactions racing on one SKU, on their own connections, move
    exactly the 5 units the bucket holds; the rest are refused and write nothing."""
    c = container
    sku, _code, _drop = await _live_drop(c, 5, bins=False)
    before = await c.stock.level(sku)
    assert before.reserved == 5

    async def sell_one(n: int) -> bool:
        move = Movement(sku, 1, Bucket.RESERVED, Bucket.COMMITTED, Reason.SALE, f"race-{n}")
        async with c.uow() as uow:
            try:
                await uow.stock.apply([move])
            except InsufficientStock:
                return False
            await asyncio.sleep(0.01)  # hold the row while the others queue on it
            await uow.commit()
        return True

    won = await asyncio.gather(*(sell_one(n) for n in range(12)))
    assert sum(won) == 5
    after = await c.stock.level(sku)
    assert (after.reserved, after.committed) == (0, before.committed + 5)
    async with c.uow(readonly=True) as uow:
        moves = await uow.stock.movements(sku_id=sku)
    assert sum(1 for _, _, m in moves if m.ref and m.ref.startswith("race-")) == 5
    assert all(ch.consistent for ch in await c.stock.verify())
