"""Reads for next-drop insight: every paid order's buyer, drop and payment time."""

from __future__ import annotations

from sqlalchemy import select

from dropline.domain.insight.lessons import Purchase
from dropline.store.base import Repository
from dropline.store.insight.repo import dt_utc
from dropline.store.live.tables import orders


class LessonRepository(Repository):
    async def purchases(self) -> list[Purchase]:
        """Every order that was paid (``paid_at`` set), whatever happened to it later."""
        o = orders.c
        rows = await self.conn.execute(
            select(o.buyer_id, o.drop_id, o.paid_at).where(o.paid_at.is_not(None))
        )
        return [Purchase(r.buyer_id, r.drop_id, dt_utc(r.paid_at)) for r in rows]
