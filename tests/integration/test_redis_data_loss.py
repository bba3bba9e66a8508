"""Redis loses its data in the middle of a live drop (FLUSHALL, a restart without
persistence, a failover to an empty replica) while holds and payments continue.

The ledger is the truth: the drop is rebuilt from it (remaining = offered − sold) on the
first call that notices, holds lost that way fail cleanly at checkout, a payment in
flight still becomes its order, paid orders are untouched and nothing is oversold.
Real Redis engine (one server, and the local Redis Cluster; a key prefix per test) on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain import errors as e
from dropline.domain.live.orders import OrderStatus
from dropline.engine.redis_engine import RedisEngine
from dropline.services.ports import ManualClock, PaymentResult
from prod_support import lose_redis_data, unique_prefix
from support import ProviderWrapper, seed_shop, sku_item

pytestmark = pytest.mark.redis
VISA = "4242424242424242"
UNITS = 20
WINDOW_S = 0.05


@pytest.fixture(params=["redis", "redis-cluster"])
def redis_url(request: pytest.FixtureRequest) -> str:
    """One Redis server, or the local Redis Cluster (``redis+cluster://``)."""
    name = "redis_url" if request.param == "redis" else "redis_cluster_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
async def rc(
    database_url: str, redis_url: str, clock: ManualClock
) -> AsyncIterator[tuple[Container, str]]:
    prefix = unique_prefix()
    engine = RedisEngine(redis_url, prefix=prefix, sold_out_window_s=WINDOW_S)
    c = await build(
        Settings(database_url=database_url, engine_url=redis_url, background_tasks=False),
        clock=clock,
        engine=engine,
    )
    try:
        yield c, prefix
    finally:
        await c.close()
        await lose_redis_data(redis_url, prefix)


class DataLossDuringPayment(ProviderWrapper):
    """The real provider; Redis loses everything right after the card is authorised,
    i.e. between the authorisation and the conversion of the hold."""

    def __init__(self, inner: Any, redis_url: str, prefix: str) -> None:
        self.inner, self.redis_url, self.prefix = inner, redis_url, prefix
        self.name = inner.name

    async def authorize(self, **kwargs: Any) -> PaymentResult:
        result: PaymentResult = await self.inner.authorize(**kwargs)
        assert await lose_redis_data(self.redis_url, self.prefix) > 0
        return result


async def test_flushall_mid_drop_rebuilds_from_the_ledger_without_oversell(
    rc: tuple[Container, str], redis_url: str
) -> None:
    c, prefix = rc
    shop = await seed_shop(c, units=UNITS)
    sku = shop.skus[0]
    holds = [await c.holds.place(shop.drop_id, f"early{n}", [sku_item(sku)]) for n in range(10)]
    paid = [await c.checkout.start(h.id, h.buyer_id, VISA) for h in holds[:5]]
    paid_ids = sorted(r.order.id for r in paid if r.order)
    assert len(paid_ids) == 5
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == UNITS - 10

    # Redis loses everything while early5's payment is in flight: the payment still
    # becomes its order (units taken afresh from the rebuilt drop).
    real = c.checkout.provider
    c.checkout.provider = DataLossDuringPayment(real, redis_url, prefix)
    in_flight = await c.checkout.start(holds[5].id, "early5", VISA)
    c.checkout.provider = real
    assert in_flight.order is not None and in_flight.order.status is OrderStatus.PAID
    sold_so_far = 6

    # The other holds died with the data: their checkouts fail cleanly, nothing charged.
    for h in holds[6:]:
        with pytest.raises(e.NotFound):
            await c.checkout.start(h.id, h.buyer_id, VISA)

    # Meanwhile a crowd keeps tapping, and Redis loses its data once more mid-burst.
    async def tap(n: int) -> str | None:
        try:
            hold = await c.holds.place(shop.drop_id, f"late{n}", [sku_item(sku)])
        except e.SoldOut:
            return None
        return hold.id

    first_wave = await asyncio.gather(*(tap(n) for n in range(30)))
    winners = [h for h in first_wave if h]
    assert len(winners) == UNITS - sold_so_far  # rebuilt: offered − sold
    bought = [await c.checkout.start(h, f"late{first_wave.index(h)}", VISA) for h in winners[:4]]
    sold_so_far += 4
    assert await lose_redis_data(redis_url, prefix) > 0
    # The API process still remembers the sell-out for one sold-out window; the first
    # tap after it finds the data gone and rebuilds the drop.
    await asyncio.sleep(WINDOW_S * 2)
    second_wave = await asyncio.gather(*(tap(n) for n in range(100, 140)))
    # The 10 unpaid first-wave holds were lost: their units are back for the crowd.
    assert sum(1 for h in second_wave if h) == UNITS - sold_so_far
    for h in [h for h in second_wave if h]:
        await c.checkout.start(h, f"late{second_wave.index(h) + 100}", VISA)

    async with c.uow(readonly=True) as uow:
        orders = await uow.orders.list_orders(drop_id=shop.drop_id, limit=1000)
        offer = (await uow.drops.offers(shop.drop_id))[sku]
    assert len(orders) == UNITS and offer.sold == UNITS  # every unit sold, none twice
    assert all(o.status is OrderStatus.PAID for o in orders)
    assert set(paid_ids) <= {o.id for o in orders}  # paid before the loss: intact
    assert {b.order.id for b in bought if b.order} <= {o.id for o in orders}
    counts = (await c.engine.counts(shop.drop_id))[sku]
    assert (counts.remaining, counts.held) == (0, 0)
    assert all(ch.consistent for ch in await c.stock.verify())
    with pytest.raises(e.SoldOut):
        await c.holds.place(shop.drop_id, "too-late", [sku_item(sku)])
