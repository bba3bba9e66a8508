"""One behavioural suite for every ``StockEngine`` backend (memory and Redis).

Every test runs against every engine: memory, Redis (the ``redis_url`` fixture's db,
flushed before and after) and Redis Cluster (the local six-node cluster of
``.ci/redis-cluster.sh``, a key prefix per test). Time is passed explicitly, so no
test sleeps to make a hold expire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from dropline.domain.errors import (
    DropNotLive,
    HoldExpired,
    HoldNotActive,
    IdempotencyMismatch,
    InsufficientStock,
    InvalidInput,
    LimitExceeded,
    NotFound,
    SoldOut,
)
from dropline.domain.live.holds import Hold, HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.engine import MemoryEngine, create_engine
from dropline.engine.redis_engine import RedisEngine
from dropline.services.ports import DropNotLoaded, DropSnapshot, EngineOffer, StockEngine
from prod_support import lose_redis_data, redis_admin, unique_prefix

T0 = 1_800_000_000.0
DROP = "drp_contract"
TTL = 90
CAP = 300


@dataclass
class Harness:
    kind: str
    engine: StockEngine
    lose_state: Callable[[], Awaitable[None]]
    make: Callable[..., MemoryEngine | RedisEngine]
    #: the server's script cache lost (Redis only)
    flush_scripts: Callable[[], Awaitable[None]]


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        engine = MemoryEngine()

        async def lose_memory() -> None:
            await engine.forget_drop(DROP)

        yield Harness("memory", engine, lose_memory, MemoryEngine, lose_memory)
        return

    made: list[RedisEngine] = []
    if request.param == "redis-cluster":
        # A real cluster (three masters): every test has its own key prefix.
        url = request.getfixturevalue("redis_cluster_url")
        prefix = unique_prefix()

        def make(**kwargs: Any) -> RedisEngine:
            eng = RedisEngine(url, prefix=prefix, **kwargs)
            made.append(eng)
            return eng

        async def lose_cluster() -> None:
            await lose_redis_data(url, prefix)

        async def flush_cluster_scripts() -> None:
            admin = redis_admin(url)
            await admin.script_flush()
            await admin.aclose()

        try:
            yield Harness("redis", make(), lose_cluster, make, flush_cluster_scripts)
        finally:
            for eng in made:
                await eng.close()
            await lose_redis_data(url, prefix)
        return

    url = request.getfixturevalue("redis_url")
    admin = aioredis.Redis.from_url(url)
    await admin.flushdb()

    def make_plain(**kwargs: Any) -> RedisEngine:
        eng = RedisEngine(url, **kwargs)
        made.append(eng)
        return eng

    redis_engine = make_plain()

    async def lose_redis() -> None:
        await admin.flushdb()

    async def flush_scripts() -> None:
        await admin.script_flush()

    try:
        yield Harness("redis", redis_engine, lose_redis, make_plain, flush_scripts)
    finally:
        for eng in made:
            await eng.close()
        await admin.flushdb()
        await admin.aclose()


def snapshot(
    offers: Mapping[str, int] | None = None,
    *,
    limits: Mapping[str, int] | None = None,
    paused: frozenset[str] = frozenset(),
    accepting: bool = True,
    buyer_taken: Mapping[str, Mapping[str, int]] | None = None,
    drop_id: str = DROP,
) -> DropSnapshot:
    offers = {"sku_a": 10, "sku_b": 5} if offers is None else offers
    limits = limits or {}
    return DropSnapshot(
        drop_id=drop_id,
        accepting=accepting,
        offers={
            sku: EngineOffer(sku, n, limits.get(sku), sku in paused) for sku, n in offers.items()
        },
        buyer_taken=buyer_taken or {},
    )


def req(
    units: Mapping[str, int],
    *,
    buyer: str = "buyer_1",
    key: str | None = None,
    fingerprint: str = "",
    ttl: int = TTL,
    drop_id: str = DROP,
) -> HoldRequest:
    return HoldRequest(
        drop_id=drop_id,
        buyer_id=buyer,
        items=tuple(HoldItem(ItemKind.SKU, sku, n) for sku, n in sorted(units.items())),
        units=dict(units),
        ttl_s=ttl,
        idempotency_key=key,
        fingerprint=fingerprint,
        attribution={"stream": "s1"},
    )


async def remaining(engine: StockEngine, sku: str, drop_id: str = DROP) -> int:
    return (await engine.counts(drop_id))[sku].remaining


async def held(engine: StockEngine, sku: str) -> int:
    return (await engine.counts(DROP))[sku].held


# ---------------------------------------------------------------- loading


async def test_factory_picks_backend() -> None:
    assert isinstance(create_engine(None), MemoryEngine)
    assert isinstance(create_engine("memory"), MemoryEngine)
    with pytest.raises(ValueError, match="unknown"):
        create_engine("mysql://x")


async def test_unloaded_drop_raises_drop_not_loaded(harness: Harness) -> None:
    e = harness.engine
    with pytest.raises(DropNotLoaded) as info:
        await e.place_hold(req({"sku_a": 1}), T0)
    assert info.value.drop_id == DROP
    with pytest.raises(DropNotLoaded):
        await e.counts(DROP)
    with pytest.raises(DropNotLoaded):
        await e.take(DROP, "b", {"sku_a": 1})
    with pytest.raises(DropNotLoaded):
        await e.set_accepting(DROP, False)


async def test_ensure_loads_once_and_reset_replaces(harness: Harness) -> None:
    e = harness.engine
    assert await e.ensure_drop(snapshot()) is True
    h = await e.place_hold(req({"sku_a": 2}), T0)
    assert await e.ensure_drop(snapshot({"sku_a": 99})) is False
    assert set(await e.counts(DROP)) == {"sku_a", "sku_b"}
    assert await remaining(e, "sku_a") == 8
    assert await held(e, "sku_a") == 2

    await e.reset_drop(snapshot({"sku_a": 7}))
    counts = await e.counts(DROP)
    assert set(counts) == {"sku_a"}
    assert counts["sku_a"].remaining == 7
    assert counts["sku_a"].held == 0
    assert await e.get_hold(h.id) is None


async def test_data_loss_is_detected(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 1}), T0)
    await harness.lose_state()
    with pytest.raises(DropNotLoaded):
        await e.place_hold(req({"sku_a": 1}), T0)
    with pytest.raises(DropNotLoaded):
        await e.counts(DROP)
    assert await e.convert(h.id, T0) is None
    # The service rebuilds from the ledger and carries on.
    assert await e.ensure_drop(snapshot()) is True
    h2 = await e.place_hold(req({"sku_a": 1}), T0)
    assert h2.status == HoldStatus.ACTIVE


async def test_survives_script_cache_loss(harness: Harness) -> None:
    if harness.kind != "redis":
        pytest.skip("only the Redis engine has a script cache to lose")
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 1}), T0)
    await harness.flush_scripts()
    paying = await e.start_payment(h.id, T0 + 1, CAP)  # NOSCRIPT → reload → run
    assert paying.status == HoldStatus.PAYING
    await harness.flush_scripts()
    assert await remaining(e, "sku_a") == 9


async def test_forget_drop(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 1}), T0)
    await e.forget_drop(DROP)
    with pytest.raises(DropNotLoaded):
        await e.counts(DROP)
    assert await e.get_hold(h.id) is None
    with pytest.raises(NotFound):
        await e.release(h.id, T0)
    assert await e.ensure_drop(snapshot()) is True


async def test_drops_are_independent(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 1}))
    await e.ensure_drop(snapshot({"sku_a": 1}, drop_id="drp_other"))
    await e.place_hold(req({"sku_a": 1}), T0)
    assert await remaining(e, "sku_a") == 0
    assert await remaining(e, "sku_a", "drp_other") == 1
    await e.place_hold(req({"sku_a": 1}, drop_id="drp_other"), T0)
    assert await remaining(e, "sku_a", "drp_other") == 0


# ---------------------------------------------------------------- placing


async def test_place_hold_takes_units(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 2, "sku_b": 1}, key="k1", fingerprint="f"), T0)
    assert h.id.startswith("hld_")
    assert h.drop_id == DROP
    assert h.buyer_id == "buyer_1"
    assert h.status == HoldStatus.ACTIVE
    assert h.units == {"sku_a": 2, "sku_b": 1}
    assert h.items == (HoldItem(ItemKind.SKU, "sku_a", 2), HoldItem(ItemKind.SKU, "sku_b", 1))
    assert h.created_at == T0
    assert h.expires_at == T0 + TTL
    assert h.extended is False
    assert h.idempotency_key == "k1"
    assert h.fingerprint == "f"
    assert h.attribution == {"stream": "s1"}
    assert await e.get_hold(h.id) == h
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_a"].held) == (8, 2)
    assert (counts["sku_b"].remaining, counts["sku_b"].held) == (4, 1)
    assert await e.get_hold("hld_unknown") is None


async def test_hold_times_keep_full_precision(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    now = T0 + 0.123456789
    h = await e.place_hold(req({"sku_a": 1}, ttl=7), now)
    assert h.created_at == now
    assert h.expires_at == now + 7
    paying = await e.start_payment(h.id, now + 1.000001, 300)
    assert paying.expires_at == min(now + 1.000001 + 300, now + 300)
    assert await e.get_hold(h.id) == paying


async def test_invalid_units_refused(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    with pytest.raises(InvalidInput):
        await e.place_hold(req({}), T0)
    with pytest.raises(InvalidInput):
        await e.place_hold(req({"sku_a": 0}), T0)
    assert await remaining(e, "sku_a") == 10


async def test_sold_out_vs_insufficient_stock(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 3}))
    with pytest.raises(InsufficientStock) as info:
        await e.place_hold(req({"sku_a": 4}), T0)
    assert info.value.extra == {"sku_id": "sku_a", "remaining": 3}
    await e.place_hold(req({"sku_a": 3}), T0)
    with pytest.raises(SoldOut) as sold:
        await e.place_hold(req({"sku_a": 1}, buyer="b2"), T0)
    assert sold.value.extra == {"sku_id": "sku_a"}
    assert sold.value.code == "sold_out"


async def test_unknown_sku_is_not_found(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    with pytest.raises(NotFound) as info:
        await e.place_hold(req({"sku_a": 1, "sku_zzz": 1}), T0)
    assert info.value.extra == {"sku_id": "sku_zzz"}
    assert await remaining(e, "sku_a") == 10


async def test_paused_sku_and_closed_drop(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot(paused=frozenset({"sku_b"})))
    with pytest.raises(DropNotLive) as info:
        await e.place_hold(req({"sku_a": 1, "sku_b": 1}), T0)
    assert info.value.extra == {"sku_id": "sku_b"}
    assert "paused" in info.value.detail
    assert (await e.counts(DROP))["sku_b"].paused is True
    await e.set_sku_paused(DROP, "sku_b", False)
    assert (await e.counts(DROP))["sku_b"].paused is False
    await e.place_hold(req({"sku_b": 1}), T0)

    await e.set_accepting(DROP, False)
    with pytest.raises(DropNotLive):
        await e.place_hold(req({"sku_a": 1}, buyer="b2"), T0)
    await e.set_accepting(DROP, True)
    await e.place_hold(req({"sku_a": 1}, buyer="b2"), T0)
    assert await remaining(e, "sku_a") == 9
    with pytest.raises(NotFound):
        await e.set_sku_paused(DROP, "sku_zzz", True)


async def test_not_accepting_from_snapshot(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot(accepting=False))
    with pytest.raises(DropNotLive):
        await e.place_hold(req({"sku_a": 1}), T0)


async def test_multi_sku_is_all_or_none(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 5, "sku_b": 1}))
    await e.place_hold(req({"sku_b": 1}, buyer="b0"), T0)
    with pytest.raises(SoldOut) as info:
        await e.place_hold(req({"sku_a": 2, "sku_b": 1}), T0)
    assert info.value.extra["sku_id"] == "sku_b"
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_a"].held) == (5, 0)
    assert (counts["sku_b"].remaining, counts["sku_b"].held) == (0, 1)


# ---------------------------------------------------------------- idempotency


async def test_idempotent_replay_returns_same_hold(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h1 = await e.place_hold(req({"sku_a": 1}, key="tap-1", fingerprint="fp1"), T0)
    h2 = await e.place_hold(req({"sku_a": 1}, key="tap-1", fingerprint="fp1"), T0 + 1)
    assert h2 == h1
    assert await remaining(e, "sku_a") == 9
    with pytest.raises(IdempotencyMismatch):
        await e.place_hold(req({"sku_a": 2}, key="tap-1", fingerprint="fp2"), T0 + 1)
    # the key is scoped to the buyer
    other = await e.place_hold(req({"sku_a": 1}, buyer="b2", key="tap-1", fingerprint="x"), T0)
    assert other.id != h1.id
    # without a key every call is a new hold
    a = await e.place_hold(req({"sku_a": 1}), T0)
    b = await e.place_hold(req({"sku_a": 1}), T0)
    assert a.id != b.id
    assert await remaining(e, "sku_a") == 6


async def test_idempotent_replay_after_conversion_and_expiry(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h1 = await e.place_hold(req({"sku_a": 1}, key="k-conv", fingerprint="f"), T0)
    await e.convert(h1.id, T0 + 1)
    replay = await e.place_hold(req({"sku_a": 1}, key="k-conv", fingerprint="f"), T0 + 2)
    assert replay.id == h1.id
    assert replay.status == HoldStatus.CONVERTED

    h2 = await e.place_hold(req({"sku_a": 1}, key="k-exp", fingerprint="f"), T0)
    await e.expire_due(T0 + TTL)
    replay2 = await e.place_hold(req({"sku_a": 1}, key="k-exp", fingerprint="f"), T0 + TTL + 1)
    assert replay2.id == h2.id
    assert replay2.status == HoldStatus.EXPIRED
    assert await remaining(e, "sku_a") == 9
    # a replay is answered even once the drop stopped accepting holds
    await e.set_accepting(DROP, False)
    again = await e.place_hold(req({"sku_a": 1}, key="k-conv", fingerprint="f"), T0 + 3)
    assert again.id == h1.id


# ---------------------------------------------------------------- limits


async def test_limit_counts_holds_conversions_and_takes(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 100}, limits={"sku_a": 3}))
    h1 = await e.place_hold(req({"sku_a": 1}), T0)
    await e.place_hold(req({"sku_a": 1}), T0)
    with pytest.raises(LimitExceeded) as info:
        await e.place_hold(req({"sku_a": 2}), T0)
    assert info.value.extra == {"sku_id": "sku_a", "limit": 3, "already": 2}
    await e.convert(h1.id, T0 + 1)
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_a": 2}), T0)
    assert await e.take(DROP, "buyer_1", {"sku_a": 1}) is True
    with pytest.raises(LimitExceeded) as info2:
        await e.place_hold(req({"sku_a": 1}), T0)
    assert info2.value.extra["already"] == 3
    # another buyer is not affected
    await e.place_hold(req({"sku_a": 3}, buyer="b2"), T0)


async def test_limit_is_given_back_on_release_and_expiry(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 100}, limits={"sku_a": 2}))
    h1 = await e.place_hold(req({"sku_a": 2}), T0)
    await e.release(h1.id, T0 + 1)
    h2 = await e.place_hold(req({"sku_a": 2}), T0 + 1)
    assert h2.status == HoldStatus.ACTIVE
    await e.expire_due(T0 + 1 + TTL)
    await e.place_hold(req({"sku_a": 2}), T0 + 200)
    assert await remaining(e, "sku_a") == 98


async def test_limit_includes_ledger_purchases(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(
        snapshot({"sku_a": 10}, limits={"sku_a": 2}, buyer_taken={"buyer_1": {"sku_a": 2}})
    )
    with pytest.raises(LimitExceeded) as info:
        await e.place_hold(req({"sku_a": 1}), T0)
    assert info.value.extra == {"sku_id": "sku_a", "limit": 2, "already": 2}


async def test_adjust_offer(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 3}))
    await e.adjust_offer(DROP, "sku_a", 2, None)
    assert await remaining(e, "sku_a") == 5
    await e.adjust_offer(DROP, "sku_a", -100, None)
    assert await remaining(e, "sku_a") == 0
    await e.adjust_offer(DROP, "sku_new", 4, 1)
    counts = await e.counts(DROP)
    assert counts["sku_new"] == counts["sku_new"].__class__(remaining=4, held=0, paused=False)
    await e.place_hold(req({"sku_new": 1}), T0)
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_new": 1}), T0)
    await e.adjust_offer(DROP, "sku_new", 0, 5)
    await e.place_hold(req({"sku_new": 1}), T0)
    assert await remaining(e, "sku_new") == 2
    with pytest.raises(DropNotLoaded):
        await e.adjust_offer("drp_nope", "sku_a", 1, None)


async def test_units_given_back_by_a_buyer_are_credited_to_their_limit(harness: Harness) -> None:
    """A cancelled order's units come back with the buyer named: the same step gives
    the units to the offer and takes them off that buyer's usage (never below zero,
    never another buyer's), whether the usage came from a converted hold or the ledger."""
    e = harness.engine
    await e.ensure_drop(
        snapshot({"sku_a": 10}, limits={"sku_a": 2}, buyer_taken={"buyer_1": {"sku_a": 1}})
    )
    h = await e.place_hold(req({"sku_a": 1}), T0)
    assert await e.convert(h.id, T0 + 1) is not None
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_a": 1}), T0 + 1)
    await e.adjust_offer(DROP, "sku_a", 1, 2, buyer_id="buyer_1")  # one order cancelled
    assert await remaining(e, "sku_a") == 10
    await e.place_hold(req({"sku_a": 1}), T0 + 2)
    with pytest.raises(LimitExceeded) as info:
        await e.place_hold(req({"sku_a": 1}), T0 + 2)
    assert info.value.extra["already"] == 2
    # A credit beyond the usage empties it; it does not go negative.
    await e.adjust_offer(DROP, "sku_a", 5, 2, buyer_id="buyer_1")
    await e.place_hold(req({"sku_a": 2}), T0 + 3)
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_a": 1}), T0 + 3)
    # Another buyer's usage is untouched, and so is anyone's without a buyer named.
    await e.place_hold(req({"sku_a": 2}, buyer="b2"), T0 + 3)
    await e.adjust_offer(DROP, "sku_a", 1, 2, buyer_id="buyer_1")
    await e.adjust_offer(DROP, "sku_a", 1, 2)
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_a": 1}, buyer="b2"), T0 + 3)
    await e.place_hold(req({"sku_a": 1}), T0 + 3)  # buyer_1 got one back above
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_a": 1}), T0 + 3)
    assert await remaining(e, "sku_a") == 11


