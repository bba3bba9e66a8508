"""Buyer-reported problems: a buyer reports a problem with lines of a delivered order
(from the signed link in the delivered message, or through the creator's site with a
buyer token), with a reason from the taxonomy, a note and photos; the ops lead approves
the report, which becomes an ordinary return (``services.aftersales.returns``) in the
same transaction, or declines it with a message the buyer receives.

A report is checked as the return it would become before it is stored (the order is
returnable, the window is open, the units are still returnable), so an approval only
fails when something changed since. Approving a report whose reason is a defect records
its units in ``defects``, traced to lot, run and manufacturer, which is what the
quality loop (``services.supply.quality``) counts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dropline.domain.aftersales.problems import (
    MAX_DECLINE_MESSAGE,
    ProblemReason,
    ProblemStatus,
    check_problem_transition,
    check_report,
    photo_extension,
    reason,
    taxonomy_view,
)
from dropline.domain.aftersales.returns import ReturnLineRequest
from dropline.domain.errors import Forbidden, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import MessageKind
from dropline.domain.ids import new_id
from dropline.domain.supply.qc import LotStatus
from dropline.services.aftersales.problem_links import ProblemLinks
from dropline.services.aftersales.returns import ReturnService
from dropline.services.fulfilment.messages import MessageService
from dropline.services.ports import BlobStore, Clock
from dropline.services.supply.quality import QualityService
from dropline.store.blobs import LocalBlobs
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory


@dataclass(frozen=True)
class PhotoUpload:
    data: bytes
    content_type: str
    filename: str = ""


@dataclass(frozen=True)
class ReportedLine:
    line_no: int
    quantity: int


def problem_view(p: Mapping[str, Any]) -> dict[str, Any]:
    """The API's shape of a report (photo paths stay on the server)."""
    return {
        "id": p["id"],
        "order_id": p["order_id"],
        "drop_id": p["drop_id"],
        "buyer_id": p["buyer_id"],
        "status": p["status"],
        "reason": p["reason_code"],
        "lines": p["lines"],
        "note": p["note"],
        "photos": [
            {k: ph[k] for k in ("id", "content_type", "size", "filename")} for ph in p["photos"]
        ],
        "via": p["via"],
        "return_id": p["return_id"],
        "decision_message": p["decision_message"],
        "decided_by": p["decided_by"],
        "created_at": p["created_at"],
        "decided_at": p["decided_at"],
    }


