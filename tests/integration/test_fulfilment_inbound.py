"""Inbound warehouse updates over the API (signed per Standard Webhooks), the tracking
CSV import (API and CLI), pick lists, packing slips, the SLA report and messages."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dropline.bootstrap import Container
from dropline.services.ports import ManualClock
from dropline.webhooks.http import sign_headers
from fulfilment_support import SHIP_TO, VISA, order_status, outbox_types, paid_order
from support import bundle_item, seed_shop


async def wms_endpoint(c: Container) -> tuple[str, str]:
    ep = await c.webhooks.create_endpoint("https://wms.example/hooks", ["order.*"], "WMS")
    return str(ep["id"]), str(ep["secret"])


def signed(
    endpoint_id: str,
    secret: str,
    payload: dict[str, Any],
    msg_id: str,
    at: datetime | None = None,
) -> dict[str, Any]:
    body = json.dumps(payload)
    headers = {
        **sign_headers([secret], msg_id, body, at),
        "content-type": "application/json",
        "x-dropline-endpoint": endpoint_id,
    }
    return {"content": body.encode(), "headers": headers}


def shipped(order_id: str) -> dict[str, Any]:
    return {
        "type": "shipped",
        "data": {
            "order_id": order_id,
            "carrier": "UPS",
            "tracking_number": "1Z999AA10123456784",
            "tracking_url": "https://ups.example/track/1Z999AA10123456784",
        },
    }


async def messages_of(c: Container, order_id: str) -> list[str]:
    """Kinds of an order's messages (sorted: same-instant messages have no order)."""
    return sorted(m["kind"] for m in await c.messages.list(order_id=order_id))


async def test_signed_updates_move_the_order_and_tell_the_buyer(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "ann")
    endpoint_id, secret = await wms_endpoint(c)
    picked = {"type": "picked", "data": {"order_id": order.id}}
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, picked, "m1"))
    assert r.status_code == 200, r.text
    assert r.json() == {"order_id": order.id, "status": "handed_off", "applied": True}
    r = await api.post(
        "/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(order.id), "m2")
    )
    assert r.json()["status"] == "shipped"
    ship = (await api.get(f"/v1/orders/{order.id}/shipment")).json()
    assert ship["carrier"] == "UPS" and ship["tracking_number"] == "1Z999AA10123456784"
    assert ship["ship_to"]["country"] == "GB" and ship["service_level"] == "express"
    delivered = {"type": "delivered", "data": {"order_id": order.id}}
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, delivered, "m3"))
    assert r.json()["status"] == "delivered"
    assert await outbox_types(c, order.id) == [
        "order.paid",
        "order.ready_to_fulfill",
        "order.handed_off",
        "order.picked",
        "order.shipped",
        "order.delivered",
    ]
    assert await messages_of(c, order.id) == [
        "delivered",
        "order_confirmed",
        "preparing",
        "shipped",
    ]
    [msg] = [m for m in await c.messages.list(order_id=order.id) if m["kind"] == "shipped"]
    assert msg["to_email"] == "ada@example.com"
    assert "1Z999AA10123456784" in msg["text_body"]
    assert 'href="https://ups.example/track/1Z999AA10123456784"' in msg["html_body"]


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "surrogate"])
async def test_signed_update_with_text_the_database_cannot_store_is_422(
    container: Container, api: httpx.AsyncClient, bad: str
) -> None:
    """The partner's JSON is parsed by the service, not a request model: a NUL (a 500 on
    PostgreSQL) or a lone surrogate in it is refused by ``apply_update`` and nothing is
    recorded, so the corrected event with the same id is applied."""
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "ann")
    endpoint_id, secret = await wms_endpoint(c)
    event = shipped(order.id)
    event["data"]["reason"] = f"late {bad}"
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, event, "n1"))
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error" and r.json()["field"] == "reason"
    assert await order_status(c, order.id) == "paid"
    r = await api.post(
        "/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(order.id), "n1")
    )
    assert r.status_code == 200 and r.json()["applied"] is True


async def test_same_event_twice_is_applied_once(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "bo")
    endpoint_id, secret = await wms_endpoint(c)
    req = signed(endpoint_id, secret, shipped(order.id), "wms-evt-7")
    first = await api.post("/v1/fulfillment-events", **req)
    second = await api.post("/v1/fulfillment-events", **req)
    assert first.json()["applied"] is True
    assert second.status_code == 200 and second.json()["applied"] is False
    assert (await outbox_types(c, order.id)).count("order.shipped") == 1
    assert (await messages_of(c, order.id)).count("shipped") == 1
    # the unit left the building once: committed → outside, one shipment movement
    level = await c.stock.level(shop.skus[0])
    assert (level.committed, level.on_hand) == (0, 4)
    async with c.uow(readonly=True) as uow:
        moves = [m for _, _, m in await uow.stock.movements(ref=order.id)]
    assert [(m.reason.value, m.from_bucket, m.to_bucket, m.quantity) for m in moves] == [
        ("shipment", "committed", None, 1),
        ("sale", "reserved", "committed", 1),
    ]
    assert all(ch.consistent for ch in await c.stock.verify())


