"""The words the monitor, the overlay and the host read for a SKU: its stock state, and
the host's cues ("Black / M sold out — Black / L has 12 left")."""

from __future__ import annotations

from typing import Any

from dropline.domain.live.availability import Availability, SkuAvailability

#: A SKU's state while the open windows' units are taken and a later window has more.
WINDOW_TAKEN = Availability.WINDOW_TAKEN.value


def stock_state(remaining: int, threshold: int) -> str:
    """The overlay's coarse word for a SKU on sale: ``sold_out``, ``low`` or
    ``in_stock``."""
    if remaining <= 0:
        return "sold_out"
    if remaining <= threshold:
        return "low"
    return "in_stock"


def sku_state(a: SkuAvailability, threshold: int) -> str:
    """The word the monitor and the overlay show for a SKU: ``in_stock`` or ``low`` while
    on sale, else the availability's (``sold_out``, ``window_allocation_taken``)."""
    if a.state is Availability.ON_SALE:
        return stock_state(a.holdable, threshold)
    return a.state.value


def host_cues(rows: list[dict[str, Any]]) -> list[str]:
    """Plain sentences the host can read out, naming the product: a sold-out SKU and the
    nearest sibling (same product) that still has units, e.g. "Logo Hoodie — Black / M
    sold out — Black / L has 12 left"; a SKU whose open windows' units are taken says
    when more come ("... : window allocation taken — more at 20:00 UTC"), never "sold
    out"."""
    cues = []
    for r in rows:
        if r.get("state") == WINDOW_TAKEN:
            cues.append(f"{r['name']}: {r['state_text']}")
            continue
        if r["remaining"] > 0 or r["offered"] == 0:
            continue
        siblings = [
            s
            for s in rows
            if s["product_id"] == r["product_id"]
            and s["remaining"] > 0
            and not s["paused"]
            and s.get("state") != WINDOW_TAKEN
        ]
        if not siblings:
            cues.append(f"{r['name']} sold out — nothing left of {r['product']}")
            continue
        # Prefer a sibling sharing the first attribute (the same colour), then the most left.
        first = r["label"].split(" / ")[0]
        best = max(siblings, key=lambda s: (s["label"].split(" / ")[0] == first, s["remaining"]))
        cues.append(f"{r['name']} sold out — {best['label']} has {best['remaining']} left")
    for r in rows:
        if (
            0 < r["remaining"] <= r["low_stock_threshold"]
            and not r["paused"]
            and r.get("state") != WINDOW_TAKEN
        ):
            cues.append(f"Only {r['remaining']} left of {r['name']}")
    return cues
