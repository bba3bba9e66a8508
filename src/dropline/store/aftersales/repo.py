"""Returns (RMAs) of orders. Every change is a compare-and-set on ``version``, so two
callers receiving or refunding the same return cannot both win."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from dropline.domain.errors import Conflict
from dropline.domain.stock.buckets import Reason
from dropline.store.aftersales.tables import returns
from dropline.store.base import Repository, after_cursor, by_age
from dropline.store.stock.tables import stock_movements


@dataclass(frozen=True)
class ReturnRecord:
    id: str
    order_id: str
    drop_id: str
    buyer_id: str
    status: str
    lines: list[dict[str, Any]]
    note: str
    currency: str
    refund_amount: int
    refund_error: str
    requested_by: str
    received_by: str
    created_at: datetime
    received_at: datetime | None
    refunded_at: datetime | None
    updated_at: datetime
    version: int


def _record(r: Any) -> ReturnRecord:
    m = r._mapping
    return ReturnRecord(**{k: m[k] for k in ReturnRecord.__dataclass_fields__})


class ReturnRepository(Repository):
    async def add(self, r: ReturnRecord) -> None:
        values = {k: getattr(r, k) for k in ReturnRecord.__dataclass_fields__}
        await self.conn.execute(insert(returns).values(**values))

    async def get(self, return_id: str, *, lock: bool = False) -> ReturnRecord | None:
        stmt = select(returns).where(returns.c.id == return_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _record(row) if row else None

    async def for_order(self, order_id: str) -> list[ReturnRecord]:
        rows = await self.conn.execute(
            select(returns).where(returns.c.order_id == order_id).order_by(returns.c.created_at)
        )
        return [_record(r) for r in rows]

    async def find(
        self,
        *,
        drop_id: str | None = None,
        order_id: str | None = None,
        status: str | Sequence[str] | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[ReturnRecord]:
        """Oldest first, paged with ``after`` = the last id seen; or the ``limit``
        newest, newest first (``after`` is then ignored)."""
        stmt = select(returns).order_by(*by_age(returns, newest_first)).limit(limit)
        if drop_id:
            stmt = stmt.where(returns.c.drop_id == drop_id)
        if order_id:
            stmt = stmt.where(returns.c.order_id == order_id)
        if isinstance(status, str):
            stmt = stmt.where(returns.c.status == status)
        elif status:
            stmt = stmt.where(returns.c.status.in_(list(status)))
        if after and not newest_first:
            stmt = stmt.where(after_cursor(returns, after))
        return [_record(r) for r in await self.conn.execute(stmt)]

    async def update(self, r: ReturnRecord, **values: Any) -> ReturnRecord:
        """Write ``values`` if nobody changed the return since ``r`` was read."""
        values = {**values, "updated_at": self.now(), "version": r.version + 1}
        result = await self.conn.execute(
            update(returns)
            .where(returns.c.id == r.id, returns.c.version == r.version)
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the return changed concurrently", return_id=r.id)
        fields = {k: getattr(r, k) for k in ReturnRecord.__dataclass_fields__}
        return ReturnRecord(**(fields | values))

    async def ledger_units(self, return_ids: Sequence[str]) -> dict[str, int]:
        """Units the ledger's ``return`` movements of these returns put into each
        bucket: the ledger's side of the report's returns check."""
        if not return_ids:
            return {}
        m = stock_movements.c
        out: dict[str, int] = {}
        for start in range(0, len(return_ids), 500):
            rows = await self.conn.execute(
                select(m.to_bucket, func.sum(m.quantity))
                .where(m.reason == Reason.RETURN.value, m.ref.in_(return_ids[start : start + 500]))
                .group_by(m.to_bucket)
            )
            for bucket, qty in rows:
                out[str(bucket)] = out.get(str(bucket), 0) + int(qty)
        return out
