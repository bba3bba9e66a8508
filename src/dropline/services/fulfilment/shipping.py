"""After the stream: ship-to, the warehouse hand-off, tracking back, pick lists, SLA.

- When an order is paid (inside the checkout's transaction) its ship-to gets a ship-by
  deadline, the ``order.ready_to_fulfill`` event is recorded with everything a WMS needs
  (lines expanded to SKUs with bin locations, ship-to, service level, ship-by) and the
  buyer's confirmation message is queued.
- When a webhook endpoint acknowledges ``order.ready_to_fulfill`` with a 2xx, the order
  becomes ``handed_off`` in the transaction that records the delivery.
- Warehouse updates (signed webhooks or a CSV of tracking numbers) move the order along
  its state machine; each is applied once per sender event id, and every status change
  records its event and its buyer message in the same transaction.
- A pre-order shipped by the warehouse ships exactly as the ops route ships it
  (``PreorderShipping``, the pre-order lifecycle's two steps): its authorised payment is
  captured before the transaction, and in it the pre-order becomes ``shipped``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from dropline.domain.errors import DroplineError, InvalidInput, NotFound
from dropline.domain.events import DomainEvent
from dropline.domain.fulfilment.rules import (
    UNSHIPPED,
    FulfilmentUpdate,
    MessageKind,
    ShipTo,
    SlaPolicy,
    parse_update,
    plan_update,
)
from dropline.domain.ids import new_id
from dropline.domain.inputs import check_text
from dropline.domain.live.orders import OrderStatus
from dropline.services.fulfilment.handoff import READY, ready_event, shipment_view
from dropline.services.fulfilment.messages import (
    MessageService,
)
from dropline.services.fulfilment.pick_lists import KnownRows, pick_lines, test_flag
from dropline.services.fulfilment.tracking_csv import TRACKING_COLUMNS, ImportReport, read_csv
from dropline.services.fulfilment.webhooks import WebhookService
from dropline.services.ports import Clock
from dropline.services.serialize import rfc3339
from dropline.services.stock.ledger import ship_order_units
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

Row = dict[str, Any]
MAX_TEXT = 500


class PreorderShipping(Protocol):
    """What shipping an order needs from the pre-order side (the pre-order lifecycle
    implements it; ``bootstrap`` wires it). Both steps do nothing for an order that is
    not a pre-order, or one shipped already."""

    async def before_shipping(self, order_id: str) -> None:
        """Before the transaction: capture an authorised payment; ``Conflict`` while the
        pre-order still waits for its units."""
        ...

    async def shipped(self, uow: UnitOfWork, order_id: str) -> None:
        """Inside the transaction that ships the order: the pre-order is shipped."""
        ...


@dataclass(frozen=True)
class UpdateDetails:
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    reason: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class UpdateResult:
    order_id: str
    status: str
    applied: bool  # False: this event id was applied before (nothing changed)


_STATUS_EVENT = {
    OrderStatus.HANDED_OFF: "order.handed_off",
    OrderStatus.SHIPPED: "order.shipped",
    OrderStatus.DELIVERED: "order.delivered",
    OrderStatus.EXCEPTION: "order.delivery_exception",
}
_STATUS_MESSAGE = {
    OrderStatus.HANDED_OFF: MessageKind.PREPARING,
    OrderStatus.SHIPPED: MessageKind.SHIPPED,
    OrderStatus.DELIVERED: MessageKind.DELIVERED,
    OrderStatus.EXCEPTION: MessageKind.DELAYED,
}


def ship_to_values(ship: ShipTo) -> dict[str, str]:
    return ship.validated().as_dict()


class FulfilmentService:
    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        messages: MessageService,
        webhooks: WebhookService,
        sla: SlaPolicy | None = None,
        preorders: PreorderShipping | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.messages = messages
        self.webhooks = webhooks
        self.sla = sla or SlaPolicy()
        self.preorders = preorders
        webhooks.on_delivered.append(self._on_delivered)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ checkout hooks
    async def save_ship_to(self, uow: UnitOfWork, checkout_id: str, ship: ShipTo) -> None:
        """Store the ship-to given at checkout (inside the checkout's transaction)."""
        await uow.shipments.add(checkout_id, ship_to_values(ship))

    async def order_paid(
        self,
        uow: UnitOfWork,
        order: OrderRecord,
        ready: bool = True,
        *,
        known: KnownRows | None = None,
    ) -> None:
        """Inside the transaction that creates a paid order: attach its ship-to, set its
        ship-by, queue the confirmation message and, when every unit is on hand
        (``ready``), record ``order.ready_to_fulfill``. A pre-order waiting for its
        production run is handed off by ``ready_to_fulfill`` (``known``: see there)."""
        ship_by = self.sla.ship_by(order.paid_at)
        ship = await uow.shipments.attach_order(order.checkout_id, order.id, ship_by)
        if not ready:
            await self.messages.queue(
                uow, MessageKind.ORDER_CONFIRMED, order, new_id("evt"), ship=ship
            )
            return
        await self.ready_to_fulfill(uow, order, confirm=True, ship=ship, known=known)

    async def ready_to_fulfill(
        self,
        uow: UnitOfWork,
        order: OrderRecord,
        *,
        confirm: bool = False,
        ship: Row | None = None,
        known: KnownRows | None = None,
    ) -> None:
        """Record ``order.ready_to_fulfill`` for the warehouse (with the lines, bins,
        ship-to and ship-by); ``confirm`` also queues the buyer's confirmation.
        ``ship`` is the order's shipment row when the caller has it already; ``known``
        the drop, SKU and bundle rows (checkout's catalog snapshot, which priced the
        lines), which are then not read again."""
        if ship is None:
            ship = await uow.shipments.for_order(order.id)
        lines = await pick_lines(uow, [order], known)
        event_id = new_id("evt")
        flag = await test_flag(uow, order.drop_id, known.drop if known else None)
        uow.record(ready_event(order, ship, lines, flag, event_id))
        if confirm:
            await self.messages.queue(uow, MessageKind.ORDER_CONFIRMED, order, event_id, ship=ship)

    async def orders_paid(
        self, uow: UnitOfWork, orders: Sequence[OrderRecord], *, known: KnownRows
    ) -> None:
        """``order_paid`` (every unit on hand) for orders of one drop paid together, in
        their shared transaction: the same rows and events, with one statement per
        table for all of them instead of one per order. ``known``: the drop's rows."""
        ships = await uow.shipments.attach_orders(
            [(o.checkout_id, o.id, self.sla.ship_by(o.paid_at)) for o in orders]
        )
        lines: dict[str, list[Row]] = {o.id: [] for o in orders}
        for line in await pick_lines(uow, orders, known, each_alone=True):
            lines[line["order_id"]].append(line)
        flag = await test_flag(uow, known.drop.id, known.drop)
        confirmations = []
        for order in orders:
            event_id = new_id("evt")
            ship = ships[order.checkout_id]
            uow.record(ready_event(order, ship, lines[order.id], flag, event_id))
            confirmations.append((order, event_id, ship))
        await self.messages.queue_many(uow, MessageKind.ORDER_CONFIRMED, confirmations)

    # ------------------------------------------------------------------ hand-off
    async def _on_delivered(self, uow: UnitOfWork, delivery: Row) -> None:
        if delivery["event_type"] == READY and delivery["warehouse"]:
            await self.mark_handed_off(uow, delivery["aggregate_id"], delivery["endpoint_id"])

    async def mark_handed_off(self, uow: UnitOfWork, order_id: str, via: str) -> bool:
        """The warehouse acknowledged the order: ``paid`` → ``handed_off`` (no-op when
        already past it, e.g. a second WMS endpoint or a replay)."""
        order = await uow.orders.get_order(order_id)
        if order is None or order.status is not OrderStatus.PAID:
            return False
        await self._move(uow, order, OrderStatus.HANDED_OFF, UpdateDetails(reason=f"via {via}"))
        return True

    async def _move(
        self, uow: UnitOfWork, order: OrderRecord, status: OrderStatus, d: UpdateDetails
    ) -> OrderRecord:
        await uow.orders.set_order_status(order, status, d.reason[:MAX_TEXT])
        moved = replace(order, status=status, version=order.version + 1)
        at = d.occurred_at or self._now()
        if status is OrderStatus.SHIPPED:
            if self.preorders is not None:
                await self.preorders.shipped(uow, order.id)
            await ship_order_units(uow, order.id, f"fulfilment: {d.reason}"[:120])
            await uow.shipments.update(
                order.id,
                carrier=d.carrier,
                tracking_number=d.tracking_number,
                tracking_url=d.tracking_url,
                shipped_at=at,
                stage="shipped",
            )
        elif status is OrderStatus.DELIVERED:
            await uow.shipments.update(order.id, delivered_at=at, stage="delivered")
        ship = await uow.shipments.for_order(order.id)
        event_id = new_id("evt")
        uow.record(
            DomainEvent(
                _STATUS_EVENT[status],
                "order",
                order.id,
                moved.version,
                await test_flag(uow, order.drop_id, None)
                | {
                    "id": order.id,
                    "drop_id": order.drop_id,
                    "status": status.value,
                    "reason": d.reason,
                    **{k: v for k, v in shipment_view(ship).items() if k != "ship_to"},
                },
                id=event_id,
            )
        )
        extra: dict[str, Any] = {"reason": d.reason} if status is OrderStatus.EXCEPTION else {}
        await self.messages.queue(uow, _STATUS_MESSAGE[status], moved, event_id, ship=ship, **extra)
        return moved

    # ------------------------------------------------------------------ inbound updates
    async def apply_update(
        self,
        source: str,
        event_id: str,
        update: FulfilmentUpdate,
        order_id: str,
        details: UpdateDetails,
    ) -> UpdateResult:
        """Apply one warehouse/carrier update once per (source, event id).

        Raises ``NotFound`` (unknown order), ``InvalidInput`` (shipped without carrier or
        tracking number), ``InvalidTransition`` (e.g. delivered before shipped) or
        ``Conflict`` (a pre-order shipped while it still waits for its units); in each
        case nothing is recorded, so a corrected retry is applied. A pre-order shipped
        here is shipped as the ops route ships it: its authorised payment is captured
        first (``PaymentProviderError`` if the provider fails; retry the update). Its text comes
        from a CSV row or a partner's JSON, not a request model, so it is checked here
        (``domain/inputs.py``): a NUL would otherwise fail in the database."""
        for name, value in (
            ("order_id", order_id),
            ("carrier", details.carrier),
            ("tracking_number", details.tracking_number),
            ("tracking_url", details.tracking_url),
            ("reason", details.reason),
            ("update id", event_id),
        ):
            check_text(value, name)
        if update is FulfilmentUpdate.SHIPPED and not (
            details.carrier.strip() and details.tracking_number.strip()
        ):
            raise InvalidInput("a shipped update needs carrier and tracking_number")
        if details.tracking_url and not details.tracking_url.startswith(("https://", "http://")):
            raise InvalidInput("tracking_url must be an http(s) URL")
        if not event_id or len(event_id) > 200:
            raise InvalidInput("an update needs an id of at most 200 characters")
        if update is FulfilmentUpdate.SHIPPED and self.preorders is not None:
            # Money moves before the transaction that ships, as on the ops route.
            async with self.uow(readonly=True) as uow:
                found = await uow.orders.find_order(order_id)
            if found is not None:
                await self.preorders.before_shipping(found.id)
        async with self.uow() as uow:
            order = await uow.orders.find_order(order_id)  # the id, or DL-1042
            if order is None:
                raise NotFound(f"order {order_id} not found", order_id=order_id)
            order_id = order.id
            if not await uow.shipments.record_inbound(source, event_id, update.value, order_id):
                return UpdateResult(order_id, order.status.value, applied=False)
            plan = plan_update(order.status, update)
            for step in plan.steps:
                order = await self._move(uow, order, step, details)
            if update in (FulfilmentUpdate.PICKED, FulfilmentUpdate.PACKED):
                await uow.shipments.update(order_id, stage=update.value)
                uow.record(
                    DomainEvent(
                        f"order.{update.value}",
                        "order",
                        order_id,
                        order.version,
                        {"id": order_id, "status": order.status.value, "stage": update.value},
                    )
                )
            elif update is FulfilmentUpdate.DELAYED:
                delay_id = new_id("evt")
                uow.record(
                    DomainEvent(
                        "order.delayed",
                        "order",
                        order_id,
                        order.version,
                        {"id": order_id, "status": order.status.value, "reason": details.reason},
                        id=delay_id,
                    )
                )
                await self.messages.queue(
                    uow, MessageKind.DELAYED, order, delay_id, reason=details.reason
                )
            await uow.commit()
        return UpdateResult(order_id, order.status.value, applied=True)

    async def receive_signed(
        self, endpoint_id: str, body: bytes, headers: Mapping[str, str]
    ) -> UpdateResult:
        """A signed inbound fulfilment event (``POST /v1/fulfillment-events``): verify
        with the endpoint's secret, then apply once per ``webhook-id``."""
        payload = await self.webhooks.verify_inbound(endpoint_id, body, headers)
        if not isinstance(payload, dict):
            raise InvalidInput("the body must be a JSON object")
        data = payload.get("data", payload)
        if not isinstance(data, dict):
            raise InvalidInput("data must be a JSON object")
        update = parse_update(str(payload.get("type", "")).removeprefix("fulfillment."))
        order_id = data.get("order_id")
        if not isinstance(order_id, str) or not order_id:
            raise InvalidInput("order_id is required")
        occurred = data.get("occurred_at")
        try:
            at = datetime.fromisoformat(occurred.replace("Z", "+00:00")) if occurred else None
        except (AttributeError, ValueError):
            raise InvalidInput("occurred_at must be an RFC 3339 time") from None
        if at is not None and at.tzinfo is None:
            raise InvalidInput("occurred_at needs a timezone (use Z for UTC)")

        def text(key: str) -> str:
            value = data.get(key, "")
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise InvalidInput(f"{key} must be a string of at most {MAX_TEXT} characters")
            return value.strip()

        lowered = {k.lower(): v for k, v in headers.items()}
        return await self.apply_update(
            endpoint_id,
            lowered["webhook-id"],
            update,
            order_id,
            UpdateDetails(
                text("carrier"), text("tracking_number"), text("tracking_url"), text("reason"), at
            ),
        )

    async def import_tracking(
        self,
        csv_text: str,
        source: str = "csv",
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Mark orders shipped from a CSV with the header
        ``order_id,carrier,tracking_number[,tracking_url]``. Good rows are applied, bad
        rows reported (line number, code, detail); a row already imported is a
        duplicate, not an error, so the same file can be imported twice safely. A file
        the reader cannot read (a field over ``csv.field_size_limit``: ``CsvFieldTooLarge``)
        is refused whole, before any row is applied."""
        header, rows = read_csv(csv_text)
        missing = [c for c in TRACKING_COLUMNS[:3] if c not in header]
        if missing:
            raise InvalidInput(
                f"the CSV header must include {', '.join(TRACKING_COLUMNS[:3])}; "
                f"missing {', '.join(missing)}"
            )
        report = ImportReport()
        for n, raw in enumerate(rows, start=2):  # line 1 is the header
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
            order_id, tracking = row.get("order_id", ""), row.get("tracking_number", "")
            try:
                if not order_id:
                    raise InvalidInput("order_id is empty")
                result = await self.apply_update(
                    source,
                    f"{order_id}:{tracking}",
                    FulfilmentUpdate.SHIPPED,
                    order_id,
                    UpdateDetails(row.get("carrier", ""), tracking, row.get("tracking_url", "")),
                )
            except DroplineError as exc:
                report.errors.append((n, exc.code, exc.detail))
            else:
                (report.applied if result.applied else report.duplicates).append(n)
            if progress:
                progress(n - 1, len(rows))
        return report

    # ------------------------------------------------------------------ SLA
    async def sla_report(self, drop_id: str | None = None, limit: int = 500) -> dict[str, Any]:
        """Unshipped orders whose ship-by has passed (``breached``) or falls within the
        warning window (``at_risk``), soonest deadline first."""
        now = self._now()
        horizon = now + timedelta(hours=self.sla.at_risk_hours)
        async with self.uow(readonly=True) as uow:
            rows = await uow.shipments.unshipped(
                [s.value for s in UNSHIPPED], horizon, drop_id, limit
            )
        out: dict[str, Any] = {"as_of": rfc3339(now), "at_risk": [], "breached": []}
        for r in rows:
            state = self.sla.classify(r["ship_by"], now)
            if state == "on_track":
                continue
            out[state].append(
                {
                    "order_id": r["order_id"],
                    "drop_id": r["drop_id"],
                    "status": r["status"],
                    "stage": r["stage"],
                    "service_level": r["service_level"],
                    "paid_at": rfc3339(r["paid_at"]),
                    "ship_by": rfc3339(r["ship_by"]),
                    "hours_left": round((r["ship_by"] - now).total_seconds() / 3600, 1),
                }
            )
        return out
