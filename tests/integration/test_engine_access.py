"""Access windows and rate limits in every engine (memory, Redis, Redis Cluster).

The same rules (``domain/live/access.py``, ``domain/live/rate_limits.py``) checked where
the stock is taken: a buyer whose window has not opened is refused with the time it
opens, the opened windows' allocations cap what is taken and their leftovers flow on,
and the buckets refuse with a ``retry_after_s``. Time is passed explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from dropline.domain.errors import (
    RateLimited,
    SoldOut,
    TokenTooOld,
    WindowClosed,
    WindowSoldOut,
)
from dropline.domain.live.access import AccessPolicy, AccessWindow
from dropline.domain.live.holds import HoldItem, HoldRequest, ItemKind
from dropline.domain.live.rate_limits import CHECKOUTS, RateLimits
from dropline.engine import MemoryEngine
from dropline.engine.redis_engine import RedisEngine
from dropline.services.ports import DropSnapshot, EngineOffer, StockEngine
from prod_support import lose_redis_data, unique_prefix

T0 = 1_800_000_000.0
DROP = "drp_access"
GOLD = AccessWindow(T0 + 100, ("gold",), {"sku_a": 3})
MEMBERS = AccessWindow(T0 + 200, ("*",), {"sku_a": 2})
PUBLIC = AccessWindow(T0 + 300)


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[StockEngine]:
    if request.param == "memory":
        yield MemoryEngine()
        return
    if request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_url")
        prefix = unique_prefix()
        eng = RedisEngine(url, prefix=prefix)
        try:
            yield eng
        finally:
            await eng.close()
            await lose_redis_data(url, prefix)
        return
    url = request.getfixturevalue("redis_url")
    admin = aioredis.Redis.from_url(url)
    await admin.flushdb()
    eng = RedisEngine(url)
    try:
        yield eng
    finally:
        await eng.close()
        await admin.flushdb()
        await admin.aclose()


def snap(policy: AccessPolicy, units: int = 10, sold: int = 0) -> DropSnapshot:
    return DropSnapshot(
        DROP,
        True,
        {"sku_a": EngineOffer("sku_a", units), "sku_b": EngineOffer("sku_b", units)},
        access=policy,
        sold={"sku_a": sold} if sold else {},
    )


def req(
    buyer: str = "b1", tiers: tuple[str, ...] = (), qty: int = 1, sku: str = "sku_a", **kw: Any
) -> HoldRequest:
    return HoldRequest(
        DROP,
        buyer,
        (HoldItem(ItemKind.SKU, sku, qty),),
        {sku: qty},
        90,
        tiers=frozenset(tiers),
        **kw,
    )


WINDOWS = AccessPolicy((GOLD, MEMBERS, PUBLIC))


async def test_a_window_not_yet_open_refuses_with_its_opening_time(engine: StockEngine) -> None:
    await engine.reset_drop(snap(WINDOWS))
    with pytest.raises(WindowClosed) as gold_early:
        await engine.place_hold(req(tiers=("gold",)), T0 + 99)
    assert gold_early.value.extra["opens_at"] == "2027-01-15T08:01:40Z"
    with pytest.raises(WindowClosed) as member:
        await engine.place_hold(req(tiers=("silver",)), T0 + 150)
    assert member.value.extra["opens_at"] == "2027-01-15T08:03:20Z"
    with pytest.raises(WindowClosed) as public:
        await engine.place_hold(req(), T0 + 299.9)
    assert public.value.extra["opens_at"] == "2027-01-15T08:05:00Z"
    assert (await engine.place_hold(req(tiers=("gold",)), T0 + 100)).units == {"sku_a": 1}
    assert (await engine.place_hold(req("b2"), T0 + 300)).units == {"sku_a": 1}
    stats = await engine.access_stats(DROP)
    assert stats == {"window_closed": 3}


async def test_members_only_drop_refuses_the_public_with_no_opening(engine: StockEngine) -> None:
    await engine.reset_drop(snap(AccessPolicy((GOLD,))))
    with pytest.raises(WindowClosed) as exc:
        await engine.place_hold(req(), T0 + 1000)
    assert exc.value.extra["opens_at"] is None


async def test_allocations_cap_each_window_and_leftovers_flow_on(engine: StockEngine) -> None:
    await engine.reset_drop(snap(WINDOWS, units=10))
    # gold: 3 units of sku_a; sku_b is not allocated to gold at all
    held = [await engine.place_hold(req(f"g{i}", ("gold",)), T0 + 101) for i in range(2)]
    with pytest.raises(WindowSoldOut) as b_none:
        await engine.place_hold(req("g9", ("gold",), sku="sku_b"), T0 + 101)
    assert b_none.value.extra["remaining"] == 0
    with pytest.raises(WindowSoldOut) as over:
        await engine.place_hold(req("g3", ("gold",), qty=2), T0 + 101)
    assert over.value.extra == {
        "sku_id": "sku_a",
        "remaining": 1,
        "next_window_at": "2027-01-15T08:03:20Z",
    }
    # a released hold gives its unit back to the window
    await engine.release(held[0].id, T0 + 102)
    await engine.place_hold(req("g4", ("gold",), qty=2), T0 + 103)
    with pytest.raises(WindowSoldOut):
        await engine.place_hold(req("g5", ("gold",)), T0 + 104)
    # members open: gold left nothing, so 2 more (3 + 2 in all); a gold buyer is a member
    await engine.place_hold(req("m1", ("silver",), qty=2), T0 + 200)
    with pytest.raises(WindowSoldOut):
        await engine.place_hold(req("g6", ("gold",)), T0 + 201)
    # the public window has no allocation: everything left
    await engine.place_hold(req("p1", qty=5), T0 + 300)
    with pytest.raises(SoldOut):
        await engine.place_hold(req("p2"), T0 + 301)


async def test_units_sold_before_a_reload_count_against_the_windows(engine: StockEngine) -> None:
    await engine.reset_drop(snap(WINDOWS, units=8, sold=2))
    await engine.place_hold(req("g1", ("gold",)), T0 + 101)
    with pytest.raises(WindowSoldOut):
        await engine.place_hold(req("g2", ("gold",)), T0 + 101)


async def test_windows_set_on_a_loaded_drop_apply_at_once(engine: StockEngine) -> None:
    await engine.reset_drop(snap(AccessPolicy()))
    await engine.place_hold(req("x"), T0)
    await engine.set_access(DROP, WINDOWS)
    with pytest.raises(WindowClosed):
        await engine.place_hold(req("y"), T0 + 1)
    await engine.set_access(DROP, AccessPolicy())
    await engine.place_hold(req("y"), T0 + 1)


async def test_hold_rate_limits_per_buyer_and_per_address(engine: StockEngine) -> None:
    limits = RateLimits(holds_per_buyer=2, holds_per_address=3)
    await engine.reset_drop(snap(AccessPolicy(limits=limits), units=100))
    await engine.place_hold(req("b1", client="10.0.0.1"), T0)
    await engine.place_hold(req("b1", client="10.0.0.1"), T0)
    with pytest.raises(RateLimited) as buyer:
        await engine.place_hold(req("b1", client="10.0.0.2"), T0)
    assert buyer.value.extra == {"retry_after_s": 30}  # 2 a minute: one every 30 s
    await engine.place_hold(req("b2", client="10.0.0.1"), T0)
    with pytest.raises(RateLimited) as address:
        await engine.place_hold(req("b3", client="10.0.0.1"), T0)
    assert address.value.extra == {"retry_after_s": 20}
    # a refused attempt took no token: b3 may still go from another address
    await engine.place_hold(req("b3", client="10.0.0.9"), T0)
    # the buckets refill: 30 s later b1 has one token again
    await engine.place_hold(req("b1", client="10.0.0.2"), T0 + 30)
    assert (await engine.access_stats(DROP))["rate_limited"] == 2


async def test_checkout_rate_limit(engine: StockEngine) -> None:
    limits = RateLimits(checkouts_per_buyer=1)
    await engine.reset_drop(snap(AccessPolicy(limits=limits)))
    await engine.rate_check(DROP, CHECKOUTS, "b1", "10.0.0.1", None, T0)
    with pytest.raises(RateLimited) as exc:
        await engine.rate_check(DROP, CHECKOUTS, "b1", "10.0.0.1", None, T0 + 1)
    assert exc.value.extra == {"retry_after_s": 59}
    await engine.rate_check(DROP, CHECKOUTS, "b2", "10.0.0.1", None, T0 + 1)
    await engine.note_refusal(DROP, "token_too_old")
    assert await engine.access_stats(DROP) == {"rate_limited": 1, "token_too_old": 1}


async def test_a_token_older_than_the_drop_allows_is_refused(engine: StockEngine) -> None:
    limits = RateLimits(token_max_age_s=600, holds_per_buyer=1)
    await engine.reset_drop(snap(AccessPolicy(limits=limits)))
    with pytest.raises(TokenTooOld) as old:
        await engine.place_hold(req(issued_at=T0 - 601), T0)
    assert old.value.extra == {"max_age_s": 600}
    with pytest.raises(TokenTooOld):  # no iat: its age cannot be known
        await engine.place_hold(req(), T0)
    with pytest.raises(TokenTooOld):
        await engine.rate_check(DROP, CHECKOUTS, "b1", "", T0 - 700, T0)
    # the refused attempts took no token: the buyer's one hold still goes through
    await engine.place_hold(req(issued_at=T0 - 600), T0)
    assert (await engine.access_stats(DROP)) == {"token_too_old": 3}


async def test_a_waitlist_claim_is_held_to_the_buyers_window_and_the_allocations(
    engine: StockEngine,
) -> None:
    """A claim (placed by the waitlist with the tiers the buyer joined with, and no
    token) skips the token age and the rate limits, not the windows: it is refused
    before the buyer's window opens, so a public buyer's claim never takes the gold
    window's units, and it never takes more than the opened windows release."""
    limits = RateLimits(holds_per_buyer=1, token_max_age_s=60)
    await engine.reset_drop(snap(AccessPolicy((GOLD, MEMBERS, PUBLIC), limits), units=6))
    for i in range(2):
        await engine.place_hold(req(f"g{i}", ("gold",), issued_at=T0 + 100), T0 + 101)
    # gold's last unit: neither a public buyer's claim nor a member's may take it
    with pytest.raises(WindowClosed) as public:
        await engine.place_hold(req("pub", claim=True), T0 + 102)
    assert public.value.extra["opens_at"] == "2027-01-15T08:05:00Z"
    with pytest.raises(WindowClosed):
        await engine.place_hold(req("mem", ("silver",), claim=True), T0 + 102)
    assert (await engine.counts(DROP))["sku_a"].remaining == 4
    # a gold buyer's claim takes it, with no token
    ann = await engine.place_hold(req("ann", ("gold",), claim=True), T0 + 102)
    assert ann.units == {"sku_a": 1}
    # gold's 3 are taken: the next claim waits (the same refusal a hold gets)
    with pytest.raises(WindowSoldOut):
        await engine.place_hold(req("bo", ("gold",), claim=True), T0 + 103)
    with pytest.raises(TokenTooOld):
        await engine.place_hold(req("bo", ("gold",)), T0 + 103)
    # the members' window releases 2 more: the member's claims (two in a second: claims
    # are not counted against the hold rate), not yet the public's
    for _ in range(2):
        await engine.place_hold(req("mem", ("silver",), claim=True), T0 + 200)
    with pytest.raises(WindowClosed):
        await engine.place_hold(req("pub", claim=True), T0 + 201)
    claim = await engine.place_hold(req("pub", claim=True), T0 + 300)
    assert claim.units == {"sku_a": 1}
    assert (await engine.counts(DROP))["sku_a"].remaining == 0
    refusals = await engine.access_stats(DROP)
    assert refusals == {"window_closed": 3, "window_sold_out": 1, "token_too_old": 1}