async def test_a_limit_change_alone_applies_to_the_next_hold(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 10}, limits={"sku_a": 1}))
    await e.place_hold(req({"sku_a": 1}), T0)
    with pytest.raises(LimitExceeded):
        await e.place_hold(req({"sku_a": 1}), T0)
    await e.adjust_offer(DROP, "sku_a", 0, 3)
    await e.place_hold(req({"sku_a": 2}), T0)
    with pytest.raises(LimitExceeded) as info:
        await e.place_hold(req({"sku_a": 1}), T0)
    assert info.value.extra == {"sku_id": "sku_a", "limit": 3, "already": 3}
    await e.adjust_offer(DROP, "sku_a", 0, None)
    await e.place_hold(req({"sku_a": 4}), T0)
    assert await remaining(e, "sku_a") == 3


# ---------------------------------------------------------------- expiry


async def test_expiry_returns_units_exactly_once(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 5}))
    h1 = await e.place_hold(req({"sku_a": 2}), T0)
    h2 = await e.place_hold(req({"sku_a": 1}, buyer="b2", ttl=30), T0)
    assert await e.expire_due(T0 + 29) == []
    first = await e.expire_due(T0 + 30)
    assert [h.id for h in first] == [h2.id]
    assert first[0].status == HoldStatus.EXPIRED
    assert await remaining(e, "sku_a") == 3
    late = await e.expire_due(T0 + 1000)
    assert [h.id for h in late] == [h1.id]
    assert await e.expire_due(T0 + 2000) == []
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_a"].held) == (5, 0)
    got = await e.get_hold(h1.id)
    assert got is not None
    assert got.status == HoldStatus.EXPIRED


