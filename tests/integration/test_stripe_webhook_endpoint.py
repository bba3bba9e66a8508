"""``POST /v1/webhooks/stripe`` against localstripe, on SQLite and PostgreSQL.

The webhook finishes checkouts from Stripe's word: 3-D Secure completed in the buyer's
browser, a payment that went through after our process lost track of it, a failed
attempt. Events are signed here exactly as Stripe signs them; the payment itself is
always the real one in localstripe (the endpoint retrieves it, never trusts the body).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain import errors as e
from dropline.domain.live.orders import CheckoutStatus
from dropline.payments.stripe_provider import StripeProvider
from dropline.services.platform.background import expire_holds
from dropline.services.ports import ManualClock, PaymentResult
from prod_support import (
    STRIPE_KEY,
    VISA_3DS,
    WEBHOOK_SECRET,
    authenticate,
    card,
    http_client,
    localstripe,
    raw_intent,
    signed,
    stripe_event,
)
from support import ProviderWrapper, seed_shop, sku_item

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"
)

URL = "/v1/webhooks/stripe"


@pytest.fixture(scope="module")
def stripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture
async def c(database_url: str, clock: ManualClock, stripe_url: str) -> AsyncIterator[Container]:
    provider = StripeProvider(
        STRIPE_KEY, api_base=stripe_url, max_network_retries=0, no_redirects=False
    )
    settings = Settings(
        database_url=database_url,
        background_tasks=False,
        payment_provider="stripe",
        stripe_webhook_secret=WEBHOOK_SECRET,
    )
    container = await build(settings, clock=clock, provider=provider)
    try:
        yield container
    finally:
        await container.close()
        await provider.close()


@pytest.fixture
async def http(c: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(c) as client:
        yield client


async def orders_of(c: Container, drop_id: str) -> list[str]:
    async with c.uow(readonly=True) as uow:
        return [o.id for o in await uow.orders.list_orders(drop_id=drop_id)]


async def sold(c: Container, drop_id: str) -> dict[str, int]:
    async with c.uow(readonly=True) as uow:
        return {s: o.sold for s, o in (await uow.drops.offers(drop_id)).items()}


async def processed(c: Container) -> int:
    async with c.uow(readonly=True) as uow:
        return await uow.webhooks_in.count("stripe")


async def pending_3ds(c: Container, stripe_url: str, drop_id: str, sku: str, buyer: str) -> Any:
    hold = await c.holds.place(drop_id, buyer, [sku_item(sku)])
    pending = await c.checkout.start(hold.id, buyer, await card(stripe_url, VISA_3DS))
    assert pending.checkout.status is CheckoutStatus.REQUIRES_ACTION
    assert pending.next_action is not None
    return pending


async def test_3ds_finished_in_browser_out_of_order_and_duplicates_make_one_order(
    c: Container, http: httpx.AsyncClient, stripe_url: str
) -> None:
    shop = await seed_shop(c, units=3)
    pending = await pending_3ds(c, stripe_url, shop.drop_id, shop.skus[0], "ann")
    payment_id = pending.checkout.payment_id
    await authenticate(stripe_url, payment_id, pending.next_action["client_secret"], True)
    intent = await raw_intent(stripe_url, payment_id)
    assert intent["status"] == "requires_capture"
    assert intent["metadata"]["checkout_id"] == pending.checkout.id

    succeeded = stripe_event("payment_intent.succeeded", intent)
    capturable = stripe_event("payment_intent.amount_capturable_updated", intent)
    # ``succeeded`` first (Stripe sends it after ``amount_capturable_updated``).
    first = await http.post(URL, content=succeeded, headers=signed(succeeded))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["outcome"] == "succeeded" and body["duplicate"] is False
    order_id = body["order_id"]
    assert order_id and order_id.startswith("ord_")

    # Redeliveries, some of them at once, and the earlier event arriving late.
    replies = await asyncio.gather(
        *(http.post(URL, content=p, headers=signed(p)) for p in [capturable, succeeded] * 3)
    )
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    assert all(r.json()["outcome"] == "succeeded" for r in replies)
    assert sum(not r.json()["duplicate"] for r in replies) <= 1  # only capturable's first

    assert await orders_of(c, shop.drop_id) == [order_id]
    assert (await sold(c, shop.drop_id))[shop.skus[0]] == 1
    checkout = await c.checkout.get(pending.checkout.id)
    assert checkout.status is CheckoutStatus.SUCCEEDED and checkout.order_id == order_id
    assert (await raw_intent(stripe_url, payment_id))["status"] == "succeeded"  # captured
    assert await processed(c) == 2
    # The buyer's own confirm, arriving after the webhook did the work, gets the same
    # order and changes nothing.
    late = await c.checkout.confirm(pending.checkout.id, "ann")
    assert late.order is not None and late.order.id == order_id
    assert await orders_of(c, shop.drop_id) == [order_id]


class CountsCaptures(ProviderWrapper):
    """The real provider, counting captures."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.captures = 0

    async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        self.captures += 1
        result: PaymentResult = await self.inner.capture(
            payment_id, idempotency_key=idempotency_key
        )
        return result


