"""Access windows: who may take a drop's units, and how many, at what time.

A drop may have ordered windows, for example tier ``gold`` from T0 with 50 hoodies,
every member from T1, the public from T2. Each window has a start, the tiers it admits
and, optionally, its own allocation per SKU:

- **Who.** A window admits a buyer whose token's ``tiers`` claim names one of its
  ``tiers``; ``*`` admits any buyer with at least one tier (a member); a window with no
  tiers is public. Once a buyer's first window has opened they stay admitted: the gold
  member still buys in the members' window.
- **How many.** A window with an allocation adds those units per SKU (a SKU it does not
  name gets none); a window without one releases everything. The units a buyer can
  take are capped by the sum of the opened windows' allocations, counted against every
  unit taken so far: so what a window leaves unsold flows to the next window when it
  opens.

The rule is enforced by both reservation engines where the stock is taken (the hold),
atomically with it; ``decide`` is the one definition both follow (the Redis engine's
``engine/lua/_access.lua`` is its translation, held to it by the engine tests).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property

from dropline.domain.errors import InvalidInput, WindowAllocation, WindowOrder, WindowTier
from dropline.domain.live.rate_limits import RateLimits

#: The problem codes of refusals by a drop's access rules (windows, limits, token age).
ACCESS_CODES = frozenset({"window_closed", "window_sold_out", "rate_limited", "token_too_old"})
#: A tier name: lower-case letters, digits, ``_ . -``, 1 to 40 characters.
TIER = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
#: In a window's tiers: any buyer whose token carries at least one tier.
ANY_MEMBER = "*"
MAX_WINDOWS = 10
MAX_TIERS = 20
#: Window starts are kept between 1970 and 2100 (epoch seconds).
LATEST_START = 4_102_444_800.0


@dataclass(frozen=True)
class AccessWindow:
    """One window: opens at ``starts_at`` (epoch seconds) for ``tiers`` (empty: the
    public); ``allocation`` None releases every unit, else those units per SKU."""

    starts_at: float
    tiers: tuple[str, ...] = ()
    allocation: Mapping[str, int] | None = None
    name: str = ""

    @property
    def public(self) -> bool:
        return not self.tiers

    def admits(self, tiers: frozenset[str]) -> bool:
        if not self.tiers:
            return True
        if ANY_MEMBER in self.tiers and tiers:
            return True
        return not tiers.isdisjoint(self.tiers)


@dataclass(frozen=True)
class AccessPolicy:
    """A drop's access rules as the engines hold them: its windows (in order) and its
    rate limits. The default policy admits everyone, without limits."""

    windows: tuple[AccessWindow, ...] = ()
    limits: RateLimits = field(default_factory=RateLimits)

    @cached_property
    def empty(self) -> bool:
        """No windows and no limits. Every hold asks; kept after the first answer (a
        frozen policy cannot change)."""
        return not self.windows and self.limits.empty


@dataclass(frozen=True)
class Decision:
    """``decide``'s answer: ``opens_at`` set (or ``closed`` with None: no window admits
    the buyer) refuses; otherwise ``caps`` holds the units still takeable per capped SKU
    (a SKU not in it is not capped) and ``next_at`` the next window's start."""

    closed: bool
    opens_at: float | None = None
    caps: Mapping[str, int] = field(default_factory=dict)
    next_at: float | None = None


OPEN = Decision(False)


def opens_for(windows: Sequence[AccessWindow], tiers: frozenset[str]) -> float | None:
    """When the buyer's first window opens; None when no window admits them."""
    starts = [w.starts_at for w in windows if w.admits(tiers)]
    return min(starts) if starts else None


def next_start(windows: Sequence[AccessWindow], now: float) -> float | None:
    """The start of the next window to open after ``now``, None when all have."""
    later = [w.starts_at for w in windows if w.starts_at > now]
    return min(later) if later else None


def caps(windows: Sequence[AccessWindow], now: float) -> dict[str, float]:
    """Per SKU, the units the windows opened by ``now`` release in all (a SKU missing
    from the answer: none); ``{"*": inf}`` once a window without an allocation has
    opened, which releases everything."""
    out: dict[str, float] = {}
    for w in windows:
        if w.starts_at > now:
            continue
        if w.allocation is None:
            return {"*": math.inf}
        for sku, n in w.allocation.items():
            out[sku] = out.get(sku, 0) + n
    return out