async def test_expiry_respects_limit(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 10}))
    for i in range(5):
        await e.place_hold(req({"sku_a": 1}, buyer=f"b{i}"), T0 + i)
    assert len(await e.expire_due(T0 + 500, limit=2)) == 2
    assert len(await e.expire_due(T0 + 500, limit=10)) == 3
    assert await remaining(e, "sku_a") == 10


async def test_concurrent_sweepers_expire_each_hold_once(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 50}))
    for i in range(50):
        await e.place_hold(req({"sku_a": 1}, buyer=f"b{i}"), T0)
    others = [harness.make() for _ in range(3)] if harness.kind == "redis" else [e, e, e]
    results = await asyncio.gather(*(x.expire_due(T0 + TTL, limit=1000) for x in [e, *others]))
    ids = [h.id for batch in results for h in batch]
    assert len(ids) == 50
    assert len(set(ids)) == 50
    assert await remaining(e, "sku_a") == 50


async def test_released_hold_is_not_expired_later(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 5}))
    h = await e.place_hold(req({"sku_a": 2}), T0)
    await e.release(h.id, T0 + 1)
    assert await e.expire_due(T0 + 1000) == []
    assert await remaining(e, "sku_a") == 5


async def test_terminal_holds_are_kept_an_hour_then_forgotten(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 1}, key="k", fingerprint="f"), T0)
    await e.release(h.id, T0 + 10)
    await e.expire_due(T0 + 10 + 3599)
    kept = await e.get_hold(h.id)
    assert kept is not None
    assert kept.status == HoldStatus.RELEASED
    await e.expire_due(T0 + 10 + 3600)
    assert await e.get_hold(h.id) is None
    # the idempotency key went with it: the same key now places a new hold
    fresh = await e.place_hold(req({"sku_a": 1}, key="k", fingerprint="other"), T0 + 4000)
    assert fresh.id != h.id
    assert fresh.status == HoldStatus.ACTIVE


