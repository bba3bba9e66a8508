"""Stripe as dropline's card processor, through the official SDK's async client.

It holds one idea: dropline's payment provider protocol (with saving a card for
off-session charges, ``SavesPaymentMethods``) spoken in Stripe's PaymentIntents and
SetupIntents.

One PaymentIntent is one dropline payment: it is created and confirmed at once with
``capture_method="manual"`` so the card is only authorised while the order is committed,
then captured (or voided when the units turned out to be gone). Every mutating call
passes the caller's idempotency key as Stripe's ``Idempotency-Key``: Stripe replays the
first answer for a repeated key, which is what makes crash recovery a plain retry.

Errors, so the services can act on them:

- a card decline (``CardError``, or an intent back in ``requires_payment_method``) is a
  ``DECLINED`` result with ``decline_code`` and ``message``, never an exception;
- an idempotency key reused with different parameters raises ``IdempotencyMismatch``;
- an unknown payment id raises ``NotFound``; an operation the intent's state does not
  allow (Stripe's ``payment_intent_unexpected_state``) raises ``InvalidTransition``;
- anything else (unreachable, timeout, 5xx, bad API key, rate limit, an answer we cannot
  read) raises ``PaymentProviderError``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import stripe
from stripe.params import (
    PaymentIntentCreateParams,
    RefundCreateParams,
    SetupIntentCreateParams,
)

from dropline.domain.errors import (
    IdempotencyMismatch,
    InvalidInput,
    InvalidTransition,
    NotFound,
    PaymentDeclined,
    PaymentProviderError,
)
from dropline.payments.stripe_webhooks import StripeEvent, parse_stripe_event
from dropline.services.ports import SAVED_METHOD_PREFIX, PaymentResult, PaymentStatus, SavedMethod

T = TypeVar("T")

_INTENT_STATUS: dict[str, PaymentStatus] = {
    "requires_capture": PaymentStatus.AUTHORIZED,
    "succeeded": PaymentStatus.CAPTURED,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "requires_confirmation": PaymentStatus.REQUIRES_ACTION,
    "canceled": PaymentStatus.VOIDED,
    # dropline always creates an intent with a payment method, so an intent that asks
    # for one again has had its attempt declined (or its 3-D Secure step failed).
    "requires_payment_method": PaymentStatus.DECLINED,
}


def _str_field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise PaymentProviderError(f"Stripe answered without a usable {key!r}", field=key)
    return value


def _int_field(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    # bool is an int subclass; a float amount would be a bug somewhere: refuse both.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PaymentProviderError(f"Stripe answered without a usable {key!r}", field=key)
    return value


def intent_to_result(intent: Mapping[str, Any]) -> PaymentResult:
    """Map a PaymentIntent (as a plain dict) to dropline's ``PaymentResult``.

    Pure, so it is unit-tested without Stripe and usable on a webhook's ``data.object``.
    Amount and currency are Stripe's (integer minor units; currency upper-cased to the
    ISO 4217 form dropline uses). A captured intent whose ``latest_charge`` (expanded)
    has refunds is ``REFUNDED`` with the cumulative ``refunded_amount``. For
    ``REQUIRES_ACTION`` the ``next_action`` is Stripe's, plus the intent's
    ``client_secret``, which the storefront hands to Stripe.js ``handleNextAction``.
    A status dropline has no word for (``processing``) raises ``PaymentProviderError``:
    the caller retries ``retrieve`` later rather than guess.
    """
    payment_id = _str_field(intent, "id")
    raw_status = intent.get("status")
    status = _INTENT_STATUS.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise PaymentProviderError(
            f"Stripe PaymentIntent {payment_id} has status {raw_status!r}, "
            "which dropline does not handle",
            payment_id=payment_id,
            stripe_status=raw_status,
        )
    amount = _int_field(intent, "amount")
    currency = _str_field(intent, "currency").upper()

    decline_code: str | None = None
    message: str | None = None
    next_action: dict[str, Any] | None = None
    refunded_amount = 0

    if status is PaymentStatus.REQUIRES_ACTION:
        raw_action = intent.get("next_action")
        next_action = dict(raw_action) if isinstance(raw_action, Mapping) else {}
        client_secret = intent.get("client_secret")
        if isinstance(client_secret, str):
            next_action["client_secret"] = client_secret
    elif status is PaymentStatus.DECLINED:
        error = intent.get("last_payment_error")
        if isinstance(error, Mapping):
            decline_code = error.get("decline_code") or error.get("code")
            message = error.get("message")
    elif status is PaymentStatus.CAPTURED:
        charge = intent.get("latest_charge")
        if isinstance(charge, Mapping) and charge.get("amount_refunded"):
            refunded_amount = _int_field(charge, "amount_refunded")
            status = PaymentStatus.REFUNDED

    return PaymentResult(
        payment_id=payment_id,
        status=status,
        amount=amount,
        currency=currency,
        decline_code=decline_code,
        message=message,
        next_action=next_action,
        refunded_amount=refunded_amount,
    )


def saved_token(customer: str, payment_method: str) -> str:
    """The token of a method saved on a Customer: ``saved:<cus_...>:<pm_...>``."""
    return f"{SAVED_METHOD_PREFIX}{customer}:{payment_method}"


def parse_saved(token: str) -> tuple[str, str] | None:
    """(customer, payment method) of a saved token; None for anything else."""
    if not token.startswith(SAVED_METHOD_PREFIX):
        return None
    customer, _, pm = token.removeprefix(SAVED_METHOD_PREFIX).partition(":")
    if not customer.startswith("cus_") or not pm.startswith("pm_"):
        return None
    return customer, pm


def card_error_to_result(
    error: stripe.CardError, *, payment_id: str, amount: int, currency: str
) -> PaymentResult:
    """A ``CardError`` as a ``DECLINED`` result.

    Stripe puts the declined PaymentIntent in the error body; its id, amount and currency
    win over the fallbacks the caller passes (what it asked for). ``decline_code`` is the
    issuer's reason (``insufficient_funds``, ...) when Stripe gives one, else the error
    ``code`` (``card_declined``, ``expired_card``, ...).
    """
    body = error.json_body if isinstance(error.json_body, Mapping) else {}
    details = body.get("error")
    details = details if isinstance(details, Mapping) else {}
    intent = details.get("payment_intent")
    if isinstance(intent, Mapping):
        payment_id = intent.get("id") or payment_id
        if isinstance(intent.get("amount"), int):
            amount = intent["amount"]
        if isinstance(intent.get("currency"), str):
            currency = intent["currency"]
    return PaymentResult(
        payment_id=payment_id,
        status=PaymentStatus.DECLINED,
        amount=amount,
        currency=currency.upper(),
        decline_code=details.get("decline_code") or details.get("code") or error.code,
        message=details.get("message") or error.user_message,
    )


class StripeProvider:
    """``PaymentProvider`` backed by Stripe PaymentIntents (official SDK, async calls).

    ``api_base`` points the client elsewhere than api.stripe.com (a fake such as
    localstripe in tests). ``webhook_secret`` is the endpoint's ``whsec_...`` secret used
    by ``parse_webhook``. ``max_network_retries`` is safe to keep above zero because
    every mutating request carries an idempotency key. ``no_redirects`` sends
    ``automatic_payment_methods={enabled, allow_redirects: "never"}`` so Stripe confirms
    a card without a ``return_url`` (it refuses otherwise); turn it off only for a fake
    that rejects the parameter (localstripe 1.15 does). Call ``close`` on shutdown.
    """

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        webhook_secret: str | None = None,
        max_network_retries: int = 2,
        timeout_s: float = 30.0,
        no_redirects: bool = True,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )
        self._webhook_secret = webhook_secret
        self._no_redirects = no_redirects

    # ------------------------------------------------------------------ plumbing

    async def _call(self, what: str, call: Awaitable[T]) -> T:
        """Await one SDK call and translate its errors; ``CardError`` passes through."""
        try:
            return await call
        except stripe.CardError:
            raise
        except stripe.IdempotencyError as e:
            raise IdempotencyMismatch(
                f"Stripe refused {what}: idempotency key reused with other parameters"
            ) from e
        except stripe.InvalidRequestError as e:
            if e.http_status == 404:
                raise NotFound(f"Stripe has no such object for {what}") from e
            if e.code == "payment_intent_unexpected_state":
                raise InvalidTransition(f"Stripe refused {what}: {e.user_message or e.code}") from e
            raise PaymentProviderError(
                f"Stripe rejected {what}: {e.user_message or e.code}",
                http_status=e.http_status,
                stripe_code=e.code,
            ) from e
        except stripe.StripeError as e:
            raise PaymentProviderError(
                f"Stripe failed on {what}: {type(e).__name__}",
                http_status=e.http_status,
            ) from e

    @staticmethod
    def _dict(obj: stripe.StripeObject) -> dict[str, Any]:
        return obj.to_dict()

    async def _retrieve_intent(self, payment_id: str) -> dict[str, Any]:
        intent = await self._call(
            "retrieve",
            self._client.v1.payment_intents.retrieve_async(
                payment_id, params={"expand": ["latest_charge"]}
            ),
        )
        return self._dict(intent)

    async def _declined(self, error: stripe.CardError, payment_id: str) -> PaymentResult:
        """A decline on an existing intent: Stripe's numbers, the error's reason."""
        current = intent_to_result(await self._retrieve_intent(payment_id))
        return card_error_to_result(
            error, payment_id=payment_id, amount=current.amount, currency=current.currency
        )

    # ------------------------------------------------------------------ protocol

    async def authorize(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentResult:
        """Create and confirm a manual-capture card PaymentIntent for ``amount`` minor units.

        ``AUTHORIZED`` when the card is held, ``REQUIRES_ACTION`` for 3-D Secure (finish
        on the client, then call ``confirm``), ``DECLINED`` on a decline. When Stripe's
        error does not carry the intent, a decline has an empty ``payment_id``.
        """
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": payment_method,
            "capture_method": "manual",
            "confirm": True,
            "metadata": dict(metadata or {}),
        }
        saved = parse_saved(payment_method)
        if saved is not None:
            # A saved method charged while the buyer is away: Stripe declines with
            # ``authentication_required`` when the bank asks for 3-D Secure.
            params["customer"], params["payment_method"] = saved
            params["off_session"] = True
        if self._no_redirects:
            # Cards only, never a redirect: Stripe then needs no return_url to confirm.
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        try:
            intent = await self._call(
                "authorize",
                self._client.v1.payment_intents.create_async(
                    params,
                    {"idempotency_key": idempotency_key},
                ),
            )
        except stripe.CardError as e:
            return card_error_to_result(e, payment_id="", amount=amount, currency=currency)
        result = intent_to_result(self._dict(intent))
        if saved is not None and result.status is PaymentStatus.REQUIRES_ACTION:
            # Nobody is there to authenticate (a fake that ignores ``off_session`` asks
            # anyway): a decline, as Stripe answers it, and the intent is cancelled.
            await self.void(result.payment_id, idempotency_key=f"{idempotency_key}:offsession")
            return PaymentResult(
                payment_id=result.payment_id,
                status=PaymentStatus.DECLINED,
                amount=result.amount,
                currency=result.currency,
                decline_code="authentication_required",
                message="The card asks for authentication, and the buyer is not there.",
            )
        return result

    async def save_method(
        self, *, payment_method: str, idempotency_key: str, metadata: Mapping[str, str]
    ) -> SavedMethod:
        """Set ``payment_method`` (a ``pm_...`` from Stripe.js, or a test method) up for
        off-session charges: a Customer, then a SetupIntent with ``usage=off_session``
        confirmed with the method. A card refused while being set up, or one that needs
        the buyer's authentication to be set up (the SetupIntent asks for an action we
        cannot take server-side), is a ``PaymentDeclined`` and the Customer is deleted."""
        if parse_saved(payment_method) is not None:
            raise InvalidInput("payment_method must be a card, not a saved method")
        customer = self._dict(
            await self._call(
                "save",
                self._client.v1.customers.create_async(
                    {"metadata": dict(metadata)}, {"idempotency_key": f"{idempotency_key}:cus"}
                ),
            )
        )
        customer_id = _str_field(customer, "id")
        try:
            params: SetupIntentCreateParams = {
                "customer": customer_id,
                "usage": "off_session",
                "metadata": dict(metadata),
            }
            if self._no_redirects:  # as for a PaymentIntent: no return_url needed
                params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
            setup = self._dict(
                await self._call(
                    "save",
                    self._client.v1.setup_intents.create_async(
                        params, {"idempotency_key": f"{idempotency_key}:seti"}
                    ),
                )
            )
            confirmed = self._dict(
                await self._call(
                    "save",
                    self._client.v1.setup_intents.confirm_async(
                        _str_field(setup, "id"),
                        {"payment_method": payment_method},
                        {"idempotency_key": f"{idempotency_key}:seti-confirm"},
                    ),
                )
            )
        except stripe.CardError as e:
            await self._delete_customer(customer_id)
            raise PaymentDeclined(
                e.user_message or "The card was declined.",
                decline_code=e.code or "card_declined",
                field="payment_method",
            ) from e
        except (NotFound, PaymentProviderError) as e:
            await self._delete_customer(customer_id)
            if isinstance(e, NotFound) or e.extra.get("http_status") == 400:
                raise InvalidInput(
                    "payment_method is not a card Stripe knows (a pm_... id)",
                    field="payment_method",
                ) from e
            raise
        if confirmed.get("status") != "succeeded":
            await self._delete_customer(customer_id)
            raise PaymentDeclined(
                "The card asks for authentication to be saved; claim the unit with the "
                "link instead when it comes back.",
                decline_code="authentication_required",
                field="payment_method",
            )
        pm_id = confirmed.get("payment_method")
        pm_id = pm_id.get("id") if isinstance(pm_id, Mapping) else pm_id
        if not isinstance(pm_id, str) or not pm_id.startswith("pm_"):
            await self._delete_customer(customer_id)
            raise PaymentProviderError("Stripe set the card up without a payment method id")
        card: Mapping[str, Any] = {}
        with_card = self._dict(
            await self._call("save", self._client.v1.payment_methods.retrieve_async(pm_id))
        )
        if isinstance(with_card.get("card"), Mapping):
            card = with_card["card"]
        return SavedMethod(
            saved_token(customer_id, pm_id),
            str(card.get("last4") or ""),
            str(card.get("brand") or ""),
        )

    async def forget_method(self, token: str) -> None:
        """Detach the saved method and delete its Customer (made for it alone). Safe to
        repeat: an already deleted Customer or detached method is not an error."""
        saved = parse_saved(token)
        if saved is None:
            return
        customer_id, pm_id = saved
        with contextlib.suppress(NotFound, InvalidTransition):
            await self._call("forget", self._client.v1.payment_methods.detach_async(pm_id))
        await self._delete_customer(customer_id)

    async def _delete_customer(self, customer_id: str) -> None:
        with contextlib.suppress(NotFound):
            await self._call("forget", self._client.v1.customers.delete_async(customer_id))

    async def confirm(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        """Settle an intent after its 3-D Secure step.

        With Stripe's default (automatic) confirmation the buyer's completed challenge
        already moves the intent to ``requires_capture``; only an intent waiting in
        ``requires_confirmation`` is confirmed here. Otherwise the current state is
        returned, so calling this again is harmless: still ``REQUIRES_ACTION`` while the
        buyer has not finished, ``DECLINED`` when authentication failed.
        """
        current = await self._retrieve_intent(payment_id)
        if current.get("status") != "requires_confirmation":
            return intent_to_result(current)
        try:
            intent = await self._call(
                "confirm",
                self._client.v1.payment_intents.confirm_async(
                    payment_id,
                    {"expand": ["latest_charge"]},
                    {"idempotency_key": idempotency_key},
                ),
            )
        except stripe.CardError as e:
            return await self._declined(e, payment_id)
        return intent_to_result(self._dict(intent))

    async def capture(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        """Capture the whole authorised amount: ``CAPTURED``."""
        try:
            intent = await self._call(
                "capture",
                self._client.v1.payment_intents.capture_async(
                    payment_id,
                    {"expand": ["latest_charge"]},
                    {"idempotency_key": idempotency_key},
                ),
            )
        except stripe.CardError as e:
            return await self._declined(e, payment_id)
        return intent_to_result(self._dict(intent))

    async def void(self, payment_id: str, *, idempotency_key: str) -> PaymentResult:
        """Cancel an uncaptured intent, releasing the hold on the card: ``VOIDED``."""
        intent = await self._call(
            "void",
            self._client.v1.payment_intents.cancel_async(
                payment_id, None, {"idempotency_key": idempotency_key}
            ),
        )
        return intent_to_result(self._dict(intent))

    async def refund(
        self, payment_id: str, *, idempotency_key: str, amount: int | None = None
    ) -> PaymentResult:
        """Refund ``amount`` (default: what is left) of a captured payment.

        ``REFUNDED`` with ``refunded_amount`` = everything refunded on the payment so far
        (the charge's ``amount_refunded``), so two partial refunds add up. A refund Stripe
        reports as ``failed`` or ``canceled`` moved no money: ``PaymentProviderError``.
        """
        params: RefundCreateParams = {"payment_intent": payment_id, "expand": ["charge"]}
        if amount is not None:
            params["amount"] = amount
        refund = self._dict(
            await self._call(
                "refund",
                self._client.v1.refunds.create_async(
                    params,
                    {"idempotency_key": idempotency_key},
                ),
            )
        )
        if refund.get("status") in ("failed", "canceled"):
            raise PaymentProviderError(
                f"Stripe refund {refund.get('id')} for {payment_id} is {refund.get('status')}",
                payment_id=payment_id,
            )
        charge = refund.get("charge")
        if not isinstance(charge, Mapping):
            raise PaymentProviderError("Stripe refund came back without its charge")
        return PaymentResult(
            payment_id=payment_id,
            status=PaymentStatus.REFUNDED,
            amount=_int_field(charge, "amount"),
            currency=_str_field(charge, "currency").upper(),
            refunded_amount=_int_field(charge, "amount_refunded"),
        )

    async def retrieve(self, payment_id: str) -> PaymentResult:
        """The payment as Stripe has it now (the truth after a crash or a webhook)."""
        return intent_to_result(await self._retrieve_intent(payment_id))

    async def ping(self) -> None:
        """One cheap authenticated call (list one PaymentIntent); raises when unusable."""
        await self._call("ping", self._client.v1.payment_intents.list_async({"limit": 1}))

    # ------------------------------------------------------------------ extras

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> StripeEvent:
        """Verify and parse one incoming Stripe webhook with this endpoint's secret.

        Without a configured secret nothing can be trusted, so this fails closed with a
        ``PaymentProviderError`` (a server-side fault: Stripe keeps retrying until fixed).
        """
        if not self._webhook_secret:
            raise PaymentProviderError("no Stripe webhook secret is configured")
        return parse_stripe_event(payload, signature_header, self._webhook_secret)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.close_async()  # type: ignore[no-untyped-call]
