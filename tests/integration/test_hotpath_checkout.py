"""The ASGI hot path answers ``POST /v1/checkouts`` exactly as the FastAPI route does.

As in ``test_hotpath.py``: every request is sent through the app with the hot path off
(the FastAPI route) and through ``HotPathMiddleware`` wrapped around that same app, on
one container, and a spy records whether the request reached FastAPI. Refusals, replays
and fall-throughs must be the same bytes with the same headers in the same order; a
paid order differs only in its fresh ids and times. Each case also asserts who
answered: the checkouts the hot path understands are its own, anything else falls
through to the route.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from dropline.api.app import DroplineAPI, create_app
from dropline.api.hotpath import HOLD_ROUTES
from dropline.api.idempotency import Call, _owner
from dropline.api.routers.live import checkouts
from dropline.bootstrap import Container
from dropline.services.platform.access import mint_buyer_token
from dropline.services.ports import ManualClock
from hotpath_support import Spy, route_and_hot_path
from support import Shop, seed_shop, sku_item

VISA = "4242424242424242"
URL = "/v1/checkouts"
#: fresh per order: ids, the order number, the payment and the time it was paid
VOLATILE = {"id", "hold_id", "checkout_id", "order_id", "payment_id", "number", "paid_at"}
MAX_BODY = 4096  # the app's body limit in these tests (Settings.max_body_bytes)


@dataclass
class Pair:
    c: Container
    slow: httpx.AsyncClient
    fast: httpx.AsyncClient
    spy: Spy
    store: str
    ops: str
    shop: Shop

    def buyer(self, buyer: str, key: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.store}",
            "X-Buyer-Token": self.c.access.mint(buyer),
            "Content-Type": "application/json",
        }
        return headers | ({"Idempotency-Key": key} if key else {})

    async def hold(self, buyer: str, sku: int = 0) -> str:
        placed = await self.c.holds.place(self.shop.drop_id, buyer, [sku_item(self.shop.skus[sku])])
        return placed.id


@pytest.fixture
async def pair(container: Container) -> AsyncIterator[Pair]:
    routes = [*HOLD_ROUTES, *checkouts.HOT_ROUTES]
    async with route_and_hot_path(container, routes, max_body_bytes=MAX_BODY) as (
        slow,
        fast,
        spy,
    ):
        store, _ = await container.access.create_key("storefront", "storefront")
        ops, _ = await container.access.create_key("ops", "ops")
        shop = await seed_shop(container, units=20, skus=2)
        yield Pair(container, slow, fast, spy, store, ops, shop)


def body(hold_id: str, card: str = VISA, **more: Any) -> bytes:
    return json.dumps({"hold_id": hold_id, "payment_method": card, **more}).encode()


async def both(
    p: Pair, slow_body: bytes, fast_body: bytes | None = None, **request: Any
) -> tuple[httpx.Response, httpx.Response, bool]:
    """The route's answer to ``slow_body``, the hot path's to ``fast_body`` (the same
    body unless given), and whether the hot path answered; both with one request id."""
    request = {"method": "POST", "url": URL} | request
    request["headers"] = {**(request.get("headers") or {}), "X-Request-ID": "same-request"}
    slow = await p.slow.request(content=slow_body, **request)
    p.spy.calls.clear()
    fast = await p.fast.request(content=slow_body if fast_body is None else fast_body, **request)
    return slow, fast, not p.spy.calls


def same(slow: httpx.Response, fast: httpx.Response, status: int, code: str = "") -> None:
    """Byte for byte: status, every header in order, body."""
    assert slow.status_code == fast.status_code == status, (slow.text, fast.text)
    assert fast.headers.raw == slow.headers.raw
    assert fast.content == slow.content
    if code:
        assert fast.json()["code"] == code and fast.json()["request_id"] == "same-request"


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<fresh>" if k in VOLATILE else masked(v) for k, v in value.items()}
    return value


def alike(slow: httpx.Response, fast: httpx.Response, status: int) -> None:
    """Two answers for two different holds: the same status, headers (the length aside)
    and members in the same order, equal but for the fresh ids and times."""
    assert slow.status_code == fast.status_code == status, (slow.text, fast.text)
    names = [(n, v) for n, v in slow.headers.raw if n != b"content-length"]
    assert [(n, v) for n, v in fast.headers.raw if n != b"content-length"] == names
    assert fast.headers["content-length"] == str(len(fast.content))
    s, f = slow.json(), fast.json()
    assert json.dumps(masked(f)) == json.dumps(masked(s))  # same members, same order


async def test_a_paid_checkout_has_the_route_s_answer(pair: Pair) -> None:
    p = pair
    slow, fast, hot = await both(
        p, body(await p.hold("ann")), body(await p.hold("ann")), headers=p.buyer("ann")
    )
    assert hot
    alike(slow, fast, 201)
    assert fast.json()["status"] == "succeeded" and fast.json()["order"]["lines"]
    assert fast.json()["order_id"] != slow.json()["order_id"]
    # with shipping, and the key of an operator (whose changes are audited)
    ship = {"name": "Ann", "line1": "1 Main St", "city": "Lyon", "country": "FR"}
    ops = p.buyer("ann") | {"Authorization": f"Bearer {p.ops}"}
    holds = [await p.hold("ann"), await p.hold("ann")]
    slow, fast, hot = await both(
        p, body(holds[0], shipping=ship), body(holds[1], shipping=ship), headers=ops
    )
    assert hot
    alike(slow, fast, 201)
    for answer in (slow, fast):
        entries, _ = await p.c.audit.list(resource_id=answer.json()["order_id"])
        assert [e.actor_id for e in entries] and {e.actor_name for e in entries} == {"ops"}


async def test_a_paid_checkout_is_the_json_starlette_would_send(pair: Pair) -> None:
    """Without a key the answer is pydantic's own JSON of the model: the same bytes as
    Starlette's ``JSONResponse`` of the dumped model (compact, UTF-8 unescaped)."""
    p = pair
    buyer = 'zoë "\u2028" \\ \U0001f600'
    answer = await p.fast.post(URL, content=body(await p.hold(buyer)), headers=p.buyer(buyer))
    assert answer.status_code == 201 and answer.headers["content-type"] == "application/json"
    assert answer.json()["order"]["buyer_id"] == buyer
    assert answer.content == JSONResponse(answer.json()).body
    assert answer.headers["content-length"] == str(len(answer.content))


