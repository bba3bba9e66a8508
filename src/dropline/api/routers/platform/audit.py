"""The audit trail (admin): who changed what, newest first, with filters and paging."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from dropline.api.deps import Admin, ContainerDep
from dropline.api.fields import Digits, Rfc3339
from dropline.api.plain import parse_time
from dropline.domain.inputs import BIGINT_MAX
from dropline.services.serialize import rfc3339

router = APIRouter(prefix="/v1", tags=["platform"])


class AuditEntryOut(BaseModel):
    id: str
    seq: int
    at: str
    actor: dict[str, str]
    action: str
    resource: dict[str, str]
    before: Any = None
    after: Any = None
    request_id: str


class AuditPage(BaseModel):
    entries: list[AuditEntryOut]
    next_before: int | None = None


@router.get("/audit", response_model=AuditPage)
async def list_audit(
    c: ContainerDep,
    _: Admin,
    actor_id: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in '.'")] = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    since: Annotated[Rfc3339 | None, Query(description="changes at or after (RFC 3339)")] = None,
    until: Annotated[Rfc3339 | None, Query(description="changes before (RFC 3339)")] = None,
    before: Annotated[
        int | None,
        Query(ge=1, le=BIGINT_MAX, description="the previous page's next_before"),
        Digits,
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200), Digits] = 50,
) -> AuditPage:
    """Every change made with an ops/admin key or a ``/ui`` login: the actor (key id and
    name, or the login), the action, the resource and a summary of before and after.
    Append-only: rows are never changed or removed. Page back with ``before``."""
    rows, nxt = await c.audit.list(
        actor_id=actor_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        since=parse_time(since, "since"),
        until=parse_time(until, "until"),
        before=before,
        limit=limit,
    )
    return AuditPage(
        entries=[
            AuditEntryOut(
                id=r.id,
                seq=r.seq,
                at=rfc3339(r.at) or "",
                actor={"kind": r.actor_kind, "id": r.actor_id, "name": r.actor_name},
                action=r.action,
                resource={"type": r.resource_type, "id": r.resource_id},
                before=r.before,
                after=r.after,
                request_id=r.request_id,
            )
            for r in rows
        ],
        next_before=nxt,
    )
