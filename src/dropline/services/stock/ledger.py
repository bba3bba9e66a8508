"""Stock use cases: receive, adjust, count, safety buffer, verify the ledger; and the
one way a cancelled order's units go back (``give_back_units``)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from dropline.domain.errors import InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.live.drops import ENGINE_STATES, DropStatus, Offer
from dropline.domain.stock.buckets import (
    MAX_QUANTITY,
    Bucket,
    Movement,
    Reason,
    StockLevel,
    count_adjustment,
    give_back,
    safety_rebalance,
    shipment,
)
from dropline.services.ports import DropNotLoaded, StockEngine
from dropline.services.stock.bins import find_bin, from_picked_bins
from dropline.store.uow import UnitOfWork, UowFactory

RECEIVABLE = frozenset({Bucket.AVAILABLE, Bucket.QUALITY_CONTROL, Bucket.DAMAGED})
# Buckets an operator may move between by hand; reserved/committed belong to drops/orders.
MANUAL = frozenset({Bucket.AVAILABLE, Bucket.SAFETY, Bucket.DAMAGED, Bucket.QUALITY_CONTROL})


async def offer_again(
    engine: StockEngine,
    drop_id: str,
    units: Mapping[str, int],
    offers: Mapping[str, Offer],
    *,
    buyer_id: str,
) -> None:
    """After a committed transaction gave ``units`` back to a live drop's offers in the
    ledger (a cancelled order or pre-order of ``buyer_id``), give them to the live
    engine too, in SKU order, and take them off the buyer's usage in the same step so
    they stop counting against the per-buyer limit. An engine that lost the drop
    rebuilds from the ledger and needs nothing."""
    for sku_id, qty in sorted(units.items()):
        offer = offers.get(sku_id)
        with contextlib.suppress(DropNotLoaded):
            await engine.adjust_offer(
                drop_id,
                sku_id,
                qty,
                offer.per_buyer_limit if offer else None,
                buyer_id=buyer_id,
            )


@dataclass(frozen=True)
class UnitsBack:
    """What a cancellation gave back to its drop: ``units`` per SKU no longer sold (in
    stock and pre-order alike), and whether the live engine must be told after the
    commit (``offer_again``)."""

    drop_id: str
    units: dict[str, int]
    live: bool
    offers: Mapping[str, Offer]
    buyer_id: str

    async def offer_again(self, engine: StockEngine) -> None:
        """After the commit: a live drop's engine gets the units back too, and the
        buyer's usage drops by them (they stop counting against the per-buyer limit)."""
        if self.live and self.units:
            await offer_again(engine, self.drop_id, self.units, self.offers, buyer_id=self.buyer_id)


async def give_back_units(
    uow: UnitOfWork,
    order_id: str,
    drop_id: str,
    preorder_units: Mapping[str, int],
    actor: str,
    buyer_id: str,
) -> UnitsBack:
    """Inside the transaction that cancels an unshipped order, plain or pre-order: the
    one way its units go back.

    The drop row is locked first, so ending the drop at the same moment sees these
    units. What the order holds in ``committed`` (its own movements, bundle components
    and repeated lines already summed per SKU) moves by ``buckets.give_back``: units a
    lot allocated to a pre-order to ``available``; units sold from stock to the drop's
    offer, or on to ``available`` once the drop has ended. The drop's ``sold`` counts
    drop by those stock units plus ``preorder_units`` (the pre-order quantities, which
    count against the cap whether or not a lot has been allocated yet)."""
    drop = await uow.drops.get(drop_id, lock=True)
    if drop is None:
        raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
    committed = await uow.stock.committed_to(order_id)
    moves = give_back(
        committed,
        preorder_units.keys(),
        order_id=order_id,
        drop_id=drop_id,
        drop_ended=drop.status is DropStatus.ENDED,
        actor=actor,
    )
    if moves:
        await uow.stock.apply(moves)
    units = {s: q for s, q in committed.items() if s not in preorder_units and q > 0}
    units |= {s: q for s, q in preorder_units.items() if q > 0}
    if units:
        await uow.drops.unsell(drop_id, units)
    offers = await uow.drops.offers(drop_id)
    live = drop.status in ENGINE_STATES
    return UnitsBack(drop_id, dict(sorted(units.items())), live, offers, buyer_id)


async def ship_order_units(uow: UnitOfWork, order_id: str, actor: str) -> None:
    """Inside the transaction that marks an order shipped: its units leave the building
    (``committed`` → outside, a ``shipment`` movement). What moves is what the order's
    own movements committed, so an order shipped by two paths moves its units once.
    They leave from the bins the pick list sent the picker to (``from_picked_bins``)."""
    moves = shipment(await uow.stock.committed_to(order_id), order_id, actor)
    if not moves:
        return
    order = await uow.orders.get_order(order_id)
    drop_id = order.drop_id if order is not None else ""
    await uow.stock.apply(await from_picked_bins(uow, drop_id, moves))


