"""The funnel (views → held → paid), unserved demand after sell-out and the host's cue
timeline with the lift after each cue: the use cases behind ``/v1/drops/{id}/views``,
``/v1/drops/{id}/cues`` and the funnel, unserved and cue sections of the lessons.
Definitions in ``domain.insight.funnel``.

Views arrive from the overlay as batched counts and become counters (no row per view,
no buyer named). Held and paid buyers come from the drop's stored hold events and its
paid orders. Refused taps come from ``services.insight.refused_taps``; the buyers in
each waitlist from ``waitlist_joins``, the one seam where the waitlist's figures join
them (per buyer, so a buyer refused and then in the line counts once); what each buyer
bought of each SKU from the drop's paid orders, so met demand is not unserved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import InvalidInput
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.insight.funnel import (
    CUE_KINDS,
    DEFAULT_LIFT_WINDOW_S,
    MAX_CUE_TEXT,
    Joined,
    Sale,
    Step,
    ViewCount,
    check_views,
    cue_lift,
    funnel,
    unserved,
)
from dropline.services.insight.refused_taps import RefusedTaps
from dropline.services.live.drop_catalog import DropCatalogCache
from dropline.services.live.hold_journal import drop_hold_events
from dropline.services.live.holds import CHANNELS
from dropline.services.ports import Clock
from dropline.store.insight.funnel_repo import FunnelRepository
from dropline.store.insight.repo import MonitorRepository
from dropline.store.uow import UowFactory

#: The buyers in each SKU's waitlist of a drop with the claims they paid; bootstrap
#: sets the waitlist's reader (``WaitlistDemand.buyers``), the default knows none.
WaitlistJoins = Callable[[str], Awaitable[Sequence[Joined]]]


async def no_waitlist(drop_id: str) -> Sequence[Joined]:
    return ()


class FunnelService:
    def __init__(
        self,
        uow: UowFactory,
        cache: DropCatalogCache,
        clock: Clock,
        refused: RefusedTaps,
        waitlist_joins: WaitlistJoins = no_waitlist,
    ) -> None:
        self.uow = uow
        self.cache = cache
        self.clock = clock
        self.refused = refused
        self.waitlist_joins = waitlist_joins

    # ------------------------------------------------------------------ views
    async def record_views(self, drop_id: str, counts: Sequence[ViewCount]) -> int:
        """Add a batch of view counts to the drop's counters; the whole batch or, for a
        bad entry (``InvalidInput``) or an unknown drop (``NotFound``), nothing. Returns
        the views added."""
        catalog = await self.cache.get(drop_id)
        summed = check_views(counts, catalog.offers, CHANNELS)
        async with self.uow() as uow:
            await FunnelRepository(uow.conn, self.uow.now).add_views(drop_id, summed)
            await uow.commit()
        return sum(summed.values())

    # ------------------------------------------------------------------ figures
    async def figures(self, drop_id: str, skus: Sequence[str]) -> dict[str, Any]:
        """The drop's funnel (per SKU in ``skus`` order and per channel) and its unserved
        demand per SKU."""
        await self.refused.flush()
        async with self.uow(readonly=True) as uow:
            repo = FunnelRepository(uow.conn, self.uow.now)
            views = await repo.views(drop_id)
            refused = await repo.refused(drop_id)
            events = await drop_hold_events(uow, drop_id)
            sales = await MonitorRepository(uow.conn, self.uow.now).sales(drop_id)
        holds = [
            Step(
                str(e.payload["buyer_id"]),
                frozenset(e.payload.get("units") or {}),
                str((e.payload.get("attribution") or {}).get("channel") or ""),
            )
            for e in events
            if e.type == "hold.placed"
        ]
        paid = [
            Step(s.buyer_id, frozenset(s.units), s.attribution.get("channel") or "") for s in sales
        ]
        joins = await self.waitlist_joins(drop_id)
        # what each buyer bought of each SKU, by any path: met demand is not unserved
        bought: dict[tuple[str, str], int] = {}
        for s in sales:
            for sku, units in s.units.items():
                bought[(sku, s.buyer_id)] = bought.get((sku, s.buyer_id), 0) + units
        return {
            "funnel": funnel(views, holds, paid, skus),
            "unserved": unserved(refused, joins, skus, bought),
        }

    # ------------------------------------------------------------------ cues
    async def add_cue(
        self,
        drop_id: str,
        kind: str,
        text: str,
        *,
        at: datetime | None = None,
        sku_id: str | None = None,
        product_id: str | None = None,
        by: str = "",
    ) -> dict[str, Any]:
        """Log a host cue (now, unless ``at``): refused with nothing stored for an
        unknown kind, text over ``MAX_CUE_TEXT``, a SKU the drop does not offer or a
        product none of its SKUs belongs to (``InvalidInput``), an unknown drop
        (``NotFound``)."""
        catalog = await self.cache.get(drop_id)
        if kind not in CUE_KINDS:
            raise InvalidInput(f"a cue's kind is one of {', '.join(CUE_KINDS)}", field="kind")
        text = text.strip()
        check_text(text, "text")
        if len(text) > MAX_CUE_TEXT:
            raise InvalidInput(f"a cue's text is at most {MAX_CUE_TEXT} characters", field="text")
        if sku_id and sku_id not in catalog.offers:
            raise InvalidInput(f"SKU {sku_id} is not offered in this drop", field="sku_id")
        if product_id and not any(
            catalog.skus[s].product_id == product_id for s in catalog.offers if s in catalog.skus
        ):
            raise InvalidInput(f"product {product_id} has no SKU in this drop", field="product_id")
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        when = at.astimezone(UTC) if at is not None else now
        values = {
            "id": new_id("cue"),
            "drop_id": drop_id,
            "at": when,
            "kind": kind,
            "sku_id": sku_id or None,
            "product_id": product_id or None,
            "text": text,
            "created_by": by,
            "created_at": now,
        }
        async with self.uow() as uow:
            await FunnelRepository(uow.conn, self.uow.now).add_cue(values)
            await uow.commit()
        return values

    async def cues(self, drop_id: str) -> list[dict[str, Any]]:
        await self.cache.get(drop_id)  # NotFound for an unknown drop
        async with self.uow(readonly=True) as uow:
            return await FunnelRepository(uow.conn, self.uow.now).cues(drop_id)

    async def cue_timeline(
        self, drop_id: str, start: datetime, end: datetime, window_s: int = DEFAULT_LIFT_WINDOW_S
    ) -> list[dict[str, Any]]:
        """Every cue of the drop, oldest first, with the lift after it (over the SKU it
        names, else the product's SKUs, else the whole drop) within the selling window
        ``start``..``end``."""
        if not 60 <= window_s <= 3600:
            raise InvalidInput("the lift window is 60 to 3600 seconds", field="window_s")
        catalog = await self.cache.get(drop_id)
        async with self.uow(readonly=True) as uow:
            cues = await FunnelRepository(uow.conn, self.uow.now).cues(drop_id)
            rows = await MonitorRepository(uow.conn, self.uow.now).sales(drop_id)
        sales = [Sale(s.paid_at.timestamp(), s.units) for s in rows]
        out = []
        for c in cues:
            scope: frozenset[str] | None = None
            if c["sku_id"]:
                scope = frozenset({c["sku_id"]})
            elif c["product_id"]:
                scope = frozenset(
                    s for s, sku in catalog.skus.items() if sku.product_id == c["product_id"]
                )
            lift = cue_lift(
                c["at"].timestamp(), scope, sales, window_s, start.timestamp(), end.timestamp()
            )
            out.append(
                {
                    **c,
                    "scope": "sku" if c["sku_id"] else "product" if c["product_id"] else "drop",
                    **lift,
                }
            )
        return out
