"""Reads and writes for the funnel, unserved demand and host cues: the overlay's view
counters, the refused-tap rows and the cue log (``store/insight/tables.py``).

Counters are upserts that add (``views = views + excluded.views``), one statement per
row of a batch, so any number of processes report at once without reading first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from dropline.domain.insight.funnel import Refused
from dropline.store.base import Repository
from dropline.store.insight.tables import drop_views, host_cues, refused_taps


def _views_upsert(mod: Any) -> Any:
    stmt = mod.insert(drop_views)
    return stmt.on_conflict_do_update(
        index_elements=["drop_id", "sku_id", "channel"],
        set_={
            "views": drop_views.c.views + stmt.excluded.views,
            "updated_at": stmt.excluded.updated_at,
        },
    )


def _refused_upsert(mod: Any) -> Any:
    stmt = mod.insert(refused_taps)
    # The units of the buyer's first refused tap stay: a buyer tapping again is one
    # buyer's demand, not more.
    return stmt.on_conflict_do_update(
        index_elements=["drop_id", "sku_id", "buyer_id"],
        set_={"taps": refused_taps.c.taps + stmt.excluded.taps},
    )


_VIEWS = {False: _views_upsert(sqlite), True: _views_upsert(postgresql)}
_REFUSED = {False: _refused_upsert(sqlite), True: _refused_upsert(postgresql)}


class FunnelRepository(Repository):
    async def add_views(self, drop_id: str, counts: Mapping[tuple[str, str], int]) -> None:
        now = self.now()
        rows = [
            {"drop_id": drop_id, "sku_id": sku, "channel": ch, "views": n, "updated_at": now}
            for (sku, ch), n in sorted(counts.items())  # one lock order for every writer
        ]
        await self.conn.execute(_VIEWS[self.dialect == "postgresql"], rows)

    async def views(self, drop_id: str) -> dict[tuple[str, str], int]:
        v = drop_views.c
        rows = await self.conn.execute(
            select(v.sku_id, v.channel, v.views).where(v.drop_id == drop_id)
        )
        return {(r.sku_id, r.channel): int(r.views) for r in rows}

    async def add_refused(
        self, taps: Mapping[tuple[str, str, str], tuple[int, int, datetime]]
    ) -> None:
        """``(drop, SKU, buyer) → (taps, units of the first, when)`` added to the rows."""
        rows = [
            {
                "drop_id": d,
                "sku_id": s,
                "buyer_id": b,
                "taps": n,
                "units": units,
                "first_at": at,
            }
            for (d, s, b), (n, units, at) in sorted(taps.items())
        ]
        if rows:
            await self.conn.execute(_REFUSED[self.dialect == "postgresql"], rows)

    async def refused(self, drop_id: str) -> list[Refused]:
        r = refused_taps.c
        rows = await self.conn.execute(
            select(r.sku_id, r.buyer_id, r.taps, r.units).where(r.drop_id == drop_id)
        )
        return [Refused(x.sku_id, x.buyer_id, int(x.taps), int(x.units)) for x in rows]

    async def add_cue(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(host_cues.insert().values(**values))

    async def cues(self, drop_id: str) -> list[dict[str, Any]]:
        c = host_cues.c
        rows = await self.conn.execute(
            select(host_cues).where(c.drop_id == drop_id).order_by(c.at, c.id)
        )
        return [dict(r._mapping) for r in rows]