# ---------------------------------------------------------------- payment / extension


async def test_start_payment_extends_once_up_to_cap(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 1}), T0)
    paying = await e.start_payment(h.id, T0 + 60, CAP)
    assert paying.status == HoldStatus.PAYING
    assert paying.extended is True
    assert paying.expires_at == T0 + CAP  # min(now + cap, created + cap)
    again = await e.start_payment(h.id, T0 + 100, CAP)
    assert again == paying
    # the old expiry no longer expires it
    assert await e.expire_due(T0 + TTL) == []
    assert await held(e, "sku_a") == 1
    expired = await e.expire_due(T0 + CAP)
    assert [x.id for x in expired] == [h.id]
    assert await remaining(e, "sku_a") == 10


async def test_start_payment_never_shortens(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 1}, ttl=600), T0)
    paying = await e.start_payment(h.id, T0 + 1, CAP)
    assert paying.expires_at == T0 + 600
    assert paying.extended is True


async def test_start_payment_past_expiry_expires_now(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 3}), T0)
    with pytest.raises(HoldExpired):
        await e.start_payment(h.id, T0 + TTL, CAP)
    assert await remaining(e, "sku_a") == 10
    got = await e.get_hold(h.id)
    assert got is not None
    assert got.status == HoldStatus.EXPIRED
    assert await e.expire_due(T0 + 10_000) == []
    with pytest.raises(NotFound):
        await e.start_payment("hld_nope", T0, CAP)