async def test_three_d_secure_is_202_on_both_paths(pair: Pair) -> None:
    p = pair
    card = "4000000000003220"
    slow, fast, hot = await both(
        p, body(await p.hold("ann"), card), body(await p.hold("ann"), card), headers=p.buyer("ann")
    )
    assert hot
    alike(slow, fast, 202)
    assert fast.json()["next_action"] and fast.json()["order"] is None


async def test_replays_are_byte_for_byte_the_route_s(pair: Pair) -> None:
    p = pair
    for first, key in ((p.fast, "tap-fast"), (p.slow, "tap-slow")):
        sent = body(await p.hold("ann"))
        original = await first.post(URL, content=sent, headers=p.buyer("ann", key))
        assert original.status_code == 201, original.text
        slow, fast, hot = await both(p, sent, headers=p.buyer("ann", key))
        assert hot
        same(slow, fast, 201)
        assert fast.headers["idempotent-replayed"] == "true"
        assert fast.json()["order_id"] == original.json()["order_id"]
    # a 3-D Secure answer replays its 202
    sent = body(await p.hold("ann"), "4000000000003220")
    original = await p.fast.post(URL, content=sent, headers=p.buyer("ann", "tap-3ds"))
    assert original.status_code == 202, original.text
    slow, fast, hot = await both(p, sent, headers=p.buyer("ann", "tap-3ds"))
    assert hot
    same(slow, fast, 202)


async def test_idempotency_conflicts_are_the_route_s(pair: Pair) -> None:
    p = pair
    sent = body(await p.hold("ann"))
    assert (await p.fast.post(URL, content=sent, headers=p.buyer("ann", "k1"))).is_success
    other = body(await p.hold("ann"))
    slow, fast, hot = await both(p, other, headers=p.buyer("ann", "k1"))
    assert hot
    same(slow, fast, 409, "idempotency_mismatch")
    # a retry while the first request with the key still runs: its claim is in the store
    running = body(await p.hold("ann"))
    principal = await p.c.access.authenticate(p.store)
    async with p.c.uow() as uow:
        claimed, _ = await uow.access.claim_key(
            _owner(principal.key_id, "ann"), "k2", "POST", URL, Call("POST", URL, running).digest()
        )
        await uow.commit()
    assert claimed
    slow, fast, hot = await both(p, running, headers=p.buyer("ann", "k2"))
    assert hot
    same(slow, fast, 409, "idempotency_in_progress")


