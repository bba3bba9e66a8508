"""Waitlists: who gets a unit of a sold-out SKU when one comes back, and in what order.

A buyer joins a SKU's waitlist of a drop. Every unit that comes back (an expired or
released hold, a cancellation, a restock wave) is offered to the next buyer in line as
an exclusive **claim**: a hold placed for them that lasts the drop's claim window. A
claim ends ``claimed`` (the buyer paid for the hold) or ``lost`` (the window passed, the
buyer released it, or the hold could not be placed); a lost claim's unit goes to the
next in line.

    waiting ──offer──▶ offered ──paid──▶ claimed
       │                  │
       ├──leave──▶ left   └──expired/released──▶ lost
       └──cannot be held (limit)──▶ skipped

Order: ``fifo`` serves by join time. ``draw`` serves everyone who joined before the drop
opened (the pre-queue) in a shuffled order drawn once from a recorded seed, then the
later joiners by join time; ``draw_order`` is deterministic, so anyone holding the seed
and the entry ids can recompute the order (the audit).

Access windows: an entry keeps the tiers its buyer joined with, and is served only once
a window admitting them has opened (``serving``): no window is entered early through
the line. Until then it is passed over without losing its place, and the unit goes to
the next entry in line order whose window is open. An entry no window admits any more
(the windows were edited after the join) can never be served: it is skipped, so it
does not keep the SKU's units behind the gate for nobody.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from dropline.domain.errors import InvalidInput
from dropline.domain.live.access import AccessWindow, opens_for

DEFAULT_CLAIM_WINDOW_S = 600
MIN_CLAIM_WINDOW_S = 30
MAX_CLAIM_WINDOW_S = 24 * 3600


class WaitlistOrder(StrEnum):
    FIFO = "fifo"
    DRAW = "draw"


class EntryStatus(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    CLAIMED = "claimed"
    LOST = "lost"
    SKIPPED = "skipped"
    LEFT = "left"


#: Entries that still stand in the line (a buyer may not join twice while one does).
OPEN_STATES = frozenset({EntryStatus.WAITING, EntryStatus.OFFERED})


class GateMode(StrEnum):
    """What the waitlist asks of the engine's per-SKU gate (``StockEngine``)."""

    OFF = "off"
    ARM = "arm"
    LATCH = "latch"


def check_claim_window(seconds: int) -> int:
    """A claim window the buyer can act in, and that does not lock a unit away for days."""
    if not MIN_CLAIM_WINDOW_S <= seconds <= MAX_CLAIM_WINDOW_S:
        raise InvalidInput(
            f"claim_window_s must be between {MIN_CLAIM_WINDOW_S} and {MAX_CLAIM_WINDOW_S}",
            field="claim_window_s",
        )
    return seconds


@dataclass(frozen=True)
class Entry:
    """One buyer in one SKU's line. ``seq`` is the join order (the database's sequence,
    so clocks of several API processes do not matter); ``joined_at`` UTC epoch seconds;
    ``pre_queue``: joined before the drop opened; ``rank``: place in the drawn pre-queue
    (None until the draw, and for fifo); ``tiers``: the buyer token's tiers at the
    join, which decide when the entry may be served (``serving``)."""

    id: str
    seq: int
    drop_id: str
    sku_id: str
    buyer_id: str
    status: EntryStatus
    joined_at: float
    pre_queue: bool = False
    rank: int | None = None
    hold_id: str | None = None
    claim_expires_at: float | None = None
    tiers: frozenset[str] = frozenset()


