"""Group commit on the checkout path (issue 24), through the services on both backend
profiles (SQLite with the in-process engine, PostgreSQL with Redis): paid orders that
arrive together share one transaction, and every per-order rule still holds — no unit
sold twice, one order per checkout, a refusal or a failure costs only the order it
belongs to (the others are written alone, as with group commit off).

Batches are made deterministic where a test needs one: the provider below finishes
each capture, then holds it until every checkout of the test has captured, so the
orders reach the writer in the same turn of the event loop."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from test_payment_finishers import (
    VISA,
    assert_units_conserved,
    orders_of,
    pending_3ds,
    sold,
)

from dropline.bootstrap import Container
from dropline.domain.errors import Conflict
from dropline.domain.fulfilment.rules import ShipTo
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.live.order_writes import LedgerRefused
from dropline.services.ports import ManualClock, PaymentResult, PaymentStatus
from dropline.store.group_commit import GroupCommit
from dropline.store.uow import UnitOfWork
from support import ProviderWrapper, seed_shop, sell_elsewhere, sku_item


class Gathering(ProviderWrapper):
    """The real provider; each capture is made, then held until ``expected`` captures
    are in, so their orders are queued together."""

    def __init__(self, inner: Any, expected: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.expected = expected
        self.calls: Counter[str] = Counter()
        self.all_in = asyncio.Event()

    async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        result: PaymentResult = await self.inner.capture(
            payment_id, idempotency_key=idempotency_key
        )
        self.calls["capture"] += 1
        if self.calls["capture"] >= self.expected:
            self.all_in.set()
        await asyncio.wait_for(self.all_in.wait(), 20)
        return result

    async def refund(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        self.calls["refund"] += 1
        result: PaymentResult = await self.inner.refund(payment_id, idempotency_key=idempotency_key)
        return result


def gathering(c: Container, expected: int) -> Gathering:
    provider = Gathering(c.checkout.provider, expected)
    c.checkout.provider = provider
    return provider


def writer(c: Container) -> GroupCommit[Any, Any, Any]:
    assert c.checkout.writer is not None, "group commit is on by default"
    return c.checkout.writer


class FailingOrderCommits:
    """Makes the commit of a transaction that writes at least ``min_orders`` orders
    fail, as a full disk or a lost connection would, ``times`` times (None: always)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, min_orders: int, times: int | None):
        self.min_orders, self.times, self.failed = min_orders, times, 0
        real = UnitOfWork.commit

        async def commit(uow: UnitOfWork) -> None:
            paid = sum(1 for ev in uow._events if ev.type == "order.paid")
            if paid >= self.min_orders and (self.times is None or self.failed < self.times):
                self.failed += 1
                raise OperationalError("COMMIT", {}, Exception("disk I/O error (injected)"))
            await real(uow)

        monkeypatch.setattr(UnitOfWork, "commit", commit)


async def hold_all(c: Container, drop_id: str, skus: list[str], buyers: int) -> list[Any]:
    return [
        await c.holds.place(drop_id, f"buyer{n}", [sku_item(skus[n % len(skus)])])
        for n in range(buyers)
    ]


async def test_concurrent_checkouts_share_batches_and_sell_each_unit_once(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=8, skus=3)
    holds = await hold_all(c, shop.drop_id, shop.skus, 24)

    results = await asyncio.gather(
        *(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds), return_exceptions=True
    )

    assert all(not isinstance(r, BaseException) for r in results), results
    orders = {r.order.id for r in results if not isinstance(r, BaseException) and r.order}
    assert len(orders) == 24 and set(await orders_of(c, shop.drop_id)) == orders
    stats = writer(c).stats
    assert stats.shared >= 1 and stats.largest > 1, stats  # orders did share commits
    assert await sold(c, shop.drop_id) == dict.fromkeys(shop.skus, 8)
    async with c.uow(readonly=True) as uow:
        numbers = [o.number for o in await uow.orders.list_orders(drop_id=shop.drop_id)]
    assert len(set(numbers)) == 24
    for sku in shop.skus:
        await assert_units_conserved(c, shop.drop_id, sku, 8)


