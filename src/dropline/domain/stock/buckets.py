"""Stock buckets and the movement ledger.

    on_hand = available + committed + reserved + safety + quality_control + damaged

- ``available``: sellable, not yet offered anywhere.
- ``reserved``: offered to a drop and not yet sold (the engine holds against this).
- ``committed``: sold to a paid order, not yet shipped.
- ``safety``: the buffer kept back for replacements; never shown or sold.
- ``quality_control``: received but its lot has not passed final inspection.
- ``damaged``: on hand but unsellable.

Every change is a ``Movement`` of a quantity from one bucket to another (``None`` means
outside the building: a receipt comes from None, a shipment goes to None). Bucket
totals are therefore derivable from the ledger; ``StockLevel.apply`` is the one rule.

A movement may also say where the units physically are: ``to_bin`` for units that
arrive into a bin, ``from_bin`` for units that leave from one. A movement with no
bucket at all (``bin_move``) only relocates units between bins (``None`` there means
"not in any bin"), so per-bin quantities are derivable from the same ledger
(``domain/stock/bins.py``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from dropline.domain.errors import InsufficientStock, InvalidInput


class Bucket(StrEnum):
    AVAILABLE = "available"
    COMMITTED = "committed"
    RESERVED = "reserved"
    SAFETY = "safety"
    QUALITY_CONTROL = "quality_control"
    DAMAGED = "damaged"


class Reason(StrEnum):
    RECEIPT = "receipt"
    OFFER = "offer"
    UNOFFER = "unoffer"
    SALE = "sale"
    SHIPMENT = "shipment"
    RETURN = "return"
    ADJUSTMENT = "adjustment"
    COUNT = "count"
    SAFETY = "safety"
    QC_PASS = "qc_pass"
    QC_FAIL = "qc_fail"
    DAMAGE = "damage"
    CANCEL = "cancel"
    UNALLOCATE = "unallocate"  # a cancelled pre-order's lot units back to available
    CONTAIN = "contain"  # a quality alert's lot units off the shelf (ref the lot)
    BIN_MOVE = "bin_move"  # units relocated between bins; no bucket changes


MAX_QUANTITY = 10_000_000


@dataclass(frozen=True)
class Movement:
    """One ledger row: ``quantity`` units of ``sku_id`` from one bucket to another, or
    (no bucket at all) from one bin to another.

    Bins say where units physically are, so only a movement that crosses the
    building's wall or relocates units carries them: an arrival may name ``to_bin``,
    a departure ``from_bin``; a move between two buckets (on the shelf, nothing moves)
    names none."""

    sku_id: str
    quantity: int
    from_bucket: Bucket | None
    to_bucket: Bucket | None
    reason: Reason
    ref: str = ""
    actor: str = ""
    note: str = ""
    from_bin: str | None = None
    to_bin: str | None = None

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise InvalidInput("a movement moves at least one unit")
        if self.from_bucket is None and self.to_bucket is None:
            if self.from_bin == self.to_bin:
                raise InvalidInput("a movement needs a source or a destination")
            return
        if self.from_bucket == self.to_bucket:
            raise InvalidInput("a movement must change bucket")
        if (self.from_bin is not None and self.from_bucket is None) or (
            self.to_bin is not None and self.to_bucket is None
        ):
            raise InvalidInput("only units that leave the building leave a bin")
        if (
            self.from_bucket is not None
            and self.to_bucket is not None
            and (self.from_bin is not None or self.to_bin is not None)
        ):
            raise InvalidInput("a move between buckets does not move units between bins")

    @property
    def relocation(self) -> bool:
        """Units change bin only; every bucket stays as it is."""
        return self.from_bucket is None and self.to_bucket is None

    @property
    def leaves(self) -> bool:
        """Units leave the building (on hand goes down)."""
        return self.from_bucket is not None and self.to_bucket is None

    @property
    def arrives(self) -> bool:
        """Units enter the building (on hand goes up)."""
        return self.from_bucket is None and self.to_bucket is not None


@dataclass(frozen=True)
class StockLevel:
    """Bucket totals of one SKU. Never negative: ``apply`` refuses such a movement."""

    sku_id: str
    available: int = 0
    committed: int = 0
    reserved: int = 0
    safety: int = 0
    quality_control: int = 0
    damaged: int = 0

    @property
    def on_hand(self) -> int:
        return sum(self.get(b) for b in Bucket)

    def get(self, bucket: Bucket) -> int:
        value: int = getattr(self, bucket.value)
        return value

    def apply(self, movement: Movement) -> StockLevel:
        """The level after ``movement``; raises ``InsufficientStock`` if a bucket would
        go negative, so an invalid movement is never written."""
        changes: dict[str, int] = {}
        if movement.from_bucket is not None:
            have = self.get(movement.from_bucket)
            if have < movement.quantity:
                raise InsufficientStock(
                    f"{movement.sku_id}: {movement.from_bucket} has {have}, "
                    f"cannot move {movement.quantity}",
                    sku_id=movement.sku_id,
                    bucket=str(movement.from_bucket),
                    have=have,
                )
            changes[movement.from_bucket.value] = have - movement.quantity
        if movement.to_bucket is not None:
            changes[movement.to_bucket.value] = (
                changes.get(movement.to_bucket.value, self.get(movement.to_bucket))
                + movement.quantity
            )
        return replace(self, **changes)  # type: ignore[arg-type]


def replay(sku_id: str, movements: Iterable[Movement]) -> StockLevel:
    """Bucket totals derived from the ledger alone."""
    level = StockLevel(sku_id)
    for m in movements:
        level = level.apply(m)
    return level


def shipment(committed: Mapping[str, int], ref: str, actor: str = "") -> list[Movement]:
    """The units an order still has in ``committed`` leave the building when it ships
    (``committed → outside``, reason ``shipment``), SKUs in key order. ``committed`` is
    what the order's own movements put there and did not take out, so shipping the same
    order twice moves nothing the second time."""
    return [
        Movement(sku_id, qty, Bucket.COMMITTED, None, Reason.SHIPMENT, ref, actor, "shipped")
        for sku_id, qty in sorted(committed.items())
        if qty > 0
    ]


def give_back(
    committed: Mapping[str, int],
    allocated: Collection[str],
    *,
    order_id: str,
    drop_id: str,
    drop_ended: bool,
    actor: str = "",
) -> list[Movement]:
    """The movements that give back what a cancelled, unshipped order holds in
    ``committed`` (what its own movements put there and did not take out), SKUs in key
    order. One rule for every cancellation, plain or pre-order:

    - units a passed lot allocated to the order (its pre-order SKUs, ``allocated``)
      leave ``committed`` for ``available`` (``unallocate``, ref the order): no offer
      ever held them, so they join the lot's remainder;
    - units sold from the drop's stock go back to its offer (``committed → reserved``,
      ``cancel``, ref the order) and, once the drop has ended, on to ``available``
      (``unoffer``, ref the drop), as ending the drop did with its unsold units.

    ``committed`` is already summed per SKU over the order's lines and bundle
    components, so nothing is left behind and nothing moves twice."""
    out: list[Movement] = []
    ended: list[Movement] = []
    for sku_id, qty in sorted(committed.items()):
        if qty <= 0:
            continue
        if sku_id in allocated:
            out.append(
                Movement(
                    sku_id,
                    qty,
                    Bucket.COMMITTED,
                    Bucket.AVAILABLE,
                    Reason.UNALLOCATE,
                    order_id,
                    actor,
                    f"pre-order {order_id} cancelled",
                )
            )
            continue
        out.append(
            Movement(sku_id, qty, Bucket.COMMITTED, Bucket.RESERVED, Reason.CANCEL, order_id, actor)
        )
        if drop_ended:
            ended.append(
                Movement(
                    sku_id,
                    qty,
                    Bucket.RESERVED,
                    Bucket.AVAILABLE,
                    Reason.UNOFFER,
                    drop_id,
                    actor,
                    f"order {order_id} cancelled after the drop ended",
                )
            )
    return out + ended


def count_adjustment(
    level: StockLevel, bucket: Bucket, counted: int, *, actor: str, note: str
) -> Movement | None:
    """The movement that makes ``bucket`` equal a physical count, or None if it agrees.

    A count needs who counted and why, because it overrides the ledger's belief.
    """
    if counted < 0 or counted > MAX_QUANTITY:
        raise InvalidInput("a count must be between 0 and 10,000,000")
    if not actor.strip() or not note.strip():
        raise InvalidInput("a count that changes stock needs an actor and a reason")
    diff = counted - level.get(bucket)
    if diff == 0:
        return None
    if diff > 0:
        return Movement(level.sku_id, diff, None, bucket, Reason.COUNT, actor=actor, note=note)
    return Movement(level.sku_id, -diff, bucket, None, Reason.COUNT, actor=actor, note=note)


def safety_target(sellable_total: int, safety_qty: int, safety_pct: int) -> int:
    """Units to keep in ``safety``: the larger of a fixed quantity and a percentage
    (rounded up) of the SKU's sellable total (available + safety)."""
    if not 0 <= safety_pct <= 100:
        raise InvalidInput("safety percentage must be between 0 and 100")
    if safety_qty < 0:
        raise InvalidInput("safety quantity cannot be negative")
    by_pct = math.ceil(sellable_total * safety_pct / 100)
    return min(sellable_total, max(safety_qty, by_pct))


def safety_rebalance(level: StockLevel, safety_qty: int, safety_pct: int) -> Movement | None:
    """The movement between ``available`` and ``safety`` that meets the safety target."""
    target = safety_target(level.available + level.safety, safety_qty, safety_pct)
    diff = target - level.safety
    if diff > 0:
        return Movement(level.sku_id, diff, Bucket.AVAILABLE, Bucket.SAFETY, Reason.SAFETY)
    if diff < 0:
        return Movement(level.sku_id, -diff, Bucket.SAFETY, Bucket.AVAILABLE, Reason.SAFETY)
    return None