async def test_refusals_are_byte_for_byte_the_route_s(pair: Pair, clock: ManualClock) -> None:
    p = pair
    ann = p.buyer("ann")
    paid = await p.hold("ann")
    assert (await p.fast.post(URL, content=body(paid), headers=ann)).status_code == 201
    released = await p.hold("ann")
    await p.c.holds.release(released, "ann")
    cases: list[tuple[bytes, dict[str, str], int, str]] = [
        (body(await p.hold("bob")), ann, 403, "hold_not_owned"),
        (body("hld_nope"), ann, 404, "not_found"),
        (body(paid), ann, 409, "conflict"),  # paid for already
        (body(released), ann, 409, "hold_not_active"),
        # refused by the route itself and by the service, after the auth checks
        (body(await p.hold("ann"), "saved:pm_123"), ann, 422, "validation_error"),
        (body(await p.hold("ann"), "  saved:pm_123"), ann, 422, "validation_error"),
        (body(await p.hold("ann"), "   "), ann, 422, "validation_error"),  # blank, stripped
        (body(paid), {"X-Buyer-Token": p.c.access.mint("ann")}, 401, "unauthenticated"),
        (body(paid), ann | {"Authorization": "Bearer nope"}, 401, "unauthenticated"),
        (body(paid), ann | {"Authorization": f"Basic {p.store}"}, 401, "unauthenticated"),
        (body(paid), {"Authorization": f"Bearer {p.store}"}, 401, "unauthenticated"),
        (
            body(paid),
            ann | {"X-Buyer-Token": mint_buyer_token("wrong", "ann", 60)},
            401,
            "unauthenticated",
        ),
    ]
    for sent, headers, status, code in cases:
        slow, fast, hot = await both(p, sent, headers=headers)
        assert hot, (code, fast.text)
        same(slow, fast, status, code)
    assert slow.headers["www-authenticate"] == "Bearer"
    # a checkout recorded, then refused by the card (the problem names the checkout: a
    # fresh id) or failed at the provider
    declined = "4000000000000002"
    slow, fast, hot = await both(
        p, body(await p.hold("ann"), declined), body(await p.hold("ann"), declined), headers=ann
    )
    assert hot
    alike(slow, fast, 402)
    assert fast.json()["code"] == "payment_declined"
    assert fast.json()["checkout_id"] != slow.json()["checkout_id"]
    failing = "4000000000000119"
    slow, fast, hot = await both(
        p, body(await p.hold("ann"), failing), body(await p.hold("ann"), failing), headers=ann
    )
    assert hot
    same(slow, fast, 502, "payment_provider_error")
    saved = await p.fast.post(URL, content=body(paid, "saved:pm_1"), headers=ann)
    assert "saved payment method" in saved.json()["detail"]
    # a hold past its expiry: 410 for both
    expiring = [await p.hold("ann"), await p.hold("ann")]
    clock.advance(91)  # the drop's hold TTL is 90 s
    slow, fast, hot = await both(p, body(expiring[0]), body(expiring[1]), headers=ann)
    assert hot
    assert slow.status_code == fast.status_code == 410
    assert fast.json()["code"] == slow.json()["code"] == "hold_expired"
    assert fast.json()["detail"].replace(expiring[1], "") == slow.json()["detail"].replace(
        expiring[0], ""
    )


async def test_a_rate_limited_checkout_is_429_with_retry_after_on_both(pair: Pair) -> None:
    p = pair
    limits = await p.slow.put(
        f"/v1/drops/{p.shop.drop_id}/access/limits",
        json={"checkouts_per_buyer": 1},
        headers={"Authorization": f"Bearer {p.ops}"},
    )
    assert limits.status_code == 200, limits.text
    assert (
        await p.fast.post(URL, content=body(await p.hold("cy")), headers=p.buyer("cy"))
    ).is_success
    slow, fast, hot = await both(p, body(await p.hold("cy")), headers=p.buyer("cy"))
    assert hot
    same(slow, fast, 429, "rate_limited")
    assert fast.headers["retry-after"] == str(fast.json()["retry_after_s"])


HUGE = b"1" + b"0" * 400