async def test_start_payment_on_finished_holds(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    r = await e.place_hold(req({"sku_a": 1}), T0)
    await e.release(r.id, T0)
    with pytest.raises(HoldNotActive):
        await e.start_payment(r.id, T0, CAP)
    c = await e.place_hold(req({"sku_a": 1}), T0)
    await e.convert(c.id, T0)
    with pytest.raises(HoldNotActive):
        await e.start_payment(c.id, T0, CAP)


async def test_release_semantics(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 4}), T0)
    await e.start_payment(h.id, T0 + 1, CAP)
    released = await e.release(h.id, T0 + 2)
    assert released.status == HoldStatus.RELEASED
    assert await remaining(e, "sku_a") == 10
    assert await held(e, "sku_a") == 0
    with pytest.raises(HoldNotActive):
        await e.release(h.id, T0 + 3)
    late = await e.place_hold(req({"sku_a": 1}), T0)
    with pytest.raises(HoldExpired):
        await e.release(late.id, T0 + TTL + 5)
    assert await remaining(e, "sku_a") == 10
    with pytest.raises(NotFound):
        await e.release("hld_nope", T0)


# ---------------------------------------------------------------- convert / take


async def test_convert_semantics(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h = await e.place_hold(req({"sku_a": 2}), T0)
    await e.start_payment(h.id, T0 + 1, CAP)
    conv = await e.convert(h.id, T0 + 2)
    assert conv is not None
    assert conv.status == HoldStatus.CONVERTED
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_a"].held) == (8, 0)
    assert await e.convert(h.id, T0 + 3) == conv
    assert await e.expire_due(T0 + 10_000) == []
    assert await remaining(e, "sku_a") == 8

    active = await e.place_hold(req({"sku_a": 1}), T0)
    assert (await e.convert(active.id, T0 + 1)) is not None

    late = await e.place_hold(req({"sku_a": 1}), T0)
    assert await e.convert(late.id, T0 + TTL) is None
    got = await e.get_hold(late.id)
    assert got is not None
    assert got.status == HoldStatus.EXPIRED
    rel = await e.place_hold(req({"sku_a": 1}), T0)
    await e.release(rel.id, T0)
    assert await e.convert(rel.id, T0) is None
    assert await e.convert("hld_nope", T0) is None
    assert await remaining(e, "sku_a") == 7


async def test_take_semantics(harness: Harness) -> None:
    """A late payment's units: taken all or none, whatever the pauses and whether the
    drop accepts holds; never past a per-buyer limit."""
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 3, "sku_b": 1}, limits={"sku_a": 2}))
    await e.set_accepting(DROP, False)
    await e.set_sku_paused(DROP, "sku_a", True)
    assert await e.take(DROP, "buyer_1", {"sku_a": 2, "sku_b": 1}) is True
    assert await e.take(DROP, "buyer_1", {"sku_a": 1, "sku_b": 1}) is False
    assert await e.take(DROP, "buyer_1", {"sku_zzz": 1}) is False
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_b"].remaining) == (1, 0)
    await e.set_accepting(DROP, True)
    await e.set_sku_paused(DROP, "sku_a", False)
    with pytest.raises(LimitExceeded) as info:
        await e.place_hold(req({"sku_a": 1}), T0)
    assert info.value.extra["already"] == 2


