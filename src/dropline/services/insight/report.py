"""The post-stream report: reconciliation that proves nothing was lost, and what sold.

Every number is read from the durable ledger (stock movements, orders, checkouts and the
outbox), never from the engine's counters, and the reconciliation deliberately compares
*different* sources so a lost or tampered row shows up as a difference:

* units, per SKU and in total: units offered (``offer`` movements, and for a pre-order
  SKU its cap from the pre-order cap ledger) = sold (``sale`` movements of the drop's
  orders less ``cancel`` movements of cancelled ones, plus the lines of pre-orders not
  cancelled) + unsold, back in stock (``unoffer`` movements) + still offered (the offer
  rows, only while the drop has not ended) + cap closed (a pre-order's unsold cap once
  the drop ended: it never was stock, so nothing returns to stock);
* holds: placed = converted + expired + released + still active (``hold.*`` events);
* orders: paid (``order.paid`` events) = pending + handed off + shipped + delivered +
  exception + cancelled + refunded
  (the orders' statuses);
* money: net (captured orders' totals minus their refunds) = captured (checkouts that
  took money) − refunded (order refunds plus checkouts given back); a pre-order paid by
  authorisation is counted as authorised until it is captured, and a voided one in
  neither (``domain.insight.reconcile.count_money``);
* returns: units the ledger's ``return`` movements brought back = restocked + sent to
  inspection + scrapped (the received returns' lines, by disposition).

The report is a plain dict (the JSON API returns it as is; the CLI, the CSV and HTML
renderers and the web page all read the same dict).

One idea: the post-stream report; its returns section is in
``services/aftersales/report_returns.py``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from dropline.domain.catalog.variants import size_rank
from dropline.domain.errors import NotFound
from dropline.domain.insight.reconcile import (
    Check,
    CheckoutMoney,
    MoneyTotals,
    OrderMoney,
    PaymentState,
    all_balanced,
    count_money,
    pct,
)
from dropline.domain.live.orders import CheckoutStatus, OrderStatus
from dropline.services.aftersales.report_returns import returns_check, returns_summary
from dropline.services.insight.window_report import charged_sales, window_report
from dropline.services.live.drop_catalog import DropCatalog, DropCatalogCache
from dropline.services.live.hold_journal import drop_hold_events
from dropline.services.serialize import rfc3339
from dropline.store.insight.repo import (
    DropRow,
    MonitorRepository,
    MonitorSettings,
    PreorderFigures,
    SaleRow,
    dt_utc,
)
from dropline.store.uow import UowFactory

#: The units check's name for unsold units the drop's end put back in ``available``:
#: "returned" is kept for what buyers send back (the Returns section).
BACK_IN_STOCK = "unsold, back in stock"

ATTRIBUTION_DIMENSIONS = ("channel", "utm_source", "utm_campaign", "promo_code", "creator")
MAX_CHART_POINTS = 120
MIN_CHART_POINTS = 12
PREVIOUS_DROPS = 5


def _sku_label(catalog: DropCatalog | None, sku_id: str) -> tuple[str, str, dict[str, str]]:
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


def money(
    sales: Iterable[SaleRow],
    checkout_rows: Iterable[Any],
    payments: Mapping[str, PaymentState],
    currency: str,
) -> tuple[Check, MoneyTotals]:
    """The money check and totals of a drop's orders and checkouts; ``payments`` says
    where each pre-order's money is (every other order was captured at checkout)."""
    captured = PaymentState.CAPTURED
    return count_money(
        (
            OrderMoney(s.total_amount, s.refunded_amount, payments.get(s.order_id, captured))
            for s in sales
        ),
        (
            CheckoutMoney(int(r.amount), r.status, payments.get(r.order_id or "", captured))
            for r in checkout_rows
        ),
        currency,
    )


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
        checks = self._reconcile(
            drop, offers, moves, sales, sold, pre, hold_events, paid_events, money_check, catalog
        )
        checks.append(returns_check(drop_returns, returned))
        sell = self._sell_through(offers, sales, sold, pre.skus, catalog, start)
        holds = self._holds_summary(hold_events)
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
            "conversion": self._conversion(hold_events, sales),
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
            "post_stream": self._post_stream(sales, settings, drop, ended),
            "returns": returns_summary(
                drop_returns, units_sold, lambda sku: _sku_label(catalog, sku)[0]
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

    # ------------------------------------------------------------------ parts
    def _reconcile(
        self,
        drop: DropRow,
        offers: Mapping[str, tuple[int, int, bool]],
        moves: Mapping[str, Mapping[str, int]],
        sales: list[SaleRow],
        sold: Mapping[str, int],
        pre: PreorderFigures,
        hold_events: list[Any],
        paid_events: list[Any],
        money_check: Check,
        catalog: DropCatalog | None,
    ) -> list[Check]:
        ended = drop.status == "ended"
        offered_mv = moves.get("offer", {})
        returned_mv = moves.get("unoffer", {})
        skus = sorted(
            set(offered_mv) | set(returned_mv) | set(offers) | set(sold) | set(pre.caps),
            key=lambda k: _sku_label(catalog, k),
        )
        # Only a drop with pre-order offers shows the "cap closed" part.
        parts = ["sold", BACK_IN_STOCK, "still offered"]
        if pre.skus or pre.caps:
            parts.append("cap closed")
        checks: list[Check] = []
        totals = Counter[str]()
        for sku_id in skus:
            cap, taken, _ = offers.get(sku_id, (0, 0, False))
            unsold = cap - taken
            # Unsold in-stock units went back to stock with ``unoffer`` movements when the
            # drop ended; an unsold pre-order cap simply closes (it never was stock).
            right = {
                "sold": sold.get(sku_id, 0),
                BACK_IN_STOCK: returned_mv.get(sku_id, 0),
                "still offered": 0 if ended else unsold,
                "cap closed": unsold if ended and sku_id in pre.skus else 0,
            }
            right = {k: right[k] for k in parts}
            offered = offered_mv.get(sku_id, 0) + pre.caps.get(sku_id, 0)
            label, _, _ = _sku_label(catalog, sku_id)
            checks.append(Check("units", "Units", "units", "offered", offered, right, label))
            totals["offered"] += offered
            for k, v in right.items():
                totals[k] += v
        checks.append(
            Check(
                "units",
                "Units",
                "units",
                "offered",
                totals["offered"],
                {k: totals[k] for k in parts},
                "all SKUs",
            )
        )
        h = self._holds_summary(hold_events)
        checks.append(
            Check(
                "holds",
                "Holds",
                "holds",
                "placed",
                h["placed"],
                {
                    "converted": h["converted"],
                    "expired": h["expired"],
                    "released": h["released"],
                    "active": h["active"],
                },
                "all holds",
            )
        )
        status = Counter(s.status for s in sales)
        checks.append(
            Check(
                "orders",
                "Paid orders",
                "orders",
                "paid",
                len({e.aggregate_id for e in paid_events}),
                {
                    "pending": status[OrderStatus.PAID.value],
                    "handed off": status[OrderStatus.HANDED_OFF.value],
                    "shipped": status[OrderStatus.SHIPPED.value],
                    "delivered": status[OrderStatus.DELIVERED.value],
                    "exception": status[OrderStatus.EXCEPTION.value],
                    "cancelled": status[OrderStatus.CANCELLED.value],
                    "refunded": status[OrderStatus.REFUNDED.value],
                },
                "all orders",
            )
        )
        checks.append(money_check)
        return checks

    @staticmethod
    def _holds_summary(hold_events: list[Any]) -> dict[str, Any]:
        by_type: dict[str, set[str]] = defaultdict(set)
        for e in hold_events:
            by_type[e.type].add(e.aggregate_id)
        placed = by_type["hold.placed"]
        terminal = by_type["hold.converted"] | by_type["hold.expired"] | by_type["hold.released"]
        n = len(placed)
        return {
            "placed": n,
            "converted": len(by_type["hold.converted"]),
            "expired": len(by_type["hold.expired"]),
            "released": len(by_type["hold.released"]),
            "active": len(placed - terminal),
            "abandonment_pct": pct(len(by_type["hold.expired"]) + len(by_type["hold.released"]), n),
            "conversion_pct": pct(len(by_type["hold.converted"]), n),
        }

    @staticmethod
    def _sell_through(
        offers: Mapping[str, tuple[int, int, bool]],
        sales: list[SaleRow],
        sold_units: Mapping[str, int],
        preorder_skus: frozenset[str],
        catalog: DropCatalog | None,
        start: datetime,
    ) -> dict[str, Any]:
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
            label, code, attrs = _sku_label(catalog, sku_id)
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

    @staticmethod
    def _conversion(
        hold_events: list[Any], sales: list[SaleRow]
    ) -> dict[str, list[dict[str, Any]]]:
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

    @staticmethod
    def _post_stream(
        sales: list[SaleRow], settings: MonitorSettings, drop: DropRow, ended: bool
    ) -> dict[str, Any]:
        stream_end = settings.stream_ended_at or drop.ended_at
        window_end = (
            stream_end + timedelta(hours=settings.conversion_window_h) if stream_end else None
        )
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
