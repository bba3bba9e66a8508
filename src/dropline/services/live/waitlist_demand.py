"""Waitlist demand figures: who joined each SKU's line of a drop and what the line gave
them, for the ops page, the monitor, the report and the lessons across drops."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from dropline.domain.errors import NotFound
from dropline.domain.live.waitlist import DemandEntry, line_demand
from dropline.store.uow import UowFactory


class WaitlistDemand:
    def __init__(self, uow: UowFactory) -> None:
        self.uow = uow

    async def buyers(self, drop_id: str) -> list[tuple[str, str, int]]:
        """Every buyer who joined a SKU's line of the drop, once per SKU however often
        they joined: (SKU, buyer, claims paid); ``NotFound`` for an unknown drop."""
        async with self.uow(readonly=True) as uow:
            if await uow.drops.get(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            return await uow.waitlist.buyers(drop_id)

    async def demand(self, drop_id: str) -> list[dict[str, Any]]:
        """Waitlist demand per SKU of the drop (``domain.live.waitlist.Demand``):
        buyers who joined, each once however often they joined, and ``unserved``,
        those who got no unit through the line (what the next run could have sold
        after the sell-out); entries (joins); claims offered, made and lost."""
        async with self.uow(readonly=True) as uow:
            if await uow.drops.get(drop_id) is None:
                raise NotFound(f"drop {drop_id} not found", drop_id=drop_id)
            rows = await uow.waitlist.demand(drop_id)
        lines: dict[str, list[DemandEntry]] = defaultdict(list)
        for sku_id, entry in rows:
            lines[sku_id].append(entry)
        return [
            {"drop_id": drop_id, **line_demand(sku_id, entries).__dict__}
            for sku_id, entries in sorted(lines.items())
        ]
