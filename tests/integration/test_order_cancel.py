"""Cancelling an unshipped order on both backend profiles: the units go back on sale
(or to available once the drop ended), the money goes back once, the warehouse and the
buyer hear of it, the report still balances, and what cannot be cancelled is refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dropline.bootstrap import Container
from dropline.domain.errors import Conflict, InvalidTransition, PaymentProviderError, SoldOut
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.domain.live.drops import DropStatus
from dropline.services.fulfilment.shipping import UpdateDetails
from dropline.services.ports import ManualClock, PaymentProvider, PaymentResult
from dropline.store.live.order_records import OrderRecord
from fulfilment_support import outbox_types, paid_order
from preorders_support import buy, preorder_drop, seed_run
from support import seed_shop, sku_item


async def reload(c: Container, order_id: str) -> OrderRecord:
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    assert order is not None
    return order


async def units_check(c: Container, drop_id: str) -> dict[str, Any]:
    report = await c.reports.build(drop_id)
    assert report["balanced"], report["reconciliation"]
    [total] = [
        x for x in report["reconciliation"] if x["key"] == "units" and x["scope"] == "all SKUs"
    ]
    return {p["name"]: p["value"] for p in total["right"]} | {"offered": total["left"]["value"]}


async def test_cancelling_a_sold_out_order_puts_its_units_back_on_sale(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=2)
    sku = shop.skus[0]
    order = await paid_order(c, shop, "early", 2)
    with pytest.raises(SoldOut):
        await c.holds.place(shop.drop_id, "late", [sku_item(sku, 1)])
    before = await c.stock.level(sku)

    done = await c.cancellations.cancel(order.id, reason="buyer asked", by="ops")
    assert (done.status.value, done.refunded_amount, done.status_reason) == (
        "refunded",
        5000,
        "buyer asked",
    )
    after = await c.stock.level(sku)
    assert (after.committed, after.reserved) == (before.committed - 2, before.reserved + 2)
    assert all(chk.consistent for chk in await c.stock.verify())
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 5000
    assert await outbox_types(c, order.id) == [
        "order.paid",
        "order.ready_to_fulfill",
        "order.cancelled",
        "order.refunded",
    ]
    assert len(await c.messages.list(order_id=order.id, kind="refunded")) == 1

    # The live engine offers the units again, and the report still balances.
    hold = await c.holds.place(shop.drop_id, "late", [sku_item(sku, 1)])
    assert hold.id
    units = await units_check(c, shop.drop_id)
    assert units["sold"] == 0 and units["still offered"] == 2

    # Once it ships nothing else happens: the warehouse is refused, a repeat is refused.
    with pytest.raises(InvalidTransition):
        await c.fulfilment.apply_update(
            "wms", "late-ship", FulfilmentUpdate.SHIPPED, order.id, UpdateDetails("UPS", "1Z")
        )
    with pytest.raises(InvalidTransition, match="already closed"):
        await c.cancellations.cancel(order.id, reason="again")


async def test_after_the_drop_ended_the_units_go_to_available(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=3)
    sku = shop.skus[0]
    order = await paid_order(c, shop, "buyer", 1)
    await c.drops.transition(shop.drop_id, DropStatus.ENDED)
    before = await c.stock.level(sku)
    await c.cancellations.cancel(order.id, reason="address undeliverable")
    after = await c.stock.level(sku)
    assert (after.committed, after.reserved, after.available) == (
        before.committed - 1,
        before.reserved,
        before.available + 1,
    )
    units = await units_check(c, shop.drop_id)
    assert (units["offered"], units["sold"], units["unsold, back in stock"]) == (3, 0, 3)


async def test_a_handed_off_order_can_be_cancelled_a_shipped_one_cannot(
    container: Container,
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    handed = await paid_order(c, shop, "a", 1)
    async with c.uow() as uow:
        assert await c.fulfilment.mark_handed_off(uow, handed.id, "test")
        await uow.commit()
    assert (
        await c.cancellations.cancel(handed.id, reason="fraud check")
    ).status.value == "refunded"

    shipped = await paid_order(c, shop, "b", 1)
    await c.fulfilment.apply_update(
        "wms", "ship-b", FulfilmentUpdate.SHIPPED, shipped.id, UpdateDetails("UPS", "1Z")
    )
    with pytest.raises(InvalidTransition, match="return it instead") as err:
        await c.cancellations.cancel(shipped.id, reason="too late")
    assert err.value.code == "invalid_transition"
    assert (await reload(c, shipped.id)).status.value == "shipped"


async def test_a_preorder_is_sent_to_its_own_cancellation(container: Container) -> None:
    c = container
    f = await seed_run(c)
    drop_id = await preorder_drop(c, f, cap=10)
    order = await buy(c, drop_id, "fan", f.sku_id)
    with pytest.raises(Conflict, match="pre-order") as err:
        await c.cancellations.cancel(order.id, reason="changed mind")
    assert err.value.code == "conflict"
    assert (await reload(c, order.id)).status.value == "paid"
    # Once the pre-order flow cancelled it, this sweep leaves its refund alone.
    await c.preorder_lifecycle.cancel(order.id, reason="changed mind", by="ops")
    assert await c.cancellations.finish_refunds() == []


async def test_a_failed_refund_keeps_the_cancellation_and_is_finished_once(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "buyer", 2)

    class Down:
        async def refund(self, payment_id: str, **kw: Any) -> PaymentResult:
            raise PaymentProviderError("provider unreachable")

    real: PaymentProvider = c.cancellations.provider
    c.cancellations.provider = Down()  # type: ignore[assignment]
    out = await c.cancellations.cancel(order.id, reason="buyer asked")
    assert out.status.value == "cancelled"
    assert out.status_reason == "buyer asked (refund failed: provider unreachable)"
    out = await c.cancellations.cancel(order.id, reason="buyer asked")  # a retry, still down
    assert out.status_reason.count("refund failed") == 1
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 0

    c.cancellations.provider = real
    assert await c.cancellations.finish_refunds() == []  # too fresh
    clock.advance(61)
    assert await c.cancellations.finish_refunds() == [order.id]
    clock.advance(61)
    assert await c.cancellations.finish_refunds() == []
    done = await reload(c, order.id)
    assert (done.status.value, done.refunded_amount, done.status_reason) == (
        "refunded",
        5000,
        "buyer asked",
    )
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 5000
    assert len(await c.messages.list(order_id=order.id, kind="refunded")) == 1


async def test_the_api_cancels_and_refuses_bad_requests(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, units=5)
    order = await paid_order(container, shop, "buyer", 1)
    for body, status, code in [
        ({"reason": ""}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"reason": "x", "extra": 1}, 422, "validation_error"),
    ]:
        resp = await api.post(f"/v1/orders/{order.id}/cancel", json=body)
        assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await reload(container, order.id)).status.value == "paid"
    resp = await api.post("/v1/orders/ord_nope/cancel", json={"reason": "x"})
    assert (resp.status_code, resp.json()["code"]) == (404, "not_found")
    key, _ = await container.access.create_key("overlay", "storefront")
    resp = await api.post(
        f"/v1/orders/{order.id}/cancel",
        json={"reason": "x"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 403

    resp = await api.post(f"/v1/orders/{order.id}/cancel", json={"reason": "buyer asked"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "refunded" and resp.json()["refunded_amount"] == 2500
    resp = await api.post(f"/v1/orders/{order.id}/cancel", json={"reason": "again"})
    assert (resp.status_code, resp.json()["code"]) == (409, "invalid_transition")
