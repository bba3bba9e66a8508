"""Stock levels, the append-only movement ledger, and the units of each SKU per bin.

Writers lock the level rows they touch in key order (sorted SKU ids) before changing
them, so concurrent transactions on PostgreSQL can never deadlock on each other. A
SKU's bin rows change only under that same lock. SQLite serialises writers with
``BEGIN IMMEDIATE`` (see ``store.db``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, delete, func, insert, select, update

from dropline.domain.errors import NotFound
from dropline.domain.stock.bins import BinStock, split_leaving
from dropline.domain.stock.buckets import Bucket, Movement, Reason, StockLevel
from dropline.store.base import Repository, insert_rows
from dropline.store.stock.tables import bin_stock, stock_levels, stock_movements

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
# Every paid order reads its SKUs' bins (its pick list, ``services/fulfilment``): built
# for each call, with ``in_`` over the ids, the statement cost ~3x the query itself.
_BINS = (
    select(bin_stock)
    .where(bin_stock.c.quantity > 0)
    .order_by(bin_stock.c.sku_id, bin_stock.c.bin_id)
)
_BINS_OF = _BINS.where(bin_stock.c.sku_id.in_(bindparam("ids", expanding=True)))
_MOVES: dict[tuple[Bucket | None, Bucket | None], Any] = {}


def _move(from_bucket: Bucket | None, to_bucket: Bucket | None) -> Any:
    """One movement as one conditional update: the from-bucket must hold the
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


def _binned(m: Movement) -> bool:
    """Whether ``m`` may change a SKU's units per bin: it names a bin, relocates, or
    takes units out of the building (which must then say from where)."""
    return m.from_bin is not None or m.to_bin is not None or m.leaves or m.relocation


def _movement(r: Any) -> Movement:
    return Movement(
        r.sku_id,
        int(r.quantity),
        Bucket(r.from_bucket) if r.from_bucket else None,
        Bucket(r.to_bucket) if r.to_bucket else None,
        Reason(r.reason),
        r.ref,
        r.actor,
        r.note,
        r.from_bin,
        r.to_bin,
    )


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
        if len(movements) == 1 and not _binned(movements[0]):
            # Read-check-write folds into one conditional update: SQLite has one writer
            # at a time, and PostgreSQL's UPDATE locks the one row and checks the
            # condition again on its latest version (one row: no lock order to keep).
            # Refused (unknown SKU, too few units): nothing was written, and the path
            # below raises the same error as always.
            m = movements[0]
            params = {"sku": m.sku_id, "qty": m.quantity}
            row = (await self.conn.execute(_move(m.from_bucket, m.to_bucket), params)).first()
            if row is not None:
                await self._add_movements(movements)
                return {m.sku_id: _level(row)}
        levels = await self.lock(m.sku_id for m in movements)
        movements = await self._place(movements, levels)
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

    async def _place(
        self, movements: Sequence[Movement], levels: dict[str, StockLevel]
    ) -> list[Movement]:
        """The movements as written: each one taking units out of the building without
        a bin is split by where its units were (the unplaced ones first, then bins by
        id: ``bins.split_leaving``; a shipment names its bins before it gets here), and
        the SKUs' bin rows are updated to match. Runs under the SKUs' level locks."""
        ids = sorted({m.sku_id for m in movements if _binned(m)})
        if not ids:
            return list(movements)
        held = await self.bins_of(ids)
        stock = {s: BinStock(s, levels[s].on_hand, held.get(s, {})) for s in ids}
        out: list[Movement] = []
        for m in movements:
            if m.sku_id not in stock:
                out.append(m)
                continue
            for part in split_leaving(m, stock[m.sku_id], (), bins_first=False):
                stock[m.sku_id] = stock[m.sku_id].apply(part)
                out.append(part)
        for sku_id in ids:
            await self._save_bins(sku_id, held.get(sku_id, {}), stock[sku_id].bins)
        return out

    async def _save_bins(
        self, sku_id: str, before: Mapping[str, int], after: Mapping[str, int]
    ) -> None:
        t = bin_stock.c
        for bin_id in sorted(set(before) | set(after)):
            old, new = before.get(bin_id, 0), after.get(bin_id, 0)
            where = (t.bin_id == bin_id, t.sku_id == sku_id)
            if old == new:
                continue
            if new == 0:
                await self.conn.execute(delete(bin_stock).where(*where))
            elif old == 0:
                await self.conn.execute(
                    insert(bin_stock).values(bin_id=bin_id, sku_id=sku_id, quantity=new)
                )
            else:
                await self.conn.execute(update(bin_stock).where(*where).values(quantity=new))

    async def bins_of(self, sku_ids: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
        """SKU → {bin id: units} of every SKU (or of ``sku_ids``) that has units in a bin."""
        if sku_ids is None:
            rows = await self.conn.execute(_BINS)
        else:
            rows = await self.conn.execute(_BINS_OF, {"ids": sorted(set(sku_ids))})
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r.sku_id, {})[r.bin_id] = int(r.quantity)
        return out

    async def in_bins(self, bin_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """Bin id → {SKU: units} of these bins (empty bins left out)."""
        stmt = select(bin_stock).where(
            bin_stock.c.bin_id.in_(sorted(set(bin_ids))), bin_stock.c.quantity > 0
        )
        out: dict[str, dict[str, int]] = {}
        for r in await self.conn.execute(stmt.order_by(bin_stock.c.bin_id, bin_stock.c.sku_id)):
            out.setdefault(r.bin_id, {})[r.sku_id] = int(r.quantity)
        return out

    async def ledger_bins(self) -> dict[str, dict[str, int]]:
        """SKU → {bin id: units} recomputed from the ledger alone, for verification."""
        m = stock_movements.c
        totals: dict[str, dict[str, int]] = {}
        for col, sign in ((m.to_bin, 1), (m.from_bin, -1)):
            stmt = (
                select(m.sku_id, col, func.sum(m.quantity))
                .where(col.is_not(None))
                .group_by(m.sku_id, col)
            )
            for sku_id, bin_id, qty in await self.conn.execute(stmt):
                per = totals.setdefault(sku_id, {})
                per[bin_id] = per.get(bin_id, 0) + sign * int(qty)
        return {s: {b: q for b, q in v.items() if q} for s, v in totals.items()}

    async def _add_movements(self, movements: Sequence[Movement]) -> None:
        now = self.now()
        await insert_rows(
            self.conn,
            stock_movements,
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
                    "from_bin": m.from_bin,
                    "to_bin": m.to_bin,
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
        return [(int(r.seq), r.created_at, _movement(r)) for r in await self.conn.execute(stmt)]

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
