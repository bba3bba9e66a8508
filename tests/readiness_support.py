"""Helpers for the readiness and rehearsal suites: a container on each backend with the
settings a deployment would have, a drop made ready step by step, and a warehouse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from backends import REDIS_URL, require_redis
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.live.drops import DropStatus
from dropline.services.ports import ManualClock
from fulfilment_support import Receiver
from support import unique_suffix

READY_SETTINGS: dict[str, Any] = {
    "background_tasks": False,
    "returns_policy": "https://shop.example/returns",
    "buyer_token_secret": "a-real-secret-for-tests-0123456789abcdef",
    "ui_session_secret": "another-real-secret-for-tests-0123456789",
    "rehearsal_buyers": 6,
    "rehearsal_timeout_s": 10.0,
    "rehearsal_tracking_wait_s": 0.2,
}


@asynccontextmanager
async def ready_container(
    database_url: str, clock: ManualClock, **overrides: Any
) -> AsyncIterator[Container]:
    """Services as ``tests/conftest.py``'s ``container`` wires them (SQLite + in-process
    engine, or PostgreSQL + Redis), with a deployment's readiness settings."""
    engine_url = "memory"
    if database_url.startswith("postgresql"):
        require_redis()
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
        engine_url = REDIS_URL
    settings = Settings(
        database_url=database_url, engine_url=engine_url, **(READY_SETTINGS | overrides)
    )
    c = await build(settings, clock=clock)
    try:
        yield c
    finally:
        await c.close()


@dataclass
class ReadyDrop:
    drop_id: str
    sku_id: str
    bin_code: str


async def scheduled_drop(c: Container, units: int = 5) -> ReadyDrop:
    """A scheduled drop offering one SKU (with a safety buffer), its units received into
    a bin and staged there: everything but the count, the warehouse and the rehearsal."""
    product = await c.catalog.create_product("Hoodie")
    suffix = unique_suffix()
    sku = await c.catalog.create_sku(
        product.id, f"HOOD-{suffix}", 5000, "USD", {"size": "M"}, safety_pct=0, safety_qty=1
    )
    code = f"R-{suffix}".replace(".", "-")
    await c.bins.create(code, "R")
    await c.stock.receive(sku.id, units + 1, actor="ann", note="delivery", to_bin=code)
    drop = await c.drops.create("Ready drop", "USD")
    await c.drops.set_offer(drop.id, sku.id, units, per_buyer_limit=2)
    await c.bins.stage(drop.id, sku.id, code, "ann")
    await c.drops.transition(drop.id, DropStatus.SCHEDULED, actor="ann")
    return ReadyDrop(drop.id, sku.id, code)


async def count_it(c: Container, d: ReadyDrop) -> str:
    """A blind count of the drop's bin, matching the ledger, closed."""
    s = await c.counts.open(bins=[d.bin_code], actor="olga")
    level = await c.stock.level(d.sku_id)
    await c.counts.count(s["id"], d.bin_code, d.sku_id, level.on_hand, actor="cody")
    await c.counts.close(s["id"], actor="olga")
    return str(s["id"])


async def warehouse(c: Container, status: int = 200) -> tuple[Receiver, str]:
    """A real HTTP receiver on 127.0.0.1, registered as the warehouse endpoint."""
    rec = Receiver(status=status)
    await rec.start()
    ep = await c.webhooks.create_endpoint(
        rec.url, ["order.*", "webhook.test"], "WMS", warehouse=True
    )
    rec.secrets.append(ep["secret"])
    return rec, str(ep["id"])


def items(report: dict[str, Any]) -> dict[str, str]:
    return {i["id"]: i["status"] for i in report["items"]}
