"""What each access window of a drop sold, and what it passed on to the next.

For the report and the monitor: a window's **span** runs from its opening to the next
window's (the last one's has no end). Per SKU it had its **allocation** plus what the
window before it left unsold (**carried in**: leftovers flow on, ``access.py``); it
**sold** the units of the paid orders the engine charged in its span; what it had and
did not sell are its **leftovers**, passed on to the next window once that opens (None
while the window is still the current one, or when it has no allocation: it released
every unit, so nothing was held back). A window not yet open has carried nothing in yet.

A sale counts in the window in which the engine took its units for good
(``charged_at``): the engine holds the windows' allocations against every unit taken,
from the hold on, so a unit held at the end of the gold window and paid a few seconds
after the public window opened was gold's allocation, and counts there. Counting it
when paid would show gold with a leftover it never passed on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dropline.domain.live.access import AccessWindow


@dataclass(frozen=True)
class SkuFigures:
    sku_id: str
    allocated: int | None
    carried_in: int
    sold: int
    leftovers: int | None


@dataclass(frozen=True)
class WindowFigures:
    index: int
    window: AccessWindow
    ends_at: float | None
    open: bool
    current: bool
    skus: tuple[SkuFigures, ...] = field(default_factory=tuple)

    @property
    def sold(self) -> int:
        return sum(s.sold for s in self.skus)

    @property
    def leftovers(self) -> int | None:
        known = [s.leftovers for s in self.skus if s.leftovers is not None]
        return sum(known) if known else None


def charged_at(paid_at: float, converted_hold_placed_at: float | None) -> float:
    """When the engine charged a paid order's units to the windows' allocations: when
    the hold the order converted was placed (its units stayed taken from then to the
    payment), or, when the order converted no hold (it expired, was released or was
    lost before the payment, and the payment took the units afresh), when it was paid.
    Never later than the payment."""
    if converted_hold_placed_at is None:
        return paid_at
    return min(converted_hold_placed_at, paid_at)


def current_index(windows: Sequence[AccessWindow], now: float) -> int | None:
    """The index of the window open at ``now`` (the latest started), None before the
    first opens."""
    started = [i for i, w in enumerate(windows) if w.starts_at <= now]
    return started[-1] if started else None


def window_figures(
    windows: Sequence[AccessWindow],
    sales: Sequence[tuple[float, Mapping[str, int]]],
    now: float,
) -> list[WindowFigures]:
    """Per window in order, per SKU it allocates or sold: allocated, carried in, sold,
    leftovers (see the module docstring). ``sales``: (charged at, units per SKU), the
    time from ``charged_at``."""
    cur = current_index(windows, now)
    out: list[WindowFigures] = []
    carry: dict[str, int] = {}
    for i, w in enumerate(windows):
        end = windows[i + 1].starts_at if i + 1 < len(windows) else None
        sold: dict[str, int] = {}
        for at, units in sales:
            if at >= w.starts_at and (end is None or at < end):
                for sku, n in units.items():
                    sold[sku] = sold.get(sku, 0) + n
        closed = cur is not None and i < cur
        if w.starts_at > now:
            carry = {}  # a window not yet open has carried nothing in yet
        rows = []
        next_carry: dict[str, int] = {}
        for sku in sorted(set(w.allocation or {}) | set(sold) | set(carry)):
            if w.allocation is None:
                rows.append(SkuFigures(sku, None, carry.get(sku, 0), sold.get(sku, 0), None))
                continue
            had = w.allocation.get(sku, 0) + carry.get(sku, 0)
            left = max(0, had - sold.get(sku, 0))
            next_carry[sku] = left
            rows.append(
                SkuFigures(
                    sku,
                    w.allocation.get(sku, 0),
                    carry.get(sku, 0),
                    sold.get(sku, 0),
                    left if closed else None,
                )
            )
        carry = next_carry
        out.append(
            WindowFigures(
                i,
                w,
                end,
                open=w.starts_at <= now,
                current=cur == i,
                skus=tuple(rows),
            )
        )
    return out
