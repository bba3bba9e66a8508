"""API key changes reach every process at once: two containers stand for two API
processes sharing a database (and Redis, for the Redis engine). The end-to-end version
with real server processes is tests/e2e/test_key_revocation.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio as aioredis

from dropline.auth.key_events import RedisKeyEvents
from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain.errors import Unauthenticated


async def until(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


class Process:
    """A container whose access service listens for key changes, as an API process."""

    def __init__(self, c: Container) -> None:
        self.c = c
        self.task = asyncio.create_task(c.access.watch())

    async def close(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.c.close()


@pytest.fixture
async def pair(postgres_url: str, redis_url: str) -> AsyncIterator[tuple[Process, Process]]:
    from backends import truncate_pg

    await truncate_pg(postgres_url)
    settings = Settings(database_url=postgres_url, engine_url=redis_url, background_tasks=False)
    a, b = await build(settings), await build(settings)
    # B's subscription gets a name, so a test can find and kill its connection.
    await b.access.events.close()
    b.access.events = RedisKeyEvents(redis_url, client_name=f"dl-test-{uuid.uuid4().hex[:8]}")
    pa, pb = Process(a), Process(b)
    try:
        await until(lambda: a.access.events.hears_others and b.access.events.hears_others)
        yield pa, pb
    finally:
        await pa.close()
        await pb.close()


@pytest.mark.postgres
@pytest.mark.redis
async def test_revocation_and_rotation_reach_the_other_process_before_they_return(
    pair: tuple[Process, Process],
) -> None:
    a, b = pair
    raw, rec = await a.c.access.create_key("overlay", "storefront")
    assert (await b.c.access.authenticate(raw)).key_id == rec.id  # cached in B (30 s)
    await a.c.access.revoke_key(rec.id)
    with pytest.raises(Unauthenticated):
        await b.c.access.authenticate(raw)  # no wait: B forgot it before revoke returned

    raw2, rec2 = await b.c.access.create_key("pos", "storefront")
    assert (await a.c.access.authenticate(raw2)).key_id == rec2.id
    new_raw, new = await b.c.access.rotate_key(rec2.id, timedelta(0))
    with pytest.raises(Unauthenticated, match="expired"):
        await a.c.access.authenticate(raw2)
    assert (await a.c.access.authenticate(new_raw)).key_id == new.id


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_listener_resubscribes_after_losing_its_connection(
    pair: tuple[Process, Process], redis_url: str
) -> None:
    a, b = pair
    events = b.c.access.events
    assert isinstance(events, RedisKeyEvents)
    raw, rec = await a.c.access.create_key("overlay", "storefront")
    await b.c.access.authenticate(raw)
    cleared = b.c.access._generation
    admin = aioredis.from_url(redis_url)
    try:
        name = (await b.c.access.events._client.client_getname()) or ""  # type: ignore[attr-defined]
        assert name.startswith("dl-test-")
        killed = 0
        for client in await admin.client_list(_type="pubsub"):
            if client.get("name") == name:
                killed += await admin.client_kill_filter(_id=client["id"])
        assert killed == 1
    finally:
        await admin.aclose()
    # The listener notices, forgets what it cached (notices may have been missed) and
    # subscribes again.
    await until(lambda: b.c.access._generation > cleared and events.hears_others)
    assert b.c.access._cache == {}
    await b.c.access.authenticate(raw)
    await a.c.access.revoke_key(rec.id)
    with pytest.raises(Unauthenticated):
        await b.c.access.authenticate(raw)


async def test_with_the_in_process_engine_another_process_is_noticed_after_a_short_ttl(
    sqlite_url: str,
) -> None:
    """The CLI is another process with no channel to the server: the server, which
    hears no notices, trusts a cached key only ``unheard_cache_s``."""
    settings = Settings(database_url=sqlite_url, background_tasks=False)
    server, cli = await build(settings), await build(settings)
    try:
        assert not server.access.events.hears_others
        raw, rec = await server.access.create_key("overlay", "storefront")
        await server.access.authenticate(raw)
        await cli.access.revoke_key(rec.id)
        await server.access.authenticate(raw)  # within the short TTL: still cached
        server.access.unheard_cache_s = 0.0  # as when those 2 s have passed
        with pytest.raises(Unauthenticated):
            await server.access.authenticate(raw)
        # In the server's own process a revocation is immediate.
        raw2, rec2 = await server.access.create_key("pos", "storefront")
        await server.access.authenticate(raw2)
        server.access.unheard_cache_s = 3600.0
        await server.access.revoke_key(rec2.id)
        with pytest.raises(Unauthenticated):
            await server.access.authenticate(raw2)
    finally:
        await server.close()
        await cli.close()
