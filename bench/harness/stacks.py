"""The stacks the benchmark runs against: their settings (database, engine, API
processes), the server environment for one, and the resets of the benchmark's own
PostgreSQL database and Redis db."""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SECRET = "bench-buyer-token-secret"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "dropline_bench")
PG_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
# The local Redis Cluster of .ci/redis-cluster.sh (started by the run when missing).
CLUSTER_URL = os.environ.get(
    "BENCH_CLUSTER_URL", "redis+cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103"
)
CLUSTER_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "redis-cluster.sh"
#: drops of the cluster stack's spread scenario: their ids hash over every master
SPREAD_DROPS = 12


@dataclass
class Stack:
    name: str
    label: str
    database_url: str
    engine_url: str
    workers: int


STACKS = {
    "embedded": Stack("embedded", "memory engine + SQLite, 1 API process", "", "memory", 1),
    "redis-pg": Stack(
        "redis-pg", "Redis engine + PostgreSQL, 2 API processes", PG_URL, REDIS_URL, 2
    ),
    # Only the checkout run: the same stack with one API process, for the scaling
    # target (issue 24: two processes give >= 1.7 x the orders of one).
    "redis-pg-1": Stack(
        "redis-pg-1", "Redis engine + PostgreSQL, 1 API process", PG_URL, REDIS_URL, 1
    ),
    # Only the hot-SKU run: the Redis engine against the memory engine on the same
    # stack (SQLite, one API process), for the coalescing target.
    "redis-sqlite": Stack("redis-sqlite", "Redis engine + SQLite, 1 API process", "", REDIS_URL, 1),
    # Only the hot-SKU run and many drops spread over the shards.
    "redis-cluster": Stack(
        "redis-cluster",
        "Redis Cluster engine (3 masters + 3 replicas) + PostgreSQL, 2 API processes",
        PG_URL,
        CLUSTER_URL,
        2,
    ),
}


def env_for(stack: Stack) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DROPLINE_DATABASE_URL=stack.database_url,
        DROPLINE_ENGINE_URL=stack.engine_url,
        DROPLINE_BUYER_TOKEN_SECRET=SECRET,
        DROPLINE_BENCH_ENDPOINTS="1",
        DROPLINE_BENCH_ROWLOCK_URL=PG_URL,
        DROPLINE_LOG_LEVEL="warning",
        DROPLINE_READINESS_GATE="advise",  # load testing, not a real drop
    )
    return env


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


async def reset_postgres() -> None:
    """A fresh, empty benchmark database (never the test suite's)."""
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_DB}"')
    finally:
        await conn.close()


async def reset_redis(engine_url: str = REDIS_URL) -> None:
    """Empty the benchmark's Redis db. After a growth run it holds a million holds
    (about 1 GB); a synchronous flush of that takes seconds, hence the long timeout.
    On the cluster (shared with the test suites, which use key prefixes of their own):
    start it when missing, and delete the server's own ``dl:`` keys only."""
    from redis.asyncio import Redis

    if engine_url.startswith("redis+cluster://"):
        subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], check=True)  # noqa: ASYNC221
        from dropline.engine.redis_cluster import cluster_client

        c = cluster_client(engine_url)
        keys = [k async for k in c.scan_iter(match="dl:*", count=1000)]
        for i in range(0, len(keys), 500):
            await c.delete(*keys[i : i + 500])
        await c.script_flush()
        await c.aclose()
        return
    r = Redis.from_url(REDIS_URL, socket_timeout=600)
    await r.flushdb()
    await r.aclose()
