"""Redis-only behaviour of the reservation engine: script reloading, key layout for
Redis Cluster, TTLs, hold lookup from another process, and the coalescing batcher.

The shared behaviour of both engines is in ``test_engine_contract.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import FrozenInstanceError, fields

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from dropline.domain.errors import EngineUnavailable, InsufficientStock, NotFound, SoldOut
from dropline.domain.live.holds import Hold, HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.engine import create_engine
from dropline.engine.redis_engine import RedisEngine, hold_from_dict, hold_to_json
from dropline.engine.redis_scripts import CommandBatcher
from dropline.services.ports import DropSnapshot, EngineOffer

pytestmark = pytest.mark.redis

T0 = 1_800_000_000.0
DROP = "drp_redis"


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def engines(redis_url: str, admin: aioredis.Redis) -> AsyncIterator[list[RedisEngine]]:
    made: list[RedisEngine] = []
    yield made
    for engine in made:
        await engine.close()


def make(
    redis_url: str,
    engines: list[RedisEngine],
    *,
    coalesce: bool = True,
    sold_out_window_s: float = 0.2,
) -> RedisEngine:
    engine = RedisEngine(redis_url, coalesce=coalesce, sold_out_window_s=sold_out_window_s)
    engines.append(engine)
    return engine


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key


def snap(units: int = 10) -> DropSnapshot:
    return DropSnapshot(DROP, True, {"sku_a": EngineOffer("sku_a", units, None)})


def req(n: int = 1, buyer: str = "b1", key: str | None = None) -> HoldRequest:
    return HoldRequest(
        drop_id=DROP,
        buyer_id=buyer,
        items=(HoldItem(ItemKind.SKU, "sku_a", n),),
        units={"sku_a": n},
        ttl_s=90,
        idempotency_key=key,
    )


async def test_factory_builds_redis_engine(redis_url: str) -> None:
    engine = create_engine(redis_url)
    try:
        assert isinstance(engine, RedisEngine)
        await engine.ping()
    finally:
        await engine.close()


@pytest.mark.parametrize("coalesce", [True, False])
async def test_noscript_is_recovered(
    redis_url: str, admin: aioredis.Redis, engines: list[RedisEngine], coalesce: bool
) -> None:
    engine = make(redis_url, engines, coalesce=coalesce)
    await engine.ensure_drop(snap(100))
    await engine.place_hold(req(), T0)
    await admin.script_flush()
    h = await engine.place_hold(req(buyer="b2"), T0)
    assert h.status == HoldStatus.ACTIVE
    await admin.script_flush()
    # many callers hit NOSCRIPT at once: every one still succeeds
    many = await asyncio.gather(*(engine.place_hold(req(buyer=f"x{i}"), T0) for i in range(50)))
    assert len({x.id for x in many}) == 50
    assert (await engine.counts(DROP))["sku_a"].remaining == 48


async def test_every_drop_key_shares_one_cluster_slot(
    redis_url: str, admin: aioredis.Redis, engines: list[RedisEngine]
) -> None:
    engine = make(redis_url, engines)
    await engine.ensure_drop(snap())
    a = await engine.place_hold(req(1, key="k1"), T0)
    b = await engine.place_hold(req(1, buyer="b2"), T0)
    await engine.start_payment(a.id, T0 + 1, 300)
    await engine.convert(a.id, T0 + 2)
    await engine.release(b.id, T0 + 3)
    await engine.place_hold(req(1, buyer="b3"), T0)
    await engine.take(DROP, "b4", {"sku_a": 1})
    await engine.expire_due(T0 + 1000)
    keys = sorted(_text(k) for k in await admin.keys("*"))
    drop_keys = [k for k in keys if f"{{{DROP}}}" in k]
    registry = [k for k in keys if "{registry}" in k]
    pointers = [k for k in keys if "{" not in k]
    assert len(drop_keys) + len(registry) + len(pointers) == len(keys)
    assert {key_slot(k.encode()) for k in drop_keys} == {key_slot(DROP.encode())}
    assert all(k.startswith(f"dl:{{{DROP}}}:") for k in drop_keys)
    assert f"dl:{{{DROP}}}:events" in drop_keys
    assert f"dl:{{{DROP}}}:h:{a.id}" in drop_keys
    # the two registries share one slot (read separately anyway, see _journal_drops)
    assert registry == ["dl:{registry}:drops", "dl:{registry}:journals"]
    assert f"dl:hold:{a.id}" in pointers
    assert all(k.startswith("dl:hold:hld_") for k in pointers)


async def test_terminal_holds_get_a_ttl(
    redis_url: str, admin: aioredis.Redis, engines: list[RedisEngine]
) -> None:
    engine = make(redis_url, engines)
    await engine.ensure_drop(snap())
    h = await engine.place_hold(req(), T0)
    key = f"dl:{{{DROP}}}:h:{h.id}"
    assert await admin.ttl(key) == -1  # a live hold never vanishes on its own
    await engine.release(h.id, T0 + 1)
    assert await admin.ttl(key) >= 3600
    assert 0 < await admin.ttl(f"dl:hold:{h.id}") <= 86_400


async def test_holds_are_found_from_another_process(
    redis_url: str, engines: list[RedisEngine]
) -> None:
    placing = make(redis_url, engines)
    other = make(redis_url, engines)  # no pointer cache: must look the hold up
    await placing.ensure_drop(snap())
    h = await placing.place_hold(req(2), T0)
    assert await other.get_hold(h.id) == h
    paying = await other.start_payment(h.id, T0 + 5, 300)
    assert paying.status == HoldStatus.PAYING
    converted = await other.convert(h.id, T0 + 6)
    assert converted is not None
    assert converted.status == HoldStatus.CONVERTED
    assert await placing.get_hold(h.id) == converted
    events = await other.read_events()
    assert [ev.type for ev in events] == ["hold.placed", "hold.paying", "hold.converted"]
    await other.ack_events([ev.id for ev in events])
    assert await placing.read_events() == []
    with pytest.raises(NotFound):
        await other.release("hld_unknown", T0)


def sent(engine: RedisEngine) -> int:
    """Commands this engine has sent to Redis."""
    batcher = engine._runner.batcher
    assert batcher is not None
    return batcher.commands


async def test_a_sold_out_storm_is_refused_in_process(
    redis_url: str, engines: list[RedisEngine]
) -> None:
    a = make(redis_url, engines, sold_out_window_s=60)
    b = make(redis_url, engines)
    await a.ensure_drop(snap(2))
    h = await a.place_hold(req(2), T0)
    with pytest.raises(SoldOut):
        await a.place_hold(req(1, buyer="b2"), T0)
    before = sent(a)
    for n in range(20):
        with pytest.raises(SoldOut) as caught:
            await a.place_hold(req(1, buyer=f"s{n}"), T0)
        assert caught.value.extra == {"sku_id": "sku_a"}
    assert sent(a) == before  # not one round trip
    with pytest.raises(SoldOut):  # another shape asks Redis once, then is remembered
        await a.place_hold(req(3, buyer="b3"), T0)
    with pytest.raises(SoldOut):
        await a.place_hold(req(3, buyer="b4"), T0)
    assert sent(a) == before + 1

    # Another process returns the units: this one refuses the shape until its window
    # closes (late, never wrong the other way), while a keyed request always asks Redis.
    await b.release(h.id, T0 + 1)
    with pytest.raises(SoldOut):
        await a.place_hold(req(1, buyer="b4"), T0 + 1)
    keyed = await a.place_hold(req(1, buyer="b5", key="tap-1"), T0 + 1)
    assert keyed.status == HoldStatus.ACTIVE
    # A change this process makes itself forgets the drop's refusals at once.
    await a.release(keyed.id, T0 + 2)
    assert (await a.place_hold(req(1, buyer="b6"), T0 + 2)).status == HoldStatus.ACTIVE


async def test_a_keyed_replay_after_the_sell_out_returns_its_hold(
    redis_url: str, engines: list[RedisEngine]
) -> None:
    engine = make(redis_url, engines, sold_out_window_s=60)
    await engine.ensure_drop(snap(1))
    first = await engine.place_hold(req(1, key="tap"), T0)
    with pytest.raises(SoldOut):
        await engine.place_hold(req(1, buyer="b2"), T0)
    assert (await engine.place_hold(req(1, key="tap"), T0)).id == first.id


async def test_the_sold_out_window_closes(redis_url: str, engines: list[RedisEngine]) -> None:
    a = make(redis_url, engines, sold_out_window_s=0.05)
    b = make(redis_url, engines)
    await a.ensure_drop(snap(1))
    h = await b.place_hold(req(1), T0)
    with pytest.raises(SoldOut):
        await a.place_hold(req(1, buyer="b2"), T0)
    await b.release(h.id, T0 + 1)
    await asyncio.sleep(0.1)
    assert (await a.place_hold(req(1, buyer="b3"), T0 + 1)).status == HoldStatus.ACTIVE


async def test_a_zero_window_asks_redis_every_time(
    redis_url: str, engines: list[RedisEngine]
) -> None:
    engine = make(redis_url, engines, sold_out_window_s=0)
    await engine.ensure_drop(snap(0))
    for n in range(3):
        with pytest.raises(SoldOut):
            await engine.place_hold(req(1, buyer=f"b{n}"), T0)
    assert len(engine._gate) == 0


async def test_concurrent_rebuilds_load_once(redis_url: str, engines: list[RedisEngine]) -> None:
    a, b = make(redis_url, engines), make(redis_url, engines)
    results = await asyncio.gather(*(x.ensure_drop(snap()) for x in [a, b, a, b]))
    assert sorted(results) == [False, False, False, True]


@pytest.mark.parametrize("coalesce", [True, False])
async def test_thousand_taps_either_mode(
    redis_url: str, engines: list[RedisEngine], coalesce: bool
) -> None:
    engine = make(redis_url, engines, coalesce=coalesce)
    await engine.ensure_drop(snap(100))

    async def tap(i: int) -> Hold | None:
        try:
            return await engine.place_hold(req(buyer=f"b{i}"), T0)
        except (SoldOut, InsufficientStock):
            return None

    results = await asyncio.gather(*(tap(i) for i in range(1000)))
    assert sum(r is not None for r in results) == 100
    batcher = engine._runner.batcher
    if coalesce:
        assert batcher is not None
        # 1000 concurrent calls went out in far fewer round trips than calls
        assert batcher.batches * 10 <= batcher.commands
    else:
        assert batcher is None


async def test_batcher_fails_only_the_failing_caller(redis_url: str, admin: aioredis.Redis) -> None:
    await admin.hset("h", "f", "v")
    await admin.set("s", "1")
    batcher = CommandBatcher(admin)
    try:
        results = await asyncio.gather(
            batcher.execute("GET", "s"),
            batcher.execute("GET", "h"),  # WRONGTYPE
            batcher.execute("INCR", "s"),
            return_exceptions=True,
        )
        assert results[0] == b"1"
        assert isinstance(results[1], ResponseError)
        assert results[2] == 2
        assert batcher.batches == 1
    finally:
        await batcher.close()
    with pytest.raises(RuntimeError):
        await batcher.execute("PING")


async def test_batcher_fails_a_whole_batch_when_redis_is_gone() -> None:
    engine = RedisEngine("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(EngineUnavailable):
            await engine.ping()
        with pytest.raises(EngineUnavailable):
            await engine.counts(DROP)
    finally:
        await engine.close()


async def test_the_batcher_reconnects_after_its_connection_is_killed(
    redis_url: str, admin: aioredis.Redis, engines: list[RedisEngine]
) -> None:
    """The flusher keeps one connection; when Redis drops it, the batch on it fails
    (the engine is unavailable for that call, nothing half-applied) and the next batch
    runs on a fresh connection."""
    engine = make(redis_url, engines)
    await engine.ensure_drop(snap(10))
    await engine.place_hold(req(1), T0)
    killed = await admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert int(killed) >= 1
    outcomes: list[str] = []
    for n in range(3):
        try:
            await engine.place_hold(req(1, buyer=f"after{n}"), T0)
            outcomes.append("ok")
        except EngineUnavailable:
            outcomes.append("unavailable")
    assert outcomes[-2:] == ["ok", "ok"]
    counts = (await engine.counts(DROP))["sku_a"]
    assert counts.remaining + counts.held == 10
    assert counts.held == 1 + outcomes.count("ok")


async def test_hold_json_round_trip() -> None:
    import orjson

    hold = Hold(
        id="hld_x",
        drop_id=DROP,
        buyer_id="b",
        items=(HoldItem(ItemKind.BUNDLE, "bdl_1", 2),),
        units={"sku_a": 2, "sku_b": 4},
        status=HoldStatus.PAYING,
        created_at=T0 + 0.1,
        expires_at=T0 + 300.000001,
        extended=True,
        idempotency_key=None,
        fingerprint="fp",
        attribution={"utm": "x"},
    )
    decoded = hold_from_dict(orjson.loads(hold_to_json(hold)))
    assert decoded == hold
    # built without __init__: every declared field is set, with its declared type
    assert set(vars(decoded)) == {f.name for f in fields(Hold)}
    assert [type(getattr(decoded, f.name)) for f in fields(Hold)] == [
        type(getattr(hold, f.name)) for f in fields(Hold)
    ]
    assert all(
        type(i) is HoldItem and set(vars(i)) == {"kind", "ref", "quantity"} for i in decoded.items
    )
    with pytest.raises(FrozenInstanceError):
        decoded.status = HoldStatus.ACTIVE  # type: ignore[misc]
