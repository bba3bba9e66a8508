"""The /ui orders, messages, webhook-deliveries and returns views, in-process on both
backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.domain.aftersales.returns import ReturnLineRequest, ReturnReason
from dropline.domain.fulfilment.rules import FulfilmentUpdate, ShipTo
from dropline.services.fulfilment.shipping import UpdateDetails
from dropline.services.ports import ManualClock
from dropline.web import common
from support import seed_shop, sku_item


@pytest.fixture
async def ui(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _login(http: httpx.AsyncClient, key: str) -> None:
    form = await http.get("/ui/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = await http.post("/ui/login", data={"api_key": key, "csrf_token": token})
    assert r.status_code == 303


async def _paid_order(c: Container) -> str:
    shop = await seed_shop(c, units=3)
    hold = await c.holds.place(shop.drop_id, "uma", [sku_item(shop.skus[0])])
    ship = ShipTo(name="Uma", line1="1 Main St", city="Leeds", postal_code="LS1 1AA",
                  country="GB", email="uma@example.com")  # fmt: skip
    result = await c.checkout.start(hold.id, "uma", "4242424242424242", ship_to=ship)
    assert result.order is not None
    return result.order.id


async def test_pages_need_login(ui: httpx.AsyncClient) -> None:
    for path in ("/ui/orders", "/ui/messages", "/ui/webhooks", "/ui/returns"):
        r = await ui.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


async def test_messages_view_lists_the_buyer_messages(
    ui: httpx.AsyncClient, container: Container
) -> None:
    order_id = await _paid_order(container)
    key, _ = await container.access.create_key("ops", "ops")
    await _login(ui, key)
    page = await ui.get("/ui/messages", params={"order_id": order_id})
    assert page.status_code == 200
    assert "uma@example.com" in page.text and order_id in page.text
    assert "order_confirmed" in page.text
    queued = await ui.get("/ui/messages", params={"order_id": order_id, "status": "queued"})
    assert 'value="queued" selected' in queued.text and "order_confirmed" in queued.text
    sent = await ui.get("/ui/messages", params={"order_id": order_id, "status": "sent"})
    assert "order_confirmed" not in sent.text
    empty = await ui.get("/ui/messages", params={"order_id": "ord_nothing"})
    assert "uma@example.com" not in empty.text


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


async def test_orders_view_lists_newest_first_and_cancels_with_csrf(
    ui: httpx.AsyncClient, container: Container
) -> None:
    c = container
    assert isinstance(c.clock, ManualClock)
    first = await _paid_order(c)
    c.clock.advance(5)
    second = await _paid_order(c)
    c.clock.advance(5)
    shipped = await _paid_order(c)
    await c.fulfilment.apply_update(
        "wms", "ship-x", FulfilmentUpdate.SHIPPED, shipped, UpdateDetails("UPS", "1Z")
    )
    key, _ = await c.access.create_key("ops", "ops")
    await _login(ui, key)

    page = await ui.get("/ui/orders")
    assert page.status_code == 200 and 'href="/ui/orders"' in page.text
    at = [page.text.index(o) for o in (shipped, second, first)]
    assert at == sorted(at), "newest first"
    assert "USD 25.00" in page.text, page.text[-3000:]
    assert "1 × Tee" in page.text, page.text[-3000:]
    # Only unshipped orders get a cancel form.
    assert f"/ui/orders/{first}/cancel" in page.text
    assert f"/ui/orders/{shipped}/cancel" not in page.text
    only_shipped = await ui.get("/ui/orders", params={"status": "shipped"})
    assert shipped in only_shipped.text and first not in only_shipped.text

    csrf = _csrf(page.text)
    forged = await ui.post(f"/ui/orders/{first}/cancel", data={"csrf_token": "x"})
    assert forged.status_code == 403
    async with c.uow(readonly=True) as uow:
        before = await uow.orders.get_order(first)
    assert before is not None and before.status == "paid"

    done = await ui.post(
        f"/ui/orders/{first}/cancel", data={"csrf_token": csrf, "reason": "buyer asked"}
    )
    assert done.status_code == 303 and "refunded" in done.headers["location"]
    async with c.uow(readonly=True) as uow:
        after = await uow.orders.get_order(first)
    assert after is not None and after.status == "refunded" and after.refunded_amount == 2500
    late = await ui.post(f"/ui/orders/{shipped}/cancel", data={"csrf_token": csrf})
    assert "level=error" in late.headers["location"]
    listed = await ui.get("/ui/orders")
    assert "status-refunded" in listed.text and "buyer asked" in listed.text
    # The monitor and the drops list link to the drop's orders.
    for path in (f"/ui/drops/{after.drop_id}", "/ui"):
        assert f'href="/ui/orders?drop_id={after.drop_id}"' in (await ui.get(path)).text


async def test_orders_view_authorises_a_return_of_a_shipped_order(
    ui: httpx.AsyncClient, container: Container
) -> None:
    c = container
    shipped, unshipped = await _paid_order(c), await _paid_order(c)
    await c.fulfilment.apply_update(
        "wms", "ship-r", FulfilmentUpdate.SHIPPED, shipped, UpdateDetails("UPS", "1Z")
    )
    key, _ = await c.access.create_key("ops", "ops")
    await _login(ui, key)
    page = await ui.get("/ui/orders")
    assert f"/ui/orders/{shipped}/return" in page.text
    assert f"/ui/orders/{unshipped}/return" not in page.text
    csrf = _csrf(page.text)

    forged = await ui.post(f"/ui/orders/{shipped}/return", data={"csrf_token": "x", "qty_1": "1"})
    assert forged.status_code == 403
    nothing = await ui.post(f"/ui/orders/{shipped}/return", data={"csrf_token": csrf, "qty_1": "0"})
    assert "level=error" in nothing.headers["location"]
    too_many = await ui.post(
        f"/ui/orders/{shipped}/return", data={"csrf_token": csrf, "qty_1": "2"}
    )
    assert "level=error" in too_many.headers["location"]
    early = await ui.post(f"/ui/orders/{unshipped}/return", data={"csrf_token": csrf, "qty_1": "1"})
    assert "level=error" in early.headers["location"]
    assert await c.returns.list_returns() == []

    done = await ui.post(
        f"/ui/orders/{shipped}/return",
        data={"csrf_token": csrf, "qty_1": "1", "reason_1": "defective", "note": "seam split"},
    )
    assert done.status_code == 303 and "authorised" in done.headers["location"]
    [r] = await c.returns.list_returns()
    assert r.order_id == shipped and r.note == "seam split" and r.refund_amount == 2500
    assert r.lines[0]["reason"] == "defective" and r.lines[0]["quantity"] == 1
    assert r.requested_by == "ops"


async def test_lists_show_the_newest_rows_when_there_are_more(
    ui: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy drop has more messages than a page holds: the page must show the newest,
    not the oldest ones reversed."""
    c = container
    assert isinstance(c.clock, ManualClock)
    old = await _paid_order(c)
    c.clock.advance(5)
    new = await _paid_order(c)
    for n, order_id in enumerate((old, new)):
        c.clock.advance(5)  # each message at its own time: "newest" is then unambiguous
        await c.fulfilment.apply_update(
            "wms", f"ship-{n}", FulfilmentUpdate.SHIPPED, order_id, UpdateDetails("UPS", "1Z")
        )
    await c.returns.request(old, [ReturnLineRequest(1, 1, ReturnReason.DEFECTIVE)])
    c.clock.advance(5)
    await c.returns.request(new, [ReturnLineRequest(1, 1, ReturnReason.DEFECTIVE)])
    monkeypatch.setattr(common, "PAGE_ROWS", 1)
    key, _ = await c.access.create_key("ops", "ops")
    await _login(ui, key)
    for path in ("/ui/orders", "/ui/messages", "/ui/returns"):
        text = (await ui.get(path)).text
        assert new in text and old not in text, path


