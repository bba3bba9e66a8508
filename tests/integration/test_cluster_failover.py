"""A Redis Cluster master dies mid-drop (SIGKILL) and its replica takes over.

Replication is asynchronous: the promoted replica may lack the master's last writes.
The drop's meta names the node that loaded it, so on the new master every script finds
the drop not loaded, and the service rebuilds it from the ledger (remaining = offered −
sold), as after ``FLUSHALL``. Holds that lived only in Redis fail cleanly at checkout,
paid orders stay, nothing is oversold, the ledger verifies, the report balances, and the
monitor keeps updating from the journal. Real six-node cluster, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from cluster_support import drop_slot, kill, master_port, wait_for_new_master
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain import errors as e
from dropline.domain.live.holds import Hold
from dropline.engine.redis_engine import RedisEngine
from dropline.services.live.hold_journal import drain_hold_events
from dropline.services.ports import ManualClock
from prod_support import lose_redis_data, unique_prefix
from support import seed_shop, sku_item

pytestmark = pytest.mark.redis
VISA = "4242424242424242"
UNITS = 30


@pytest.fixture
async def cc(
    database_url: str, redis_cluster_url: str, clock: ManualClock
) -> AsyncIterator[tuple[Container, str]]:
    prefix = unique_prefix()
    engine = RedisEngine(redis_cluster_url, prefix=prefix, sold_out_window_s=0.05)
    c = await build(
        Settings(database_url=database_url, engine_url=redis_cluster_url, background_tasks=False),
        clock=clock,
        engine=engine,
    )
    try:
        yield c, prefix
    finally:
        await c.close()
        await lose_redis_data(redis_cluster_url, prefix)


async def test_a_master_killed_mid_drop_is_covered_by_the_ledger(
    cc: tuple[Container, str],
) -> None:
    c, _ = cc
    shop = await seed_shop(c, units=UNITS)
    sku = shop.skus[0]
    holds = [await c.holds.place(shop.drop_id, f"early{n}", [sku_item(sku)]) for n in range(10)]
    paid = [await c.checkout.start(h.id, h.buyer_id, VISA) for h in holds[:5]]
    paid_ids = {r.order.id for r in paid if r.order}
    assert len(paid_ids) == 5
    await drain_hold_events(c.engine, c.uow)
    before = await c.monitor.snapshot(shop.drop_id)
    assert before["holds"]["placed"] == 10 and before["totals"]["sold"] == 5

    # SIGKILL the master that serves the drop's slot; its replica takes over.
    slot = drop_slot(shop.drop_id)
    old = master_port(slot)
    kill(old)
    new = wait_for_new_master(slot, old)
    assert new != old

    # The first calls may still meet the dead node (a 503 to the buyer); then the
    # client follows the new slot map, the drop is found loaded by another node and
    # rebuilt from the ledger.
    deadline = time.monotonic() + 30
    first: Hold | None = None
    while first is None:
        try:
            first = await c.holds.place(shop.drop_id, "after0", [sku_item(sku)])
        except e.EngineUnavailable:
            assert time.monotonic() < deadline, "the engine never came back"
            await asyncio.sleep(0.2)
    # Rebuilt from the ledger: offered − sold, the unpaid early holds are gone.
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == UNITS - 5 - 1
    for h in holds[5:]:
        with pytest.raises(e.NotFound):
            await c.checkout.start(h.id, h.buyer_id, VISA)

    async def tap(n: int) -> Hold | None:
        try:
            return await c.holds.place(shop.drop_id, f"after{n}", [sku_item(sku)])
        except e.SoldOut:
            return None

    crowd = [h for h in await asyncio.gather(*(tap(n) for n in range(1, 80))) if h]
    assert len(crowd) == UNITS - 5 - 1  # exactly what the ledger had left
    for h in [first, *crowd]:
        result = await c.checkout.start(h.id, h.buyer_id, VISA)
        assert result.order is not None

    async with c.uow(readonly=True) as uow:
        orders = await uow.orders.list_orders(drop_id=shop.drop_id, limit=1000)
        offer = (await uow.drops.offers(shop.drop_id))[sku]
    assert len(orders) == UNITS and offer.sold == UNITS  # no oversell
    assert paid_ids <= {o.id for o in orders}  # paid before the failover: intact
    assert all(ch.consistent for ch in await c.stock.verify())
    with pytest.raises(e.SoldOut):
        await c.holds.place(shop.drop_id, "too-late", [sku_item(sku)])

    # The monitor still updates: the journal on the new master drains into it.
    await drain_hold_events(c.engine, c.uow)
    after = await c.monitor.snapshot(shop.drop_id)
    assert after["totals"]["sold"] == UNITS and after["totals"]["remaining"] == 0
    assert after["holds"]["placed"] >= before["holds"]["placed"] + UNITS - 5
    assert after["holds"]["converted"] >= UNITS - 5
    report = await c.reports.build(shop.drop_id)
    assert report["balanced"], report["reconciliation"]
