"""Returns and refunds on both backend profiles: units come back into the right bucket,
money goes back once, the order and the buyer hear of it, and bad requests change
nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from dropline.bootstrap import Container
from dropline.domain.aftersales.returns import Disposition, ReturnLineRequest, ReturnReason
from dropline.domain.errors import PaymentProviderError
from dropline.domain.fulfilment.rules import FulfilmentUpdate
from dropline.domain.stock.buckets import Bucket, Movement, Reason, StockLevel
from dropline.services.fulfilment.shipping import UpdateDetails
from dropline.services.ports import ManualClock, PaymentProvider, PaymentResult
from dropline.store.live.order_records import OrderRecord
from dropline.web.render import report_html
from fulfilment_support import SHIP_TO, VISA, Receiver, outbox_types, paid_order
from support import Shop, bundle_item, seed_shop

DEFECTIVE = ReturnReason.DEFECTIVE
CHANGED_MIND = ReturnReason.CHANGED_MIND


async def ship(c: Container, order_id: str, *, deliver: bool = True) -> None:
    details = UpdateDetails(carrier="UPS", tracking_number="1Z999AA10123456784")
    await c.fulfilment.apply_update(
        "wms", f"s-{order_id}", FulfilmentUpdate.SHIPPED, order_id, details
    )
    if deliver:
        await c.fulfilment.apply_update(
            "wms", f"d-{order_id}", FulfilmentUpdate.DELIVERED, order_id, details
        )


async def shipped_order(c: Container, shop: Shop, qty: int = 2) -> OrderRecord:
    order = await paid_order(c, shop, f"buyer-{qty}-{shop.drop_id[-6:]}", qty)
    await ship(c, order.id)
    return order


async def reload(c: Container, order_id: str) -> OrderRecord:
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    assert order is not None
    return order


async def level(c: Container, sku_id: str) -> StockLevel:
    return await c.stock.level(sku_id)


async def ledger_consistent(c: Container) -> bool:
    return all(chk.consistent for chk in await c.stock.verify())


async def test_a_defective_unit_comes_back_to_qc_and_is_refunded_once(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    sku = shop.skus[0]
    order = await shipped_order(c, shop, qty=2)
    before = await level(c, sku)

    r = await c.returns.request(
        order.id, [ReturnLineRequest(1, 1, DEFECTIVE, "seam split")], by="ops"
    )
    assert (r.status, r.refund_amount, r.currency) == ("requested", 2500, "USD")
    assert await level(c, sku) == before  # nothing moves until the parcel arrives

    r = await c.returns.receive(r.id, by="warehouse")
    assert r.status == "refunded" and r.refund_error == ""
    assert r.lines[0]["disposition"] == "inspect"  # a defect is not restocked unseen
    after = await level(c, sku)
    assert after.quality_control == before.quality_control + 1
    assert after.available == before.available
    assert await ledger_consistent(c)

    paid = await reload(c, order.id)
    assert (paid.status.value, paid.refunded_amount) == ("delivered", 2500)
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 2500
    messages = await c.messages.list(order_id=order.id, kind="refunded")
    assert len(messages) == 1 and "USD 25.00" in messages[0]["text_body"]
    types = await outbox_types(c, r.id)
    assert types == ["return.requested", "return.received", "return.refunded"]

    # Receiving again (a retried call) moves nothing and refunds nothing more.
    again = await c.returns.receive(r.id, by="warehouse")
    assert again.status == "refunded"
    assert await level(c, sku) == after
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 2500

    # The second unit, restocked: the order is now refunded in full.
    r2 = await c.returns.request(order.id, [ReturnLineRequest(1, 1, CHANGED_MIND)])
    r2 = await c.returns.receive(r2.id)
    assert r2.lines[0]["disposition"] == "restock"
    assert (await level(c, sku)).available == before.available + 1
    done = await reload(c, order.id)
    assert (done.status.value, done.refunded_amount) == ("refunded", 5000)
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 5000
    assert await ledger_consistent(c)


async def test_a_bundle_return_brings_back_its_components(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=5, skus=2, bundle=True)
    assert shop.bundle_id is not None
    hold = await c.holds.place(shop.drop_id, "bundler", [bundle_item(shop.bundle_id, 2)])
    result = await c.checkout.start(hold.id, "bundler", VISA, SHIP_TO)
    assert result.order is not None
    await ship(c, result.order.id)
    a, b = shop.skus[0], shop.skus[1]
    before = {s: await level(c, s) for s in (a, b)}

    r = await c.returns.request(result.order.id, [ReturnLineRequest(1, 1, CHANGED_MIND)])
    assert r.refund_amount == 4000 and r.lines[0]["units"] == {a: 1, b: 1}
    r = await c.returns.receive(r.id, {1: Disposition.SCRAP})
    for s in (a, b):
        assert (await level(c, s)).damaged == before[s].damaged + 1
    assert await ledger_consistent(c)


async def test_units_cannot_come_back_twice_until_a_return_is_cancelled(
    container: Container, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await shipped_order(c, shop, qty=2)
    first = await c.returns.request(order.id, [ReturnLineRequest(1, 2, CHANGED_MIND)])
    with pytest.raises(Exception, match="between 1 and 0") as err:
        await c.returns.request(order.id, [ReturnLineRequest(1, 1, CHANGED_MIND)])
    assert getattr(err.value, "code", "") == "validation_error"
    clock.advance(1)
    cancelled = await c.returns.cancel(first.id, reason="parcel never sent", by="ops")
    assert cancelled.status == "cancelled" and "parcel never sent" in cancelled.note
    again = await c.returns.request(order.id, [ReturnLineRequest(1, 1, CHANGED_MIND)])
    assert again.status == "requested"
    with pytest.raises(Exception, match="cannot go from cancelled to received"):
        await c.returns.receive(first.id)
    listed = await c.returns.list_returns(order_id=order.id)
    assert [r.id for r in listed] == [first.id, again.id]  # oldest first
    page = await c.returns.list_returns(order_id=order.id, after=first.id)
    assert [r.id for r in page] == [again.id]


async def test_a_refund_the_provider_fails_is_finished_once_by_the_sweep(
    container: Container, clock: ManualClock
) -> None:
    """The provider refunds, then the answer is lost (a crash, a timeout): the return
    stays ``received`` with the error; the sweep retries with the same key and the money
    moves once."""
    c = container
    shop = await seed_shop(c, units=5)
    order = await shipped_order(c, shop, qty=2)
    sku = shop.skus[0]

    class LostAnswer:
        def __init__(self, inner: PaymentProvider) -> None:
            self.inner = inner
            self.calls = 0

        async def refund(self, payment_id: str, **kw: Any) -> PaymentResult:
            self.calls += 1
            await self.inner.refund(payment_id, **kw)
            raise PaymentProviderError("connection reset after the refund was made")

    real = c.returns.provider
    c.returns.provider = LostAnswer(real)  # type: ignore[assignment]
    r = await c.returns.request(order.id, [ReturnLineRequest(1, 2, DEFECTIVE)])
    r = await c.returns.receive(r.id)
    assert r.status == "received" and "connection reset" in r.refund_error
    qc_after_receipt = (await level(c, sku)).quality_control
    assert (await reload(c, order.id)).refunded_amount == 0  # not recorded yet...
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 5000  # ...but paid

    c.returns.provider = real
    assert await c.returns.finish_refunds() == []  # too fresh: its request may be at work
    clock.advance(61)
    assert await c.returns.finish_refunds() == [r.id]
    assert await c.returns.finish_refunds() == []
    done = await c.returns.get(r.id)
    assert done.status == "refunded" and done.refund_error == ""
    order_now = await reload(c, order.id)
    assert (order_now.status.value, order_now.refunded_amount) == ("refunded", 5000)
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 5000
    assert (await level(c, sku)).quality_control == qc_after_receipt
    assert len(await c.messages.list(order_id=order.id, kind="refunded")) == 1


async def test_the_return_window_closes(container: Container, clock: ManualClock) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await shipped_order(c, shop, qty=1)
    clock.advance(timedelta(days=30, seconds=1).total_seconds())
    with pytest.raises(Exception, match="return window closed") as err:
        await c.returns.request(order.id, [ReturnLineRequest(1, 1, DEFECTIVE)])
    assert getattr(err.value, "code", "") == "return_not_allowed"


async def test_the_api_authorises_receives_and_lists_returns(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await shipped_order(c, shop, qty=2)
    ask = {"lines": [{"line_no": 1, "quantity": 2, "reason": "wrong_item"}], "note": "sent L"}
    key = {"Idempotency-Key": "rma-1"}
    resp = await api.post(f"/v1/orders/{order.id}/returns", json=ask, headers=key)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    # A retry with the key replays the answer instead of refusing the units twice.
    again = await api.post(f"/v1/orders/{order.id}/returns", json=ask, headers=key)
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert body["status"] == "requested" and body["refund"] == {"amount": 5000, "currency": "USD"}
    assert body["created_at"].endswith("Z") and body["received_at"] is None

    resp = await api.post(
        f"/v1/returns/{body['id']}/receive",
        json={"dispositions": [{"line_no": 1, "disposition": "inspect"}], "refund": False},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "received"
    assert resp.json()["lines"][0]["disposition"] == "inspect"
    resp = await api.post(f"/v1/returns/{body['id']}/refund")
    assert resp.json()["status"] == "refunded"

    listed = (await api.get("/v1/returns", params={"drop_id": shop.drop_id})).json()
    assert [x["id"] for x in listed] == [body["id"]]
    assert (await api.get("/v1/returns", params={"status": "requested"})).json() == []
    assert (await api.get(f"/v1/returns/{body['id']}")).json()["status"] == "refunded"
    assert (await api.get(f"/v1/orders/{order.id}")).json()["status"] == "refunded"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"lines": [{"line_no": 1, "quantity": 1, "reason": "meh"}]}, 422, "validation_error"),
        ({"lines": []}, 422, "validation_error"),
        (
            {"lines": [{"line_no": 1, "quantity": 1, "reason": "other", "x": 1}]},
            422,
            "validation_error",
        ),
        ({"lines": [{"line_no": 2, "quantity": 1, "reason": "other"}]}, 422, "validation_error"),
        ({"lines": [{"line_no": 1, "quantity": 5, "reason": "other"}]}, 422, "validation_error"),
    ],
)
async def test_bad_return_requests_get_a_problem_and_change_nothing(
    container: Container, api: httpx.AsyncClient, body: dict[str, Any], status: int, code: str
) -> None:
    shop = await seed_shop(container, units=5)
    order = await shipped_order(container, shop, qty=2)
    resp = await api.post(f"/v1/orders/{order.id}/returns", json=body)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == code
    assert await container.returns.list_returns(order_id=order.id) == []


async def test_an_unshipped_order_or_unknown_ids_are_refused(
    container: Container, api: httpx.AsyncClient
) -> None:
    shop = await seed_shop(container, units=5)
    order = await paid_order(container, shop, "not-yet", 1)
    line = {"lines": [{"line_no": 1, "quantity": 1, "reason": "defective"}]}
    resp = await api.post(f"/v1/orders/{order.id}/returns", json=line)
    assert (resp.status_code, resp.json()["code"]) == (409, "return_not_allowed")
    resp = await api.post("/v1/orders/ord_nope/returns", json=line)
    assert (resp.status_code, resp.json()["code"]) == (404, "not_found")
    resp = await api.post("/v1/returns/ret_nope/receive", json={})
    assert (resp.status_code, resp.json()["code"]) == (404, "not_found")
    resp = await api.get("/v1/returns", params={"status": "lost"})
    assert (resp.status_code, resp.json()["code"]) == (422, "validation_error")
    assert await container.returns.list_returns() == []
    shipped = await shipped_order(container, shop, qty=1)
    r = await container.returns.request(shipped.id, [ReturnLineRequest(1, 1, DEFECTIVE)])
    resp = await api.post(
        f"/v1/returns/{r.id}/receive",
        json={"dispositions": [{"line_no": 1, "disposition": "bin"}]},
    )
    assert (resp.status_code, resp.json()["code"]) == (422, "validation_error")
    assert (await container.returns.get(r.id)).status == "requested"


async def test_a_storefront_key_cannot_touch_returns(
    container: Container, api: httpx.AsyncClient
) -> None:
    key, _ = await container.access.create_key("overlay", "storefront")
    resp = await api.get("/v1/returns", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"


async def test_the_report_accounts_for_returned_units_and_refunds(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    sku = shop.skus[0]
    order = await shipped_order(c, shop, qty=3)
    r1 = await c.returns.request(order.id, [ReturnLineRequest(1, 2, DEFECTIVE)])
    await c.returns.receive(r1.id)
    r2 = await c.returns.request(order.id, [ReturnLineRequest(1, 1, CHANGED_MIND)])
    assert r2.status == "requested"  # authorised, not yet back: counted, not received

    report = await c.reports.build(shop.drop_id)
    assert report["balanced"], report["reconciliation"]
    [check] = [x for x in report["reconciliation"] if x["key"] == "returns"]
    assert check["left"]["value"] == 2
    assert {p["name"]: p["value"] for p in check["right"]} == {
        "restocked": 0,
        "to inspection": 2,
        "scrapped": 0,
    }
    rt = report["returns"]
    assert (rt["returns"], rt["units"], rt["defect_units"]) == (2, 3, 2)
    assert rt["return_rate_pct"] == 100.0 and rt["defect_rate_pct"] == pytest.approx(66.7)
    assert (rt["refunded"], rt["refund_pending"]) == (5000, 2500)
    assert rt["by_reason"] == [
        {"reason": "defective", "units": 2, "defect": True},
        {"reason": "changed_mind", "units": 1, "defect": False},
    ]
    assert [row["units"] for row in rt["by_sku"]] == [3]
    assert report["totals"]["refunded"] == 5000
    [money] = [x for x in report["reconciliation"] if x["key"] == "money"]
    assert money["balanced"] and money["left"]["value"] == 7500 - 5000

    csv_text = (await api.get(f"/v1/drops/{shop.drop_id}/report", params={"format": "csv"})).text
    assert "returns_by_reason,defective,units,2" in csv_text
    page = report_html(report)
    assert (
        "<h2>Returns</h2>" in page
        and "defective <span" in page
        and "2 units in 1 return" not in page
    )
    assert "3 units in 2 returns" in page

    # A return movement the returns do not know of unbalances the check.
    async with c.uow() as uow:
        await uow.stock.apply([Movement(sku, 1, None, Bucket.AVAILABLE, Reason.RETURN, r1.id)])
        await uow.commit()
    tampered = await c.reports.build(shop.drop_id)
    [check] = [x for x in tampered["reconciliation"] if x["key"] == "returns"]
    assert (check["balanced"], check["difference"]) == (False, 1)
    assert tampered["balanced"] is False


async def test_return_events_reach_a_subscribed_receiver_signed(container: Container) -> None:
    """A real HTTP receiver subscribed to ``return.*`` gets each step once, verified with
    the Standard Webhooks library."""
    c = container
    receiver = Receiver()
    await receiver.start()
    try:
        ep = await c.webhooks.create_endpoint(receiver.url, ["return.*"], "returns desk")
        receiver.secrets.append(ep["secret"])
        shop = await seed_shop(c, units=5)
        order = await shipped_order(c, shop, qty=1)
        r = await c.returns.request(order.id, [ReturnLineRequest(1, 1, DEFECTIVE)])
        await c.returns.receive(r.id, {1: Disposition.SCRAP})
        await c.webhooks.run_once()
        await c.webhooks.run_once()
    finally:
        await receiver.stop()
    got = [x for x in receiver.verified() if x.json["data"]["id"] == r.id]
    assert [x.json["type"] for x in got] == [
        "return.requested",
        "return.received",
        "return.refunded",
    ]
    assert len(receiver.received) == 3  # nothing else (order.* is not subscribed)
    assert got[1].json["data"]["lines"][0]["disposition"] == "scrap"
    assert got[2].json["data"]["order_status"] == "refunded"


async def test_a_receipt_whose_refund_never_started_is_refunded_by_the_sweep(
    container: Container, clock: ManualClock
) -> None:
    """The process died after the receipt committed and before the provider was called
    (modelled by receiving with ``refund=False``): the sweep refunds it, once."""
    c = container
    shop = await seed_shop(c, units=5)
    order = await shipped_order(c, shop, qty=2)
    r = await c.returns.request(order.id, [ReturnLineRequest(1, 1, CHANGED_MIND)])
    r = await c.returns.receive(r.id, refund=False)
    assert (r.status, r.refund_error) == ("received", "")
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 0
    clock.advance(61)
    assert await c.returns.finish_refunds() == [r.id]
    clock.advance(61)
    assert await c.returns.finish_refunds() == []
    assert (await c.provider.retrieve(order.payment_id)).refunded_amount == 2500
    assert (await reload(c, order.id)).refunded_amount == 2500
