"""What the audience is told about one SKU of a live drop: on sale, sold out, or the
open access windows' units taken with more coming when a later window opens.

The storefront's public view, the stream overlay and the ops monitor all show this one
answer (``sku_availability``), so none of them calls a SKU "sold out" that a later
window will still put on sale:

- **sold out**: no unit is left; or units are left but wait for the waitlist's line
  (its gate is latched: what comes back goes to the line first); or units are left
  that no opened or later window will ever release.
- **window allocation taken**: units are left, but the windows opened so far have
  released no more of them (a hold answers ``window_sold_out``) and a later window
  will (``more_at``: when it opens). This holds whether or not the waitlist's gate is
  latched: a buyer who joins the line on ``window_sold_out`` latches it, and the next
  window's units then go to the line first, but the SKU is not sold out.
- **on sale**: otherwise, with its ``holdable`` units left.

Before the first window opens nothing is held back by this rule: the drop's countdown
(``next_window_at``) says when buying starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from dropline.domain.live.access import AccessWindow, window_sold_out


class Availability(StrEnum):
    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"
    WINDOW_TAKEN = "window_allocation_taken"


@dataclass(frozen=True)
class SkuAvailability:
    """``state``; ``holdable``: the units left on sale, what the views show as
    ``remaining`` (0 unless on sale; the open windows' allocation may still let one tap
    take fewer); ``more_at``: when the next window releasing more opens (only while
    the open windows' units are taken)."""

    state: Availability
    holdable: int
    more_at: float | None = None


def next_release(windows: Sequence[AccessWindow], now: float, sku_id: str) -> float | None:
    """The opening of the first window after ``now`` that releases more units of the
    SKU (it has no allocation, so releases everything, or allocates some of it); None
    when no later window does."""
    for w in windows:
        if w.starts_at > now and (w.allocation is None or w.allocation.get(sku_id, 0) > 0):
            return w.starts_at
    return None


def sku_availability(
    windows: Sequence[AccessWindow],
    now: float,
    sku_id: str,
    *,
    offered: int,
    remaining: int,
    latched: bool,
) -> SkuAvailability:
    """The SKU's availability (module docstring) from its ``offered`` and ``remaining``
    units in the engine and whether its waitlist gate is ``latched``. Pass no
    ``windows`` when the drop is not in the engine (not live or paused)."""
    if remaining <= 0:
        return SkuAvailability(Availability.SOLD_OUT, 0)
    opened = any(w.starts_at <= now for w in windows)
    if opened and window_sold_out(windows, now, sku_id, offered, remaining):
        more = next_release(windows, now, sku_id)
        if more is None:
            return SkuAvailability(Availability.SOLD_OUT, 0)
        return SkuAvailability(Availability.WINDOW_TAKEN, 0, more)
    if latched:
        return SkuAvailability(Availability.SOLD_OUT, 0)
    return SkuAvailability(Availability.ON_SALE, remaining)


def availability_text(a: SkuAvailability) -> str | None:
    """A few words for a person (the monitor's table, the host's cues): ``sold out``,
    ``window allocation taken — more at 2026-12-12 20:00 UTC``, None when on sale."""
    if a.state is Availability.SOLD_OUT:
        return "sold out"
    if a.state is Availability.WINDOW_TAKEN and a.more_at is not None:
        at = datetime.fromtimestamp(a.more_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return f"window allocation taken — more at {at}"
    return None