@pytest.mark.parametrize(
    ("content", "extra", "query", "status", "code"),
    [
        (b'{"hold_id": "h", ', {}, "", 400, "malformed_json"),
        (b'{"hold_id": "\xff", "payment_method": "4242"}', {}, "", 400, "malformed_json"),
        (b"", {}, "", 422, "validation_error"),
        (b"null", {}, "", 422, "validation_error"),
        (b'{"hold_id": "h"}', {}, "", 422, "validation_error"),
        (b'{"hold_id": "h", "payment_method": ""}', {}, "", 422, "validation_error"),
        (b'{"hold_id": "h", "payment_method": "4242", "x": 1}', {}, "", 422, "validation_error"),
        (b'{"hold_id": "h\\u0000", "payment_method": "4242"}', {}, "", 422, "validation_error"),
        (b'{"hold_id": "h\\ud800", "payment_method": "4242"}', {}, "", 422, "validation_error"),
        (
            b'{"hold_id": "h", "payment_method": "4242", "shipping": {"name": "\\u0000"}}',
            {},
            "",
            422,
            "validation_error",
        ),
        (b'{"hold_id": ' + HUGE + b', "payment_method": "4242"}', {}, "", 422, "validation_error"),
        (b'{"hold_id": "h", "payment_method": ' + HUGE + b"}", {}, "", 422, "validation_error"),
        (b'{"hold_id": "h", "payment_method": 1e999}', {}, "", 422, "validation_error"),
        (
            b'{"hold_id": "h", "payment_method": "4242", "shipping": {"service_level": "x"}}',
            {},
            "",
            422,
            "validation_error",
        ),
        (
            b'{"hold_id": "h", "payment_method": "4242"}',
            {"Idempotency-Key": "k" * 201},
            "",
            422,
            "validation_error",
        ),
        (
            b'{"hold_id": "h", "payment_method": "4242"}',
            {"Content-Type": "text/plain"},
            "",
            422,
            "validation_error",
        ),
        (b'{"hold_id": "h", "payment_method": "4242"}', {}, "?x=%00", 422, "validation_error"),
        (b'{"hold_id": "h", "payment_method": "4242"}', {}, "?x=1", 404, "not_found"),
        (
            b'{"hold_id": "h", "payment_method": "4242"' + b" " * MAX_BODY + b"}",
            {},
            "",
            413,
            "payload_too_large",
        ),
    ],
)
async def test_what_the_hot_path_does_not_understand_falls_through(
    pair: Pair, content: bytes, extra: dict[str, str], query: str, status: int, code: str
) -> None:
    p = pair
    headers = p.buyer("odd") | extra
    slow, fast, hot = await both(p, content, url=URL + query, headers=headers)
    assert not hot
    same(slow, fast, status, code)


async def test_a_body_the_route_refuses_before_the_key_check_is_refused_alike(
    pair: Pair,
) -> None:
    """FastAPI checks the API key before it reports an invalid body (422), and after it
    reports a malformed one (400): falling through keeps both orders."""
    p = pair
    no_key = {"Content-Type": "application/json"}
    for content, status, code in (
        (b'{"hold_id": "h"}', 401, "unauthenticated"),
        (b'{"hold_id": ', 400, "malformed_json"),
    ):
        slow, fast, hot = await both(p, content, headers=no_key)
        assert not hot
        same(slow, fast, status, code)


async def test_an_unexpected_error_is_a_500_problem_on_both_paths(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the ledger fell over")

    monkeypatch.setattr(pair.c.checkout, "start", broken)
    slow, fast, hot = await both(pair, body(await pair.hold("ann")), headers=pair.buyer("ann"))
    assert hot
    same(slow, fast, 500, "internal_error")
    assert "fell over" not in fast.text


async def test_the_app_serves_checkouts_in_front_of_fastapi(container: Container) -> None:
    app = create_app(settings=container.settings, container=container)
    assert isinstance(app, DroplineAPI) and app.hot is not None
    spy = Spy(app.hot.app)
    app.hot.app = spy  # what the hot path hands to FastAPI
    async with app.router.lifespan_context(app):
        store, _ = await container.access.create_key("storefront", "storefront")
        shop = await seed_shop(container, units=5)
        hold = await container.holds.place(shop.drop_id, "ann", [sku_item(shop.skus[0])])
        headers = {
            "Authorization": f"Bearer {store}",
            "X-Buyer-Token": container.access.mint("ann"),
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            paid = await client.post(URL, content=body(hold.id), headers=headers)
            assert paid.status_code == 201 and spy.calls == [], paid.text
            assert paid.json()["order"]["status"] == "paid"
            got = await client.get(f"{URL}/{paid.json()['id']}", headers=headers)
            assert got.status_code == 200 and spy.calls == [f"{URL}/{paid.json()['id']}"]


async def test_a_checkout_asks_the_engine_for_its_hold_once(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The access check reads the hold (its drop's limits) and hands that snapshot to the
    checkout: one engine read per checkout on both paths, a Redis round trip saved."""
    p = pair
    asked: list[str] = []
    real = p.c.engine.get_hold

    async def counted(hold_id: str) -> Any:
        asked.append(hold_id)
        return await real(hold_id)

    monkeypatch.setattr(p.c.engine, "get_hold", counted)
    holds = [await p.hold("ann"), await p.hold("ann")]
    slow, fast, hot = await both(p, body(holds[0]), body(holds[1]), headers=p.buyer("ann"))
    assert hot
    alike(slow, fast, 201)
    assert sorted(asked) == sorted(holds)
