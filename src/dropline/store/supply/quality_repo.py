"""Quality alerts, thresholds, and the reads the quality loop needs: defect totals and
the shelf movements of a SKU (``domain.supply.quality.shelf_by_lot`` replays them).
An alert changes by compare-and-set on ``version``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, or_, select, update

from dropline.domain.errors import Conflict
from dropline.domain.stock.buckets import Bucket
from dropline.store.aftersales.tables import defects
from dropline.store.base import Repository
from dropline.store.stock.tables import stock_movements
from dropline.store.supply.tables import quality_alerts, quality_thresholds

SHELF = (Bucket.AVAILABLE.value, Bucket.SAFETY.value)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


class QualityRepository(Repository):
    # ----------------------------------------------------------------- thresholds
    async def thresholds(self) -> dict[str, int]:
        rows = await self.conn.execute(select(quality_thresholds))
        return {r.manufacturer_id: int(r.threshold_bp) for r in rows}

    async def set_threshold(self, manufacturer_id: str, threshold_bp: int) -> None:
        t = quality_thresholds.c
        result = await self.conn.execute(
            update(quality_thresholds)
            .where(t.manufacturer_id == manufacturer_id)
            .values(threshold_bp=threshold_bp, updated_at=self.now())
        )
        if result.rowcount == 0:
            await self.conn.execute(
                insert(quality_thresholds).values(
                    manufacturer_id=manufacturer_id,
                    threshold_bp=threshold_bp,
                    updated_at=self.now(),
                )
            )

    # ----------------------------------------------------------------- alerts
    async def add_alert(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(quality_alerts).values(**values))

    async def alert(self, alert_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(quality_alerts).where(quality_alerts.c.id == alert_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def alert_for_lot(self, lot_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(quality_alerts).where(quality_alerts.c.lot_id == lot_id))
        ).first()
        return _row(row) if row else None

    async def alerts(
        self, *, status: str | None = None, manufacturer_id: str | None = None
    ) -> list[dict[str, Any]]:
        a = quality_alerts.c
        stmt = select(quality_alerts).order_by(a.opened_at.desc(), a.id)
        if status:
            stmt = stmt.where(a.status == status)
        if manufacturer_id:
            stmt = stmt.where(a.manufacturer_id == manufacturer_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def update_alert(self, alert: Mapping[str, Any], **values: Any) -> dict[str, Any]:
        values = {**values, "updated_at": self.now(), "version": alert["version"] + 1}
        result = await self.conn.execute(
            update(quality_alerts)
            .where(quality_alerts.c.id == alert["id"], quality_alerts.c.version == alert["version"])
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the quality alert changed concurrently", alert_id=alert["id"])
        return {**alert, **values}

    # ----------------------------------------------------------------- reads
    async def defective_units(self, lot_id: str) -> int:
        total = (
            await self.conn.execute(
                select(func.coalesce(func.sum(defects.c.quantity), 0)).where(
                    defects.c.lot_id == lot_id
                )
            )
        ).scalar_one()
        return int(total)

    async def shelf_movements(self, sku_id: str) -> list[dict[str, Any]]:
        """Every movement of the SKU into or out of the shelf (``available``/``safety``)
        from or to another bucket, in ledger order (moves between the two stay on the
        shelf and are left out)."""
        m = stock_movements.c
        into = m.to_bucket.in_(SHELF) & or_(m.from_bucket.is_(None), m.from_bucket.not_in(SHELF))
        out = m.from_bucket.in_(SHELF) & or_(m.to_bucket.is_(None), m.to_bucket.not_in(SHELF))
        rows = await self.conn.execute(
            select(m.seq, m.quantity, m.from_bucket, m.to_bucket, m.reason, m.ref)
            .where(m.sku_id == sku_id, or_(into, out))
            .order_by(m.seq)
        )
        return [_row(r) for r in rows]
