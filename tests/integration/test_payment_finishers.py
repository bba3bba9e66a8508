"""Several finishers of one checkout at once (the buyer's confirms, recovery, a second
checkout of the same hold), through the services on both backend profiles (SQLite with
the in-process engine, PostgreSQL with Redis): one claims it, only the claimant touches
the engine and the money, the others answer with its result, and no unit is lost.
(The provider's webhook racing the buyer's confirm is in
``test_stripe_webhook_endpoint.py``; the same races over a real server's HTTP are in
``tests/e2e/test_concurrent_finishers.py``.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.ports import ManualClock, PaymentResult, PaymentStatus
from support import ProviderWrapper, seed_shop, sku_item

VISA = "4242424242424242"
THREE_DS = "4000000000003220"


class Counting(ProviderWrapper):
    """The real provider, counting each call; ``fail_captures`` makes that many
    captures fail as an unreachable provider would, after nothing moved."""

    def __init__(self, inner: Any, fail_captures: int = 0) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()
        self.fail_captures = fail_captures

    async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        self.calls["capture"] += 1
        if self.fail_captures:
            self.fail_captures -= 1
            raise e.PaymentProviderError("the provider timed out")
        result: PaymentResult = await self.inner.capture(
            payment_id, idempotency_key=idempotency_key
        )
        return result


def counting(c: Container, fail_captures: int = 0) -> Counting:
    provider = Counting(c.checkout.provider, fail_captures)
    c.checkout.provider = provider
    return provider


async def sold(c: Container, drop_id: str) -> dict[str, int]:
    async with c.uow(readonly=True) as uow:
        return {s: o.sold for s, o in (await uow.drops.offers(drop_id)).items()}


async def orders_of(c: Container, drop_id: str) -> list[str]:
    async with c.uow(readonly=True) as uow:
        return [o.id for o in await uow.orders.list_orders(drop_id=drop_id)]


async def assert_units_conserved(c: Container, drop_id: str, sku: str, offered: int) -> None:
    """The engine, the ledger and the report agree on every unit: what the engine
    still offers is what the ledger has not sold, nothing is stuck in a hold."""
    counts = (await c.engine.counts(drop_id))[sku]
    ledger = (await sold(c, drop_id))[sku]
    assert (counts.remaining, counts.held) == (offered - ledger, 0), (counts, ledger)
    assert all(ch.consistent for ch in await c.stock.verify())
    report = await c.reports.build(drop_id)
    assert report["balanced"], report["reconciliation"]


async def pending_3ds(c: Container, drop_id: str, sku: str, buyer: str) -> str:
    hold = await c.holds.place(drop_id, buyer, [sku_item(sku)])
    pending = await c.checkout.start(hold.id, buyer, THREE_DS)
    assert pending.checkout.status is CheckoutStatus.REQUIRES_ACTION
    return pending.checkout.id


async def test_racing_confirms_capture_once_and_all_answer_with_the_order(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=3)
    sku = shop.skus[0]
    checkout_id = await pending_3ds(c, shop.drop_id, sku, "ann")
    provider = counting(c)

    results = await asyncio.gather(*(c.checkout.confirm(checkout_id, "ann") for _ in range(8)))

    (order_id,) = await orders_of(c, shop.drop_id)
    assert [r.order.id if r.order else None for r in results] == [order_id] * 8
    assert {r.checkout.status for r in results} == {CheckoutStatus.SUCCEEDED}
    assert provider.calls["capture"] == 1  # only the finisher that won moved money
    payment = await c.provider.retrieve(results[0].order.payment_id)  # type: ignore[union-attr]
    assert payment.status is PaymentStatus.CAPTURED
    assert (await sold(c, shop.drop_id))[sku] == 1
    await assert_units_conserved(c, shop.drop_id, sku, 3)


async def test_finishers_of_an_expired_hold_take_its_units_once(
    container: Container, clock: ManualClock
) -> None:
    """The hold expired during 3-D Secure, so its units went back; the finishers that
    race to take them afresh take them once, and the units stay accounted for."""
    c = container
    shop = await seed_shop(c, units=3, ttl=30)
    sku = shop.skus[0]
    checkout_id = await pending_3ds(c, shop.drop_id, sku, "bo")
    clock.advance(c.settings.paying_cap_s + 1)
    assert len(await c.engine.expire_due(clock.now())) == 1
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 3

    results = await asyncio.gather(*(c.checkout.confirm(checkout_id, "bo") for _ in range(6)))

    (order_id,) = await orders_of(c, shop.drop_id)
    assert {r.order.id for r in results if r.order} == {order_id}
    assert all(r.order is not None for r in results)
    assert (await sold(c, shop.drop_id))[sku] == 1
    await assert_units_conserved(c, shop.drop_id, sku, 3)


async def test_a_failed_capture_gives_units_taken_afresh_back_and_recovery_finishes(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=2, ttl=30)
    sku = shop.skus[0]
    checkout_id = await pending_3ds(c, shop.drop_id, sku, "cy")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    provider = counting(c, fail_captures=1)

    with pytest.raises(e.PaymentProviderError):
        await c.checkout.confirm(checkout_id, "cy")
    # Nothing sold, nothing kept: the units taken afresh are back in the engine, and
    # the authorised payment waits for whoever finishes the checkout.
    assert (await c.checkout.get(checkout_id)).status is CheckoutStatus.PROCESSING
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 2
    assert await orders_of(c, shop.drop_id) == []

    clock.advance(c.settings.recover_after_s + 1)
    assert await c.checkout.recover() == [checkout_id]
    done = await c.checkout.get(checkout_id)
    assert done.status is CheckoutStatus.SUCCEEDED and done.order_id
    assert provider.calls["capture"] == 2
    assert (await sold(c, shop.drop_id))[sku] == 1
    await assert_units_conserved(c, shop.drop_id, sku, 2)


async def test_a_finisher_whose_claim_was_taken_over_gives_its_units_back(
    container: Container, clock: ManualClock
) -> None:
    """A finisher stalls in the capture past its lease; recovery takes the checkout
    over and sells it. The stalled one then loses the final compare-and-set: it writes
    nothing, gives back the units it took afresh and answers with recovery's order."""
    c = container
    shop = await seed_shop(c, units=2, ttl=30)
    sku = shop.skus[0]
    checkout_id = await pending_3ds(c, shop.drop_id, sku, "di")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    real = c.checkout.provider
    stalled, release = asyncio.Event(), asyncio.Event()

    class Stalls(Counting):
        async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
            if not stalled.is_set():
                stalled.set()
                await release.wait()
            return await super().capture(payment_id, idempotency_key=idempotency_key)

    provider = Stalls(real)
    c.checkout.provider = provider
    slow = asyncio.create_task(c.checkout.confirm(checkout_id, "di"))
    await asyncio.wait_for(stalled.wait(), 10)
    clock.advance(c.settings.recover_after_s + 1)
    assert await c.checkout.recover() == [checkout_id]
    recovered = await c.checkout.get(checkout_id)
    assert recovered.status is CheckoutStatus.SUCCEEDED
    release.set()
    answer = await asyncio.wait_for(slow, 10)

    assert answer.order is not None and answer.order.id == recovered.order_id
    assert await orders_of(c, shop.drop_id) == [recovered.order_id]
    assert (await sold(c, shop.drop_id))[sku] == 1
    await assert_units_conserved(c, shop.drop_id, sku, 2)


