"""The live monitor: one snapshot of a drop that says what is selling, what is about to
run out and what is failing, plus the coarse public view for the stream overlay.

Remaining and held units come from the reservation engine (the fast layer, exact to the
moment); sold units and velocity from the ledger; hold outcomes from the ``hold.*``
events the background job drains into the outbox (at most one drain interval behind).
A snapshot is cheap enough to be recomputed every half second per watcher.

One idea: the monitor's snapshot, whose parts (rows, totals, clock, alerts, cues) are
read together in one pass so they agree with each other.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.catalog.items import bundle_availability
from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.live.availability import (
    Availability,
    SkuAvailability,
    availability_text,
    sku_availability,
)
from dropline.domain.live.drops import ENGINE_STATES, DropStatus
from dropline.domain.live.orders import CheckoutStatus
from dropline.domain.money import format_money
from dropline.services.insight.window_report import window_state
from dropline.services.live.drop_catalog import DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.live.schedule import schedule_view, start_blocked
from dropline.services.ports import Clock, DropNotLoaded, SkuCounts, StockEngine
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import STREAM_MODES, MonitorRepository, MonitorSettings
from dropline.store.uow import UowFactory

# A payment-failure spike: at least this many failures in the last minute, making up at
# least this share of the minute's finished checkouts.
SPIKE_MIN_FAILURES = 3
SPIKE_MIN_SHARE = 0.3
MAX_WINDOW_H = 24 * 30
#: Minutes of sales the monitor's velocity chart shows, one bar a minute.
CHART_MINUTES = 15
MAX_THRESHOLD = 1_000_000
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


class MonitorService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        drops: DropService,
        cache: DropCatalogCache,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.drops = drops
        self.cache = cache
        self.clock = clock
        self._seq: dict[str, int] = {}
        self._tally: dict[str, Counter[str]] = {}
        self._lock = asyncio.Lock()
        self._recent: dict[str, tuple[float, dict[str, Any]]] = {}
        # Set by bootstrap: the hand-off's SLA report and the webhook endpoints.
        self.sla_report: Callable[[str], Awaitable[dict[str, Any]]] | None = None
        self.endpoints: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None
        # Set by bootstrap: the drop's waitlist demand and restock waves
        # (services/live/restocks.py ``RestockService.summary``).
        self.audience: Callable[[str], Awaitable[dict[str, Any]]] | None = None

    # ------------------------------------------------------------------ settings
    async def settings(self, drop_id: str) -> MonitorSettings:
        async with self.uow(readonly=True) as uow:
            repo = MonitorRepository(uow.conn, self.uow.now)
            if await repo.drop_row(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            return await repo.settings(drop_id)

    async def update_settings(
        self,
        drop_id: str,
        *,
        stream_mode: str | None = None,
        low_stock_default: int | None = None,
        low_stock: dict[str, int] | None = None,
        conversion_window_h: int | None = None,
        creator: str | None = None,
        stream_ended_at: datetime | None = None,
    ) -> MonitorSettings:
        """Change some settings; unknown SKUs, negative thresholds and an unknown stream
        mode are refused before anything is written."""
        if stream_mode is not None and stream_mode not in STREAM_MODES:
            raise InvalidInput(f"stream_mode must be one of {', '.join(STREAM_MODES)}")
        for n in [low_stock_default, *(low_stock or {}).values()]:
            if n is not None and not 0 <= n <= MAX_THRESHOLD:
                raise InvalidInput(f"low-stock thresholds must be between 0 and {MAX_THRESHOLD}")
        if conversion_window_h is not None and not 0 <= conversion_window_h <= MAX_WINDOW_H:
            raise InvalidInput(f"conversion_window_h must be between 0 and {MAX_WINDOW_H}")
        if creator is not None and len(creator) > 120:
            raise InvalidInput("creator must be at most 120 characters")
        if stream_ended_at is not None and stream_ended_at.tzinfo is None:
            raise InvalidInput("stream_ended_at needs a time zone")
        async with self.uow() as uow:
            repo = MonitorRepository(uow.conn, self.uow.now)
            if await repo.drop_row(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            offered = await repo.offer_rows(drop_id)
            for sku_id in low_stock or {}:
                if sku_id not in offered:
                    raise InvalidInput(f"SKU {sku_id} is not offered in this drop", sku_id=sku_id)
            current = await repo.settings(drop_id)
            changes: dict[str, Any] = {
                k: v
                for k, v in {
                    "stream_mode": stream_mode,
                    "low_stock_default": low_stock_default,
                    "conversion_window_h": conversion_window_h,
                    "creator": creator.strip() if creator is not None else None,
                    "stream_ended_at": stream_ended_at,
                }.items()
                if v is not None
            }
            if low_stock is not None:
                changes["low_stock"] = dict(current.low_stock) | low_stock
            updated = replace(current, **changes)
            await repo.save_settings(updated)
            uow.audit(
                "drop.monitor_settings_changed",
                "drop",
                drop_id,
                before=_settings_summary(current),
                after=_settings_summary(updated),
            )
            await uow.commit()
        return updated

    # ------------------------------------------------------------------ hold tallies
    async def _hold_tally(self, drop_id: str) -> Counter[str]:
        """Hold event counts of a drop, summed incrementally from its hold event pages'
        own tallies (a page per drop per drain pass, not a row per event). Each drop is
        tailed on its own: across drops, pages can commit out of ``seq`` order."""
        async with self._lock:
            async with self.uow(readonly=True) as uow:
                pages = await uow.hold_events.tallies_after(drop_id, self._seq.get(drop_id, 0))
            total = self._tally.setdefault(drop_id, Counter())
            for seq, tally in pages:
                total.update(tally)
                self._seq[drop_id] = seq
            return Counter(total)

    async def _counts(self, drop_id: str, status: str) -> dict[str, SkuCounts] | None:
        if status not in {s.value for s in ENGINE_STATES}:
            return None
        try:
            return await self.engine.counts(drop_id)
        except DropNotLoaded:
            await self.drops.rebuild(drop_id)
            return await self.engine.counts(drop_id)

    # ------------------------------------------------------------------ snapshots
    async def shared_snapshot(self, drop_id: str, max_age_s: float = 0.4) -> dict[str, Any]:
        """A snapshot at most ``max_age_s`` old, shared by every watcher of the drop in
        this process, so ten open monitors cost one computation per tick, not ten."""
        hit = self._recent.get(drop_id)
        mono = time.monotonic()
        if hit is not None and mono - hit[0] <= max_age_s:
            return hit[1]
        snap = await self.snapshot(drop_id)
        if len(self._recent) > 1000:
            self._recent.clear()
        self._recent[drop_id] = (mono, snap)
        return snap

    async def snapshot(self, drop_id: str) -> dict[str, Any]:
        """Everything the ops monitor shows for a drop, as a JSON-ready dict."""
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        catalog = await self.cache.get(drop_id)
        async with self.uow(readonly=True) as uow:
            repo = MonitorRepository(uow.conn, self.uow.now)
            drop = await repo.drop_row(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            settings = await repo.settings(drop_id)
            offers = await repo.offer_rows(drop_id)
            policy = await uow.drop_access.get(drop_id)
            recent = await repo.sales(drop_id, since=now - timedelta(minutes=CHART_MINUTES))
            revenue = await repo.revenue(drop_id)
            by_status, by_reason, recent_status = await repo.checkout_stats(
                drop_id, now - timedelta(minutes=1)
            )
            blocked = None
            if drop.status == DropStatus.SCHEDULED.value:
                full = await uow.drops.get(drop_id)
                blocked = await start_blocked(uow, full) if full is not None else None
        counts = await self._counts(drop_id, drop.status)
        tally = await self._hold_tally(drop_id)
        ended = drop.status == DropStatus.ENDED.value
        one_min = now - timedelta(minutes=1)
        five_min = now - timedelta(minutes=5)
        v1: Counter[str] = Counter()
        v5: Counter[str] = Counter()
        for s in recent:
            if s.paid_at < five_min:
                continue
            for sku_id, q in s.units.items():
                v5[sku_id] += q
                if s.paid_at >= one_min:
                    v1[sku_id] += q
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
                policy.windows if c is not None else (),
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
        remaining_by_sku = {r["sku_id"]: r["remaining"] for r in rows}
        bundles = [
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
        failed_recent = recent_status[CheckoutStatus.FAILED.value]
        finished_recent = failed_recent + recent_status[CheckoutStatus.SUCCEEDED.value]
        placed = tally["hold.placed"]
        expired = tally["hold.expired"]
        released = tally["hold.released"]
        converted = tally["hold.converted"]
        alerts = [] if ended else self._alerts(rows, failed_recent, finished_recent)
        if blocked is not None:
            # the scheduled start the readiness gate refused: the drop is not live
            alerts.insert(
                0,
                {
                    "kind": "start_blocked",
                    "level": "critical",
                    "sku_id": None,
                    "message": f"the scheduled start did not happen: {blocked['detail']}",
                },
            )
        sla_risk, hooks, hook_alerts = await self._handoff_health(drop_id)
        totals = {
            "offered": sum(r["offered"] for r in rows),
            "sold": sum(r["sold"] for r in rows),
            "held": sum(r["held"] for r in rows),
            "remaining": sum(r["remaining"] for r in rows),
            "unsold": sum(r["unsold"] for r in rows),
            "velocity_1m": sum(r["velocity_1m"] for r in rows),
            "velocity_5m": round(sum(v5.values()) / 5, 2),
            "revenue": revenue,
            "revenue_text": format_money(revenue, drop.currency),
        }
        totals["sell_through_pct"] = (
            round(100.0 * totals["sold"] / totals["offered"], 1) if totals["offered"] else None
        )
        return {
            "drop": {
                "id": drop.id,
                "name": drop.name,
                "status": drop.status,
                "currency": drop.currency,
                "live_at": rfc3339(drop.live_at),
                "ended_at": rfc3339(drop.ended_at),
                # starts_at, ends_at, starts_in_s from the row's status: the cached
                # catalog may lag a transition
                **schedule_view(
                    replace(catalog.drop, status=DropStatus(drop.status)), now.timestamp()
                ),
                "start_blocked": blocked,
            },
            "at": rfc3339(now),
            "timing": drop_timing(drop.status, now, drop.starts_at, drop.live_at, drop.ended_at),
            "skus": rows,
            "bundles": bundles,
            "velocity": {
                "bucket_s": 60,
                "points": minute_buckets(
                    [(x.paid_at, sum(x.units.values())) for x in recent], now, CHART_MINUTES
                ),
            },
            "totals": totals,
            "holds": {
                "placed": placed,
                "active": max(0, placed - expired - released - converted),
                "converted": converted,
                "expired": expired,
                "released": released,
                "abandonment_pct": round(100.0 * (expired + released) / placed, 1)
                if placed
                else None,
            },
            "payments": {
                "failed": by_status[CheckoutStatus.FAILED.value],
                "failed_last_minute": failed_recent,
                "by_reason": dict(by_reason),
                "waiting_for_authentication": by_status[CheckoutStatus.REQUIRES_ACTION.value],
            },
            "sla_risk": sla_risk,
            "webhooks": hooks,
            "alerts": alerts + hook_alerts,
            "cues": [] if ended else host_cues(rows),
            # refusals by the drop's access rules, as the engine counted them, and the
            # window open now and the next one's opening (the countdown)
            "access": {"refusals": {} if ended else await self.engine.access_stats(drop_id)}
            | window_state(policy, now.timestamp()),
            **(await self.audience(drop_id) if self.audience else {}),
        }

    async def _handoff_health(
        self, drop_id: str
    ) -> tuple[int | None, dict[str, Any] | None, list[dict[str, Any]]]:
        """Orders of the drop at SLA risk or in breach, and the webhook endpoints'
        health with an alert for each one failing or switched off."""
        sla_risk = None
        if self.sla_report is not None:
            report = await self.sla_report(drop_id)
            sla_risk = len(report["at_risk"]) + len(report["breached"])
        if self.endpoints is None:
            return sla_risk, None, []
        endpoints = await self.endpoints()
        failing = [e for e in endpoints if e["consecutive_failures"] > 0 or not e["enabled"]]
        alerts = [
            {
                "kind": "endpoint_failing",
                "level": "warning" if e["enabled"] else "critical",
                "endpoint_id": e["id"],
                "message": (
                    f"webhook endpoint {e['url']} "
                    + (
                        f"is off: {e['disabled_reason'] or 'disabled'}"
                        if not e["enabled"]
                        else f"failed {e['consecutive_failures']} times in a row"
                    )
                ),
            }
            for e in failing
        ]
        hooks = {"endpoints": len(endpoints), "failing": len(failing)}
        return sla_risk, hooks, alerts

    @staticmethod
    def _alerts(
        rows: list[dict[str, Any]], failed_recent: int, finished_recent: int
    ) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = []
        for r in rows:
            if r["state"] == WINDOW_TAKEN:
                alerts.append(
                    {
                        "kind": WINDOW_TAKEN,
                        "level": "info",
                        "sku_id": r["sku_id"],
                        "message": f"{r['name']}: {r['state_text']}",
                    }
                )
            elif r["offered"] and r["state"] == "sold_out":
                alerts.append(
                    {
                        "kind": "sold_out",
                        "level": "info",
                        "sku_id": r["sku_id"],
                        "message": f"{r['name']} is sold out",
                    }
                )
            elif r["remaining"] <= r["low_stock_threshold"] and r["offered"]:
                alerts.append(
                    {
                        "kind": "low_stock",
                        "level": "warning",
                        "sku_id": r["sku_id"],
                        "message": f"{r['name']}: only {r['remaining']} left",
                    }
                )
        if (
            failed_recent >= SPIKE_MIN_FAILURES
            and failed_recent >= SPIKE_MIN_SHARE * finished_recent
        ):
            alerts.append(
                {
                    "kind": "payment_failure_spike",
                    "level": "critical",
                    "sku_id": None,
                    "message": f"{failed_recent} of {finished_recent} payments "
                    "failed in the last minute",
                }
            )
        return alerts

    async def public(self, drop_id: str) -> dict[str, Any]:
        """The overlay's view: status and remaining per SKU (units left on sale),
        exact or coarsened to ``in_stock`` / ``low`` / ``sold_out`` as the drop's
        ``stream_mode`` says; ``window_allocation_taken`` with ``more_at`` (when the next
        window releasing more opens) while the open windows' units are taken."""
        catalog = await self.cache.get(drop_id)
        settings = await self.settings(drop_id)
        async with self.uow(readonly=True) as uow:
            policy = await uow.drop_access.get(drop_id)
        counts = await self._counts(drop_id, catalog.drop.status.value)
        now = self.clock.now()
        skus = []
        for sku_id, offer in catalog.offers.items():
            sku = catalog.skus[sku_id]
            c = counts.get(sku_id) if counts is not None else None
            # units behind a latched waitlist gate are the line's: not holdable
            avail = sku_availability(
                policy.windows if c is not None else (),
                now,
                sku_id,
                offered=offer.offered,
                remaining=c.remaining if c else offer.unsold,
                latched=c is not None and c.waitlist == "latched",
            )
            paused = bool(c.paused if c else offer.paused)
            entry: dict[str, Any] = {
                "id": sku_id,
                "label": sku.label(),
                "state": sku_state(avail, settings.threshold(sku_id)),
                "more_at": rfc3339(avail.more_at),
                "paused": paused,
            }
            if settings.stream_mode == "exact":
                entry["remaining"] = avail.holdable
            skus.append(entry)
        return {
            "id": drop_id,
            "status": catalog.drop.status.value,
            "mode": settings.stream_mode,
            "skus": skus,
            # the window open now and when the next opens, for the overlay's countdown
            "access": window_state(policy, now),
        }


def _settings_summary(settings: MonitorSettings) -> dict[str, Any]:
    """Monitor settings as the audit trail keeps them (JSON: times as RFC 3339)."""
    out: dict[str, Any] = {}
    for k, v in vars(settings).items():
        out[k] = (
            v.isoformat() if isinstance(v, datetime) else (dict(v) if isinstance(v, Mapping) else v)
        )
    return out
