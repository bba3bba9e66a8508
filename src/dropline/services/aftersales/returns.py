"""Returns and refunds of shipped orders.

``request`` authorises a return (an RMA) against the order's lines and prices its
refund; ``receive`` records the parcel's arrival: each line's units come back into the
building (``return`` movements into ``available``, ``quality_control`` or ``damaged``,
by disposition) and the refund follows. A refund is three steps, like every payment
here: the return is marked ``received`` in one transaction, the provider is called with
the stable idempotency key ``<return id>:refund``, and the refund is recorded on the
return and the order (``refunded_amount``; status ``refunded`` once everything is
refunded) with the buyer's message, in one transaction. A crash or a provider failure
between the steps leaves the return ``received`` with ``refund_error`` set;
``finish_refunds`` (a background job) completes it, and the key makes sure the money
moves once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.aftersales.returns import (
    DEFAULT_WINDOW_DAYS,
    DISPOSITION_BUCKET,
    MAX_NOTE,
    OPEN_OR_DONE,
    Disposition,
    OrderedLine,
    PlannedLine,
    ReturnLineRequest,
    ReturnReason,
    ReturnStatus,
    check_return_transition,
    plan_return,
    receipt_buckets,
    return_deadline,
)
from dropline.domain.errors import (
    DroplineError,
    InvalidInput,
    NotFound,
)
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import MessageKind
from dropline.domain.ids import new_id
from dropline.domain.live.orders import OrderStatus, check_order_transition
from dropline.domain.money import Money
from dropline.domain.stock.buckets import Movement, Reason
from dropline.services.fulfilment.messages import MessageService
from dropline.services.platform.metrics import metrics
from dropline.services.ports import Clock, PaymentProvider
from dropline.store.aftersales.repo import ReturnRecord
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

RETRY_AFTER_S = 60


def return_view(r: ReturnRecord) -> dict[str, Any]:
    """The API's and the report's shape of a return."""
    return {
        "id": r.id,
        "order_id": r.order_id,
        "drop_id": r.drop_id,
        "buyer_id": r.buyer_id,
        "status": r.status,
        "lines": r.lines,
        "note": r.note,
        "refund": {"amount": r.refund_amount, "currency": r.currency},
        "refund_error": r.refund_error,
        "requested_by": r.requested_by,
        "received_by": r.received_by,
        "created_at": r.created_at,
        "received_at": r.received_at,
        "refunded_at": r.refunded_at,
    }


class ReturnService:
    def __init__(
        self,
        uow: UowFactory,
        provider: PaymentProvider,
        clock: Clock,
        messages: MessageService,
        window_days: int = DEFAULT_WINDOW_DAYS,
    ) -> None:
        self.uow = uow
        self.provider = provider
        self.clock = clock
        self.messages = messages
        self.window_days = window_days

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ reading
    async def get(self, return_id: str) -> ReturnRecord:
        async with self.uow(readonly=True) as uow:
            r = await uow.returns.get(return_id)
        if r is None:
            raise NotFound(f"return {return_id} not found", return_id=return_id)
        return r

    async def list_returns(
        self,
        *,
        drop_id: str | None = None,
        order_id: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[ReturnRecord]:
        """Returns oldest first (paged with ``after``), or the ``limit`` newest, newest
        first. 400 ``invalid_input`` for a status that does not exist."""
        if status is not None and status not in {s.value for s in ReturnStatus}:
            allowed = ", ".join(s.value for s in ReturnStatus)
            raise InvalidInput(f"unknown return status {status!r}; one of {allowed}")
        async with self.uow(readonly=True) as uow:
            return await uow.returns.find(
                drop_id=drop_id,
                order_id=order_id,
                status=status,
                after=after,
                limit=limit,
                newest_first=newest_first,
            )

    # ------------------------------------------------------------------ authorising
    async def _ordered_lines(self, uow: UnitOfWork, order: OrderRecord) -> list[OrderedLine]:
        bundle_ids = sorted({ln.ref_id for ln in order.lines if ln.kind == "bundle"})
        bundles = await uow.catalog.get_bundles(bundle_ids) if bundle_ids else {}
        out = []
        for ln in order.lines:
            if ln.kind == "bundle":
                b = bundles.get(ln.ref_id)
                units = {c.sku_id: c.quantity for c in b.components} if b else {}
            else:
                units = {ln.ref_id: 1}
            out.append(OrderedLine(ln.line_no, ln.quantity, ln.line_amount, units))
        return out

    async def request(
        self,
        order_id: str,
        lines: Sequence[ReturnLineRequest],
        *,
        note: str = "",
        by: str = "",
    ) -> ReturnRecord:
        """Authorise a return of some units of a shipped order and price its refund.

        Raises ``NotFound``, ``ReturnNotAllowed`` (not shipped, window closed, nothing
        left to refund) or ``InvalidInput`` (unknown line, too many units). The order's
        version is bumped in the same transaction, so two concurrent requests for one
        order cannot both count the same units as still returnable."""
        async with self.uow() as uow:
            record = await self.request_in(uow, order_id, lines, note=note, by=by)
            await uow.commit()
        return record

    async def plan(
        self, uow: UnitOfWork, order: OrderRecord, lines: Sequence[ReturnLineRequest]
    ) -> tuple[list[PlannedLine], list[ReturnRecord]]:
        """Check a return of ``lines`` against ``order`` inside the caller's transaction
        (the checks ``request`` makes), without writing: the planned lines and the
        order's earlier open or done returns. A buyer's problem report is checked this
        way before it is stored, so a report that could never become a return is
        refused at once."""
        now = self._now()
        ship = await uow.shipments.for_order(order.id) or {}
        earlier = [
            r
            for r in await uow.returns.for_order(order.id)
            if ReturnStatus(r.status) in OPEN_OR_DONE
        ]
        already: dict[int, int] = defaultdict(int)
        for r in earlier:
            for ln in r.lines:
                already[int(ln["line_no"])] += int(ln["quantity"])
        pending = sum(r.refund_amount for r in earlier if r.status != ReturnStatus.REFUNDED)
        planned = plan_return(
            order.status,
            await self._ordered_lines(uow, order),
            already,
            lines,
            now=now,
            deadline=self.deadline(ship),
            refundable_left=order.total_amount - order.refunded_amount - pending,
        )
        await self._check_shipped_units(uow, order.id, earlier, planned)
        return planned, earlier

    def deadline(self, ship: Mapping[str, Any]) -> datetime | None:
        """The end of an order's return window, from its shipment row."""
        return return_deadline(ship.get("shipped_at"), ship.get("delivered_at"), self.window_days)

    async def request_in(
        self,
        uow: UnitOfWork,
        order_id: str,
        lines: Sequence[ReturnLineRequest],
        *,
        note: str = "",
        by: str = "",
    ) -> ReturnRecord:
        """``request`` inside the caller's transaction (the caller commits): an approved
        problem report and its return are written together."""
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"a note is at most {MAX_NOTE} characters", field="note")
        now = self._now()
        order = await uow.orders.get_order(order_id)
        if order is None:
            raise NotFound(f"order {order_id} not found", order_id=order_id)
        planned, _ = await self.plan(uow, order, lines)
        record = ReturnRecord(
            id=new_id("ret"),
            order_id=order.id,
            drop_id=order.drop_id,
            buyer_id=order.buyer_id,
            status=ReturnStatus.REQUESTED.value,
            lines=[
                {**asdict(p), "reason": p.reason.value, "units": dict(p.units)} for p in planned
            ],
            note=note,
            currency=order.currency,
            refund_amount=sum(p.amount for p in planned),
            refund_error="",
            requested_by=by[:120],
            received_by="",
            created_at=now,
            received_at=None,
            refunded_at=None,
            updated_at=now,
            version=1,
        )
        await uow.returns.add(record)
        # Serialise returns of one order (a compare-and-set on its version).
        await uow.orders.set_order_status(order, order.status, order.status_reason)
        uow.record(DomainEvent("return.requested", "return", record.id, 1, _payload(record)))
        return record

    async def _check_shipped_units(
        self,
        uow: UnitOfWork,
        order_id: str,
        earlier: Sequence[ReturnRecord],
        planned: Sequence[Any],
    ) -> None:
        """No SKU comes back more often than the ledger says it left for this order (a
        bundle's components are read from the catalog, which may have changed since)."""
        shipped: dict[str, int] = defaultdict(int)
        for _, _, mv in await uow.stock.movements(ref=order_id, limit=10_000):
            if mv.reason is Reason.SHIPMENT:
                shipped[mv.sku_id] += mv.quantity
        coming: dict[str, int] = defaultdict(int)
        for r in earlier:
            for ln in r.lines:
                for sku, q in ln["units"].items():
                    coming[sku] += int(q)
        for p in planned:
            for sku, q in p.units.items():
                coming[sku] += q
        over = sorted(s for s, q in coming.items() if q > shipped.get(s, 0))
        if over:
            raise InvalidInput(
                f"more units of {over[0]} would come back than were shipped for this order",
                field="lines",
                skus=over,
            )

    # ------------------------------------------------------------------ receiving
    async def receive(
        self,
        return_id: str,
        dispositions: Mapping[int, Disposition] | None = None,
        *,
        by: str = "",
        refund: bool = True,
    ) -> ReturnRecord:
        """The parcel arrived: its units go where each line's disposition says (the
        reason's default where none is given), then the refund is made.

        Receiving twice is harmless: a received return only has its refund finished.
        With ``refund=False`` the refund is left to ``refund`` (e.g. after a manual
        check)."""
        now = self._now()
        async with self.uow() as uow:
            r = await uow.returns.get(return_id, lock=True)
            if r is None:
                raise NotFound(f"return {return_id} not found", return_id=return_id)
            if ReturnStatus(r.status) not in (ReturnStatus.RECEIVED, ReturnStatus.REFUNDED):
                r = await self._receive(uow, r, dispositions or {}, by, now)
                await uow.commit()
        return await self._finish_refund(return_id) if refund else r

    async def _receive(
        self,
        uow: UnitOfWork,
        r: ReturnRecord,
        dispositions: Mapping[int, Disposition],
        by: str,
        now: datetime,
    ) -> ReturnRecord:
        check_return_transition(ReturnStatus(r.status), ReturnStatus.RECEIVED)
        chosen = receipt_buckets(
            {int(ln["line_no"]): ReturnReason(ln["reason"]) for ln in r.lines}, dispositions
        )
        movements = []
        lines = []
        for ln in r.lines:
            d = chosen[int(ln["line_no"])]
            lines.append({**ln, "disposition": d.value})
            movements += [
                Movement(
                    sku,
                    int(q),
                    None,
                    DISPOSITION_BUCKET[d],
                    Reason.RETURN,
                    r.id,
                    by[:120],
                    f"{ln['reason']}: {d.value}",
                )
                for sku, q in sorted(ln["units"].items())
            ]
        await uow.stock.apply(sorted(movements, key=lambda m: m.sku_id))
        r = await uow.returns.update(
            r,
            status=ReturnStatus.RECEIVED.value,
            lines=lines,
            received_at=now,
            received_by=by[:120],
        )
        uow.record(DomainEvent("return.received", "return", r.id, r.version, _payload(r)))
        return r

    async def refund(self, return_id: str) -> ReturnRecord:
        """Refund a received return now, e.g. one received with ``refund=False`` or whose
        refund failed (idempotent; a refunded one is returned as is)."""
        r = await self.get(return_id)
        if r.status not in (ReturnStatus.RECEIVED, ReturnStatus.REFUNDED):
            check_return_transition(ReturnStatus(r.status), ReturnStatus.REFUNDED)
        return await self._finish_refund(return_id)

    async def cancel(self, return_id: str, *, reason: str = "", by: str = "") -> ReturnRecord:
        """The parcel never came: the authorisation lapses and its units can be
        returned again."""
        if len(reason) > MAX_NOTE:
            raise InvalidInput(f"a reason is at most {MAX_NOTE} characters", field="reason")
        async with self.uow() as uow:
            r = await uow.returns.get(return_id, lock=True)
            if r is None:
                raise NotFound(f"return {return_id} not found", return_id=return_id)
            check_return_transition(ReturnStatus(r.status), ReturnStatus.CANCELLED)
            note = f"{r.note}\ncancelled by {by or 'ops'}: {reason}".strip()
            r = await uow.returns.update(r, status=ReturnStatus.CANCELLED.value, note=note)
            uow.record(DomainEvent("return.cancelled", "return", r.id, r.version, _payload(r)))
            await uow.commit()
        return r

    # ------------------------------------------------------------------ refunding
    async def _finish_refund(self, return_id: str) -> ReturnRecord:
        async with self.uow(readonly=True) as uow:
            r = await uow.returns.get(return_id)
            order = await uow.orders.get_order(r.order_id) if r else None
        assert r is not None and order is not None
        if r.status != ReturnStatus.RECEIVED:
            return r
        if r.refund_amount > 0:
            try:
                await self.provider.refund(
                    order.payment_id, idempotency_key=f"{r.id}:refund", amount=r.refund_amount
                )
                metrics().refunds.labels("return").inc()
            except DroplineError as exc:
                log.warning("refund of return %s failed: %s", r.id, exc)
                async with self.uow() as uow:
                    fresh = await uow.returns.get(return_id, lock=True)
                    if fresh is not None and fresh.status == ReturnStatus.RECEIVED:
                        r = await uow.returns.update(fresh, refund_error=str(exc)[:500])
                    await uow.commit()
                return r
        async with self.uow() as uow:
            fresh = await uow.returns.get(return_id, lock=True)
            order = await uow.orders.get_order(r.order_id)
            assert fresh is not None and order is not None
            if fresh.status != ReturnStatus.RECEIVED:
                await uow.rollback()
                return fresh
            r = await self._record_refund(uow, fresh, order)
            await uow.commit()
        return r

    async def _record_refund(
        self, uow: UnitOfWork, r: ReturnRecord, order: OrderRecord
    ) -> ReturnRecord:
        refunded = order.refunded_amount + r.refund_amount
        status = order.status
        if refunded >= order.total_amount and status is not OrderStatus.REFUNDED:
            check_order_transition(status, OrderStatus.REFUNDED)
            status = OrderStatus.REFUNDED
        reason = f"return {r.id}" if status is OrderStatus.REFUNDED else order.status_reason
        await uow.orders.set_order_status(order, status, reason, refunded_amount=refunded)
        r = await uow.returns.update(
            r, status=ReturnStatus.REFUNDED.value, refunded_at=self._now(), refund_error=""
        )
        event_id = new_id("evt")
        payload = _payload(r) | {"order_refunded_amount": refunded, "order_status": status.value}
        uow.record(DomainEvent("return.refunded", "return", r.id, r.version, payload, id=event_id))
        moved = await uow.orders.get_order(order.id)
        assert moved is not None
        await self.messages.queue(
            uow,
            MessageKind.REFUNDED,
            moved,
            event_id,
            refund_amount=Money(r.refund_amount, r.currency).format(),
        )
        return r

    async def finish_refunds(self) -> list[str]:
        """Complete every received return whose refund was not recorded (a crash or a
        provider failure after receipt). Idempotent: the provider's key is per return.

        A return is left alone for ``RETRY_AFTER_S`` after its last change: one just
        received is being refunded by the request that received it, and a refund the
        provider refused is not hammered every few seconds."""
        settled = self._now() - timedelta(seconds=RETRY_AFTER_S)
        async with self.uow(readonly=True) as uow:
            due = await uow.returns.find(status=ReturnStatus.RECEIVED.value, limit=500)
        done = []
        for r in due:
            if r.updated_at > settled:
                continue
            after = await self._finish_refund(r.id)
            if after.status == ReturnStatus.REFUNDED:
                done.append(r.id)
        return done


def _payload(r: ReturnRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "order_id": r.order_id,
        "drop_id": r.drop_id,
        "status": r.status,
        "lines": [
            {
                "line_no": ln["line_no"],
                "quantity": ln["quantity"],
                "reason": ln["reason"],
                "disposition": ln.get("disposition"),
                "units": ln["units"],
            }
            for ln in r.lines
        ],
        "refund": {"amount": r.refund_amount, "currency": r.currency},
    }
