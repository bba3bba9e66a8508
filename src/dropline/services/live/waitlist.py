"""Waitlists with fair claims: join, see one's place, leave; open a claim.

Joining needs the SKU sold out (``not_sold_out`` otherwise, with the hold to place
instead), or the drop not yet open (the pre-queue). After a buyer joins, the SKU's
waitlist **gate** is armed in the engine: from the moment the SKU is sold out, every unit
that comes back (an expired or released hold, a cancellation, a restock) stays behind
the gate, where only a claim hold can take it, so no fast tapper gets it first.

One idea: the buyer's side of the line (join, see one's place, leave, open a claim) and
its settings. Who may join is in ``waitlist_joining.py``; serving the line (offering
what is behind the gate) in ``waitlist_serving.py``, settling a claim in
``waitlist_settlement.py``; the saved-card charge in ``waitlist_autocharge.py``; how an
entry reads to its buyer in ``waitlist_views.py``; the demand figures in
``waitlist_demand.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import (
    ClaimLost,
    ClaimNotYours,
    ClaimUsed,
    Conflict,
    DropNotLive,
    InvalidInput,
    NotFound,
)
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.live.drops import EDITABLE_STATES, DropStatus
from dropline.domain.live.waitlist import (
    EntryStatus,
    WaitlistOrder,
    check_claim_window,
    position,
    serve_from,
)
from dropline.services.live.drops import DropService
from dropline.services.live.waitlist_joining import join_gate
from dropline.services.live.waitlist_links import ClaimLinks
from dropline.services.live.waitlist_serving import WaitlistServing, line_settings, the_drop
from dropline.services.live.waitlist_settlement import release_claim
from dropline.services.live.waitlist_views import entry_view
from dropline.services.ports import Clock, DropNotLoaded, StockEngine
from dropline.services.serialize import rfc3339
from dropline.store.live.waitlist_repo import Row, row_tiers, tiers_text, to_entry
from dropline.store.uow import UowFactory


class WaitlistService:
    def __init__(
        self,
        uow: UowFactory,
        engine: StockEngine,
        drops: DropService,
        clock: Clock,
        links: ClaimLinks,
        serving: WaitlistServing,
    ) -> None:
        self.uow = uow
        self.engine = engine
        self.drops = drops
        self.clock = clock
        self.links = links
        self.serving = serving

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ settings

    async def settings(self, drop_id: str) -> dict[str, Any]:
        """The drop's line order (``fifo`` or ``draw``) and claim window in seconds."""
        async with self.uow(readonly=True) as uow:
            await the_drop(uow, drop_id)
            order, window = await line_settings(uow, drop_id)
        return {"drop_id": drop_id, "order": order.value, "claim_window_s": window}

    async def configure(
        self, drop_id: str, order: WaitlistOrder, claim_window_s: int
    ) -> dict[str, Any]:
        """Set the line order and the claim window; the order applies to draws not yet
        made (a drawn pre-queue keeps its draw)."""
        check_claim_window(claim_window_s)
        async with self.uow() as uow:
            await the_drop(uow, drop_id)
            await uow.waitlist.set_settings(drop_id, order.value, claim_window_s)
            uow.audit(
                "waitlist.configured",
                "drop",
                drop_id,
                after={"order": order.value, "claim_window_s": claim_window_s},
            )
            await uow.commit()
        return await self.settings(drop_id)

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
            drop = await the_drop(uow, drop_id)
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
            await self.serving.gate(drop_id, sku_id, mode)
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
                order, _ = await line_settings(uow, row["drop_id"])
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
            await the_drop(uow, drop_id)
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
            await release_claim(self.engine, self.clock, row["hold_id"])
        if row.get("payment_token") and self.serving.autocharge is not None:
            await self.serving.autocharge.forget(row["id"])
        left = await self.get(row["id"])
        await self.serving.serve_line(drop_id, sku_id)
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
