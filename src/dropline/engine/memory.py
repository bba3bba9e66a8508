"""The embedded reservation engine: every drop's holds in this process's memory.

``MemoryEngine`` is the default backend for a single-process deployment. It runs on one
asyncio event loop and no method awaits in the middle of its work, so every method is
atomic with respect to every other one without a lock.

Data and complexity (n = live holds, k = SKUs in one request):

* ``_drops[drop_id]`` keeps per-SKU counters (remaining, held, limit, paused), the per-
  buyer usage used for limits (units in live holds + converted + taken) and the
  idempotency index ``(buyer_id, key) -> hold_id``: ``place_hold`` is O(k log k).
* Expiry is a binary heap of ``(expires_at, hold_id)`` with lazy deletion: an extension
  pushes a new entry, and an entry whose hold is gone, terminal, or carries another
  ``expires_at`` is skipped when popped. Each hold costs O(log n) to expire and
  ``expire_due`` never scans the live holds.
* Terminal holds stay readable for ``retention_s`` (default one hour) so ``get_hold``
  can still say "expired"; a second heap of ``(forget_at, hold_id)`` drops them, again
  without a scan. The garbage collection runs from ``expire_due`` (the sweeper) and, a
  few entries at a time, from ``place_hold``.
* Holds are stored as plain tuples of atoms (``_Rec``: strings, numbers, None and
  tuples of those; no dict, which would keep the tuple tracked), not as ``Hold``
  instances, and turned into a ``Hold`` when read. CPython's cyclic garbage collector
  stops tracking such tuples at their first young collection, so a million active
  holds are not walked by a full collection: with ``Hold`` objects (three tracked
  objects per hold) one full collection over a million holds stalled the event loop
  for about 3 s. The few containers that hold them (millions of entries) are still
  walked by a full collection until the server freezes them (``freeze_long_lived`` in
  ``services/platform/background.py``). Identical ``items``/``units`` tuples (the usual "one
  unit of this SKU") are shared through a bounded intern table; memory per hold fell
  from about 1,150 to 680 bytes (1,000,000 one-unit holds, one buyer each).
* The indexes with an entry per hold or buyer (the hold table, each drop's holds, per-
  buyer usage and idempotency keys) are sharded (``engine/sharded.py``), so growing
  one never rehashes a million entries in one go.
* The event journal is an insertion-ordered dict ``event_id -> EngineEvent``: append,
  read-oldest and ack are O(1) per event. It is bounded (``max_events``); beyond the
  bound the oldest events are dropped and counted (``events_dropped()``).

One idea: the in-process engine. Its methods share private state that must change
atomically; split across modules, that state would have to become public.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any, Final

from dropline.domain.errors import (
    DropNotLive,
    HoldExpired,
    HoldNotActive,
    IdempotencyMismatch,
    InsufficientStock,
    InvalidInput,
    LimitExceeded,
    NotFound,
    RateLimited,
    SoldOut,
    TokenTooOld,
    WindowClosed,
    WindowSoldOut,
)
from dropline.domain.ids import new_id
from dropline.domain.live import rate_limits
from dropline.domain.live.access import AccessPolicy, at_text, decide
from dropline.domain.live.holds import (
    HOLD_STATUS,
    ITEM_KIND,
    Hold,
    HoldItem,
    HoldRequest,
    HoldStatus,
    paying_deadline,
)
from dropline.engine.sharded import ShardedDict, ShardedSet
from dropline.services.ports import DropNotLoaded, DropSnapshot, EngineEvent, SkuCounts

DEFAULT_RETENTION_S = 3600.0
DEFAULT_MAX_EVENTS = 1_000_000
_GC_STEPS_PER_HOLD = 4

_LIVE = (HoldStatus.ACTIVE, HoldStatus.PAYING)
_LIVE_VALUES = (HoldStatus.ACTIVE.value, HoldStatus.PAYING.value)
_END_BATCH = 1000  # holds finished between yields when a drop ends
#: Most distinct ``items``/``units`` shapes shared at once (beyond it, new ones are not).
_INTERN_MAX = 1 << 16

#: A stored hold: (id, drop_id, buyer_id, items as ((kind, ref, quantity), ...), units
#: as ((sku_id, quantity), ...), status value, created_at, expires_at, extended,
#: idempotency_key, fingerprint, attribution as (key, value, key, value, ...)). Only
#: atoms and tuples: the cyclic GC untracks such a tuple, never one holding a dict.
_Rec = tuple[
    str,
    str,
    str,
    tuple[tuple[str, str, int], ...],
    tuple[tuple[str, int], ...],
    str,
    float,
    float,
    bool,
    str | None,
    str,
    tuple[str, ...],
]
_DROP: Final = 1
_BUYER: Final = 2
_STATUS: Final = 5
_EXPIRES: Final = 7
_IDEM: Final = 9


def _unpack(r: _Rec) -> Hold:
    return Hold(
        r[0],
        r[1],
        r[2],
        tuple(HoldItem(ITEM_KIND[k], ref, q) for k, ref, q in r[3]),
        dict(r[4]),
        HOLD_STATUS[r[5]],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        dict(zip(r[11][::2], r[11][1::2], strict=True)),
    )


@dataclass
class _Offer:
    remaining: int
    limit: int | None
    paused: bool
    held: int = 0
    #: units taken (live holds, paid, late takes): what access windows count against
    taken: int = 0
    # the waitlist gate: "" none, "armed", "latched" (see StockEngine.set_waitlist_gate)
    waitlist: str = ""


@dataclass
class _Drop:
    accepting: bool
    offers: dict[str, _Offer]
    used: ShardedDict[str, dict[str, int]] = field(default_factory=ShardedDict)
    idem: ShardedDict[tuple[str, str], str] = field(default_factory=ShardedDict)
    holds: ShardedSet[str] = field(default_factory=ShardedSet)
    access: AccessPolicy = field(default_factory=AccessPolicy)
    #: rate-limit buckets by action + "b"/"a" + buyer or address
    buckets: dict[str, rate_limits.Bucket] = field(default_factory=dict)
    #: access refusals by problem code (the monitor's counts)
    refusals: dict[str, int] = field(default_factory=dict)


def check_units(units: Mapping[str, int]) -> None:
    """Refuse an empty expansion or a non-positive quantity: the engine never takes
    zero or negative units, whatever the caller validated before."""
    if not units:
        raise InvalidInput("a hold needs at least one unit")
    for sku_id, qty in units.items():
        if qty < 1:
            raise InvalidInput(f"units of {sku_id} must be at least 1 (got {qty})", sku_id=sku_id)


class MemoryEngine:
    """A ``StockEngine`` kept in process memory (see the module docstring)."""

    def __init__(
        self,
        *,
        retention_s: float = DEFAULT_RETENTION_S,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        """``retention_s``: how long terminal holds stay readable (by caller time).
        ``max_events``: the journal bound; beyond it the oldest events are dropped."""
        self._retention_s = retention_s
        self._max_events = max_events
        self._drops: dict[str, _Drop] = {}
        self._holds: ShardedDict[str, _Rec] = ShardedDict()
        self._interned: dict[Any, Any] = {}
        self._expiry: list[tuple[float, str]] = []
        self._forget: list[tuple[float, str]] = []
        self._events: dict[str, EngineEvent] = {}
        # Event ids: a random part per engine (so a restarted process never repeats one)
        # and a counter; cheaper than a random id per hold event, and still unique.
        self._event_prefix = new_id("evt") + "."
        self._event_seq = 0
        self._events_dropped = 0

    # ------------------------------------------------------------------ drops

    def _load(self, snapshot: DropSnapshot) -> None:
        offers = {
            sku_id: _Offer(
                max(0, o.remaining),
                o.per_buyer_limit,
                o.paused,
                taken=snapshot.sold.get(sku_id, 0),
                waitlist=snapshot.waitlist.get(sku_id, ""),
            )
            for sku_id, o in snapshot.offers.items()
        }
        used: ShardedDict[str, dict[str, int]] = ShardedDict()
        for buyer, per_sku in snapshot.buyer_taken.items():
            used[buyer] = {sku: n for sku, n in per_sku.items() if n > 0}
        self._drops[snapshot.drop_id] = _Drop(
            snapshot.accepting, offers, used, access=snapshot.access
        )

    def _drop(self, drop_id: str) -> _Drop:
        drop = self._drops.get(drop_id)
        if drop is None:
            raise DropNotLoaded(drop_id)
        return drop

    async def ensure_drop(self, snapshot: DropSnapshot) -> bool:
        """Load the drop unless it is already loaded; True if this call loaded it.

        Never overwrites live state: concurrent rebuilds after a restart must not wipe
        the holds a faster rebuild already let buyers place."""
        if snapshot.drop_id in self._drops:
            return False
        self._load(snapshot)
        return True

    async def reset_drop(self, snapshot: DropSnapshot) -> None:
        """Replace the drop's state with the snapshot; its holds are forgotten (their
        heap entries become stale and are skipped). Journalled events are kept."""
        self._forget_holds(snapshot.drop_id)
        self._load(snapshot)

    async def forget_drop(self, drop_id: str) -> None:
        """Drop all state of the drop, holds included; undrained events are kept."""
        self._forget_holds(drop_id)
        self._drops.pop(drop_id, None)

    async def end_drop(self, drop_id: str, now: float) -> int:
        """Finish every live hold of the drop with its event, then forget the drop.
        Yields to the event loop every ``_END_BATCH`` holds, so ending a drop with a
        million open holds does not stall other drops; new holds are refused from the
        start and each hold is finished atomically."""
        drop = self._drops.get(drop_id)
        if drop is None:
            return 0
        drop.accepting = False
        finished = 0
        for n, hold_id in enumerate(list(drop.holds), 1):
            if n % _END_BATCH == 0:
                await asyncio.sleep(0)
            hold = self._get(hold_id)
            if hold is not None and hold.status in _LIVE:
                status = HoldStatus.EXPIRED if now >= hold.expires_at else HoldStatus.RELEASED
                self._finish(hold, status, now, give_back=True)
                finished += 1
        await self.forget_drop(drop_id)
        return finished

    def _forget_holds(self, drop_id: str) -> None:
        drop = self._drops.get(drop_id)
        if drop is None:
            return
        for hold_id in drop.holds:
            self._holds.pop(hold_id, None)

    async def set_accepting(self, drop_id: str, accepting: bool) -> None:
        """Open or close the whole drop to new holds; existing holds are untouched."""
        self._drop(drop_id).accepting = accepting

    async def set_sku_paused(self, drop_id: str, sku_id: str, paused: bool) -> None:
        """Pause or resume one SKU (``NotFound`` if the drop does not offer it)."""
        offer = self._drop(drop_id).offers.get(sku_id)
        if offer is None:
            raise NotFound(f"SKU {sku_id} is not offered in drop {drop_id}", sku_id=sku_id)
        offer.paused = paused

    async def set_waitlist_gate(self, drop_id: str, sku_id: str, mode: str) -> tuple[int, str]:
        """Set the SKU's waitlist gate (see ``StockEngine.set_waitlist_gate``)."""
        offer = self._drop(drop_id).offers.get(sku_id)
        if offer is None:
            raise NotFound(f"SKU {sku_id} is not offered in drop {drop_id}", sku_id=sku_id)
        if mode == "off":
            offer.waitlist = ""
        elif mode == "latch" or offer.remaining == 0:
            offer.waitlist = "latched"
        elif offer.waitlist != "latched":
            offer.waitlist = "armed"
        return offer.remaining, offer.waitlist

    async def adjust_offer(
        self,
        drop_id: str,
        sku_id: str,
        delta: int,
        per_buyer_limit: int | None,
        *,
        buyer_id: str | None = None,
    ) -> None:
        """Add ``delta`` units to the SKU's remaining (clamped at zero) and set its
        per-buyer limit (None = no limit); a SKU new to the drop is added unpaused.
        With ``buyer_id`` the units were that buyer's: their usage of the SKU shrinks
        by ``delta`` too (never below zero), in the same step."""
        drop = self._drop(drop_id)
        offer = drop.offers.get(sku_id)
        if offer is None:
            drop.offers[sku_id] = _Offer(max(0, delta), per_buyer_limit, False)
        else:
            offer.remaining = max(0, offer.remaining + delta)
            offer.limit = per_buyer_limit
        if buyer_id is None or delta <= 0:
            return
        if offer is not None:
            offer.taken = max(0, offer.taken - delta)
        used = drop.used.get(buyer_id)
        if used is not None:
            left = used.get(sku_id, 0) - delta
            if left > 0:
                used[sku_id] = left
            else:
                used.pop(sku_id, None)
            if not used:
                drop.used.pop(buyer_id, None)

    # ------------------------------------------------------------------ holds

    def _intern(self, value: Any) -> Any:
        """One shared copy of a common ``items``/``units``/attribution tuple (bounded)."""
        shared = self._interned.get(value)
        if shared is not None:
            return shared
        if len(self._interned) < _INTERN_MAX:
            self._interned[value] = value
        return value

    def _pack(self, hold: Hold) -> _Rec:
        items = tuple((str(i.kind), i.ref, i.quantity) for i in hold.items)
        units = tuple(hold.units.items())
        return (
            hold.id,
            hold.drop_id,
            hold.buyer_id,
            self._intern(items),
            self._intern(units),
            hold.status.value,
            hold.created_at,
            hold.expires_at,
            hold.extended,
            hold.idempotency_key,
            hold.fingerprint,
            self._intern(tuple(x for kv in hold.attribution.items() for x in kv)),
        )

    def _store(self, hold: Hold) -> None:
        self._holds[hold.id] = self._pack(hold)

    def _get(self, hold_id: str | None) -> Hold | None:
        rec = self._holds.get(hold_id) if hold_id is not None else None
        return _unpack(rec) if rec is not None else None

    async def place_hold(self, request: HoldRequest, now: float) -> Hold:
        """Take every SKU of ``request.units`` atomically or none.

        Checks, in order: units positive (``InvalidInput``); drop loaded; idempotent
        replay (same key and fingerprint → the same hold in its current state, even
        when the drop has since closed, so a retried tap sees its own hold; another
        fingerprint → ``IdempotencyMismatch``);
        drop accepting; every SKU offered (``NotFound``) and not paused
        (``DropNotLive``); stock (``SoldOut`` when none is left — the fast path — else
        ``InsufficientStock`` with ``remaining``); per-buyer limits (``LimitExceeded``).
        SKUs are checked in sorted order so the reported SKU is deterministic.
        """
        check_units(request.units)
        drop = self._drop(request.drop_id)
        buyer = request.buyer_id
        if request.idempotency_key is not None:
            prior = self._get(drop.idem.get((buyer, request.idempotency_key)))
            if prior is not None:
                if prior.fingerprint != request.fingerprint:
                    raise IdempotencyMismatch(
                        "this idempotency key was used with a different request",
                        idempotency_key=request.idempotency_key,
                    )
                return prior
        if not drop.accepting:
            raise DropNotLive(
                f"drop {request.drop_id} is not accepting holds", drop_id=request.drop_id
            )
        skus = sorted(request.units)
        if not drop.access.empty:
            self._check_access(drop, request, skus, now)
        offers: list[_Offer] = []
        for sku_id in skus:
            offer = drop.offers.get(sku_id)
            if offer is None:
                raise NotFound(f"SKU {sku_id} is not offered in this drop", sku_id=sku_id)
            if offer.paused:
                raise DropNotLive(f"SKU {sku_id} is paused", sku_id=sku_id)
            offers.append(offer)
        for sku_id, offer in zip(skus, offers, strict=True):
            want = request.units[sku_id]
            if offer.remaining == 0 or (offer.waitlist == "latched" and not request.claim):
                raise SoldOut(f"SKU {sku_id} is sold out", sku_id=sku_id)
            if offer.remaining < want:
                raise InsufficientStock(
                    f"only {offer.remaining} of SKU {sku_id} left",
                    sku_id=sku_id,
                    remaining=offer.remaining,
                )
        used = drop.used.get(buyer, {})
        for sku_id, offer in zip(skus, offers, strict=True):
            already = used.get(sku_id, 0)
            if offer.limit is not None and already + request.units[sku_id] > offer.limit:
                raise LimitExceeded(
                    f"at most {offer.limit} of SKU {sku_id} per buyer",
                    sku_id=sku_id,
                    limit=offer.limit,
                    already=already,
                )
        # Every check passed: commit. Nothing below can fail.
        used = drop.used.setdefault(buyer, used)
        for sku_id, offer in zip(skus, offers, strict=True):
            want = request.units[sku_id]
            offer.remaining -= want
            offer.held += want
            offer.taken += want
            used[sku_id] = used.get(sku_id, 0) + want
            if offer.remaining == 0 and offer.waitlist:
                offer.waitlist = "latched"  # the last unit: what comes back is waited for
        hold = Hold(
            id=new_id("hld"),
            drop_id=request.drop_id,
            buyer_id=buyer,
            items=tuple(request.items),
            units=dict(request.units),
            status=HoldStatus.ACTIVE,
            created_at=now,
            expires_at=now + request.ttl_s,
            idempotency_key=request.idempotency_key,
            fingerprint=request.fingerprint,
            attribution=dict(request.attribution),
        )
        self._store(hold)
        drop.holds.add(hold.id)
        if request.idempotency_key is not None:
            drop.idem[(buyer, request.idempotency_key)] = hold.id
        heapq.heappush(self._expiry, (hold.expires_at, hold.id))
        self._journal("hold.placed", now, hold)
        self._collect(now, _GC_STEPS_PER_HOLD)
        return hold

    # ------------------------------------------------------------------ access

    def _refuse(self, drop: _Drop, code: str) -> None:
        drop.refusals[code] = drop.refusals.get(code, 0) + 1

    def _take_tokens(
        self,
        drop: _Drop,
        action: str,
        buyer: str,
        client: str,
        issued_at: float | None,
        now: float,
    ) -> None:
        """A token past the drop's max age is refused (``TokenTooOld``); then one
        attempt against the drop's buckets for ``action`` (``rate_limits.take``), or
        ``RateLimited`` with nothing taken."""
        limits = drop.access.limits
        if rate_limits.token_too_old(issued_at, limits.token_max_age_s, now):
            self._refuse(drop, TokenTooOld.code)
            raise TokenTooOld(
                "the buyer token is older than this drop accepts; get a fresh one",
                max_age_s=limits.token_max_age_s,
            )
        per_buyer, per_address = limits.rates(action)
        keys: list[tuple[str, int]] = []
        if per_buyer is not None:
            keys.append((f"{action}b\x1f{buyer}", per_buyer))
        if per_address is not None and client:
            keys.append((f"{action}a\x1f{client}", per_address))
        if not keys:
            return
        states, retry = rate_limits.take([(drop.buckets.get(k), r) for k, r in keys], now)
        if states is None:
            self._refuse(drop, RateLimited.code)
            raise RateLimited(f"too many attempts; retry in {retry} s", retry_after_s=retry)
        for (k, _), st in zip(keys, states, strict=True):
            drop.buckets[k] = st

    def _check_access(self, drop: _Drop, request: HoldRequest, skus: list[str], now: float) -> None:
        """Rate limits, then the access windows (``domain/live/access.decide``): the
        buyer's window must have opened, and the opened windows' allocation must cover
        the request unless the stock itself is the tighter bound (then the stock
        checks refuse it as sold out). A waitlist claim is no tap of the buyer's (the
        waitlist places it, with no token): it skips the token age and the rate limits,
        and is held to the windows like any hold, with the tiers the buyer joined the
        line with (no window entered early through the line)."""
        if not request.claim:
            self._take_tokens(
                drop, rate_limits.HOLDS, request.buyer_id, request.client, request.issued_at, now
            )
        windows = drop.access.windows
        if not windows:
            return
        taken = {s: o.taken for s in skus if (o := drop.offers.get(s)) is not None}
        d = decide(windows, request.tiers, now, taken, skus)
        if d.closed:
            self._refuse(drop, WindowClosed.code)
            raise WindowClosed(
                "your access window has not opened"
                if d.opens_at is not None
                else "no access window of this drop admits your tiers",
                opens_at=at_text(d.opens_at),
            )
        for sku_id in skus:
            offer = drop.offers.get(sku_id)
            left = d.caps.get(sku_id)
            if offer is None or left is None:
                continue
            if left < request.units[sku_id] and left < offer.remaining:
                self._refuse(drop, WindowSoldOut.code)
                raise WindowSoldOut(
                    f"this window's units of SKU {sku_id} are taken",
                    sku_id=sku_id,
                    remaining=left,
                    next_window_at=at_text(d.next_at),
                )

    async def set_access(self, drop_id: str, policy: AccessPolicy) -> None:
        """Replace the drop's windows and limits; its buckets and counts are kept."""
        self._drop(drop_id).access = policy

    async def rate_check(
        self,
        drop_id: str,
        action: str,
        buyer_id: str,
        client: str,
        issued_at: float | None,
        now: float,
    ) -> None:
        """The token's age, then one attempt of ``action`` against the drop's buckets."""
        self._take_tokens(self._drop(drop_id), action, buyer_id, client, issued_at, now)

    async def access_stats(self, drop_id: str) -> dict[str, int]:
        """Access refusals by problem code (empty for a drop not loaded)."""
        drop = self._drops.get(drop_id)
        return dict(drop.refusals) if drop is not None else {}

    async def note_refusal(self, drop_id: str, code: str) -> None:
        drop = self._drops.get(drop_id)
        if drop is not None:
            self._refuse(drop, code)

    async def get_hold(self, hold_id: str) -> Hold | None:
        """The hold's current snapshot, or None if unknown or already forgotten."""
        return self._get(hold_id)

    def _live_hold(self, hold_id: str, now: float) -> Hold:
        """The hold if it still owns its units; expires it on the spot when its time
        has passed (even if the sweeper has not run) and raises ``HoldExpired``."""
        hold = self._get(hold_id)
        if hold is None:
            raise NotFound(f"hold {hold_id} not found", hold_id=hold_id)
        if hold.status == HoldStatus.EXPIRED:
            raise HoldExpired(f"hold {hold_id} has expired", hold_id=hold_id)
        if hold.status not in _LIVE:
            raise HoldNotActive(f"hold {hold_id} is {hold.status}", hold_id=hold_id)
        if now >= hold.expires_at:
            self._finish(hold, HoldStatus.EXPIRED, now, give_back=True)
            raise HoldExpired(f"hold {hold_id} has expired", hold_id=hold_id)
        return hold

    async def start_payment(self, hold_id: str, now: float, cap_s: int) -> Hold:
        """active → paying with the expiry extended once (``paying_deadline``) so a slow
        3-D Secure step keeps the units; a paying hold is returned unchanged."""
        hold = self._live_hold(hold_id, now)
        if hold.status == HoldStatus.PAYING:
            return hold
        deadline = paying_deadline(hold, now, cap_s)
        paying = replace(hold, status=HoldStatus.PAYING, expires_at=deadline, extended=True)
        self._store(paying)
        if deadline != hold.expires_at:
            heapq.heappush(self._expiry, (deadline, hold_id))
        self._journal("hold.paying", now, paying)
        return paying

    async def release(self, hold_id: str, now: float) -> Hold:
        """active/paying → released, units back to the drop. ``HoldExpired`` if its time
        has passed, ``HoldNotActive`` if it is converted or released."""
        hold = self._live_hold(hold_id, now)
        return self._finish(hold, HoldStatus.RELEASED, now, give_back=True)

    async def convert(self, hold_id: str, now: float) -> Hold | None:
        """active/paying (not past expiry) → converted: the units stay taken and count
        towards the buyer's limit for good. A converted hold is returned as is; for any
        hold that no longer owns its units the answer is None (the caller then takes
        units afresh or refunds)."""
        hold = self._get(hold_id)
        if hold is None or hold.drop_id not in self._drops:
            return None
        if hold.status == HoldStatus.CONVERTED:
            return hold
        if hold.status not in _LIVE:
            return None
        if now >= hold.expires_at:
            self._finish(hold, HoldStatus.EXPIRED, now, give_back=True)
            return None
        return self._finish(hold, HoldStatus.CONVERTED, now, give_back=False)

    async def take(self, drop_id: str, buyer_id: str, units: Mapping[str, int]) -> bool:
        """Take units outside any hold (a payment that outlived its hold): all or none,
        ignoring pauses and whether the drop accepts holds, but not the per-buyer
        limits nor a latched waitlist gate (its units wait for the line). False if a SKU
        is not offered, lacks units or waits for its line; ``LimitExceeded`` (as
        ``place_hold`` raises it, SKUs checked in sorted order) if the buyer's usage
        would pass a limit. Taken units count towards the buyer's usage."""
        check_units(units)
        drop = self._drop(drop_id)
        skus = sorted(units)
        for sku_id in skus:
            offer = drop.offers.get(sku_id)
            if offer is None or offer.remaining < units[sku_id] or offer.waitlist == "latched":
                return False
        used = drop.used.get(buyer_id, {})
        for sku_id in skus:
            limit = drop.offers[sku_id].limit
            already = used.get(sku_id, 0)
            if limit is not None and already + units[sku_id] > limit:
                raise LimitExceeded(
                    f"at most {limit} of SKU {sku_id} per buyer",
                    sku_id=sku_id,
                    limit=limit,
                    already=already,
                )
        used = drop.used.setdefault(buyer_id, used)
        for sku_id, qty in units.items():
            offer = drop.offers[sku_id]
            offer.remaining -= qty
            offer.taken += qty
            used[sku_id] = used.get(sku_id, 0) + qty
            if offer.remaining == 0 and offer.waitlist:
                offer.waitlist = "latched"  # as a hold's last unit
        return True

    async def expire_due(self, now: float, limit: int = 500) -> list[Hold]:
        """Expire up to ``limit`` live holds with ``expires_at <= now``, oldest first;
        their units return to the drop and the buyers' usage. Stale heap entries (an
        extended, finished or forgotten hold) are skipped, so each hold expires once."""
        expired: list[Hold] = []
        heap = self._expiry
        while heap and len(expired) < limit and heap[0][0] <= now:
            at, hold_id = heapq.heappop(heap)
            rec = self._holds.get(hold_id)
            if rec is None or rec[_STATUS] not in _LIVE_VALUES or rec[_EXPIRES] != at:
                continue
            hold = _unpack(rec)
            expired.append(self._finish(hold, HoldStatus.EXPIRED, now, give_back=True))
        self._collect(now, None)
        return expired

    def _finish(self, hold: Hold, status: HoldStatus, now: float, *, give_back: bool) -> Hold:
        """Move a live hold to a terminal status in one step: counters, buyer usage,
        journal, and the retention deadline after which it is forgotten."""
        drop = self._drops[hold.drop_id]
        used = drop.used.get(hold.buyer_id, {})
        for sku_id, qty in hold.units.items():
            offer = drop.offers.get(sku_id)
            if offer is not None:
                offer.held -= qty
                if give_back:
                    offer.remaining += qty
                    offer.taken -= qty
            if give_back:
                left = used.get(sku_id, 0) - qty
                if left > 0:
                    used[sku_id] = left
                else:
                    used.pop(sku_id, None)
        if give_back and not used:
            drop.used.pop(hold.buyer_id, None)
        done = replace(hold, status=status)
        self._store(done)
        heapq.heappush(self._forget, (now + self._retention_s, hold.id))
        event = {
            HoldStatus.EXPIRED: "hold.expired",
            HoldStatus.RELEASED: "hold.released",
            HoldStatus.CONVERTED: "hold.converted",
        }[status]
        self._journal(event, now, done)
        return done

    def _collect(self, now: float, steps: int | None) -> None:
        """Forget terminal holds whose retention has passed (at most ``steps``)."""
        heap = self._forget
        while heap and heap[0][0] <= now and (steps is None or steps > 0):
            _, hold_id = heapq.heappop(heap)
            if steps is not None:
                steps -= 1
            rec = self._holds.pop(hold_id, None)
            if rec is None:
                continue
            drop = self._drops.get(rec[_DROP])
            if drop is None:
                continue
            drop.holds.discard(hold_id)
            if rec[_IDEM] is not None:
                key = (rec[_BUYER], rec[_IDEM])
                if drop.idem.get(key) == hold_id:
                    del drop.idem[key]

    # ------------------------------------------------------------------ reads

    async def counts(self, drop_id: str) -> dict[str, SkuCounts]:
        """Per SKU: units still holdable, units in active/paying holds, paused flag."""
        drop = self._drop(drop_id)
        return {
            sku_id: SkuCounts(
                remaining=o.remaining, held=o.held, paused=o.paused, waitlist=o.waitlist
            )
            for sku_id, o in drop.offers.items()
        }

    # ------------------------------------------------------------------ journal

    def _journal(self, type_: str, now: float, hold: Hold) -> None:
        self._event_seq += 1
        event = EngineEvent(
            id=f"{self._event_prefix}{self._event_seq:x}",
            type=type_,
            at=now,
            hold=hold,
            journal=self._event_prefix,
            pos=(self._event_seq, 0),
        )
        self._events[event.id] = event
        if len(self._events) > self._max_events:
            oldest = next(iter(self._events))
            del self._events[oldest]
            self._events_dropped += 1

    async def journal_lease(self, owner: str, ttl_s: float) -> bool:
        """Always granted: the journal lives in this process, which is its only reader."""
        return True

    async def read_events(self, limit: int = 1000) -> list[EngineEvent]:
        """The oldest ``limit`` journalled events, oldest first, left in the journal
        until acknowledged (so a crash between read and outbox write loses nothing)."""
        return list(islice(self._events.values(), limit))

    async def ack_events(self, event_ids: list[str]) -> None:
        """Remove acknowledged events; unknown ids are ignored (re-acks are harmless)."""
        for event_id in event_ids:
            self._events.pop(event_id, None)

    async def events_dropped(self) -> int:
        """How many events the journal bound has discarded (for monitoring: non-zero
        means the drain fell behind by more than ``max_events``)."""
        return self._events_dropped

    async def ping(self) -> None:
        """Always reachable: the state lives in this process."""

    async def close(self) -> None:
        """Nothing to close."""
