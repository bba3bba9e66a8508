"""Buyer-reported problems and the defects traced from approved ones. A report changes
by compare-and-set on ``version``, so two ops leads deciding it cannot both win."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from dropline.domain.errors import Conflict
from dropline.store.aftersales.tables import defects, problem_reports
from dropline.store.base import Repository, by_age


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


class ProblemRepository(Repository):
    async def add(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(problem_reports).values(**values))

    async def get(self, problem_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(problem_reports).where(problem_reports.c.id == problem_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def find(
        self,
        *,
        status: str | None = None,
        order_id: str | None = None,
        drop_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The ``limit`` newest reports, newest first."""
        p = problem_reports.c
        stmt = select(problem_reports).order_by(*by_age(problem_reports, True)).limit(limit)
        if status:
            stmt = stmt.where(p.status == status)
        if order_id:
            stmt = stmt.where(p.order_id == order_id)
        if drop_id:
            stmt = stmt.where(p.drop_id == drop_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def update(self, report: Mapping[str, Any], **values: Any) -> dict[str, Any]:
        """Write ``values`` if nobody changed the report since it was read."""
        values = {**values, "updated_at": self.now(), "version": report["version"] + 1}
        result = await self.conn.execute(
            update(problem_reports)
            .where(
                problem_reports.c.id == report["id"],
                problem_reports.c.version == report["version"],
            )
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the problem report changed concurrently", problem_id=report["id"])
        return {**report, **values}

    # ----------------------------------------------------------------- defects
    async def add_defects(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.conn.execute(insert(defects), list(rows))

    async def defects(
        self,
        *,
        lot_id: str | None = None,
        manufacturer_id: str | None = None,
        sku_id: str | None = None,
    ) -> list[dict[str, Any]]:
        d = defects.c
        stmt = select(defects).order_by(d.created_at, d.id)
        if lot_id:
            stmt = stmt.where(d.lot_id == lot_id)
        if manufacturer_id:
            stmt = stmt.where(d.manufacturer_id == manufacturer_id)
        if sku_id:
            stmt = stmt.where(d.sku_id == sku_id)
        return [_row(r) for r in await self.conn.execute(stmt)]
