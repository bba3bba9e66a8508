"""Production runs, pre-orders and the rules that tie a buyer's promise to a factory.

Pure domain: standard library only, no I/O. The services load runs and orders, call
these functions and store what they return.

- MOQ: a run below a manufacturer's minimum is refused with the shortfall, unless the
  creator overrides it explicitly with a reason (``check_moq``).
- Unit cost by quantity tier (``unit_cost``).
- The ship-date estimate of a pre-order is a date range: the run's warehouse-intake
  milestone plus handling time (``ship_estimate``).
- Delays follow the logic of the US mail-order rule (16 CFR 435): a first definite
  delay of up to 30 days may rely on the buyer's silence; a longer or indefinite delay,
  and any renewed delay of a date already revised, needs the buyer's express consent by
  the date in force, and without it the order is cancelled and refunded when that date
  passes (``classify_delay``). A promised date that passes with the order still
  waiting for its units cancels and refunds it too (``promise_lapsed``).
- Milestones keep their order where one cannot follow another: final QC never after
  the warehouse intake (``check_milestone_order``).
- Allocation of a passed lot to waiting pre-orders is first come, first served by
  payment time (``allocate_fifo``).
- Phased production: a reorder is *proposed* when sell-through reaches a threshold
  within a window (``reorder_due``), never ordered automatically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from dropline.domain.errors import InvalidInput, MilestoneOutOfOrder

#: A definite delay of at most this many days may rely on the buyer's silence.
SILENCE_IS_CONSENT_DAYS = 30
MAX_HANDLING_DAYS = 365
E = TypeVar("E", bound=StrEnum)


class Milestone(StrEnum):
    """The milestones of a production run, in their usual order."""

    DESIGN_FREEZE = "design_freeze"
    SAMPLE_APPROVAL = "sample_approval"
    PACKAGING_PROOF_APPROVAL = "packaging_proof_approval"
    PRODUCTION_START = "production_start"
    INLINE_INSPECTION = "inline_inspection"
    FINAL_QC = "final_qc"
    PACKING = "packing"
    FREIGHT_BOOKED = "freight_booked"
    SHIPPED = "shipped"
    WAREHOUSE_INTAKE = "warehouse_intake"


#: Pairs ``(earlier, later)``: the first milestone may never fall after the second.
MILESTONE_ORDER: tuple[tuple[Milestone, Milestone], ...] = (
    (Milestone.FINAL_QC, Milestone.WAREHOUSE_INTAKE),
)


def check_milestone_order(dates: Mapping[Milestone, datetime | None], changed: Milestone) -> None:
    """Refuse a change of ``changed`` that leaves it out of order with a milestone it
    must precede or follow (``MILESTONE_ORDER``). ``dates`` holds each milestone's date
    after the change: the actual date when known, else the planned one; an unknown date
    is never out of order. Only pairs that include ``changed`` are judged, so an old
    inconsistency elsewhere does not block unrelated edits.

    Raises ``MilestoneOutOfOrder`` naming both milestones and their dates."""
    for earlier, later in MILESTONE_ORDER:
        if changed not in (earlier, later):
            continue
        first, then = dates.get(earlier), dates.get(later)
        if first is not None and then is not None and first > then:
            raise MilestoneOutOfOrder(
                f"{earlier.value} ({first.isoformat()}) cannot fall after "
                f"{later.value} ({then.isoformat()}): move {later.value} first",
                milestone=earlier.value,
                must_precede=later.value,
                dates={earlier.value: first.isoformat(), later.value: then.isoformat()},
            )


class PaymentMode(StrEnum):
    """``charge_now`` captures at checkout; ``authorize`` captures when the unit ships."""

    CHARGE_NOW = "charge_now"
    AUTHORIZE = "authorize"


class PreorderStatus(StrEnum):
    WAITING = "waiting"  # paid (or authorised), no unit allocated yet
    READY = "ready"  # every unit allocated from a passed lot: ready to fulfil
    SHIPPED = "shipped"
    CANCELLED = "cancelled"  # cancelled and refunded


#: A pre-order that has not shipped may be cancelled, whether or not its units arrived.
CANCELLABLE = frozenset({PreorderStatus.WAITING, PreorderStatus.READY})


class Consent(StrEnum):
    NOT_NEEDED = "not_needed"
    SILENT = "silent"  # a short definite delay: silence is consent
    REQUIRED = "required"  # waiting for the buyer's explicit answer
    GIVEN = "given"


def parse_enum(kind: type[E], value: str, field: str) -> E:
    """``kind(value)`` or ``InvalidInput`` naming the allowed values."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{field} must be one of {allowed}", field=field) from None


