"""Read models for the live monitor and the post-stream report, and the per-drop
monitor settings.

Everything here reads the ledger (stock movements, the pre-order cap ledger and
pre-orders, orders, checkouts, the outbox) rather than counters, so the report can
cross-check one source against another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from dropline.domain.insight.reconcile import PaymentState, payment_state
from dropline.domain.stock.buckets import Reason
from dropline.domain.supply.production import PreorderStatus
from dropline.store.base import Repository
from dropline.store.insight.tables import drop_monitor_settings
from dropline.store.live.tables import checkouts, drop_offers, drops, orders
from dropline.store.platform.tables import outbox
from dropline.store.stock.tables import stock_movements
from dropline.store.supply.tables import (
    preorder_cap_changes,
    preorder_lines,
    preorder_offers,
    preorders,
)

STREAM_MODES = ("exact", "coarse")


@dataclass(frozen=True)
class MonitorSettings:
    """Per-drop monitor choices; the defaults apply until someone sets them."""

    drop_id: str
    stream_mode: str = "exact"
    low_stock_default: int = 5
    low_stock: dict[str, int] = field(default_factory=dict)
    conversion_window_h: int = 24
    creator: str = ""
    stream_ended_at: datetime | None = None

    def threshold(self, sku_id: str) -> int:
        return self.low_stock.get(sku_id, self.low_stock_default)


@dataclass(frozen=True)
class DropRow:
    id: str
    name: str
    status: str
    currency: str
    created_at: datetime
    starts_at: datetime | None
    ended_at: datetime | None
    live_at: datetime | None = None


def _drop_row(r: Any) -> DropRow:
    return DropRow(
        r.id, r.name, r.status, r.currency, r.created_at, r.starts_at, r.ended_at, r.live_at
    )


@dataclass(frozen=True)
class SaleRow:
    """A paid order with the units it took per SKU (from its checkout)."""

    order_id: str
    buyer_id: str
    status: str
    total_amount: int
    refunded_amount: int
    paid_at: datetime
    attribution: dict[str, str]
    units: dict[str, int]
    #: the hold the order was paid for (the access report reads when it was placed)
    hold_id: str = ""


@dataclass(frozen=True)
class PreorderFigures:
    """A drop's pre-orders as the report counts them: ``skus`` offered as pre-orders,
    ``caps`` per SKU from the cap ledger (the sum of its changes), ``sold`` per SKU from
    the lines of pre-orders not cancelled, and where each pre-order's money is."""

    skus: frozenset[str] = frozenset()
    caps: dict[str, int] = field(default_factory=dict)
    sold: dict[str, int] = field(default_factory=dict)
    payments: dict[str, PaymentState] = field(default_factory=dict)


