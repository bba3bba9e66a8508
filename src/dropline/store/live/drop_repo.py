"""Drops, their offers and bundles.

Every method that changes what a drop sells (status, offers, pauses, bundles, sold
units given back) also bumps ``drops.catalog_version`` in the same transaction, so the
catalog cache of every process can tell with one tiny query whether its copy is
current. ``record_sale`` does not: sales are frequent, and while a drop sells the live
counts come from the engine, not from the cached ``sold``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update

from dropline.domain.errors import Conflict
from dropline.domain.live.drops import Drop, DropStatus, Offer
from dropline.store.base import Repository
from dropline.store.live.tables import drop_bundles, drop_offers, drops, orders
from dropline.store.stock.tables import stock_movements


def _drop(row: Any) -> Drop:
    return Drop(
        id=row.id,
        name=row.name,
        currency=row.currency,
        status=DropStatus(row.status),
        hold_ttl_s=row.hold_ttl_s,
        starts_at=row.starts_at.timestamp() if row.starts_at else None,
        version=row.version,
        rehearsal_of=row.rehearsal_of,
        ends_at=row.ends_at.timestamp() if row.ends_at else None,
    )


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _offer(row: Any) -> Offer:
    return Offer(row.sku_id, int(row.offered), int(row.sold), row.per_buyer_limit, bool(row.paused))


# The checkout path's statements, built once (values go in as parameters).
_DROP = select(drops).where(drops.c.id == bindparam("drop_id"))
_DROP_SHARED = _DROP.with_for_update(read=True)
_DROP_LOCKED = _DROP.with_for_update()
_SELL = (
    update(drop_offers)
    .where(
        drop_offers.c.drop_id == bindparam("drop"),
        drop_offers.c.sku_id == bindparam("sku"),
        drop_offers.c.sold + bindparam("qty") <= drop_offers.c.offered,
    )
    .values(sold=drop_offers.c.sold + bindparam("qty"))
)
# SQLite: the same sale, only while the drop exists and has not ended.
_SELL_OPEN = _SELL.where(
    select(drops.c.id)
    .where(drops.c.id == bindparam("drop"), drops.c.status != DropStatus.ENDED.value)
    .exists()
)


class DropRepository(Repository):
    async def add(self, drop: Drop) -> None:
        now = self.now()
        await self.conn.execute(
            insert(drops).values(
                id=drop.id,
                name=drop.name,
                currency=drop.currency,
                status=drop.status.value,
                hold_ttl_s=drop.hold_ttl_s,
                starts_at=_ts(drop.starts_at),
                ends_at=_ts(drop.ends_at),
                created_at=now,
                updated_at=now,
                version=drop.version,
                rehearsal_of=drop.rehearsal_of,
            )
        )

    async def get(self, drop_id: str, *, lock: bool = False, share: bool = False) -> Drop | None:
        """``lock`` takes the row exclusively (lifecycle changes), ``share`` in shared mode
        (sales): on PostgreSQL sales run side by side but never during a transition."""
        stmt = _DROP
        if (lock or share) and self.dialect == "postgresql":
            stmt = _DROP_SHARED if share and not lock else _DROP_LOCKED
        row = (await self.conn.execute(stmt, {"drop_id": drop_id})).first()
        return _drop(row) if row else None

    async def list_drops(
        self, status: DropStatus | None = None, *, rehearsals: bool = False
    ) -> list[Drop]:
        """Newest first; a dress rehearsal's copies only with ``rehearsals``."""
        stmt = select(drops).order_by(drops.c.created_at.desc())
        if not rehearsals:
            stmt = stmt.where(drops.c.rehearsal_of.is_(None))
        if status:
            stmt = stmt.where(drops.c.status == status.value)
        return [_drop(r) for r in await self.conn.execute(stmt)]

    async def list_in(self, statuses: frozenset[DropStatus]) -> list[Drop]:
        stmt = select(drops).where(drops.c.status.in_([s.value for s in statuses]))
        return [_drop(r) for r in await self.conn.execute(stmt)]

    async def due_for_schedule(self, now: float, limit: int = 100) -> list[Drop]:
        """Drops whose schedule may ask for a transition at ``now``: scheduled with a
        start that has come, or scheduled, live or paused with an end that has come.
        A candidate list only; the caller re-reads each row under its lock."""
        at = datetime.fromtimestamp(now, UTC)
        c = drops.c
        stmt = (
            select(drops)
            .where(
                ((c.status == DropStatus.SCHEDULED.value) & (c.starts_at <= at))
                | (
                    c.status.in_(
                        [
                            s.value
                            for s in (DropStatus.SCHEDULED, DropStatus.LIVE, DropStatus.PAUSED)
                        ]
                    )
                    & (c.ends_at <= at)
                )
            )
            .order_by(c.starts_at, c.id)
            .limit(limit)
        )
        return [_drop(r) for r in await self.conn.execute(stmt)]

    async def rehearsal_ids(self, drop_ids: Iterable[str]) -> set[str]:
        """Which of these drops are dress rehearsals' copies."""
        ids = sorted(set(drop_ids))
        if not ids:
            return set()
        rows = await self.conn.execute(
            select(drops.c.id).where(drops.c.id.in_(ids), drops.c.rehearsal_of.is_not(None))
        )
        return {r.id for r in rows}

    async def save_status(self, drop: Drop, status: DropStatus) -> Drop:
        """Compare-and-set on the version so two operators cannot both win a transition."""
        values: dict[str, Any] = {
            "status": status.value,
            "updated_at": self.now(),
            "version": drop.version + 1,
            "catalog_version": drops.c.catalog_version + 1,
        }
        if status is DropStatus.ENDED:
            values["ended_at"] = self.now()
        if status is DropStatus.LIVE:  # the first time only: a resume keeps it
            values["live_at"] = func.coalesce(drops.c.live_at, self.now())
        result = await self.conn.execute(
            update(drops)
            .where(drops.c.id == drop.id, drops.c.version == drop.version)
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the drop was changed by someone else; reload and retry")
        return replace(drop, status=status, version=drop.version + 1)

    async def save_reopened(self, drop: Drop, ends_at: float | None) -> Drop:
        """An ended drop live again (a restock wave reopened it), compare-and-set on the
        version like a transition: its end is ``ends_at`` (the one that ended it has
        passed), it has not ended, and its monitor clock counts from now."""
        result = await self.conn.execute(
            update(drops)
            .where(drops.c.id == drop.id, drops.c.version == drop.version)
            .values(
                status=DropStatus.LIVE.value,
                updated_at=self.now(),
                version=drop.version + 1,
                catalog_version=drops.c.catalog_version + 1,
                ends_at=_ts(ends_at),
                ended_at=None,
                live_at=self.now(),
            )
        )
        if result.rowcount != 1:
            raise Conflict("the drop was changed by someone else; reload and retry")
        return replace(drop, status=DropStatus.LIVE, version=drop.version + 1, ends_at=ends_at)

    async def catalog_version(self, drop_id: str) -> int | None:
        """The drop's catalog version (None if there is no such drop)."""
        return await self.conn.scalar(select(drops.c.catalog_version).where(drops.c.id == drop_id))

    async def _catalog_changed(self, drop_id: str) -> None:
        await self.conn.execute(
            update(drops)
            .where(drops.c.id == drop_id)
            .values(catalog_version=drops.c.catalog_version + 1)
        )

    async def offers(self, drop_id: str) -> dict[str, Offer]:
        rows = await self.conn.execute(
            select(drop_offers)
            .where(drop_offers.c.drop_id == drop_id)
            .order_by(drop_offers.c.sku_id)
        )
        return {r.sku_id: _offer(r) for r in rows}

    async def upsert_offer(self, drop_id: str, offer: Offer) -> None:
        exists = (
            await self.conn.execute(
                select(drop_offers.c.sku_id).where(
                    drop_offers.c.drop_id == drop_id, drop_offers.c.sku_id == offer.sku_id
                )
            )
        ).first()
        values = {
            "offered": offer.offered,
            "per_buyer_limit": offer.per_buyer_limit,
            "paused": offer.paused,
        }
        if exists:
            await self.conn.execute(
                update(drop_offers)
                .where(drop_offers.c.drop_id == drop_id, drop_offers.c.sku_id == offer.sku_id)
                .values(**values)
            )
        else:
            await self.conn.execute(
                insert(drop_offers).values(drop_id=drop_id, sku_id=offer.sku_id, sold=0, **values)
            )
        await self._catalog_changed(drop_id)

    async def delete_offer(self, drop_id: str, sku_id: str) -> None:
        await self.conn.execute(
            drop_offers.delete().where(
                drop_offers.c.drop_id == drop_id, drop_offers.c.sku_id == sku_id
            )
        )
        await self._catalog_changed(drop_id)

    async def set_paused(self, drop_id: str, sku_id: str, paused: bool) -> None:
        await self.conn.execute(
            update(drop_offers)
            .where(drop_offers.c.drop_id == drop_id, drop_offers.c.sku_id == sku_id)
            .values(paused=paused)
        )
        await self._catalog_changed(drop_id)

    async def record_sale(self, drop_id: str, units: Mapping[str, int]) -> bool:
        """Count units as sold if, and only if, every SKU still has them unsold.

        This conditional update is the last line against overselling: whatever the
        engine believed, the ledger never sells more than was offered. Rows are
        touched in key order so concurrent sales cannot deadlock."""
        for sku_id in sorted(units):
            params = {"drop": drop_id, "sku": sku_id, "qty": units[sku_id]}
            result = await self.conn.execute(_SELL, params)
            if result.rowcount != 1:
                return False
        return True

    async def open_for_sales(self, drop_id: str) -> bool:
        """Whether the drop exists and has not ended, for a transaction that will sell in
        it later (``sell_if_open(..., checked=True)``). PostgreSQL takes the drop row in
        shared mode (ending it waits for this transaction; sales never block each
        other); SQLite answers True and leaves the check to the sale's conditional
        update (one writer at a time: nothing can end the drop meanwhile)."""
        if self.dialect != "postgresql":
            return True
        drop = await self.get(drop_id, share=True)
        return drop is not None and drop.status is not DropStatus.ENDED

    async def sell_if_open(
        self, drop_id: str, units: Mapping[str, int], *, checked: bool = False
    ) -> bool:
        """``record_sale``, only on a drop that exists and has not ended; False otherwise.
        ``checked``: this transaction's ``open_for_sales`` said yes already.

        PostgreSQL takes the drop row in shared mode first: ending a drop (exclusive)
        waits for the sales in flight, and sales never block each other. SQLite runs one
        writer at a time (``BEGIN IMMEDIATE``), so nothing can end the drop inside this
        transaction and the status check rides on the first conditional update."""
        skus = sorted(units)
        if checked and self.dialect == "postgresql":
            return await self.record_sale(drop_id, units)
        if self.dialect == "postgresql" or not skus:
            drop = await self.get(drop_id, share=True)
            if drop is None or drop.status is DropStatus.ENDED:
                return False
            return await self.record_sale(drop_id, units)
        for n, sku_id in enumerate(skus):
            params = {"drop": drop_id, "sku": sku_id, "qty": units[sku_id]}
            result = await self.conn.execute(_SELL_OPEN if n == 0 else _SELL, params)
            if result.rowcount != 1:
                return False
        return True

    async def unsell(self, drop_id: str, units: Mapping[str, int]) -> None:
        """Give sold units back to the drop (an order cancelled before shipping)."""
        for sku_id in sorted(units):
            await self.conn.execute(
                update(drop_offers)
                .where(drop_offers.c.drop_id == drop_id, drop_offers.c.sku_id == sku_id)
                .values(sold=drop_offers.c.sold - units[sku_id])
            )
        await self._catalog_changed(drop_id)

    async def bundle_ids(self, drop_id: str) -> list[str]:
        rows = await self.conn.execute(
            select(drop_bundles.c.bundle_id)
            .where(drop_bundles.c.drop_id == drop_id)
            .order_by(drop_bundles.c.bundle_id)
        )
        return [r[0] for r in rows]

    async def add_bundle(self, drop_id: str, bundle_id: str) -> None:
        await self.insert_ignore(
            drop_bundles, [{"drop_id": drop_id, "bundle_id": bundle_id}], ["drop_id", "bundle_id"]
        )
        await self._catalog_changed(drop_id)

    async def update_details(self, drop: Drop, **values: Any) -> None:
        """Change a drop's ``name``, ``starts_at`` or ``hold_ttl_s`` (compare-and-set on
        the version, like a transition)."""
        if "starts_at" in values and values["starts_at"] is not None:
            values["starts_at"] = datetime.fromtimestamp(values["starts_at"], UTC)
        result = await self.conn.execute(
            update(drops)
            .where(drops.c.id == drop.id, drops.c.version == drop.version)
            .values(
                **values,
                updated_at=self.now(),
                version=drop.version + 1,
                catalog_version=drops.c.catalog_version + 1,
            )
        )
        if result.rowcount != 1:
            raise Conflict("the drop was changed by someone else; reload and retry")

    async def summaries(self) -> dict[str, tuple[int, int, int]]:
        """Per drop: units offered, units sold and revenue kept (paid order totals less
        refunds, minor units), in two grouped queries whatever the number of drops."""
        out: dict[str, tuple[int, int, int]] = {}
        rows = await self.conn.execute(
            select(
                drop_offers.c.drop_id,
                func.sum(drop_offers.c.offered),
                func.sum(drop_offers.c.sold),
            ).group_by(drop_offers.c.drop_id)
        )
        for drop_id, offered, sold in rows:
            out[drop_id] = (int(offered or 0), int(sold or 0), 0)
        money = await self.conn.execute(
            select(
                orders.c.drop_id,
                func.sum(orders.c.total_amount - orders.c.refunded_amount),
            ).group_by(orders.c.drop_id)
        )
        for drop_id, revenue in money:
            offered, sold, _ = out.get(drop_id, (0, 0, 0))
            out[drop_id] = (offered, sold, int(revenue or 0))
        return out

    async def buyer_taken(self, drop_id: str) -> dict[str, dict[str, int]]:
        """Units each buyer holds for good per SKU in this drop, from the ledger (for
        limits): what their orders bought (``sale`` movements) less what cancelling
        an order gave back (``cancel`` movements, ref = the order). Buyers and SKUs
        that come to nothing are left out."""
        m = stock_movements.c
        net = func.sum(case((m.reason == "cancel", -m.quantity), else_=m.quantity))
        stmt = (
            select(orders.c.buyer_id, m.sku_id, net)
            .join(stock_movements, m.ref == orders.c.id)
            .where(orders.c.drop_id == drop_id, m.reason.in_(("sale", "cancel")))
            .group_by(orders.c.buyer_id, m.sku_id)
        )
        out: dict[str, dict[str, int]] = {}
        for buyer, sku, qty in await self.conn.execute(stmt):
            if int(qty) > 0:
                out.setdefault(buyer, {})[sku] = int(qty)
        return out
