"""The quality loop's rules: defect-rate thresholds, which units on the shelf are a
lot's (for containment), and when a quality alert may close.

A lot's defect rate is its defective units (buyer-reported defects traced to it) over
its delivered units, in basis points. When it passes (is above) the threshold of the
lot's manufacturer (or the global one, ``*``), an alert opens: the lot's remaining
units go to ``quality_control`` and its manufacturer's product goes to tightened
inspection. The alert closes only with a corrective action and a later lot of that
manufacturer that passed.

Stock is fungible on the shelf, so which units are a lot's is a rule, stated once in
``shelf_by_lot``: the shelf (``available`` + ``safety``) sells first in, first out, by
ledger order, and units contained for a lot come out of that lot's units.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from dropline.domain.errors import Conflict, InvalidInput

#: Global threshold key: applies to a manufacturer without its own.
GLOBAL = "*"
#: The threshold used when none is configured: 5 %.
DEFAULT_THRESHOLD_BP = 500
MAX_CORRECTIVE_ACTION = 2000


class AlertStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def parse_threshold_pct(value: object) -> int:
    """A threshold given in percent (0 to 100, at most two decimals: ``2.5``, ``"10"``)
    as basis points. Anything else (out of range, not a number, a bool, finer than
    0.01 %) is ``InvalidInput``, so a typo never silences or floods the alerts."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidInput("threshold_pct must be a number from 0 to 100", field="threshold_pct")
    try:
        pct = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(
            "threshold_pct must be a number from 0 to 100", field="threshold_pct"
        ) from None
    if not pct.is_finite() or pct < 0 or pct > 100:
        raise InvalidInput("threshold_pct must be from 0 to 100 %", field="threshold_pct")
    bp = pct * 100
    if bp != bp.to_integral_value():
        raise InvalidInput("threshold_pct has at most two decimals", field="threshold_pct")
    return int(bp)


def rate_bp(defective: int, delivered: int) -> int:
    """Defective over delivered units in basis points, rounded down; 0 with nothing
    delivered (no rate can be judged yet)."""
    return defective * 10_000 // delivered if delivered > 0 else 0


def passes_threshold(defective: int, delivered: int, threshold_bp: int) -> bool:
    """True when the lot's defect rate is above the threshold. The exact ratio is
    compared (not the rounded rate), and a lot with nothing delivered never alerts."""
    return delivered > 0 and defective > 0 and defective * 10_000 > threshold_bp * delivered


def threshold_for(manufacturer_id: str, thresholds: dict[str, int]) -> int:
    """The manufacturer's own threshold, else the global one, else the default."""
    return thresholds.get(manufacturer_id, thresholds.get(GLOBAL, DEFAULT_THRESHOLD_BP))


@dataclass(frozen=True)
class ShelfFlow:
    """One ledger movement into or out of the shelf (``available`` + ``safety``) of a
    SKU, in ledger order. ``lot_id`` on an inflow: the lot whose units these are (None:
    not from a lot, or not attributable); on an outflow: the lot whose units were taken
    on purpose (containment); None means the shelf's oldest units left."""

    quantity: int
    inflow: bool
    lot_id: str | None = None


@dataclass(frozen=True)
class ShelfByLot:
    remaining: dict[str, int]  # lot -> units still on the shelf
    consumed: dict[str, int]  # lot -> units that left the shelf first in, first out


@dataclass
class _Batch:
    lot_id: str | None
    quantity: int


def shelf_by_lot(flows: Iterable[ShelfFlow]) -> ShelfByLot:
    """Replay the shelf's movements: each inflow is a batch (tagged with its lot, if
    any); an untargeted outflow takes the oldest batches first (FIFO); a targeted one
    takes its lot's newest batches. What is left of a lot's batches is its remaining
    units, exactly what containment moves; what FIFO took counts as delivered."""
    batches: list[_Batch] = []
    consumed: dict[str, int] = {}
    for f in flows:
        if f.inflow:
            batches.append(_Batch(f.lot_id, f.quantity))
            continue
        left = f.quantity
        targeted = f.lot_id is not None
        for b in reversed(batches) if targeted else batches:
            if not left:
                break
            if targeted and b.lot_id != f.lot_id:
                continue
            take = min(left, b.quantity)
            if not targeted and b.lot_id is not None:
                consumed[b.lot_id] = consumed.get(b.lot_id, 0) + take
            b.quantity -= take
            left -= take
        batches = [b for b in batches if b.quantity]
    remaining: dict[str, int] = {}
    for b in batches:
        if b.lot_id is not None:
            remaining[b.lot_id] = remaining.get(b.lot_id, 0) + b.quantity
    return ShelfByLot(remaining, consumed)


def check_close(
    status: AlertStatus,
    corrective_action: str,
    *,
    manufacturer_id: str,
    closing_manufacturer_id: str | None,
    closing_lot_passed: bool,
    closing_received_at: datetime,
    opened_at: datetime,
) -> str:
    """The corrective action, stripped, if the alert may close: it is open, the action is
    1 to 2000 characters, and the closing lot is the same manufacturer's, received after
    the alert opened (so inspected under tightened inspection) and passed."""
    if status is not AlertStatus.OPEN:
        raise Conflict("the quality alert is closed already", status=status.value)
    action = corrective_action.strip()
    if not action or len(action) > MAX_CORRECTIVE_ACTION:
        raise InvalidInput(
            f"closing needs a corrective action of 1 to {MAX_CORRECTIVE_ACTION} characters",
            field="corrective_action",
        )
    if closing_manufacturer_id != manufacturer_id:
        raise InvalidInput(
            "the closing lot must come from the alert's manufacturer", field="closing_lot_id"
        )
    if closing_received_at <= opened_at:
        raise InvalidInput(
            "the closing lot must be received after the alert opened", field="closing_lot_id"
        )
    if not closing_lot_passed:
        raise Conflict("the closing lot has not passed final inspection")
    return action
