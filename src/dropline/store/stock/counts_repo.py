"""Count sessions and their lines."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from dropline.domain.errors import Conflict
from dropline.domain.stock.counts import CountLine, CountSession, LineStatus, SessionStatus
from dropline.store.base import Repository
from dropline.store.stock.tables import count_lines, count_sessions


def _session(r: Any) -> CountSession:
    return CountSession(
        id=r.id,
        status=SessionStatus(r.status),
        blind=bool(r.blind),
        threshold=int(r.threshold),
        bins=tuple(r.bins),
        skus=tuple(r.skus),
        note=r.note,
        opened_by=r.opened_by,
        opened_at=r.opened_at,
        closed_by=r.closed_by,
        closed_at=r.closed_at,
        version=int(r.version),
    )


def _line(r: Any) -> CountLine:
    return CountLine(
        session_id=r.session_id,
        bin_id=r.bin_id,
        sku_id=r.sku_id,
        expected=int(r.expected),
        counted=int(r.counted),
        status=LineStatus(r.status),
        counted_by=r.counted_by,
        counted_at=r.counted_at,
        decided_by=r.decided_by,
        decided_at=r.decided_at,
        decision_note=r.decision_note,
    )


def _line_values(line: CountLine) -> dict[str, Any]:
    return {
        "session_id": line.session_id,
        "bin_id": line.bin_id,
        "sku_id": line.sku_id,
        "expected": line.expected,
        "counted": line.counted,
        "status": line.status.value,
        "counted_by": line.counted_by,
        "counted_at": line.counted_at,
        "decided_by": line.decided_by,
        "decided_at": line.decided_at,
        "decision_note": line.decision_note,
    }


class CountRepository(Repository):
    async def add(self, s: CountSession) -> None:
        await self.conn.execute(
            insert(count_sessions).values(
                id=s.id,
                status=s.status.value,
                blind=s.blind,
                threshold=s.threshold,
                bins=list(s.bins),
                skus=list(s.skus),
                note=s.note,
                opened_by=s.opened_by,
                opened_at=s.opened_at,
                closed_by="",
                closed_at=None,
                version=1,
            )
        )

    async def get(self, session_id: str, *, lock: bool = False) -> CountSession | None:
        stmt = select(count_sessions).where(count_sessions.c.id == session_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).first()
        return _session(row) if row else None

    async def list_sessions(
        self, status: SessionStatus | None = None, limit: int = 100
    ) -> list[CountSession]:
        stmt = (
            select(count_sessions)
            .order_by(count_sessions.c.opened_at.desc(), count_sessions.c.id.desc())
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(count_sessions.c.status == status.value)
        return [_session(r) for r in await self.conn.execute(stmt)]

    async def finish(
        self, s: CountSession, status: SessionStatus, actor: str, at: datetime
    ) -> None:
        """Close or cancel the session (a compare-and-set on its version)."""
        result = await self.conn.execute(
            update(count_sessions)
            .where(count_sessions.c.id == s.id, count_sessions.c.version == s.version)
            .values(status=status.value, closed_by=actor, closed_at=at, version=s.version + 1)
        )
        if result.rowcount != 1:
            raise Conflict("the count session changed meanwhile; reload and retry")

    # ------------------------------------------------------------------ lines
    async def lines(self, session_id: str) -> list[CountLine]:
        rows = await self.conn.execute(
            select(count_lines)
            .where(count_lines.c.session_id == session_id)
            .order_by(count_lines.c.bin_id, count_lines.c.sku_id)
        )
        return [_line(r) for r in rows]

    async def line(self, session_id: str, bin_id: str, sku_id: str) -> CountLine | None:
        t = count_lines.c
        row = (
            await self.conn.execute(
                select(count_lines).where(
                    t.session_id == session_id, t.bin_id == bin_id, t.sku_id == sku_id
                )
            )
        ).first()
        return _line(row) if row else None

    async def save_line(self, line: CountLine, *, new: bool) -> None:
        values = _line_values(line)
        if new:
            await self.conn.execute(insert(count_lines).values(**values))
            return
        t = count_lines.c
        await self.conn.execute(
            update(count_lines)
            .where(
                t.session_id == line.session_id, t.bin_id == line.bin_id, t.sku_id == line.sku_id
            )
            .values(**values)
        )

    async def lines_for(
        self, sku_ids: Iterable[str], since: datetime | None = None
    ) -> list[tuple[CountSession, CountLine]]:
        """Every line counting one of ``sku_ids``, with its session: in sessions closed
        since ``since`` or still open (the readiness gate's evidence)."""
        ids = sorted(set(sku_ids))
        if not ids:
            return []
        s, t = count_sessions.c, count_lines.c
        stmt = (
            select(count_lines)
            .join(count_sessions, t.session_id == s.id)
            .where(t.sku_id.in_(ids), s.status != SessionStatus.CANCELLED.value)
        )
        if since is not None:
            stmt = stmt.where((s.closed_at.is_(None)) | (s.closed_at >= since))
        lines = [_line(r) for r in await self.conn.execute(stmt)]
        wanted = sorted({ln.session_id for ln in lines})
        sessions: dict[str, CountSession] = {}
        if wanted:
            stmt2 = select(count_sessions).where(s.id.in_(wanted))
            sessions = {r.id: _session(r) for r in await self.conn.execute(stmt2)}
        return [(sessions[ln.session_id], ln) for ln in lines]
