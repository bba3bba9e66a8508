"""Count sessions: a blind physical count of some bins (or of some SKUs wherever they
are), its variances against the ledger, and who may accept them.

- A line is one SKU at one place (a bin, or ``UNPLACED``: the SKU's units in no bin).
  Its ``expected`` figure is what the ledger said at that place *at the moment the
  line was counted*, so the variance is fixed then: units that move afterwards (a
  sale shipping, a put-away) are not mistaken for a difference, because accepting the
  variance moves exactly ``counted - expected`` units, not "whatever makes the ledger
  say ``counted`` now".
- A variance within the session's ``threshold`` is adjusted at once on the counter's
  word; a larger one waits for an approver, who may not be the counter.
- A count is at least one unit; that a place holds none of a SKU is said explicitly
  ("none found"), so a slip of the finger never writes stock off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from dropline.domain.errors import (
    BinNotInSession,
    Conflict,
    InsufficientStock,
    InvalidInput,
    SelfApproval,
)
from dropline.domain.stock.buckets import MAX_QUANTITY, Bucket, Movement, Reason, StockLevel

UNPLACED = ""  # the place of a SKU's units that are in no bin
MAX_NOTE = 2000


class SessionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class LineStatus(StrEnum):
    MATCHED = "matched"  # counted what the ledger expected
    APPLIED = "applied"  # a variance within the threshold, adjusted at once
    PENDING = "pending"  # a variance over the threshold, waiting for an approver
    APPROVED = "approved"  # adjusted by an approver
    REJECTED = "rejected"  # refused by an approver: count it again


# Lines whose variance is still open: the session cannot close, the gate blocks.
OPEN_VARIANCE = frozenset({LineStatus.PENDING, LineStatus.REJECTED})
# Lines that may be counted again (the earlier count is replaced).
RECOUNTABLE = frozenset({LineStatus.PENDING, LineStatus.REJECTED})


@dataclass(frozen=True)
class CountLine:
    session_id: str
    bin_id: str  # UNPLACED for the units in no bin
    sku_id: str
    expected: int
    counted: int
    status: LineStatus
    counted_by: str
    counted_at: datetime
    decided_by: str = ""
    decided_at: datetime | None = None
    decision_note: str = ""

    @property
    def variance(self) -> int:
        return self.counted - self.expected


@dataclass(frozen=True)
class CountSession:
    id: str
    status: SessionStatus
    blind: bool
    threshold: int
    bins: tuple[str, ...]  # may include UNPLACED
    skus: tuple[str, ...]  # empty: any SKU found in the bins
    note: str
    opened_by: str
    opened_at: datetime
    closed_by: str = ""
    closed_at: datetime | None = None
    version: int = 1

    def check_place(self, bin_id: str, sku_id: str) -> None:
        """Raise unless the session counts ``sku_id`` at ``bin_id``."""
        if bin_id not in self.bins:
            where = "the unplaced units" if bin_id == UNPLACED else f"bin {bin_id}"
            raise BinNotInSession(
                f"{where} is not in count session {self.id}", session_id=self.id, bin_id=bin_id
            )
        if self.skus and sku_id not in self.skus:
            raise InvalidInput(
                f"SKU {sku_id} is not counted in session {self.id}",
                session_id=self.id,
                sku_id=sku_id,
            )

    def check_open(self) -> None:
        if self.status is not SessionStatus.OPEN:
            raise Conflict(f"count session {self.id} is {self.status}", status=self.status.value)


def check_actor(actor: str, what: str) -> str:
    actor = actor.strip()
    if not actor or len(actor) > 120:
        raise InvalidInput(f"{what} needs who did it (1 to 120 characters)", field="actor")
    return actor


def check_threshold(threshold: int) -> int:
    if not 0 <= threshold <= MAX_QUANTITY:
        raise InvalidInput("threshold must be between 0 and 10,000,000 units", field="threshold")
    return threshold


def check_counted(counted: int | None, none_found: bool) -> int:
    """The units counted: at least 1, or 0 only when ``none_found`` says so."""
    if none_found:
        if counted not in (None, 0):
            raise InvalidInput("give a count or 'none found', not both", field="counted")
        return 0
    if counted is None or counted < 1 or counted > MAX_QUANTITY:
        raise InvalidInput(
            "a count is between 1 and 10,000,000 units; record 'none found' for a place "
            "that holds none",
            field="counted",
        )
    return counted


def line_status(variance: int, threshold: int) -> LineStatus:
    """What a count with this variance becomes: matched, adjusted at once within the
    threshold, or waiting for an approver."""
    if variance == 0:
        return LineStatus.MATCHED
    return LineStatus.APPLIED if abs(variance) <= threshold else LineStatus.PENDING


def check_decision(line: CountLine, approver: str, note: str) -> tuple[str, str]:
    """Who decides a pending variance and why: never the one who counted it."""
    approver = check_actor(approver, "an approval")
    note = note.strip()
    if not note or len(note) > MAX_NOTE:
        raise InvalidInput(f"a decision needs a reason of 1 to {MAX_NOTE} characters", field="note")
    if line.status is not LineStatus.PENDING:
        raise Conflict(
            f"this count is {line.status}; only a pending variance is approved or rejected",
            status=line.status.value,
        )
    if approver == line.counted_by:
        raise SelfApproval(
            f"{approver} counted this line; a variance over the threshold needs another approver",
            counted_by=line.counted_by,
        )
    return approver, note


def variance_movements(
    level: StockLevel, line: CountLine, *, actor: str, note: str, ref: str
) -> list[Movement]:
    """The ``count`` movements that book a line's variance: found units arrive into
    ``available`` at the line's place; missing units leave from ``available``, then
    ``safety``, at the line's place. Units offered to a drop are never written off
    here: with too few left, ``InsufficientStock`` says to lower the offer first."""
    v = line.variance
    place = line.bin_id or None
    if v > 0:
        found = Movement(line.sku_id, v, None, Bucket.AVAILABLE, Reason.COUNT, ref, actor, note)
        return [replace(found, to_bin=place)]
    short = -v
    out: list[Movement] = []
    for bucket in (Bucket.AVAILABLE, Bucket.SAFETY):
        take = min(short, level.get(bucket))
        if take:
            gone = Movement(line.sku_id, take, bucket, None, Reason.COUNT, ref, actor, note)
            out.append(replace(gone, from_bin=place))
            short -= take
    if short:
        raise InsufficientStock(
            f"{line.sku_id}: {-v} units are missing but only "
            f"{level.available + level.safety} are neither offered nor sold; lower the "
            "drop's offer first, then approve",
            sku_id=line.sku_id,
            have=level.available + level.safety,
        )
    return out


def uncounted(
    session: CountSession,
    holding: Mapping[str, Mapping[str, int]],
    counted: Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    """The (place, SKU) pairs the session still has to count: every SKU the ledger
    holds now at a place of the session (``holding``: place → SKU → units), within the
    session's SKUs, that has no line yet."""
    done = set(counted)
    out = []
    for place in session.bins:
        for sku_id, units in sorted(holding.get(place, {}).items()):
            wanted = units > 0 and (not session.skus or sku_id in session.skus)
            if wanted and (place, sku_id) not in done:
                out.append((place, sku_id))
    return out
