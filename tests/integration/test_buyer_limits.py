"""Per-buyer limits on both backend profiles (SQLite with the in-process engine,
PostgreSQL with Redis): a limit changed on a live drop applies to the next hold, and a
cancelled order or pre-order stops counting against its buyer, in the live engine and
after the engine lost its data and was rebuilt from the ledger."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from backends import REDIS_URL
from dropline.bootstrap import Container
from dropline.domain.errors import LimitExceeded
from dropline.engine.redis_engine import RedisEngine
from fulfilment_support import paid_order
from preorders_support import buy, now, preorder_drop, seed_run
from prod_support import lose_redis_data
from support import seed_shop, sku_item


async def lose_engine_state(c: Container, drop_id: str) -> None:
    """The engine forgets everything: Redis loses its data (every key of the engine and
    the script cache), or the in-process engine loses the drop (as after a restart)."""
    if isinstance(c.engine, RedisEngine):
        assert await lose_redis_data(REDIS_URL, "dl") > 0
    else:
        await c.engine.forget_drop(drop_id)


async def refused(c: Container, drop_id: str, buyer: str, sku: str) -> int:
    """Assert the buyer may not hold one more unit; the units they already count."""
    with pytest.raises(LimitExceeded) as err:
        await c.holds.place(drop_id, buyer, [sku_item(sku)])
    return int(err.value.extra["already"])


async def test_a_cancelled_order_stops_counting_against_the_buyers_limit(
    container: Container,
) -> None:
    """Limit 2: the buyer buys twice and is refused a third; ops cancel one order and
    the buyer may buy one more at once; after the engine lost everything and was
    rebuilt from the ledger the cancelled orders still do not count."""
    c = container
    shop = await seed_shop(c, units=10, limit=2)
    sku = shop.skus[0]
    first = await paid_order(c, shop, "fan", 1)
    await paid_order(c, shop, "fan", 1)
    assert await refused(c, shop.drop_id, "fan", sku) == 2

    await c.cancellations.cancel(first.id, reason="buyer asked", by="ops")
    third = await paid_order(c, shop, "fan", 1)
    assert await refused(c, shop.drop_id, "fan", sku) == 2

    await c.cancellations.cancel(third.id, reason="wrong size", by="ops")
    assert (await c.drops.snapshot(shop.drop_id)).buyer_taken == {"fan": {sku: 1}}
    await lose_engine_state(c, shop.drop_id)
    await paid_order(c, shop, "fan", 1)  # its hold rebuilds the drop from the ledger
    assert await refused(c, shop.drop_id, "fan", sku) == 2
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 8
    async with c.uow(readonly=True) as uow:
        assert (await uow.drops.offers(shop.drop_id))[sku].sold == 2


async def test_a_cancelled_preorder_stops_counting_against_the_buyers_limit(
    container: Container,
) -> None:
    c = container
    f = await seed_run(c)
    drop_id = await preorder_drop(c, f, cap=5, limit=1)
    order = await buy(c, drop_id, "fan", f.sku_id)
    assert await refused(c, drop_id, "fan", f.sku_id) == 1
    await c.preorder_lifecycle.cancel(order.id, reason="changed mind", by="ops")
    again = await buy(c, drop_id, "fan", f.sku_id)
    assert await refused(c, drop_id, "fan", f.sku_id) == 1
    await lose_engine_state(c, drop_id)
    assert await refused(c, drop_id, "fan", f.sku_id) == 1  # rebuilt: `again` counts
    await c.preorder_lifecycle.cancel(again.id, reason="changed mind", by="ops")
    await buy(c, drop_id, "fan", f.sku_id)


async def test_a_limit_changed_on_a_live_drop_applies_at_once(
    container: Container, api: httpx.AsyncClient
) -> None:
    """Only the limit changes (same quantity): the next hold sees it, raised, removed
    or lowered, with no rebuild in between."""
    c = container
    shop = await seed_shop(c, units=10, limit=1)
    sku = shop.skus[0]
    await c.holds.place(shop.drop_id, "fan", [sku_item(sku)])
    assert await refused(c, shop.drop_id, "fan", sku) == 1

    r = await api.put(
        f"/v1/drops/{shop.drop_id}/offers/{sku}", json={"quantity": 10, "per_buyer_limit": 3}
    )
    assert (r.status_code, r.json()["per_buyer_limit"]) == (200, 3), r.text
    await c.holds.place(shop.drop_id, "fan", [sku_item(sku, 2)])
    assert await refused(c, shop.drop_id, "fan", sku) == 3

    r = await api.put(f"/v1/drops/{shop.drop_id}/offers/{sku}", json={"quantity": 10})
    assert r.status_code == 200, r.text
    await c.holds.place(shop.drop_id, "fan", [sku_item(sku, 4)])  # no limit any more

    r = await api.put(
        f"/v1/drops/{shop.drop_id}/offers/{sku}", json={"quantity": 10, "per_buyer_limit": 1}
    )
    assert r.status_code == 200, r.text
    await c.holds.place(shop.drop_id, "other", [sku_item(sku)])
    assert await refused(c, shop.drop_id, "other", sku) == 1
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 2


async def test_a_preorder_limit_raised_on_a_live_drop_applies_at_once(
    container: Container,
) -> None:
    c = container
    f = await seed_run(c)
    drop_id = await preorder_drop(c, f, cap=5, limit=1)
    await buy(c, drop_id, "fan", f.sku_id)
    assert await refused(c, drop_id, "fan", f.sku_id) == 1
    closes = now(c) + timedelta(days=7)
    await c.preorders.set_offer(drop_id, f.sku_id, f.run_id, 5, closes, per_buyer_limit=2)
    await buy(c, drop_id, "fan", f.sku_id)
    assert await refused(c, drop_id, "fan", f.sku_id) == 2
