"""Manufacturers, production runs, their milestones and lots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from dropline.domain.errors import Conflict
from dropline.domain.supply.production import RunLine
from dropline.store.base import Repository
from dropline.store.supply.tables import (
    lots,
    manufacturers,
    milestone_changes,
    production_run_lines,
    production_runs,
    run_milestones,
)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


class RunQueries(Repository):
    """Part of ``ProductionRepository``: the queries of this module."""

    # ----------------------------------------------------------------- manufacturers
    async def add_manufacturer(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(manufacturers).values(**values, created_at=self.now()))

    async def manufacturer(self, manufacturer_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                select(manufacturers).where(manufacturers.c.id == manufacturer_id)
            )
        ).first()
        return _row(row) if row else None

    async def manufacturers(self) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(manufacturers).order_by(manufacturers.c.name))
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- runs
    async def add_run(self, values: Mapping[str, Any], lines: Sequence[RunLine]) -> None:
        await self.conn.execute(insert(production_runs).values(**values, created_at=self.now()))
        await self.conn.execute(
            insert(production_run_lines),
            [
                {
                    "run_id": values["id"],
                    "sku_id": ln.sku_id,
                    "quantity": ln.quantity,
                    "moq": ln.moq,
                    "cost_tiers": [list(t) for t in ln.tiers],
                }
                for ln in lines
            ],
        )

    async def run(self, run_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(production_runs).where(production_runs.c.id == run_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def runs(self) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(production_runs).order_by(production_runs.c.id))
        return [_row(r) for r in rows]

    async def update_run(self, run_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(production_runs).where(production_runs.c.id == run_id).values(**values)
        )

    async def run_lines(self, run_id: str) -> list[RunLine]:
        rows = await self.conn.execute(
            select(production_run_lines)
            .where(production_run_lines.c.run_id == run_id)
            .order_by(production_run_lines.c.sku_id)
        )
        return [
            RunLine(
                r.sku_id,
                int(r.quantity),
                int(r.moq),
                tuple((int(a), int(b)) for a, b in r.cost_tiers),
            )
            for r in rows
        ]

    # ----------------------------------------------------------------- milestones
    async def milestones(self, run_id: str) -> dict[str, dict[str, Any]]:
        rows = await self.conn.execute(
            select(run_milestones).where(run_milestones.c.run_id == run_id)
        )
        return {r.kind: _row(r) for r in rows}

    async def upsert_milestone(self, run_id: str, kind: str, values: Mapping[str, Any]) -> None:
        exists = (
            await self.conn.execute(
                select(run_milestones.c.kind).where(
                    run_milestones.c.run_id == run_id, run_milestones.c.kind == kind
                )
            )
        ).first()
        if exists:
            await self.conn.execute(
                update(run_milestones)
                .where(run_milestones.c.run_id == run_id, run_milestones.c.kind == kind)
                .values(**values)
            )
        else:
            await self.conn.execute(
                insert(run_milestones).values(run_id=run_id, kind=kind, **values)
            )

    async def add_milestone_change(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(milestone_changes).values(**values, changed_at=self.now()))

    async def milestone_changes(self, run_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(milestone_changes)
            .where(milestone_changes.c.run_id == run_id)
            .order_by(milestone_changes.c.seq)
        )
        return [_row(r) for r in rows]

    # ----------------------------------------------------------------- lots
    async def add_lot(self, values: Mapping[str, Any]) -> None:
        now = self.now()
        await self.conn.execute(
            insert(lots).values(**values, received_at=now, updated_at=now, version=1)
        )

    async def lot(self, lot_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(lots).where(lots.c.id == lot_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def lots(self, run_id: str | None = None) -> list[dict[str, Any]]:
        stmt = select(lots).order_by(lots.c.received_at, lots.c.id)
        if run_id:
            stmt = stmt.where(lots.c.run_id == run_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def set_lot_status(self, lot: Mapping[str, Any], status: str, note: str = "") -> None:
        """Compare-and-set on the version: two sign-offs cannot both move a lot."""
        result = await self.conn.execute(
            update(lots)
            .where(lots.c.id == lot["id"], lots.c.version == lot["version"])
            .values(
                status=status,
                disposition_note=note,
                updated_at=self.now(),
                version=lot["version"] + 1,
            )
        )
        if result.rowcount != 1:
            raise Conflict("the lot changed concurrently; reload and retry", lot_id=lot["id"])