async def apply_movements(uow: UnitOfWork, movements: list[Movement]) -> StockLevel:
    """Inside a transaction: apply an operator's movements of one SKU, top its safety
    buffer back up, and record ``stock.changed``; returns the SKU's new level."""
    levels = await uow.stock.apply(movements)
    sku_id = movements[0].sku_id
    sku = await uow.catalog.get_sku(sku_id)
    assert sku is not None
    rebalance = safety_rebalance(levels[sku_id], sku.safety_qty, sku.safety_pct)
    if rebalance is not None:
        levels = await uow.stock.apply([rebalance])
    level = levels[sku_id]
    uow.record(
        DomainEvent(
            "stock.changed",
            "sku",
            sku_id,
            0,
            {"reasons": sorted({m.reason.value for m in movements}), **_level_dict(level)},
        )
    )
    return level


@dataclass(frozen=True)
class LedgerCheck:
    sku_id: str
    stored: StockLevel
    from_ledger: StockLevel

    @property
    def consistent(self) -> bool:
        return self.stored == self.from_ledger


def _check_qty(qty: int) -> None:
    if qty < 1 or qty > MAX_QUANTITY:
        raise InvalidInput("quantity must be between 1 and 10,000,000")


class StockService:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    async def _apply(self, uow: UnitOfWork, movements: list[Movement]) -> StockLevel:
        return await apply_movements(uow, movements)

    async def _sku_exists(self, uow: UnitOfWork, sku_id: str) -> None:
        if await uow.catalog.get_sku(sku_id) is None:
            raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)

    async def receive(
        self,
        sku_id: str,
        quantity: int,
        *,
        bucket: Bucket = Bucket.AVAILABLE,
        actor: str = "",
        note: str = "",
        ref: str = "",
        to_bin: str | None = None,
    ) -> StockLevel:
        """Units arriving at the warehouse, into ``to_bin`` (an id or code) or unplaced.
        The safety buffer is topped up first."""
        _check_qty(quantity)
        if bucket not in RECEIVABLE:
            raise InvalidInput(f"cannot receive into {bucket}")
        async with self.uow() as uow:
            await self._sku_exists(uow, sku_id)
            into = (await find_bin(uow, to_bin)).id if to_bin else None
            mv = Movement(
                sku_id, quantity, None, bucket, Reason.RECEIPT, ref, actor, note, to_bin=into
            )
            level = await self._apply(uow, [mv])
            await uow.commit()
        return level

    async def move(
        self,
        sku_id: str,
        quantity: int,
        from_bucket: Bucket | None,
        to_bucket: Bucket | None,
        *,
        actor: str,
        note: str,
    ) -> StockLevel:
        """A manual adjustment (damage found, units written off, ...) with who and why."""
        _check_qty(quantity)
        for b in (from_bucket, to_bucket):
            if b is not None and b not in MANUAL:
                raise InvalidInput(f"{b} is managed by drops and orders, not by hand")
        if not actor.strip() or not note.strip():
            raise InvalidInput("an adjustment needs an actor and a reason")
        reason = Reason.DAMAGE if to_bucket is Bucket.DAMAGED else Reason.ADJUSTMENT
        async with self.uow() as uow:
            await self._sku_exists(uow, sku_id)
            mv = Movement(sku_id, quantity, from_bucket, to_bucket, reason, "", actor, note)
            level = await self._apply(uow, [mv])
            await uow.commit()
        return level

    async def count(
        self, sku_id: str, bucket: Bucket, counted: int, *, actor: str, note: str
    ) -> tuple[StockLevel, Movement | None]:
        """Record a physical count; a difference becomes an adjustment in the ledger."""
        if bucket not in MANUAL:
            raise InvalidInput(f"{bucket} cannot be counted by hand")
        async with self.uow() as uow:
            await self._sku_exists(uow, sku_id)
            level = (await uow.stock.lock([sku_id]))[sku_id]
            mv = count_adjustment(level, bucket, counted, actor=actor, note=note)
            if mv is not None:
                level = await self._apply(uow, [mv])
                await uow.commit()
        return level, mv

    async def set_safety(self, sku_id: str, qty: int, pct: int) -> StockLevel:
        async with self.uow() as uow:
            await self._sku_exists(uow, sku_id)
            await uow.catalog.update_sku_safety(sku_id, qty, pct)
            level = (await uow.stock.lock([sku_id]))[sku_id]
            mv = safety_rebalance(level, qty, pct)
            if mv is not None:
                level = (await uow.stock.apply([mv]))[sku_id]
            uow.audit("sku.safety_set", "sku", sku_id, after={"qty": qty, "pct": pct})
            await uow.commit()
        return level

    async def level(self, sku_id: str) -> StockLevel:
        async with self.uow(readonly=True) as uow:
            levels = await uow.stock.levels([sku_id])
        if sku_id not in levels:
            raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
        return levels[sku_id]

    async def levels(self) -> dict[str, StockLevel]:
        """Every SKU's level, except the dummy SKUs of dress rehearsals."""
        async with self.uow(readonly=True) as uow:
            levels = await uow.stock.levels()
            hidden = await uow.readiness.rehearsal_skus()
        return {s: lv for s, lv in levels.items() if s not in hidden}

    async def verify(self) -> list[LedgerCheck]:
        """Compare every stored level with the totals replayed from the ledger."""
        async with self.uow(readonly=True) as uow:
            stored = await uow.stock.levels()
            ledger = await uow.stock.ledger_levels()
        return [LedgerCheck(s, stored[s], ledger.get(s, StockLevel(s))) for s in sorted(stored)]


def _level_dict(level: StockLevel) -> dict[str, int]:
    return {b.value: level.get(b) for b in Bucket} | {"on_hand": level.on_hand}