async def test_confirm_and_webhooks_racing_capture_once_and_answer_with_one_order(
    c: Container, http: httpx.AsyncClient, stripe_url: str
) -> None:
    """The buyer's confirm (twice: a double tap) and Stripe's two events for the same
    payment arrive together: every caller gets 200 with the same order, the payment is
    captured once, the unit is counted once."""
    shop = await seed_shop(c, units=2)
    sku = shop.skus[0]
    pending = await pending_3ds(c, stripe_url, shop.drop_id, sku, "gus")
    payment_id = pending.checkout.payment_id
    await authenticate(stripe_url, payment_id, pending.next_action["client_secret"], True)
    intent = await raw_intent(stripe_url, payment_id)
    events = [
        stripe_event("payment_intent.amount_capturable_updated", intent),
        stripe_event("payment_intent.succeeded", intent),
    ]
    store_key, _ = await c.access.create_key("storefront", "storefront")
    buyer = {"Authorization": f"Bearer {store_key}", "X-Buyer-Token": c.access.mint("gus")}
    confirm = f"/v1/checkouts/{pending.checkout.id}/confirm"
    provider = CountsCaptures(c.checkout.provider)
    c.checkout.provider = provider

    replies = await asyncio.gather(
        http.post(confirm, headers=buyer),
        *(http.post(URL, content=p, headers=signed(p)) for p in events),
        http.post(confirm, headers=buyer),
        *(http.post(URL, content=p, headers=signed(p)) for p in events),
    )

    assert [r.status_code for r in replies] == [200] * 6, [r.text for r in replies]
    (order_id,) = await orders_of(c, shop.drop_id)
    confirms = [replies[0].json(), replies[3].json()]
    assert [b["order"]["id"] for b in confirms] == [order_id] * 2
    assert all(b["status"] == "succeeded" for b in confirms)
    hooks = [r.json() for i, r in enumerate(replies) if i not in (0, 3)]
    assert {h["outcome"] for h in hooks} == {"succeeded"}
    assert {h["order_id"] for h in hooks} <= {order_id, None}  # None: a repeat's answer
    assert provider.captures == 1
    assert (await raw_intent(stripe_url, payment_id))["status"] == "succeeded"
    assert (await sold(c, shop.drop_id))[sku] == 1
    assert await processed(c) == 2


async def test_bad_signature_is_400_and_changes_nothing(
    c: Container, http: httpx.AsyncClient, stripe_url: str
) -> None:
    shop = await seed_shop(c, units=1)
    pending = await pending_3ds(c, stripe_url, shop.drop_id, shop.skus[0], "bo")
    payment_id = pending.checkout.payment_id
    await authenticate(stripe_url, payment_id, pending.next_action["client_secret"], True)
    payload = stripe_event("payment_intent.succeeded", await raw_intent(stripe_url, payment_id))

    attempts = [
        signed(payload, secret="whsec_someone_else"),
        signed(payload, at=1_600_000_000),  # too old: replay protection
        {"Content-Type": "application/json"},  # no header at all
        signed(payload + b" "),  # body changed after signing
    ]
    for headers in attempts:
        r = await http.post(URL, content=payload, headers=headers)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "invalid_signature"

    assert await processed(c) == 0
    assert await orders_of(c, shop.drop_id) == []
    checkout = await c.checkout.get(pending.checkout.id)
    assert checkout.status is CheckoutStatus.REQUIRES_ACTION
    assert (await raw_intent(stripe_url, payment_id))["status"] == "requires_capture"


