"""The post-stream report's sales sections: sell-through per SKU, size and colour; the
timeline of units sold; conversion by attribution; sales during and after the stream.

Each section is a plain function of the rows ``ReportService.build`` read from the
ledger (never the engine's counters), so the report, its renderers and the lessons
across drops (``services/insight/lessons.py``) see the same figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from dropline.domain.catalog.variants import size_rank
from dropline.domain.insight.reconcile import pct
from dropline.services.live.drop_catalog import DropCatalog
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import DropRow, MonitorSettings, SaleRow

ATTRIBUTION_DIMENSIONS = ("channel", "utm_source", "utm_campaign", "promo_code", "creator")
MAX_CHART_POINTS = 120
MIN_CHART_POINTS = 12


def sku_label(catalog: DropCatalog | None, sku_id: str) -> tuple[str, str, dict[str, str]]:
    """The SKU's full label (``Logo Hoodie — Black / M``), code and attributes."""
    if catalog is not None and sku_id in catalog.skus:
        sku = catalog.skus[sku_id]
        return catalog.describe_sku(sku_id), sku.code, dict(sku.attributes)
    return sku_id, sku_id, {}


def _sku_order(catalog: DropCatalog | None, sku_id: str) -> tuple[object, ...]:
    """Product, colour, then size in wearing order (unknown SKUs last, by id)."""
    if catalog is not None and sku_id in catalog.skus:
        return (0, catalog.sort_key(sku_id))
    return (1, sku_id)


def _attr(attrs: Mapping[str, str], *names: str) -> str | None:
    for n in names:
        if attrs.get(n):
            return attrs[n]
    return None


def bucket_size(span_s: float) -> int:
    """Seconds per chart bucket: a few seconds for a rehearsal shorter than ten minutes
    (at least ~12 points where possible), otherwise minutes or more so a stream of any
    length has at most ~120 points."""
    if span_s < 600:
        for size in (30, 15, 10):
            if span_s / size >= MIN_CHART_POINTS:
                return size
        return 5
    for size in (60, 120, 300, 600, 900, 1800, 3600, 7200, 21600):
        if span_s / size <= MAX_CHART_POINTS:
            return size
    return 86400


