"""Buyer messages: written to the ``messages`` table in the same transaction as the change
that causes them, then sent by a background job.

A message's content is fixed when the event happens: its templates' inputs (``context``:
the order's lines, formatted money, the ship-to, dates in words) are stored with it, and
the bodies are rendered from them when the message is sent or shown. Rendering two
templates and writing ~6 KB per order had been a tenth of a paid order's work on the
checkout path; the send job renders at the mail provider's pace instead. Messages made
elsewhere (waitlist, watch) are stored already rendered, with no context.

One message per (causing event, kind): the unique key makes a re-run harmless. The send
job leases each message before sending and records the result with a compare-and-set on
the lease, so two workers never send the same message; a failed send is retried on a
schedule and ends ``dead`` after the last try.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dropline.domain.fulfilment.rules import (
    MESSAGE_RETRY_SCHEDULE,
    MessageKind,
    MessageStatus,
    retry_delay,
)
from dropline.domain.ids import new_id
from dropline.domain.money import Money
from dropline.domain.readable_time import readable_utc
from dropline.services.ports import Clock, Mailer, MailServerUnreachable, OutgoingMessage
from dropline.services.rendering import render
from dropline.store.live.order_records import OrderRecord
from dropline.store.uow import UnitOfWork, UowFactory

log = logging.getLogger(__name__)

SUBJECTS: dict[MessageKind, str] = {
    MessageKind.ORDER_CONFIRMED: "Order {order_id} confirmed",
    MessageKind.PREPARING: "We are preparing order {order_id}",
    MessageKind.SHIPPED: "Order {order_id} has shipped",
    MessageKind.DELIVERED: "Order {order_id} was delivered",
    MessageKind.DELAYED: "Order {order_id} is delayed",
    MessageKind.REFUNDED: "Refund for order {order_id}",
    MessageKind.PREORDER_DELAYED: "Order {order_id}: a new ship date",
    MessageKind.PROBLEM_DECLINED: "About the problem you reported with order {order_id}",
}


def format_time(value: datetime | None) -> str:
    if value is None:
        return "soon"
    return readable_utc(value)


def address_lines(ship: Mapping[str, Any] | None) -> list[str]:
    """The ship-to as printable lines (empty parts left out)."""
    if not ship:
        return []
    city = " ".join(p for p in (ship.get("postal_code", ""), ship.get("city", "")) if p)
    parts = [
        ship.get("name", ""),
        ship.get("line1", ""),
        ship.get("line2", ""),
        ", ".join(p for p in (city, ship.get("region", "")) if p),
        ship.get("country", ""),
    ]
    return [p for p in parts if p]


def message_context(
    order: OrderRecord, ship: Mapping[str, Any] | None, shop_name: str, **extra: Any
) -> dict[str, Any]:
    ship = ship or {}
    return {
        "shop_name": shop_name,
        "name": (ship.get("name") or "there").split(" ")[0],
        "order": {
            "id": order.id,
            "number": order.number or order.id,
            "total": Money(order.total_amount, order.currency).format(),
            "lines": [
                {
                    "quantity": ln.quantity,
                    "description": ln.description,
                    "amount": Money(ln.line_amount, ln.currency).format(),
                }
                for ln in order.lines
            ],
        },
        "ship_to": ", ".join(address_lines(ship)),
        "ship_by": format_time(ship.get("ship_by")),
        "carrier": ship.get("carrier", ""),
        "tracking_number": ship.get("tracking_number", ""),
        "tracking_url": ship.get("tracking_url", ""),
        "reason": "",
        "refund_amount": Money(order.refunded_amount, order.currency).format(),
        "problem_url": "",
        **extra,
    }


def message_subject(kind: MessageKind, context: Mapping[str, Any]) -> str:
    """The subject line, stored with the message so lists show it without rendering."""
    return SUBJECTS[kind].format(order_id=context["order"]["number"])


def render_bodies(kind: MessageKind, context: Mapping[str, Any], subject: str) -> tuple[str, str]:
    """(text, html) of a ``kind`` message from its templates' inputs and subject."""
    ctx = {**context, "subject": subject}
    return (
        render(f"messages/{kind.value}.txt", **ctx),
        render(f"messages/{kind.value}.html", **ctx),
    )


