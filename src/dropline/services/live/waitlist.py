"""Waitlists with fair claims: join, see one's place, leave; serve the line.

Joining needs the SKU sold out (``not_sold_out`` otherwise, with the hold to place
instead), or the drop not yet open (the pre-queue). After a buyer joins, the SKU's
waitlist **gate** is armed in the engine: from the moment the SKU is sold out, every unit
that comes back (an expired or released hold, a cancellation, a restock) stays behind
the gate, where only a claim hold can take it, so no fast tapper gets it first.

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

One idea: the line's lifecycle (join, leave, offer, settle), kept in one module so the
order of its compare-and-sets reads in one place; who may join is in
``waitlist_joining.py``, the saved-card charge in ``waitlist_autocharge.py``, how an
entry reads to its buyer in ``waitlist_views.py``.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import (
    ClaimLost,
    ClaimNotYours,
    ClaimUsed,
    Conflict,
    DroplineError,
    DropNotLive,
    InsufficientStock,
    InvalidInput,
    LimitExceeded,
    NotFound,
    SoldOut,
    WindowClosed,
    WindowSoldOut,
)
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.live.drops import EDITABLE_STATES, ENGINE_STATES, Drop, DropStatus
from dropline.domain.live.holds import Hold, HoldItem, HoldRequest, HoldStatus, ItemKind
from dropline.domain.live.waitlist import (
    DEFAULT_CLAIM_WINDOW_S,
    DemandEntry,
    EntryStatus,
    GateMode,
    KeptUnits,
    WaitlistOrder,
    check_claim_window,
    draw_order,
    line_demand,
    needs_draw,
    position,
    serve_from,
    serving,
    settle_waves,
)
from dropline.services.live.drops import DropService
from dropline.services.live.waitlist_joining import join_gate
from dropline.services.live.waitlist_links import ClaimLinks, claim_message
from dropline.services.live.waitlist_views import NO_WINDOW_NOTE, entry_view
from dropline.services.ports import AutoCharger, Clock, DropNotLoaded, StockEngine
from dropline.services.serialize import rfc3339
from dropline.store.live.waitlist_repo import Row, row_tiers, tiers_text, to_entry
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)


class WaitlistService:
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
        self.autocharge: AutoCharger | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ settings

    async def settings(self, drop_id: str) -> dict[str, Any]:
        """The drop's line order (``fifo`` or ``draw``) and claim window in seconds."""
        async with self.uow(readonly=True) as uow:
            await self._drop(uow, drop_id)
            row = await uow.waitlist.settings(drop_id)
        mode, window = (row["mode"], row["claim_window_s"]) if row else ("fifo", None)
        return {
            "drop_id": drop_id,
            "order": mode,
            "claim_window_s": window or DEFAULT_CLAIM_WINDOW_S,
        }

    async def configure(
        self, drop_id: str, order: WaitlistOrder, claim_window_s: int
    ) -> dict[str, Any]:
        """Set the line order and the claim window; the order applies to draws not yet
        made (a drawn pre-queue keeps its draw)."""
        check_claim_window(claim_window_s)
        async with self.uow() as uow:
            await self._drop(uow, drop_id)
            await uow.waitlist.set_settings(drop_id, order.value, claim_window_s)
            uow.audit(
                "waitlist.configured",
                "drop",
                drop_id,
                after={"order": order.value, "claim_window_s": claim_window_s},
            )
            await uow.commit()
        return await self.settings(drop_id)

    async def _drop(self, uow: UnitOfWork, drop_id: str) -> Drop:
        drop = await uow.drops.get(drop_id)
        if drop is None:
            raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
        return drop

    async def _settings(self, uow: UnitOfWork, drop_id: str) -> tuple[WaitlistOrder, int]:
        row = await uow.waitlist.settings(drop_id)
        if row is None:
            return WaitlistOrder.FIFO, DEFAULT_CLAIM_WINDOW_S
        return WaitlistOrder(row["mode"]), int(row["claim_window_s"])

    async def gate(self, drop_id: str, sku_id: str, mode: GateMode) -> tuple[int, str]:
        """Set the SKU's waitlist gate in the engine (rebuilding a lost drop first)."""
        try:
            return await self.engine.set_waitlist_gate(drop_id, sku_id, mode.value)
        except DropNotLoaded:
            await self.drops.rebuild(drop_id)
            return await self.engine.set_waitlist_gate(drop_id, sku_id, mode.value)

    # ------------------------------------------------------------------ buyers

    async def join(
        self,
        drop_id: str,
        sku_id: str,
        buyer_id: str,
        email: str = "",
        tiers: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], bool]:
        """Stand in the SKU's line; (the entry, True if this call added it). Joining
        again while in line returns the same entry. ``NotSoldOut`` (409) while the
        SKU can still be held; before the drop opens anyone may join (the pre-queue).

        With access windows (``tiers`` from the buyer token) the line is for buyers the
        windows admit: ``WindowClosed`` (403) before the buyer's window opens (in the
        pre-queue: when no window admits them). A buyer whose open windows' allocation
        of the SKU is taken (a hold answers ``window_sold_out``) may join: the gate
        latches, so the units that come back, and those a later window releases when
        it opens, go to the line first (``waitlist_joining.join_gate``). The entry
        keeps ``tiers``: it is served once a window admitting them has opened (a
        pre-queue buyer of a later window is passed over until then; a second join
        while waiting replaces them with the newer token's, so a buyer who became a
        member since keeps her place and is served as one)."""
        check_text(email, "email")
        if len(email) > 254:
            raise InvalidInput("email must be at most 254 characters")
        async with self.uow(readonly=True) as uow:
            drop = await self._drop(uow, drop_id)
            offers = await uow.drops.offers(drop_id)
            existing = await uow.waitlist.open_entry(drop_id, sku_id, buyer_id)
            policy = await uow.drop_access.get(drop_id)
        if sku_id not in offers:
            raise NotFound(f"SKU {sku_id} is not offered in this drop", sku_id=sku_id)
        if existing is not None:
            return await self._rejoined(existing, tiers), False
        if drop.status is DropStatus.ENDED:
            raise DropNotLive("the drop has ended", status=drop.status)
        pre_queue = drop.status in EDITABLE_STATES
        counts = None if pre_queue else (await self._counts(drop_id)).get(sku_id)
        mode = join_gate(
            drop_id,
            sku_id,
            policy=policy,
            tiers=tiers,
            now=self.clock.now(),
            pre_queue=pre_queue,
            offered=offers[sku_id].offered,
            counts=counts,
        )
        row = {
            "id": new_id("wle"),
            "drop_id": drop_id,
            "sku_id": sku_id,
            "buyer_id": buyer_id,
            "email": email,
            "status": EntryStatus.WAITING.value,
            "pre_queue": pre_queue,
            "joined_at": self._now(),
            # served once a window admitting these opens (``waitlist.serving``)
            "tiers": tiers_text(tiers),
            "note": "",
            "version": 1,
        }
        async with self.uow() as uow:
            added = await uow.waitlist.add(row)
            saved = await uow.waitlist.open_entry(drop_id, sku_id, buyer_id)
            await uow.commit()
        assert saved is not None
        if added and not pre_queue:
            # From now on what comes back of this SKU waits behind the gate.
            await self.gate(drop_id, sku_id, mode)
        return await self.view(saved), added

    async def _rejoined(self, row: Row, tiers: frozenset[str]) -> dict[str, Any]:
        """The entry of a buyer already in line, with the tiers of her newest token
        while she is still waiting (the creator's site signed them: they are the truth)."""
        if row["status"] == EntryStatus.WAITING.value and row_tiers(row) != tiers:
            async with self.uow() as uow:
                if await uow.waitlist.change(row["id"], row["version"], tiers=tiers_text(tiers)):
                    await uow.commit()
            async with self.uow(readonly=True) as uow:
                row = await uow.waitlist.get(row["id"]) or row
        return await self.view(row)

    async def _counts(self, drop_id: str) -> dict[str, Any]:
        try:
            return dict(await self.engine.counts(drop_id))
        except DropNotLoaded:
            await self.drops.rebuild(drop_id)
            return dict(await self.engine.counts(drop_id))

    async def view(self, row: Row) -> dict[str, Any]:
        """The entry as the API shows it: while waiting, its place in line and, when the
        buyer's access window has not opened yet, when it does (``window_opens_at``)."""
        place = opens_at = None
        if row["status"] == EntryStatus.WAITING.value:
            async with self.uow(readonly=True) as uow:
                order, _ = await self._settings(uow, row["drop_id"])
                line = await uow.waitlist.line(
                    row["drop_id"], row["sku_id"], [EntryStatus.WAITING.value]
                )
                windows = (await uow.drop_access.get(row["drop_id"])).windows
            now = self.clock.now()
            place = position([to_entry(r) for r in line], row["id"], order, windows, now)
            at = serve_from(windows, row_tiers(row))
            opens_at = at if at is not None and at > now else None
        return entry_view(row, place, opens_at)

    async def mine(self, drop_id: str, buyer_id: str) -> list[dict[str, Any]]:
        """The buyer's entries in the drop's lines, with their place while waiting."""
        async with self.uow(readonly=True) as uow:
            await self._drop(uow, drop_id)
            rows = await uow.waitlist.buyer_entries(drop_id, buyer_id)
        return [await self.view(r) for r in rows]

    async def leave(self, drop_id: str, sku_id: str, buyer_id: str) -> dict[str, Any]:
        """Step out of the line (``NotFound`` when not in it). A claim already offered
        is given up too: its hold is released and the unit goes to the next in line."""
        async with self.uow() as uow:
            row = await uow.waitlist.open_entry(drop_id, sku_id, buyer_id)
            if row is None:
                raise NotFound("you are not on this SKU's waitlist", sku_id=sku_id)
            if row.get("charge_status") == "charging":
                raise Conflict("your saved card is being charged for the unit held for you")
            ok = await uow.waitlist.change(
                row["id"], row["version"], status=EntryStatus.LEFT.value, finished_at=self._now()
            )
            if not ok:
                raise NotFound("you are not on this SKU's waitlist", sku_id=sku_id)
            await uow.commit()
        if row["status"] == EntryStatus.OFFERED.value and row["hold_id"]:
            await self._release(row["hold_id"])
        if row.get("payment_token") and self.autocharge is not None:
            await self.autocharge.forget(row["id"])
        left = await self.get(row["id"])
        await self.serve_line(drop_id, sku_id)
        return entry_view(left)

    async def get(self, entry_id: str) -> Row:
        async with self.uow(readonly=True) as uow:
            row = await uow.waitlist.get(entry_id)
        if row is None:
            raise NotFound(f"waitlist entry {entry_id} not found")
        return row

    async def claim(self, token: str, buyer_id: str, drop_id: str | None = None) -> dict[str, Any]:
        """Open a claim link: the hold placed for this buyer, to check out. Refused when
        the link names another buyer's claim (``claim_not_yours``), was opened before
        (``claim_used``) or the claim has lapsed (``claim_lost``)."""
        entry_id, nonce = self.links.verify(token)
        async with self.uow() as uow:
            row = await uow.waitlist.get(entry_id)
            if row is None or row["claim_nonce"] != nonce:
                raise NotFound("this claim does not exist")
            if drop_id is not None and row["drop_id"] != drop_id:
                raise NotFound("this claim is for another drop")
            if row["buyer_id"] != buyer_id:
                raise ClaimNotYours("this claim was offered to another buyer")
            if row["claim_opened_at"] is not None or row["status"] == EntryStatus.CLAIMED:
                raise ClaimUsed("this claim link was already used", entry_id=entry_id)
            if row["status"] != EntryStatus.OFFERED.value:
                raise ClaimLost("this claim has lapsed; the unit went to the next in line")
            if not await uow.waitlist.change(
                row["id"], row["version"], claim_opened_at=self._now()
            ):
                raise ClaimUsed("this claim link was already used", entry_id=entry_id)
            await uow.commit()
        hold = await self.engine.get_hold(row["hold_id"])
        if hold is None or not hold.is_live(self.clock.now()):
            raise ClaimLost("this claim has lapsed; the unit went to the next in line")
        return {
            **entry_view(row),
            "hold_id": hold.id,
            "expires_at": rfc3339(hold.expires_at),
            "checkout_url": "/v1/checkouts",
        }

    # ------------------------------------------------------------------ serving

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
            drop = await self._drop(uow, drop_id)
            order, window = await self._settings(uow, drop_id)
            rows = await uow.waitlist.line(drop_id, sku_id)
        if drop.status not in ENGINE_STATES:
            return 0
        for row in rows:
            if row["status"] == EntryStatus.OFFERED.value:
                await self._settle(row)
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

    async def _settle(self, row: Row) -> None:
        """An offered claim whose hold was paid is ``claimed``; one whose hold expired,
        was released or is gone is ``lost`` (its unit is back behind the gate)."""
        hold = await self.engine.get_hold(row["hold_id"]) if row["hold_id"] else None
        now = self.clock.now()
        if hold is not None and hold.status is HoldStatus.CONVERTED:
            status = EntryStatus.CLAIMED
        elif hold is None or hold.status in (HoldStatus.EXPIRED, HoldStatus.RELEASED):
            status = EntryStatus.LOST
        elif not hold.is_live(now):
            status = EntryStatus.LOST
            await self._expire(hold)
        else:
            return
        async with self.uow() as uow:
            await uow.waitlist.change(
                row["id"], row["version"], status=status.value, finished_at=self._now()
            )
            await uow.commit()

    async def _expire(self, hold: Hold) -> None:
        # The sweeper expires it too; releasing now hands the unit on without waiting.
        try:
            await self.engine.release(hold.id, self.clock.now())
        except Exception as exc:  # already finished by the sweeper or a checkout
            log.debug("claim hold %s not released: %s", hold.id, exc)

    async def _release(self, hold_id: str) -> None:
        try:
            await self.engine.release(hold_id, self.clock.now())
        except Exception as exc:  # already finished (paid, expired, lost)
            log.debug("claim hold %s not released: %s", hold_id, exc)

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
            fresh = await self.get(row["id"])
            if fresh["hold_id"] != hold.id:
                await self._release(hold.id)  # this pass's hold lost the race: hand it back
            return False
        if charge and self.autocharge is not None:
            return await self.autocharge.charge(row["id"])
        return True

    async def _message(self, uow: UnitOfWork, row: Row, hold: Hold, link: str) -> None:
        await uow.messages.add(
            claim_message(row, hold.expires_at, link, self.shop_name, self._now())
        )

    # ------------------------------------------------------------------ demand

    async def buyers(self, drop_id: str) -> list[tuple[str, str, int]]:
        """Every buyer who joined a SKU's line of the drop, once per SKU however often
        they joined: (SKU, buyer, claims paid); ``NotFound`` for an unknown drop."""
        async with self.uow(readonly=True) as uow:
            await self._drop(uow, drop_id)
            return await uow.waitlist.buyers(drop_id)

    async def demand(self, drop_id: str) -> list[dict[str, Any]]:
        """Waitlist demand per SKU of the drop (``domain.live.waitlist.Demand``):
        buyers who joined, each once however often they joined, and ``unserved``,
        those who got no unit through the line (what the next run could have sold
        after the sell-out); entries (joins); claims offered, made and lost."""
        async with self.uow(readonly=True) as uow:
            await self._drop(uow, drop_id)
            rows = await uow.waitlist.demand(drop_id)
        lines: dict[str, list[DemandEntry]] = defaultdict(list)
        for sku_id, entry in rows:
            lines[sku_id].append(entry)
        return [
            {"drop_id": drop_id, **line_demand(sku_id, entries).__dict__}
            for sku_id, entries in sorted(lines.items())
        ]