async def test_take_respects_the_per_buyer_limit(harness: Harness) -> None:
    """Taking afresh counts the buyer's live holds, conversions and earlier takes, as a
    hold would; a refusal changes nothing, and stock is checked before the limit."""
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 10, "sku_b": 10}, limits={"sku_a": 2}))
    held = await e.place_hold(req({"sku_a": 1}), T0)
    before = await e.counts(DROP)
    with pytest.raises(LimitExceeded) as info:
        await e.take(DROP, "buyer_1", {"sku_a": 2, "sku_b": 1})
    assert info.value.extra == {"sku_id": "sku_a", "limit": 2, "already": 1}
    assert await e.counts(DROP) == before  # all or none: sku_b was not taken either
    assert await e.take(DROP, "buyer_1", {"sku_a": 1, "sku_b": 5}) is True
    with pytest.raises(LimitExceeded):
        await e.take(DROP, "buyer_1", {"sku_a": 1})
    # another buyer is not affected; no unit left beats the limit
    assert await e.take(DROP, "buyer_2", {"sku_a": 2}) is True
    assert await e.take(DROP, "buyer_1", {"sku_b": 9}) is False
    # the buyer's hold released: its unit no longer counts
    await e.release(held.id, T0 + 1)
    assert await e.take(DROP, "buyer_1", {"sku_a": 1}) is True
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_b"].remaining) == (6, 5)


# ---------------------------------------------------------------- journal


