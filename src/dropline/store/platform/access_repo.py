"""API keys (hashed at rest) and stored idempotent responses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

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


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    method: str
    path: str
    status_code: int
    body: str


class AccessRepository(Repository):
    async def add_key(
        self, key_id: str, name: str, prefix: str, key_hash: str, scopes: frozenset[str]
    ) -> None:
        await self.conn.execute(
            insert(api_keys).values(
                id=key_id,
                name=name,
                prefix=prefix,
                key_hash=key_hash,
                scopes=",".join(sorted(scopes)),
                created_at=self.now(),
            )
        )

    async def key_by_hash(self, key_hash: str) -> ApiKeyRecord | None:
        row = (
            await self.conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))
        ).first()
        if row is None:
            return None
        return ApiKeyRecord(
            row.id,
            row.name,
            row.prefix,
            frozenset(row.scopes.split(",")),
            row.created_at,
            row.revoked_at,
        )

    async def list_keys(self) -> list[ApiKeyRecord]:
        rows = await self.conn.execute(select(api_keys).order_by(api_keys.c.created_at))
        return [
            ApiKeyRecord(
                r.id,
                r.name,
                r.prefix,
                frozenset(r.scopes.split(",")),
                r.created_at,
                r.revoked_at,
            )
            for r in rows
        ]

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
