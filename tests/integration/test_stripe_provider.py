"""StripeProvider against localstripe, a Stripe-compatible fake run as a subprocess.

Never touches the internet, so it runs everywhere, CI included. Where localstripe differs
from Stripe the test says so:

- localstripe ignores ``Idempotency-Key``; the idempotency tests go through
  ``StripeLikeProxy``, which replays a key's first answer as Stripe documents it does;
- localstripe rejects ``automatic_payment_methods`` (which the provider sends by default
  so real Stripe confirms cards without a ``return_url``), so the provider runs with
  ``no_redirects=False`` here, and the proxy test checks the parameter is sent;
- localstripe's decline card for PaymentIntents is 4000000000000341 (it declines
  4000000000000002 only when attaching to a customer), its errors carry ``code`` but no
  ``decline_code``, and they do not include the PaymentIntent;
- 3-D Secure is completed with localstripe's ``POST /v1/payment_intents/{id}/_authenticate``
  (what Stripe.js does for a real buyer).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from aiohttp import web

from dropline.domain.errors import (
    IdempotencyMismatch,
    InvalidTransition,
    NotFound,
    PaymentProviderError,
)
from dropline.payments.stripe_provider import StripeProvider
from dropline.services.ports import PaymentStatus
from prod_support import authenticate as _authenticate
from prod_support import card as _card
from prod_support import free_port, localstripe
from prod_support import raw_intent as _raw_intent

# The SDK's httpx client (stripe 16.1) posts with ``data=<bytes>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use 'content=<...>' to upload raw bytes/text content:DeprecationWarning"
)

API_KEY = "sk_test_12345"
AUTH = (API_KEY, "")

VISA_3DS = "4000002500003155"
DECLINED_ON_CHARGE = "4000000000000341"


@pytest.fixture(scope="module")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with localstripe(tmp_path_factory.mktemp("localstripe")) as url:
        yield url


@pytest.fixture
async def provider(localstripe_url: str) -> AsyncIterator[StripeProvider]:
    p = StripeProvider(API_KEY, api_base=localstripe_url, max_network_retries=0, no_redirects=False)
    yield p
    await p.close()


def _key() -> str:
    return f"idem_{uuid.uuid4().hex}"


async def _authorized(provider: StripeProvider, amount: int = 2500) -> str:
    result = await provider.authorize(
        amount=amount, currency="EUR", payment_method="pm_card_visa", idempotency_key=_key()
    )
    assert result.status is PaymentStatus.AUTHORIZED
    return result.payment_id


# --------------------------------------------------------------------- happy paths


async def test_ping_answers(provider: StripeProvider) -> None:
    await provider.ping()
    assert provider.name == "stripe"


async def test_authorize_holds_the_card_without_capturing(
    provider: StripeProvider, localstripe_url: str
) -> None:
    result = await provider.authorize(
        amount=2500,
        currency="EUR",
        payment_method="pm_card_visa",
        idempotency_key=_key(),
        metadata={"order_id": "ord_1", "hold_id": "hld_1"},
    )
    assert result.status is PaymentStatus.AUTHORIZED
    assert result.payment_id.startswith("pi_")
    assert (result.amount, result.currency) == (2500, "EUR")
    assert result.decline_code is None

    raw = await _raw_intent(localstripe_url, result.payment_id)
    assert raw["capture_method"] == "manual"
    assert raw["currency"] == "eur"  # Stripe wants lower case
    assert raw["metadata"] == {"order_id": "ord_1", "hold_id": "hld_1"}
    assert raw["status"] == "requires_capture"


async def test_capture_takes_the_money(provider: StripeProvider) -> None:
    payment_id = await _authorized(provider, amount=4200)
    captured = await provider.capture(payment_id, idempotency_key=_key())
    assert captured.status is PaymentStatus.CAPTURED
    assert (captured.payment_id, captured.amount, captured.currency) == (payment_id, 4200, "EUR")
    assert (await provider.retrieve(payment_id)).status is PaymentStatus.CAPTURED


async def test_void_releases_the_authorization(provider: StripeProvider) -> None:
    payment_id = await _authorized(provider)
    voided = await provider.void(payment_id, idempotency_key=_key())
    assert voided.status is PaymentStatus.VOIDED
    assert (await provider.retrieve(payment_id)).status is PaymentStatus.VOIDED


async def test_full_refund(provider: StripeProvider) -> None:
    payment_id = await _authorized(provider, amount=3000)
    await provider.capture(payment_id, idempotency_key=_key())
    refunded = await provider.refund(payment_id, idempotency_key=_key())
    assert refunded.status is PaymentStatus.REFUNDED
    assert (refunded.amount, refunded.refunded_amount) == (3000, 3000)
    again = await provider.retrieve(payment_id)
    assert (again.status, again.refunded_amount) == (PaymentStatus.REFUNDED, 3000)


async def test_partial_refunds_add_up(provider: StripeProvider) -> None:
    payment_id = await _authorized(provider, amount=3000)
    await provider.capture(payment_id, idempotency_key=_key())
    first = await provider.refund(payment_id, idempotency_key=_key(), amount=1000)
    assert (first.status, first.refunded_amount) == (PaymentStatus.REFUNDED, 1000)
    second = await provider.refund(payment_id, idempotency_key=_key(), amount=500)
    assert second.refunded_amount == 1500
    assert second.amount == 3000
    assert (await provider.retrieve(payment_id)).refunded_amount == 1500


# --------------------------------------------------------------------- declines, 3DS


@pytest.mark.parametrize("card", ["pm_card_chargeCustomerFail", DECLINED_ON_CHARGE])
async def test_declining_card_is_a_result_not_an_exception(
    provider: StripeProvider, localstripe_url: str, card: str
) -> None:
    pm = card if card.startswith("pm_") else await _card(localstripe_url, card)
    result = await provider.authorize(
        amount=1500, currency="usd", payment_method=pm, idempotency_key=_key()
    )
    assert result.status is PaymentStatus.DECLINED
    assert result.decline_code == "card_declined"
    assert result.message
    assert (result.amount, result.currency) == (1500, "USD")


async def test_3ds_card_requires_action_then_confirm_authorizes(
    provider: StripeProvider, localstripe_url: str
) -> None:
    pm = await _card(localstripe_url, VISA_3DS)
    started = await provider.authorize(
        amount=9900, currency="EUR", payment_method=pm, idempotency_key=_key()
    )
    assert started.status is PaymentStatus.REQUIRES_ACTION
    assert started.next_action is not None
    assert started.next_action["type"] == "use_stripe_sdk"
    client_secret = started.next_action["client_secret"]

    # Buyer has not finished the challenge: confirm reports it, and changes nothing.
    waiting = await provider.confirm(started.payment_id, idempotency_key=_key())
    assert waiting.status is PaymentStatus.REQUIRES_ACTION

    await _authenticate(localstripe_url, started.payment_id, client_secret, success=True)
    confirmed = await provider.confirm(started.payment_id, idempotency_key=_key())
    assert confirmed.status is PaymentStatus.AUTHORIZED
    assert confirmed.amount == 9900
    captured = await provider.capture(started.payment_id, idempotency_key=_key())
    assert captured.status is PaymentStatus.CAPTURED


async def test_3ds_failed_authentication_is_declined(
    provider: StripeProvider, localstripe_url: str
) -> None:
    pm = await _card(localstripe_url, VISA_3DS)
    started = await provider.authorize(
        amount=9900, currency="EUR", payment_method=pm, idempotency_key=_key()
    )
    assert started.next_action is not None
    await _authenticate(
        localstripe_url, started.payment_id, started.next_action["client_secret"], success=False
    )
    result = await provider.confirm(started.payment_id, idempotency_key=_key())
    assert result.status is PaymentStatus.DECLINED
    assert result.decline_code == "payment_intent_authentication_failure"


async def test_confirm_confirms_an_intent_waiting_for_confirmation(
    provider: StripeProvider, localstripe_url: str
) -> None:
    async with httpx.AsyncClient(base_url=localstripe_url, auth=AUTH) as http:
        r = await http.post(
            "/v1/payment_intents",
            data={
                "amount": "1200",
                "currency": "eur",
                "payment_method": "pm_card_visa",
                "capture_method": "manual",
            },
        )
    r.raise_for_status()
    payment_id = r.json()["id"]
    assert (await provider.retrieve(payment_id)).status is PaymentStatus.REQUIRES_ACTION

    result = await provider.confirm(payment_id, idempotency_key=_key())
    assert result.status is PaymentStatus.AUTHORIZED
    assert (await _raw_intent(localstripe_url, payment_id))["status"] == "requires_capture"


# --------------------------------------------------------------------- failures


async def test_unknown_payment_is_not_found(provider: StripeProvider) -> None:
    with pytest.raises(NotFound):
        await provider.retrieve("pi_doesnotexist")


async def test_provider_down_raises_provider_error() -> None:
    down = StripeProvider(
        API_KEY, api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0
    )
    try:
        with pytest.raises(PaymentProviderError):
            await down.authorize(
                amount=100, currency="EUR", payment_method="pm_card_visa", idempotency_key=_key()
            )
        with pytest.raises(PaymentProviderError):
            await down.ping()
    finally:
        await down.close()


async def test_bad_api_key_raises_provider_error(localstripe_url: str) -> None:
    bad = StripeProvider("nope", api_base=localstripe_url, max_network_retries=0)
    try:
        with pytest.raises(PaymentProviderError) as info:
            await bad.ping()
        assert info.value.extra["http_status"] == 401
    finally:
        await bad.close()


# --------------------------------------------------------------------- idempotency


@dataclass
class Seen:
    method: str
    path: str
    idempotency_key: str | None
    form: dict[str, str]


class StripeLikeProxy:
    """Sits between the provider and localstripe and adds what localstripe lacks.

    Records every request. Replays the first answer for a repeated ``Idempotency-Key``
    on POST and refuses the key with other parameters (HTTP 400 ``idempotency_error``),
    as Stripe documents. Drops ``automatic_payment_methods[...]`` before forwarding,
    since localstripe rejects it. ``fail_with`` (HTTP status, JSON body) makes it answer
    every request with that error, as Stripe would in an outage or a refusal.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self.forwarded: list[tuple[str, str]] = []
        self.fail_with: tuple[int, dict[str, Any]] | None = None
        self._replay: dict[str, tuple[str, bytes, int, bytes]] = {}
        self._http = httpx.AsyncClient()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        key = request.headers.get("Idempotency-Key")
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.seen.append(Seen(request.method, request.path, key, form))
        if self.fail_with is not None:
            status, error_body = self.fail_with
            return web.json_response(error_body, status=status)
        if request.method == "POST" and key is not None and key in self._replay:
            path, first_body, status, content = self._replay[key]
            if (path, first_body) != (request.path, body):
                return web.json_response(
                    {"error": {"type": "idempotency_error", "message": "key reused"}}, status=400
                )
            return web.Response(body=content, status=status, content_type="application/json")
        kept = [(k, v) for k, v in form.items() if not k.startswith("automatic_payment_methods")]
        self.forwarded.append((request.method, request.path))
        response = await self._http.request(
            request.method,
            self.upstream + request.path_qs,
            content=urlencode(kept).encode() if body else b"",
            headers={
                "Authorization": request.headers.get("Authorization", ""),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        if request.method == "POST" and key is not None:
            self._replay[key] = (request.path, body, response.status_code, response.content)
        return web.Response(
            body=response.content, status=response.status_code, content_type="application/json"
        )

    async def close(self) -> None:
        await self._http.aclose()


@pytest.fixture
async def proxied(
    localstripe_url: str,
) -> AsyncIterator[tuple[StripeProvider, StripeLikeProxy]]:
    proxy = StripeLikeProxy(localstripe_url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # Default settings (no_redirects=True), as in production.
    p = StripeProvider(API_KEY, api_base=f"http://127.0.0.1:{port}", max_network_retries=0)
    try:
        yield p, proxy
    finally:
        await p.close()
        await proxy.close()
        await runner.cleanup()


def _posts(proxy: StripeLikeProxy, path: str) -> list[Seen]:
    return [s for s in proxy.seen if s.method == "POST" and s.path == path]


async def test_same_idempotency_key_creates_one_payment_intent(
    proxied: tuple[StripeProvider, StripeLikeProxy],
) -> None:
    provider, proxy = proxied
    key = _key()
    kwargs: dict[str, Any] = {
        "amount": 2500,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "idempotency_key": key,
    }
    first = await provider.authorize(**kwargs)
    second = await provider.authorize(**kwargs)
    assert first.status is PaymentStatus.AUTHORIZED
    assert second == first
    creates = _posts(proxy, "/v1/payment_intents")
    assert [s.idempotency_key for s in creates] == [key, key]
    assert proxy.forwarded.count(("POST", "/v1/payment_intents")) == 1


async def test_idempotency_key_reused_with_other_parameters_is_a_mismatch(
    proxied: tuple[StripeProvider, StripeLikeProxy],
) -> None:
    provider, _ = proxied
    key = _key()
    await provider.authorize(
        amount=2500, currency="EUR", payment_method="pm_card_visa", idempotency_key=key
    )
    with pytest.raises(IdempotencyMismatch):
        await provider.authorize(
            amount=9999, currency="EUR", payment_method="pm_card_visa", idempotency_key=key
        )


async def test_every_mutating_call_sends_the_callers_key(
    proxied: tuple[StripeProvider, StripeLikeProxy],
) -> None:
    provider, proxy = proxied
    payment_id = await _authorized(provider)
    capture_key, refund_key = _key(), _key()
    await provider.capture(payment_id, idempotency_key=capture_key)
    await provider.capture(payment_id, idempotency_key=capture_key)  # a retry: replayed
    await provider.refund(payment_id, idempotency_key=refund_key, amount=100)

    captures = _posts(proxy, f"/v1/payment_intents/{payment_id}/capture")
    assert [s.idempotency_key for s in captures] == [capture_key, capture_key]
    assert proxy.forwarded.count(("POST", f"/v1/payment_intents/{payment_id}/capture")) == 1
    refunds = _posts(proxy, "/v1/refunds")
    assert [s.idempotency_key for s in refunds] == [refund_key]
    assert refunds[0].form["payment_intent"] == payment_id
    assert refunds[0].form["amount"] == "100"


async def test_authorize_asks_stripe_for_a_card_payment_without_redirects(
    proxied: tuple[StripeProvider, StripeLikeProxy],
) -> None:
    provider, proxy = proxied
    await _authorized(provider)
    form = _posts(proxy, "/v1/payment_intents")[0].form
    assert form["automatic_payment_methods[enabled]"] == "true"
    assert form["automatic_payment_methods[allow_redirects]"] == "never"
    assert form["confirm"] == "true"
    assert form["capture_method"] == "manual"
    assert form["amount"] == "2500"
    assert form["currency"] == "eur"


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_stripe_errors_raise_provider_error(
    proxied: tuple[StripeProvider, StripeLikeProxy], status: int
) -> None:
    provider, proxy = proxied
    proxy.fail_with = (status, {"error": {"type": "api_error", "message": "outage"}})
    with pytest.raises(PaymentProviderError) as info:
        await provider.authorize(
            amount=100, currency="EUR", payment_method="pm_card_visa", idempotency_key=_key()
        )
    assert info.value.extra["http_status"] == status


async def test_operation_the_intent_state_forbids_is_an_invalid_transition(
    proxied: tuple[StripeProvider, StripeLikeProxy],
) -> None:
    # What Stripe answers to e.g. voiding a captured payment. localstripe answers a bare
    # 400 without a code, which the provider can only report as a PaymentProviderError.
    provider, proxy = proxied
    payment_id = await _authorized(provider)
    await provider.capture(payment_id, idempotency_key=_key())
    proxy.fail_with = (
        400,
        {
            "error": {
                "type": "invalid_request_error",
                "code": "payment_intent_unexpected_state",
                "message": "You cannot cancel this PaymentIntent because it has a status of "
                "succeeded.",
            }
        },
    )
    with pytest.raises(InvalidTransition):
        await provider.void(payment_id, idempotency_key=_key())