class ProblemService:
    def __init__(
        self,
        uow: UowFactory,
        returns: ReturnService,
        messages: MessageService,
        links: ProblemLinks,
        clock: Clock,
        data_dir: str,
        quality: QualityService | None = None,
        blobs: BlobStore | None = None,
    ) -> None:
        self.uow = uow
        self.returns = returns
        self.messages = messages
        self.links = links
        self.clock = clock
        # photos: under the data directory, or the configured bucket
        self.blobs: BlobStore = blobs or LocalBlobs(data_dir)
        self._data_dir = Path(data_dir)
        self.quality = quality

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @data_dir.setter
    def data_dir(self, value: str | Path) -> None:
        """Move the local photo store (tests put it in a temporary directory)."""
        self._data_dir = Path(value)
        if isinstance(self.blobs, LocalBlobs):
            self.blobs = LocalBlobs(self._data_dir)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    @staticmethod
    def taxonomy() -> list[dict[str, object]]:
        return taxonomy_view()

    def link_for(self, order: OrderRecord, ship: Mapping[str, Any]) -> str:
        """The signed report link of a delivered order, valid until its window closes."""
        deadline = self.returns.deadline(ship) or self._now()
        return self.links.link(order.id, order.buyer_id, deadline)

    # ------------------------------------------------------------------ reporting
    async def report_via_link(
        self,
        token: str,
        lines: Sequence[ReportedLine],
        reason_code: str,
        note: str,
        photos: Sequence[PhotoUpload],
    ) -> dict[str, Any]:
        """A report from the signed link: ``InvalidToken`` for a bad or expired token."""
        order_id, buyer_id = self.links.verify(token)
        return await self.report(order_id, buyer_id, lines, reason_code, note, photos, via="link")

    async def link_order(self, token: str) -> dict[str, Any]:
        """What the link's form shows: the order's lines and the taxonomy."""
        order_id, buyer_id = self.links.verify(token)
        async with self.uow(readonly=True) as uow:
            order = await self._buyers_order(uow, order_id, buyer_id)
        return {
            "order_id": order.id,
            "order_number": order.number,
            "lines": [
                {"line_no": ln.line_no, "quantity": ln.quantity, "description": ln.description}
                for ln in order.lines
            ],
            "reasons": self.taxonomy(),
        }

    async def _buyers_order(self, uow: UnitOfWork, order_id: str, buyer_id: str) -> OrderRecord:
        order = await uow.orders.get_order(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        if order.buyer_id != buyer_id:
            raise Forbidden("the order belongs to another buyer")
        return order

    async def report(
        self,
        order_id: str,
        buyer_id: str,
        lines: Sequence[ReportedLine],
        reason_code: str,
        note: str,
        photos: Sequence[PhotoUpload],
        *,
        via: str = "api",
    ) -> dict[str, Any]:
        """Store a buyer's report. Refused, with nothing stored: an unknown reason, no
        line, a photo that is not a JPEG/PNG/WebP image or is too large, a reason that
        needs photos without one (``InvalidInput``); another buyer's order
        (``Forbidden``); an order that is not returnable, past its window or without
        those units left (``ReturnNotAllowed``/``InvalidInput``, as a return)."""
        entry = reason(reason_code)
        check_report(entry, len(photos), note, len(lines))
        exts = [photo_extension(p.data, p.content_type) for p in photos]
        problem_id = new_id("prb")
        written: list[str] = []
        try:
            return await self._record(
                order_id, buyer_id, lines, entry, note, photos, exts, via, problem_id, written
            )
        except BaseException:
            # The report did not commit: its photos go too, so no file is left that no
            # report points at.
            for key in written:
                with contextlib.suppress(Exception):
                    await self.blobs.delete(key)
            raise

    async def _record(
        self,
        order_id: str,
        buyer_id: str,
        lines: Sequence[ReportedLine],
        entry: ProblemReason,
        note: str,
        photos: Sequence[PhotoUpload],
        exts: Sequence[str],
        via: str,
        problem_id: str,
        written: list[str],
    ) -> dict[str, Any]:
        now = self._now()
        async with self.uow() as uow:
            order = await self._buyers_order(uow, order_id, buyer_id)
            requests = [
                ReturnLineRequest(ln.line_no, ln.quantity, entry.return_reason) for ln in lines
            ]
            planned, _ = await self.returns.plan(uow, order, requests)
            stored = []
            for photo, ext in zip(photos, exts, strict=True):
                photo_id = new_id("pho")
                key = f"problems/{problem_id}/{photo_id}{ext}"
                content_type = photo.content_type.split(";")[0].strip().lower()
                # Written before the report commits, so a report never lacks its photo;
                # if the commit fails, report() deletes what was written.
                written.append(key)
                await self.blobs.put(key, photo.data, content_type)
                stored.append(
                    {
                        "id": photo_id,
                        "path": key,
                        "content_type": content_type,
                        "size": len(photo.data),
                        "filename": Path(photo.filename).name[:200] or f"{photo_id}{ext}",
                    }
                )
            values = {
                "id": problem_id,
                "order_id": order.id,
                "drop_id": order.drop_id,
                "buyer_id": order.buyer_id,
                "status": ProblemStatus.OPEN.value,
                "reason_code": entry.code,
                "lines": [
                    {"line_no": p.line_no, "quantity": p.quantity, "units": dict(p.units)}
                    for p in planned
                ],
                "note": note,
                "photos": stored,
                "via": via,
                "return_id": None,
                "decision_message": "",
                "decided_by": "",
                "created_at": now,
                "decided_at": None,
                "updated_at": now,
                "version": 1,
            }
            await uow.problems.add(values)
            uow.record(DomainEvent("problem.reported", "problem", problem_id, 1, _payload(values)))
            await uow.commit()
        return values

    # ------------------------------------------------------------------ reading
    async def get(self, problem_id: str) -> dict[str, Any]:
        async with self.uow(readonly=True) as uow:
            got = await uow.problems.get(problem_id)
        if got is None:
            raise NotFound(f"problem report {problem_id} not found", problem_id=problem_id)
        return got

    async def list(
        self, *, status: str | None = None, drop_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if status is not None and status not in {s.value for s in ProblemStatus}:
            allowed = ", ".join(s.value for s in ProblemStatus)
            raise InvalidInput(f"unknown problem status {status!r}; one of {allowed}")
        async with self.uow(readonly=True) as uow:
            return await uow.problems.find(status=status, drop_id=drop_id, limit=limit)

    async def photo(self, problem_id: str, photo_id: str) -> tuple[bytes, str]:
        """A report's photo: its bytes and type, from wherever photos are stored."""
        p = await self.get(problem_id)
        for ph in p["photos"]:
            if ph["id"] == photo_id:
                return await self.blobs.get(str(ph["path"])), str(ph["content_type"])
        raise NotFound(f"photo {photo_id} not found", photo_id=photo_id)

    # ------------------------------------------------------------------ deciding
    async def approve(self, problem_id: str, *, by: str = "") -> dict[str, Any]:
        """The report becomes a return (``requested``, priced as any return) in one
        transaction; a defect's units are traced to their lots, and a lot whose defect
        rate now passes its threshold opens a quality alert (``QualityService.evaluate``)
        in that transaction too. A report decided already is refused
        (``InvalidTransition``)."""
        now = self._now()
        async with self.uow() as uow:
            p = await uow.problems.get(problem_id, lock=True)
            if p is None:
                raise NotFound(f"problem report {problem_id} not found", problem_id=problem_id)
            check_problem_transition(ProblemStatus(p["status"]), ProblemStatus.APPROVED)
            entry = reason(p["reason_code"])
            ret = await self.returns.request_in(
                uow,
                p["order_id"],
                [
                    ReturnLineRequest(
                        int(ln["line_no"]), int(ln["quantity"]), entry.return_reason, entry.code
                    )
                    for ln in p["lines"]
                ],
                note=f"problem {p['id']}: {p['note']}"[:500],
                by=by,
            )
            if entry.is_defect:
                rows = await self._record_defects(uow, p, now)
                if self.quality is not None:
                    await self.quality.evaluate(uow, [r["lot_id"] for r in rows], by or "ops")
            p = await uow.problems.update(
                p,
                status=ProblemStatus.APPROVED.value,
                return_id=ret.id,
                decided_by=by[:120],
                decided_at=now,
            )
            uow.record(
                DomainEvent("problem.approved", "problem", p["id"], p["version"], _payload(p))
            )
            await uow.commit()
        return p

    async def decline(self, problem_id: str, message: str, *, by: str = "") -> dict[str, Any]:
        """Decline with a message the buyer receives (1 to 1000 characters)."""
        message = message.strip()
        if not message or len(message) > MAX_DECLINE_MESSAGE:
            raise InvalidInput(
                f"a decline needs a message of 1 to {MAX_DECLINE_MESSAGE} characters",
                field="message",
            )
        now = self._now()
        async with self.uow() as uow:
            p = await uow.problems.get(problem_id, lock=True)
            if p is None:
                raise NotFound(f"problem report {problem_id} not found", problem_id=problem_id)
            check_problem_transition(ProblemStatus(p["status"]), ProblemStatus.DECLINED)
            order = await uow.orders.get_order(p["order_id"])
            assert order is not None
            p = await uow.problems.update(
                p,
                status=ProblemStatus.DECLINED.value,
                decision_message=message,
                decided_by=by[:120],
                decided_at=now,
            )
            event_id = new_id("evt")
            uow.record(
                DomainEvent(
                    "problem.declined", "problem", p["id"], p["version"], _payload(p), id=event_id
                )
            )
            await self.messages.queue(
                uow, MessageKind.PROBLEM_DECLINED, order, event_id, reason=message
            )
            await uow.commit()
        return p

    async def _record_defects(
        self, uow: UnitOfWork, p: Mapping[str, Any], now: datetime
    ) -> Sequence[Mapping[str, Any]]:
        """Trace each defective unit to the lot it came from: the order's lot
        allocations (pre-orders) first; otherwise the newest passed lot of that SKU
        received before the order; otherwise untraced (``lot_id`` NULL)."""
        order = await uow.orders.get_order(p["order_id"])
        assert order is not None
        allocated: dict[str, list[tuple[str, int]]] = {}
        for a in await uow.production.allocations(order_id=order.id):
            allocated.setdefault(a["sku_id"], []).append((a["lot_id"], int(a["quantity"])))
        lots = await uow.production.lots()
        runs: dict[str, dict[str, Any] | None] = {}
        rows = []
        units: dict[str, int] = {}
        for ln in p["lines"]:
            for sku, q in ln["units"].items():
                units[sku] = units.get(sku, 0) + int(q)
        for sku, qty in sorted(units.items()):
            parts = _spread(qty, allocated.get(sku, []))
            if not parts:
                passed = [
                    lot
                    for lot in lots
                    if lot["sku_id"] == sku
                    and lot["status"] == LotStatus.PASSED.value
                    and lot["received_at"] <= order.created_at
                ]
                parts = [(passed[-1]["id"] if passed else None, qty)]
            for lot_id, q in parts:
                run_id = mfr = None
                if lot_id is not None:
                    lot = next(lot for lot in lots if lot["id"] == lot_id)
                    run_id = lot["run_id"]
                    if run_id not in runs:
                        runs[run_id] = await uow.production.run(run_id)
                    run = runs[run_id]
                    mfr = run["manufacturer_id"] if run else None
                rows.append(
                    {
                        "id": new_id("dfc"),
                        "problem_id": p["id"],
                        "order_id": order.id,
                        "drop_id": order.drop_id,
                        "sku_id": sku,
                        "lot_id": lot_id,
                        "run_id": run_id,
                        "manufacturer_id": mfr,
                        "reason_code": p["reason_code"],
                        "quantity": q,
                        "photo_count": len(p["photos"]),
                        "created_at": now,
                    }
                )
        await uow.problems.add_defects(rows)
        return rows


def _spread(qty: int, allocations: Sequence[tuple[str, int]]) -> list[tuple[str | None, int]]:
    """``qty`` units over the lots that supplied them, in allocation order (units beyond
    what was allocated stay on the last lot)."""
    out: list[tuple[str | None, int]] = []
    left = qty
    for i, (lot_id, q) in enumerate(allocations):
        take = left if i == len(allocations) - 1 else min(left, q)
        if take > 0:
            out.append((lot_id, take))
            left -= take
    return out


def _payload(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": p["id"],
        "order_id": p["order_id"],
        "drop_id": p["drop_id"],
        "status": p["status"],
        "reason": p["reason_code"],
        "return_id": p["return_id"],
    }
