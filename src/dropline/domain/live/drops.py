"""Drops: a timed sale that offers a quantity of each SKU, and its lifecycle.

draft ──▶ scheduled ──▶ live ⇄ paused
  │           │          │       │
  └───────────┴──────────┴───────┴──▶ ended
"""

from __future__ import annotations

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

    @property
    def accepting(self) -> bool:
        return self.status is DropStatus.LIVE
