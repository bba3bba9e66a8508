"""The live monitor: one snapshot of a drop that says what is selling, what is about to
run out and what is failing, plus the coarse public view for the stream overlay.

Remaining and held units come from the reservation engine (the fast layer, exact to the
moment); sold units and velocity from the ledger; hold outcomes from the ``hold.*``
events the background job drains into the outbox (at most one drain interval behind).
A snapshot is cheap enough to be recomputed every half second per watcher.

One idea: the monitor's snapshot, whose parts are read together in one pass so they
agree with each other; they are put together in ``monitor_snapshot.py`` (rows, bundles,
totals, holds, chart, clock), ``monitor_alerts.py`` (alerts) and ``monitor_cues.py``
(the state words and the host's cues).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.live.availability import sku_availability
from dropline.domain.live.drops import ENGINE_STATES, DropStatus
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.insight.monitor_alerts import (
    handoff_health,
    start_blocked_alert,
    stock_alerts,
)
from dropline.services.insight.monitor_cues import host_cues, sku_state
from dropline.services.insight.monitor_snapshot import (
    CHART_MINUTES,
    bundle_rows,
    drop_timing,
    hold_outcomes,
    minute_buckets,
    sku_rows,
    totals,
    velocities,
)
from dropline.services.insight.window_report import window_state
from dropline.services.live.drop_catalog import DropCatalogCache
from dropline.services.live.drops import DropService
from dropline.services.live.schedule import schedule_view, start_blocked
from dropline.services.ports import Clock, DropNotLoaded, SkuCounts, StockEngine
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import STREAM_MODES, MonitorRepository, MonitorSettings
from dropline.store.uow import UowFactory

MAX_WINDOW_H = 24 * 30
MAX_THRESHOLD = 1_000_000


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
        v1, v5 = velocities(recent, now)
        rows = sku_rows(catalog, offers, counts, policy.windows, settings, now, v1, v5, ended)
        failed_recent = recent_status[CheckoutStatus.FAILED.value]
        finished_recent = failed_recent + recent_status[CheckoutStatus.SUCCEEDED.value]
        alerts = [] if ended else stock_alerts(rows, failed_recent, finished_recent)
        if blocked is not None:
            alerts.insert(0, start_blocked_alert(blocked))
        sla_risk, hooks, hook_alerts = await handoff_health(
            drop_id, self.sla_report, self.endpoints
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
            "bundles": bundle_rows(catalog, rows, ended),
            "velocity": {
                "bucket_s": 60,
                "points": minute_buckets(
                    [(x.paid_at, sum(x.units.values())) for x in recent], now, CHART_MINUTES
                ),
            },
            "totals": totals(rows, v5, revenue, drop.currency),
            "holds": hold_outcomes(tally),
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
