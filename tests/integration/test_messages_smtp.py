"""Buyer messages over real SMTP (a local aiosmtpd server) and the embedded mailer."""

from __future__ import annotations

import asyncio
import dataclasses
import email
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from alembic import command

from backends import free_port
from dropline.bootstrap import Container
from dropline.mail.mailers import DatabaseMailer, SmtpMailer
from dropline.services.fulfilment.messages import MessageService
from dropline.services.ports import ManualClock
from dropline.store.db import alembic_config, upgrade_async
from fulfilment_support import SHIP_TO, paid_order
from support import seed_shop


class Inbox:
    """The local SMTP server's handler: keeps what arrived, the connections it came
    over, and can refuse a recipient or hang up on a message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.sessions: list[Any] = []  # one aiosmtpd Session per connection
        self.refuse: set[str] = set()
        self.hang_up_on: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not any(s is session for s in self.sessions):
            self.sessions.append(session)
        if set(envelope.rcpt_tos) & self.hang_up_on:
            server.transport.close()
            return "421 closing"
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.content),
            )
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def parts(msg: Message) -> dict[str, str]:
    out = {}
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_subtype()] = payload.decode(part.get_content_charset() or "utf-8")
    return out


async def test_confirmation_arrives_over_smtp_once(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    c = container
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none")
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "ann", qty=2)
    assert await c.messages.send_due() == 1
    assert await c.messages.send_due() == 0  # never twice
    [(sender, rcpts, msg)] = inbox.messages
    assert sender == "shop@drops.example" and rcpts == ["ada@example.com"]
    assert msg["Subject"] == f"Order {order.number} confirmed"
    assert msg["To"] == "ada@example.com"
    body = parts(msg)
    assert "Hi Ada," in body["plain"] and order.number in body["plain"]
    assert "2 x " in body["plain"] and "50.00" in body["plain"]
    assert "<h1" in body["html"] and "Your order is confirmed" in body["html"]
    [m] = await c.messages.list(order_id=order.id)
    assert m["status"] == "sent" and m["attempts"] == 1 and m["sent_at"] is not None
    assert m["id"] in msg["Message-ID"]


async def test_failed_send_is_retried_then_sent(
    container: Container, clock: ManualClock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    c = container
    c.messages.mailer = SmtpMailer(
        "127.0.0.1", free_port(), "shop@drops.example", tls="none", timeout_s=5
    )
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "bo")
    assert await c.messages.send_due() == 0
    [m] = await c.messages.list(order_id=order.id)
    assert m["status"] == "failed" and m["attempts"] == 1 and m["last_error"]
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none")
    assert await c.messages.send_due() == 0  # not due yet: waits for its retry time
    clock.advance(c.messages.schedule[0] * 1.2 + 1)
    assert await c.messages.send_due() == 1
    assert len(inbox.messages) == 1
    [m] = await c.messages.list(order_id=order.id)
    assert m["status"] == "sent" and m["attempts"] == 2


async def test_embedded_mailer_stores_and_skips_without_email(container: Container) -> None:
    c = container
    assert isinstance(c.messages.mailer, DatabaseMailer)
    shop = await seed_shop(c, units=5)
    with_email = await paid_order(c, shop, "cy")
    without = await paid_order(c, shop, "di", ship=None)
    assert await c.messages.send_due() == 1
    [stored] = await c.messages.list(order_id=with_email.id)
    [skipped] = await c.messages.list(order_id=without.id)
    assert stored["status"] == "stored"
    assert skipped["status"] == "skipped" and skipped["to_email"] == ""


async def test_every_template_renders(container: Container) -> None:
    """Each message kind renders text and HTML with the order's facts (refunded too,
    which the returns feature will queue)."""
    from dropline.domain.fulfilment.rules import MessageKind

    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "ed")
    service = MessageService(c.uow, DatabaseMailer(), c.clock, shop_name="Creator Shop")
    async with c.uow() as uow:
        for kind in MessageKind:
            assert await service.queue(uow, kind, order, "evt_test", reason="storm")
        assert not await service.queue(uow, MessageKind.SHIPPED, order, "evt_test")
        await uow.commit()
    rows = {m["kind"]: m for m in await c.messages.list(order_id=order.id, limit=50)}
    assert set(rows) == {k.value for k in MessageKind}
    for m in rows.values():
        if m["event_id"] == "evt_test":
            assert order.number in m["text_body"] and order.number in m["html_body"]
            assert order.id not in m["text_body"]
            assert "Creator Shop" in m["text_body"] + m["html_body"]
    assert "storm" in rows["delayed"]["text_body"]
    assert "refunded" in rows["refunded"]["text_body"]


async def orders_to(c: Container, emails: list[str]) -> None:
    shop = await seed_shop(c, units=len(emails) + 1)
    for i, address in enumerate(emails):
        await paid_order(c, shop, f"b{i}", ship=dataclasses.replace(SHIP_TO, email=address))


async def test_a_pass_sends_over_one_connection(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    """After a sell-out many confirmations are due at once: one connection carries
    them all, not one connection (and handshake) each."""
    inbox, port = smtp
    c = container
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none")
    emails = [f"buyer{i}@example.com" for i in range(6)]
    await orders_to(c, emails)
    assert await c.messages.send_due() == 6
    assert sorted(r[0] for _, r, _ in inbox.messages) == sorted(emails)
    assert len(inbox.sessions) == 1
    assert {m["status"] for m in await c.messages.list(kind="order_confirmed")} == {"sent"}


async def test_a_refused_recipient_fails_alone(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.refuse = {"gone@example.com"}
    c = container
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none")
    await orders_to(c, ["a@example.com", "gone@example.com", "b@example.com"])
    assert await c.messages.send_due() == 2
    assert [r[0] for _, r, _ in inbox.messages] == ["a@example.com", "b@example.com"]
    assert len(inbox.sessions) == 1  # the refusal did not cost the connection
    by_to = {m["to_email"]: m for m in await c.messages.list(kind="order_confirmed")}
    assert by_to["gone@example.com"]["status"] == "failed"
    assert "550" in by_to["gone@example.com"]["last_error"]
    assert by_to["a@example.com"]["status"] == by_to["b@example.com"]["status"] == "sent"


async def test_a_hang_up_mid_pass_costs_one_message(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    """The server drops the connection on one message: that one is retried later,
    the next opens a new connection and goes out in the same pass."""
    inbox, port = smtp
    inbox.hang_up_on = {"hup@example.com"}
    c = container
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none", timeout_s=5)
    await orders_to(c, ["a@example.com", "hup@example.com", "b@example.com"])
    assert await c.messages.send_due() == 2
    assert [r[0] for _, r, _ in inbox.messages] == ["a@example.com", "b@example.com"]
    assert len(inbox.sessions) == 2
    by_to = {m["to_email"]: m for m in await c.messages.list(kind="order_confirmed")}
    assert by_to["hup@example.com"]["status"] == "failed"
    assert by_to["hup@example.com"]["attempts"] == 1


async def test_a_run_keeps_going_while_passes_are_full_up_to_its_budget(
    container: Container,
) -> None:
    """``send_paced``: passes until nothing is due, never more than the budget a run
    (the configured rate times the interval); the rest waits for the next run."""
    c = container
    await orders_to(c, [f"p{i}@example.com" for i in range(7)])

    async def stored() -> int:
        return len(await c.messages.list(status="stored"))

    assert await c.messages.send_paced(budget=5, per_pass=2) == 5
    assert await stored() == 5
    assert await c.messages.send_paced(budget=5, per_pass=2) == 2
    assert await stored() == 7
    assert await c.messages.send_paced(budget=5, per_pass=2) == 0


async def test_the_send_job_sends_at_most_its_rate_times_its_interval(
    container: Container,
) -> None:
    from dropline.services.platform.background import standard_jobs

    c = container
    await orders_to(c, [f"r{i}@example.com" for i in range(5)])
    jobs = standard_jobs(
        c.engine, c.clock, c.uow, c.checkout, 1.0, 5.0,
        messages=c.messages, message_interval_s=2.0, message_rate_per_s=1.5,
    )  # fmt: skip
    [send] = [job for name, _, job in jobs if name == "send-messages"]
    assert await send() == 3  # 1.5 a second for 2 seconds
    assert await send() == 2


async def test_an_unreachable_server_costs_one_attempt_not_the_whole_pass(
    container: Container,
) -> None:
    """Nothing listens on the port: the first message fails with its retry scheduled,
    the others go back untried (no attempt counted) for the next run, which stops at
    its first message too instead of trying every one."""
    c = container
    c.messages.mailer = SmtpMailer(
        "127.0.0.1", free_port(), "shop@drops.example", tls="none", timeout_s=5
    )
    await orders_to(c, ["a@example.com", "b@example.com", "c@example.com"])
    assert await c.messages.send_paced(budget=50) == 0
    rows = await c.messages.list(kind="order_confirmed")
    assert sorted((m["status"], m["attempts"]) for m in rows) == [
        ("failed", 1),
        ("queued", 0),
        ("queued", 0),
    ]
    [failed] = [m for m in rows if m["status"] == "failed"]
    assert failed["last_error"].startswith("MailServerUnreachable")
    assert await c.messages.send_due() == 0  # the next run: one more attempt, not three
    attempts = sorted(m["attempts"] for m in await c.messages.list(kind="order_confirmed"))
    assert attempts == [0, 1, 1]


async def test_a_confirmation_is_stored_as_its_inputs_and_rendered_when_sent(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    """The checkout path stores the templates' inputs, not ~6 KB of bodies; the mail
    and the console show the bodies rendered from them. The inputs are taken when the
    order is paid: a shop renamed before the send does not change the message."""
    inbox, port = smtp
    c = container
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none")
    shop = await seed_shop(c, units=5)
    was = c.messages.shop_name
    order = await paid_order(c, shop, "fa", qty=2)
    async with c.uow(readonly=True) as uow:
        [raw] = await uow.messages.list(order_id=order.id)
    assert raw["text_body"] == raw["html_body"] == ""
    assert raw["context"]["order"]["number"] == order.number
    assert raw["context"]["shop_name"] == was
    assert raw["subject"] == f"Order {order.number} confirmed"
    [listed] = await c.messages.list(order_id=order.id)
    assert "context" not in listed
    assert "Hi Ada," in listed["text_body"] and "2 x " in listed["text_body"]
    assert "Your order is confirmed" in listed["html_body"]
    c.messages.shop_name = "Renamed Shop"
    assert await c.messages.send_due() == 1
    [(_, _, msg)] = inbox.messages
    body = parts(msg)
    sent = {k: v.replace("\r\n", "\n") for k, v in body.items()}  # SMTP's line ends
    assert sent["plain"] == listed["text_body"] and sent["html"] == listed["html_body"]
    assert "Renamed Shop" not in body["plain"] + body["html"]


async def test_a_message_that_cannot_be_rendered_fails_alone(
    container: Container, smtp: tuple[Inbox, int]
) -> None:
    """Inputs the templates cannot render (here a context missing the order's lines)
    fail that message with the template's error and a retry; the pass goes on, and a
    list of messages shows the error in its place."""
    from dropline.services.fulfilment.messages import message_values

    inbox, port = smtp
    c = container
    c.messages.mailer = SmtpMailer("127.0.0.1", port, "shop@drops.example", tls="none")
    async with c.uow() as uow:
        await uow.messages.add(
            message_values(
                event_id="evt_broken",
                kind="order_confirmed",
                to="broken@example.com",
                subject="Order X confirmed",
                text="",
                html="",
                now=c.messages._now(),
                no_address="",
                context={"order": {"number": "X"}},
            )
        )
        await uow.commit()
    await orders_to(c, ["ok@example.com"])
    assert await c.messages.send_due() == 1
    assert [r[0] for _, r, _ in inbox.messages] == ["ok@example.com"]
    async with c.uow(readonly=True) as uow:
        [broken] = await uow.messages.list(status="failed")
    assert broken["to_email"] == "broken@example.com" and broken["attempts"] == 1
    assert broken["last_error"].startswith("UndefinedError")
    [listed] = await c.messages.list(status="failed")  # the list still shows it
    assert listed["text_body"].startswith("(this message cannot be rendered: UndefinedError")


async def test_a_downgrade_renders_the_stored_inputs_into_bodies(
    container: Container, database_url: str
) -> None:
    """The schema before ``0026_message_context`` holds rendered bodies only: going
    back renders each message stored as its inputs, so nothing a buyer would read is
    lost; coming forward again keeps those bodies."""
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "ga")
    [before] = await c.messages.list(order_id=order.id)
    config = alembic_config(database_url)
    try:
        await asyncio.to_thread(command.downgrade, config, "0025_wave_on_sale")
        async with c.db.connect() as conn:
            text, html = (
                await conn.execute(
                    sa.text("SELECT text_body, html_body FROM messages WHERE order_id = :o"),
                    {"o": order.id},
                )
            ).one()
    finally:
        await upgrade_async(database_url)
    assert (text, html) == (before["text_body"], before["html_body"])
    assert order.number in text and "<h1" in html
    async with c.uow(readonly=True) as uow:
        [raw] = await uow.messages.list(order_id=order.id)
    assert raw["context"] is None and raw["text_body"] == text