def decide(
    windows: Sequence[AccessWindow],
    tiers: frozenset[str],
    now: float,
    taken: Mapping[str, int],
    skus: Sequence[str],
) -> Decision:
    """May a buyer with ``tiers`` take units of ``skus`` at ``now``, and how many, given
    ``taken`` (units of each SKU taken so far: live holds, paid orders)?

    A waitlist claim (the hold the waitlist places for the next buyer in line) is
    decided the same way, with the tiers the buyer joined the line with: it is not
    placed before the buyer's window opens (the pre-queue is served window by window),
    and it is held to the opened windows' allocations, so a window never sells more
    than it releases, and the line is served from a later window's units the moment
    that window opens."""
    if not windows:
        return OPEN
    first = opens_for(windows, tiers)
    if first is None or now < first:
        return Decision(True, first)
    released = caps(windows, now)
    if "*" in released:
        return Decision(False, next_at=next_start(windows, now))
    left = {s: max(0, int(released.get(s, 0)) - taken.get(s, 0)) for s in skus}
    return Decision(False, caps=left, next_at=next_start(windows, now))


def may_join(
    windows: Sequence[AccessWindow], tiers: frozenset[str], now: float, pre_queue: bool
) -> Decision:
    """May a buyer with ``tiers`` join a SKU's waitlist? The line is for buyers the
    windows admit: once their window has opened, or, in the pre-queue (the drop not yet
    open), when some window admits them at all. ``closed`` answers as ``decide`` does
    (``opens_at``: when the buyer's window opens, None when none admits them)."""
    if not windows:
        return OPEN
    first = opens_for(windows, tiers)
    if first is None or (not pre_queue and now < first):
        return Decision(True, first)
    return OPEN


def window_sold_out(
    windows: Sequence[AccessWindow], now: float, sku_id: str, offered: int, remaining: int
) -> bool:
    """True when units of the SKU are left (``remaining``) but the windows opened by
    ``now`` have released no more of them: a hold answers ``window_sold_out``. Every
    unit not remaining is taken (held or sold), which is what the allocations count."""
    if remaining <= 0 or not windows:
        return False
    released = caps(windows, now)
    if "*" in released:
        return False
    return released.get(sku_id, 0) - (offered - remaining) < 1


def restock_window(windows: Sequence[AccessWindow], at: float) -> int | None:
    """The index of the window a restock wave at ``at`` adds its units to: the one
    open then (the latest started), or the first when none has opened yet; None when
    there are no windows or that window has no allocation (it releases every unit, so
    the new units are on sale in it already). Units added to the offer but to no
    window's allocation would wait for a window that releases everything, or forever."""
    if not windows:
        return None
    started = [i for i, w in enumerate(windows) if w.starts_at <= at]
    i = started[-1] if started else 0
    return None if windows[i].allocation is None else i


def add_units(window: AccessWindow, sku_id: str, quantity: int) -> AccessWindow:
    """The window with ``quantity`` more units of the SKU in its allocation (fewer when
    negative)."""
    alloc = dict(window.allocation or {})
    alloc[sku_id] = alloc.get(sku_id, 0) + quantity
    return replace(window, allocation=alloc)


def reopened_windows(
    windows: Sequence[AccessWindow], sold: Mapping[str, int], sku_id: str, quantity: int, at: float
) -> tuple[AccessWindow, ...]:
    """The windows of an ended drop that a restock wave reopens. Ending gave each SKU's
    unsold units back to stock, so their allocations go with them: the allocations of
    each SKU in ``sold`` (its in-stock offers, units sold) come down to what it sold,
    taken from the latest windows first (what a window left unsold had flowed there).
    Then the wave's units join the window open at ``at`` (``restock_window``), as a
    wave on a live drop does, so the windows never allocate more than is offered."""
    out = list(windows)
    for sku, kept in sold.items():
        excess = sum((w.allocation or {}).get(sku, 0) for w in out) - kept
        for i in reversed(range(len(out))):
            alloc = out[i].allocation
            if excess <= 0 or not alloc or not alloc.get(sku):
                continue
            cut = min(excess, alloc[sku])
            out[i] = add_units(out[i], sku, -cut)
            excess -= cut
    target = restock_window(out, at)
    if target is not None:
        out[target] = add_units(out[target], sku_id, quantity)
    return tuple(out)


