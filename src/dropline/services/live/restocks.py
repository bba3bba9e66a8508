"""Restock waves: more units of a SKU for a live or ended drop, at a set time, waitlist first.

A wave names a drop, a SKU, a quantity, a time (``at``, now when left out) and where the
units come from (a received lot or a production run, checked to exist and, for a lot,
to be of that SKU). At its time ``run_once`` (a background job, safe on many workers)
applies it exactly once: the wave is claimed with a compare-and-set of its version from
``scheduled`` to ``applying`` (on PostgreSQL under its row lock, as the drop schedule
does), so of two workers that both saw it due one applies it and the other skips it.

Applying: when buyers wait for the SKU its waitlist gate is latched first, then the
units are added to the offer (from ``available`` to ``reserved`` in the ledger and to
the engine, under the drop's row lock), so they land behind the gate, and, when the
drop has access windows, to the allocation of the window open at the wave's time
(``AccessWindowService.add_restock``: the first window when none has opened); the line is
served at once (one claim per buyer in line order) and whatever nobody in line takes
goes on sale when nobody is left waiting. The wave ends ``done`` or ``failed`` with the
reason (too few units available, the drop ended ...). What its units did is recorded as
it happens (``wave_view``): the wave keeps them for the line (``for_waitlist``) from
the moment they are in; each pass over the line moves them to the claims that took
them (``waitlisted``) or, when it opens the gate, on sale (``on_sale``), so units kept
behind the gate for a buyer whose access window has not opened are never called on
sale; ending the drop sends what is still kept back to stock (``back_in_stock``).

A wave planned on an ended drop is its second wave (``reopens``): applying it reopens the
drop (``DropService.reopen``: the drop, its offers brought down to what they sold, the
wave's units and its access windows in one transaction, so a refusal leaves the drop
ended), then serves the line as above. Its optional ``ends_at`` is when the reopened sale
ends again (the schedule job ends it then); without one the drop stays live until ended
by hand. A wave planned on a live drop that has ended by its time still fails: ending a
drop is not undone by a wave nobody planned for the ended drop.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import (
    Conflict,
    DroplineError,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.live.drops import ENGINE_STATES, DropStatus, Reopening, check_wave_end
from dropline.domain.live.waitlist import GateMode
from dropline.domain.stock.buckets import MAX_QUANTITY
from dropline.services.live.access_windows import AccessWindowService
from dropline.services.live.drops import DropService
from dropline.services.live.waitlist_demand import WaitlistDemand
from dropline.services.live.waitlist_serving import WaitlistServing, line_settings
from dropline.services.ports import Clock
from dropline.services.serialize import rfc3339
from dropline.store.live.waitlist_repo import Row
from dropline.store.uow import UowFactory

log = logging.getLogger(__name__)

SOURCE_KINDS = ("lot", "run")


def wave_view(row: Row) -> dict[str, Any]:
    """A wave as the API, the monitor and the report show it. Once it is done its units
    add up: ``waitlisted`` (claims took them) + ``for_waitlist`` (still behind the
    SKU's latched gate for buyers in line, not on sale) + ``on_sale`` (went on sale, at
    once or when the gate opened) + ``back_in_stock`` (still kept for the line when the
    drop ended) = ``quantity``."""
    done = row["status"] == "done"
    return {
        "id": row["id"],
        "drop_id": row["drop_id"],
        "sku_id": row["sku_id"],
        "quantity": int(row["quantity"]),
        "at": rfc3339(row["at"]),
        "source_kind": row["source_kind"] or None,
        "source_id": row["source_id"] or None,
        "status": row["status"],
        "reopens": bool(row["reopens"]),
        "ends_at": rfc3339(row["ends_at"]),
        "waitlisted": int(row["waitlisted"]),
        "for_waitlist": int(row["for_waitlist"]) if done else None,
        "on_sale": int(row["on_sale"]) if done else None,
        "back_in_stock": int(row["back_in_stock"]) if done else None,
        "error": row["error"] or None,
        "created_at": rfc3339(row["created_at"]),
        "applied_at": rfc3339(row["applied_at"]),
    }


class RestockService:
    def __init__(
        self,
        uow: UowFactory,
        drops: DropService,
        serving: WaitlistServing,
        demand: WaitlistDemand,
        clock: Clock,
        access: AccessWindowService | None = None,
    ) -> None:
        self.uow = uow
        self.drops = drops
        self.serving = serving
        self.demand = demand
        self.clock = clock
        self.access = access

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def schedule(
        self,
        drop_id: str,
        sku_id: str,
        quantity: int,
        at: datetime | None = None,
        *,
        source_kind: str | None = None,
        source_id: str | None = None,
        ends_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Plan a wave. On an ended drop it reopens the drop (``reopens``) and may carry
        ``ends_at``, when the reopened sale ends (``check_wave_end``: only then, after
        ``at`` and now, the same for every wave reopening the drop). Refused: a draft or
        scheduled drop (``conflict``: raise the offer instead), a SKU the drop does not
        offer, a quantity outside 1..10,000,000, a time more than a minute in the past,
        a bad ``ends_at``, an unknown source or a lot of another SKU."""
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput("quantity must be between 1 and 10,000,000", field="quantity")
        now = self._now()
        when = at.astimezone(UTC) if at is not None else now
        if (now - when).total_seconds() > 60:
            raise InvalidInput("at is in the past; leave it out to restock now", field="at")
        if (source_kind is None) != (source_id is None):
            raise InvalidInput("source_kind and source_id go together", field="source_id")
        if source_kind is not None and source_kind not in SOURCE_KINDS:
            raise InvalidInput("source_kind must be lot or run", field="source_kind")
        check_text(source_id or "", "source_id")
        end = ends_at.astimezone(UTC) if ends_at is not None else None
        async with self.uow() as uow:
            # locked: two waves reopening the drop are checked against each other
            drop = await uow.drops.get(drop_id, lock=True)
            if drop is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            reopens = drop.status is DropStatus.ENDED
            if drop.status not in ENGINE_STATES and not reopens:
                raise Conflict(
                    f"the drop is {drop.status}: restock waves add units to a live, "
                    "paused or ended drop (before it opens, raise the offer instead)",
                    status=drop.status,
                )
            planned = [
                w["ends_at"].timestamp() if w["ends_at"] else None
                for w in (await uow.waitlist.waves(drop_id) if reopens else [])
                if w["reopens"] and w["status"] in ("scheduled", "applying")
            ]
            end_ts = end.timestamp() if end else None
            check_wave_end(drop.status, when.timestamp(), end_ts, now.timestamp(), planned)
            if sku_id not in await uow.drops.offers(drop_id):
                raise NotFound(f"SKU {sku_id} is not offered in this drop", sku_id=sku_id)
            if source_kind == "lot":
                lot = await uow.production.lot(source_id or "")
                if lot is None:
                    raise NotFound(f"lot {source_id} not found", lot_id=source_id)
                if lot["sku_id"] != sku_id:
                    raise InvalidInput(f"lot {source_id} is of another SKU", field="source_id")
            elif source_kind == "run" and await uow.production.run(source_id or "") is None:
                raise NotFound(f"production run {source_id} not found", run_id=source_id)
            row = {
                "id": new_id("rsw"),
                "drop_id": drop_id,
                "sku_id": sku_id,
                "quantity": quantity,
                "at": when,
                "source_kind": source_kind or "",
                "source_id": source_id or "",
                "status": "scheduled",
                "waitlisted": 0,
                "for_waitlist": 0,
                "on_sale": 0,
                "back_in_stock": 0,
                "error": "",
                "created_at": now,
                "applied_at": None,
                "version": 1,
                "reopens": reopens,
                "ends_at": end,
            }
            await uow.waitlist.add_wave(row)
            uow.audit("restock.scheduled", "drop", drop_id, after=wave_view(row))
            await uow.commit()
        return wave_view(row)

    async def waves(self, drop_id: str) -> list[dict[str, Any]]:
        async with self.uow(readonly=True) as uow:
            if await uow.drops.get(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            return [wave_view(r) for r in await uow.waitlist.waves(drop_id)]

    async def summary(self, drop_id: str) -> dict[str, Any]:
        """What the monitor and the report show of the drop's audience: ``waitlist``
        (the line order, claim window and per-SKU demand) and ``restocks`` (every wave
        with its status and what its units did)."""
        async with self.uow(readonly=True) as uow:
            order, window = await line_settings(uow, drop_id)
            waves = await uow.waitlist.waves(drop_id)
        return {
            "waitlist": {
                "order": order.value,
                "claim_window_s": window,
                "skus": await self.demand.demand(drop_id),
            },
            "restocks": [wave_view(w) for w in waves],
        }

    async def cancel(self, wave_id: str) -> dict[str, Any]:
        """Cancel a wave that has not run yet (``conflict`` once it has)."""
        async with self.uow() as uow:
            row = await uow.waitlist.wave(wave_id, lock=True)
            if row is None:
                raise NotFound(f"restock wave {wave_id} not found")
            if row["status"] != "scheduled" or not await uow.waitlist.change_wave(
                wave_id, row["version"], "cancelled"
            ):
                raise Conflict(f"the wave is {row['status']}, not scheduled", status=row["status"])
            uow.audit("restock.cancelled", "drop", row["drop_id"], before=wave_view(row))
            await uow.commit()
            row = await uow.waitlist.wave(wave_id)
        assert row is not None
        return wave_view(row)

    async def run_once(self) -> list[str]:
        """Apply every due wave; returns the ids this pass applied (done or failed)."""
        async with self.uow(readonly=True) as uow:
            due = await uow.waitlist.due_waves(self._now())
        ran = []
        for row in due:
            if await self.apply(row["id"]):
                ran.append(row["id"])
        return ran

    @staticmethod
    def _reopening(row: Row) -> Reopening:
        return Reopening(
            row["id"],
            row["sku_id"],
            int(row["quantity"]),
            row["at"].timestamp(),
            row["ends_at"].timestamp() if row["ends_at"] else None,
        )

    async def apply(self, wave_id: str) -> bool:
        """Claim the wave and apply it; False when another worker claimed it first. A
        wave planned on the ended drop reopens it; when another wave reopened it first
        (the waves of a second wave, one per SKU, racing), it adds its units to the
        live drop as any wave does."""
        async with self.uow() as uow:
            row = await uow.waitlist.wave(wave_id, lock=True)
            if row is None or row["status"] != "scheduled":
                return False
            if not await uow.waitlist.change_wave(wave_id, row["version"], "applying"):
                return False
            await uow.commit()
        version = row["version"] + 1
        drop_id, sku_id = row["drop_id"], row["sku_id"]
        waiting: list[Row] = []
        try:
            async with self.uow(readonly=True) as uow:
                waiting = await uow.waitlist.line(drop_id, sku_id, ["waiting"])
                drop = await uow.drops.get(drop_id)
                offer = (await uow.drops.offers(drop_id)).get(sku_id)
            if drop is None or offer is None:
                raise Conflict("the drop no longer offers the SKU")
            reopen = drop.status is DropStatus.ENDED
            if reopen and not row["reopens"]:
                raise Conflict(
                    "the drop ended after this wave was planned; a wave planned on the "
                    "ended drop reopens it"
                )
            if reopen:
                try:
                    # the units, the windows and the gate come with the reopened drop
                    await self.drops.reopen(drop_id, self._reopening(row))
                except InvalidTransition:
                    reopen = False  # another wave (another SKU's) reopened it just now
            if not reopen:
                if waiting:
                    # the new units land behind the gate: the line is served before the sale
                    await self.serving.gate(drop_id, sku_id, GateMode.LATCH)
                await self.drops.set_offer(
                    drop_id, sku_id, int(row["quantity"]), offer.per_buyer_limit, add=True
                )
                if self.access is not None:
                    # the units belong to the window open at the wave's time
                    await self.access.add_restock(
                        drop_id, sku_id, int(row["quantity"]), row["at"].timestamp()
                    )
            async with self.uow() as uow:
                # the units are in, behind the gate when anyone is in line: the line's
                # passes record what takes them (``WaitlistServing._settle_waves``)
                await uow.waitlist.change_wave(
                    wave_id, version, "applying", for_waitlist=int(row["quantity"])
                )
                await uow.commit()
            # the line first (a reopened line may hold claims the end cut short); with
            # nobody waiting, the pass opens the gate and the units are on sale at once
            await self.serving.serve_line(drop_id, sku_id)
        except DroplineError as exc:
            log.warning("restock wave %s failed: %s", wave_id, exc.detail)
            async with self.uow() as uow:
                await uow.waitlist.finish_wave(
                    wave_id,
                    "failed",
                    error=exc.detail[:500],
                    applied_at=self._now(),
                    for_waitlist=0,
                )
                await uow.commit()
            if waiting:
                await self.serving.serve_line(drop_id, sku_id)  # reopens an empty line
            return True
        async with self.uow() as uow:
            await uow.waitlist.finish_wave(wave_id, "done", applied_at=self._now())
            await uow.commit()
        return True