def render_message(kind: MessageKind, context: Mapping[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) for ``kind``."""
    subject = message_subject(kind, context)
    return (subject, *render_bodies(kind, context, subject))


def message_bodies(row: Mapping[str, Any]) -> tuple[str, str]:
    """(text, html) of a stored message: its stored bodies, or, for a message stored as
    its templates' inputs, the bodies rendered from them and its stored subject now.
    Raises what the templates raise (an unknown kind, a missing input)."""
    context = row.get("context")
    if context is None:
        return row["text_body"], row["html_body"]
    return render_bodies(MessageKind(row["kind"]), context, row["subject"])


def shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as people and the API see it: with its bodies, not its inputs.
    Inputs that no longer render (a template edited since) are shown as that error, so
    one such message never breaks a list; sending it fails and is retried."""
    try:
        text, html = message_bodies(row)
    except Exception as exc:  # what Jinja raises varies; the list must still show
        text = html = f"(this message cannot be rendered: {type(exc).__name__}: {exc})"[:500]
    out = {k: v for k, v in row.items() if k != "context"}
    out["text_body"], out["html_body"] = text, html
    return out


def message_values(
    *,
    event_id: str,
    kind: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    now: datetime,
    no_address: str,
    order_id: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A message row to store (``uow.messages.add``): queued for ``to``, or, with no
    address, kept as skipped with ``no_address`` as its reason (the text stays readable
    in the console). One event makes one message of a kind (``event_id``). With
    ``context`` the bodies are left empty and rendered from it (``message_bodies``)."""
    return {
        "id": new_id("msg"),
        "event_id": event_id,
        "kind": kind,
        "order_id": order_id,
        "to_email": to,
        "subject": subject,
        "text_body": text,
        "html_body": html,
        "context": context,
        "status": (MessageStatus.QUEUED if to else MessageStatus.SKIPPED).value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "" if to else no_address,
        "created_at": now,
    }


class MessageService:
    def __init__(
        self,
        uow: UowFactory,
        mailer: Mailer,
        clock: Clock,
        shop_name: str = "dropline",
        schedule: tuple[int, ...] = MESSAGE_RETRY_SCHEDULE,
        lease_s: float = 120.0,
        problem_link: Callable[[OrderRecord, Mapping[str, Any]], str] | None = None,
    ) -> None:
        self.uow = uow
        # The signed report-a-problem link put in the delivered message.
        self.problem_link = problem_link
        self.mailer = mailer
        self.clock = clock
        self.shop_name = shop_name
        self.schedule = schedule
        self.lease_s = lease_s

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def queue(
        self,
        uow: UnitOfWork,
        kind: MessageKind,
        order: OrderRecord,
        event_id: str,
        *,
        ship: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> bool:
        """Render and store a message inside the caller's transaction. Returns False
        if this event already produced a message of this kind (nothing is added).
        ``ship`` is the order's shipment row when the caller has it (else it is read)."""
        if ship is None:
            ship = await uow.shipments.for_order(order.id)
        return await uow.messages.add(self.message_row(kind, order, event_id, ship, **extra))

    async def queue_many(
        self,
        uow: UnitOfWork,
        kind: MessageKind,
        orders: Sequence[tuple[OrderRecord, str, Mapping[str, Any]]],
    ) -> None:
        """``queue`` for several orders at once, each with its event id and shipment row
        (orders paid together): the same rows, in one insert."""
        await uow.messages.add_many(
            [self.message_row(kind, order, event_id, ship) for order, event_id, ship in orders]
        )

    def message_row(
        self,
        kind: MessageKind,
        order: OrderRecord,
        event_id: str,
        ship: Mapping[str, Any] | None,
        **extra: Any,
    ) -> dict[str, Any]:
        """The message's row with its templates' inputs taken now (what the buyer reads is
        fixed when the event happens, not when the mail goes out; the bodies are rendered
        from them when sent or shown); skipped when the order has no email."""
        if kind is MessageKind.DELIVERED and self.problem_link is not None and ship:
            extra = {"problem_url": self.problem_link(order, ship), **extra}
        context = message_context(order, ship, self.shop_name, **extra)
        return message_values(
            event_id=event_id,
            kind=kind.value,
            to=(ship or {}).get("email", ""),
            subject=message_subject(kind, context),
            text="",
            html="",
            now=self._now(),
            no_address="no email address on the order",
            order_id=order.id,
            context=context,
        )

    async def send_due(self, limit: int = 50) -> int:
        """One pass of the send job: lease up to ``limit`` due messages, send them over
        one mailer session, record each result as it comes. Returns how many were sent
        (or stored)."""
        return (await self._pass(limit))[1]

    async def send_paced(self, budget: int, per_pass: int = 50) -> int:
        """Passes of ``send_due`` until nothing more is due or ``budget`` messages were
        claimed: the send job's run. A sell-out leaves thousands of confirmations due at
        once; one pass per tick would send them at ``per_pass`` per interval, so a run
        goes on while passes come back full, and ``budget`` (the configured rate times
        the interval) keeps it within the mail provider's sending limit. Returns how
        many were sent (or stored)."""
        claimed = sent = 0
        while claimed < budget:
            want = min(per_pass, budget - claimed)
            got, ok = await self._pass(want)
            claimed, sent = claimed + got, sent + ok
            if got < want:  # nothing more due, or the mail server is out of reach
                break
        return sent

    async def _pass(self, limit: int) -> tuple[int, int]:
        """(claimed, sent) for one pass; claimed is 0 when the mail server was out of
        reach (the rest of the pass was given back untried). Each result is recorded
        in its own transaction right after its send: a crash between the two re-sends
        one message at most (its ``Message-ID`` lets the receiver drop it)."""
        now = self._now()
        lease = new_id("lease")
        async with self.uow() as uow:
            rows = await uow.messages.claim_due(
                now, now + timedelta(seconds=self.lease_s), lease, limit
            )
            await uow.commit()
        if not rows:
            return 0, 0
        sent = 0
        async with self.mailer.session() as session:
            for n, row in enumerate(rows):
                error = ""
                try:
                    text, html = message_bodies(row)
                    message = OutgoingMessage(
                        row["id"], row["to_email"], row["subject"], text, html
                    )
                    await session.send(message)
                except Exception as exc:  # a mail server's or a template's failure: retried
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    log.warning("sending message %s failed: %s", row["id"], error)
                    if isinstance(exc, MailServerUnreachable):  # the pass stops here
                        await self._record(row, lease, error)
                        await self._release(rows[n + 1 :], lease)
                        return 0, sent  # "nothing more": the run stops too
                sent += await self._record(row, lease, error)
        return len(rows), sent

    async def _release(self, rows: Sequence[Mapping[str, Any]], lease: str) -> None:
        """Give leased messages back untried (no attempt counted): the next run takes
        them."""
        async with self.uow() as uow:
            for row in rows:
                await uow.messages.finish(row["id"], lease)
            await uow.commit()

    async def _record(self, row: Mapping[str, Any], lease: str, error: str) -> int:
        """Record one send's outcome (sent, or failed with its next attempt); 1 if sent."""
        async with self.uow() as uow:
            attempts = int(row["attempts"]) + 1
            if not error:
                values: dict[str, Any] = {
                    "status": self.mailer.final_status,
                    "attempts": attempts,
                    "sent_at": self._now(),
                    "last_error": "",
                }
            else:
                delay = retry_delay(attempts, self.schedule)
                values = {
                    "attempts": attempts,
                    "last_error": error,
                    "status": (MessageStatus.DEAD if delay is None else MessageStatus.FAILED).value,
                    "next_attempt_at": self._now() + timedelta(seconds=delay or 0),
                }
            await uow.messages.finish(row["id"], lease, **values)
            await uow.commit()
        return 0 if error else 1

    async def list(
        self,
        *,
        order_id: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        """Messages oldest first, or the ``limit`` newest, newest first, with their bodies
        (``shown``)."""
        async with self.uow(readonly=True) as uow:
            rows = await uow.messages.list(
                order_id=order_id, status=status, kind=kind, limit=limit, newest_first=newest_first
            )
        return [shown(row) for row in rows]
