"""Every bad input of the API, in process over ASGI, on SQLite and PostgreSQL.

Each case asserts the status, the RFC 9457 media type and the stable ``code``, and that
nothing changed: stock levels, offers, the engine's counts and the row count of every
table are identical before and after the refused request.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import event, func, select
from starlette.routing import BaseRoute

from dropline.api.app import create_app
from dropline.bootstrap import Container
from dropline.config import Settings
from dropline.domain.inputs import BIGINT_MAX
from dropline.domain.live.drops import DropStatus
from dropline.services.platform.access import mint_buyer_token
from dropline.services.ports import DropNotLoaded, ManualClock
from dropline.store.schema import metadata
from fulfilment_support import paid_order
from preorders_support import SPEC
from support import Shop, seed_shop

VISA = "4242424242424242"
THREE_DS = "4000000000003220"
PROBLEM = "application/problem+json"


@dataclass
class Api:
    c: Container
    client: httpx.AsyncClient
    admin: str
    ops: str
    store: str
    shop: Shop

    def key(self, raw: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {raw}"}

    def as_ops(self) -> dict[str, str]:
        return self.key(self.ops)

    def as_buyer(self, buyer: str) -> dict[str, str]:
        return self.key(self.store) | {"X-Buyer-Token": self.c.access.mint(buyer)}

    async def hold(self, buyer: str, item: dict[str, Any] | None = None, **kw: Any) -> str:
        item = item or {"sku_id": self.shop.skus[0]}
        resp = await self.client.post(
            f"/v1/drops/{self.shop.drop_id}/holds",
            json={"items": [item]},
            headers=self.as_buyer(buyer) | kw.pop("headers", {}),
        )
        assert resp.status_code == 201, resp.text
        hold_id: str = resp.json()["id"]
        return hold_id


@pytest.fixture
async def api(container: Container) -> AsyncIterator[Api]:
    """The real app on the test's container, its lifespan running, a live drop of two
    SKUs (5 units each, at most 3 per buyer) and a bundle of both."""
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dropline.test") as cl:
            admin, _ = await container.access.create_key("admin", "admin")
            ops, _ = await container.access.create_key("ops", "ops")
            store, _ = await container.access.create_key("storefront", "storefront")
            shop = await seed_shop(container, units=5, skus=2, bundle=True, limit=3)
            yield Api(container, cl, admin, ops, store, shop)


async def state(c: Container, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Everything a refused request must leave alone."""
    snap: dict[str, Any] = {}
    async with c.db.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name not in skip:
                count = await conn.execute(select(func.count()).select_from(table))
                snap[f"rows:{table.name}"] = count.scalar_one()
    snap["levels"] = await c.stock.levels()
    for drop in await c.drops.list_drops():
        _, offers, bundles = await c.drops.get(drop.id)
        snap[f"drop:{drop.id}"] = (drop.status, drop.version, offers, bundles)
        try:
            snap[f"engine:{drop.id}"] = await c.engine.counts(drop.id)
        except DropNotLoaded:
            snap[f"engine:{drop.id}"] = None
    return snap


def problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem with this status and stable code; its body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["code"] == code and body["status"] == status, body
    assert body["type"].endswith(code) and body["detail"]
    return body


async def refused(
    api: Api,
    method: str,
    url: str,
    status: int,
    code: str,
    *,
    headers: dict[str, str] | None = None,
    skip: tuple[str, ...] = (),
    **kwargs: Any,
) -> dict[str, Any]:
    """Send one bad request; assert the problem and that no state changed."""
    before = await state(api.c, skip=skip)
    resp = await api.client.request(method, url, headers=headers or {}, **kwargs)
    body = problem(resp, status, code)
    assert await state(api.c, skip=skip) == before
    return body


# --------------------------------------------------------------------------- unknown ids

Case = Callable[[Api], tuple[str, str, dict[str, Any], dict[str, str]]]

UNKNOWN: dict[str, Case] = {
    "hold on unknown drop": lambda a: (
        "POST",
        "/v1/drops/drp_nope/holds",
        {"items": [{"sku_id": a.shop.skus[0]}]},
        a.as_buyer("ann"),
    ),
    "hold of unknown SKU": lambda a: (
        "POST",
        f"/v1/drops/{a.shop.drop_id}/holds",
        {"items": [{"sku_id": "sku_nope"}]},
        a.as_buyer("ann"),
    ),
    "hold of unknown bundle": lambda a: (
        "POST",
        f"/v1/drops/{a.shop.drop_id}/holds",
        {"items": [{"bundle_id": "bdl_nope"}]},
        a.as_buyer("ann"),
    ),
    "checkout of unknown hold": lambda a: (
        "POST",
        "/v1/checkouts",
        {"hold_id": "hld_nope", "payment_method": VISA},
        a.as_buyer("ann"),
    ),
    "read unknown hold": lambda a: ("GET", "/v1/holds/hld_nope", {}, a.as_buyer("ann")),
    "release unknown hold": lambda a: (
        "POST",
        "/v1/holds/hld_nope/release",
        {},
        a.as_buyer("ann"),
    ),
    "offer unknown SKU": lambda a: (
        "PUT",
        f"/v1/drops/{a.shop.drop_id}/offers/sku_nope",
        {"quantity": 1},
        a.as_ops(),
    ),
    "offer on unknown drop": lambda a: (
        "PUT",
        f"/v1/drops/drp_nope/offers/{a.shop.skus[0]}",
        {"quantity": 1},
        a.as_ops(),
    ),
    "receive unknown SKU": lambda a: (
        "POST",
        "/v1/stock/sku_nope/receipts",
        {"quantity": 1},
        a.as_ops(),
    ),
    "SKU for unknown product": lambda a: (
        "POST",
        "/v1/products/prd_nope/skus",
        {"code": "X-1", "price": {"amount": 100, "currency": "USD"}},
        a.as_ops(),
    ),
    "move unknown drop": lambda a: (
        "POST",
        "/v1/drops/drp_nope/transitions",
        {"to": "live"},
        a.as_ops(),
    ),
    "public view of unknown drop": lambda a: (
        "GET",
        "/v1/drops/drp_nope/public",
        {},
        a.key(a.store),
    ),
    "unknown order": lambda a: ("GET", "/v1/orders/ord_nope", {}, a.as_ops()),
    "unknown checkout": lambda a: ("GET", "/v1/checkouts/chk_nope", {}, a.as_buyer("ann")),
}


