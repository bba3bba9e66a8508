"""``Idempotency-Key`` under concurrency and failure, in process over ASGI, on SQLite
and PostgreSQL: the key is claimed before the request runs, a retry while it runs is
409 ``idempotency_in_progress``, and a checkout the first request could not see through
is answered from what became of it. (Replays, mismatches and declines are in
``test_api_bad_input.py``; the same over a real server's HTTP is in
``tests/e2e/test_concurrent_finishers.py``.)"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from dropline.api.app import create_app
from dropline.api.idempotency import LEASE_S
from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.ports import ManualClock, PaymentResult, PaymentStatus
from support import ProviderWrapper, Shop, seed_shop

VISA = "4242424242424242"
PROBLEM = "application/problem+json"


@dataclass
class Api:
    c: Container
    client: httpx.AsyncClient
    ops: dict[str, str]
    store: str
    shop: Shop

    def buyer(self, name: str, key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.store}",
            "X-Buyer-Token": self.c.access.mint(name),
        }
        return headers | ({"Idempotency-Key": key} if key else {})


@pytest.fixture
async def api(container: Container) -> AsyncIterator[Api]:
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dropline.test") as cl:
            ops, _ = await container.access.create_key("ops", "ops")
            store, _ = await container.access.create_key("storefront", "storefront")
            shop = await seed_shop(container, units=5)
            yield Api(container, cl, {"Authorization": f"Bearer {ops}"}, store, shop)


def problem(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert resp.json()["code"] == code, resp.json()


async def products_named(c: Container, name: str) -> int:
    return sum(1 for p, _ in await c.catalog.list_products() if p.name == name)


async def test_a_retry_while_the_first_request_runs_is_409_then_gets_its_response(
    api: Api,
) -> None:
    c = api.c
    real = c.catalog.create_product
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_first(*args: Any, **kwargs: Any) -> Any:
        if not entered.is_set():
            entered.set()
            await release.wait()
        return await real(*args, **kwargs)

    c.catalog.create_product = slow_first  # type: ignore[method-assign]
    headers = api.ops | {"Idempotency-Key": "cap-1"}
    first = asyncio.create_task(
        api.client.post("/v1/products", json={"name": "Cap"}, headers=headers)
    )
    await asyncio.wait_for(entered.wait(), 10)

    problem(
        await api.client.post("/v1/products", json={"name": "Cap"}, headers=headers),
        409,
        "idempotency_in_progress",
    )
    problem(
        await api.client.post("/v1/products", json={"name": "Beanie"}, headers=headers),
        409,
        "idempotency_mismatch",
    )
    release.set()
    done = await asyncio.wait_for(first, 10)
    assert done.status_code == 201 and "Idempotent-Replayed" not in done.headers
    again = await api.client.post("/v1/products", json={"name": "Cap"}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == done.json()
    assert await products_named(c, "Cap") == 1


async def test_concurrent_requests_with_one_key_run_once(api: Api) -> None:
    headers = api.ops | {"Idempotency-Key": "hat-1"}
    replies = await asyncio.gather(
        *(api.client.post("/v1/products", json={"name": "Hat"}, headers=headers) for _ in range(20))
    )
    assert set(Counter(r.status_code for r in replies)) <= {201, 409}
    for r in replies:
        if r.status_code == 409:
            problem(r, 409, "idempotency_in_progress")
    created = [r.json() for r in replies if r.status_code == 201]
    assert created and all(body == created[0] for body in created)
    assert await products_named(api.c, "Hat") == 1


async def test_a_failed_request_releases_its_key(api: Api) -> None:
    """Errors are not stored: the retry runs afresh."""
    c = api.c
    real = c.catalog.create_product
    calls = 0

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise e.Conflict("try again")
        return await real(*args, **kwargs)

    c.catalog.create_product = fails_once  # type: ignore[method-assign]
    headers = api.ops | {"Idempotency-Key": "scarf-1"}
    problem(
        await api.client.post("/v1/products", json={"name": "Scarf"}, headers=headers),
        409,
        "conflict",
    )
    retry = await api.client.post("/v1/products", json={"name": "Scarf"}, headers=headers)
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert calls == 2 and await products_named(c, "Scarf") == 1


async def test_a_claim_left_by_a_dead_request_is_taken_over_after_the_lease(
    api: Api, clock: ManualClock
) -> None:
    """A request whose process died holds its key for ``LEASE_S``, then a retry runs."""
    c = api.c
    body = b'{"name":"Sock"}'
    key_id = (await c.access.authenticate(api.ops["Authorization"].split()[1])).key_id
    async with c.uow() as uow:  # what the dead request left: a claim, no response
        claimed, _ = await uow.access.claim_key(
            key_id,
            "sock-1",
            "POST",
            "/v1/products",
            hashlib.sha256(b"POST/v1/products" + body).hexdigest(),
        )
        await uow.commit()
    assert claimed
    headers = api.ops | {"Idempotency-Key": "sock-1", "Content-Type": "application/json"}
    problem(
        await api.client.post("/v1/products", content=body, headers=headers),
        409,
        "idempotency_in_progress",
    )
    assert await products_named(c, "Sock") == 0
    clock.advance(LEASE_S + 1)
    retry = await api.client.post("/v1/products", content=body, headers=headers)
    assert retry.status_code == 201, retry.text
    again = await api.client.post("/v1/products", content=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == retry.json()
    assert await products_named(c, "Sock") == 1


class LosesTheAnswer(ProviderWrapper):
    """The sandbox, except the answer to ``authorize`` never reaches us (the connection
    dropped after the payment was authorised)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    async def authorize(self, **kwargs: Any) -> PaymentResult:
        await self.inner.authorize(**kwargs)
        raise e.PaymentProviderError("connection reset while reading the answer")


