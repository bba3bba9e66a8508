"""Drops: a timed sale that offers a quantity of each SKU, and its lifecycle.

draft ──▶ scheduled ──▶ live ⇄ paused
  │           │          │       │
  └───────────┴──────────┴───────┴──▶ ended ┄┄▶ live (reopened by a restock wave)

A drop may carry a schedule: ``starts_at`` (a scheduled drop goes live then) and
``ends_at`` (a live or paused drop ends then). The background job
``services/live/schedule.py`` makes both transitions; this module only says what is due.

``ended`` is final for every ordinary transition (``check_transition``). The one way
back is a restock wave planned on the ended drop (its second wave): applying it reopens
the drop (``check_reopen``, ``reopened_offers``), and the wave's ``ends_at``, if any, is
the reopened sale's end (``check_wave_end``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from dropline.domain.errors import Conflict, InvalidInput, InvalidTransition
from dropline.domain.live.holds import DEFAULT_HOLD_TTL_S

MIN_TTL_S = 10
MAX_TTL_S = 3600


class DropStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    LIVE = "live"
    PAUSED = "paused"
    ENDED = "ended"


_ALLOWED: dict[DropStatus, frozenset[DropStatus]] = {
    DropStatus.DRAFT: frozenset({DropStatus.SCHEDULED, DropStatus.ENDED}),
    DropStatus.SCHEDULED: frozenset({DropStatus.LIVE, DropStatus.DRAFT, DropStatus.ENDED}),
    DropStatus.LIVE: frozenset({DropStatus.PAUSED, DropStatus.ENDED}),
    DropStatus.PAUSED: frozenset({DropStatus.LIVE, DropStatus.ENDED}),
}

# States in which the engine carries the drop (holds can exist).
ENGINE_STATES = frozenset({DropStatus.LIVE, DropStatus.PAUSED})
# States in which offers may still be changed.
EDITABLE_STATES = frozenset({DropStatus.DRAFT, DropStatus.SCHEDULED})


def check_transition(current: DropStatus, target: DropStatus) -> None:
    """Raise ``InvalidTransition`` unless the lifecycle allows ``current → target``."""
    if target not in _ALLOWED.get(current, frozenset()):
        raise InvalidTransition(
            f"a drop cannot go from {current} to {target}", current=current, target=target
        )


def check_ttl(ttl_s: int) -> int:
    if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
        raise InvalidInput(f"hold_ttl_s must be between {MIN_TTL_S} and {MAX_TTL_S}")
    return ttl_s


@dataclass(frozen=True)
class Offer:
    """A SKU offered in a drop. ``sold`` is the ledger's count of units in paid orders."""

    sku_id: str
    offered: int
    sold: int = 0
    per_buyer_limit: int | None = None
    paused: bool = False

    @property
    def unsold(self) -> int:
        return self.offered - self.sold


def engine_update(before: Offer | None, after: Offer) -> int | None:
    """What a live drop's reservation engine must hear after an offer changed from
    ``before`` (None: a new offer) to ``after``: the units to add (never negative; a
    live offer only grows) when its quantity or its per-buyer limit changed, or None
    when neither did. The engine alone enforces per-buyer limits, so a limit change is
    an update of 0 units: without it the engine keeps the old limit until a rebuild."""
    had = before.offered if before else 0
    old_limit = before.per_buyer_limit if before else None
    if after.offered == had and after.per_buyer_limit == old_limit:
        return None
    return max(0, after.offered - had)


@dataclass(frozen=True)
class Drop:
    id: str
    name: str
    currency: str
    status: DropStatus = DropStatus.DRAFT
    hold_ttl_s: int = DEFAULT_HOLD_TTL_S
    starts_at: float | None = None
    version: int = 1
    #: A dress rehearsal's copy of a drop names the drop it rehearses.
    rehearsal_of: str | None = None
    ends_at: float | None = None

    @property
    def accepting(self) -> bool:
        return self.status is DropStatus.LIVE


def check_schedule(starts_at: float | None, ends_at: float | None) -> None:
    """Raise ``InvalidInput`` unless the schedule is coherent: an end only after the
    start (a drop that would end before it opens never sells)."""
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at")