async def test_payment_after_hold_expired_and_sold_out_is_voided_and_recorded(
    c: Container, http: httpx.AsyncClient, stripe_url: str, clock: ManualClock
) -> None:
    shop = await seed_shop(c, units=1, ttl=30)
    sku = shop.skus[0]
    pending = await pending_3ds(c, stripe_url, shop.drop_id, sku, "cy")
    # The buyer dawdles in the 3-D Secure page past the paying cap; the unit goes back
    # and someone else buys it.
    clock.advance(c.settings.paying_cap_s + 1)
    assert await expire_holds(c.engine, clock) == 1
    other = await c.holds.place(shop.drop_id, "di", [sku_item(sku)])
    bought = await c.checkout.start(other.id, "di", "pm_card_visa")
    assert bought.order is not None

    payment_id = pending.checkout.payment_id
    await authenticate(stripe_url, payment_id, pending.next_action["client_secret"], True)
    payload = stripe_event(
        "payment_intent.amount_capturable_updated", await raw_intent(stripe_url, payment_id)
    )
    r = await http.post(URL, content=payload, headers=signed(payload))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "sold_out_voided"

    checkout = await c.checkout.get(pending.checkout.id)
    assert checkout.status is CheckoutStatus.VOIDED
    assert checkout.failure_reason and "sold out" in checkout.failure_reason
    assert (await raw_intent(stripe_url, payment_id))["status"] == "canceled"
    assert await orders_of(c, shop.drop_id) == [bought.order.id]
    assert (await sold(c, shop.drop_id))[sku] == 1
    async with c.uow(readonly=True) as uow:
        events = await uow.outbox.list(aggregate_id=checkout.id)
    assert "checkout.voided" in [ev["type"] for ev in events]
    # A redelivery does not void twice or resurrect anything.
    again = await http.post(URL, content=payload, headers=signed(payload))
    assert again.json() == {**r.json(), "duplicate": True, "checkout_id": None}


async def test_payment_after_hold_expired_over_the_limit_is_voided_and_recorded(
    c: Container, http: httpx.AsyncClient, stripe_url: str, clock: ManualClock
) -> None:
    """A late payment whose units would put the buyer over the per-buyer limit (they
    bought up to it meanwhile) is voided as a sold-out one is, and said so."""
    shop = await seed_shop(c, units=5, ttl=30, limit=1)
    sku = shop.skus[0]
    pending = await pending_3ds(c, stripe_url, shop.drop_id, sku, "ed")
    clock.advance(c.settings.paying_cap_s + 1)
    assert await expire_holds(c.engine, clock) == 1
    again_hold = await c.holds.place(shop.drop_id, "ed", [sku_item(sku)])
    bought = await c.checkout.start(again_hold.id, "ed", "pm_card_visa")
    assert bought.order is not None

    payment_id = pending.checkout.payment_id
    await authenticate(stripe_url, payment_id, pending.next_action["client_secret"], True)
    payload = stripe_event(
        "payment_intent.amount_capturable_updated", await raw_intent(stripe_url, payment_id)
    )
    r = await http.post(URL, content=payload, headers=signed(payload))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "limit_exceeded_voided"

    checkout = await c.checkout.get(pending.checkout.id)
    assert checkout.status is CheckoutStatus.VOIDED
    assert checkout.failure_reason and "limit" in checkout.failure_reason
    assert (await raw_intent(stripe_url, payment_id))["status"] == "canceled"
    assert await orders_of(c, shop.drop_id) == [bought.order.id]
    assert (await sold(c, shop.drop_id))[sku] == 1
    assert (await c.engine.counts(shop.drop_id))[sku].remaining == 4


