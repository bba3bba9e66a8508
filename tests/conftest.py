"""Shared fixtures: which real servers are reachable, and whether they are required.

With ``CI=true`` a missing PostgreSQL or Redis is a failure, not a skip: the backends
must be tested on every landing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backends import (
    CLUSTER_URL,
    PG_URL,
    REDIS_URL,
    cluster_script,
    ensure_cluster,
    migrate_pg,
    require_redis,
    require_server,
    stop_private_redis,
    truncate_pg,
)

# The readiness gate is enforced by default (a drop with a `block` goes live only with
# an override reason). Tests that are not about the gate go live with drops nobody
# counted or rehearsed, so the suite runs with the gate advising, said here once for
# every container, CLI run and server process it starts. Tests of the gate, the demo
# and the guides set `enforce` (or drop this) themselves.
os.environ.setdefault("DROPLINE_READINESS_GATE", "advise")
# A pytest-xdist worker is given COLUMNS=80 (the controller's terminal width); without it
# the CLI's tables print to the test runner at their natural width, as in a plain run.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist (``--dist loadgroup``, as ``make test`` runs it) every test on
    the one shared Redis Cluster runs on the same worker, one after another: a failover
    test kills a master, and no other worker's test may be using the cluster then. Every
    such test has ``cluster`` in its id (``[redis-cluster]``, ``test_cluster_failover``,
    ``test_engine_cluster``). The scheduler groups them by that itself: xdist's own
    ``xdist_group`` marks no longer group anything on pytest 9.2 (pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ClusterTogether(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "redis-cluster" if "cluster" in nodeid.lower() else nodeid

    return ClusterTogether(config, log)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """An xdist worker that started a Redis server of its own stops it."""
    stop_private_redis()


@pytest.fixture
def redis_url() -> str:
    require_redis()
    return REDIS_URL


_cluster_started: list[bool] = []


@pytest.fixture(scope="session")
def _cluster_session() -> Iterator[str]:
    """The local Redis Cluster, started (``.ci/redis-cluster.sh``) when missing and
    stopped at the end of the session only if this session started it."""
    _cluster_started.append(ensure_cluster())
    try:
        yield CLUSTER_URL
    finally:
        if _cluster_started[0]:
            cluster_script("stop")


@pytest.fixture
def redis_cluster_url(_cluster_session: str) -> str:
    """Seed nodes of the local Redis Cluster (``redis+cluster://``), healthy: a test
    that killed a master leaves it to this fixture to bring the node back as a
    replica before the next test."""
    ensure_cluster()
    return _cluster_session


@pytest.fixture
def postgres_url() -> str:
    """This checkout's PostgreSQL database, created and migrated once per session."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    migrate_pg()
    return PG_URL


# --------------------------------------------------------------------------- stores

import asyncio  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from collections.abc import AsyncIterator  # noqa: E402

import httpx  # noqa: E402

from dropline.bootstrap import Container, build  # noqa: E402
from dropline.config import Settings  # noqa: E402
from dropline.services.ports import ManualClock  # noqa: E402
from dropline.store.db import upgrade  # noqa: E402


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "dropline.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    require_server("PostgreSQL", "127.0.0.1", 5432)
    migrate_pg()
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
        require_redis()
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await client.flushdb()
        await client.aclose()
        engine_url = REDIS_URL
    settings = Settings(
        database_url=database_url,
        engine_url=engine_url,
        background_tasks=False,
        readiness_gate="advise",  # not about the gate (test_readiness.py is)
    )
    c = await build(settings, clock=clock)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def api(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI with an ops key (a module may define its own ``api``)."""
    from dropline.api.app import create_app

    app = create_app(container=container)
    app.state.container = container  # ASGITransport does not run the lifespan
    ops, _ = await container.access.create_key("ops", "ops")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {ops}"},
    ) as client:
        yield client
