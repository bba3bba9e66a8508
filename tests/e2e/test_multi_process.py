"""API processes and a worker sharing PostgreSQL and Redis, over real HTTP.

The processes are ``python -m dropline serve`` / ``worker`` subprocesses on free ports
(``DROPLINE_BACKGROUND_TASKS=false`` on the API processes, as in production): ``api0``
is one process, ``api1`` is ``serve --workers 2`` (two processes on one port). Requests
are spread over both ports the way a load balancer would. Every test runs on one Redis
server and on the local Redis Cluster (``.ci/redis-cluster.sh``). Needs PostgreSQL and
Redis (a failure under CI=true when they are down). The shared ``test`` database is reset at
the start of this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backends import migrate_pg, truncate_pg
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.services.platform.access import mint_buyer_token
from e2e.multi_support import (
    BUYER_SECRET,
    Http,
    Proc,
    api_process,
    process_env,
    worker_process,
)
from prod_support import lose_redis_data
from support import Shop, seed_shop

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

VISA = "4242424242424242"


@dataclass
class Deployment:
    database_url: str
    engine_url: str
    env: dict[str, str]
    api: list[Proc]
    worker: Proc
    log_dir: Path


@pytest.fixture(scope="module", params=["redis", "redis-cluster"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """The processes on one Redis server, then on the local Redis Cluster."""
    from backends import (
        CLUSTER_URL,
        PG_URL,
        REDIS_URL,
        ensure_cluster,
        require_redis,
        require_server,
    )

    require_server("PostgreSQL", "127.0.0.1", 5432)
    if request.param == "redis":
        require_redis()
        engine_url = REDIS_URL
    else:
        request.getfixturevalue("_cluster_session")
        ensure_cluster()
        engine_url = CLUSTER_URL
        asyncio.run(lose_redis_data(engine_url, "dl"))  # an earlier run's drops
    migrate_pg()
    asyncio.run(truncate_pg(PG_URL))
    log_dir = tmp_path_factory.mktemp("multi")
    env = process_env(PG_URL, engine_url)
    # The second one is ``serve --workers 2``: one port, two processes behind it.
    api = [api_process("api0", env, log_dir), api_process("api1", env, log_dir, workers=2)]
    worker = worker_process(env, log_dir)
    try:
        for p in [*api, worker]:
            p.start()
        for p in api:
            p.wait_ready()
        yield Deployment(PG_URL, engine_url, env, api, worker, log_dir)
    finally:
        codes = {p.name: p.stop() for p in [*api, worker]}
        # The worker shuts down cleanly on SIGTERM.
        assert codes["worker"] == 0, worker.log()


@asynccontextmanager
async def shop_on(d: Deployment, **kwargs: Any) -> AsyncIterator[tuple[Container, Shop, str]]:
    """Seed a live drop through the services (the engine is the shared Redis) and make a
    storefront key; yields the container for checking the ledger afterwards."""
    c = await build(
        Settings(
            database_url=d.database_url,
            engine_url=d.engine_url,
            background_tasks=False,
            buyer_token_secret=BUYER_SECRET,
        )
    )
    try:
        shop = await seed_shop(c, **kwargs)
        key, _ = await c.access.create_key("e2e storefront", "storefront")
        yield c, shop, key
    finally:
        await c.close()


def headers(key: str, buyer: str, idem: str | None = None) -> dict[str, str]:
    h = {
        "Authorization": f"Bearer {key}",
        "X-Buyer-Token": mint_buyer_token(BUYER_SECRET, buyer, 3600),
    }
    if idem:
        h["Idempotency-Key"] = idem
    return h


def client() -> Http:
    return Http(connections=200)


async def sold(c: Container, drop_id: str) -> dict[str, int]:
    async with c.uow(readonly=True) as uow:
        return {s: o.sold for s, o in (await uow.drops.offers(drop_id)).items()}


async def test_2000_concurrent_holds_for_100_units_over_two_processes(
    deployment: Deployment,
) -> None:
    d = deployment
    async with shop_on(d, units=100) as (c, shop, key):
        sku = shop.skus[0]
        body = {"items": [{"sku_id": sku, "quantity": 1}]}
        async with client() as http:

            async def tap(n: int) -> tuple[int, int, dict[str, Any]]:
                base = d.api[n % 2].url
                status, reply = await http.post(
                    f"{base}/v1/drops/{shop.drop_id}/holds",
                    json=body,
                    headers=headers(key, f"buyer{n}"),
                )
                return n, status, reply

            replies = await asyncio.gather(*(tap(n) for n in range(2000)))
            winners = [(n, b) for n, status, b in replies if status == 201]
            losers = [b for _, status, b in replies if status != 201]
            assert len(winners) == 100
            assert {b["code"] for b in losers} == {"sold_out"}
            assert {status for _, status, _ in replies} == {201, 409}
            # Both ports served the burst (which one won each unit is down to timing).
            assert {n % 2 for n, status, _ in replies if status == 409} == {0, 1}
            assert len({b["id"] for _, b in winners}) == 100
            counts = (await c.engine.counts(shop.drop_id))[sku]
            assert (counts.remaining, counts.held) == (0, 100)

            # Every winner pays, through the other process than the one that held.
            async def pay(n: int, hold: dict[str, Any]) -> int:
                status, _ = await http.post(
                    f"{d.api[(n + 1) % 2].url}/v1/checkouts",
                    json={"hold_id": hold["id"], "payment_method": VISA},
                    headers=headers(key, f"buyer{n}"),
                )
                return status

            assert await asyncio.gather(*(pay(n, b) for n, b in winners)) == [201] * 100
        assert (await sold(c, shop.drop_id))[sku] == 100
        async with c.uow(readonly=True) as uow:
            orders = await uow.orders.list_orders(drop_id=shop.drop_id, limit=1000)
        assert len(orders) == 100 and len({o.buyer_id for o in orders}) == 100
        assert all(ch.consistent for ch in await c.stock.verify())


async def test_bundle_and_single_line_race_for_a_shared_component(
    deployment: Deployment,
) -> None:
    d = deployment
    async with shop_on(d, units=40, skus=2, bundle=True) as (c, shop, key):
        assert shop.bundle_id is not None
        shared, other = shop.skus
        bundle = {"items": [{"bundle_id": shop.bundle_id, "quantity": 1}]}
        single = {"items": [{"sku_id": shared, "quantity": 1}]}
        async with client() as http:

            async def tap(n: int) -> tuple[bool, int]:
                is_bundle = n % 3 == 0
                status, reply = await http.post(
                    f"{d.api[n % 2].url}/v1/drops/{shop.drop_id}/holds",
                    json=bundle if is_bundle else single,
                    headers=headers(key, f"b{n}"),
                )
                assert status in (201, 409), reply
                return is_bundle, status

            replies = await asyncio.gather(*(tap(n) for n in range(300)))
        bundles = sum(1 for is_b, s in replies if is_b and s == 201)
        singles = sum(1 for is_b, s in replies if not is_b and s == 201)
        # The shared component's 40 units went exactly once each, across both lines.
        assert bundles + singles == 40
        assert bundles > 0 and singles > 0
        counts = await c.engine.counts(shop.drop_id)
        assert (counts[shared].remaining, counts[shared].held) == (0, 40)
        assert (counts[other].remaining, counts[other].held) == (40 - bundles, bundles)


async def test_sigkill_of_one_api_process_mid_drop_loses_nothing(
    deployment: Deployment,
) -> None:
    d = deployment
    survivor = d.api[0]
    victim = api_process("victim", d.env, d.log_dir)
    victim.start()
    try:
        victim.wait_ready()
        async with shop_on(d, units=100) as (c, shop, key):
            sku = shop.skus[0]
            path = f"/v1/drops/{shop.drop_id}/holds"
            body = {"items": [{"sku_id": sku, "quantity": 1}]}
            failovers = 0
            async with client() as http:

                async def hold(n: int, first: Proc) -> dict[str, Any] | None:
                    """Like a load balancer: try ``first``; when it is gone, retry the
                    same request (same Idempotency-Key) on the survivor."""
                    nonlocal failovers
                    h = headers(key, f"k{n}", idem=f"tap-{n}")
                    try:
                        status, reply = await http.post(f"{first.url}{path}", json=body, headers=h)
                    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
                        failovers += 1
                        status, reply = await http.post(
                            f"{survivor.url}{path}", json=body, headers=h
                        )
                    if status == 409:
                        assert reply["code"] == "sold_out"
                        return None
                    assert status == 201, reply
                    out: dict[str, Any] = reply
                    return out

                # Holds on both processes, then the victim dies while a crowd of
                # requests is in flight against it.
                before = await asyncio.gather(
                    *(hold(n, victim if n % 2 else survivor) for n in range(20))
                )
                crowd = [
                    asyncio.create_task(hold(n, victim if n % 2 else survivor))
                    for n in range(20, 260)
                ]
                while sum(t.done() for t in crowd) < 30:  # the crowd is under way
                    await asyncio.sleep(0.01)
                victim.kill()
                after = await asyncio.gather(*crowd)
                assert not victim.alive()
                assert failovers > 0  # the kill hit live traffic

                holds = {n: h for n, h in enumerate(before + after) if h is not None}
                # Exactly the units offered were held: none lost with the victim, none
                # taken twice by a retried request.
                assert len(holds) == 100
                assert len({h["id"] for h in holds.values()}) == 100
                counts = (await c.engine.counts(shop.drop_id))[sku]
                assert (counts.remaining, counts.held) == (0, 100)

                # Every hold, including those the victim placed, is paid on the survivor.
                async def pay(n: int, h: dict[str, Any]) -> int:
                    status, _ = await http.post(
                        f"{survivor.url}/v1/checkouts",
                        json={"hold_id": h["id"], "payment_method": VISA},
                        headers=headers(key, f"k{n}"),
                    )
                    return status

                statuses = await asyncio.gather(*(pay(n, h) for n, h in holds.items()))
                assert statuses == [201] * 100
                ready, _ = await http.get(f"{survivor.url}/readyz")
                assert ready == 200
            assert (await sold(c, shop.drop_id))[sku] == 100
            async with c.uow(readonly=True) as uow:
                orders = await uow.orders.list_orders(drop_id=shop.drop_id, limit=1000)
            assert len(orders) == 100
            assert all(ch.consistent for ch in await c.stock.verify())
    finally:
        victim.stop()


async def test_redis_losing_its_data_mid_drop_over_http(deployment: Deployment) -> None:
    """FLUSHALL of dropline's keys while buyers keep holding and paying through both
    ports: rebuilt from the ledger, lost holds fail cleanly, paid orders stay, no
    oversell."""
    d = deployment
    async with shop_on(d, units=50) as (c, shop, key):
        sku = shop.skus[0]
        path = f"/v1/drops/{shop.drop_id}/holds"
        body = {"items": [{"sku_id": sku, "quantity": 1}]}
        async with client() as http:

            async def tap(n: int) -> dict[str, Any] | None:
                status, reply = await http.post(
                    f"{d.api[n % 2].url}{path}", json=body, headers=headers(key, f"f{n}")
                )
                assert status in (201, 409), reply
                return reply if status == 201 else None

            async def pay(n: int, hold: dict[str, Any]) -> tuple[int, Any]:
                return await http.post(
                    f"{d.api[(n + 1) % 2].url}/v1/checkouts",
                    json={"hold_id": hold["id"], "payment_method": VISA},
                    headers=headers(key, f"f{n}"),
                )

            early = [await tap(n) for n in range(20)]
            assert all(early)
            paid = [await pay(n, h) for n, h in enumerate(early[:10]) if h]
            assert [s for s, _ in paid] == [201] * 10
            paid_orders = {reply["order"]["id"] for _, reply in paid}

            assert await lose_redis_data(d.engine_url, "dl") > 0  # every dropline key

            # Holds that lived only in Redis are gone: their checkout is refused cleanly.
            for n, h in enumerate(early[10:], start=10):
                assert h is not None
                status, reply = await pay(n, h)
                assert status == 404, reply
            crowd = await asyncio.gather(*(tap(n) for n in range(100, 300)))
            winners = {n: h for n, h in zip(range(100, 300), crowd, strict=True) if h}
            assert len(winners) == 50 - 10  # offered − sold, from the ledger
            statuses = await asyncio.gather(*(pay(n, h) for n, h in winners.items()))
            assert [s for s, _ in statuses] == [201] * 40
        async with c.uow(readonly=True) as uow:
            orders = await uow.orders.list_orders(drop_id=shop.drop_id, limit=1000)
        assert len(orders) == 50 and paid_orders <= {o.id for o in orders}
        assert (await sold(c, shop.drop_id))[sku] == 50
        assert all(ch.consistent for ch in await c.stock.verify())
