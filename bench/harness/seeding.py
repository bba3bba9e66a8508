"""Seeding and reading the benchmark's data: the catalog, stock, drops and keys each stack
starts from (through the services, plus bulk inserts for the growth drops), buyer
tokens, the row-lock baseline's table, and the ledger counts the checks compare with.

Every import of ``dropline`` the harness makes is here, inside the functions that need
it: the rest of the harness only drives the server from outside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .procs import log
from .stacks import PG_URL, SECRET, Stack

BIG = 10_000_000


@dataclass
class Seeded:
    storefront_key: str
    ops_key: str
    hot_drop: str
    hot_sku: str
    storm_drop: str
    storm_sku: str
    storm_units: int
    bundle_drop: str
    bundle_id: str
    bundle_skus: list[str]
    bundle_offered: int
    checkout_drop: str
    checkout_sku: str
    growth: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    #: (drop, sku) of the drops spread over a cluster's shards (cluster stack only)
    spread: list[tuple[str, str]] = field(default_factory=list)
    #: (buyers, units, drop, sku) of the last-unit races: a drop offering ``units`` each
    race: list[tuple[int, int, str, str]] = field(default_factory=list)


async def setup_rowlock(units: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from dropline.api.routers.platform.bench import ROWLOCK_SCHEMA

    db = create_async_engine(PG_URL)
    async with db.begin() as conn:
        for stmt in ROWLOCK_SCHEMA:
            await conn.execute(text(stmt))
        await conn.execute(text("TRUNCATE bench_rowlock_stock, bench_rowlock_holds"))
        await conn.execute(
            text("INSERT INTO bench_rowlock_stock (sku_id, remaining) VALUES ('hot', :u)"),
            {"u": units},
        )
    await db.dispose()


async def rowlock_counts() -> tuple[int, int, int]:
    """(remaining, held, hold rows) of the row-lock baseline's SKU."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    db = create_async_engine(PG_URL)
    async with db.connect() as conn:
        rem, held = (
            await conn.execute(
                text("SELECT remaining, held FROM bench_rowlock_stock WHERE sku_id = 'hot'")
            )
        ).one()
        rows = (await conn.execute(text("SELECT count(*) FROM bench_rowlock_holds"))).scalar_one()
    await db.dispose()
    return int(rem), int(held), int(rows)


async def seed(
    stack: Stack,
    growth_skus: list[int],
    storm_units: int,
    spread: int = 0,
    races: list[tuple[int, int]] | None = None,
) -> Seeded:
    """Catalog, stock, drops and keys, through the services (as an ops lead would)."""
    from dropline.bootstrap import build
    from dropline.config import load_settings
    from dropline.domain.live.drops import DropStatus

    settings = load_settings(
        database_url=stack.database_url,
        engine_url=stack.engine_url,
        buyer_token_secret=SECRET,
        background_tasks=False,
        readiness_gate="advise",  # load testing: the bench drops are not counted or staged
    )
    c = await build(settings)
    try:
        product = await c.catalog.create_product("Bench tee")
        n = 0

        async def sku(units: int) -> str:
            nonlocal n
            n += 1
            s = await c.catalog.create_sku(product.id, f"B-{n}", 2500, "USD", {"n": str(n)})
            await c.stock.receive(s.id, units, actor="bench")
            return s.id

        async def drop(name: str, offers: list[tuple[str, int]], bundle: str | None = None) -> str:
            d = await c.drops.create(name, "USD", hold_ttl_s=3600)
            for sku_id, qty in offers:
                await c.drops.set_offer(d.id, sku_id, qty)
            if bundle:
                await c.drops.add_bundle(d.id, bundle)
            await c.drops.transition(d.id, DropStatus.SCHEDULED, actor="bench")
            await c.drops.transition(d.id, DropStatus.LIVE, actor="bench")
            return d.id

        hot_sku = await sku(BIG)
        hot_drop = await drop("hot", [(hot_sku, BIG)])
        storm_sku = await sku(storm_units)
        storm_drop = await drop("storm", [(storm_sku, storm_units)])
        parts = [await sku(BIG) for _ in range(3)]
        b = await c.catalog.create_bundle(
            "BNDL-BENCH", "Tee trio", 6000, "USD", [(p, 1) for p in parts]
        )
        bundle_drop = await drop("bundles", [(p, BIG) for p in parts], b.id)
        co_sku = await sku(BIG)
        co_drop = await drop("checkout", [(co_sku, BIG)])
        growth: dict[int, tuple[str, list[str]]] = {}
        for count in growth_skus:
            t0 = time.monotonic()
            first = await sku(2_000_000 + 10_000)
            d = await c.drops.create(f"growth-{count}", "USD", hold_ttl_s=3600)
            await c.drops.set_offer(d.id, first, 2_000_000 + 10_000)
            ids = [first] + await bulk_offer(c, product.id, d.id, count - 1, 1000)
            await c.drops.transition(d.id, DropStatus.SCHEDULED, actor="bench")
            await c.drops.transition(d.id, DropStatus.LIVE, actor="bench")
            growth[count] = (d.id, ids)
            log(f"  seeded growth drop with {count} SKUs in {time.monotonic() - t0:.1f}s")
        spread_drops = []
        for k in range(spread):
            s_sku = await sku(BIG)
            spread_drops.append((await drop(f"spread-{k}", [(s_sku, BIG)]), s_sku))
        race = []
        for buyers, units in races or []:
            r_sku = await sku(units)
            race.append(
                (buyers, units, await drop(f"race-{buyers}-{units}", [(r_sku, units)]), r_sku)
            )
        store, _ = await c.access.create_key("bench storefront", "storefront")
        ops, _ = await c.access.create_key("bench ops", "ops")
        return Seeded(
            store,
            ops,
            hot_drop,
            hot_sku,
            storm_drop,
            storm_sku,
            storm_units,
            bundle_drop,
            b.id,
            parts,
            BIG,
            co_drop,
            co_sku,
            growth,
            spread_drops,
            race,
        )
    finally:
        await c.close()