@pytest.mark.parametrize("case", list(UNKNOWN), ids=list(UNKNOWN))
async def test_unknown_ids_are_404_and_change_nothing(api: Api, case: str) -> None:
    method, url, body, headers = UNKNOWN[case](api)
    kwargs: dict[str, Any] = {"json": body} if method != "GET" else {}
    await refused(api, method, url, 404, "not_found", headers=headers, **kwargs)


# --------------------------------------------------------------------------- quantities

BAD_QUANTITIES = [0, -1, 1.5, "1", 10**9, None, True]


@pytest.mark.parametrize("qty", BAD_QUANTITIES, ids=repr)
async def test_bad_hold_quantity(api: Api, qty: Any) -> None:
    body = await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/holds",
        422,
        "validation_error",
        headers=api.as_buyer("ann"),
        json={"items": [{"sku_id": api.shop.skus[0], "quantity": qty}]},
    )
    assert any("quantity" in e["loc"] for e in body["errors"])


@pytest.mark.parametrize("qty", BAD_QUANTITIES, ids=repr)
async def test_bad_bundle_quantity(api: Api, qty: Any) -> None:
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/holds",
        422,
        "validation_error",
        headers=api.as_buyer("ann"),
        json={"items": [{"bundle_id": api.shop.bundle_id, "quantity": qty}]},
    )


@pytest.mark.parametrize("qty", [0, -5, 2.5, "3", 10**9], ids=repr)
async def test_bad_receipt_quantity(api: Api, qty: Any) -> None:
    await refused(
        api,
        "POST",
        f"/v1/stock/{api.shop.skus[0]}/receipts",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={"quantity": qty},
    )


@pytest.mark.parametrize("qty", [-1, 1.5, "2", 10**9], ids=repr)
async def test_bad_offer_quantity(api: Api, qty: Any) -> None:
    await refused(
        api,
        "PUT",
        f"/v1/drops/{api.shop.drop_id}/offers/{api.shop.skus[0]}",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={"quantity": qty},
    )


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {},
        {"items": [{}]},
        {"items": [{"sku_id": "x", "bundle_id": "y"}]},
        {"items": [{"sku_id": "x"}], "surprise": 1},
        {"items": [{"sku_id": "x"}], "attribution": {"channel": "tv"}},
        {"items": [{"sku_id": "x"}], "attribution": {"nope": "1"}},
        [],
    ],
    ids=repr,
)
async def test_malformed_hold_bodies(api: Api, body: Any) -> None:
    body = copy.deepcopy(body)  # parameters are shared between the backends' runs
    if isinstance(body, dict):  # use a real SKU so only the malformation is wrong
        for it in body.get("items", []):
            if it.get("sku_id") == "x" and "bundle_id" not in it:
                it["sku_id"] = api.shop.skus[0]
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/holds",
        422,
        "validation_error",
        headers=api.as_buyer("ann"),
        json=body,
    )


async def test_offer_beyond_available_stock(api: Api) -> None:
    body = await refused(
        api,
        "PUT",
        f"/v1/drops/{api.shop.drop_id}/offers/{api.shop.skus[0]}",
        409,
        "insufficient_stock",
        headers=api.as_ops(),
        json={"quantity": 50},
    )
    assert body["detail"]


# --------------------------------------------------------------------------- malformed JSON


@pytest.mark.parametrize(
    ("url", "auth"),
    [
        ("/v1/drops/{drop}/holds", "buyer"),
        ("/v1/checkouts", "buyer"),
        ("/v1/products", "ops"),
        ("/v1/drops", "ops"),
    ],
)
@pytest.mark.parametrize("raw", [b'{"items": [', b"not json", b'{"a": 1,}'], ids=repr)
async def test_malformed_json_is_400(api: Api, url: str, auth: str, raw: bytes) -> None:
    headers = api.as_buyer("ann") if auth == "buyer" else api.as_ops()
    await refused(
        api,
        "POST",
        url.format(drop=api.shop.drop_id),
        400,
        "malformed_json",
        headers=headers | {"Content-Type": "application/json"},
        content=raw,
    )


# --------------------------------------------------------------------------- currency


