"""Holds: the fast layer's unit of reservation and its state machine.

A hold takes units of one or more SKUs of one drop for a short time. Its ``units`` are
already expanded (bundle components multiplied out and summed per SKU); ``items`` keep
what the buyer asked for (a SKU or a bundle, with a quantity) so the order can show it.

    active ──start_payment──▶ paying ──convert──▶ converted
      │  ╲                      │  ╲
      │   release               │   release
      ▼    ▼                    ▼    ▼
    expired released          expired released
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from dropline.domain.errors import InvalidInput, InvalidTransition

DEFAULT_HOLD_TTL_S = 90
DEFAULT_PAYING_CAP_S = 300
MAX_UNITS_PER_LINE = 1000


class HoldStatus(StrEnum):
    ACTIVE = "active"
    PAYING = "paying"
    CONVERTED = "converted"
    RELEASED = "released"
    EXPIRED = "expired"


TERMINAL = frozenset({HoldStatus.CONVERTED, HoldStatus.RELEASED, HoldStatus.EXPIRED})

_ALLOWED: dict[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.ACTIVE: frozenset({HoldStatus.PAYING, HoldStatus.RELEASED, HoldStatus.EXPIRED}),
    HoldStatus.PAYING: frozenset({HoldStatus.CONVERTED, HoldStatus.RELEASED, HoldStatus.EXPIRED}),
}


def check_transition(current: HoldStatus, target: HoldStatus) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is an edge of the machine."""
    if target not in _ALLOWED.get(current, frozenset()):
        raise InvalidTransition(
            f"a hold cannot go from {current} to {target}", current=current, target=target
        )


class ItemKind(StrEnum):
    SKU = "sku"
    BUNDLE = "bundle"


#: Enum members by stored value: a dict lookup instead of ``Enum.__call__``, for the
#: engines that decode holds thousands of times a second.
HOLD_STATUS: Final = {st.value: st for st in HoldStatus}
ITEM_KIND: Final = {k.value: k for k in ItemKind}


@dataclass(frozen=True)
class HoldItem:
    """One line as the buyer asked for it: a SKU or a bundle, times a quantity."""

    kind: ItemKind
    ref: str
    quantity: int


@dataclass(slots=True)
class HoldRequest:
    """Everything the engine needs to place a hold atomically.

    Not frozen, and read-only by convention: one is made for every hold placed, and a
    frozen dataclass's ``__init__`` (a guarded ``setattr`` per field) cost 1.5 µs more
    than this one for its twelve fields. Nothing keeps, hashes or changes a request.

    ``units`` is the per-SKU expansion of ``items`` (see ``catalog.expand_items``).
    ``idempotency_key`` is scoped to (drop, buyer): the same key returns the same hold.
    ``fingerprint`` identifies the request body so a replayed key with a different body
    is refused rather than silently answered with the old hold.
    ``tiers`` (from the buyer token) and ``client`` (the caller's address) are what the
    engine checks the drop's access windows and rate limits against (``live/access``).
    """

    drop_id: str
    buyer_id: str
    items: tuple[HoldItem, ...]
    units: Mapping[str, int]
    ttl_s: int
    idempotency_key: str | None = None
    fingerprint: str = ""
    attribution: Mapping[str, str] = field(default_factory=dict)
    tiers: frozenset[str] = frozenset()
    client: str = ""
    #: when the buyer token was issued (its ``iat``), for the drop's token max age
    issued_at: float | None = None
    #: A waitlist claim (placed by the waitlist for the next buyer in line, with the
    #: ``tiers`` they joined with): it may take units behind a latched waitlist gate and
    #: skips the token age and rate limits; every other check still applies.
    claim: bool = False


@dataclass(frozen=True)
class Hold:
    """A snapshot of a hold; times are UTC epoch seconds (floats) for cheap arithmetic."""

    id: str
    drop_id: str
    buyer_id: str
    items: tuple[HoldItem, ...]
    units: Mapping[str, int]
    status: HoldStatus
    created_at: float
    expires_at: float
    extended: bool = False
    idempotency_key: str | None = None
    fingerprint: str = ""
    attribution: Mapping[str, str] = field(default_factory=dict)

    def is_live(self, now: float) -> bool:
        """True while the hold still owns its units (active or paying, not past expiry)."""
        return self.status in (HoldStatus.ACTIVE, HoldStatus.PAYING) and now < self.expires_at


def paying_deadline(hold: Hold, now: float, cap_s: int) -> float:
    """The expiry a hold gets when payment starts: at least its current expiry, at most
    ``created_at + cap_s``. A hold is extended once; the buyer cannot extend it."""
    if hold.extended:
        return hold.expires_at
    return max(hold.expires_at, min(now + cap_s, hold.created_at + cap_s))


def validate_quantities(items: Iterable[HoldItem]) -> None:
    """Refuse empty requests and quantities that are zero, negative or absurd."""
    items = list(items)
    if not items:
        raise InvalidInput("a hold needs at least one item")
    for it in items:
        if it.quantity < 1:
            raise InvalidInput(f"quantity must be at least 1 (got {it.quantity})", ref=it.ref)
        if it.quantity > MAX_UNITS_PER_LINE:
            raise InvalidInput(
                f"quantity must be at most {MAX_UNITS_PER_LINE} (got {it.quantity})", ref=it.ref
            )
