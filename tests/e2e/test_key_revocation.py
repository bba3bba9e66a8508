"""Revoking or rotating an API key takes effect in every API process at once.

Two real ``dropline serve`` processes share PostgreSQL and Redis (harness:
``tests/e2e/multi_support.py``). Each has the key cached from a request a moment
before; the key is revoked (or rotated with no grace) through one process, and the very
next request with it to the *other* process is refused. Before the Redis notices the
other process kept accepting a revoked key for up to 30 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from backends import migrate_pg, truncate_pg
from dropline.bootstrap import Container, build
from dropline.config import Settings
from e2e.multi_support import BUYER_SECRET, Proc, api_process, process_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


@dataclass
class Deployment:
    database_url: str
    engine_url: str
    api: list[Proc]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    from backends import PG_URL, REDIS_URL, require_redis, require_server

    require_server("PostgreSQL", "127.0.0.1", 5432)
    require_redis()
    migrate_pg()
    asyncio.run(truncate_pg(PG_URL))
    log_dir = tmp_path_factory.mktemp("keys")
    env = process_env(PG_URL, REDIS_URL)
    api = [api_process("api0", env, log_dir), api_process("api1", env, log_dir)]
    try:
        for p in api:
            p.start()
        for p in api:
            p.wait_ready()
        yield Deployment(PG_URL, REDIS_URL, api)
    finally:
        for p in api:
            p.stop()


@pytest.fixture
async def admin(deployment: Deployment) -> AsyncIterator[tuple[Container, str]]:
    c = await build(
        Settings(
            database_url=deployment.database_url,
            engine_url=deployment.engine_url,
            background_tasks=False,
            buyer_token_secret=BUYER_SECRET,
        )
    )
    try:
        raw, _ = await c.access.create_key("e2e admin", "admin")
        yield c, raw
    finally:
        await c.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def status(http: httpx.AsyncClient, proc: Proc, key: str) -> int:
    return (await http.get(f"{proc.url}/v1/drops", headers=auth(key))).status_code


async def test_a_key_revoked_in_one_process_is_refused_by_the_other_at_once(
    deployment: Deployment, admin: tuple[Container, str]
) -> None:
    c, admin_key = admin
    api = deployment.api
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(6):
            raw, rec = await c.access.create_key(f"ops {n}", "ops")
            revoker, other = api[n % 2], api[(n + 1) % 2]
            assert await status(http, revoker, raw) == 200
            assert await status(http, other, raw) == 200  # cached in both
            r = await http.delete(f"{revoker.url}/v1/api-keys/{rec.id}", headers=auth(admin_key))
            assert r.status_code == 204
            assert await status(http, other, raw) == 401, f"round {n}"
            assert await status(http, revoker, raw) == 401


async def test_a_rotation_retires_the_old_key_everywhere_after_its_grace(
    deployment: Deployment, admin: tuple[Container, str]
) -> None:
    c, admin_key = admin
    api = deployment.api
    async with httpx.AsyncClient(timeout=10) as http:
        old_raw, old = await c.access.create_key("warehouse", "ops")
        assert [await status(http, p, old_raw) for p in api] == [200, 200]
        r = await http.post(
            f"{api[1].url}/v1/api-keys/{old.id}/rotate",
            json={"grace_s": 3600},
            headers=auth(admin_key),
        )
        assert r.status_code == 201, r.text
        new_raw = r.json()["key"]
        # In the grace period both keys work in both processes.
        assert [await status(http, p, k) for p in api for k in (old_raw, new_raw)] == [200] * 4
        # Rotating the successor with no grace retires it at once, everywhere.
        r = await http.post(
            f"{api[0].url}/v1/api-keys/{r.json()['id']}/rotate",
            json={"grace_s": 0},
            headers=auth(admin_key),
        )
        assert r.status_code == 201, r.text
        newest = r.json()["key"]
        assert await status(http, api[1], new_raw) == 401
        assert await status(http, api[0], new_raw) == 401
        assert [await status(http, p, newest) for p in api] == [200, 200]
        assert [await status(http, p, old_raw) for p in api] == [200, 200]  # its own grace