async def test_deliveries_view_and_replay_with_csrf(
    ui: httpx.AsyncClient, container: Container
) -> None:
    c = container
    await c.webhooks.create_endpoint("http://127.0.0.1:9/hook", ["order.*"], warehouse=True)
    await _paid_order(c)
    await c.webhooks.fan_out()
    [delivery] = [d for d in await c.webhooks.list_deliveries() if d["event_type"] == "order.paid"]
    key, _ = await c.access.create_key("ops", "ops")
    await _login(ui, key)
    page = await ui.get("/ui/webhooks")
    assert page.status_code == 200 and delivery["id"] in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    forged = await ui.post(f"/ui/webhooks/{delivery['id']}/replay", data={"csrf_token": "x"})
    assert forged.status_code == 403
    done = await ui.post(f"/ui/webhooks/{delivery['id']}/replay", data={"csrf_token": csrf})
    assert done.status_code == 303 and "queued" in done.headers["location"]
    missing = await ui.post("/ui/webhooks/whd_missing/replay", data={"csrf_token": csrf})
    assert "level=error" in missing.headers["location"]


async def test_returns_view_receives_cancels_and_refunds_with_csrf(
    ui: httpx.AsyncClient, container: Container
) -> None:
    c = container
    orders = [await _paid_order(c) for _ in range(2)]
    for n, order_id in enumerate(orders):
        await c.fulfilment.apply_update(
            "wms", f"ship-{n}", FulfilmentUpdate.SHIPPED, order_id, UpdateDetails("UPS", "1Z")
        )
    keep = await c.returns.request(orders[0], [ReturnLineRequest(1, 1, ReturnReason.DEFECTIVE)])
    drop = await c.returns.request(orders[1], [ReturnLineRequest(1, 1, ReturnReason.OTHER)])
    key, _ = await c.access.create_key("ops", "ops")
    await _login(ui, key)
    page = await ui.get("/ui/returns", params={"status": "requested"})
    assert page.status_code == 200 and keep.id in page.text and drop.id in page.text
    assert "1 × defective" in page.text and 'href="/ui/returns"' in page.text
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]

    forged = await ui.post(f"/ui/returns/{keep.id}/receive", data={"csrf_token": "x"})
    assert forged.status_code == 403
    assert (await c.returns.get(keep.id)).status == "requested"

    done = await ui.post(
        f"/ui/returns/{keep.id}/receive", data={"csrf_token": csrf, "line_1": "scrap"}
    )
    assert done.status_code == 303 and "refunded" in done.headers["location"]
    received = await c.returns.get(keep.id)
    assert received.status == "refunded" and received.lines[0]["disposition"] == "scrap"

    cancelled = await ui.post(f"/ui/returns/{drop.id}/cancel", data={"csrf_token": csrf})
    assert cancelled.status_code == 303 and "cancelled" in cancelled.headers["location"]
    again = await ui.post(f"/ui/returns/{drop.id}/receive", data={"csrf_token": csrf})
    assert "level=error" in again.headers["location"]
    bad = await ui.post(
        f"/ui/returns/{drop.id}/receive", data={"csrf_token": csrf, "line_1": "bin"}
    )
    assert "level=error" in bad.headers["location"]
    listed = await ui.get("/ui/returns")
    assert "status-refunded" in listed.text and "status-cancelled" in listed.text


