"""Hold event pages: the durable record of every hold's lifecycle, a page per drop per
drain pass, and the per-drop cursor that makes re-draining harmless."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from dropline.store.base import Repository
from dropline.store.live.tables import hold_event_cursors, hold_event_pages

#: A drop's journal position: (journal, (major, minor)).
Cursor = tuple[str, tuple[int, int]]


class HoldEventRepository(Repository):
    async def lock_cursors(self, drop_ids: Sequence[str]) -> dict[str, Cursor]:
        """Each drop's cursor, locked until the transaction ends (PostgreSQL: ``FOR
        UPDATE``, taken in drop-id order so two drains never deadlock; SQLite has one
        writer anyway). A drop seen for the first time gets an empty cursor row."""
        ids = sorted(set(drop_ids))
        if not ids:
            return {}
        await self.insert_ignore(
            hold_event_cursors,
            [{"drop_id": d, "journal": "", "pos_major": 0, "pos_minor": 0} for d in ids],
            ["drop_id"],
        )
        c = hold_event_cursors.c
        rows = await self.conn.execute(
            select(c.drop_id, c.journal, c.pos_major, c.pos_minor)
            .where(c.drop_id.in_(ids))
            .order_by(c.drop_id)
            .with_for_update()
        )
        return {r.drop_id: (r.journal, (int(r.pos_major), int(r.pos_minor))) for r in rows}

    async def advance(self, cursors: Mapping[str, Cursor]) -> None:
        """Move each drop's cursor to the position of its last stored event."""
        c = hold_event_cursors.c
        for drop_id, (journal, (major, minor)) in sorted(cursors.items()):
            await self.conn.execute(
                update(hold_event_cursors)
                .where(c.drop_id == drop_id)
                .values(journal=journal, pos_major=major, pos_minor=minor)
            )

    async def add_pages(self, pages: Sequence[Mapping[str, Any]]) -> None:
        """Insert pages (``drop_id``, ``n``, ``tally``, ``events``), stamped now."""
        if pages:
            now = self.now()
            await self.conn.execute(
                insert(hold_event_pages), [{**p, "created_at": now} for p in pages]
            )

    async def tallies_after(self, drop_id: str, after_seq: int) -> list[tuple[int, dict[str, int]]]:
        """(seq, {event type: count}) of the drop's pages after ``after_seq``, in order.

        Exact to tail per drop, not across drops: a drop's pages are written under its
        cursor's lock (``lock_cursors``), so they commit in ``seq`` order, while pages
        of different drops, written by two workers, may commit out of ``seq`` order."""
        p = hold_event_pages.c
        rows = await self.conn.execute(
            select(p.seq, p.tally).where(p.drop_id == drop_id, p.seq > after_seq).order_by(p.seq)
        )
        return [(int(r.seq), dict(r.tally)) for r in rows]

    async def pages_for_drop(self, drop_id: str) -> list[tuple[int, list[Any]]]:
        """(seq, stored events) of every page of a drop, oldest first; the events'
        layout is ``services.hold_journal``'s to read."""
        p = hold_event_pages.c
        rows = await self.conn.execute(
            select(p.seq, p.events).where(p.drop_id == drop_id).order_by(p.seq)
        )
        return [(int(r.seq), list(r.events)) for r in rows]
