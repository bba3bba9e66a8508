"""Drops: a timed sale that offers a quantity of each SKU, and its lifecycle.

draft ──▶ scheduled ──▶ live ⇄ paused
  │           │          │       │
  └───────────┴──────────┴───────┴──▶ ended

A drop may carry a schedule: ``starts_at`` (a scheduled drop goes live then) and
``ends_at`` (a live or paused drop ends then). The background job
``services/live/schedule.py`` makes both transitions; this module only says what is due.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from dropline.domain.errors import InvalidInput, InvalidTransition
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
