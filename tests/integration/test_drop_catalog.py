"""The drop catalog cache: stale-while-revalidate, reload only when the drop's
``catalog_version`` moved, batched loads, and this process's changes seen at once.

A second ``DropCatalogCache`` on the same database plays "another API process": the
container's services change the drop and invalidate only their own cache."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from dropline.bootstrap import Container
from dropline.domain.live.drops import DropStatus
from dropline.services.live.drop_catalog import DropCatalog, DropCatalogCache
from dropline.store.uow import UnitOfWork
from support import seed_shop, sku_item


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def other_process(c: Container, mono: Mono, ttl_s: float = 2.0) -> DropCatalogCache:
    return DropCatalogCache(c.drops.uow, ttl_s=ttl_s, monotonic=mono)


async def settle(cache: DropCatalogCache) -> None:
    """Let background revalidations finish."""
    async with asyncio.timeout(5):
        while cache._loading:
            await asyncio.sleep(0.005)


async def version(c: Container, drop_id: str) -> int:
    async with c.uow(readonly=True) as uow:
        v = await uow.drops.catalog_version(drop_id)
    assert v is not None
    return v


async def test_every_catalog_change_bumps_the_version_but_a_sale_does_not(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=10, skus=3, bundle=True, live=False, received=100)
    seen = [await version(c, shop.drop_id)]

    async def bumped() -> None:
        seen.append(await version(c, shop.drop_id))
        assert seen[-1] > seen[-2]

    await c.drops.set_offer(shop.drop_id, shop.skus[0], 12)
    await bumped()
    await c.drops.transition(shop.drop_id, DropStatus.SCHEDULED)
    await bumped()
    await c.drops.transition(shop.drop_id, DropStatus.LIVE)
    await bumped()
    await c.drops.pause_sku(shop.drop_id, shop.skus[1], True)
    await bumped()
    async with c.uow() as uow:
        assert await uow.drops.record_sale(shop.drop_id, {shop.skus[0]: 1})
        await uow.commit()
    assert await version(c, shop.drop_id) == seen[-1]  # sales are not catalog changes
    async with c.uow() as uow:
        await uow.drops.unsell(shop.drop_id, {shop.skus[0]: 1})
        await uow.commit()
    await bumped()


async def test_a_fresh_entry_is_served_without_touching_the_database(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c)
    mono = Mono()
    cache = other_process(c, mono)
    first = await cache.get(shop.drop_id)
    assert (cache.loads, cache.checks) == (1, 0)
    mono.t += 0.9  # under ttl / 2
    assert await cache.get(shop.drop_id) is first
    assert (cache.loads, cache.checks) == (1, 0)


async def test_an_unchanged_drop_is_confirmed_not_reloaded(container: Container) -> None:
    c = container
    shop = await seed_shop(c)
    mono = Mono()
    cache = other_process(c, mono)
    first = await cache.get(shop.drop_id)
    for _ in range(5):
        mono.t += 1.5
        assert await cache.get(shop.drop_id) is first  # served at once, checked behind
        await settle(cache)
    assert cache.loads == 1
    assert cache.checks == 5


async def test_another_process_change_is_served_stale_then_seen_within_the_ttl(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=10, live=False, received=100)
    mono = Mono()
    cache = other_process(c, mono)
    before = await cache.get(shop.drop_id)
    await c.drops.set_offer(shop.drop_id, shop.skus[0], 25)  # "the other process"
    mono.t += 1.2  # past ttl / 2: stale while revalidating
    assert await cache.get(shop.drop_id) is before
    await settle(cache)
    after = await cache.get(shop.drop_id)
    assert after.offers[shop.skus[0]].offered == 25
    assert cache.loads == 2


async def test_requests_do_not_wait_for_a_slow_reload(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10, live=False, received=100)
    mono = Mono()
    cache = other_process(c, mono)
    before = await cache.get(shop.drop_id)
    await c.drops.set_offer(shop.drop_id, shop.skus[0], 30)
    gate = asyncio.Event()
    real_read = cache._read

    async def slow_read(uow: UnitOfWork, drop_id: str) -> DropCatalog:
        await gate.wait()
        return await real_read(uow, drop_id)

    cache._read = slow_read  # type: ignore[method-assign]
    mono.t += 1.5
    async with asyncio.timeout(1):
        served = await asyncio.gather(*(cache.get(shop.drop_id) for _ in range(20)))
    assert all(s is before for s in served)  # the reload is still held at the gate
    gate.set()
    await settle(cache)
    assert (await cache.get(shop.drop_id)).offers[shop.skus[0]].offered == 30
    assert cache.loads == 2  # one reload for all twenty requests


async def test_an_entry_older_than_the_ttl_waits_for_fresh_data(container: Container) -> None:
    c = container
    shop = await seed_shop(c)
    mono = Mono()
    cache = other_process(c, mono)
    await cache.get(shop.drop_id)
    await c.drops.transition(shop.drop_id, DropStatus.PAUSED)
    mono.t += 2.5  # nobody asked for longer than the TTL
    catalog = await cache.get(shop.drop_id)
    assert catalog.drop.status is DropStatus.PAUSED


async def test_this_process_changes_are_seen_at_once(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10, live=False, received=100)
    assert (await c.drops.cache.get(shop.drop_id)).offers[shop.skus[0]].offered == 10
    await c.drops.set_offer(shop.drop_id, shop.skus[0], 40)
    assert (await c.drops.cache.get(shop.drop_id)).offers[shop.skus[0]].offered == 40
    await c.drops.transition(shop.drop_id, DropStatus.SCHEDULED)
    assert (await c.drops.cache.get(shop.drop_id)).drop.status is DropStatus.SCHEDULED


async def test_an_invalidation_during_a_background_reload_is_not_overwritten(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=10, live=False, received=100)
    mono = Mono()
    cache = other_process(c, mono)
    await cache.get(shop.drop_id)
    await c.drops.set_offer(shop.drop_id, shop.skus[0], 11)
    gate = asyncio.Event()
    real_read = cache._read

    async def slow_read(uow: UnitOfWork, drop_id: str) -> DropCatalog:
        await gate.wait()
        return await real_read(uow, drop_id)

    cache._read = slow_read  # type: ignore[method-assign]
    mono.t += 1.5
    await cache.get(shop.drop_id)  # starts the (held) background reload
    cache._read = real_read  # type: ignore[method-assign]
    await c.drops.set_offer(shop.drop_id, shop.skus[0], 12)
    cache.invalidate(shop.drop_id)
    assert (await cache.get(shop.drop_id)).offers[shop.skus[0]].offered == 12
    gate.set()
    await settle(cache)
    assert (await cache.get(shop.drop_id)).offers[shop.skus[0]].offered == 12


async def drop_with_products(c: Container, n: int, tag: str) -> str:
    """A draft drop offering one SKU of each of ``n`` products."""
    drop = await c.drops.create(f"Drop {tag}", "USD")
    for k in range(n):
        product = await c.catalog.create_product(f"{tag}{k}")
        sku = await c.catalog.create_sku(product.id, f"{tag}-{k}", 100, "USD", {})
        await c.stock.receive(sku.id, 1)
        await c.drops.set_offer(drop.id, sku.id, 1)
    return drop.id


async def test_a_large_drop_loads_in_a_few_queries(container: Container) -> None:
    """No query per product or SKU: the statement count does not grow with the drop."""
    c = container
    small = await drop_with_products(c, 1, "S")
    large = await drop_with_products(c, 30, "L")
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(c.db.sync_engine, "before_cursor_execute", count)
    try:
        await c.drops.cache.load(small)
        for_one = statements
        statements = 0
        catalog = await c.drops.cache.load(large)
    finally:
        event.remove(c.db.sync_engine, "before_cursor_execute", count)
    assert len(catalog.products) == 30
    assert len(catalog.skus) == 30
    assert statements == for_one


async def test_holds_keep_working_across_revalidations(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10)
    cache = c.drops.cache
    await c.holds.place(shop.drop_id, "a", [sku_item(shop.skus[0])])
    loads = cache.loads
    cache.ttl_s = 0.0  # every request revalidates: an unchanged drop is never reloaded
    for n in range(5):
        await c.holds.place(shop.drop_id, f"b{n}", [sku_item(shop.skus[0])])
    assert cache.loads == loads