def timeline(sales: Iterable[SaleRow], start: datetime) -> dict[str, Any]:
    """Units sold per bucket and cumulatively, from ``start`` to the last sale."""
    rows = [(s.paid_at, sum(s.units.values())) for s in sales]
    if not rows:
        return {"bucket_s": 60, "start": rfc3339(start), "points": []}
    first = min(start, rows[0][0])
    span = (rows[-1][0] - first).total_seconds()
    size = bucket_size(span)
    n = int(span // size) + 1
    units = [0] * n
    for at, qty in rows:
        units[int((at - first).total_seconds() // size)] += qty
    points, total = [], 0
    for i, u in enumerate(units):
        total += u
        points.append(
            {"t": rfc3339(first + timedelta(seconds=i * size)), "units": u, "cumulative": total}
        )
    return {"bucket_s": size, "start": rfc3339(first), "points": points}


def _group_table(
    keys: Iterable[str], offered: Mapping[str, int], sold: Mapping[str, int]
) -> list[dict[str, Any]]:
    return [
        {
            "key": k,
            "offered": offered.get(k, 0),
            "sold": sold.get(k, 0),
            "sell_through_pct": pct(sold.get(k, 0), offered.get(k, 0)),
        }
        for k in sorted(set(keys), key=size_rank)
    ]


def sell_through(
    offers: Mapping[str, tuple[int, int, bool]],
    sales: list[SaleRow],
    sold_units: Mapping[str, int],
    preorder_skus: frozenset[str],
    catalog: DropCatalog | None,
    start: datetime,
) -> dict[str, Any]:
    """Offered and sold per SKU (with when it sold out), per size and per colour."""
    sold_out_at: dict[str, datetime] = {}
    running: Counter[str] = Counter()
    for s in sales:
        for sku_id, q in s.units.items():
            running[sku_id] += q
            offered = offers.get(sku_id, (0, 0, False))[0]
            if offered and running[sku_id] >= offered and sku_id not in sold_out_at:
                sold_out_at[sku_id] = s.paid_at
    by_sku, size_off, size_sold, col_off, col_sold = (
        [],
        Counter[str](),
        Counter[str](),
        Counter[str](),
        Counter[str](),
    )
    for sku_id in sorted(offers, key=lambda k: _sku_order(catalog, k)):
        offered = offers[sku_id][0]
        sold = sold_units.get(sku_id, 0)
        label, code, attrs = sku_label(catalog, sku_id)
        at = sold_out_at.get(sku_id)
        by_sku.append(
            {
                "sku_id": sku_id,
                "code": code,
                "label": label,
                "attributes": attrs,
                "preorder": sku_id in preorder_skus,
                "offered": offered,
                "sold": sold,
                "sell_through_pct": pct(sold, offered),
                "sold_out_at": rfc3339(at),
                "time_to_sell_out_s": int((at - start).total_seconds()) if at else None,
            }
        )
        size = _attr(attrs, "size")
        colour = _attr(attrs, "colour", "color")
        if size:
            size_off[size] += offered
            size_sold[size] += sold
        if colour:
            col_off[colour] += offered
            col_sold[colour] += sold
    return {
        "by_sku": by_sku,
        "by_size": _group_table(size_off, size_off, size_sold),
        "by_colour": _group_table(col_off, col_off, col_sold),
    }


def conversion(hold_events: list[Any], sales: list[SaleRow]) -> dict[str, list[dict[str, Any]]]:
    """Holds, orders, units and revenue per value of each attribution dimension
    (``ATTRIBUTION_DIMENSIONS``); a dimension nobody set is an empty list."""
    out: dict[str, list[dict[str, Any]]] = {}
    placed = [e.payload for e in hold_events if e.type == "hold.placed"]
    for dim in ATTRIBUTION_DIMENSIONS:
        holds = Counter((p.get("attribution") or {}).get(dim) or "(none)" for p in placed)
        orders = Counter(s.attribution.get(dim) or "(none)" for s in sales)
        units: Counter[str] = Counter()
        revenue: Counter[str] = Counter()
        for s in sales:
            key = s.attribution.get(dim) or "(none)"
            units[key] += sum(s.units.values())
            revenue[key] += s.total_amount - s.refunded_amount
        keys = set(holds) | set(orders)
        if keys == {"(none)"}:
            out[dim] = []
            continue
        out[dim] = [
            {
                "key": k,
                "holds": holds[k],
                "orders": orders[k],
                "conversion_pct": pct(orders[k], holds[k]),
                "units": units[k],
                "revenue": revenue[k],
            }
            for k in sorted(keys, key=lambda k: (k == "(none)", -orders[k], k))
        ]
    return out


def post_stream(
    sales: list[SaleRow], settings: MonitorSettings, drop: DropRow, ended: bool
) -> dict[str, Any]:
    """Orders, units and revenue paid during the stream, in the conversion window after
    it (``conversion_window_h``) and after that."""
    stream_end = settings.stream_ended_at or drop.ended_at
    window_end = stream_end + timedelta(hours=settings.conversion_window_h) if stream_end else None
    parts = {k: {"orders": 0, "units": 0, "revenue": 0} for k in ("during", "window", "after")}
    for s in sales:
        if stream_end is None or s.paid_at <= stream_end:
            key = "during"
        elif window_end is not None and s.paid_at <= window_end:
            key = "window"
        else:
            key = "after"
        parts[key]["orders"] += 1
        parts[key]["units"] += sum(s.units.values())
        parts[key]["revenue"] += s.total_amount - s.refunded_amount
    return {
        "window_h": settings.conversion_window_h,
        "stream_ended_at": rfc3339(stream_end),
        "window_ends_at": rfc3339(window_end),
    } | parts
