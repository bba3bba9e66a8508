"""The pure rules of access windows and rate limits (``domain/live/access.py``,
``domain/live/rate_limits.py``): who is admitted when, what the opened windows release,
the windows' validation, the tiers claim, and the token bucket."""

from __future__ import annotations

import math

import pytest

from dropline.domain.errors import InvalidInput, WindowAllocation, WindowOrder, WindowTier
from dropline.domain.live.access import (
    AccessWindow,
    caps,
    check_windows,
    decide,
    next_start,
    opens_for,
    token_tiers,
)
from dropline.domain.live.rate_limits import (
    Bucket,
    RateLimits,
    check_limits,
    refill,
    take,
    token_too_old,
)

GOLD = AccessWindow(100.0, ("gold",), {"a": 3, "b": 1})
MEMBERS = AccessWindow(200.0, ("*",), {"a": 2})
PUBLIC = AccessWindow(300.0)
WINDOWS = (GOLD, MEMBERS, PUBLIC)


def test_who_is_admitted_from_when() -> None:
    assert opens_for(WINDOWS, frozenset({"gold"})) == 100.0
    assert opens_for(WINDOWS, frozenset({"silver"})) == 200.0  # "*": any tier
    assert opens_for(WINDOWS, frozenset()) == 300.0
    assert opens_for((GOLD,), frozenset()) is None  # members only
    assert opens_for((GOLD,), frozenset({"gold", "vip"})) == 100.0
    assert next_start(WINDOWS, 150.0) == 200.0 and next_start(WINDOWS, 300.0) is None


def test_the_opened_windows_release_their_allocations_summed() -> None:
    assert caps(WINDOWS, 99.0) == {}
    assert caps(WINDOWS, 100.0) == {"a": 3, "b": 1}
    assert caps(WINDOWS, 250.0) == {"a": 5, "b": 1}
    assert caps(WINDOWS, 300.0) == {"*": math.inf}


def test_decide() -> None:
    gold = frozenset({"gold"})
    closed = decide(WINDOWS, frozenset(), 299.9, {}, ["a"])
    assert closed.closed and closed.opens_at == 300.0
    d = decide(WINDOWS, gold, 150.0, {"a": 2}, ["a", "b", "c"])
    assert not d.closed and d.caps == {"a": 1, "b": 1, "c": 0} and d.next_at == 200.0
    # leftovers flow on: gold sold 1 of 3, the members' window adds 2 more
    assert decide(WINDOWS, gold, 200.0, {"a": 1}, ["a"]).caps == {"a": 4}
    assert decide(WINDOWS, gold, 150.0, {"a": 9}, ["a"]).caps == {"a": 0}  # never negative
    assert decide(WINDOWS, frozenset(), 300.0, {"a": 99}, ["a"]).caps == {}
    assert not decide((), frozenset(), 0.0, {}, ["a"]).closed


def test_windows_are_validated_against_the_offer() -> None:
    offered = {"a": 10, "b": 1}
    assert check_windows(WINDOWS, offered) == WINDOWS
    with pytest.raises(WindowOrder):
        check_windows((MEMBERS, GOLD), offered)
    with pytest.raises(WindowOrder):  # the same start twice
        check_windows((GOLD, AccessWindow(100.0)), offered)
    with pytest.raises(WindowTier):
        check_windows((AccessWindow(1.0, ("Gold Members",)),), offered)
    with pytest.raises(WindowAllocation) as over:
        check_windows((GOLD, AccessWindow(200.0, ("*",), {"b": 1})), offered)
    assert over.value.extra["sku_id"] == "b" and over.value.extra["allocated"] == 2
    with pytest.raises(WindowAllocation):
        check_windows((AccessWindow(1.0, (), {"zzz": 1}),), offered)
    with pytest.raises(WindowAllocation):
        check_windows((AccessWindow(1.0, (), {"a": -1}),), offered)
    with pytest.raises(InvalidInput):
        check_windows((AccessWindow(-5.0),), offered)
    with pytest.raises(WindowOrder):
        check_windows(tuple(AccessWindow(float(i)) for i in range(11)), offered)


@pytest.mark.parametrize("claim", ["gold", [1], ["gold", None], ["Gold"], {"gold": 1}, [""]])
def test_a_tiers_claim_must_be_a_list_of_tier_names(claim: object) -> None:
    with pytest.raises(ValueError, match="tier"):
        token_tiers(claim)


def test_tiers_claim_absent_or_valid() -> None:
    assert token_tiers(None) == frozenset()
    assert token_tiers([]) == frozenset()
    assert token_tiers(["gold", "vip-2026", "gold"]) == frozenset({"gold", "vip-2026"})