async def test_orders_queued_together_are_one_batch(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=6, skus=2)
    holds = await hold_all(c, shop.drop_id, shop.skus, 6)
    gathering(c, 6)

    results = await asyncio.gather(*(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds))

    stats = writer(c).stats
    assert (stats.batches, stats.largest, stats.fallbacks) == (1, 6, 0), stats
    assert {r.checkout.status for r in results} == {CheckoutStatus.SUCCEEDED}
    assert sorted(await orders_of(c, shop.drop_id)) == sorted(r.order.id for r in results)  # type: ignore[union-attr]
    async with c.uow(readonly=True) as uow:
        for r in results:
            assert r.order is not None
            assert (await uow.orders.get_checkout(r.checkout.id)).order_id == r.order.id  # type: ignore[union-attr]
            assert len((await uow.orders.get_order(r.order.id)).lines) == 1  # type: ignore[union-attr]
    for sku in shop.skus:
        await assert_units_conserved(c, shop.drop_id, sku, 6)


async def test_a_refused_order_among_good_ones_fails_alone(container: Container) -> None:
    """The ledger has one unit fewer than the engine believes: the batch's summed sale
    is refused, the batch is rolled back and each order is written alone; all but one
    succeed, the last is refused by the ledger and refunded."""
    c = container
    shop = await seed_shop(c, units=5)
    sku = shop.skus[0]
    holds = await hold_all(c, shop.drop_id, [sku], 5)
    await sell_elsewhere(c, shop.drop_id, sku)  # a unit the engine does not know was sold
    provider = gathering(c, 5)

    results = await asyncio.gather(
        *(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, BaseException)]
    paid = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) == 1 and type(refused[0]) is LedgerRefused, results
    assert len(paid) == 4 and all(r.order is not None for r in paid)
    stats = writer(c).stats
    assert stats.fallbacks >= 1 and stats.fallback_jobs >= 2, stats
    assert provider.calls == Counter(capture=5, refund=1)
    assert len(await orders_of(c, shop.drop_id)) == 4
    assert (await sold(c, shop.drop_id))[sku] == 5  # 4 orders and the unit sold elsewhere
    checkout_id = refused[0].extra["checkout_id"]  # type: ignore[attr-defined]
    refunded = await c.checkout.get(checkout_id)
    assert refunded.status is CheckoutStatus.REFUNDED and refunded.order_id is None
    payment = await c.provider.retrieve(refunded.payment_id)  # type: ignore[arg-type]
    assert payment.status is PaymentStatus.REFUNDED


async def test_an_error_at_the_batchs_commit_writes_each_order_alone(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    shop = await seed_shop(c, units=4, skus=2)
    holds = await hold_all(c, shop.drop_id, shop.skus, 8)
    gathering(c, 8)
    failing = FailingOrderCommits(monkeypatch, min_orders=2, times=1)

    results = await asyncio.gather(*(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds))

    assert failing.failed == 1
    stats = writer(c).stats
    assert (stats.fallbacks, stats.fallback_jobs) == (1, 8), stats
    orders = await orders_of(c, shop.drop_id)
    assert sorted(orders) == sorted(r.order.id for r in results if r.order)
    assert len(orders) == 8 and await sold(c, shop.drop_id) == dict.fromkeys(shop.skus, 4)
    for sku in shop.skus:
        await assert_units_conserved(c, shop.drop_id, sku, 4)


async def test_failing_order_commits_give_units_taken_afresh_back(
    container: Container, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Holds expired during 3-D Secure, so the confirms take their units afresh. Every
    order's commit fails (the batch's, then each alone): every caller sees the failure,
    the units go back, nothing is sold; recovery later writes each order once."""
    c = container
    shop = await seed_shop(c, units=3, ttl=30)
    sku = shop.skus[0]
    ids = [await pending_3ds(c, shop.drop_id, sku, f"b{n}") for n in range(3)]
    clock.advance(c.settings.paying_cap_s + 1)
    assert len(await c.engine.expire_due(clock.now())) == 3
    gathering(c, 3)
    failing = FailingOrderCommits(monkeypatch, min_orders=1, times=None)

    results = await asyncio.gather(
        *(c.checkout.confirm(ch, f"b{n}") for n, ch in enumerate(ids)), return_exceptions=True
    )

    assert all(isinstance(r, OperationalError) for r in results), results
    assert failing.failed >= 4  # the batch's commit, then each order's own
    assert writer(c).stats.fallback_jobs >= 2
    assert await orders_of(c, shop.drop_id) == []
    assert (await sold(c, shop.drop_id))[sku] == 0
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 3
    assert {(await c.checkout.get(ch)).status for ch in ids} == {CheckoutStatus.PROCESSING}

    monkeypatch.undo()
    c.checkout.provider = c.provider
    clock.advance(c.settings.recover_after_s + 1)
    assert sorted(await c.checkout.recover()) == sorted(ids)
    assert len(await orders_of(c, shop.drop_id)) == 3
    assert (await sold(c, shop.drop_id))[sku] == 3
    await assert_units_conserved(c, shop.drop_id, sku, 3)


async def test_two_finishers_of_one_checkout_in_one_batch_make_one_order(
    container: Container, clock: ManualClock
) -> None:
    """A confirm's order stalls on its way to the writer past the claim's lease and
    recovery takes the checkout over; both orders then reach the writer together, in
    one batch. The stale claim refuses it: the batch is rolled back, each is written
    alone, recovery's order stands, and the stale finisher answers with it."""
    c = container
    shop = await seed_shop(c, units=2, ttl=30)
    sku = shop.skus[0]
    checkout_id = await pending_3ds(c, shop.drop_id, sku, "di")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    w = writer(c)
    real_submit = w.submit
    arrived: list[Any] = []
    both = asyncio.Event()

    async def submit(job: Any) -> Any:
        arrived.append(job)
        if len(arrived) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 20)
        return await real_submit(job)

    w.submit = submit  # type: ignore[method-assign]
    stale = asyncio.create_task(c.checkout.confirm(checkout_id, "di"))
    while not arrived:
        await asyncio.sleep(0.01)
    clock.advance(c.settings.recover_after_s + 1)
    recovered = await asyncio.wait_for(c.checkout.recover(), 20)
    answer = await asyncio.wait_for(stale, 20)

    assert [j.checkout.id for j in arrived] == [checkout_id] * 2
    assert arrived[0].checkout.version < arrived[1].checkout.version
    assert recovered == [checkout_id]
    done = await c.checkout.get(checkout_id)
    assert done.status is CheckoutStatus.SUCCEEDED
    assert answer.order is not None and answer.order.id == done.order_id
    stats = writer(c).stats
    assert (stats.fallbacks, stats.fallback_jobs) == (1, 2), stats
    assert await orders_of(c, shop.drop_id) == [done.order_id]
    assert (await sold(c, shop.drop_id))[sku] == 1
    await assert_units_conserved(c, shop.drop_id, sku, 2)


