"""The funnel from view to hold to paid, and the demand left unserved after sell-out.
Pure rules, no I/O; ``services.insight.funnel`` reads the figures they take.

Definitions (each shown on the lessons page):

- *views*: what the overlay or storefront reported showing, as counts (it counts one
  per viewer and product on its side; no buyer is named to dropline). A drop's views
  are the views of the drop itself (reported without a SKU); a SKU's views are the
  views of that product.
- *held*: distinct buyers who placed at least one hold that took the SKU (a bundle's
  hold takes each of its components); for the drop, who placed any hold.
- *paid*: distinct buyers with a paid order (payment taken, whatever happened after)
  that took the SKU; for the drop, any paid order.
- *hold rate* = held ÷ views, *pay rate* = paid ÷ held, *view-to-paid* = paid ÷ views,
  in basis points rounded down; none when the divisor is 0.
- By channel: views reported for the drop with that channel, buyers who held with that
  channel in their hold's attribution, buyers who paid with it in their order's;
  ``(none)`` when none was given.
- *refused taps*: holds refused because a SKU they asked for was sold out, counted
  against the first sold-out SKU of the request (in SKU order); *refused buyers*:
  distinct buyers with at least one; *unserved units*: for each refused buyer, the
  units their first refused tap asked for. *Waitlist joins*: distinct buyers who
  joined the SKU's waitlist (once or again) and got no unit through the line.
- *Unserved demand* of a SKU counts each buyer's unmet demand once: for every buyer
  refused or in the line, what they asked for (the units of their first refused tap,
  at least one unit when they joined the line) less the units of the SKU they bought
  in the drop by any path (through the line: claims paid; or directly, a unit that
  came back on sale; a paid order, whatever happened after, as for *paid*), never
  below 0; summed over the buyers. A buyer refused with ``sold_out`` who then joins
  the waitlist is one buyer who wanted the units once, not a refusal and a join; one
  who then bought the SKU was served, and their unit is in *sold* already. So it
  feeds *sold + unserved demand* (the corrected demand that sizes the next run)
  without counting anyone twice, and it is at most unserved units + waitlist joins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dropline.domain.errors import InvalidInput

NONE = "(none)"
MAX_VIEW_BATCH = 200
MAX_VIEWS_PER_ENTRY = 1_000_000


def ratio_bp(part: int, whole: int) -> int | None:
    return part * 10_000 // whole if whole > 0 else None


@dataclass(frozen=True)
class ViewCount:
    """``views`` of a product (``sku_id``) or of the drop (``sku_id`` = ``""``) on one
    channel (``""`` when the overlay names none)."""

    sku_id: str
    channel: str
    views: int


def check_views(
    counts: Sequence[ViewCount], offered: Iterable[str], channels: Iterable[str]
) -> dict[tuple[str, str], int]:
    """A batch summed per (SKU, channel). Refused whole (``InvalidInput``): an empty or
    too long batch, a count outside 1..``MAX_VIEWS_PER_ENTRY``, a channel other than
    ``channels`` (the attribution channels a hold may carry), a SKU the drop does not
    offer."""
    if not counts or len(counts) > MAX_VIEW_BATCH:
        raise InvalidInput(f"send 1 to {MAX_VIEW_BATCH} counts", field="counts")
    known, allowed = set(offered), set(channels)
    out: dict[tuple[str, str], int] = {}
    for c in counts:
        if not 1 <= c.views <= MAX_VIEWS_PER_ENTRY:
            raise InvalidInput(f"views must be 1 to {MAX_VIEWS_PER_ENTRY:,}", field="views")
        if c.channel and c.channel not in allowed:
            raise InvalidInput(
                f"channel must be one of {', '.join(sorted(allowed))}", field="channel"
            )
        if c.sku_id and c.sku_id not in known:
            raise InvalidInput(f"SKU {c.sku_id} is not offered in this drop", field="sku_id")
        key = (c.sku_id, c.channel)
        out[key] = out.get(key, 0) + c.views
    return out


@dataclass(frozen=True)
class Step:
    """A hold or a paid order, as the funnel needs it: who, which SKUs, which channel."""

    buyer_id: str
    skus: frozenset[str]
    channel: str


def _stage(views: int, held: int, paid: int) -> dict[str, int | None]:
    return {
        "views": views,
        "held": held,
        "paid": paid,
        "hold_rate_bp": ratio_bp(held, views),
        "pay_rate_bp": ratio_bp(paid, held),
        "view_to_paid_bp": ratio_bp(paid, views),
    }


def funnel(
    views: Mapping[tuple[str, str], int],
    holds: Iterable[Step],
    paid: Iterable[Step],
    skus: Sequence[str],
) -> dict[str, object]:
    """The drop's funnel, per SKU (in ``skus`` order) and per channel."""
    holds, paid = list(holds), list(paid)
    drop_views = sum(n for (sku, _), n in views.items() if sku == "")
    sku_views: dict[str, int] = {}
    chan_views: dict[str, int] = {}
    for (sku, chan), n in views.items():
        if sku:
            sku_views[sku] = sku_views.get(sku, 0) + n
        else:
            chan_views[chan or NONE] = chan_views.get(chan or NONE, 0) + n

    def buyers(steps: list[Step], sku: str | None = None, chan: str | None = None) -> int:
        return len(
            {
                s.buyer_id
                for s in steps
                if (sku is None or sku in s.skus) and (chan is None or (s.channel or NONE) == chan)
            }
        )

    channels = sorted(
        set(chan_views) | {s.channel or NONE for s in holds} | {s.channel or NONE for s in paid},
        key=lambda c: (c == NONE, c),
    )
    return {
        **_stage(drop_views, buyers(holds), buyers(paid)),
        "by_sku": [
            {"sku_id": sku, **_stage(sku_views.get(sku, 0), buyers(holds, sku), buyers(paid, sku))}
            for sku in skus
        ],
        "by_channel": [
            {
                "channel": ch,
                **_stage(chan_views.get(ch, 0), buyers(holds, chan=ch), buyers(paid, chan=ch)),
            }
            for ch in channels
        ],
    }


