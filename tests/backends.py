"""Which real servers the tests use, and how to reach, create and reset them.

A plain module (not a conftest) so test modules anywhere can import it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from dropline.store.db import create_engine, upgrade
from dropline.store.schema import metadata

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Each checkout of the repo gets its own database and Redis db number, so two working
# copies testing at once on one machine do not truncate each other's data.
# Under pytest-xdist (``make test`` runs two workers) each worker gets its own too:
# ``gw0``, ``gw1`` ... (``PYTEST_XDIST_WORKER``); a plain ``pytest`` run is worker 0.
_CHECKOUT = hashlib.sha256(str(Path(__file__).resolve().parents[1]).encode()).hexdigest()
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_WORKER_NO = int(_WORKER[2:]) if _WORKER.startswith("gw") and _WORKER[2:].isdigit() else 0
PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get(
    "DROPLINE_TEST_POSTGRES_URL",
    f"postgresql+asyncpg://postgres@127.0.0.1:5432/dropline_test_{_CHECKOUT[:12]}"
    + (f"_{_WORKER_NO}" if _WORKER_NO else ""),
)
# The local Redis Cluster (.ci/redis-cluster.sh): three masters, three replicas.
CLUSTER_PORT = int(os.environ.get("DROPLINE_CLUSTER_PORT", "7101"))
CLUSTER_PORTS = [CLUSTER_PORT + i for i in range(6)]
CLUSTER_URL = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in CLUSTER_PORTS[:3])
CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "redis-cluster.sh"


def cluster_script(action: str) -> subprocess.CompletedProcess[str]:
    """Run ``.ci/redis-cluster.sh start|stop|status`` (the one place that knows how)."""
    return subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), action],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ensure_cluster() -> bool:
    """Make sure the local Redis Cluster runs and is healthy; True if this call started
    (or repaired) it. Skips when it cannot be had, except in CI where that fails."""
    if cluster_script("status").returncode == 0:
        return False
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if IN_CI:
            pytest.fail("redis-server is required for the Redis Cluster suites when CI=true")
        pytest.skip("redis-server is not installed: no local Redis Cluster")
    done = cluster_script("start")
    if done.returncode != 0:
        message = f"the local Redis Cluster did not start:\n{done.stdout}{done.stderr}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return True


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


REDIS_HOST = "127.0.0.1"


def _private_redis_port() -> int | None:
    """Under pytest-xdist every worker after the first runs its own Redis server (no
    persistence, started here, shut down at the end of the session by ``conftest``):
    ``SCRIPT FLUSH``, ``FLUSHALL`` and the script cache are server-wide, and one worker's
    data-loss test must not flush another's scripts mid-test. The first worker, a plain
    run and a ``DROPLINE_TEST_REDIS_URL`` use the machine's server on 6379. Without
    ``redis-server`` on the PATH the workers share that one too."""
    if _WORKER_NO == 0 or "DROPLINE_TEST_REDIS_URL" in os.environ:
        return None
    if shutil.which("redis-server") is None:
        return None
    port = 16400 + int(_CHECKOUT, 16) % 400 * 8 + _WORKER_NO  # per checkout and worker
    if not _reachable(REDIS_HOST, port):
        subprocess.run(
            [
                "redis-server",
                "--port", str(port),
                "--bind", REDIS_HOST,
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "yes",
                "--logfile", "",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        for _ in range(100):
            if _reachable(REDIS_HOST, port):
                break
            time.sleep(0.05)
    return port


PRIVATE_REDIS_PORT = _private_redis_port()
REDIS_PORT = PRIVATE_REDIS_PORT or 6379
# Redis dbs 1-12 only: 13-15 are left to the benchmark (bench/run.py flushes db 14).
REDIS_URL = os.environ.get(
    "DROPLINE_TEST_REDIS_URL",
    f"redis://{REDIS_HOST}:{REDIS_PORT}/{(int(_CHECKOUT, 16) + _WORKER_NO) % 12 + 1}",
)


def require_redis() -> None:
    """The Redis server ``REDIS_URL`` points at: skip when it is down, fail in CI."""
    require_server("Redis", REDIS_HOST, REDIS_PORT)


def stop_private_redis() -> None:
    """Shut down this worker's own Redis server, if it started one."""
    if PRIVATE_REDIS_PORT is not None:
        subprocess.run(
            ["redis-cli", "-p", str(PRIVATE_REDIS_PORT), "shutdown", "nosave"],
            capture_output=True,
            timeout=30,
            check=False,
        )


_pg_migrated = False


def migrate_pg() -> None:
    """Create this checkout's database if needed and migrate it from scratch, once
    per test session."""
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
