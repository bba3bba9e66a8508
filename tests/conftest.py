"""Shared fixtures: which real servers are reachable, and whether they are required.

With ``CI=true`` a missing PostgreSQL or Redis is a failure, not a skip: the backends
must be tested on every landing.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Each checkout of the repo gets its own database and Redis db number, so two working
# copies testing at once on one machine do not truncate each other's data.
_CHECKOUT = hashlib.sha256(str(Path(__file__).resolve().parents[1]).encode()).hexdigest()
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get(
    "DROPLINE_TEST_POSTGRES_URL",
    f"postgresql+asyncpg://postgres@127.0.0.1:5432/dropline_test_{_CHECKOUT[:12]}",
)
REDIS_URL = os.environ.get(
    "DROPLINE_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{int(_CHECKOUT, 16) % 15 + 1}"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip when the server is down, except in CI where that is a failure."""
    if _reachable(host, port):
        return
    if IN_CI:
        pytest.fail(f"{name} at {host}:{port} is required when CI=true but is not reachable")
    pytest.skip(f"{name} at {host}:{port} is not reachable")


@pytest.fixture
def redis_url() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    """This checkout's PostgreSQL database, created and migrated once per session."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    _migrate_pg()
    return PG_URL


# --------------------------------------------------------------------------- stores

import asyncio  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402

from sqlalchemy import text  # noqa: E402

from dropline.bootstrap import Container, build  # noqa: E402
from dropline.config import Settings  # noqa: E402
from dropline.services.ports import ManualClock  # noqa: E402
from dropline.store.db import create_engine, upgrade  # noqa: E402
from dropline.store.tables import metadata  # noqa: E402


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


_pg_migrated = False


def _migrate_pg() -> None:
    global _pg_migrated
    if not _pg_migrated:

        async def reset() -> None:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            name = PG_URL.rsplit("/", 1)[1]
            async with admin.connect() as conn:
                exists = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
                if not exists:
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
            await admin.dispose()
            engine = create_engine(PG_URL)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()

        asyncio.run(reset())
        upgrade(PG_URL)
        _pg_migrated = True


async def truncate_pg(url: str = PG_URL) -> None:
    engine = create_engine(url)
    names = ", ".join(t.name for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "dropline.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    require_server("PostgreSQL", "127.0.0.1", 5432)
    _migrate_pg()
    asyncio.run(truncate_pg())
    return PG_URL


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "dropline.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(time.time())


@pytest.fixture
async def container(database_url: str, clock: ManualClock) -> AsyncIterator[Container]:
    """Services wired on the two backend profiles — SQLite with the in-process engine
    (the embedded default) and PostgreSQL with the Redis engine (production) — and the
    sandbox, with a clock that only moves when the test says so."""
    engine_url = "memory"
    if database_url.startswith("postgresql"):
        require_server("Redis", "127.0.0.1", 6379)
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
        engine_url = REDIS_URL
    settings = Settings(database_url=database_url, engine_url=engine_url, background_tasks=False)
    c = await build(settings, clock=clock)
    try:
        yield c
    finally:
        await c.close()