async def test_a_claim_lost_before_the_batch_refuses_only_its_own_order(
    container: Container,
) -> None:
    """Another finisher claims one checkout (its version moves on) while the batch's
    orders wait for the writer: the batch's compare-and-set sees it, the batch is
    written order by order, and only that order is not written (its new finisher
    writes it); the others are paid."""
    c = container
    shop = await seed_shop(c, units=3)
    holds = await hold_all(c, shop.drop_id, shop.skus, 3)
    c.checkout.finish_wait_s = 0.2
    w = writer(c)
    real_submit = w.submit
    arrived: list[Any] = []
    all_in = asyncio.Event()

    async def submit(job: Any) -> Any:
        arrived.append(job)
        if len(arrived) == 3:  # the last one in takes the first one's checkout over
            async with c.uow() as uow:
                first = arrived[0].checkout
                assert await uow.orders.claim_checkout(
                    first.id, first.version, {CheckoutStatus.PROCESSING}
                )
                await uow.commit()
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 20)
        return await real_submit(job)

    w.submit = submit  # type: ignore[method-assign]

    results = await asyncio.gather(
        *(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds), return_exceptions=True
    )

    assert (w.stats.fallbacks, w.stats.fallback_jobs) == (1, 3), w.stats
    lost = arrived[0].checkout.id
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, Conflict) and "still being finished" in str(result)
            assert result.extra["checkout_id"] == lost
        else:
            assert result.order is not None and result.checkout.id != lost
    assert sum(isinstance(r, BaseException) for r in results) == 1
    assert len(await orders_of(c, shop.drop_id)) == 2
    left = await c.checkout.get(lost)
    assert left.status is CheckoutStatus.PROCESSING and left.order_id is None


