"""Hold → checkout → order through the services, on SQLite and PostgreSQL, including
the failure paths where units or money could be lost or counted twice."""

from __future__ import annotations

import pytest

from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.orders import CheckoutStatus, OrderStatus
from dropline.services.ports import ManualClock, PaymentStatus
from support import seed_shop, sku_item

VISA = "4242424242424242"


async def ledger_sold(c: Container, drop_id: str) -> dict[str, int]:
    async with c.uow(readonly=True) as uow:
        return {s: o.sold for s, o in (await uow.drops.offers(drop_id)).items()}


async def test_paid_order_commits_lines_movements_and_event(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "ann", [sku_item(sku, 2)])
    result = await c.checkout.start(hold.id, "ann", VISA)
    assert result.order is not None
    order = result.order
    assert order.status is OrderStatus.PAID
    assert order.total_amount == 5000 and order.currency == "USD"
    assert [(ln.quantity, ln.unit_amount) for ln in order.lines] == [(2, 2500)]
    assert (await ledger_sold(c, shop.drop_id))[sku] == 2
    level = await c.stock.level(sku)
    assert (level.committed, level.reserved, level.available) == (2, 3, 0)
    assert (await c.engine.get_hold(hold.id)).status == "converted"  # type: ignore[union-attr]
    payment = await c.provider.retrieve(order.payment_id)
    assert payment.status is PaymentStatus.CAPTURED and payment.amount == 5000
    async with c.uow(readonly=True) as uow:
        events = await uow.outbox.list(aggregate_id=order.id)
    assert [ev["type"] for ev in events] == ["order.paid", "order.ready_to_fulfill"]
    assert events[0]["payload"]["total_amount"] == 5000
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_decline_is_recorded_and_hold_can_retry(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=1)
    hold = await c.holds.place(shop.drop_id, "bo", [sku_item(shop.skus[0])])
    with pytest.raises(e.PaymentDeclined) as info:
        await c.checkout.start(hold.id, "bo", "4000000000009995")
    assert info.value.extra["decline_code"] == "insufficient_funds"
    failed = await c.checkout.get(info.value.extra["checkout_id"])
    assert failed.status is CheckoutStatus.FAILED
    assert (await ledger_sold(c, shop.drop_id))[shop.skus[0]] == 0
    # The unit is still the buyer's; another card works.
    result = await c.checkout.start(hold.id, "bo", VISA)
    assert result.order is not None


async def test_three_d_secure_then_confirm(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=1)
    hold = await c.holds.place(shop.drop_id, "cy", [sku_item(shop.skus[0])])
    pending = await c.checkout.start(hold.id, "cy", "4000000000003220")
    assert pending.checkout.status is CheckoutStatus.REQUIRES_ACTION
    assert pending.next_action and pending.next_action["type"] == "three_d_secure"
    done = await c.checkout.confirm(pending.checkout.id, "cy")
    assert done.order is not None and done.checkout.status is CheckoutStatus.SUCCEEDED
    # Confirming again (a double tap, a retry) answers with the same order, once.
    again = await c.checkout.confirm(pending.checkout.id, "cy")
    assert again.order == done.order and again.checkout == done.checkout
    assert (await ledger_sold(c, shop.drop_id))[shop.skus[0]] == 1


async def test_expired_during_payment_but_unit_still_free_is_sold(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=2, ttl=30)
    hold = await c.holds.place(shop.drop_id, "di", [sku_item(shop.skus[0])])
    pending = await c.checkout.start(hold.id, "di", "4000000000003220")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    done = await c.checkout.confirm(pending.checkout.id, "di")
    assert done.order is not None
    assert (await ledger_sold(c, shop.drop_id))[shop.skus[0]] == 1
    counts = await c.engine.counts(shop.drop_id)
    assert counts[shop.skus[0]].remaining == 1  # taken afresh, not returned twice


async def test_expired_during_payment_and_sold_out_is_voided(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=1, ttl=30)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "ed", [sku_item(sku)])
    pending = await c.checkout.start(hold.id, "ed", "4000000000003220")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    other = await c.holds.place(shop.drop_id, "fay", [sku_item(sku)])
    assert (await c.checkout.start(other.id, "fay", VISA)).order is not None
    with pytest.raises(e.SoldOut):
        await c.checkout.confirm(pending.checkout.id, "ed")
    voided = await c.checkout.get(pending.checkout.id)
    assert voided.status is CheckoutStatus.VOIDED
    assert voided.failure_reason and "sold out" in voided.failure_reason
    assert voided.payment_id is not None
    payment = await c.provider.retrieve(voided.payment_id)
    assert payment.status is PaymentStatus.VOIDED
    assert (await ledger_sold(c, shop.drop_id))[sku] == 1