async def test_sku_priced_in_another_currency_cannot_be_offered(api: Api) -> None:
    c = api.c
    product = await c.catalog.create_product("Euro tee")
    sku = await c.catalog.create_sku(product.id, "EUR-TEE-1", 2000, "EUR")
    await c.stock.receive(sku.id, 10)
    body = await refused(
        api,
        "PUT",
        f"/v1/drops/{api.shop.drop_id}/offers/{sku.id}",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={"quantity": 5},
    )
    assert "EUR" in body["detail"] and body["sku_id"] == sku.id
    assert (await c.stock.level(sku.id)).available == 10


async def test_bundle_priced_in_another_currency_than_its_parts(api: Api) -> None:
    body = await refused(
        api,
        "POST",
        "/v1/bundles",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={
            "code": "EUR-PAIR",
            "name": "Euro pair",
            "price": {"amount": 3000, "currency": "EUR"},
            "components": [{"sku_id": s, "quantity": 1} for s in api.shop.skus],
        },
    )
    assert body["sku_id"] in api.shop.skus


@pytest.mark.parametrize("code", ["XYZ", "US", "DOLLAR", "€€€"])
async def test_unknown_currency_code(api: Api, code: str) -> None:
    await refused(
        api,
        "POST",
        "/v1/drops",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={"name": "Bad money", "currency": code},
    )
    product = await api.c.catalog.create_product(f"Tee {code}")
    await refused(
        api,
        "POST",
        f"/v1/products/{product.id}/skus",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={"code": f"T-{len(code)}", "price": {"amount": 100, "currency": code}},
    )


# --------------------------------------------------------------------------- drop state


@pytest.mark.parametrize("status", ["draft", "paused", "ended"])
async def test_hold_on_a_drop_that_is_not_live(api: Api, status: str) -> None:
    c = api.c
    drop_id = api.shop.drop_id
    if status == "draft":
        await c.stock.receive(api.shop.skus[0], 5)
        drop_id = (await c.drops.create("Later", "USD")).id
        await c.drops.set_offer(drop_id, api.shop.skus[0], 5)
    else:
        await c.drops.transition(drop_id, DropStatus(status))
    body = await refused(
        api,
        "POST",
        f"/v1/drops/{drop_id}/holds",
        409,
        "drop_not_live",
        headers=api.as_buyer("ann"),
        json={"items": [{"sku_id": api.shop.skus[0]}]},
    )
    assert body["detail"]


async def test_paused_sku_refuses_holds(api: Api) -> None:
    await api.c.drops.pause_sku(api.shop.drop_id, api.shop.skus[0], True)
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/holds",
        409,
        "drop_not_live",
        headers=api.as_buyer("ann"),
        json={"items": [{"sku_id": api.shop.skus[0]}]},
    )


async def test_invalid_transition(api: Api) -> None:
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/transitions",
        409,
        "invalid_transition",
        headers=api.as_ops(),
        json={"to": "draft"},
    )
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/transitions",
        422,
        "validation_error",
        headers=api.as_ops(),
        json={"to": "sideways"},
    )


# --------------------------------------------------------------------------- holds at checkout


async def test_checkout_of_expired_hold_is_410(api: Api, clock: ManualClock) -> None:
    hold_id = await api.hold("ann")
    clock.advance(91)  # past the drop's 90 s TTL; the sweeper has not run
    ledger_tables = ("checkouts", "orders", "sandbox_payments")
    before = await state(api.c)
    resp = await api.client.post(
        "/v1/checkouts",
        json={"hold_id": hold_id, "payment_method": VISA},
        headers=api.as_buyer("ann"),
    )
    body = problem(resp, 410, "hold_expired")
    assert body["hold_id"] == hold_id
    after = await state(api.c)
    # The expiry (time, not the request) gave the unit back; the ledger did not move.
    counts = after.pop(f"engine:{api.shop.drop_id}")
    assert counts[api.shop.skus[0]].remaining == 5 and counts[api.shop.skus[0]].held == 0
    before.pop(f"engine:{api.shop.drop_id}")
    assert after == before
    assert all(after[f"rows:{t}"] == 0 for t in ledger_tables)


