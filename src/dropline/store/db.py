"""Database engines and migrations.

SQLite runs in WAL mode with a busy timeout so one writer and many readers coexist;
PostgreSQL is used as is. Migrations are Alembic's, run from code so no ini file is
needed next to the install.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dropline.store.sqlite_inline import InlineConnection, inline_connect

MIGRATIONS = Path(__file__).parent / "migrations"


def json_text(value: Any) -> str:
    """JSON columns are written with orjson (the standard library's encoder cost five
    times as much for hold events); any other mapping is written as an object."""
    return orjson.dumps(value, default=_plain, option=orjson.OPT_NON_STR_KEYS).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def create_engine(url: str, *, sqlite_foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the settings dropline relies on.

    ``sqlite_foreign_keys=False`` is for migrations only: SQLite alters a table by
    copying it, and dropping the old copy fails while other tables' foreign keys point
    at it (Alembic's batch mode; the documented recipe turns them off)."""
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        connect_args: dict[str, Any] = {"timeout": 30}
        if os.environ.get("DROPLINE_SQLITE_THREADS", "") not in {"1", "true"}:
            # No thread hop per call (see store.sqlite_inline); DROPLINE_SQLITE_THREADS=1
            # goes back to aiosqlite's worker thread per connection.
            connect_args["async_creator_fn"] = inline_connect
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA foreign_keys={'ON' if sqlite_foreign_keys else 'OFF'}")
            cur.execute("PRAGMA busy_timeout=30000")
            # 64 MiB of page cache per connection (SQLite's default is 2 MiB): the outbox
            # gains a row per hold event, and its indexes outgrow 2 MiB within minutes
            # of a flash sale, after which every insert misses the cache.
            cur.execute("PRAGMA cache_size=-65536")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            # Writers take the write lock up front: a deferred transaction that read
            # first would fail with SQLITE_BUSY_SNAPSHOT instead of waiting its turn.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            driver = conn.connection.driver_connection
            if not isinstance(driver, InlineConnection):
                conn.exec_driver_sql(f"BEGIN {mode}")
                return
            # Straight to sqlite3: the same BEGIN without a trip through SQLAlchemy's
            # statement machinery (a few % of a checkout's CPU); its errors are
            # wrapped as SQLAlchemy's would be ("database is locked" stays an
            # ``sqlalchemy.exc.OperationalError``).
            try:
                driver.begin(mode)
            except sqlite3.Error as err:
                raise DBAPIError.instance(f"BEGIN {mode}", None, err, sqlite3.Error) from err

        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run migrations up to ``revision`` (blocking; call outside an event loop)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """``upgrade`` from inside a running event loop (Alembic's env uses its own loop)."""
    await asyncio.to_thread(upgrade, url, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, for the readiness check."""

    def _rev(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_rev)


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migrations' head: serving it would fail on the first
    query with an SQL error, or write rows an older schema does not know."""


async def check_schema(engine: AsyncEngine) -> None:
    """Raise ``SchemaNotCurrent``, with the command that fixes it, unless the database
    is at the migrations' head. Servers and workers call it before their first query."""
    at, head = await current_revision(engine), head_revision()
    if at == head:
        return
    if at is None:
        raise SchemaNotCurrent(
            "the database has no dropline tables yet: run 'dropline db upgrade' "
            "(with the same DROPLINE_DATABASE_URL) first"
        )
    if at not in _known_revisions():
        raise SchemaNotCurrent(
            f"the database is at migration {at}, which this dropline does not know: a "
            "newer dropline migrated it; run that version"
        )
    raise SchemaNotCurrent(
        f"the database is at migration {at}, this dropline needs {head}: run "
        "'dropline db upgrade' (with the same DROPLINE_DATABASE_URL) first"
    )


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {rev.revision for rev in script.walk_revisions()}
