"""The access windows as the monitor, the overlay and the post-stream report show them.

``window_state``: which window is open now and when the next one opens (its name and
time, for a countdown); cheap (the rules only), so the monitor and the overlay stream
can send it every tick. ``window_report``: each window with what it sold and passed on
per SKU (``domain/live/window_figures.py``), for the report, which reads the paid
orders and the hold events anyway; ``charged_sales`` dates each sale by when the engine
charged its units to the windows (the hold the order converted), not by its payment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dropline.domain.live.access import AccessPolicy, AccessWindow, next_start
from dropline.domain.live.window_figures import charged_at, current_index, window_figures
from dropline.services.live.hold_journal import HoldEventRow
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import SaleRow


def _brief(i: int, w: AccessWindow) -> dict[str, Any]:
    return {
        "index": i,
        "name": w.name,
        "tiers": list(w.tiers),
        "public": w.public,
        "starts_at": rfc3339(w.starts_at),
    }


def window_state(policy: AccessPolicy, now: float) -> dict[str, Any]:
    """``current_window`` (None before the first opens, or without windows),
    ``next_window`` and ``next_window_at`` (None once every window has opened)."""
    windows = policy.windows
    cur = current_index(windows, now)
    nxt = next((i for i, w in enumerate(windows) if w.starts_at > now), None)
    return {
        "current_window": None if cur is None else _brief(cur, windows[cur]),
        "next_window": None if nxt is None else _brief(nxt, windows[nxt]),
        "next_window_at": rfc3339(next_start(windows, now)),
    }


def charged_sales(
    sales: Iterable[SaleRow], hold_events: Iterable[HoldEventRow]
) -> list[tuple[float, Mapping[str, int]]]:
    """Each sale as (charged at, units per SKU) for ``window_figures``: the placing
    time of the hold its order converted (a ``hold.converted`` event), else its payment
    (``window_figures.charged_at``). A hold whose events the background drain has not
    stored yet (at most one drain interval behind the engine) counts at its payment
    until they are stored."""
    placed: dict[str, float] = {}
    for e in hold_events:
        created = e.payload.get("created_at") if e.type == "hold.converted" else None
        if created:
            placed[e.aggregate_id] = datetime.fromisoformat(created).timestamp()
    return [(charged_at(s.paid_at.timestamp(), placed.get(s.hold_id)), s.units) for s in sales]


def window_report(
    policy: AccessPolicy, sales: Sequence[tuple[float, Mapping[str, int]]], now: float
) -> dict[str, Any]:
    """``window_state`` and ``windows``: per window its tiers, opening, end, allocation,
    units sold and leftovers passed on in all and per SKU."""
    rows = []
    for f in window_figures(policy.windows, sales, now):
        w = f.window
        rows.append(
            _brief(f.index, w)
            | {
                "ends_at": rfc3339(f.ends_at),
                "open": f.open,
                "current": f.current,
                "allocation": None if w.allocation is None else dict(w.allocation),
                "sold": f.sold,
                "leftovers": f.leftovers,
                "skus": [
                    {
                        "sku_id": s.sku_id,
                        "allocated": s.allocated,
                        "carried_in": s.carried_in,
                        "sold": s.sold,
                        "leftovers": s.leftovers,
                    }
                    for s in f.skus
                ],
            }
        )
    return window_state(policy, now) | {"windows": rows}