def check_start_ahead(drop: Drop, now: float) -> None:
    """Scheduling a drop whose start has already passed is refused: it would go live
    at once, on the next pass of the job, which is a manual go-live in disguise."""
    if drop.starts_at is not None and drop.starts_at <= now:
        raise InvalidInput("starts_at is in the past; set a later start or go live now")


def due_to_open(drop: Drop, now: float) -> bool:
    """A scheduled drop whose start has come (and whose end, if any, has not)."""
    return (
        drop.status is DropStatus.SCHEDULED
        and drop.starts_at is not None
        and drop.starts_at <= now
        and not due_to_end_at(drop, now)
    )


def due_to_end_at(drop: Drop, now: float) -> bool:
    return drop.ends_at is not None and drop.ends_at <= now


def due_to_end(drop: Drop, now: float) -> bool:
    """A live or paused drop whose end has come; a scheduled drop whose whole window
    passed before it opened also ends (it never goes live)."""
    return (drop.status in ENGINE_STATES or drop.status is DropStatus.SCHEDULED) and due_to_end_at(
        drop, now
    )


def seconds_until_start(drop: Drop, now: float) -> int | None:
    """The countdown: whole seconds (rounded up) until a draft or scheduled drop's
    start, 0 once it has come; None when there is no start or the drop has opened."""
    if drop.starts_at is None or drop.status not in EDITABLE_STATES:
        return None
    return max(0, math.ceil(drop.starts_at - now))


@dataclass(frozen=True)
class Reopening:
    """A restock wave that reopens an ended drop: ``quantity`` units of ``sku_id`` on
    sale from ``at`` (epoch seconds) and, with ``ends_at``, until then."""

    wave_id: str
    sku_id: str
    quantity: int
    at: float
    ends_at: float | None = None


def check_wave_end(
    status: DropStatus,
    at: float,
    ends_at: float | None,
    now: float,
    planned: Collection[float | None] = (),
) -> None:
    """Raise ``InvalidInput`` (field ``ends_at``) unless a restock wave's end fits.

    Only a wave planned on an ended drop reopens it, so only such a wave carries an
    end (a live or paused drop ends by its own schedule or by hand); the end comes
    after the wave's time and after now. The waves that reopen a drop together (one per
    SKU) end it together: whichever is applied first reopens the drop with its end, so
    ``planned`` (the ends of the reopening waves not yet applied) must all equal it."""
    if ends_at is not None and status is not DropStatus.ENDED:
        raise InvalidInput(
            "ends_at is only for a wave that reopens an ended drop; a live or paused "
            "drop ends by its own schedule or by hand",
            field="ends_at",
        )
    if ends_at is not None and ends_at <= max(at, now):
        raise InvalidInput("ends_at must be after the wave's time (at) and now", field="ends_at")
    if any(other != ends_at for other in planned):
        raise InvalidInput(
            "another wave already planned to reopen this drop ends it at another time: the "
            "waves that reopen a drop end it together, so give them the same ends_at "
            "(or cancel that wave)",
            field="ends_at",
        )


def check_reopen(drop: Drop, ends_at: float | None, now: float) -> None:
    """The one way from ``ended`` back to ``live``: a restock wave reopening the drop
    (``check_transition`` keeps refusing ``ended → live``). ``InvalidTransition`` for a
    drop that has not ended; ``Conflict`` once the wave's end has passed (a worker that
    was down too long): the sale it would reopen is already over."""
    if drop.status is not DropStatus.ENDED:
        raise InvalidTransition(
            f"only an ended drop is reopened; this one is {drop.status}",
            current=drop.status,
            target=DropStatus.LIVE,
        )
    if ends_at is not None and ends_at <= now:
        raise Conflict("the wave's ends_at has passed: the drop stays ended")


def reopened_offers(
    offers: Mapping[str, Offer], preorder_skus: Collection[str]
) -> dict[str, Offer]:
    """The in-stock offers of an ended drop that reopens, each brought down to what it
    sold. Ending gave every unsold unit back to ``available`` already, so this moves no
    stock, and only the wave's units (offered as usual) go on sale again. Pre-order
    offers are not among them: they took no stock and keep their cap as it is."""
    return {s: replace(o, offered=o.sold) for s, o in offers.items() if s not in preorder_skus}
