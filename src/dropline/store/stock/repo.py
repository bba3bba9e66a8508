"""Stock levels and the append-only movement ledger.

Writers lock the level rows they touch in key order (sorted SKU ids) before changing
them, so concurrent transactions on PostgreSQL can never deadlock on each other.
SQLite serialises writers with ``BEGIN IMMEDIATE`` (see ``store.db``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, func, insert, select, update

from dropline.domain.errors import NotFound
from dropline.domain.stock.buckets import Bucket, Movement, Reason, StockLevel
from dropline.store.base import Repository
from dropline.store.stock.tables import stock_levels, stock_movements

_BUCKETS = [b.value for b in Bucket]


# Statements of every stock change, built once (values go in as parameters).
_LEVELS = (
    select(stock_levels)
    .where(stock_levels.c.sku_id.in_(bindparam("ids", expanding=True)))
    .order_by(stock_levels.c.sku_id)
)
_LOCK_LEVELS = _LEVELS.with_for_update()
_SET_LEVEL = (
    update(stock_levels)
    .where(stock_levels.c.sku_id == bindparam("sku"))
    .values(version=stock_levels.c.version + 1)
)
_ADD_MOVEMENTS = insert(stock_movements)
_MOVES: dict[tuple[Bucket | None, Bucket | None], Any] = {}


def _move(from_bucket: Bucket | None, to_bucket: Bucket | None) -> Any:
    """One movement as one conditional update (SQLite): the from-bucket must hold the
    quantity, exactly the domain's ``StockLevel.apply`` rule; the new level is returned."""
    key = (from_bucket, to_bucket)
    stmt = _MOVES.get(key)
    if stmt is None:
        c, qty = stock_levels.c, bindparam("qty", type_=BigInteger)
        values: dict[str, Any] = {"version": c.version + 1}
        stmt = update(stock_levels).where(c.sku_id == bindparam("sku"))
        if from_bucket is not None:
            values[from_bucket.value] = c[from_bucket.value] - qty
            stmt = stmt.where(c[from_bucket.value] >= qty)
        if to_bucket is not None:
            values[to_bucket.value] = c[to_bucket.value] + qty
        stmt = _MOVES[key] = stmt.values(values).returning(*stock_levels.c)
    return stmt


def _level(row: Any) -> StockLevel:
    return StockLevel(row.sku_id, **{b: int(getattr(row, b)) for b in _BUCKETS})


class StockRepository(Repository):
    async def lock(self, sku_ids: Iterable[str]) -> dict[str, StockLevel]:
        """Levels of these SKUs, row-locked in key order for the rest of the transaction."""
        ids = sorted(set(sku_ids))
        if not ids:
            return {}
        stmt = _LOCK_LEVELS if self.dialect == "postgresql" else _LEVELS
        levels = {r.sku_id: _level(r) for r in await self.conn.execute(stmt, {"ids": ids})}
        missing = [i for i in ids if i not in levels]
        if missing:
            raise NotFound(f"unknown SKU {missing[0]}", sku_id=missing[0])
        return levels

    async def levels(self, sku_ids: Iterable[str] | None = None) -> dict[str, StockLevel]:
        stmt = select(stock_levels).order_by(stock_levels.c.sku_id)
        if sku_ids is not None:
            stmt = stmt.where(stock_levels.c.sku_id.in_(list(sku_ids)))
        return {r.sku_id: _level(r) for r in await self.conn.execute(stmt)}

    async def apply(self, movements: Sequence[Movement]) -> dict[str, StockLevel]:
        """Append ``movements`` to the ledger and update the levels, all or nothing.

        The domain refuses any movement that would drive a bucket negative, so the
        whole transaction fails before anything is written."""
        if not movements:
            return {}
        if len(movements) == 1 and self.dialect == "sqlite":
            # One writer at a time: read-check-write folds into one conditional update.
            # Refused (unknown SKU, too few units): nothing was written, and the path
            # below raises the same error as always.
            m = movements[0]
            params = {"sku": m.sku_id, "qty": m.quantity}
            row = (await self.conn.execute(_move(m.from_bucket, m.to_bucket), params)).first()
            if row is not None:
                await self._add_movements(movements)
                return {m.sku_id: _level(row)}
        levels = await self.lock(m.sku_id for m in movements)
        for m in movements:
            levels[m.sku_id] = levels[m.sku_id].apply(m)
        touched = sorted({m.sku_id for m in movements})
        for sku_id in touched:
            lvl = levels[sku_id]
            await self.conn.execute(
                _SET_LEVEL, {"sku": sku_id, **{b: lvl.get(Bucket(b)) for b in _BUCKETS}}
            )
        await self._add_movements(movements)
        return {s: levels[s] for s in touched}

    async def _add_movements(self, movements: Sequence[Movement]) -> None:
        now = self.now()
        await self.conn.execute(
            _ADD_MOVEMENTS,
            [
                {
                    "sku_id": m.sku_id,
                    "quantity": m.quantity,
                    "from_bucket": m.from_bucket.value if m.from_bucket else None,
                    "to_bucket": m.to_bucket.value if m.to_bucket else None,
                    "reason": m.reason.value,
                    "ref": m.ref,
                    "actor": m.actor,
                    "note": m.note,
                    "created_at": now,
                }
                for m in movements
            ],
        )

    async def movements(
        self, sku_id: str | None = None, ref: str | None = None, limit: int = 500
    ) -> list[tuple[int, datetime, Movement]]:
        stmt = select(stock_movements).order_by(stock_movements.c.seq.desc()).limit(limit)
        if sku_id:
            stmt = stmt.where(stock_movements.c.sku_id == sku_id)
        if ref:
            stmt = stmt.where(stock_movements.c.ref == ref)
        out = []
        for r in await self.conn.execute(stmt):
            mv = Movement(
                r.sku_id,
                int(r.quantity),
                Bucket(r.from_bucket) if r.from_bucket else None,
                Bucket(r.to_bucket) if r.to_bucket else None,
                Reason(r.reason),
                r.ref,
                r.actor,
                r.note,
            )
            out.append((int(r.seq), r.created_at, mv))
        return out

    async def committed_to(self, ref: str) -> dict[str, int]:
        """Units per SKU that movements with this ``ref`` (an order id) put into
        ``committed`` and have not taken out: what the order holds in the warehouse."""
        m = stock_movements.c
        into = func.sum(case((m.to_bucket == Bucket.COMMITTED.value, m.quantity), else_=0))
        out = func.sum(case((m.from_bucket == Bucket.COMMITTED.value, m.quantity), else_=0))
        rows = await self.conn.execute(
            select(m.sku_id, into - out).where(m.ref == ref).group_by(m.sku_id)
        )
        return {sku_id: int(n) for sku_id, n in rows if n and int(n) > 0}

    async def ledger_levels(self) -> dict[str, StockLevel]:
        """Bucket totals recomputed from the ledger alone, for verification."""
        totals: dict[str, dict[str, int]] = {}
        for col, sign in (("to_bucket", 1), ("from_bucket", -1)):
            column = stock_movements.c[col]
            stmt = (
                select(stock_movements.c.sku_id, column, func.sum(stock_movements.c.quantity))
                .where(column.is_not(None))
                .group_by(stock_movements.c.sku_id, column)
            )
            for sku_id, bucket, qty in await self.conn.execute(stmt):
                per = totals.setdefault(sku_id, {})
                per[bucket] = per.get(bucket, 0) + sign * int(qty)
        return {s: StockLevel(s, **v) for s, v in totals.items()}
