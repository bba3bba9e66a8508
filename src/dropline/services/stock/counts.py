"""Count sessions: open a blind count of bins (or of SKUs wherever they are), record
what is found, have variances over the threshold approved by someone else, close the
session, and report it (data, CSV, page).

The rules are in ``domain/stock/counts.py``; here each step is one transaction that
locks the session (so closing waits for a count in flight) and the SKU's level (so the
expected figure is the ledger's at the moment of the count)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from dropline.domain.errors import Conflict, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.ids import new_id
from dropline.domain.stock.bins import BinStock
from dropline.domain.stock.counts import (
    MAX_NOTE,
    OPEN_VARIANCE,
    RECOUNTABLE,
    UNPLACED,
    CountLine,
    CountSession,
    LineStatus,
    SessionStatus,
    check_actor,
    check_counted,
    check_decision,
    check_threshold,
    line_status,
    uncounted,
    variance_movements,
)
from dropline.services.ports import Clock
from dropline.services.rendering import render
from dropline.services.serialize import rfc3339
from dropline.services.stock.bins import find_bin
from dropline.services.stock.ledger import apply_movements
from dropline.store.uow import UnitOfWork, UowFactory

Row = dict[str, Any]
UNPLACED_NAMES = frozenset({"", "-", "unplaced"})
MAX_PLACES = 1000


def session_view(s: CountSession) -> Row:
    return {
        "id": s.id,
        "status": s.status.value,
        "blind": s.blind,
        "threshold": s.threshold,
        "skus": list(s.skus),
        "note": s.note,
        "opened_by": s.opened_by,
        "opened_at": rfc3339(s.opened_at),
        "closed_by": s.closed_by,
        "closed_at": rfc3339(s.closed_at),
    }


def reveals(s: CountSession, line: CountLine, viewer: str | None) -> bool:
    """Whether ``viewer`` may see a line's expected figure and variance: always once the
    session is closed or when it is not blind; while a blind session is open, never the
    one who counted the line (``viewer`` None: nobody in particular, e.g. a report
    asked for without a name, sees nothing either)."""
    if not s.blind or s.status is not SessionStatus.OPEN:
        return True
    return viewer is not None and viewer != line.counted_by


def line_view(s: CountSession, line: CountLine, codes: dict[str, str], viewer: str | None) -> Row:
    out: Row = {
        "bin_id": line.bin_id or None,
        "bin": codes.get(line.bin_id, "(unplaced)") if line.bin_id else "(unplaced)",
        "sku_id": line.sku_id,
        "counted": line.counted,
        "counted_by": line.counted_by,
        "counted_at": rfc3339(line.counted_at),
        "status": line.status.value,
        "decided_by": line.decided_by,
        "decided_at": rfc3339(line.decided_at),
        "decision_note": line.decision_note,
    }
    if reveals(s, line, viewer):
        out |= {"expected": line.expected, "variance": line.variance}
    else:  # blind: neither the figure nor whether it matched
        out["status"] = "counted"
    return out


class CountService:
    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def _session(
        self, uow: UnitOfWork, session_id: str, *, lock: bool = False
    ) -> CountSession:
        s = await uow.counts.get(session_id, lock=lock)
        if s is None:
            raise NotFound(f"count session {session_id} not found", session_id=session_id)
        return s

    async def _place(self, uow: UnitOfWork, ref: str | None) -> str:
        """A bin id from an id or code; UNPLACED for none."""
        if ref is None or ref.strip().lower() in UNPLACED_NAMES:
            return UNPLACED
        return (await find_bin(uow, ref)).id

    # ------------------------------------------------------------------ opening
    async def open(
        self,
        *,
        bins: Sequence[str] = (),
        skus: Sequence[str] = (),
        blind: bool = True,
        threshold: int = 0,
        note: str = "",
        actor: str,
    ) -> Row:
        """Open a count of ``bins`` (ids or codes; ``unplaced`` for the units in no bin),
        or of ``skus`` wherever the ledger has them now (their bins and their unplaced
        units), or of those SKUs in those bins. Blind by default."""
        actor = check_actor(actor, "opening a count")
        check_threshold(threshold)
        if not bins and not skus:
            raise InvalidInput("a count needs bins, SKUs or both", field="bins")
        if len(bins) > MAX_PLACES or len(skus) > MAX_PLACES:
            raise InvalidInput(f"a count covers at most {MAX_PLACES} bins and SKUs")
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"a note is at most {MAX_NOTE} characters", field="note")
        async with self.uow() as uow:
            places = {await self._place(uow, b) for b in bins}
            sku_ids = sorted(set(skus))
            found = await uow.catalog.get_skus(sku_ids)
            missing = [x for x in sku_ids if x not in found]
            if missing:
                raise NotFound(f"SKU {missing[0]} not found", sku_id=missing[0])
            if not bins:
                held = await uow.stock.bins_of(sku_ids)
                places = {b for per in held.values() for b in per} | {UNPLACED}
            s = CountSession(
                id=new_id("cnt"),
                status=SessionStatus.OPEN,
                blind=blind,
                threshold=threshold,
                bins=tuple(sorted(places)),
                skus=tuple(sku_ids),
                note=note.strip(),
                opened_by=actor,
                opened_at=self._now(),
            )
            await uow.counts.add(s)
            uow.record(DomainEvent("count.opened", "count_session", s.id, 1, session_view(s)))
            await uow.commit()
        return await self.get(s.id, viewer=actor)

    # ------------------------------------------------------------------ counting
    async def count(
        self,
        session_id: str,
        bin_ref: str | None,
        sku_id: str,
        counted: int | None,
        *,
        none_found: bool = False,
        actor: str,
    ) -> Row:
        """Record what ``actor`` found of a SKU at a bin (``bin_ref`` None or
        ``unplaced``: its units in no bin). The expected figure is the ledger's now; a
        variance within the threshold is booked at once, a larger one waits for an
        approver. Counting a line again replaces it only while its variance is open."""
        actor = check_actor(actor, "a count")
        qty = check_counted(counted, none_found)
        async with self.uow() as uow:
            s = await self._session(uow, session_id, lock=True)
            s.check_open()
            place = await self._place(uow, bin_ref)
            s.check_place(place, sku_id)
            if await uow.catalog.get_sku(sku_id) is None:
                raise NotFound(f"SKU {sku_id} not found", sku_id=sku_id)
            before = await uow.counts.line(s.id, place, sku_id)
            if before is not None and before.status not in RECOUNTABLE:
                raise Conflict(
                    f"this place was counted already ({before.status}); open a new count "
                    "to count it again",
                    status=before.status.value,
                )
            level = (await uow.stock.lock([sku_id]))[sku_id]
            held = (await uow.stock.bins_of([sku_id])).get(sku_id, {})
            expected = BinStock(sku_id, level.on_hand, held).at(place or None)
            status = line_status(qty - expected, s.threshold)
            line = CountLine(s.id, place, sku_id, expected, qty, status, actor, self._now())
            await uow.counts.save_line(line, new=before is None)
            if line.status is LineStatus.APPLIED:
                await self._book(uow, s, line, actor, "within the count's threshold")
            uow.record(
                DomainEvent(
                    "count.recorded",
                    "count_session",
                    s.id,
                    s.version,
                    {"bin_id": place or None, "sku_id": sku_id, "counted": qty, "by": actor},
                )
            )
            codes = await self._codes(uow, [place])
            await uow.commit()
        return line_view(s, line, codes, actor)

    async def _book(
        self, uow: UnitOfWork, s: CountSession, line: CountLine, actor: str, why: str
    ) -> None:
        level = (await uow.stock.lock([line.sku_id]))[line.sku_id]
        where = (await self._codes(uow, [line.bin_id])).get(line.bin_id, "unplaced")
        note = (
            f"count {s.id} at {where}: {line.counted_by} counted {line.counted}, the ledger "
            f"said {line.expected}; {why}"
        )
        await apply_movements(
            uow, variance_movements(level, line, actor=actor, note=note[:MAX_NOTE], ref=s.id)
        )

    async def _codes(self, uow: UnitOfWork, bin_ids: Sequence[str]) -> dict[str, str]:
        return {b.id: b.code for b in (await uow.bins.get_many(x for x in bin_ids if x)).values()}

    # ------------------------------------------------------------------ deciding
    async def decide(
        self,
        session_id: str,
        bin_ref: str | None,
        sku_id: str,
        *,
        approve: bool,
        actor: str,
        note: str,
    ) -> Row:
        """Approve (book the variance as ``count`` movements with who and why) or reject
        (it must be counted again) a variance over the threshold. The counter may not
        decide their own (``SelfApproval``)."""
        async with self.uow() as uow:
            s = await self._session(uow, session_id, lock=True)
            s.check_open()
            place = await self._place(uow, bin_ref)
            line = await uow.counts.line(s.id, place, sku_id)
            if line is None:
                raise NotFound(
                    "nothing was counted for that SKU at that place in this session",
                    session_id=session_id,
                    sku_id=sku_id,
                )
            actor, note = check_decision(line, actor, note)
            decided = replace(
                line,
                status=LineStatus.APPROVED if approve else LineStatus.REJECTED,
                decided_by=actor,
                decided_at=self._now(),
                decision_note=note,
            )
            if approve:
                await self._book(uow, s, line, actor, f"approved by {actor}: {note}")
            await uow.counts.save_line(decided, new=False)
            uow.record(
                DomainEvent(
                    "count.approved" if approve else "count.rejected",
                    "count_session",
                    s.id,
                    s.version,
                    {
                        "bin_id": place or None,
                        "sku_id": sku_id,
                        "variance": line.variance,
                        "by": actor,
                        "note": note,
                    },
                )
            )
            codes = await self._codes(uow, [place])
            await uow.commit()
        return line_view(s, decided, codes, actor)

    # ------------------------------------------------------------------ closing
    async def close(self, session_id: str, *, actor: str) -> Row:
        """Close the session: refused while a variance is open (pending or rejected) or
        a SKU the ledger has at one of its places has not been counted."""
        actor = check_actor(actor, "closing a count")
        async with self.uow() as uow:
            s = await self._session(uow, session_id, lock=True)
            s.check_open()
            lines = await uow.counts.lines(s.id)
            if not lines:
                raise Conflict("nothing was counted in this session; cancel it instead")
            still = [ln for ln in lines if ln.status in OPEN_VARIANCE]
            if still:
                raise Conflict(
                    f"{len(still)} variance(s) wait for a decision or a recount",
                    skus=sorted({ln.sku_id for ln in still}),
                )
            holding = await self._holding(uow, s)
            todo = uncounted(s, holding, [(ln.bin_id, ln.sku_id) for ln in lines])
            if todo:
                codes = await self._codes(uow, [p for p, _ in todo])
                first = codes.get(todo[0][0], "the unplaced units")
                raise Conflict(
                    f"{len(todo)} place(s) not counted yet, e.g. SKU {todo[0][1]} at {first}; "
                    "count them (or record none found)",
                    uncounted=[{"bin": codes.get(p, "unplaced"), "sku_id": k} for p, k in todo],
                )
            await uow.counts.finish(s, SessionStatus.CLOSED, actor, self._now())
            uow.record(
                DomainEvent("count.closed", "count_session", s.id, s.version + 1, {"by": actor})
            )
            await uow.commit()
        return await self.get(session_id, viewer=actor)

    async def cancel(self, session_id: str, *, actor: str) -> Row:
        """Abandon the session; variances already booked stay booked."""
        actor = check_actor(actor, "cancelling a count")
        async with self.uow() as uow:
            s = await self._session(uow, session_id, lock=True)
            s.check_open()
            await uow.counts.finish(s, SessionStatus.CANCELLED, actor, self._now())
            uow.record(
                DomainEvent("count.cancelled", "count_session", s.id, s.version + 1, {"by": actor})
            )
            await uow.commit()
        return await self.get(session_id, viewer=actor)

    async def _holding(self, uow: UnitOfWork, s: CountSession) -> dict[str, dict[str, int]]:
        """Place → SKU → units the ledger has now at each of the session's places."""
        out = await uow.stock.in_bins(b for b in s.bins if b)
        if UNPLACED in s.bins:
            levels = await uow.stock.levels(s.skus or None)
            held = await uow.stock.bins_of(levels)
            out[UNPLACED] = {
                sku: BinStock(sku, lv.on_hand, held.get(sku, {})).unplaced
                for sku, lv in levels.items()
            }
        return out

    # ------------------------------------------------------------------ reading
    async def get(self, session_id: str, *, viewer: str | None) -> Row:
        """The session with its lines (blind figures hidden from their counters while
        it is open) and, while open, the places still to count (no figures)."""
        async with self.uow(readonly=True) as uow:
            s = await self._session(uow, session_id)
            lines = await uow.counts.lines(s.id)
            todo = (
                uncounted(s, await self._holding(uow, s), [(x.bin_id, x.sku_id) for x in lines])
                if s.status is SessionStatus.OPEN
                else []
            )
            codes = await self._codes(uow, [*s.bins, *(p for p, _ in todo)])
            skus = await uow.catalog.get_skus({x.sku_id for x in lines} | {k for _, k in todo})
        out = session_view(s)
        out["bins"] = [codes.get(b, "(unplaced)") if b else "(unplaced)" for b in s.bins]
        out["lines"] = []
        for ln in lines:
            row = line_view(s, ln, codes, viewer)
            row["sku_code"] = skus[ln.sku_id].code if ln.sku_id in skus else ln.sku_id
            out["lines"].append(row)
        out["to_count"] = [
            {
                "bin": codes.get(p, "(unplaced)") if p else "(unplaced)",
                "sku_id": k,
                "sku_code": skus[k].code if k in skus else k,
            }
            for p, k in todo
        ]
        return out

    async def list_sessions(self, status: str | None = None) -> list[Row]:
        if status is not None and status not in {x.value for x in SessionStatus}:
            raise InvalidInput(f"unknown count status {status!r}")
        async with self.uow(readonly=True) as uow:
            found = await uow.counts.list_sessions(SessionStatus(status) if status else None)
        return [session_view(s) for s in found]


def render_count_csv(report: Row) -> str:
    """A session's lines as CSV (hidden figures stay empty)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [
        "bin",
        "sku_code",
        "sku_id",
        "expected",
        "counted",
        "variance",
        "status",
        "counted_by",
        "counted_at",
        "decided_by",
        "decision_note",
    ]
    w.writerow(cols)
    for ln in report["lines"]:
        w.writerow([ln.get(k, "") if ln.get(k) is not None else "" for k in cols])
    return buf.getvalue()


def render_count_html(report: Row) -> str:
    return render("count_report.html", report=report)
