"""Waitlists across processes: two API processes (one of them ``serve --workers 2``)
and two ``dropline worker`` processes sharing PostgreSQL and Redis, over real HTTP.

Two thousand buyers race for forty units; the losers join the waitlist; the winners let
go while a crowd keeps tapping. Every unit that comes back must go to the waitlist in
join order (no tapper gets one), a claim given up must pass to the next in line, and the
ledger and the engine must agree at the end (nothing oversold). Needs PostgreSQL and
Redis; runs on one Redis server only (the shared Redis Cluster is left alone).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from backends import migrate_pg, truncate_pg
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.services.platform.access import mint_buyer_token
from e2e.multi_support import BUYER_SECRET, Http, Proc, api_process, process_env
from support import seed_shop

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

VISA = "4242424242424242"
UNITS = 40
BUYERS = 2000
TAPPERS = 500


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], list[Proc]]]:
    from backends import PG_URL, REDIS_URL, require_redis, require_server

    require_server("PostgreSQL", "127.0.0.1", 5432)
    require_redis()
    migrate_pg()
    asyncio.run(truncate_pg(PG_URL))
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    log_dir = tmp_path_factory.mktemp("waitlist-multi")
    env = process_env(PG_URL, REDIS_URL)
    api = [api_process("api0", env, log_dir), api_process("api1", env, log_dir, workers=2)]
    workers = [Proc(f"worker{i}", ["worker"], env, log_dir / f"worker{i}.log") for i in (0, 1)]
    try:
        for p in [*api, *workers]:
            p.start()
        for p in api:
            p.wait_ready()
        yield env, [*api, *workers]
    finally:
        for p in [*api, *workers]:
            p.stop()


def headers(key: str, buyer: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "X-Buyer-Token": mint_buyer_token(BUYER_SECRET, buyer, 3600),
    }


async def entries(c: Container, drop_id: str, sku: str) -> list[dict[str, Any]]:
    async with c.uow(readonly=True) as uow:
        return await uow.waitlist.line(
            drop_id, sku, ["waiting", "offered", "claimed", "lost", "left", "skipped"]
        )


async def wait_offered(c: Container, drop_id: str, sku: str, n: int) -> list[dict[str, Any]]:
    """The entries in join order once ``n`` have been offered a claim (ever)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = await entries(c, drop_id, sku)
        if sum(r["offered_at"] is not None for r in rows) >= n:
            await asyncio.sleep(1.0)  # a worker offering one too many would show now
            return await entries(c, drop_id, sku)
        await asyncio.sleep(0.2)
    raise AssertionError(f"fewer than {n} claims offered in 60 s")


async def test_units_back_reach_the_line_in_order_across_processes(
    procs: tuple[dict[str, str], list[Proc]],
) -> None:
    env, ps = procs
    api = [p for p in ps if p.port is not None]
    c = await build(
        Settings(
            database_url=env["DROPLINE_DATABASE_URL"],
            engine_url=env["DROPLINE_ENGINE_URL"],
            background_tasks=False,
            buyer_token_secret=BUYER_SECRET,
        )
    )
    try:
        shop = await seed_shop(c, units=UNITS, ttl=900)
        key, _ = await c.access.create_key("e2e storefront", "storefront")
        sku, drop = shop.skus[0], shop.drop_id
        hold_body = {"items": [{"sku_id": sku, "quantity": 1}]}
        async with Http(connections=200) as http:

            async def tap(n: int, who: str) -> tuple[int, Any]:
                return await http.post(
                    f"{api[n % 2].url}/v1/drops/{drop}/holds",
                    json=hold_body,
                    headers=headers(key, who),
                )

            first = await asyncio.gather(*(tap(n, f"b{n}") for n in range(BUYERS)))
            winners = [(n, r) for n, (st, r) in enumerate(first) if st == 201]
            losers = [n for n, (st, _) in enumerate(first) if st != 201]
            assert len(winners) == UNITS
            assert {first[n][1]["code"] for n in losers} == {"sold_out"}

            # the losers join, in bursts: their join order is the database's sequence
            for chunk in range(0, len(losers), 100):
                joined = await asyncio.gather(
                    *(
                        http.post(
                            f"{api[n % 2].url}/v1/drops/{drop}/waitlist",
                            json={"sku_id": sku},
                            headers=headers(key, f"b{n}"),
                        )
                        for n in losers[chunk : chunk + 100]
                    )
                )
                assert {st for st, _ in joined} == {201}, joined[:3]

            # the winners let go while a crowd taps: every unit must wait for the line
            async def release(n: int, hold: dict[str, Any]) -> int:
                st, _ = await http.post(
                    f"{api[(n + 1) % 2].url}/v1/holds/{hold['id']}/release",
                    headers=headers(key, f"b{n}"),
                )
                return st

            results = await asyncio.gather(
                *(release(n, h) for n, h in winners),
                *(tap(n, f"tapper{n}") for n in range(TAPPERS)),
            )
            # released (200), or on a slow machine already expired (410): either way
            # the unit came back, and must go to the line
            assert set(results[:UNITS]) <= {200, 410}
            taps = results[UNITS:]
            assert all(isinstance(t, tuple) for t in taps)
            won_by_tappers = [t for t in taps if isinstance(t, tuple) and t[0] == 201]
            # a tap that came before its unit's release found it sold out; none after
            assert won_by_tappers == []

            rows = await wait_offered(c, drop, sku, UNITS)
            offered = [r for r in rows if r["offered_at"] is not None]
            assert [r["id"] for r in offered] == [r["id"] for r in rows[:UNITS]]
            assert len(offered) == UNITS  # one claim per unit, not more

            # half pay their claim, half give it up: those units pass on, in order
            async def act(i: int, row: dict[str, Any]) -> int:
                buyer = row["buyer_id"]
                if i % 2 == 0:
                    st, _ = await http.post(
                        f"{api[i % 2].url}/v1/checkouts",
                        json={"hold_id": row["hold_id"], "payment_method": VISA},
                        headers=headers(key, buyer),
                    )
                else:
                    st, _ = await http.post(
                        f"{api[i % 2].url}/v1/holds/{row['hold_id']}/release",
                        headers=headers(key, buyer),
                    )
                return st

            acts = await asyncio.gather(*(act(i, r) for i, r in enumerate(offered)))
            assert acts == [201, 200] * (UNITS // 2)
            rows = await wait_offered(c, drop, sku, UNITS + UNITS // 2)
            offered = [r for r in rows if r["offered_at"] is not None]
            assert [r["id"] for r in offered] == [r["id"] for r in rows[: UNITS + UNITS // 2]]
            assert len(offered) == UNITS + UNITS // 2
            by_status = {r["id"]: r["status"] for r in rows}
            assert sum(s == "claimed" for s in by_status.values()) == UNITS // 2
            assert sum(s == "lost" for s in by_status.values()) == UNITS // 2

        counts = (await c.engine.counts(drop))[sku]
        async with c.uow(readonly=True) as uow:
            offer = (await uow.drops.offers(drop))[sku]
        assert offer.sold == UNITS // 2
        assert counts.remaining + counts.held + offer.sold == offer.offered == UNITS
        assert counts.held == UNITS // 2 and counts.remaining == 0
        assert all(ch.consistent for ch in await c.stock.verify())
    finally:
        await c.close()