def draw_order(entry_ids: Sequence[str], seed: str) -> list[str]:
    """The pre-queue shuffled by ``seed``: the ids are sorted first so the result depends
    only on the set of entries and the seed, and the seed feeds a SHA-256-seeded
    ``random.Random`` (stable across Python versions for ``shuffle``)."""
    ids = sorted(entry_ids)
    rng = random.Random(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big"))
    rng.shuffle(ids)
    return ids


def line_key(entry: Entry, order: WaitlistOrder) -> tuple[int, int]:
    """The sort key of the line: in ``draw`` order the drawn pre-queue first by rank,
    then everyone else in join order."""
    if order is WaitlistOrder.DRAW and entry.pre_queue and entry.rank is not None:
        return (0, entry.rank)
    return (1, entry.seq)


def in_line(entries: Sequence[Entry], order: WaitlistOrder) -> list[Entry]:
    """The entries still waiting, first in line first."""
    waiting = [e for e in entries if e.status is EntryStatus.WAITING]
    return sorted(waiting, key=lambda e: line_key(e, order))


#: When an entry may be served on a drop without windows: at once.
ALWAYS = -math.inf


def serve_from(windows: Sequence[AccessWindow], tiers: frozenset[str]) -> float | None:
    """When an entry with ``tiers`` may first be served: when the first window that
    admits them opens (``access.opens_for``: once admitted, a buyer stays admitted),
    ``ALWAYS`` without windows, None when no window admits them (any more)."""
    if not windows:
        return ALWAYS
    return opens_for(windows, tiers)


@dataclass(frozen=True)
class Serving:
    """The waiting entries of a line at one moment, each part in line order: ``ready``
    may be served now (the units go to them in this order); ``later`` wait for their
    window to open (passed over, keeping their place); ``shut``: no window admits them
    any more, so they are skipped."""

    ready: tuple[Entry, ...] = ()
    later: tuple[Entry, ...] = ()
    shut: tuple[Entry, ...] = ()


def serving(
    entries: Sequence[Entry],
    order: WaitlistOrder,
    windows: Sequence[AccessWindow],
    now: float,
) -> Serving:
    """Which waiting entries may be served at ``now`` under the drop's current
    ``windows``: an entry whose window has not opened is passed over (it stays waiting,
    in its place), so a unit goes to the first entry in line order whose window is
    open, and the passed-over entry is served by a pass after its window opens."""
    ready: list[Entry] = []
    later: list[Entry] = []
    shut: list[Entry] = []
    for e in in_line(entries, order):
        at = serve_from(windows, e.tiers)
        (shut if at is None else ready if at <= now else later).append(e)
    return Serving(tuple(ready), tuple(later), tuple(shut))


def position(
    entries: Sequence[Entry],
    entry_id: str,
    order: WaitlistOrder,
    windows: Sequence[AccessWindow] = (),
    now: float = 0.0,
) -> int | None:
    """1-based place of a waiting entry in its line: how many are served before it,
    plus one (None when it is not waiting, or no window admits it any more). Without
    windows that is its place in line order. With windows, it counts the entries ahead
    of it in line whose window has opened by the time its own has (``now``, or later
    when it waits for its window): an entry behind it whose window opens earlier is
    served before its window opens, or after it."""
    line = in_line(entries, order)
    mine = next((e for e in line if e.id == entry_id), None)
    if mine is None:
        return None
    own = serve_from(windows, mine.tiers)
    if own is None:
        return None
    by = max(now, own)
    ahead = line[: line.index(mine)]
    return 1 + sum(
        1 for e in ahead if (at := serve_from(windows, e.tiers)) is not None and at <= by
    )


def needs_draw(entries: Sequence[Entry], order: WaitlistOrder) -> bool:
    """True when the line is served by draw and some pre-queue entry has no rank yet
    (the draw happens once, on the first pass over the line after the drop opens)."""
    return order is WaitlistOrder.DRAW and any(
        e.pre_queue and e.rank is None and e.status is EntryStatus.WAITING for e in entries
    )


def restored_gate(in_line: int, joined_live: int, ever_offered: int, remaining: int) -> str:
    """The waitlist gate of a SKU when the engine is rebuilt from the ledger (it lost
    the gate with the drop): ``in_line`` buyers waiting or offered, ``joined_live`` of
    them joined after the drop opened, ``ever_offered`` claims the line has offered,
    ``remaining`` units the rebuilt SKU has left. Nobody in line: no gate. Latched when
    the gate must have been: nothing left, a buyer who joined a live drop (joining
    needs the SKU sold out, which latches it), or a claim offered (the gate was latched
    and opens only when the line empties). Otherwise armed: a pre-queue that has not
    seen the sell-out yet."""
    if in_line <= 0:
        return ""
    if remaining <= 0 or joined_live > 0 or ever_offered > 0:
        return "latched"
    return "armed"


@dataclass(frozen=True)
class KeptUnits:
    """A restock wave's units still kept behind its SKU's latched gate for the line."""

    wave_id: str
    for_waitlist: int


def settle_waves(
    kept: Sequence[KeptUnits], claims: int, gate_open: bool
) -> dict[str, tuple[int, int]]:
    """What one pass over a SKU's line did with the units restock waves keep behind its
    gate (``kept``, oldest wave first): per wave, (claims that took its units, its units
    that went on sale). The ``claims`` the pass offered take the oldest wave's units
    first (units are alike; those waited longest); when the pass leaves the gate open
    (nobody is waiting any more), every unit still kept goes on sale. Waves the pass
    did not touch are left out. A wave's units are therefore on sale only once they
    are: kept behind the gate for a buyer whose window has not opened, they are not."""
    out: dict[str, tuple[int, int]] = {}
    left = max(0, claims)
    for k in kept:
        took = min(left, k.for_waitlist)
        left -= took
        sale = k.for_waitlist - took if gate_open else 0
        if took or sale:
            out[k.wave_id] = (took, sale)
    return out


@dataclass(frozen=True)
class DemandEntry:
    """One entry of a SKU's line as the demand counts it: whose, its status now,
    whether it was ever offered a claim, and what its saved method's charge did
    (``succeeded``, ``failed``, or "" when none was made)."""

    buyer_id: str
    status: EntryStatus
    offered: bool = False
    charge: str = ""


@dataclass(frozen=True)
class Demand:
    """Waitlist demand of one SKU, in three units (``line_demand`` counts them):

    - **buyers**, each once however often they joined: ``joined``; ``waiting``, ``left``
      and ``skipped`` by where each one's latest entry stands; ``unserved``, those who
      got no unit through the line (no claim paid): what the next run could have sold;
    - **entries** (joins): ``entries``, so a buyer who left and joined again is one
      buyer and two entries;
    - **claims**: ``offered``, ``claimed`` (paid) and ``lost``, and the saved methods
      charged on allocation (``autocharge_succeeded``) or whose charge failed
      (``autocharge_failed``)."""

    sku_id: str
    joined: int = 0
    entries: int = 0
    offered: int = 0
    claimed: int = 0
    lost: int = 0
    waiting: int = 0
    left: int = 0
    skipped: int = 0
    unserved: int = 0
    autocharge_succeeded: int = 0
    autocharge_failed: int = 0


def line_demand(sku_id: str, entries: Sequence[DemandEntry]) -> Demand:
    """The demand of one SKU's line from its entries in join order (so a buyer's last
    entry is where they stand now)."""
    latest: dict[str, EntryStatus] = {}
    served: set[str] = set()
    for e in entries:
        latest[e.buyer_id] = e.status
        if e.status is EntryStatus.CLAIMED:
            served.add(e.buyer_id)
    now = list(latest.values())
    return Demand(
        sku_id=sku_id,
        joined=len(latest),
        entries=len(entries),
        offered=sum(1 for e in entries if e.offered),
        claimed=sum(1 for e in entries if e.status is EntryStatus.CLAIMED),
        lost=sum(1 for e in entries if e.status is EntryStatus.LOST),
        waiting=now.count(EntryStatus.WAITING),
        left=now.count(EntryStatus.LEFT),
        skipped=now.count(EntryStatus.SKIPPED),
        unserved=len(latest) - len(served),
        autocharge_succeeded=sum(1 for e in entries if e.charge == "succeeded"),
        autocharge_failed=sum(1 for e in entries if e.charge == "failed"),
    )