@dataclass(frozen=True)
class Refused:
    """One buyer's refused taps on one SKU of a drop."""

    sku_id: str
    buyer_id: str
    taps: int
    units: int


@dataclass(frozen=True)
class Joined:
    """A buyer in a SKU's waitlist (all their entries in it, however many times they
    joined) and the units they got through the line: ``claimed`` claims paid."""

    sku_id: str
    buyer_id: str
    claimed: int = 0


def unserved(
    refused: Iterable[Refused],
    joined: Iterable[Joined],
    skus: Sequence[str],
    bought: Mapping[tuple[str, str], int] | None = None,
) -> list[dict[str, object]]:
    """Per SKU (in ``skus`` order, then any other): refused taps, refused buyers,
    unserved units, waitlist joins and unserved demand, each buyer's unmet demand
    counted once, less the units ``bought`` per (SKU, buyer) by any path, claims
    paid among them (module docstring)."""
    bought = bought or {}
    acc: dict[str, list[int]] = {}
    # per SKU and buyer: [units of the first refused tap, in the line, claimed]
    buyers: dict[str, dict[str, list[int]]] = {}
    for r in refused:
        a = acc.setdefault(r.sku_id, [0, 0, 0])
        a[0] += r.taps
        a[1] += 1
        a[2] += r.units
        b = buyers.setdefault(r.sku_id, {}).setdefault(r.buyer_id, [0, 0, 0])
        b[0] = max(b[0], r.units)
    for j in joined:
        b = buyers.setdefault(j.sku_id, {}).setdefault(j.buyer_id, [0, 0, 0])
        b[1] = 1
        b[2] += j.claimed
    order = list(skus) + sorted((set(acc) | set(buyers)) - set(skus))
    out: list[dict[str, object]] = []
    for sku in order:
        taps, n_refused, units = acc.get(sku, [0, 0, 0])
        mine = buyers.get(sku, {}).values()
        out.append(
            {
                "sku_id": sku,
                "refused_taps": taps,
                "refused_buyers": n_refused,
                "unserved_units": units,
                "waitlist_joins": sum(1 for b in mine if b[1] and not b[2]),
                "unserved_demand": sum(
                    max(0, max(b[0], b[1]) - max(b[2], bought.get((sku, buyer), 0)))
                    for buyer, b in buyers.get(sku, {}).items()
                ),
            }
        )
    return out


# --------------------------------------------------------------------- host cues

CUE_KINDS = ("pin", "unpin", "mention", "promo", "restock", "other")
MAX_CUE_TEXT = 500
DEFAULT_LIFT_WINDOW_S = 300


@dataclass(frozen=True)
class Sale:
    """A paid order's units per SKU and when it was paid (epoch seconds)."""

    at: float
    units: Mapping[str, int]


def _per_min(units: int, seconds: float) -> float | None:
    return round(units * 60 / seconds, 2) if seconds > 0 else None


def cue_lift(
    at: float,
    scope: frozenset[str] | None,
    sales: Sequence[Sale],
    window_s: int,
    start: float,
    end: float,
) -> dict[str, object]:
    """The lift after a cue at ``at``: units sold (of the SKUs in ``scope``, or all when
    None) in the ``window_s`` seconds before the cue and in the ``window_s`` after it,
    each window clipped to the selling window ``[start, end)``; the rates are units per
    minute over each clipped window (rounded to 0.01; none for an empty window), the
    lift is after − before (none when either rate is none)."""
    b0, b1 = max(start, at - window_s), min(at, end)
    a0, a1 = max(start, at), min(end, at + window_s)

    def units(lo: float, hi: float) -> int:
        return sum(
            q
            for s in sales
            if lo <= s.at < hi
            for sku, q in s.units.items()
            if scope is None or sku in scope
        )

    before = units(b0, b1) if b1 > b0 else 0
    after = units(a0, a1) if a1 > a0 else 0
    rb, ra = _per_min(before, b1 - b0), _per_min(after, a1 - a0)
    return {
        "units_before": before,
        "units_after": after,
        "before_s": max(0, int(b1 - b0)),
        "after_s": max(0, int(a1 - a0)),
        "before_per_min": rb,
        "after_per_min": ra,
        "lift_per_min": round(ra - rb, 2) if ra is not None and rb is not None else None,
    }
