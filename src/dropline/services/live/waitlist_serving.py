"""Serving the waitlist's lines: settle the claims, draw the pre-queue, offer the units
behind each SKU's gate to the next in line.

``serve_once`` (a background job, safe on many workers) walks every line with someone
in it: settles outstanding claims (a paid hold is ``claimed``; an expired, released or
lost one is ``lost`` and its unit is back behind the gate), draws the pre-queue once
when the drop serves by draw, and offers each unit behind the gate to the next buyer in
line whose access window has opened (``waitlist.serving``: one whose window opens later
is passed over and keeps its place): a claim hold placed for them with their tiers
(engine idempotency key ``waitlist:<entry>``, so two workers offering the same entry
place one hold), the entry moved to ``offered`` by a compare-and-set, and a message
with the signed claim link queued in the same transaction. When nobody is left waiting
the gate is opened and units go on sale. Each pass also records on the SKU's restock
waves what became of the units they keep behind the gate (taken by its claims, or on
sale as it opens the gate), so a wave never counts units on sale that are not.

One idea: the serving pass, kept in one module so the order of its compare-and-sets
reads in one place; how a claim is settled is in ``waitlist_settlement.py``, joining
and leaving the line in ``waitlist.py``.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import (
    DroplineError,
    DropNotLive,
    InsufficientStock,
    LimitExceeded,
    NotFound,
    SoldOut,
    WindowClosed,
    WindowSoldOut,
)
from dropline.domain.live.drops import ENGINE_STATES, Drop
from dropline.domain.live.holds import Hold, HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.domain.live.waitlist import (
    DEFAULT_CLAIM_WINDOW_S,
    EntryStatus,
    GateMode,
    KeptUnits,
    WaitlistOrder,
    draw_order,
    needs_draw,
    serving,
    settle_waves,
)
from dropline.services.live.drops import DropService
from dropline.services.live.waitlist_links import ClaimLinks, claim_message
from dropline.services.live.waitlist_settlement import release_claim, settle_claim
from dropline.services.live.waitlist_views import NO_WINDOW_NOTE
from dropline.services.ports import AutoCharger, Clock, DropNotLoaded, StockEngine
from dropline.store.live.waitlist_repo import Row, row_tiers, to_entry
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)


async def the_drop(uow: UnitOfWork, drop_id: str) -> Drop:
    """The drop, or ``NotFound``."""
    drop = await uow.drops.get(drop_id)
    if drop is None:
        raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
    return drop


async def line_settings(uow: UnitOfWork, drop_id: str) -> tuple[WaitlistOrder, int]:
    """The drop's line order and claim window in seconds (the defaults when not set)."""
    row = await uow.waitlist.settings(drop_id)
    if row is None:
        return WaitlistOrder.FIFO, DEFAULT_CLAIM_WINDOW_S
    return WaitlistOrder(row["mode"]), int(row["claim_window_s"])


