"""Bins: where units physically are, and how per-bin quantities follow the ledger.

A bin is a labelled place in the warehouse (``A-01-03`` in zone ``A``). Each SKU's
units on hand are split into units in bins and units *unplaced* (received but not yet
put away, or back from a buyer):

    on_hand = sum(units in each bin) + unplaced,   every part >= 0

Movements carry the bins they touch (``Movement.from_bin``/``to_bin``), so the
per-bin quantities are derivable from the ledger as bucket totals are, and
``BinStock.apply`` is the one rule that keeps the identity above true.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from dropline.domain.errors import InsufficientStock, InvalidInput
from dropline.domain.stock.buckets import Movement

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,39}$")
MAX_ZONE = 40
MAX_LABEL = 200


@dataclass(frozen=True)
class Bin:
    """A labelled place that holds units. ``code`` is what is printed and scanned."""

    id: str
    code: str
    zone: str = ""
    label: str = ""

    @staticmethod
    def check(code: str, zone: str, label: str) -> tuple[str, str, str]:
        """The normalised (code, zone, label) of a new bin; ``InvalidInput`` otherwise.
        A code is 1-40 letters, digits and ``. _ / -``, starting with a letter or digit,
        so it prints as a barcode and reads aloud."""
        code, zone, label = code.strip().upper(), zone.strip(), label.strip()
        if not CODE.match(code):
            raise InvalidInput(
                "a bin code is 1 to 40 letters, digits, '.', '_', '/' or '-'", field="code"
            )
        if len(zone) > MAX_ZONE:
            raise InvalidInput(f"a zone is at most {MAX_ZONE} characters", field="zone")
        if len(label) > MAX_LABEL:
            raise InvalidInput(f"a label is at most {MAX_LABEL} characters", field="label")
        return code, zone, label


@dataclass(frozen=True)
class BinStock:
    """Where one SKU's units on hand are: ``bins`` (bin id → units, never 0) and the
    ``unplaced`` rest. ``apply`` refuses a movement that would make either negative."""

    sku_id: str
    on_hand: int
    bins: Mapping[str, int] = field(default_factory=dict)

    @property
    def binned(self) -> int:
        return sum(self.bins.values())

    @property
    def unplaced(self) -> int:
        return self.on_hand - self.binned

    def at(self, bin_id: str | None) -> int:
        """Units at ``bin_id`` (None: unplaced)."""
        return self.unplaced if bin_id is None else self.bins.get(bin_id, 0)

    def apply(self, m: Movement) -> BinStock:
        """The split after ``m``. Units arriving go to ``m.to_bin`` (or stay unplaced),
        units leaving come from ``m.from_bin`` (or from the unplaced ones); a relocation
        takes from one place and puts into the other."""
        bins = dict(self.bins)
        on_hand = self.on_hand
        take_from = m.from_bin if (m.leaves or m.relocation) else None
        if m.leaves or m.relocation:
            have = self.at(take_from)
            if have < m.quantity:
                where = f"bin {take_from}" if take_from else "unplaced"
                raise InsufficientStock(
                    f"{m.sku_id}: {where} has {have}, cannot take {m.quantity}",
                    sku_id=m.sku_id,
                    bin_id=take_from or "",
                    have=have,
                )
            if take_from is not None:
                bins[take_from] = have - m.quantity
        if m.leaves:
            on_hand -= m.quantity
        if m.arrives:
            on_hand += m.quantity
        if (m.arrives or m.relocation) and m.to_bin is not None:
            bins[m.to_bin] = bins.get(m.to_bin, 0) + m.quantity
        return replace(self, on_hand=on_hand, bins={b: q for b, q in bins.items() if q})


def split_leaving(
    m: Movement, stock: BinStock, order: Sequence[str], bins_first: bool
) -> list[Movement]:
    """``m`` (units leaving without a bin) as the movements that say where each unit
    left from: from bins in ``order`` (then any other bin holding the SKU, by id) and
    from the unplaced units, ``bins_first`` or not.

    A shipment takes from bins first, in the pick list's order, since that is where
    the picker took them; a write-off or a count takes from the unplaced units first,
    the ones nobody can point at. Raises ``InsufficientStock`` when the SKU has fewer
    units on hand than leave."""
    if not m.leaves or m.from_bin is not None:
        return [m]
    if stock.on_hand < m.quantity:
        raise InsufficientStock(
            f"{m.sku_id}: {stock.on_hand} on hand, cannot take {m.quantity}",
            sku_id=m.sku_id,
            have=stock.on_hand,
        )
    places: list[str | None] = [b for b in order if stock.bins.get(b)]
    places += sorted(b for b in stock.bins if b not in places)
    places = [*places, None] if bins_first else [None, *places]
    out: list[Movement] = []
    left = m.quantity
    for place in places:
        take = min(left, stock.at(place))
        if take > 0:
            out.append(replace(m, quantity=take, from_bin=place))
            left -= take
        if left == 0:
            break
    return out


def pick_order(staged: str | None, holding: Iterable[tuple[str, str]]) -> list[str]:
    """Bins to pick a SKU from: the bin it is staged in for the drop first, then every
    other bin holding it by code (``holding`` is ``(bin_id, code)``)."""
    rest = [b for b, _ in sorted(holding, key=lambda bc: bc[1]) if b != staged]
    return ([staged] if staged else []) + rest


def allocate_picks(
    quantity: int, available: Sequence[tuple[str, int]]
) -> list[tuple[str | None, int]]:
    """``quantity`` units to pick, taken from ``available`` (bin, units) in order; what
    no bin holds is ``(None, rest)``: the pick list then says where the SKU's old
    free-text location is, or that it is not in a bin."""
    out: list[tuple[str | None, int]] = []
    left = quantity
    for bin_id, units in available:
        take = min(left, units)
        if take > 0:
            out.append((bin_id, take))
            left -= take
        if left == 0:
            return out
    if left:
        out.append((None, left))
    return out