async def test_a_shipped_bundle_takes_its_components_out_of_committed(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5, skus=2, bundle=True)
    assert shop.bundle_id
    hold = await c.holds.place(shop.drop_id, "di", [bundle_item(shop.bundle_id)])
    order = (await c.checkout.start(hold.id, "di", VISA, SHIP_TO)).order
    assert order is not None
    endpoint_id, secret = await wms_endpoint(c)
    r = await api.post(
        "/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(order.id), "b1")
    )
    assert r.json()["status"] == "shipped"
    for sku in shop.skus:
        level = await c.stock.level(sku)
        assert (level.committed, level.reserved, level.on_hand) == (0, 4, 4)
    assert all(ch.consistent for ch in await c.stock.verify())


@pytest.mark.parametrize("attack", ["tampered", "stale", "unknown_endpoint", "wrong_secret"])
async def test_bad_signatures_are_rejected_and_change_nothing(
    container: Container, api: httpx.AsyncClient, attack: str
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "cy")
    endpoint_id, secret = await wms_endpoint(c)
    before = await outbox_types(c, order.id)
    at = datetime.now(UTC) - timedelta(minutes=10) if attack == "stale" else None
    req = signed(endpoint_id, secret, shipped(order.id), "m1", at)
    if attack == "tampered":
        req["content"] = req["content"].replace(b"UPS", b"USP")
    elif attack == "unknown_endpoint":
        req["headers"]["x-dropline-endpoint"] = "whe_doesnotexist"
    elif attack == "wrong_secret":
        other = await c.webhooks.create_endpoint("https://x.example/h", ["*"])
        req = signed(endpoint_id, str(other["secret"]), shipped(order.id), "m1")
    r = await api.post("/v1/fulfillment-events", **req)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_signature"
    assert await order_status(c, order.id) == "paid"
    assert await outbox_types(c, order.id) == before
    # The genuine request is still accepted afterwards (the id was not burnt).
    ok = await api.post(
        "/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(order.id), "m1")
    )
    assert ok.json()["applied"] is True


async def test_delivered_before_shipped_is_a_clear_conflict(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "di")
    endpoint_id, secret = await wms_endpoint(c)
    delivered = {"type": "delivered", "data": {"order_id": order.id}}
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, delivered, "d1"))
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "invalid_transition"
    assert "paid to delivered" in body["detail"]
    assert await order_status(c, order.id) == "paid"
    assert await messages_of(c, order.id) == ["order_confirmed"]
    # Once shipped, the same delivered event (same id) is accepted: it was not recorded.
    await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(order.id), "s1"))
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, delivered, "d1"))
    assert r.json() == {"order_id": order.id, "status": "delivered", "applied": True}


async def test_exception_and_delay_send_a_delay_message(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    order = await paid_order(c, shop, "ed")
    endpoint_id, secret = await wms_endpoint(c)
    delayed = {"type": "delayed", "data": {"order_id": order.id, "reason": "restock on Monday"}}
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, delayed, "x1"))
    assert r.json()["status"] == "paid"
    await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(order.id), "x2"))
    lost = {"type": "exception", "data": {"order_id": order.id, "reason": "parcel damaged"}}
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, lost, "x3"))
    assert r.json()["status"] == "exception"
    delays = [m["text_body"] for m in await c.messages.list(order_id=order.id, kind="delayed")]
    assert len(delays) == 2
    assert any("restock on Monday" in t for t in delays)
    assert any("parcel damaged" in t for t in delays)