class WaitlistServing:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        drops: DropService,
        clock: Clock,
        links: ClaimLinks,
        shop_name: str = "dropline",
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.drops = drops
        self.clock = clock
        self.links = links
        self.shop_name = shop_name
        # Set by bootstrap: charges a saved card instead of sending the claim link.
        self.autocharge: AutoCharger | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def gate(self, drop_id: str, sku_id: str, mode: GateMode) -> tuple[int, str]:
        """Set the SKU's waitlist gate in the engine (rebuilding a lost drop first)."""
        try:
            return await self.engine.set_waitlist_gate(drop_id, sku_id, mode.value)
        except DropNotLoaded:
            await self.drops.rebuild(drop_id)
            return await self.engine.set_waitlist_gate(drop_id, sku_id, mode.value)

    async def serve_once(self) -> int:
        """One pass over every line with someone in it; returns the claims offered."""
        async with self.uow(readonly=True) as uow:
            lines = await uow.waitlist.open_lines()
        offered = 0
        for drop_id, sku_id in lines:
            try:
                offered += await self.serve_line(drop_id, sku_id)
            except (DropNotLive, NotFound) as exc:
                log.debug("waitlist of %s/%s not served: %s", drop_id, sku_id, exc)
            except DroplineError as exc:  # one line's trouble never stops the others
                log.warning("waitlist of %s/%s not served: %s", drop_id, sku_id, exc)
        return offered

    async def serve_line(self, drop_id: str, sku_id: str) -> int:
        """Settle the line's claims, then offer every unit behind its gate in line order
        to the entries whose access window has opened (``waitlist.serving``). One whose
        window opens later is passed over and stays waiting in its place (the gate stays
        latched for it: a pass after its window opens serves it, the next unit it is
        first for); one no window admits any more is skipped with a note."""
        async with self.uow(readonly=True) as uow:
            drop = await the_drop(uow, drop_id)
            order, window = await line_settings(uow, drop_id)
            rows = await uow.waitlist.line(drop_id, sku_id)
        if drop.status not in ENGINE_STATES:
            return 0
        for row in rows:
            if row["status"] == EntryStatus.OFFERED.value:
                await settle_claim(self.uow, self.engine, self.clock, row)
        async with self.uow(readonly=True) as uow:
            rows = await uow.waitlist.line(drop_id, sku_id)
            windows = (await uow.drop_access.get(drop_id)).windows
        entries = [to_entry(r) for r in rows]
        if needs_draw(entries, order):
            async with self.uow() as uow:
                await self._draw(uow, drop_id, sku_id, entries)
                await uow.commit()
                rows = await uow.waitlist.line(drop_id, sku_id)
            entries = [to_entry(r) for r in rows]
        by_id = {r["id"]: r for r in rows}
        turn = serving(entries, order, windows, self.clock.now())
        for entry in turn.shut:
            await self._skip(by_id[entry.id], NO_WINDOW_NOTE)
        if not turn.ready and not turn.later:
            await self.gate(drop_id, sku_id, GateMode.OFF)
            await self._settle_waves(drop_id, sku_id, 0, gate_open=True)
            return 0
        remaining, state = await self.gate(drop_id, sku_id, GateMode.ARM)
        offered = 0
        for entry in turn.ready:
            if state != "latched" or remaining <= 0:
                break
            result = await self._offer(by_id[entry.id], window)
            if result is None:
                break  # nothing left to take (or the drop paused): the next pass goes on
            if result:
                offered += 1
                remaining -= 1
        async with self.uow(readonly=True) as uow:
            still = await uow.waitlist.line(drop_id, sku_id, [EntryStatus.WAITING.value])
        if not still:
            # everyone in line has a claim: what is left (and what comes back) is on sale
            await self.gate(drop_id, sku_id, GateMode.OFF)
        await self._settle_waves(drop_id, sku_id, offered, gate_open=not still)
        return offered

    async def _settle_waves(self, drop_id: str, sku_id: str, claims: int, gate_open: bool) -> None:
        """Record on the SKU's restock waves what this pass did with the units they keep
        behind the gate (``waitlist.settle_waves``): the ``claims`` it offered took them,
        or they went on sale as the gate opened. Each wave moves by compare-and-set, so
        passes of several workers each count their own claims once."""
        if claims <= 0 and not gate_open:
            return
        for _ in range(5):  # another pass moved a wave first: read it again
            async with self.uow(readonly=True) as uow:
                rows = await uow.waitlist.kept_waves(drop_id, sku_id)
            if not rows:
                return
            kept = [KeptUnits(r["id"], int(r["for_waitlist"])) for r in rows]
            moves = settle_waves(kept, claims, gate_open)
            versions = {r["id"]: r["version"] for r in rows}
            async with self.uow() as uow:
                for wave_id, (took, sale) in moves.items():
                    if not await uow.waitlist.settle_wave(wave_id, versions[wave_id], took, sale):
                        break
                else:
                    await uow.commit()
                    return

    async def _draw(self, uow: UnitOfWork, drop_id: str, sku_id: str, entries: list[Any]) -> None:
        pre = [e.id for e in entries if e.pre_queue and e.status is EntryStatus.WAITING]
        seed = secrets.token_hex(16)
        ids = draw_order(pre, seed)
        if await uow.waitlist.record_draw(drop_id, sku_id, seed, ids):
            await uow.waitlist.set_ranks({entry_id: i for i, entry_id in enumerate(ids)})

    async def _skip(self, row: Row, note: str) -> None:
        async with self.uow() as uow:
            await uow.waitlist.change(
                row["id"],
                row["version"],
                status=EntryStatus.SKIPPED.value,
                finished_at=self._now(),
                note=note[:500],
            )
            await uow.commit()

    async def _offer(self, row: Row, window: int) -> bool | None:
        """Place the claim hold for one waiting entry and record the offer. True when
        offered, False when the entry was skipped (the buyer's limit is reached),
        another worker offered it or the engine holds its window closed (the windows
        changed since this pass read them), None when no unit could be taken."""
        request = HoldRequest(
            drop_id=row["drop_id"],
            buyer_id=row["buyer_id"],
            items=(HoldItem(ItemKind.SKU, row["sku_id"], 1),),
            units={row["sku_id"]: 1},
            ttl_s=window,
            idempotency_key=f"waitlist:{row['id']}",
            fingerprint=f"waitlist:{row['id']}",
            attribution={"channel": "live"},
            tiers=row_tiers(row),  # the engine holds the claim to the buyer's window
            claim=True,
        )
        try:
            try:
                hold = await self.engine.place_hold(request, self.clock.now())
            except DropNotLoaded:
                await self.drops.rebuild(row["drop_id"])
                hold = await self.engine.place_hold(request, self.clock.now())
        except LimitExceeded as exc:
            await self._skip(row, exc.detail)
            return False
        except WindowClosed:
            return False  # passed over: the next pass reads the windows as they are now
        except (SoldOut, InsufficientStock, DropNotLive, WindowSoldOut):
            # nothing to take now (a window's allocation is taken: the next window's
            # units are the line's when it opens)
            return None
        if hold.status not in (HoldStatus.ACTIVE, HoldStatus.PAYING):
            return False  # an earlier offer's hold, already settled by another pass
        nonce = secrets.token_urlsafe(12)
        token = self.links.token(row["id"], nonce, hold.expires_at)
        async with self.uow() as uow:
            ok = await uow.waitlist.change(
                row["id"],
                row["version"],
                status=EntryStatus.OFFERED.value,
                hold_id=hold.id,
                offered_at=self._now(),
                claim_expires_at=datetime.fromtimestamp(hold.expires_at, UTC),
                claim_nonce=nonce,
            )
            charge = bool(row.get("payment_token")) and self.autocharge is not None
            if ok:
                if not charge:  # a saved card is charged instead: that sends its own word
                    await self._message(uow, row, hold, self.links.link(row["drop_id"], token))
                await uow.commit()
        if not ok:
            async with self.uow(readonly=True) as uow:
                fresh = await uow.waitlist.get(row["id"])
            if fresh is None:
                raise NotFound(f"waitlist entry {row['id']} not found")
            if fresh["hold_id"] != hold.id:
                # this pass's hold lost the race: hand it back
                await release_claim(self.engine, self.clock, hold.id)
            return False
        if charge and self.autocharge is not None:
            return await self.autocharge.charge(row["id"])
        return True

    async def _message(self, uow: UnitOfWork, row: Row, hold: Hold, link: str) -> None:
        await uow.messages.add(
            claim_message(row, hold.expires_at, link, self.shop_name, self._now())
        )
