"""Launches, their timeline milestones, scorecard versions and scenarios; and the read
queries that gather a launch's evidence from the rest of the schema (past sell-through
and returns of the product, QC defects of the manufacturer, pre-ordered units)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from dropline.domain.errors import Conflict
from dropline.store.aftersales.tables import returns
from dropline.store.base import Repository
from dropline.store.catalog.tables import skus
from dropline.store.live.tables import drop_offers
from dropline.store.planning.tables import (
    launch_milestones,
    launch_scenarios,
    launch_scorecards,
    launches,
)
from dropline.store.supply.tables import (
    inspections,
    lots,
    preorder_lines,
    preorders,
    production_runs,
)


def _row(r: Any) -> dict[str, Any]:
    return dict(r._mapping)


class LaunchRepository(Repository):
    # ------------------------------------------------------------------ launches
    async def add(self, values: Mapping[str, Any]) -> None:
        now = self.now()
        await self.conn.execute(
            insert(launches).values(**values, created_at=now, updated_at=now, version=1)
        )

    async def get(self, launch_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(launches).where(launches.c.id == launch_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _row(row) if row else None

    async def find(self, *, run_id: str | None = None) -> list[dict[str, Any]]:
        stmt = select(launches).order_by(launches.c.stream_date, launches.c.id)
        if run_id:
            stmt = stmt.where(launches.c.run_id == run_id)
        return [_row(r) for r in await self.conn.execute(stmt)]

    async def update(self, launch: Mapping[str, Any], **values: Any) -> None:
        """Write ``values`` if nobody changed the launch since ``launch`` was read."""
        result = await self.conn.execute(
            update(launches)
            .where(launches.c.id == launch["id"], launches.c.version == launch["version"])
            .values(**values, updated_at=self.now(), version=launch["version"] + 1)
        )
        if result.rowcount != 1:
            raise Conflict("the launch changed concurrently", launch_id=launch["id"])

    # ------------------------------------------------------------------ milestones
    async def milestones(self, launch_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(launch_milestones)
            .where(launch_milestones.c.launch_id == launch_id)
            .order_by(launch_milestones.c.position)
        )
        return [_row(r) for r in rows]

    async def replace_milestones(self, launch_id: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """The whole timeline at once: it is validated whole (cycles, dependencies)."""
        await self.conn.execute(
            delete(launch_milestones).where(launch_milestones.c.launch_id == launch_id)
        )
        if rows:
            await self.conn.execute(
                insert(launch_milestones),
                [{**r, "launch_id": launch_id, "position": i} for i, r in enumerate(rows)],
            )

    async def update_milestone(self, launch_id: str, key: str, **values: Any) -> None:
        await self.conn.execute(
            update(launch_milestones)
            .where(launch_milestones.c.launch_id == launch_id, launch_milestones.c.key == key)
            .values(**values)
        )

    # ------------------------------------------------------------------ scorecards
    async def add_scorecard(self, values: Mapping[str, Any]) -> int:
        """Store the next version of the launch's scorecard; returns its number. Two
        writers racing for one version number collide on the primary key."""
        latest = await self.conn.scalar(
            select(func.max(launch_scorecards.c.version)).where(
                launch_scorecards.c.launch_id == values["launch_id"]
            )
        )
        version = int(latest or 0) + 1
        await self.conn.execute(
            insert(launch_scorecards).values(**values, version=version, created_at=self.now())
        )
        return version

    async def scorecards(self, launch_id: str) -> list[dict[str, Any]]:
        """Every version, newest first."""
        rows = await self.conn.execute(
            select(launch_scorecards)
            .where(launch_scorecards.c.launch_id == launch_id)
            .order_by(launch_scorecards.c.version.desc())
        )
        return [_row(r) for r in rows]

    # ------------------------------------------------------------------ scenarios
    async def add_scenario(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(launch_scenarios).values(**values, created_at=self.now()))

    async def scenarios(self, launch_id: str) -> list[dict[str, Any]]:
        """Newest first."""
        rows = await self.conn.execute(
            select(launch_scenarios)
            .where(launch_scenarios.c.launch_id == launch_id)
            .order_by(launch_scenarios.c.created_at.desc(), launch_scenarios.c.id.desc())
        )
        return [_row(r) for r in rows]

    # ------------------------------------------------------------------ evidence
    async def product_sales(
        self, product_id: str, exclude_drop: str | None
    ) -> dict[str, list[int]]:
        """Units offered and sold per SKU of the product over past drops (every drop but
        ``exclude_drop``): ``{sku_id: [offered, sold]}``."""
        stmt = (
            select(
                drop_offers.c.sku_id, func.sum(drop_offers.c.offered), func.sum(drop_offers.c.sold)
            )
            .join(skus, skus.c.id == drop_offers.c.sku_id)
            .where(skus.c.product_id == product_id)
            .group_by(drop_offers.c.sku_id)
        )
        if exclude_drop:
            stmt = stmt.where(drop_offers.c.drop_id != exclude_drop)
        return {str(s): [int(o or 0), int(n or 0)] for s, o, n in await self.conn.execute(stmt)}

    async def returned_units(self, sku_ids: Sequence[str]) -> int:
        """Units of these SKUs in returns that were not cancelled."""
        if not sku_ids:
            return 0
        wanted = set(sku_ids)
        total = 0
        rows = await self.conn.execute(
            select(returns.c.lines).where(returns.c.status != "cancelled")
        )
        for (lines,) in rows:
            for ln in lines or []:
                for sku, qty in (ln.get("units") or {}).items():
                    if sku in wanted:
                        total += int(qty)
        return total

    async def manufacturer_defects(self, manufacturer_id: str) -> tuple[int, int]:
        """(defects found, units sampled) over every inspection of the manufacturer's lots."""
        rows = await self.conn.execute(
            select(inspections.c.sample_size, inspections.c.classes)
            .join(lots, lots.c.id == inspections.c.lot_id)
            .join(production_runs, production_runs.c.id == lots.c.run_id)
            .where(production_runs.c.manufacturer_id == manufacturer_id)
        )
        found = sampled = 0
        for size, classes in rows:
            sampled += int(size)
            found += sum(int(c.get("defects") or 0) for c in classes or [])
        return found, sampled

    async def preordered_units(self, run_id: str) -> int:
        """Units pre-ordered against the run and not cancelled."""
        total = await self.conn.scalar(
            select(func.coalesce(func.sum(preorder_lines.c.quantity), 0))
            .join(preorders, preorders.c.order_id == preorder_lines.c.order_id)
            .where(preorders.c.run_id == run_id, preorders.c.status != "cancelled")
        )
        return int(total or 0)