async def test_a_checkout_finished_by_recovery_replays_201_with_the_order(
    api: Api, clock: ManualClock
) -> None:
    c = api.c
    hold = await api.client.post(
        f"/v1/drops/{api.shop.drop_id}/holds",
        json={"items": [{"sku_id": api.shop.skus[0]}]},
        headers=api.buyer("ann"),
    )
    pay = {"hold_id": hold.json()["id"], "payment_method": VISA}
    headers = api.buyer("ann", key="pay-ann")
    real = c.checkout.provider
    c.checkout.provider = LosesTheAnswer(real)
    problem(
        await api.client.post("/v1/checkouts", json=pay, headers=headers),
        502,
        "payment_provider_error",
    )
    c.checkout.provider = real

    # The payment went through at the provider; the checkout is not finished yet.
    problem(
        await api.client.post("/v1/checkouts", json=pay, headers=headers),
        409,
        "idempotency_in_progress",
    )
    clock.advance(c.settings.recover_after_s + 1)
    (checkout_id,) = await c.checkout.recover()

    replayed = await api.client.post("/v1/checkouts", json=pay, headers=headers)
    assert replayed.status_code == 201, replayed.text
    assert replayed.headers["Idempotent-Replayed"] == "true"
    body = replayed.json()
    assert body["id"] == checkout_id and body["status"] == CheckoutStatus.SUCCEEDED
    assert body["order"]["status"] == "paid" and body["order_id"] == body["order"]["id"]
    again = await api.client.post("/v1/checkouts", json=pay, headers=headers)
    assert again.status_code == 201 and again.json() == body
    async with c.uow(readonly=True) as uow:
        orders = await uow.orders.list_orders(drop_id=api.shop.drop_id)
        checkouts = await uow.orders.list_checkouts(api.shop.drop_id)
    assert [o.id for o in orders] == [body["order_id"]] and len(checkouts) == 1
    payment = await c.provider.retrieve(orders[0].payment_id)
    assert payment.status is PaymentStatus.CAPTURED
