"""The parts of the monitor's snapshot, put together from what ``MonitorService``
read in one pass: a row per SKU, the bundles, the totals, the hold outcomes, the
velocity chart and the drop's clock.

Plain functions of the rows read (no I/O), so every part of one snapshot comes from the
same reads and agrees with the others.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from dropline.domain.catalog.items import bundle_availability
from dropline.domain.live.access import AccessWindow
from dropline.domain.live.availability import Availability, availability_text, sku_availability
from dropline.domain.live.drops import ENGINE_STATES, DropStatus
from dropline.domain.money import format_money
from dropline.services.insight.monitor_cues import sku_state
from dropline.services.live.drop_catalog import DropCatalog
from dropline.services.ports import SkuCounts
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import MonitorSettings, SaleRow

#: Minutes of sales the monitor's velocity chart shows, one bar a minute.
CHART_MINUTES = 15


def sellout_eta_s(remaining: int, per_minute: float) -> int | None:
    """Seconds until ``remaining`` units are gone at ``per_minute`` (the 5-minute
    average), or None when nothing is selling (no projection is better than infinity)."""
    if remaining <= 0 or per_minute <= 0:
        return None
    return round(60 * remaining / per_minute)


def minute_buckets(
    sales: list[tuple[datetime, int]], now: datetime, minutes: int
) -> list[dict[str, Any]]:
    """Units sold per minute over the last ``minutes`` minutes, oldest first, for the
    monitor's velocity chart: ``[{"t": RFC 3339 start of the minute, "units": n}]``."""
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    start = end - timedelta(minutes=minutes)
    units = [0] * minutes
    for at, n in sales:
        if start <= at < end:
            units[int((at - start).total_seconds() // 60)] += n
    return [{"t": rfc3339(start + timedelta(minutes=i)), "units": u} for i, u in enumerate(units)]


def drop_timing(
    status: str,
    now: datetime,
    starts_at: datetime | None,
    live_at: datetime | None,
    ended_at: datetime | None,
) -> dict[str, Any]:
    """Where the drop is in time, for the monitor's clock: ``before`` (seconds until
    ``starts_at``, None when no start is set), ``live``/``paused`` (seconds since it first
    went live) or ``ended`` (how long it ran)."""
    if status == DropStatus.ENDED.value:
        ran = (ended_at - live_at).total_seconds() if ended_at and live_at else None
        return {"phase": "ended", "seconds": None if ran is None else round(ran)}
    if status in {s.value for s in ENGINE_STATES} and live_at is not None:
        return {"phase": status, "seconds": max(0, round((now - live_at).total_seconds()))}
    left = (starts_at - now).total_seconds() if starts_at else None
    return {"phase": "before", "seconds": None if left is None else round(left)}


def velocities(sales: Iterable[SaleRow], now: datetime) -> tuple[Counter[str], Counter[str]]:
    """Units sold per SKU in the last minute and in the last five minutes."""
    one_min = now - timedelta(minutes=1)
    five_min = now - timedelta(minutes=5)
    v1: Counter[str] = Counter()
    v5: Counter[str] = Counter()
    for s in sales:
        if s.paid_at < five_min:
            continue
        for sku_id, q in s.units.items():
            v5[sku_id] += q
            if s.paid_at >= one_min:
                v1[sku_id] += q
    return v1, v5


def sku_rows(
    catalog: DropCatalog,
    offers: Mapping[str, tuple[int, int, bool]],
    counts: Mapping[str, SkuCounts] | None,
    windows: tuple[AccessWindow, ...],
    settings: MonitorSettings,
    now: datetime,
    v1: Counter[str],
    v5: Counter[str],
    ended: bool,
) -> list[dict[str, Any]]:
    """A row per SKU offered, in catalog order: offered, sold, held and remaining on sale
    (the engine's counts while it runs the drop, the ledger's otherwise), velocity,
    sell-out projection and the state word."""
    rows: list[dict[str, Any]] = []
    for sku_id, (offered, sold, paused) in offers.items():
        sku = catalog.skus.get(sku_id)
        product = catalog.products.get(sku.product_id) if sku else None
        c = counts.get(sku_id) if counts is not None else None
        # Once ended, the unsold units went back to stock: they are "returned to
        # stock", not sold out, and nothing is held or selling any more.
        remaining = c.remaining if c else offered - sold
        # units behind a latched waitlist gate wait for the line, not for the sale
        for_line = remaining if c is not None and c.waitlist == "latched" else 0
        remaining -= for_line
        held = c.held if c else 0
        velocity_5m = round(v5[sku_id] / 5, 2)
        avail = sku_availability(
            windows if c is not None else (),
            now.timestamp(),
            sku_id,
            offered=offered,
            remaining=c.remaining if c else offered - sold,
            latched=c is not None and c.waitlist == "latched",
        )
        selling = avail.state is Availability.ON_SALE
        rows.append(
            {
                "sku_id": sku_id,
                "code": sku.code if sku else sku_id,
                "label": sku.label() if sku else sku_id,
                "name": catalog.describe_sku(sku_id) if sku else sku_id,
                "product_id": sku.product_id if sku else "",
                "product": product.name if product else "",
                "offered": offered,
                "sold": sold,
                "held": held,
                "remaining": 0 if ended else remaining,
                "for_waitlist": 0 if ended else for_line,
                "unsold": offered - sold,
                "paused": False if ended else bool(c.paused if c else paused),
                "sell_through_pct": round(100.0 * sold / offered, 1) if offered else None,
                "velocity_1m": v1[sku_id],
                "velocity_5m": velocity_5m,
                "sellout_eta_s": sellout_eta_s(remaining, velocity_5m)
                if selling and not ended
                else None,
                "low_stock_threshold": settings.threshold(sku_id),
                # sold out, or the open windows' units taken (more when the next
                # window opens, ``more_at``): the domain's answer, not the count's
                "state": "ended" if ended else sku_state(avail, settings.threshold(sku_id)),
                "state_text": None if ended else availability_text(avail),
                "more_at": None if ended else rfc3339(avail.more_at),
            }
        )
    rows.sort(key=lambda r: catalog.sort_key(r["sku_id"]))
    return rows


def bundle_rows(
    catalog: DropCatalog, rows: list[dict[str, Any]], ended: bool
) -> list[dict[str, Any]]:
    """The drop's bundles by name, each with how many could still be made from the
    SKU rows' units on sale."""
    remaining_by_sku = {r["sku_id"]: r["remaining"] for r in rows}
    return [
        {
            "bundle_id": b.id,
            "code": b.code,
            "name": b.name,
            "price": b.price.format(),
            "components": [
                {"name": catalog.describe_sku(x.sku_id) if x.sku_id in catalog.skus
                 else x.sku_id, "quantity": x.quantity}
                for x in b.components
            ],
            "available": 0 if ended else bundle_availability(b, remaining_by_sku),
        }
        for b in sorted(catalog.bundles.values(), key=lambda b: b.name.casefold())
    ]  # fmt: skip


def totals(
    rows: list[dict[str, Any]], v5: Counter[str], revenue: int, currency: str
) -> dict[str, Any]:
    """The SKU rows summed, with the drop's revenue and sell-through."""
    out = {
        "offered": sum(r["offered"] for r in rows),
        "sold": sum(r["sold"] for r in rows),
        "held": sum(r["held"] for r in rows),
        "remaining": sum(r["remaining"] for r in rows),
        "unsold": sum(r["unsold"] for r in rows),
        "velocity_1m": sum(r["velocity_1m"] for r in rows),
        "velocity_5m": round(sum(v5.values()) / 5, 2),
        "revenue": revenue,
        "revenue_text": format_money(revenue, currency),
    }
    out["sell_through_pct"] = (
        round(100.0 * out["sold"] / out["offered"], 1) if out["offered"] else None
    )
    return out


def hold_outcomes(tally: Counter[str]) -> dict[str, Any]:
    """Holds placed, still active and how the others ended, from the ``hold.*`` tally."""
    placed = tally["hold.placed"]
    expired = tally["hold.expired"]
    released = tally["hold.released"]
    converted = tally["hold.converted"]
    return {
        "placed": placed,
        "active": max(0, placed - expired - released - converted),
        "converted": converted,
        "expired": expired,
        "released": released,
        "abandonment_pct": round(100.0 * (expired + released) / placed, 1) if placed else None,
    }
