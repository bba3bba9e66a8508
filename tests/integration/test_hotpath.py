"""The ASGI hot path answers holds exactly as the FastAPI route does.

Every request is sent twice: through the app with the hot path off (the FastAPI route)
and through ``HotPathMiddleware`` wrapped around that same app, on one container. A spy
between the two records whether the request reached FastAPI, so each case also asserts
who answered: well-formed holds and their refusals must be answered by the hot path,
anything it does not fully understand must fall through to the route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from dropline.api import hotpath
from dropline.api import schemas as s
from dropline.api.app import DroplineAPI, create_app
from dropline.api.hotpath import HOLD_ROUTES, HotRoute, refusal
from dropline.bootstrap import Container
from dropline.domain import errors as e
from dropline.domain.live.holds import HoldItem, ItemKind
from dropline.services.platform.access import mint_buyer_token
from hotpath_support import Spy, route_and_hot_path
from support import Shop, seed_shop


@dataclass
class Pair:
    c: Container
    slow: httpx.AsyncClient
    fast: httpx.AsyncClient
    spy: Spy
    store: str
    shop: Shop
    draft: str

    def buyer(self, buyer: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.store}", "X-Buyer-Token": self.c.access.mint(buyer)}

    def url(self, drop_id: str | None = None) -> str:
        return f"/v1/drops/{drop_id or self.shop.drop_id}/holds"


@pytest.fixture
async def pair(container: Container) -> AsyncIterator[Pair]:
    async with route_and_hot_path(container, HOLD_ROUTES) as (slow, fast, spy):
        store, _ = await container.access.create_key("storefront", "storefront")
        shop = await seed_shop(container, units=5, skus=2, bundle=True, limit=3)
        draft = (await container.drops.create("Draft drop", "USD")).id
        yield Pair(container, slow, fast, spy, store, shop, draft)


async def both(p: Pair, **request: Any) -> tuple[httpx.Response, httpx.Response, bool]:
    """The route's answer, the hot path's answer, and whether the hot path answered
    (both with one ``X-Request-ID``, so their problems carry the same ``request_id``)."""
    request["headers"] = {**(request.get("headers") or {}), "X-Request-ID": "same-request"}
    slow = await p.slow.request(**request)
    p.spy.calls.clear()
    fast = await p.fast.request(**request)
    return slow, fast, not p.spy.calls


def same_problem(slow: httpx.Response, fast: httpx.Response, status: int, code: str) -> None:
    assert slow.status_code == fast.status_code == status, (slow.text, fast.text)
    assert fast.json()["request_id"] == slow.json()["request_id"] == "same-request"
    assert fast.headers.raw == slow.headers.raw  # every header, in the same order
    assert fast.content == slow.content
    assert fast.json()["code"] == code


async def test_placed_holds_have_the_route_s_shape(pair: Pair) -> None:
    p = pair
    for n, items in enumerate(
        (
            [{"sku_id": p.shop.skus[0]}],
            [{"bundle_id": p.shop.bundle_id, "quantity": 1}],
        )
    ):
        body = {"items": items, "attribution": {"channel": "live"}}
        slow, fast, hot = await both(
            p, method="POST", url=p.url(), json=body, headers=p.buyer(f"shape-{n}")
        )
        assert hot
        assert slow.status_code == fast.status_code == 201, (slow.text, fast.text)
        assert fast.headers["content-type"] == slow.headers["content-type"] == "application/json"
        s, f = slow.json(), fast.json()
        assert list(f) == list(s)  # same members in the same order
        volatile = {"id", "created_at", "expires_at"}
        assert {k: v for k, v in f.items() if k not in volatile} == {
            k: v for k, v in s.items() if k not in volatile
        }
        assert f["id"] != s["id"] and f["status"] == "active"
        assert f["attribution"] == {"channel": "live"}


async def test_refusals_are_byte_for_byte_the_route_s(pair: Pair) -> None:
    p = pair
    sku = p.shop.skus[0]
    one = {"items": [{"sku_id": sku}]}
    # limit 3 per buyer, 5 units: greedy takes 3 and is refused a 4th, a second buyer
    # takes the last 2 -> sold out
    for buyer, qty, code in (("greedy", 3, "limit_exceeded"), ("second", 2, "sold_out")):
        r = await p.fast.post(
            p.url(), json={"items": [{"sku_id": sku, "quantity": qty}]}, headers=p.buyer(buyer)
        )
        assert r.status_code == 201, r.text
        slow, fast, hot = await both(
            p, method="POST", url=p.url(), json=one, headers=p.buyer("greedy")
        )
        assert hot
        same_problem(slow, fast, 409, code)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"json": one, "headers": p.buyer("late")}, 409, "sold_out"),
        (
            {"json": {"items": [{"sku_id": "sku_nope"}]}, "headers": p.buyer("x")},
            404,
            "not_found",
        ),
        ({"json": one, "headers": {"X-Buyer-Token": p.c.access.mint("x")}}, 401, "unauthenticated"),
        (
            {"json": one, "headers": p.buyer("x") | {"Authorization": "Bearer nope"}},
            401,
            "unauthenticated",
        ),
        (
            {"json": one, "headers": p.buyer("x") | {"Authorization": f"Basic {p.store}"}},
            401,
            "unauthenticated",
        ),
        ({"json": one, "headers": {"Authorization": f"Bearer {p.store}"}}, 401, "unauthenticated"),
        (
            {
                "json": one,
                "headers": p.buyer("x") | {"X-Buyer-Token": mint_buyer_token("wrong", "x", 60)},
            },
            401,
            "unauthenticated",
        ),
    ]
    for kw, status, code in cases:
        slow, fast, hot = await both(p, method="POST", url=p.url(), **kw)
        assert hot, code
        same_problem(slow, fast, status, code)
    slow, fast, hot = await both(
        p, method="POST", url=p.url("drp_missing"), json=one, headers=p.buyer("x")
    )
    assert hot
    same_problem(slow, fast, 404, "not_found")
    slow, fast, hot = await both(
        p, method="POST", url=p.url(p.draft), json=one, headers=p.buyer("x")
    )
    assert hot
    same_problem(slow, fast, 409, "drop_not_live")
    # insufficient stock: one unit of the second SKU left after 4 are taken
    for buyer in ("a", "b"):
        r = await p.fast.post(
            p.url(),
            json={"items": [{"sku_id": p.shop.skus[1], "quantity": 2}]},
            headers=p.buyer(buyer),
        )
        assert r.status_code == 201, r.text
    two = {"items": [{"sku_id": p.shop.skus[1], "quantity": 2}]}
    slow, fast, hot = await both(p, method="POST", url=p.url(), json=two, headers=p.buyer("c"))
    assert hot
    same_problem(slow, fast, 409, "insufficient_stock")
    assert fast.json()["remaining"] == 1


async def test_idempotency_key_is_shared_by_both_paths(pair: Pair) -> None:
    p = pair
    headers = p.buyer("retry") | {"Idempotency-Key": "tap-1"}
    body = {"items": [{"sku_id": p.shop.skus[0]}]}
    first = await p.fast.post(p.url(), json=body, headers=headers)
    again = await p.slow.post(p.url(), json=body, headers=headers)
    assert first.status_code == 201 and again.status_code in (200, 201)
    assert again.json()["id"] == first.json()["id"]
    other = {"items": [{"sku_id": p.shop.skus[1]}]}
    slow, fast, hot = await both(p, method="POST", url=p.url(), json=other, headers=headers)
    assert hot
    same_problem(slow, fast, 409, "idempotency_mismatch")


@pytest.mark.parametrize(
    ("content", "extra", "status", "code"),
    [
        (b'{"items": [', {}, 400, "malformed_json"),
        (b'{"items": [{"sku_id": "\xff"}]}', {}, 400, "malformed_json"),  # not UTF-8
        (b"", {}, 422, "validation_error"),
        (b'{"items": []}', {}, 422, "validation_error"),
        (b'{"items": [{"sku_id": "a", "bundle_id": "b"}]}', {}, 422, "validation_error"),
        (b'{"items": [{"sku_id": "a", "quantity": 0}]}', {}, 422, "validation_error"),
        (b'{"items": [{"sku_id": "a"}], "extra": 1}', {}, 422, "validation_error"),
        (b'{"items": [{"sku_id": "a"}]}', {"Idempotency-Key": "k" * 201}, 422, "validation_error"),
        (b'{"items": [{"sku_id": "a"}]}', {"Content-Type": "text/plain"}, 422, "validation_error"),
        # a query string: its text is checked by FastAPI (a NUL is refused)
        (b'{"items": [{"sku_id": "a"}]}', {"query": "?note=%00"}, 422, "validation_error"),
        (b'{"items": [{"sku_id": "sku_nope"}]}', {"query": "?x=1"}, 404, "not_found"),
    ],
)
async def test_what_the_hot_path_does_not_understand_falls_through(
    pair: Pair, content: bytes, extra: dict[str, str], status: int, code: str
) -> None:
    p = pair
    extra = dict(extra)
    url = p.url() + extra.pop("query", "")
    headers = {"Content-Type": "application/json"} | p.buyer("odd") | extra
    slow, fast, hot = await both(p, method="POST", url=url, content=content, headers=headers)
    assert not hot
    same_problem(slow, fast, status, code)


async def test_a_body_without_content_type_is_json_on_both_paths(pair: Pair) -> None:
    """The hot path reads a body without a Content-Type as JSON; the route must too
    (FastAPI's default refused it with a 422 only when the hot path was off)."""
    p = pair
    body = orjson.dumps({"items": [{"sku_id": p.shop.skus[0]}]})
    slow = await p.slow.post(p.url(), content=body, headers=p.buyer("no-type-1"))
    p.spy.calls.clear()
    fast = await p.fast.post(p.url(), content=body, headers=p.buyer("no-type-2"))
    assert not p.spy.calls  # the hot path answered
    assert slow.status_code == fast.status_code == 201, (slow.text, fast.text)
    assert slow.json()["units"] == fast.json()["units"] == {p.shop.skus[0]: 1}


async def test_an_unexpected_error_is_a_500_problem_on_both_paths(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(pair.c.holds, "place", broken)
    body = {"items": [{"sku_id": pair.shop.skus[0]}]}
    slow, fast, hot = await both(
        pair, method="POST", url=pair.url(), json=body, headers=pair.buyer("x")
    )
    assert hot
    same_problem(slow, fast, 500, "internal_error")
    assert "fell over" not in fast.text


async def test_other_methods_and_paths_go_to_the_router(pair: Pair) -> None:
    p = pair
    for method, url in (("GET", p.url()), ("POST", f"/v1/drops/{p.shop.drop_id}/x/holds")):
        slow, fast, hot = await both(p, method=method, url=url, json={}, headers=p.buyer("x"))
        assert not hot
        assert slow.status_code == fast.status_code and slow.status_code in (404, 405)
        assert fast.content == slow.content


def test_route_templates_match_one_segment() -> None:
    async def nothing(_: Any) -> Any:
        raise AssertionError

    route = HotRoute("POST", "/v1/drops/{}/holds", nothing)
    assert route.match("/v1/drops/drp_1/holds") == "drp_1"
    assert route.match("/v1/drops//holds") is None
    assert route.match("/v1/drops/a/b/holds") is None
    assert route.match("/v1/drops/a/holds/") is None
    exact = HotRoute("POST", "/bench/ceiling", nothing)
    assert exact.match("/bench/ceiling") == ""
    assert exact.match("/bench/ceiling/x") is None


async def test_the_app_serves_holds_in_front_of_fastapi(container: Container) -> None:
    app = create_app(settings=container.settings, container=container)
    assert isinstance(app, DroplineAPI) and app.hot is not None
    spy = Spy(app.hot.app)
    app.hot.app = spy  # what the hot path hands to FastAPI
    async with app.router.lifespan_context(app):
        store, _ = await container.access.create_key("storefront", "storefront")
        shop = await seed_shop(container, units=5)
        headers = {
            "Authorization": f"Bearer {store}",
            "X-Buyer-Token": container.access.mint("ann"),
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            placed = await client.post(
                f"/v1/drops/{shop.drop_id}/holds",
                json={"items": [{"sku_id": shop.skus[0], "quantity": 1}]},
                headers=headers,
            )
            assert placed.status_code == 201 and spy.calls == []
            assert (await client.get("/healthz")).status_code == 200
            assert spy.calls == ["/healthz"]
    off = create_app(
        settings=container.settings.model_copy(update={"hot_path": False}), container=container
    )
    assert isinstance(off, DroplineAPI) and off.hot is None


def test_refusals_are_rendered_once_per_distinct_error() -> None:
    sold = e.SoldOut("SKU sku_1 is sold out", sku_id="sku_1")
    first = refusal(sold, "/v1/drops/d1/holds")
    again = refusal(e.SoldOut("SKU sku_1 is sold out", sku_id="sku_1"), "/v1/drops/d1/holds")
    assert again is first and first.status == 409
    assert orjson.loads(first.body)["code"] == "sold_out"
    other_path = refusal(sold, "/v1/drops/d2/holds")
    assert other_path is not first and orjson.loads(other_path.body)["instance"].endswith(
        "d2/holds"
    )
    other_sku = refusal(e.SoldOut("SKU sku_2 is sold out", sku_id="sku_2"), "/v1/drops/d1/holds")
    assert orjson.loads(other_sku.body)["sku_id"] == "sku_2"
    # an unhashable extra is rendered each time, to the same answer
    listy = e.InvalidInput("bad", fields=["a", "b"])
    one, two = refusal(listy, "/p"), refusal(listy, "/p")
    assert one is not two and one == two and orjson.loads(one.body)["fields"] == ["a", "b"]
    unauth = refusal(e.Unauthenticated("no key"), "/p")
    assert unauth.status == 401 and (b"www-authenticate", b"Bearer") in unauth.headers


def test_hold_bodies_are_parsed_once_per_distinct_body(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hotpath, "_HOLD_BODIES", {})
    parsed: list[bytes] = []
    real = hotpath.parse_hold

    def counting(body: bytes) -> s.HoldIn:
        parsed.append(body)
        return real(body)

    monkeypatch.setattr(hotpath, "parse_hold", counting)
    body = b'{"items":[{"sku_id":"sku_1","quantity":2}],"attribution":{"channel":"live"}}'
    items, attribution = hotpath.hold_input(body)
    again = hotpath.hold_input(body)
    assert again == (items, attribution) and parsed == [body]
    assert items == (HoldItem(ItemKind.SKU, "sku_1", 2),) and attribution == {"channel": "live"}
    with pytest.raises(TypeError):  # shared between requests, so nobody may change it
        attribution["channel"] = "ad"  # type: ignore[index]
    # a body that does not validate is never kept: FastAPI answers it, every time
    for _ in range(2):
        with pytest.raises(hotpath.Fallback):
            hotpath.hold_input(b'{"items": []}')
    # nor is a large one; and the cache is bounded
    big = b'{"items":[{"sku_id":"sku_1","quantity":1}],"attribution":{"utm_content":"%s"}}' % (
        b"x" * 110
    )
    big = big.replace(b"}}", b"}" + b" " * hotpath.HOLD_BODY_CACHED_MAX + b"}")
    hotpath.hold_input(big)
    assert big not in hotpath._HOLD_BODIES
    monkeypatch.setattr(hotpath, "HOLD_BODIES_MAX", 3)
    for n in range(5):
        hotpath.hold_input(b'{"items":[{"sku_id":"s%d"}]}' % n)
    assert len(hotpath._HOLD_BODIES) <= 3
