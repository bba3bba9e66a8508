"""Idempotent requests and payment finishers racing over real HTTP against a running
server, on both deployments: SQLite with the in-process engine, and PostgreSQL with the
Redis engine. Every request below is fired at once with ``asyncio.gather`` over many
sockets, so the server really does handle them concurrently.

What must hold: one ``Idempotency-Key`` runs its request once (the others are 409
``idempotency_in_progress`` or its stored response); one hold is paid once; any number
of confirms of one checkout all get the same order, and a hold that lost its units
before them is sold once, with every unit accounted for."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from backends import PG_URL, REDIS_URL, migrate_pg, require_redis, require_server, truncate_pg
from e2e.server import Crowd, DroplineServer, SeededDrop, Template, seed_drop

pytestmark = pytest.mark.e2e

VISA = "4242424242424242"
THREE_DS = "4000000000003220"
PROBLEM = "application/problem+json"
# Background work as in tests/e2e/conftest.py: recovery every 0.5 s takes over
# checkouts left processing for 1 s, so it races the requests too.
FAST_BACKGROUND = {
    "DROPLINE_EXPIRY_INTERVAL_S": "0.1",
    "DROPLINE_RECONCILE_INTERVAL_S": "0.5",
    "DROPLINE_RECOVER_AFTER_S": "1",
}


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis])],
)
def live(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    server_template: Template,
) -> Iterator[DroplineServer]:
    """A running server for the module (each test seeds a drop of its own): SQLite with
    the in-process engine, or PostgreSQL with Redis."""
    workdir = tmp_path_factory.mktemp(f"finishers-{request.param}")
    if request.param == "sqlite":
        srv = DroplineServer(workdir, env=FAST_BACKGROUND, template=server_template)
    else:
        require_server("PostgreSQL", "127.0.0.1", 5432)
        require_redis()
        migrate_pg()
        asyncio.run(truncate_pg())
        _flush_redis()
        srv = DroplineServer(
            workdir, database_url=PG_URL, engine_url=REDIS_URL, env=FAST_BACKGROUND
        )
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@asynccontextmanager
async def http(server: DroplineServer) -> AsyncIterator[Crowd]:
    async with Crowd(server.base_url, clients=5, connections=10) as crowd:
        yield crowd


def buyer(server: DroplineServer, shop: SeededDrop, name: str, key: str = "") -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {shop.storefront_key}",
        "X-Buyer-Token": server.buyer_token(name),
    }
    return headers | ({"Idempotency-Key": key} if key else {})


def assert_problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["code"] == code, resp.text


async def ok(resp: Any, status: int = 200) -> Any:
    r = await resp
    assert r.status_code == status, f"{r.request.method} {r.request.url.path}: {r.text}"
    return r.json()


async def hold(client: Crowd, server: DroplineServer, shop: SeededDrop, name: str) -> str:
    body = await ok(
        client.post(
            f"/v1/drops/{shop.drop_id}/holds",
            json={"items": [{"sku_id": shop.skus["tee"]}]},
            headers=buyer(server, shop, name),
        ),
        201,
    )
    hold_id: str = body["id"]
    return hold_id


async def assert_units_accounted(client: Crowd, server: DroplineServer, shop: SeededDrop) -> int:
    """The engine offers exactly what the ledger has not sold, the ledger replays to
    the stored levels, and the report balances. Returns the units sold."""
    admin = server.admin_headers()
    drop = await ok(client.get(f"/v1/drops/{shop.drop_id}", headers=admin))
    (offer,) = drop["offers"]
    public = await ok(
        client.get(
            f"/v1/drops/{shop.drop_id}/public",
            headers={"Authorization": f"Bearer {shop.storefront_key}"},
        )
    )
    remaining = {s["id"]: s["remaining"] for p in public["products"] for s in p["skus"]}
    assert remaining == {shop.skus["tee"]: offer["offered"] - offer["sold"]}
    verify = await ok(client.get("/v1/stock/verify", headers=admin))
    assert verify["consistent"] is True, verify
    report = await ok(client.get(f"/v1/drops/{shop.drop_id}/report", headers=admin))
    assert report["balanced"] is True, report["reconciliation"]
    sold: int = offer["sold"]
    return sold


async def orders(client: Crowd, server: DroplineServer, shop: SeededDrop) -> list[Any]:
    got: list[Any] = await ok(
        client.get("/v1/orders", params={"drop_id": shop.drop_id}, headers=server.admin_headers())
    )
    return got


async def test_20_concurrent_posts_with_one_key_create_one_product(live: DroplineServer) -> None:
    name = f"Idempotent cap {os.urandom(3).hex()}"
    headers = live.admin_headers() | {"Idempotency-Key": f"cap-{name}"}
    async with http(live) as client:
        replies = await asyncio.gather(
            *(client.post("/v1/products", json={"name": name}, headers=headers) for _ in range(20))
        )
        later = await client.post("/v1/products", json={"name": name}, headers=headers)
        products = await ok(client.get("/v1/products", headers=live.admin_headers()))

    created = [r.json() for r in replies if r.status_code == 201]
    for r in replies:
        if r.status_code != 201:
            assert_problem(r, 409, "idempotency_in_progress")
    assert created and all(body == created[0] for body in created)
    assert later.status_code == 201 and later.headers["Idempotent-Replayed"] == "true"
    assert later.json() == created[0]
    assert [p["id"] for p in products if p["name"] == name] == [created[0]["id"]]


async def test_concurrent_checkouts_of_one_hold_pay_it_once(live: DroplineServer) -> None:
    """15 retries of one keyed checkout, then 15 unkeyed checkouts of another hold: each
    hold becomes exactly one payment and one order."""
    async with http(live) as client:
        shop = await seed_drop(client, live.admin_key, skus={"tee": 5})
        keyed = await hold(client, live, shop, "ann")
        pay = {"hold_id": keyed, "payment_method": VISA}
        retries = await asyncio.gather(
            *(
                client.post("/v1/checkouts", json=pay, headers=buyer(live, shop, "ann", "pay-1"))
                for _ in range(15)
            )
        )
        replay = await client.post(
            "/v1/checkouts", json=pay, headers=buyer(live, shop, "ann", "pay-1")
        )
        plain = await hold(client, live, shop, "bob")
        racing = await asyncio.gather(
            *(
                client.post(
                    "/v1/checkouts",
                    json={"hold_id": plain, "payment_method": VISA},
                    headers=buyer(live, shop, "bob"),
                )
                for _ in range(15)
            )
        )
        paid = await orders(client, live, shop)
        sold = await assert_units_accounted(client, live, shop)

    keyed_orders = {r.json()["order_id"] for r in retries if r.status_code == 201}
    for r in retries:
        if r.status_code != 201:
            assert_problem(r, 409, "idempotency_in_progress")
    assert len(keyed_orders) == 1
    assert replay.status_code == 201 and replay.json()["order_id"] in keyed_orders
    won = [r.json() for r in racing if r.status_code == 201]
    assert len(won) == 1, [r.text for r in racing if r.status_code == 201]
    for r in racing:
        if r.status_code != 201:
            assert_problem(r, 409, "conflict")
    assert sorted(o["id"] for o in paid) == sorted([*keyed_orders, won[0]["order_id"]])
    assert sold == 2


async def test_racing_confirms_all_get_the_same_order(live: DroplineServer) -> None:
    async with http(live) as client:
        shop = await seed_drop(client, live.admin_key, skus={"tee": 3})
        hold_id = await hold(client, live, shop, "cy")
        pending = await ok(
            client.post(
                "/v1/checkouts",
                json={"hold_id": hold_id, "payment_method": THREE_DS},
                headers=buyer(live, shop, "cy"),
            ),
            202,
        )
        confirm = f"/v1/checkouts/{pending['id']}/confirm"
        replies = await asyncio.gather(
            *(client.post(confirm, headers=buyer(live, shop, "cy")) for _ in range(10))
        )
        paid = await orders(client, live, shop)
        sold = await assert_units_accounted(client, live, shop)

    assert [r.status_code for r in replies] == [200] * 10, [r.text for r in replies]
    assert {r.json()["order"]["id"] for r in replies} == {o["id"] for o in paid}
    assert len(paid) == 1 and paid[0]["status"] == "paid"
    assert sold == 1


async def test_finishers_of_a_hold_that_lost_its_units_sell_it_once(
    live: DroplineServer,
) -> None:
    """The buyer's hold gave its units back while 3-D Secure was pending (released
    here; an expiry does the same). Ten confirms race to take the unit afresh: one
    order, and the units the losers would have taken are all still on offer."""
    async with http(live) as client:
        shop = await seed_drop(client, live.admin_key, skus={"tee": 3})
        hold_id = await hold(client, live, shop, "di")
        pending = await ok(
            client.post(
                "/v1/checkouts",
                json={"hold_id": hold_id, "payment_method": THREE_DS},
                headers=buyer(live, shop, "di"),
            ),
            202,
        )
        released = await ok(
            client.post(f"/v1/holds/{hold_id}/release", headers=buyer(live, shop, "di"))
        )
        assert released["status"] == "released"
        confirm = f"/v1/checkouts/{pending['id']}/confirm"
        replies = await asyncio.gather(
            *(client.post(confirm, headers=buyer(live, shop, "di")) for _ in range(10))
        )
        paid = await orders(client, live, shop)
        sold = await assert_units_accounted(client, live, shop)

    assert [r.status_code for r in replies] == [200] * 10, [r.text for r in replies]
    assert {r.json()["order"]["id"] for r in replies} == {o["id"] for o in paid}
    assert len(paid) == 1
    assert sold == 1