async def test_event_journal(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    h1 = await e.place_hold(req({"sku_a": 1}), T0)
    await e.start_payment(h1.id, T0 + 1, CAP)
    await e.start_payment(h1.id, T0 + 2, CAP)  # no-op: no event
    await e.convert(h1.id, T0 + 3)
    h2 = await e.place_hold(req({"sku_a": 1}, buyer="b2"), T0 + 4)
    await e.release(h2.id, T0 + 5)
    h3 = await e.place_hold(req({"sku_a": 1}, buyer="b3"), T0 + 6)
    await e.expire_due(T0 + 6 + TTL)
    with pytest.raises(InsufficientStock):  # a refused hold journals nothing
        await e.place_hold(req({"sku_b": 99}), T0)

    events = await e.read_events()
    assert [(ev.type, ev.hold.id) for ev in events] == [
        ("hold.placed", h1.id),
        ("hold.paying", h1.id),
        ("hold.converted", h1.id),
        ("hold.placed", h2.id),
        ("hold.released", h2.id),
        ("hold.placed", h3.id),
        ("hold.expired", h3.id),
    ]
    assert [ev.at for ev in events] == [T0, T0 + 1, T0 + 3, T0 + 4, T0 + 5, T0 + 6, T0 + 6 + TTL]
    assert events[1].hold.status == HoldStatus.PAYING
    assert events[1].hold.expires_at == T0 + CAP
    assert events[2].hold.status == HoldStatus.CONVERTED
    assert all(ev.id.startswith("evt_") for ev in events)
    assert len({ev.id for ev in events}) == len(events)
    # reading does not remove
    assert [ev.id for ev in await e.read_events()] == [ev.id for ev in events]
    assert [ev.id for ev in await e.read_events(limit=2)] == [ev.id for ev in events[:2]]
    await e.ack_events([ev.id for ev in events[:3]])
    assert [ev.id for ev in await e.read_events()] == [ev.id for ev in events[3:]]
    await e.ack_events([ev.id for ev in events])  # re-ack is harmless
    await e.ack_events(["evt_unknown", "evt_x.y", "nonsense"])  # so are foreign ids
    assert await e.read_events() == []


async def test_journal_is_bounded(harness: Harness) -> None:
    e = harness.make(max_events=3)
    await e.ensure_drop(snapshot())
    holds: list[Hold] = []
    for i in range(5):
        holds.append(await e.place_hold(req({"sku_a": 1}, buyer=f"b{i}"), T0 + i))
    events = await e.read_events()
    assert [ev.hold.id for ev in events] == [h.id for h in holds[2:]]
    assert await e.events_dropped() == 2
    await e.close()


async def test_events_across_drops(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    await e.ensure_drop(snapshot(drop_id="drp_two"))
    a = await e.place_hold(req({"sku_a": 1}), T0)
    b = await e.place_hold(req({"sku_a": 1}, drop_id="drp_two"), T0 + 1)
    events = await e.read_events()
    assert {ev.hold.id for ev in events} == {a.id, b.id}
    await e.ack_events([ev.id for ev in events if ev.hold.id == b.id])
    assert [ev.hold.id for ev in await e.read_events()] == [a.id]
    await e.forget_drop(DROP)
    # undrained events outlive the drop's state
    assert [ev.hold.id for ev in await e.read_events()] == [a.id]


async def test_end_drop_finishes_every_live_hold_with_its_event(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot())
    await e.ensure_drop(snapshot(drop_id="drp_two"))
    active = await e.place_hold(req({"sku_a": 1}), T0)
    paying = await e.place_hold(req({"sku_a": 2}, buyer="b2"), T0 + 1)
    await e.start_payment(paying.id, T0 + 2, CAP)
    paid = await e.place_hold(req({"sku_b": 1}, buyer="b3"), T0 + 3)
    await e.convert(paid.id, T0 + 4)
    released = await e.place_hold(req({"sku_b": 1}, buyer="b4"), T0 + 5)
    await e.release(released.id, T0 + 6)
    late = await e.place_hold(req({"sku_a": 1}, buyer="b5", ttl=10), T0 + 7)  # due at T0+17
    other = await e.place_hold(req({"sku_a": 1}, drop_id="drp_two"), T0 + 8)
    await e.ack_events([ev.id for ev in await e.read_events()])

    assert await e.end_drop(DROP, T0 + 20) == 3
    events = await e.read_events()
    assert sorted((ev.type, ev.hold.id) for ev in events) == sorted(
        [
            ("hold.released", active.id),
            ("hold.released", paying.id),
            ("hold.expired", late.id),  # its time had passed: expired, not released
        ]
    )
    assert all(ev.at == T0 + 20 for ev in events)
    # the drop is gone (a paying checkout then finds no hold and is refused), the
    # other drop is untouched, and the events outlive the drop until drained
    with pytest.raises(DropNotLoaded):
        await e.counts(DROP)
    assert await e.convert(paying.id, T0 + 21) is None
    assert (await e.get_hold(other.id)).status == HoldStatus.ACTIVE  # type: ignore[union-attr]
    assert await e.end_drop(DROP, T0 + 22) == 0  # ending twice: nothing more


async def test_end_drop_works_through_many_holds(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 1500}))
    for i in range(1200):  # more than one batch of the Redis script
        await e.place_hold(req({"sku_a": 1}, buyer=f"b{i}"), T0)
    await e.ack_events([ev.id for ev in await e.read_events(limit=5000)])
    assert await e.end_drop(DROP, T0 + 1) == 1200
    events = await e.read_events(limit=5000)
    assert len(events) == 1200 and {ev.type for ev in events} == {"hold.released"}


async def test_ping_and_counts_shape(harness: Harness) -> None:
    e = harness.engine
    await e.ping()
    await e.ensure_drop(snapshot({"sku_a": 2}, paused=frozenset({"sku_a"})))
    counts = await e.counts(DROP)
    assert counts["sku_a"].remaining == 2
    assert counts["sku_a"].held == 0
    assert counts["sku_a"].paused is True


# ---------------------------------------------------------------- concurrency