async def test_late_payment_within_the_limit_is_sold(
    container: Container, clock: ManualClock
) -> None:
    """A payment that outlives its hold takes its units afresh when the buyer stays
    within the per-buyer limit (the expired hold no longer counts)."""
    c = container
    shop = await seed_shop(c, units=5, ttl=30, limit=2)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "gil", [sku_item(sku)])
    pending = await c.checkout.start(hold.id, "gil", "4000000000003220")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    other = await c.holds.place(shop.drop_id, "gil", [sku_item(sku)])
    assert (await c.checkout.start(other.id, "gil", VISA)).order is not None
    done = await c.checkout.confirm(pending.checkout.id, "gil")
    assert done.order is not None
    assert (await ledger_sold(c, shop.drop_id))[sku] == 2


@pytest.mark.parametrize("engine_lost", [False, True])
async def test_late_payment_over_the_limit_is_voided_like_a_sold_out_one(
    container: Container, clock: ManualClock, engine_lost: bool
) -> None:
    """The hold expired during 3-D Secure and the buyer meanwhile bought up to the
    per-buyer limit: the late payment may not take units afresh past it (not even
    after the engine lost the drop and rebuilt it from the ledger). The authorisation
    is voided and recorded as for a sold-out late payment; nothing is sold, the
    units stay on offer, and a retried confirm changes nothing."""
    c = container
    shop = await seed_shop(c, units=5, ttl=30, limit=2)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "hal", [sku_item(sku)])
    pending = await c.checkout.start(hold.id, "hal", "4000000000003220")
    clock.advance(c.settings.paying_cap_s + 1)
    await c.engine.expire_due(clock.now())
    other = await c.holds.place(shop.drop_id, "hal", [sku_item(sku, 2)])
    assert (await c.checkout.start(other.id, "hal", VISA)).order is not None
    if engine_lost:  # a restart, or Redis lost its data: rebuilt from the ledger
        await c.engine.forget_drop(shop.drop_id)
    with pytest.raises(e.LimitExceeded) as info:
        await c.checkout.confirm(pending.checkout.id, "hal")
    assert info.value.extra["checkout_id"] == pending.checkout.id
    voided = await c.checkout.get(pending.checkout.id)
    assert voided.status is CheckoutStatus.VOIDED and voided.order_id is None
    assert voided.failure_reason and "limit" in voided.failure_reason
    assert voided.payment_id is not None
    payment = await c.provider.retrieve(voided.payment_id)
    assert payment.status is PaymentStatus.VOIDED
    async with c.uow(readonly=True) as uow:
        events = await uow.outbox.list(aggregate_id=voided.id)
        orders = await uow.orders.list_orders(drop_id=shop.drop_id)
    voided_event = [ev for ev in events if ev["type"] == "checkout.voided"]
    assert [ev["payload"]["reason"] for ev in voided_event] == [voided.failure_reason]
    assert [o.buyer_id for o in orders] == ["hal"]  # only the order within the limit
    assert (await ledger_sold(c, shop.drop_id))[sku] == 2
    counts = (await c.engine.counts(shop.drop_id))[sku]
    assert (counts.remaining, counts.held) == (3, 0)
    with pytest.raises(e.Conflict):  # as for any checkout already given back
        await c.checkout.confirm(pending.checkout.id, "hal")
    # another buyer still gets the units the late payment did not take
    third = await c.holds.place(shop.drop_id, "ivo", [sku_item(sku, 2)])
    assert (await c.checkout.start(third.id, "ivo", VISA)).order is not None
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_ledger_refuses_when_engine_drifted_and_refunds(container: Container) -> None:
    """Even if the engine wrongly believed a unit was free, the ledger never oversells:
    the captured payment is refunded automatically."""
    c = container
    shop = await seed_shop(c, units=1)
    sku = shop.skus[0]
    first = await c.holds.place(shop.drop_id, "gil", [sku_item(sku)])
    await c.checkout.start(first.id, "gil", VISA)
    await c.engine.adjust_offer(shop.drop_id, sku, 1, None)  # simulate a drifted engine
    second = await c.holds.place(shop.drop_id, "hal", [sku_item(sku)])
    with pytest.raises(e.SoldOut):
        await c.checkout.start(second.id, "hal", VISA)
    checkouts = [ch for ch in await _checkouts(c, shop.drop_id) if ch.buyer_id == "hal"]
    assert [ch.status for ch in checkouts] == [CheckoutStatus.REFUNDED]
    payment = await c.provider.retrieve(checkouts[0].payment_id or "")
    assert payment.status is PaymentStatus.REFUNDED and payment.refunded_amount == 2500
    assert (await ledger_sold(c, shop.drop_id))[sku] == 1