class MonitorRepository(Repository):
    # ------------------------------------------------------------------ settings
    async def settings(self, drop_id: str) -> MonitorSettings:
        row = (
            await self.conn.execute(
                select(drop_monitor_settings).where(drop_monitor_settings.c.drop_id == drop_id)
            )
        ).first()
        if row is None:
            return MonitorSettings(drop_id)
        return MonitorSettings(
            drop_id,
            row.stream_mode,
            int(row.low_stock_default),
            {k: int(v) for k, v in dict(row.low_stock).items()},
            int(row.conversion_window_h),
            row.creator,
            row.stream_ended_at,
        )

    async def save_settings(self, s: MonitorSettings) -> None:
        values: dict[str, Any] = {
            "stream_mode": s.stream_mode,
            "low_stock_default": s.low_stock_default,
            "low_stock": dict(s.low_stock),
            "conversion_window_h": s.conversion_window_h,
            "creator": s.creator,
            "stream_ended_at": s.stream_ended_at,
            "updated_at": self.now(),
        }
        result = await self.conn.execute(
            update(drop_monitor_settings)
            .where(drop_monitor_settings.c.drop_id == s.drop_id)
            .values(**values)
        )
        if result.rowcount == 0:
            await self.conn.execute(
                insert(drop_monitor_settings).values(drop_id=s.drop_id, **values)
            )

    async def drops_by_creator(self, creator: str) -> list[str]:
        rows = await self.conn.execute(
            select(drop_monitor_settings.c.drop_id).where(
                drop_monitor_settings.c.creator == creator
            )
        )
        return [r.drop_id for r in rows]

    # ------------------------------------------------------------------ reads
    async def drop_row(self, drop_id: str) -> DropRow | None:
        r = (await self.conn.execute(select(drops).where(drops.c.id == drop_id))).first()
        if r is None:
            return None
        return _drop_row(r)

    async def drops_before(self, created_before: datetime, limit: int = 50) -> list[DropRow]:
        rows = await self.conn.execute(
            select(drops)
            .where(drops.c.created_at < created_before, drops.c.rehearsal_of.is_(None))
            .order_by(drops.c.created_at.desc())
            .limit(limit)
        )
        return [_drop_row(r) for r in rows]

    async def offer_rows(self, drop_id: str) -> dict[str, tuple[int, int, bool]]:
        """sku_id → (offered, sold, paused) as the drop's offer rows say."""
        rows = await self.conn.execute(select(drop_offers).where(drop_offers.c.drop_id == drop_id))
        return {r.sku_id: (int(r.offered), int(r.sold), bool(r.paused)) for r in rows}

    async def movements_for_drop(self, drop_id: str) -> dict[str, dict[str, int]]:
        """reason → sku_id → units, for offer/unoffer movements whose ref is the drop."""
        rows = await self.conn.execute(
            select(stock_movements.c.reason, stock_movements.c.sku_id, stock_movements.c.quantity)
            .where(stock_movements.c.ref == drop_id)
            .where(stock_movements.c.reason.in_([Reason.OFFER.value, Reason.UNOFFER.value]))
        )
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            per = out.setdefault(r.reason, {})
            per[r.sku_id] = per.get(r.sku_id, 0) + int(r.quantity)
        return out

    async def sale_movements(self, order_ids: list[str]) -> dict[str, int]:
        """sku_id → units these orders sold and kept (the ledger): ``sale`` movements
        less the ``cancel`` movements that gave units of a cancelled order back."""
        out: dict[str, int] = {}
        m = stock_movements.c
        for start in range(0, len(order_ids), 500):
            chunk = order_ids[start : start + 500]
            rows = await self.conn.execute(
                select(m.sku_id, m.quantity, m.reason)
                .where(m.reason.in_([Reason.SALE.value, Reason.CANCEL.value]))
                .where(m.ref.in_(chunk))
            )
            for r in rows:
                sign = 1 if r.reason == Reason.SALE.value else -1
                out[r.sku_id] = out.get(r.sku_id, 0) + sign * int(r.quantity)
        return {k: v for k, v in out.items() if v}

    async def preorder_figures(self, drop_id: str) -> PreorderFigures:
        """The drop's pre-order caps, units sold and payment states (see
        ``PreorderFigures``); empty for a drop without pre-order offers."""
        skus = frozenset(
            r.sku_id
            for r in await self.conn.execute(
                select(preorder_offers.c.sku_id).where(preorder_offers.c.drop_id == drop_id)
            )
        )
        cap = preorder_cap_changes.c
        caps = {
            r.sku_id: int(r.units)
            for r in await self.conn.execute(
                select(cap.sku_id, func.sum(cap.delta).label("units"))
                .where(cap.drop_id == drop_id)
                .group_by(cap.sku_id)
            )
        }
        sold = {
            r.sku_id: int(r.units)
            for r in await self.conn.execute(
                select(preorder_lines.c.sku_id, func.sum(preorder_lines.c.quantity).label("units"))
                .join(preorders, preorders.c.order_id == preorder_lines.c.order_id)
                .where(
                    preorders.c.drop_id == drop_id,
                    preorders.c.status != PreorderStatus.CANCELLED.value,
                )
                .group_by(preorder_lines.c.sku_id)
            )
        }
        sold = {k: v for k, v in sold.items() if v}
        return PreorderFigures(skus, caps, sold, await self.preorder_payments(drop_id))

    async def preorder_payments(self, drop_id: str) -> dict[str, PaymentState]:
        """order → where the money of each pre-order of the drop is (orders that are not
        pre-orders were captured at checkout and are not listed)."""
        rows = await self.conn.execute(
            select(preorders.c.order_id, preorders.c.captured, preorders.c.refunded_at).where(
                preorders.c.drop_id == drop_id
            )
        )
        return {
            r.order_id: payment_state(captured=bool(r.captured), released=r.refunded_at is not None)
            for r in rows
        }

    async def revenue(self, drop_id: str) -> int:
        """Money the drop's orders kept: paid totals less refunds (minor units)."""
        total = await self.conn.scalar(
            select(func.sum(orders.c.total_amount - orders.c.refunded_amount)).where(
                orders.c.drop_id == drop_id
            )
        )
        return int(total or 0)

    async def sales(self, drop_id: str, since: datetime | None = None) -> list[SaleRow]:
        """Every order of the drop (optionally paid since ``since``), oldest first."""
        stmt = (
            select(
                orders.c.id,
                orders.c.buyer_id,
                orders.c.status,
                orders.c.total_amount,
                orders.c.refunded_amount,
                orders.c.paid_at,
                orders.c.attribution,
                checkouts.c.units,
                orders.c.hold_id,
            )
            .select_from(orders.outerjoin(checkouts, checkouts.c.id == orders.c.checkout_id))
            .where(orders.c.drop_id == drop_id)
            .order_by(orders.c.paid_at, orders.c.id)
        )
        if since is not None:
            stmt = stmt.where(orders.c.paid_at >= since)
        return [
            SaleRow(
                r.id,
                r.buyer_id,
                r.status,
                int(r.total_amount),
                int(r.refunded_amount),
                dt_utc(r.paid_at),
                dict(r.attribution or {}),
                {k: int(v) for k, v in dict(r.units or {}).items()},
                r.hold_id,
            )
            for r in await self.conn.execute(stmt)
        ]

    async def checkout_rows(self, drop_id: str, since: datetime | None = None) -> list[Any]:
        stmt = select(
            checkouts.c.id,
            checkouts.c.order_id,
            checkouts.c.status,
            checkouts.c.amount,
            checkouts.c.decline_code,
            checkouts.c.attribution,
            checkouts.c.updated_at,
        ).where(checkouts.c.drop_id == drop_id)
        if since is not None:
            stmt = stmt.where(checkouts.c.updated_at >= since)
        return list(await self.conn.execute(stmt))

    async def checkout_stats(
        self, drop_id: str, since: datetime
    ) -> tuple[Counter[str], Counter[str], Counter[str]]:
        """Aggregates for the monitor, without loading rows: checkouts per status, failed
        checkouts per decline code, and finished checkouts per status since ``since``."""
        by_status: Counter[str] = Counter()
        by_reason: Counter[str] = Counter()
        recent: Counter[str] = Counter()
        rows = await self.conn.execute(
            select(checkouts.c.status, checkouts.c.decline_code, func.count().label("n"))
            .where(checkouts.c.drop_id == drop_id)
            .group_by(checkouts.c.status, checkouts.c.decline_code)
        )
        for r in rows:
            by_status[r.status] += int(r.n)
            if r.status == "failed":
                by_reason[r.decline_code or "unknown"] += int(r.n)
        rows = await self.conn.execute(
            select(checkouts.c.status, func.count().label("n"))
            .where(checkouts.c.drop_id == drop_id, checkouts.c.updated_at >= since)
            .group_by(checkouts.c.status)
        )
        for r in rows:
            recent[r.status] += int(r.n)
        return by_status, by_reason, recent

    async def events(
        self,
        type_prefix: str,
        *,
        aggregate_type: str | None = None,
        after_seq: int = 0,
        drop_id: str | None = None,
    ) -> list[Any]:
        """Outbox rows whose type starts with ``type_prefix`` (payload included);
        ``drop_id`` keeps those whose payload names that drop (JSON path on both
        SQLite and PostgreSQL)."""
        stmt = (
            select(
                outbox.c.seq,
                outbox.c.type,
                outbox.c.aggregate_id,
                outbox.c.payload,
                outbox.c.occurred_at,
            )
            .where(outbox.c.type.startswith(type_prefix))
            .where(outbox.c.seq > after_seq)
            .order_by(outbox.c.seq)
        )
        if aggregate_type:
            stmt = stmt.where(outbox.c.aggregate_type == aggregate_type)
        if drop_id is not None:
            stmt = stmt.where(outbox.c.payload["drop_id"].as_string() == drop_id)
        return list(await self.conn.execute(stmt))

    async def first_orders_elsewhere(
        self, buyer_ids: list[str], drop_id: str
    ) -> dict[str, datetime]:
        """buyer → when they first paid for an order in any other drop."""
        out: dict[str, datetime] = {}
        for start in range(0, len(buyer_ids), 500):
            chunk = buyer_ids[start : start + 500]
            rows = await self.conn.execute(
                select(orders.c.buyer_id, func.min(orders.c.paid_at).label("first"))
                .where(orders.c.buyer_id.in_(chunk))
                .where(orders.c.drop_id != drop_id)
                .group_by(orders.c.buyer_id)
            )
            out.update({r.buyer_id: dt_utc(r.first) for r in rows})
        return out


def dt_utc(value: Any) -> datetime:
    """SQLite hands a joined UtcDateTime back already converted; keep it aware."""
    from datetime import UTC

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