async def test_checkout_of_released_hold_is_409(api: Api) -> None:
    hold_id = await api.hold("ann")
    resp = await api.client.post(f"/v1/holds/{hold_id}/release", headers=api.as_buyer("ann"))
    assert resp.status_code == 200 and resp.json()["status"] == "released"
    await refused(
        api,
        "POST",
        "/v1/checkouts",
        409,
        "hold_not_active",
        headers=api.as_buyer("ann"),
        json={"hold_id": hold_id, "payment_method": VISA},
    )
    # Releasing twice is refused the same way.
    await refused(
        api,
        "POST",
        f"/v1/holds/{hold_id}/release",
        409,
        "hold_not_active",
        headers=api.as_buyer("ann"),
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/checkouts", {"payment_method": VISA}),
        ("GET", "/v1/holds/{hold}", None),
        ("POST", "/v1/holds/{hold}/release", None),
    ],
)
async def test_someone_elses_hold_is_403(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    hold_id = await api.hold("ann")
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["json"] = body | {"hold_id": hold_id}
    await refused(
        api,
        method,
        path.format(hold=hold_id),
        403,
        "hold_not_owned",
        headers=api.as_buyer("bob"),
        **kwargs,
    )
    hold = await api.client.get(f"/v1/holds/{hold_id}", headers=api.as_buyer("ann"))
    assert hold.json()["status"] == "active"


async def test_double_checkout_is_409_and_double_confirm_repeats_the_order(api: Api) -> None:
    hold_id = await api.hold("ann")
    pending = await api.client.post(
        "/v1/checkouts",
        json={"hold_id": hold_id, "payment_method": THREE_DS},
        headers=api.as_buyer("ann"),
    )
    assert pending.status_code == 202, pending.text
    assert pending.json()["next_action"]["type"] == "three_d_secure"
    checkout_id = pending.json()["id"]
    # Paying again while the first payment waits for 3-D Secure is refused.
    await refused(
        api,
        "POST",
        "/v1/checkouts",
        409,
        "conflict",
        headers=api.as_buyer("ann"),
        json={"hold_id": hold_id, "payment_method": VISA},
    )
    done = await api.client.post(
        f"/v1/checkouts/{checkout_id}/confirm", headers=api.as_buyer("ann")
    )
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    assert done.json()["order"]["status"] == "paid"
    # A second confirm is not an error for a payment that went through: the same order.
    before = await state(api.c)
    again = await api.client.post(
        f"/v1/checkouts/{checkout_id}/confirm", headers=api.as_buyer("ann")
    )
    assert again.status_code == 200 and again.json() == done.json()
    assert await state(api.c) == before
    await refused(
        api,
        "POST",
        "/v1/checkouts",
        409,
        "conflict",
        headers=api.as_buyer("ann"),
        json={"hold_id": hold_id, "payment_method": VISA},
    )
    # Another buyer cannot confirm it either.
    await refused(
        api,
        "POST",
        f"/v1/checkouts/{checkout_id}/confirm",
        403,
        "hold_not_owned",
        headers=api.as_buyer("bob"),
    )


# --------------------------------------------------------------------------- idempotency


async def test_idempotent_create_replays_and_refuses_a_different_body(api: Api) -> None:
    headers = api.as_ops() | {"Idempotency-Key": "prod-1"}
    first = await api.client.post("/v1/products", json={"name": "Cap"}, headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    before = await state(api.c)
    again = await api.client.post("/v1/products", json={"name": "Cap"}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await state(api.c) == before
    await refused(
        api,
        "POST",
        "/v1/products",
        409,
        "idempotency_mismatch",
        headers=headers,
        json={"name": "Beanie"},
    )


# Buyer ids are the creator's own (emails, UUIDs): up to 120 characters.
@pytest.mark.parametrize(
    "buyer", ["ann", "customer-4f1c2b9e-7d3a-4e21-9c8b-0a6f5e3d2c1b@example.com"]
)
async def test_idempotent_checkout_charges_once(api: Api, buyer: str) -> None:
    hold_id = await api.hold(buyer)
    other = await api.hold(buyer, {"sku_id": api.shop.skus[1]})
    headers = api.as_buyer(buyer) | {"Idempotency-Key": "pay-1"}
    body = {"hold_id": hold_id, "payment_method": VISA}
    first = await api.client.post("/v1/checkouts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    before = await state(api.c)
    again = await api.client.post("/v1/checkouts", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await state(api.c) == before
    assert before["rows:orders"] == 1 and before["rows:sandbox_payments"] == 1
    await refused(
        api,
        "POST",
        "/v1/checkouts",
        409,
        "idempotency_mismatch",
        headers=headers,
        json={"hold_id": other, "payment_method": VISA},
    )


async def test_idempotent_checkout_stores_no_decline(api: Api) -> None:
    hold_id = await api.hold("ann")
    headers = api.as_buyer("ann") | {"Idempotency-Key": "pay-declined"}
    body = {"hold_id": hold_id, "payment_method": "4000000000000002"}
    first = await api.client.post("/v1/checkouts", json=body, headers=headers)
    problem(first, 402, "payment_declined")
    # Not stored: the retry is evaluated afresh (declined again, not replayed).
    again = await api.client.post("/v1/checkouts", json=body, headers=headers)
    problem(again, 402, "payment_declined")
    assert "Idempotent-Replayed" not in again.headers
    assert (await state(api.c))["rows:idempotency_records"] == 0


async def test_idempotent_checkout_replays_a_3ds_response(api: Api) -> None:
    hold_id = await api.hold("ann")
    headers = api.as_buyer("ann") | {"Idempotency-Key": "pay-3ds"}
    body = {"hold_id": hold_id, "payment_method": THREE_DS}
    first = await api.client.post("/v1/checkouts", json=body, headers=headers)
    assert first.status_code == 202, first.text
    again = await api.client.post("/v1/checkouts", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.status_code == 202  # the replay says "needs 3-D Secure" too
    assert again.json() == first.json()


async def test_idempotent_checkout_is_stored_in_the_order_transaction(api: Api) -> None:
    """The key's response is written by the transaction that writes the order: a keyed
    checkout opens one transaction more than an unkeyed one (the look-up), not two."""
    begins = 0
    request_task: asyncio.Task[Any] | None = None

    def count(_conn: Any) -> None:
        # Only the request's own transactions (ASGITransport runs the app in the
        # calling task): work the checkout hands to a background task, which a loaded
        # machine may run inside or after the window, is not the request's.
        nonlocal begins
        if asyncio.current_task() is request_task:
            begins += 1

    async def pay(buyer: str, key: str | None) -> int:
        nonlocal begins, request_task
        request_task = asyncio.current_task()
        hold_id = await api.hold(buyer)
        headers = api.as_buyer(buyer) | ({"Idempotency-Key": key} if key else {})
        begins = 0
        resp = await api.client.post(
            "/v1/checkouts", json={"hold_id": hold_id, "payment_method": VISA}, headers=headers
        )
        assert resp.status_code == 201, resp.text
        return begins

    event.listen(api.c.db.sync_engine, "begin", count)
    try:
        plain = await pay("ann", None)
        keyed = await pay("bob", "pay-bob")
    finally:
        event.remove(api.c.db.sync_engine, "begin", count)
    assert keyed == plain + 1
    snap = await state(api.c)
    assert snap["rows:idempotency_records"] == 1 and snap["rows:orders"] == 2


async def test_idempotent_hold_returns_the_same_hold(api: Api) -> None:
    headers = api.as_buyer("ann") | {"Idempotency-Key": "tap-1"}
    url = f"/v1/drops/{api.shop.drop_id}/holds"
    body = {"items": [{"sku_id": api.shop.skus[0]}]}
    first = await api.client.post(url, json=body, headers=headers)
    assert first.status_code == 201
    before = await state(api.c)
    again = await api.client.post(url, json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert await state(api.c) == before
    await refused(
        api,
        "POST",
        url,
        409,
        "idempotency_mismatch",
        headers=headers,
        json={"items": [{"sku_id": api.shop.skus[1]}]},
    )


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer dlk_not_a_key", "Basic dXNlcjpwYXNz", "dlk_no_scheme"],
)
async def test_missing_or_invalid_key_is_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, url, body in [
        ("GET", f"/v1/drops/{api.shop.drop_id}/public", None),
        ("POST", f"/v1/drops/{api.shop.drop_id}/holds", {"items": [{"sku_id": "x"}]}),
        ("POST", "/v1/products", {"name": "Cap"}),
    ]:
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        await refused(api, method, url, 401, "unauthenticated", headers=headers, **kwargs)
    resp = await api.client.get("/v1/stock", headers=headers)
    assert resp.headers["WWW-Authenticate"] == "Bearer"


async def test_revoked_key_is_401(api: Api) -> None:
    raw, rec = await api.c.access.create_key("short-lived", "ops")
    resp = await api.client.delete(f"/v1/api-keys/{rec.id}", headers=api.key(api.admin))
    assert resp.status_code == 204
    await refused(api, "GET", "/v1/stock", 401, "unauthenticated", headers=api.key(raw))


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/v1/products", {"name": "Cap"}),
        ("GET", "/v1/stock", None),
        ("POST", "/v1/stock/{sku}/receipts", {"quantity": 5}),
        ("PUT", "/v1/drops/{drop}/offers/{sku}", {"quantity": 5}),
        ("POST", "/v1/drops/{drop}/transitions", {"to": "paused"}),
        ("GET", "/v1/orders", None),
        ("GET", "/v1/drops/{drop}", None),
        ("POST", "/v1/api-keys", {"name": "x", "scope": "admin"}),
    ],
)
async def test_storefront_key_on_ops_route_is_403(
    api: Api, method: str, url: str, body: dict[str, Any] | None
) -> None:
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    path = url.format(drop=api.shop.drop_id, sku=api.shop.skus[0])
    await refused(api, method, path, 403, "forbidden", headers=api.key(api.store), **kwargs)


async def test_ops_key_cannot_manage_keys(api: Api) -> None:
    await refused(
        api,
        "POST",
        "/v1/api-keys",
        403,
        "forbidden",
        headers=api.as_ops(),
        json={"name": "escalate", "scope": "admin"},
    )


def _forged(api: Api) -> str:
    return mint_buyer_token("not-the-shared-secret", "ann")


def _expired(api: Api) -> str:
    return mint_buyer_token(api.c.settings.buyer_token_secret, "ann", ttl_s=-60)


def _tampered(api: Api) -> str:
    version, _, sig = api.c.access.mint("ann").split(".")
    other = api.c.access.mint("bob").split(".")[1]
    return f"{version}.{other}.{sig}"


BAD_TOKENS: dict[str, Callable[[Api], str | None]] = {
    "missing": lambda a: None,
    "empty": lambda a: "",
    "garbage": lambda a: "not-a-token",
    "forged": _forged,
    "expired": _expired,
    "tampered": _tampered,
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_bad_buyer_token_is_401(api: Api, kind: str) -> None:
    token = BAD_TOKENS[kind](api)
    headers = api.key(api.store) | ({} if token is None else {"X-Buyer-Token": token})
    hold_id = await api.hold("ann")
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/holds",
        401,
        "unauthenticated",
        headers=headers,
        json={"items": [{"sku_id": api.shop.skus[0]}]},
    )
    await refused(
        api,
        "POST",
        "/v1/checkouts",
        401,
        "unauthenticated",
        headers=headers,
        json={"hold_id": hold_id, "payment_method": VISA},
    )


# --------------------------------------------------------------------------- limits, payment


async def test_per_buyer_limit_is_409(api: Api) -> None:
    url = f"/v1/drops/{api.shop.drop_id}/holds"
    sku = api.shop.skus[0]
    body = await refused(
        api,
        "POST",
        url,
        409,
        "limit_exceeded",
        headers=api.as_buyer("ann"),
        json={"items": [{"sku_id": sku, "quantity": 4}]},
    )
    assert body["limit"] == 3 and body["sku_id"] == sku
    await api.hold("ann", {"sku_id": sku, "quantity": 2})
    # The bundle contains one more of the SKU: 2 + 2 (bundle ×2) is over the limit.
    body = await refused(
        api,
        "POST",
        url,
        409,
        "limit_exceeded",
        headers=api.as_buyer("ann"),
        json={"items": [{"bundle_id": api.shop.bundle_id, "quantity": 2}]},
    )
    assert body["already"] == 2
    # Another buyer is not affected.
    await api.hold("bob", {"sku_id": sku, "quantity": 3})


async def test_more_than_is_left_is_409(api: Api) -> None:
    url = f"/v1/drops/{api.shop.drop_id}/holds"
    await api.hold("ann", {"sku_id": api.shop.skus[0], "quantity": 3})
    body = await refused(
        api,
        "POST",
        url,
        409,
        "insufficient_stock",
        headers=api.as_buyer("bob"),
        json={"items": [{"sku_id": api.shop.skus[0], "quantity": 3}]},
    )
    assert body["remaining"] == 2
    await api.hold("bob", {"sku_id": api.shop.skus[0], "quantity": 2})
    await refused(
        api,
        "POST",
        url,
        409,
        "sold_out",
        headers=api.as_buyer("cy"),
        json={"items": [{"bundle_id": api.shop.bundle_id}]},
    )


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4242424242424241", "incorrect_number"),
    ],
)
async def test_declined_payment_is_402_and_sells_nothing(
    api: Api, card: str, decline_code: str
) -> None:
    hold_id = await api.hold("ann")
    # The decline itself is recorded (a failed checkout, its payment and event); stock,
    # offers, orders and the engine's counts stay as they were.
    body = await refused(
        api,
        "POST",
        "/v1/checkouts",
        402,
        "payment_declined",
        headers=api.as_buyer("ann"),
        json={"hold_id": hold_id, "payment_method": card},
        skip=("checkouts", "sandbox_payments", "sandbox_operations", "outbox"),
    )
    assert body["decline_code"] == decline_code
    failed = await api.client.get(
        f"/v1/checkouts/{body['checkout_id']}", headers=api.as_buyer("ann")
    )
    assert failed.json()["status"] == "failed"
    assert failed.json()["decline_code"] == decline_code
    # The buyer keeps the unit and can pay with another card.
    paid = await api.client.post(
        "/v1/checkouts",
        json={"hold_id": hold_id, "payment_method": VISA},
        headers=api.as_buyer("ann"),
    )
    assert paid.status_code == 201 and paid.json()["order"]["status"] == "paid"


# --------------------------------------------------------------------------- storable text
#
# A NUL passes ``str`` validation and was a 500 on PostgreSQL; a lone surrogate (JSON's
# "\ud800") was a 500 on both databases wherever a body holds free-form JSON. The routes
# and their text fields come from the OpenAPI document, so a new route is covered.

BAD_TEXT = {"nul": "a\x00b", "surrogate": "\ud800"}  # json.dumps writes \u0000, \ud800
_APP = create_app(Settings(background_tasks=False))
_DOC = _APP.openapi()


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every route of the app, ``/ui`` pages included: FastAPI keeps an included router
    as one entry holding the router (``original_router``), not its routes."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


_APP_ROUTES = list(api_routes(_APP.routes))


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        resolved: dict[str, Any] = _DOC["components"]["schemas"][schema["$ref"].split("/")[-1]]
        return resolved
    return schema


def text_places(schema: dict[str, Any], at: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every place a string can go in a body of ``schema``, as a path of property names,
    ``[]`` (a list item), ``{}`` (a dict value) and ``{key}`` (a dict key)."""
    schema = _resolve(schema)
    out: list[tuple[str, ...]] = []
    for option in schema.get("anyOf", []) + schema.get("allOf", []):
        out += [p for p in text_places(option, at) if p not in out]
    kind = schema.get("type")
    if kind == "string" or (not kind and not {"anyOf", "allOf", "$ref"} & schema.keys()):
        out.append(at)  # a string, or free-form JSON (``Any``)
    elif kind == "array":
        out += text_places(schema.get("items", {}), (*at, "[]"))
    elif kind == "object":
        for name, prop in schema.get("properties", {}).items():
            out += text_places(prop, (*at, name))
        extra = schema.get("additionalProperties", not schema.get("properties"))
        if extra is not False:
            out.append((*at, "{key}"))
            out += text_places(extra if isinstance(extra, dict) else {}, (*at, "{}"))
    return out


def place(path: tuple[str, ...], bad: str) -> Any:
    """A body with ``bad`` at ``path`` (and nothing else: the other fields' errors do
    not hide the one for this field)."""
    if not path:
        return bad
    head, rest = path[0], path[1:]
    if head == "[]":
        return [place(rest, bad)]
    if head == "{}":
        return {"k": place(rest, bad)}
    if head == "{key}":
        return {bad: "x"}
    return {head: place(rest, bad)}


def names_field(error: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Whether a validation error is about the field at ``path``: its location and the
    path's, as pydantic writes it (``0`` for the list item, ``k`` for the dict value),
    agree as far as the shorter goes. A missing or unknown field is another error."""
    want: list[str] = []
    for part in path:
        if part == "{key}":
            break
        want.append({"[]": "0", "{}": "k"}.get(part, part))
    loc = [str(p) for p in error["loc"][1:]]
    n = min(len(loc), len(want))
    return bool(loc) and loc[:n] == want[:n] and error["msg"] != "Field required"


# Bodies verified by their signature before anything else reads them (a payment
# provider's or a warehouse's webhook): an unsigned bad body is refused as unsigned.
SIGNED = {"/v1/webhooks/stripe", "/v1/fulfillment-events"}
WRITES = [
    (method.upper(), url, text_places(op["requestBody"]["content"]["application/json"]["schema"]))
    for url, item in _DOC["paths"].items()
    for method, op in item.items()
    if method in ("post", "put", "patch")
    and "application/json" in op.get("requestBody", {}).get("content", {})
    and url not in SIGNED
]


def test_every_write_with_text_is_covered() -> None:
    """The list below is the OpenAPI document's, not a hand-made one."""
    with_text = [(m, u) for m, u, places in WRITES if places]
    assert len(with_text) >= 30 and ("POST", "/v1/qc/specs") in with_text
    assert ("POST", "/v1/drops/{drop_id}/holds") in with_text  # the hot path too
    served = {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in _APP_ROUTES}  # {kind:milestone}
    assert served >= set(_DOC["paths"])  # and /ui besides


def _filled(url: str) -> str:
    """``url`` with its parameters filled; a milestone kind must be a real one to match
    its route (``{kind:milestone}``)."""
    return re.sub(r"\{[^}]+\}", "x", url.replace("{kind}", "final_qc"))


async def test_text_the_database_cannot_store_is_422_on_every_write(api: Api) -> None:
    """NUL and a lone surrogate, as raw JSON escapes, in every string field of every
    POST/PUT/PATCH body: each is a 422 naming the field, and nothing changes."""
    headers = api.key(api.admin) | {
        "X-Buyer-Token": api.c.access.mint("ann"),
        "Content-Type": "application/json",
    }
    before = await state(api.c)
    wrong = []
    sent = 0
    for method, url, places in WRITES:
        for path in places:
            for kind, bad in BAD_TEXT.items():
                raw = json.dumps(place(path, bad)).encode()
                assert b"\\u0000" in raw or b"\\ud800" in raw
                resp = await api.client.request(method, _filled(url), content=raw, headers=headers)
                sent += 1
                body = resp.json() if resp.headers.get("content-type") == PROBLEM else {}
                if not (
                    resp.status_code == 422
                    and body.get("code") == "validation_error"
                    and any(names_field(e, path) for e in body.get("errors", []))
                ):
                    wrong.append((method, url, path, kind, resp.status_code, resp.text[:300]))
    assert sent > 200
    assert not wrong, "\n".join(map(str, wrong))
    assert await state(api.c) == before
    ok = await api.client.get("/v1/stock", headers=api.as_ops())  # the client still works
    assert ok.status_code == 200


async def test_a_nul_in_a_path_or_query_parameter_is_422_on_every_route(api: Api) -> None:
    """``%00`` in any path parameter of any route (``/ui`` pages included), and in any
    string query parameter of the API: a 422 naming the parameter, before anything runs."""
    headers = api.key(api.admin) | {"X-Buyer-Token": api.c.access.mint("ann")}
    before = await state(api.c)
    wrong, sent = [], 0
    for route in _APP_ROUTES:
        names = re.findall(r"\{([^}:]+)", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            if names:
                url = re.sub(r"\{[^}]+\}", "a%00b", route.path)
                resp = await api.client.request(method, url, headers=headers)
                sent += 1
                if ":" in route.path:  # a converter ({kind:milestone}): no route matches
                    if resp.status_code != 404:
                        wrong.append((method, route.path, resp.status_code, resp.text[:200]))
                elif resp.status_code != 422 or resp.json().get("field") != f"path.{names[0]}":
                    wrong.append((method, route.path, resp.status_code, resp.text[:200]))
    for url, item in _DOC["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                if param["in"] == "query" and "string" in json.dumps(param["schema"]):
                    resp = await api.client.request(
                        method, _filled(url), params={param["name"]: "a\x00b"}, headers=headers
                    )
                    sent += 1
                    if resp.json().get("field") != f"query.{param['name']}":
                        wrong.append((method, url, param["name"], resp.status_code, resp.text))
    assert sent > 100
    assert not wrong, "\n".join(map(str, wrong))
    assert await state(api.c) == before


async def test_a_nul_in_a_ui_form_post_is_422(api: Api) -> None:
    """Every ``/ui`` form post (their pages are not in the OpenAPI document)."""
    posts = [r for r in _APP_ROUTES if r.path.startswith("/ui") and "POST" in r.methods]
    assert len(posts) >= 5
    before = await state(api.c)
    for route in posts:
        url = re.sub(r"\{[^}]+\}", "x", route.path)
        resp = await api.client.post(url, data={"csrf_token": "t", "note": "a\x00b"})
        assert resp.status_code == 422, (route.path, resp.text)
        assert resp.json()["field"] == "form.note"
    assert await state(api.c) == before


async def test_a_buyer_token_whose_subject_is_not_text_is_401(api: Api) -> None:
    token = mint_buyer_token(api.c.settings.buyer_token_secret, "ann\x00")
    await refused(
        api,
        "POST",
        f"/v1/drops/{api.shop.drop_id}/holds",
        401,
        "unauthenticated",
        headers=api.key(api.store) | {"X-Buyer-Token": token},
        json={"items": [{"sku_id": api.shop.skus[0]}]},
    )


# --------------------------------------------------------------------------- integers


def _integers(schema: dict[str, Any], at: str) -> list[tuple[str, dict[str, Any]]]:
    schema = _resolve(schema)
    out = [] if schema.get("type") != "integer" else [(at, schema)]
    for option in schema.get("anyOf", []):
        out += _integers(option, at)
    for name, prop in schema.get("properties", {}).items():
        out += _integers(prop, f"{at}.{name}")
    if isinstance(schema.get("items"), dict):
        out += _integers(schema["items"], f"{at}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        out += _integers(schema["additionalProperties"], f"{at}.*")
    return out


# The route clamps it to 1-1000 itself (``min(limit, 1000)``): no value reaches SQL.
CLAMPED = {"GET /v1/stock/{sku_id} query.limit"}


def test_every_integer_a_request_carries_is_bounded() -> None:
    """Every integer of every request (path, query, body) declares the range its column
    holds, so 10**20 is a 422 instead of an OverflowError: PostgreSQL ``Integer`` columns
    stop at 2**31 - 1, every integer column at 2**63 - 1."""
    unbounded = []
    for url, item in _DOC["paths"].items():
        for method, op in item.items():
            found = [
                (f"{p['in']}.{p['name']}", s)
                for p in op.get("parameters", [])
                for _, s in _integers(p["schema"], "")
            ]
            for content in op.get("requestBody", {}).get("content", {}).values():
                found += _integers(content.get("schema", {}), "body")
            for where, s in found:
                name = f"{method.upper()} {url} {where}"
                if name not in CLAMPED and not (
                    "minimum" in s and 0 <= s.get("maximum", BIGINT_MAX + 1) <= BIGINT_MAX
                ):
                    unbounded.append(name)
    assert not unbounded, unbounded


@pytest.mark.parametrize("version", [2**31, 10**20])
async def test_spec_version_beyond_the_column_is_422(api: Api, version: int) -> None:
    product = await api.c.catalog.create_product("Hoodie")
    spec = await api.c.qc_specs.create_spec(product.id, "v1", SPEC, actor="lee")
    url = f"/v1/qc/specs/{spec['spec_id']}/versions/{{}}/golden-samples"
    body = await refused(
        api, "POST", url.format(version), 422, "validation_error", headers=api.as_ops(), json={}
    )
    assert body["errors"][0]["loc"] == ["path", "version"]
    run = {"spec_id": spec["spec_id"], "version": version}
    body = await refused(
        api,
        "PUT",
        "/v1/runs/run_x/qc-spec",
        422,
        "validation_error",
        headers=api.as_ops(),
        json=run,
    )
    assert body["errors"][0]["loc"] == ["body", "version"]
    # The same client goes on: the largest version the column holds is a plain 404.
    last = await api.client.post(url.format(2**31 - 1), json={}, headers=api.as_ops())
    assert last.status_code == 404, last.text


# --------------------------------------------------------------------------- tracking CSV


async def test_tracking_csv_with_a_field_over_128_kib_is_422(api: Api) -> None:
    """Python's CSV reader stops at a field over 131,072 characters: a 4xx with its own
    code, the whole file refused (the good row before it is not applied)."""
    order = await paid_order(api.c, api.shop, "ann", 1)
    csv_text = (
        "order_id,carrier,tracking_number\n"
        f"{order.id},UPS,1Z1\n"
        f'ord_2,UPS,"{"9" * (128 * 1024 + 1)}"\n'
    )
    body = await refused(
        api,
        "POST",
        "/v1/fulfillment-events/tracking-import",
        422,
        "csv_field_too_large",
        headers=api.as_ops() | {"Content-Type": "text/csv"},
        content=csv_text.encode(),
    )
    assert body["line"] == 3 and body["limit"] == 131072
    # The same client goes on, and the good row alone is applied.
    ok = await api.client.post(
        "/v1/fulfillment-events/tracking-import",
        content=f"order_id,carrier,tracking_number\n{order.id},UPS,1Z1\n".encode(),
        headers=api.as_ops() | {"Content-Type": "text/csv"},
    )
    assert ok.status_code == 200 and ok.json()["applied"] == 1, ok.text


async def test_tracking_csv_row_with_a_nul_is_a_row_error(api: Api) -> None:
    before = await state(api.c)
    resp = await api.client.post(
        "/v1/fulfillment-events/tracking-import",
        content=b"order_id,carrier,tracking_number\nord_\x001,UPS,1Z1\nord_2,U\x00PS,1Z2\n",
        headers=api.as_ops() | {"Content-Type": "text/csv"},
    )
    assert resp.status_code == 200, resp.text
    errors = resp.json()["errors"]
    assert [(e["line"], e["code"]) for e in errors] == [
        (2, "validation_error"),
        (3, "validation_error"),
    ]
    assert "order_id" in errors[0]["detail"] and "carrier" in errors[1]["detail"]
    assert await state(api.c) == before