# --------------------------------------------------------------------------- MOQ and cost


@dataclass(frozen=True)
class RunLine:
    """One SKU of a run: quantity to make, its MOQ (0 = none) and unit-cost tiers.

    ``tiers`` are ``(min_quantity, unit_amount)`` pairs; the tier with the largest
    ``min_quantity`` not above the quantity applies."""

    sku_id: str
    quantity: int
    moq: int = 0
    tiers: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class MoqShortfall:
    """What a run lacks to meet its minimums: per SKU and for the whole run."""

    per_sku: Mapping[str, int]
    run: int

    @property
    def ok(self) -> bool:
        return not self.per_sku and self.run == 0


def check_moq(lines: Sequence[RunLine], run_moq: int) -> MoqShortfall:
    """The shortfall of a run against each line's MOQ and the run's total MOQ."""
    if run_moq < 0:
        raise InvalidInput("moq cannot be negative", field="moq")
    per_sku = {ln.sku_id: ln.moq - ln.quantity for ln in lines if ln.quantity < ln.moq}
    total = sum(ln.quantity for ln in lines)
    return MoqShortfall(per_sku, max(0, run_moq - total))


def validate_lines(lines: Sequence[RunLine]) -> None:
    """A run makes at least one SKU, each once, each at least one unit, with sane tiers."""
    if not lines:
        raise InvalidInput("a production run needs at least one SKU line", field="lines")
    seen: set[str] = set()
    for ln in lines:
        if ln.sku_id in seen:
            raise InvalidInput(f"SKU {ln.sku_id} appears twice in the run", field="lines")
        seen.add(ln.sku_id)
        if not 1 <= ln.quantity <= 10_000_000:
            raise InvalidInput("a line's quantity must be between 1 and 10,000,000")
        if ln.moq < 0:
            raise InvalidInput("a line's moq cannot be negative")
        mins = [t[0] for t in ln.tiers]
        if len(set(mins)) != len(mins) or any(m < 1 for m in mins):
            raise InvalidInput("cost tiers need distinct minimum quantities of at least 1")
        if any(a < 0 for _, a in ln.tiers):
            raise InvalidInput("a unit cost cannot be negative")


def unit_cost(line: RunLine) -> int | None:
    """Unit cost in minor units for the line's quantity, or None without a matching tier."""
    best: tuple[int, int] | None = None
    for min_qty, amount in line.tiers:
        if min_qty <= line.quantity and (best is None or min_qty > best[0]):
            best = (min_qty, amount)
    return best[1] if best else None


# --------------------------------------------------------------------------- ship dates


@dataclass(frozen=True)
class ShipEstimate:
    """The window in which a pre-order should ship; both None when the date is unknown."""

    earliest: datetime | None
    latest: datetime | None

    @property
    def known(self) -> bool:
        return self.latest is not None


def ship_estimate(
    warehouse_intake: datetime | None, handling_min_days: int, handling_max_days: int
) -> ShipEstimate:
    """Intake date + handling time, as a range. Unknown when intake has no date."""
    if not 0 <= handling_min_days <= handling_max_days <= MAX_HANDLING_DAYS:
        raise InvalidInput("handling days must satisfy 0 <= min <= max <= 365")
    if warehouse_intake is None:
        return ShipEstimate(None, None)
    return ShipEstimate(
        warehouse_intake + timedelta(days=handling_min_days),
        warehouse_intake + timedelta(days=handling_max_days),
    )


@dataclass(frozen=True)
class DelayDecision:
    """What a moved estimate means for one order.

    - ``delayed``: the latest ship date moved later than promised (or became unknown).
    - ``days``: how many days later (None when indefinite).
    - ``consent``: ``SILENT`` for a first definite delay of at most 30 days, else
      ``REQUIRED``.
    - ``renewed``: the buyer was already told of a delay, so this is a further one.
    """

    delayed: bool
    days: int | None
    consent: Consent
    renewed: bool = False