async def bulk_offer(c: Any, product_id: str, drop_id: str, count: int, units: int) -> list[str]:
    """``count`` new SKUs, each receiving and offering ``units`` in a draft drop, as bulk
    inserts (the services take three transactions per SKU: minutes for 10,000 SKUs).
    The same rows as ``create_sku`` + ``receive`` + ``set_offer``: the SKU, its level
    (``reserved`` = units), the receipt and offer movements of the ledger, the offer;
    ``GET /v1/stock/verify`` replays them like any other."""
    from datetime import UTC, datetime

    from dropline.domain.ids import new_id
    from dropline.store.catalog.tables import skus
    from dropline.store.live.tables import drop_offers
    from dropline.store.stock.tables import stock_levels, stock_movements

    now = datetime.now(UTC)
    ids = [new_id("sku") for _ in range(count)]
    for start in range(0, count, 2000):
        chunk = ids[start : start + 2000]
        async with c.db.begin() as conn:
            await conn.execute(
                skus.insert(),
                [
                    {
                        "id": s,
                        "product_id": product_id,
                        "code": f"G-{s}",
                        "price_amount": 2500,
                        "currency": "USD",
                        "attributes": {},
                        "safety_qty": 0,
                        "safety_pct": 0,
                        "bin_location": "",
                        "created_at": now,
                    }
                    for s in chunk
                ],
            )
            await conn.execute(
                stock_levels.insert(),
                [
                    {
                        "sku_id": s,
                        "available": 0,
                        "committed": 0,
                        "reserved": units,
                        "safety": 0,
                        "quality_control": 0,
                        "damaged": 0,
                        "version": 3,
                    }
                    for s in chunk
                ],
            )
            await conn.execute(
                stock_movements.insert(),
                [
                    {
                        "sku_id": s,
                        "quantity": units,
                        "from_bucket": fb,
                        "to_bucket": tb,
                        "reason": reason,
                        "ref": ref,
                        "actor": "bench",
                        "note": "",
                        "created_at": now,
                    }
                    for s in chunk
                    for fb, tb, reason, ref in (
                        (None, "available", "receipt", ""),
                        ("available", "reserved", "offer", drop_id),
                    )
                ],
            )
            await conn.execute(
                drop_offers.insert(),
                [
                    {
                        "drop_id": drop_id,
                        "sku_id": s,
                        "offered": units,
                        "sold": 0,
                        "per_buyer_limit": None,
                        "paused": False,
                    }
                    for s in chunk
                ],
            )
    c.drops.cache.invalidate(drop_id)
    return ids


async def db_orders(stack: Stack, drop_id: str) -> tuple[int, int]:
    """(orders, units sold) of a drop, from the ledger."""
    from sqlalchemy import text

    db = open_db(stack.database_url)
    async with db.connect() as conn:
        orders = (
            await conn.execute(
                text("SELECT count(*) FROM orders WHERE drop_id = :d"), {"d": drop_id}
            )
        ).scalar_one()
        units = (
            await conn.execute(
                text(
                    "SELECT coalesce(sum(l.quantity), 0) FROM order_lines l"
                    " JOIN orders o ON o.id = l.order_id WHERE o.drop_id = :d"
                ),
                {"d": drop_id},
            )
        ).scalar_one()
    await db.dispose()
    return int(orders), int(units)


def open_db(url: str) -> Any:
    """An async engine on a stack's database, with the settings dropline uses (``store.db``)."""
    from dropline.store.db import create_engine

    return create_engine(url)


def mint_token(n: int) -> str:
    """A one-day buyer token for bench buyer ``n``."""
    from dropline.services.platform.access import mint_buyer_token

    return mint_buyer_token(SECRET, f"bench-buyer-{n}", 24 * 3600)


def buyer_tokens(prefix: str, count: int) -> list[str]:
    """``count`` one-day buyer tokens, for buyers ``{prefix}-0`` to ``{prefix}-{count - 1}``."""
    from dropline.services.platform.access import mint_buyer_token

    return [mint_buyer_token(SECRET, f"{prefix}-{i}", 24 * 3600) for i in range(count)]
