"""The hot-path changes made for the benchmark keep their contracts: the drop catalog
cache loads once for a burst, SQLite writers of one process queue instead of failing,
and the inline SQLite connection behaves like aiosqlite's."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from dropline.bootstrap import Container
from dropline.store import write_gate
from dropline.store.db import create_engine
from dropline.store.sqlite_inline import InlineConnection
from support import seed_shop, sku_item


async def test_a_burst_of_cache_misses_loads_the_drop_once(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=100)
    cache = c.drops.cache
    cache.invalidate(shop.drop_id)
    before = cache.loads
    holds = await asyncio.gather(
        *(c.holds.place(shop.drop_id, f"b{i}", [sku_item(shop.skus[0])]) for i in range(50))
    )
    assert cache.loads - before == 1
    assert len({h.id for h in holds}) == 50
    cache.invalidate(shop.drop_id)
    await c.holds.place(shop.drop_id, "late", [sku_item(shop.skus[0])])
    assert cache.loads - before == 2  # an invalidated entry is loaded again


async def test_concurrent_sqlite_writers_all_commit_in_turn(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/w.db")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER NOT NULL)"))
    inside = 0
    most = 0

    async def writer(n: int) -> None:
        nonlocal inside, most
        async with write_gate.writing(engine), engine.begin() as conn:
            inside += 1
            most = max(most, inside)
            await conn.execute(text("INSERT INTO t (n) VALUES (:n)"), {"n": n})
            await asyncio.sleep(0)  # give the others a chance to barge in
            inside -= 1

    await asyncio.gather(*(writer(n) for n in range(40)))
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
        raw = await conn.get_raw_connection()
        driver = getattr(raw.dbapi_connection, "_connection", None)
    assert count == 40
    assert most == 1  # one writer of this process at a time
    assert isinstance(driver, InlineConnection)  # no aiosqlite worker thread
    await engine.dispose()


async def test_the_gate_is_released_when_a_unit_of_work_rolls_back(
    container: Container,
) -> None:
    """A rolled-back unit of work lets the same task write again before it exits (the
    refund after a refused sale does exactly that)."""
    c = container
    async with c.uow() as uow:
        await uow.rollback()
        async with asyncio.timeout(5):
            await c.catalog.create_product("written after the rollback")
    async with c.uow(readonly=True) as uow:
        assert await uow.catalog.list_products()


async def test_begin_sent_straight_to_sqlite_takes_the_write_lock_and_wraps_errors(
    tmp_path: Path,
) -> None:
    """``store.db`` sends BEGIN to sqlite3 itself (no SQLAlchemy statement): it is still
    ``BEGIN IMMEDIATE`` (another process cannot write meanwhile), and a lock it cannot
    get is SQLAlchemy's ``OperationalError`` as before, not sqlite3's own."""
    path = tmp_path / "b.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER NOT NULL)"))
    other = sqlite3.connect(path, timeout=0, isolation_level=None)  # "another process"
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)
        await conn.begin()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")  # ours holds the write lock
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        await conn.commit()
    other.execute("BEGIN IMMEDIATE")  # now the other process writes ...
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection._connection.execute("PRAGMA busy_timeout=50")
        with pytest.raises(OperationalError, match="locked"):
            await conn.begin()  # ... and ours is refused, wrapped like any statement's
    other.execute("ROLLBACK")
    other.close()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    await engine.dispose()
