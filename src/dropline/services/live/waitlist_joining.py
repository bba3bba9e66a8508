"""Who may join a SKU's waitlist, and how the join sets the SKU's gate.

A line is for a buyer who cannot take a unit now: the SKU is sold out (or its units
already wait behind a latched gate), or, with access windows, the windows opened so
far have released no more of it (a hold answers ``window_sold_out``). It is also only
for buyers the windows admit (``domain/live/access.may_join``). The entry keeps the
buyer token's tiers: the line serves it once their window opens (``waitlist.serving``),
and the engine checks the claim against them, as it checks a hold.

The gate the join asks for: ``arm`` normally (it latches on the last unit, or at once
when none is left), ``latch`` when the windows hold the units back, so what comes back
and what the next window releases when it opens go to the line before the sale.
"""

from __future__ import annotations

from dropline.domain.errors import NotSoldOut, WindowClosed
from dropline.domain.live.access import AccessPolicy, at_text, may_join, window_sold_out
from dropline.domain.live.waitlist import GateMode
from dropline.services.ports import SkuCounts


def join_gate(
    drop_id: str,
    sku_id: str,
    *,
    policy: AccessPolicy,
    tiers: frozenset[str],
    now: float,
    pre_queue: bool,
    offered: int,
    counts: SkuCounts | None,
) -> GateMode:
    """The gate mode a join sets, or the refusal: ``WindowClosed`` (the buyer's window
    has not opened; ``opens_at`` None when no window admits them), ``NotSoldOut`` (a
    hold would succeed: the problem carries the hold to place instead)."""
    admitted = may_join(policy.windows, tiers, now, pre_queue)
    if admitted.closed:
        raise WindowClosed(
            "your access window has not opened"
            if admitted.opens_at is not None
            else "no access window of this drop admits your tiers",
            opens_at=at_text(admitted.opens_at),
        )
    if pre_queue or counts is None:
        return GateMode.ARM
    if window_sold_out(policy.windows, now, sku_id, offered, counts.remaining):
        return GateMode.LATCH
    if counts.remaining > 0 and counts.waitlist != "latched":
        raise NotSoldOut(
            f"SKU {sku_id} is not sold out: place a hold instead",
            sku_id=sku_id,
            remaining=counts.remaining,
            hold_url="/v1/holds",
            hint=f'POST /v1/holds {{"drop_id": "{drop_id}", "items": '
            f'[{{"sku_id": "{sku_id}", "quantity": 1}}]}}',
        )
    return GateMode.ARM
