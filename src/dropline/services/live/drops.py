"""Drop use cases: build the offer, move through the lifecycle, keep the engine in step.

The database is changed first and the engine second; if the second step fails the
start-up sync (``sync_engine``) repairs it, because the engine is always rebuilt from
the ledger, never the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace

from dropline.domain.catalog.items import ensure_active
from dropline.domain.errors import Conflict, DropNotLive, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.live.drops import (
    EDITABLE_STATES,
    ENGINE_STATES,
    Drop,
    DropStatus,
    Offer,
    Reopening,
    check_schedule,
    check_start_ahead,
    check_transition,
    check_ttl,
    engine_update,
)
from dropline.domain.live.holds import DEFAULT_HOLD_TTL_S
from dropline.domain.live.waitlist import restored_gate
from dropline.domain.money import check_currency
from dropline.domain.stock.buckets import MAX_QUANTITY, Bucket, Movement, Reason
from dropline.services.live.drop_catalog import DropCatalogCache
from dropline.services.live.drop_reopen import write_reopening
from dropline.services.ports import DropNotLoaded, DropSnapshot, EngineOffer, StockEngine
from dropline.services.serialize import drop_event_payload
from dropline.store.uow import UnitOfWork, UowFactory

MAX_LIMIT = 1000
# The readiness gate (services/readiness/gate.py), asked just before a drop goes from
# scheduled to live: (drop, actor, override reason) -> what the transaction must keep.
Keep = Callable[[UnitOfWork], Awaitable[None]]
Gate = Callable[[Drop, str, str], Awaitable[Keep | None]]


class DropService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        cache: DropCatalogCache,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.cache = cache
        self._on_change = on_change
        self._rebuild_locks: dict[str, asyncio.Lock] = {}
        self.gate: Gate | None = None  # set by bootstrap when the gate is enforced

    def _changed(self, drop_id: str) -> None:
        self.cache.invalidate(drop_id)
        if self._on_change:
            self._on_change(drop_id)

    async def create(
        self,
        name: str,
        currency: str,
        hold_ttl_s: int = DEFAULT_HOLD_TTL_S,
        starts_at: float | None = None,
        *,
        rehearsal_of: str | None = None,
        ends_at: float | None = None,
    ) -> Drop:
        """A draft drop. ``starts_at``/``ends_at`` (epoch seconds, UTC) are its schedule:
        once scheduled it goes live at the start and ends at the end (the schedule job);
        an end at or before the start is refused. ``rehearsal_of`` makes it a dress
        rehearsal's copy of that drop (kept out of real lists, never gated)."""
        if not name.strip():
            raise InvalidInput("a drop needs a name")
        check_schedule(starts_at, ends_at)
        drop = Drop(
            new_id("drp"),
            name.strip(),
            check_currency(currency),
            DropStatus.DRAFT,
            check_ttl(hold_ttl_s),
            starts_at,
            rehearsal_of=rehearsal_of,
            ends_at=ends_at,
        )
        async with self.uow() as uow:
            await uow.drops.add(drop)
            uow.record(DomainEvent("drop.created", "drop", drop.id, 1, drop_event_payload(drop)))
            await uow.commit()
        return drop

    async def edit(
        self,
        drop_id: str,
        *,
        name: str | None = None,
        starts_at: float | None = None,
        clear_start: bool = False,
        hold_ttl_s: int | None = None,
    ) -> Drop:
        """Rename a drop (any time), or set when it starts and how long its holds last
        (before it goes live: a live drop's holds were placed with the old TTL)."""
        values: dict[str, object] = {}
        if name is not None:
            if not name.strip() or len(name.strip()) > 200:
                raise InvalidInput("a drop name is 1 to 200 characters")
            values["name"] = name.strip()
        if starts_at is not None or clear_start:
            values["starts_at"] = None if clear_start else starts_at
        if hold_ttl_s is not None:
            values["hold_ttl_s"] = check_ttl(hold_ttl_s)
        async with self.uow() as uow:
            drop = await self._load(uow, drop_id, lock=True)
            timing = {"starts_at", "hold_ttl_s"} & set(values)
            if timing and drop.status not in EDITABLE_STATES:
                raise Conflict(
                    f"a {drop.status} drop's start and hold time can no longer change",
                    drop_status=drop.status.value,
                )
            if values:
                await uow.drops.update_details(drop, **values)
                uow.record(
                    DomainEvent(
                        "drop.updated",
                        "drop",
                        drop_id,
                        drop.version + 1,
                        {k: v for k, v in values.items() if k != "starts_at"},
                    )
                )
            await uow.commit()
        self._changed(drop_id)
        return (await self.get(drop_id))[0]

    async def summaries(self) -> dict[str, tuple[int, int, int]]:
        """Per drop id: (units offered, units sold, revenue kept in minor units)."""
        async with self.uow(readonly=True) as uow:
            return await uow.drops.summaries()

    async def get(self, drop_id: str) -> tuple[Drop, dict[str, Offer], list[str]]:
        async with self.uow(readonly=True) as uow:
            drop = await uow.drops.get(drop_id)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            return drop, await uow.drops.offers(drop_id), await uow.drops.bundle_ids(drop_id)

    async def list_drops(self, status: DropStatus | None = None) -> list[Drop]:
        async with self.uow(readonly=True) as uow:
            return await uow.drops.list_drops(status)

    async def _load(self, uow: UnitOfWork, drop_id: str, *, lock: bool = False) -> Drop:
        drop = await uow.drops.get(drop_id, lock=lock)
        if drop is None:
            raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
        return drop

    async def set_offer(
        self,
        drop_id: str,
        sku_id: str,
        quantity: int,
        per_buyer_limit: int | None = None,
        *,
        add: bool = False,
    ) -> Offer:
        """Offer ``quantity`` units of a SKU. Units move from ``available`` to
        ``reserved``, so they can never be offered twice. Before going live the offer
        may be changed freely; once live it may only grow. ``per_buyer_limit`` replaces
        the offer's limit (None: no limit); on a live drop a new limit holds for the
        next hold at once, even when the quantity is unchanged. ``add``: ``quantity``
        is added to the current offer under the drop's row lock (a restock wave), so two
        waves of one SKU never overwrite each other."""
        if quantity < 0 or quantity > MAX_QUANTITY:
            raise InvalidInput("quantity must be between 0 and 10,000,000")
        if per_buyer_limit is not None and not 1 <= per_buyer_limit <= MAX_LIMIT:
            raise InvalidInput(f"per_buyer_limit must be between 1 and {MAX_LIMIT}")
        async with self.uow() as uow:
            drop = await self._load(uow, drop_id, lock=True)
            sku = await uow.catalog.get_sku(sku_id)
            if sku is None:
                raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
            if quantity > 0:
                ensure_active(sku)
            if sku.price.currency != drop.currency:
                raise InvalidInput(
                    f"SKU is priced in {sku.price.currency}, the drop sells in {drop.currency}",
                    sku_id=sku_id,
                )
            if any(p.sku_id == sku_id for p in await uow.production.preorder_offers(drop_id)):
                raise Conflict(
                    "this SKU is offered as a pre-order; change it through the pre-order offer",
                    sku_id=sku_id,
                )
            current = (await uow.drops.offers(drop_id)).get(sku_id)
            had = current.offered if current else 0
            if add:
                quantity = had + quantity
                if quantity > MAX_QUANTITY:
                    raise InvalidInput("quantity must be between 0 and 10,000,000")
            delta = quantity - had
            live = drop.status in ENGINE_STATES
            if drop.status is DropStatus.ENDED:
                raise Conflict("the drop has ended")
            if live and delta < 0:
                raise Conflict("a live drop's offer can only grow", offered=had)
            if current and quantity < current.sold:
                raise Conflict("cannot offer fewer units than were sold", sold=current.sold)
            if delta > 0:
                await uow.stock.apply(
                    [
                        Movement(
                            sku_id, delta, Bucket.AVAILABLE, Bucket.RESERVED, Reason.OFFER, drop_id
                        )
                    ]
                )
            elif delta < 0:
                await uow.stock.apply(
                    [
                        Movement(
                            sku_id,
                            -delta,
                            Bucket.RESERVED,
                            Bucket.AVAILABLE,
                            Reason.UNOFFER,
                            drop_id,
                        )
                    ]
                )
            offer = Offer(
                sku_id,
                quantity,
                current.sold if current else 0,
                per_buyer_limit,
                current.paused if current else False,
            )
            if quantity == 0 and drop.status in EDITABLE_STATES:
                await uow.drops.delete_offer(drop_id, sku_id)
            else:
                await uow.drops.upsert_offer(drop_id, offer)
            uow.record(
                DomainEvent(
                    "drop.offer_changed",
                    "drop",
                    drop_id,
                    drop.version,
                    {"sku_id": sku_id, "offered": quantity, "delta": delta},
                )
            )
            await uow.commit()
        update = engine_update(current, offer)
        if live and update is not None:
            # An engine that lost the drop reads units and limit from the ledger anew.
            with contextlib.suppress(DropNotLoaded):
                await self.engine.adjust_offer(drop_id, sku_id, update, per_buyer_limit)
        self._changed(drop_id)
        return offer

    async def add_bundle(self, drop_id: str, bundle_id: str) -> None:
        """Sell a bundle in the drop; each of its components must be offered already."""
        async with self.uow() as uow:
            drop = await self._load(uow, drop_id, lock=True)
            if drop.status is DropStatus.ENDED:
                raise Conflict("the drop has ended")
            bundle = (await uow.catalog.get_bundles([bundle_id])).get(bundle_id)
            if bundle is None:
                raise NotFound(f"bundle {bundle_id} not found", bundle_id=bundle_id)
            ensure_active(bundle)
            if bundle.price.currency != drop.currency:
                raise InvalidInput("the bundle's currency differs from the drop's")
            offers = await uow.drops.offers(drop_id)
            missing = [c.sku_id for c in bundle.components if c.sku_id not in offers]
            if missing:
                raise InvalidInput(
                    "offer every component SKU in the drop before the bundle", sku_id=missing[0]
                )
            await uow.drops.add_bundle(drop_id, bundle_id)
            uow.audit("drop.bundle_added", "drop", drop_id, after={"bundle_id": bundle_id})
            await uow.commit()
        self._changed(drop_id)

    async def transition(
        self,
        drop_id: str,
        target: DropStatus,
        actor: str = "",
        override_reason: str = "",
        *,
        version: int | None = None,
    ) -> Drop:
        """Move the drop through its lifecycle and tell the engine.

        Going live from ``scheduled`` first passes the readiness gate when it is
        enforced (``NotReady`` on a block, unless ``override_reason`` says why; a
        dress rehearsal's copy is not gated). Going live loads the engine from the
        ledger; pausing closes it to new holds
        (existing holds can still be paid); ending releases the drop's open holds (a
        ``hold.released`` event each; a payment still in flight is then refused and
        voided, as when its hold expires), forgets the drop in the engine and returns
        every unsold offered unit to ``available`` (a restock wave's units still kept
        for the waitlist's line among them: its ``back_in_stock``). Scheduling a drop
        whose ``starts_at`` has passed is refused (``InvalidInput``). ``version``: move the
        drop only if it is still that version (``Conflict`` otherwise), for a caller
        that decided on an older read, as the schedule job does."""
        keep = None
        if target is DropStatus.LIVE and self.gate is not None:
            seen = (await self.get(drop_id))[0]
            if seen.status is DropStatus.SCHEDULED and seen.rehearsal_of is None:
                keep = await self.gate(seen, actor, override_reason)
        async with self.uow() as uow:
            drop = await self._load(uow, drop_id, lock=True)
            if version is not None and drop.version != version:
                raise Conflict("the drop changed since it was read", version=drop.version)
            check_transition(drop.status, target)
            if target is DropStatus.SCHEDULED:
                check_start_ahead(drop, self.uow.now().timestamp())
            offers = await uow.drops.offers(drop_id)
            if target is DropStatus.LIVE and not offers:
                raise Conflict("offer at least one SKU before going live")
            if keep is not None and drop.status is DropStatus.SCHEDULED:
                await keep(uow)
            if target is DropStatus.ENDED:
                # Pre-order offers took no stock, so they have none to give back.
                preorder_skus = {p.sku_id for p in await uow.production.preorder_offers(drop_id)}
                returns = [
                    Movement(
                        o.sku_id,
                        o.unsold,
                        Bucket.RESERVED,
                        Bucket.AVAILABLE,
                        Reason.UNOFFER,
                        drop_id,
                        actor,
                        "drop ended",
                    )
                    for o in offers.values()
                    if o.unsold > 0 and o.sku_id not in preorder_skus
                ]
                await uow.stock.apply(returns)
                # units restock waves still kept for the line went back with the rest
                await uow.waitlist.end_waves(drop_id)
            updated = await uow.drops.save_status(drop, target)
            uow.record(
                DomainEvent(
                    f"drop.{target.value}",
                    "drop",
                    drop_id,
                    updated.version,
                    drop_event_payload(updated) | {"actor": actor},
                )
            )
            await uow.commit()
        if target is DropStatus.LIVE and drop.status is not DropStatus.PAUSED:
            await self.engine.reset_drop(await self.snapshot(drop_id))
        elif target in (DropStatus.LIVE, DropStatus.PAUSED):
            await self.rebuild(drop_id)
            await self.engine.set_accepting(drop_id, target is DropStatus.LIVE)
        elif target is DropStatus.ENDED:
            # open holds end with their events, so every hold's history is complete
            await self.engine.end_drop(drop_id, self.uow.now().timestamp())
        self._changed(drop_id)
        return updated

    async def reopen(self, drop_id: str, wave: Reopening) -> Drop:
        """Reopen an ended drop for a restock wave planned on it: the one way from
        ``ended`` back to ``live``, made once (the wave's claim sees to that). What it
        writes is ``drop_reopen.write_reopening``'s, in one transaction under the drop's
        row lock, so anything refused leaves the drop ended. Then the engine is loaded
        from the ledger as going live does, with the wave's SKU latched when anyone is
        in its line, so the line is served before the units go on sale."""
        async with self.uow() as uow:
            drop = await self._load(uow, drop_id, lock=True)
            updated = await write_reopening(uow, drop, wave, self.uow.now().timestamp())
            await uow.commit()
        snapshot = await self.snapshot(drop_id)
        if snapshot.waitlist.get(wave.sku_id):
            snapshot = replace(snapshot, waitlist={**snapshot.waitlist, wave.sku_id: "latched"})
        await self.engine.reset_drop(snapshot)
        self._changed(drop_id)
        return updated

    async def pause_sku(self, drop_id: str, sku_id: str, paused: bool) -> None:
        """Pause or resume one SKU of a drop that has not ended (409 once it has: an
        ended drop sells nothing, so there is nothing to pause)."""
        async with self.uow() as uow:
            drop = await self._load(uow, drop_id)
            if drop.status is DropStatus.ENDED:
                raise Conflict(
                    "the drop has ended; its SKUs cannot be paused or resumed", drop_id=drop_id
                )
            if sku_id not in await uow.drops.offers(drop_id):
                raise NotFound(f"SKU {sku_id} is not offered in this drop", sku_id=sku_id)
            await uow.drops.set_paused(drop_id, sku_id, paused)
            uow.record(
                DomainEvent(
                    "drop.sku_paused" if paused else "drop.sku_resumed",
                    "drop",
                    drop_id,
                    drop.version,
                    {"sku_id": sku_id},
                )
            )
            await uow.commit()
        if drop.status in ENGINE_STATES:
            await self.rebuild(drop_id)
            await self.engine.set_sku_paused(drop_id, sku_id, paused)
        self._changed(drop_id)

    async def snapshot(self, drop_id: str) -> DropSnapshot:
        """The engine's state for the drop derived from the ledger alone:
        remaining = offered − sold, and what each buyer already bought."""
        return (await self._snapshot(drop_id))[1]

    async def _snapshot(self, drop_id: str) -> tuple[Drop, DropSnapshot]:
        async with self.uow(readonly=True) as uow:
            drop = await self._load(uow, drop_id)
            offers = await uow.drops.offers(drop_id)
            taken = await uow.drops.buyer_taken(drop_id)
            for buyer, per_sku in (await uow.production.buyer_preordered(drop_id)).items():
                taken.setdefault(buyer, {}).update(per_sku)
            access = await uow.drop_access.get(drop_id)
            lines = await uow.waitlist.gate_counts(drop_id)
        gates = {s: restored_gate(*lines[s], offers[s].unsold) for s in lines if s in offers}
        return drop, DropSnapshot(
            drop_id,
            drop.status is DropStatus.LIVE,
            {s: EngineOffer(s, o.unsold, o.per_buyer_limit, o.paused) for s, o in offers.items()},
            taken,
            access=access,
            sold={s: o.sold for s, o in offers.items() if o.sold > 0},
            waitlist={s: g for s, g in gates.items() if g},
        )

    async def rebuild(self, drop_id: str) -> bool:
        """Load the drop into the engine from the ledger if the engine lost it.

        One rebuild per drop at a time in this process; the engine's ``ensure_drop``
        makes concurrent rebuilds from other processes harmless."""
        lock = self._rebuild_locks.setdefault(drop_id, asyncio.Lock())
        async with lock:
            drop, snapshot = await self._snapshot(drop_id)
            if drop.status not in ENGINE_STATES:
                raise DropNotLive(f"the drop is {drop.status}", status=drop.status)
            return await self.engine.ensure_drop(snapshot)

    async def sync_engine(self) -> list[str]:
        """At start-up: make sure every live or paused drop is in the engine."""
        async with self.uow(readonly=True) as uow:
            drops = await uow.drops.list_in(ENGINE_STATES)
        loaded = []
        for d in drops:
            if await self.rebuild(d.id):
                loaded.append(d.id)
            await self.engine.set_accepting(d.id, d.status is DropStatus.LIVE)
        return loaded
