"""The outbox: domain events written in the same transaction as their cause."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.store.base import Repository
from dropline.store.platform.tables import outbox


class OutboxRepository(Repository):
    async def add_many(
        self, events: Sequence[DomainEvent], occurred_at: Sequence[datetime] | None = None
    ) -> int:
        """Insert events; an event whose id is already stored is skipped (safe re-drain)."""
        now = self.now()
        rows = [
            {
                "id": e.id or new_id("evt"),
                "type": e.type,
                "aggregate_type": e.aggregate_type,
                "aggregate_id": e.aggregate_id,
                "aggregate_version": e.aggregate_version,
                "payload": dict(e.payload),
                "occurred_at": occurred_at[i] if occurred_at else now,
            }
            for i, e in enumerate(events)
        ]
        return await self.insert_ignore(outbox, rows, ["id"])

    async def list(
        self,
        *,
        type_prefix: str | None = None,
        aggregate_id: str | None = None,
        after_seq: int = 0,
        limit: int = 200,
    ) -> list[dict[str, Any]]:
        stmt = select(outbox).where(outbox.c.seq > after_seq).order_by(outbox.c.seq).limit(limit)
        if type_prefix:
            stmt = stmt.where(outbox.c.type.startswith(type_prefix))
        if aggregate_id:
            stmt = stmt.where(outbox.c.aggregate_id == aggregate_id)
        return [dict(r._mapping) for r in await self.conn.execute(stmt)]

    async def count_by_type(self, aggregate_prefix: str | None = None) -> dict[str, int]:
        stmt = select(outbox.c.type, func.count()).group_by(outbox.c.type)
        if aggregate_prefix:
            stmt = stmt.where(outbox.c.aggregate_id.startswith(aggregate_prefix))
        return {t: int(n) for t, n in await self.conn.execute(stmt)}


def epoch_to_dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