def test_the_token_bucket() -> None:
    assert refill(None, 6, 0.0) == 6.0
    assert refill(Bucket(0.0, 0.0), 6, 5.0) == pytest.approx(0.5)  # 6 a minute
    assert refill(Bucket(0.0, 0.0), 6, 1000.0) == 6.0  # never above a minute's worth
    states, retry = take([(None, 2)], 0.0)
    assert states == [Bucket(1.0, 0.0)] and retry is None
    states, _ = take([(states[0], 2)], 0.0)
    assert states is not None
    refused, retry = take([(states[0], 2)], 0.0)
    assert refused is None and retry == 30
    # all or none: a full buyer bucket with an empty address bucket takes nothing
    refused, retry = take([(None, 5), (Bucket(0.5, 0.0), 60)], 0.0)
    assert refused is None and retry == 1
    ok, _ = take([(Bucket(0.0, 0.0), 2)], 30.0)
    assert ok == [Bucket(0.0, 30.0)]


def test_limits_and_token_age() -> None:
    assert check_limits(RateLimits(holds_per_buyer=5)).holds_per_buyer == 5
    for bad in (RateLimits(holds_per_buyer=0), RateLimits(token_max_age_s=1)):
        with pytest.raises(InvalidInput):
            check_limits(bad)
    assert RateLimits().empty and not RateLimits(checkouts_per_address=1).empty
    assert RateLimits(1, 2, 3, 4).rates("h") == (1, 2) and RateLimits(1, 2, 3, 4).rates("c") == (
        3,
        4,
    )
    assert not token_too_old(None, None, 1e9)
    assert token_too_old(None, 60, 1e9)  # no iat: its age cannot be known
    assert not token_too_old(100.0, 60, 160.0) and token_too_old(100.0, 60, 160.5)


def test_who_may_join_a_waitlist_and_when_a_window_is_sold_out() -> None:
    from dropline.domain.live.access import AccessWindow, may_join, window_sold_out

    gold = AccessWindow(100.0, ("gold",), {"s": 2})
    public = AccessWindow(200.0)
    ws = [gold, public]
    assert may_join(ws, frozenset({"gold"}), 150.0, pre_queue=False).closed is False
    late = may_join(ws, frozenset(), 150.0, pre_queue=False)
    assert late.closed and late.opens_at == 200.0
    assert not may_join(ws, frozenset(), 50.0, pre_queue=True).closed  # pre-queue
    nobody = may_join([gold], frozenset(), 50.0, pre_queue=True)
    assert nobody.closed and nobody.opens_at is None
    # 4 offered: gold's 2 taken (2 remaining) is a window sell-out until 200
    assert window_sold_out(ws, 150.0, "s", offered=4, remaining=2)
    assert not window_sold_out(ws, 150.0, "s", offered=4, remaining=3)
    assert not window_sold_out(ws, 200.0, "s", offered=4, remaining=2)
    assert not window_sold_out(ws, 150.0, "s", offered=4, remaining=0)  # plain sold out


def test_a_restock_goes_to_the_window_open_at_its_time() -> None:
    from dropline.domain.live.access import AccessWindow, restock_window

    ws = [
        AccessWindow(100.0, ("gold",), {"s": 2}),
        AccessWindow(200.0, ("*",), {}),
        AccessWindow(300.0),
    ]
    assert restock_window(ws, 50.0) == 0  # none open yet: the first
    assert restock_window(ws, 150.0) == 0
    assert restock_window(ws, 200.0) == 1  # an empty allocation gets the SKU
    assert restock_window(ws, 301.0) is None  # everything is on sale already
    assert restock_window([], 150.0) is None


def test_a_reopened_drops_windows_allocate_what_sold_plus_the_wave() -> None:
    from dropline.domain.live.access import AccessWindow, reopened_windows

    ws = [
        AccessWindow(100.0, ("gold",), {"s": 3, "t": 1}),
        AccessWindow(200.0, ("*",), {"s": 3}),
        AccessWindow(300.0, (), {"s": 4, "t": 2}),
    ]
    # s sold 4 of 10: 6 trimmed from the latest windows first; t sold all 3: kept
    out = reopened_windows(ws, {"s": 4, "t": 3}, "s", 5, at=400.0)
    assert [dict(w.allocation or {}) for w in out] == [
        {"s": 3, "t": 1},
        {"s": 1},
        {"s": 0 + 5, "t": 2},  # the wave's units join the window open at its time
    ]
    assert [(w.starts_at, w.tiers) for w in out] == [(w.starts_at, w.tiers) for w in ws]
    check_windows(out, {"s": 4 + 5, "t": 3})
    # a SKU left out of ``sold`` (a pre-order) keeps its allocations
    assert reopened_windows(ws, {}, "s", 1, at=150.0)[0].allocation == {"s": 4, "t": 1}
    # a window that releases everything needs no units of the wave
    everything = [AccessWindow(100.0, (), None)]
    assert reopened_windows(everything, {"s": 0}, "s", 5, at=400.0) == tuple(everything)