def check_windows(
    windows: Sequence[AccessWindow], offered: Mapping[str, int]
) -> tuple[AccessWindow, ...]:
    """The windows if they are coherent, else the stable refusal: ``WindowOrder`` (each
    window must start before the next one), ``WindowTier`` (a tier that is no tier
    name), ``WindowAllocation``
    (a SKU the drop does not offer, a negative count, or allocations of a SKU adding up
    to more than ``offered``)."""
    if len(windows) > MAX_WINDOWS:
        raise WindowOrder(f"a drop has at most {MAX_WINDOWS} access windows")
    for i, w in enumerate(windows):
        if not 0 <= w.starts_at < LATEST_START:
            raise InvalidInput(f"window {i + 1} starts before 1970 or after 2099", index=i)
        if i + 1 < len(windows) and w.starts_at >= windows[i + 1].starts_at:
            raise WindowOrder(
                f"window {i + 1} starts at or after window {i + 2}; windows open in order",
                index=i,
            )
        if len(w.tiers) > MAX_TIERS:
            raise WindowTier(f"a window names at most {MAX_TIERS} tiers", index=i)
        for t in w.tiers:
            if t != ANY_MEMBER and not TIER.fullmatch(t):
                raise WindowTier(
                    f"{t!r} is not a tier name (lower-case letters, digits, _ . -, at most "
                    f"40 characters) nor {ANY_MEMBER!r}",
                    index=i,
                    tier=t,
                )
    total: dict[str, int] = {}
    for i, w in enumerate(windows):
        for sku, n in (w.allocation or {}).items():
            if sku not in offered:
                raise WindowAllocation(
                    f"window {i + 1} allocates SKU {sku}, which the drop does not offer",
                    sku_id=sku,
                    index=i,
                )
            if n < 0:
                raise WindowAllocation(f"window {i + 1} allocates {n} of {sku}", sku_id=sku)
            total[sku] = total.get(sku, 0) + n
    for sku, n in total.items():
        if n > offered[sku]:
            raise WindowAllocation(
                f"the windows allocate {n} of SKU {sku}; the drop offers {offered[sku]}",
                sku_id=sku,
                allocated=n,
                offered=offered[sku],
            )
    return tuple(windows)


def token_tiers(claim: object) -> frozenset[str]:
    """The tiers of a token's ``tiers`` claim (absent: none); ``ValueError`` when it is
    not a list of tier names (the buyer-token verifier turns it into a 401)."""
    if claim is None:
        return frozenset()
    if not isinstance(claim, list) or len(claim) > MAX_TIERS:
        raise ValueError(f"tiers must be a list of at most {MAX_TIERS} strings")
    for t in claim:
        if not isinstance(t, str) or not TIER.fullmatch(t):
            raise ValueError("each tier must be a tier name (lower-case, at most 40 characters)")
    return frozenset(claim)


def at_text(ts: float | None) -> str | None:
    """An epoch time as the API writes times (RFC 3339, UTC, ``Z``), for a refusal."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat()[:-6] + "Z"


def to_wire(policy: AccessPolicy) -> dict[str, object]:
    """The policy as the Redis engine stores it (JSON in the drop's meta hash)."""
    lim = policy.limits
    return {
        "w": [
            {"s": w.starts_at, "t": list(w.tiers)}
            | ({} if w.allocation is None else {"a": dict(w.allocation)})
            for w in policy.windows
        ],
        "l": {
            "hb": lim.holds_per_buyer or 0,
            "ha": lim.holds_per_address or 0,
            "cb": lim.checkouts_per_buyer or 0,
            "ca": lim.checkouts_per_address or 0,
            "age": lim.token_max_age_s or 0,
        },
    }
