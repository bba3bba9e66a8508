"""The audit trail: who changed what, appended in the same transaction as the change.

Only ``add`` and reads: there is no way to change or remove a row from here, and the
PostgreSQL schema refuses ``UPDATE`` and ``DELETE`` on the table outright.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from dropline.store.base import Repository
from dropline.store.platform.tables import audit_log


@dataclass(frozen=True)
class AuditEntry:
    """One audit row (``seq`` orders them; ``before``/``after`` are JSON summaries)."""

    seq: int
    id: str
    at: datetime
    actor_kind: str
    actor_id: str
    actor_name: str
    action: str
    resource_type: str
    resource_id: str
    before: Any
    after: Any
    request_id: str


class AuditRepository(Repository):
    async def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Append rows (``at`` defaults to now)."""
        if rows:
            now = self.now()
            await self.conn.execute(insert(audit_log), [{"at": now, **r} for r in rows])

    async def last_after(self, resource_type: str, resource_id: str) -> Any:
        """The ``after`` of the newest row about this resource (its state as the trail
        last saw it), or None."""
        row = (
            await self.conn.execute(
                select(audit_log.c.after)
                .where(
                    audit_log.c.resource_type == resource_type,
                    audit_log.c.resource_id == resource_id,
                )
                .order_by(audit_log.c.seq.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else row[0]

    async def list(
        self,
        *,
        actor_id: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first, filtered; ``before_seq`` pages back (rows older than it).
        ``action`` matches a prefix ending in ``.`` (``drop.``) or the exact action."""
        q = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if actor_id:
            q = q.where(audit_log.c.actor_id == actor_id)
        if action:
            q = q.where(
                audit_log.c.action.startswith(action, autoescape=True)
                if action.endswith(".")
                else audit_log.c.action == action
            )
        if resource_type:
            q = q.where(audit_log.c.resource_type == resource_type)
        if resource_id:
            q = q.where(audit_log.c.resource_id == resource_id)
        if since is not None:
            q = q.where(audit_log.c.at >= since)
        if until is not None:
            q = q.where(audit_log.c.at < until)
        if before_seq is not None:
            q = q.where(audit_log.c.seq < before_seq)
        return [AuditEntry(**r._mapping) for r in await self.conn.execute(q)]
