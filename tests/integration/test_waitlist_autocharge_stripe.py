"""Waitlist auto-charge with Stripe, against localstripe: the card is set up with a
Customer and a SetupIntent (``usage=off_session``), charged off-session when a unit is
allocated, and detached when done.

Where localstripe differs from Stripe the test says so: it accepts ``off_session`` but
ignores it, answering a card that needs authentication with ``requires_action`` where
Stripe declines with ``authentication_required``; the provider turns that answer into
the same decline (and cancels the intent). Its SetupIntent asks for authentication for
4000002760003184 as Stripe does, so that card cannot be saved server-side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from test_stripe_provider import StripeLikeProxy, _posts
from test_waitlist import consistent, sold_out_shop

from dropline.bootstrap import Container, build
from dropline.config import Settings
from dropline.domain import errors as e
from dropline.payments.stripe_provider import StripeProvider, parse_saved
from dropline.services.ports import ManualClock, PaymentStatus
from prod_support import STRIPE_AUTH, STRIPE_KEY, card, localstripe, raw_intent

pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"
)

VISA = "4242424242424242"
DECLINES_ON_CHARGE = "4000000000000341"
DECLINES_ON_SETUP = "4000000000000002"
AUTH_ALWAYS = "4000002760003184"
AUTH_ON_SETUP = "4000002500003155"


@pytest.fixture(scope="module")
def stripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture
async def provider(stripe_url: str) -> AsyncIterator[StripeProvider]:
    p = StripeProvider(STRIPE_KEY, api_base=stripe_url, max_network_retries=0, no_redirects=False)
    yield p
    await p.close()


async def _get(base: str, path: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, auth=STRIPE_AUTH) as http:
        r = await http.get(path)
    data: dict[str, Any] = r.json()
    return {"_status": r.status_code, **data}


async def test_save_charge_off_session_and_forget(
    provider: StripeProvider, stripe_url: str
) -> None:
    saved = await provider.save_method(
        payment_method=await card(stripe_url, VISA),
        idempotency_key="wls_test_visa",
        metadata={"drop_id": "drp_1"},
    )
    parsed = parse_saved(saved.token)
    assert parsed is not None and saved.last4 == "4242"
    customer, pm = parsed
    result = await provider.authorize(
        amount=2500, currency="USD", payment_method=saved.token, idempotency_key="chk_saved_1"
    )
    assert result.status is PaymentStatus.AUTHORIZED
    raw = await raw_intent(stripe_url, result.payment_id)
    assert raw["customer"] == customer and raw["payment_method"] == pm
    await provider.forget_method(saved.token)
    assert (await _get(stripe_url, f"/v1/payment_methods/{pm}"))["customer"] is None
    assert (await _get(stripe_url, f"/v1/customers/{customer}"))["_status"] == 404
    await provider.forget_method(saved.token)  # again: nothing to do, no error


async def test_a_card_refused_on_setup_is_not_saved(
    provider: StripeProvider, stripe_url: str
) -> None:
    with pytest.raises(e.PaymentDeclined) as info:
        await provider.save_method(
            payment_method=await card(stripe_url, DECLINES_ON_SETUP),
            idempotency_key="wls_test_0002",
            metadata={},
        )
    assert info.value.extra["decline_code"] == "card_declined"
    for number in (AUTH_ALWAYS, AUTH_ON_SETUP):
        with pytest.raises(e.PaymentDeclined) as info:
            await provider.save_method(
                payment_method=await card(stripe_url, number),
                idempotency_key=f"wls_test_{number}",
                metadata={},
            )
        assert info.value.extra["decline_code"] == "authentication_required"
    with pytest.raises(e.InvalidInput):
        await provider.save_method(
            payment_method="not-a-card", idempotency_key="wls_test_bad", metadata={}
        )


async def test_a_saved_card_declined_off_session(provider: StripeProvider, stripe_url: str) -> None:
    saved = await provider.save_method(
        payment_method=await card(stripe_url, DECLINES_ON_CHARGE),
        idempotency_key="wls_test_0341",
        metadata={},
    )
    result = await provider.authorize(
        amount=2500, currency="USD", payment_method=saved.token, idempotency_key="chk_saved_2"
    )
    assert result.status is PaymentStatus.DECLINED and result.decline_code


@pytest.fixture
async def c(
    database_url: str, clock: ManualClock, provider: StripeProvider
) -> AsyncIterator[Container]:
    settings = Settings(database_url=database_url, background_tasks=False)
    container = await build(settings, clock=clock, provider=provider)
    try:
        yield container
    finally:
        await container.close()


async def test_waitlist_auto_charge_with_stripe(c: Container, stripe_url: str) -> None:
    """The first in line saved a card Stripe declines off-session: the unit passes to
    the second, whose saved card pays; both cards end detached."""
    drop_id, sku, [early] = await sold_out_shop(c)
    ann, _ = await c.waitlist_autocharge.join(
        drop_id, sku, "ann", "", await card(stripe_url, DECLINES_ON_CHARGE)
    )
    bo, _ = await c.waitlist_autocharge.join(drop_id, sku, "bo", "", await card(stripe_url, VISA))
    async with c.uow(readonly=True) as uow:
        tokens = [(await uow.waitlist.get(x["id"]) or {})["payment_token"] for x in (ann, bo)]
    await c.holds.release(early, "early0")
    await c.waitlist_serving.serve_once()
    [anns] = await c.waitlist.mine(drop_id, "ann")
    [bos] = await c.waitlist.mine(drop_id, "bo")
    assert (anns["status"], anns["auto_charge"]) == ("lost", "failed")
    assert (bos["status"], bos["auto_charge"]) == ("claimed", "succeeded")
    async with c.uow(readonly=True) as uow:
        [order] = await uow.orders.list_orders(drop_id=drop_id)
    assert order.buyer_id == "bo" and order.provider == "stripe"
    paid = await raw_intent(stripe_url, order.payment_id)
    assert paid["status"] == "succeeded" and paid["amount"] == 2500  # captured
    assert (await consistent(c, drop_id, sku)) == (0, 0, 1)
    for token in tokens:
        parsed = parse_saved(str(token))
        assert parsed is not None
        assert (await _get(stripe_url, f"/v1/payment_methods/{parsed[1]}"))["customer"] is None


@pytest.fixture
async def proxied(stripe_url: str) -> AsyncIterator[tuple[StripeProvider, StripeLikeProxy]]:
    """The provider with production settings, behind ``StripeLikeProxy`` (it records the
    requests and replays idempotency keys, see ``test_stripe_provider``)."""
    proxy = StripeLikeProxy(stripe_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    p = StripeProvider(STRIPE_KEY, api_base=f"http://127.0.0.1:{port}", max_network_retries=0)
    try:
        yield p, proxy
    finally:
        await p.close()
        await proxy.close()
        await runner.cleanup()


async def test_what_is_sent_to_stripe(
    proxied: tuple[StripeProvider, StripeLikeProxy],
) -> None:
    """With the production settings (no redirects), through a proxy that records the
    requests and replays idempotency keys as Stripe does: the SetupIntent is off-session
    and redirect-free, the charge is an off-session PaymentIntent on the Customer, and a
    repeated save with the same key creates nothing new."""
    provider, proxy = proxied
    saved = await provider.save_method(
        payment_method="pm_card_visa", idempotency_key="wls_proxy", metadata={"drop_id": "d"}
    )
    again = await provider.save_method(
        payment_method="pm_card_visa", idempotency_key="wls_proxy", metadata={"drop_id": "d"}
    )
    assert again.token == saved.token
    assert proxy.forwarded.count(("POST", "/v1/customers")) == 1
    [setup, _] = _posts(proxy, "/v1/setup_intents")
    assert setup.form["usage"] == "off_session" and setup.form["customer"].startswith("cus_")
    assert setup.form["automatic_payment_methods[allow_redirects]"] == "never"
    assert setup.idempotency_key == "wls_proxy:seti"
    await provider.authorize(
        amount=2500, currency="EUR", payment_method=saved.token, idempotency_key="chk_proxy"
    )
    [charge] = _posts(proxy, "/v1/payment_intents")
    customer, pm = parse_saved(saved.token) or ("", "")
    assert charge.form["off_session"] == "true" and charge.form["confirm"] == "true"
    assert (charge.form["customer"], charge.form["payment_method"]) == (customer, pm)
    assert charge.idempotency_key == "chk_proxy"
