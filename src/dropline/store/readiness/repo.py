"""Dress rehearsals, signed test deliveries to webhook endpoints, and readiness
overrides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from dropline.store.base import Repository
from dropline.store.readiness.tables import endpoint_checks, readiness_overrides, rehearsals


class ReadinessRepository(Repository):
    # ------------------------------------------------------------------ rehearsals
    async def add_rehearsal(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(rehearsals).values(**values))

    async def update_rehearsal(self, rehearsal_id: str, **values: Any) -> None:
        await self.conn.execute(
            update(rehearsals).where(rehearsals.c.id == rehearsal_id).values(**values)
        )

    async def rehearsal(self, rehearsal_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(rehearsals).where(rehearsals.c.id == rehearsal_id))
        ).first()
        return dict(row._mapping) if row else None

    async def rehearsals(self, drop_id: str, limit: int = 20) -> list[dict[str, Any]]:
        """A drop's rehearsals, newest first."""
        rows = await self.conn.execute(
            select(rehearsals)
            .where(rehearsals.c.drop_id == drop_id)
            .order_by(rehearsals.c.started_at.desc(), rehearsals.c.id.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def rehearsal_skus(self) -> set[str]:
        """The dummy SKUs of every rehearsal: kept out of real stock lists."""
        rows = await self.conn.execute(
            select(rehearsals.c.sku_id).where(rehearsals.c.sku_id.is_not(None))
        )
        return {r.sku_id for r in rows}

    async def rehearsal_products(self) -> set[str]:
        rows = await self.conn.execute(
            select(rehearsals.c.product_id).where(rehearsals.c.product_id.is_not(None))
        )
        return {r.product_id for r in rows}

    # ------------------------------------------------------------------ endpoint checks
    async def add_endpoint_check(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(endpoint_checks).values(**values))

    async def endpoint_checks(
        self, endpoint_ids: Sequence[str], since: datetime
    ) -> dict[str, list[dict[str, Any]]]:
        """Endpoint → its test deliveries since ``since``, newest first."""
        if not endpoint_ids:
            return {}
        rows = await self.conn.execute(
            select(endpoint_checks)
            .where(
                endpoint_checks.c.endpoint_id.in_(sorted(set(endpoint_ids))),
                endpoint_checks.c.checked_at >= since,
            )
            .order_by(endpoint_checks.c.checked_at.desc(), endpoint_checks.c.id.desc())
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            out.setdefault(r.endpoint_id, []).append(dict(r._mapping))
        return out

    # ------------------------------------------------------------------ overrides
    async def add_override(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(readiness_overrides).values(**values))

    async def overrides(self, drop_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(readiness_overrides)
            .where(readiness_overrides.c.drop_id == drop_id)
            .order_by(readiness_overrides.c.created_at, readiness_overrides.c.id)
        )
        return [dict(r._mapping) for r in rows]
