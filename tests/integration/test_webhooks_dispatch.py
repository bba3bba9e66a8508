"""Webhooks out of the outbox, against a real HTTP receiver on 127.0.0.1 that verifies
signatures with the ``standardwebhooks`` library. Time moves with the ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dropline.bootstrap import Container
from dropline.services.fulfilment.webhooks import WebhookPolicy
from dropline.services.ports import HttpOutcome, ManualClock, WebhookTransport
from fulfilment_support import Receiver, order_status, outbox_types, paid_order
from support import seed_shop


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


async def endpoint_for(c: Container, r: Receiver, types: list[str] | None = None) -> str:
    ep = await c.webhooks.create_endpoint(r.url, types or ["order.*"], "WMS", warehouse=True)
    assert ep["secret"].startswith("whsec_")
    r.secrets.append(ep["secret"])
    return str(ep["id"])


async def deliveries(c: Container, **kw: Any) -> list[dict[str, Any]]:
    return await c.webhooks.list_deliveries(**kw)


def wait_longest(c: Container, clock: ManualClock, attempts_made: int) -> None:
    """Move past the longest jittered wait after ``attempts_made`` failures."""
    clock.advance(c.webhooks.policy.schedule[attempts_made - 1] * 1.2 + 1)


async def test_receiver_down_then_up_delivers_once_with_same_id(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    await endpoint_for(c, receiver)
    await receiver.stop()  # the WMS is down
    order = await paid_order(c, shop, "ann")
    await c.webhooks.run_once()
    for attempts_made in (1, 2, 3):
        wait_longest(c, clock, attempts_made)
        await c.webhooks.run_once()
    [paid] = await deliveries(c, event_id=(await _event_id(c, order.id, "order.paid")))
    assert paid["status"] == "failed" and paid["attempts"] == 4
    assert receiver.received == []
    assert await order_status(c, order.id) == "paid"  # not acknowledged yet

    await receiver.start()  # back on the same port
    wait_longest(c, clock, 4)
    await c.webhooks.run_once()
    await c.webhooks.run_once()  # the order.handed_off event it caused
    assert receiver.types() == ["order.paid", "order.ready_to_fulfill", "order.handed_off"]
    assert len(receiver.verified()) == 3  # every signature checks out
    first = receiver.received[0]
    assert first.webhook_id == await _event_id(c, order.id, "order.paid")
    assert first.json["data"]["id"] == order.id and first.json["data"]["version"] == 1
    assert await order_status(c, order.id) == "handed_off"
    detail = await c.webhooks.get_delivery(paid["id"])
    assert detail["status"] == "delivered"
    log = detail["attempt_log"]
    assert [a["status_code"] for a in log] == [None, None, None, None, 200]
    assert all(a["error"] for a in log[:4]) and log[4]["response_excerpt"] == '{"ok":true}'
    # Nothing is due any more: running again sends nothing twice.
    clock.advance(48 * 3600)
    await c.webhooks.run_once()
    assert len(receiver.received) == 3


async def _event_id(c: Container, order_id: str, type_: str) -> str:
    async with c.uow(readonly=True) as uow:
        [ev] = [e for e in await uow.outbox.list(aggregate_id=order_id) if e["type"] == type_]
    return str(ev["id"])


async def test_410_disables_the_endpoint(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    endpoint_id = await endpoint_for(c, receiver)
    receiver.status = 410
    order = await paid_order(c, shop, "bo")
    await c.webhooks.run_once()
    ep = await c.webhooks.get_endpoint(endpoint_id)
    assert ep["enabled"] is False and "410" in ep["disabled_reason"]
    assert await outbox_types(c, endpoint_id) == ["webhook_endpoint.disabled"]
    clock.advance(3 * 24 * 3600)
    await c.webhooks.run_once()
    assert receiver.types() == ["order.paid"]  # nothing more goes to a gone endpoint
    assert await order_status(c, order.id) == "paid"
    # Re-enabled by an operator, the queue flows again.
    receiver.status = 200
    await c.webhooks.update_endpoint(endpoint_id, enabled=True)
    await c.webhooks.replay_failed(clock_dt(clock, -3600 * 24 * 4))
    await c.webhooks.run_once()
    assert receiver.types()[1:3] == ["order.paid", "order.ready_to_fulfill"]
    assert await order_status(c, order.id) == "handed_off"


def clock_dt(clock: ManualClock, delta_s: float = 0.0) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(clock.now() + delta_s, UTC)


class KilledAfterSending:
    """Sends for real, then dies before the result can be recorded (once)."""

    def __init__(self, real: WebhookTransport) -> None:
        self.real = real
        self.kills = 1

    async def deliver(self, url: str, secrets: list[str], msg_id: str, body: str) -> HttpOutcome:
        outcome = await self.real.deliver(url, secrets, msg_id, body)
        if self.kills:
            self.kills -= 1
            raise asyncio.CancelledError  # the process is killed here
        return outcome

    def verify(self, secrets: list[str], body: bytes, headers: Any) -> Any:
        return self.real.verify(secrets, body, headers)

    async def close(self) -> None:
        await self.real.close()


async def test_dispatcher_killed_mid_delivery_loses_nothing(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    await endpoint_for(c, receiver, ["order.paid"])
    c.webhooks.transport = KilledAfterSending(c.webhooks.transport)
    order = await paid_order(c, shop, "cy")
    with pytest.raises(asyncio.CancelledError):
        await c.webhooks.run_once()
    assert len(receiver.received) == 1  # it did arrive, but we never recorded that
    [d] = await deliveries(c)
    assert d["status"] == "pending" and d["attempts"] == 0
    await c.webhooks.run_once()  # still leased to the dead dispatcher: not sent again yet
    assert len(receiver.received) == 1
    clock.advance(c.webhooks.policy.lease_s + 1)
    await c.webhooks.run_once()
    assert len(receiver.received) == 2
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    assert receiver.received[1].json["data"]["id"] == order.id
    [d] = await deliveries(c)
    assert d["status"] == "delivered" and d["attempts"] == 1


async def test_events_of_one_order_arrive_in_order(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    await endpoint_for(c, receiver)
    first = await paid_order(c, shop, "di")
    second = await paid_order(c, shop, "ed")
    receiver.fail_ids[first.id] = 2  # the first order's order.paid fails twice
    await c.webhooks.run_once()
    seen = [(r.json["type"], r.json["data"]["id"]) for r in receiver.received]
    # The first order's ready_to_fulfill waits behind its failing order.paid; the
    # second order is not held up.
    assert ("order.ready_to_fulfill", first.id) not in seen
    assert ("order.ready_to_fulfill", second.id) in seen
    for attempts_made in (1, 2):
        wait_longest(c, clock, attempts_made)
        await c.webhooks.run_once()
    first_seen = [r.json["type"] for r in receiver.received if r.json["data"]["id"] == first.id]
    assert first_seen == [
        "order.paid",
        "order.paid",
        "order.paid",
        "order.ready_to_fulfill",
        "order.handed_off",
    ]
    assert await order_status(c, first.id) == "handed_off"


async def test_dead_letter_then_replay(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    c.webhooks.policy = WebhookPolicy(schedule=(10, 20), pause_after=100)
    shop = await seed_shop(c, units=5)
    await endpoint_for(c, receiver, ["order.paid"])
    receiver.status = 503
    start = clock_dt(clock)
    await paid_order(c, shop, "fay")
    await c.webhooks.run_once()
    for attempts_made in (1, 2):
        wait_longest(c, clock, attempts_made)
        await c.webhooks.run_once()
    [d] = await deliveries(c)
    assert d["status"] == "dead" and d["attempts"] == 3 and d["last_status_code"] == 503
    clock.advance(3600)
    await c.webhooks.run_once()
    assert len(receiver.received) == 3  # a dead letter is not retried by itself
    receiver.status = 200
    assert await c.webhooks.replay_failed(start) == 1
    await c.webhooks.run_once()
    [d] = await deliveries(c)
    assert d["status"] == "delivered"
    assert len({r.webhook_id for r in receiver.received}) == 1  # same id every time
    # Replay of one delivery sends it again even when delivered.
    await c.webhooks.replay(d["id"])
    await c.webhooks.run_once()
    assert len(receiver.received) == 5


async def test_failing_endpoint_is_paused_and_ops_alerted(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    c.webhooks.policy = WebhookPolicy(schedule=(10, 10, 10, 10), pause_after=3, pause_after_s=3600)
    shop = await seed_shop(c, units=5)
    endpoint_id = await endpoint_for(c, receiver, ["order.paid"])
    receiver.status = 500
    for buyer in ("g1", "g2", "g3", "g4"):
        await paid_order(c, shop, buyer)
    await c.webhooks.run_once()
    ep = await c.webhooks.get_endpoint(endpoint_id)
    # A burst of failures is not enough: the failing must also last an hour.
    assert ep["enabled"] is True and ep["consecutive_failures"] == 4
    clock.advance(3600)
    await c.webhooks.run_once()
    ep = await c.webhooks.get_endpoint(endpoint_id)
    assert ep["enabled"] is False and "paused after 5" in ep["disabled_reason"]
    assert "webhook_endpoint.paused" in await outbox_types(c, endpoint_id)
    sent = len(receiver.received)
    clock.advance(3600)
    await c.webhooks.run_once()
    assert len(receiver.received) == sent  # paused: nothing more is sent


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    container: Container, clock: ManualClock, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    endpoint_id = await endpoint_for(c, receiver, ["order.paid"])
    rotated = await c.webhooks.rotate_secret(endpoint_id, overlap_s=3600)
    assert rotated["secret"] != receiver.secrets[0]
    receiver.secrets.append(rotated["secret"])
    await paid_order(c, shop, "hal")
    await c.webhooks.run_once()
    assert receiver.received[-1].verified_with == [0, 1]  # old and new both verify
    assert len(receiver.received[-1].headers["webhook-signature"].split(" ")) == 2
    clock.advance(3601)
    await paid_order(c, shop, "ivy")
    await c.webhooks.run_once()
    assert receiver.received[-1].verified_with == [1]  # only the new one after the overlap
    assert "secret" not in await c.webhooks.get_endpoint(endpoint_id)


async def test_only_a_warehouse_endpoint_hands_off(
    container: Container, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    ep = await c.webhooks.create_endpoint(receiver.url, ["*"], "analytics")
    order = await paid_order(c, shop, "kai")
    await c.webhooks.run_once()
    assert "order.ready_to_fulfill" in receiver.types()
    assert await order_status(c, order.id) == "paid"
    await c.webhooks.update_endpoint(ep["id"], warehouse=True)
    [d] = await deliveries(c, event_id=await _event_id(c, order.id, "order.ready_to_fulfill"))
    await c.webhooks.replay(d["id"])
    await c.webhooks.run_once()
    assert await order_status(c, order.id) == "handed_off"


async def test_fan_out_matches_subscriptions_and_never_duplicates(
    container: Container, receiver: Receiver
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    await endpoint_for(c, receiver, ["order.ready_to_fulfill"])
    await endpoint_for(c, receiver, ["*"])
    await paid_order(c, shop, "jo")
    made = await c.webhooks.fan_out()
    again = await c.webhooks.fan_out()
    rows = await deliveries(c, limit=500)
    ready = [d for d in rows if d["event_type"] == "order.ready_to_fulfill"]
    assert len(ready) == 2 and again == 0 and made == len(rows)
    assert {d["event_type"] for d in rows} >= {"order.paid", "checkout.succeeded"}


async def test_two_dispatchers_never_send_the_same_delivery(
    container: Container, receiver: Receiver
) -> None:
    """Two workers claiming at once (SKIP LOCKED on PostgreSQL, the write lock on
    SQLite) split the work: every event arrives exactly once."""
    from dropline.services.fulfilment.webhooks import WebhookService

    c = container
    shop = await seed_shop(c, units=20)
    await endpoint_for(c, receiver, ["order.paid"])
    orders = [await paid_order(c, shop, f"buyer{n}") for n in range(8)]
    await c.webhooks.fan_out()
    other = WebhookService(
        c.uow, c.webhooks.transport, c.clock, lambda: "whsec_unused", c.webhooks.policy
    )
    done = await asyncio.gather(c.webhooks.dispatch_due(limit=3), other.dispatch_due(limit=3))
    while sum(done):
        done = await asyncio.gather(c.webhooks.dispatch_due(limit=3), other.dispatch_due(limit=3))
    ids = [r.webhook_id for r in receiver.received]
    assert len(ids) == len(set(ids)) == 8
    assert {r.json["data"]["id"] for r in receiver.received} == {o.id for o in orders}


def test_serve_and_workers_run_the_fulfilment_jobs(container: Container) -> None:
    names = [name for name, _, _ in container.jobs]
    assert "webhooks" in names and "send-messages" in names
