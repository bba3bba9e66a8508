"""Reading the audit trail (``GET /v1/audit``, ``/ui/audit``). Writing it is the unit of
work's job (``store/uow.py``): every audited change is recorded in its own transaction."""

from __future__ import annotations

from datetime import datetime

from dropline.domain.errors import InvalidInput
from dropline.store.platform.audit_repo import AuditEntry
from dropline.store.uow import UowFactory

MAX_PAGE = 200


class AuditService:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    async def list(
        self,
        *,
        actor_id: str | None = None,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> tuple[list[AuditEntry], int | None]:
        """A page of entries, newest first, and the ``before`` cursor of the next page
        (None on the last one). ``action`` ending in ``.`` matches every action under it
        (``drop.``)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        for t in (since, until):
            if t is not None and t.tzinfo is None:
                raise InvalidInput("times need a time zone")
        async with self.uow(readonly=True) as uow:
            rows = await uow.audit_log.list(
                actor_id=actor_id,
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                since=since,
                until=until,
                before_seq=before,
                limit=limit + 1,
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].seq if more and rows else None)
