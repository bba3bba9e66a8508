"""Benchmark-only endpoints, mounted only when ``DROPLINE_BENCH_ENDPOINTS=1``.

They exist so the flash-sale benchmark (``bench/``, ``make bench``) can compare the hold
path with two baselines behind the same HTTP server, event loop and settings:

* ``POST /bench/ceiling`` parses the same JSON body as a hold and answers a small JSON
  object, doing no other work: the ceiling of the HTTP stack.
* ``POST /bench/rowlock/{sku_id}`` places a hold the way row-lock commerce platforms do:
  with the same API-key and buyer-token checks as a real hold, one PostgreSQL transaction
  that takes ``SELECT ... FOR UPDATE`` on the SKU's stock row, decrements it, writes a
  reservation row and commits. The table lives in ``DROPLINE_BENCH_ROWLOCK_URL``.

Both are served the way holds are: by the ASGI hot path (``HOT_ROUTES``, registered with
``api/hotpath.py``) so only the work differs, never the HTTP machinery; the FastAPI
routes below answer when the hot path is off or falls back, and
``POST /bench/ceiling-fastapi`` is the ceiling through the full FastAPI route stack.

and give the harness what it needs to seed and check without touching services code:

* ``POST /bench/seed-holds`` places many active holds straight through the engine.
* ``GET /bench/counts/{drop_id}`` the engine's remaining/held units per SKU.

Never enable them in production: they are unauthenticated apart from ``rowlock``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import orjson
from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dropline.api import schemas as s
from dropline.api.deps import Buyer, ContainerDep, Storefront
from dropline.api.hotpath import HotRequest, HotResponse, HotRoute, parse_hold, storefront_buyer
from dropline.domain.errors import SoldOut
from dropline.domain.ids import new_id
from dropline.domain.live.holds import HoldItem, HoldRequest, ItemKind

router = APIRouter(prefix="/bench", tags=["bench"], include_in_schema=False)

ROWLOCK_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bench_rowlock_stock ("
    " sku_id text PRIMARY KEY, remaining integer NOT NULL CHECK (remaining >= 0),"
    " held integer NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS bench_rowlock_holds ("
    " id text PRIMARY KEY, sku_id text NOT NULL, buyer_id text NOT NULL,"
    " quantity integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
)

_rowlock_db: AsyncEngine | None = None


def rowlock_db() -> AsyncEngine:
    """The row-lock baseline's own PostgreSQL pool (created on first use)."""
    global _rowlock_db
    if _rowlock_db is None:
        url = os.environ.get("DROPLINE_BENCH_ROWLOCK_URL", "")
        if not url.startswith("postgresql"):
            raise RuntimeError("DROPLINE_BENCH_ROWLOCK_URL must be a postgresql+asyncpg URL")
        _rowlock_db = create_async_engine(url, pool_size=12, max_overflow=0)
    return _rowlock_db


@router.post("/ceiling")
@router.post("/ceiling-fastapi")
async def ceiling(body: s.HoldIn) -> dict[str, Any]:
    """Parse the hold body, do nothing, answer small JSON."""
    return {"ok": True, "items": len(body.items)}


@router.post("/rowlock/{sku_id}", status_code=201)
async def rowlock(sku_id: str, body: s.HoldIn, _: Storefront, buyer: Buyer) -> dict[str, Any]:
    """A hold the row-lock way: lock the stock row, check, decrement, insert, commit."""
    return await rowlock_hold(sku_id, sum(i.quantity for i in body.items), buyer)


async def rowlock_hold(sku_id: str, qty: int, buyer: str) -> dict[str, Any]:
    """The row-lock transaction itself (shared by the FastAPI route and the hot path)."""
    hold_id = new_id("hld")
    async with rowlock_db().begin() as conn:
        row = (
            await conn.execute(
                text("SELECT remaining FROM bench_rowlock_stock WHERE sku_id = :s FOR UPDATE"),
                {"s": sku_id},
            )
        ).first()
        if row is None or row[0] < qty:
            raise SoldOut("sold out", sku_id=sku_id, remaining=0 if row is None else row[0])
        await conn.execute(
            text(
                "UPDATE bench_rowlock_stock SET remaining = remaining - :q, held = held + :q"
                " WHERE sku_id = :s"
            ),
            {"q": qty, "s": sku_id},
        )
        await conn.execute(
            text(
                "INSERT INTO bench_rowlock_holds (id, sku_id, buyer_id, quantity)"
                " VALUES (:id, :s, :b, :q)"
            ),
            {"id": hold_id, "s": sku_id, "b": buyer, "q": qty},
        )
    return {"id": hold_id, "sku_id": sku_id, "quantity": qty, "status": "active"}


async def hot_ceiling(req: HotRequest) -> HotResponse:
    body = parse_hold(req.body)
    return HotResponse(200, orjson.dumps({"ok": True, "items": len(body.items)}))


async def hot_rowlock(req: HotRequest) -> HotResponse:
    body = parse_hold(req.body)
    who = await storefront_buyer(req)
    out = await rowlock_hold(req.param, sum(i.quantity for i in body.items), who.buyer_id)
    return HotResponse(201, orjson.dumps(out))


HOT_ROUTES = (
    HotRoute("POST", "/bench/ceiling", hot_ceiling),
    HotRoute("POST", "/bench/rowlock/{}", hot_rowlock),
)


class SeedHoldsIn(BaseModel):
    drop_id: str
    sku_id: str
    count: Annotated[StrictInt, Field(ge=1, le=2_000_000)]
    ttl_s: Annotated[StrictInt, Field(ge=10, le=86_400)] = 3600
    buyer_prefix: str = "seed"


@router.post("/seed-holds")
async def seed_holds(body: SeedHoldsIn, c: ContainerDep) -> dict[str, Any]:
    """Place ``count`` one-unit holds on one SKU straight through the engine, one buyer
    each, so the growth scenario can measure holds with many active holds around."""
    items = (HoldItem(ItemKind.SKU, body.sku_id, 1),)
    units = {body.sku_id: 1}
    now = c.clock.now()

    def request(n: int) -> HoldRequest:
        return HoldRequest(
            drop_id=body.drop_id,
            buyer_id=f"{body.buyer_prefix}-{n}",
            items=items,
            units=units,
            ttl_s=body.ttl_s,
            fingerprint="seed",
        )

    placed = 0
    for start in range(0, body.count, 512):
        batch = range(start, min(start + 512, body.count))
        # Concurrent calls so a remote engine can pipeline them (the memory engine
        # simply runs them one after the other).
        await asyncio.gather(*(c.engine.place_hold(request(n), now) for n in batch))
        placed += len(batch)
    return {"placed": placed}


@router.get("/counts/{drop_id}")
async def counts(drop_id: str, c: ContainerDep) -> dict[str, Any]:
    """The engine's units per SKU of a drop (remaining, held)."""
    out = await c.engine.counts(drop_id)
    return {k: {"remaining": v.remaining, "held": v.held} for k, v in out.items()}
