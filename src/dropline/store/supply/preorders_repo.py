"""Pre-order offers, pre-orders with their lines and lot allocations, notices."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from dropline.domain.errors import Conflict
from dropline.store.base import Repository
from dropline.store.live.tables import drop_offers, orders
from dropline.store.supply.tables import (
    lot_allocations,
    preorder_cap_changes,
    preorder_lines,
    preorder_notices,
    preorder_offers,
    preorders,
)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


@dataclass(frozen=True)
class PreorderOfferRecord:
    drop_id: str
    sku_id: str
    run_id: str
    closes_at: datetime
    payment_mode: str
    cap: int
    sold: int


@dataclass(frozen=True)
class PreorderRecord:
    order_id: str
    drop_id: str
    buyer_id: str
    run_id: str
    payment_mode: str
    captured: bool
    authorization_expires_at: datetime | None
    status: str
    paid_at: datetime
    promised_ship_by: datetime | None
    estimate_earliest: datetime | None
    estimate_latest: datetime | None
    consent: str
    consent_deadline: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None
    version: int
    lines: dict[str, tuple[int, int]] = field(default_factory=dict)  # sku → (qty, allocated)


def _preorder(r: Any, lines: dict[str, tuple[int, int]]) -> PreorderRecord:
    return PreorderRecord(
        r.order_id,
        r.drop_id,
        r.buyer_id,
        r.run_id,
        r.payment_mode,
        bool(r.captured),
        r.authorization_expires_at,
        r.status,
        r.paid_at,
        r.promised_ship_by,
        r.estimate_earliest,
        r.estimate_latest,
        r.consent,
        r.consent_deadline,
        r.cancelled_at,
        r.refunded_at,
        r.version,
        lines,
    )


class PreorderQueries(Repository):
    """Part of ``ProductionRepository``: the queries of this module."""

    # ----------------------------------------------------------------- pre-order offers
    async def add_preorder_offer(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(preorder_offers).values(**values, created_at=self.now()))

    async def update_preorder_offer(self, drop_id: str, sku_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(preorder_offers)
            .where(preorder_offers.c.drop_id == drop_id, preorder_offers.c.sku_id == sku_id)
            .values(**values)
        )

    async def add_cap_change(
        self, drop_id: str, sku_id: str, run_id: str, *, delta: int, cap: int
    ) -> None:
        """Append one change of a drop's pre-order cap (``delta`` units, ``cap`` after)."""
        await self.conn.execute(
            insert(preorder_cap_changes).values(
                drop_id=drop_id,
                sku_id=sku_id,
                run_id=run_id,
                delta=delta,
                cap=cap,
                created_at=self.now(),
            )
        )

    async def preorder_offers(
        self, drop_id: str | None = None, run_id: str | None = None
    ) -> list[PreorderOfferRecord]:
        stmt = select(preorder_offers, drop_offers.c.offered.label("cap"), drop_offers.c.sold).join(
            drop_offers,
            (drop_offers.c.drop_id == preorder_offers.c.drop_id)
            & (drop_offers.c.sku_id == preorder_offers.c.sku_id),
        )
        if drop_id:
            stmt = stmt.where(preorder_offers.c.drop_id == drop_id)
        if run_id:
            stmt = stmt.where(preorder_offers.c.run_id == run_id)
        stmt = stmt.order_by(preorder_offers.c.drop_id, preorder_offers.c.sku_id)
        return [
            PreorderOfferRecord(
                r.drop_id,
                r.sku_id,
                r.run_id,
                r.closes_at,
                r.payment_mode,
                int(r.cap),
                int(r.sold),
            )
            for r in await self.conn.execute(stmt)
        ]

    async def promised_units(self, run_id: str, sku_id: str, exclude_drop: str) -> int:
        """Caps of this run's other pre-order offers for the SKU (units promised elsewhere)."""
        stmt = (
            select(func.coalesce(func.sum(drop_offers.c.offered), 0))
            .select_from(
                preorder_offers.join(
                    drop_offers,
                    (drop_offers.c.drop_id == preorder_offers.c.drop_id)
                    & (drop_offers.c.sku_id == preorder_offers.c.sku_id),
                )
            )
            .where(
                preorder_offers.c.run_id == run_id,
                preorder_offers.c.sku_id == sku_id,
                preorder_offers.c.drop_id != exclude_drop,
            )
        )
        return int((await self.conn.execute(stmt)).scalar_one())

    # ----------------------------------------------------------------- pre-orders
    async def add_preorder(self, values: Mapping[str, Any], lines: Mapping[str, int]) -> None:
        await self.conn.execute(insert(preorders).values(**values, version=1))
        await self.conn.execute(
            insert(preorder_lines),
            [
                {"order_id": values["order_id"], "sku_id": s, "quantity": q, "allocated": 0}
                for s, q in sorted(lines.items())
            ],
        )

    async def _lines(self, order_ids: Sequence[str]) -> dict[str, dict[str, tuple[int, int]]]:
        if not order_ids:
            return {}
        rows = await self.conn.execute(
            select(preorder_lines).where(preorder_lines.c.order_id.in_(list(order_ids)))
        )
        out: dict[str, dict[str, tuple[int, int]]] = {}
        for r in rows:
            out.setdefault(r.order_id, {})[r.sku_id] = (int(r.quantity), int(r.allocated))
        return out

    async def preorder(self, order_id: str, *, lock: bool = False) -> PreorderRecord | None:
        stmt = select(preorders).where(preorders.c.order_id == order_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        return _preorder(row, (await self._lines([order_id])).get(order_id, {}))

    async def list_preorders(
        self,
        *,
        run_id: str | None = None,
        status: str | None = None,
        drop_id: str | None = None,
        sku_id: str | None = None,
        lock: bool = False,
    ) -> list[PreorderRecord]:
        stmt = select(preorders).order_by(preorders.c.paid_at, preorders.c.order_id)
        if run_id:
            stmt = stmt.where(preorders.c.run_id == run_id)
        if status:
            stmt = stmt.where(preorders.c.status == status)
        if drop_id:
            stmt = stmt.where(preorders.c.drop_id == drop_id)
        if sku_id:
            stmt = stmt.where(
                preorders.c.order_id.in_(
                    select(preorder_lines.c.order_id).where(preorder_lines.c.sku_id == sku_id)
                )
            )
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def due_consent_deadlines(self, now: datetime, limit: int = 100) -> list[PreorderRecord]:
        stmt = (
            select(preorders)
            .where(
                preorders.c.status == "waiting",
                preorders.c.consent == "required",
                preorders.c.consent_deadline <= now,
            )
            .order_by(preorders.c.consent_deadline)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def waiting_promised_before(
        self, now: datetime, limit: int = 100
    ) -> list[PreorderRecord]:
        """Pre-orders still waiting for their units whose promised ship-by date is before
        ``now``, oldest promise first (the sweep judges each with ``promise_lapsed``)."""
        stmt = (
            select(preorders)
            .where(
                preorders.c.status == "waiting",
                preorders.c.promised_ship_by.is_not(None),
                preorders.c.promised_ship_by < now,
            )
            .order_by(preorders.c.promised_ship_by, preorders.c.order_id)
            .limit(limit)
        )
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def expiring_authorizations(self, before: datetime) -> list[PreorderRecord]:
        stmt = select(preorders).where(
            preorders.c.status.in_(["waiting", "ready"]),
            preorders.c.captured.is_(False),
            preorders.c.authorization_expires_at <= before,
        )
        rows = list(await self.conn.execute(stmt))
        lines = await self._lines([r.order_id for r in rows])
        return [_preorder(r, lines.get(r.order_id, {})) for r in rows]

    async def update_preorder(self, p: PreorderRecord, **values: Any) -> None:
        """Compare-and-set on the version, so a buyer's answer and the deadline job
        cannot both act on one order."""
        result = await self.conn.execute(
            update(preorders)
            .where(preorders.c.order_id == p.order_id, preorders.c.version == p.version)
            .values(**values, version=p.version + 1)
        )
        if result.rowcount != 1:
            raise Conflict("the pre-order changed concurrently; retry", order_id=p.order_id)

    async def allocate_line(self, order_id: str, sku_id: str, quantity: int) -> None:
        await self.conn.execute(
            update(preorder_lines)
            .where(preorder_lines.c.order_id == order_id, preorder_lines.c.sku_id == sku_id)
            .values(allocated=preorder_lines.c.allocated + quantity)
        )

    async def add_allocation(self, lot_id: str, order_id: str, sku_id: str, qty: int) -> None:
        await self.conn.execute(
            insert(lot_allocations).values(
                lot_id=lot_id,
                order_id=order_id,
                sku_id=sku_id,
                quantity=qty,
                allocated_at=self.now(),
            )
        )

    async def allocations(
        self, *, lot_id: str | None = None, order_id: str | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(lot_allocations).order_by(
            lot_allocations.c.allocated_at, lot_allocations.c.order_id
        )
        if lot_id:
            stmt = stmt.where(lot_allocations.c.lot_id == lot_id)
        if order_id:
            stmt = stmt.where(lot_allocations.c.order_id == order_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def buyer_preordered(self, drop_id: str) -> dict[str, dict[str, int]]:
        """Units each buyer pre-ordered per SKU in the drop (not cancelled), for limits."""
        stmt = (
            select(
                preorders.c.buyer_id, preorder_lines.c.sku_id, func.sum(preorder_lines.c.quantity)
            )
            .join(preorder_lines, preorder_lines.c.order_id == preorders.c.order_id)
            .where(preorders.c.drop_id == drop_id, preorders.c.status != "cancelled")
            .group_by(preorders.c.buyer_id, preorder_lines.c.sku_id)
        )
        out: dict[str, dict[str, int]] = {}
        for buyer, sku, qty in await self.conn.execute(stmt):
            out.setdefault(buyer, {})[sku] = int(qty)
        return out

    # ----------------------------------------------------------------- notices
    async def add_notice(self, order_id: str, kind: str, payload: Mapping[str, Any]) -> None:
        await self.conn.execute(
            insert(preorder_notices).values(
                order_id=order_id, kind=kind, payload=dict(payload), created_at=self.now()
            )
        )

    async def notices(self, order_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(preorder_notices)
            .where(preorder_notices.c.order_id == order_id)
            .order_by(preorder_notices.c.seq)
        )
        return [_row(r) for r in rows]

    async def order_ids_for_lot(self, lot_id: str) -> list[str]:
        rows = await self.conn.execute(
            select(lot_allocations.c.order_id)
            .join(orders, orders.c.id == lot_allocations.c.order_id)
            .where(lot_allocations.c.lot_id == lot_id)
            .order_by(lot_allocations.c.order_id)
        )
        return [r[0] for r in rows]
