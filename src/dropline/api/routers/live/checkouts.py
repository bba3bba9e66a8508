"""Checkouts (storefront + buyer token): pay for a hold, get an order.

``POST /v1/checkouts`` is answered by the ASGI hot path (``api/hotpath.py``; registered
as ``HOT_ROUTES``) and, when the hot path is off or hands the request back, by its
FastAPI route: both parse the same ``CheckoutIn`` and run the same ``pay``, so they
answer alike (``tests/integration/test_hotpath_checkout.py``), and the route keeps the
contract and its OpenAPI description.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from dropline.api import idempotency, views
from dropline.api import schemas as s
from dropline.api.deps import (
    Buyer,
    BuyerWho,
    ClientAddress,
    ContainerDep,
    IdempotencyKey,
    Storefront,
)
from dropline.api.hotpath import (
    IDEMPOTENCY_KEY_MAX,
    Fallback,
    HotRequest,
    HotResponse,
    HotRoute,
    from_response,
    storefront_caller,
)
from dropline.api.openapi import errors
from dropline.bootstrap import Container
from dropline.domain.errors import InvalidInput
from dropline.domain.fulfilment.rules import ShipTo
from dropline.domain.live.orders import CheckoutStatus
from dropline.services.live.order_writes import CheckoutResult
from dropline.services.platform.access import Principal
from dropline.services.platform.buyer_tokens import BuyerIdentity
from dropline.services.ports import SAVED_METHOD_PREFIX
from dropline.store.live.order_records import CheckoutRecord
from dropline.store.uow import UnitOfWork

router = APIRouter(prefix="/v1/checkouts", tags=["checkouts"], responses=errors(402, 410, 502, 503))
#: what ``create_checkout`` answers beyond the router's errors
_RATE_LIMITED = errors(429)


@router.post(
    "",
    status_code=201,
    response_model=s.CheckoutOut,
    responses=_RATE_LIMITED
    | {
        202: {
            "description": "the card needs the buyer's action (3-D Secure)",
            "model": s.CheckoutOut,
        },
        409: {
            "description": "`sold_out` (the hold expired and its units were sold), "
            "`limit_exceeded` (the hold expired and the buyer reached a per-buyer limit "
            "meanwhile), conflict, "
            "`idempotency_in_progress` (the same Idempotency-Key is still running)"
        },
    },
)
async def create_checkout(
    body: s.CheckoutIn,
    c: ContainerDep,
    who: Storefront,
    buyer_who: BuyerWho,
    client: ClientAddress,
    request: Request,
    key: IdempotencyKey = None,
) -> Response:
    """Pay for a hold. 201 with the order when paid; 202 with ``next_action`` when the
    card needs 3-D Secure (then call ``/confirm``); 402 ``payment_declined``; 409
    ``sold_out`` when the hold expired and the units went to someone else, or
    ``limit_exceeded`` when it expired and the buyer meanwhile bought or holds up to a
    per-buyer limit (either way the payment is voided, nothing is charged).

    With an ``Idempotency-Key``, a retry while the first request runs gets 409
    ``idempotency_in_progress``, and afterwards the first response; a retry after the
    first request failed mid-payment (502) gets what became of its checkout: 201 with
    the order once recovery or the provider's webhook finished it.

    The drop's checkout rate limits and buyer-token max age apply (429 ``rate_limited``
    with ``Retry-After``, 401 ``token_too_old``); a replayed Idempotency-Key is not
    counted. A saved method's token (``saved:...``) is refused (422): only the waitlist's
    auto-charge pays with one, for the buyer who saved it."""
    call = await idempotency.call_of(request)
    return await pay(c, body, who, buyer_who, client, key, call)


async def pay(
    c: Container,
    body: s.CheckoutIn,
    who: Principal,
    buyer_who: BuyerIdentity,
    client: str,
    key: str | None,
    call: idempotency.Call,
) -> Response:
    """``create_checkout`` once its caller is known and its body parsed: what the route
    and the hot path (``hot_checkout``) both run."""
    if body.payment_method.strip().startswith(SAVED_METHOD_PREFIX):
        raise InvalidInput(
            "payment_method: a saved payment method is charged by the waitlist only",
            field="payment_method",
        )
    result = None
    buyer = buyer_who.buyer_id

    async def do(pending: idempotency.Pending | None) -> s.CheckoutOut:
        nonlocal result
        hold = await c.access_windows.check_checkout(
            body.hold_id, buyer, client, buyer_who.issued_at
        )
        ship_to = ShipTo(**body.shipping.model_dump()) if body.shipping else None

        async def on_started(uow: UnitOfWork, checkout: CheckoutRecord) -> None:
            assert pending is not None
            await pending.attach(uow, checkout.id)

        async def on_paid(uow: UnitOfWork, paid: CheckoutResult) -> None:
            assert pending is not None
            await pending.store(uow, views.checkout(paid.checkout, paid))

        result = await c.checkout.start(
            body.hold_id,
            buyer,
            body.payment_method,
            ship_to,
            on_paid=on_paid if pending is not None else None,
            on_started=on_started if pending is not None else None,
            hold=hold,
        )
        if pending is not None and result.next_action:
            pending.status = 202  # stored with the response, so a replay says 202 too
        return views.checkout(result.checkout, result)

    async def resume(checkout_id: str) -> idempotency.Resumed:
        answer = await c.checkout.answer(checkout_id, buyer)
        if answer is None:
            return idempotency.RUNNING
        if answer.order is not None:
            return 201, views.checkout(answer.checkout, answer)
        if answer.checkout.status is CheckoutStatus.REQUIRES_ACTION:
            return 202, views.checkout(answer.checkout, answer)
        return idempotency.RERUN

    # The response is stored in the order's own transaction when this request writes
    # the order (see idempotency.run_folded).
    response = await idempotency.run_folded(c, call, who, key, do, scope=buyer, resume=resume)
    if result is not None and result.next_action:
        response.status_code = 202
    return response


async def hot_checkout(req: HotRequest) -> HotResponse:
    """``POST /v1/checkouts`` from the hot path. A body that does not validate and an
    over-long ``Idempotency-Key`` go to the route, which answers them as it always did
    (a malformed body before the auth checks, a 422 after them); then, as the route's
    dependencies do: the API key, the buyer token, and ``pay``."""
    try:
        body = s.CheckoutIn.model_validate_json(req.body)
    except ValidationError:
        raise Fallback from None
    key = req.headers.get("idempotency-key")
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise Fallback
    who, buyer_who = await storefront_caller(req)
    call = idempotency.Call("POST", req.path, req.body)
    return from_response(await pay(req.container, body, who, buyer_who, req.client, key, call))


HOT_ROUTES = (HotRoute("POST", "/v1/checkouts", hot_checkout),)


@router.post("/{checkout_id}/confirm", response_model=s.CheckoutOut)
async def confirm(checkout_id: str, c: ContainerDep, _: Storefront, buyer: Buyer) -> s.CheckoutOut:
    """Finish a checkout after the buyer completed 3-D Secure. Safe to repeat, and to
    race with the provider's webhook: a checkout already paid answers 200 with its
    order. 409 ``sold_out`` or ``limit_exceeded`` when the hold expired during the
    card step and its units could not be taken again (the payment is voided)."""
    result = await c.checkout.confirm(checkout_id, buyer)
    return views.checkout(result.checkout, result)


@router.get("/{checkout_id}", response_model=s.CheckoutOut)
async def get_checkout(
    checkout_id: str, c: ContainerDep, _: Storefront, buyer: Buyer
) -> s.CheckoutOut:
    return views.checkout(await c.checkout.get(checkout_id, buyer))
