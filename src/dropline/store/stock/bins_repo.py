"""Bins and the staging plan (which bin holds each variant a drop offers).

A bin's units per SKU live with the stock levels (``store/stock/repo.py``), because
they change only under the same row locks as the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, select, update

from dropline.domain.stock.bins import Bin
from dropline.store.base import Repository
from dropline.store.stock.tables import bins, drop_staging


def _bin(r: Any) -> Bin:
    return Bin(r.id, r.code, r.zone, r.label)


class BinRepository(Repository):
    async def add(self, b: Bin) -> None:
        await self.conn.execute(
            insert(bins).values(
                id=b.id, code=b.code, zone=b.zone, label=b.label, created_at=self.now()
            )
        )

    async def get(self, bin_id: str) -> Bin | None:
        row = (await self.conn.execute(select(bins).where(bins.c.id == bin_id))).first()
        return _bin(row) if row else None

    async def by_code(self, code: str) -> Bin | None:
        row = (await self.conn.execute(select(bins).where(bins.c.code == code))).first()
        return _bin(row) if row else None

    async def get_many(self, bin_ids: Iterable[str]) -> dict[str, Bin]:
        ids = sorted(set(bin_ids))
        if not ids:
            return {}
        rows = await self.conn.execute(select(bins).where(bins.c.id.in_(ids)))
        return {r.id: _bin(r) for r in rows}

    async def list_bins(self, zone: str | None = None) -> list[Bin]:
        """Every bin by zone, then code (the order of a walk through the warehouse)."""
        stmt = select(bins).order_by(bins.c.zone, bins.c.code)
        if zone is not None:
            stmt = stmt.where(bins.c.zone == zone)
        return [_bin(r) for r in await self.conn.execute(stmt)]

    async def update(self, bin_id: str, **values: str) -> None:
        await self.conn.execute(update(bins).where(bins.c.id == bin_id).values(**values))

    # ------------------------------------------------------------------ staging
    async def stage(self, drop_id: str, sku_id: str, bin_id: str, actor: str) -> None:
        """Stage a drop's SKU in a bin (replacing where it was staged before)."""
        t = drop_staging.c
        await self.conn.execute(
            delete(drop_staging).where(t.drop_id == drop_id, t.sku_id == sku_id)
        )
        await self.conn.execute(
            insert(drop_staging).values(
                drop_id=drop_id,
                sku_id=sku_id,
                bin_id=bin_id,
                staged_by=actor,
                staged_at=self.now(),
            )
        )

    async def unstage(self, drop_id: str, sku_id: str) -> bool:
        t = drop_staging.c
        result = await self.conn.execute(
            delete(drop_staging).where(t.drop_id == drop_id, t.sku_id == sku_id)
        )
        return bool(result.rowcount)

    async def staging(self, drop_id: str) -> dict[str, str]:
        """SKU → the bin it is staged in for the drop."""
        rows = await self.conn.execute(
            select(drop_staging.c.sku_id, drop_staging.c.bin_id).where(
                drop_staging.c.drop_id == drop_id
            )
        )
        return {r.sku_id: r.bin_id for r in rows}

    async def staging_rows(self, drop_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(drop_staging)
            .where(drop_staging.c.drop_id == drop_id)
            .order_by(drop_staging.c.sku_id)
        )
        return [dict(r._mapping) for r in rows]