async def test_unknown_order_and_bad_body_are_refused(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    endpoint_id, secret = await wms_endpoint(c)
    r = await api.post(
        "/v1/fulfillment-events", **signed(endpoint_id, secret, shipped("ord_nope"), "u1")
    )
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    weird = {"type": "teleported", "data": {"order_id": "ord_nope"}}
    r = await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, weird, "u2"))
    assert r.status_code == 422 and "teleported" in r.json()["detail"]
    body = b"{not json"
    headers = {
        **sign_headers([secret], "u3", body.decode()),
        "x-dropline-endpoint": endpoint_id,
    }
    r = await api.post("/v1/fulfillment-events", content=body, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


CSV_HEADER = "order_id,carrier,tracking_number,tracking_url\n"


async def two_orders(c: Container) -> tuple[str, str]:
    shop = await seed_shop(c, units=5)
    a = await paid_order(c, shop, "fay")
    b = await paid_order(c, shop, "gil")
    return a.id, b.id


async def test_tracking_csv_applies_good_rows_and_reports_bad_ones(container: Container) -> None:
    c = container
    a, b = await two_orders(c)
    csv_text = (
        CSV_HEADER
        + f"{a},DHL,JD0001,https://dhl.example/JD0001\n"
        + "ord_missing,DHL,JD0002,\n"
        + f"{b},DHL,,\n"
        + f"{b},UPS,1Z0003,ftp://nope\n"
    )
    report = await c.fulfilment.import_tracking(csv_text)
    assert report.applied == [2]
    assert [(line, code) for line, code, _ in report.errors] == [
        (3, "not_found"),
        (4, "validation_error"),
        (5, "validation_error"),
    ]
    assert await order_status(c, a) == "shipped"
    assert await order_status(c, b) == "paid"
    again = await c.fulfilment.import_tracking(csv_text)
    assert again.applied == [] and again.duplicates == [2] and len(again.errors) == 3
    assert (await outbox_types(c, a)).count("order.shipped") == 1


async def test_tracking_import_over_the_api(container: Container, api: httpx.AsyncClient) -> None:
    c = container
    a, _ = await two_orders(c)
    body = CSV_HEADER + f"{a},DHL,JD0009,\nbroken-row\n"
    r = await api.post(
        "/v1/fulfillment-events/tracking-import",
        content=body.encode(),
        headers={"content-type": "text/csv"},
    )
    assert r.status_code == 200
    out = r.json()
    assert out["applied"] == 1 and out["duplicates"] == 0
    assert [e["line"] for e in out["errors"]] == [3]
    bad = await api.post("/v1/fulfillment-events/tracking-import", content=b"a,b\n1,2\n")
    assert bad.status_code == 422 and "order_id" in bad.json()["detail"]


def test_tracking_import_cli(sqlite_url: str, tmp_path: Path, clock: ManualClock) -> None:
    """The CLI runs its own event loop, so this test is synchronous."""
    from dropline.bootstrap import build
    from dropline.cli.app import app
    from dropline.config import Settings

    async def setup() -> tuple[str, str]:
        c = await build(Settings(database_url=sqlite_url, background_tasks=False), clock=clock)
        try:
            return await two_orders(c)
        finally:
            await c.close()

    async def statuses(a: str, b: str) -> tuple[str, str]:
        c = await build(Settings(database_url=sqlite_url, background_tasks=False), clock=clock)
        try:
            return await order_status(c, a), await order_status(c, b)
        finally:
            await c.close()

    a, b = asyncio.run(setup())
    path = tmp_path / "tracking.csv"
    path.write_text(CSV_HEADER + f"{a},DHL,JD1,\nord_nope,DHL,JD2,\n{b},USPS,9400,\n")
    result = CliRunner().invoke(
        app, ["tracking", "import", str(path)], env={"DROPLINE_DATABASE_URL": sqlite_url}
    )
    assert result.exit_code == 1, result.output  # one row rejected
    assert "2 applied, 0 already imported, 1 rejected" in result.output
    assert "ord_nope" in result.output
    assert asyncio.run(statuses(a, b)) == ("shipped", "shipped")


async def test_pick_list_groups_by_bin_then_sku_with_bundles_expanded(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=10, skus=2, bundle=True)
    assert shop.bundle_id is not None
    await paid_order(c, shop, "hal", qty=2)  # 2 × SKU 0
    hold = await c.holds.place(shop.drop_id, "ivy", [bundle_item(shop.bundle_id, 3)])
    await c.checkout.start(hold.id, "ivy", "4242424242424242", SHIP_TO)
    r = await api.get(f"/v1/drops/{shop.drop_id}/pick-list")
    assert r.status_code == 200
    pick = r.json()
    assert [(x["bin_location"], x["quantity"], x["order_count"]) for x in pick["rows"]] == [
        ("A-00", 5, 2),
        ("A-01", 3, 1),
    ]
    assert pick["order_count"] == 2 and pick["unit_count"] == 8
    csv_r = await api.get(f"/v1/drops/{shop.drop_id}/pick-list", params={"format": "csv"})
    assert csv_r.headers["content-type"].startswith("text/csv")
    lines = csv_r.text.strip().splitlines()
    assert lines[0] == "bin_location,sku_code,description,quantity,order_count"
    assert lines[1].startswith("A-00,") and lines[1].endswith(",5,2")
    html = await api.get(f"/v1/drops/{shop.drop_id}/pick-list", params={"format": "html"})
    assert "Bin A-00" in html.text and "<table>" in html.text
    slips = await api.get(f"/v1/drops/{shop.drop_id}/packing-slips")
    assert slips.text.count('class="slip"') == 2 and "Ada Lovelace" in slips.text
    slip_csv = await api.get(f"/v1/drops/{shop.drop_id}/packing-slips", params={"format": "csv"})
    assert len(slip_csv.text.strip().splitlines()) == 1 + 1 + 2  # header, order 1, bundle's 2


async def test_ready_to_fulfill_carries_what_a_wms_needs(container: Container) -> None:
    c = container
    shop = await seed_shop(c, units=10, skus=2, bundle=True)
    assert shop.bundle_id is not None
    hold = await c.holds.place(shop.drop_id, "jo", [bundle_item(shop.bundle_id, 2)])
    result = await c.checkout.start(hold.id, "jo", "4242424242424242", SHIP_TO)
    assert result.order is not None
    async with c.uow(readonly=True) as uow:
        [ev] = await uow.outbox.list(
            type_prefix="order.ready_to_fulfill", aggregate_id=result.order.id
        )
    p = ev["payload"]
    assert [(ln["bin_location"], ln["quantity"]) for ln in p["lines"]] == [
        ("A-00", 2),
        ("A-01", 2),
    ] or sorted((ln["bin_location"], ln["quantity"]) for ln in p["lines"]) == [
        ("A-00", 2),
        ("A-01", 2),
    ]
    assert all(ln["sku_code"].startswith("TEE-") for ln in p["lines"])
    assert p["ship_to"]["name"] == "Ada Lovelace" and p["service_level"] == "express"
    paid_at = datetime.fromisoformat(p["paid_at"].replace("Z", "+00:00"))
    ship_by = datetime.fromisoformat(p["ship_by"].replace("Z", "+00:00"))
    assert ship_by - paid_at == timedelta(hours=c.settings.sla_hours)


async def test_sla_lists_orders_at_risk_and_in_breach(
    container: Container, api: httpx.AsyncClient, clock: ManualClock
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    early = await paid_order(c, shop, "kim")
    clock.advance(20 * 3600)
    late = await paid_order(c, shop, "lee")
    r = await api.get("/v1/fulfilment/sla")
    assert r.json()["at_risk"] == [] and r.json()["breached"] == []
    clock.advance(20 * 3600)  # early: 40 h of 48 gone → at risk; late: 20 h gone
    r = (await api.get("/v1/fulfilment/sla")).json()
    assert [o["order_id"] for o in r["at_risk"]] == [early.id] and r["breached"] == []
    clock.advance(10 * 3600)  # early: 50 h → breached; late: 30 h → 18 h left, on track
    r = (await api.get("/v1/fulfilment/sla")).json()
    assert [o["order_id"] for o in r["breached"]] == [early.id] and r["at_risk"] == []
    assert r["breached"][0]["hours_left"] == -2.0
    endpoint_id, secret = await wms_endpoint(c)
    await api.post("/v1/fulfillment-events", **signed(endpoint_id, secret, shipped(early.id), "z"))
    clock.advance(10 * 3600)
    r = (await api.get("/v1/fulfilment/sla")).json()
    assert r["breached"] == [] and [o["order_id"] for o in r["at_risk"]] == [late.id]


async def test_checkout_api_accepts_optional_shipping(
    container: Container, api: httpx.AsyncClient
) -> None:
    c = container
    shop = await seed_shop(c, units=5)
    store, _ = await c.access.create_key("store", "storefront")
    headers = {"Authorization": f"Bearer {store}", "X-Buyer-Token": c.access.mint("mo")}
    from support import sku_item

    hold = await c.holds.place(shop.drop_id, "mo", [sku_item(shop.skus[0])])
    bad = await api.post(
        "/v1/checkouts",
        json={
            "hold_id": hold.id,
            "payment_method": "4242424242424242",
            "shipping": {"name": "Mo", "country": "Great Britain"},
        },
        headers=headers,
    )
    assert bad.status_code == 422
    r = await api.post(
        "/v1/checkouts",
        json={
            "hold_id": hold.id,
            "payment_method": "4242424242424242",
            "shipping": {"name": "Mo", "country": "gb", "email": "mo@example.com"},
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    ship = (await api.get(f"/v1/orders/{order_id}/shipment")).json()
    assert ship["ship_to"]["country"] == "GB" and ship["ship_to"]["email"] == "mo@example.com"
    msgs = (await api.get("/v1/messages", params={"order_id": order_id})).json()
    assert [(m["kind"], m["to_email"], m["status"]) for m in msgs] == [
        ("order_confirmed", "mo@example.com", "queued")
    ]