async def _checkouts(c: Container, drop_id: str):  # type: ignore[no-untyped-def]
    async with c.uow(readonly=True) as uow:
        return await uow.orders.list_checkouts(drop_id)


async def test_checkout_of_someone_elses_hold(container: Container) -> None:
    c = container
    shop = await seed_shop(c)
    hold = await c.holds.place(shop.drop_id, "ivy", [sku_item(shop.skus[0])])
    with pytest.raises(e.HoldNotOwned):
        await c.checkout.start(hold.id, "mallory", VISA)
    assert await _checkouts(c, shop.drop_id) == []


async def test_checkout_of_released_or_expired_hold(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, ttl=30)
    released = await c.holds.place(shop.drop_id, "jo", [sku_item(shop.skus[0])])
    await c.holds.release(released.id, "jo")
    with pytest.raises(e.HoldNotActive):
        await c.checkout.start(released.id, "jo", VISA)
    expired = await c.holds.place(shop.drop_id, "jo", [sku_item(shop.skus[0])])
    clock.advance(31)
    with pytest.raises(e.HoldExpired):
        await c.checkout.start(expired.id, "jo", VISA)
    assert await _checkouts(c, shop.drop_id) == []


async def test_paying_twice_for_one_hold_is_refused(container: Container) -> None:
    c = container
    shop = await seed_shop(c)
    hold = await c.holds.place(shop.drop_id, "kim", [sku_item(shop.skus[0])])
    await c.checkout.start(hold.id, "kim", VISA)
    with pytest.raises(e.Conflict):
        await c.checkout.start(hold.id, "kim", VISA)
    assert (await ledger_sold(c, shop.drop_id))[shop.skus[0]] == 1


async def test_recovery_finishes_a_checkout_left_processing(
    container: Container, clock: ManualClock
) -> None:
    """A crash after the provider authorised but before the order was written: the
    recovery pass asks the provider again with the same key and completes exactly once."""
    c = container
    shop = await seed_shop(c)
    hold = await c.holds.place(shop.drop_id, "lee", [sku_item(shop.skus[0])])

    class Crash(Exception):
        pass

    real_complete = c.checkout._complete

    async def crash(*args: object, **kwargs: object) -> None:
        raise Crash

    c.checkout._complete = crash  # type: ignore[assignment,method-assign]
    with pytest.raises(Crash):
        await c.checkout.start(hold.id, "lee", VISA)
    c.checkout._complete = real_complete  # type: ignore[method-assign]
    [stuck] = await _checkouts(c, shop.drop_id)
    assert stuck.status is CheckoutStatus.PROCESSING
    clock.advance(60)
    assert await c.checkout.recover() == [stuck.id]
    assert await c.checkout.recover() == []
    done = await c.checkout.get(stuck.id)
    assert done.status is CheckoutStatus.SUCCEEDED and done.order_id
    assert (await ledger_sold(c, shop.drop_id))[shop.skus[0]] == 1
    async with c.uow(readonly=True) as uow:
        orders = await uow.orders.list_orders(drop_id=shop.drop_id)
    assert len(orders) == 1


async def test_abandoned_three_d_secure_is_voided_by_recovery(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c)
    hold = await c.holds.place(shop.drop_id, "max", [sku_item(shop.skus[0])])
    pending = await c.checkout.start(hold.id, "max", "4000000000003220")
    clock.advance(c.settings.paying_cap_s + 120)
    assert await c.checkout.recover() == [pending.checkout.id]
    failed = await c.checkout.get(pending.checkout.id)
    assert failed.status is CheckoutStatus.FAILED
    assert failed.decline_code == "authentication_abandoned"
    payment = await c.provider.retrieve(pending.checkout.payment_id or "")
    assert payment.status is PaymentStatus.VOIDED


