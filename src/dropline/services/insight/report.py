"""The post-stream report: reconciliation that proves nothing was lost, and what sold.

Every number is read from the durable ledger (stock movements, orders, checkouts and the
outbox), never from the engine's counters, and the reconciliation deliberately compares
*different* sources so a lost or tampered row shows up as a difference: units, holds,
orders and money (``report_reconcile.py``, which lists each check), and returns
(``services/aftersales/report_returns.py``).

The report is a plain dict (the JSON API returns it as is; the CLI, the CSV and HTML
renderers and the web page all read the same dict).

One idea: the post-stream report, read in one pass and put together here; its sections
are in ``report_reconcile.py`` (the checks), ``report_sales.py`` (sell-through,
timeline, conversion, post-stream sales) and ``services/aftersales/report_returns.py``
(returns).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from dropline.domain.errors import NotFound
from dropline.domain.insight.reconcile import PaymentState, all_balanced, pct
from dropline.domain.live.orders import CheckoutStatus, OrderStatus
from dropline.services.aftersales.report_returns import returns_check, returns_summary
from dropline.services.insight.report_reconcile import holds_summary, money, reconcile
from dropline.services.insight.report_sales import (
    conversion,
    post_stream,
    sell_through,
    sku_label,
    timeline,
)
from dropline.services.insight.window_report import charged_sales, window_report
from dropline.services.live.drop_catalog import DropCatalog, DropCatalogCache
from dropline.services.live.hold_journal import drop_hold_events
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import DropRow, MonitorRepository, MonitorSettings, dt_utc
from dropline.store.uow import UowFactory

PREVIOUS_DROPS = 5


class ReportService:
    """Builds the post-stream report for a drop (see the module docstring)."""

    def __init__(self, uow: UowFactory, cache: DropCatalogCache) -> None:
        self.uow = uow
        self.cache = cache
        # Set by bootstrap: the drop's waitlist demand and restock waves.
        self.audience: Callable[[str], Awaitable[dict[str, Any]]] | None = None

    async def settings(self, drop_id: str) -> MonitorSettings:
        async with self.uow(readonly=True) as uow:
            repo = MonitorRepository(uow.conn, self.uow.now)
            if await repo.drop_row(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            return await repo.settings(drop_id)

    async def build(self, drop_id: str) -> dict[str, Any]:
        """The whole report as a JSON-ready dict; ``NotFound`` for an unknown drop."""
        async with self.uow(readonly=True) as uow:
            repo = MonitorRepository(uow.conn, self.uow.now)
            drop = await repo.drop_row(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            settings = await repo.settings(drop_id)
            offers = await repo.offer_rows(drop_id)
            moves = await repo.movements_for_drop(drop_id)
            sales = await repo.sales(drop_id)
            sale_moves = await repo.sale_movements([s.order_id for s in sales])
            pre = await repo.preorder_figures(drop_id)
            checkout_rows = await repo.checkout_rows(drop_id)
            hold_events = await drop_hold_events(uow, drop_id)
            paid_events = await repo.events("order.paid", aggregate_type="order", drop_id=drop_id)
            live_events = [
                e
                for e in await repo.events("drop.live", aggregate_type="drop")
                if e.aggregate_id == drop_id
            ]
            buyers = sorted({s.buyer_id for s in sales})
            elsewhere = await repo.first_orders_elsewhere(buyers, drop_id)
            previous = await self._previous(repo, drop, settings)
            drop_returns = await uow.returns.find(drop_id=drop_id, limit=1_000_000)
            returned = await uow.returns.ledger_units([r.id for r in drop_returns])
            access = await uow.drop_access.get(drop_id)
            now = self.uow.now()
        try:
            catalog: DropCatalog | None = await self.cache.get(drop_id)
        except NotFound:
            catalog = None
        start = (
            dt_utc(live_events[0].occurred_at)
            if live_events
            else (drop.starts_at or drop.created_at)
        )
        ended = drop.status == "ended"

        # Units sold and kept per SKU: in-stock units by their movements, pre-order
        # units by the pre-orders that promise them.
        sold = Counter(sale_moves)
        sold.update(pre.sold)
        money_check, cash = money(sales, checkout_rows, pre.payments, drop.currency)
        checks = reconcile(
            drop, offers, moves, sales, sold, pre, hold_events, paid_events, money_check, catalog
        )
        checks.append(returns_check(drop_returns, returned))
        sell = sell_through(offers, sales, sold, pre.skus, catalog, start)
        holds = holds_summary(hold_events)
        units_offered = sum(o[0] for o in offers.values())
        units_sold = sum(sold.values())
        failures = Counter(
            r.decline_code or "unknown"
            for r in checkout_rows
            if r.status == CheckoutStatus.FAILED.value
        )
        first_time = repeat = 0
        first_here: dict[str, datetime] = {}
        for s in sales:
            first_here.setdefault(s.buyer_id, s.paid_at)
        for b, at in first_here.items():
            if b in elsewhere and elsewhere[b] < at:
                repeat += 1
            else:
                first_time += 1
        report: dict[str, Any] = {
            "drop": {
                "id": drop.id,
                "name": drop.name,
                "status": drop.status,
                "currency": drop.currency,
                "created_at": rfc3339(drop.created_at),
                "starts_at": rfc3339(drop.starts_at),
                "ended_at": rfc3339(drop.ended_at),
                "creator": settings.creator,
            },
            "generated_at": rfc3339(now),
            "currency": drop.currency,
            "balanced": all_balanced(checks),
            "reconciliation": [c.as_dict() for c in checks],
            "totals": {
                "units_offered": units_offered,
                "units_sold": units_sold,
                "sell_through_pct": pct(units_sold, units_offered),
                "orders": len(sales),
                "buyers": len(first_here),
                "captured": cash.captured,
                "authorised": cash.authorised,
                "refunded": cash.refunded,
                "net": cash.net,
                "average_order": (sum(s.total_amount for s in sales) // len(sales)) if sales else 0,
            },
            "sell_through": sell,
            "timeline": timeline(sales, start),
            "conversion": conversion(hold_events, sales),
            "abandonment": holds
            | {
                "checkouts_started": len(checkout_rows),
                "checkouts_failed": sum(failures.values()),
                "checkouts_waiting": sum(
                    1 for r in checkout_rows if r.status == CheckoutStatus.REQUIRES_ACTION.value
                ),
            },
            "payment_failures": [
                {"reason": k, "count": v} for k, v in sorted(failures.items(), key=lambda x: -x[1])
            ],
            "buyers": {"total": len(first_here), "first_time": first_time, "repeat": repeat},
            "post_stream": post_stream(sales, settings, drop, ended),
            "returns": returns_summary(
                drop_returns, units_sold, lambda sku: sku_label(catalog, sku)[0]
            ),
            "previous_drops": previous,
            # each access window: what it sold and passed on (a sale counts when the
            # engine charged its units: the hold it converted, not the payment)
            "access": window_report(
                access,
                charged_sales(
                    (s for s in sales if s.status != OrderStatus.CANCELLED.value), hold_events
                ),
                now.timestamp(),
            ),
        }
        if self.audience is not None:
            report.update(await self.audience(drop_id))
        return report

    async def _previous(
        self, repo: MonitorRepository, drop: DropRow, settings: MonitorSettings
    ) -> list[dict[str, Any]]:
        """The creator's earlier drops (all earlier drops when no creator is set)."""
        earlier = await repo.drops_before(drop.created_at, limit=200)
        if settings.creator:
            mine = set(await repo.drops_by_creator(settings.creator))
            earlier = [d for d in earlier if d.id in mine]
        out = []
        for d in earlier[:PREVIOUS_DROPS]:
            offers = await repo.offer_rows(d.id)
            sales = await repo.sales(d.id)
            payments = await repo.preorder_payments(d.id)
            offered = sum(o[0] for o in offers.values())
            sold = sum(o[1] for o in offers.values())
            out.append(
                {
                    "id": d.id,
                    "name": d.name,
                    "created_at": rfc3339(d.created_at),
                    "currency": d.currency,
                    "units_offered": offered,
                    "units_sold": sold,
                    "sell_through_pct": pct(sold, offered),
                    "orders": len(sales),
                    # money kept, like this drop's net: no authorised or voided pre-order
                    "net": sum(
                        s.total_amount - s.refunded_amount
                        for s in sales
                        if payments.get(s.order_id, PaymentState.CAPTURED) is PaymentState.CAPTURED
                    ),
                }
            )
        return out
