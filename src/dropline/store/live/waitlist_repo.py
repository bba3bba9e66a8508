"""Waitlists and restock waves: settings, entries in line, draws, waves.

Every change to an entry or a wave is a compare-and-set on its ``version`` (or, for a
wave's claim, on its status too), so two workers serving the same line never both act
on one entry: the loser's update matches no row and it moves on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, select, update

from dropline.domain.live.waitlist import OPEN_STATES, DemandEntry, Entry, EntryStatus
from dropline.store.base import Repository
from dropline.store.live.waitlist_tables import (
    restock_waves,
    waitlist_draws,
    waitlist_entries,
    waitlist_settings,
)

Row = dict[str, Any]
#: One entry of a line for the demand: (SKU, the entry).
DemandRow = tuple[str, DemandEntry]
_OPEN = [s.value for s in OPEN_STATES]


def open_key(drop_id: str, sku_id: str, buyer_id: str) -> str:
    return f"{drop_id}|{sku_id}|{buyer_id}"


def tiers_text(tiers: frozenset[str]) -> str:
    """Tiers as the ``tiers`` column keeps them: sorted, one space apart ("": none)."""
    return " ".join(sorted(tiers))


def row_tiers(row: Mapping[str, Any]) -> frozenset[str]:
    return frozenset((row.get("tiers") or "").split())


def to_entry(row: Mapping[str, Any]) -> Entry:
    exp = row["claim_expires_at"]
    return Entry(
        id=row["id"],
        seq=int(row["seq"]),
        drop_id=row["drop_id"],
        sku_id=row["sku_id"],
        buyer_id=row["buyer_id"],
        status=EntryStatus(row["status"]),
        joined_at=row["joined_at"].timestamp(),
        pre_queue=bool(row["pre_queue"]),
        rank=row["rank"],
        hold_id=row["hold_id"],
        claim_expires_at=exp.timestamp() if exp is not None else None,
        tiers=row_tiers(row),
    )


class WaitlistRepository(Repository):
    # ---------------------------------------------------------------- settings

    async def settings(self, drop_id: str) -> Row | None:
        t = waitlist_settings
        row = (await self.conn.execute(select(t).where(t.c.drop_id == drop_id))).first()
        return dict(row._mapping) if row else None

    async def set_settings(self, drop_id: str, mode: str, claim_window_s: int) -> None:
        t = waitlist_settings
        values = {"mode": mode, "claim_window_s": claim_window_s, "updated_at": self.now()}
        done = await self.conn.execute(update(t).where(t.c.drop_id == drop_id).values(**values))
        if not done.rowcount:
            await self.conn.execute(insert(t).values(drop_id=drop_id, **values))

    # ---------------------------------------------------------------- entries

    async def add(self, values: Mapping[str, Any]) -> bool:
        """Insert an entry; False when the buyer already stands in that line."""
        row = {
            **values,
            "open_key": open_key(values["drop_id"], values["sku_id"], values["buyer_id"]),
        }
        return await self.insert_ignore(waitlist_entries, [row], ["open_key"]) == 1

    async def get(self, entry_id: str) -> Row | None:
        t = waitlist_entries
        row = (await self.conn.execute(select(t).where(t.c.id == entry_id))).first()
        return dict(row._mapping) if row else None

    async def open_entry(self, drop_id: str, sku_id: str, buyer_id: str) -> Row | None:
        t = waitlist_entries
        key = open_key(drop_id, sku_id, buyer_id)
        row = (await self.conn.execute(select(t).where(t.c.open_key == key))).first()
        return dict(row._mapping) if row else None

    async def buyer_entries(self, drop_id: str, buyer_id: str) -> list[Row]:
        t = waitlist_entries
        rows = await self.conn.execute(
            select(t).where(t.c.drop_id == drop_id, t.c.buyer_id == buyer_id).order_by(t.c.seq)
        )
        return [dict(r._mapping) for r in rows]

    async def line(self, drop_id: str, sku_id: str, statuses: Sequence[str] = _OPEN) -> list[Row]:
        """The SKU's entries in the given statuses (waiting and offered by default)."""
        t = waitlist_entries
        rows = await self.conn.execute(
            select(t)
            .where(t.c.drop_id == drop_id, t.c.sku_id == sku_id, t.c.status.in_(statuses))
            .order_by(t.c.seq)
        )
        return [dict(r._mapping) for r in rows]

    async def open_lines(self) -> list[tuple[str, str]]:
        """Every (drop, SKU) with someone waiting or a claim outstanding."""
        t = waitlist_entries
        rows = await self.conn.execute(
            select(t.c.drop_id, t.c.sku_id)
            .where(t.c.status.in_(_OPEN))
            .group_by(t.c.drop_id, t.c.sku_id)
            .order_by(t.c.drop_id, t.c.sku_id)
        )
        return [(r.drop_id, r.sku_id) for r in rows]

    async def change(self, entry_id: str, version: int, **values: Any) -> bool:
        """Compare-and-set: apply ``values`` if the entry is still at ``version``. An
        entry leaving the line (any status but waiting/offered) frees its open key."""
        status = values.get("status")
        if status is not None and status not in _OPEN:
            values["open_key"] = None
        t = waitlist_entries
        done = await self.conn.execute(
            update(t)
            .where(and_(t.c.id == entry_id, t.c.version == version))
            .values(version=version + 1, **values)
        )
        return bool(done.rowcount)

    async def set_ranks(self, ranks: Mapping[str, int]) -> None:
        t = waitlist_entries
        for entry_id, rank in ranks.items():
            await self.conn.execute(update(t).where(t.c.id == entry_id).values(rank=rank))

    async def record_draw(
        self, drop_id: str, sku_id: str, seed: str, entry_ids: Sequence[str]
    ) -> bool:
        """Keep the draw; False if another worker drew this line first (its draw holds)."""
        row = {
            "drop_id": drop_id,
            "sku_id": sku_id,
            "seed": seed,
            "entry_ids": list(entry_ids),
            "drawn_at": self.now(),
        }
        return await self.insert_ignore(waitlist_draws, [row], ["drop_id", "sku_id"]) == 1

    async def draws(self, drop_id: str) -> list[Row]:
        t = waitlist_draws
        rows = await self.conn.execute(select(t).where(t.c.drop_id == drop_id).order_by(t.c.sku_id))
        return [dict(r._mapping) for r in rows]

    async def demand(self, drop_id: str) -> list[DemandRow]:
        """Every entry of the drop's lines as the demand counts it, in join order:
        (SKU, the entry: its buyer, status, whether it was ever offered a claim, what
        its saved method's charge did)."""
        t = waitlist_entries
        stmt = (
            select(t.c.sku_id, t.c.buyer_id, t.c.status, t.c.offered_at, t.c.charge_status)
            .where(t.c.drop_id == drop_id)
            .order_by(t.c.seq)
        )
        return [
            (
                r.sku_id,
                DemandEntry(
                    r.buyer_id,
                    EntryStatus(r.status),
                    r.offered_at is not None,
                    r.charge_status if r.charge_status in ("succeeded", "failed") else "",
                ),
            )
            for r in await self.conn.execute(stmt)
        ]

    async def buyers(self, drop_id: str) -> list[tuple[str, str, int]]:
        """Per SKU and buyer who joined its line (once or again): (SKU, buyer, claims
        paid), for the lessons' unserved demand (each buyer once)."""
        t = waitlist_entries
        stmt = (
            select(
                t.c.sku_id,
                t.c.buyer_id,
                func.sum(case((t.c.status == EntryStatus.CLAIMED.value, 1), else_=0)),
            )
            .where(t.c.drop_id == drop_id)
            .group_by(t.c.sku_id, t.c.buyer_id)
        )
        return [(r[0], r[1], int(r[2] or 0)) for r in await self.conn.execute(stmt)]

    async def gate_counts(self, drop_id: str) -> dict[str, tuple[int, int, int]]:
        """Per SKU of the drop: (buyers in line, those of them who joined after the drop
        opened, claims ever offered), what ``restored_gate`` reads at a rebuild."""
        t = waitlist_entries
        is_open = t.c.status.in_(_OPEN)
        stmt = (
            select(
                t.c.sku_id,
                func.count().filter(is_open).label("in_line"),
                func.count().filter(and_(is_open, t.c.pre_queue.is_(False))).label("live"),
                func.count(t.c.offered_at).label("offered"),
            )
            .where(t.c.drop_id == drop_id)
            .group_by(t.c.sku_id)
        )
        rows = await self.conn.execute(stmt)
        return {r.sku_id: (int(r.in_line), int(r.live), int(r.offered)) for r in rows}

    # ---------------------------------------------------------------- auto-charge

    async def save_token(self, entry_id: str, token: str | None) -> Row | None:
        """Put a saved payment method's token on an entry still waiting (a new version);
        the entry as it is now, or None when it is no longer waiting."""
        t = waitlist_entries
        done = await self.conn.execute(
            update(t)
            .where(and_(t.c.id == entry_id, t.c.status == EntryStatus.WAITING.value))
            .values(payment_token=token, version=t.c.version + 1)
        )
        return await self.get(entry_id) if done.rowcount else None

    async def with_tokens(self, statuses: Sequence[str], limit: int = 200) -> list[Row]:
        """Entries in ``statuses`` that still carry a saved method's token."""
        t = waitlist_entries
        rows = await self.conn.execute(
            select(t)
            .where(t.c.status.in_(statuses), t.c.payment_token.is_not(None))
            .order_by(t.c.seq)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def charging(self, limit: int = 200) -> list[Row]:
        """Entries whose auto-charge started and has no recorded outcome yet."""
        t = waitlist_entries
        rows = await self.conn.execute(
            select(t).where(t.c.charge_status == "charging").order_by(t.c.seq).limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    # ---------------------------------------------------------------- waves

    async def add_wave(self, values: Mapping[str, Any]) -> None:
        await self.conn.execute(insert(restock_waves).values(**values))

    async def wave(self, wave_id: str, *, lock: bool = False) -> Row | None:
        t = restock_waves
        stmt = select(t).where(t.c.id == wave_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return dict(row._mapping) if row else None

    async def waves(self, drop_id: str) -> list[Row]:
        t = restock_waves
        rows = await self.conn.execute(
            select(t).where(t.c.drop_id == drop_id).order_by(t.c.at, t.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def due_waves(self, now: datetime, limit: int = 50) -> list[Row]:
        t = restock_waves
        rows = await self.conn.execute(
            select(t)
            .where(t.c.status == "scheduled", t.c.at <= now)
            .order_by(t.c.at, t.c.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def kept_waves(self, drop_id: str, sku_id: str) -> list[Row]:
        """The SKU's waves (applying or done) whose units still wait behind its gate for
        the line, oldest first."""
        t = restock_waves
        rows = await self.conn.execute(
            select(t)
            .where(
                t.c.drop_id == drop_id,
                t.c.sku_id == sku_id,
                t.c.status.in_(("applying", "done")),
                t.c.for_waitlist > 0,
            )
            .order_by(t.c.at, t.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def settle_wave(self, wave_id: str, version: int, took: int, sale: int) -> bool:
        """Compare-and-set on the wave's version: ``took`` of its kept units went to
        claims, ``sale`` went on sale (never more than it keeps)."""
        t = restock_waves
        done = await self.conn.execute(
            update(t)
            .where(t.c.id == wave_id, t.c.version == version, t.c.for_waitlist >= took + sale)
            .values(
                version=version + 1,
                waitlisted=t.c.waitlisted + took,
                on_sale=t.c.on_sale + sale,
                for_waitlist=t.c.for_waitlist - took - sale,
            )
        )
        return bool(done.rowcount)

    async def finish_wave(self, wave_id: str, status: str, **values: Any) -> bool:
        """Move a wave out of ``applying`` (to ``done`` or ``failed``), whatever version
        the line's passes have brought it to meanwhile (``settle_wave``)."""
        t = restock_waves
        done = await self.conn.execute(
            update(t)
            .where(t.c.id == wave_id, t.c.status == "applying")
            .values(version=t.c.version + 1, status=status, **values)
        )
        return bool(done.rowcount)

    async def end_waves(self, drop_id: str) -> None:
        """The drop ended: units its waves still kept for the line went back to stock
        with the rest of the unsold units (``back_in_stock``)."""
        t = restock_waves
        await self.conn.execute(
            update(t)
            .where(t.c.drop_id == drop_id, t.c.for_waitlist > 0)
            .values(
                version=t.c.version + 1,
                back_in_stock=t.c.back_in_stock + t.c.for_waitlist,
                for_waitlist=0,
            )
        )

    async def change_wave(self, wave_id: str, version: int, status: str, **values: Any) -> bool:
        """Compare-and-set on the wave's version: the one worker whose update matches
        moves it (``scheduled`` → ``applying`` is the claim that makes a wave run once)."""
        t = restock_waves
        done = await self.conn.execute(
            update(t)
            .where(and_(t.c.id == wave_id, t.c.version == version))
            .values(version=version + 1, status=status, **values)
        )
        return bool(done.rowcount)
