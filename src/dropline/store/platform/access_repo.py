"""API keys (hashed at rest) and stored idempotent responses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update

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


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    method: str
    path: str
    status_code: int
    body: str


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

    async def get_response(self, principal: str, key: str) -> StoredResponse | None:
        row = (
            await self.conn.execute(
                select(idempotency_records).where(
                    idempotency_records.c.principal == principal,
                    idempotency_records.c.key == key,
                )
            )
        ).first()
        if row is None:
            return None
        return StoredResponse(row.request_hash, row.method, row.path, row.status_code, row.body)

    async def save_response(
        self,
        principal: str,
        key: str,
        method: str,
        path: str,
        request_hash: str,
        status_code: int,
        body: str,
    ) -> bool:
        """Store the first response for this key; False if another request stored one."""
        inserted = await self.insert_ignore(
            idempotency_records,
            [
                {
                    "principal": principal,
                    "key": key,
                    "method": method,
                    "path": path,
                    "request_hash": request_hash,
                    "status_code": status_code,
                    "body": body,
                    "created_at": self.now(),
                }
            ],
            ["principal", "key"],
        )
        return inserted == 1
