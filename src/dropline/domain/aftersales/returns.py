"""Returns: which units of a shipped order may come back, why, where they go, and what
is refunded for them. Pure rules, no I/O; ``services.returns`` applies them.

A return is authorised against an order's lines (``requested``), the warehouse receives
the parcel and decides per line where its units go (``received``: stock movements from
outside the building into a bucket), and the buyer is refunded for what came back
(``refunded``). A return never received can be cancelled.

Refunds are proportional to the order line and exact in total: returning ``q`` more of a
line's ``n`` units, ``r`` already returned, refunds
``line_amount * (r + q) // n - line_amount * r // n``, so returning every unit of a line
refunds exactly its ``line_amount`` whatever the rounding of the pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from dropline.domain.errors import InvalidInput, InvalidTransition, ReturnNotAllowed
from dropline.domain.live.orders import OrderStatus
from dropline.domain.stock.buckets import Bucket
from dropline.domain.supply.production import parse_enum

DEFAULT_WINDOW_DAYS = 30
MAX_NOTE = 500


class ReturnReason(StrEnum):
    DEFECTIVE = "defective"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    CHANGED_MIND = "changed_mind"
    OTHER = "other"


# Reasons that say something about the product or its handling: counted as defects in
# the post-stream report, which feeds the next production run's QC.
DEFECT_REASONS = frozenset(
    {ReturnReason.DEFECTIVE, ReturnReason.DAMAGED_IN_TRANSIT, ReturnReason.NOT_AS_DESCRIBED}
)


class Disposition(StrEnum):
    """Where received units go: back on sale, into QC to be inspected, or written off."""

    RESTOCK = "restock"
    INSPECT = "inspect"
    SCRAP = "scrap"


DISPOSITION_BUCKET: Mapping[Disposition, Bucket] = {
    Disposition.RESTOCK: Bucket.AVAILABLE,
    Disposition.INSPECT: Bucket.QUALITY_CONTROL,
    Disposition.SCRAP: Bucket.DAMAGED,
}

# What the warehouse does when it does not say: a unit returned for a defect is never
# put back on sale unseen.
DEFAULT_DISPOSITION: Mapping[ReturnReason, Disposition] = {
    ReturnReason.DEFECTIVE: Disposition.INSPECT,
    ReturnReason.DAMAGED_IN_TRANSIT: Disposition.SCRAP,
    ReturnReason.WRONG_ITEM: Disposition.RESTOCK,
    ReturnReason.NOT_AS_DESCRIBED: Disposition.INSPECT,
    ReturnReason.CHANGED_MIND: Disposition.RESTOCK,
    ReturnReason.OTHER: Disposition.INSPECT,
}


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


# Units of these returns count against what a line can still return.
OPEN_OR_DONE = frozenset({ReturnStatus.REQUESTED, ReturnStatus.RECEIVED, ReturnStatus.REFUNDED})

_RETURN_ALLOWED: Mapping[ReturnStatus, frozenset[ReturnStatus]] = {
    ReturnStatus.REQUESTED: frozenset({ReturnStatus.RECEIVED, ReturnStatus.CANCELLED}),
    ReturnStatus.RECEIVED: frozenset({ReturnStatus.REFUNDED}),
}

# Units have left the building (an exception is a delivery problem after shipping).
RETURNABLE_ORDER = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.EXCEPTION})


def check_return_transition(current: ReturnStatus, target: ReturnStatus) -> None:
    if target not in _RETURN_ALLOWED.get(current, frozenset()):
        raise InvalidTransition(
            f"a return cannot go from {current} to {target}", current=current, target=target
        )


@dataclass(frozen=True)
class OrderedLine:
    """What the order says of one line: ``units`` are the SKUs one unit of the line is
    made of (one SKU for a plain line, the components for a bundle)."""

    line_no: int
    quantity: int
    line_amount: int
    units: Mapping[str, int]


@dataclass(frozen=True)
class ReturnLineRequest:
    line_no: int
    quantity: int
    reason: ReturnReason
    note: str = ""


@dataclass(frozen=True)
class PlannedLine:
    line_no: int
    quantity: int
    reason: ReturnReason
    note: str
    amount: int
    units: Mapping[str, int]  # SKU -> units coming back for this line


def parse_reason(value: str) -> ReturnReason:
    return parse_enum(ReturnReason, value, "reason")


def parse_disposition(value: str) -> Disposition:
    return parse_enum(Disposition, value, "disposition")


def return_deadline(
    shipped_at: datetime | None, delivered_at: datetime | None, window_days: int
) -> datetime | None:
    """The window runs from delivery, or from shipping when delivery was never reported."""
    start = delivered_at or shipped_at
    return None if start is None else start + timedelta(days=window_days)


def refund_for(line_amount: int, quantity: int, already: int, more: int) -> int:
    return line_amount * (already + more) // quantity - line_amount * already // quantity


def plan_return(
    order_status: OrderStatus,
    lines: Iterable[OrderedLine],
    already_returned: Mapping[int, int],
    requested: Iterable[ReturnLineRequest],
    *,
    now: datetime,
    deadline: datetime | None,
    refundable_left: int,
) -> list[PlannedLine]:
    """Check a return request against the order and price it.

    Raises ``ReturnNotAllowed`` when the order is not returnable (not shipped yet, or
    the window has closed) and ``InvalidInput`` for a line the order does not have, a
    quantity beyond what the line can still return, or a line named twice. The refund
    never exceeds what the order has left to refund."""
    if order_status not in RETURNABLE_ORDER:
        raise ReturnNotAllowed(
            f"an order that is {order_status} has not left the warehouse; "
            "only shipped or delivered orders can be returned",
            status=order_status.value,
        )
    if deadline is not None and now > deadline:
        raise ReturnNotAllowed(
            f"the return window closed on {deadline.isoformat()}", deadline=deadline.isoformat()
        )
    by_no = {ln.line_no: ln for ln in lines}
    asked = list(requested)
    if not asked:
        raise InvalidInput("a return needs at least one line", field="lines")
    seen: set[int] = set()
    planned: list[PlannedLine] = []
    for req in asked:
        line = by_no.get(req.line_no)
        if line is None:
            raise InvalidInput(f"the order has no line {req.line_no}", field="lines")
        if req.line_no in seen:
            raise InvalidInput(f"line {req.line_no} is named twice", field="lines")
        seen.add(req.line_no)
        done = already_returned.get(req.line_no, 0)
        left = line.quantity - done
        if req.quantity < 1 or req.quantity > left:
            raise InvalidInput(
                f"line {req.line_no} can return between 1 and {left} units "
                f"({line.quantity} ordered, {done} already returned)",
                field="lines",
            )
        if len(req.note) > MAX_NOTE:
            raise InvalidInput(f"a note is at most {MAX_NOTE} characters", field="note")
        planned.append(
            PlannedLine(
                line_no=req.line_no,
                quantity=req.quantity,
                reason=req.reason,
                note=req.note,
                amount=refund_for(line.line_amount, line.quantity, done, req.quantity),
                units={s: q * req.quantity for s, q in sorted(line.units.items())},
            )
        )
    total = sum(p.amount for p in planned)
    if total > refundable_left:
        raise ReturnNotAllowed(
            f"the order has {refundable_left} left to refund, this return would refund {total}",
            refundable_left=refundable_left,
        )
    return sorted(planned, key=lambda p: p.line_no)


def receipt_buckets(
    planned_reasons: Mapping[int, ReturnReason], chosen: Mapping[int, Disposition]
) -> dict[int, Disposition]:
    """Each line's disposition: the warehouse's choice, else the reason's default."""
    unknown = set(chosen) - set(planned_reasons)
    if unknown:
        raise InvalidInput(
            f"the return has no line {min(unknown)}", field="dispositions", lines=sorted(unknown)
        )
    return {
        no: chosen.get(no, DEFAULT_DISPOSITION[reason])
        for no, reason in sorted(planned_reasons.items())
    }