async def test_duplicate_webhooks_make_one_order_each(container: Container) -> None:
    """Each of several 3-D Secure payments is delivered three times at once (the
    provider's webhook retried): one order per checkout, every delivery answers with it."""
    c = container
    shop = await seed_shop(c, units=4)
    sku = shop.skus[0]
    paid: list[tuple[str, PaymentResult]] = []
    for n in range(4):
        checkout_id = await pending_3ds(c, shop.drop_id, sku, f"w{n}")
        checkout = await c.checkout.get(checkout_id)
        assert checkout.payment_id is not None
        result = await c.provider.confirm(
            checkout.payment_id, idempotency_key=f"{checkout_id}:confirm"
        )
        paid.append((checkout_id, result))

    answers = await asyncio.gather(
        *(
            c.checkout.complete_from_provider(ch, result, grace_s=0)
            for ch, result in paid
            for _ in range(3)
        )
    )

    orders = await orders_of(c, shop.drop_id)
    assert len(orders) == 4
    for n, (checkout_id, _) in enumerate(paid):
        done = await c.checkout.get(checkout_id)
        assert done.status is CheckoutStatus.SUCCEEDED
        mine = answers[3 * n : 3 * n + 3]
        assert [a.order.id if a and a.order else None for a in mine] == [done.order_id] * 3
    assert (await sold(c, shop.drop_id))[sku] == 4
    await assert_units_conserved(c, shop.drop_id, sku, 4)


async def test_group_commit_off_writes_each_order_alone(
    database_url: str, clock: ManualClock
) -> None:
    """``DROPLINE_GROUP_COMMIT=off``: no writer, the same orders."""
    from dropline.bootstrap import build
    from dropline.config import Settings

    if not database_url.startswith("sqlite"):
        pytest.skip("the setting is the same on both databases")
    settings = Settings(
        database_url=database_url,
        engine_url="memory",
        background_tasks=False,
        readiness_gate="advise",
        group_commit="off",  # type: ignore[arg-type]  # as the environment gives it
    )
    c = await build(settings, clock=clock)
    try:
        assert c.checkout.writer is None
        shop = await seed_shop(c, units=3)
        holds = await hold_all(c, shop.drop_id, shop.skus, 3)
        results = await asyncio.gather(*(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds))
        assert len({r.order.id for r in results if r.order}) == 3
        await assert_units_conserved(c, shop.drop_id, shop.skus[0], 3)
    finally:
        await c.close()


async def test_two_processes_batching_on_postgresql_sell_each_unit_once(
    container: Container, clock: ManualClock
) -> None:
    """Two API processes' writers (two containers: their own pools and writers, one
    PostgreSQL and one Redis) write batches of the same SKUs at the same time: their
    row locks are taken in one order, so they wait for each other, and every unit is
    sold once."""
    from dropline.bootstrap import build

    c = container
    if not c.settings.database_url.startswith("postgresql"):
        pytest.skip("one SQLite writer per file: processes do not batch side by side")
    other = await build(c.settings, clock=clock)
    try:
        shop = await seed_shop(c, units=12, skus=2)
        holds = await hold_all(c, shop.drop_id, shop.skus, 24)
        gathering(c, 12)
        other.checkout.provider = Gathering(other.checkout.provider, 12)
        results = await asyncio.gather(
            *(
                (c if n % 2 else other).checkout.start(h.id, h.buyer_id, VISA)
                for n, h in enumerate(holds)
            )
        )
        assert len({r.order.id for r in results if r.order}) == 24
        for w in (writer(c), writer(other)):
            assert w.stats.shared >= 1, w.stats
        assert await sold(c, shop.drop_id) == dict.fromkeys(shop.skus, 12)
        for sku in shop.skus:
            await assert_units_conserved(c, shop.drop_id, sku, 12)
    finally:
        await other.close()


