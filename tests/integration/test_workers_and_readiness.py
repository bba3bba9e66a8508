"""Many processes: background jobs run by several workers at once do each piece of work
once; ``dropline worker`` starts, works and stops on SIGTERM; ``/readyz`` tells a load
balancer whether this process can serve (database migrated, engine and payment provider
reachable)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dropline.bootstrap import Container, build
from dropline.cli.app import app as cli_app
from dropline.config import Settings, unsafe_warnings
from dropline.domain import errors as e
from dropline.domain.live.orders import CheckoutStatus
from dropline.engine.memory import MemoryEngine
from dropline.engine.redis_engine import RedisEngine
from dropline.payments.stripe_provider import StripeProvider
from dropline.services.live.hold_journal import drain_hold_events, drop_hold_events
from dropline.services.ports import ManualClock, PaymentResult, StockEngine
from dropline.store.db import upgrade_async
from prod_support import free_port, http_client, lose_redis_data, unique_prefix
from support import ProviderWrapper, seed_shop, sku_item

VISA = "4242424242424242"


async def two_workers(
    database_url: str, clock: ManualClock, engines: tuple[StockEngine, StockEngine]
) -> tuple[Container, Container]:
    settings = Settings(database_url=database_url, background_tasks=False)
    a = await build(settings, clock=clock, engine=engines[0])
    b = await build(settings, clock=clock, engine=engines[1])
    return a, b


class LosesTheAnswer(ProviderWrapper):
    """The real provider; the answer to ``authorize`` is lost (the process died)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    async def authorize(self, **kwargs: Any) -> PaymentResult:
        await self.inner.authorize(**kwargs)
        raise e.PaymentProviderError("connection reset while reading the answer")


async def test_two_workers_recover_a_stuck_checkout_exactly_once(
    database_url: str, clock: ManualClock
) -> None:
    shared = MemoryEngine()
    a, b = await two_workers(database_url, clock, (shared, shared))
    try:
        shop = await seed_shop(a, units=3)
        stuck = []
        for buyer in ("ann", "bo", "cy"):
            hold = await a.holds.place(shop.drop_id, buyer, [sku_item(shop.skus[0])])
            real = a.checkout.provider
            a.checkout.provider = LosesTheAnswer(real)
            with pytest.raises(e.PaymentProviderError):
                await a.checkout.start(hold.id, buyer, VISA)
            a.checkout.provider = real
            stuck.append(hold.id)
        clock.advance(31)
        done_a, done_b = await asyncio.gather(a.checkout.recover(), b.checkout.recover())
        # Each stuck checkout was claimed by exactly one worker.
        assert len(done_a) + len(done_b) == 3
        assert not set(done_a) & set(done_b)
        async with a.uow(readonly=True) as uow:
            orders = await uow.orders.list_orders(drop_id=shop.drop_id)
            statuses = [(await uow.orders.checkouts_for_hold(h))[0].status for h in stuck]
            sold = (await uow.drops.offers(shop.drop_id))[shop.skus[0]].sold
        assert len(orders) == 3 and sold == 3
        assert statuses == [CheckoutStatus.SUCCEEDED] * 3
        # A later pass finds nothing left to do.
        clock.advance(31)
        assert await a.checkout.recover() == [] and await b.checkout.recover() == []
    finally:
        await a.db.dispose()
        await b.db.dispose()


@pytest.mark.redis
async def test_two_workers_store_each_hold_event_once(
    database_url: str, redis_url: str, clock: ManualClock
) -> None:
    """Pages and, for the endpoint subscribed to holds, the outbox: each event once."""
    prefix = unique_prefix()
    a, b = await two_workers(
        database_url,
        clock,
        (RedisEngine(redis_url, prefix=prefix), RedisEngine(redis_url, prefix=prefix)),
    )
    try:
        shop = await seed_shop(a, units=100)
        await a.webhooks.create_endpoint("https://wms.example/hooks", ["hold.*"])
        holds = await asyncio.gather(
            *(a.holds.place(shop.drop_id, f"b{n}", [sku_item(shop.skus[0])]) for n in range(60))
        )
        for h in holds[:20]:
            await b.holds.release(h.id, h.buyer_id)
        journal = {ev.id for ev in await a.engine.read_events(10_000)}
        assert len(journal) == 80  # 60 placed + 20 released

        for _ in range(3):
            await asyncio.gather(
                drain_hold_events(a.engine, a.uow, batch=7),
                drain_hold_events(b.engine, b.uow, batch=11),
            )
        async with a.uow(readonly=True) as uow:
            paged = await drop_hold_events(uow, shop.drop_id)
            rows = [r for r in await uow.outbox.list(limit=10_000) if r["aggregate_type"] == "hold"]
        assert sorted(e.payload["id"] for e in paged if e.type == "hold.placed") == sorted(
            h.id for h in holds
        )
        assert sorted(e.id for e in paged) == sorted(journal)  # each exactly once
        assert sorted(r["id"] for r in rows) == sorted(journal)
        assert await a.engine.read_events(10) == []
    finally:
        await a.close()
        await b.close()
        await lose_redis_data(redis_url, prefix)


