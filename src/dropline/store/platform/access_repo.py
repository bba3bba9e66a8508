"""API keys (hashed at rest) and stored idempotent responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update

from dropline.domain.errors import IdempotencyInProgress
from dropline.store.base import Repository
from dropline.store.platform.tables import api_keys, idempotency_records


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    name: str
    prefix: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    replaced_by: str | None = None


def _key(row: Any) -> ApiKeyRecord:
    return ApiKeyRecord(
        row.id,
        row.name,
        row.prefix,
        frozenset(row.scopes.split(",")),
        row.created_at,
        row.revoked_at,
        row.expires_at,
        row.last_used_at,
        row.replaced_by,
    )


IN_PROGRESS = 0
"""``status_code`` of a key whose first request has not answered yet. Its ``body`` is
then the id of what that request started and a retry must not start again (a checkout),
or empty."""


@dataclass(frozen=True)
class StoredResponse:
    """One idempotency record: the response of the first request with a key, or, while
    that request runs (``in_progress``), its claim on the key, made at ``created_at``."""

    request_hash: str
    method: str
    path: str
    status_code: int
    body: str
    created_at: datetime

    @property
    def in_progress(self) -> bool:
        return self.status_code == IN_PROGRESS

    @property
    def resource(self) -> str | None:
        """The id of what the unfinished first request started, if it said."""
        return (self.body or None) if self.in_progress else None


class AccessRepository(Repository):
    async def add_key(
        self,
        key_id: str,
        name: str,
        prefix: str,
        key_hash: str,
        scopes: frozenset[str],
        expires_at: datetime | None = None,
    ) -> None:
        await self.conn.execute(
            insert(api_keys).values(
                id=key_id,
                name=name,
                prefix=prefix,
                key_hash=key_hash,
                scopes=",".join(sorted(scopes)),
                created_at=self.now(),
                expires_at=expires_at,
            )
        )

    async def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        row = (
            await self.conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))
        ).first()
        return None if row is None else _key(row)

    async def key_by_id(self, key_id: str, *, for_update: bool = False) -> ApiKeyRecord | None:
        query = select(api_keys).where(api_keys.c.id == key_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        return None if row is None else _key(row)

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self.conn.execute(
            select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        )
        return [_key(r) for r in rows]

    async def retire_key(self, key_id: str, expires_at: datetime, replaced_by: str) -> None:
        """A rotated key: it stops working at ``expires_at``; ``replaced_by`` took over."""
        await self.conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(expires_at=expires_at, replaced_by=replaced_by)
        )

    async def touch_keys(self, used: Mapping[str, datetime]) -> None:
        """Record when keys were last used; an older time never overwrites a newer one
        (several processes write for the same key)."""
        if not used:
            return
        await self.conn.execute(
            update(api_keys)
            .where(
                api_keys.c.id == bindparam("key_id"),
                or_(
                    api_keys.c.last_used_at.is_(None),
                    api_keys.c.last_used_at < bindparam("used_at"),
                ),
            )
            .values(last_used_at=bindparam("used_at")),
            [{"key_id": k, "used_at": t} for k, t in sorted(used.items())],
        )

    async def revoke_key(self, key_id: str) -> bool:
        result = await self.conn.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=self.now())
        )
        return bool(result.rowcount)

    def _key(self, principal: str, key: str) -> Any:
        return and_(idempotency_records.c.principal == principal, idempotency_records.c.key == key)

    async def get_response(self, principal: str, key: str) -> StoredResponse | None:
        row = (
            await self.conn.execute(select(idempotency_records).where(self._key(principal, key)))
        ).first()
        if row is None:
            return None
        return StoredResponse(
            row.request_hash, row.method, row.path, row.status_code, row.body, row.created_at
        )

    async def claim_key(
        self, principal: str, key: str, method: str, path: str, request_hash: str
    ) -> tuple[bool, StoredResponse]:
        """Insert the key as in progress, unless it exists (one statement, atomic on
        the primary key): ``(True, the claim)`` when this call made it, else ``(False,
        the record that holds the key)``. The claim's ``created_at`` is its token."""
        claim = StoredResponse(request_hash, method, path, IN_PROGRESS, "", self.now())
        row = {
            "principal": principal,
            "key": key,
            "method": method,
            "path": path,
            "request_hash": request_hash,
            "status_code": IN_PROGRESS,
            "body": "",
            "created_at": claim.created_at,
        }
        for _ in range(3):  # the holder may release its claim between the two statements
            if await self.insert_ignore(idempotency_records, [row], ["principal", "key"]):
                return True, claim
            held = await self.get_response(principal, key)
            if held is not None:
                return False, held
        raise IdempotencyInProgress("this Idempotency-Key is being claimed and released")

    async def take_over_key(
        self, principal: str, key: str, held: StoredResponse
    ) -> StoredResponse | None:
        """Claim a key whose request stopped without answering (``held`` as read): a
        new claim, or None when the key changed meanwhile (another request took it)."""
        claim = StoredResponse(
            held.request_hash, held.method, held.path, IN_PROGRESS, "", self.now()
        )
        result = await self.conn.execute(
            update(idempotency_records)
            .where(
                self._key(principal, key),
                idempotency_records.c.status_code == IN_PROGRESS,
                idempotency_records.c.created_at == held.created_at,
            )
            .values(body="", created_at=claim.created_at)
        )
        return claim if result.rowcount == 1 else None

    async def attach_resource(
        self, principal: str, key: str, claimed_at: datetime, resource: str
    ) -> None:
        """Remember, on this request's claim, what it started (see ``IN_PROGRESS``)."""
        await self.conn.execute(
            update(idempotency_records)
            .where(
                self._key(principal, key),
                idempotency_records.c.status_code == IN_PROGRESS,
                idempotency_records.c.created_at == claimed_at,
            )
            .values(body=resource)
        )

    async def save_response(
        self,
        principal: str,
        key: str,
        claimed_at: datetime,
        status_code: int,
        body: str,
    ) -> bool:
        """Store the response of the claim made at ``claimed_at``; False when the key
        was answered or taken over meanwhile (the first answer stays)."""
        result = await self.conn.execute(
            update(idempotency_records)
            .where(
                self._key(principal, key),
                idempotency_records.c.status_code == IN_PROGRESS,
                idempotency_records.c.created_at == claimed_at,
            )
            .values(status_code=status_code, body=body)
        )
        return bool(result.rowcount == 1)

    async def release_key(self, principal: str, key: str, claimed_at: datetime) -> None:
        """Drop the claim made at ``claimed_at`` (its request failed), so a retry runs
        afresh; a claim that was answered or taken over meanwhile stays."""
        await self.conn.execute(
            delete(idempotency_records).where(
                self._key(principal, key),
                idempotency_records.c.status_code == IN_PROGRESS,
                idempotency_records.c.created_at == claimed_at,
            )
        )