async def test_orders_of_one_batch_are_handed_off_as_each_would_be_alone(
    container: Container,
) -> None:
    """The batch's hand-off (one statement per table for all its orders) gives every
    order what a lone order gets: its shipment with a ship-by, ``order.paid`` then
    ``order.ready_to_fulfill`` with its own pick lines (each order told the SKU's bin,
    as if it were the only order), ``checkout.succeeded``, and one confirmation."""
    c = container
    shop = await seed_shop(c, units=4, skus=2)
    holds = await hold_all(c, shop.drop_id, shop.skus, 4)
    gathering(c, 4)
    ship = ShipTo(name="Ada", line1="1 Main St", city="Leeds", postal_code="LS1", country="GB")

    results = await asyncio.gather(
        *(
            c.checkout.start(h.id, h.buyer_id, VISA, replace(ship, email=f"b{n}@example.com"))
            for n, h in enumerate(holds)
        )
    )

    assert writer(c).stats.largest == 4, writer(c).stats
    async with c.uow(readonly=True) as uow:
        for n, result in enumerate(results):
            order = result.order
            assert order is not None
            events = await uow.outbox.list(aggregate_id=order.id)
            assert [ev["type"] for ev in events] == ["order.paid", "order.ready_to_fulfill"]
            ready = events[1]["payload"]
            sku = shop.skus[n % 2]
            assert [
                (ln["sku_id"], ln["bin_location"], ln["quantity"]) for ln in ready["lines"]
            ] == [(sku, f"A-{n % 2:02d}", 1)]
            assert ready["ship_to"]["email"] == f"b{n}@example.com" and ready["ship_by"]
            shipment = await uow.shipments.for_order(order.id)
            assert shipment is not None and shipment["checkout_id"] == result.checkout.id
            assert shipment["ship_by"] is not None
            succeeded = await uow.outbox.list(aggregate_id=result.checkout.id)
            assert [ev["type"] for ev in succeeded] == ["checkout.succeeded"]
            mail = [m for m in await uow.messages.list(limit=500) if m["order_id"] == order.id]
            assert [(m["kind"], m["to_email"], m["event_id"]) for m in mail] == [
                ("order_confirmed", f"b{n}@example.com", events[1]["id"])
            ]
            assert order.number in mail[0]["subject"]


# ---------------------------------------------------------------- payments started together


def starter(c: Container) -> GroupCommit[Any, Any, Any]:
    assert c.checkout.starter is not None, "group commit is on by default"
    return c.checkout.starter


async def test_payments_started_together_share_one_transaction(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=6, skus=2)
    holds = await hold_all(c, shop.drop_id, shop.skus, 6)

    results = await asyncio.gather(*(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds))

    stats = starter(c).stats
    assert stats.largest > 1 and stats.fallbacks == 0, stats
    assert {r.checkout.status for r in results} == {CheckoutStatus.SUCCEEDED}
    assert len(await orders_of(c, shop.drop_id)) == 6
    async with c.uow(readonly=True) as uow:
        for h in holds:  # one checkout per hold, none left processing
            checkouts = await uow.orders.checkouts_for_hold(h.id)
            assert [ch.status for ch in checkouts] == [CheckoutStatus.SUCCEEDED]


async def test_two_payments_of_one_hold_in_one_batch_make_one_checkout(
    container: Container,
) -> None:
    """The second payment of a hold sees the first in progress, as it would one
    transaction later: refused alone with 409, the other payments of the batch go on."""
    c = container
    shop = await seed_shop(c, units=4)
    holds = await hold_all(c, shop.drop_id, shop.skus, 3)
    twice = holds[0]

    results = await asyncio.gather(
        *(c.checkout.start(h.id, h.buyer_id, VISA) for h in [twice, *holds[1:], twice]),
        return_exceptions=True,
    )

    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], Conflict), results
    assert "already in progress" in str(refused[0])
    assert starter(c).stats.largest == 4 and starter(c).stats.fallbacks == 0
    async with c.uow(readonly=True) as uow:
        checkouts = await uow.orders.checkouts_for_hold(twice.id)
    assert [ch.status for ch in checkouts] == [CheckoutStatus.SUCCEEDED]
    assert len(await orders_of(c, shop.drop_id)) == 3
    await assert_units_conserved(c, shop.drop_id, shop.skus[0], 4)


async def test_a_start_batch_that_fails_to_commit_records_each_payment_alone(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    holds = await hold_all(c, shop.drop_id, shop.skus, 5)
    w = starter(c)
    failed = 0

    async def failing_once(uow: UnitOfWork) -> None:
        nonlocal failed
        if failed == 0:
            failed += 1
            raise OperationalError("COMMIT", {}, Exception("disk I/O error (injected)"))
        await uow.commit()

    monkeypatch.setattr(w, "_commit", failing_once)

    results = await asyncio.gather(*(c.checkout.start(h.id, h.buyer_id, VISA) for h in holds))

    assert failed == 1 and w.stats.fallbacks == 1 and w.stats.fallback_jobs >= 2, w.stats
    assert {r.checkout.status for r in results} == {CheckoutStatus.SUCCEEDED}
    assert sorted(await orders_of(c, shop.drop_id)) == sorted(r.order.id for r in results)  # type: ignore[union-attr]
    async with c.uow(readonly=True) as uow:
        for h in holds:  # the rolled-back batch left no checkout behind
            assert len(await uow.orders.checkouts_for_hold(h.id)) == 1
    await assert_units_conserved(c, shop.drop_id, shop.skus[0], 5)