@pytest.mark.redis
async def test_one_process_drains_while_it_holds_the_journal_lease(
    database_url: str, redis_url: str, clock: ManualClock
) -> None:
    """Two API processes on one Redis: the lease holder drains, the other reads
    nothing; when the holder stops renewing, the other takes over."""
    prefix = unique_prefix()
    a, b = await two_workers(
        database_url,
        clock,
        (RedisEngine(redis_url, prefix=prefix), RedisEngine(redis_url, prefix=prefix)),
    )
    try:
        shop = await seed_shop(a, units=100)

        async def place(n: int) -> None:
            await asyncio.gather(
                *(
                    a.holds.place(shop.drop_id, f"b{n}-{i}", [sku_item(shop.skus[0])])
                    for i in range(10)
                )
            )

        # Long leases wherever the test needs one held (a slow machine may take
        # longer than a short lease between two steps); only A's last renewal is
        # short, and the test waits it out.
        await place(1)
        assert await drain_hold_events(a.engine, a.uow, owner="A", lease_s=60) == 10
        await place(2)
        assert await drain_hold_events(b.engine, b.uow, owner="B", lease_s=60) == 0
        assert len(await b.engine.read_events(100)) == 10  # left for the holder
        assert await drain_hold_events(a.engine, a.uow, owner="A", lease_s=0.3) == 10
        await place(3)
        await asyncio.sleep(0.4)  # A stopped renewing
        assert await drain_hold_events(b.engine, b.uow, owner="B", lease_s=60) == 10
        assert await drain_hold_events(a.engine, a.uow, owner="A", lease_s=60) == 0
        async with a.uow(readonly=True) as uow:
            assert len(await drop_hold_events(uow, shop.drop_id)) == 30
    finally:
        await a.close()
        await b.close()
        await lose_redis_data(redis_url, prefix)


async def test_the_in_process_engine_always_grants_its_journal() -> None:
    engine = MemoryEngine()
    assert await engine.journal_lease("A", 1) and await engine.journal_lease("B", 1)


# ---------------------------------------------------------------------------- cli


def test_worker_and_multi_process_serve_refuse_the_in_process_engine() -> None:
    runner = CliRunner()
    env = {"DROPLINE_ENGINE_URL": "memory"}
    worker = runner.invoke(cli_app, ["worker"], env=env)
    assert worker.exit_code == 2 and "redis://" in worker.output
    serve = runner.invoke(cli_app, ["serve", "--workers", "2"], env=env)
    assert serve.exit_code == 2 and "redis://" in serve.output


@pytest.mark.redis
async def test_worker_process_drains_hold_events_and_stops_on_sigterm(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    # The worker uses the default key prefix; drop and hold ids are unique anyway.
    settings = Settings(database_url=sqlite_url, engine_url=redis_url, background_tasks=False)
    c = await build(settings)
    try:
        shop = await seed_shop(c, units=2)
        hold = await c.holds.place(shop.drop_id, "ann", [sku_item(shop.skus[0])])
        log_path = tmp_path / "worker.log"
        env = {
            **os.environ,
            "DROPLINE_DATABASE_URL": sqlite_url,
            "DROPLINE_ENGINE_URL": redis_url,
            "DROPLINE_EXPIRY_INTERVAL_S": "0.1",
        }
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "dropline",
                "worker",
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            # This process has no background tasks: only the worker can store the
            # hold's journalled event.
            deadline = time.monotonic() + 30
            while True:
                assert proc.returncode is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                async with c.uow(readonly=True) as uow:
                    events = await drop_hold_events(uow, shop.drop_id)
                if events:
                    break
                await asyncio.sleep(0.1)
            assert [(ev.type, ev.aggregate_id) for ev in events] == [("hold.placed", hold.id)]
            assert "worker running jobs" in log_path.read_text()
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0, log_path.read_text()
            assert "worker stopped" in log_path.read_text()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        await c.engine.forget_drop(shop.drop_id)
    finally:
        await c.close()


# ---------------------------------------------------------------------------- readyz


@pytest.fixture
async def redis_container(
    database_url: str, redis_url: str, clock: ManualClock
) -> AsyncIterator[Container]:
    prefix = unique_prefix()
    c = await build(
        Settings(database_url=database_url, engine_url=redis_url, background_tasks=False),
        clock=clock,
        engine=RedisEngine(redis_url, prefix=prefix),
    )
    try:
        yield c
    finally:
        await c.close()
        await lose_redis_data(redis_url, prefix)


@pytest.mark.redis
async def test_readyz_all_parts_reachable(redis_container: Container) -> None:
    async with http_client(redis_container) as http:
        r = await http.get("/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ready"] is True
        assert body["checks"] == {"database": "ok", "engine": "ok", "payments": "ok"}
        # PostgreSQL with the development secret: allowed here (no server process),
        # and said out loud
        assert body["warnings"] == unsafe_warnings(redis_container.settings)
        assert (await http.get("/healthz")).json() == {"status": "ok"}


async def test_readyz_redis_down_is_503(database_url: str, clock: ManualClock) -> None:
    # Nothing listens on this port: the same as Redis being down.
    dead = RedisEngine(f"redis://127.0.0.1:{free_port()}/15")
    c = await build(
        Settings(database_url=database_url, background_tasks=False), clock=clock, engine=dead
    )
    try:
        async with http_client(c) as http:
            r = await http.get("/readyz")
            assert r.status_code == 503
            body = r.json()
            assert body["ready"] is False
            assert body["checks"]["engine"].startswith("error")
            assert body["checks"]["database"] == "ok" and body["checks"]["payments"] == "ok"
            assert (await http.get("/healthz")).status_code == 200  # alive, just not ready
    finally:
        await c.close()


async def test_readyz_migrations_behind_and_provider_down_are_503(
    tmp_path: Path, clock: ManualClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    await upgrade_async(url, "0001")
    stripe = StripeProvider(
        "sk_test_x", api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0, timeout_s=2
    )
    c = await build(
        Settings(database_url=url, background_tasks=False), clock=clock, provider=stripe
    )
    try:
        async with http_client(c) as http:
            r = await http.get("/readyz")
        assert r.status_code == 503
        checks = r.json()["checks"]
        assert checks["database"] == "migrations at 0001"
        assert checks["payments"].startswith("error")
        assert checks["engine"] == "ok"
    finally:
        await c.close()
        await stripe.close()