def renews_a_delay(consent: str) -> bool:
    """True when the buyer was already told of a delay of the promise in force, and
    accepted it (by silence or expressly) or has yet to answer: any further delay is a
    *renewed* delay. ``not_needed`` means no delay is in force (none yet, or the date
    came back within the promise)."""
    return consent in (Consent.SILENT.value, Consent.GIVEN.value, Consent.REQUIRED.value)


def classify_delay(
    promised: datetime | None, new: ShipEstimate, *, renewed: bool = False
) -> DelayDecision:
    """Compare the promised latest ship date with a new estimate (mail-order rule logic).

    Silence is consent only to a *first* definite delay of at most 30 days. A renewed
    delay (``renewed``: the buyer was already told of a delay, see ``renews_a_delay``)
    needs the buyer's express consent whatever its length: 16 CFR 435.2(b)(2) never
    treats silence as consent to a further delay.

    No promise (the date was already unknown and the buyer consented to that) is not a
    new delay unless the estimate is still unknown, which changes nothing either."""
    if promised is None:
        return DelayDecision(False, None, Consent.NOT_NEEDED)
    if new.latest is None:
        return DelayDecision(True, None, Consent.REQUIRED, renewed)
    if new.latest <= promised:
        return DelayDecision(False, None, Consent.NOT_NEEDED)
    days = math.ceil((new.latest - promised).total_seconds() / 86400)
    silent = days <= SILENCE_IS_CONSENT_DAYS and not renewed
    return DelayDecision(True, days, Consent.SILENT if silent else Consent.REQUIRED, renewed)


def promise_lapsed(promised: datetime | None, consent: str, now: datetime) -> bool:
    """True when a pre-order still waiting for its units is past the ship-by date in
    force and nobody edited a milestone to say so in time: the mail-order rule then
    wants a full refund (no delay notice reached the buyer before the date). An order
    waiting for express consent is judged by its consent deadline instead; an order
    without a promised date (the buyer accepted an unknown one) never lapses."""
    if promised is None or consent == Consent.REQUIRED.value:
        return False
    return now > promised


# --------------------------------------------------------------------------- allocation


@dataclass(frozen=True)
class Waiting:
    """A pre-order line waiting for units: who paid when, and how many still lack."""

    order_id: str
    paid_at: datetime
    missing: int


def allocate_fifo(units: int, waiting: Sequence[Waiting]) -> tuple[dict[str, int], int]:
    """Give ``units`` to waiting lines first come, first served by payment time (ties by
    order id, so the result is deterministic). A line may be filled partly when the lot
    runs out. Returns (units per order, units left over for ``available``)."""
    if units < 0:
        raise InvalidInput("units cannot be negative")
    out: dict[str, int] = {}
    left = units
    for w in sorted(waiting, key=lambda w: (w.paid_at, w.order_id)):
        if left == 0:
            break
        give = min(left, w.missing)
        if give > 0:
            out[w.order_id] = out.get(w.order_id, 0) + give
            left -= give
    return out, left


# --------------------------------------------------------------------------- reorders


def reorder_due(
    *,
    planned: int,
    sold: int,
    threshold_pct: int,
    window_days: int,
    started: datetime,
    now: datetime,
) -> bool:
    """True when sell-through reached ``threshold_pct`` % within ``window_days`` of
    ``started``. After the window closes no proposal is made (demand was too slow)."""
    if planned <= 0 or not 1 <= threshold_pct <= 100 or window_days < 1:
        return False
    if now > started + timedelta(days=window_days):
        return False
    return sold * 100 >= threshold_pct * planned


def reorder_quantities(
    planned: Mapping[str, int], sold: Mapping[str, int], moq: Mapping[str, int]
) -> dict[str, int]:
    """Suggested next-batch quantity per SKU: what sold of this batch (demand seen so
    far), never less than the SKU's MOQ, and at least one unit."""
    return {s: max(sold.get(s, 0), moq.get(s, 0), 1) for s in sorted(planned)}
