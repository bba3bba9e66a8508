"""Dress rehearsals, signed test deliveries to webhook endpoints, and readiness
overrides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from dropline.store.base import Repository
from dropline.store.fulfilment.tables import webhook_deliveries
from dropline.store.live.tables import drop_offers, drops
from dropline.store.readiness.tables import endpoint_checks, readiness_overrides, rehearsals
from dropline.store.supply.tables import preorder_offers


class ReadinessRepository(Repository):
    async def unsold_offered(self, sku_ids: Sequence[str]) -> dict[str, int]:
        """SKU → units offered and not sold by every drop not yet ended, from stock
        (a pre-order offer takes no stock, so it is left out)."""
        if not sku_ids:
            return {}
        o, p = drop_offers.c, preorder_offers.c
        pre = select(p.sku_id).where(p.drop_id == o.drop_id, p.sku_id == o.sku_id).exists()
        stmt = (
            select(o.sku_id, func.sum(o.offered - o.sold))
            .join(drops, drops.c.id == o.drop_id)
            .where(o.sku_id.in_(sorted(set(sku_ids))), drops.c.status != "ended", ~pre)
            .group_by(o.sku_id)
        )
        return {sku: int(n or 0) for sku, n in await self.conn.execute(stmt)}

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

    async def deliveries_for(
        self, aggregate_ids: Sequence[str], event_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Webhook deliveries for these aggregates (a rehearsal's orders) to every
        endpoint, of ``event_type`` or of any type."""
        if not aggregate_ids:
            return []
        d = webhook_deliveries.c
        stmt = select(webhook_deliveries).where(d.aggregate_id.in_(sorted(set(aggregate_ids))))
        if event_type is not None:
            stmt = stmt.where(d.event_type == event_type)
        return [dict(r._mapping) for r in await self.conn.execute(stmt)]

    async def retire_deliveries(self, aggregate_ids: Sequence[str], why: str) -> int:
        """Give up the deliveries still pending or failing for these aggregates (a
        finished rehearsal's): a warehouse is not sent test events for hours."""
        if not aggregate_ids:
            return 0
        d = webhook_deliveries.c
        result = await self.conn.execute(
            update(webhook_deliveries)
            .where(
                d.aggregate_id.in_(sorted(set(aggregate_ids))),
                d.status.in_(("pending", "failed")),
            )
            .values(status="dead", last_error=why, updated_at=self.now())
        )
        return int(result.rowcount or 0)

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
