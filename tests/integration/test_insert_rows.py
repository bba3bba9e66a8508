"""``store.base.insert_rows`` stores what SQLAlchemy's own insert stores.

On SQLite the rows go straight to the driver (each value through its column type's bind
processor, Python-side defaults filled in); elsewhere SQLAlchemy inserts them. Either
way a row must read back as the same text as a row SQLAlchemy's ``insert`` wrote, a
conflict must be skipped and counted out, and rows the fast path cannot take (of
different shapes, a computed default) must still be inserted correctly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from dropline.store.base import insert_rows
from dropline.store.columns import UtcDateTime
from dropline.store.db import create_engine

meta = MetaData()
probe = Table(
    "insert_rows_probe",
    meta,
    Column("id", String(40), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("later", UtcDateTime(), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("flag", Boolean, nullable=False, default=False),
    Column("note", String(200), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
)
stamped = Table(
    "insert_rows_stamped",
    meta,
    Column("id", String(40), primary_key=True),
    Column("made", String(40), nullable=False, default=lambda: "computed"),
)
COLUMNS = [c.name for c in probe.columns if c.name != "id"]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = create_engine(database_url)
    async with db.begin() as conn:
        await conn.run_sync(meta.drop_all)
        await conn.run_sync(meta.create_all)
    yield db
    async with db.begin() as conn:
        await conn.run_sync(meta.drop_all)
    await db.dispose()


def row(n: int, **more: Any) -> dict[str, Any]:
    at = datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "id": f"r{n}",
        "at": at,
        "later": at.astimezone(timezone(timedelta(hours=5, minutes=30))),  # stored as UTC
        "payload": {"n": n, "name": "Zoë \u2028", "units": [1, 2]},
        "amount": 10**15 + n,
        **more,
    }


async def stored(db: AsyncEngine, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """Each row's columns as the database's own text."""
    cols = ", ".join(f"CAST({c} AS TEXT)" for c in COLUMNS)
    listed = ", ".join(f"'{i}'" for i in ids)
    async with db.connect() as conn:
        got = await conn.execute(
            text(f"SELECT id, {cols} FROM insert_rows_probe WHERE id IN ({listed})")
        )
        return {r[0]: tuple(r[1:]) for r in got}


async def test_rows_read_back_as_the_same_text_as_sqlalchemys_insert(engine: AsyncEngine) -> None:
    mine = [row(1), row(2, flag=True, note="given"), row(3)]
    theirs = [{**r, "id": r["id"].replace("r", "c")} for r in mine]
    async with engine.begin() as conn:
        assert await insert_rows(conn, probe, mine) == 3
        for one in theirs:  # one by one: SQLAlchemy's executemany binds the first row's keys
            await conn.execute(insert(probe), one)
    got = await stored(engine, ["r1", "r2", "r3", "c1", "c2", "c3"])
    for n in (1, 2, 3):
        assert got[f"r{n}"] == got[f"c{n}"]
    # the defaults were filled in, and a given value won over its default
    async with engine.connect() as conn:
        flags = dict((await conn.execute(text("SELECT id, note FROM insert_rows_probe"))).all())
    assert flags["r1"] == "" and flags["r2"] == "given"


async def test_conflicts_are_skipped_and_not_counted(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await insert_rows(conn, probe, [row(1), row(2)], ["id"]) == 2
        again = [row(2, amount=-1), row(3), row(1, amount=-1)]
        assert await insert_rows(conn, probe, again, ["id"]) == 1
        assert await insert_rows(conn, probe, [row(3)], ["id"]) == 0
    async with engine.connect() as conn:
        amounts = dict((await conn.execute(text("SELECT id, amount FROM insert_rows_probe"))).all())
    assert amounts == {"r1": 10**15 + 1, "r2": 10**15 + 2, "r3": 10**15 + 3}


async def test_rows_of_different_shapes_and_computed_defaults_still_go_in(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        shapes = [row(1), row(2, note="only here"), {**row(3), "flag": True}, row(4)]
        assert await insert_rows(conn, probe, shapes) == 4
        assert await insert_rows(conn, probe, [row(5, note="x"), row(1)], ["id"]) == 1
        assert await insert_rows(conn, stamped, [{"id": "s1"}, {"id": "s2"}]) == 2
    async with engine.connect() as conn:
        got = await conn.execute(text("SELECT id, note, flag FROM insert_rows_probe ORDER BY id"))
        notes = {r[0]: (r[1], bool(r[2])) for r in got}
        made = (await conn.execute(text("SELECT made FROM insert_rows_stamped"))).scalars().all()
    assert notes == {
        "r1": ("", False),
        "r2": ("only here", False),
        "r3": ("", True),
        "r4": ("", False),
        "r5": ("x", False),
    }
    assert made == ["computed", "computed"]


async def test_nothing_to_insert_is_zero(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await insert_rows(conn, probe, []) == 0
        assert await insert_rows(conn, probe, [], ["id"]) == 0