async def test_concurrent_checkouts_of_one_hold_pay_once(container: Container) -> None:
    """Without an Idempotency-Key, paying one hold from several requests at once is one
    payment: the others are refused before any money moves."""
    c = container
    shop = await seed_shop(c, units=3)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "ed", [sku_item(sku)])

    results = await asyncio.gather(
        *(c.checkout.start(hold.id, "ed", VISA) for _ in range(6)), return_exceptions=True
    )

    paid = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(paid) == 1 and paid[0].order is not None
    assert all(type(r) is e.Conflict for r in refused), refused
    async with c.uow(readonly=True) as uow:
        checkouts = await uow.orders.checkouts_for_hold(hold.id)
    assert [ch.status for ch in checkouts] == [CheckoutStatus.SUCCEEDED]
    assert await orders_of(c, shop.drop_id) == [paid[0].order.id]
    await assert_units_conserved(c, shop.drop_id, sku, 3)


async def test_a_confirm_that_loses_to_the_webhook_answers_with_the_winners_sold_out(
    container: Container, clock: ManualClock
) -> None:
    """The buyer's confirm reads the checkout waiting for 3-D Secure; before it reaches
    the provider, the webhook finishes the same payment and voids it (the hold expired
    and its unit was sold meanwhile). The confirm answers ``SoldOut``, as the winner
    decided, not a provider error for a payment status it did not expect."""
    c = container
    shop = await seed_shop(c, units=1, ttl=30)
    sku = shop.skus[0]
    checkout_id = await pending_3ds(c, shop.drop_id, sku, "ann")
    clock.advance(c.settings.paying_cap_s + 1)
    assert len(await c.engine.expire_due(clock.now())) == 1
    other = await c.holds.place(shop.drop_id, "bo", [sku_item(sku)])
    assert (await c.checkout.start(other.id, "bo", VISA)).order is not None
    checkout = await c.checkout.get(checkout_id)
    assert checkout.payment_id is not None
    paid = await c.provider.confirm(checkout.payment_id, idempotency_key=f"{checkout_id}:confirm")
    inner = c.checkout.provider

    class WebhookFirst(Counting):
        async def confirm(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
            with pytest.raises(e.SoldOut):
                c.checkout._answer(await c.checkout.complete_from_provider(checkout_id, paid), "")
            result: PaymentResult = await self.inner.confirm(
                payment_id, idempotency_key=idempotency_key
            )
            return result

    c.checkout.provider = WebhookFirst(inner)
    with pytest.raises(e.SoldOut):
        await c.checkout.confirm(checkout_id, "ann")
    assert (await c.checkout.get(checkout_id)).status is CheckoutStatus.VOIDED
    assert len(await orders_of(c, shop.drop_id)) == 1
    await assert_units_conserved(c, shop.drop_id, sku, 1)