async def test_two_thousand_taps_on_one_hundred_units(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_hot": 100}, limits={"sku_hot": 1}))

    async def tap(i: int) -> Hold | Exception:
        try:
            return await e.place_hold(req({"sku_hot": 1}, buyer=f"buyer_{i}"), T0)
        except (SoldOut, InsufficientStock) as exc:
            return exc

    results = await asyncio.gather(*(tap(i) for i in range(2000)))
    winners = [r for r in results if isinstance(r, Hold)]
    losers = [r for r in results if isinstance(r, SoldOut | InsufficientStock)]
    assert len(winners) == 100
    assert len(losers) == 1900
    assert len({w.id for w in winners}) == 100
    counts = await e.counts(DROP)
    assert (counts["sku_hot"].remaining, counts["sku_hot"].held) == (0, 100)


async def test_bundles_racing_singles_never_overtake(harness: Harness) -> None:
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 50, "sku_b": 1000}))

    async def tap(i: int) -> Hold | None:
        units = {"sku_a": 1, "sku_b": 1} if i % 2 else {"sku_a": 1}
        try:
            return await e.place_hold(req(units, buyer=f"buyer_{i}"), T0)
        except (SoldOut, InsufficientStock):
            return None

    results = await asyncio.gather(*(tap(i) for i in range(400)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 50
    bundles = sum(1 for w in winners if "sku_b" in w.units)
    counts = await e.counts(DROP)
    assert (counts["sku_a"].remaining, counts["sku_a"].held) == (0, 50)
    assert (counts["sku_b"].remaining, counts["sku_b"].held) == (1000 - bundles, bundles)


# ---------------------------------------------------------------- waitlist gate


def claim_req(units: Mapping[str, int], buyer: str) -> HoldRequest:
    r = req(units, buyer=buyer)
    return HoldRequest(
        drop_id=r.drop_id,
        buyer_id=r.buyer_id,
        items=r.items,
        units=r.units,
        ttl_s=r.ttl_s,
        claim=True,
    )


async def test_waitlist_gate_latches_on_the_last_unit(harness: Harness) -> None:
    """An armed gate latches in the same step as the hold that takes the last unit; a
    unit that comes back is then only for a claim hold, and the gate's off switch puts
    it on sale again. Pausing and resuming the SKU leaves the gate as it was."""
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 2}))
    assert await e.set_waitlist_gate(DROP, "sku_a", "arm") == (2, "armed")
    h1 = await e.place_hold(req({"sku_a": 1}, buyer="b1"), T0)
    assert (await e.counts(DROP))["sku_a"].waitlist == "armed"
    await e.place_hold(req({"sku_a": 1}, buyer="b2"), T0)
    assert (await e.counts(DROP))["sku_a"].waitlist == "latched"
    await e.release(h1.id, T0 + 1)
    assert await remaining(e, "sku_a") == 1
    with pytest.raises(SoldOut):
        await e.place_hold(req({"sku_a": 1}, buyer="tapper"), T0 + 2)
    await e.set_sku_paused(DROP, "sku_a", True)
    await e.set_sku_paused(DROP, "sku_a", False)
    c = (await e.counts(DROP))["sku_a"]
    assert c.waitlist == "latched" and not c.paused
    claim = await e.place_hold(claim_req({"sku_a": 1}, "waiter"), T0 + 3)
    assert claim.units == {"sku_a": 1} and await remaining(e, "sku_a") == 0
    with pytest.raises(SoldOut):
        await e.place_hold(claim_req({"sku_a": 1}, "waiter2"), T0 + 3)
    await e.release(claim.id, T0 + 4)
    assert await e.set_waitlist_gate(DROP, "sku_a", "off") == (1, "")
    assert (await e.place_hold(req({"sku_a": 1}, buyer="tapper"), T0 + 5)).units == {"sku_a": 1}


async def test_waitlist_gate_arm_latch_and_restock(harness: Harness) -> None:
    """Arming a sold-out SKU latches at once; ``latch`` latches whatever is left, so
    units a restock adds wait for claims; an unknown SKU is ``NotFound``."""
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 1, "sku_b": 3}))
    await e.place_hold(req({"sku_a": 1}, buyer="b1"), T0)
    assert await e.set_waitlist_gate(DROP, "sku_a", "arm") == (0, "latched")
    assert await e.set_waitlist_gate(DROP, "sku_b", "latch") == (3, "latched")
    await e.adjust_offer(DROP, "sku_a", 2, None)
    with pytest.raises(SoldOut):
        await e.place_hold(req({"sku_a": 1}, buyer="tapper"), T0)
    with pytest.raises(SoldOut):
        await e.place_hold(req({"sku_b": 1}, buyer="tapper"), T0)
    assert (await e.place_hold(claim_req({"sku_a": 2}, "w"), T0)).units == {"sku_a": 2}
    with pytest.raises(NotFound):
        await e.set_waitlist_gate(DROP, "sku_zz", "arm")


async def test_a_late_payment_finds_no_unit_behind_a_latched_gate(harness: Harness) -> None:
    """A payment that outlived its hold (``take``) cannot take a unit that waits for the
    waitlist's line, and taking the last unit latches an armed gate as a hold does."""
    e = harness.engine
    await e.ensure_drop(snapshot({"sku_a": 2}))
    assert await e.set_waitlist_gate(DROP, "sku_a", "arm") == (2, "armed")
    assert await e.take(DROP, "late1", {"sku_a": 1})
    assert (await e.counts(DROP))["sku_a"].waitlist == "armed"
    assert await e.take(DROP, "late2", {"sku_a": 1})
    assert (await e.counts(DROP))["sku_a"].waitlist == "latched"
    await e.adjust_offer(DROP, "sku_a", 1, None)  # a unit comes back
    assert await remaining(e, "sku_a") == 1
    assert not await e.take(DROP, "late3", {"sku_a": 1})
    assert await remaining(e, "sku_a") == 1
    claim = await e.place_hold(claim_req({"sku_a": 1}, "waiter"), T0)
    assert claim.units == {"sku_a": 1}