async def test_monitor_shows_sla_risk_and_failing_endpoints(container: Container) -> None:
    c = container
    order_id = await _paid_order(c)
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    assert order is not None
    hook = await c.webhooks.create_endpoint("http://127.0.0.1:9/hook", ["order.*"])
    snap = await c.monitor.snapshot(order.drop_id)
    assert snap["sla_risk"] == 0
    assert snap["webhooks"] == {"endpoints": 1, "failing": 0}
    assert not [a for a in snap["alerts"] if a["kind"] == "endpoint_failing"]
    await c.webhooks.update_endpoint(hook["id"], enabled=False)
    assert isinstance(c.clock, ManualClock)
    c.clock.advance(30 * 24 * 3600)  # long past any ship-by
    snap = await c.monitor.snapshot(order.drop_id)
    assert snap["sla_risk"] == 1
    assert snap["webhooks"]["failing"] == 1
    [alert] = [a for a in snap["alerts"] if a["kind"] == "endpoint_failing"]
    assert alert["level"] == "critical" and alert["endpoint_id"] == hook["id"]


async def test_report_counts_shipped_orders_and_still_balances(container: Container) -> None:
    c = container
    order_id = await _paid_order(c)
    report = await c.fulfilment.import_tracking(
        f"order_id,carrier,tracking_number\n{order_id},UPS,1Z999\n"
    )
    assert report.applied and not report.errors
    async with c.uow(readonly=True) as uow:
        order = await uow.orders.get_order(order_id)
    assert order is not None and order.status.value == "shipped"
    built = await c.reports.build(order.drop_id)
    [orders] = [r for r in built["reconciliation"] if r["key"] == "orders"]
    parts = {p["name"]: p["value"] for p in orders["right"]}
    assert orders["left"]["value"] == 1 and orders["balanced"]
    assert parts["shipped"] == 1 and parts["pending"] == 0


async def test_failed_logins_are_rate_limited_per_address(
    ui: httpx.AsyncClient, container: Container
) -> None:
    key, _ = await container.access.create_key("ops", "ops")
    form = await ui.get("/ui/login")
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    limit = container.settings.ui_login_max_failures
    for _ in range(limit):
        r = await ui.post("/ui/login", data={"api_key": "dlk_wrong", "csrf_token": token})
        assert r.status_code == 401
    blocked = await ui.post("/ui/login", data={"api_key": key, "csrf_token": token})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "Too many failed logins" in blocked.text
    assert "dropline_session" not in blocked.headers.get("set-cookie", "")


async def test_sign_out_everywhere_ends_every_session_of_the_key(
    container: Container,
) -> None:
    app = create_app(container=container)
    key, _ = await container.access.create_key("ops", "ops")
    other, _ = await container.access.create_key("another ops", "ops")
    async with app.router.lifespan_context(app):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            for _ in range(3)
        ]
        laptop, phone, colleague = clients
        await _login(laptop, key)
        await _login(phone, key)
        await _login(colleague, other)
        for http in clients:
            assert (await http.get("/ui/orders")).status_code == 200
        page = await phone.get("/ui/orders")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = await phone.post("/ui/sessions/sign-out-everywhere", data={"csrf_token": token})
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/ui/login?flash=Signed%20out%20in%20every%20browser."
        for http in (laptop, phone):  # both sessions of the key are over
            gone = await http.get("/ui/orders")
            assert gone.status_code == 303 and gone.headers["location"].startswith("/ui/login")
        assert (await colleague.get("/ui/orders")).status_code == 200  # another key's is not
        if isinstance(container.clock, ManualClock):
            container.clock.advance(0.01)
        await _login(laptop, key)  # and logging in again works
        assert (await laptop.get("/ui/orders")).status_code == 200
        for http in clients:
            await http.aclose()