async def test_restart_rebuilds_engine_from_ledger(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=3, limit=2)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "ned", [sku_item(sku, 2)])
    await c.checkout.start(hold.id, "ned", VISA)
    await c.holds.place(shop.drop_id, "ola", [sku_item(sku)])  # lost on restart
    await c.engine.forget_drop(shop.drop_id)  # what a restart looks like
    assert await c.drops.sync_engine() == [shop.drop_id]
    counts = await c.engine.counts(shop.drop_id)
    assert counts[sku].remaining == 1 and counts[sku].held == 0
    with pytest.raises(e.LimitExceeded):  # ned's purchases still count
        await c.holds.place(shop.drop_id, "ned", [sku_item(sku)])


async def test_drop_ended_during_payment_voids_and_keeps_stock_whole(
    container: Container,
) -> None:
    from dropline.domain.live.drops import DropStatus

    c = container
    shop = await seed_shop(c, units=3)
    sku = shop.skus[0]
    hold = await c.holds.place(shop.drop_id, "pat", [sku_item(sku)])
    pending = await c.checkout.start(hold.id, "pat", "4000000000003220")
    await c.drops.transition(shop.drop_id, DropStatus.ENDED)
    with pytest.raises(e.SoldOut):
        await c.checkout.confirm(pending.checkout.id, "pat")
    done = await c.checkout.get(pending.checkout.id)
    assert done.status is CheckoutStatus.VOIDED
    level = await c.stock.level(sku)
    assert (level.available, level.reserved, level.committed) == (3, 0, 0)
    assert all(ch.consistent for ch in await c.stock.verify())
    with pytest.raises(e.DropNotLive):
        await c.holds.place(shop.drop_id, "pat", [sku_item(sku)])


async def test_the_ledger_sells_only_on_a_drop_that_has_not_ended(
    container: Container,
) -> None:
    """The sale's last guard, below the engine: units left, drop present, not ended."""
    from dropline.domain.live.drops import DropStatus

    c = container
    shop = await seed_shop(c, units=3, skus=2)
    sku, other = shop.skus[0], shop.skus[1]
    async with c.uow() as uow:
        assert await uow.drops.sell_if_open(shop.drop_id, {sku: 1})
        assert not await uow.drops.sell_if_open(shop.drop_id, {sku: 3})  # 2 left
        assert not await uow.drops.sell_if_open("drp_unknown", {sku: 1})
        await uow.commit()
    await c.drops.transition(shop.drop_id, DropStatus.ENDED)
    async with c.uow() as uow:
        assert not await uow.drops.sell_if_open(shop.drop_id, {sku: 1})
        assert not await uow.drops.sell_if_open(shop.drop_id, {other: 1, sku: 1})
        assert not await uow.drops.sell_if_open(shop.drop_id, {})
    _, offers, _ = await c.drops.get(shop.drop_id)
    assert (offers[sku].sold, offers[other].sold) == (1, 0)


async def test_stock_apply_refuses_alone_and_in_batches_without_writing(
    container: Container,
) -> None:
    """``StockRepository.apply`` (one movement: one conditional update on SQLite) moves
    only units the source bucket has, raises the domain's errors, writes nothing then."""
    from dropline.domain.stock.buckets import Bucket, Movement, Reason

    c = container
    shop = await seed_shop(c, units=3, skus=2)
    sku, other = shop.skus
    before = await c.stock.level(sku)

    def sale(s: str, n: int) -> Movement:
        return Movement(s, n, Bucket.RESERVED, Bucket.COMMITTED, Reason.SALE, "ref-1")

    have = before.reserved  # the drop's units
    assert have > 0
    for batch in ([sale(sku, have + 1)], [sale(other, 1), sale(sku, have + 1)]):
        async with c.uow() as uow:
            with pytest.raises(e.InsufficientStock) as info:
                await uow.stock.apply(batch)
            assert info.value.extra["have"] == have
    async with c.uow() as uow:
        with pytest.raises(e.NotFound):
            await uow.stock.apply([sale("sku_unknown", 1)])
    assert await c.stock.level(sku) == before
    async with c.uow() as uow:
        moved = await uow.stock.apply([sale(sku, have)])
        await uow.commit()
    after = await c.stock.level(sku)
    assert moved == {sku: after}
    assert (after.reserved, after.committed) == (0, before.committed + have)
    assert all(ch.consistent for ch in await c.stock.verify())
