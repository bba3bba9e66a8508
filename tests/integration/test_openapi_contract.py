"""The OpenAPI document tells the truth, checked against the app itself.

Most tests walk ``app.openapi()`` and ask the running app (over ASGI, on SQLite and on
PostgreSQL with Redis) whether what the document says holds: an operation that says it
needs a key answers 401 without one, one that needs more than ``storefront`` answers
403 to a storefront key, every documented path answers 405 with the document's methods
in ``Allow``. The others pin what the document must say: problem+json for every error,
the media types of streams, CSV and HTML, enums, ``oneOf`` hold items, and one integer
strictness in every request model. ``tests/e2e/test_schemathesis.py`` fuzzes the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, get_args

import httpx
import pytest
from pydantic import BaseModel, ValidationError
from pydantic_core import CoreSchema

from dropline.api import fields, openapi
from dropline.api import schemas as s
from dropline.api.app import create_app
from dropline.api.errors import PROBLEM
from dropline.api.routers.fulfilment.schemas import ServiceLevel
from dropline.bootstrap import Container
from dropline.config import Settings
from dropline.domain.fulfilment.rules import SERVICE_LEVELS
from dropline.domain.live.drops import DropStatus
from dropline.domain.platform.api_keys import SCOPES
from dropline.domain.supply.production import Milestone
from dropline.store.insight.repo import STREAM_MODES
from support import Shop, seed_shop

MUTATING = {"post", "put", "patch", "delete"}
ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def document() -> dict[str, Any]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    return app.openapi()


DOC = document()


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOC["paths"].items():
        for method, op in item.items():
            yield path, method, op


def concrete(path: str) -> str:
    """A documented path with its parameters filled in (a milestone must be one)."""
    return re.sub(r"\{(\w+)\}", lambda m: "packing" if m[1] == "kind" else "x", path)


@dataclass
class Api:
    c: Container
    client: httpx.AsyncClient
    ops: str
    store: str
    shop: Shop


@pytest.fixture
async def api(container: Container) -> AsyncIterator[Api]:
    app = create_app(container=container)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dropline.test") as cl:
            ops, _ = await container.access.create_key("ops", "ops")
            store, _ = await container.access.create_key("storefront", "storefront")
            shop = await seed_shop(container, units=5, skus=1)
            yield Api(container, cl, ops, store, shop)


def problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.request.method, resp.request.url, resp.text)
    assert resp.headers["content-type"].startswith(PROBLEM), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    return body


# --------------------------------------------------------------------------- security


def test_security_schemes_replace_the_header_parameters() -> None:
    schemes = DOC["components"]["securitySchemes"]
    assert schemes["ApiKey"]["type"] == "http" and schemes["ApiKey"]["scheme"] == "bearer"
    assert schemes["BuyerToken"] == schemes["BuyerToken"] | {
        "type": "apiKey",
        "in": "header",
        "name": "X-Buyer-Token",
    }
    for path, method, op in operations():
        names = {p["name"].lower() for p in op.get("parameters", []) if p["in"] == "header"}
        assert not names & {"authorization", "x-buyer-token"}, (method, path)


def test_a_key_and_a_buyer_token_are_required_together() -> None:
    hold = DOC["paths"]["/v1/drops/{drop_id}/holds"]["post"]
    assert hold["security"] == [{"ApiKey": ["storefront"], "BuyerToken": []}]
    order = DOC["paths"]["/v1/orders/{order_id}"]["get"]  # the token is optional there
    assert order["security"] == [
        {"ApiKey": ["storefront"], "BuyerToken": []},
        {"ApiKey": ["storefront"]},
    ]
    assert DOC["paths"]["/v1/api-keys"]["post"]["security"] == [{"ApiKey": ["admin"]}]
    assert DOC["paths"]["/v1/products"]["get"]["security"] == [{"ApiKey": ["ops"]}]
    for path in ("/healthz", "/v1/webhooks/stripe", "/v1/fulfillment-events"):
        assert not next(iter(DOC["paths"][path].values())).get("security"), path


def test_every_keyed_operation_documents_401_and_403_by_its_scope() -> None:
    for path, method, op in operations():
        needs = op.get("security", [])
        scopes = {scope for req in needs for scope in req.get("ApiKey", [])}
        token = any("BuyerToken" in req for req in needs) and all(
            "BuyerToken" in req for req in needs
        )
        if scopes:
            assert "401" in op["responses"], (method, path)
            assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
        if scopes - {"storefront"} or token:
            assert "403" in op["responses"], (method, path)


async def test_every_operation_answers_what_its_security_says(api: Api) -> None:
    """Without a key, each keyed operation is a 401; with a storefront key, each
    ops/admin one is a 403; with a storefront key and no token, each token one a 401."""
    checked = 0
    for path, method, op in operations():
        needs = op.get("security", [])
        if not needs:
            continue
        url = concrete(path)
        resp = await api.client.request(method.upper(), url)
        problem(resp, 401, "unauthenticated")
        assert resp.headers["www-authenticate"] == "Bearer"
        store = {"Authorization": f"Bearer {api.store}"}
        scope = needs[0]["ApiKey"][0]
        if scope != "storefront":
            problem(await api.client.request(method.upper(), url, headers=store), 403, "forbidden")
        elif all("BuyerToken" in req for req in needs):
            resp = await api.client.request(method.upper(), url, headers=store)
            problem(resp, 401, "unauthenticated")
        checked += 1
    assert checked > 90


def test_scopes_agree_with_the_access_service() -> None:
    assert get_args(fields.Scope) == SCOPES


# --------------------------------------------------------------------------- errors


def test_every_error_is_documented_as_problem_json() -> None:
    assert "HTTPValidationError" not in json.dumps(DOC)
    own_models = {("/readyz", "503"), ("/v1/webhooks/stripe", "503")}
    for path, method, op in operations():
        for code, response in op["responses"].items():
            if int(code) < 400:
                continue
            assert response["description"], (method, path, code)
            if (path, code) in own_models:
                assert list(response["content"]) == ["application/json"]
                continue
            ref = "ValidationProblem" if code == "422" else "Problem"
            assert response["content"] == {
                PROBLEM: {"schema": {"$ref": f"#/components/schemas/{ref}"}}
            }, (method, path, code)


def test_every_operation_documents_the_errors_its_shape_allows() -> None:
    """422 wherever there is input, 400 wherever FastAPI reads JSON, 404 wherever a
    resource is named, 409 wherever one is changed."""
    for path, method, op in operations():
        codes = set(op["responses"])
        json_body = "application/json" in op.get("requestBody", {}).get("content", {})
        if op.get("parameters") or "requestBody" in op:
            assert "422" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
            if method in MUTATING:
                assert "409" in codes, (method, path)
        if json_body and path not in ("/v1/webhooks/stripe", "/v1/fulfillment-events"):
            assert "400" in codes, (method, path)


async def test_a_domain_422_is_a_validation_problem(api: Api) -> None:
    """A rule the document cannot express (an unknown currency) is a 422 problem too;
    ``errors`` is there only when the request did not match the document."""
    resp = await api.client.post(
        "/v1/drops",
        json={"name": "x", "currency": "XYZ"},
        headers={"Authorization": f"Bearer {api.ops}"},
    )
    assert "errors" not in problem(resp, 422, "validation_error")
    resp = await api.client.post(
        "/v1/drops", json={"name": 5}, headers={"Authorization": f"Bearer {api.ops}"}
    )
    assert problem(resp, 422, "validation_error")["errors"]


# --------------------------------------------------------------------------- 405 and bodies


def _served_elsewhere(path: str, method: str) -> bool:
    """Whether another documented template serves ``method`` at ``path`` made concrete
    (``GET /v1/webhook-deliveries/replay`` is ``GET .../{delivery_id}``, a 404)."""
    url = concrete(path)
    return any(
        method.lower() in item and re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", other), url)
        for other, item in DOC["paths"].items()
        if other != path
    )


async def test_every_path_answers_405_with_its_documented_methods(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.ops}"}
    for path, item in DOC["paths"].items():
        documented = sorted(m.upper() for m in item)
        for method in [*sorted(set(ALL_METHODS) - set(documented)), "OPTIONS"]:
            if _served_elsewhere(path, method):
                continue
            resp = await api.client.request(method, concrete(path), headers=headers)
            problem(resp, 405, "method_not_allowed")
            assert resp.headers["allow"] == ", ".join(documented), (method, path)


@pytest.mark.parametrize(
    ("url", "auth"),
    [("/v1/products", "ops"), ("/v1/drops/{drop}/holds", "buyer"), ("/v1/checkouts", "buyer")],
)
@pytest.mark.parametrize("raw", [b'{"name": "\xff"}', b"\xfe\xff{}"])
async def test_an_undecodable_body_is_malformed_json(
    api: Api, url: str, auth: str, raw: bytes
) -> None:
    headers = {"Authorization": f"Bearer {api.ops if auth == 'ops' else api.store}"}
    if auth == "buyer":
        headers["X-Buyer-Token"] = api.c.access.mint("ann")
    resp = await api.client.post(
        url.format(drop=api.shop.drop_id),
        content=raw,
        headers=headers | {"Content-Type": "application/json"},
    )
    problem(resp, 400, "malformed_json")


@pytest.mark.parametrize(
    ("url", "auth"),
    [("/v1/products", "ops"), ("/v1/drops/{drop}/holds", "buyer"), ("/v1/checkouts", "buyer")],
)
async def test_json_nested_too_deep_is_refused_before_parsing(
    api: Api, url: str, auth: str
) -> None:
    headers = {"Authorization": f"Bearer {api.ops if auth == 'ops' else api.store}"}
    if auth == "buyer":
        headers["X-Buyer-Token"] = api.c.access.mint("ann")
    resp = await api.client.post(
        url.format(drop=api.shop.drop_id),
        content=b"[" * 50_000,
        headers=headers | {"Content-Type": "application/json"},
    )
    problem(resp, 422, "json_too_complex")


# --------------------------------------------------------------------------- media types


def content(path: str, method: str = "get", code: str = "200") -> list[str]:
    return sorted(DOC["paths"][path][method]["responses"][code]["content"])


def test_streams_csv_and_html_have_their_media_types() -> None:
    assert content("/v1/drops/{drop_id}/stream") == ["text/event-stream"]
    assert content("/v1/drops/{drop_id}/monitor/stream") == ["text/event-stream"]
    assert content("/v1/drops/{drop_id}/report") == ["application/json", "text/csv"]
    assert content("/v1/drops/{drop_id}/pick-list") == ["application/json", "text/csv", "text/html"]
    assert content("/v1/drops/{drop_id}/packing-slips") == ["text/csv", "text/html"]
    assert content("/v1/orders/{order_id}/packing-slip") == ["text/html"]
    assert content("/v1/preorder-links/{action}") == ["text/html"]
    photo = "/v1/qc/inspections/{inspection_id}/photos/{photo_id}"
    assert content(photo) == ["image/jpeg", "image/png", "image/webp"]
    upload = DOC["paths"]["/v1/qc/inspections/{inspection_id}/photos"]["post"]["requestBody"]
    assert sorted(upload["content"]) == ["image/jpeg", "image/png", "image/webp"]
    csv = DOC["paths"]["/v1/fulfillment-events/tracking-import"]["post"]["requestBody"]
    assert list(csv["content"]) == ["text/csv"]
    assert content("/v1/checkouts", "post", "202") == ["application/json"]


async def test_the_csv_and_stream_routes_answer_their_documented_types(api: Api) -> None:
    ops = {"Authorization": f"Bearer {api.ops}"}
    report = await api.client.get(f"/v1/drops/{api.shop.drop_id}/report?format=csv", headers=ops)
    assert report.headers["content-type"].startswith("text/csv")
    slips = await api.client.get(f"/v1/drops/{api.shop.drop_id}/packing-slips", headers=ops)
    assert slips.headers["content-type"].startswith("text/html")


# --------------------------------------------------------------------------- schemas


def enum_of(model: str, prop: str) -> list[str]:
    schema = DOC["components"]["schemas"][model]["properties"][prop]
    for option in schema.get("anyOf", [schema]):
        if "$ref" in option:
            option = DOC["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
        if "enum" in option:
            return sorted(option["enum"])
    raise AssertionError(f"{model}.{prop} is not an enum: {schema}")


def test_enum_like_strings_are_enums() -> None:
    assert enum_of("TransitionIn", "to") == sorted(DropStatus)
    assert enum_of("ApiKeyIn", "scope") == sorted(SCOPES)
    assert enum_of("ShipToIn", "service_level") == sorted(SERVICE_LEVELS)
    assert sorted(get_args(ServiceLevel)) == sorted(SERVICE_LEVELS)
    assert enum_of("MonitorSettingsIn", "stream_mode") == sorted(STREAM_MODES)
    for model, prop in [
        ("ReturnLineIn", "reason"),
        ("InspectionIn", "stage"),
        ("PreorderOfferIn", "payment_mode"),
        ("DropOut", "status"),
        ("HoldOut", "status"),
        ("OrderOut", "status"),
        ("CheckoutOut", "status"),
    ]:
        assert enum_of(model, prop), (model, prop)
    params = DOC["paths"]["/v1/runs/{run_id}/milestones/{kind}"]["patch"]["parameters"]
    kind = next(p for p in params if p["name"] == "kind")["schema"]
    assert kind == {"$ref": "#/components/schemas/Milestone"}
    assert sorted(DOC["components"]["schemas"]["Milestone"]["enum"]) == sorted(Milestone)


def test_hold_items_are_one_of_a_sku_and_a_bundle() -> None:
    items = DOC["components"]["schemas"]["HoldIn"]["properties"]["items"]["items"]
    assert items == {
        "oneOf": [
            {"$ref": "#/components/schemas/SkuItemIn"},
            {"$ref": "#/components/schemas/BundleItemIn"},
        ]
    }


@pytest.mark.parametrize(
    ("item", "accepted"),
    [
        ({"sku_id": "a"}, True),
        ({"bundle_id": "b", "quantity": 2}, True),
        ({"sku_id": None, "bundle_id": "b"}, True),
        ({"sku_id": "a", "bundle_id": None}, True),
        ({}, False),
        ({"sku_id": "a", "bundle_id": "b"}, False),
        ({"sku_id": None, "bundle_id": None}, False),
        ({"sku_id": "a", "surprise": 1}, False),
        ("a", False),
    ],
    ids=repr,
)
def test_hold_items_accept_what_they_accepted_before(item: Any, accepted: bool) -> None:
    try:
        s.HoldIn.model_validate({"items": [item]})
    except ValidationError:
        assert not accepted
    else:
        assert accepted


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models(arg)


def _lax_scalars(schema: CoreSchema | dict[str, Any], where: str) -> Iterator[str]:
    """Places in a core schema that take an int or a bool without ``strict``."""
    if isinstance(schema, dict):
        if schema.get("type") in ("int", "bool") and not schema.get("strict"):
            yield f"{where}: {schema['type']}"
        for key, value in schema.items():
            yield from _lax_scalars(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for n, value in enumerate(schema):
            yield from _lax_scalars(value, f"{where}[{n}]")


def test_every_request_model_takes_json_integers_only() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", bench_endpoints=True))
    bodies = {
        model
        for route in openapi.api_routes(app, documented_only=False)
        if route.body_field is not None
        for model in _models(route.body_field.field_info.annotation)
    }
    assert {s.HoldIn, s.DropIn} <= bodies and len(bodies) > 30
    lax = [
        found
        for model in bodies
        for found in _lax_scalars(model.__pydantic_core_schema__, model.__name__)
    ]
    assert not lax


async def test_integers_are_refused_as_floats_booleans_and_text(api: Api) -> None:
    ops = {"Authorization": f"Bearer {api.ops}"}
    settings = f"/v1/drops/{api.shop.drop_id}/monitor-settings"
    for bad in (5.0, True, "5"):
        resp = await api.client.put(settings, json={"conversion_window_h": bad}, headers=ops)
        problem(resp, 422, "validation_error")
        low = {"low_stock": {api.shop.skus[0]: bad}}  # an offered SKU: only the type is wrong
        problem(await api.client.put(settings, json=low, headers=ops), 422, "validation_error")
    good = {"conversion_window_h": 5, "low_stock": {api.shop.skus[0]: 2}}
    assert (await api.client.put(settings, json=good, headers=ops)).status_code == 200
    for bad in ("5.0", "true", "1e2"):
        problem(
            await api.client.get(f"/v1/orders?limit={bad}", headers=ops), 422, "validation_error"
        )
        url = f"/v1/stock/{api.shop.skus[0]}?limit={bad}"
        problem(await api.client.get(url, headers=ops), 422, "validation_error")
    assert (await api.client.get("/v1/orders?limit=5", headers=ops)).status_code == 200


async def test_a_naive_time_is_refused_not_a_500(api: Api) -> None:
    """``since`` without a zone reached the database as a naive datetime: a 500."""
    admin, _ = await api.c.access.create_key("admin", "admin")
    for since in ("2024-01-01T00:00:00", 0, "1700000000"):
        resp = await api.client.post(
            "/v1/webhook-deliveries/replay",
            json={"since": since},
            headers={"Authorization": f"Bearer {admin}"},
        )
        problem(resp, 422, "validation_error")
    resp = await api.client.post(
        "/v1/webhook-deliveries/replay",
        json={"since": "2024-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert resp.status_code == 200 and resp.json() == {"replayed": 0}


async def test_an_integer_too_large_for_the_database_is_refused_not_a_500(api: Api) -> None:
    """A spec version of 2**70 reached the database: a 500 (found by schemathesis)."""
    ops = {"Authorization": f"Bearer {api.ops}"}
    url = f"/v1/qc/specs/x/versions/{2**70}/golden-samples"
    problem(await api.client.post(url, json={}, headers=ops), 422, "validation_error")
    ref = {"spec_id": "x", "version": 2**40}
    problem(
        await api.client.put("/v1/runs/x/qc-spec", json=ref, headers=ops), 422, "validation_error"
    )
    problem(
        await api.client.post("/v1/qc/specs/x/versions/1/golden-samples", json={}, headers=ops),
        404,
        "not_found",
    )