async def test_payment_failed_is_recorded_and_the_hold_stays_with_the_buyer(
    c: Container, http: httpx.AsyncClient, stripe_url: str
) -> None:
    shop = await seed_shop(c, units=1)
    pending = await pending_3ds(c, stripe_url, shop.drop_id, shop.skus[0], "ed")
    payment_id = pending.checkout.payment_id
    await authenticate(stripe_url, payment_id, pending.next_action["client_secret"], False)
    payload = stripe_event(
        "payment_intent.payment_failed", await raw_intent(stripe_url, payment_id)
    )
    r = await http.post(URL, content=payload, headers=signed(payload))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "payment_failed"
    checkout = await c.checkout.get(pending.checkout.id)
    assert checkout.status is CheckoutStatus.FAILED
    assert checkout.decline_code
    assert await orders_of(c, shop.drop_id) == []
    hold = await c.engine.get_hold(pending.checkout.hold_id)
    assert hold is not None and hold.status == "paying"  # may retry with another card


class LosesTheAnswer(ProviderWrapper):
    """The real provider, except the answer to ``authorize`` never reaches us (the
    process crashed or the connection dropped after Stripe authorised)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    async def authorize(self, **kwargs: Any) -> PaymentResult:
        await self.inner.authorize(**kwargs)
        raise e.PaymentProviderError("connection reset while reading the answer")


async def test_payment_we_lost_track_of_is_finished_by_the_webhook(
    c: Container, http: httpx.AsyncClient, stripe_url: str, clock: ManualClock
) -> None:
    shop = await seed_shop(c, units=2)
    hold = await c.holds.place(shop.drop_id, "fay", [sku_item(shop.skus[0])])
    real = c.checkout.provider
    c.checkout.provider = LosesTheAnswer(real)
    with pytest.raises(e.PaymentProviderError):
        await c.checkout.start(hold.id, "fay", "pm_card_visa")
    c.checkout.provider = real
    async with c.uow(readonly=True) as uow:
        (stuck,) = await uow.orders.checkouts_for_hold(hold.id)
    assert stuck.status is CheckoutStatus.PROCESSING and stuck.payment_id is None
    # Find the intent Stripe made for it (its metadata names the checkout).
    async with httpx.AsyncClient(base_url=stripe_url, auth=("sk_test_12345", "")) as s:
        intents = (await s.get("/v1/payment_intents", params={"limit": 100})).json()["data"]
    (intent,) = [i for i in intents if i["metadata"].get("checkout_id") == stuck.id]
    payload = stripe_event("payment_intent.amount_capturable_updated", intent)

    # Right away the request that started it may still be finishing it: the webhook
    # waits a moment for its result (here it crashed, so there is none), then asks
    # Stripe to try later.
    c.checkout.finish_wait_s = 0.2
    early = await http.post(URL, content=payload, headers=signed(payload))
    assert early.status_code == 503 and early.json()["outcome"] == "in_progress"
    assert await processed(c) == 0

    clock.advance(31)
    later = await http.post(URL, content=payload, headers=signed(payload))
    assert later.status_code == 200, later.text
    assert later.json()["outcome"] == "succeeded"
    assert await orders_of(c, shop.drop_id) == [later.json()["order_id"]]
    assert (await raw_intent(stripe_url, intent["id"]))["status"] == "succeeded"
    assert (await sold(c, shop.drop_id))[shop.skus[0]] == 1


async def test_unconfigured_secret_is_404_and_unrelated_events_are_acknowledged(
    c: Container, http: httpx.AsyncClient
) -> None:
    payload = stripe_event("customer.created", {"object": "customer", "id": "cus_1"})
    r = await http.post(URL, content=payload, headers=signed(payload))
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    c.settings.stripe_webhook_secret = ""
    r = await http.post(URL, content=payload, headers=signed(payload))
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
